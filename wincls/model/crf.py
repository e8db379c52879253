"""Collobert & Weston's sentence-level log-likelihood: a linear-chain CRF.

The window network gives each token t of a sentence a score ``e[t, j]`` for each
tag j (the "emissions", ``network.apply`` on the token's window). A tag path
``y_0..y_{n-1}`` (n = the sentence length) scores::

    S(y) = start[y_0] + Σ_t e[t, y_t] + Σ_{t>=1} transitions[y_{t-1}, y_t] + end[y_{n-1}]

and the model's likelihood is ``p(y) = exp(S(y)) / Z`` with ``Z = Σ_y' exp(S(y'))``
(C&W 2011 §3.3.2, with ``start`` = their ``A_0`` and an added ``end``).
``transitions[i, j]`` is the score of moving *from* tag i *to* tag j.

Sentences are padded to a common length T and come with a mask ``[T]`` that is a
prefix of ones (length n >= 1); positions beyond the mask do not count. Everything
runs in ``lax.scan`` with ``logsumexp`` (stable for large scores) and works under
``jit``, ``vmap`` and ``grad``.

The hand derivatives follow the functions they differentiate: forward-backward
(``crf_forward_backward``) gives the marginals, which are the gradient of
``log Z`` (``crf_log_partition_jacobian``); ``crf_nll_gradient`` is marginals
minus gold counts. No function here calls JAX's autodiff.
"""

from __future__ import annotations

from typing import Mapping

import jax
import jax.numpy as jnp
from jax import lax

Array = jax.Array
CrfParams = Mapping[str, Array]


def _check(emissions: Array, mask: Array, crf_params: CrfParams, rank: int) -> None:
  if emissions.ndim != rank:
    raise ValueError(f"wincls/model/crf.py: emissions must have rank {rank}, got shape "
                     f"{tuple(emissions.shape)}")
  if mask.shape != emissions.shape[:-1]:
    raise ValueError(f"wincls/model/crf.py: mask shape {tuple(mask.shape)} does not match "
                     f"emissions {tuple(emissions.shape)} without the last axis")
  c = emissions.shape[-1]
  expected = {"transitions": (c, c), "start": (c,), "end": (c,)}
  for name, shape in expected.items():
    if name not in crf_params or tuple(crf_params[name].shape) != shape:
      got = tuple(crf_params[name].shape) if name in crf_params else "missing"
      raise ValueError(f"wincls/model/crf.py: crf_params[{name!r}] must have shape "
                       f"{shape}, got {got}")


def _one_hot(labels: Array, num_classes: int, dtype) -> Array:
  return (labels[..., None] == jnp.arange(num_classes)).astype(dtype)


def _as_arrays(crf_params: CrfParams) -> dict[str, Array]:
  return {name: jnp.asarray(crf_params[name]) for name in ("transitions", "start", "end")}


def crf_log_partition(emissions: Array, mask: Array, crf_params: CrfParams) -> Array:
  """``log Z`` of one sentence by the forward algorithm.

  Args:
    emissions: ``[T, num_tags]`` scores.
    mask: ``[T]`` bool/int/float, a prefix of ones of length >= 1.
    crf_params: ``{"transitions": [C, C], "start": [C], "end": [C]}``.

  Returns:
    A scalar.
  """
  _check(emissions, mask, crf_params, 2)
  crf_params = _as_arrays(crf_params)
  transitions = crf_params["transitions"]
  mask = mask.astype(bool)

  def step(alpha, inputs):
    emission, keep = inputs
    # alpha'[j] = logsumexp_i(alpha[i] + transitions[i, j]) + e[j]
    new_alpha = jax.nn.logsumexp(alpha[:, None] + transitions, axis=0) + emission
    return jnp.where(keep, new_alpha, alpha), None

  alpha = crf_params["start"] + emissions[0]
  alpha, _ = lax.scan(step, alpha, (emissions[1:], mask[1:]))
  return jax.nn.logsumexp(alpha + crf_params["end"])


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


