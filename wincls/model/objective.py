"""The training objective and its hand gradient, both on ``network.forward``.

``loss_fn(params, batch, ...) -> (mean_loss, aux)`` is what ``jax.grad``
differentiates; ``hand_grad`` (same arguments) returns ``(mean_loss, grads)``
computed without autodiff: the loss spec's gradient (``wincls/model/losses.py``)
gives ``δ = ∂J/∂scores`` and ``network.backward`` carries it back in the
lecture's δ form. Both run the same ``forward`` below, so they cannot drift.

Batches (docs/architecture.md): a token batch ``{"window_ids": [B, W],
"feature_ids": [B, W, K], "labels": [B], "weights": [B]}`` (weight 0 marks a
padding row; ``weights`` may be absent = all ones) has mean
``Σ w·loss / max(Σ w, 1)``; a sentence batch (a ``sentence`` loss: crf)
``{"window_ids": [B, T, W], "feature_ids": [B, T, W, K], "labels": [B, T],
"mask": [B, T]}`` has mean ``Σ_sentences nll / max(Σ mask, 1)``.

Randomness, all from ``key``: dropout of the batch's windows uses
``fold_in(key, DROPOUT_STREAM)`` as ``network.forward``'s ``dropout_key``; the
corruptions (a ``corrupted`` loss) ``fold_in(key, CORRUPT_STREAM)``; dropout of
the corrupted windows ``fold_in(key, CORRUPTED_DROPOUT_STREAM)``. Dropout is on
only when ``train=True`` and a rate is above 0 (``network.uses_dropout``).
Corrupted windows keep the original window's feature ids (only the centre word
id changes). A batch may
carry the corrupted centre words already (``with_corruptions`` draws the same
ids from the same key): then they are used, so a sparse step can gather their
rows first.
"""

from __future__ import annotations

from typing import Any, Mapping

import jax
import jax.numpy as jnp

from wincls.model import settings as config_lib
from wincls.model import losses
from wincls.model import network

Array = jax.Array

DROPOUT_STREAM = 0
CORRUPT_STREAM = 1
CORRUPTED_DROPOUT_STREAM = 2
# A token batch may carry its corrupted windows' centre words [B, k]
# (``with_corruptions``); ``forward`` draws them itself when it does not.
CORRUPTED_WORDS = "corrupted_words"
# The batch fields that hold word ids, i.e. rows of ``params["embed"]["words"]``
# (sparse updates gather and remap each: ``wincls.train.sparse``).
WORD_ID_FIELDS = ("window_ids", CORRUPTED_WORDS)


def check_loss(loss: str, config: config_lib.ModelConfig) -> losses.LossSpec:
  """The loss's spec; ValueError unless it is known and fits ``config``."""
  spec = losses.get(loss, config.output)
  if spec.kind == "sentence" and not config.use_crf:
    raise ValueError(f"--loss={loss} needs ModelConfig.use_crf=True "
                     "(Config.model_config sets it for a sentence loss)")
  return spec


def _require(batch: Mapping[str, Any], names: tuple[str, ...], loss: str) -> None:
  missing = [name for name in names if name not in batch]
  if missing:
    raise ValueError(f"wincls/model/objective.py: batch for --loss={loss} lacks "
                     f"{missing}; it has {sorted(batch)}")


def _dropout_key(key, stream: int, train: bool, config: config_lib.ModelConfig):
  if not train or not network.uses_dropout(config):
    return None
  if key is None:
    raise ValueError("wincls/model/objective.py: dropout needs a key (got key=None)")
  return jax.random.fold_in(key, stream)


def _draw_corruptions(window_ids, *, config, loss, key, num_corruptions):
  """``[B, k]`` centre words from all ids (key ``fold_in(key, CORRUPT_STREAM)``)."""
  if key is None:
    raise ValueError(f"wincls/model/objective.py: --loss={loss} needs a key for the "
                     "corruptions (got key=None)")
  return losses.corruption_words(jax.random.fold_in(key, CORRUPT_STREAM), window_ids,
                                 num_corruptions=num_corruptions, high=config.vocab_size)


def with_corruptions(batch: Mapping[str, Any], *, config: config_lib.ModelConfig,
                     loss: str, key, num_corruptions: int = 1) -> Mapping[str, Any]:
  """``batch`` plus ``CORRUPTED_WORDS`` ``[B, k]`` for a ``corrupted`` loss.

  The corrupted windows' centre words, drawn as ``forward`` would draw them
  (same key, same ids), so that a caller can see them before the loss runs:
  sparse updates gather and update their rows too. Other kinds, or a batch
  that has them already: ``batch`` unchanged.
  """
  if check_loss(loss, config).kind != "corrupted" or CORRUPTED_WORDS in batch:
    return batch
  _require(batch, ("window_ids",), loss)
  return {**batch, CORRUPTED_WORDS: _draw_corruptions(
      batch["window_ids"], config=config, loss=loss, key=key,
      num_corruptions=num_corruptions)}


