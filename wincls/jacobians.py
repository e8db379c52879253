"""Hand-written Jacobians of the window network's pieces (CS224n lecture 3).

Every function here differentiates one forward function of ``wincls/layers.py``,
``wincls/losses.py``, ``wincls/crf.py`` or ``wincls/models.py`` and is named after
it: ``affine_jacobian_x`` is ``∂ affine / ∂ x``, ``softmax_jacobian`` is
``∂ softmax / ∂ z``, ``affine_vjp`` is the vector-Jacobian product of ``affine``.
No function here calls JAX's autodiff; ``tests/test_jacobians.py`` checks each
against ``jax.jacfwd``/``jax.jacrev``/``jax.grad`` in float64, and
``docs/calculus.md`` derives each one.

Conventions:

* **Numerator layout.** The Jacobian of ``y = f(x)`` with ``y: [m...]`` and
  ``x: [n...]`` has shape ``[m..., n...]`` with entry ``∂y_i/∂x_j`` (what
  ``jax.jacfwd``/``jax.jacrev`` return). ``W`` is ``[out, in]`` (``z = W x + b``).
* **One example.** ``*_jacobian`` functions take a single example (no batch axis)
  unless their docstring says otherwise. ``*_vjp`` functions and the loss
  ``*_gradient`` functions are batched over leading axes: a per-example loss of a
  batch has a block-diagonal Jacobian, and ``*_gradient`` returns its blocks (one
  gradient row per example).
* **Kinks** (values at the points where the function is not differentiable),
  chosen to equal what ``jax.grad`` returns for the forward functions as written:
  ``relu'(0) = 0`` (``jax.nn.relu``); ``hardtanh'(±1) = 1`` (``layers.hardtanh`` is a
  ``jnp.where``, so the derivative is ``1[-1 <= z <= 1]``); every hinge
  ``max(0, a)`` is ``jax.nn.relu`` so a loss exactly on the margin has gradient 0;
  Crammer-Singer's best wrong class is the lowest-index argmax, which alone gets
  the gradient on ties.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
from jax import lax

from wincls import config as config_lib
from wincls import layers
from wincls import models

Array = jax.Array


# ---------------------------------------------------------------------------
# Affine map  z = W x + b.
# ---------------------------------------------------------------------------


def affine_jacobian_x(x: Array, W: Array, b: Array) -> Array:
  """``∂z/∂x = W`` for ``z = W x + b``.

  Args:
    x: ``[in]``.
    W: ``[out, in]``.
    b: ``[out]``.

  Returns:
    ``[out, in]``.
  """
  del x, b
  return W


def affine_jacobian_W(x: Array, W: Array, b: Array) -> Array:
  """``∂z_i/∂W_jk = δ_ij x_k`` for ``z = W x + b``.

  Args:
    x: ``[in]``.
    W: ``[out, in]``.
    b: ``[out]``.

  Returns:
    ``[out, out, in]``: entry ``[i, j, k]`` is ``δ_ij x_k``.
  """
  del b
  eye = jnp.eye(W.shape[0], dtype=W.dtype)
  return eye[:, :, None] * x[None, None, :]


def affine_jacobian_b(x: Array, W: Array, b: Array) -> Array:
  """``∂z/∂b = I`` for ``z = W x + b``.

  Args:
    x: ``[in]``.
    W: ``[out, in]``.
    b: ``[out]``.

  Returns:
    ``[out, out]``, the identity.
  """
  del x, W
  return jnp.eye(b.shape[0], dtype=b.dtype)


def affine_vjp(x: Array, W: Array, b: Array, delta: Array) -> tuple[Array, Array, Array]:
  """The backward pass of ``affine`` for a batch: the lecture's δ form.

  With ``δ = ∂J/∂z`` (one row per example): ``∂J/∂x = δ W``, ``∂J/∂W = δᵀ x``
  (summed over the batch by the matrix product) and ``∂J/∂b = Σ_batch δ``.

  Args:
    x: ``[..., in]``.
    W: ``[out, in]``.
    b: ``[out]``.
    delta: ``[..., out]``, the upstream gradient ``∂J/∂z``.

  Returns:
    ``(dx [..., in], dW [out, in], db [out])``.
  """
  del b
  delta2 = delta.reshape(-1, delta.shape[-1])
  x2 = x.reshape(-1, x.shape[-1])
  return delta @ W, delta2.T @ x2, jnp.sum(delta2, axis=0)


# ---------------------------------------------------------------------------
# Activations h = f(z), elementwise: ∂h/∂z = diag(f'(z)).
# ---------------------------------------------------------------------------


def tanh_derivative(z: Array) -> Array:
  """``tanh'(z) = 1 - tanh(z)²``, elementwise, any shape."""
  t = jnp.tanh(z)
  return 1.0 - t * t


