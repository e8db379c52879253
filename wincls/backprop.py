"""The window network's backward pass written by hand, in the lecture's δ form.

``hand_grad`` is a drop-in for ``jax.value_and_grad(objectives.loss_fn,
has_aux=True)`` minus the aux: it takes ``loss_fn``'s arguments and returns
``(mean_loss, grads)`` with ``grads`` the same pytree as
``jax.grad(objectives.loss_fn, has_aux=True)``'s, computed without autodiff.
The trainer's ``--grad=hand`` calls it.

For a batch of B windows (rows), with ``h_0 = x`` the window vector::

    forward:   z_l = h_{l-1} W_lᵀ + b_l,   h_l = f(z_l)         (stored)
               s = h_L Uᵀ + c   or   s = h_L u
    output:    δ_out = ∂J/∂s = (w_b / max(Σw, 1)) ∂loss_b/∂s_b   (jacobians.*_gradient)
               ∂J/∂U = δ_outᵀ h_L,  ∂J/∂c = Σ_b δ_out,  ∂J/∂h_L = δ_out U
    layer l:   δ_l = (∂J/∂h_l) ∘ f'(z_l)
               ∂J/∂W_l = δ_lᵀ h_{l-1},  ∂J/∂b_l = Σ_b δ_l,  ∂J/∂h_{l-1} = δ_l W_l
    window:    ∂J/∂x [B, D] → ∂J/∂e [B, W, d] (reshape for concat, /W broadcast for
               average) → scatter-add onto the rows of the word and feature tables.

Every product above is a matrix product over the whole batch. Dropout masks and
corrupted windows are redrawn from ``key`` exactly as ``objectives.loss_fn`` and
``models.apply`` draw them (``objectives.DROPOUT_STREAM`` etc. and
``models.dropout_layer_key``), so hand and autodiff gradients agree to rounding
with dropout on. Frozen word vectors still get their gradient (as with
``jax.grad``); the optimizer masks the update (``models.trainable_mask``).
"""

from __future__ import annotations

from typing import Any, Mapping

import jax
import jax.numpy as jnp

from wincls import config as config_lib
from wincls import crf
from wincls import jacobians
from wincls import layers
from wincls import losses
from wincls import models
from wincls import objectives

Array = jax.Array
_HIDDEN = ("hidden", "hidden2")
_DROPOUT_LAYERS = (models.DROPOUT_HIDDEN, models.DROPOUT_HIDDEN2)


def _dropout_key(key, stream: int, train: bool, config: config_lib.ModelConfig):
  """The ``dropout_key`` that ``objectives.loss_fn`` hands to ``models.apply``."""
  if not train or config.dropout <= 0.0:
    return None
  if key is None:
    raise ValueError("wincls/backprop.py: dropout needs a key (got key=None)")
  return jax.random.fold_in(key, stream)


def forward(params: Mapping[str, Any], window_ids: Array, feature_ids: Array | None,
            *, config: config_lib.ModelConfig, dropout_key=None) -> tuple[Array, dict]:
  """``models.apply`` that also stores what the backward pass needs.

  Args:
    params: ``models.init_params``'s pytree.
    window_ids: int ``[B, W]``.
    feature_ids: int ``[B, W, K]`` or ``None``.
    config: the model's settings.
    dropout_key: as for ``models.apply``.

  Returns:
    ``(scores, cache)``: scores ``[B, C]`` or ``[B]``; ``cache`` holds the inputs
    of each layer (``inputs[l] = h_l`` after dropout), the pre-activations ``z_l``
    and the dropout keys.
  """
  use_dropout = dropout_key is not None and config.dropout > 0.0

  def layer_key(layer):
    return models.dropout_layer_key(dropout_key, layer) if use_dropout else None

  def maybe_dropout(h, key):
    return h if key is None else layers.dropout(key, h, config.dropout)

  vectors = layers.embed(params["embed"], window_ids, feature_ids)
  keys = [layer_key(models.DROPOUT_WINDOW)]
  inputs = [maybe_dropout(layers.WINDOWS[config.window](vectors), keys[0])]
  zs = []
  activation = layers.ACTIVATIONS[config.activation]
  for name, layer_id, _ in zip(_HIDDEN, _DROPOUT_LAYERS, models.hidden_sizes(config)):
    z = layers.affine(inputs[-1], params[name]["W"], params[name]["b"])
    zs.append(z)
    keys.append(layer_key(layer_id))
    inputs.append(maybe_dropout(activation(z), keys[-1]))
  if config.output == "multiclass":
    scores = layers.affine(inputs[-1], params["output"]["W"], params["output"]["b"])
  else:
    scores = inputs[-1] @ params["output"]["u"]
  cache = {"window_ids": window_ids, "feature_ids": feature_ids,
           "window_len": vectors.shape[-2], "inputs": inputs, "zs": zs, "keys": keys}
  return scores, cache


