"""TensorBoard event files of a run: ``<workdir>/tensorboard/seed_<s>/``.

Per seed, per epoch (the step), every number of its ``metrics.jsonl`` row
(``tag_of``: ``dev/f1``, ``train/loss``, ``train/grad_norm``,
``time/windows_per_sec``, ...), and at step 0 the config as text. One
directory per seed, so ``tensorboard --logdir=W`` draws the seeds of a run
(and, for a sweep's workdir, those of every run, ``runs/<name>/tensorboard/
seed_<s>``) as separate lines and each tag's chart compares them.

The writer is ``tensorboardX`` (no TensorFlow), imported when the first event
is written. A run resumed after epoch k opens its writers with
``purge_step=k+1``: TensorBoard drops the points of epochs > k that an
interrupted process wrote (the epochs it trains again), so no epoch shows
twice; each process writes a file of its own. Only process 0 writes (the
loop calls ``write`` where it writes ``metrics.jsonl``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from wincls.train import evaluate

EVENTS_DIR = "tensorboard"
_NOT_SCALARS = ("epoch", "seed")


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


class EpochWriter:
  """Writes a run's epochs, one event directory per seed (opened when first used).

  Args:
    workdir: the run's directory.
    first_epoch: the first epoch this process trains (``purge_step``).
    config_json: the run's config, written as text when ``first_epoch`` is 1.
  """

  def __init__(self, workdir: str | os.PathLike, *, first_epoch: int, config_json: str):
    self.workdir = Path(workdir)
    self.first_epoch = first_epoch
    self.config_json = config_json
    self._writers: dict[int, Any] = {}

  def _writer(self, seed: int) -> Any:
    if seed not in self._writers:
      import tensorboardX  # pylint: disable=g-import-not-at-top
      # The file's name tells processes apart (tensorboardX's alone is the
      # second and the host: a resumed process would truncate the file).
      writer = tensorboardX.SummaryWriter(
          str(seed_dir(self.workdir, seed)),
          purge_step=self.first_epoch if self.first_epoch > 1 else None,
          filename_suffix=f".epoch{self.first_epoch:04d}.{os.getpid()}")
      if self.first_epoch == 1:
        writer.add_text("config", f"```\n{self.config_json}\n```", global_step=0)
      self._writers[seed] = writer
    return self._writers[seed]

  def write(self, rows: Sequence[dict[str, Any]]) -> None:
    """One epoch's ``metrics.jsonl`` rows (finite values: ``finite_or_none``'s)."""
    for row in rows:
      writer = self._writer(row["seed"])
      for tag, value in scalars(row).items():
        writer.add_scalar(tag, value, global_step=row["epoch"])
      writer.flush()  # a killed run keeps its points; TensorBoard shows them live

  def close(self) -> None:
    for writer in self._writers.values():
      writer.close()
    self._writers.clear()
