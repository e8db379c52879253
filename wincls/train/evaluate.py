"""The model as a tagger: predictions, tags of the label scheme, conlleval scores.

Predictions are decoded to tags of the label scheme (argmax, or Viterbi for
the CRF) and scored against the gold tags of the original file with conlleval
semantics (``wincls.metrics``). ``output="score"`` runs are binary detectors
of ``target_type`` (decision ``s > 0``) scored by token-level detection
P/R/F1; their ``dev_f1`` is that detection F1. ``epoch_rows`` and
``seed_results`` turn the scores into ``metrics.jsonl`` rows and
``results.json``'s per-seed entries.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from wincls import config as config_lib
from wincls import metrics as metrics_lib
from wincls.data import conll
from wincls.data import vocab as vocab_lib
from wincls.data import windows as windows_lib
from wincls.train import distributed
from wincls.train import prepare
from wincls.train import step

Array = jax.Array

EVAL_BATCH_SIZE = 2048  # windows per evaluation step (sentences: / T)


class Tagger:
  """Predicts tags for encoded corpora with (a stack of) parameters.

  Args:
    model_config: the model's settings.
    config: the run's config (loss, output, label scheme).
    label_vocab: the labels.
    layout: devices to split the evaluation batches over (None: one device).
  """

  def __init__(self, model_config: config_lib.ModelConfig, config: config_lib.Config,
               label_vocab: vocab_lib.LabelVocab, *,
               layout: distributed.Layout | None = None):
    self.model_config = model_config
    self.config = config
    self.label_vocab = label_vocab
    self.layout = layout

  def _put(self, arrays: dict[str, np.ndarray]) -> dict[str, Array]:
    if self.layout is None:
      return jax.tree.map(jnp.asarray, arrays)
    return distributed.put_replicated(arrays, self.layout)

  def predict(self, params: Any, data: windows_lib.WindowedCorpus) -> np.ndarray:
    """Per-seed predictions ``[S, N]`` (class ids, or scores for output="score").

    Args:
      params: parameters with a leading seed axis ``[S, ...]``.
      data: the encoded corpus.
    """
    config = self.config
    num_seeds = jax.tree.leaves(params)[0].shape[0]
    if config.loss != "crf":
      fn = step.eval_fn(self.model_config, config.loss, EVAL_BATCH_SIZE, self.layout)
      arrays = {"window_ids": data.window_ids, "feature_ids": data.feature_ids}
      return np.asarray(fn(params, self._put(arrays)))
    out = np.zeros((num_seeds, data.window_ids.shape[0]), np.int32)
    starts = np.cumsum(data.lengths) - data.lengths
    for bucket in prepare.sentence_buckets(data, batch_size=1):
      arrays = {k: v for k, v in bucket.arrays.items() if k != "labels"}
      fn = step.eval_fn(self.model_config, "crf",
                         max(1, EVAL_BATCH_SIZE // bucket.length), self.layout)
      tags = np.asarray(fn(params, self._put(arrays)))  # [S, S_b, T]
      mask = bucket.arrays["mask"].astype(bool)
      rows = (starts[bucket.sentences][:, None] + np.arange(bucket.length)[None, :])
      out[:, rows[mask]] = tags[:, mask]
    return out

  def to_tags(self, predictions: np.ndarray, lengths: np.ndarray) -> list[list[str]]:
    """One seed's predictions ``[N]`` as per-sentence tags of the label scheme.

    For output="score": ``I-<target_type>`` where the score is > 0, else ``O``.
    """
    if self.config.output == "score":
      target = f"I-{self.config.target_type}"
      flat = [target if s > 0 else "O" for s in predictions]
    else:
      flat = self.label_vocab.decode(predictions)
    out, start = [], 0
    for n in np.asarray(lengths):
      out.append(flat[start:start + int(n)])
      start += int(n)
    return out

  def evaluate(self, predictions: np.ndarray, corpus: conll.Corpus,
               data: windows_lib.WindowedCorpus) -> dict[str, Any]:
    """Scores of one seed's predictions ``[N]`` against the corpus' gold tags.

    Returns:
      ``{"precision", "recall", "f1", "accuracy", ...}``: entity scores
      (``metrics.evaluate_tags``) for a multiclass tagger, detection scores
      (``metrics.detection_scores``) for output="score".
    """
    if self.config.output == "score":
      return metrics_lib.detection_scores(data.labels == 1, predictions > 0)
    return metrics_lib.evaluate_tags(
        corpus.tags, self.to_tags(predictions, data.lengths), gold_scheme=corpus.scheme,
        label_scheme=self.label_vocab.scheme, labels=self.label_vocab.labels)


def epoch_rows(epoch: int, seeds: list[int], train_sums: dict[str, np.ndarray],
               dev_scores: list[dict[str, Any]], *, active: np.ndarray,
               timing: dict[str, float], learning_rate: np.ndarray) -> list[dict[str, Any]]:
  """The ``metrics.jsonl`` rows of one epoch, one per active seed.

  Args:
    epoch: the 1-based epoch.
    seeds: the seeds, in the order of the arrays' leading axis ``[S]``.
    train_sums: the epoch's sums ``[S]`` (``step.train_epoch``'s).
    dev_scores: per seed, ``Tagger.evaluate``'s scores on dev.
    active: bool ``[S]``: seeds still training (not stopped early).
    timing: ``{"epoch_time", "eval_time", "windows_per_sec", ...}``, the same for
      every seed.
    learning_rate: ``[S]`` the injected learning rates.
  """
  rows = []
  for i, seed in enumerate(seeds):
    if not active[i]:
      continue
    scores = dev_scores[i]
    row = {
        "epoch": epoch, "seed": seed,
        "loss": float(train_sums["loss_sum"][i] / max(train_sums["weight_sum"][i], 1.0)),
        "dev_precision": scores["precision"], "dev_recall": scores["recall"],
        "dev_f1": scores["f1"], "dev_accuracy": scores["accuracy"],
        "param_norm": float(train_sums["param_norm"][i]),
        "grad_norm": float(train_sums["grad_norm_sum"][i] /
                           max(train_sums["num_steps"][i], 1.0)),
        "learning_rate": float(learning_rate[i]),
    }
    for type_, s in scores.get("per_type", {}).items():
      row[f"dev_f1_{type_}"] = s["f1"]
    row.update(timing)
    rows.append(row)
  return rows


def seed_results(seeds: list[int], scores: list[dict[str, Any]],
                 best_epoch: np.ndarray) -> list[dict[str, Any]]:
  """``results.json``'s ``"seeds"``: per seed, the scores of its best epoch."""
  out = []
  for i, seed in enumerate(seeds):
    s = scores[i]
    row = {"seed": seed, "best_epoch": int(best_epoch[i]), "dev_f1": s["f1"],
           "dev_precision": s["precision"], "dev_recall": s["recall"],
           "dev_accuracy": s["accuracy"]}
    if "per_type" in s:
      row["per_type"] = s["per_type"]
    out.append(row)
  return out
