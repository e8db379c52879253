"""Tests of the word-vectors study: wincls/sweep/vectors_study.py and
experiments/vectors_study.py (subprocesses, WNUT-2016 bundled).

The arms must differ only in the word vectors (same vocabulary, embed_dim,
epochs and every other setting). A tiny study (vectors file written here, dim
8, hidden 8, 1 epoch, 2 fractions, 1 seed) must write its result files with
one row per configuration, keep the frozen word table bit-identical to the
aligned initial table (and change the fine-tuned one), give every arm the same
vocabulary (the training words), and not duplicate rows when rerun; vectors of
the wrong dimension must stop it before any training with one clear line.
"""

import collections
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from wincls.train import workdir as workdir_lib
from wincls import config as config_lib
from wincls import presets
from wincls import sweep
from wincls.sweep import vectors_study
from wincls.data import datasets
from wincls.data import vocab as vocab_lib

pytestmark = pytest.mark.heavy  # started first (tests/conftest.py)

REPO = Path(__file__).resolve().parents[1]
FRACTIONS = (0.05, 0.1)
SETTINGS = ("random", "frozen", "fine_tuned")
# No dropout, no features, m=1: small programs, compiled quickly.
# --min_steps=40: 2 epochs at 5% (30 steps/epoch), 1 at 10% (60 steps/epoch).
TINY = ["--dataset=wnut16", "--hidden_size=8", "--embed_dim=8", "--epochs=1",
        "--min_steps=40", "--batch_size=64", "--num_seeds=1", "--dropout=0",
        "--word_dropout=0", "--features=", "--window_size=1",
        "--train_fractions=" + ",".join(map(str, FRACTIONS))]


def _start(*args):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  # A script's sys.path starts with experiments/, not the repository: import
  # this checkout's wincls, not another one installed in editable mode.
  env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH"))
                                      if p)
  return subprocess.Popen([sys.executable, str(REPO / "experiments" / "vectors_study.py"),
                           *args], cwd=REPO, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)


def _finish(process, timeout=240):
  out, err = process.communicate(timeout=timeout)
  return process.returncode, out, err


def _write_vectors(path, words, dim, seed=0):
  rng = np.random.default_rng(seed)
  lines = [f"{len(words)} {dim}"]
  for word in words:
    lines.append(word + " " + " ".join(f"{x:.5f}" for x in rng.normal(size=dim)))
  path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _vector_words():
  """The 20 most frequent lowercase train words and 5 words found only in dev."""
  splits = datasets.load_splits("wnut16")
  train = collections.Counter(w.lower() for s in splits["train"].words for w in s)
  dev = collections.Counter(w.lower() for s in splits["dev"].words for w in s)
  frequent = [w for w, _ in train.most_common(20)]
  dev_only = sorted((w for w in dev if w not in train and w.isalpha()),
                    key=lambda w: (-dev[w], w))[:5]
  assert len(dev_only) == 5
  return frequent, dev_only


@pytest.fixture(scope="module")
def study(tmp_path_factory):
  root = tmp_path_factory.mktemp("vectors_study")
  frequent, dev_only = _vector_words()
  _write_vectors(root / "vec8.txt", frequent + dev_only, dim=8)
  _write_vectors(root / "vec6.txt", frequent, dim=6)
  args = TINY + ["--vectors=file", f"--vectors_path={root / 'vec8.txt'}"]
  main = _start(f"--workdir={root / 'study'}", *args)
  wrong = _start(f"--workdir={root / 'wrong'}", *TINY, "--vectors=file",
                 f"--vectors_path={root / 'vec6.txt'}")
  outputs = {"wrong": _finish(wrong)}
  outputs["main"] = _finish(main)
  assert outputs["main"][0] == 0, outputs["main"][2][-3000:]
  rerun = _start(f"--workdir={root / 'study'}", *args)
  outputs["rerun"] = _finish(rerun)
  assert outputs["rerun"][0] == 0, outputs["rerun"][2][-3000:]
  return root, outputs, dev_only


def _run_name(setting, fraction, loss="cross_entropy"):
  return f"loss={loss},train_fraction={fraction!r},setting={setting}"


