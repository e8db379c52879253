"""Pre-trained vectors aligned to a vocabulary, and rows for new text's words.

``align_vectors`` builds the embedding table of a vocabulary from
``(words, matrix)`` vectors, with a coverage report
(``wincls.data.vectors.coverage`` prints it and makes one for a whole
corpus); see its docstring for the matching rules. ``corpus_counts`` gives
the type counts and surface forms of a corpus after the vocabulary's
normalisation; ``Extender`` the rows of new text's words (open vocabulary).

A vectors file may hold the same word on several rows (GloVe/word2vec files
are not checked for it): the first row wins, the later ones are never used,
and the report counts them (``duplicate_words``; ``format_coverage`` says so).
"""

from __future__ import annotations

import collections
from typing import Any, Callable, Mapping, Sequence

import numpy as np

Matrix = np.ndarray  # float32 [num_words, dim]

_DIGITS = str.maketrans("123456789", "000000000")  # as wincls.data.vocab
RULES = ("exact", "lower", "surface", "digits", "periods", "hyphen")


def zero_digits(word: str) -> str:
  """``word`` with every ASCII digit replaced by ``0`` (as ``Vocab`` does)."""
  return word.translate(_DIGITS)


class _Lookup:
  """Indexes of the vectors' words for the matching rules."""

  def __init__(self, vec_words: Sequence[str]):
    self.exact: dict[str, int] = {}
    self.lowered: dict[str, int] = {}
    self.digits: dict[str, int] = {}
    self.duplicates: list[str] = []  # the word of each row that repeats an earlier one
    for row, word in enumerate(vec_words):  # first (most frequent) row wins
      if word in self.exact:
        self.duplicates.append(word)
        continue
      self.exact[word] = row
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
    ``init_std``: mean of sigma_d; ``duplicate_words``: ``{"rows", "words",
    "examples", "kept": "first"}``, the rows whose word an earlier row has,
    which are ignored; sizes).
  """
  matrix = np.asarray(matrix)
  count_of = _check_align_args(vocab_words, vec_words, matrix, counts=counts,
                               reserved_ids=reserved_ids, zero_ids=zero_ids)
  vocab_size, dim = len(vocab_words), matrix.shape[1]
  rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

  reserved = set(reserved_ids)
  lookup = _Lookup(vec_words)
  table, found, rules, misses = _matched_rows(
      vocab_words, lookup, matrix, surface_forms=surface_forms,
      reserved=reserved, count_of=count_of)
  std = _fill_unmatched(table, found, matrix, zero_ids=zero_ids, rng=rng)
  report = _report(vocab_size=vocab_size, reserved=reserved, num_vectors=len(vec_words),
                   dim=dim, found=found, count_of=count_of, rules=rules,
                   misses=misses, num_misses=num_misses, std=std,
                   duplicates=lookup.duplicates)
  return table, report


def _fill_unmatched(table: np.ndarray, found: np.ndarray, matrix: Matrix, *,
                    zero_ids: Sequence[int], rng: np.random.Generator) -> np.ndarray:
  """Zeroes ``zero_ids``' rows and draws the other unfound rows from N(0, sigma_d^2)
  in place; returns sigma_d (the found rows', or all vectors' below two found)."""
  dim = table.shape[1]
  if found.sum() >= 2:
    std = table[found].std(axis=0)
  else:
    std = np.asarray(matrix, np.float32).std(axis=0) if len(matrix) else np.ones(dim)
  zeros = set(zero_ids)
  random_ids = [i for i in range(len(table)) if not found[i] and i not in zeros]
  table[random_ids] = rng.normal(size=(len(random_ids), dim)) * std
  table[list(zero_ids)] = 0.0
  return std


def _row(matrix: Matrix, hit) -> np.ndarray:
  """The (weighted mean) vector of a ``_match`` hit."""
  rows, weights = zip(*hit[1])
  if len(rows) == 1:
    return matrix[rows[0]]
  return np.asarray(weights, np.float32) @ np.asarray(matrix[list(rows)], np.float32)


def _matched_rows(vocab_words, lookup: _Lookup, matrix: Matrix, *, surface_forms,
                  reserved: set[int], count_of):
  """``(table, found, rules, misses)``: the rows ``_match`` finds, per word."""
  table = np.zeros((len(vocab_words), matrix.shape[1]), np.float32)
  found = np.zeros(len(vocab_words), bool)
  rules = []  # (rule, token count) per looked-up word
  misses = []
  for i, word in enumerate(vocab_words):
    if i in reserved:
      continue
    forms = surface_forms.get(word) if surface_forms is not None else None
    hit = _match(word, lookup, forms)
    rules.append((hit[0] if hit else "missing", count_of[i] if count_of else 0))
    if hit is None:
      misses.append((word, count_of[i] if count_of else 0))
      continue
    found[i] = True
    table[i] = _row(matrix, hit)
  return table, found, rules, misses


def _check_align_args(vocab_words, vec_words, matrix, *, counts, reserved_ids,
                      zero_ids) -> list[int] | None:
  """Raises ValueError for bad ``align_vectors`` arguments; the counts per word."""
  if matrix.ndim != 2 or matrix.shape[0] != len(vec_words):
    raise ValueError(f"matrix has shape {matrix.shape}; expected "
                     f"[len(vec_words)={len(vec_words)}, dim]")
  vocab_size = len(vocab_words)
  for name, ids in (("reserved_ids", reserved_ids), ("zero_ids", zero_ids)):
    if any(not 0 <= i < vocab_size for i in ids):
      raise ValueError(f"{name}={tuple(ids)} must be ids of the vocabulary of "
                       f"size {vocab_size}")
  if counts is None:
    return None
  if isinstance(counts, Mapping):
    return [int(counts.get(w, 0)) for w in vocab_words]
  count_of = [int(c) for c in counts]
  if len(count_of) != vocab_size:
    raise ValueError(f"counts has {len(count_of)} entries; expected one per "
                     f"vocabulary word ({vocab_size})")
  return count_of


def _report(*, vocab_size, reserved, num_vectors, dim, found, count_of, rules,
            misses, num_misses, std, duplicates) -> dict[str, Any]:
  """``align_vectors``' JSON-ready coverage report."""
  rule_types = collections.Counter(rule for rule, _ in rules)
  rule_tokens = collections.Counter()
  for rule, count in rules:
    rule_tokens[rule] += count
  types_total = vocab_size - len(reserved)
  types_found = int(found.sum())
  report: dict[str, Any] = {
      "vocab_size": vocab_size,
      "reserved": len(reserved),
      "num_vectors": num_vectors,
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
      "duplicate_words": {"rows": len(duplicates), "words": len(set(duplicates)),
                          "examples": list(dict.fromkeys(duplicates))[:5],
                          "kept": "first"},
  }
  if count_of is not None:
    tokens_total = sum(c for i, c in enumerate(count_of) if i not in reserved)
    tokens_found = sum(c for i, c in enumerate(count_of) if found[i])
    report["tokens"] = {"total": tokens_total, "found": tokens_found,
                        "coverage": tokens_found / max(tokens_total, 1)}
  return report


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