def relu_derivative(z: Array) -> Array:
  """``relu'(z) = 1[z > 0]`` (0 at ``z = 0``, as ``jax.nn.relu``), any shape."""
  return (z > 0).astype(z.dtype)


def sigmoid_derivative(z: Array) -> Array:
  """``σ'(z) = σ(z)(1 - σ(z))``, elementwise, any shape."""
  s = jax.nn.sigmoid(z)
  return s * (1.0 - s)


def hardtanh_derivative(z: Array) -> Array:
  """``hardtanh'(z) = 1[-1 <= z <= 1]`` (1 at ``z = ±1``, as ``layers.hardtanh``)."""
  return ((z >= -1) & (z <= 1)).astype(z.dtype)


ACTIVATION_DERIVATIVES: dict[str, Callable[[Array], Array]] = {
    "tanh": tanh_derivative,
    "relu": relu_derivative,
    "sigmoid": sigmoid_derivative,
    "hardtanh": hardtanh_derivative,
}


def activation_jacobian(name: str, z: Array) -> Array:
  """``∂f(z)/∂z = diag(f'(z))`` of activation ``name`` (a key of ``layers.ACTIVATIONS``).

  Args:
    name: "tanh" | "relu" | "sigmoid" | "hardtanh".
    z: ``[n]``.

  Returns:
    ``[n, n]``, diagonal.
  """
  if name not in ACTIVATION_DERIVATIVES:
    raise ValueError(f"wincls/jacobians.py: activation {name!r} is not one of "
                     f"{', '.join(ACTIVATION_DERIVATIVES)}")
  return jnp.diag(ACTIVATION_DERIVATIVES[name](z))


def tanh_jacobian(z: Array) -> Array:
  """``diag(1 - tanh(z)²)``, ``[n] -> [n, n]``."""
  return activation_jacobian("tanh", z)


def relu_jacobian(z: Array) -> Array:
  """``diag(1[z > 0])``, ``[n] -> [n, n]``."""
  return activation_jacobian("relu", z)


def sigmoid_jacobian(z: Array) -> Array:
  """``diag(σ(z)(1 - σ(z)))``, ``[n] -> [n, n]``."""
  return activation_jacobian("sigmoid", z)


def hardtanh_jacobian(z: Array) -> Array:
  """``diag(1[-1 <= z <= 1])``, ``[n] -> [n, n]``."""
  return activation_jacobian("hardtanh", z)


def activation_vjp(name: str, z: Array, g: Array) -> Array:
  """``g ∘ f'(z)``: the VJP of an elementwise activation (batched, any shape)."""
  return g * ACTIVATION_DERIVATIVES[name](z)


# ---------------------------------------------------------------------------
# Softmax and log-softmax, one example [C] -> [C].
# ---------------------------------------------------------------------------


def softmax_jacobian(z: Array) -> Array:
  """``∂p/∂z = diag(p) - p pᵀ`` with ``p = softmax(z)``.

  Args:
    z: ``[C]``.

  Returns:
    ``[C, C]``, symmetric.
  """
  p = jax.nn.softmax(z)
  return jnp.diag(p) - jnp.outer(p, p)


def softmax_vjp(z: Array, g: Array) -> Array:
  """``gᵀ (diag(p) - p pᵀ) = p ∘ (g - <g, p>)``, batched ``[..., C]``."""
  p = jax.nn.softmax(z, axis=-1)
  return p * (g - jnp.sum(g * p, axis=-1, keepdims=True))


