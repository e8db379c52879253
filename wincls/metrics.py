"""Evaluation: entity P/R/F1 with conlleval semantics, token accuracy, confusion.

Entity scores follow the CoNLL shared task's ``conlleval``: a predicted entity
counts as correct only when its type and both boundaries equal a gold entity's.
Both sides are read into chunks by ``wincls.data.tags.spans``, which reads any
scheme (IOB1, IOB2, IOBES, IO written ``I-X``) and any invalid sequence the way
conlleval does, so the model's predictions in its label scheme are scored
directly against the gold tags of the original file (IOB1 for CoNLL-2003)
without converting either. ``seqeval.metrics.f1_score(gold, pred)`` in its
default mode reads chunks with the same rules (it is a port of conlleval), so
it gives the same numbers on the raw sequences (tests/test_metrics.py checks
this on hand cases and on a trained model's predictions).

All rates are fractions in ``[0, 1]``; a rate whose denominator is 0 is 0 (as in
conlleval and seqeval's default ``zero_division``).

The trainer scores the same gold sentences every epoch for every seed: a
sentence given as a tuple (``Corpus.tags`` holds tuples) has its chunks and
its tags in the label scheme memoised (``_chunks``, ``_in_scheme``), which
halves the time of ``evaluate_tags`` on CoNLL-2003 dev.
"""

from __future__ import annotations

import collections
import functools
from typing import Any, Sequence

import numpy as np

from wincls.data import tags as tags_lib


def prf(num_correct: int, num_pred: int, num_gold: int) -> tuple[float, float, float]:
  """Precision, recall and F1 from counts (0 where a denominator is 0)."""
  precision = num_correct / num_pred if num_pred else 0.0
  recall = num_correct / num_gold if num_gold else 0.0
  f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
  return precision, recall, f1


def _check_lengths(gold: Sequence[Sequence[Any]], pred: Sequence[Sequence[Any]]) -> None:
  if len(gold) != len(pred):
    raise ValueError(f"wincls/metrics.py: {len(gold)} gold sentences but "
                     f"{len(pred)} predicted ones")
  for i, (g, p) in enumerate(zip(gold, pred)):
    if len(g) != len(p):
      raise ValueError(f"wincls/metrics.py: sentence {i} has {len(g)} gold tags "
                       f"but {len(p)} predicted tags")


@functools.lru_cache(maxsize=1 << 16)
def _cached_chunks(tags: tuple[str, ...]) -> frozenset:
  return frozenset(tags_lib.spans(tags))


def _chunks(tags: Sequence[str]) -> frozenset:
  """``set(tags_lib.spans(tags))``, memoised for tuples (module docstring)."""
  if isinstance(tags, tuple):
    return _cached_chunks(tags)
  return frozenset(tags_lib.spans(tags))


@functools.lru_cache(maxsize=1 << 16)
def _in_scheme(tags: tuple[str, ...], source: str, target: str) -> tuple[str, ...]:
  return tuple(tags_lib.to_scheme(tags, source=source, target=target))


def entity_scores(gold_tags: Sequence[Sequence[str]],
                  pred_tags: Sequence[Sequence[str]]) -> dict[str, Any]:
  """Entity-level precision, recall and F1, overall and per type (conlleval).

  Args:
    gold_tags: per-sentence gold tags, any scheme.
    pred_tags: per-sentence predicted tags, any scheme (same lengths).

  Returns:
    ``{"precision", "recall", "f1", "num_gold", "num_pred", "num_correct",
    "per_type": {type: {same keys but per_type}}}``; ``per_type`` holds every
    type found in gold or predictions, sorted.
  """
  _check_lengths(gold_tags, pred_tags)
  counts = collections.defaultdict(lambda: [0, 0, 0])  # gold, pred, correct
  for gold, pred in zip(gold_tags, pred_tags):
    gold_spans = _chunks(gold)
    pred_spans = _chunks(pred)
    for type_, _, _ in gold_spans:
      counts[type_][0] += 1
    for type_, _, _ in pred_spans:
      counts[type_][1] += 1
    for type_, _, _ in gold_spans & pred_spans:
      counts[type_][2] += 1

  def scores(num_gold, num_pred, num_correct):
    precision, recall, f1 = prf(num_correct, num_pred, num_gold)
    return {"precision": precision, "recall": recall, "f1": f1,
            "num_gold": num_gold, "num_pred": num_pred, "num_correct": num_correct}

  totals = [sum(c[i] for c in counts.values()) for i in range(3)]
  result = scores(*totals)
  result["per_type"] = {t: scores(*counts[t]) for t in sorted(counts)}
  return result


