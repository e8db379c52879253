"""A run's workdir: config check, atomic checkpoints, JSON lines, resume.

Layout of a workdir (written by ``wincls.train.loop.train_and_evaluate``)::

    config.json          the run's Config (checked against a rerun's)
    vocab.json           the word vocabulary; labels.json the label vocabulary
    vectors_coverage.json  with pre-trained vectors: their coverage report
    metrics.jsonl        one JSON object per epoch (and seed)
    checkpoints/latest   state after the last finished epoch (for resume)
    checkpoints/best     per seed, the parameters of its best dev-F1 epoch
    predictions/dev.txt  ``word gold pred`` of the best seed (conlleval input)
    results.json         written last; its presence marks a finished run

Checkpoints are ``flax.serialization`` msgpack of a pytree of arrays. Restoring
needs a *target* pytree of the same structure (re-created from the config: the
initial parameters and optimizer state), whose leaves' shapes are checked. Every
file is written to a temporary file in the same directory, flushed and fsynced,
and moved into place with ``os.replace``, so a kill at any moment leaves either
the old or the new file, never half of one.

Per epoch the loop writes, in this order, the epoch's ``metrics.jsonl`` rows,
``checkpoints/best`` (when a seed improved) and ``checkpoints/latest``. A run
killed anywhere in between resumes from the previous ``latest``, drops the
metrics rows of later epochs (``rewrite_jsonl``) and redoes the epoch
identically (its random streams depend on the epoch number only).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable

import jax
import numpy as np
from flax import serialization

from wincls import config as config_lib
from wincls.data import vocab as vocab_lib

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
RESULTS_FILE = "results.json"
VOCAB_FILE = "vocab.json"
LABELS_FILE = "labels.json"
VECTORS_COVERAGE_FILE = "vectors_coverage.json"
PREDICTIONS_DIR = "predictions"
CHECKPOINT_DIR = "checkpoints"
BEST = "best"
LATEST = "latest"


class ConfigMismatchError(ValueError):
  """An existing workdir holds a run with another config."""


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
  """Writes ``data`` to ``path`` so that readers see the old or the new file."""
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
  try:
    with os.fdopen(fd, "wb") as f:
      f.write(data)
      f.flush()
      os.fsync(f.fileno())
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.unlink(tmp)
    raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
  atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> None:
  atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path: str | os.PathLike) -> Any:
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
  """The objects of a JSON-lines file ([] if absent).

  A last line without its newline (a write cut short by a kill) is dropped;
  any other unreadable line raises ValueError naming ``PATH:LINE``.
  """
  path = Path(path)
  if not path.exists():
    return []
  text = path.read_text(encoding="utf-8")
  lines = text.split("\n")
  complete = lines[:-1]  # "" after the final newline, or a torn last line
  rows = []
  for number, line in enumerate(complete, start=1):
    if not line.strip():
      continue
    try:
      rows.append(json.loads(line))
    except json.JSONDecodeError as e:
      raise ValueError(f"{path}:{number}: not a JSON object ({e.msg}); expected "
                       "one JSON object per line") from None
  return rows


def append_jsonl(path: str | os.PathLike, rows: Iterable[dict[str, Any]]) -> None:
  """Appends rows as JSON lines, flushed and fsynced."""
  text = "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows)
  if not text:
    return
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  _drop_torn_line(path)
  with open(path, "a", encoding="utf-8") as f:
    f.write(text)
    f.flush()
    os.fsync(f.fileno())


def _drop_torn_line(path: Path) -> None:
  if path.exists() and path.stat().st_size:
    data = path.read_bytes()
    if not data.endswith(b"\n"):
      atomic_write_bytes(path, data[:data.rfind(b"\n") + 1])


def rewrite_jsonl(path: str | os.PathLike, keep: Callable[[dict[str, Any]], bool]) -> int:
  """Atomically keeps only the rows for which ``keep`` is true; returns how many."""
  rows = [row for row in read_jsonl(path) if keep(row)]
  atomic_write_text(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
  return len(rows)


def config_dict(config: config_lib.Config) -> dict[str, Any]:
  """The config as ``config.json`` holds it (tuples as lists)."""
  return json.loads(config.to_json())


def check_workdir_config(workdir: str | os.PathLike, config: config_lib.Config, *,
                         write: bool = True) -> bool:
  """Writes ``config.json`` in a new workdir, or checks it against an existing one.

  Args:
    workdir: the run's directory.
    config: the run's config.
    write: write ``config.json`` when absent (False: only check).

  Returns:
    True if the workdir already held a run (of the same config).

  Raises:
    ConfigMismatchError: the stored config differs; the message lists every
      differing field with both values.
  """
  path = Path(workdir) / CONFIG_FILE
  wanted = config_dict(config)
  if not path.exists():
    if write:
      write_json(path, wanted)
    return False
  stored = read_json(path)
  fields = sorted(set(stored) | set(wanted))
  diffs = [f"--{name}: stored {stored.get(name, '<absent>')!r}, now "
           f"{wanted.get(name, '<absent>')!r}"
           for name in fields if stored.get(name) != wanted.get(name)]
  if diffs:
    raise ConfigMismatchError(
        f"{path}: the workdir holds a run with another config ({'; '.join(diffs)}); "
        "use a new --workdir, or delete this one to start over")
  return True


def checkpoint_path(workdir: str | os.PathLike, name: str) -> Path:
  return Path(workdir) / CHECKPOINT_DIR / name


def to_numpy(tree: Any) -> Any:
  """The pytree with every leaf a host numpy array."""
  return jax.tree.map(np.asarray, tree)


def save(path: str | os.PathLike, tree: Any) -> None:
  """Writes a pytree of arrays (and Python scalars) atomically."""
  atomic_write_bytes(path, serialization.to_bytes(to_numpy(tree)))


def restore(path: str | os.PathLike, target: Any) -> Any:
  """Reads a pytree saved by ``save`` into the structure of ``target``.

  Raises:
    ValueError: the file does not match ``target`` (structure or a leaf's
      shape), naming the file and the first mismatch.
  """
  path = Path(path)
  data = path.read_bytes()
  try:
    raw = serialization.msgpack_restore(data)
    restored = serialization.from_state_dict(target, raw)
  except (ValueError, KeyError, TypeError) as e:
    raise ValueError(f"{path}: checkpoint does not match the run's structure ({e})") from None
  paths_target = jax.tree_util.tree_flatten_with_path(target)[0]
  leaves_restored = jax.tree.leaves(restored)
  if len(paths_target) != len(leaves_restored):
    raise ValueError(f"{path}: checkpoint has {len(leaves_restored)} arrays, the run "
                     f"expects {len(paths_target)}")
  for (key_path, want), got in zip(paths_target, leaves_restored):
    if np.shape(want) != np.shape(got):
      raise ValueError(f"{path}: {jax.tree_util.keystr(key_path)} has shape "
                       f"{np.shape(got)}, the run expects {np.shape(want)}")
  return restored


def save_checkpoint(workdir: str | os.PathLike, name: str, tree: Any) -> None:
  save(checkpoint_path(workdir, name), tree)


def restore_checkpoint(workdir: str | os.PathLike, name: str, target: Any) -> Any | None:
  """The checkpoint ``name`` of the workdir in ``target``'s structure, or None."""
  path = checkpoint_path(workdir, name)
  if not path.exists():
    return None
  return restore(path, target)


