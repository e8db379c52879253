"""NER tag schemes, conversion between them, and span extraction.

Schemes (a tag is ``O`` or ``PREFIX-TYPE``; the type may contain hyphens,
``B-geo-loc`` has type ``geo-loc``):

* ``iob1``: CoNLL-2003's own. ``I-X`` inside an entity (also at its start);
  ``B-X`` only on the first token of an entity that directly follows another
  entity of the same type X.
* ``iob2``: ``B-X`` on the first token of every entity, ``I-X`` on the rest.
* ``iobes``: ``S-X`` for single-token entities; otherwise ``B-X``, ``I-X``...,
  ``E-X``.
* ``io``: types only, CS224n's 5-class labels (PER, ORG, LOC, MISC, O). An IO
  label is written ``I-X`` (``I-PER``), so that every function here reads it
  unchanged; adjacent entities of one type merge (IO cannot separate them).
  ``io_type`` turns a label into the bare type, ``"I-PER" -> "PER"``.

Spans follow conlleval (and ``seqeval``'s default mode): a chunk starts at
``B-``, at ``S-``, or at ``I-``/``E-`` when the previous tag is ``O``, ``E-``,
``S-`` or of another type; it ends at ``E-``/``S-``, before ``O``, before a
``B-``/``S-``, or before a tag of another type. So any sequence of well-formed
tags, valid in its scheme or not (e.g. a model's predictions ``O I-PER E-LOC``),
has a definite set of spans, and ``repair`` rewrites it as a valid sequence of a
scheme with exactly those spans.
"""

from __future__ import annotations

from typing import Iterable, Sequence

SCHEMES = ("iob1", "iob2", "iobes", "io")
# The prefixes a scheme may use, in the order LabelVocab lists them.
PREFIXES = {"iob1": "BI", "iob2": "BI", "iobes": "BIES", "io": "I"}

Span = tuple[str, int, int]  # (type, start, end_exclusive)


def split_tag(tag: str) -> tuple[str, str]:
  """``"B-geo-loc" -> ("B", "geo-loc")``; ``"O" -> ("O", "")``.

  Raises:
    ValueError: the tag is not ``O`` or ``B-X``/``I-X``/``E-X``/``S-X`` with a
      non-empty type X.
  """
  if tag == "O":
    return "O", ""
  if len(tag) < 3 or tag[1] != "-" or tag[0] not in "BIES":
    raise ValueError(f"invalid tag {tag!r}; expected O or B-/I-/E-/S- followed "
                     "by an entity type, e.g. B-PER")
  return tag[0], tag[2:]


def io_type(tag: str) -> str:
  """The bare type of a tag (``"I-PER" -> "PER"``), ``"O"`` for ``O``."""
  prefix, type_ = split_tag(tag)
  return "O" if prefix == "O" else type_


def _check_scheme(scheme: str, name: str) -> None:
  if scheme not in SCHEMES:
    raise ValueError(f"{name}={scheme!r} is not one of {', '.join(SCHEMES)}")


def spans(tags: Sequence[str]) -> list[Span]:
  """The entity chunks of one sentence, read the way conlleval reads them.

  Args:
    tags: ``[num_words]`` tags of any scheme (also invalid sequences).

  Returns:
    ``[(type, start, end_exclusive), ...]`` in order; the chunks do not
    overlap.

  Raises:
    ValueError: a tag is not well-formed (see ``split_tag``).
  """
  chunks = []
  start, chunk_type = -1, ""
  prev_prefix, prev_type = "O", ""
  for i, tag in enumerate(tags):
    prefix, type_ = split_tag(tag)
    if start >= 0 and (prev_prefix in "ES" or prefix in "BSO" or
                       prev_type != type_):
      chunks.append((chunk_type, start, i))
      start = -1
    if prefix in "BS" or (prefix in "IE" and (prev_prefix in "OES" or
                                              prev_type != type_)):
      start, chunk_type = i, type_
    prev_prefix, prev_type = prefix, type_
  if start >= 0:
    chunks.append((chunk_type, start, len(tags)))
  return chunks


def from_spans(chunks: Iterable[Span], length: int, *, scheme: str) -> list[str]:
  """Writes non-overlapping chunks as ``length`` tags of ``scheme``.

  Args:
    chunks: ``(type, start, end_exclusive)`` in increasing order.
    length: number of words.
    scheme: one of ``SCHEMES``.

  Returns:
    ``[length]`` tags; the canonical sequence of the scheme with those spans
    (in ``io``, adjacent chunks of one type merge).
  """
  _check_scheme(scheme, "scheme")
  out = ["O"] * length
  prev_end, prev_type = -1, None
  for type_, start, end in chunks:
    if not 0 <= start < end <= length or start < prev_end:
      raise ValueError(f"chunk {(type_, start, end)} is empty, out of [0, "
                       f"{length}) or overlaps the previous one")
    if scheme == "io":
      out[start:end] = [f"I-{type_}"] * (end - start)
    elif scheme == "iob1":
      first = "B" if (prev_end == start and prev_type == type_) else "I"
      out[start:end] = [f"{first}-{type_}"] + [f"I-{type_}"] * (end - start - 1)
    elif scheme == "iob2":
      out[start:end] = [f"B-{type_}"] + [f"I-{type_}"] * (end - start - 1)
    elif end - start == 1:
      out[start] = f"S-{type_}"
    else:
      out[start:end] = ([f"B-{type_}"] + [f"I-{type_}"] * (end - start - 2) +
                        [f"E-{type_}"])
    prev_end, prev_type = end, type_
  return out


