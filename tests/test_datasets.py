"""Tests of wincls/data/datasets.py: load_splits and where it finds the data."""

import collections

import pytest

from wincls.data import datasets
from wincls.data import tags as tags_lib
from wincls.data.datasets import load_splits

TRAIN = "-DOCSTART- -X- O O\n\nEU NNP I-NP I-ORG\nrejects VBZ I-VP O\n\n"
DEV = "Peter NNP I-NP I-PER\n\n"


def test_wnut16_split_sizes():
  splits = load_splits("wnut16")
  assert list(splits) == ["train", "dev"]
  train, dev = splits["train"], splits["dev"]
  assert (len(train), train.num_tokens) == (2000, 38792)
  assert (len(dev), dev.num_tokens) == (394, 7677)
  assert train.scheme == dev.scheme == "iob2"
  types = tags_lib.entity_types(train.tags)
  assert len(types) == 10 and "geo-loc" in types
  assert set(tags_lib.entity_types(dev.tags)) <= set(types)
  # The split is by file order: dev starts where train ends.
  assert dev.sentences[0].line > train.sentences[-1].line
  entities = collections.Counter(t for s in train.sentences
                                 for t, _, _ in tags_lib.spans(s.tags))
  assert entities["person"] > 0


@pytest.fixture
def conll_dir(tmp_path):
  (tmp_path / "eng.train").write_text(TRAIN)
  (tmp_path / "eng.testa").write_text(DEV)
  return tmp_path


def test_conll2003_from_data_dir_and_env(conll_dir, monkeypatch):
  splits = load_splits("conll2003", data_dir=conll_dir)
  assert list(splits) == ["train", "dev"]
  assert splits["train"].words == [("EU", "rejects")]
  assert splits["dev"].tags == [("I-PER",)]
  assert splits["train"].scheme == splits["dev"].scheme == "iob1"
  monkeypatch.setenv(datasets.CONLL2003_ENV, str(conll_dir))
  (conll_dir / "eng.testb").write_text(DEV)  # held-out test, if present
  assert list(load_splits("conll2003")) == ["train", "dev"]  # never read unasked
  splits = load_splits("conll2003", include_test=True)
  assert list(splits) == ["train", "dev", "test"]
  assert splits["test"].path == str(conll_dir / "eng.testb")


def test_conll2003_with_both_files_given_needs_no_directory(conll_dir, monkeypatch):
  """Both splits replaced by files: no directory is looked up (a crash before)."""
  monkeypatch.delenv(datasets.CONLL2003_ENV, raising=False)
  splits = load_splits("conll2003", data_dir=conll_dir / "nowhere",
                       train_path=conll_dir / "eng.train",
                       dev_path=conll_dir / "eng.testa")
  assert list(splits) == ["train", "dev"]
  assert splits["dev"].tags == [("I-PER",)]
  only_dev = load_splits("conll2003", data_dir=conll_dir, dev_path=conll_dir / "eng.train")
  assert only_dev["dev"].words == only_dev["train"].words == [("EU", "rejects")]


def test_conll2003_missing_directory_says_where_and_how(tmp_path, monkeypatch):
  monkeypatch.delenv(datasets.CONLL2003_ENV, raising=False)
  with pytest.raises(FileNotFoundError) as info:
    load_splits("conll2003", data_dir=tmp_path / "nowhere")
  message = str(info.value)
  assert str(tmp_path / "nowhere") in message and "--data_dir" in message
  assert datasets.CONLL2003_ENV in message
  monkeypatch.setenv(datasets.CONLL2003_ENV, str(tmp_path / "env"))
  with pytest.raises(FileNotFoundError, match="env"):
    load_splits("conll2003")


def test_default_locations_are_relative_to_repo_and_cwd(monkeypatch, tmp_path):
  monkeypatch.delenv(datasets.CONLL2003_ENV, raising=False)
  shared = tmp_path / "shared" / "data" / "conll2003"
  shared.mkdir(parents=True)
  (shared / "eng.train").write_text(TRAIN)
  (shared / "eng.testa").write_text(DEV)
  (tmp_path / "repo").mkdir()
  (tmp_path / "elsewhere" / "cwd").mkdir(parents=True)
  # Relative to the repository root (the parent of the wincls package).
  monkeypatch.setattr(datasets, "_REPO_ROOT", tmp_path / "repo")
  monkeypatch.chdir(tmp_path / "elsewhere" / "cwd")
  assert datasets.conll2003_dir() == shared.resolve()
  # Relative to the working directory, when the repository has no ../shared.
  monkeypatch.setattr(datasets, "_REPO_ROOT", tmp_path / "elsewhere" / "cwd")
  monkeypatch.chdir(tmp_path / "repo")
  assert datasets.conll2003_dir() == shared.resolve()
  assert load_splits("conll2003")["dev"].tags == [("I-PER",)]


def test_files_and_overrides(conll_dir, tmp_path):
  splits = load_splits("files", train_path=conll_dir / "eng.train",
                       dev_path=conll_dir / "eng.testa")
  assert len(splits["train"]) == len(splits["dev"]) == 1
  assert splits["train"].scheme == "iob1"  # detected: I-ORG starts a chunk
  other = tmp_path / "other.txt"
  other.write_text("a B-X\n")
  splits = load_splits("conll2003", data_dir=conll_dir, dev_path=other)
  assert splits["dev"].tags == [("B-X",)] and splits["dev"].scheme == "iob2"
  assert splits["train"].words == [("EU", "rejects")]
  with pytest.raises(ValueError, match="needs both train_path and dev_path"):
    load_splits("files", train_path=other)
  with pytest.raises(ValueError, match="dataset 'conll' is not one of"):
    load_splits("conll")