def save_vocabularies(workdir: str | os.PathLike, vocab: vocab_lib.Vocab,
                      label_vocab: vocab_lib.LabelVocab, *, keep_existing: bool) -> None:
  """Writes ``vocab.json`` and ``labels.json``.

  Args:
    workdir: the run's directory (created if needed).
    vocab: the word vocabulary.
    label_vocab: the labels.
    keep_existing: leave a file that is already there as it is (a resumed run
      reused it); False overwrites both.
  """
  Path(workdir).mkdir(parents=True, exist_ok=True)
  for name, vocabulary in ((VOCAB_FILE, vocab), (LABELS_FILE, label_vocab)):
    path = Path(workdir) / name
    if not (keep_existing and path.exists()):
      vocabulary.save(path)


def clear_run(workdir: str | os.PathLike) -> None:
  """Removes the files of an earlier run that left no ``config.json``.

  A workdir without ``config.json`` holds no run (its data failed before
  training, or it never started): its metrics, results and checkpoints, if
  any, do not belong to the run about to start.
  """
  for name in (METRICS_FILE, RESULTS_FILE):
    (Path(workdir) / name).unlink(missing_ok=True)
  for name in (LATEST, BEST):
    checkpoint_path(workdir, name).unlink(missing_ok=True)


def inspect_run(workdir: str | os.PathLike, config: config_lib.Config) -> dict[str, Any]:
  """What ``workdir`` holds (created if needed), without writing a file.

  Returns:
    ``{"existed": bool, "results": results.json's content or None}``:
    ``existed`` when it holds a run of ``config`` (``check_workdir_config``),
    ``results`` when that run has finished.

  Raises:
    ConfigMismatchError: the workdir holds a run of another config.
  """
  workdir = Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  # config.json is written once the data is read (bad data leaves no run
  # behind); a workdir without it holds no run, whatever else it holds.
  existed = check_workdir_config(workdir, config, write=False)
  finished = existed and (workdir / RESULTS_FILE).exists()
  results = read_json(workdir / RESULTS_FILE) if finished else None
  return {"existed": existed, "results": results}
