"""Tests of wincls/train/sparse.py: row-sparse embedding updates vs dense references."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from wincls import config as config_lib
from wincls.model import losses
from wincls.model import network
from wincls.model import objective
from wincls.train import optim
from wincls.train import sparse
from wincls.train import step

VOCAB = 20
CONFIG = config_lib.ModelConfig(features=(), vocab_size=VOCAB, feature_sizes=(4,), num_classes=3,
                                window_size=1, embed_dim=3, feature_dim=2,
                                hidden_size=4, dropout=0.0)
BATCH = 4


def _batch(seed, batch_size=BATCH, low=0, high=VOCAB):
  rng = np.random.default_rng(seed)
  window_ids = rng.integers(low, high, size=(batch_size, CONFIG.window_len))
  window_ids[0, 0] = window_ids[1, 2] = window_ids[2, 1]  # a repeated id
  return {
      "window_ids": jnp.asarray(window_ids, jnp.int32),
      "feature_ids": jnp.asarray(rng.integers(0, 4, (batch_size, CONFIG.window_len, 1)),
                                 jnp.int32),
      "labels": jnp.asarray(rng.integers(0, 3, batch_size), jnp.int32),
  }


_GRAD = jax.value_and_grad(objective.loss_fn, has_aux=True)


def _grad_fn(params, batch):
  return _GRAD(params, batch, config=CONFIG, loss="cross_entropy", key=None)


def _sparse_step(params, row_state, dense_state, batch, *, tx, optimizer, lr):
  _, rest_grads, unique_ids, row_grads = sparse.value_and_row_grads(
      _grad_fn, params, batch)
  words, rest = sparse.split_words(params)
  updates, dense_state = tx.update(rest_grads, dense_state, rest)
  rest = optax.apply_updates(rest, updates)
  words, row_state = sparse.apply_row_update(words, row_state, unique_ids, row_grads,
                                             optimizer=optimizer, learning_rate=lr)
  return sparse.merge_words(words, rest), row_state, dense_state


_init_params = jax.jit(functools.partial(network.init_params, config=CONFIG))


def _init(seed=0):
  return _init_params(jax.random.key(seed))


def test_gather_rows_remaps_ids_and_fills():
  table = jnp.arange(VOCAB * 2, dtype=jnp.float32).reshape(VOCAB, 2)
  window_ids = jnp.asarray([[5, 3, 5], [19, 3, 0]], jnp.int32)
  rows, local_ids, unique_ids = jax.jit(sparse.gather_rows)(table, window_ids)
  assert unique_ids.shape == (4 + 6,) and local_ids.shape == (2, 3)  # 4 reserved slots
  real = np.asarray(unique_ids) < VOCAB
  # Each distinct id exactly once, fill id V elsewhere.
  np.testing.assert_array_equal(np.sort(np.asarray(unique_ids)[real]), [0, 3, 5, 19])
  np.testing.assert_array_equal(np.asarray(unique_ids)[~real], VOCAB)
  np.testing.assert_array_equal(rows[local_ids], table[window_ids])
  # The reserved ids (<pad> 0, </s> 3) stay themselves, so a mask read from the
  # local ids (network.real_positions, masked_average) is the table's.
  np.testing.assert_array_equal(np.asarray(local_ids)[[0, 1, 1], [1, 1, 2]], [3, 3, 0])
  np.testing.assert_array_equal(network.real_positions(local_ids),
                                network.real_positions(window_ids))
  np.testing.assert_array_equal(rows, np.where(real[:, None], table[
      np.minimum(np.asarray(unique_ids), VOCAB - 1)], 0.0))
  # More ids than rows.
  ids = jnp.asarray([[1, 1, 2, 3, 0, 2]])
  rows, local_ids, unique_ids = jax.jit(sparse.gather_rows)(table[:4], ids)
  np.testing.assert_array_equal(np.sort(np.asarray(unique_ids)), [0, 1, 2, 3] + [4] * 6)
  np.testing.assert_array_equal(rows[local_ids], table[ids])


def test_sparse_sgd_equals_dense_sgd_exactly():
  params = dense = _init()
  tx = optax.sgd(0.5)
  row_state = sparse.init_rows_state(params["embed"]["words"], optimizer="sgd")
  dense_state = tx.init(sparse.split_words(params)[1])
  full_state = tx.init(dense)
  sparse_step = jax.jit(functools.partial(_sparse_step, tx=tx, optimizer="sgd"))

  @jax.jit
  def dense_step(dense, full_state, batch):
    _, grads = _grad_fn(dense, batch)
    updates, full_state = tx.update(grads, full_state, dense)
    return optax.apply_updates(dense, updates), full_state

  for step in range(4):
    batch = _batch(step)
    params, row_state, dense_state = sparse_step(params, row_state, dense_state,
                                                 batch, lr=0.5)
    dense, full_state = dense_step(dense, full_state, batch)
  for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(dense)):
    np.testing.assert_array_equal(a, b)
  assert int(row_state.count) == 4


def _lazy_adam_reference(table, m, v, t, grad, touched, lr, b1=0.9, b2=0.999,
                         eps=1e-8):
  """Lazy Adam as a masked dense update (NumPy, float64)."""
  mask = touched[:, None]
  m = np.where(mask, b1 * m + (1 - b1) * grad, m)
  v = np.where(mask, b2 * v + (1 - b2) * grad**2, v)
  step = (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
  return np.where(mask, table - lr * step, table), m, v


def test_lazy_adam_matches_masked_dense_reference():
  rng = np.random.default_rng(0)
  table = jnp.asarray(rng.normal(size=(VOCAB, 3)), jnp.float32)
  state = sparse.init_rows_state(table, optimizer="adam")
  ref = np.asarray(table, np.float64)
  m = np.zeros_like(ref)
  v = np.zeros_like(ref)
  update = jax.jit(functools.partial(sparse.apply_row_update, optimizer="adam"))
  for t in range(1, 6):
    # Repeated ids in the batch: their gradient contributions add up.
    window_ids = jnp.asarray(rng.integers(0, 8, size=(3, 3)), jnp.int32)
    window_ids = window_ids.at[0, 0].set(window_ids[2, 2])
    per_position = rng.normal(size=window_ids.shape + (3,))
    rows, local_ids, unique_ids = sparse.gather_rows(table, window_ids)
    row_grads = jnp.zeros_like(rows).at[local_ids].add(per_position)
    before = np.asarray(table)
    table, state = update(table, state, unique_ids, row_grads, learning_rate=0.01)
    dense_grad = np.zeros_like(ref)
    np.add.at(dense_grad, np.asarray(window_ids), per_position)
    touched = np.zeros(VOCAB, bool)
    touched[np.asarray(window_ids).ravel()] = True
    ref, m, v = _lazy_adam_reference(ref, m, v, t, dense_grad, touched, 0.01)
    np.testing.assert_allclose(table, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(state.mu, m, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(state.nu, v, rtol=1e-5, atol=1e-9)
    # Untouched rows (ids 8..19 never occur) are bit-identical.
    np.testing.assert_array_equal(np.asarray(table)[~touched], before[~touched])
  assert int(state.count) == 5
  np.testing.assert_array_equal(state.mu[8:], 0.0)


@pytest.mark.parametrize("optimizer,dense_tx", [
    ("adam", optax.adam(0.01)),  # every row touched each step: lazy == dense
    ("adagrad", optax.adagrad(0.01)),  # lazy AdaGrad == dense AdaGrad always
])
def test_row_update_matches_optax_when_equivalent(optimizer, dense_tx):
  rng = np.random.default_rng(1)
  table = dense = jnp.asarray(rng.normal(size=(6, 3)), jnp.float32)
  state = sparse.init_rows_state(table, optimizer=optimizer)
  dense_state = dense_tx.init(dense)

  @jax.jit
  def both_steps(table, state, dense, dense_state, window_ids, per_position):
    rows, local_ids, unique_ids = sparse.gather_rows(table, window_ids)
    row_grads = jnp.zeros_like(rows).at[local_ids].add(per_position)
    table, state = sparse.apply_row_update(table, state, unique_ids, row_grads,
                                           optimizer=optimizer, learning_rate=0.01)
    grad = jnp.zeros_like(dense).at[window_ids].add(per_position)
    updates, dense_state = dense_tx.update(grad, dense_state, dense)
    return table, state, optax.apply_updates(dense, updates), dense_state

  for _ in range(4):
    ids = np.arange(6) if optimizer == "adam" else rng.integers(0, 6, size=6)
    window_ids = jnp.asarray(np.concatenate([ids, ids[:2]])[None], jnp.int32)
    per_position = jnp.asarray(rng.normal(size=window_ids.shape + (3,)), jnp.float32)
    table, state, dense, dense_state = both_steps(table, state, dense, dense_state,
                                                  window_ids, per_position)
  np.testing.assert_allclose(table, dense, rtol=1e-6, atol=1e-7)


def test_row_grads_equal_rows_of_dense_gradient():
  """Autodiff and hand backprop on the rows vs autodiff on the full table."""
  hand_fn = functools.partial(objective.hand_grad, config=CONFIG, loss="cross_entropy",
                              key=None)

  @jax.jit
  def both(params, batch):
    return (sparse.value_and_row_grads(_grad_fn, params, batch),
            sparse.value_and_row_grads(hand_fn, params, batch), _grad_fn(params, batch))

  with jax.enable_x64(True):
    params = jax.tree.map(lambda x: x.astype(jnp.float64), _init(3))
    autodiff, hand, ((mean, _), dense) = both(params, _batch(7))
    untouched = np.setdiff1d(np.arange(VOCAB), np.asarray(_batch(7)["window_ids"]))
    np.testing.assert_array_equal(dense["embed"]["words"][untouched], 0.0)
    for value, rest_grads, unique_ids, row_grads in (autodiff, hand):
      mean_sparse = value[0] if isinstance(value, tuple) else value
      np.testing.assert_allclose(mean_sparse, mean, rtol=1e-12)
      real = np.asarray(unique_ids) < VOCAB
      np.testing.assert_allclose(row_grads[real],
                                 dense["embed"]["words"][unique_ids[real]],
                                 rtol=1e-10, atol=1e-14)
      np.testing.assert_array_equal(row_grads[~real], 0.0)
      _, dense_rest = sparse.split_words(dense)
      for a, b in zip(jax.tree.leaves(rest_grads), jax.tree.leaves(dense_rest)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)
      np.testing.assert_allclose(sparse.global_norm(rest_grads, row_grads),
                                 optax.tree.norm(dense), rtol=1e-12)


def test_vmap_over_seeds_and_traced_learning_rate():
  tx = optax.adam(0.01)
  traces = []

  def step(params, row_state, dense_state, batch, lr):
    traces.append(1)
    return _sparse_step(params, row_state, dense_state, batch, tx=tx,
                        optimizer="adam", lr=lr)

  def init(key):
    params = network.init_params(key, config=CONFIG)
    words, rest = sparse.split_words(params)
    return params, sparse.init_rows_state(words, optimizer="adam"), tx.init(rest)

  keys = jax.random.split(jax.random.key(0), 2)
  states = jax.jit(jax.vmap(init))(keys)
  batches = [_batch(1), _batch(2)]
  stacked = jax.tree.map(lambda *x: jnp.stack(x), *batches)
  vstep = jax.jit(jax.vmap(step, in_axes=(0, 0, 0, 0, None)))
  out = vstep(*states, stacked, jnp.float32(0.01))
  out = vstep(*out, stacked, jnp.float32(0.02))  # new lr: no retrace
  assert len(traces) == 1
  del traces[:]
  single_step, single_init = jax.jit(step), jax.jit(init)
  for seed in range(2):
    single = single_init(keys[seed])
    single = single_step(*single, batches[seed], 0.01)
    single = single_step(*single, batches[seed], 0.02)
    for a, b in zip(jax.tree.leaves(out), jax.tree.leaves(single)):
      np.testing.assert_allclose(a[seed], b, rtol=1e-5, atol=1e-7)


def test_errors_name_what_was_expected():
  table = jnp.zeros((5, 2))
  with pytest.raises(ValueError, match="optimizer='rmsprop' is not one of"):
    sparse.init_rows_state(table, optimizer="rmsprop")
  state = sparse.init_rows_state(table, optimizer="sgd")
  with pytest.raises(ValueError, match=r"expected \[S, E\] = \[3, 2\]"):
    sparse.apply_row_update(table, state, jnp.arange(3), jnp.zeros((3, 1)),
                            optimizer="sgd", learning_rate=0.1)
  sparse.check_supported(config_lib.Config(loss="max_margin", output="score",
                                           target_type="LOC"))
  # A corrupted loss run on the rows without its words drawn first: one message,
  # not a read of rows that are not there.
  config = config_lib.ModelConfig(features=(), vocab_size=VOCAB, window_size=1, embed_dim=3,
                                  hidden_size=4, output="score")
  params = network.init_params(jax.random.key(0), config=config)
  batch = {"window_ids": _batch(0)["window_ids"], "labels": jnp.zeros([BATCH], jnp.int32)}
  grad_fn = functools.partial(_GRAD, config=config, loss="max_margin_neg",
                              key=jax.random.key(1))
  with pytest.raises(ValueError, match="draws corrupted words from all 20 ids but "
                     "the word table has 16 rows"):
    jax.eval_shape(lambda p: sparse.value_and_row_grads(grad_fn, p, batch), params)
  with pytest.raises(ValueError, match="freeze_vectors"):
    sparse.check_supported(config_lib.Config(freeze_vectors=True))
  sparse.check_supported(config_lib.Config(embedding_update="sparse"))


def _softplus_corrupted(*, scores, labels, corrupted_scores, margin=1.0):
  """A plugin-style corrupted loss: Σ_k softplus(Δ - s + s_c_k), every window."""
  del labels
  return jnp.sum(jax.nn.softplus(margin - scores[..., None] + corrupted_scores), axis=-1)


def _softplus_corrupted_gradient(*, scores, labels, corrupted_scores, margin=1.0):
  del labels
  g = jax.nn.sigmoid(margin - scores[..., None] + corrupted_scores)
  return -jnp.sum(g, axis=-1), g


_PLUGIN_LOSS = losses.LossSpec(_softplus_corrupted, _softplus_corrupted_gradient,
                               ("score",), "test: a plugin's corrupted loss",
                               kind="corrupted", uses_margin=True)


def _train_steps(config, loss, grad, embedding_update, params, batches):
  """``step.train_step`` with SGD over ``batches``: (per-step loss sums, params)."""
  trainable = optim.dense_part(network.trainable_mask(params, config), embedding_update)
  tx = optim.make_optimizer(optimizer="sgd", schedule="constant", total_steps=1,
                            trainable=trainable)
  schedule = optim.schedule_factor("constant", 1)
  state = optim.init_state(tx, params, embedding_update=embedding_update,
                           optimizer="sgd", learning_rate=0.3, weight_decay=0.0,
                           grad_clip=float("inf"))
  step_fn = jax.jit(functools.partial(
      step.train_step, tx=tx, config=config, loss=loss, grad=grad, margin=1.0,
      num_corruptions=3, embedding_update=embedding_update, optimizer="sgd",
      schedule=schedule))
  loss_sums = []
  for i, batch in enumerate(batches):
    state, metrics = step_fn(state, batch, jax.random.key(i))
    loss_sums.append(float(metrics["loss_sum"]))
  return loss_sums, state["params"]


@pytest.mark.parametrize("loss,grad", [("max_margin_neg", "autodiff"),
                                       ("plugin_corrupted", "hand")])
def test_sparse_sgd_equals_dense_for_a_corrupted_loss(loss, grad, monkeypatch):
  """The corrupted windows' centre words are rows the sparse step updates too.

  Built-in and plugin corrupted losses alike (read by the spec's kind, not its
  name); the corruptions draw ids far outside the batch's (vocabulary 40, the
  batches read ids 2..9, <s> and </s> among them, which ``masked_average``
  masks), and the batch has a padding row.
  """
  monkeypatch.setitem(losses.LOSSES, "plugin_corrupted", _PLUGIN_LOSS)
  config = config_lib.ModelConfig(features=(), vocab_size=40, feature_sizes=(4,), window_size=1,
                                  embed_dim=3, feature_dim=2, hidden_size=4,
                                  output="score", window="masked_average")
  batches = []
  for seed in range(3):
    batch = _batch(seed, batch_size=5, low=2, high=10)
    batch["labels"] = batch["labels"] % 2
    batch["weights"] = jnp.asarray([1.0, 1.0, 1.0, 1.0, 0.0])
    batches.append(batch)
  sparse.check_supported(config_lib.Config(loss="max_margin_neg", output="score",
                                           target_type="LOC", optimizer="sgd",
                                           embedding_update="sparse"))
  with jax.enable_x64(True):
    params = jax.tree.map(lambda x: x.astype(jnp.float64),
                          network.init_params(jax.random.key(0), config=config))
    batches = [dict(b, weights=b["weights"].astype(jnp.float64)) for b in batches]
    dense = _train_steps(config, loss, grad, "dense", params, batches)
    rows = _train_steps(config, loss, grad, "sparse", params, batches)
  np.testing.assert_allclose(rows[0], dense[0], rtol=1e-12)
  for a, b in zip(jax.tree.leaves(rows[1]), jax.tree.leaves(dense[1])):
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
  # Rows only a corruption read have moved, as dense SGD moves them.
  words = np.asarray(rows[1]["embed"]["words"])
  assert np.any(words[10:] != np.asarray(params["embed"]["words"])[10:])
