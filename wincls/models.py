"""The window classifier as a pure ``init_params``/``apply`` pair.

The network of CS224n lecture 3 and Collobert & Weston (2011, §3.3.1)::

    e   = [L_words[w_p]; L_f1[f_p1]; ...; L_fK[f_pK]]   per position p  (layers.embed)
    x   = window(e_{-m}, ..., e_{+m})                     concat | average
    h   = f(W x + b)        (h2 = f(W2 h + b2))           classifier="hidden"
    out = U h_last + c      [C] class scores              output="multiclass"
        | u^T h_last        one score s                   output="score"

With ``classifier="softmax"`` there is no hidden layer (``h_last = x``): the
scores are ``W x + b`` (or ``u^T x``), a log-linear classifier on the window.

Initialisation (documented because results depend on it):

* word and feature tables: ``N(0, EMBED_INIT_STDDEV**2)`` with the padding row
  (id 0, ``<pad>`` in ``wincls.data.vocab``) set to zeros; the padding row is then
  trained like any other row (C&W learn a padding embedding). ``pretrained``
  vectors are copied verbatim (the aligner in ``wincls/data/vectors.py`` decides
  what the reserved rows hold).
* every weight matrix (``hidden``, ``hidden2``, ``output``) and ``u``: Glorot
  uniform, ``U(-a, a)`` with ``a = sqrt(6 / (fan_in + fan_out))`` (CS224n's
  Xavier init; ``u`` counts as a ``[1, H]`` matrix). Biases: zeros.
* CRF ``transitions``/``start``/``end``: zeros, so at initialisation the
  sentence-level likelihood equals the per-token softmax likelihood.

Dropout (only when ``apply`` gets a ``dropout_key`` and ``config.dropout > 0``)
applies to the window vector x and to each hidden layer's output; layer i's mask
is drawn with ``dropout_layer_key(dropout_key, i)`` (i = ``DROPOUT_WINDOW``,
``DROPOUT_HIDDEN``, ``DROPOUT_HIDDEN2``), so a hand-written backward pass can
redraw the same masks.

Frozen word vectors are handled by the optimizer, not here: ``apply`` lets
gradients reach ``params["embed"]["words"]`` and ``trainable_mask`` tells the
trainer which leaves must receive no update.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from wincls import config as config_lib
from wincls import layers

Array = jax.Array
Params = dict[str, Any]

EMBED_INIT_STDDEV = 0.1
PAD_ID = 0

DROPOUT_WINDOW = 0
DROPOUT_HIDDEN = 1
DROPOUT_HIDDEN2 = 2

# fold_in indices of init_params' key, fixed so that adding a part to the model
# does not change how the other parts are initialised.
_KEY_WORDS, _KEY_HIDDEN, _KEY_HIDDEN2, _KEY_OUTPUT, _KEY_FEATURES = range(5)


def check_config(config: config_lib.ModelConfig) -> None:
  """Raises ValueError naming the field and what was expected."""
  choices = {
      "window": config_lib.WINDOWS, "classifier": config_lib.CLASSIFIERS,
      "activation": config_lib.ACTIVATIONS, "output": config_lib.OUTPUTS,
  }
  for name, allowed in choices.items():
    value = getattr(config, name)
    if value not in allowed:
      raise ValueError(f"wincls/models.py: ModelConfig.{name}={value!r} is not one "
                       f"of {', '.join(allowed)}")
  for name in ("vocab_size", "embed_dim", "hidden_size"):
    if getattr(config, name) < 1:
      raise ValueError(f"wincls/models.py: ModelConfig.{name}="
                       f"{getattr(config, name)} must be >= 1")
  if config.output == "multiclass" and config.num_classes < 2:
    raise ValueError(f"wincls/models.py: ModelConfig.num_classes={config.num_classes}"
                     " must be >= 2 for output='multiclass'")
  if config.use_crf and config.output != "multiclass":
    raise ValueError("wincls/models.py: use_crf=True needs output='multiclass'")
  if not 0.0 <= config.dropout < 1.0:
    raise ValueError(f"wincls/models.py: ModelConfig.dropout={config.dropout} "
                     "must be in [0, 1)")


def hidden_sizes(config: config_lib.ModelConfig) -> tuple[int, ...]:
  """Widths of the hidden layers (empty for classifier="softmax")."""
  if config.classifier != "hidden":
    return ()
  if config.hidden2_size > 0:
    return (config.hidden_size, config.hidden2_size)
  return (config.hidden_size,)


def input_dim(config: config_lib.ModelConfig) -> int:
  """D, the size of the window vector x."""
  return layers.window_output_dim(config.window, config.window_len, config.word_dim)


def _glorot(key: Array, shape: tuple[int, int], dtype) -> Array:
  fan_out, fan_in = shape
  limit = math.sqrt(6.0 / (fan_in + fan_out))
  return jax.random.uniform(key, shape, dtype, -limit, limit)


def _table(key: Array, rows: int, cols: int, dtype) -> Array:
  table = EMBED_INIT_STDDEV * jax.random.normal(key, (rows, cols), dtype)
  return table.at[PAD_ID].set(0.0)


def init_params(key: Array, *, config: config_lib.ModelConfig,
                pretrained: Any = None) -> Params:
  """Initial parameters (see the module docstring for the scheme).

  Args:
    key: a ``jax.random.key``.
    config: the model's static settings.
    pretrained: optional ``[vocab_size, embed_dim]`` array copied into the word
      table.

  Returns:
    ``{"embed": {"words": [V, E], "features": [[F_k, Fd], ...]},
    "hidden": {"W": [H, D], "b": [H]}, "hidden2": {"W": [H2, H], "b": [H2]},
    "output": {"W": [C, H_last], "b": [C]} or {"u": [H_last]},
    "crf": {"transitions": [C, C], "start": [C], "end": [C]}}`` with the parts
    the config asks for, in the default float dtype.
  """
  check_config(config)
  dtype = jnp.result_type(float)
  if pretrained is None:
    words = _table(jax.random.fold_in(key, _KEY_WORDS), config.vocab_size,
                   config.embed_dim, dtype)
  else:
    expected = (config.vocab_size, config.embed_dim)
    if tuple(np.shape(pretrained)) != expected:
      raise ValueError(f"wincls/models.py init_params: pretrained vectors have shape "
                       f"{tuple(np.shape(pretrained))}, expected [vocab_size, embed_dim]"
                       f" = {list(expected)}")
    words = jnp.asarray(pretrained, dtype=dtype)
  feature_key = jax.random.fold_in(key, _KEY_FEATURES)
  features = [
      _table(jax.random.fold_in(feature_key, k), size, config.feature_dim, dtype)
      for k, size in enumerate(config.feature_sizes)
  ]
  params: Params = {"embed": {"words": words, "features": features}}

  fan_in = input_dim(config)
  names = ("hidden", "hidden2")
  key_ids = (_KEY_HIDDEN, _KEY_HIDDEN2)
  for name, key_id, width in zip(names, key_ids, hidden_sizes(config)):
    params[name] = {
        "W": _glorot(jax.random.fold_in(key, key_id), (width, fan_in), dtype),
        "b": jnp.zeros((width,), dtype),
    }
    fan_in = width

  output_key = jax.random.fold_in(key, _KEY_OUTPUT)
  if config.output == "multiclass":
    params["output"] = {
        "W": _glorot(output_key, (config.num_classes, fan_in), dtype),
        "b": jnp.zeros((config.num_classes,), dtype),
    }
  else:
    params["output"] = {"u": _glorot(output_key, (1, fan_in), dtype)[0]}
  if config.use_crf:
    c = config.num_classes
    params["crf"] = {
        "transitions": jnp.zeros((c, c), dtype),
        "start": jnp.zeros((c,), dtype),
        "end": jnp.zeros((c,), dtype),
    }
  return params


def dropout_layer_key(dropout_key: Array, layer: int) -> Array:
  """The key of layer ``layer``'s dropout mask (see the module docstring)."""
  return jax.random.fold_in(dropout_key, layer)


