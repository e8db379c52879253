"""Gazetteer lists: read and checked, matched over sentences, and their coverage.

A list is a UTF-8 text file of one entry a line, each entry a name as the data
tokenises it (``New York``, ``Peter``); the entry's tokens are its
whitespace-separated parts. Every list has a type, one of ``TYPES`` (CoNLL-2003's
entity types): ``--gazetteers=LOC=cities.txt,PER=names.txt``. A list is refused
before anything trains, in one line naming the flag (``parse_specs``: a type
not in ``TYPES``, a missing file) or ``file:line`` (``read_list``: an empty or
binary file, an entry of only spaces). Empty lines are skipped.

**Matching** (``Gazetteer.matches``), for each type on its own, left to right,
longest match first: at position i the longest entry of that type that the
words from i on spell is a match, and the scan goes on after it (so with
``New York`` and ``York`` in one list, ``New York Times`` gives one match,
``New York``). Words are compared as written, except that a run of words all in
capitals also matches an entry in capitals (``NEW YORK`` matches ``New York``;
headlines are written so). A token's **membership** is the set of types whose
matches cover it, a bit set ``Σ_k 2^k [type k covers it]``, and its feature id is
``1 + bits`` in ``[1, SIZE)`` (0 is window padding): ``SIZE = 1 + 2^4 = 17``
ids, whatever lists a run has, so an id means the same in every run.

**Coverage** (``coverage``): for each type with a list, the share of a corpus's
entities of that type (``ENTITY_TYPES``: WNUT-2016's ``geo-loc``, ``person``
and ``company`` count as LOC, PER and ORG) whose every token the type's matches
cover (``matched``), and of those covered by one match exactly (``exact``);
and the share of the tokens it flags that lie in such an entity.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from wincls.data import tags as tags_lib
from wincls.data.conll import DataError

TYPES = ("LOC", "PER", "ORG", "MISC")  # bit k of a token's membership: TYPES[k]
SIZE = 1 + 2 ** len(TYPES)  # ids: 0 padding, then 1 + membership bits
# The entity types of a dataset that each list type is scored on (coverage).
ENTITY_TYPES = {"LOC": ("LOC", "geo-loc"), "PER": ("PER", "person"),
                "ORG": ("ORG", "company"), "MISC": ("MISC",)}

Match = tuple[str, int, int]  # (type, start, end_exclusive)


@dataclasses.dataclass(frozen=True)
class ListSpec:
  """One list of a run: its type, its file, and the flag entry that named it."""
  type: str
  path: Path
  given: str  # ``TYPE=PATH`` as given (or the default set's name), for messages


def parse_specs(specs: Sequence[str], *, flag: str = "--gazetteers") -> list[ListSpec]:
  """``TYPE=PATH`` entries as ``ListSpec``s.

  Raises:
    ValueError: one line naming the flag entry: not ``TYPE=PATH``, a type not
      in ``TYPES``, or no such file.
  """
  out = []
  for given in specs:
    type_, sep, path = given.partition("=")
    type_, path = type_.strip(), path.strip()
    if not sep or not type_ or not path:
      raise ValueError(f"{flag}: {given!r} is not TYPE=PATH (e.g. LOC=cities.txt)")
    if type_ not in TYPES:
      raise ValueError(f"{flag}: {given!r}: unknown type {type_!r}; expected one of "
                       f"{', '.join(TYPES)}")
    if not Path(path).is_file():
      raise ValueError(f"{flag}: {given!r}: {path}: no such file")
    out.append(ListSpec(type=type_, path=Path(path), given=given))
  return out


def _line_of(data: bytes, offset: int) -> int:
  """The 1-based line of byte ``offset``."""
  return data.count(b"\n", 0, offset) + 1


def read_list(path: str | os.PathLike) -> list[tuple[str, ...]]:
  """The entries of one list file, each as its tokens, in file order.

  Raises:
    DataError: ``file:line`` and what is wrong: empty (no entry), binary (a NUL
      byte or bytes that are not UTF-8), an entry of only spaces.
    OSError: the file cannot be read.
  """
  data = Path(path).read_bytes()
  if b"\0" in data:
    raise DataError(path, _line_of(data, data.index(b"\0")),
                    "a NUL byte: a binary file, not a list; expected UTF-8 text, "
                    "one entry a line")
  try:
    text = data.decode("utf-8-sig")
  except UnicodeDecodeError as e:
    raise DataError(path, _line_of(data, e.start),
                    f"byte 0x{data[e.start]:02x} is not UTF-8: a binary file, not a "
                    "list; expected UTF-8 text, one entry a line") from None
  entries = []
  for number, line in enumerate(text.splitlines(), start=1):
    if not line:
      continue
    tokens = tuple(line.split())
    if not tokens:
      raise DataError(path, number, "an entry of only spaces; expected one entry a line")
    entries.append(tokens)
  if not entries:
    raise DataError(path, 1, "an empty list (no entry); expected one entry a line")
  return entries


class Gazetteer:
  """Typed entries matched over sentences (module docstring: the rules).

  Args:
    lists: ``{type: entries}``, each entry a tuple of tokens; types of ``TYPES``.
  """

  def __init__(self, lists: Mapping[str, Iterable[tuple[str, ...]]]):
    self._exact: dict[tuple[str, ...], int] = {}
    self._capitals: dict[tuple[str, ...], int] = {}
    self.num_entries: dict[str, int] = {}
    for type_, entries in lists.items():
      bit = 1 << TYPES.index(type_)
      unique = set(entries)
      self.num_entries[type_] = self.num_entries.get(type_, 0) + len(unique)
      for entry in unique:
        self._exact[entry] = self._exact.get(entry, 0) | bit
        upper = tuple(t.upper() for t in entry)
        self._capitals[upper] = self._capitals.get(upper, 0) | bit
    self._lengths = sorted({len(e) for e in self._exact}, reverse=True)
    self._first = {e[0] for e in self._exact} | {e[0] for e in self._capitals}
    self.types = tuple(t for t in TYPES if t in self.num_entries)

  def _candidates(self, words: Sequence[str], i: int) -> list[tuple[int, int]]:
    """``[(length, type bits)]`` of the entries spelt from ``words[i]``, longest first."""
    out = []
    for length in self._lengths:
      if i + length > len(words):
        continue
      key = tuple(words[i:i + length])
      bits = self._exact.get(key, 0)
      if all(w.isupper() for w in key):
        bits |= self._capitals.get(key, 0)
      if bits:
        out.append((length, bits))
    return out

  def matches(self, words: Sequence[str]) -> list[Match]:
    """One sentence's matches, each type on its own, longest first (module docstring)."""
    candidates = {i: c for i, w in enumerate(words)
                  if w in self._first and (c := self._candidates(words, i))}
    out = []
    for k, type_ in enumerate(TYPES):
      bit, resume = 1 << k, 0
      for i in sorted(candidates):
        if i < resume:
          continue
        length = next((n for n, bits in candidates[i] if bits & bit), 0)
        if length:
          out.append((type_, i, i + length))
          resume = i + length
    return out

  def membership(self, words: Sequence[str]) -> np.ndarray:
    """int32 ``[len(words)]``: each token's type bits."""
    bits = np.zeros(len(words), np.int32)
    for type_, start, end in self.matches(words):
      bits[start:end] |= 1 << TYPES.index(type_)
    return bits

  def ids(self, words: Sequence[str]) -> np.ndarray:
    """int32 ``[len(words)]`` feature ids in ``[1, SIZE)``: ``1 + membership``."""
    return 1 + self.membership(words)


