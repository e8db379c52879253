"""Word features: the registry of what a position's vector holds after its word vector.

A position's vector is ``e = [L_words[w]; f_1(word); ...; f_K(word)]``: the
word-table row (``params["embed"]["words"]``: pre-trained or random, frozen or
fine-tuned, sparse updates; not a registry entry, the trainer treats it apart)
followed by one vector per ``--features`` entry, each computed by a
``FeatureSpec`` from the word **as written** (so every word gets one, in the
vocabulary or not). A spec holds (``config``: the run's ``Config`` for
``inputs``, the ``ModelConfig`` for the rest (``config.inputs_config``); ``p``: the
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

and, optionally, the dropout rate a run gives the feature's vector (each
position's, in training, before the window; ``network.forward`` applies it and
its VJP, so autodiff, hand gradients and sparse updates all see it)::

    dropout(config) -> float    in [0, 1); None (the default): none of its own

and, for a feature whose data side reads more than one word at a time, three
optional fields (the ``gazetteer`` feature, ``wincls/model/gazetteer.py``, uses
all three)::

    per_sentence = False        True: inputs gets one sentence's words a call
                                (multi-word context), not a batch of words
    files(config) -> {role: path}   the files inputs reads: their size and
                                sha256 join the run's fingerprints (config.json)
    coverage(corpus, config) -> (report, text)   what the feature knows of the
                                dev corpus: text logged, report saved as
                                ``<name>_coverage.json`` in the workdir

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
from wincls.model import chars
from wincls.model import registry
from wincls.model.settings import TABLE_FEATURE

Array = jax.Array
EMBED_INIT_STDDEV = chars.EMBED_INIT_STDDEV


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
  per_sentence: bool = False
  files: Callable[[Any], dict[str, Any]] | None = None
  coverage: Callable[[Any, Any], tuple[dict[str, Any], str]] | None = None
  dropout: Callable[[Any], float] | None = None


class InputError(ValueError):
  """A feature's data side refuses what the run gave it (a flag value, a file);
  the message names it (``file:line``). ``check_inputs`` passes it on as it is:
  the run ends in that one line, not in "inputs failed"."""


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
# chars: the character CNN (wincls.model.chars: its math and how a batch computes it).

CHARS = FeatureSpec(
    inputs=lambda words, config: chars.char_ids(words, config.char_max_len),
    width=lambda config: config.char_max_len, size=chars.NUM_CHARS,
    dim=lambda config: config.char_filters, init=chars.init, forward=chars.forward,
    vjp=chars.vjp, jacobian=chars.jacobian,
    dropout=lambda config: config.char_dropout,
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
}, check=lambda name, spec: check_spec(name, spec))
register = FEATURES.register

# Words a feature's data side is tried on (``check_inputs``).
CHECK_WORDS = ("Peter", "lives", "U.S.", "über", "1,000", "東京", "x" * 40)


def check_spec(name: str, spec: FeatureSpec) -> None:
  """``FEATURES``' check when a feature is registered: a ``FeatureSpec``. Its data
  side is checked with the run's ``Config`` (``check_inputs``, from
  ``Config.validate``): a feature may read any of the run's flags there."""
  if not isinstance(spec, FeatureSpec):
    raise TypeError(f"feature {name!r}: expected a FeatureSpec, got a "
                    f"{type(spec).__name__}")


def check_inputs(name: str, spec: FeatureSpec, config) -> None:
  """A feature's data side on the run's ``Config``: ``inputs`` gives one row of
  ``width(config)`` ids in ``[0, size)`` per word of ``CHECK_WORDS``, named in one
  line instead of a shape error deep in training. ``Config.validate`` calls it for
  each ``--features`` entry; ``wincls.testing.check_feature`` checks the same."""
  try:
    ids = np.asarray(spec.inputs(list(CHECK_WORDS), config))
    expected = (len(CHECK_WORDS), spec.width(config))
  except InputError:
    raise  # the run's own input is refused, in the feature's words
  except Exception as e:  # a plugin's function can fail any way: name the part
    raise ValueError(f"feature {name!r}: inputs failed on {len(CHECK_WORDS)} words: "
                     f"{type(e).__name__}: {e}") from None
  if ids.shape != expected:
    raise ValueError(f"feature {name!r}: inputs gives shape {ids.shape} for "
                     f"{len(CHECK_WORDS)} words; expected {expected} (one row of "
                     "width(config) ids per word)")
  if ids.size and (ids.min() < 0 or ids.max() >= spec.size):
    raise ValueError(f"feature {name!r}: inputs gives ids in [{ids.min()}, "
                     f"{ids.max()}]; expected ids in [0, {spec.size}) (size)")


def get(name: str) -> FeatureSpec:
  """The spec of feature ``name`` (ValueError naming the choices)."""
  return FEATURES.lookup(name)


def choices() -> tuple[str, ...]:
  """The ``--features`` values."""
  return tuple(name for name in FEATURES if name != TABLE_FEATURE)




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


def dropout_rates(config) -> np.ndarray | None:
  """float ``[d]``: each column of a position's vector's dropout rate (0 for the
  word vector, ``spec.dropout(config)`` for a feature's columns); None when all
  are 0. ValueError naming the feature unless each rate is in [0, 1)."""
  rates = [np.zeros(config.embed_dim)]
  for name in config.feature_names:
    spec = get(name)
    rate = 0.0 if spec.dropout is None else float(spec.dropout(config))
    if not 0.0 <= rate < 1.0:
      raise ValueError(f"feature {name!r}: dropout rate {rate} must be in [0, 1)")
    rates.append(np.full(spec.dim(config), rate))
  rates = np.concatenate(rates)
  return rates if rates.any() else None


def word_dim(config) -> int:
  """d: one position's vector, the word vector and every feature's (``ModelConfig``)."""
  return config.embed_dim + sum(get(name).dim(config) for name in config.feature_names)


def input_width(config) -> int:
  """``feature_ids``' last axis: the features' widths summed."""
  return sum(spec.width(config) for spec, _ in columns(config)) if config else 0


def word_inputs(words: Sequence[str], config,
                lengths: Sequence[int] | None = None) -> np.ndarray:
  """int32 ``[num_words, input_width]``: every feature's inputs, side by side.

  ``lengths``: the sentences' lengths (``words`` is their concatenation), so
  that a ``per_sentence`` feature gets one sentence a call; None: ``words`` is
  one sentence.
  """
  def one(spec):
    if not spec.per_sentence or lengths is None:
      return np.asarray(spec.inputs(words, config), np.int32).reshape(len(words), -1)
    ends = np.cumsum(lengths)
    return np.concatenate(
        [np.asarray(spec.inputs(words[end - n:end], config), np.int32).reshape(n, -1)
         for n, end in zip(lengths, ends)] + [np.zeros((0, spec.width(config)), np.int32)])
  parts = [one(spec) for spec, _ in columns(config)]
  return np.concatenate(parts, axis=1) if parts else np.zeros((len(words), 0), np.int32)
