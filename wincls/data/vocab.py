"""Word vocabulary, per-word casing features and the label vocabulary.

Word ids: ``PAD=0 "<pad>"`` (batch padding), ``UNK=1 "<unk>"``, ``BOS=2 "<s>"``
and ``EOS=3 "</s>"`` (the window positions before a sentence's first word and
after its last), then the vocabulary's words by decreasing training count
(ties alphabetical), then any words added by ``extend``. Words are normalised
before lookup: optionally lowercased, optionally with every ASCII digit mapped
to ``0`` (``"1996-08-22" -> "0000-00-00"``). A literal ``<s>`` etc. in the text
maps to its reserved id.

Feature ids (computed on the raw word) use id 0 for window padding positions:

``casing`` (CS224n's casing classes, after Reimers & Gurevych's version of
them), checked in this order:

==  ==============  =====================================================
id  class           examples
==  ==============  =====================================================
0   padding         window positions outside the sentence
1   numeric         ``1996``, ``42`` (only digits)
2   mainly_numeric  ``1996-08-22``, ``3.5`` (more than half digits)
3   contains_digit  ``F-16``, ``mp3``, ``A4``
4   lower           ``the``, ``e-mail``
5   allcaps         ``EU``, ``U.S.``, ``I``
6   initcap         ``Peter``, ``O'neil`` (first letter upper, rest lower)
7   mixed           ``iPhone``, ``McDonald``, ``eBay``
8   other           ``.``, ``--``, ``:)`` (no letters or digits)
==  ==============  =====================================================

``caps`` (Collobert & Weston 2011's caps feature), on the word's cased letters:
0 padding, 1 all lower, 2 first letter upper and the rest lower, 3 all caps,
4 has a non-initial capital (``iPhone``, ``McDonald``), 5 not applicable (no
cased letters: numbers, punctuation).
"""

from __future__ import annotations

import collections
import functools
import json
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from wincls.data import tags as tags_lib
from wincls.data.conll import DataError

PAD, UNK, BOS, EOS = 0, 1, 2, 3
PAD_TOKEN, UNK_TOKEN, BOS_TOKEN, EOS_TOKEN = "<pad>", "<unk>", "<s>", "</s>"
RESERVED = (PAD_TOKEN, UNK_TOKEN, BOS_TOKEN, EOS_TOKEN)

CASING_CLASSES = ("padding", "numeric", "mainly_numeric", "contains_digit",
                  "lower", "allcaps", "initcap", "mixed", "other")
CAPS_CLASSES = ("padding", "lower", "initcap", "allcaps", "noninitial_cap",
                "not_applicable")
FEATURE_SIZES = {"casing": len(CASING_CLASSES), "caps": len(CAPS_CLASSES)}
FEATURE_PAD = 0

_DIGITS = str.maketrans("123456789", "000000000")


def _atomic_write_json(path: str | os.PathLike, obj) -> None:
  path = Path(path)
  fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                             dir=path.parent)
  try:
    with os.fdopen(fd, "w", encoding="utf-8") as f:
      json.dump(obj, f, ensure_ascii=False, indent=1)
      f.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.unlink(tmp)
    raise


def _read_json(path: str | os.PathLike, what: str) -> dict:
  path = Path(path)
  try:
    with open(path, encoding="utf-8") as f:
      obj = json.load(f)
  except FileNotFoundError:
    raise DataError(path, None, f"no such file; expected a {what} JSON file "
                    "written by save()") from None
  except (UnicodeDecodeError, json.JSONDecodeError, IsADirectoryError) as e:
    line = getattr(e, "lineno", None)
    raise DataError(path, line, f"not a {what} JSON file ({e}); expected the "
                    "output of save()") from None
  if not isinstance(obj, dict):
    raise DataError(path, None, f"expected a JSON object (a {what}), got "
                    f"{type(obj).__name__}")
  return obj


