"""Word features: the registry of what a position's vector holds after its word vector.

A position's vector is ``e = [L_words[w]; f_1(word); ...; f_K(word)]``: the
word-table row (``params["embed"]["words"]``: pre-trained or random, frozen or
fine-tuned, sparse updates; not a registry entry, the trainer treats it apart)
followed by one vector per ``--features`` entry, each computed by a
``FeatureSpec`` from the word **as written** (so every word gets one, in the
vocabulary or not). A spec holds (``config``: the ``ModelConfig``; ``p``: the
feature's parameters, ``params["embed"]["features"][k]``)::

    inputs(words, config) -> int32 [num_words, width(config)]   the data side
    width(config) -> int        int columns per position (0 at window padding)
    size -> int                 ids per column (a table's rows, the alphabet)
    dim(config) -> int          the feature vector's size
    init(key, size, config, dtype) -> p
    forward(p, inputs [..., width], config) -> [..., dim]        batched
    vjp(p, inputs, g [..., dim], config) -> ∂J/∂p (summed over the batch)
    jacobian(p, inputs [width], config) -> ∂f/∂p, leaves [dim] + leaf shape
    help

Windows carry the features' inputs side by side in ``feature_ids [..., W,
Σ width]`` (one column per lookup feature, ``char_max_len`` for ``chars``), so
batching, buckets, devices and corrupted windows treat them as before.
``wincls.testing.check_feature`` checks a spec's hand derivatives.

How to add one: its functions and ``register(name, FeatureSpec(...))`` here or
in your own module (docs/extending.md). A lookup table is ``table_feature``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from wincls.data import vocab as vocab_lib
from wincls.model import registry
from wincls.model.settings import TABLE_FEATURE

Array = jax.Array
EMBED_INIT_STDDEV = 0.1


@dataclasses.dataclass(frozen=True)
class FeatureSpec:
  """A word feature (the module docstring says what each part does)."""

  inputs: Callable[..., np.ndarray]
  width: Callable[[Any], int]
  size: int
  dim: Callable[[Any], int]
  init: Callable[..., Any]
  forward: Callable[..., Array]
  vjp: Callable[..., Any]
  jacobian: Callable[..., Any]
  help: str


def _one_hot(ids: Array, size: int, dtype) -> Array:
  return (ids[..., None] == jnp.arange(size)).astype(dtype)


# ---------------------------------------------------------------------------
# Lookup tables (casing, caps): f(word) = F[id(word)], F: [size, feature_dim].


def table_init(key: Array, size: int, config, dtype) -> Array:
  """``N(0, 0.1²)`` rows, the padding row (id 0) zero."""
  table = EMBED_INIT_STDDEV * jax.random.normal(key, (size, config.feature_dim), dtype)
  return table.at[vocab_lib.FEATURE_PAD].set(0.0)


def table_forward(p: Array, inputs: Array, config) -> Array:
  """``F[ids]``: ``[..., 1] -> [..., Fd]``."""
  del config
  return jnp.take(p, inputs[..., 0], axis=0)


def table_vjp(p: Array, inputs: Array, g: Array, config) -> Array:
  """``∂J/∂F[v] = Σ_{positions with id v} g``: a scatter-add."""
  del config
  return jnp.zeros_like(p).at[inputs[..., 0].reshape(-1)].add(g.reshape(-1, p.shape[1]))


def table_jacobian(p: Array, inputs: Array, config) -> Array:
  """``∂F[id]_i/∂F[v, j] = 1[id = v] δ_ij``: ``[Fd, size, Fd]``."""
  del config
  size, dim = p.shape
  return (jnp.eye(dim, dtype=p.dtype)[:, None, :]
          * _one_hot(inputs[0], size, p.dtype)[None, :, None])


def table_feature(ids_of_words: Callable[[Sequence[str]], np.ndarray], size: int,
                  help: str) -> FeatureSpec:
  """A lookup-table feature from ``ids_of_words(words) -> int [n]`` in ``[1, size)``."""
  def inputs(words, config):
    del config
    return np.asarray(ids_of_words(words), np.int32).reshape(len(words), 1)
  return FeatureSpec(inputs=inputs, width=lambda config: 1, size=size,
                     dim=lambda config: config.feature_dim, init=table_init,
                     forward=table_forward, vjp=table_vjp, jacobian=table_jacobian,
                     help=help)


# ---------------------------------------------------------------------------
# chars: a character CNN (CharWNN, dos Santos & Zadrozny 2014; Ma & Hovy 2016).
#   c_t = C[char_t] (0 at padding),  X_t = [c_{t-a}; ...; c_{t+b}] (k = a+b+1 chars,
#   zeros beyond the word), Z_t = Wc X_t + bc,  f = max_t Z_t over the word's chars.
# The max takes, per filter, the first position holding the maximum (argmax);
# the gradient goes there only (ties: the lowest position; jax.grad of this
# forward does the same). A word with no characters (window padding) gets 0.

NUM_CHARS = 512  # 0 padding, 1..255 code points 1..255, 256 + (ord % 256) above


def char_ids(words: Sequence[str], max_len: int) -> np.ndarray:
  """int32 ``[n, max_len]``: each word's first ``max_len`` characters' ids, 0 after."""
  out = np.zeros((len(words), max_len), np.int32)
  for i, word in enumerate(words):
    codes = [ord(ch) for ch in word[:max_len]]
    out[i, :len(codes)] = [c if c < 256 else 256 + c % 256 for c in codes]
  return out


def chars_init(key: Array, size: int, config, dtype) -> dict[str, Array]:
  """``{"embed": [size, c], "W": [F, k·c], "b": [F]}``: N(0, 0.1²) rows, Glorot W."""
  k_embed, k_w = jax.random.split(key)
  fan_in = config.char_width * config.char_dim
  limit = (6.0 / (fan_in + config.char_filters)) ** 0.5
  return {"embed": (EMBED_INIT_STDDEV * jax.random.normal(
              k_embed, (size, config.char_dim), dtype)).at[0].set(0.0),
          "W": jax.random.uniform(k_w, (config.char_filters, fan_in), dtype,
                                  -limit, limit),
          "b": jnp.zeros((config.char_filters,), dtype)}


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


def _chars_pool(p, inputs: Array, config):
  """``(f [..., F], argmax [..., F], X, has_chars [...])``."""
  X, mask = _char_windows(p, inputs, config.char_width)
  Z = X @ p["W"].T + p["b"]  # [..., L, F]
  best = jnp.argmax(jnp.where(mask[..., None], Z, -jnp.inf), axis=-2)  # [..., F]
  pooled = jnp.take_along_axis(Z, best[..., None, :], axis=-2)[..., 0, :]
  has_chars = jnp.any(mask, axis=-1)
  return jnp.where(has_chars[..., None], pooled, 0.0), best, X, has_chars


def chars_forward(p, inputs: Array, config) -> Array:
  """``[..., L] -> [..., F]``: the max over the word's characters of ``Wc X_t + bc``."""
  return _chars_pool(p, inputs, config)[0]


