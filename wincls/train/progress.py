"""Epoch progress: the training loop's own bar, or a caller's bar over many runs.

``train_and_evaluate`` iterates its epochs through ``epochs(...)``: by default
a tqdm bar of its own (on a terminal). Inside ``report_to(bar)`` it draws none
and advances ``bar`` by one per finished epoch instead, so a sweep
(``wincls.sweep.run``) shows one bar, with one ETA, for its whole grid.
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
from typing import Any, Iterable, Iterator

import tqdm

_OUTER: contextvars.ContextVar[Any] = contextvars.ContextVar("wincls_epoch_bar",
                                                              default=None)


def on_terminal() -> bool:
  """Whether bars are drawn (stdout is a terminal, as the loop has always decided)."""
  return sys.stdout.isatty()


@contextlib.contextmanager
def report_to(bar: Any) -> Iterator[Any]:
  """Within this block, training loops advance ``bar`` (``bar.update(1)`` per epoch)."""
  token = _OUTER.set(bar)
  try:
    yield bar
  finally:
    _OUTER.reset(token)


def epochs(iterable: Iterable[int], **kwargs) -> Iterator[int]:
  """The loop's epochs: under its own bar (``kwargs`` go to tqdm) or ``report_to``'s.

  The outer bar advances when the loop asks for the next epoch, i.e. after an
  epoch's body has run; an epoch left by ``break`` is not counted.
  """
  bar = _OUTER.get()
  if bar is None:
    yield from tqdm.tqdm(iterable, disable=not on_terminal(), **kwargs)
    return
  for item in iterable:
    yield item
    bar.update(1)
