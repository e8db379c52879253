"""Word-vector files: GloVe/word2vec text (plain or gzipped), word2vec binary.

Readers return ``(words, matrix)``: the words in file order and a float32
``[num_words, dim]`` matrix. Every error in a file is a ``DataError`` whose
message starts with ``PATH:LINE:`` (or ``PATH:`` for whole-file problems),
including a ``.gz`` file that is not gzip data or is cut short
(``_gzip_errors``).

- ``read_text_vectors``: GloVe text (``word v1 ... vD`` per line) or word2vec
  text (the same after a ``N D`` header line), plain or gzipped (``.gz``).
- ``read_word2vec_binary``: word2vec's binary format (``N D`` header line, then
  per word: the word, a space, D little-endian float32, optionally a newline).
- ``read_vectors``: picks one of the two by the file name (``.bin``/``.bin.gz``
  is binary).
"""

from __future__ import annotations

import contextlib
import gzip
import mmap
import os
import zlib
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from wincls.data.conll import DataError

Matrix = np.ndarray  # float32 [num_words, dim]

_BATCH_ROWS = 8192  # rows converted to floats at once


def open_binary(path: str | os.PathLike) -> BinaryIO:
  """Opens a vectors file for reading bytes (``.gz`` decompressed)."""
  path = Path(path)
  if not path.exists():
    raise FileNotFoundError(f"{path}: no such word-vectors file")
  if path.is_dir():
    raise IsADirectoryError(f"{path}: is a directory, expected a word-vectors file")
  if path.suffix == ".gz":
    return gzip.open(path, "rb")
  return open(path, "rb")


@contextlib.contextmanager
def _gzip_errors(path: str | os.PathLike):
  """Turns the errors of reading a damaged ``.gz`` file into a ``DataError``.

  ``gzip`` raises ``BadGzipFile`` (not gzip data, a wrong CRC or length),
  ``EOFError`` (the file ends before the end of the compressed stream) and
  ``zlib.error`` (corrupt compressed data), none of which names the file.
  """
  try:
    yield
  except gzip.BadGzipFile as e:
    raise DataError(path, None, f"not a valid gzip file ({e}); expected gzip-"
                    "compressed word vectors (or a name without .gz)") from None
  except EOFError as e:
    raise DataError(path, None, f"gzip data cut short ({e}); the file is truncated: "
                    "download or copy it again") from None
  except zlib.error as e:
    raise DataError(path, None, f"damaged gzip data ({e}); download or copy the file "
                    "again") from None


def is_float(text: str) -> bool:
  """Whether ``float(text)`` succeeds."""
  try:
    float(text)
  except ValueError:
    return False
  return True


def _parse_floats(path, first_line: int, rows: list[list[str]], dim: int) -> Matrix:
  """float32 ``[len(rows), dim]`` from rows of number strings, or DataError."""
  flat = [x for row in rows for x in row]
  try:
    values = np.array(flat, dtype=np.float32)
  except ValueError:
    values = None
  if values is not None and np.isfinite(values).all():
    return values.reshape(len(rows), dim)
  for offset, row in enumerate(rows):  # find the culprit
    for column, text in enumerate(row):
      if not is_float(text):
        raise DataError(path, first_line + offset,
                        f"value {column + 1} is {text!r}; expected {dim} numbers "
                        "after the word")
      if not np.isfinite(np.float32(text)):
        raise DataError(path, first_line + offset,
                        f"value {column + 1} is {text!r}; expected finite numbers")
  raise AssertionError("unreachable")  # pragma: no cover


def _text_header(path, line: str, *, header: bool | None,
                 dim: int | None) -> tuple[bool, tuple[int, int] | None]:
  """Whether the first line is word2vec's ``N D`` header, and ``(N, D)`` if so.

  Raises:
    DataError: ``header`` is True and the line is no header, or its dimension
      differs from ``dim``.
  """
  head = line.split()
  looks_like_header = len(head) == 2 and all(h.isdigit() for h in head)
  if header is None:
    header = looks_like_header
  if not header:
    return False, None
  if not looks_like_header:
    raise DataError(path, 1, f"header is {line[:60]!r}; expected the "
                    "word2vec header 'NUM_WORDS DIM'")
  declared_rows, declared_dim = int(head[0]), int(head[1])
  if dim is not None and declared_dim != dim:
    raise DataError(path, 1, f"header says dimension {declared_dim}; "
                    f"expected {dim}")
  return True, (declared_rows, declared_dim)