def log_softmax_jacobian(z: Array) -> Array:
  """``∂ log p/∂z = I - 1 pᵀ`` (row i is ``e_i - p``).

  Args:
    z: ``[C]``.

  Returns:
    ``[C, C]``.
  """
  p = jax.nn.softmax(z)
  return jnp.eye(z.shape[0], dtype=z.dtype) - p[None, :]


# ---------------------------------------------------------------------------
# Losses (wincls/losses.py): per-example gradients w.r.t. the scores, batched.
# ---------------------------------------------------------------------------


def _one_hot(labels: Array, num_classes: int, dtype) -> Array:
  return (labels[..., None] == jnp.arange(num_classes)).astype(dtype)


def _step(a: Array) -> Array:
  """``relu'(a) = 1[a > 0]``: the hinges' derivative (0 exactly on the margin)."""
  return (a > 0).astype(a.dtype)


def softmax_cross_entropy_gradient(*, logits: Array, labels: Array) -> Array:
  """``∂/∂logits of -log softmax(logits)[y] = p - y`` (y one-hot).

  Args:
    logits: ``[batch, C]``.
    labels: int ``[batch]``.

  Returns:
    ``[batch, C]``: row b is the gradient of example b's loss.
  """
  p = jax.nn.softmax(logits, axis=-1)
  return p - _one_hot(labels, logits.shape[-1], logits.dtype)


def binary_logistic_gradient(*, scores: Array, labels: Array) -> Array:
  """``∂/∂s of -y log σ(s) - (1-y) log(1-σ(s)) = σ(s) - y``.

  Args:
    scores: ``[batch]``.
    labels: ``[batch]`` in {0, 1}.

  Returns:
    ``[batch]``.
  """
  return jax.nn.sigmoid(scores) - labels.astype(scores.dtype)


def max_margin_gradient(*, scores: Array, corrupted_scores: Array,
                        margin: float = 1.0) -> tuple[Array, Array]:
  """Subgradient of ``J = Σ_k max(0, Δ - s + s_c_k)``.

  With ``a_k = 1[Δ - s + s_c_k > 0]``: ``∂J/∂s = -Σ_k a_k`` and
  ``∂J/∂s_c_k = a_k`` (0 on the margin, as ``jax.nn.relu``).

  Args:
    scores: ``[batch]``.
    corrupted_scores: ``[batch, k]``.
    margin: Δ.

  Returns:
    ``(∂J/∂s [batch], ∂J/∂s_c [batch, k])``.
  """
  active = _step(margin - scores[..., None] + corrupted_scores)
  return -jnp.sum(active, axis=-1), active


def hinge_weston_watkins_gradient(*, scores: Array, labels: Array,
                                  margin: float = 1.0) -> Array:
  """Subgradient of ``Σ_{c≠y} max(0, Δ + s_c - s_y)``.

  With ``a_c = 1[c ≠ y] 1[Δ + s_c - s_y > 0]``: ``∂/∂s_c = a_c`` for ``c ≠ y`` and
  ``∂/∂s_y = -Σ_c a_c``.

  Args:
    scores: ``[batch, C]``.
    labels: int ``[batch]``.
    margin: Δ.

  Returns:
    ``[batch, C]``.
  """
  y = _one_hot(labels, scores.shape[-1], scores.dtype)
  true_scores = jnp.sum(y * scores, axis=-1, keepdims=True)
  active = (1.0 - y) * _step(margin + scores - true_scores)
  return active - y * jnp.sum(active, axis=-1, keepdims=True)


