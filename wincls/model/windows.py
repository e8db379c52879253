"""The embedding lookup and the window representations, each with its derivatives.

A window of ``W = 2m+1`` positions is looked up (``embed``) into vectors
``e: [..., W, d]`` (word vector then feature vectors per position) and turned
into the window vector ``x: [..., D]`` by a **window representation**: one
``WindowSpec`` entry of ``WINDOWS``. That entry is the only place a
representation is defined; ``Config`` choices and flag help, the network's
forward and δ-form backward pass, the whole-network Jacobians, saliency, the
gradient-check benchmark and the test grids all read it.

A spec holds (``p``: the window's parameters, ``params["window"]``, or None
when ``init`` is None; ``mask: [..., W]`` is 1 at positions holding a real
word and 0 at the sentence-boundary padding ``<s>``/``</s>`` and ``<pad>``):

* ``forward(p, e, mask) -> x``, batched;
* ``out_dim(W, d) -> D``;
* ``init(key, W, d, dtype) -> p`` (None: no parameters);
* ``jacobian(p, e, mask) -> ∂x/∂e [D, W, d]`` for one window;
* ``jacobian_params(p, e, mask) -> ∂x/∂p`` (leaves ``[D] + leaf shape``), one window;
* ``vjp(p, e, mask, g) -> (∂J/∂p, ∂J/∂e)`` for ``g = ∂J/∂x``, batched (``∂J/∂p``
  summed over the batch; None without parameters).

How to add one: write its functions and give them to ``register`` (here, or
from any module named with ``--plugins``; docs/extending.md). The test grid
(``tests/test_window_specs.py``) and the checkers read ``WINDOWS``, so nothing
else is edited; ``wincls.testing.check_window`` checks a spec's derivatives.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp

from wincls.model import features
from wincls.model import registry
from wincls.model import settings

Array = jax.Array


# ---------------------------------------------------------------------------
# Embedding lookup.


def _feature_columns(tables, feature_ids, config):
  """The features' specs and columns; a config of lookup tables when None."""
  params = list(tables.get("features", ()))
  if config is None:  # lookup tables given by their shapes alone
    config = settings.ModelConfig(
        vocab_size=tables["words"].shape[0], embed_dim=tables["words"].shape[1],
        features=(), feature_sizes=tuple(t.shape[0] for t in params),
        feature_dim=params[0].shape[1] if params else 5)
  cols = features.columns(config)
  if len(cols) != len(params):
    raise ValueError(f"wincls/model/windows.py embed: {len(params)} feature parameter "
                     f"sets but the config names {len(cols)} features")
  return cols, params, config


def embed(tables: Mapping[str, Any], window_ids: Array,
          feature_ids: Array | None, config=None) -> Array:
  """Looks up each position's word vector and computes its feature vectors.

  Args:
    tables: ``{"words": [V, E], "features": [p_1, ..., p_K]}``
      (``params["embed"]``; p_k: feature k's parameters, a ``[F_k, Fd]`` table
      for a lookup feature); ``"features"`` may be empty.
    window_ids: int ``[..., W]`` word ids.
    feature_ids: int ``[..., W, Σ width]`` the features' inputs side by side
      (``features.columns``), or None when there are no features.
    config: the ``ModelConfig`` naming the features; None: lookup tables.

  Returns:
    ``[..., W, d]`` with ``d = E + Σ_k dim_k``.
  """
  cols, params, config = _feature_columns(tables, feature_ids, config)
  parts = [jnp.take(tables["words"], window_ids, axis=0)]
  if feature_ids is None:
    if cols:
      raise ValueError(f"wincls/model/windows.py embed: {len(cols)} "
                       "feature tables but feature_ids is None")
  else:
    width = features.input_width(config)
    if feature_ids.shape[:-1] != window_ids.shape or feature_ids.shape[-1] != width:
      raise ValueError(
          "wincls/model/windows.py embed: expected feature_ids of shape "
          f"{tuple(window_ids.shape) + (width,)} (window_ids shape + "
          f"[the features' input columns]), got {tuple(feature_ids.shape)}")
    for (spec, columns), p in zip(cols, params):
      parts.append(spec.forward(p, feature_ids[..., columns], config))
  return jnp.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]


