"""Tests of wincls/data/tags.py: schemes, conversion, spans, repair, detection."""

import os
import random
from pathlib import Path

import pytest
from seqeval.metrics.sequence_labeling import get_entities

from wincls.data import tags as tags_lib
from wincls.data.conll import read_conll


@pytest.mark.parametrize("tags, expected", [
    # IOB1: I- starts a chunk after O; B- only splits adjacent same-type chunks.
    (["I-PER", "I-PER", "B-PER", "O", "I-LOC"],
     [("PER", 0, 2), ("PER", 2, 3), ("LOC", 4, 5)]),
    # IOB2.
    (["B-PER", "I-PER", "B-PER", "B-LOC", "I-LOC"],
     [("PER", 0, 2), ("PER", 2, 3), ("LOC", 3, 5)]),
    # IOBES.
    (["S-PER", "B-ORG", "I-ORG", "E-ORG", "S-ORG", "O"],
     [("PER", 0, 1), ("ORG", 1, 4), ("ORG", 4, 5)]),
    # Type change inside: I-LOC after I-PER starts a new chunk.
    (["B-PER", "I-LOC", "I-LOC"], [("PER", 0, 1), ("LOC", 1, 3)]),
    # conlleval on invalid IOBES: E- after E- and I- after S- start chunks.
    (["E-PER", "E-PER", "S-LOC", "I-LOC", "O", "I-ORG", "E-ORG"],
     [("PER", 0, 1), ("PER", 1, 2), ("LOC", 2, 3), ("LOC", 3, 4), ("ORG", 5, 7)]),
    # Hyphenated types (WNUT): the type is everything after the first hyphen.
    (["B-geo-loc", "I-geo-loc", "B-geo-loc", "I-geo", "O"],
     [("geo-loc", 0, 2), ("geo-loc", 2, 3), ("geo", 3, 4)]),
    (["O", "O"], []),
    ([], []),
])
def test_spans_hand_cases(tags, expected):
  assert tags_lib.spans(tags) == expected
  # seqeval's default mode reads chunks the conlleval way, with inclusive ends.
  assert [(t, s, e + 1) for t, s, e in get_entities(list(tags))] == expected


def test_spans_match_seqeval_on_random_sequences():
  rng = random.Random(0)
  vocabulary = ["O"] + [f"{p}-{t}" for p in "BIES" for t in ("PER", "geo-loc")]
  for _ in range(500):
    tags = [rng.choice(vocabulary) for _ in range(rng.randint(1, 12))]
    expected = [(t, s, e + 1) for t, s, e in get_entities(tags)]
    assert tags_lib.spans(tags) == expected, tags
    for scheme in ("iob1", "iob2", "iobes"):
      repaired = tags_lib.repair(tags, scheme=scheme)
      assert tags_lib.spans(repaired) == expected, (tags, scheme)
      assert tags_lib.is_valid(repaired, scheme=scheme)


IOB1 = ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "O", "I-ORG", "I-MISC"]
IOB2 = ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "O", "B-ORG", "B-MISC"]
IOBES = ["B-PER", "E-PER", "S-PER", "O", "S-LOC", "O", "S-ORG", "S-MISC"]
IO = ["I-PER", "I-PER", "I-PER", "O", "I-LOC", "O", "I-ORG", "I-MISC"]


@pytest.mark.parametrize("source, tags", [
    ("iob1", IOB1), ("iob2", IOB2), ("iobes", IOBES)])
@pytest.mark.parametrize("target, expected", [
    ("iob1", IOB1), ("iob2", IOB2), ("iobes", IOBES), ("io", IO)])
def test_to_scheme(source, tags, target, expected):
  assert tags_lib.to_scheme(tags, source=source, target=target) == expected


def test_io_merges_adjacent_same_type_and_bare_types():
  assert tags_lib.spans(IO)[0] == ("PER", 0, 3)
  assert tags_lib.to_scheme(IO, source="io", target="iob2")[:3] == [
      "B-PER", "I-PER", "I-PER"]
  assert [tags_lib.io_type(t) for t in IO[:4]] == ["PER", "PER", "PER", "O"]
  assert tags_lib.tag_set(["PER", "ORG", "LOC", "MISC"], scheme="io") == [
      "O", "I-LOC", "I-MISC", "I-ORG", "I-PER"]


def test_to_scheme_checks_source_prefixes_and_names():
  with pytest.raises(ValueError, match="'E-PER' cannot occur in source='iob1'"):
    tags_lib.to_scheme(["B-PER", "E-PER"], source="iob1", target="iob2")
  with pytest.raises(ValueError, match="target='bio' is not one of"):
    tags_lib.to_scheme(["O"], source="iob1", target="bio")
  with pytest.raises(ValueError, match="invalid tag 'B-'"):
    tags_lib.spans(["B-"])


def test_repair_predictions():
  predicted = ["I-PER", "E-LOC", "O", "I-ORG", "B-ORG", "E-ORG", "I-MISC"]
  assert tags_lib.repair(predicted, scheme="iobes") == [
      "S-PER", "S-LOC", "O", "S-ORG", "B-ORG", "E-ORG", "S-MISC"]
  assert tags_lib.repair(predicted, scheme="iob2") == [
      "B-PER", "B-LOC", "O", "B-ORG", "B-ORG", "I-ORG", "B-MISC"]
  assert not tags_lib.is_valid(predicted, scheme="iobes")
  assert tags_lib.is_valid(IOB1, scheme="iob1")
  assert not tags_lib.is_valid(IOB2, scheme="iob1")  # B- after O


@pytest.mark.parametrize("sentences, scheme", [
    ([IOB1], "iob1"), ([IOB2], "iob2"), ([IOB2, IOBES], "iobes"),
    ([IO], "iob1"), ([["O"]], "iob2"), ([["B-PER"], ["I-LOC"]], "iob1"),
])
def test_detect_scheme(sentences, scheme):
  assert tags_lib.detect_scheme(sentences) == scheme


def test_round_trip_on_conll2003_train():
  env = os.environ.get("WINCLS_CONLL2003_DIR")
  directory = Path(env) if env else (
      Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "conll2003")
  if not (directory / "eng.train").is_file():
    pytest.skip(f"CoNLL-2003 not found in {directory} (set WINCLS_CONLL2003_DIR)")
  corpus = read_conll(directory / "eng.train")
  changed = num_b = 0
  for sentence in corpus.sentences:
    iob2 = tags_lib.to_scheme(sentence.tags, source="iob1", target="iob2")
    iobes = tags_lib.to_scheme(iob2, source="iob2", target="iobes")
    iob1 = tags_lib.to_scheme(iobes, source="iobes", target="iob1")
    changed += iob1 != list(sentence.tags)
    num_b += sum(t.startswith("B-") for t in sentence.tags)
  assert changed == 0
  assert num_b > 0  # the file does use IOB1's B- tags, so the test bites
