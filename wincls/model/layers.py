"""The dense pieces of the window network, each followed by its hand derivative.

Every forward function is batched over leading axes and follows the lecture's
orientation ``z = W x + b`` with ``W: [out, in]`` (batched code computes
``x @ W.T + b``). Right after each function come its derivatives, named after
it (``affine``, ``affine_jacobian_x``, ``affine_vjp``), as optax and jax put
``_softmax_jvp`` under ``_softmax``. No derivative here calls JAX's autodiff;
``tests/test_layers.py`` checks each against ``jax.jacfwd``/``jax.jacrev``.

Conventions of the derivatives (``docs/calculus.md`` derives them):

* **Numerator layout.** The Jacobian of ``y = f(x)`` with ``y: [m...]`` and
  ``x: [n...]`` has shape ``[m..., n...]`` (what ``jax.jacfwd`` returns).
  ``*_jacobian*`` functions take one example (no batch axis); ``*_vjp``
  functions are batched.
* **Kinks**, chosen to equal what ``jax.grad`` returns for the forward functions
  as written: ``relu'(0) = 0`` (``jax.nn.relu``); ``hardtanh`` is a
  ``jnp.where`` (as ``jax.nn.hard_tanh``), so ``hardtanh'(±1) = 1``
  (``jnp.clip`` would give 0.5 there: JAX splits a tied ``min``/``max``).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from wincls.model import registry

Array = jax.Array


# ---------------------------------------------------------------------------
# Affine map  z = W x + b.


def affine(x: Array, W: Array, b: Array | None) -> Array:
  """``z = W x + b`` for a batch of row vectors.

  Args:
    x: ``[..., in]``.
    W: ``[out, in]``.
    b: ``[out]``, or None for no bias.

  Returns:
    ``[..., out]`` = ``x @ W.T + b``.
  """
  z = x @ W.T
  return z if b is None else z + b


def affine_jacobian_x(x: Array, W: Array, b: Array | None) -> Array:
  """``∂z/∂x = W``, ``[out, in]``."""
  del x, b
  return W


def affine_jacobian_W(x: Array, W: Array, b: Array | None) -> Array:
  """``∂z_i/∂W_jk = δ_ij x_k``: ``[out, out, in]`` for ``x: [in]``."""
  del b
  eye = jnp.eye(W.shape[0], dtype=W.dtype)
  return eye[:, :, None] * x[None, None, :]


def affine_jacobian_b(x: Array, W: Array, b: Array) -> Array:
  """``∂z/∂b = I``, ``[out, out]``."""
  del x, W
  return jnp.eye(b.shape[0], dtype=b.dtype)


def affine_vjp(x: Array, W: Array, delta: Array) -> tuple[Array, Array, Array]:
  """The backward pass of ``affine`` for a batch: the lecture's δ form.

  With ``δ = ∂J/∂z`` (one row per example): ``∂J/∂x = δ W``, ``∂J/∂W = δᵀ x``
  (summed over the batch by the matrix product) and ``∂J/∂b = Σ_batch δ``.

  Args:
    x: ``[..., in]``.
    W: ``[out, in]``.
    delta: ``[..., out]``, the upstream gradient ``∂J/∂z``.

  Returns:
    ``(dx [..., in], dW [out, in], db [out])``.
  """
  delta2 = delta.reshape(-1, delta.shape[-1])
  x2 = x.reshape(-1, x.shape[-1])
  return delta @ W, delta2.T @ x2, jnp.sum(delta2, axis=0)


# ---------------------------------------------------------------------------
# Activations h = f(z), elementwise: ∂h/∂z = diag(f'(z)).


@dataclasses.dataclass(frozen=True)
class Activation:
  """An elementwise non-linearity and its derivative (both any shape)."""

  forward: Callable[[Array], Array]
  derivative: Callable[[Array], Array]
  help: str


def _tanh_derivative(z: Array) -> Array:
  t = jnp.tanh(z)
  return 1.0 - t * t


def _sigmoid_derivative(z: Array) -> Array:
  s = jax.nn.sigmoid(z)
  return s * (1.0 - s)


def _hardtanh(z: Array) -> Array:
  return jnp.where(z > 1, jnp.ones_like(z), jnp.where(z < -1, -jnp.ones_like(z), z))


ACTIVATIONS: registry.Registry[Activation] = registry.Registry("activation", {
    "tanh": Activation(jnp.tanh, _tanh_derivative, "tanh; f' = 1 - tanh²"),
    "relu": Activation(jax.nn.relu, lambda z: (z > 0).astype(z.dtype),
                       "max(z, 0); f' = 1[z > 0] (0 at z = 0)"),
    "sigmoid": Activation(jax.nn.sigmoid, _sigmoid_derivative,
                          "logistic σ; f' = σ(1 - σ)"),
    "hardtanh": Activation(_hardtanh,
                           lambda z: ((z >= -1) & (z <= 1)).astype(z.dtype),
                           "C&W's clip(z, -1, 1); f' = 1[-1 <= z <= 1]"),
}, check=lambda name, spec: check_activation(name, spec))
register = ACTIVATIONS.register


def check_activation(name: str, spec: Activation) -> None:
  """``ACTIVATIONS``' check: an ``Activation`` whose forward and derivative map
  finite ``z [7]`` in [-3, 3] to finite values of the same shape."""
  if not isinstance(spec, Activation):
    raise TypeError(f"activation {name!r}: expected an Activation, got a "
                    f"{type(spec).__name__}")
  z = jnp.linspace(-3.0, 3.0, 7, dtype=jnp.float32)
  for part in ("forward", "derivative"):
    try:
      out = jnp.asarray(getattr(spec, part)(z))
    except Exception as e:  # a plugin's function can fail any way: name the part
      raise ValueError(f"activation {name!r}: {part} failed on z [7]: "
                       f"{type(e).__name__}: {e}") from None
    if out.shape != z.shape:
      raise ValueError(f"activation {name!r}: {part} gives shape {out.shape} for "
                       f"input shape {z.shape}; expected elementwise")
    if not bool(jnp.all(jnp.isfinite(out))):
      raise ValueError(f"activation {name!r}: {part} gives non-finite values on "
                       "finite z in [-3, 3]")



def activation(name: str) -> Activation:
  """The registry entry of activation ``name`` (ValueError naming the choices)."""
  return ACTIVATIONS.lookup(name)


def activation_jacobian(name: str, z: Array) -> Array:
  """``∂f(z)/∂z = diag(f'(z))``, ``[n] -> [n, n]``."""
  return jnp.diag(activation(name).derivative(z))


def activation_vjp(name: str, z: Array, g: Array) -> Array:
  """``g ∘ f'(z)``: the VJP of an elementwise activation (batched, any shape)."""
  return g * activation(name).derivative(z)


# ---------------------------------------------------------------------------
# Softmax and log-softmax over the last axis.


def softmax(z: Array) -> Array:
  """Softmax over the last axis, ``[..., C] -> [..., C]``."""
  return jax.nn.softmax(z, axis=-1)


def softmax_jacobian(z: Array) -> Array:
  """``∂p/∂z = diag(p) - p pᵀ`` for one ``z: [C]``; ``[C, C]``, symmetric."""
  p = softmax(z)
  return jnp.diag(p) - jnp.outer(p, p)


def softmax_vjp(z: Array, g: Array) -> Array:
  """``gᵀ (diag(p) - p pᵀ) = p ∘ (g - <g, p>)``, batched ``[..., C]``."""
  p = softmax(z)
  return p * (g - jnp.sum(g * p, axis=-1, keepdims=True))


def log_softmax(z: Array) -> Array:
  """Log-softmax over the last axis (stable), ``[..., C] -> [..., C]``."""
  return jax.nn.log_softmax(z, axis=-1)


def log_softmax_jacobian(z: Array) -> Array:
  """``∂ log p/∂z = I - 1 pᵀ`` (row i is ``e_i - p``) for one ``z: [C]``."""
  return jnp.eye(z.shape[0], dtype=z.dtype) - softmax(z)[None, :]


# ---------------------------------------------------------------------------
# Dropout.


def dropout(key: Array, x: Array, rate) -> Array:
  """Inverted dropout: zeroes each entry with probability ``rate``, scales by 1/(1-rate).

  The kept entries are ``jax.random.bernoulli(key, 1 - rate, x.shape)``, so
  ``dropout_vjp`` redraws the same mask from the same key.

  Args:
    key: a ``jax.random.key``.
    x: any shape.
    rate: a Python float in ``[0, 1)``; 0 returns ``x`` unchanged. Or a numpy
      ``[x.shape[-1]]`` of such rates, one per column (``features.dropout_rates``).

  Returns:
    An array like ``x``.
  """
  if np.ndim(rate):
    rate = np.asarray(rate, np.float64)
    if not ((rate >= 0.0) & (rate < 1.0)).all():
      raise ValueError(f"wincls/model/layers.py dropout: rates {rate} must be in [0, 1)")
    keep_rate = jnp.asarray(1.0 - rate, x.dtype)
    keep = jax.random.bernoulli(key, keep_rate, x.shape)
    return jnp.where(keep, x / keep_rate, jnp.zeros_like(x))
  rate = float(rate)
  if not 0.0 <= rate < 1.0:
    raise ValueError(f"wincls/model/layers.py dropout: rate={rate} must be in [0, 1)")
  if rate == 0.0:
    return x
  keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
  return jnp.where(keep, x / (1.0 - rate), jnp.zeros_like(x))


def dropout_vjp(key: Array, g: Array, rate) -> Array:
  """VJP of ``dropout(key, ·, rate)``: ``g`` where kept, scaled by ``1/(1-rate)``.

  Dropout is linear in ``x`` for a fixed key, so its VJP is the map itself.
  """
  return dropout(key, g, rate)
