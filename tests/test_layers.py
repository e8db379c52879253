"""Tests of wincls/layers.py: values against NumPy, kink conventions, registries."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wincls import config as config_lib
from wincls import layers


def _tables(rng, vocab=20, embed_dim=4, feature_sizes=(5,), feature_dim=2):
  return {
      "words": jnp.asarray(rng.normal(size=(vocab, embed_dim)), jnp.float32),
      "features": [jnp.asarray(rng.normal(size=(f, feature_dim)), jnp.float32)
                   for f in feature_sizes],
  }


@pytest.mark.parametrize("feature_sizes", [(), (5,), (5, 3)])
def test_embed_concatenates_word_then_features(feature_sizes):
  rng = np.random.default_rng(0)
  tables = _tables(rng, feature_sizes=feature_sizes)
  window_ids = rng.integers(0, 20, size=(6, 3)).astype(np.int32)
  feature_ids = np.stack([rng.integers(0, f, size=(6, 3)) for f in feature_sizes],
                         axis=-1).astype(np.int32) if feature_sizes else (
                             np.zeros((6, 3, 0), np.int32))
  out = layers.embed(tables, window_ids, feature_ids)
  chex.assert_shape(out, (6, 3, 4 + 2 * len(feature_sizes)))
  words = np.asarray(tables["words"])
  for b in range(6):
    for p in range(3):
      expected = [words[window_ids[b, p]]]
      for k, table in enumerate(tables["features"]):
        expected.append(np.asarray(table)[feature_ids[b, p, k]])
      np.testing.assert_array_equal(out[b, p], np.concatenate(expected))


def test_embed_rejects_mismatched_feature_ids():
  rng = np.random.default_rng(0)
  tables = _tables(rng)
  with pytest.raises(ValueError, match="layers.py embed.*feature_ids"):
    layers.embed(tables, np.zeros((6, 3), np.int32), np.zeros((6, 3, 2), np.int32))
  with pytest.raises(ValueError, match="feature_ids is None"):
    layers.embed(tables, np.zeros((6, 3), np.int32), None)
  # Without feature tables, None is fine.
  out = layers.embed({"words": tables["words"], "features": []},
                     np.zeros((2, 3), np.int32), None)
  chex.assert_shape(out, (2, 3, 4))


def test_window_concat_is_position_major():
  vectors = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
  out = layers.window_concat(jnp.asarray(vectors))
  chex.assert_shape(out, (2, 12))
  for p in range(3):
    np.testing.assert_array_equal(out[:, 4 * p:4 * (p + 1)], vectors[:, p])
  # Extra leading axes are batch axes.
  chex.assert_shape(layers.window_concat(jnp.zeros((5, 2, 3, 4))), (5, 2, 12))


def test_window_average_and_output_dims():
  vectors = np.random.default_rng(1).normal(size=(2, 5, 4)).astype(np.float32)
  out = layers.window_average(jnp.asarray(vectors))
  np.testing.assert_allclose(out, vectors.mean(axis=1), rtol=1e-6)
  assert set(layers.WINDOWS) == set(config_lib.WINDOWS)
  for name, fn in layers.WINDOWS.items():
    assert fn(jnp.asarray(vectors)).shape[-1] == layers.window_output_dim(name, 5, 4)
  with pytest.raises(ValueError, match="window 'sum' is not one of"):
    layers.window_output_dim("sum", 5, 4)


def test_affine_is_w_x_plus_b():
  rng = np.random.default_rng(2)
  x, W, b = rng.normal(size=(6, 5)), rng.normal(size=(3, 5)), rng.normal(size=(3,))
  out = layers.affine(jnp.asarray(x), jnp.asarray(W), jnp.asarray(b))
  for i in range(6):
    np.testing.assert_allclose(out[i], W.dot(x[i]) + b, rtol=1e-5, atol=1e-6)


def test_activation_values_and_registry():
  assert set(layers.ACTIVATIONS) == set(config_lib.ACTIVATIONS)
  z = np.array([-3.0, -1.0, -0.25, 0.0, 0.5, 1.0, 2.0], np.float32)
  np.testing.assert_allclose(layers.tanh(z), np.tanh(z), rtol=1e-6)
  np.testing.assert_allclose(layers.relu(z), np.maximum(z, 0))
  np.testing.assert_allclose(layers.sigmoid(z), 1 / (1 + np.exp(-z)), rtol=1e-6)
  np.testing.assert_allclose(layers.hardtanh(z), np.clip(z, -1, 1))


def test_kink_conventions():
  # relu: derivative 0 at 0 (JAX's convention).
  assert jax.grad(layers.relu)(0.0) == 0.0
  assert jax.grad(layers.relu)(0.1) == 1.0
  # hardtanh: derivative 1 on [-1, 1] inclusive, 0 outside; jnp.clip would give
  # 0.5 at the boundary, which is why layers.hardtanh does not use it.
  grads = jax.vmap(jax.grad(layers.hardtanh))(jnp.array([-1.5, -1.0, 0.0, 1.0, 1.5]))
  np.testing.assert_array_equal(grads, [0.0, 1.0, 1.0, 1.0, 0.0])
  assert jax.grad(lambda z: jnp.clip(z, -1.0, 1.0))(1.0) == 0.5


def test_softmax_and_log_softmax_are_stable():
  z = jnp.array([[1000.0, 1001.0, 999.0], [1.0, 2.0, 3.0]])
  p = layers.softmax(z)
  np.testing.assert_allclose(jnp.sum(p, axis=-1), 1.0, rtol=1e-6)
  e = np.exp([1.0, 2.0, 3.0])
  np.testing.assert_allclose(p[1], e / e.sum(), rtol=1e-6)
  shifted = np.exp([1.0, 2.0, 0.0])  # softmax is shift-invariant: z - 999
  np.testing.assert_allclose(p[0], shifted / shifted.sum(), rtol=1e-5)
  log_p = layers.log_softmax(z)
  assert np.all(np.isfinite(log_p))
  np.testing.assert_allclose(log_p[1], np.log(e / e.sum()), rtol=1e-6)


def test_dropout():
  x = jnp.ones((200, 50))
  key = jax.random.key(0)
  assert layers.dropout(key, x, 0.0) is x
  out = layers.dropout(key, x, 0.25)
  values = np.unique(np.asarray(out))
  np.testing.assert_allclose(values, [0.0, 1 / 0.75], rtol=1e-6)
  kept = float(jnp.mean(out != 0))
  assert 0.72 < kept < 0.78, kept
  np.testing.assert_array_equal(out, layers.dropout(key, x, 0.25))
  assert not np.array_equal(out, layers.dropout(jax.random.key(1), x, 0.25))
  with pytest.raises(ValueError, match=r"rate=1.0 must be in \[0, 1\)"):
    layers.dropout(key, x, 1.0)
