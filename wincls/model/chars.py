"""The character CNN word feature (``--features=chars``), and how a batch computes it.

The math (CharWNN, dos Santos & Zadrozny 2014; Ma & Hovy 2016), for one word's
character ids ``[L]`` (its first ``char_max_len`` characters, 0 after)::

  c_t = C[char_t] (0 at padding),  X_t = [c_{t-a}; ...; c_{t+b}] (k = a+b+1 chars,
  zeros beyond the word),  Z_t = Wc X_t + bc,  f = max_t Z_t over the word's chars.

The max takes, per filter, the first position holding the maximum (argmax t*);
the gradient goes there only (ties: the lowest position; jax.grad does the
same). A word with no characters (window padding) gets 0. ``pool`` and
``pool_vjp`` compute this row by row; ``jacobian`` is one word's.

**The backward is as sparse as the max.** Only ``Z_{t*}`` reaches the output,
so with ``T_s = C Wc_sᵀ`` (``[size, F]``: a character's term when it sits at
place s of a window) ``f_i = bc_i + Σ_s T_s[A_is, i]``, A the characters
around ``t*_i``. ``pool``'s value comes from ``Z`` (one matmul over the
characters, needed for the argmax); its derivative is ``jax.jvp`` of that
gather form at the argmax (``custom_jvp``), so reverse mode scatters g onto
``T``'s F·k entries per word and never forms ``δZ [..., L, F]``, and the
hand ``pool_vjp`` writes the same out: ``G_s = Σ g 1[A_s = v]``,
``∂C = Σ_s G_s Wc_s``, ``∂Wc_s = G_sᵀ C``.

**Once per distinct word of a call.** A batch of B windows holds (2m+1)·B
positions but far fewer distinct words, and most are short. On CoNLL-2003's
shuffled training windows at B = 256, 54% of the rows are distinct (58% at most
over two epochs) and 7.6% are distinct and longer than 8 characters (10% at
most; ``python benchmarks/char_batches.py``); sentence batches and dev's windows in order hold at most a fifth plus
one (each token sits in 2m+1 windows). ``forward`` and ``vjp`` run the CNN once
per distinct row, and rows with no character past ``L // 2`` at that length:
exact, since positions past a word are masked out of the max and read as zeros.
Shapes are static under jit, so a call sorts its rows (equal rows adjacent, long
rows first), counts the distinct and the long distinct rows, and
``lax.switch``-es to the first tier of ``TIERS`` whose slots hold them; a call
no tier holds, or one of fewer than ``MIN_ROWS`` rows, runs per row. Every
branch computes the same function (tests/test_chars.py checks each against
``pool``); only the time differs. Under ``vmap`` (seeds) the tier is the
largest any member needs (``_shared_tier``), so the switch stays a switch
instead of running every branch.
"""
from __future__ import annotations

import functools
from typing import NamedTuple, Sequence

import jax
from jax import lax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
NUM_CHARS = 512  # 0 padding, 1..255 code points 1..255, 256 + (ord % 256) above
EMBED_INIT_STDDEV = 0.1
# (distinct rows, distinct long rows) a tier has slots for, as fractions of the
# call's rows: in-order windows and sentences; shuffled windows, B ≥ 256; B ≥ 64.
TIERS = ((0.25, 0.0625), (0.625, 0.125), (0.75, 0.1875))
MIN_ROWS = 128  # fewer rows: per row (small calls, and the checks' single words)
FNV_PRIME = 0x01000193  # the rows' hash (FNV-1a); equal hashes only cost slots


def char_ids(words: Sequence[str], max_len: int) -> np.ndarray:
  """int32 ``[n, max_len]``: each word's first ``max_len`` characters' ids, 0 after."""
  index: dict[str, int] = {}
  rows = np.fromiter((index.setdefault(word, len(index)) for word in words), np.int64,
                     count=len(words))
  # Each distinct word once, cut or padded with NUL (id 0) to max_len, as UTF-32.
  text = "".join(word[:max_len].ljust(max_len, "\0") for word in index)
  codes = np.frombuffer(text.encode("utf-32-le"), np.uint32).reshape(len(index), max_len)
  codes = np.where(codes < 256, codes, 256 + codes % 256).astype(np.int32)
  return codes[rows]


