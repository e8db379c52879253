"""The gazetteer feature (wincls/model/gazetteer.py, wincls/data/gazetteers/).

Matching, list checks and the default lists' cache run without JAX; one
training subprocess (2 CPU devices, hand gradients, CRF, sparse updates, on
a few short synthetic sentences: one bucket, one epoch) checks that the
feature trains, reports its coverage and fingerprints its lists.
``wincls.testing.check_feature`` runs on it in tests/test_features.py, as on
every registered feature.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from wincls import config as config_lib
from wincls.data import conll
from wincls.data import gazetteers
from wincls.data.gazetteers import defaults
from wincls.model import features
from wincls.model import gazetteer as gazetteer_feature
from wincls import train
from wincls.train import inputs as inputs_lib

REPO = Path(__file__).resolve().parents[1]
LOC, PER, ORG = 1, 2, 4  # membership bits (gazetteers.TYPES order)


def _gazetteer(lists):
  return gazetteers.Gazetteer({t: [tuple(e.split()) for e in entries]
                               for t, entries in lists.items()})


def test_longest_match_first_each_type_on_its_own():
  g = _gazetteer({"LOC": ["New York", "York", "New York City", "Paris"],
                  "ORG": ["New York Times", "Times"], "PER": ["Paris", "Hilton"]})
  words = "the New York Times said New York City and NEW YORK , Paris Hilton".split()
  assert g.matches(words) == [
      ("LOC", 1, 3),     # New York: the longest LOC from "New" (then not York alone)
      ("LOC", 5, 8),     # New York City, not New York
      ("LOC", 9, 11),    # headline capitals match the entry
      ("LOC", 12, 13),
      ("PER", 12, 13), ("PER", 13, 14),
      ("ORG", 1, 4)]     # New York Times (then not Times alone), over the LOC match
  membership = g.membership(words)
  expected = [0, LOC | ORG, LOC | ORG, ORG, 0, LOC, LOC, LOC, 0, LOC, LOC, 0,
              LOC | PER, PER]
  assert membership.tolist() == expected
  assert g.ids(words).tolist() == [1 + b for b in expected]
  # Lowercase words and a partial entry match nothing; "Times" alone is ORG only
  # where no longer ORG match covers it.
  assert g.membership("new york".split()).tolist() == [0, 0]
  assert g.membership("the Times".split()).tolist() == [0, ORG]
  assert max(g.ids(words)) < gazetteers.SIZE == 17


def test_a_sentence_is_matched_alone(tmp_path):
  """``word_inputs`` with the sentences' lengths gives the feature one sentence
  a call: an entry never spans two sentences."""
  lists = tmp_path / "loc.txt"
  lists.write_text("New York\n")
  config = config_lib.Config(features=("gazetteer",), gazetteers=(f"LOC={lists}",))
  words = ["in", "New", "York", "New", "York"]
  one = features.word_inputs(words, config)[:, 0] - 1
  two = features.word_inputs(words, config, lengths=[4, 1])[:, 0] - 1
  assert one.tolist() == [0, LOC, LOC, LOC, LOC]
  assert two.tolist() == [0, LOC, LOC, 0, 0]


def test_a_list_is_one_entry_a_line_empty_lines_skipped(tmp_path):
  path = tmp_path / "loc.txt"
  path.write_bytes("\ufeffParis\r\n\n  Rio de  Janeiro \n".encode())
  assert gazetteers.read_list(path) == [("Paris",), ("Rio", "de", "Janeiro")]


BAD_LISTS = {  # file contents -> (line, what the one line says)
    b"": (1, "an empty list"),
    b"\n\n": (1, "an empty list"),
    b"Paris\n   \nRome\n": (2, "an entry of only spaces"),
    b"Paris\n\t\n": (2, "an entry of only spaces"),
    b"Paris\nRo\0me\n": (2, "a NUL byte: a binary file"),
    b"Paris\nRome\n\xff\xfe\n": (3, "byte 0xff is not UTF-8: a binary file"),
}


@pytest.mark.parametrize("contents", BAD_LISTS)
def test_a_bad_list_is_one_line_naming_file_and_line(tmp_path, contents):
  line, said = BAD_LISTS[contents]
  path = tmp_path / "bad.txt"
  path.write_bytes(contents)
  config = config_lib.Config(features=("casing", "gazetteer"),
                             gazetteers=(f"LOC={path}",))
  with pytest.raises(features.InputError) as raised:
    config.validate()
  message = str(raised.value)
  assert message.startswith(f"{path}:{line}: {said}") and "\n" not in message


@pytest.mark.parametrize("given, said", [
    ("CITY={path}", "unknown type 'CITY'; expected one of LOC, PER, ORG, MISC"),
    ("{path}", "is not TYPE=PATH"),
    ("LOC={path}.gone", "no such file"),
])
def test_a_bad_flag_entry_is_one_line_naming_it(tmp_path, given, said):
  path = tmp_path / "loc.txt"
  path.write_text("Paris\n")
  config = config_lib.Config(features=("gazetteer",),
                             gazetteers=(given.format(path=path),))
  with pytest.raises(features.InputError, match=f"^--gazetteers: .*{said}") as raised:
    config.validate()
  assert "\n" not in str(raised.value)


def test_the_default_lists_are_built_once_checksummed_and_never_half(tmp_path,
                                                                     monkeypatch):
  monkeypatch.setenv("WINCLS_CACHE", str(tmp_path))
  write_lists, lists = defaults.write_lists, defaults.build_lists()
  monkeypatch.setattr(defaults, "build_lists", lambda: lists)  # read the packages once

  def killed(directory, built):  # a build killed after its first list
    write_lists(directory, {"LOC": built["LOC"]})
    raise KeyboardInterrupt

  monkeypatch.setattr(defaults, "write_lists", killed)
  with pytest.raises(KeyboardInterrupt):
    defaults.install(log=lambda s: None)
  assert not defaults.default_dir().exists()  # nothing half-built is left to trust
  assert os.listdir(tmp_path / "gazetteers") == []
  monkeypatch.setattr(defaults, "write_lists", write_lists)
  directory, built = defaults.install(log=lambda s: None)
  assert built and defaults.install(log=lambda s: None) == (directory, False)
  meta = defaults.verify()
  assert set(meta["lists"]) == {"LOC", "PER", "MISC"}
  assert meta["packages"] == defaults.PACKAGES
  loc = set(gazetteers.read_list(directory / "LOC.txt"))
  assert {("Paris",), ("Germany",), ("New", "York", "City")} <= loc
  assert ("Smith",) in set(gazetteers.read_list(directory / "PER.txt"))
  assert ("McDonald",) in set(gazetteers.read_list(directory / "PER.txt"))
  assert ("German",) in set(gazetteers.read_list(directory / "MISC.txt"))
  with open(directory / "PER.txt", "a", encoding="utf-8") as f:
    f.write("Nobody\n")
  with pytest.raises(conll.DataError, match="PER.txt: sha256 is"):
    defaults.verify()
  config = config_lib.Config(features=("gazetteer",))  # the default lists
  ids = gazetteer_feature.gazetteer_inputs(["Peter", "in", "Paris"], config)
  assert (ids[:, 0] - 1).tolist() == [PER, 0, LOC | PER]  # rebuilt, then read
  defaults.verify()


SENTENCES = [("Peter", "B-PER"), ("Smith", "I-PER"), ("visited", "O"), ("New", "B-LOC"),
             ("York", "I-LOC"), (".", "O")], [("Anna", "B-PER"), ("lives", "O"),
                                            ("in", "O"), ("Paris", "B-LOC")]


def _write_conll(path, copies):
  lines = []
  for _ in range(copies):
    for sentence in SENTENCES:
      lines += [f"{w} {t}" for w, t in sentence] + [""]
  path.write_text("\n".join(lines))


def test_trains_by_hand_with_crf_sparse_and_two_devices_then_refuses_a_changed_list(
    tmp_path):
  loc, per = tmp_path / "loc.txt", tmp_path / "per.txt"
  loc.write_text("New York\nParis\n")
  per.write_text("Peter\nSmith\nAnna\n")
  _write_conll(tmp_path / "train.txt", 8)
  _write_conll(tmp_path / "dev.txt", 2)
  workdir = tmp_path / "run"
  flags = [f"--workdir={workdir}", "--dataset=files", f"--train_path={tmp_path / 'train.txt'}",
           f"--dev_path={tmp_path / 'dev.txt'}", "--features=casing,gazetteer",
           f"--gazetteers=LOC={loc},PER={per}", "--grad=hand", "--loss=crf",
           "--embedding_update=sparse", "--num_devices=2", "--epochs=1",
           "--hidden_size=4", "--embed_dim=4", "--feature_dim=2", "--batch_size=16"]
  env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS=" ".join(
      [f for f in os.environ.get("XLA_FLAGS", "").split()
       if "device_count" not in f] + ["--xla_force_host_platform_device_count=2"]))
  done = subprocess.run([sys.executable, str(REPO / "experiments" / "train.py"), *flags],
                        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-3000:]
  assert "data-parallel over 2 devices" in done.stdout + done.stderr
  assert "gazetteer coverage of dev" in done.stdout + done.stderr
  coverage = json.loads((workdir / "gazetteer_coverage.json").read_text())
  assert coverage["types"]["LOC"]["matched"] == coverage["types"]["LOC"]["entities"] == 4
  assert coverage["types"]["PER"]["coverage"] == 1.0
  assert coverage["types"]["PER"]["exact"] == 2  # Anna; Peter Smith is two matches
  stored = json.loads((workdir / "config.json").read_text())
  assert stored["inputs"]["gazetteer:LOC.1"]["path"] == str(loc)
  assert stored["inputs"]["gazetteer:PER.2"]["sha256"] == inputs_lib.fingerprint(per)[
      "sha256"]
  # The list changes: a rerun in the workdir is refused, naming the file.
  per.write_text("Peter\nSmith\nAnna\nJohn\n")
  config = config_lib.Config.from_dict(
      {k: v for k, v in stored.items() if k != "inputs"})
  with pytest.raises(inputs_lib.InputsChangedError,
                     match=f"gazetteer file {per} changed since the run started"):
    inputs_lib.check(stored, config, source=workdir / "config.json")
  with pytest.raises(inputs_lib.InputsChangedError, match=f"gazetteer file {per}"):
    train.Tagger.load(workdir)  # tagging reads the lists too
  assert np.isfinite(json.loads((workdir / "results.json").read_text())["dev_f1_mean"])
