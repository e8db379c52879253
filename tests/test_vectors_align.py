"""Tests of wincls/data/vectors/align.py: alignment to a vocabulary, coverage."""

import json

import numpy as np
import pytest

from wincls.data import vectors

RESERVED = ["<pad>", "<unk>", "<s>", "</s>"]


def _vectors(words, dim=3, seed=0):
  rng = np.random.default_rng(seed)
  return list(words), rng.normal(size=(len(words), dim)).astype(np.float32)


def test_align_rules():
  vec_words, matrix = _vectors(["paris", "Berlin", "0000", "mid-1990s", "mid-1980s",
                                "us", "corp", "anglo", "dutch", "the"])
  row = {w: matrix[i] for i, w in enumerate(vec_words)}
  vocab = RESERVED + ["the", "Paris", "berlin", "1996", "mid-0000s", "U.S.", "Corp.",
                      "Anglo-Dutch", "anglo-zzz", "zzz"]
  table, report = vectors.align_vectors(vocab, vec_words, matrix)
  expected = {
      "the": ("exact", row["the"]),
      "Paris": ("lower", row["paris"]),  # vocab cased, vectors lowercased
      "berlin": ("lower", row["Berlin"]),  # vocab lowercased, vectors cased
      "1996": ("digits", row["0000"]),  # vectors that normalise digits
      "mid-0000s": ("digits", row["mid-1990s"]),  # the most frequent such word
      "U.S.": ("periods", row["us"]),
      "Corp.": ("periods", row["corp"]),
      "Anglo-Dutch": ("hyphen", (row["anglo"] + row["dutch"]) / 2),
  }
  for word, (_, vector) in expected.items():
    np.testing.assert_allclose(table[vocab.index(word)], vector, rtol=1e-6)
  rules = {r: n["types"] for r, n in report["rules"].items()}
  assert rules == {"exact": 1, "lower": 2, "surface": 0, "digits": 2, "periods": 2,
                   "hyphen": 1, "missing": 2}
  assert report["types"] == {"total": 10, "found": 8, "coverage": 0.8}
  assert report["tokens"] is None
  assert sorted(w for w, _ in report["top_misses"]) == ["anglo-zzz", "zzz"]
  np.testing.assert_array_equal(table[0], 0.0)  # PAD
  assert np.abs(table[1:4]).min() > 0  # UNK, BOS, EOS random
  assert table.dtype == np.float32 and table.shape == (len(vocab), 3)


def test_align_surface_forms_for_normalised_types():
  vec_words, matrix = _vectors(["1996", "1997", "0000", "paris"])
  vocab = RESERVED + ["0000", "paris", "00"]
  forms = {"0000": {"1996": 3, "1997": 1, "2100": 5}, "paris": {"Paris": 2},
           "00": {"12": 4}}
  table, report = vectors.align_vectors(vocab, vec_words, matrix, surface_forms=forms)
  # "0000" never occurred as such: the count-weighted mean of its forms' vectors
  # ("2100" by the digits rule: "1996", the first four-digit word), not the
  # vectors' own "0000" (a different word when the vectors keep digits).
  np.testing.assert_allclose(table[4], (8 * matrix[0] + matrix[1]) / 9, rtol=1e-6)
  np.testing.assert_array_equal(table[5], matrix[3])  # occurred as "Paris": lower
  # "12" is not found and no vector word has the form "00" -> missing.
  assert report["rules"]["surface"]["types"] == 1
  assert report["rules"]["lower"]["types"] == 0
  assert report["rules"]["exact"]["types"] == 1
  assert report["rules"]["missing"]["types"] == 1


def test_align_coverage_counts_by_hand():
  vec_words, matrix = _vectors(["a", "b", "c"])
  vocab = RESERVED + ["a", "B", "x", "y", "c"]
  counts = {"a": 10, "B": 5, "x": 3, "y": 1, "c": 1, "<unk>": 100}
  _, report = vectors.align_vectors(vocab, vec_words, matrix, counts=counts)
  assert report["types"] == {"total": 5, "found": 3, "coverage": 3 / 5}
  # Found tokens: a 10 + B 5 + c 1 = 16 of 20 (reserved ids not counted).
  assert report["tokens"] == {"total": 20, "found": 16, "coverage": 0.8}
  assert report["rules"]["exact"] == {"types": 2, "tokens": 11}
  assert report["rules"]["lower"] == {"types": 1, "tokens": 5}
  assert report["rules"]["missing"] == {"types": 2, "tokens": 4}
  assert report["top_misses"] == [["x", 3], ["y", 1]]
  # Same thing with counts aligned to the vocabulary.
  _, again = vectors.align_vectors(vocab, vec_words, matrix,
                                   counts=[counts.get(w, 0) for w in vocab])
  assert again == report
  json.loads(json.dumps(report))  # JSON-ready
  text = vectors.format_coverage(report, title="train")
  assert "types covered:  3/5 (60.00%)" in text
  assert "tokens covered: 16/20 (80.00%)" in text
  assert "x (3), y (1)" in text