def init(key: Array, size: int, config, dtype) -> dict[str, Array]:
  """``{"embed": [size, c], "W": [F, k·c], "b": [F]}``: N(0, 0.1²) rows, Glorot W."""
  k_embed, k_w = jax.random.split(key)
  fan_in = config.char_width * config.char_dim
  limit = (6.0 / (fan_in + config.char_filters)) ** 0.5
  return {"embed": (EMBED_INIT_STDDEV * jax.random.normal(
              k_embed, (size, config.char_dim), dtype)).at[0].set(0.0),
          "W": jax.random.uniform(k_w, (config.char_filters, fan_in), dtype,
                                  -limit, limit),
          "b": jnp.zeros((config.char_filters,), dtype)}


def _one_hot(ids: Array, size: int, dtype) -> Array:
  return (ids[..., None] == jnp.arange(size)).astype(dtype)


def _char_windows(p, inputs: Array, width: int) -> tuple[Array, Array]:
  """``(X [..., L, k·c], mask [..., L])``: each character's window of vectors."""
  mask = inputs > 0
  vectors = jnp.take(p["embed"], inputs, axis=0) * mask[..., None]
  left = (width - 1) // 2
  pad = [(0, 0)] * (vectors.ndim - 2) + [(left, width - 1 - left), (0, 0)]
  padded = jnp.pad(vectors, pad)
  length = inputs.shape[-1]
  return jnp.concatenate([padded[..., s:s + length, :] for s in range(width)],
                         axis=-1), mask


def _argmax(p, inputs: Array, config) -> tuple[Array, Array, Array]:
  """``(Z_{t*} [..., F], t* [..., F], has_chars [...])``: per filter, the first
  position of the max of ``Z_t = Wc X_t + bc`` over the word's characters."""
  X, mask = _char_windows(p, inputs, config.char_width)
  Z = X @ p["W"].T + p["b"]  # [..., L, F]
  best = jnp.argmax(jnp.where(mask[..., None], Z, -jnp.inf), axis=-2)
  return (jnp.take_along_axis(Z, best[..., None, :], axis=-2)[..., 0, :], best,
          jnp.any(mask, axis=-1))


def _best_chars(inputs: Array, best: Array, width: int) -> Array:
  """``A [..., F, k]``: the ids of the k characters of filter i's window at ``t*_i``
  (0 beyond the word)."""
  length = inputs.shape[-1]
  positions = best[..., None] - (width - 1) // 2 + jnp.arange(width)  # [..., F, k]
  inside = (positions >= 0) & (positions < length)
  flat = jnp.clip(positions, 0, length - 1).reshape(best.shape[:-1] + (-1,))
  chars = jnp.take_along_axis(inputs, flat, axis=-1).reshape(positions.shape)
  return jnp.where(inside, chars, 0)


def _table_index(best_chars: Array, size: int) -> Array:
  """Flat indices into ``T [k, size, F]`` of ``T[s, A[..., i, s], i]``."""
  filters, width = best_chars.shape[-2:]
  return ((jnp.arange(width) * size + best_chars) * filters
          + jnp.arange(filters)[:, None])


def _tables(p) -> Array:
  """``T [k, size, F]``, ``T_s = C Wc_sᵀ``: each character's term in ``Z_t`` when
  it sits at place s of the window (row 0, padding, zero)."""
  filters, size = p["W"].shape[0], p["embed"].shape[0]
  embed = p["embed"] * (jnp.arange(size) > 0)[:, None].astype(p["embed"].dtype)
  return jnp.einsum("vc,fsc->svf", embed, p["W"].reshape(filters, -1, embed.shape[1]))


def _value_at(p, best_chars: Array, has_chars: Array) -> Array:
  """``f_i = bc_i + Σ_s T_s[A_is, i]``: ``Z_{t*}`` as gathers at fixed ``t*``."""
  tables = _tables(p)
  index = _table_index(best_chars, tables.shape[1])
  values = p["b"] + jnp.sum(jnp.take(tables.reshape(-1), index), axis=-1)
  return jnp.where(has_chars[..., None], values, 0.0)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
def pool(p, inputs: Array, config) -> Array:
  """Per row, ``[..., L] -> [..., F]``: the max over the word's characters of ``Wc X_t + bc``."""
  value, _, has_chars = _argmax(p, inputs, config)
  return jnp.where(has_chars[..., None], value, 0.0)


@pool.defjvp
def _pool_jvp(config, primals, tangents):
  """The value from ``Z``; the tangent is jax's own (``jax.jvp``) of ``_value_at``
  at the argmax, the same function there: reverse mode then scatters g onto
  ``T``'s entries at ``t*`` and never forms ``δZ [..., L, F]`` (the max is sparse)."""
  p, inputs = primals
  value, best, has_chars = _argmax(p, inputs, config)
  chars = _best_chars(inputs, best, config.char_width)
  _, tangent = jax.jvp(lambda q: _value_at(q, chars, has_chars), (p,), (tangents[0],))
  return jnp.where(has_chars[..., None], value, 0.0), tangent


