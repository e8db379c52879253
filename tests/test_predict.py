"""Prediction: a new file is tagged exactly as the run scored dev (open vocabulary).

Two tiny WNUT-2016 runs (random vectors; pre-trained vectors from a small file)
trained in-process; ``predict_file`` on the dev file must reproduce
``results.json``'s dev F1 to the digit, words known only to the vectors must
get their pre-trained rows, CoNLL output is in the input's scheme (conlleval
reads IOB1/IOB2 only), and plain text is tagged from the command line's library
function and from ``Tagger.load(workdir).tag(tokens)``. With ``--ensemble``
(every seed together) the same: dev reproduces ``results.json``'s
``dev_f1_ensemble``, and its JSON lines are those of ``Tagger.load(workdir,
ensemble=True)``; the rules themselves: tests/test_ensemble.py.
"""

import json
import os
import stat
import threading

import numpy as np
import pytest

from wincls import config as config_lib
from wincls import train
from wincls.data import conll
from wincls.data import datasets
from wincls.data import tags as tags_lib

TINY = dict(dataset="files", train_fraction=1.0, hidden_size=8, embed_dim=4, epochs=2,
            learning_rate=0.01, batch_size=64, num_seeds=2)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
  """WNUT-2016's first 300 train and 80 dev tweets as files, and a vectors file."""
  directory = tmp_path_factory.mktemp("data")
  splits = datasets.load_splits("wnut16")
  paths = {}
  for name, corpus, n in (("train", splits["train"], 300), ("dev", splits["dev"], 80)):
    sentences = corpus.sentences[:n]
    paths[name] = directory / f"{name}.txt"
    conll.write_conll(paths[name], [s.words for s in sentences], None,
                      [s.tags for s in sentences])
  train_words = {w.lower() for s in splits["train"].sentences[:300] for w in s.words}
  dev_only = sorted({w.lower() for s in splits["dev"].sentences[:80] for w in s.words
                     if w.isalpha() and w.lower() not in train_words})
  rng = np.random.default_rng(0)
  vocab_words = sorted(train_words)[:200] + dev_only[:40]
  paths["vectors"] = directory / "vec.txt"
  paths["vectors"].write_text("".join(
      f"{w} " + " ".join(f"{x:.4f}" for x in rng.normal(size=4)) + "\n"
      for w in vocab_words), encoding="utf-8")
  paths["dev_only"] = dev_only[:40]
  return paths


@pytest.fixture(scope="module")
def runs(files, tmp_path_factory):
  out = {}
  for kind, extra in (("random", {}),
                      ("pretrained", {"vectors": "file",
                                      "vectors_path": str(files["vectors"])})):
    config = config_lib.Config(train_path=str(files["train"]),
                               dev_path=str(files["dev"]), **TINY, **extra)
    workdir = tmp_path_factory.mktemp(kind)
    out[kind] = (workdir, train.train_and_evaluate(config, workdir))
  return out


@pytest.mark.parametrize("kind", ["random", "pretrained"])
def test_predict_on_dev_reproduces_the_runs_dev_f1(runs, files, tmp_path, kind):
  workdir, results = runs[kind]
  best = results["seeds"][results["best_seed_index"]]
  out = train.predict_file(workdir, files["dev"], tmp_path / "pred.txt")
  assert out["scores"]["f1"] == best["dev_f1"]  # the same code path, to the digit
  assert out["scores"]["precision"] == best["dev_precision"]
  # The file holds what the run wrote for dev (predictions/dev.txt).
  assert (tmp_path / "pred.txt").read_text() == (workdir / "predictions" /
                                                 "dev.txt").read_text()