def _one_hot(ids: Array, size: int, dtype) -> Array:
  return (ids[..., None] == jnp.arange(size)).astype(dtype)


def embed_jacobian_words(tables: Mapping[str, Any], window_ids: Array,
                         feature_ids: Array | None, config=None) -> Array:
  """``∂e[p, i]/∂L[v, j] = 1[ids[p] = v] δ_ij`` (i < E), one window: ``[W, d, V, E]``."""
  words = tables["words"]
  vocab_size, embed_dim = words.shape
  cols, _, config = _feature_columns(tables, feature_ids, config)
  feature_dim = sum(spec.dim(config) for spec, _ in cols)
  select = _one_hot(window_ids, vocab_size, words.dtype)  # [W, V]
  eye = jnp.concatenate([jnp.eye(embed_dim, dtype=words.dtype),
                         jnp.zeros((feature_dim, embed_dim), words.dtype)], axis=0)
  return select[:, None, :, None] * eye[None, :, None, :]


def embed_jacobian_features(tables: Mapping[str, Any], window_ids: Array,
                            feature_ids: Array, k: int, config=None) -> Any:
  """``∂e[p, E + o_k + i]/∂p_k = ∂f_k(inputs_p)_i/∂p_k``, one window: leaves
  ``[W, d] + leaf shape`` (zero outside feature k's slice ``o_k .. o_k + dim_k``)."""
  cols, params, config = _feature_columns(tables, feature_ids, config)
  spec, columns = cols[k]
  dims = [s.dim(config) for s, _ in cols]
  offset = tables["words"].shape[1] + sum(dims[:k])
  d = tables["words"].shape[1] + sum(dims)
  per_position = jax.vmap(lambda inputs: spec.jacobian(params[k], inputs, config))(
      feature_ids[:, columns])  # leaves [W, dim_k] + leaf shape
  return jax.tree.map(lambda j: jnp.zeros((j.shape[0], d) + j.shape[2:], j.dtype).at[
      :, offset:offset + dims[k]].set(j), per_position)


def embed_vjp(tables: Mapping[str, Any], window_ids: Array,
              feature_ids: Array | None, g: Array, config=None) -> dict[str, Any]:
  """The backward pass of ``embed`` for ``g = ∂J/∂e [..., W, d]``.

  ``∂J/∂L[v] = Σ_{b,p: ids[b,p] = v} g[b, p, :E]`` (a row used twice gets both),
  and each feature's spec's VJP with its slice of ``g``.

  Returns:
    ``{"words": [V, E], "features": [∂J/∂p_k, ...]}`` like ``tables``.
  """
  words = tables["words"]
  embed_dim = words.shape[1]
  cols, params, config = _feature_columns(tables, feature_ids, config)
  grads = {"words": jnp.zeros_like(words).at[window_ids.reshape(-1)].add(
      g.reshape(-1, g.shape[-1])[:, :embed_dim])}
  feature_grads, offset = [], embed_dim
  for (spec, columns), p in zip(cols, params):
    dim = spec.dim(config)
    feature_grads.append(spec.vjp(p, feature_ids[..., columns],
                                  g[..., offset:offset + dim], config))
    offset += dim
  grads["features"] = feature_grads
  return grads


# ---------------------------------------------------------------------------
# concat: x = [e_1; ...; e_W], position-major (C&W, CS224n). Keeps position.


def concat(p, vectors: Array, mask: Array) -> Array:
  """``[..., W, d] -> [..., W·d]``; entries ``[q·d:(q+1)·d]`` are position q."""
  del p, mask
  return vectors.reshape(vectors.shape[:-2] + (vectors.shape[-2] * vectors.shape[-1],))


