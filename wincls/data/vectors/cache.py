"""The word-vectors cache: a directory of ``vectors.npy``, ``words.txt``, ``meta.json``.

Converted vectors (``wink.convert_wink_json``) are written here once and then
loaded in well under a second (``vectors.npy`` memory-mapped). ``meta.json``
holds the shape, dtype, sha256 of ``vectors.npy``, the source and the date;
``load_cache`` checks shape, dtype and word count always and the checksum on
request. Named vectors live in ``default_cache_dir() / NAME``.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from wincls.data.conll import DataError

Matrix = np.ndarray  # float32 [num_words, dim]

CACHE_FILES = ("vectors.npy", "words.txt", "meta.json")


def default_cache_dir() -> Path:
  """``$WINCLS_CACHE`` or ``~/.cache/wincls``."""
  return Path(os.environ.get("WINCLS_CACHE") or Path.home() / ".cache" / "wincls")


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
  """The hex digest of a file, read in 4 MiB chunks."""
  digest = hashlib.new(algorithm)
  with open(path, "rb") as f:
    while chunk := f.read(1 << 22):
      digest.update(chunk)
  return digest.hexdigest()


def write_cache(out_dir: str | os.PathLike, words: Sequence[str], matrix: Matrix, *,
                name: str, source: dict[str, Any]) -> dict[str, Any]:
  """Writes a cache directory (created; its files are replaced).

  Args:
    out_dir: the directory.
    words: ``[N]``, one per row; no line breaks.
    matrix: ``[N, D]``, stored as float32.
    name: the vectors' name recorded in ``meta.json``.
    source: where they came from, recorded in ``meta.json``.

  Returns:
    The ``meta.json`` contents.
  """
  out_dir = Path(out_dir)
  out_dir.mkdir(parents=True, exist_ok=True)
  np.save(out_dir / "vectors.npy", np.ascontiguousarray(matrix, np.float32))
  with open(out_dir / "words.txt", "w", encoding="utf-8", newline="\n") as f:
    f.write("\n".join(words))
    f.write("\n")
  meta = {
      "name": name,
      "shape": [int(s) for s in matrix.shape],
      "dtype": "float32",
      "sha256": file_digest(out_dir / "vectors.npy"),
      "source": source,
      "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
  }
  with open(out_dir / "meta.json", "w", encoding="utf-8") as f:
    json.dump(meta, f, indent=2)
    f.write("\n")
  return meta


def load_cache(directory: str | os.PathLike, *, verify: bool = False,
               mmap_mode: str | None = "r",
               install_hint: str = "") -> tuple[list[str], Matrix]:
  """Loads a cache directory written by the converters.

  Args:
    directory: holds ``vectors.npy``, ``words.txt``, ``meta.json``.
    verify: also recompute the sha256 of ``vectors.npy`` (about 0.3 s per
      100 MB); shape, dtype and word count are always checked.
    mmap_mode: passed to ``np.load`` ("r": memory-mapped, read-only; None:
      read into memory).
    install_hint: appended to the message when files are missing.

  Returns:
    ``(words, matrix)``: ``[N]`` and float32 ``[N, D]``.

  Raises:
    FileNotFoundError: the cache is missing or incomplete.
    DataError: the files disagree with ``meta.json``.
  """
  directory = Path(directory)
  missing = [f for f in CACHE_FILES if not (directory / f).is_file()]
  if missing:
    raise FileNotFoundError(f"{directory}: no word-vectors cache (missing "
                            f"{', '.join(missing)}){install_hint}")
  meta_path = directory / "meta.json"
  try:
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    shape = tuple(int(s) for s in meta["shape"])
    checksum = str(meta["sha256"])
  except (ValueError, KeyError, TypeError) as e:
    raise DataError(meta_path, None, f"unreadable ({e}); expected JSON with "
                    "'shape' and 'sha256'") from None
  npy = directory / "vectors.npy"
  try:
    matrix = np.load(npy, mmap_mode=mmap_mode, allow_pickle=False)
  except (ValueError, OSError) as e:
    raise DataError(npy, None, f"unreadable ({e}); expected a float32 .npy") from None
  if matrix.shape != shape or matrix.dtype != np.float32:
    raise DataError(npy, None, f"holds {matrix.dtype} {list(matrix.shape)}; "
                    f"meta.json says float32 {list(shape)}")
  words = (directory / "words.txt").read_text(encoding="utf-8").split("\n")
  if words and words[-1] == "":
    words.pop()
  if len(words) != shape[0]:
    raise DataError(directory / "words.txt", None, f"has {len(words)} words; "
                    f"meta.json says {shape[0]}")
  if verify:
    actual = file_digest(npy)
    if actual != checksum:
      raise DataError(npy, None, f"sha256 is {actual}; meta.json says {checksum} "
                      "(the file changed after it was written)")
  return words, matrix