def pool_vjp(p, inputs: Array, g: Array, config) -> dict[str, Array]:
  """δ form: ``δZ_t = 1[t = t*] g``, so with ``G_s[v, i] = Σ_words g_i 1[A_is = v]``
  (v real): ``∂J/∂C = Σ_s G_s Wc_s``, ``∂J/∂Wc_s = G_sᵀ C``, ``∂J/∂bc = Σ g``
  (words with characters)."""
  _, best, has_chars = _argmax(p, inputs, config)
  g = jnp.where(has_chars[..., None], g, 0.0)
  size, filters, width = p["embed"].shape[0], best.shape[-1], config.char_width
  index = _table_index(_best_chars(inputs, best, width), size)
  G = jnp.zeros((width * size * filters,), g.dtype).at[index.reshape(-1)].add(
      jnp.broadcast_to(g[..., None], index.shape).reshape(-1))
  G = G.reshape(width, size, filters).at[:, 0].set(0.0)  # [k, size, F]
  blocks = p["W"].reshape(filters, width, -1)  # [F, k, c]
  return {"embed": jnp.einsum("svf,fsc->vc", G, blocks),
          "W": jnp.einsum("svf,vc->fsc", G, p["embed"]).reshape(filters, -1),
          "b": jnp.sum(g.reshape(-1, filters), axis=0)}


def jacobian(p, inputs: Array, config) -> dict[str, Array]:
  """One word ``[L]``: ``∂f_i/∂bc = δ_i·``, ``∂f_i/∂Wc[j] = δ_ij X_{t*_i}``, and
  ``∂f_i/∂C[v] = Σ_s 1[A_is = v, real] Wc[i, block s]``."""
  _, best, has_chars = _argmax(p, inputs, config)
  filters, width = p["W"].shape[0], config.char_width
  live = has_chars.astype(p["W"].dtype)
  eye = jnp.eye(filters, dtype=p["W"].dtype) * live
  chars = _best_chars(inputs, best, width)  # [F, k]
  select = _one_hot(chars, p["embed"].shape[0], p["W"].dtype) * (chars > 0)[..., None]
  blocks = p["W"].reshape(filters, width, -1)  # [F, k, c]
  X_best = jnp.einsum("fsv,vc->fsc", select, p["embed"]).reshape(filters, -1)
  return {"embed": jnp.einsum("fsv,fsc->fvc", select, blocks) * live,
          "W": eye[:, :, None] * X_best[None, :, :],
          "b": eye}


# ---------------------------------------------------------------------------
# Distinct rows (module docstring).


class _Groups(NamedTuple):
  order: Array   # [n_rows] the rows sorted (long rows first, equal rows adjacent)
  first: Array   # [n_rows] bool, sorted: the row opens a group
  sorted_group: Array  # [n_rows] sorted: its group
  group: Array   # [n_rows] each row's group, in the rows' order
  count: Array   # int32 scalar: the groups (distinct rows, up to equal hashes)
  long_count: Array  # int32 scalar: the groups of rows longer than ``_short``
  index: Array   # int32 scalar: the branch to run (a tier, or len(TIERS))


