"""The training objective: ``loss_fn(params, batch, ...) -> (mean_loss, aux)``.

One function covers every ``--loss`` of ``wincls.config.LOSSES``:

==============  ===========  ====================================================
loss            output       per example
==============  ===========  ====================================================
cross_entropy   multiclass   ``-log softmax(scores)[y]``
hinge_ww        multiclass   ``Σ_{c≠y} max(0, Δ + s_c - s_y)``
hinge_cs        multiclass   ``max(0, Δ + max_{c≠y} s_c - s_y)``
max_margin      multiclass   the lecture's J with the corruption in label space:
                             s = s_y, s_c = the best wrong class (= hinge_cs)
max_margin      score        label 1 (a true window of the target type):
                             ``Σ_k max(0, Δ - s + s_c_k)`` over k windows whose
                             centre word is replaced by a random word
                             (``losses.corrupt_centre``); label 0: ``max(0, Δ + s)``
logistic        score        ``-log σ(s)`` for label 1, ``-log(1 - σ(s))`` for 0
crf             multiclass   sentence NLL of the C&W linear-chain CRF (``crf.py``)
==============  ===========  ====================================================

Batches (docs/architecture.md): a token batch ``{"window_ids": [B, W],
"feature_ids": [B, W, K], "labels": [B], "weights": [B]}`` (weight 0 marks a
padding row; ``weights`` may be absent = all ones) has mean
``Σ w·loss / max(Σ w, 1)``; a sentence batch (loss="crf") ``{"window_ids": [B, T,
W], "feature_ids": [B, T, W, K], "labels": [B, T], "mask": [B, T]}`` has mean
``Σ_sentences nll / max(Σ mask, 1)`` (per real token).

Randomness, all from ``key`` so that a hand-written backward pass
(``wincls/backprop.py``) can redraw it: dropout of the batch's windows uses
``jax.random.fold_in(key, DROPOUT_STREAM)`` as ``models.apply``'s
``dropout_key``; the corruptions use ``fold_in(key, CORRUPT_STREAM)``; dropout of
the corrupted windows uses ``fold_in(key, CORRUPTED_DROPOUT_STREAM)``. Dropout is
on only when ``train=True`` and ``config.dropout > 0``. Corrupted windows keep the
original window's feature ids (only the centre word id changes).
"""

from __future__ import annotations

from typing import Any, Mapping

import jax
import jax.numpy as jnp

from wincls import config as config_lib
from wincls import crf
from wincls import losses
from wincls import models

Array = jax.Array

DROPOUT_STREAM = 0
CORRUPT_STREAM = 1
CORRUPTED_DROPOUT_STREAM = 2

MULTICLASS_LOSSES = ("cross_entropy", "hinge_ww", "hinge_cs", "max_margin", "crf")
SCORE_LOSSES = ("max_margin", "logistic")


def check_loss(loss: str, config: config_lib.ModelConfig) -> None:
  """Raises ValueError unless ``loss`` is known and fits ``config.output``."""
  if loss not in config_lib.LOSSES:
    raise ValueError(f"wincls/objectives.py: --loss={loss!r} is not one of "
                     f"{', '.join(config_lib.LOSSES)}")
  allowed = MULTICLASS_LOSSES if config.output == "multiclass" else SCORE_LOSSES
  if loss not in allowed:
    raise ValueError(f"wincls/objectives.py: --loss={loss} does not work with "
                     f"--output={config.output}; expected one of {', '.join(allowed)}")
  if loss == "crf" and not config.use_crf:
    raise ValueError("wincls/objectives.py: --loss=crf needs ModelConfig.use_crf=True "
                     "(Config.model_config sets it for loss='crf')")


def _require(batch: Mapping[str, Any], names: tuple[str, ...], loss: str) -> None:
  missing = [name for name in names if name not in batch]
  if missing:
    raise ValueError(f"wincls/objectives.py: batch for --loss={loss} lacks "
                     f"{missing}; it has {sorted(batch)}")


def _dropout_key(key, stream, train, config):
  if not train or config.dropout <= 0.0:
    return None
  if key is None:
    raise ValueError("wincls/objectives.py: dropout needs a key (got key=None)")
  return jax.random.fold_in(key, stream)