def test_words_only_the_vectors_know_get_their_pretrained_rows(runs, files):
  workdir, _ = runs["pretrained"]
  tagger = train.Tagger.load(workdir)
  vocab_size = len(tagger.vocab)
  assert not any(w in tagger.vocab for w in files["dev_only"])  # train words only
  data = tagger.encode(conll.read_conll(files["dev"]))
  assert data.new_rows is not None and len(data.new_rows) >= len(files["dev_only"]) // 2
  assert data.window_ids.max() >= vocab_size  # ids beyond the training vocabulary
  vectors = dict(line.split(" ", 1) for line in files["vectors"].read_text().splitlines())
  word = files["dev_only"][0]
  sentence = [word, "zzqxunknown"]
  encoded = tagger.encode(conll.Corpus("x", [conll.Sentence(tuple(sentence), (), 1, 0)],
                                       1, conll.NO_TAGS))
  centre = encoded.window_ids[:, encoded.window_ids.shape[1] // 2]
  assert centre[0] == vocab_size and centre[1] == 1  # new row; <unk>
  np.testing.assert_allclose(encoded.new_rows[0],
                             np.array(vectors[word].split(), np.float32), rtol=1e-6)
  random_tagger = train.Tagger.load(runs["random"][0])
  assert random_tagger.encode(conll.read_conll(files["dev"])).new_rows is None


def test_conll_output_is_in_the_input_scheme(runs, files, tmp_path):
  workdir, _ = runs["random"]
  dev = conll.read_conll(files["dev"])  # IOB2
  iob1 = tmp_path / "dev_iob1.txt"
  conll.write_conll(iob1, dev.words, None,
                    [tags_lib.to_scheme(t, source="iob2", target="iob1") for t in dev.tags])
  for path, scheme in ((files["dev"], "iob2"), (iob1, "iob1")):
    out = tmp_path / f"out_{scheme}.txt"
    train.predict_file(workdir, path, out)
    pred = conll.read_conll(out, tag_column=2, scheme=scheme)  # raises on E-/S-
    gold = conll.read_conll(out, tag_column=1, scheme=scheme)
    assert gold.tags == conll.read_conll(path).tags


def test_plain_text_from_the_command_line_function_and_python(runs, tmp_path):
  workdir, _ = runs["pretrained"]
  text = tmp_path / "in.txt"
  text.write_text("Empire State Building in New York , USA\n\nI love London!\r\n")
  out = train.predict_file(workdir, text, tmp_path / "out.jsonl", input_format="text",
                           tokenize=True)
  rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
  assert [r["text"] for r in rows] == ["Empire State Building in New York , USA", "",
                                      "I love London!"]
  assert rows[1] == {"text": "", "tokens": [], "entities": []}  # one row per line
  assert rows[2]["tokens"] == ["I", "love", "London", "!"]
  assert out["num_sentences"] == 2 and out["num_entities"] == sum(
      len(r["entities"]) for r in rows)
  tagger = train.Tagger.load(workdir)
  for row in rows:
    tagged = tagger.tag(row["tokens"])
    assert tagged["entities"] == row["entities"]
    for entity in tagged["entities"]:
      assert entity["text"] == " ".join(row["tokens"][entity["start"]:entity["end"]])
  with pytest.raises(conll.DataError, match=r"in2.txt:1: control character"):
    (tmp_path / "in2.txt").write_text("bad\x0ctext\n")
    train.predict_file(workdir, tmp_path / "in2.txt", tmp_path / "o.jsonl",
                       input_format="text")
  with pytest.raises(FileNotFoundError, match="--output=.*does not exist"):
    train.predict_file(workdir, text, tmp_path / "missing" / "o.jsonl",
                       input_format="text")


def test_text_output_keeps_line_alignment(runs, tmp_path):
  workdir, _ = runs["random"]
  text = tmp_path / "in.txt"
  text.write_text("\nPeter lives in Paris\n \t\nParis\n")
  out = train.predict_file(workdir, text, tmp_path / "out.jsonl", input_format="text")
  rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
  assert [r["text"] for r in rows] == ["", "Peter lives in Paris", "", "Paris"]
  assert [r["tokens"] for r in rows] == [[], ["Peter", "lives", "in", "Paris"], [],
                                         ["Paris"]]
  assert rows[0]["entities"] == rows[2]["entities"] == []
  assert out["num_sentences"] == 2
  tagger = train.Tagger.load(workdir)
  tagged = tagger.tag_sentences([[], ["Paris"], []])  # the same alignment from Python
  assert [t["tokens"] for t in tagged] == [[], ["Paris"], []]
  assert tagged[1]["entities"] == rows[3]["entities"]
  assert tagger.tag([]) == {"tokens": [], "tags": [], "entities": []}


def test_prediction_needs_no_results_json(runs, files, tmp_path):
  workdir, results = runs["random"]
  saved = (workdir / "results.json").read_text()
  try:
    (workdir / "results.json").write_text("{damaged")
    out = train.predict_file(workdir, files["dev"], tmp_path / "pred.txt")
    assert out["seed_index"] == results["best_seed_index"]  # from the checkpoint
  finally:
    (workdir / "results.json").write_text(saved)


def test_closed_vocabulary_for_comparison(runs, files, tmp_path):
  workdir, _ = runs["pretrained"]
  open_ = train.predict_file(workdir, files["dev"], tmp_path / "a.txt")
  closed = train.predict_file(workdir, files["dev"], tmp_path / "b.txt", open_vocab=False)
  tagger = train.load_tagger(workdir, open_vocab=False)
  assert tagger.extender is None and tagger.encode(conll.read_conll(files["dev"])).new_rows is None
  assert open_["num_tokens"] == closed["num_tokens"]


def test_output_never_overwrites_the_input_or_the_runs_files(runs, files, tmp_path):
  """--output equal to --input, to a file of the run, to a directory: refused up front."""
  workdir, _ = runs["random"]
  before = {p: p.read_bytes() for p in workdir.rglob("*") if p.is_file()}
  source = tmp_path / "in.txt"
  source.write_bytes(files["dev"].read_bytes())
  cases = [(source, source, "is the --input file"),
           (source, tmp_path / "." / "in.txt", "is the --input file"),
           (files["dev"], workdir / "config.json", "inside the run's workdir"),
           (files["dev"], workdir / "checkpoints" / "best", "inside the run's workdir"),
           (files["dev"], workdir / "new.txt", "inside the run's workdir"),
           (files["dev"], tmp_path, "is a directory"),
           (files["dev"], "", "--output is empty")]
  for input_path, output, message in cases:
    with pytest.raises(ValueError, match=message):
      train.predict_file(workdir, input_path, output)
  assert source.read_bytes() == files["dev"].read_bytes()
  assert {p: p.read_bytes() for p in workdir.rglob("*") if p.is_file()} == before
  vectors = files["vectors"].read_bytes()
  with pytest.raises(ValueError, match="is the run's --vectors_path"):
    train.predict_file(runs["pretrained"][0], files["dev"], files["vectors"])
  assert files["vectors"].read_bytes() == vectors
  sweep = tmp_path / "sweep"
  (sweep / "runs").mkdir(parents=True)
  (sweep / "grid.json").write_text("{}")
  for output in (sweep / "results.jsonl", sweep / "runs" / "tags.txt"):
    with pytest.raises(ValueError, match="inside the sweep workdir"):
      train.predict_file(workdir, files["dev"], output)
  assert sorted(p.name for p in sweep.rglob("*")) == ["grid.json", "runs"]


def test_output_to_a_device_writes_through_it(runs, files, tmp_path, monkeypatch):
  """--output=/dev/stdout (or /dev/null) is written to, never replaced by a file."""
  workdir, _ = runs["random"]
  fifo = tmp_path / "fifo"
  os.mkfifo(fifo)
  received = []
  reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()),
                            daemon=True)
  reader.start()
  train.predict_file(workdir, files["dev"], fifo)
  reader.join(timeout=30)
  assert stat.S_ISFIFO(fifo.stat().st_mode)  # still a pipe
  assert received and received[0].startswith(files["dev"].read_bytes().split()[0])