def coverage(gazetteer: Gazetteer, sentences_words: Sequence[Sequence[str]],
             sentences_tags: Sequence[Sequence[str]]) -> dict[str, Any]:
  """The lists' coverage of a tagged corpus (module docstring), JSON-ready.

  Returns:
    ``{"types": {TYPE: {"entity_types", "entities", "matched", "exact",
    "coverage", "flagged_tokens", "flagged_in_entity", "precision"}},
    "entries": {TYPE: n}}``, one entry per type with a list.
  """
  counts = {t: dict.fromkeys(("entities", "matched", "exact", "flagged_tokens",
                              "flagged_in_entity"), 0) for t in gazetteer.types}
  for words, tags in zip(sentences_words, sentences_tags):
    matches = gazetteer.matches(words)
    bits = np.zeros(len(words), np.int32)
    for type_, start, end in matches:
      bits[start:end] |= 1 << TYPES.index(type_)
    entities = tags_lib.spans(tags)
    for type_ in gazetteer.types:
      bit, own = 1 << TYPES.index(type_), ENTITY_TYPES[type_]
      inside = np.zeros(len(words), bool)
      for entity_type, start, end in entities:
        if entity_type not in own:
          continue
        inside[start:end] = True
        c = counts[type_]
        c["entities"] += 1
        c["matched"] += bool(np.all(bits[start:end] & bit))
        c["exact"] += (type_, start, end) in matches
      flagged = (bits & bit) != 0
      counts[type_]["flagged_tokens"] += int(flagged.sum())
      counts[type_]["flagged_in_entity"] += int((flagged & inside).sum())
  types = {}
  for type_, c in counts.items():
    types[type_] = {"entity_types": list(ENTITY_TYPES[type_]), **c,
                    "coverage": c["matched"] / max(c["entities"], 1),
                    "precision": c["flagged_in_entity"] / max(c["flagged_tokens"], 1)}
  return {"types": types, "entries": dict(gazetteer.num_entries)}


def format_coverage(report: Mapping[str, Any], *, title: str = "") -> str:
  """``coverage``'s report as lines for the log."""
  lines = [f"gazetteer coverage{' of ' + title if title else ''}:"]
  for type_, c in report["types"].items():
    lines.append(
        f"  {type_:<4} {report['entries'][type_]:>7} entries: {c['matched']}/"
        f"{c['entities']} {'/'.join(c['entity_types'])} entities matched "
        f"({100 * c['coverage']:.1f}%; one match exactly: {c['exact']}), "
        f"{c['flagged_tokens']} tokens flagged, {100 * c['precision']:.1f}% of "
        "them inside such an entity")
  return "\n".join(lines)