def _check_prefixes(tags: Sequence[str], scheme: str, name: str) -> None:
  allowed = PREFIXES[scheme] + "O"
  for tag in tags:
    prefix, _ = split_tag(tag)
    if prefix not in allowed:
      raise ValueError(f"tag {tag!r} cannot occur in {name}={scheme!r}; "
                       f"expected prefixes {'/'.join(allowed)}")


def to_scheme(tags: Sequence[str], *, source: str, target: str) -> list[str]:
  """Converts one sentence's tags from scheme ``source`` to scheme ``target``.

  The source sequence is read with conlleval's semantics (``spans``), so an
  invalid sequence is repaired on the way. Converting to ``io`` loses the
  boundary between adjacent entities of one type.

  Args:
    tags: ``[num_words]`` tags in ``source``.
    source: scheme of ``tags``; its prefixes are checked (an ``E-`` tag in
      ``iob1`` input raises).
    target: scheme of the result.

  Returns:
    ``[num_words]`` tags in ``target``.
  """
  _check_scheme(source, "source")
  _check_scheme(target, "target")
  _check_prefixes(tags, source, "source")
  return from_spans(spans(tags), len(tags), scheme=target)


def repair(tags: Sequence[str], *, scheme: str) -> list[str]:
  """The valid ``scheme`` sequence with the spans conlleval reads in ``tags``.

  For predictions: any sequence of well-formed tags of any scheme (e.g.
  ``["I-PER", "E-LOC", "O", "I-ORG", "B-ORG"]``) becomes a sequence that is
  valid in ``scheme`` and has exactly the chunks conlleval would score.

  Returns:
    ``[num_words]`` tags.
  """
  return from_spans(spans(tags), len(tags), scheme=scheme)


def is_valid(tags: Sequence[str], *, scheme: str) -> bool:
  """Whether ``tags`` is the canonical ``scheme`` sequence of its own spans."""
  _check_scheme(scheme, "scheme")
  try:
    _check_prefixes(tags, scheme, "scheme")
  except ValueError:
    return False
  return list(tags) == from_spans(spans(tags), len(tags), scheme=scheme)


def detect_scheme(sentences_tags: Iterable[Sequence[str]]) -> str:
  """Guesses the scheme of a file's tags.

  ``iobes`` if any ``E-``/``S-`` tag occurs; else ``iob1`` if some entity
  starts with ``I-`` (after ``O``, at a sentence start, or after another type);
  else ``iob2`` (also for a file of ``O`` tags only). IO-tagged files (``I-X``
  only) are reported as ``iob1``: they have the same spans.

  Args:
    sentences_tags: per-sentence tag sequences.

  Returns:
    ``"iob1"``, ``"iob2"`` or ``"iobes"``.
  """
  inside_start = False
  for tags in sentences_tags:
    prev_prefix, prev_type = "O", ""
    for tag in tags:
      prefix, type_ = split_tag(tag)
      if prefix in "ES":
        return "iobes"
      if prefix == "I" and (prev_prefix == "O" or prev_type != type_):
        inside_start = True
      prev_prefix, prev_type = prefix, type_
  return "iob1" if inside_start else "iob2"


def tag_set(types: Iterable[str], *, scheme: str) -> list[str]:
  """All labels of ``scheme`` for these entity types: ``O`` first, then per
  type (sorted) its prefixes in ``PREFIXES[scheme]`` order.

  ``tag_set(["PER", "LOC"], scheme="iob2") == ["O", "B-LOC", "I-LOC", "B-PER",
  "I-PER"]``; ``scheme="io"`` gives CS224n's 5 classes for CoNLL's 4 types.
  """
  _check_scheme(scheme, "scheme")
  return ["O"] + [f"{p}-{t}" for t in sorted(set(types)) for p in PREFIXES[scheme]]


def entity_types(sentences_tags: Iterable[Sequence[str]]) -> list[str]:
  """The sorted entity types that occur in the tags."""
  found = set()
  for tags in sentences_tags:
    for tag in tags:
      prefix, type_ = split_tag(tag)
      if prefix != "O":
        found.add(type_)
  return sorted(found)