def backward(params: Mapping[str, Any], cache: dict, delta: Array, *,
             config: config_lib.ModelConfig) -> dict[str, Any]:
  """The δ-form backward pass of ``forward`` for upstream ``δ_out = ∂J/∂scores``.

  Args:
    params: the params ``forward`` ran with.
    cache: ``forward``'s cache.
    delta: ``[B, C]`` (multiclass) or ``[B]`` (score).
    config: the model's settings.

  Returns:
    The gradient pytree of every part of ``params`` but "crf".
  """
  inputs, zs, keys = cache["inputs"], cache["zs"], cache["keys"]
  grads: dict[str, Any] = {}
  h_last = inputs[-1]
  if config.output == "multiclass":
    W, b = params["output"]["W"], params["output"]["b"]
    upstream, dW, db = jacobians.affine_vjp(h_last, W, b, delta)
    grads["output"] = {"W": dW, "b": db}
  else:
    u = params["output"]["u"]
    grads["output"] = {"u": delta @ h_last}
    upstream = delta[:, None] * u[None, :]
  names = _HIDDEN[:len(zs)]
  for layer in reversed(range(len(names))):
    name = names[layer]
    upstream = _dropout_backward(keys[layer + 1], upstream, config)
    d = jacobians.activation_vjp(config.activation, zs[layer], upstream)
    W, b = params[name]["W"], params[name]["b"]
    upstream, dW, db = jacobians.affine_vjp(inputs[layer], W, b, d)
    grads[name] = {"W": dW, "b": db}
  upstream = _dropout_backward(keys[0], upstream, config)
  d_vectors = jacobians.WINDOW_VJPS[config.window](upstream, cache["window_len"])
  grads["embed"] = jacobians.embed_vjp(params["embed"], cache["window_ids"],
                                       cache["feature_ids"], d_vectors)
  return grads


def _dropout_backward(key, g: Array, config: config_lib.ModelConfig) -> Array:
  return g if key is None else jacobians.dropout_vjp(key, g, config.dropout)


def _add(a, b):
  return jax.tree.map(jnp.add, a, b)


def _token_loss_and_grads(params, batch, *, config, loss, key, margin,
                          num_corruptions, train):
  """Mean loss J of a token batch and its gradient (δ_out = ∂J/∂scores, then backward)."""
  window_ids = batch["window_ids"]
  feature_ids = batch.get("feature_ids")
  labels = batch["labels"]
  scores, cache = forward(params, window_ids, feature_ids, config=config,
                          dropout_key=_dropout_key(key, objectives.DROPOUT_STREAM,
                                                   train, config))
  extra = None  # (cache, delta) of the corrupted windows
  if loss == "cross_entropy":
    per_example = losses.softmax_cross_entropy(logits=scores, labels=labels)
    g = jacobians.softmax_cross_entropy_gradient(logits=scores, labels=labels)
  elif loss == "hinge_ww":
    per_example = losses.hinge_weston_watkins(scores=scores, labels=labels, margin=margin)
    g = jacobians.hinge_weston_watkins_gradient(scores=scores, labels=labels,
                                                margin=margin)
  elif loss == "hinge_cs" or (loss == "max_margin" and config.output == "multiclass"):
    per_example = losses.hinge_crammer_singer(scores=scores, labels=labels, margin=margin)
    g = jacobians.hinge_crammer_singer_gradient(scores=scores, labels=labels,
                                                margin=margin)
  elif loss == "logistic":
    per_example = losses.binary_logistic(scores=scores, labels=labels)
    g = jacobians.binary_logistic_gradient(scores=scores, labels=labels)
  else:  # max_margin on a single score: corrupted windows.
    batch_size, window_len = window_ids.shape
    corrupted = losses.corrupt_centre(
        jax.random.fold_in(key, objectives.CORRUPT_STREAM), window_ids,
        num_corruptions=num_corruptions, low=losses.FIRST_WORD_ID,
        high=config.vocab_size)
    corrupted_features = None
    if feature_ids is not None:
      corrupted_features = jnp.broadcast_to(
          feature_ids[:, None], (batch_size, num_corruptions) + feature_ids.shape[1:]
      ).reshape((batch_size * num_corruptions,) + feature_ids.shape[1:])
    corrupted_scores, corrupted_cache = forward(
        params, corrupted.reshape(batch_size * num_corruptions, window_len),
        corrupted_features, config=config,
        dropout_key=_dropout_key(key, objectives.CORRUPTED_DROPOUT_STREAM, train, config))
    corrupted_scores = corrupted_scores.reshape(batch_size, num_corruptions)
    positive = losses.max_margin(scores=scores, corrupted_scores=corrupted_scores,
                                 margin=margin)
    negative = jax.nn.relu(margin + scores)
    is_positive = labels == 1
    per_example = jnp.where(is_positive, positive, negative)
    g_pos, g_corrupted = jacobians.max_margin_gradient(
        scores=scores, corrupted_scores=corrupted_scores, margin=margin)
    g_neg = (margin + scores > 0).astype(scores.dtype)
    g = jnp.where(is_positive, g_pos, g_neg)
    g_corrupted = jnp.where(is_positive[:, None], g_corrupted, 0.0)
    extra = (corrupted_cache, g_corrupted)
  weights = batch.get("weights")
  if weights is None:
    weights = jnp.ones_like(per_example)
  weights = weights.astype(per_example.dtype)
  loss_sum = jnp.sum(weights * per_example)
  scale = weights / jnp.maximum(jnp.sum(weights), 1.0)  # ∂J/∂loss_b
  grads = backward(params, cache, _scale_rows(scale, g), config=config)
  if extra is not None:
    corrupted_cache, g_corrupted = extra
    delta = (scale[:, None] * g_corrupted).reshape(-1)
    grads = _add(grads, backward(params, corrupted_cache, delta, config=config))
  return loss_sum / jnp.maximum(jnp.sum(weights), 1.0), grads


