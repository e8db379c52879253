"""The window network: ``init_params``, THE forward pass, and its δ-form backward pass.

The network of CS224n lecture 3 and Collobert & Weston (2011, §3.3.1)::

    e   = [L_words[w_p]; f_1(p); ...; f_K(p)]   per position p  (windows.embed; f_k:
                                                features.FEATURES, e.g. a casing table)
    x   = window(params["window"], e, mask)             a windows.WINDOWS spec
    h   = f(W x + b)        (h2 = f(W2 h + b2))           classifier="hidden"
    out = U h_last + c      [C] class scores              output="multiclass"
        | u^T h_last        one score s                   output="score"

With ``classifier="softmax"`` there is no hidden layer (``h_last = x``).
``forward`` is the only implementation of this computation in the repository:
``apply`` is its scores, the δ-form ``backward`` reads its cache, and the
whole-network Jacobians (``wincls/model/jacobians.py``), saliency and the
gradient-check benchmark run ``head`` (the part after the window vector).

Initialisation (results depend on it): word and feature tables ``N(0, 0.1²)``
with the padding row (id 0) zero, then trained like any row; ``pretrained``
vectors are copied verbatim. Weight matrices and ``u``: Glorot uniform
``U(-a, a)``, ``a = sqrt(6 / (fan_in + fan_out))``. Biases: zeros. CRF
parameters: zeros. A window with parameters is initialised by its spec.

Dropout (only with a ``dropout_key``) applies to the window vector x and each
hidden layer's output at ``config.dropout``, and to the position vectors e at
each feature's own rate (``FeatureSpec.dropout``: ``--char_dropout``); layer i's
mask is drawn with ``dropout_layer_key(dropout_key, i)``, so the backward pass
redraws it.
Frozen word vectors are the optimizer's business (``trainable_mask``).
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from wincls.model import settings as config_lib
from wincls.data import vocab as vocab_lib
from wincls.model import features
from wincls.model import layers
from wincls.model import windows

Array = jax.Array
Params = dict[str, Any]

EMBED_INIT_STDDEV = features.EMBED_INIT_STDDEV
PAD_ID = vocab_lib.PAD
HIDDEN = ("hidden", "hidden2")
DROPOUT_WINDOW, DROPOUT_HIDDEN, DROPOUT_HIDDEN2, DROPOUT_FEATURES = 0, 1, 2, 3
# fold_in indices of init_params' key, fixed so that adding a part to the model
# does not change how the other parts are initialised.
_KEY_WORDS, _KEY_HIDDEN, _KEY_HIDDEN2, _KEY_OUTPUT, _KEY_FEATURES, _KEY_WINDOW = range(6)


def check_config(config: config_lib.ModelConfig) -> None:
  """Raises ValueError naming the field and what was expected."""
  choices = {"window": tuple(windows.WINDOWS), "classifier": config_lib.CLASSIFIERS,
             "activation": tuple(layers.ACTIVATIONS), "output": config_lib.OUTPUTS}
  for name in config.feature_names:
    features.get(name)  # ValueError naming the registered features
  for name, allowed in choices.items():
    if getattr(config, name) not in allowed:
      raise ValueError(f"wincls/model/network.py: ModelConfig.{name}="
                       f"{getattr(config, name)!r} is not one of {', '.join(allowed)}")
  for name in ("vocab_size", "embed_dim", "hidden_size"):
    if getattr(config, name) < 1:
      raise ValueError(f"wincls/model/network.py: ModelConfig.{name}="
                       f"{getattr(config, name)} must be >= 1")
  if config.output == "multiclass" and config.num_classes < 2:
    raise ValueError(f"wincls/model/network.py: ModelConfig.num_classes="
                     f"{config.num_classes} must be >= 2 for output='multiclass'")
  if config.use_crf and config.output != "multiclass":
    raise ValueError("wincls/model/network.py: use_crf=True needs output='multiclass'")
  if not 0.0 <= config.dropout < 1.0:
    raise ValueError(f"wincls/model/network.py: ModelConfig.dropout={config.dropout} "
                     "must be in [0, 1)")
  features.dropout_rates(config)  # ValueError naming a feature with a bad rate


def uses_dropout(config: config_lib.ModelConfig) -> bool:
  """Whether training draws any dropout mask (the window's, a feature's)."""
  return config.dropout > 0.0 or features.dropout_rates(config) is not None


def hidden_sizes(config: config_lib.ModelConfig) -> tuple[int, ...]:
  """Widths of the hidden layers (empty for classifier="softmax")."""
  if config.classifier != "hidden":
    return ()
  if config.hidden2_size > 0:
    return (config.hidden_size, config.hidden2_size)
  return (config.hidden_size,)


def input_dim(config: config_lib.ModelConfig) -> int:
  """D, the size of the window vector x."""
  return windows.get(config.window).out_dim(config.window_len, features.word_dim(config))


def _glorot(key: Array, shape: tuple[int, int], dtype) -> Array:
  fan_out, fan_in = shape
  limit = math.sqrt(6.0 / (fan_in + fan_out))
  return jax.random.uniform(key, shape, dtype, -limit, limit)


def _table(key: Array, rows: int, cols: int, dtype) -> Array:
  table = EMBED_INIT_STDDEV * jax.random.normal(key, (rows, cols), dtype)
  return table.at[PAD_ID].set(0.0)


def _embed_params(key: Array, config: config_lib.ModelConfig, pretrained, dtype):
  if pretrained is None:
    words = _table(jax.random.fold_in(key, _KEY_WORDS), config.vocab_size,
                   config.embed_dim, dtype)
  else:
    expected = (config.vocab_size, config.embed_dim)
    if tuple(np.shape(pretrained)) != expected:
      raise ValueError(f"wincls/model/network.py init_params: pretrained vectors have "
                       f"shape {tuple(np.shape(pretrained))}, expected [vocab_size, "
                       f"embed_dim] = {list(expected)}")
    words = jnp.asarray(pretrained, dtype=dtype)
  feature_key = jax.random.fold_in(key, _KEY_FEATURES)
  return {"words": words, "features": [
      features.get(name).init(jax.random.fold_in(feature_key, k), size, config, dtype)
      for k, (name, size) in enumerate(zip(config.feature_names, config.feature_sizes))]}


def init_params(key: Array, *, config: config_lib.ModelConfig,
                pretrained: Any = None) -> Params:
  """Initial parameters (module docstring), in the default float dtype.

  Returns:
    ``{"embed": {"words": [V, E], "features": [[F_k, Fd], ...]},
    "window": (the window spec's parameters, only if it has some),
    "hidden": {"W": [H, D], "b": [H]}, "hidden2": {"W": [H2, H], "b": [H2]},
    "output": {"W": [C, H_last], "b": [C]} or {"u": [H_last]},
    "crf": {"transitions": [C, C], "start": [C], "end": [C]}}`` with the parts
    the config asks for.
  """
  check_config(config)
  dtype = jnp.result_type(float)
  params: Params = {"embed": _embed_params(key, config, pretrained, dtype)}
  spec = windows.get(config.window)
  if spec.init is not None:
    params["window"] = spec.init(jax.random.fold_in(key, _KEY_WINDOW),
                                 config.window_len, features.word_dim(config), dtype)
  fan_in = input_dim(config)
  for name, key_id, width in zip(HIDDEN, (_KEY_HIDDEN, _KEY_HIDDEN2),
                                 hidden_sizes(config)):
    params[name] = {"W": _glorot(jax.random.fold_in(key, key_id), (width, fan_in), dtype),
                    "b": jnp.zeros((width,), dtype)}
    fan_in = width
  output_key = jax.random.fold_in(key, _KEY_OUTPUT)
  if config.output == "multiclass":
    params["output"] = {"W": _glorot(output_key, (config.num_classes, fan_in), dtype),
                        "b": jnp.zeros((config.num_classes,), dtype)}
  else:
    params["output"] = {"u": _glorot(output_key, (1, fan_in), dtype)[0]}
  if config.use_crf:
    c = config.num_classes
    params["crf"] = {"transitions": jnp.zeros((c, c), dtype),
                     "start": jnp.zeros((c,), dtype), "end": jnp.zeros((c,), dtype)}
  return params


def trainable_mask(params: Params, config: config_lib.ModelConfig) -> Any:
  """A pytree of bools like ``params``: False for the leaves that must not change.

  Only ``params["embed"]["words"]`` can be frozen (``config.freeze_vectors``).
  Route frozen leaves to ``optax.set_to_zero`` with ``optax.multi_transform``;
  ``optax.masked(tx, mask)`` alone passes their raw gradient through as the
  update, so they would still move.
  """
  mask = jax.tree.map(lambda _: True, params)
  if config.freeze_vectors:
    mask["embed"]["words"] = False
  return mask


def dropout_layer_key(dropout_key: Array, layer: int) -> Array:
  """The key of layer ``layer``'s dropout mask (module docstring)."""
  return jax.random.fold_in(dropout_key, layer)


def real_positions(window_ids: Array) -> Array:
  """bool ``[..., W]``: the positions holding a word (not ``<s>``, ``</s>``, ``<pad>``)."""
  return ((window_ids != vocab_lib.BOS) & (window_ids != vocab_lib.EOS)
          & (window_ids != vocab_lib.PAD))


def head(params: Params, x: Array, *, config: config_lib.ModelConfig,
         dropout_key: Array | None = None) -> tuple[Array, dict]:
  """The classifier on window vectors ``x [..., D]``: scores and the backward cache.

  Returns:
    ``(scores, cache)``: scores ``[..., C]`` (multiclass) or ``[...]`` (score);
    ``cache = {"inputs": [h_0 = x, h_1, ...] (after dropout), "zs": [z_1, ...],
    "keys": [dropout key of x, of h_1, ...] (None: no dropout)}``.
  """
  use_dropout = dropout_key is not None and config.dropout > 0.0
  f = layers.activation(config.activation).forward

  def dropped(h, layer):
    key = dropout_layer_key(dropout_key, layer) if use_dropout else None
    return (h if key is None else layers.dropout(key, h, config.dropout)), key

  h, key = dropped(x, DROPOUT_WINDOW)
  cache = {"inputs": [h], "zs": [], "keys": [key]}
  for name, layer_id, _ in zip(HIDDEN, (DROPOUT_HIDDEN, DROPOUT_HIDDEN2),
                               hidden_sizes(config)):
    z = layers.affine(h, params[name]["W"], params[name]["b"])
    h, key = dropped(f(z), layer_id)
    cache["zs"].append(z)
    cache["inputs"].append(h)
    cache["keys"].append(key)
  if config.output == "multiclass":
    return layers.affine(h, params["output"]["W"], params["output"]["b"]), cache
  return h @ params["output"]["u"], cache


def forward(params: Params, window_ids: Array, feature_ids: Array | None, *,
            config: config_lib.ModelConfig, dropout_key: Array | None = None
            ) -> tuple[Array, dict]:
  """Scores of a batch of windows, and what ``backward`` needs.

  Args:
    params: as returned by ``init_params``.
    window_ids: int ``[B, W]`` word ids (centre at ``W // 2``).
    feature_ids: int ``[B, W, K]`` (``None`` when there are no feature tables).
    config: the model's static settings.
    dropout_key: a ``jax.random.key`` turns dropout on; None (evaluation) off.

  Returns:
    ``(scores, cache)``: ``[B, C]`` or ``[B]``; ``head``'s cache plus the ids,
    the position vectors and the mask.
  """
  check_config(config)
  if window_ids.ndim < 1 or window_ids.shape[-1] != config.window_len:
    raise ValueError(f"wincls/model/network.py: window_ids has shape "
                     f"{tuple(window_ids.shape)}, expected [..., window_len="
                     f"{config.window_len}] (window_size={config.window_size})")
  vectors = windows.embed(params["embed"], window_ids, feature_ids, config)
  rates = features.dropout_rates(config)
  vectors_key = None
  if dropout_key is not None and rates is not None:
    vectors_key = dropout_layer_key(dropout_key, DROPOUT_FEATURES)
    vectors = layers.dropout(vectors_key, vectors, rates)
  mask = real_positions(window_ids)
  x = windows.get(config.window).forward(params.get("window"), vectors, mask)
  scores, cache = head(params, x, config=config, dropout_key=dropout_key)
  cache.update(window_ids=window_ids, feature_ids=feature_ids, vectors=vectors,
               mask=mask, vectors_key=vectors_key)
  return scores, cache


def apply(params: Params, window_ids: Array, feature_ids: Array | None, *,
          config: config_lib.ModelConfig, dropout_key: Array | None = None) -> Array:
  """``forward``'s scores: ``[B, C]`` (multiclass) or ``[B]`` (score)."""
  return forward(params, window_ids, feature_ids, config=config,
                 dropout_key=dropout_key)[0]


def head_backward(params: Params, cache: dict, delta: Array, *,
                  config: config_lib.ModelConfig) -> tuple[dict, Array]:
  """δ form through ``head``: ``(grads of hidden/output, ∂J/∂x)`` for ``δ = ∂J/∂scores``.

  ``∂J/∂U = δᵀ h_L``, ``∂J/∂h_L = δ U``; per layer ``δ_l = ∂J/∂h_l ∘ f'(z_l)``,
  ``∂J/∂W_l = δ_lᵀ h_{l-1}``, ``∂J/∂b_l = Σ δ_l``, ``∂J/∂h_{l-1} = δ_l W_l``;
  dropout's VJP is its own mask (same key).
  """
  inputs, zs, keys = cache["inputs"], cache["zs"], cache["keys"]
  grads: dict[str, Any] = {}
  if config.output == "multiclass":
    upstream, dW, db = layers.affine_vjp(inputs[-1], params["output"]["W"], delta)
    grads["output"] = {"W": dW, "b": db}
  else:
    u = params["output"]["u"]
    grads["output"] = {"u": delta.reshape(-1) @ inputs[-1].reshape(-1, u.shape[0])}
    upstream = delta[..., None] * u
  for layer in reversed(range(len(zs))):
    name = HIDDEN[layer]
    if keys[layer + 1] is not None:
      upstream = layers.dropout_vjp(keys[layer + 1], upstream, config.dropout)
    d = layers.activation_vjp(config.activation, zs[layer], upstream)
    upstream, dW, db = layers.affine_vjp(inputs[layer], params[name]["W"], d)
    grads[name] = {"W": dW, "b": db}
  if keys[0] is not None:
    upstream = layers.dropout_vjp(keys[0], upstream, config.dropout)
  return grads, upstream


def backward(params: Params, cache: dict, delta: Array, *,
             config: config_lib.ModelConfig) -> dict[str, Any]:
  """The gradient of every part of ``params`` but "crf" for upstream ``δ = ∂J/∂scores``.

  ``head_backward``, then the window spec's VJP (``∂J/∂x → ∂J/∂e`` and the
  window's own parameters), then a scatter-add onto the table rows
  (``windows.embed_vjp``), through the features' dropout mask if it was drawn.
  """
  grads, d_x = head_backward(params, cache, delta, config=config)
  d_window, d_vectors = windows.get(config.window).vjp(
      params.get("window"), cache["vectors"], cache["mask"], d_x)
  if d_window is not None:
    grads["window"] = d_window
  if cache.get("vectors_key") is not None:
    d_vectors = layers.dropout_vjp(cache["vectors_key"], d_vectors,
                                   features.dropout_rates(config))
  grads["embed"] = windows.embed_vjp(params["embed"], cache["window_ids"],
                                     cache["feature_ids"], d_vectors, config)
  return grads