class Vocab:
  """Word string <-> id, with the reserved ids first.

  Attributes:
    words: tuple of the words by id (``words[:4] == RESERVED``).
    lowercase: lowercase words before lookup.
    normalize_digits: map digits to ``0`` before lookup.
  """

  def __init__(self, words: Sequence[str], *, lowercase: bool = False,
               normalize_digits: bool = False):
    words = tuple(words)
    if words[:len(RESERVED)] != RESERVED:
      raise ValueError(f"a Vocab's words must start with {RESERVED}, got "
                       f"{words[:len(RESERVED)]}")
    self.words = words
    self.lowercase = bool(lowercase)
    self.normalize_digits = bool(normalize_digits)
    self._ids = {w: i for i, w in enumerate(words)}
    if len(self._ids) != len(words):
      duplicates = [w for w, n in collections.Counter(words).items() if n > 1]
      raise ValueError(f"a Vocab's words must be unique; repeated: {duplicates[:5]}")
    self._cache: dict[str, int] = {}  # raw word -> id

  @classmethod
  def build(cls, sentences_words: Iterable[Sequence[str]], *, min_count: int = 1,
            lowercase: bool = False, normalize_digits: bool = False,
            extra_words: Iterable[str] = ()) -> "Vocab":
    """Builds a vocabulary from training sentences.

    Args:
      sentences_words: per-sentence words (e.g. ``corpus.words``).
      min_count: keep normalised words seen at least this often.
      lowercase: lowercase words (before counting and lookup).
      normalize_digits: map digits to ``0`` (before counting and lookup).
      extra_words: added after the counted words whatever their count (e.g.
        dev words that pre-trained vectors know); see ``extend``.

    Returns:
      The vocabulary: reserved ids, then words by decreasing count (ties
      alphabetical), then the new extra words in the order given.
    """
    if min_count < 1:
      raise ValueError(f"min_count={min_count} must be >= 1")
    vocab = cls(RESERVED, lowercase=lowercase, normalize_digits=normalize_digits)
    counts = collections.Counter()
    for words in sentences_words:
      counts.update(words)
    normalized = collections.Counter()
    for word, count in counts.items():
      normalized[vocab.normalize(word)] += count
    kept = sorted((w for w, c in normalized.items()
                   if c >= min_count and w not in RESERVED),
                  key=lambda w: (-normalized[w], w))
    return cls(RESERVED + tuple(kept), lowercase=lowercase,
               normalize_digits=normalize_digits).extend(extra_words)

  def normalize(self, word: str) -> str:
    """The form of ``word`` that is looked up."""
    if self.lowercase:
      word = word.lower()
    if self.normalize_digits:
      word = word.translate(_DIGITS)
    return word

  def extend(self, words: Iterable[str]) -> "Vocab":
    """A new vocabulary with the normalised ``words`` it lacks appended in order."""
    new = list(self.words)
    seen = set(self._ids)
    for word in words:
      word = self.normalize(word)
      if word not in seen:
        seen.add(word)
        new.append(word)
    if len(new) == len(self.words):
      return self
    return Vocab(new, lowercase=self.lowercase,
                 normalize_digits=self.normalize_digits)

  def __len__(self) -> int:
    return len(self.words)

  def __contains__(self, word: str) -> bool:
    return self.normalize(word) in self._ids

  def __eq__(self, other) -> bool:
    return (isinstance(other, Vocab) and self.words == other.words and
            self.lowercase == other.lowercase and
            self.normalize_digits == other.normalize_digits)

  def __repr__(self) -> str:
    return (f"Vocab(size={len(self)}, lowercase={self.lowercase}, "
            f"normalize_digits={self.normalize_digits})")

  def id(self, word: str) -> int:
    """The id of ``word`` (``UNK`` if its normalised form is unknown)."""
    i = self._cache.get(word)
    if i is None:
      i = self._cache[word] = self._ids.get(self.normalize(word), UNK)
    return i

  def encode(self, words: Sequence[str]) -> np.ndarray:
    """Ids of the words: int32 ``[num_words]``."""
    cache = self._cache
    ids = [cache.get(w) for w in words]
    if None in ids:
      ids = [self.id(w) for w in words]
    return np.asarray(ids, dtype=np.int32).reshape(len(ids))

  def decode(self, ids: Iterable[int]) -> list[str]:
    """The (normalised) words of ``ids``."""
    return [self.words[int(i)] for i in ids]

  def save(self, path: str | os.PathLike) -> None:
    """Writes the vocabulary as JSON (atomically)."""
    _atomic_write_json(path, {
        "kind": "wincls.Vocab", "lowercase": self.lowercase,
        "normalize_digits": self.normalize_digits, "words": list(self.words)})

  @classmethod
  def load(cls, path: str | os.PathLike) -> "Vocab":
    """Reads a vocabulary written by ``save``; DataError if it is not one."""
    obj = _read_json(path, "vocabulary")
    words = obj.get("words")
    if (obj.get("kind") != "wincls.Vocab" or not isinstance(words, list) or
        not all(isinstance(w, str) for w in words)):
      raise DataError(path, None, "expected a vocabulary written by Vocab.save "
                      "(keys kind='wincls.Vocab', words: list of strings)")
    try:
      return cls(words, lowercase=obj.get("lowercase", False),
                 normalize_digits=obj.get("normalize_digits", False))
    except ValueError as e:
      raise DataError(path, None, str(e)) from None