def _slots(rows: int, fraction: float) -> int:
  """A tier's slots for ``fraction`` of a call's rows: a multiple of 8, at most all."""
  return min(rows, 8 * -(-int(np.ceil(fraction * rows)) // 8))


@jax.custom_batching.custom_vmap
def _shared_tier(index: Array) -> Array:
  return index


@_shared_tier.def_vmap
def _shared_tier_vmap(axis_size, in_batched, index):
  del axis_size
  return (jnp.max(index) if in_batched[0] else index), False


def _groups(rows: Array) -> _Groups:
  """Sorts ``rows [n, L]`` by a hash (long rows first) and groups equal neighbours.

  Rows with equal hashes but different characters may form several groups (a
  row computed twice); equal rows always share a hash, so every group holds
  equal rows only.
  """
  n_rows, short = rows.shape[0], _short(rows)
  bits = max(1, int(n_rows - 1).bit_length())  # the row index, in the key's low bits
  if bits > 24:
    raise ValueError(f"wincls/model/chars.py: {n_rows} rows in one call; at most 2**24")
  key = jnp.zeros((n_rows,), jnp.uint32)
  for j in range(rows.shape[1]):  # FNV-1a over the row's ids
    key = (key ^ rows[:, j].astype(jnp.uint32)) * jnp.uint32(FNV_PRIME)
  long = rows[:, short] > 0 if short < rows.shape[1] else jnp.zeros((n_rows,), bool)
  key = ((key >> (bits + 1)) << bits) | jnp.arange(n_rows, dtype=jnp.uint32)
  key = key | jnp.where(long, jnp.uint32(0), jnp.uint32(1 << 31))
  order = (lax.sort(key) & jnp.uint32((1 << bits) - 1)).astype(jnp.int32)
  ordered = rows[order]
  first = jnp.concatenate([jnp.ones((1,), bool),
                           jnp.any(ordered[1:] != ordered[:-1], axis=1)])
  sorted_group = jnp.cumsum(first, dtype=jnp.int32) - 1
  n, n_long = sorted_group[-1] + 1, jnp.sum(first & long[order])
  fits = [(n <= _slots(n_rows, u)) & (n_long <= _slots(n_rows, k)) for u, k in TIERS]
  index = jnp.argmax(jnp.stack(fits + [jnp.asarray(True)])).astype(jnp.int32)
  return _Groups(order, first, sorted_group,
                 jnp.zeros((n_rows,), jnp.int32).at[order].set(sorted_group),
                 n, n_long, _shared_tier(index))


def _distinct(rows: Array, groups: _Groups, slots: int) -> Array:
  """``[slots, L]``: group i's row in slot i (zeros after the last group)."""
  target = jnp.where(groups.first, groups.sorted_group, slots)
  return jnp.zeros((slots, rows.shape[1]), rows.dtype).at[target].set(
      rows[groups.order], mode="drop")


def _short(rows: Array) -> int:
  """Characters a short row has at most: ``L // 2``."""
  return max(1, rows.shape[1] // 2)


def _branches(rows: Array, groups: _Groups, per_tier, per_row) -> list:
  """One function per tier, then ``per_row`` (no tier holds the call).

  ``per_tier(parts, slots, *args)``: ``parts`` are ``(rows, start)``, the distinct
  rows of slots ``start...`` (long ones at full length, then short ones at ``L // 2``).
  """
  short = _short(rows)
  out = []
  for u, k in TIERS:
    slots = _slots(rows.shape[0], u)
    long_slots = min(_slots(rows.shape[0], k), slots)
    def branch(*args, slots=slots, long_slots=long_slots):
      distinct = _distinct(rows, groups, slots)
      parts = [(distinct[:long_slots], 0), (distinct[long_slots:, :short], long_slots)]
      return per_tier([part for part in parts if part[0].shape[0]], slots, *args)
    out.append(branch)
  return out + [per_row]


def forward(p, inputs: Array, config) -> Array:
  """``[..., L] -> [..., F]``: ``pool`` once per distinct row of the call."""
  rows = inputs.reshape(-1, inputs.shape[-1])
  if rows.shape[0] < MIN_ROWS:
    return pool(p, inputs, config)
  groups = _groups(rows)

  def per_tier(parts, slots, p):
    del slots
    values = jnp.concatenate([pool(p, part, config) for part, _ in parts])
    return jnp.take(values, groups.group, axis=0)

  out = lax.switch(groups.index, _branches(rows, groups, per_tier,
                                           lambda p: pool(p, rows, config)), p)
  return out.reshape(inputs.shape[:-1] + out.shape[-1:])


def vjp(p, inputs: Array, g: Array, config) -> dict[str, Array]:
  """``forward``'s VJP: g summed over each distinct row's positions, then ``pool_vjp``."""
  rows = inputs.reshape(-1, inputs.shape[-1])
  if rows.shape[0] < MIN_ROWS:
    return pool_vjp(p, inputs, g, config)
  g = g.reshape(rows.shape[0], -1)
  groups = _groups(rows)

  def per_tier(parts, slots, p, g):
    summed = jnp.zeros((slots, g.shape[1]), g.dtype).at[groups.group].add(g)
    grads = [pool_vjp(p, part, summed[start:start + part.shape[0]], config)
             for part, start in parts]
    return jax.tree.map(lambda *leaves: sum(leaves[1:], leaves[0]), *grads)

  return lax.switch(groups.index, _branches(
      rows, groups, per_tier, lambda p, g: pool_vjp(p, rows, g, config)), p, g)