def recall_by_known(words: Sequence[Sequence[str]], gold_tags: Sequence[Sequence[str]],
                    pred_tags: Sequence[Sequence[str]], known) -> dict[str, dict[str, Any]]:
  """Entity recall of the gold entities whose words are all ``known`` and of the rest.

  Args:
    words: per-sentence words.
    gold_tags, pred_tags: per-sentence tags, any scheme (same lengths).
    known: ``word -> bool`` (e.g. the word is in the training vocabulary).

  Returns:
    ``{"known": {...}, "unknown": {...}}``, each ``{"num_gold", "num_correct",
    "recall"}``; an entity is ``unknown`` when any of its words is not known.
  """
  _check_lengths(gold_tags, pred_tags)
  counts = {"known": [0, 0], "unknown": [0, 0]}  # gold, correct
  for sentence, gold, pred in zip(words, gold_tags, pred_tags):
    pred_spans = _chunks(pred)
    for span in _chunks(gold):
      side = "known" if all(known(w) for w in sentence[span[1]:span[2]]) else "unknown"
      counts[side][0] += 1
      counts[side][1] += span in pred_spans
  return {side: {"num_gold": g, "num_correct": c, "recall": c / g if g else 0.0}
          for side, (g, c) in counts.items()}


def token_accuracy(gold: Sequence[Sequence[Any]], pred: Sequence[Sequence[Any]]) -> float:
  """Fraction of tokens whose predicted label equals the gold one."""
  _check_lengths(gold, pred)
  total = sum(len(g) for g in gold)
  correct = sum(a == b for g, p in zip(gold, pred) for a, b in zip(g, p))
  return correct / total if total else 0.0


def confusion_matrix(gold_ids: np.ndarray, pred_ids: np.ndarray, *,
                     num_classes: int) -> np.ndarray:
  """Counts of (gold, predicted) label pairs.

  Args:
    gold_ids: int ``[num_tokens]``.
    pred_ids: int ``[num_tokens]``.
    num_classes: C.

  Returns:
    int64 ``[C, C]``; row = gold label, column = predicted label.
  """
  gold_ids = np.asarray(gold_ids, np.int64).ravel()
  pred_ids = np.asarray(pred_ids, np.int64).ravel()
  if gold_ids.shape != pred_ids.shape:
    raise ValueError(f"wincls/metrics.py confusion_matrix: {gold_ids.shape[0]} gold "
                     f"labels but {pred_ids.shape[0]} predictions")
  for name, ids in (("gold", gold_ids), ("pred", pred_ids)):
    if ids.size and (ids.min() < 0 or ids.max() >= num_classes):
      raise ValueError(f"wincls/metrics.py confusion_matrix: {name} ids must be in "
                       f"[0, {num_classes}), got [{ids.min()}, {ids.max()}]")
  flat = np.bincount(gold_ids * num_classes + pred_ids, minlength=num_classes ** 2)
  return flat.reshape(num_classes, num_classes)


