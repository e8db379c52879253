"""Tests of wincls/train/optim.py: schedules and the optax chain."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wincls import config as config_lib
from wincls.model import network
from wincls.model import objective
from wincls.train import optim
from wincls.train import sparse


def test_schedules():
  cosine = optim.schedule_factor("cosine", 10)
  linear = optim.schedule_factor("linear", 10)
  np.testing.assert_allclose([cosine(0), cosine(5), cosine(10)], [1.0, 0.5, 0.0], atol=1e-6)
  np.testing.assert_allclose([linear(0), linear(5), linear(10)], [1.0, 0.5, 0.0], atol=1e-6)
  assert optim.schedule_factor("constant", 0)(7) == 1.0


def _norm(tree):
  """The L2 norm of a pytree."""
  return jnp.sqrt(sum(jnp.sum(jnp.square(x)) for x in jax.tree.leaves(tree)))


@pytest.mark.parametrize("embedding_update", ["dense", "sparse"])
def test_train_optimizer_init_and_one_sgd_update(embedding_update):
  model_config = config_lib.ModelConfig(vocab_size=12, feature_sizes=(3,), num_classes=3,
                                        embed_dim=4, feature_dim=2, hidden_size=5,
                                        window_size=1)
  params = network.init_params(jax.random.key(0), config=model_config)
  trainable = optim.dense_part(network.trainable_mask(params, model_config),
                               embedding_update)
  tx = optim.make_optimizer(optimizer="sgd", schedule="constant", total_steps=1,
                            trainable=trainable)
  train_tx = optim.make_train_optimizer(tx, embedding_update=embedding_update,
                                        optimizer="sgd",
                                        schedule=optim.schedule_factor("constant", 1))
  state = train_tx.init(params, learning_rate=0.5, weight_decay=0.0,
                        grad_clip=float("inf"))
  assert set(state) == ({"params", "opt_state", "rows"} if embedding_update == "sparse"
                        else {"params", "opt_state"})
  assert state["opt_state"].hyperparams["learning_rate"] == 0.5
  batch = {"window_ids": jnp.array([[4, 5, 4]], jnp.int32)}

  def grad_fn(p, batch):  # d/dp of sum(p * p) / 2 on the rows the batch reads
    del batch
    return jnp.zeros([]), jax.tree.map(lambda x: x, p)

  new_state, _, grad_norm = jax.jit(train_tx.update, static_argnums=1)(
      state, grad_fn, batch)
  np.testing.assert_allclose(new_state["params"]["hidden"]["W"],
                             0.5 * params["hidden"]["W"], rtol=1e-6)
  words = np.asarray(params["embed"]["words"])
  new_words = np.asarray(new_state["params"]["embed"]["words"])
  if embedding_update == "dense":
    np.testing.assert_allclose(new_words, 0.5 * words, rtol=1e-6)
    np.testing.assert_allclose(grad_norm, float(_norm(params)), rtol=1e-5)
  else:  # only the rows 4 and 5 move; the gradient is that of those rows
    np.testing.assert_allclose(new_words[[4, 5]], 0.5 * words[[4, 5]], rtol=1e-6)
    np.testing.assert_array_equal(np.delete(new_words, [4, 5], axis=0),
                                  np.delete(words, [4, 5], axis=0))
    rest = sparse.split_words(params)[1]
    expected = np.sqrt(float(_norm(rest)) ** 2 + float(np.sum(words[[4, 5]] ** 2)))
    np.testing.assert_allclose(grad_norm, expected, rtol=1e-5)



@pytest.mark.parametrize("optimizer,weight_decay,grad_clip", [
    ("adam", 0.0, float("inf")), ("adam", 0.01, 0.05), ("adagrad", 0.0, 0.05),
    ("sgd", 0.01, float("inf"))])
def test_dense_rows_update_equals_the_dense_update(optimizer, weight_decay, grad_clip):
  # Three steps of the real loss; ids repeat within and across batches; rows
  # read earlier but not now have moments (Adam keeps moving them), most rows
  # are never read.
  model_config = config_lib.ModelConfig(vocab_size=30, feature_sizes=(3,), num_classes=3,
                                        embed_dim=4, feature_dim=2, hidden_size=5,
                                        window_size=1)
  params = network.init_params(jax.random.key(1), config=model_config)
  tx = optim.make_optimizer(optimizer=optimizer, schedule="cosine", total_steps=5,
                            trainable=network.trainable_mask(params, model_config))
  grad_fn = functools.partial(_value_and_grad, config=model_config)
  states = {}
  for dense_rows in (False, True):
    train_tx = optim.make_train_optimizer(tx, optimizer=optimizer, dense_rows=dense_rows)
    state = train_tx.init(params, learning_rate=0.1, weight_decay=weight_decay,
                          grad_clip=grad_clip)
    update = jax.jit(train_tx.update, static_argnums=1)
    norms = []
    for step in range(3):
      rng = np.random.default_rng(step)
      ids = rng.integers(3 * step, 3 * step + 8, (6, 3))  # rows 0-2: step 0 only
      batch = {"window_ids": jnp.asarray(ids, jnp.int32),
               "feature_ids": jnp.asarray(rng.integers(0, 3, (6, 3, 1)), jnp.int32),
               "labels": jnp.asarray(rng.integers(0, 3, 6), jnp.int32)}
      state, _, grad_norm = update(state, grad_fn, batch)
      norms.append(float(grad_norm))
    states[dense_rows] = (state, norms)
  (dense, dense_norms), (rows, rows_norms) = states[False], states[True]
  np.testing.assert_allclose(rows_norms, dense_norms, rtol=1e-6)
  if grad_clip < float("inf"):
    assert max(dense_norms) > grad_clip  # the clipping did act
  for a, b in zip(jax.tree.leaves(dense), jax.tree.leaves(rows)):
    np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-5, atol=1e-7)


def _value_and_grad(params, batch, *, config):
  (mean, _), grads = jax.value_and_grad(objective.loss_fn, has_aux=True)(
      params, batch, config=config, loss="cross_entropy", key=None)
  return mean, grads


def test_rows_are_used_where_they_serve():
  assert optim.rows_supported(loss="cross_entropy", output="multiclass",
                              trainable_words=True)
  assert not optim.rows_supported(loss="cross_entropy", output="multiclass",
                                  trainable_words=False)
  assert not optim.rows_supported(loss="max_margin", output="score",
                                  trainable_words=True)