def test_writes_one_row_per_configuration_and_the_reports(study):
  root, outputs, _ = study
  workdir = root / "study"
  rows = workdir_lib.read_jsonl(workdir / "results.jsonl")
  expected = {_run_name(s, f) for s in SETTINGS for f in FRACTIONS}
  assert sorted(r["run"] for r in rows) == sorted(expected)
  for row in rows:
    assert 0.0 <= row["dev_f1"] <= 1.0
    assert row["seed"] == 0 and row["loss"] == "cross_entropy"
    assert row["epochs"] == row["epochs_run"] == {0.05: 2, 0.1: 1}[row["train_fraction"]]
    assert row["setting"] in SETTINGS and row["train_fraction"] in FRACTIONS
    assert row["vectors"] == ("random" if row["setting"] == "random" else "file")
    assert row["freeze_vectors"] == (row["setting"] == "frozen")
    assert row["embed_dim"] == 8
    assert ("vector_tokens_coverage" in row) == (row["setting"] != "random")
  by_fraction = {f: {r["num_train_sentences"] for r in rows if r["train_fraction"] == f}
                 for f in FRACTIONS}
  assert by_fraction == {0.05: {100}, 0.1: {200}}  # of WNUT-2016's 2000 sentences
  csv_lines = (workdir / "results.csv").read_text().splitlines()
  assert len(csv_lines) == 1 + len(expected)
  assert csv_lines[0].startswith("run,run_index,loss,train_fraction,setting,seed")
  markdown = (workdir / "results.md").read_text()
  for fraction in FRACTIONS:
    for setting in SETTINGS:
      assert f"| cross_entropy | {fraction:g} | {setting} |" in markdown
    for pair in ("fine_tuned − frozen", "fine_tuned − random", "frozen − random"):
      fixed = f"loss=cross_entropy, train_fraction={fraction!r}"
      assert f"| setting | {pair} | {fixed} | 1 |" in markdown
  assert "| `embed_dim` |" not in markdown  # explicit --embed_dim: shared
  assert "| `vectors` | random | file | file |" in markdown
  assert "| `freeze_vectors` | false | true | false |" in markdown
  assert (workdir / "f1_vs_fraction.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  assert "`vocab_include_dev=false`" in markdown and "Shared by every run:" in markdown
  assert set(workdir_lib.read_json(workdir / "grid.json")["runs"]) == expected
  sizes = {f: {r["vocab_size"] for r in rows if r["train_fraction"] == f}
           for f in FRACTIONS}
  assert all(len(s) == 1 for s in sizes.values()), sizes  # one vocabulary per fraction
  # The rerun trains nothing and duplicates no row.
  assert "(run 1/6)" in outputs["main"][1] and "(run " not in outputs["rerun"][1]
  assert f"{len(expected)} result rows" in outputs["rerun"][1]


def test_frozen_vectors_stay_bit_identical_and_fine_tuned_ones_move(study):
  from wincls import train
  from wincls.train import checkpoints
  root, _, dev_only = study
  tables = {}
  for setting in ("frozen", "fine_tuned"):
    run_dir = root / "study" / "runs" / _run_name(setting, 0.1)
    config = config_lib.Config.from_dict(workdir_lib.read_json(run_dir / "config.json"))
    data = train.prepare_data(config, run_dir)  # the aligned initial table
    best_path = workdir_lib.checkpoint_path(run_dir, workdir_lib.BEST)
    best = checkpoints.decode_checkpoint(best_path, best_path.read_bytes())
    words = best["params"]["embed"]["words"]  # [seeds, V, E]
    tables[setting] = (data.pretrained, np.asarray(words[0]), data.vocab)
  initial, trained, vocab = tables["frozen"]
  np.testing.assert_array_equal(trained, initial)
  initial, trained, _ = tables["fine_tuned"]
  assert initial.shape == trained.shape
  assert np.any(trained != initial)
  # The same vocabulary in every arm: the training words (the dev-only words
  # the vectors know are not added to the pre-trained arms' vocabulary).
  random_vocab = vocab_lib.Vocab.load(root / "study" / "runs" /
                                     _run_name("random", 0.1) / "vocab.json")
  assert random_vocab.words == vocab.words
  for word in dev_only:
    assert vocab.encode([word])[0] == vocab_lib.UNK, word
    assert random_vocab.encode([word])[0] == vocab_lib.UNK, word


def test_vectors_of_the_wrong_dimension_stop_before_training(study):
  root, outputs, _ = study
  code, _, err = outputs["wrong"]
  lines = err.strip().splitlines()
  assert code == 2, err
  assert len(lines) == 1 and "Traceback" not in err, err
  assert lines[0].startswith("error: --vectors_path=") and "vec6.txt" in lines[0]
  assert "dimension 6" in lines[0] and "--embed_dim=8" in lines[0]
  assert not (root / "wrong" / "runs").exists()


def test_arms_differ_only_in_the_word_vectors(tmp_path):
  vectors_path = tmp_path / "vec.txt"
  _write_vectors(vectors_path, ["the", "of"], dim=100)
  base = config_lib.Config(**{**presets.VECTORS_STUDY, "dataset": "wnut16",
                              "vectors": "file", "vectors_path": str(vectors_path),
                              "batch_size": 64, "epochs": 1})
  axes = vectors_study.make_axes(base, settings=SETTINGS, fractions=["0.1", "0.05"],
                                 losses=["cross_entropy"], min_steps=100)
  runs = sweep.make_grid(base, axes)
  assert [r.name for r in runs[:3]] == [_run_name(s, 0.05) for s in SETTINGS]
  vector_fields = {"vectors", "vectors_path", "freeze_vectors"}
  for fraction, epochs in ((0.05, 4), (0.1, 2)):  # 30 and 60 steps per epoch
    mine = [r.config for r in runs if r.config.train_fraction == fraction]
    assert [c.epochs for c in mine] == [epochs] * 3
    for config in mine:
      others = {f: v for f, v in vars(config).items() if f not in vector_fields}
      assert others == {f: v for f, v in vars(mine[0]).items() if f not in vector_fields}
    assert [(c.vectors, c.freeze_vectors) for c in mine] == [
        ("random", False), ("file", True), ("file", False)]
    assert all(c.embed_dim == 100 and not c.vocab_include_dev for c in mine)
  assert vectors_study.epochs_for(12, 8, 3000) == 375
  assert vectors_study.epochs_for(12, 1000, 3000) == 12


def test_bad_settings_are_refused():
  base = config_lib.Config(**presets.VECTORS_STUDY)
  with pytest.raises(ValueError, match="'pretrained' is not one of random"):
    vectors_study.arms("glove-6b-100d", names=["random", "pretrained"])
  with pytest.raises(ValueError, match="expected distinct settings"):
    vectors_study.arms("glove-6b-100d", names=["random", "random"])
  with pytest.raises(ValueError, match="the random setting is in --settings"):
    vectors_study.arms("random")
  with pytest.raises(ValueError, match="expected numbers in"):
    vectors_study.fraction_axis(base, ["half"], min_steps=0)