def apply(params: Params, window_ids: Array, feature_ids: Array | None, *,
          config: config_lib.ModelConfig, dropout_key: Array | None = None) -> Array:
  """Scores of a batch of windows.

  Args:
    params: as returned by ``init_params``.
    window_ids: int ``[batch, window_len]`` word ids (centre at ``window_len // 2``).
    feature_ids: int ``[batch, window_len, K]`` feature ids (``None`` or
      ``[batch, window_len, 0]`` when ``config.feature_sizes == ()``).
    config: the model's static settings.
    dropout_key: a ``jax.random.key`` turns dropout on (when ``config.dropout >
      0``); ``None`` (evaluation) turns it off.

  Returns:
    ``[batch, num_classes]`` scores for output="multiclass", ``[batch]`` for
    output="score".
  """
  check_config(config)
  if window_ids.ndim < 1 or window_ids.shape[-1] != config.window_len:
    raise ValueError(f"wincls/models.py apply: window_ids has shape "
                     f"{tuple(window_ids.shape)}, expected [..., window_len="
                     f"{config.window_len}] (window_size={config.window_size})")
  use_dropout = dropout_key is not None and config.dropout > 0.0

  def maybe_dropout(x, layer):
    if not use_dropout:
      return x
    return layers.dropout(dropout_layer_key(dropout_key, layer), x, config.dropout)

  vectors = layers.embed(params["embed"], window_ids, feature_ids)
  h = maybe_dropout(layers.WINDOWS[config.window](vectors), DROPOUT_WINDOW)
  activation = layers.ACTIVATIONS[config.activation]
  names = ("hidden", "hidden2")
  layer_ids = (DROPOUT_HIDDEN, DROPOUT_HIDDEN2)
  for name, layer_id, _ in zip(names, layer_ids, hidden_sizes(config)):
    h = activation(layers.affine(h, params[name]["W"], params[name]["b"]))
    h = maybe_dropout(h, layer_id)
  if config.output == "multiclass":
    return layers.affine(h, params["output"]["W"], params["output"]["b"])
  return h @ params["output"]["u"]


def trainable_mask(params: Params, config: config_lib.ModelConfig) -> Any:
  """A pytree of bools like ``params``: False for the leaves that must not change.

  Only ``params["embed"]["words"]`` can be frozen (``config.freeze_vectors``).
  Use it so that frozen leaves get an update of exactly zero, e.g.::

    labels = jax.tree.map(lambda t: "train" if t else "frozen", mask)
    tx = optax.multi_transform({"train": tx, "frozen": optax.set_to_zero()}, labels)

  Beware ``optax.masked(tx, mask)`` alone: it passes the raw gradient of the
  masked-out leaves through as their update, so they still move.
  """
  mask = jax.tree.map(lambda _: True, params)
  if config.freeze_vectors:
    mask["embed"]["words"] = False
  return mask
