"""Tests of ``python -m wincls.data stats`` (the checker) and ``score`` (conlleval)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from seqeval import metrics as seqeval_metrics

from wincls.data import tags as tags_lib
from wincls.data.__main__ import main


def _conll2003_dir() -> Path:
  env = os.environ.get("WINCLS_CONLL2003_DIR")
  path = Path(env) if env else (
      Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "conll2003")
  if not (path / "eng.train").is_file() or not (path / "eng.testa").is_file():
    pytest.skip(f"CoNLL-2003 not found in {path} (set WINCLS_CONLL2003_DIR)")
  return path


def _run(*args):
  return subprocess.run([sys.executable, "-m", "wincls.data", "stats", *map(str, args)],
                        capture_output=True, text=True, timeout=120)


def test_stats_json_on_conll2003():
  directory = _conll2003_dir()
  result = _run(directory / "eng.train", directory / "eng.testa", "--json")
  assert result.returncode == 0, result.stderr
  train, testa = [json.loads(line) for line in result.stdout.splitlines()]
  # Published counts (Tjong Kim Sang & De Meulder 2003, Tables 1 and 2).
  assert train == {"path": str(directory / "eng.train"), "sentences": 14041,
                   "tokens": 203621, "documents": 946, "scheme": "iob1",
                   "entities": {"LOC": 7140, "MISC": 3438, "ORG": 6321, "PER": 6600}}
  assert testa == {"path": str(directory / "eng.testa"), "sentences": 3250,
                   "tokens": 51362, "documents": 216, "scheme": "iob1",
                   "entities": {"LOC": 1837, "MISC": 922, "ORG": 1341, "PER": 1842}}


def test_stats_bad_files_exit_nonzero_without_traceback(tmp_path):
  good = tmp_path / "good.txt"
  good.write_text("Peter B-PER\nBlackburn I-PER\n\n")
  columns = tmp_path / "columns.txt"
  columns.write_text("a B-PER\n\nb NN O\n")
  tag = tmp_path / "tag.txt"
  tag.write_text("a O\nb B-\n")
  binary = tmp_path / "binary.bin"
  binary.write_bytes(b"\x7fELF\x00\x01")
  missing = tmp_path / "missing.txt"
  result = _run(good, columns, tag, binary, missing)
  assert result.returncode != 0
  assert "Traceback" not in result.stderr
  errors = result.stderr.splitlines()
  assert errors == [
      f"{columns}:3: found 3 columns; expected 2 like the first token line (line 1)",
      f"{tag}:2: invalid tag 'B-'; expected O or B-/I-/E-/S- followed by an "
      "entity type, e.g. B-PER",
      f"{binary}:1: contains a NUL byte (a binary file?); expected UTF-8 text",
      f"{missing}: no such file; expected a CoNLL file (one token per line, the "
      "tag in the last column)"]
  assert result.stdout.startswith(f"{good}: 1 sentences, 2 tokens, 1 documents, "
                                  "scheme iob2\n  entities: 1 (PER 1)")


def test_a_reader_that_stops_early_ends_it_without_a_traceback(tmp_path):
  """``stats ... | head -1``: once the reader is gone the command ends quietly
  with 141 (128 + SIGPIPE), as a shell's own commands do (before: a traceback)."""
  good = tmp_path / "good.txt"
  good.write_text("Peter B-PER\nBlackburn I-PER\n\n")
  process = subprocess.Popen(
      [sys.executable, "-m", "wincls.data", "stats", *[str(good)] * 2000],
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  assert process.stdout.readline().startswith(str(good))
  process.stdout.close()
  stderr = process.stderr.read()
  assert process.wait(timeout=60) == 141, stderr
  assert stderr == ""


def test_stats_given_scheme(tmp_path, capsys):
  path = tmp_path / "iobes.txt"
  path.write_text("a S-PER\nb O\n\nc B-geo-loc\nd E-geo-loc\n")
  assert main(["stats", str(path), "--json", "--scheme", "iobes"]) == 0
  stats = json.loads(capsys.readouterr().out)
  assert stats["entities"] == {"PER": 1, "geo-loc": 1}
  assert stats["scheme"] == "iobes" and stats["documents"] == 1
  assert main(["stats", str(path), "--scheme", "iob2"]) == 1
  expected = f"{path}:1: tag 'S-PER' is not an iob2 tag; expected prefixes O/B/I"
  assert expected in capsys.readouterr().err


def test_stats_on_old_mac_line_ends_and_control_characters(tmp_path):
  """The checker reads CR-only files and refuses what the trainer would refuse."""
  cr = tmp_path / "cr.txt"
  cr.write_bytes(b"Peter B-PER\rBlackburn I-PER\r\rin O\r")
  control = tmp_path / "control.txt"
  control.write_bytes(b"a O\nb\x0cc O\n")
  result = _run(cr, control)
  assert result.returncode != 0 and "Traceback" not in result.stderr
  assert result.stdout.startswith(f"{cr}: 2 sentences, 3 tokens, 1 documents")
  assert result.stderr.splitlines() == [
      f"{control}:2: control character U+000C at column 2; expected printable text "
      "(columns separated by spaces or tabs)"]


# Gold IOB1 (CoNLL-2003's own), predictions IOB1 too; 14 tokens counting the
# -DOCSTART- line (a token tagged O O, as conlleval reads it).
HAND_FILE = """\
-DOCSTART- -X- O O

EU NNP I-ORG I-ORG
rejects VBZ O O
German JJ I-MISC I-MISC
call NN O O
to TO O O
boycott VB O O
British JJ I-MISC B-LOC
lamb NN O I-LOC
. . O O

Peter NNP I-PER B-PER
Blackburn NNP I-PER I-PER

Mary NNP I-PER I-PER
Paul NNP B-PER I-PER
"""


def _score(capsys, path, *flags):
  status = main(["score", str(path), *flags])
  out = capsys.readouterr()
  return status, out.out, out.err


def test_score_counts_a_hand_written_file(tmp_path, capsys):
  path = tmp_path / "hand.pred"
  path.write_text(HAND_FILE)
  # Gold: ORG EU, MISC German, MISC British, PER Peter Blackburn, PER Mary,
  # PER Paul (B- after an entity of its type starts a new one in IOB1).
  # Found: ORG EU, MISC German, LOC British lamb, PER Peter Blackburn (I-
  # continues B-), PER Mary Paul. Correct: EU, German, Peter Blackburn.
  # Tags equal as written on 10 of 14 tokens (not British, lamb, Peter, Paul).
  precision, recall = 3 / 5, 3 / 6
  f1 = 2 * precision * recall / (precision + recall)
  status, out, err = _score(capsys, path, "--json")
  assert status == 0 and err == ""
  scores = json.loads(out)
  assert scores == {
      "path": str(path), "tokens": 14,
      "phrases": {"gold": 6, "found": 5, "correct": 3},
      "accuracy": pytest.approx(10 / 14), "precision": pytest.approx(precision),
      "recall": pytest.approx(recall), "f1": pytest.approx(f1),
      "per_type": {
          "LOC": {"precision": 0.0, "recall": 0.0, "f1": 0.0,
                  "gold": 0, "found": 1, "correct": 0},
          "MISC": {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3),
                   "gold": 2, "found": 1, "correct": 1},
          "ORG": {"precision": 1.0, "recall": 1.0, "f1": 1.0,
                  "gold": 1, "found": 1, "correct": 1},
          "PER": {"precision": 0.5, "recall": pytest.approx(1 / 3),
                  "f1": pytest.approx(0.4), "gold": 3, "found": 2, "correct": 1}}}
  status, out, _ = _score(capsys, path)
  assert status == 0
  # conlleval's lines; per type the last figure is the phrases found.
  assert out.splitlines() == [
      "processed 14 tokens with 6 phrases; found: 5 phrases; correct: 3.",
      "accuracy:  71.43%; precision:  60.00%; recall:  50.00%; FB1:  54.55",
      "              LOC: precision:   0.00%; recall:   0.00%; FB1:   0.00  1",
      "             MISC: precision: 100.00%; recall:  50.00%; FB1:  66.67  1",
      "              ORG: precision: 100.00%; recall: 100.00%; FB1: 100.00  1",
      "              PER: precision:  50.00%; recall:  33.33%; FB1:  40.00  2"]


