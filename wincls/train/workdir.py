"""A run's workdir: config check, atomic checkpoints, JSON lines, resume.

Layout of a workdir (written by ``wincls.train.loop.train_and_evaluate``)::

    config.json          the run's Config (checked against a rerun's) and the
                         fingerprints of the files it read ("inputs": inputs.py)
    vocab.json           the word vocabulary; labels.json the label vocabulary
    vectors_coverage.json  with pre-trained vectors: their coverage report
    <feature>_coverage.json  a feature's coverage of dev (gazetteer_coverage.json)
    metrics.jsonl        one JSON object per epoch (and seed)
    tensorboard/seed_<s>/  the same numbers as TensorBoard events (``events.py``)
    checkpoints/latest   state after the last finished epoch (for resume)
    checkpoints/latest.prev  the one before (the fallback of a damaged latest)
    checkpoints/best     per seed, the parameters of its best dev-F1 epoch
    lock                 while a process trains here: its pid and host
    predictions/dev.txt  ``word gold pred`` of the best seed (conlleval input)
    results.json         written last; its presence marks a finished run

Per epoch the loop writes, in this order, the epoch's ``metrics.jsonl`` rows,
``checkpoints/best`` (when a seed improved) and ``checkpoints/latest``. A run
killed anywhere in between resumes from the previous ``latest``, drops the
metrics rows of later epochs (``rewrite_jsonl``) and redoes the epoch
identically (its random streams depend on the epoch number only).

Files are written by ``wincls.train.files`` (atomic, strict JSON, errors
naming the path) and checkpoints by ``wincls.train.checkpoints`` (checksums,
``latest.prev``, fallback); their names are re-exported here. The workdir's
lock is ``wincls.train.lock``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from absl import logging

from wincls import config as config_lib
from wincls import plugins
from wincls.data import vocab as vocab_lib
from wincls.train.checkpoints import BEST  # noqa: F401 (re-exported)
from wincls.train.checkpoints import CHECKPOINT_DIR
from wincls.train.checkpoints import CheckpointError  # noqa: F401
from wincls.train.checkpoints import LATEST
from wincls.train.checkpoints import PREVIOUS_SUFFIX
from wincls.train.checkpoints import checkpoint_path
from wincls.train.checkpoints import restore  # noqa: F401
from wincls.train.checkpoints import restore_checkpoint  # noqa: F401
from wincls.train.checkpoints import restore_checkpoint_or_previous  # noqa: F401
from wincls.train.checkpoints import save  # noqa: F401
from wincls.train.checkpoints import save_checkpoint  # noqa: F401
from wincls.train.checkpoints import set_aside  # noqa: F401
from wincls.train.checkpoints import to_numpy  # noqa: F401
from wincls.train import files
from wincls.train import inputs as inputs_lib
from wincls.train.files import append_jsonl  # noqa: F401
from wincls.train.files import atomic_write_bytes  # noqa: F401
from wincls.train.files import atomic_write_text  # noqa: F401
from wincls.train.files import json_dumps  # noqa: F401
from wincls.train.files import read_json
from wincls.train.files import read_jsonl  # noqa: F401
from wincls.train.files import rewrite_jsonl  # noqa: F401
from wincls.train.files import write_json

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
RESULTS_FILE = "results.json"
VOCAB_FILE = "vocab.json"
LABELS_FILE = "labels.json"
VECTORS_COVERAGE_FILE = "vectors_coverage.json"
FEATURE_COVERAGE_FILE = "{}_coverage.json"  # .format(feature name)
PREDICTIONS_DIR = "predictions"
# A sweep's workdir holds this file (``wincls.sweep.grid``); a run is not trained there.
SWEEP_GRID_FILE = "grid.json"


class ConfigMismatchError(ValueError):
  """An existing workdir holds a run with another config."""


def config_dict(config: config_lib.Config) -> dict[str, Any]:
  """The config as ``config.json`` holds it (tuples as lists)."""
  return json.loads(config.to_json())


def with_defaults(stored: dict[str, Any]) -> dict[str, Any]:
  """A saved config with the fields added since it was written at their defaults.

  A field that a file lacks is one that did not exist when it was written: that
  run ran as the field's default does, so an older ``config.json`` or
  ``grid.json`` resumes and compares equal to a config giving the default.
  """
  return config_dict(config_lib.Config()) | stored


def _unused(name: str, config: dict[str, Any]) -> bool:
  """A field that changes nothing in this run (its default changed since old runs)."""
  return name == "vocab_include_dev" and config.get("vectors", "random") == "random"


def check_workdir_config(workdir: str | os.PathLike, config: config_lib.Config, *,
                         write: bool = True,
                         inputs: dict[str, Any] | None = None) -> bool:
  """Writes ``config.json`` in a new workdir, or checks it against an existing one.

  Args:
    workdir: the run's directory.
    config: the run's config.
    write: write ``config.json`` when absent (False: only check).
    inputs: written with a new config as its ``"inputs"`` (the fingerprints of
      the files the run read: ``wincls.train.inputs``).

  Returns:
    True if the workdir already held a run (of the same config, on files with
    the contents it recorded).

  Raises:
    ConfigMismatchError: the stored config differs; the message lists every
      differing field with both values.
    inputs.InputsChangedError: a file the stored run read has other contents
      now (``inputs.check``).
  """
  path = Path(workdir) / CONFIG_FILE
  wanted = config_dict(config)
  if not path.exists():
    if write:
      records = {} if inputs is None else {inputs_lib.INPUTS_KEY: inputs}
      parts = plugins.part_modules(config.parts())
      if parts:  # the module behind each part of a plugin's (plugins.check_parts)
        records[plugins.PARTS_KEY] = parts
      write_json(path, wanted | records)
    return False
  stored = read_json(path, remedy="the run's settings are lost: rerun in a new "
                     "--workdir (or write the file again from the command's flags)")
  if not isinstance(stored, dict):
    raise ValueError(f"{path}: damaged: holds a {type(stored).__name__}, expected the "
                     "run's config (a JSON object)")
  stored = with_defaults(stored)
  fields = sorted((set(stored) | set(wanted)) - set(config_lib.SAVED_RECORDS))
  diffs = [f"--{name}: stored {stored.get(name, '<absent>')!r}, now "
           f"{wanted.get(name, '<absent>')!r}"
           for name in fields if stored.get(name) != wanted.get(name)
           and not (_unused(name, stored) and _unused(name, wanted))]
  if diffs:
    raise ConfigMismatchError(
        f"{path}: the workdir holds a run with another config ({'; '.join(diffs)}); "
        "use a new --workdir, or delete this one to start over")
  inputs_lib.check(stored, config, source=path)
  plugins.check_parts(stored.get(plugins.PARTS_KEY), path)
  return True


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
      try:
        vocabulary.save(path)
      except OSError as e:
        raise files.with_path(e, path) from None


def clear_run(workdir: str | os.PathLike) -> None:
  """Removes the files of an earlier run that left no ``config.json``.

  A workdir without ``config.json`` holds no run (its data failed before
  training, or it never started): its metrics, results and checkpoints, if
  any, do not belong to the run about to start.
  """
  for name in (METRICS_FILE, RESULTS_FILE):
    (Path(workdir) / name).unlink(missing_ok=True)
  for name in (LATEST, BEST):
    for suffix in ("", PREVIOUS_SUFFIX):
      checkpoint_path(workdir, name + suffix).unlink(missing_ok=True)


def remove_temporary_files(workdir: str | os.PathLike) -> list[Path]:
  """Removes the ``.<name>.*.tmp`` files writes cut short left; returns them.

  Only safe while holding the workdir's lock (no other process writes there).
  """
  workdir = Path(workdir)
  removed = []
  for directory in (workdir, workdir / CHECKPOINT_DIR, workdir / PREDICTIONS_DIR):
    if directory.is_dir():
      for tmp in sorted(directory.glob(".*.tmp")):
        tmp.unlink(missing_ok=True)
        removed.append(tmp)
  if removed:
    logging.info("%s: removed temporary files of an interrupted write: %s", workdir,
                 ", ".join(str(p.relative_to(workdir)) for p in removed))
  return removed


def inspect_run(workdir: str | os.PathLike, config: config_lib.Config) -> dict[str, Any]:
  """What ``workdir`` holds (created if needed), without writing a file.

  Returns:
    ``{"existed": bool, "results": results.json's content or None}``:
    ``existed`` when it holds a run of ``config`` (``check_workdir_config``),
    ``results`` when that run has finished.

  Raises:
    ConfigMismatchError: the workdir holds a run of another config, or a sweep.
  """
  workdir = Path(workdir)
  if (workdir / SWEEP_GRID_FILE).exists():
    raise ConfigMismatchError(
        f"{workdir} holds a sweep ({SWEEP_GRID_FILE}), not a training run; give "
        f"train.py another --workdir (the sweep's runs are {workdir}/runs/<name>)")
  workdir.mkdir(parents=True, exist_ok=True)
  # config.json is written once the data is read (bad data leaves no run
  # behind); a workdir without it holds no run, whatever else it holds.
  existed = check_workdir_config(workdir, config, write=False)
  finished = existed and (workdir / RESULTS_FILE).exists()
  results = read_results(workdir) if finished else None
  return {"existed": existed, "results": results}


def read_results(workdir: str | os.PathLike) -> dict[str, Any]:
  """``results.json`` of a finished run.

  Raises:
    ValueError: the file is damaged (not JSON, or not results), naming it and
      how to write it again.
  """
  path = Path(workdir) / RESULTS_FILE
  remedy = ("delete it and rerun the same command: the run is finished again from "
            f"{CHECKPOINT_DIR}/{LATEST} without training")
  results = read_json(path, remedy=remedy)
  if not (isinstance(results, dict) and isinstance(results.get("seeds"), list)):
    raise ValueError(f"{path}: damaged: expected the results of a run (a JSON object "
                     f"with a 'seeds' list); {remedy}")
  return results