def crf_sequence_score(emissions: Array, tags: Array, mask: Array,
                       crf_params: CrfParams) -> Array:
  """``S(y)`` of one tag path of one sentence.

  Args:
    emissions: ``[T, num_tags]``.
    tags: int ``[T]``; entries beyond the mask are ignored (any value).
    mask: ``[T]``, a prefix of ones of length >= 1.
    crf_params: as for ``crf_log_partition``.

  Returns:
    A scalar.
  """
  _check(emissions, mask, crf_params, 2)
  crf_params = _as_arrays(crf_params)
  keep = mask.astype(bool)
  tags = jnp.where(keep, tags, 0).astype(jnp.int32)
  weights = keep.astype(emissions.dtype)
  emitted = jnp.take_along_axis(emissions, tags[:, None], axis=1)[:, 0]
  moved = crf_params["transitions"][tags[:-1], tags[1:]]
  length = jnp.sum(keep.astype(jnp.int32))
  last_tag = tags[jnp.maximum(length - 1, 0)]
  return (crf_params["start"][tags[0]] + jnp.sum(weights * emitted)
          + jnp.sum(weights[1:] * moved) + crf_params["end"][last_tag])


def crf_nll(*, emissions: Array, labels: Array, mask: Array,
            crf_params: CrfParams) -> Array:
  """Per-sentence negative log-likelihood ``log Z - S(y)``.

  Args:
    emissions: ``[batch, T, num_tags]``.
    labels: int ``[batch, T]`` gold tags.
    mask: ``[batch, T]``, each row a prefix of ones; an all-zero row (a padding
      sentence) gives 0.
    crf_params: as for ``crf_log_partition``.

  Returns:
    ``[batch]``, non-negative.
  """
  _check(emissions, mask, crf_params, 3)

  def one(e, y, m):
    return crf_log_partition(e, m, crf_params) - crf_sequence_score(e, y, m, crf_params)

  nll = jax.vmap(one)(emissions, labels, mask)
  real = jnp.any(mask.astype(bool), axis=-1)
  return jnp.where(real, nll, jnp.zeros_like(nll))


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


def _viterbi_one(emissions: Array, mask: Array, crf_params: CrfParams):
  num_tags = emissions.shape[-1]
  transitions = crf_params["transitions"]
  mask = mask.astype(bool)
  identity = jnp.arange(num_tags, dtype=jnp.int32)

  def forward(delta, inputs):
    emission, keep = inputs
    candidates = delta[:, None] + transitions  # [from, to]
    backpointer = jnp.argmax(candidates, axis=0).astype(jnp.int32)
    new_delta = jnp.max(candidates, axis=0) + emission
    # Padded steps keep delta and point every tag to itself, so the backtrace
    # carries the last real tag through the padding unchanged.
    return (jnp.where(keep, new_delta, delta),
            jnp.where(keep, backpointer, identity))

  delta = crf_params["start"] + emissions[0]
  delta, backpointers = lax.scan(forward, delta, (emissions[1:], mask[1:]))
  final = delta + crf_params["end"]
  last_tag = jnp.argmax(final).astype(jnp.int32)

  def backward(tag, backpointer):
    previous = backpointer[tag]
    return previous, previous

  _, earlier = lax.scan(backward, last_tag, backpointers, reverse=True)
  tags = jnp.concatenate([earlier, last_tag[None]])
  return jnp.where(mask, tags, 0), jnp.max(final)


def viterbi_decode(emissions: Array, mask: Array, crf_params: CrfParams):
  """The best tag path of each sentence.

  Args:
    emissions: ``[batch, T, num_tags]``.
    mask: ``[batch, T]``, each row a prefix of ones of length >= 1.
    crf_params: as for ``crf_log_partition``.

  Returns:
    ``(tags, best_scores)``: int32 ``[batch, T]`` (0 beyond the mask; ties go to
    the lowest tag index) and ``[batch]`` the best paths' scores ``S(y)``.
  """
  _check(emissions, mask, crf_params, 3)
  crf_params = _as_arrays(crf_params)
  return jax.vmap(lambda e, m: _viterbi_one(e, m, crf_params))(emissions, mask)
