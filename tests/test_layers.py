"""Tests of wincls/model/layers.py: values against NumPy, kink conventions, registry.

The hand Jacobians of these layers are checked in tests/test_jacobians.py.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wincls import config as config_lib
from wincls.model import layers


def test_affine_is_w_x_plus_b():
  rng = np.random.default_rng(2)
  x, W, b = rng.normal(size=(6, 5)), rng.normal(size=(3, 5)), rng.normal(size=(3,))
  out = layers.affine(jnp.asarray(x), jnp.asarray(W), jnp.asarray(b))
  for i in range(6):
    np.testing.assert_allclose(out[i], W.dot(x[i]) + b, rtol=1e-5, atol=1e-6)


def test_activation_values_and_registry():
  z = np.array([-3.0, -1.0, -0.25, 0.0, 0.5, 1.0, 2.0], np.float32)
  f = {name: spec.forward for name, spec in layers.ACTIVATIONS.items()}
  np.testing.assert_allclose(f["tanh"](z), np.tanh(z), rtol=1e-6)
  np.testing.assert_allclose(f["relu"](z), np.maximum(z, 0))
  np.testing.assert_allclose(f["sigmoid"](z), 1 / (1 + np.exp(-z)), rtol=1e-6)
  np.testing.assert_allclose(f["hardtanh"](z), np.clip(z, -1, 1))
  with pytest.raises(ValueError, match="activation 'not,an,activation' is not one of"):
    layers.activation("not,an,activation")


def test_kink_conventions():
  relu = layers.ACTIVATIONS["relu"].forward
  hardtanh = layers.ACTIVATIONS["hardtanh"].forward
  # relu: derivative 0 at 0 (JAX's convention).
  assert jax.grad(relu)(0.0) == 0.0
  assert jax.grad(relu)(0.1) == 1.0
  # hardtanh: derivative 1 on [-1, 1] inclusive, 0 outside; jnp.clip would give
  # 0.5 at the boundary, which is why hardtanh does not use it.
  grads = jax.vmap(jax.grad(hardtanh))(jnp.array([-1.5, -1.0, 0.0, 1.0, 1.5]))
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
