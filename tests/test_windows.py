"""Tests of wincls/data/windows.py: make_windows and encode_corpus."""

import numpy as np
import pytest

from wincls.data import vocab as vocab_lib
from wincls.data.conll import DataError
from wincls.data.conll import read_conll
from wincls.data.windows import encode_corpus
from wincls.data.windows import make_windows

L, R = -1, -2  # pad ids that cannot be mistaken for tokens
# Sentences [10 11 12], [20], [30 31].
IDS = np.array([10, 11, 12, 20, 30, 31])
LENGTHS = np.array([3, 1, 2])


@pytest.mark.parametrize("m, expected", [
    (0, [[10], [11], [12], [20], [30], [31]]),
    (1, [[L, 10, 11], [10, 11, 12], [11, 12, R],
         [L, 20, R],
         [L, 30, 31], [30, 31, R]]),
    (2, [[L, L, 10, 11, 12], [L, 10, 11, 12, R], [10, 11, 12, R, R],
         [L, L, 20, R, R],
         [L, L, 30, 31, R], [L, 30, 31, R, R]]),
])
def test_make_windows_hand_cases(m, expected):
  windows = make_windows(IDS, LENGTHS, half_width=m, pad_left=L, pad_right=R)
  assert windows.dtype == np.int32
  np.testing.assert_array_equal(windows, np.array(expected))


def test_make_windows_with_feature_columns():
  ids = np.stack([IDS, IDS + 100], axis=1)  # [6, K=2]
  windows = make_windows(ids, LENGTHS, half_width=1, pad_left=0, pad_right=0)
  assert windows.shape == (6, 3, 2) and windows.dtype == np.int32
  np.testing.assert_array_equal(windows[3], [[0, 0], [20, 120], [0, 0]])
  np.testing.assert_array_equal(windows[0], [[0, 0], [10, 110], [11, 111]])
  # Per-column pads broadcast over K.
  windows = make_windows(ids, LENGTHS, half_width=1, pad_left=[7, 8], pad_right=0)
  np.testing.assert_array_equal(windows[4, 0], [7, 8])


def _reference(ids, lengths, m, pad_left, pad_right):
  out, offset = [], 0
  for n in lengths:
    sentence = list(ids[offset:offset + n])
    padded = [pad_left] * m + sentence + [pad_right] * m
    out += [padded[i:i + 2 * m + 1] for i in range(n)]
    offset += n
  return np.array(out, dtype=np.int32).reshape(len(out), 2 * m + 1)


@pytest.mark.parametrize("m", [0, 1, 3, 7])
def test_make_windows_matches_loop_reference(m):
  rng = np.random.default_rng(m)
  lengths = rng.integers(0, 9, size=40)  # zero-length sentences included
  ids = rng.integers(4, 1000, size=lengths.sum())
  np.testing.assert_array_equal(
      make_windows(ids, lengths, half_width=m, pad_left=2, pad_right=3),
      _reference(ids, lengths, m, 2, 3))


def test_make_windows_empty_and_errors():
  assert make_windows(np.zeros(0, int), np.zeros(0, int), half_width=2,
                      pad_left=2, pad_right=3).shape == (0, 5)
  with pytest.raises(ValueError, match="lengths sum to 5 but ids has 6 tokens"):
    make_windows(IDS, [3, 2], half_width=1, pad_left=L, pad_right=R)
  with pytest.raises(ValueError, match="half_width=-1"):
    make_windows(IDS, LENGTHS, half_width=-1, pad_left=L, pad_right=R)
  with pytest.raises(ValueError, match=r"pad_left must be a scalar or \[\]"):
    make_windows(IDS, LENGTHS, half_width=1, pad_left=[1, 2], pad_right=R)
  with pytest.raises(ValueError, match="non-negative integers"):
    make_windows(IDS, [7, -1], half_width=1, pad_left=L, pad_right=R)


def test_encode_corpus(tmp_path):
  path = tmp_path / "train.txt"
  path.write_text("Peter I-PER\nBlackburn I-PER\nsaid O\n\nEU I-ORG\n")
  corpus = read_conll(path)
  vocab = vocab_lib.Vocab.build(corpus.words, lowercase=True)
  labels = vocab_lib.LabelVocab.from_tags(corpus.tags, scheme="iobes")
  encoded = encode_corpus(corpus, vocab, window_size=1, features=("casing", "caps"),
                          label_vocab=labels)
  ids = {w: vocab.id(w) for w in ("Peter", "Blackburn", "said", "EU")}
  np.testing.assert_array_equal(encoded.window_ids, [
      [2, ids["Peter"], ids["Blackburn"]],
      [ids["Peter"], ids["Blackburn"], ids["said"]],
      [ids["Blackburn"], ids["said"], 3],
      [2, ids["EU"], 3]])
  assert encoded.feature_ids.shape == (4, 3, 2)
  assert encoded.feature_ids.dtype == np.int32
  casing = vocab_lib.CASING_CLASSES.index
  np.testing.assert_array_equal(encoded.feature_ids[0, :, 0],
                                [0, casing("initcap"), casing("initcap")])
  np.testing.assert_array_equal(encoded.feature_ids[3, :, 1],
                                [0, vocab_lib.CAPS_CLASSES.index("allcaps"), 0])
  # IOB1 tags converted to IOBES.
  assert labels.decode(encoded.labels) == ["B-PER", "E-PER", "O", "S-ORG"]
  assert encoded.labels.dtype == np.int32
  np.testing.assert_array_equal(encoded.lengths, [3, 1])
  # Without labels, and without features.
  bare = encode_corpus(corpus, vocab, window_size=0)
  assert bare.feature_ids.shape == (4, 1, 0)
  assert bare.labels.tolist() == [-1] * 4


def test_encode_corpus_unknown_label_names_line(tmp_path):
  path = tmp_path / "dev.txt"
  path.write_text("a O\n\nb O\nc I-LOC\n")
  corpus = read_conll(path)
  labels = vocab_lib.LabelVocab.for_types(["PER"], scheme="iob2")
  with pytest.raises(DataError, match=r"dev.txt:4: tag 'I-LOC' \('B-LOC' in iob2\)"):
    encode_corpus(corpus, vocab_lib.Vocab.build([]), window_size=1,
                  label_vocab=labels)