def chars_vjp(p, inputs: Array, g: Array, config) -> dict[str, Array]:
  """δ form: ``δZ_t = 1[t = argmax] g``; ``∂J/∂Wc = Σ δZ_tᵀ X_t``, ``∂J/∂bc = Σ δZ_t``;
  ``∂J/∂X_t = δZ_t Wc``, whose k blocks are scatter-added onto the characters'
  rows of C (padding characters get nothing)."""
  _, best, X, has_chars = _chars_pool(p, inputs, config)
  length, width = inputs.shape[-1], config.char_width
  g = jnp.where(has_chars[..., None], g, 0.0)
  dZ = _one_hot(best, length, g.dtype).swapaxes(-1, -2) * g[..., None, :]  # [..., L, F]
  dZ2, X2 = dZ.reshape(-1, dZ.shape[-1]), X.reshape(-1, X.shape[-1])
  dX = (dZ @ p["W"]).reshape(dZ.shape[:-1] + (width, -1))  # [..., L, k, c]
  left = (width - 1) // 2
  d_vectors = jnp.zeros(dX.shape[:-3] + (length + width - 1, dX.shape[-1]), dX.dtype)
  for s in range(width):  # X_t's block s is the vector of character t - left + s
    d_vectors = d_vectors.at[..., s:s + length, :].add(dX[..., s, :])
  d_vectors = d_vectors[..., left:left + length, :] * (inputs > 0)[..., None]
  d_embed = jnp.zeros_like(p["embed"]).at[inputs.reshape(-1)].add(
      d_vectors.reshape(-1, d_vectors.shape[-1]))
  return {"embed": d_embed, "W": dZ2.T @ X2, "b": jnp.sum(dZ2, axis=0)}


