"""Sparse embedding updates: touch only the word-table rows a batch uses.

A batch of B windows of W words reads at most ``B·W`` of the V rows of
``params["embed"]["words"]`` (V = 17,496 for CoNLL-2003 train, lowercased,
digits normalised), yet ``jax.grad`` of the
full table gives a dense ``[V, E]`` gradient and a dense optax Adam then reads
and writes ``params``, ``m`` and ``v`` in full every step, which was more than
half of a jitted epoch at batch 256 (``benchmarks/throughput.py``). Here each
step instead

1. gathers the batch's distinct rows into a small ``[S, E]`` table, S = the
   batch's number of ids plus the 4 reserved ids (static), and remaps the
   batch's word ids to local ids (``gather_batch_rows``): the windows' ids
   and, for a ``corrupted`` loss (``--loss=max_margin(_neg) --output=score``
   or a plugin's), the corrupted windows' centre words, which the train step
   draws before the loss runs (``objective.with_corruptions``, the very ids
   the dense step draws),
2. runs ``objective.loss_fn`` (or ``objective.hand_grad``)
   *unchanged* on params whose ``embed.words`` is that ``[S, E]`` table, so the
   gradient w.r.t. it is directly the rows' gradient (``value_and_row_grads``;
   no ``[V, E]`` gradient exists),
3. updates those rows with a scatter (``apply_row_update``); the other
   parameters keep the normal dense optax update (``split_words`` /
   ``merge_words``).

Fill slots (S minus the number of distinct ids) carry the out-of-range id V:
they gather zero rows that no window reads (so their gradient is exactly 0)
and every scatter uses ``mode="drop"``, so they write nothing.

Semantics of the row optimizers (a row is touched when the batch reads it: a
window's word or a corrupted centre word, even where its gradient is 0, e.g.
a padding row's word or an inactive hinge; ``g`` is a touched row's gradient,
the sum of its occurrences in the batch; ``t`` is the global step, the number of
``apply_row_update`` calls so far including this one, kept in
``SparseRowState.count``):

* ``"sgd"``: ``row += -lr · g``. Untouched rows have ``g = 0``, so this is
  *exactly* dense SGD (``optax.sgd``), bit for bit.
* ``"adagrad"``: ``acc += g²; row += -lr · g / sqrt(acc + eps)`` (optax's
  ``scale_by_rss``: ``rsqrt(acc + eps)``, 0 where ``acc = 0``; accumulator
  initialised to ``initial_accumulator_value``). An untouched row's dense update
  is 0 and its accumulator unchanged, so lazy AdaGrad *equals* dense AdaGrad.
* ``"adam"``: lazy Adam, the semantics of PyTorch's ``SparseAdam`` and
  TensorFlow's ``LazyAdam``: only a touched row's moments and value change,
  ``m = b1·m + (1-b1)·g``, ``v = b2·v + (1-b2)·g²``,
  ``row += -lr · m̂ / (sqrt(v̂) + eps)`` with ``m̂ = m / (1 - b1^t)``,
  ``v̂ = v / (1 - b2^t)`` bias-corrected with the *global* step t (not a per-row
  count); an untouched row's ``m``, ``v`` and value stay bit-identical (dense
  Adam would decay its moments and keep moving it). The step is written as
  optax writes it (eps added to ``sqrt(v̂)``), so when every row is touched at
  every step lazy Adam equals ``optax.adam``; PyTorch/TF add eps to ``sqrt(v)``
  instead (``lr·sqrt(1-b2^t)/(1-b1^t) · m / (sqrt(v) + eps)``), which differs
  only through eps's scale.

Under ``jax.vmap`` (over seeds) every function batches; the learning rate may
be a traced scalar, so sweeping it does not recompile.

How a train step uses it (every word id the loss reads must be in the batch:
a ``corrupted`` loss's centre words are drawn into it first; a loss that
drew them itself on the rows fails with a message, never reads a wrong row)::

  # init: words, rest = sparse.split_words(params)
  #       dense_state = tx.init(rest); row_state = sparse.init_rows_state(
  #           words, optimizer="adam")
  grad_fn = functools.partial(jax.value_and_grad(objectives.loss_fn, has_aux=True),
                              config=config, loss=loss, key=step_key)
  batch = objective.with_corruptions(batch, config=config, loss=loss, key=step_key)
  (loss, aux), rest_grads, unique_ids, row_grads = sparse.value_and_row_grads(
      grad_fn, params, batch)
  words, rest = sparse.split_words(params)
  updates, dense_state = tx.update(rest_grads, dense_state, rest)
  rest = optax.apply_updates(rest, updates)
  words, row_state = sparse.apply_row_update(
      words, row_state, unique_ids, row_grads, optimizer="adam", learning_rate=lr)
  params = sparse.merge_words(words, rest)
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp

from wincls import config as config_lib
from wincls.data import vocab as vocab_lib
from wincls.model import objective

Array = jax.Array

OPTIMIZERS = ("sgd", "adam", "adagrad")


class SparseRowState(NamedTuple):
  """Optimizer state of a row-updated table.

  Attributes:
    count: int32 scalar, the number of updates applied (Adam's global step t).
    mu: ``[V, E]`` first moments (Adam); ``[0, E]`` otherwise.
    nu: ``[V, E]`` second moments (Adam) or squared-gradient sums (AdaGrad);
      ``[0, E]`` for SGD.
  """

  count: Array
  mu: Array
  nu: Array


def _check_optimizer(optimizer: str) -> None:
  if optimizer not in OPTIMIZERS:
    raise ValueError(f"wincls/train/sparse.py: optimizer={optimizer!r} is not one of "
                     f"{', '.join(OPTIMIZERS)} (--optimizer)")


def check_supported(config: config_lib.Config) -> None:
  """Raises ValueError if ``--embedding_update=sparse`` cannot serve ``config``.

  Every loss kind is served (a ``corrupted`` loss's centre words are rows of
  the batch: ``gather_batch_rows``); frozen vectors need no update and weight
  decay would touch every row.
  """
  _check_optimizer(config.optimizer)
  if config.freeze_vectors:
    raise ValueError("--embedding_update=sparse with --freeze_vectors: frozen "
                     "vectors get no update; use --embedding_update=dense")
  if config.weight_decay > 0:
    raise ValueError("--embedding_update=sparse does not support --weight_decay > 0 "
                     "(decay would touch every row); use --embedding_update=dense")


def init_rows_state(table: Array, *, optimizer: str,
                    initial_accumulator_value: float = 0.1) -> SparseRowState:
  """The zero state of ``apply_row_update`` for ``table`` ``[V, E]``.

  Args:
    table: the ``[V, E]`` table to be updated.
    optimizer: ``"sgd"``, ``"adam"`` or ``"adagrad"``.
    initial_accumulator_value: AdaGrad's starting sum of squares (optax's
      default 0.1).

  Returns:
    A ``SparseRowState`` with ``count = 0``.
  """
  _check_optimizer(optimizer)
  empty = jnp.zeros((0,) + table.shape[1:], table.dtype)
  count = jnp.zeros([], jnp.int32)
  if optimizer == "sgd":
    return SparseRowState(count, empty, empty)
  if optimizer == "adagrad":
    return SparseRowState(count, empty,
                          jnp.full(table.shape, initial_accumulator_value, table.dtype))
  return SparseRowState(count, jnp.zeros_like(table), jnp.zeros_like(table))


def gather_rows(table: Array, window_ids: Array) -> tuple[Array, Array, Array]:
  """The distinct rows a batch reads, and the batch's ids into them.

  No sort: ``slot = zeros[V].at[ids].set(R + arange(n))`` makes one occurrence
  of each distinct id its representative (whichever write lands last), every
  occurrence reads the same ``slot[id]`` back as its local id, and the
  representative slot gets the id. This costs O(n) scatters/gathers plus an
  O(V) int32 fill, a few microseconds, where ``jnp.unique`` (a sort) cost ~75 µs
  per step of 768 ids on the CPU.

  The R = ``len(vocab.RESERVED)`` reserved ids (``<pad>``, ``<unk>``, ``<s>``,
  ``</s>``) keep their own ids as local ids (slots ``0..R-1``), so whatever
  reads them from the ids (``network.real_positions``: the mask of
  ``masked_average`` and plugin windows) sees the same on the rows as on the
  table.

  Args:
    table: ``[V, E]``.
    window_ids: int ``[...]`` ids into ``table`` (e.g. ``[B, W]`` or ``[B, T, W]``),
      all in ``[0, V)``.

  Returns:
    ``(rows, local_ids, unique_ids)``: ``unique_ids`` int32 ``[S]``,
    ``S = R + window_ids.size``, holds each distinct id of ``window_ids``
    exactly once (a reserved id r at slot r, the others at ``R +`` the flat
    position of one of their occurrences, so not sorted) and the fill id V in
    every other slot; ``rows`` ``[S, E]`` = ``table[unique_ids]`` (zeros at fill
    slots); ``local_ids`` int32 shaped like ``window_ids`` with
    ``rows[local_ids] == table[window_ids]``.
  """
  vocab_size = table.shape[0]
  reserved = min(len(vocab_lib.RESERVED), vocab_size)
  flat = window_ids.reshape(-1).astype(jnp.int32)
  size = flat.shape[0]
  slot = jnp.zeros((vocab_size,), jnp.int32).at[flat].set(
      jnp.arange(reserved, reserved + size, dtype=jnp.int32))
  slot = slot.at[:reserved].set(jnp.arange(reserved, dtype=jnp.int32))
  local_ids = slot[flat]
  unique_ids = jnp.full((reserved + size,), vocab_size, jnp.int32).at[local_ids].set(flat)
  rows = _take(table, unique_ids)
  return rows, local_ids.reshape(window_ids.shape), unique_ids


def gather_batch_rows(table: Array, batch: Mapping[str, Any]
                      ) -> tuple[Array, dict, Array]:
  """``gather_rows`` over every word-id field of ``batch`` at once.

  The fields are ``objective.WORD_ID_FIELDS`` (the windows' ids and, for a
  ``corrupted`` loss, the corrupted centre words of ``objective.with_corruptions``),
  whichever ``batch`` has.

  Returns:
    ``(rows, local_batch, unique_ids)``: ``local_batch`` is ``batch`` with each
    such field remapped into ``rows``.
  """
  fields = [name for name in objective.WORD_ID_FIELDS if name in batch]
  flat = jnp.concatenate([batch[name].reshape(-1).astype(jnp.int32)
                          for name in fields])
  rows, local_flat, unique_ids = gather_rows(table, flat)
  local_batch = dict(batch)
  start = 0
  for name in fields:
    size = batch[name].size
    local_batch[name] = local_flat[start:start + size].reshape(batch[name].shape)
    start += size
  return rows, local_batch, unique_ids


def _scatter_set(table: Array, unique_ids: Array, rows: Array) -> Array:
  return table.at[unique_ids].set(rows, mode="drop")


def _scatter_add(table: Array, unique_ids: Array, rows: Array) -> Array:
  return table.at[unique_ids].add(rows, mode="drop")


def _take(table: Array, unique_ids: Array) -> Array:
  return jnp.take(table, unique_ids, axis=0, mode="fill", fill_value=0)


def apply_row_update(table: Array, state: SparseRowState, unique_ids: Array,
                     row_grads: Array, *, optimizer: str, learning_rate,
                     b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
                     adagrad_eps: float = 1e-7) -> tuple[Array, SparseRowState]:
  """Updates the rows ``unique_ids`` of ``table`` (module docstring semantics).

  Args:
    table: ``[V, E]``.
    state: ``init_rows_state(table, optimizer=optimizer)`` or a later one.
    unique_ids: int ``[S]`` distinct ids in any order (``gather_rows``'s); ids
      outside ``[0, V)`` are fill slots and change nothing.
    row_grads: ``[S, E]`` the loss's gradient w.r.t. ``rows``.
    optimizer: ``"sgd"``, ``"adam"`` or ``"adagrad"``.
    learning_rate: a float or a scalar array (may be traced).
    b1: Adam's first-moment decay.
    b2: Adam's second-moment decay.
    eps: Adam's denominator term (added to ``sqrt(v̂)``, as optax does).
    adagrad_eps: AdaGrad's term inside the square root (optax's default).

  Returns:
    ``(table, state)`` after one step; rows not in ``unique_ids`` and their
    moments are bit-identical to the inputs.
  """
  _check_optimizer(optimizer)
  if row_grads.shape != unique_ids.shape + table.shape[1:]:
    raise ValueError(f"wincls/train/sparse.py apply_row_update: row_grads has shape "
                     f"{tuple(row_grads.shape)}, expected [S, E] = "
                     f"{list(unique_ids.shape + table.shape[1:])}")
  lr = jnp.asarray(learning_rate, table.dtype)
  count = state.count + 1
  if optimizer == "sgd":
    table = _scatter_add(table, unique_ids, row_grads * (-lr))
    return table, SparseRowState(count, state.mu, state.nu)
  if optimizer == "adagrad":
    acc = row_grads * row_grads + _take(state.nu, unique_ids)
    scale = jnp.where(acc > 0, jax.lax.rsqrt(acc + adagrad_eps), 0.0)
    table = _scatter_add(table, unique_ids, (scale * row_grads) * (-lr))
    return table, SparseRowState(count, state.mu, _scatter_set(state.nu, unique_ids, acc))
  # Lazy Adam, written like optax.scale_by_adam on the gathered rows.
  mu = (1 - b1) * row_grads + b1 * _take(state.mu, unique_ids)
  nu = (1 - b2) * (row_grads * row_grads) + b2 * _take(state.nu, unique_ids)
  mu_hat = mu / (1 - b1**count).astype(table.dtype)
  nu_hat = nu / (1 - b2**count).astype(table.dtype)
  step = mu_hat / (jnp.sqrt(nu_hat) + eps)
  table = _scatter_add(table, unique_ids, step * (-lr))
  return table, SparseRowState(count, _scatter_set(state.mu, unique_ids, mu),
                               _scatter_set(state.nu, unique_ids, nu))


def split_words(params: Mapping[str, Any]) -> tuple[Array, dict]:
  """``(words, rest)``: the word table and ``params`` with ``embed.words = None``.

  ``None`` is an empty pytree node, so optax can ``init``/``update`` ``rest``
  (and its gradient of the same structure) without a word-table leaf.
  """
  rest = dict(params)
  rest["embed"] = dict(params["embed"])
  words = rest["embed"]["words"]
  rest["embed"]["words"] = None
  return words, rest


def merge_words(words: Array, rest: Mapping[str, Any]) -> dict:
  """The inverse of ``split_words``: ``rest`` with ``embed.words = words``."""
  params = dict(rest)
  params["embed"] = dict(rest["embed"])
  params["embed"]["words"] = words
  return params


def value_and_row_grads(grad_fn: Callable[[Any, Any], tuple[Any, Any]],
                        params: Mapping[str, Any], batch: Mapping[str, Any]):
  """Runs ``grad_fn`` on the batch's rows only.

  Args:
    grad_fn: ``(params, batch) -> (value, grads)``, e.g.
      ``functools.partial(jax.value_and_grad(objective.loss_fn, has_aux=True),
      config=..., loss=..., key=...)`` or ``functools.partial(
      objective.hand_grad, ...)``; it sees ``params`` whose ``embed.words`` is the
      ``[S, E]`` table of the batch's rows and ``batch["window_ids"]`` remapped
      into it.
    params: ``wincls.model.network.init_params``'s pytree (full ``[V, E]`` word table).
    batch: a token or sentence batch with ``"window_ids"``.

  Returns:
    ``(value, rest_grads, unique_ids, row_grads)``: ``grad_fn``'s value;
    the gradient of every leaf but the word table, shaped like
    ``split_words(params)[1]``; the ``[S]`` row ids; the ``[S, E]`` rows'
    gradient (exactly 0 at fill slots).
  """
  words, _ = split_words(params)
  rows, local_batch, unique_ids = gather_batch_rows(words, batch)
  value, grads = grad_fn(merge_words(rows, split_words(params)[1]), local_batch)
  row_grads, rest_grads = split_words(grads)
  return value, rest_grads, unique_ids, row_grads


def global_norm(rest_grads: Any, row_grads: Array) -> Array:
  """The L2 norm of the whole gradient (= the dense gradient's norm).

  Fill slots have zero gradient and each touched row appears once, so this is
  the norm ``optax.clip_by_global_norm`` would see on the dense gradient.
  """
  leaves = jax.tree.leaves(rest_grads) + [row_grads]
  return jnp.sqrt(sum(jnp.sum(jnp.square(x)) for x in leaves))
