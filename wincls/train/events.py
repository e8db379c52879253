"""TensorBoard event files of a run: ``<workdir>/tensorboard/seed_<s>/``.

Per seed, per epoch (the step), every number of its ``metrics.jsonl`` row
(``tag_of``: ``dev/f1``, ``train/loss``, ``train/grad_norm``,
``time/windows_per_sec``, ...), and at step 0 the config as text. One
directory per seed, so ``tensorboard --logdir=W`` draws the seeds of a run
(and, for a sweep's workdir, those of every run, ``runs/<name>/tensorboard/
seed_<s>``) as separate lines and each tag's chart compares them.

**The events are derived from ``metrics.jsonl``, never a second record.**
When a process opens a run to train it (from scratch or resumed), ``rebuild``
removes every event file of ``tensorboard/seed_*/`` and writes each seed's
file again from the rows ``metrics.jsonl`` holds (those of the epochs up to
``checkpoints/latest``: the resume has dropped a killed process's later rows);
then each epoch's rows are appended as they are written to ``metrics.jsonl``.
Whatever a kill left (points of an epoch that is trained again, points lost
with the process), the rerun shows each (tag, step) once, with the number of
``metrics.jsonl``. Events are written synchronously (TFRecord records by
tensorboardX's ``RecordWriter``: no queue, no thread) and flushed per epoch,
so an epoch's points are on disk before its checkpoint is written.
A finished run's rerun opens no writer. Only process 0 writes (the loop calls
``rebuild`` and ``write`` where it writes ``metrics.jsonl``); tensorboardX
(no TensorFlow) is imported by ``rebuild``.

A sweep's run also has ``tensorboard/hparams/``: one HParams session (its
axis values, its final dev F1 over seeds), so TensorBoard's HPARAMS tab
compares a sweep's runs. ``write_hparams`` replaces that directory's event
file by a new one each time (derived from ``results.jsonl``, never patched).
"""

from __future__ import annotations

import os
from pathlib import Path
import socket
import time
from typing import Any, Sequence

from wincls.train import evaluate
from wincls.train import files
from wincls.train import workdir as workdir_lib

EVENTS_DIR = "tensorboard"
HPARAMS_DIR = "hparams"  # under EVENTS_DIR: a sweep run's HParams session
_NOT_SCALARS = ("epoch", "seed")
_EVENT_FILES = "*tfevents*"  # what TensorBoard reads in a directory


def seed_dir(workdir: str | os.PathLike, seed: int) -> Path:
  """The event directory of one seed of a run."""
  return Path(workdir) / EVENTS_DIR / f"seed_{seed}"


def tag_of(key: str) -> str:
  """The TensorBoard tag of a ``metrics.jsonl`` key: ``dev_f1`` -> ``dev/f1``."""
  if key.startswith("dev_"):
    return "dev/" + key[len("dev_"):]
  if key == "best_dev_f1":
    return "dev/best_f1"
  if key in evaluate.TIMING_KEYS:
    return "time/" + key
  return "train/" + key


def scalars(row: dict[str, Any]) -> dict[str, float]:
  """``{tag: value}`` of a row's numbers (a non-finite one, ``None``, left out)."""
  return {tag_of(k): float(v) for k, v in row.items()
          if k not in _NOT_SCALARS and isinstance(v, (int, float))
          and not isinstance(v, bool)}


def remove_event_files(workdir: str | os.PathLike) -> list[Path]:
  """Removes the event files of every ``tensorboard/seed_*/``; returns them."""
  removed = sorted(Path(workdir, EVENTS_DIR).glob(f"seed_*/{_EVENT_FILES}"))
  for path in removed:
    try:
      path.unlink(missing_ok=True)
    except OSError as e:
      raise files.with_path(e, path) from None
  return removed


class _SeedFile:
  """One event file (a seed's, hparams'), written synchronously (TFRecord framing)."""

  def __init__(self, directory: Path):
    from tensorboardX import record_writer  # pylint: disable=g-import-not-at-top
    # Named by the second, the host and the process (TensorBoard reads a
    # directory's files in name order; a rebuild removed every earlier one).
    self.path = directory / (f"events.out.tfevents.{int(time.time()):010d}."
                             f"{socket.gethostname()}.{os.getpid()}")
    try:
      directory.mkdir(parents=True, exist_ok=True)
      self._records = record_writer.RecordWriter(str(self.path))
    except OSError as e:
      raise files.with_path(e, self.path) from None
    self.add(None, step=0)  # the file's version, as every event file begins

  def add(self, summary: Any, *, step: int) -> None:
    """Appends an ``Event`` of ``summary`` (None: the file's version event)."""
    from tensorboardX.proto import event_pb2  # pylint: disable=g-import-not-at-top
    event = event_pb2.Event(wall_time=time.time(), step=step)
    if summary is None:
      event.file_version = "brain.Event:2"
    else:
      event.summary.CopyFrom(summary)
    try:
      self._records.write(event.SerializeToString())
    except OSError as e:
      raise files.with_path(e, self.path) from None

  def flush(self) -> None:
    try:
      self._records.flush()
    except OSError as e:
      raise files.with_path(e, self.path) from None

  def close(self) -> None:
    self._records.close()


