"""Tests of wincls/data/vocab.py: Vocab, casing features, LabelVocab."""

import json

import numpy as np
import pytest

from wincls.data import vocab as vocab_lib
from wincls.data.conll import DataError
from wincls.data.vocab import FEATURE_SIZES
from wincls.data.vocab import LabelVocab
from wincls.data.vocab import Vocab

SENTENCES = [["The", "EU", "said", "the", "EU", "1996"], ["the", "Year", "2001", "EU"]]


def test_reserved_ids():
  vocab = Vocab.build([])
  assert (vocab_lib.PAD, vocab_lib.UNK, vocab_lib.BOS, vocab_lib.EOS) == (0, 1, 2, 3)
  assert vocab.words == ("<pad>", "<unk>", "<s>", "</s>")
  assert len(vocab) == 4


def test_build_counts_order_and_min_count():
  vocab = Vocab.build(SENTENCES)
  # Decreasing count, ties alphabetical.
  assert vocab.words[4:] == ("EU", "the", "1996", "2001", "The", "Year", "said")
  assert Vocab.build(SENTENCES, min_count=2).words[4:] == ("EU", "the")
  with pytest.raises(ValueError, match="min_count=0"):
    Vocab.build(SENTENCES, min_count=0)


def test_lowercase_and_digits():
  vocab = Vocab.build(SENTENCES, min_count=2, lowercase=True, normalize_digits=True)
  assert vocab.words[4:] == ("eu", "the", "0000")  # eu: 3, the: 3, 0000: 2
  ids = vocab.encode(["THE", "Eu", "1984", "said", "<s>"])
  assert ids.dtype == np.int32 and ids.shape == (5,)
  assert ids.tolist() == [5, 4, 6, vocab_lib.UNK, vocab_lib.BOS]
  assert vocab.normalize("Route-66") == "route-00"
  assert "1999" in vocab and "said" not in vocab
  assert vocab.encode([]).shape == (0,)


def test_extend_and_extra_words():
  vocab = Vocab.build(SENTENCES, min_count=2, lowercase=True)
  extended = vocab.extend(["Paris", "the", "paris", "Berlin"])
  assert extended.words == vocab.words + ("paris", "berlin")
  assert len(vocab) == 6  # extend returns a new Vocab
  built = Vocab.build(SENTENCES, min_count=2, lowercase=True,
                      extra_words=["Paris", "Berlin"])
  assert built == extended


def test_save_load_round_trip(tmp_path):
  vocab = Vocab.build(SENTENCES, lowercase=True, normalize_digits=True,
                      extra_words=["caf\u00e9"])
  vocab.save(tmp_path / "vocab.json")
  loaded = Vocab.load(tmp_path / "vocab.json")
  assert loaded == vocab
  assert loaded.lowercase and loaded.normalize_digits
  words = ["The", "1977", "CAF\u00c9", "zebra"]
  np.testing.assert_array_equal(loaded.encode(words), vocab.encode(words))


@pytest.mark.parametrize("content, fragment", [
    ("{not json", "not a vocabulary JSON file"),
    (json.dumps({"kind": "wincls.Vocab", "words": ["a"]}), "must start with"),
    (json.dumps([1, 2]), "expected a JSON object"),
])
def test_load_rejects(tmp_path, content, fragment):
  path = tmp_path / "vocab.json"
  path.write_text(content)
  with pytest.raises(DataError, match=fragment) as info:
    Vocab.load(path)
  assert str(info.value).startswith(str(path))


@pytest.mark.parametrize("word, casing, caps", [
    ("1996", "numeric", "not_applicable"),
    ("1996-08-22", "mainly_numeric", "not_applicable"),
    ("3.5", "mainly_numeric", "not_applicable"),
    ("F-16", "contains_digit", "allcaps"),
    ("mp3", "contains_digit", "lower"),
    ("the", "lower", "lower"),
    ("e-mail", "lower", "lower"),
    ("EU", "allcaps", "allcaps"),
    ("U.S.", "allcaps", "allcaps"),
    ("Peter", "initcap", "initcap"),
    ("O'neil", "initcap", "initcap"),
    ("iPhone", "mixed", "noninitial_cap"),
    ("McDonald", "mixed", "noninitial_cap"),
    (".", "other", "not_applicable"),
    (":)", "other", "not_applicable"),
])
def test_casing_and_caps_classes(word, casing, caps):
  assert vocab_lib.CASING_CLASSES[vocab_lib.casing_class(word)] == casing
  assert vocab_lib.CAPS_CLASSES[vocab_lib.caps_class(word)] == caps


def test_feature_ids_and_sizes():
  words = ["Peter", "said", "1996", "."]
  ids = vocab_lib.feature_ids(words, ["casing", "caps"])
  assert ids.dtype == np.int32 and ids.shape == (4, 2)
  np.testing.assert_array_equal(ids[:, 0], vocab_lib.casing_ids(words))
  np.testing.assert_array_equal(ids[:, 1], vocab_lib.caps_ids(words))
  assert FEATURE_SIZES == {"casing": 9, "caps": 6}
  # Id 0 is reserved for window padding; every word gets an id in [1, size).
  assert ids[:, 0].min() >= 1 and ids[:, 0].max() < FEATURE_SIZES["casing"]
  assert ids[:, 1].min() >= 1 and ids[:, 1].max() < FEATURE_SIZES["caps"]
  assert vocab_lib.feature_ids(words, []).shape == (4, 0)
  with pytest.raises(ValueError, match="unknown feature 'shape'"):
    vocab_lib.feature_ids(words, ["shape"])


def test_label_vocab(tmp_path):
  tags = [["I-PER", "O", "B-geo-loc"], ["O", "I-LOC"]]
  labels = LabelVocab.from_tags(tags, scheme="iobes")
  assert labels.labels == ("O", "B-LOC", "I-LOC", "E-LOC", "S-LOC", "B-PER",
                           "I-PER", "E-PER", "S-PER", "B-geo-loc", "I-geo-loc",
                           "E-geo-loc", "S-geo-loc")
  assert labels.types == ["LOC", "PER", "geo-loc"]
  ids = labels.encode(["O", "S-PER", "E-geo-loc"])
  assert ids.dtype == np.int32 and ids.tolist() == [0, 8, 11]
  assert labels.decode(ids) == ["O", "S-PER", "E-geo-loc"]
  with pytest.raises(ValueError, match="label 'B-ORG' is not one of"):
    labels.encode(["B-ORG"])
  with pytest.raises(ValueError, match="cannot occur in scheme 'iob2'"):
    LabelVocab(["O", "S-PER"], scheme="iob2")
  labels.save(tmp_path / "labels.json")
  assert LabelVocab.load(tmp_path / "labels.json") == labels
  (tmp_path / "bad.json").write_text('{"kind": "wincls.Vocab"}')
  with pytest.raises(DataError, match="expected labels written by LabelVocab.save"):
    LabelVocab.load(tmp_path / "bad.json")
  assert len(LabelVocab.for_types(["PER", "ORG", "LOC", "MISC"], scheme="io")) == 5
