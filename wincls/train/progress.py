"""Epoch progress: a job's epoch count, its bar (on a terminal) and its ETA.

A job is one training run, or a sweep's whole grid. ``train_and_evaluate``
counts its epochs with ``run_epochs(...)``: a ``Counter`` of its own, or,
inside ``report_to(counter)``, the caller's, so that a sweep
(``wincls.sweep.run``) has one bar and one ETA for its whole grid, and every
epoch line of its runs shows the sweep's ETA.

The bar is ``tqdm.auto``'s: in Jupyter (with ipywidgets) a widget bar, which
is always drawn; elsewhere tqdm's text bar on stderr, drawn only when stderr
is a terminal. The lines printed meanwhile go through ``AroundBars``
(``wincls.cli`` sends absl's log lines there), which lifts a text bar off the
terminal while a line is written.
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
import time
from typing import Any, Iterator

import tqdm
from tqdm import auto as tqdm_auto
from tqdm import std as tqdm_std

_OUTER: contextvars.ContextVar[Any] = contextvars.ContextVar("wincls_epoch_counter",
                                                              default=None)


def on_terminal() -> bool:
  """Whether bars are drawn: tqdm.auto chose a notebook's widget bar, or the text
  bar's stderr is a terminal."""
  # tqdm.auto's class is never tqdm.std's (it adds asyncio): ask for the widget bar.
  from tqdm import notebook  # pylint: disable=g-import-not-at-top
  return issubclass(tqdm_auto.tqdm, notebook.tqdm_notebook) or sys.stderr.isatty()


def format_seconds(seconds: float) -> str:
  """``[H:]MM:SS``, as tqdm writes times."""
  return tqdm.tqdm.format_interval(max(seconds, 0.0))


class Counter:
  """The epochs of a job: how many are done, a bar, and the ETA of the rest.

  Args:
    total: the job's epochs.
    initial: epochs done before this process (a resumed job).
    desc: the bar's and the ETA's name ("run", "sweep").
  """

  def __init__(self, *, total: int, initial: int = 0, desc: str = "run"):
    self.total, self.done, self.trained, self.desc = total, initial, 0, desc
    self.label = ""  # what the job's caller calls the current run ("run 2/4")
    self.start = time.perf_counter()
    self.bar = tqdm_auto.tqdm(total=total, initial=initial, desc=desc, unit="epoch",
                              disable=not on_terminal())

  def update(self, epochs: int = 1) -> None:
    """Counts ``epochs`` trained now."""
    self.trained += epochs
    self.jump_to(self.done + epochs)

  def jump_to(self, done: int) -> None:
    """Counts the epochs up to ``done`` as done without training them (a run that
    stopped early or was finished before)."""
    self.bar.update(done - self.done)
    self.done = done

  def eta(self) -> float | None:
    """Seconds left at the pace of the epochs trained so far (None: none yet)."""
    if self.trained == 0:
      return None
    rate = (time.perf_counter() - self.start) / self.trained
    return rate * max(self.total - self.done, 0)

  def close(self) -> None:
    self.bar.close()


@contextlib.contextmanager
def report_to(counter: Counter) -> Iterator[Counter]:
  """Within this block, training loops count their epochs on ``counter``."""
  token = _OUTER.set(counter)
  try:
    yield counter
  finally:
    _OUTER.reset(token)


@contextlib.contextmanager
def run_epochs(*, total: int, initial: int) -> Iterator[Counter]:
  """A training run's counter: ``report_to``'s, or its own (closed at the end)."""
  outer = _OUTER.get()
  if outer is not None:
    yield outer
    return
  counter = Counter(total=total, initial=initial, desc="run")
  try:
    yield counter
  finally:
    counter.close()


class AroundBars:
  """A text stream writing to ``sys.stdout`` with tqdm's bars lifted meanwhile."""

  def write(self, text: str) -> int:
    with tqdm.tqdm.external_write_mode(file=sys.stdout):
      return sys.stdout.write(text)

  def flush(self) -> None:
    sys.stdout.flush()

  def close(self) -> None:
    """Nothing: absl's handler closes its stream at exit, and stdout is not ours."""