def test_align_random_rows_match_found_scale():
  rng = np.random.default_rng(0)
  scale = np.array([0.1, 1.0, 10.0], np.float32)
  num_found = 4000
  vec_words = [f"w{i}" for i in range(num_found)]
  matrix = (rng.normal(size=(num_found, 3)) * scale + 5.0).astype(np.float32)
  vocab = RESERVED + vec_words + [f"missing{i}" for i in range(4000)]
  table, report = vectors.align_vectors(vocab, vec_words, matrix, seed=1)
  missing = table[4 + num_found:]
  found_std = matrix.std(axis=0)
  np.testing.assert_allclose(missing.std(axis=0), found_std, rtol=0.05)
  np.testing.assert_allclose(missing.mean(axis=0), 0.0, atol=0.05 * scale.max())
  assert report["init_std"] == pytest.approx(float(found_std.mean()), rel=1e-5)
  same, _ = vectors.align_vectors(vocab, vec_words, matrix, seed=1)
  other, _ = vectors.align_vectors(vocab, vec_words, matrix, seed=2)
  np.testing.assert_array_equal(same, table)
  assert not np.array_equal(other[4 + num_found:], missing)


def test_align_rejects_bad_arguments():
  vec_words, matrix = _vectors(["a", "b"])
  with pytest.raises(ValueError, match="expected one per vocabulary word"):
    vectors.align_vectors(RESERVED + ["a"], vec_words, matrix, counts=[1, 2])
  with pytest.raises(ValueError, match="shape"):
    vectors.align_vectors(RESERVED + ["a"], vec_words, matrix[:1])
  with pytest.raises(ValueError, match="reserved_ids"):
    vectors.align_vectors(["a"], vec_words, matrix)


def test_corpus_coverage():
  vec_words, matrix = _vectors(["paris", "is", "mid-1990s"])
  sentences = [["Paris", "is", "mid-1990s"], ["PARIS", "x", "mid-1980s"]]
  report = vectors.corpus_coverage(sentences, vec_words, matrix)
  # Types: paris (2), is, mid-0000s (2, both found via their surface forms), x.
  assert report["types"] == {"total": 4, "found": 3, "coverage": 0.75}
  assert report["tokens"] == {"total": 6, "found": 5, "coverage": 5 / 6}
  assert report["rules"]["surface"]["types"] == 1
  assert report["top_misses"] == [["x", 1]]


def test_extender_rows_for_unknown_words_the_vectors_know():
  from wincls.data import vocab as vocab_lib
  vec_words = ["paris", "london", "1990", "anglo", "dutch", "us"]
  matrix = np.arange(6 * 2, dtype=np.float32).reshape(6, 2)
  vocab = vocab_lib.Vocab.build([["Paris", "is"]], min_count=1, lowercase=True,
                                normalize_digits=True)
  extender = vectors.Extender(vec_words, matrix)
  sentences = [["Paris", "London", "in", "1996", "Anglo-Dutch"], ["U.S.", "London", "xyz"]]
  types, rows = extender.new_rows(lambda w: w in vocab, sentences,
                                  normalize=vocab.normalize)
  # Known (paris) and unknown-to-the-vectors (in, xyz) types are left out.
  assert types == ["london", "0000", "anglo-dutch", "u.s."]
  np.testing.assert_array_equal(rows[0], matrix[1])
  np.testing.assert_array_equal(rows[1], matrix[2])  # surface form 1996 -> digits 1990
  np.testing.assert_array_equal(rows[2], (matrix[3] + matrix[4]) / 2)
  np.testing.assert_array_equal(rows[3], matrix[5])
  none, empty = extender.new_rows(lambda w: True, sentences, normalize=vocab.normalize)
  assert none == [] and empty.shape == (0, 2)


def test_a_word_on_two_rows_keeps_the_first_and_the_report_says_so(tmp_path):
  path = tmp_path / "dup.txt"
  path.write_text("paris 1 1\nlondon 2 2\nparis 3 3\nParis 4 4\nlondon 5 5\nparis 6 6\n")
  vec_words, matrix = vectors.read_vectors(path)
  assert len(vec_words) == 6  # the reader keeps every row, in file order
  vocab = RESERVED + ["paris", "PARIS", "london", "Paris"]
  table, report = vectors.align_vectors(vocab, vec_words, matrix)
  np.testing.assert_array_equal(table[4:], [[1, 1], [1, 1], [2, 2], [4, 4]])
  assert report["duplicate_words"] == {"rows": 3, "words": 2,
                                       "examples": ["paris", "london"], "kept": "first"}
  text = vectors.format_coverage(report)
  assert ("duplicate words: 3 rows repeat an earlier row's word (2 words, e.g. 'paris', "
          "'london'); the first row of each word is kept") in text
  types, rows = vectors.Extender(vec_words, matrix).new_rows(
      lambda w: False, [["paris"]], normalize=str.lower)
  assert types == ["paris"] and rows.tolist() == [[1.0, 1.0]]  # open vocabulary too
  _, clean = vectors.align_vectors(vocab, ["paris", "london"], matrix[:2])
  assert clean["duplicate_words"]["rows"] == 0
  assert "duplicate" not in vectors.format_coverage(clean)