def _corrupted_forward(params, batch, *, config, key, train, num_corruptions, loss):
  """Scores ``[B, k]`` of k corrupted copies of each window, and their cache."""
  window_ids = batch["window_ids"]
  batch_size, window_len = window_ids.shape
  words = batch.get(CORRUPTED_WORDS)
  if words is None:
    rows = params["embed"]["words"].shape[0]
    if rows != config.vocab_size:  # e.g. a sparse step's rows
      raise ValueError(
          f"wincls/model/objective.py: --loss={loss} draws corrupted words from all "
          f"{config.vocab_size} ids but the word table has {rows} rows; draw them "
          "first (objective.with_corruptions) so that their rows are there")
    words = _draw_corruptions(window_ids, config=config, loss=loss, key=key,
                              num_corruptions=num_corruptions)
  elif words.shape != (batch_size, num_corruptions):
    raise ValueError(f"wincls/model/objective.py: batch[{CORRUPTED_WORDS!r}] has shape "
                     f"{tuple(words.shape)}, expected [B, k] = "
                     f"{[batch_size, num_corruptions]} (--num_corruptions)")
  corrupted = losses.replace_centre(window_ids, words)
  feature_ids = batch.get("feature_ids")
  if feature_ids is not None:
    feature_ids = jnp.broadcast_to(
        feature_ids[:, None], (batch_size, num_corruptions) + feature_ids.shape[1:]
    ).reshape((batch_size * num_corruptions,) + feature_ids.shape[1:])
  scores, cache = network.forward(
      params, corrupted.reshape(batch_size * num_corruptions, window_len), feature_ids,
      config=config,
      dropout_key=_dropout_key(key, CORRUPTED_DROPOUT_STREAM, train, config))
  return scores.reshape(batch_size, num_corruptions), cache


def _sentence_forward(params, batch, spec, *, config, key, train, loss):
  _require(batch, ("window_ids", "labels", "mask"), loss)
  window_ids = batch["window_ids"]
  if window_ids.ndim != 3:
    raise ValueError(f"wincls/model/objective.py: --loss={loss} needs a sentence batch "
                     f"with window_ids [B, T, W], got shape {tuple(window_ids.shape)}")
  batch_size, length, window_len = window_ids.shape
  feature_ids = batch.get("feature_ids")
  if feature_ids is not None:
    feature_ids = feature_ids.reshape((batch_size * length,) + feature_ids.shape[2:])
  emissions, cache = network.forward(
      params, window_ids.reshape(batch_size * length, window_len), feature_ids,
      config=config, dropout_key=_dropout_key(key, DROPOUT_STREAM, train, config))
  emissions = emissions.reshape(batch_size, length, -1)
  per_sentence = spec.forward(emissions=emissions, labels=batch["labels"],
                              mask=batch["mask"], crf_params=params["crf"])
  return {"scores": emissions, "cache": cache, "per_example": per_sentence,
          "loss_sum": jnp.sum(per_sentence),
          "weight_sum": jnp.sum(batch["mask"].astype(per_sentence.dtype))}


def forward(params, batch, *, config: config_lib.ModelConfig, loss: str, key,
            margin: float = 1.0, num_corruptions: int = 1, train: bool = True
            ) -> dict[str, Any]:
  """The batch's losses with everything the hand gradient needs.

  Returns:
    ``{"spec", "scores", "cache", "per_example", "loss_sum", "weight_sum"}``
    plus ``"weights"`` (token batches) and ``"corrupted_scores"``,
    ``"corrupted_cache"`` (a ``corrupted`` loss).
  """
  spec = check_loss(loss, config)
  if spec.kind == "sentence":
    tape = _sentence_forward(params, batch, spec, config=config, key=key, train=train,
                             loss=loss)
    return {"spec": spec, **tape}
  _require(batch, ("window_ids", "labels"), loss)
  scores, cache = network.forward(
      params, batch["window_ids"], batch.get("feature_ids"), config=config,
      dropout_key=_dropout_key(key, DROPOUT_STREAM, train, config))
  tape = {"spec": spec, "scores": scores, "cache": cache}
  kwargs = dict(scores=scores, labels=batch["labels"], margin=margin)
  if spec.kind == "corrupted":
    tape["corrupted_scores"], tape["corrupted_cache"] = _corrupted_forward(
        params, batch, config=config, key=key, train=train,
        num_corruptions=num_corruptions, loss=loss)
    kwargs["corrupted_scores"] = tape["corrupted_scores"]
  per_example = spec.forward(**kwargs)
  weights = batch.get("weights")
  weights = (jnp.ones_like(per_example) if weights is None
             else weights.astype(per_example.dtype))
  tape.update(per_example=per_example, weights=weights,
              loss_sum=jnp.sum(weights * per_example), weight_sum=jnp.sum(weights))
  return tape


