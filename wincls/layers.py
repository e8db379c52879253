"""The pieces of the window network as pure functions (CS224n lecture 3, C&W 2011).

Every function is batched over leading axes and follows the lecture's
orientation ``z = W x + b`` with ``W: [out, in]`` (batched code computes
``x @ W.T + b``). The hand-written derivatives of these functions live in
``wincls/jacobians.py``; the conventions they must match at the kinks are
documented here, next to each function:

* ``relu``: derivative 0 at ``z = 0`` (JAX's ``jax.nn.relu``).
* ``hardtanh``: value ``clip(z, -1, 1)``; derivative 1 on the closed interval
  ``[-1, 1]`` and 0 outside it. Note ``jax.grad(lambda z: jnp.clip(z, -1, 1))``
  gives 0.5 at exactly ``z = ±1`` (``clip`` is ``min(max(z, -1), 1)`` and JAX
  splits the derivative of a tied ``min``/``max`` evenly); we use
  ``jnp.where`` instead, as ``jax.nn.hard_tanh`` does, so the derivative is an
  indicator with no half-values.

A new window representation is one function ``[..., W, d] -> [..., D]`` plus an
entry in ``WINDOWS`` and in ``window_output_dim`` (and its test in
``tests/test_layers.py``); ``wincls.config.WINDOWS`` lists the flag values.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp

Array = jax.Array


def embed(tables: Mapping[str, Any], window_ids: Array,
          feature_ids: Array | None) -> Array:
  """Looks up and concatenates each position's word and feature vectors.

  Args:
    tables: ``{"words": [vocab_size, embed_dim], "features": [[F_k, feature_dim]
      for k in range(K)]}`` (``params["embed"]``); ``"features"`` may be empty.
    window_ids: int ``[..., window_len]`` word ids.
    feature_ids: int ``[..., window_len, K]`` feature ids, column k indexing
      ``tables["features"][k]``; may be ``None`` when there are no feature tables.

  Returns:
    ``[..., window_len, d]`` with ``d = embed_dim + K * feature_dim``: per
    position the word vector followed by the K feature vectors in order.
  """
  feature_tables = list(tables.get("features", ()))
  parts = [jnp.take(tables["words"], window_ids, axis=0)]
  if feature_ids is None:
    if feature_tables:
      raise ValueError(f"wincls/layers.py embed: {len(feature_tables)} feature "
                       "tables but feature_ids is None")
  else:
    if feature_ids.shape[:-1] != window_ids.shape or (
        feature_ids.shape[-1] != len(feature_tables)):
      raise ValueError(
          "wincls/layers.py embed: expected feature_ids of shape "
          f"{tuple(window_ids.shape) + (len(feature_tables),)} (window_ids shape + "
          f"[number of feature tables]), got {tuple(feature_ids.shape)}")
    for k, table in enumerate(feature_tables):
      parts.append(jnp.take(table, feature_ids[..., k], axis=0))
  return jnp.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]


def window_concat(vectors: Array) -> Array:
  """The C&W / CS224n window vector: positions concatenated, position-major.

  Args:
    vectors: ``[..., window_len, d]``.

  Returns:
    ``[..., window_len * d]`` where entries ``[p*d:(p+1)*d]`` are position p.
  """
  return vectors.reshape(vectors.shape[:-2] + (vectors.shape[-2] * vectors.shape[-1],))


def window_average(vectors: Array) -> Array:
  """The lecture's position-blind baseline: the mean of the window's vectors.

  Args:
    vectors: ``[..., window_len, d]``.

  Returns:
    ``[..., d]``.
  """
  return jnp.mean(vectors, axis=-2)


WINDOWS: dict[str, Callable[[Array], Array]] = {
    "concat": window_concat,
    "average": window_average,
}

_WINDOW_DIMS: dict[str, Callable[[int, int], int]] = {
    "concat": lambda window_len, d: window_len * d,
    "average": lambda window_len, d: d,
}


def window_output_dim(name: str, window_len: int, d: int) -> int:
  """D, the size of the window vector of representation ``name``."""
  if name not in _WINDOW_DIMS:
    raise ValueError(f"wincls/layers.py: window {name!r} is not one of "
                     f"{', '.join(_WINDOW_DIMS)}")
  return _WINDOW_DIMS[name](window_len, d)


def affine(x: Array, W: Array, b: Array) -> Array:
  """``z = W x + b`` for a batch of row vectors.

  Args:
    x: ``[..., in]``.
    W: ``[out, in]``.
    b: ``[out]``.

  Returns:
    ``[..., out]`` = ``x @ W.T + b``.
  """
  return x @ W.T + b


def tanh(z: Array) -> Array:
  """Elementwise tanh; derivative ``1 - tanh(z)**2``."""
  return jnp.tanh(z)


def relu(z: Array) -> Array:
  """Elementwise ``max(z, 0)``; derivative ``1[z > 0]`` (0 at ``z = 0``)."""
  return jax.nn.relu(z)


def sigmoid(z: Array) -> Array:
  """Elementwise logistic sigmoid; derivative ``s (1 - s)``."""
  return jax.nn.sigmoid(z)


def hardtanh(z: Array) -> Array:
  """C&W's HardTanh, ``clip(z, -1, 1)``; derivative ``1[-1 <= z <= 1]``."""
  return jnp.where(z > 1, jnp.ones_like(z), jnp.where(z < -1, -jnp.ones_like(z), z))


ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "tanh": tanh,
    "relu": relu,
    "sigmoid": sigmoid,
    "hardtanh": hardtanh,
}


def softmax(z: Array) -> Array:
  """Softmax over the last axis, ``[..., C] -> [..., C]``."""
  return jax.nn.softmax(z, axis=-1)


def log_softmax(z: Array) -> Array:
  """Log-softmax over the last axis (stable), ``[..., C] -> [..., C]``."""
  return jax.nn.log_softmax(z, axis=-1)


def dropout(key: Array, x: Array, rate: float) -> Array:
  """Inverted dropout: zeroes each entry with probability ``rate``, scales by 1/(1-rate).

  The kept entries are ``jax.random.bernoulli(key, 1 - rate, x.shape)``, so the
  mask of a call can be recomputed as ``dropout(key, ones_like(x), rate) != 0``.

  Args:
    key: a ``jax.random.key``.
    x: any shape.
    rate: a Python float in ``[0, 1)``; 0 returns ``x`` unchanged.

  Returns:
    An array like ``x``.
  """
  rate = float(rate)
  if not 0.0 <= rate < 1.0:
    raise ValueError(f"wincls/layers.py dropout: rate={rate} must be in [0, 1)")
  if rate == 0.0:
    return x
  keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
  return jnp.where(keep, x / (1.0 - rate), jnp.zeros_like(x))

