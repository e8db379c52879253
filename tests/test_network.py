"""Tests of wincls/model/network.py: shapes, jit/vmap behaviour, freezing, invariances."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from wincls.model import losses
from wincls.model import network
from wincls.config import ModelConfig

V, E, FEATURE_SIZE, FD, H, C, B = 20, 4, 5, 2, 3, 4, 6


def _config(**overrides):
  base = dict(vocab_size=V, features=(), feature_sizes=(FEATURE_SIZE,), num_classes=C,
              window="concat", window_size=1, embed_dim=E, feature_dim=FD,
              classifier="hidden", hidden_size=H, activation="tanh")
  base.update(overrides)
  return ModelConfig(**base)


def _inputs(config, seed=0, batch=B):
  rng = np.random.default_rng(seed)
  w = config.window_len
  window_ids = jnp.asarray(rng.integers(0, config.vocab_size, (batch, w)), jnp.int32)
  feature_ids = jnp.asarray(
      np.stack([rng.integers(0, f, (batch, w)) for f in config.feature_sizes], -1)
      if config.feature_sizes else np.zeros((batch, w, 0)), jnp.int32)
  return window_ids, feature_ids


@pytest.mark.parametrize("window,classifier,hidden2,output,use_crf", [
    ("concat", "softmax", 0, "multiclass", False),
    ("average", "softmax", 0, "score", False),
    ("average", "hidden", 0, "multiclass", True),
    ("concat", "hidden", 2, "score", False),
    ("concat", "hidden", 2, "multiclass", False),
    ("average", "hidden", 2, "multiclass", True),
    ("weighted", "hidden", 0, "multiclass", False),
    ("masked_average", "softmax", 0, "multiclass", False),
])
def test_init_params_shapes(window, classifier, hidden2, output, use_crf):
  config = _config(window=window, classifier=classifier, hidden2_size=hidden2,
                   output=output, use_crf=use_crf, window_size=2)
  params = network.init_params(jax.random.key(0), config=config)
  d = E + FD
  big_d = 5 * d if window == "concat" else d
  expected = {"embed": {"words": (V, E), "features": [(FEATURE_SIZE, FD)]}}
  if window == "weighted":  # learned position weights, initialised to the average
    expected["window"] = {"weights": (5,)}
    np.testing.assert_allclose(params["window"]["weights"], 0.2)
  last = big_d
  if classifier == "hidden":
    expected["hidden"] = {"W": (H, big_d), "b": (H,)}
    last = H
    if hidden2:
      expected["hidden2"] = {"W": (hidden2, H), "b": (hidden2,)}
      last = hidden2
  expected["output"] = ({"W": (C, last), "b": (C,)} if output == "multiclass"
                        else {"u": (last,)})
  if use_crf:
    expected["crf"] = {"transitions": (C, C), "start": (C,), "end": (C,)}
  assert jax.tree.structure(params) == jax.tree.structure(
      expected, is_leaf=lambda x: isinstance(x, tuple))
  jax.tree.map(lambda leaf, shape: chex.assert_shape(leaf, shape), params, expected,
               is_leaf=lambda x: isinstance(x, tuple))
  chex.assert_tree_all_finite(params)
  # Padding rows start at zero; the other rows do not.
  np.testing.assert_array_equal(params["embed"]["words"][0], 0.0)
  np.testing.assert_array_equal(params["embed"]["features"][0][0], 0.0)
  assert np.all(np.abs(np.asarray(params["embed"]["words"][1:])).sum(-1) > 0)
  # Glorot limits.
  if classifier == "hidden":
    limit = np.sqrt(6.0 / (H + big_d))
    assert np.abs(np.asarray(params["hidden"]["W"])).max() <= limit


APPLY_CASES = [
    # (window, window_size, classifier, activation, output)
    ("concat", 0, "softmax", "tanh", "multiclass"),
    ("average", 2, "softmax", "tanh", "score"),
    ("concat", 1, "hidden", "tanh", "multiclass"),
    ("average", 1, "hidden", "relu", "multiclass"),
    ("concat", 2, "hidden", "sigmoid", "score"),
    ("concat", 1, "hidden", "hardtanh", "multiclass"),
    ("average", 2, "hidden", "hardtanh", "score"),
    ("concat", 2, "hidden", "relu", "score"),
]


@pytest.mark.parametrize("window,m,classifier,activation,output", APPLY_CASES)
def test_apply_shapes_jit_traces_and_grads(window, m, classifier, activation, output):
  config = _config(window=window, window_size=m, classifier=classifier,
                   activation=activation, output=output)
  params = network.init_params(jax.random.key(1), config=config)
  window_ids, feature_ids = _inputs(config)
  eager = network.apply(params, window_ids, feature_ids, config=config)
  chex.assert_shape(eager, (B, C) if output == "multiclass" else (B,))
  chex.clear_trace_counter()  # the counter is per code location, across cases

  @jax.jit
  @chex.assert_max_traces(n=1)
  def scores_and_grads(params, window_ids, feature_ids):
    def total(p):
      s = network.apply(p, window_ids, feature_ids, config=config)
      return jnp.sum(jnp.sin(s)), s
    return jax.value_and_grad(total, has_aux=True)(params)

  (_, jitted), grads = scores_and_grads(params, window_ids, feature_ids)
  np.testing.assert_allclose(jitted, eager, rtol=1e-5, atol=1e-6)
  chex.assert_tree_all_finite(grads)
  # A second batch of the same shape reuses the compiled function.
  other_ids, other_features = _inputs(config, seed=1)
  (_, other), _ = scores_and_grads(params, other_ids, other_features)
  assert not np.allclose(other, jitted)


def test_vmap_over_examples_and_parameter_sets():
  config = _config(window_size=2, activation="relu")
  window_ids, feature_ids = _inputs(config)
  apply = functools.partial(network.apply, config=config)
  seeds = [network.init_params(jax.random.key(seed), config=config) for seed in range(3)]
  stacked = jax.tree.map(lambda *leaves: jnp.stack(leaves), *seeds)
  chex.assert_shape(stacked["hidden"]["W"], (3, H, 5 * (E + FD)))

  @jax.jit
  def run(stacked):
    params = jax.tree.map(lambda leaf: leaf[0], stacked)
    batched = apply(params, window_ids, feature_ids)
    per_example = jax.vmap(lambda w, f: apply(params, w[None], f[None])[0])(
        window_ids, feature_ids)
    per_seed = jax.vmap(apply, in_axes=(0, None, None))(stacked, window_ids, feature_ids)
    return batched, per_example, per_seed

  batched, per_example, per_seed = run(stacked)
  np.testing.assert_allclose(per_example, batched, rtol=1e-5, atol=1e-6)
  chex.assert_shape(per_seed, (3, B, C))
  for i, params in enumerate(seeds):
    np.testing.assert_allclose(per_seed[i], apply(params, window_ids, feature_ids),
                               rtol=1e-5, atol=1e-6)
  assert not np.allclose(per_seed[0], per_seed[1])


def test_average_is_position_blind_and_concat_is_not():
  results = {}
  for window in ("average", "concat"):
    config = _config(window=window, window_size=2)
    params = network.init_params(jax.random.key(4), config=config)
    window_ids, feature_ids = _inputs(config)
    perm = np.array([3, 0, 4, 1, 2])
    scores = network.apply(params, window_ids, feature_ids, config=config)
    permuted = network.apply(params, window_ids[:, perm], feature_ids[:, perm],
                            config=config)
    results[window] = np.abs(np.asarray(scores - permuted)).max()
  assert results["average"] < 1e-6
  assert results["concat"] > 1e-3


def test_pretrained_vectors_are_copied():
  config = _config()
  pretrained = np.random.default_rng(5).normal(size=(V, E))
  params = network.init_params(jax.random.key(0), config=config, pretrained=pretrained)
  np.testing.assert_allclose(params["embed"]["words"], pretrained, rtol=1e-6)
  assert params["embed"]["words"].dtype == jnp.float32
  with pytest.raises(ValueError, match=r"pretrained vectors have shape \(20, 5\)"):
    network.init_params(jax.random.key(0), config=config, pretrained=np.zeros((V, 5)))


def test_dropout_only_with_key():
  config = _config(dropout=0.5, window_size=2, hidden_size=50)
  params = network.init_params(jax.random.key(6), config=config)
  window_ids, feature_ids = _inputs(config)
  no_key = network.apply(params, window_ids, feature_ids, config=config)
  without = network.apply(params, window_ids, feature_ids, config=_config(
      window_size=2, hidden_size=50))
  np.testing.assert_allclose(no_key, without, rtol=1e-6)
  with_key = jax.jit(lambda key: network.apply(params, window_ids, feature_ids,
                                              config=config, dropout_key=key))
  a, b = with_key(jax.random.key(0)), with_key(jax.random.key(1))
  assert not np.allclose(a, no_key) and not np.allclose(a, b)


def test_bad_config_and_inputs_raise():
  with pytest.raises(ValueError, match="ModelConfig.activation='not,an,activation' is not one of"):
    network.init_params(jax.random.key(0), config=_config(activation="not,an,activation"))
  config = _config(window_size=2)
  params = network.init_params(jax.random.key(0), config=config)
  with pytest.raises(ValueError, match=r"expected \[..., window_len=5\]"):
    network.apply(params, jnp.zeros((B, 3), jnp.int32), jnp.zeros((B, 3, 1), jnp.int32),
                 config=config)


def test_frozen_vectors_get_no_update_from_a_masked_optimizer():
  config = _config(freeze_vectors=True, hidden2_size=2)
  params = network.init_params(jax.random.key(7), config=config)
  window_ids, feature_ids = _inputs(config)
  labels = jnp.arange(B) % C
  mask = network.trainable_mask(params, config)
  assert jax.tree.structure(mask) == jax.tree.structure(params)
  assert mask["embed"]["words"] is False
  assert sum(jax.tree.leaves(mask)) == len(jax.tree.leaves(params)) - 1
  assert all(jax.tree.leaves(network.trainable_mask(params, _config())))

  def loss(p):
    scores = network.apply(p, window_ids, feature_ids, config=config)
    return jnp.mean(losses.softmax_cross_entropy(scores=scores, labels=labels))

  # Weight decay and momentum would move the frozen table if masking were wrong.
  base = optax.chain(optax.add_decayed_weights(0.1), optax.adam(0.1))

  grad_fn = jax.jit(jax.grad(loss))

  def two_steps(tx):
    p, state = params, tx.init(params)
    for _ in range(2):
      updates, state = jax.jit(tx.update)(grad_fn(p), state, p)
      p = optax.apply_updates(p, updates)
    return p

  labels_tree = jax.tree.map(lambda t: "train" if t else "frozen", mask)
  right = two_steps(optax.multi_transform(
      {"train": base, "frozen": optax.set_to_zero()}, labels_tree))
  np.testing.assert_array_equal(right["embed"]["words"], params["embed"]["words"])
  changed = jax.tree.map(lambda a, b: bool(np.any(np.asarray(a) != np.asarray(b))),
                         right, params)
  changed["embed"]["words"] = True
  assert all(jax.tree.leaves(changed)), changed
  # The naive optax.masked passes the raw gradient through: the table moves.
  naive = two_steps(optax.masked(base, mask))
  assert np.any(np.asarray(naive["embed"]["words"]) != np.asarray(params["embed"]["words"]))