@functools.lru_cache(maxsize=1 << 20)
def casing_class(word: str) -> int:
  """The ``casing`` feature id of a word (see the module docstring)."""
  if not word:
    return CASING_CLASSES.index("other")
  digits = sum(ch.isdigit() for ch in word)
  if digits == len(word):
    return 1  # numeric
  if digits * 2 > len(word):
    return 2  # mainly_numeric
  if digits:
    return 3  # contains_digit
  upper = [ch.isupper() for ch in word if ch.isupper() or ch.islower()]
  if not upper:
    return 8  # other
  if not any(upper):
    return 4  # lower
  if all(upper):
    return 5  # allcaps
  if upper[0] and not any(upper[1:]):
    return 6  # initcap
  return 7  # mixed


@functools.lru_cache(maxsize=1 << 20)
def caps_class(word: str) -> int:
  """The C&W ``caps`` feature id of a word (see the module docstring)."""
  upper = [ch.isupper() for ch in word if ch.isupper() or ch.islower()]
  if not upper:
    return 5  # not applicable
  if not any(upper):
    return 1  # all lower
  if all(upper):
    return 3  # all caps
  if upper[0] and not any(upper[1:]):
    return 2  # first upper
  return 4  # non-initial capital


def casing_ids(words: Sequence[str]) -> np.ndarray:
  """CS224n casing class of each word: int32 ``[num_words]``, ids in 1..8."""
  return np.fromiter((casing_class(w) for w in words), dtype=np.int32,
                     count=len(words))


def caps_ids(words: Sequence[str]) -> np.ndarray:
  """C&W caps feature of each word: int32 ``[num_words]``, ids in 1..5."""
  return np.fromiter((caps_class(w) for w in words), dtype=np.int32,
                     count=len(words))


FEATURES: dict[str, Callable[[Sequence[str]], np.ndarray]] = {
    "casing": casing_ids, "caps": caps_ids}


def feature_ids(words: Sequence[str], names: Sequence[str]) -> np.ndarray:
  """The named features of each word: int32 ``[num_words, K]``, K = len(names).

  Column k holds ``FEATURES[names[k]]``'s ids, which index a table of
  ``FEATURE_SIZES[names[k]]`` rows.
  """
  for name in names:
    if name not in FEATURES:
      raise ValueError(f"unknown feature {name!r}; expected some of "
                       f"{', '.join(FEATURES)}")
  out = np.zeros((len(words), len(names)), dtype=np.int32)
  for k, name in enumerate(names):
    out[:, k] = FEATURES[name](words)
  return out