def hinge_crammer_singer_gradient(*, scores: Array, labels: Array,
                                  margin: float = 1.0) -> Array:
  """Subgradient of ``max(0, Δ + max_{c≠y} s_c - s_y)``.

  With ``c* = `` the lowest-index argmax over ``c ≠ y`` (the tie rule of
  ``losses.best_wrong_class``) and ``a = 1[Δ + s_c* - s_y > 0]``: the gradient is
  ``a (e_c* - e_y)``.

  Args:
    scores: ``[batch, C]``, ``C >= 2``.
    labels: int ``[batch]``.
    margin: Δ.

  Returns:
    ``[batch, C]``.
  """
  num_classes = scores.shape[-1]
  y = _one_hot(labels, num_classes, scores.dtype)
  masked = jnp.where(y > 0, -jnp.inf, scores)
  best = jnp.max(masked, axis=-1, keepdims=True)
  # Lowest index among the tied maxima: the first position where masked == best.
  index = jnp.arange(num_classes)
  first = jnp.min(jnp.where(masked == best, index, num_classes), axis=-1)
  wrong = _one_hot(first, num_classes, scores.dtype)
  true_scores = jnp.sum(y * scores, axis=-1, keepdims=True)
  active = _step(margin + best - true_scores)
  return active * (wrong - y)


# ---------------------------------------------------------------------------
# Window representations [W, d] -> [D], and the embedding lookup.
# ---------------------------------------------------------------------------


def window_concat_jacobian(vectors: Array) -> Array:
  """``∂x/∂e`` of ``x = [e_1; ...; e_W]`` (position-major): a reshaped identity.

  Args:
    vectors: ``[W, d]`` (only the shape and dtype are used).

  Returns:
    ``[W*d, W, d]``: entry ``[p*d + i, q, j]`` is ``δ_pq δ_ij``.
  """
  window_len, d = vectors.shape
  size = window_len * d
  return jnp.eye(size, dtype=vectors.dtype).reshape(size, window_len, d)


def window_average_jacobian(vectors: Array) -> Array:
  """``∂x/∂e`` of ``x = (1/W) Σ_p e_p``: entry ``[i, q, j]`` is ``δ_ij / W``.

  Args:
    vectors: ``[W, d]``.

  Returns:
    ``[d, W, d]``.
  """
  window_len, d = vectors.shape
  eye = jnp.eye(d, dtype=vectors.dtype) / window_len
  return jnp.broadcast_to(eye[:, None, :], (d, window_len, d))