def concat_jacobian(p, vectors: Array, mask: Array) -> Array:
  """``∂x[q·d + i]/∂e[r, j] = δ_qr δ_ij``: a reshaped identity ``[W·d, W, d]``."""
  del p, mask
  window_len, d = vectors.shape
  size = window_len * d
  return jnp.eye(size, dtype=vectors.dtype).reshape(size, window_len, d)


def concat_vjp(p, vectors: Array, mask: Array, g: Array):
  """Each position's gradient is its slice of ``g``."""
  del p, mask
  return None, g.reshape(vectors.shape)


# ---------------------------------------------------------------------------
# average: x = (1/W) Σ_q e_q over all W positions, the boundary padding
# (<s>, </s>) included: near a sentence edge the padding rows are part of the
# mean. Position-blind.


def average(p, vectors: Array, mask: Array) -> Array:
  """``[..., W, d] -> [..., d]``, the mean over all W positions."""
  del p, mask
  return jnp.mean(vectors, axis=-2)


def average_jacobian(p, vectors: Array, mask: Array) -> Array:
  """``∂x_i/∂e[q, j] = δ_ij / W``: ``[d, W, d]``."""
  del p, mask
  window_len, d = vectors.shape
  eye = jnp.eye(d, dtype=vectors.dtype) / window_len
  return jnp.broadcast_to(eye[:, None, :], (d, window_len, d))


def average_vjp(p, vectors: Array, mask: Array, g: Array):
  """Every position gets ``g / W``."""
  del p, mask
  return None, jnp.broadcast_to((g / vectors.shape[-2])[..., None, :], vectors.shape)


# ---------------------------------------------------------------------------
# masked_average: x = Σ_q m_q e_q / max(Σ_q m_q, 1), the mean over the real
# words only (m: the mask), so the count of padding rows does not leak the
# distance to the sentence edge.


def _mask_weights(mask: Array, dtype) -> Array:
  """``m_q / max(Σ m, 1)``, ``[..., W]``."""
  mask = mask.astype(dtype)
  return mask / jnp.maximum(jnp.sum(mask, axis=-1, keepdims=True), 1.0)


def masked_average(p, vectors: Array, mask: Array) -> Array:
  """``[..., W, d] -> [..., d]``, the mean over the positions where ``mask`` is 1."""
  del p
  weights = _mask_weights(mask, vectors.dtype)
  return jnp.sum(weights[..., None] * vectors, axis=-2)


def masked_average_jacobian(p, vectors: Array, mask: Array) -> Array:
  """``∂x_i/∂e[q, j] = δ_ij m_q / n``: ``[d, W, d]``."""
  del p
  d = vectors.shape[-1]
  weights = _mask_weights(mask, vectors.dtype)  # [W]
  return jnp.eye(d, dtype=vectors.dtype)[:, None, :] * weights[None, :, None]


def masked_average_vjp(p, vectors: Array, mask: Array, g: Array):
  """Position q gets ``g m_q / n``."""
  del p
  weights = _mask_weights(mask, vectors.dtype)
  return None, weights[..., None] * g[..., None, :]


# ---------------------------------------------------------------------------
# weighted: x = Σ_q a_q e_q with learned position weights a ∈ R^W (init 1/W,
# the average): position-aware, yet as small as the average.


def weighted_init(key: Array, window_len: int, d: int, dtype) -> dict[str, Array]:
  """``{"weights": [W]}`` all ``1/W``."""
  del key, d
  return {"weights": jnp.full((window_len,), 1.0 / window_len, dtype)}


def weighted(p, vectors: Array, mask: Array) -> Array:
  """``[..., W, d] -> [..., d]``: ``Σ_q a_q e_q``."""
  del mask
  return jnp.einsum("q,...qd->...d", p["weights"], vectors)


def weighted_jacobian(p, vectors: Array, mask: Array) -> Array:
  """``∂x_i/∂e[q, j] = δ_ij a_q``: ``[d, W, d]``."""
  del mask
  d = vectors.shape[-1]
  return jnp.eye(d, dtype=vectors.dtype)[:, None, :] * p["weights"][None, :, None]