class Extender:
  """Rows for the words of new text that a vocabulary lacks but the vectors know.

  Open-vocabulary tagging: a model trained with pre-trained vectors gives every
  input word the vectors know its pre-trained row, whether or not the word was
  in the training vocabulary. The rows follow ``align_vectors``' rules (exact,
  lower, surface forms of the input, digits, periods, hyphen parts); a word the
  vectors lack stays ``<unk>``.

  Args:
    vec_words: the vectors' words, ``[N]``.
    matrix: the vectors, ``[N, D]``.
  """

  def __init__(self, vec_words: Sequence[str], matrix: Matrix):
    self.lookup = _Lookup(vec_words)  # built once: ~1 s for 341k words
    self.matrix = np.asarray(matrix)

  def new_rows(self, known: Callable[[str], bool], sentences_words, *,
               normalize: Callable[[str], str]) -> tuple[list[str], np.ndarray]:
    """``(types, rows [len(types), D] float32)`` for the input's unknown types.

    Args:
      known: whether a normalised type is in the vocabulary already.
      sentences_words: per-sentence raw words of the input.
      normalize: the vocabulary's normalisation (``Vocab.normalize``).

    Returns:
      The normalised types, in order of first occurrence, that ``known`` rejects
      and the vectors match, and their rows.
    """
    counts, forms = corpus_counts(sentences_words, normalize=normalize)
    types, rows = [], []
    for word in counts:  # first occurrence order
      if known(word):
        continue
      hit = _match(word, self.lookup, forms.get(word))
      if hit is not None:
        types.append(word)
        rows.append(np.asarray(_row(self.matrix, hit), np.float32))
    dim = self.matrix.shape[1]
    return types, (np.stack(rows) if rows else np.zeros((0, dim), np.float32))