def test_score_reads_iob1_and_iob2_as_conlleval(tmp_path, capsys):
  """I- after O starts an entity (IOB1); gold and predictions may differ in scheme."""
  path = tmp_path / "schemes.pred"
  gold = ["I-PER", "I-PER", "B-PER", "O", "I-LOC"]  # IOB1: PER PER, PER, LOC
  pred = ["B-PER", "I-PER", "B-PER", "O", "B-LOC"]  # the same entities in IOB2
  path.write_text("".join(f"w{i} {g} {p}\n" for i, (g, p) in enumerate(zip(gold, pred))))
  scores = json.loads(_score(capsys, path, "--json")[1])
  assert scores["phrases"] == {"gold": 3, "found": 3, "correct": 3}
  assert scores["f1"] == 1.0
  assert scores["accuracy"] == 3 / 5  # tags compared as written
  path.write_text("a I-PER B-PER\nb I-PER B-PER\n")  # one IOB1 entity; two IOB2 ones
  scores = json.loads(_score(capsys, path, "--json")[1])
  assert scores["phrases"] == {"gold": 1, "found": 2, "correct": 0}


def test_score_agrees_with_seqeval_on_a_random_file(tmp_path, capsys):
  rng = np.random.default_rng(0)
  choices = ["O", "O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "I-ORG", "E-ORG", "S-ORG"]
  gold = [list(rng.choice(choices, size=rng.integers(1, 12))) for _ in range(40)]
  pred = [list(rng.choice(choices, size=len(g))) for g in gold]
  path = tmp_path / "random.pred"
  path.write_text("".join("".join(f"w {g} {p}\n" for g, p in zip(gs, ps)) + "\n"
                          for gs, ps in zip(gold, pred)))
  scores = json.loads(_score(capsys, path, "--json")[1])
  assert scores["phrases"]["gold"] == sum(len(tags_lib.spans(g)) for g in gold)
  for name in ("precision", "recall", "f1"):
    expected = getattr(seqeval_metrics, f"{name}_score")(gold, pred, zero_division=0)
    assert scores[name] == pytest.approx(expected, abs=1e-12), name
  report = seqeval_metrics.classification_report(gold, pred, output_dict=True,
                                                 zero_division=0)
  for type_, s in scores["per_type"].items():
    assert s["f1"] == pytest.approx(report[type_]["f1-score"], abs=1e-12)
    assert s["gold"] == report[type_]["support"]


def test_score_of_predicts_file_is_the_runs_f1(tmp_path, capsys):
  """``Tagger.conll_text`` (what predict.py writes) scores to ``Tagger.evaluate``'s F1."""
  import types  # pylint: disable=import-outside-toplevel
  from wincls import config as config_lib  # pylint: disable=import-outside-toplevel
  from wincls.data import conll, vocab  # pylint: disable=import-outside-toplevel
  from wincls.train import evaluate  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(1)
  gold = tmp_path / "gold.txt"  # HAND_FILE's gold: IOB1, as CoNLL-2003
  gold.write_text("".join(" ".join(line.split()[:-1]) + "\n"
                          for line in HAND_FILE.splitlines()))
  corpus = conll.read_conll(gold)
  assert corpus.scheme == "iob1"
  label_vocab = vocab.LabelVocab.for_types(["LOC", "MISC", "ORG", "PER"], scheme="iobes")
  tagger = evaluate.Tagger(None, config_lib.Config(label_scheme="iobes"), label_vocab)
  data = types.SimpleNamespace(lengths=np.array([len(s) for s in corpus.sentences]))
  right = label_vocab.encode([t for tags in corpus.tags for t in
                               tags_lib.to_scheme(tags, source="iob1", target="iobes")])
  f1s = []
  for _ in range(5):  # gold ids, some replaced at random: invalid IOBES sequences
    noise = rng.integers(len(label_vocab), size=corpus.num_tokens)
    predictions = np.where(rng.random(corpus.num_tokens) < 0.3, noise, right)
    path = tmp_path / "pred.txt"
    path.write_text(tagger.conll_text(corpus, predictions, data))
    scores = json.loads(_score(capsys, path, "--json")[1])
    run = tagger.evaluate(predictions, corpus, data)
    assert scores["f1"] == run["f1"]  # to the digit
    f1s.append(run["f1"])
    assert scores["phrases"] == {"gold": run["num_gold"], "found": run["num_pred"],
                                 "correct": run["num_correct"]}
  assert 0 < min(f1s) < max(f1s) < 1


@pytest.mark.parametrize("name, content, line, message", [
    ("two_columns.pred", b"a B-PER\n", 1, "found 2 columns; expected the token first "
     "and the gold and the predicted tag as the last two columns"),
    ("bad_tag.pred", b"a O O\n\nb I-PER PER\n", 3, "invalid tag 'PER'"),
    ("bad_docstart.pred", b"-DOCSTART- O X\n\na O O\n", 1, "invalid tag 'X'"),
    ("columns.pred", b"a O O\nb NN O O\n", 2, "found 4 columns; expected 3"),
    ("binary.pred", b"\x7fELF\x00\x01", 1, "contains a NUL byte"),
    ("empty.pred", b"", 1, "the file is empty"),
])
def test_score_malformed_file_names_path_and_line(tmp_path, capsys, name, content,
                                                  line, message):
  path = tmp_path / name
  path.write_bytes(content)
  status, out, err = _score(capsys, path)
  assert status == 1 and out == ""
  assert len(err.splitlines()) == 1 and err.startswith(f"{path}:{line}: {message}")


def test_score_missing_file(tmp_path, capsys):
  status, out, err = _score(capsys, tmp_path / "missing.pred")
  assert status == 1 and out == ""
  assert err == f"{tmp_path / 'missing.pred'}: no such file; expected a CoNLL file (one "\
      "token per line, the tag in the last column)\n"