class LabelVocab:
  """Tag string <-> class id.

  Attributes:
    labels: tuple of the tags by id.
    scheme: the tag scheme of the labels (``iob1|iob2|iobes|io``).
  """

  def __init__(self, labels: Sequence[str], *, scheme: str):
    labels = tuple(labels)
    if scheme not in tags_lib.SCHEMES:
      raise ValueError(f"scheme={scheme!r} is not one of {', '.join(tags_lib.SCHEMES)}")
    for label in labels:
      prefix, _ = tags_lib.split_tag(label)
      if prefix != "O" and prefix not in tags_lib.PREFIXES[scheme]:
        raise ValueError(f"label {label!r} cannot occur in scheme {scheme!r}")
    if len(set(labels)) != len(labels):
      raise ValueError(f"labels must be unique, got {labels}")
    self.labels = labels
    self.scheme = scheme
    self._ids = {label: i for i, label in enumerate(labels)}

  @classmethod
  def for_types(cls, types: Iterable[str], *, scheme: str) -> "LabelVocab":
    """Every label of ``scheme`` for the types (``O`` = id 0; see ``tags.tag_set``)."""
    return cls(tags_lib.tag_set(types, scheme=scheme), scheme=scheme)

  @classmethod
  def from_tags(cls, sentences_tags: Iterable[Sequence[str]], *,
                scheme: str) -> "LabelVocab":
    """Every label of ``scheme`` for the entity types found in the tags."""
    return cls.for_types(tags_lib.entity_types(sentences_tags), scheme=scheme)

  @property
  def types(self) -> list[str]:
    """The entity types, sorted."""
    return sorted({tags_lib.split_tag(t)[1] for t in self.labels if t != "O"})

  def __len__(self) -> int:
    return len(self.labels)

  def __contains__(self, label: str) -> bool:
    return label in self._ids

  def __eq__(self, other) -> bool:
    return (isinstance(other, LabelVocab) and self.labels == other.labels and
            self.scheme == other.scheme)

  def __repr__(self) -> str:
    return f"LabelVocab({list(self.labels)}, scheme={self.scheme!r})"

  def id(self, label: str) -> int:
    try:
      return self._ids[label]
    except KeyError:
      raise ValueError(f"label {label!r} is not one of {list(self.labels)}") from None

  def encode(self, labels: Sequence[str]) -> np.ndarray:
    """Class ids: int32 ``[num_labels]``; ValueError for an unknown label."""
    ids = self._ids
    try:
      out = [ids[label] for label in labels]
    except KeyError as e:
      raise ValueError(f"label {e.args[0]!r} is not one of "
                       f"{list(self.labels)}") from None
    return np.asarray(out, dtype=np.int32).reshape(len(out))

  def decode(self, ids: Iterable[int]) -> list[str]:
    """The tags of class ids."""
    return [self.labels[int(i)] for i in ids]

  def save(self, path: str | os.PathLike) -> None:
    """Writes the labels as JSON (atomically)."""
    _atomic_write_json(path, {"kind": "wincls.LabelVocab", "scheme": self.scheme,
                              "labels": list(self.labels)})

  @classmethod
  def load(cls, path: str | os.PathLike) -> "LabelVocab":
    """Reads labels written by ``save``; DataError if it is not such a file."""
    obj = _read_json(path, "label vocabulary")
    labels = obj.get("labels")
    if (obj.get("kind") != "wincls.LabelVocab" or not isinstance(labels, list) or
        not all(isinstance(x, str) for x in labels)):
      raise DataError(path, None, "expected labels written by LabelVocab.save "
                      "(keys kind='wincls.LabelVocab', scheme, labels)")
    try:
      return cls(labels, scheme=obj.get("scheme"))
    except ValueError as e:
      raise DataError(path, None, str(e)) from None