def chars_jacobian(p, inputs: Array, config) -> dict[str, Array]:
  """One word ``[L]``: ``∂f_i/∂bc = δ_i·``, ``∂f_i/∂Wc[j] = δ_ij X_{t_i}``, and
  ``∂f_i/∂C[v] = Σ_s 1[char at t_i - left + s is v, real] Wc[i, block s]``."""
  _, best, X, has_chars = _chars_pool(p, inputs, config)
  filters, width = p["W"].shape[0], config.char_width
  live = has_chars.astype(p["W"].dtype)
  eye = jnp.eye(filters, dtype=p["W"].dtype) * live
  positions = best[:, None] - (width - 1) // 2 + jnp.arange(width)[None, :]  # [F, k]
  inside = (positions >= 0) & (positions < inputs.shape[-1])
  chars = jnp.where(inside, inputs[jnp.clip(positions, 0, inputs.shape[-1] - 1)], 0)
  select = _one_hot(chars, p["embed"].shape[0], p["W"].dtype) * (chars > 0)[..., None]
  blocks = p["W"].reshape(filters, width, -1)  # [F, k, c]
  return {"embed": jnp.einsum("fsv,fsc->fvc", select, blocks) * live,
          "W": eye[:, :, None] * X[best][None, :, :],  # X[best]: [F, k·c]
          "b": eye}


CHARS = FeatureSpec(
    inputs=lambda words, config: char_ids(words, config.char_max_len),
    width=lambda config: config.char_max_len, size=NUM_CHARS,
    dim=lambda config: config.char_filters, init=chars_init, forward=chars_forward,
    vjp=chars_vjp, jacobian=chars_jacobian,
    help="character CNN of the word as written: --char_dim vectors, a --char_width "
         "convolution with --char_filters filters, max over the first "
         "--char_max_len characters (CharWNN; Ma & Hovy 2016)")


# ---------------------------------------------------------------------------
# The registry.

FEATURES: registry.Registry[FeatureSpec] = registry.Registry("feature", {
    "casing": table_feature(vocab_lib.casing_ids, vocab_lib.FEATURE_SIZES["casing"],
                            "CS224n's 8 casing classes of the word as a looked-up vector"),
    "caps": table_feature(vocab_lib.caps_ids, vocab_lib.FEATURE_SIZES["caps"],
                          "Collobert & Weston's 5 caps classes as a looked-up vector"),
    "chars": CHARS,
    # A table of ModelConfig.feature_sizes rows with no data side of its own.
    TABLE_FEATURE: table_feature(lambda words: np.ones(len(words), np.int32), 2,
                                 "a lookup table given by its size (ModelConfig only)"),
})
register = FEATURES.register


def get(name: str) -> FeatureSpec:
  """The spec of feature ``name`` (ValueError naming the choices)."""
  return FEATURES.lookup(name)


def choices() -> tuple[str, ...]:
  """The ``--features`` values."""
  return tuple(name for name in FEATURES if name != TABLE_FEATURE)


def help_text() -> str:
  """One line per feature for ``--features``' help."""
  return "; ".join(f"{name}: {FEATURES[name].help}" for name in choices())


def sizes(names: Sequence[str]) -> tuple[int, ...]:
  """``ModelConfig.feature_sizes`` of the named features."""
  return tuple(get(name).size for name in names)


def columns(config) -> list[tuple[FeatureSpec, slice]]:
  """Each feature's spec and its columns of ``feature_ids``' last axis."""
  out, start = [], 0
  names = getattr(config, "feature_names", None)  # a ModelConfig; a Config: features
  for name in (config.features if names is None else names):
    spec = get(name)
    out.append((spec, slice(start, start + spec.width(config))))
    start += spec.width(config)
  return out


def word_dim(config) -> int:
  """d: one position's vector, the word vector and every feature's (``ModelConfig``)."""
  return config.embed_dim + sum(get(name).dim(config) for name in config.feature_names)


def input_width(config) -> int:
  """``feature_ids``' last axis: the features' widths summed."""
  return sum(spec.width(config) for spec, _ in columns(config)) if config else 0


def word_inputs(words: Sequence[str], config) -> np.ndarray:
  """int32 ``[num_words, input_width]``: every feature's inputs, side by side."""
  parts = [np.asarray(spec.inputs(words, config), np.int32).reshape(len(words), -1)
           for spec, _ in columns(config)]
  return np.concatenate(parts, axis=1) if parts else np.zeros((len(words), 0), np.int32)