def window_concat_vjp(g: Array, window_len: int) -> Array:
  """``[..., W*d] -> [..., W, d]``: the gradient of each position is its slice."""
  return g.reshape(g.shape[:-1] + (window_len, g.shape[-1] // window_len))


def window_average_vjp(g: Array, window_len: int) -> Array:
  """``[..., d] -> [..., W, d]``: every position gets ``g / W``."""
  return jnp.broadcast_to((g / window_len)[..., None, :],
                          g.shape[:-1] + (window_len, g.shape[-1]))


WINDOW_JACOBIANS: dict[str, Callable[[Array], Array]] = {
    "concat": window_concat_jacobian,
    "average": window_average_jacobian,
}
WINDOW_VJPS: dict[str, Callable[[Array, int], Array]] = {
    "concat": window_concat_vjp,
    "average": window_average_vjp,
}


def embed_jacobian_words(tables: Mapping[str, Any], window_ids: Array,
                         feature_ids: Array | None) -> Array:
  """``∂e/∂L`` of ``e = embed(tables, ids)`` w.r.t. the word table L ``[V, E]``.

  Position p's word slice is row ``ids[p]`` of L, so
  ``∂e[p, i]/∂L[v, j] = 1[ids[p] = v] δ_ij`` for ``i < E`` and 0 on the feature
  slices: a one-hot selection (the lookup is the matrix product ``L ᵀ onehot``).

  Args:
    tables: ``{"words": [V, E], "features": [[F_k, Fd], ...]}``.
    window_ids: int ``[W]``.
    feature_ids: int ``[W, K]`` or ``None``.

  Returns:
    ``[W, d, V, E]`` with ``d = E + K·Fd``.
  """
  del feature_ids  # the word slice does not depend on them
  words = tables["words"]
  vocab_size, embed_dim = words.shape
  feature_dim = sum(t.shape[1] for t in tables.get("features", ()))
  select = _one_hot(window_ids, vocab_size, words.dtype)  # [W, V]
  eye = jnp.concatenate([jnp.eye(embed_dim, dtype=words.dtype),
                         jnp.zeros((feature_dim, embed_dim), words.dtype)], axis=0)
  return select[:, None, :, None] * eye[None, :, None, :]


def embed_jacobian_features(tables: Mapping[str, Any], window_ids: Array,
                            feature_ids: Array, k: int) -> Array:
  """``∂e/∂F_k`` w.r.t. feature table k ``[F_k, Fd]``.

  ``∂e[p, i]/∂F_k[v, j] = 1[feature_ids[p, k] = v] δ_{i, E + k·Fd + j}``.

  Args:
    tables: ``{"words": [V, E], "features": [[F_k, Fd], ...]}``.
    window_ids: int ``[W]``.
    feature_ids: int ``[W, K]``.
    k: which feature table.

  Returns:
    ``[W, d, F_k, Fd]``.
  """
  del window_ids
  embed_dim = tables["words"].shape[1]
  feature_tables = list(tables["features"])
  table = feature_tables[k]
  size, feature_dim = table.shape
  d = embed_dim + sum(t.shape[1] for t in feature_tables)
  offset = embed_dim + sum(t.shape[1] for t in feature_tables[:k])
  select = _one_hot(feature_ids[:, k], size, table.dtype)  # [W, F_k]
  place = jnp.zeros((d, feature_dim), table.dtype).at[
      offset:offset + feature_dim].set(jnp.eye(feature_dim, dtype=table.dtype))
  return select[:, None, :, None] * place[None, :, None, :]


def embed_vjp(tables: Mapping[str, Any], window_ids: Array,
              feature_ids: Array | None, g: Array) -> dict[str, Any]:
  """Scatter-adds ``∂J/∂e`` back onto the table rows that were looked up.

  ``∂J/∂L[v] = Σ_{b,p: ids[b,p] = v} ∂J/∂e[b, p, :E]``, likewise for each feature
  table with its slice of ``e``: a row used twice gets both gradients.

  Args:
    tables: ``{"words": [V, E], "features": [[F_k, Fd], ...]}``.
    window_ids: int ``[..., W]``.
    feature_ids: int ``[..., W, K]`` or ``None``.
    g: ``[..., W, d]``, the upstream gradient of ``embed``'s output.

  Returns:
    ``{"words": [V, E], "features": [[F_k, Fd], ...]}`` like ``tables``.
  """
  words = tables["words"]
  embed_dim = words.shape[1]
  ids = window_ids.reshape(-1)
  g2 = g.reshape(-1, g.shape[-1])
  grads = {"words": jnp.zeros_like(words).at[ids].add(g2[:, :embed_dim])}
  feature_grads = []
  offset = embed_dim
  for k, table in enumerate(tables.get("features", ())):
    width = table.shape[1]
    column = feature_ids[..., k].reshape(-1)
    feature_grads.append(jnp.zeros_like(table).at[column].add(
        g2[:, offset:offset + width]))
    offset += width
  grads["features"] = feature_grads
  return grads


def dropout_vjp(key: Array, g: Array, rate: float) -> Array:
  """VJP of ``layers.dropout(key, ·, rate)``: ``g`` where kept, scaled by ``1/(1-rate)``.

  The keep mask is redrawn from the same key (``layers.dropout``'s docstring).
  """
  if rate == 0.0:
    return g
  keep = layers.dropout(key, jnp.ones_like(g), rate) != 0
  return jnp.where(keep, g / (1.0 - rate), jnp.zeros_like(g))


# ---------------------------------------------------------------------------
# CRF (wincls/crf.py): forward-backward by hand.
# ---------------------------------------------------------------------------


def crf_forward_backward(emissions: Array, mask: Array,
                         crf_params: Mapping[str, Array]) -> dict[str, Array]:
  """Forward-backward in log space for a batch of sentences.

  Mirrors ``crf.crf_log_partition``: position 0 always counts (``α_0 = start +
  e_0``); a masked position t ≥ 1 is skipped (``α_t = α_{t-1}``, ``β_{t-1} = β_t``).
  The recursions are

      α_t[j] = logsumexp_i(α_{t-1}[i] + A[i, j]) + e_t[j],
      β_{t-1}[i] = logsumexp_j(A[i, j] + e_t[j] + β_t[j]),   β_{T-1} = end,
      log Z = logsumexp_j(α_{T-1}[j] + end[j]).

  Args:
    emissions: ``[batch, T, C]``.
    mask: ``[batch, T]``.
    crf_params: ``{"transitions" A: [C, C], "start": [C], "end": [C]}``.

  Returns:
    ``{"log_alpha": [batch, T, C], "log_beta": [batch, T, C],
    "log_z": [batch], "keep": bool [batch, T]}`` (``keep`` is the mask with
    position 0 forced on).
  """
  transitions = crf_params["transitions"]
  keep = jnp.asarray(mask).astype(bool).at[:, 0].set(True)
  e_t = jnp.swapaxes(emissions, 0, 1)  # [T, B, C]
  keep_t = jnp.swapaxes(keep, 0, 1)  # [T, B]

  def forward(alpha, inputs):
    emission, k = inputs
    new = jax.nn.logsumexp(alpha[:, :, None] + transitions, axis=1) + emission
    alpha = jnp.where(k[:, None], new, alpha)
    return alpha, alpha

  alpha0 = crf_params["start"] + e_t[0]
  _, alphas = lax.scan(forward, alpha0, (e_t[1:], keep_t[1:]))
  log_alpha = jnp.concatenate([alpha0[None], alphas], axis=0)

  def backward(beta, inputs):
    emission, k = inputs  # of position t; returns β_{t-1}
    new = jax.nn.logsumexp(transitions[None] + (emission + beta)[:, None, :], axis=2)
    beta = jnp.where(k[:, None], new, beta)
    return beta, beta

  beta_last = jnp.broadcast_to(crf_params["end"], alpha0.shape)
  _, betas = lax.scan(backward, beta_last, (e_t[1:], keep_t[1:]), reverse=True)
  log_beta = jnp.concatenate([betas, beta_last[None]], axis=0)
  log_z = jax.nn.logsumexp(log_alpha[-1] + crf_params["end"], axis=-1)
  return {"log_alpha": jnp.swapaxes(log_alpha, 0, 1),
          "log_beta": jnp.swapaxes(log_beta, 0, 1), "log_z": log_z, "keep": keep}


def crf_marginals(emissions: Array, mask: Array,
                  crf_params: Mapping[str, Array]) -> dict[str, Array]:
  """Posterior marginals = the gradient of ``log Z`` (batched).

  ``∂ log Z/∂e_t[j] = p(y_t = j) = exp(α_t[j] + β_t[j] - log Z)`` (0 at a masked
  position), ``∂ log Z/∂A[i, j] = Σ_{t≥1, kept} p(y_{t'} = i, y_t = j)`` with t' the
  previous kept position, ``∂ log Z/∂start = p(y_0)``, ``∂ log Z/∂end = p(y_last)``.

  Args:
    emissions: ``[batch, T, C]``.
    mask: ``[batch, T]``.
    crf_params: ``{"transitions": [C, C], "start": [C], "end": [C]}``.

  Returns:
    ``{"log_z": [batch], "emissions": [batch, T, C], "transitions": [batch, C, C],
    "start": [batch, C], "end": [batch, C]}``.
  """
  fb = crf_forward_backward(emissions, mask, crf_params)
  log_alpha, log_beta, log_z = fb["log_alpha"], fb["log_beta"], fb["log_z"]
  keep = fb["keep"].astype(emissions.dtype)
  unary = jnp.exp(log_alpha + log_beta - log_z[:, None, None]) * keep[..., None]
  # Pairwise marginal of (t-1 → t): α_{t-1}[i] + A[i, j] + e_t[j] + β_t[j] - log Z.
  pair = (log_alpha[:, :-1, :, None] + crf_params["transitions"]
          + (emissions[:, 1:] + log_beta[:, 1:])[:, :, None, :]
          - log_z[:, None, None, None])
  pairwise = jnp.sum(jnp.exp(pair) * keep[:, 1:, None, None], axis=1)
  end = jax.nn.softmax(log_alpha[:, -1] + crf_params["end"], axis=-1)
  return {"log_z": log_z, "emissions": unary, "transitions": pairwise,
          "start": unary[:, 0], "end": end}


def crf_log_partition_jacobian(emissions: Array, mask: Array,
                               crf_params: Mapping[str, Array]) -> dict[str, Array]:
  """Gradient of ``crf.crf_log_partition`` (one sentence): the marginals.

  Args:
    emissions: ``[T, C]``.
    mask: ``[T]``.
    crf_params: ``{"transitions": [C, C], "start": [C], "end": [C]}``.

  Returns:
    ``{"emissions": [T, C], "transitions": [C, C], "start": [C], "end": [C]}``.
  """
  m = crf_marginals(emissions[None], mask[None], crf_params)
  return {name: m[name][0] for name in ("emissions", "transitions", "start", "end")}


def crf_nll_gradient(*, emissions: Array, labels: Array, mask: Array,
                     crf_params: Mapping[str, Array]) -> dict[str, Array]:
  """Per-sentence gradient of ``crf.crf_nll = log Z - S(y)``: marginals - gold counts.

  Args:
    emissions: ``[batch, T, C]``.
    labels: int ``[batch, T]``.
    mask: ``[batch, T]``, prefixes of ones; an all-zero row (padding) gets 0.
    crf_params: ``{"transitions": [C, C], "start": [C], "end": [C]}``.

  Returns:
    ``{"emissions": [batch, T, C], "transitions": [batch, C, C], "start": [batch, C],
    "end": [batch, C]}``, row b the gradient of sentence b's NLL.
  """
  num_tags = emissions.shape[-1]
  dtype = emissions.dtype
  m = crf_marginals(emissions, mask, crf_params)
  keep = mask.astype(bool)
  weights = keep.astype(dtype)
  tags = jnp.where(keep, labels, 0)
  gold = _one_hot(tags, num_tags, dtype)  # [B, T, C]
  gold_pairs = jnp.einsum("bt,bti,btj->bij", weights[:, 1:], gold[:, :-1], gold[:, 1:])
  length = jnp.sum(keep.astype(jnp.int32), axis=-1)
  last = jnp.take_along_axis(tags, jnp.maximum(length - 1, 0)[:, None], axis=1)[:, 0]
  real = jnp.any(keep, axis=-1).astype(dtype)
  grads = {
      "emissions": m["emissions"] - gold * weights[..., None],
      "transitions": m["transitions"] - gold_pairs,
      "start": m["start"] - gold[:, 0],
      "end": m["end"] - _one_hot(last, num_tags, dtype),
  }
  return {name: g * real.reshape((-1,) + (1,) * (g.ndim - 1)) for name, g in grads.items()}


# ---------------------------------------------------------------------------
# The whole network, one example: chain rule on full Jacobian matrices.
# ---------------------------------------------------------------------------


def _layer_names(config: config_lib.ModelConfig) -> tuple[str, ...]:
  return ("hidden", "hidden2")[:len(models.hidden_sizes(config))]


def network_jacobians(params: Mapping[str, Any], x: Array, *,
                      config: config_lib.ModelConfig) -> dict[str, Any]:
  """Jacobians of the scores w.r.t. the window vector x and every dense parameter.

  The network from x (no dropout): ``h_0 = x``, ``z_l = W_l h_{l-1} + b_l``,
  ``h_l = f(z_l)``, scores ``s = U h_L + c`` (or ``s = uᵀ h_L``). Going backwards
  with full matrices (numerator layout, ``[C, ...]`` rows):

      ∂s/∂h_L = U (or uᵀ),   ∂s/∂z_l = ∂s/∂h_l · diag(f'(z_l)),
      ∂s/∂W_l = ∂s/∂z_l · ∂z_l/∂W_l,  ∂s/∂b_l = ∂s/∂z_l,  ∂s/∂h_{l-1} = ∂s/∂z_l · W_l,

  e.g. ``∂s/∂x = uᵀ diag(f'(z)) W`` for one hidden layer and a score output.

  Args:
    params: ``models.init_params``'s pytree (``embed`` and ``crf`` are ignored).
    x: ``[D]``, one window vector.
    config: the model's settings.

  Returns:
    ``{"x": J_x, "hidden": {"W", "b"}, "hidden2": {...}, "output": {"W", "b"} |
    {"u"}}`` (the parts the config has); each leaf has shape ``lead + shape of the
    variable`` with ``lead = [C]`` for output="multiclass" and ``[]`` for "score".
  """
  names = _layer_names(config)
  zs, hs = [], [x]
  for name in names:
    z = layers.affine(hs[-1], params[name]["W"], params[name]["b"])
    zs.append(z)
    hs.append(layers.ACTIVATIONS[config.activation](z))
  h_last = hs[-1]
  jac: dict[str, Any] = {}
  if config.output == "multiclass":
    W, b = params["output"]["W"], params["output"]["b"]
    jac["output"] = {"W": affine_jacobian_W(h_last, W, b),
                     "b": affine_jacobian_b(h_last, W, b)}
    upstream = affine_jacobian_x(h_last, W, b)  # [C, H_L]
  else:
    u = params["output"]["u"]
    # s = uᵀ h is affine in h with a [1, H] matrix and no bias.
    jac["output"] = {"u": affine_jacobian_W(h_last, u[None, :], jnp.zeros(1, u.dtype))[0, 0]}
    upstream = affine_jacobian_x(h_last, u[None, :], None)  # [1, H_L]
  for layer in reversed(range(len(names))):
    name, z, h_in = names[layer], zs[layer], hs[layer]
    W = params[name]["W"]
    # The chain rule with the layer Jacobians' structure used instead of
    # multiplied out: upstream @ diag(f'(z)) scales columns, and contracting
    # with ∂z/∂W (∂z_i/∂W_jk = δ_ij x_k) is an outer product per score row.
    # Equal to ``upstream @ activation_jacobian(z)`` and
    # ``tensordot(dz, affine_jacobian_W(h_in, W, b), 1)`` (tests check the
    # result against jacfwd/jacrev), without their O(H^2) and O(H^2 D) work.
    dz = upstream * ACTIVATION_DERIVATIVES[config.activation](z)  # [C, H]
    jac[name] = {"W": dz[:, :, None] * h_in[None, None, :],  # [C, H, D]
                 "b": dz}  # ∂z/∂b = I
    upstream = dz @ W  # ∂z/∂h_in = W
  jac["x"] = upstream
  if config.output == "score":
    for name in names:
      jac[name] = {key: value[0] for key, value in jac[name].items()}
    jac["x"] = upstream[0]
  return jac


def model_jacobians(params: Mapping[str, Any], window_ids: Array,
                    feature_ids: Array | None, *,
                    config: config_lib.ModelConfig) -> dict[str, Any]:
  """Jacobians of ``models.apply``'s scores (one window, no dropout) w.r.t. params.

  Chains ``network_jacobians`` with the window Jacobian ``[D, W, d]`` and the
  embedding Jacobians ``[W, d, V, E]``/``[W, d, F_k, Fd]``:
  ``∂s/∂L = ∂s/∂x · ∂x/∂e · ∂e/∂L``.

  Args:
    params: ``models.init_params``'s pytree (without "crf").
    window_ids: int ``[W]``.
    feature_ids: int ``[W, K]`` or ``None``.
    config: the model's settings.

  Returns:
    A pytree like ``params`` (plus nothing), each leaf ``lead + leaf shape`` with
    ``lead`` as in ``network_jacobians``.
  """
  tables = params["embed"]
  vectors = layers.embed(tables, window_ids, feature_ids)
  x = layers.WINDOWS[config.window](vectors)
  jac = network_jacobians(params, x, config=config)
  d_vectors = jnp.tensordot(jac.pop("x"), WINDOW_JACOBIANS[config.window](vectors),
                            axes=1)  # lead + [W, d]
  embed_jac = {"words": jnp.tensordot(
      d_vectors, embed_jacobian_words(tables, window_ids, feature_ids), axes=2)}
  embed_jac["features"] = [
      jnp.tensordot(d_vectors,
                    embed_jacobian_features(tables, window_ids, feature_ids, k), axes=2)
      for k in range(len(tables.get("features", ())))]
  jac["embed"] = embed_jac
  return jac