def test_python_api_refuses_what_is_not_a_token_list(runs):
  """A str, None, ints, bytes: one ValueError/TypeError naming what was expected;
  iterables of str (tuples, generators, numpy arrays) are tagged as lists."""
  tagger = train.Tagger.load(runs["random"][0])
  for bad, message in (("Paris", "a list of tokens, not a str"),
                       (None, "a list of tokens, not a NoneType"),
                       (5, "a list of tokens, not a int"),
                       ([1, 2], "token 1 is a int; expected a str"),
                       ([None], "token None is a NoneType"),
                       ([b"Paris"], "token b'Paris' is a bytes")):
    with pytest.raises((TypeError, ValueError), match=message):
      tagger.tag(bad)
  with pytest.raises(TypeError, match=r"sentence 2 .* a list of tokens, not a str"):
    tagger.tag_sentences([["Peter"], "Paris"])
  with pytest.raises(TypeError, match="a list of sentences, not a str"):
    tagger.tag_sentences("Paris")
  expected = tagger.tag(["Peter", "Paris"])
  assert tagger.tag(("Peter", "Paris")) == expected
  assert tagger.tag(w for w in ["Peter", "Paris"]) == expected
  assert tagger.tag(np.array(["Peter", "Paris"])) == expected


def test_load_refuses_a_bad_seed_index_or_workdir(runs):
  workdir = runs["random"][0]
  for bad in ("0", 0.5, True):
    with pytest.raises(ValueError, match="--seed_index=.* must be an integer"):
      train.Tagger.load(workdir, seed_index=bad)
  for bad in (None, ""):
    with pytest.raises(ValueError, match="--workdir is empty"):
      train.Tagger.load(bad)


