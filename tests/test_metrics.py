"""Tests of wincls/metrics.py: conlleval entity scores equal seqeval's."""

import os
from pathlib import Path

import numpy as np
import pytest
from seqeval import metrics as seqeval_metrics

from wincls import config as config_lib
from wincls import metrics
from wincls import train
from wincls.data import conll
from wincls.data import tags as tags_lib

_REPO = Path(__file__).resolve().parents[1]

# (gold, pred) pairs of sentences. Gold in IOB1 (CoNLL-2003's scheme), the
# predictions in IOBES/IO/IOB2 including sequences invalid in their scheme.
HAND_CASES = {
    "exact": ([["I-PER", "I-PER", "O", "I-LOC"]], [["B-PER", "E-PER", "O", "S-LOC"]]),
    "iob1_b_after_same_type": ([["I-PER", "B-PER", "O"]], [["S-PER", "S-PER", "O"]]),
    "io_merges_adjacent": ([["I-PER", "B-PER", "O"]], [["I-PER", "I-PER", "O"]]),
    "wrong_type": ([["I-ORG", "I-ORG"]], [["B-LOC", "E-LOC"]]),
    "boundary_off": ([["O", "I-MISC", "I-MISC", "O"]], [["O", "S-MISC", "S-MISC", "O"]]),
    "invalid_iobes": ([["I-PER", "I-PER", "O", "I-ORG", "O"]],
                      [["I-PER", "E-PER", "O", "E-ORG", "B-ORG"]]),
    "e_after_o_and_type_switch": ([["O", "I-LOC", "I-ORG", "O"]],
                                  [["O", "E-LOC", "I-ORG", "E-PER"]]),
    "no_predictions": ([["I-PER", "O"], ["O", "I-LOC"]], [["O", "O"], ["O", "O"]]),
    "no_gold": ([["O", "O", "O"]], [["B-PER", "I-PER", "S-LOC"]]),
    "several_sentences": ([["I-PER", "O"], ["I-LOC", "I-LOC"], ["O", "I-ORG", "I-ORG"]],
                          [["S-PER", "O"], ["B-LOC", "I-LOC"], ["O", "B-ORG", "O"]]),
    "hyphenated_types": ([["B-geo-loc", "I-geo-loc", "O", "B-person"]],
                         [["B-geo-loc", "E-geo-loc", "O", "S-company"]]),
}


def _seqeval(gold, pred):
  kwargs = dict(zero_division=0)
  return (seqeval_metrics.precision_score(gold, pred, **kwargs),
          seqeval_metrics.recall_score(gold, pred, **kwargs),
          seqeval_metrics.f1_score(gold, pred, **kwargs))


@pytest.mark.parametrize("name", sorted(HAND_CASES))
def test_entity_scores_equal_seqeval_on_hand_cases(name):
  gold, pred = HAND_CASES[name]
  scores = metrics.entity_scores(gold, pred)
  np.testing.assert_allclose((scores["precision"], scores["recall"], scores["f1"]),
                             _seqeval(gold, pred), atol=1e-12)


def test_entity_scores_counts_and_per_type():
  gold = [["I-PER", "I-PER", "O", "I-LOC", "O", "I-ORG"]]
  pred = [["B-PER", "E-PER", "O", "B-LOC", "E-LOC", "S-MISC"]]
  scores = metrics.entity_scores(gold, pred)
  assert (scores["num_gold"], scores["num_pred"], scores["num_correct"]) == (3, 3, 1)
  assert sorted(scores["per_type"]) == ["LOC", "MISC", "ORG", "PER"]
  assert scores["per_type"]["PER"]["f1"] == 1.0
  assert scores["per_type"]["LOC"]["f1"] == 0.0  # boundary differs
  assert scores["per_type"]["MISC"]["precision"] == 0.0
  assert scores["per_type"]["ORG"]["recall"] == 0.0
  report = seqeval_metrics.classification_report(gold, pred, output_dict=True,
                                                 zero_division=0)
  for type_, s in scores["per_type"].items():
    assert s["f1"] == pytest.approx(report[type_]["f1-score"])


def test_entity_scores_rejects_length_mismatch():
  with pytest.raises(ValueError, match="sentence 0 has 2 gold tags but 1"):
    metrics.entity_scores([["O", "O"]], [["O"]])


def test_confusion_matrix_and_accuracy():
  gold = np.array([0, 1, 2, 2, 1])
  pred = np.array([0, 2, 2, 1, 1])
  confusion = metrics.confusion_matrix(gold, pred, num_classes=3)
  np.testing.assert_array_equal(confusion, [[1, 0, 0], [0, 1, 1], [0, 1, 1]])
  assert confusion.sum() == 5
  assert metrics.token_accuracy([[0, 1, 2], [2, 1]], [[0, 2, 2], [1, 1]]) == 3 / 5
  with pytest.raises(ValueError, match=r"ids must be in \[0, 3\)"):
    metrics.confusion_matrix(np.array([3]), np.array([0]), num_classes=3)


def test_detection_scores():
  gold = np.array([1, 1, 0, 0, 1, 0], bool)
  pred = np.array([1, 0, 1, 0, 1, 0], bool)
  scores = metrics.detection_scores(gold, pred)
  assert scores["precision"] == pytest.approx(2 / 3)
  assert scores["recall"] == pytest.approx(2 / 3)
  assert scores["f1"] == pytest.approx(2 / 3)
  assert scores["accuracy"] == pytest.approx(4 / 6)
  empty = metrics.detection_scores(np.zeros(3, bool), np.zeros(3, bool))
  assert (empty["precision"], empty["recall"], empty["f1"]) == (0.0, 0.0, 0.0)


