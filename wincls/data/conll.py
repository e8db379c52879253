"""Reading and writing CoNLL-format NER files.

The format: one token per line, columns separated by spaces or tabs, the word in
the first column and the NER tag in the last one (or in ``tag_column``); a blank
or whitespace-only line ends a sentence (WNUT-2016 uses a line holding just a
tab); a line whose first column is ``-DOCSTART-`` starts a new document and also
ends a sentence. Lines end with LF, CRLF or a lone CR (old Mac files); trailing
spaces and a UTF-8 byte-order mark are tolerated. A control character inside a
line (form feed, vertical tab, other C0 controls, DEL) is an error: a token
holding one could not be written back one per line, so the reader refuses it
up front, with its line. Documents are counted only when they hold sentences, so a first
document without a ``-DOCSTART-`` line counts and a trailing ``-DOCSTART-`` with
nothing after it does not (``eng.train`` has both).

Every problem in a file raises ``DataError``, a ``ValueError`` whose ``str()``
is ``PATH:LINE: what was wrong; what was expected``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tempfile
from pathlib import Path
from typing import Sequence

from wincls.data import tags as tags_lib

DOCSTART = "-DOCSTART-"
# Columns are separated by ASCII spaces or tabs only: ``str.split()`` would
# also split on U+00A0 and U+2028, which occur inside tweets' tokens.
_COLUMN_SEP = re.compile(r"[ \t]+")
_TAG = re.compile(r"^(?:O|[BIES]-\S+)$")
_ASCII_SPACE = re.compile(r"\s", re.ASCII)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# C0 controls but tab (a column separator), LF and CR (line breaks); and DEL.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
NO_TAGS = "none"  # Corpus.scheme of a file read with has_tags=False.


class DataError(ValueError):
  """A problem in an input file, located by path and 1-based line.

  Attributes:
    path: the file, as given.
    line: 1-based line number, or None when the problem is the whole file.
    message: what was wrong and what was expected.
  """

  def __init__(self, path: str | os.PathLike, line: int | None, message: str):
    # Keep the three fields in ``args`` so that the error pickles.
    super().__init__(str(path), line, message)
    self.path = str(path)
    self.line = line
    self.message = message

  def __str__(self) -> str:
    if self.line is None:
      return f"{self.path}: {self.message}"
    return f"{self.path}:{self.line}: {self.message}"


@dataclasses.dataclass(frozen=True)
class Sentence:
  """One sentence of a CoNLL file.

  Attributes:
    words: the tokens, ``[num_words]``.
    tags: one tag per word, or ``()`` for a file read with ``has_tags=False``.
    line: 1-based line of the first token in its file (token i is on line
      ``line + i``).
    doc: 0-based index of its document among the file's non-empty documents.
  """

  words: tuple[str, ...]
  tags: tuple[str, ...]
  line: int
  doc: int

  def __len__(self) -> int:
    return len(self.words)


@dataclasses.dataclass
class Corpus:
  """The sentences of one file (or of one split of it).

  Attributes:
    path: the file they came from.
    sentences: in file order.
    num_documents: documents that hold at least one sentence.
    scheme: the tag scheme, one of ``iob1|iob2|iobes|io`` (``"none"`` for an
      untagged file).
  """

  path: str
  sentences: list[Sentence]
  num_documents: int
  scheme: str

  @property
  def num_tokens(self) -> int:
    return sum(len(s.words) for s in self.sentences)

  @property
  def words(self) -> list[tuple[str, ...]]:
    """Per-sentence words."""
    return [s.words for s in self.sentences]

  @property
  def tags(self) -> list[tuple[str, ...]]:
    """Per-sentence tags."""
    return [s.tags for s in self.sentences]

  def __len__(self) -> int:
    return len(self.sentences)

  def subset(self, sentences: Sequence[Sentence]) -> "Corpus":
    """A corpus of some of these sentences (same path and scheme)."""
    sentences = list(sentences)
    return Corpus(path=self.path, sentences=sentences,
                  num_documents=len({s.doc for s in sentences}),
                  scheme=self.scheme)


def _line_of(data: bytes, offset: int) -> int:
  """The 1-based line of byte ``offset``, lines ending with LF, CRLF or CR."""
  head = data[:offset]
  return head.count(b"\n") + head.count(b"\r") - head.count(b"\r\n") + 1


def split_lines(text: str) -> list[str]:
  """The lines of ``text`` (LF, CRLF or lone CR ends), without a final empty one."""
  lines = _LINE_BREAK.split(text)
  if lines and lines[-1] == "":
    lines.pop()  # the final newline does not start a line
  return lines


def check_printable(path: str | os.PathLike, number: int, line: str) -> None:
  """DataError ``PATH:LINE`` if ``line`` holds a control character (module docstring)."""
  bad = _CONTROL.search(line)
  if bad:
    raise DataError(path, number, f"control character U+{ord(bad.group()):04X} at "
                    f"column {bad.start() + 1}; expected printable text (columns "
                    "separated by spaces or tabs)")


def read_text(path: Path) -> str:
  """Returns the decoded text of ``path``; DataError if it is not UTF-8 text."""
  if not path.exists():
    raise DataError(path, None, "no such file; expected a CoNLL file (one token "
                    "per line, the tag in the last column)")
  if path.is_dir():
    raise DataError(path, None, "is a directory; expected a CoNLL file")
  try:
    data = path.read_bytes()
  except OSError as e:
    raise DataError(path, None, f"cannot be read ({e.strerror})") from None
  nul = data.find(b"\0")
  if nul >= 0:
    raise DataError(path, _line_of(data, nul),
                    "contains a NUL byte (a binary file?); expected UTF-8 text")
  try:
    return data.decode("utf-8-sig")
  except UnicodeDecodeError as e:
    line = _line_of(data, e.start)
    column = e.start - max(data.rfind(b"\n", 0, e.start), data.rfind(b"\r", 0, e.start))
    raise DataError(path, line, f"byte 0x{data[e.start]:02x} at column {column} "
                    "is not valid UTF-8; expected UTF-8 text") from None


def read_conll(path: str | os.PathLike, *, tag_column: int = -1,
               has_tags: bool = True, scheme: str | None = None) -> Corpus:
  """Reads a CoNLL file into a Corpus.

  Args:
    path: the file.
    tag_column: index of the NER tag column (negative counts from the end);
      the word is always column 0 and must not be the tag column.
    has_tags: False for untagged text (e.g. raw input to tag): the word is
      column 0, any other columns are ignored, and every sentence gets
      ``tags=()``.
    scheme: the file's tag scheme (``iob1|iob2|iobes|io``); every tag's
      prefix is checked against it. None: detected with
      ``wincls.data.tags.detect_scheme``.

  Returns:
    The corpus, with ``scheme`` as given or detected (``"none"`` without tags).

  Raises:
    DataError: a missing path or a directory (line None), a file that is not
      UTF-8 or holds NUL bytes, an empty file or one without sentences, a line
      whose number of columns differs from the first token line's, too few
      columns for ``tag_column``, a tag that is not ``O``/``B-X``/``I-X``/
      ``E-X``/``S-X`` (or whose prefix ``scheme`` does not allow).
  """
  if scheme is not None and scheme not in tags_lib.SCHEMES:
    raise ValueError(f"scheme={scheme!r} is not one of {', '.join(tags_lib.SCHEMES)}")
  path = Path(path)
  lines = split_lines(read_text(path))
  if not lines:
    raise DataError(path, 1, "the file is empty; expected one token per line, "
                    "blank lines between sentences")
  reader = _Reader(path, tag_column=tag_column, has_tags=has_tags, scheme=scheme)
  for number, line in enumerate(lines, start=1):
    reader.line(number, line)
  reader.end_sentence()
  if not reader.sentences:
    raise DataError(path, len(lines), "no sentences (only blank and -DOCSTART- "
                    "lines); expected one token per line")
  if not has_tags:
    found = NO_TAGS
  elif scheme is not None:
    found = scheme
  else:
    found = tags_lib.detect_scheme(s.tags for s in reader.sentences)
  return Corpus(path=str(path), sentences=reader.sentences,
                num_documents=reader.num_documents, scheme=found)


class _Reader:
  """``read_conll``'s state: the sentences so far, the columns, the document."""

  def __init__(self, path: Path, *, tag_column: int, has_tags: bool,
               scheme: str | None):
    self.path, self.tag_column, self.has_tags = path, tag_column, has_tags
    self.allowed = "O" + tags_lib.PREFIXES[scheme] if scheme else None
    self.scheme = scheme
    self.sentences: list[Sentence] = []
    self.words: list[str] = []
    self.tags: list[str] = []
    self.first_line = 0
    self.num_columns = 0  # of the first token line
    self.num_columns_line = 0
    self.doc = 0
    self.doc_has_sentences = False
    self.valid_tags: set[str] = set()

  @property
  def num_documents(self) -> int:
    return self.doc + 1 if self.doc_has_sentences else self.doc

  def end_sentence(self) -> None:
    if self.words:
      self.sentences.append(Sentence(tuple(self.words),
                                     tuple(self.tags) if self.has_tags else (),
                                     self.first_line, self.doc))
      self.doc_has_sentences = True
      self.words, self.tags = [], []

  def line(self, number: int, line: str) -> None:
    check_printable(self.path, number, line)
    line = line.strip(" \t")
    if not line:
      self.end_sentence()
      return
    columns = _COLUMN_SEP.split(line)
    if columns[0] == DOCSTART:
      self.end_sentence()
      if self.doc_has_sentences:
        self.doc += 1
        self.doc_has_sentences = False
      return
    self._check_columns(number, line, columns)
    if not self.words:
      self.first_line = number
    self.words.append(columns[0])
    if self.has_tags:
      self.tags.append(self._tag(number, columns[self.tag_column]))

  def _check_columns(self, number: int, line: str, columns: list[str]) -> None:
    path = self.path
    if self.num_columns:
      if len(columns) != self.num_columns:
        raise DataError(path, number, f"found {len(columns)} columns; expected "
                        f"{self.num_columns} like the first token line (line "
                        f"{self.num_columns_line})")
      return
    self.num_columns, self.num_columns_line = len(columns), number
    if not self.has_tags:
      return
    if self.num_columns < 2:
      raise DataError(path, number, f"found 1 column ({line!r}); expected "
                      "the word and a tag column, e.g. 'Peter B-PER' (read "
                      "untagged text with has_tags=False)")
    tag_column = self.tag_column
    index = tag_column + self.num_columns if tag_column < 0 else tag_column
    if not 0 < index < self.num_columns:
      raise DataError(path, number, f"tag_column={tag_column} does not name "
                      f"a column after the word among the {self.num_columns} "
                      "columns of the first token line")

  def _tag(self, number: int, tag: str) -> str:
    if tag not in self.valid_tags:
      if not _TAG.match(tag):
        raise DataError(self.path, number, f"invalid tag {tag!r}; expected O or "
                        "B-/I-/E-/S- followed by an entity type, e.g. B-PER")
      if self.allowed is not None and tag[0] not in self.allowed:
        raise DataError(self.path, number, f"tag {tag!r} is not an {self.scheme} tag; "
                        f"expected prefixes {'/'.join(self.allowed)}")
      self.valid_tags.add(tag)
    return tag


