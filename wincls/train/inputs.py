"""What a run was given: the files it reads, and their fingerprints.

A new run's ``config.json`` records, under ``"inputs"`` (beside the flags), the
size and sha256 of every file it reads: the training and dev files (the
bundled WNUT-2016 file too), the vectors file (for named vectors, the
cache's ``vectors.npy`` and ``words.txt``) and the files a word feature reads
(``FeatureSpec.files``: the gazetteer's lists, ``gazetteer:LOC.1`` for the first
``--gazetteers`` entry, ``gazetteer:LOC.default`` for a default list)::

  "inputs": {"train": {"path": "data/train.txt", "size": 3283, "sha256": "..."},
             "dev": {...}, "vectors": {...}}

A rerun in that workdir (a resume, a sweep's rerun, a finished run asked again)
fingerprints the files its flags name and compares: other contents are refused
with one line naming the file (``InputsChangedError``), before anything is read
or trained. The contents count, not the path: the same bytes moved elsewhere
(another ``$WINCLS_CONLL2003_DIR``) are the same data. A file that is gone is
not compared (a finished run answers without its data; a resume that needs it
says it is missing when it reads it). A ``config.json`` written before the
fingerprints were recorded is not checked (logged).

Hashing streams the file (about 1 s for 350 MB); a process hashes each file
once while its size, mtime and inode stay the same.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from absl import logging

from wincls import config as config_lib
from wincls.data import datasets
from wincls.data.vectors import install as vectors_install
from wincls.model import features as features_lib

INPUTS_KEY = "inputs"
# What a role's file is called in messages.
_KIND = {"train": "data file", "dev": "data file", "vectors": "vectors file",
         "vectors_words": "vectors file"}
_HASHED: dict[tuple, str] = {}  # (path, size, mtime_ns, inode) -> sha256
_UNCHECKED_SAID: set[str] = set()


class InputsChangedError(ValueError):
  """A file a run read has other contents now (the rerun would mix two datasets)."""


def input_files(config: config_lib.Config) -> dict[str, Path]:
  """``{role: path}`` of every file the run reads (``train``, ``dev``, ``vectors``...).

  Raises:
    ValueError, FileNotFoundError: as ``datasets.split_files`` (the dataset
      cannot be found).
  """
  files = datasets.split_files(config.dataset, data_dir=config.data_dir or None,
                               train_path=config.train_path or None,
                               dev_path=config.dev_path or None)
  return files | vectors_files(config) | feature_files(config)


def feature_files(config: config_lib.Config) -> dict[str, Path]:
  """``{feature:role: path}`` of the files the run's word features read
  (``FeatureSpec.files``; nothing is read)."""
  out = {}
  for name in config.features:
    spec = features_lib.FEATURES.get(name)
    if spec is not None and spec.files is not None:
      out |= {f"{name}:{role}": Path(path) for role, path in spec.files(config).items()}
  return out


def vectors_files(config: config_lib.Config) -> dict[str, Path]:
  """``{role: path}`` of the run's vectors (none for random vectors)."""
  if config.vectors == "random":
    return {}
  spec = config.vectors_path or config.vectors  # as prepare.load_run_vectors reads it
  if spec in vectors_install.NAMED_VECTORS:
    directory = vectors_install.named_vectors_dir(spec)
    return {"vectors": directory / "vectors.npy",
            "vectors_words": directory / "words.txt"}
  return {"vectors": Path(spec)}


def fingerprint(path: str | os.PathLike) -> dict[str, Any]:
  """``{"path", "size", "sha256"}`` of a file (cached while it is unchanged on disk)."""
  path = Path(path)
  stat = os.stat(path)
  key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ino)
  if key not in _HASHED:
    with open(path, "rb") as f:
      _HASHED[key] = hashlib.file_digest(f, "sha256").hexdigest()
  return {"path": str(path), "size": stat.st_size, "sha256": _HASHED[key]}


def fingerprints(config: config_lib.Config) -> dict[str, dict[str, Any]]:
  """What ``config.json`` records of the run's files (``{role: fingerprint}``).

  Only regular files: a pipe (``--train_path=<(zcat train.gz)``) cannot be read
  a second time, and is not there to compare on a rerun.
  """
  return {role: fingerprint(path) for role, path in input_files(config).items()
          if path.is_file()}


def check(stored: dict[str, Any], config: config_lib.Config, *,
          source: str | os.PathLike, only_vectors: bool = False) -> None:
  """Checks that the files ``config`` names hold what the stored run read.

  Args:
    stored: the workdir's ``config.json`` (its ``"inputs"``, if any).
    config: the rerun's config.
    source: the ``config.json``, named by the error.
    only_vectors: check the vectors and word features' files only (what
      tagging reads).

  Raises:
    InputsChangedError: a file's size or sha256 differs; one line naming it.
  """
  recorded = stored.get(INPUTS_KEY)
  if not isinstance(recorded, dict):
    if str(source) not in _UNCHECKED_SAID:
      _UNCHECKED_SAID.add(str(source))
      logging.info("%s records no fingerprints of the run's files (written before "
                   "they were recorded): the data is not checked", source)
    return
  try:
    files = ((vectors_files(config) | feature_files(config)) if only_vectors
             else input_files(config))
  except (OSError, ValueError):
    return  # the data cannot be found: reading it (if needed) says so
  for role, then in sorted(recorded.items()):
    path = files.get(role)
    if path is None or not path.is_file() or not isinstance(then, dict):
      continue
    now = fingerprint(path)
    if (now["size"], now["sha256"]) != (then.get("size"), then.get("sha256")):
      kind = _KIND.get(role, f"{role.split(':')[0]} file" if ":" in role else "file")
      raise InputsChangedError(
          f"{source}: {kind} {path} changed since the run started "
          f"(size {then.get('size')} -> {now['size']} bytes, sha256 "
          f"{str(then.get('sha256'))[:12]} -> {now['sha256'][:12]}); start a new "
          "--workdir or restore the file")