def test_evaluate_tags_accuracy_in_label_scheme():
  gold = [["I-PER", "B-PER", "O"]]  # iob1: two entities
  pred = [["S-PER", "S-PER", "O"]]
  labels = ["O", "B-PER", "I-PER", "E-PER", "S-PER"]
  result = metrics.evaluate_tags(gold, pred, gold_scheme="iob1", label_scheme="iobes",
                                 labels=labels)
  assert result["f1"] == 1.0 and result["accuracy"] == 1.0
  assert np.asarray(result["confusion"]).trace() == 3


def _conll_dir():
  candidates = [os.environ.get("WINCLS_CONLL2003_DIR", ""),
                str(_REPO.parent / "shared" / "data" / "conll2003")]
  for candidate in candidates:
    if candidate and (Path(candidate) / "eng.train").is_file() and (
        Path(candidate) / "eng.testa").is_file():
      return candidate
  return None


@pytest.fixture(scope="module")
def conll_run(tmp_path_factory):
  data_dir = _conll_dir()
  if data_dir is None:
    pytest.skip("CoNLL-2003 not found (set WINCLS_CONLL2003_DIR or put it in "
                "../shared/data/conll2003)")
  config = config_lib.Config(dataset="conll2003", data_dir=data_dir,
                             train_fraction=0.05, epochs=1, hidden_size=8,
                             embed_dim=8, batch_size=32, learning_rate=0.01,
                             label_scheme="iobes", activation="tanh",
                             dropout=0.0, word_dropout=0.0)
  workdir = tmp_path_factory.mktemp("conll_run")
  results = train.train_and_evaluate(config, workdir)
  return workdir, results


def test_entity_f1_equals_seqeval_on_real_predictions(conll_run):
  workdir, results = conll_run
  corpus = conll.read_conll(workdir / "predictions" / "dev.txt", tag_column=1)
  pred_corpus = conll.read_conll(workdir / "predictions" / "dev.txt", tag_column=2)
  gold = [list(t) for t in corpus.tags]  # IOB1, as in eng.testa
  pred = [list(t) for t in pred_corpus.tags]  # IOBES predictions, raw
  assert corpus.num_tokens == 51362
  invalid = sum(not tags_lib.is_valid(p, scheme="iobes") for p in pred)
  assert invalid > 0  # the test covers predictions conlleval has to repair
  ours = metrics.entity_scores(gold, pred)
  assert 0.05 < ours["f1"] < 0.95  # a real, imperfect tagger
  assert ours["f1"] == pytest.approx(results["seeds"][0]["dev_f1"], abs=1e-12)
  # seqeval's default mode on the raw sequences...
  np.testing.assert_allclose((ours["precision"], ours["recall"], ours["f1"]),
                             _seqeval(gold, pred), atol=1e-12)
  # ...and on both converted to IOB2 (gold from IOB1, predictions repaired).
  gold_iob2 = [tags_lib.to_scheme(g, source="iob1", target="iob2") for g in gold]
  pred_iob2 = [tags_lib.repair(p, scheme="iob2") for p in pred]
  assert seqeval_metrics.f1_score(gold_iob2, pred_iob2) == pytest.approx(ours["f1"],
                                                                         abs=1e-12)
  report = seqeval_metrics.classification_report(gold, pred, output_dict=True,
                                                 zero_division=0)
  for type_, s in ours["per_type"].items():
    assert s["f1"] == pytest.approx(report[type_]["f1-score"], abs=1e-12)


def test_average_precision_by_hand_and_against_its_definition():
  from wincls import metrics
  # Ranking (by score): G N G N -> precision at the gold hits 1/1 and 2/3.
  gold = np.array([True, False, True, False])
  scores = np.array([4.0, 3.0, 2.0, 1.0])
  assert metrics.average_precision(gold, scores) == pytest.approx((1 + 2 / 3) / 2)
  # A shift or rescaling of the scores changes no decision-free ranking.
  assert metrics.average_precision(gold, 10 * scores - 7) == pytest.approx((1 + 2 / 3) / 2)
  # Ties rank as one block: all tied -> precision = prevalence.
  assert metrics.average_precision(gold, np.zeros(4)) == pytest.approx(0.5)
  assert metrics.average_precision(np.zeros(4, bool), scores) == 0.0
  rng = np.random.default_rng(0)
  gold, scores = rng.random(200) < 0.2, rng.normal(size=200)
  order = np.argsort(-scores)
  hits = np.flatnonzero(gold[order])
  expected = np.mean([(i + 1) / (k + 1) for i, k in enumerate(hits)])
  assert metrics.average_precision(gold, scores) == pytest.approx(expected)
  out = metrics.detection_scores(gold, scores > 0, scores=scores)
  assert out["average_precision"] == pytest.approx(expected)


def test_recall_by_known_splits_gold_entities_by_their_words():
  words = [["John", "Smithers", "visited", "New", "York"], ["Acme", "Corp", "won"]]
  gold = [["B-PER", "I-PER", "O", "B-LOC", "I-LOC"], ["B-ORG", "I-ORG", "O"]]
  pred = [["B-PER", "I-PER", "O", "B-LOC", "O"], ["B-ORG", "I-ORG", "O"]]
  known = {"John", "visited", "New", "York", "Acme", "Corp", "won"}.__contains__
  out = metrics.recall_by_known(words, gold, pred, known)
  # "Smithers" is unknown: John Smithers (found) is the one unknown entity;
  # New York (missed) and Acme Corp (found) are known.
  assert out["unknown"] == {"num_gold": 1, "num_correct": 1, "recall": 1.0}
  assert out["known"] == {"num_gold": 2, "num_correct": 1, "recall": 0.5}