def format_conll(words: Sequence[Sequence[str]], gold: Sequence[Sequence[str]] | None,
                 pred: Sequence[Sequence[str]], *, path: str | os.PathLike = "") -> str:
  """The text ``write_conll`` writes: ``word [gold] pred`` lines, blank lines
  between sentences.

  Raises:
    ValueError: the sequences differ in length, or a word or tag is empty or
      holds whitespace (conlleval splits columns on whitespace).
  """
  if len(pred) != len(words) or (gold is not None and len(gold) != len(words)):
    raise ValueError(
        f"write_conll({path}): {len(words)} sentences of words but "
        f"{len(pred)} of predictions" +
        ("" if gold is None else f" and {len(gold)} of gold tags"))
  out = []
  for i, sentence in enumerate(words):
    columns = [sentence] + ([gold[i]] if gold is not None else []) + [pred[i]]
    if any(len(c) != len(sentence) for c in columns):
      raise ValueError(f"write_conll({path}): sentence {i} has "
                       f"{[len(c) for c in columns]} words/tags; expected equal "
                       "lengths")
    for fields in zip(*columns):
      for field in fields:
        if not field or _ASCII_SPACE.search(field):
          raise ValueError(f"write_conll({path}): sentence {i}: {field!r} is "
                           "empty or holds whitespace; expected a single token")
      out.append(" ".join(fields))
    out.append("")
  return "\n".join(out) + ("\n" if out else "")


def write_conll(path: str | os.PathLike, words: Sequence[Sequence[str]],
                gold: Sequence[Sequence[str]] | None,
                pred: Sequence[Sequence[str]]) -> None:
  """Writes ``word gold pred`` lines (``word pred`` without gold), atomically.

  Sentences are separated by blank lines, so conlleval reads the file
  (``conlleval < path``; with gold present). The file is written to a
  temporary file in the same directory and moved into place with
  ``os.replace``, so a reader never sees half of it.

  Args:
    path: the output file.
    words: per-sentence words.
    gold: per-sentence gold tags, or None.
    pred: per-sentence predicted tags.

  Raises:
    ValueError: as ``format_conll``.
  """
  text = format_conll(words, gold, pred, path=path)
  path = Path(path)
  fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                             dir=path.parent)
  try:
    with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
      f.write(text)
    os.chmod(tmp, 0o644)  # mkstemp creates it 0600
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.unlink(tmp)
    raise
