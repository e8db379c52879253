"""Tests of wincls/data/vectors/io.py: GloVe/word2vec text, gz and binary readers."""

import gzip
import io
import struct

import numpy as np
import pytest

from wincls.data import vectors
from wincls.data.conll import DataError

WORDS = ["the", "Paris", "1996"]
MATRIX = np.array([[0.5, -1.0, 2.25], [1e-3, 3.0, -0.125], [7.0, 0.0, -2.5]],
                  np.float32)


def _text(words, matrix, header=False):
  lines = [f"{len(words)} {matrix.shape[1]}"] if header else []
  lines += [" ".join([w] + [repr(float(x)) for x in row])
            for w, row in zip(words, matrix)]
  return "\n".join(lines) + "\n"


def _write(path, text):
  if str(path).endswith(".gz"):
    with gzip.open(path, "wt", encoding="utf-8") as f:
      f.write(text)
  else:
    path.write_text(text, encoding="utf-8")
  return path


def _word2vec_binary(words, matrix, newline=True):
  out = io.BytesIO()
  out.write(f"{len(words)} {matrix.shape[1]}\n".encode())
  for word, row in zip(words, matrix):
    out.write(word.encode("utf-8") + b" ")
    out.write(struct.pack(f"<{len(row)}f", *row))
    if newline:
      out.write(b"\n")
  return out.getvalue()


# ---------------------------------------------------------------- readers


@pytest.mark.parametrize("header", [False, True])
@pytest.mark.parametrize("name", ["v.txt", "v.txt.gz"])
def test_read_text_vectors(tmp_path, header, name):
  path = _write(tmp_path / name, _text(WORDS, MATRIX, header=header))
  words, matrix = vectors.read_text_vectors(path)
  assert words == WORDS
  assert matrix.dtype == np.float32
  np.testing.assert_array_equal(matrix, MATRIX)
  words, matrix = vectors.read_vectors(path, dim=3)
  assert words == WORDS and matrix.shape == (3, 3)


def test_read_text_vectors_word_with_spaces_and_max_words(tmp_path):
  path = _write(tmp_path / "v.txt", "a 1 2\n. . . 3 4\nb 5 6\n")
  words, matrix = vectors.read_text_vectors(path)
  assert words == ["a", ". . .", "b"]
  np.testing.assert_array_equal(matrix[1], [3, 4])
  words, matrix = vectors.read_text_vectors(path, max_words=2)
  assert words == ["a", ". . ."] and matrix.shape == (2, 2)


@pytest.mark.parametrize("newline", [True, False])
@pytest.mark.parametrize("name", ["v.bin", "v.bin.gz"])
def test_read_word2vec_binary(tmp_path, newline, name):
  data = _word2vec_binary(WORDS + ["naïve"], np.vstack([MATRIX, [[1, 2, 3]]]),
                          newline=newline)
  path = tmp_path / name
  path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
  words, matrix = vectors.read_vectors(path)  # binary by the name
  assert words == WORDS + ["naïve"]
  np.testing.assert_array_equal(matrix[:3], MATRIX)
  np.testing.assert_array_equal(matrix[3], [1, 2, 3])


@pytest.mark.parametrize("text, kwargs, where, expected", [
    # Dimension differs from the header's.
    ("2 3\nthe 1 2 3\nof 1 2\n", {}, ":3:",
     "row has 2 values; expected 3 (the header's dimension, line 1)"),
    ("2 3\nthe 1 2 3\n", {"dim": 4}, ":1:", "header says dimension 3; expected 4"),
    # Ragged row vs the first row (too few and too many values).
    ("the 1 2 3\nof 1 2\n", {}, ":2:",
     "row has 2 values; expected 3 (the first row's dimension, line 1)"),
    ("the 1 2 3\nof 1 2 3 4\n", {}, ":2:", "row has 4 values; expected 3"),
    # Dimension differs from the expected one.
    ("the 1 2 3\n", {"dim": 2}, ":1:", "row has 3 values; expected 2 (the dimension asked for)"),
    ("the 1 2\nof 1 x\n", {}, ":2:", "value 2 is 'x'"),
    ("the 1 2\nof 1 nan\n", {}, ":2:", "expected finite numbers"),
    ("the 1 2\n\nof 1 2\n", {}, ":2:", "empty line"),
    ("3 2\nthe 1 2\nof 1 2\n", {}, ": ", "header says 3 words; the file has 2"),
    ("", {}, ": ", "empty file"),
])
def test_read_text_vectors_errors(tmp_path, text, kwargs, where, expected):
  path = _write(tmp_path / "bad.txt", text)
  with pytest.raises(DataError) as e:
    vectors.read_text_vectors(path, **kwargs)
  assert str(e.value).startswith(str(path) + where)
  assert expected in str(e.value)


def test_read_errors_bad_utf8_and_missing_file(tmp_path):
  path = tmp_path / "bad.txt"
  path.write_bytes(b"the 1 2\n\xff\xfe 1 2\n")
  with pytest.raises(DataError, match=r"bad.txt:2: not valid UTF-8"):
    vectors.read_text_vectors(path)
  with pytest.raises(FileNotFoundError, match="no such word-vectors file"):
    vectors.read_vectors(tmp_path / "missing.txt")


def test_read_word2vec_binary_errors(tmp_path):
  data = _word2vec_binary(WORDS, MATRIX)
  path = tmp_path / "v.bin"
  path.write_bytes(data[:-5])
  with pytest.raises(DataError, match=r"v.bin: record 3 .* truncated"):
    vectors.read_word2vec_binary(path)
  path.write_bytes(data)
  with pytest.raises(DataError, match=r"v.bin:1: header says dimension 3; expected 5"):
    vectors.read_word2vec_binary(path, dim=5)
  path.write_bytes(data + b"extra 1 2 3\n")
  with pytest.raises(DataError, match="after the 3 records"):
    vectors.read_word2vec_binary(path)
  path.write_bytes(b"")
  with pytest.raises(DataError, match="empty file"):
    vectors.read_word2vec_binary(path)
  path.write_bytes(b"the 0.1 0.2\n")
  with pytest.raises(DataError, match=r"v.bin:1: header is"):
    vectors.read_word2vec_binary(path)


@pytest.mark.parametrize("name", ["v.txt.gz", "v.bin.gz"])
def test_damaged_gzip_is_a_data_error_naming_the_file(tmp_path, name):
  data = (_word2vec_binary(WORDS, MATRIX) if ".bin" in name
          else _text(WORDS, MATRIX).encode() * 50)
  good = gzip.compress(data)
  path = tmp_path / name
  path.write_bytes(b"plain text, not gzip\n")
  with pytest.raises(DataError, match=rf"{name}: not a valid gzip file"):
    vectors.read_vectors(path)
  path.write_bytes(good[:len(good) // 2])
  with pytest.raises(DataError, match=rf"{name}: gzip data cut short .* truncated"):
    vectors.read_vectors(path)