def token_losses(params, batch, *, config: config_lib.ModelConfig, loss: str, key,
                 margin: float = 1.0, num_corruptions: int = 1,
                 train: bool = True) -> Array:
  """Per-example losses ``[B]`` of a token batch (any but a sentence loss)."""
  if check_loss(loss, config).kind == "sentence":
    raise ValueError(f"wincls/model/objective.py token_losses: --loss={loss} takes a "
                     "sentence batch")
  return forward(params, batch, config=config, loss=loss, key=key, margin=margin,
                 num_corruptions=num_corruptions, train=train)["per_example"]


def loss_fn(params, batch, *, config: config_lib.ModelConfig, loss: str, key,
            margin: float = 1.0, num_corruptions: int = 1, train: bool = True):
  """Mean loss of a batch and the sums it came from.

  Args:
    params: ``network.init_params``'s pytree.
    batch: a token batch, or a sentence batch for a sentence loss (module docstring).
    config: the model's static settings.
    loss: a key of ``losses.LOSSES``.
    key: a ``jax.random.key`` for dropout and corruptions (None when neither is used).
    margin: Δ of the hinge losses.
    num_corruptions: k corrupted windows per true window (max_margin, score).
    train: False turns dropout off.

  Returns:
    ``(mean_loss, {"loss_sum": Σ w·loss, "weight_sum": Σ w})`` (scalars), so means
    over several batches or devices can be formed exactly.
  """
  tape = forward(params, batch, config=config, loss=loss, key=key, margin=margin,
                 num_corruptions=num_corruptions, train=train)
  mean = tape["loss_sum"] / jnp.maximum(tape["weight_sum"], 1.0)
  return mean, {"loss_sum": tape["loss_sum"], "weight_sum": tape["weight_sum"]}


def _add(a, b):
  return jax.tree.map(jnp.add, a, b)


def _scale_rows(scale: Array, g: Array) -> Array:
  return scale.reshape(scale.shape + (1,) * (g.ndim - scale.ndim)) * g


def _sentence_grads(params, batch, tape, *, config):
  emissions = tape["scores"]
  denominator = jnp.maximum(tape["weight_sum"], 1.0)
  g = tape["spec"].gradient(emissions=emissions, labels=batch["labels"],
                            mask=batch["mask"], crf_params=params["crf"])
  delta = (g["emissions"] / denominator).reshape(-1, emissions.shape[-1])
  grads = network.backward(params, tape["cache"], delta, config=config)
  grads["crf"] = {name: jnp.sum(g[name], axis=0) / denominator
                  for name in ("transitions", "start", "end")}
  return grads


def _token_grads(params, batch, tape, *, config, margin):
  scale = tape["weights"] / jnp.maximum(tape["weight_sum"], 1.0)  # ∂J/∂loss_b
  kwargs = dict(scores=tape["scores"], labels=batch["labels"], margin=margin)
  if tape["spec"].kind != "corrupted":
    g = tape["spec"].gradient(**kwargs)
    return network.backward(params, tape["cache"], _scale_rows(scale, g), config=config)
  g, g_corrupted = tape["spec"].gradient(corrupted_scores=tape["corrupted_scores"],
                                         **kwargs)
  grads = network.backward(params, tape["cache"], scale * g, config=config)
  delta = (scale[:, None] * g_corrupted).reshape(-1)
  return _add(grads, network.backward(params, tape["corrupted_cache"], delta,
                                      config=config))


def hand_grad(params: Mapping[str, Any], batch: Mapping[str, Any], *,
              config: config_lib.ModelConfig, loss: str, key, margin: float = 1.0,
              num_corruptions: int = 1, train: bool = True) -> tuple[Array, dict]:
  """``loss_fn``'s mean loss and its gradient, by hand (no autodiff).

  A drop-in for ``jax.value_and_grad(loss_fn, has_aux=True)`` except that it
  returns ``(mean_loss, grads)``; ``grads`` has the structure, shapes and dtypes
  of ``params`` (zeros for parts the loss does not use). Dropout masks and
  corruptions are the ones ``loss_fn`` draws from the same ``key``; frozen word
  vectors get their gradient too (the optimizer masks the update).
  """
  tape = forward(params, batch, config=config, loss=loss, key=key, margin=margin,
                 num_corruptions=num_corruptions, train=train)
  if tape["spec"].kind == "sentence":
    grads = _sentence_grads(params, batch, tape, config=config)
  else:
    grads = _token_grads(params, batch, tape, config=config, margin=margin)
  mean = tape["loss_sum"] / jnp.maximum(tape["weight_sum"], 1.0)
  return mean, {name: grads[name] if name in grads
                else jax.tree.map(jnp.zeros_like, value)
                for name, value in params.items()}