def _corrupted_scores(params, batch, *, config, key, train, num_corruptions):
  if key is None:
    raise ValueError("wincls/objectives.py: --loss=max_margin with --output=score "
                     "needs a key for the corruptions (got key=None)")
  window_ids = batch["window_ids"]
  batch_size, window_len = window_ids.shape
  corrupted = losses.corrupt_centre(
      jax.random.fold_in(key, CORRUPT_STREAM), window_ids,
      num_corruptions=num_corruptions, low=losses.FIRST_WORD_ID,
      high=config.vocab_size)
  feature_ids = batch.get("feature_ids")
  if feature_ids is not None:
    feature_ids = jnp.broadcast_to(
        feature_ids[:, None], (batch_size, num_corruptions) + feature_ids.shape[1:])
    feature_ids = feature_ids.reshape(
        (batch_size * num_corruptions,) + feature_ids.shape[2:])
  scores = models.apply(
      params, corrupted.reshape(batch_size * num_corruptions, window_len), feature_ids,
      config=config,
      dropout_key=_dropout_key(key, CORRUPTED_DROPOUT_STREAM, train, config))
  return scores.reshape(batch_size, num_corruptions)


def token_losses(params, batch, *, config: config_lib.ModelConfig, loss: str, key,
                 margin: float = 1.0, num_corruptions: int = 1,
                 train: bool = True) -> Array:
  """Per-example losses ``[B]`` of a token batch (any loss but "crf")."""
  check_loss(loss, config)
  if loss == "crf":
    raise ValueError("wincls/objectives.py token_losses: --loss=crf takes a sentence batch")
  _require(batch, ("window_ids", "labels"), loss)
  scores = models.apply(params, batch["window_ids"], batch.get("feature_ids"),
                        config=config,
                        dropout_key=_dropout_key(key, DROPOUT_STREAM, train, config))
  labels = batch["labels"]
  if loss == "cross_entropy":
    return losses.softmax_cross_entropy(logits=scores, labels=labels)
  if loss == "hinge_ww":
    return losses.hinge_weston_watkins(scores=scores, labels=labels, margin=margin)
  if loss == "hinge_cs" or (loss == "max_margin" and config.output == "multiclass"):
    return losses.hinge_crammer_singer(scores=scores, labels=labels, margin=margin)
  if loss == "logistic":
    return losses.binary_logistic(scores=scores, labels=labels)
  # max_margin on a single score: the lecture's corrupted-window objective.
  corrupted = _corrupted_scores(params, batch, config=config, key=key, train=train,
                                num_corruptions=num_corruptions)
  positive = losses.max_margin(scores=scores, corrupted_scores=corrupted, margin=margin)
  negative = jax.nn.relu(margin + scores)
  return jnp.where(labels == 1, positive, negative)


def loss_fn(params, batch, *, config: config_lib.ModelConfig, loss: str, key,
            margin: float = 1.0, num_corruptions: int = 1, train: bool = True):
  """Mean loss of a batch and the sums it came from.

  Args:
    params: ``models.init_params``'s pytree.
    batch: a token batch, or a sentence batch for ``loss="crf"`` (module docstring).
    config: the model's static settings.
    loss: one of ``wincls.config.LOSSES``.
    key: a ``jax.random.key`` for dropout and corruptions (may be ``None`` when
      neither is used).
    margin: Δ of the hinge losses.
    num_corruptions: k, corrupted windows per positive window (max_margin, score).
    train: False turns dropout off.

  Returns:
    ``(mean_loss, aux)`` with ``aux = {"loss_sum": Σ w·loss, "weight_sum": Σ w}``
    (scalars), so means over several batches or devices can be formed exactly.
  """
  check_loss(loss, config)
  if loss == "crf":
    _require(batch, ("window_ids", "labels", "mask"), loss)
    window_ids = batch["window_ids"]
    if window_ids.ndim != 3:
      raise ValueError("wincls/objectives.py: --loss=crf needs a sentence batch with "
                       f"window_ids [B, T, W], got shape {tuple(window_ids.shape)}")
    batch_size, length, window_len = window_ids.shape
    feature_ids = batch.get("feature_ids")
    if feature_ids is not None:
      feature_ids = feature_ids.reshape((batch_size * length,) + feature_ids.shape[2:])
    emissions = models.apply(
        params, window_ids.reshape(batch_size * length, window_len), feature_ids,
        config=config, dropout_key=_dropout_key(key, DROPOUT_STREAM, train, config))
    emissions = emissions.reshape(batch_size, length, -1)
    per_sentence = crf.crf_nll(emissions=emissions, labels=batch["labels"],
                               mask=batch["mask"], crf_params=params["crf"])
    loss_sum = jnp.sum(per_sentence)
    weight_sum = jnp.sum(batch["mask"].astype(per_sentence.dtype))
  else:
    per_example = token_losses(params, batch, config=config, loss=loss, key=key,
                               margin=margin, num_corruptions=num_corruptions,
                               train=train)
    weights = batch.get("weights")
    if weights is None:
      weights = jnp.ones_like(per_example)
    weights = weights.astype(per_example.dtype)
    loss_sum = jnp.sum(weights * per_example)
    weight_sum = jnp.sum(weights)
  mean = loss_sum / jnp.maximum(weight_sum, 1.0)
  return mean, {"loss_sum": loss_sum, "weight_sum": weight_sum}