def write_hparams(workdir: str | os.PathLike, hparams: dict[str, Any],
                  metrics: dict[str, float]) -> Path:
  """Replaces ``<workdir>/tensorboard/hparams/``'s event files by one HParams
  session: ``hparams`` (a value not bool, number or str as its ``str``) and
  the ``metrics`` scalars (tag: value, at step 0); returns the file.

  A kill while this runs leaves at most a file cut short, which the next call
  removes with the others: each call leaves exactly one session.
  """
  from tensorboardX import summary  # pylint: disable=g-import-not-at-top
  from tensorboardX.proto import summary_pb2  # pylint: disable=g-import-not-at-top
  directory = Path(workdir) / EVENTS_DIR / HPARAMS_DIR
  for path in sorted(directory.glob(_EVENT_FILES)):
    try:
      path.unlink(missing_ok=True)
    except OSError as e:
      raise files.with_path(e, path) from None
  values = {k: v if isinstance(v, (bool, int, float, str)) else str(v)
            for k, v in hparams.items()}
  hparams_file = _SeedFile(directory)
  # Session start and end; not the experiment: TensorBoard derives it from the
  # sessions, each value's domain and whether it differs between runs included.
  _, session_start, session_end = summary.hparams(values, metrics)
  for part in (session_start, session_end):
    hparams_file.add(part, step=0)
  hparams_file.add(summary_pb2.Summary(value=[
      summary_pb2.Summary.Value(tag=tag, simple_value=float(value))
      for tag, value in metrics.items()]), step=0)
  hparams_file.flush()
  hparams_file.close()
  return hparams_file.path


class EpochWriter:
  """Writes a run's events, one event file per seed, rebuilt from ``metrics.jsonl``.

  Args:
    workdir: the run's directory.
    config_json: the run's config, written as text at step 0 of each seed.
  """

  def __init__(self, workdir: str | os.PathLike, *, config_json: str):
    self.workdir = Path(workdir)
    self.config_json = config_json
    self._files: dict[int, _SeedFile] = {}

  def rebuild(self, seeds: Sequence[int], *, through_epoch: int) -> None:
    """Replaces the event files by the rows of ``metrics.jsonl`` of epochs up to
    ``through_epoch`` (those of ``checkpoints/latest``), each seed's in one new file."""
    self.close()
    remove_event_files(self.workdir)
    rows = [row for row in files.read_jsonl(self.workdir / workdir_lib.METRICS_FILE)
            if isinstance(row.get("epoch"), int) and row["epoch"] <= through_epoch]
    for seed in sorted({*seeds, *(row["seed"] for row in rows)}):
      self._open(seed)
    self.write(rows)

  def _open(self, seed: int) -> _SeedFile:
    if seed not in self._files:
      from tensorboardX import summary  # pylint: disable=g-import-not-at-top
      self._files[seed] = _SeedFile(seed_dir(self.workdir, seed))
      self._files[seed].add(summary.text("config", f"```\n{self.config_json}\n```"),
                            step=0)
    return self._files[seed]

  def write(self, rows: Sequence[dict[str, Any]]) -> None:
    """Epochs' ``metrics.jsonl`` rows (finite values: ``finite_or_none``'s), on
    disk when this returns (a killed run keeps them; TensorBoard shows them live)."""
    from tensorboardX.proto import summary_pb2  # pylint: disable=g-import-not-at-top
    for row in rows:
      values = [summary_pb2.Summary.Value(tag=tag, simple_value=value)
                for tag, value in scalars(row).items()]
      self._open(row["seed"]).add(summary_pb2.Summary(value=values), step=row["epoch"])
    for seed in {row["seed"] for row in rows}:
      self._files[seed].flush()

  def close(self) -> None:
    seed_files, self._files = self._files, {}
    for seed_file in seed_files.values():
      seed_file.close()