def weighted_jacobian_params(p, vectors: Array, mask: Array) -> dict[str, Array]:
  """``∂x_i/∂a_q = e_q[i]``: ``{"weights": [d, W]}``."""
  del p, mask
  return {"weights": vectors.T}


def weighted_vjp(p, vectors: Array, mask: Array, g: Array):
  """``∂J/∂e_q = a_q g`` and ``∂J/∂a_q = Σ_batch <g, e_q>``."""
  del mask
  g_vectors = p["weights"][:, None] * g[..., None, :]
  batch_axes = "".join("abcdefgh"[:g.ndim - 1])
  g_weights = jnp.einsum(f"{batch_axes}i,{batch_axes}qi->q", g, vectors)
  return {"weights": g_weights}, g_vectors


# ---------------------------------------------------------------------------
# The registry.


@dataclasses.dataclass(frozen=True)
class WindowSpec:
  """A window representation (the module docstring says what each part does)."""

  forward: Callable[..., Array]
  out_dim: Callable[[int, int], int]
  jacobian: Callable[..., Array]
  vjp: Callable[..., tuple[Any, Array]]
  help: str
  init: Callable[..., Any] | None = None
  jacobian_params: Callable[..., Any] | None = None


WINDOWS: registry.Registry[WindowSpec] = registry.Registry("window", {
    "concat": WindowSpec(
        concat, lambda w, d: w * d, concat_jacobian, concat_vjp,
        "positions concatenated, [e_-m; ...; e_+m] (keeps position)"),
    "average": WindowSpec(
        average, lambda w, d: d, average_jacobian, average_vjp,
        "mean of the 2m+1 vectors, <s>/</s> padding included (loses position)"),
    "masked_average": WindowSpec(
        masked_average, lambda w, d: d, masked_average_jacobian, masked_average_vjp,
        "mean of the real words' vectors only (padding masked)"),
    "weighted": WindowSpec(
        weighted, lambda w, d: d, weighted_jacobian, weighted_vjp,
        "Σ_p a_p e_p with learned position weights a (init 1/(2m+1))",
        init=weighted_init, jacobian_params=weighted_jacobian_params),
}, check=lambda name, spec: check_spec(name, spec))
register = WINDOWS.register


def check_spec(name: str, spec: WindowSpec) -> None:
  """``WINDOWS``'s check of a registered window: a ``WindowSpec`` whose forward,
  on finite vectors ``[2, 5, 3]`` (m = 2, d = 3), gives finite ``[2, out_dim(5, 3)]``."""
  if not isinstance(spec, WindowSpec):
    raise TypeError(f"window {name!r}: expected a WindowSpec, got a "
                    f"{type(spec).__name__}")
  batch, width, dim = 2, 5, 3
  vectors = jax.random.normal(jax.random.key(0), (batch, width, dim), jnp.float32)
  mask = jnp.ones((batch, width), jnp.float32).at[0, 0].set(0.0)
  try:
    p = None if spec.init is None else spec.init(jax.random.key(1), width, dim,
                                                 jnp.float32)
    out = spec.forward(p, vectors, mask)
    expected = (batch, spec.out_dim(width, dim))
  except Exception as e:  # a plugin's function can fail any way: name the part
    raise ValueError(f"window {name!r}: forward failed on vectors [{batch}, {width}, "
                     f"{dim}]: {type(e).__name__}: {e}") from None
  if tuple(out.shape) != expected:
    raise ValueError(f"window {name!r}: forward gives shape {tuple(out.shape)} for "
                     f"vectors [{batch}, {width}, {dim}]; expected [{batch}, "
                     f"out_dim({width}, {dim}) = {expected[1]}]")
  if not bool(jnp.all(jnp.isfinite(out))):
    raise ValueError(f"window {name!r}: forward gives non-finite values on finite "
                     "vectors")


def get(name: str) -> WindowSpec:
  """The spec of window ``name`` (ValueError naming the choices)."""
  return WINDOWS.lookup(name)
