"""The rows a run records: ``metrics.jsonl``'s and ``results.json``'s.

``epoch_rows``: one ``metrics.jsonl`` row per seed and epoch (the loss, dev
P/R/F1, norms, timing). ``seed_results``: ``results.json``'s ``"seeds"``, each
seed's best epoch. ``ensemble_results``: its ``dev_f1_ensemble`` and
``ensemble``, the seeds tagging dev together as ``predict.py --ensemble`` does.
The loop (``wincls/train/loop.py``) computes the scores; this module only
shapes them, so each key is written in one place.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from wincls.data import windows as windows_lib
from wincls.data import conll
from wincls.train import ensemble as ensemble_lib
from wincls.train import evaluate


def _scores(s: dict[str, Any]) -> dict[str, Any]:
  """A tagging's dev P/R/F1/accuracy (and per type) under ``results.json``'s keys."""
  row = {"dev_f1": s["f1"], "dev_precision": s["precision"], "dev_recall": s["recall"],
         "dev_accuracy": s["accuracy"]}
  if "per_type" in s:
    row["per_type"] = s["per_type"]
  return row


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
  return [{"seed": seed, "best_epoch": int(best_epoch[i]), **_scores(scores[i])}
          for i, seed in enumerate(seeds)]


def ensemble_results(tagger: evaluate.Tagger, best_params: Any, best_epoch: np.ndarray,
                     seeds: list[int], scores: list[dict[str, Any]],
                     dev: windows_lib.WindowedCorpus, dev_corpus: conll.Corpus
                     ) -> dict[str, Any]:
  """``results.json``'s ``dev_f1_ensemble`` and ``ensemble`` (its seeds, rule and
  dev scores): the seeds' best parameters ``[S, ...]`` tagging dev together, as
  ``predict.py --ensemble`` does (``wincls.train.ensemble``). One seed is its
  own ensemble (``scores``, not recomputed); no seed with a best epoch: null."""
  indices = ensemble_lib.ensemble_seeds(best_epoch)
  if not indices:
    return {"dev_f1_ensemble": None, "ensemble": None}
  if len(indices) == 1:
    s = scores[indices[0]]
  else:
    params = ensemble_lib.select_seeds(best_params, indices)
    s = tagger.evaluate(tagger.predict_ensemble(params, dev), dev_corpus, dev)
  entry = {"seeds": [seeds[i] for i in indices],
           "rule": ensemble_lib.rule_of(tagger.config.loss, tagger.config.output),
           **_scores(s)}
  return {"dev_f1_ensemble": s["f1"], "ensemble": entry}