def average_precision(gold: np.ndarray, scores: np.ndarray) -> float:
  """Average precision of a ranking: the mean, over the gold tokens, of the
  precision among the tokens scored at least as high (ties count together).

  Threshold-free, so it compares detectors whose scores are not calibrated to
  a decision at 0 (a margin loss only orders windows). 0 without gold tokens.
  """
  gold = np.asarray(gold, bool).ravel()
  scores = np.asarray(scores, np.float64).ravel()
  if not gold.any():
    return 0.0
  order = np.argsort(-scores, kind="stable")
  sorted_scores, hits = scores[order], gold[order]
  # The last index of each run of tied scores: a tie is ranked as one block.
  last = np.r_[np.flatnonzero(np.diff(sorted_scores) != 0), len(scores) - 1]
  true_positives = np.cumsum(hits)[last]
  precision = true_positives / (last + 1)
  new_hits = np.diff(np.r_[0, true_positives])
  return float(np.sum(precision * new_hits) / gold.sum())


def detection_scores(gold: np.ndarray, pred: np.ndarray,
                     scores: np.ndarray | None = None) -> dict[str, float]:
  """Token-level scores of a binary detector (output="score").

  Args:
    gold: bool ``[num_tokens]``, True where the token belongs to the target type.
    pred: bool ``[num_tokens]``, the detector's decisions.
    scores: the detector's scores ``[num_tokens]`` (adds ``average_precision``).

  Returns:
    ``{"precision", "recall", "f1", "accuracy", "num_gold", "num_pred",
    "num_correct"}`` where ``num_correct`` counts true positives, plus
    ``"average_precision"`` with ``scores``.
  """
  gold = np.asarray(gold, bool).ravel()
  pred = np.asarray(pred, bool).ravel()
  if gold.shape != pred.shape:
    raise ValueError(f"wincls/metrics.py detection_scores: {gold.size} gold labels "
                     f"but {pred.size} predictions")
  true_positives = int(np.sum(gold & pred))
  precision, recall, f1 = prf(true_positives, int(pred.sum()), int(gold.sum()))
  accuracy = float(np.mean(gold == pred)) if gold.size else 0.0
  out = {"precision": precision, "recall": recall, "f1": f1, "accuracy": accuracy,
         "num_gold": int(gold.sum()), "num_pred": int(pred.sum()),
         "num_correct": true_positives}
  if scores is not None:
    out["average_precision"] = average_precision(gold, scores)
  return out


def evaluate_tags(gold_tags: Sequence[Sequence[str]], pred_tags: Sequence[Sequence[str]],
                  *, gold_scheme: str, label_scheme: str,
                  labels: Sequence[str]) -> dict[str, Any]:
  """Everything the trainer reports for a multiclass tagger.

  Args:
    gold_tags: per-sentence gold tags of the original file (scheme
      ``gold_scheme``).
    pred_tags: per-sentence predictions, labels of ``label_scheme``.
    gold_scheme: the file's scheme (``Corpus.scheme``).
    label_scheme: the scheme the model predicts in.
    labels: the label vocabulary (index = class id), for the confusion matrix.

  Returns:
    ``entity_scores(gold_tags, pred_tags)`` plus ``"accuracy"`` (token accuracy
    against the gold tags converted to ``label_scheme``, i.e. what the
    classifier was trained to predict) and ``"confusion"`` (``[C, C]`` nested
    lists, rows gold, columns predicted, in ``labels`` order; gold labels absent
    from ``labels`` are left out of it).
  """
  result = entity_scores(gold_tags, pred_tags)
  gold_labels = [_in_scheme(g, gold_scheme, label_scheme) if isinstance(g, tuple)
                 else tags_lib.to_scheme(g, source=gold_scheme, target=label_scheme)
                 for g in gold_tags]
  result["accuracy"] = token_accuracy(gold_labels, pred_tags)
  index = {label: i for i, label in enumerate(labels)}
  pairs = [(index[g], index[p]) for gs, ps in zip(gold_labels, pred_tags)
           for g, p in zip(gs, ps) if g in index and p in index]
  gold_ids = np.array([g for g, _ in pairs], np.int64)
  pred_ids = np.array([p for _, p in pairs], np.int64)
  result["confusion"] = confusion_matrix(gold_ids, pred_ids,
                                         num_classes=len(labels)).tolist()
  return result