def _scale_rows(scale: Array, g: Array) -> Array:
  return scale.reshape(scale.shape + (1,) * (g.ndim - 1)) * g


def _crf_loss_and_grads(params, batch, *, config, key, train):
  window_ids = batch["window_ids"]
  if window_ids.ndim != 3:
    raise ValueError("wincls/backprop.py: --loss=crf needs a sentence batch with "
                     f"window_ids [B, T, W], got shape {tuple(window_ids.shape)}")
  batch_size, length, window_len = window_ids.shape
  feature_ids = batch.get("feature_ids")
  if feature_ids is not None:
    feature_ids = feature_ids.reshape((batch_size * length,) + feature_ids.shape[2:])
  emissions, cache = forward(
      params, window_ids.reshape(batch_size * length, window_len), feature_ids,
      config=config, dropout_key=_dropout_key(key, objectives.DROPOUT_STREAM, train,
                                              config))
  emissions = emissions.reshape(batch_size, length, -1)
  labels, mask = batch["labels"], batch["mask"]
  per_sentence = crf.crf_nll(emissions=emissions, labels=labels, mask=mask,
                             crf_params=params["crf"])
  denominator = jnp.maximum(jnp.sum(mask.astype(per_sentence.dtype)), 1.0)
  g = jacobians.crf_nll_gradient(emissions=emissions, labels=labels, mask=mask,
                                 crf_params=params["crf"])
  delta = (g["emissions"] / denominator).reshape(batch_size * length, -1)
  grads = backward(params, cache, delta, config=config)
  grads["crf"] = {name: jnp.sum(g[name], axis=0) / denominator
                  for name in ("transitions", "start", "end")}
  return jnp.sum(per_sentence) / denominator, grads


def hand_grad(params: Mapping[str, Any], batch: Mapping[str, Any], *,
              config: config_lib.ModelConfig, loss: str, key, margin: float = 1.0,
              num_corruptions: int = 1, train: bool = True) -> tuple[Array, dict]:
  """``objectives.loss_fn``'s mean loss and its gradient, by hand (no autodiff).

  A drop-in for ``jax.value_and_grad(objectives.loss_fn, has_aux=True)`` except
  that it returns ``(mean_loss, grads)`` rather than ``((mean_loss, aux), grads)``.

  Args:
    params: ``models.init_params``'s pytree.
    batch: a token batch, or a sentence batch for ``loss="crf"``
      (``objectives``' docstring).
    config: the model's settings.
    loss: one of ``wincls.config.LOSSES``.
    key: the ``jax.random.key`` given to ``loss_fn`` (dropout, corruptions).
    margin: Δ of the hinge losses.
    num_corruptions: k corrupted windows per positive (max_margin, output="score").
    train: False turns dropout off.

  Returns:
    ``(mean_loss, grads)``; ``grads`` has the structure, shapes and dtypes of
    ``params``.
  """
  objectives.check_loss(loss, config)
  if loss == "crf":
    missing = [n for n in ("window_ids", "labels", "mask") if n not in batch]
    if missing:
      raise ValueError(f"wincls/backprop.py: batch for --loss=crf lacks {missing}; "
                       f"it has {sorted(batch)}")
    mean, grads = _crf_loss_and_grads(params, batch, config=config, key=key,
                                      train=train)
    return mean, _complete(params, grads)
  missing = [n for n in ("window_ids", "labels") if n not in batch]
  if missing:
    raise ValueError(f"wincls/backprop.py: batch for --loss={loss} lacks {missing}; "
                     f"it has {sorted(batch)}")
  if loss == "max_margin" and config.output == "score" and key is None:
    raise ValueError("wincls/backprop.py: --loss=max_margin with --output=score "
                     "needs a key for the corruptions (got key=None)")
  mean, grads = _token_loss_and_grads(params, batch, config=config, loss=loss, key=key,
                                      margin=margin, num_corruptions=num_corruptions,
                                      train=train)
  return mean, _complete(params, grads)


def _complete(params: Mapping[str, Any], grads: dict) -> dict:
  """Zeros for the parts of ``params`` the loss does not use (e.g. an unused "crf")."""
  return {name: grads[name] if name in grads else jax.tree.map(jnp.zeros_like, value)
          for name, value in params.items()}