def test_results_json_gives_best_seed_mean_and_ensemble_and_predict_reproduces_it(
    runs, files, tmp_path):
  workdir, results = runs["random"]
  f1s = [s["dev_f1"] for s in results["seeds"]]
  assert results["dev_f1_best_seed"] == f1s[results["best_seed_index"]] == max(f1s)
  assert results["dev_f1_mean"] == pytest.approx(np.mean(f1s), abs=1e-12)
  assert results["ensemble"]["seeds"] == [0, 1]
  assert results["ensemble"]["rule"] == "mean_probabilities"  # cross_entropy
  out = train.predict_file(workdir, files["dev"], tmp_path / "pred.txt", ensemble=True)
  assert out["scores"]["f1"] == results["dev_f1_ensemble"] == results["ensemble"]["dev_f1"]
  assert out["seed_index"] is None and out["seeds"] == [0, 1] and out["ensemble"]
  pred = conll.read_conll(tmp_path / "pred.txt", tag_column=2, scheme="iob2")
  assert [s.words for s in pred.sentences] == conll.read_conll(files["dev"]).words
  with pytest.raises(ValueError, match="--seed_index=0 and --ensemble exclude each other"):
    train.predict_file(workdir, files["dev"], tmp_path / "x.txt", ensemble=True,
                       seed_index=0)
  with pytest.raises(ValueError, match="--ensemble='yes' must be True or False"):
    train.Tagger.load(workdir, ensemble="yes")


def test_ensemble_text_output_is_the_json_lines_of_the_python_ensemble(runs, tmp_path):
  """``--input_format=text --ensemble`` (the script's flag: tests/test_plugins.py)."""
  workdir, _ = runs["pretrained"]
  text = tmp_path / "in.txt"
  text.write_text("Peter lives in Paris\n\nI love London , USA\n")
  out = train.predict_file(workdir, text, tmp_path / "out.jsonl", input_format="text",
                           ensemble=True)
  assert out["seeds"] == [0, 1] and out["num_sentences"] == 2
  rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
  assert [r["text"] for r in rows] == ["Peter lives in Paris", "", "I love London , USA"]
  tagger = train.Tagger.load(workdir, ensemble=True)
  assert tagger.seed_indices == (0, 1) and tagger.seed_index is None
  tagged = tagger.tag_sentences([r["tokens"] for r in rows])
  assert [t["entities"] for t in tagged] == [r["entities"] for r in rows]