def _first_row_dim(path, lineno: int, line: str) -> int:
  """The dimension a headerless file's first row gives (its fields less the word)."""
  fields = line.split(" ")
  if len(fields) < 2:
    raise DataError(path, lineno, f"found only {line[:40]!r}; expected "
                    "a word followed by its vector's values")
  return len(fields) - 1


def _split_row(path, lineno: int, line: str, dim: int, where_dim: str
               ) -> tuple[str, list[str]]:
  """``(word, [D value strings])`` of a text row (``read_text_vectors``'s rules).

  The word is everything before the last ``dim`` fields; a word whose own
  last field is a number means a ragged row, not a word with spaces.
  """
  fields = line.rsplit(" ", dim)
  if len(fields) != dim + 1:
    raise DataError(path, lineno, f"row has {len(fields) - 1} values; "
                    f"expected {dim} ({where_dim})")
  word = fields[0]
  if " " in word and is_float(word.rsplit(" ", 1)[1]):
    num_values = dim + sum(is_float(x) for x in word.split(" ")[1:])
    raise DataError(path, lineno, f"row has {num_values} values; expected "
                    f"{dim} ({where_dim})")
  return word, fields[1:]


def read_text_vectors(path: str | os.PathLike, *, dim: int | None = None,
                      header: bool | None = None,
                      max_words: int | None = None) -> tuple[list[str], Matrix]:
  """Reads GloVe or word2vec text vectors (optionally gzipped).

  A line is ``word v1 ... vD`` with single spaces. The word is everything
  before the last D fields, so words containing spaces (GloVe 840B has a few)
  are read whole; a line with more than D+1 fields whose extra fields are
  numbers is ragged, not a word with spaces.

  Args:
    path: the file; ``.gz`` is decompressed.
    dim: the expected dimension; None takes it from the header or first row.
    header: whether the first line is word2vec's ``N D``; None detects it (a
      first line of exactly two integers).
    max_words: stop after this many words (None: all).

  Returns:
    ``(words, matrix)``: the words in file order, float32 ``[N, D]``.

  Raises:
    FileNotFoundError: no such file.
    DataError: an empty file, a bad header, a row whose dimension differs from
      the header's / first row's / ``dim``, a non-numeric or non-finite value,
      a count different from the header's, invalid UTF-8.
  """
  words: list[str] = []
  blocks: list[Matrix] = []
  batch: list[list[str]] = []
  batch_start = 0
  declared_rows = None
  num_lines = 0
  where_dim = "the dimension asked for" if dim is not None else None
  with open_binary(path) as f, _gzip_errors(path):
    for lineno, raw in enumerate(f, start=1):
      num_lines = lineno
      try:
        line = raw.decode("utf-8")
      except UnicodeDecodeError as e:
        raise DataError(path, lineno, f"not valid UTF-8 ({e.reason} at byte "
                        f"{e.start}); expected UTF-8 text") from None
      line = line.rstrip("\r\n").rstrip(" ")
      if lineno == 1:
        header, declared = _text_header(path, line, header=header, dim=dim)
        if header:
          declared_rows, dim = declared
          where_dim = "the header's dimension, line 1"
          continue
      if not line:
        raise DataError(path, lineno, "empty line; expected 'word v1 ... vD'")
      if max_words is not None and len(words) >= max_words:
        break
      if dim is None:
        dim, where_dim = _first_row_dim(path, lineno, line), (
            f"the first row's dimension, line {lineno}")
      word, values = _split_row(path, lineno, line, dim, where_dim)
      if not batch:
        batch_start = lineno
      words.append(word)
      batch.append(values)
      if len(batch) == _BATCH_ROWS:
        blocks.append(_parse_floats(path, batch_start, batch, dim))
        batch = []
  if batch:
    blocks.append(_parse_floats(path, batch_start, batch, dim))
  if num_lines == 0:
    raise DataError(path, None, "empty file; expected lines 'word v1 ... vD' "
                    "(GloVe) or a 'NUM_WORDS DIM' header and such lines (word2vec)")
  if declared_rows is not None and max_words is None and len(words) != declared_rows:
    raise DataError(path, None, f"header says {declared_rows} words; the file "
                    f"has {len(words)}")
  matrix = (np.concatenate(blocks) if blocks else np.zeros((0, dim), np.float32))
  return words, matrix


