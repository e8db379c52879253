"""Ctrl-C (SIGINT) and SIGTERM as one exception, reported in one line.

``cli.run`` installs ``raise_on_sigterm`` (SIGTERM raises ``Interrupted``, as
SIGINT raises ``KeyboardInterrupt``); the training loop re-raises either as an
``Interrupted`` whose ``where`` says which epoch was running and which one
``checkpoints/latest`` holds; ``cli.run`` prints ``message(...)`` and exits
with ``exit_status(...)`` (128 + the signal's number: 130 for SIGINT, 143 for
SIGTERM). Kept free of JAX so that the scripts' flags are checked before it
loads.
"""

from __future__ import annotations

import signal


class Interrupted(KeyboardInterrupt):
  """A run stopped by a signal.

  Attributes:
    signum: the signal (``signal.SIGINT`` or ``signal.SIGTERM``).
    where: what was running and what the workdir holds ("" when unknown).
  """

  def __init__(self, signum: int = signal.SIGINT, where: str = ""):
    super().__init__(where)
    self.signum = signum
    self.where = where


def _raise_interrupted(signum, frame):
  del frame
  raise Interrupted(signum)


def raise_on_sigterm() -> None:
  """Makes SIGTERM raise ``Interrupted(SIGTERM)`` in the main thread."""
  signal.signal(signal.SIGTERM, _raise_interrupted)


def signum_of(error: BaseException) -> int:
  """The signal behind a ``KeyboardInterrupt`` (a bare one is SIGINT's)."""
  return getattr(error, "signum", signal.SIGINT)


def exit_status(error: BaseException) -> int:
  """The shell's status of a process killed by the signal: 128 + its number."""
  return 128 + int(signum_of(error))


def message(error: BaseException, command: str) -> str:
  """One line: the signal, where the run was and what is saved, the command to rerun.

  ``resume with`` when the run said what it saved (``where``), else ``rerun with``.
  """
  name = signal.Signals(signum_of(error)).name
  where = getattr(error, "where", "")
  if where:
    return f"interrupted ({name}) {where}; resume with: {command}"
  return f"interrupted ({name}); rerun with: {command}"