def read_word2vec_binary(path: str | os.PathLike, *, dim: int | None = None,
                         max_words: int | None = None) -> tuple[list[str], Matrix]:
  """Reads word2vec's binary format (optionally gzipped).

  Layout: an ASCII line ``N D``; then N records ``word<space><D float32 LE>``,
  each optionally followed by a newline (word2vec writes one, some tools not).

  Args:
    path: the file; ``.gz`` is decompressed (into memory).
    dim: the expected dimension; None takes the header's.
    max_words: stop after this many words (None: all).

  Returns:
    ``(words, matrix)``: the words in file order, float32 ``[N, D]``.

  Raises:
    FileNotFoundError: no such file.
    DataError: an empty file, a bad header, a dimension different from
      ``dim``, a truncated record, non-finite values, invalid UTF-8, trailing
      data. Record errors name line 1's header count and the record number.
  """
  with open_binary(path) as f, _gzip_errors(path):
    if Path(path).suffix == ".gz":
      data: Any = f.read()
    else:
      size = os.fstat(f.fileno()).st_size
      data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
  try:
    if not len(data):
      raise DataError(path, None, "empty file; expected a word2vec binary file "
                      "(header line 'NUM_WORDS DIM', then the records)")
    end = data.find(b"\n")
    head = bytes(data[:end if end >= 0 else 64]).split()
    if end < 0 or len(head) != 2 or not all(h.isdigit() for h in head):
      raise DataError(path, 1, f"header is {bytes(data[:40])!r}; expected "
                      "'NUM_WORDS DIM' then a newline")
    num_rows, declared_dim = int(head[0]), int(head[1])
    if dim is not None and declared_dim != dim:
      raise DataError(path, 1, f"header says dimension {declared_dim}; expected {dim}")
    dim = declared_dim
    if max_words is not None:
      num_rows = min(num_rows, max_words)
    row_bytes = 4 * dim
    words = []
    matrix = np.empty((num_rows, dim), np.float32)
    pos = end + 1
    for i in range(num_rows):
      while pos < len(data) and data[pos:pos + 1] in (b"\n", b"\r"):
        pos += 1
      space = data.find(b" ", pos)
      if space < 0 or space + 1 + row_bytes > len(data):
        raise DataError(path, None, f"record {i + 1} (byte {pos}) is truncated; "
                        f"the header (line 1) promises {int(head[0])} records of a "
                        f"word, a space and {dim} float32")
      try:
        words.append(bytes(data[pos:space]).decode("utf-8"))
      except UnicodeDecodeError as e:
        raise DataError(path, None, f"record {i + 1} (byte {pos}): word is not "
                        f"valid UTF-8 ({e.reason}); expected UTF-8") from None
      matrix[i] = np.frombuffer(data, dtype="<f4", count=dim, offset=space + 1)
      pos = space + 1 + row_bytes
    if max_words is None and bytes(data[pos:pos + 64]).strip():
      raise DataError(path, None, f"{len(data) - pos} bytes after the "
                      f"{num_rows} records the header (line 1) announces; "
                      f"expected the end of the file")
  finally:
    if isinstance(data, mmap.mmap):
      data.close()
  bad = ~np.isfinite(matrix).all(axis=1)
  if bad.any():
    i = int(np.argmax(bad))
    raise DataError(path, None, f"record {i + 1} ({words[i]!r}) has non-finite "
                    "values; expected finite float32")
  return words, matrix


def read_vectors(path: str | os.PathLike, *, dim: int | None = None,
                 binary: bool | None = None) -> tuple[list[str], Matrix]:
  """Reads a vectors file: word2vec binary if ``binary`` (None: the name ends
  in ``.bin`` or ``.bin.gz``), GloVe/word2vec text otherwise."""
  if binary is None:
    name = Path(path).name
    binary = name.endswith(".bin") or name.endswith(".bin.gz")
  if binary:
    return read_word2vec_binary(path, dim=dim)
  return read_text_vectors(path, dim=dim)
