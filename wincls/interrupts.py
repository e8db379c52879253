"""Ctrl-C (SIGINT) and SIGTERM as one exception, reported in one line.

``cli.run`` installs ``raise_on_signals`` (SIGINT and SIGTERM raise ``Interrupted``, a
``KeyboardInterrupt``); the training loop re-raises either as an
``Interrupted`` whose ``where`` says which epoch was running and which one
``checkpoints/latest`` holds; ``cli.run`` prints ``message(...)`` and exits
with ``exit_status(...)`` (128 + the signal's number: 130 for SIGINT, 143 for
SIGTERM). Kept free of JAX so that the scripts' flags are checked before it
loads.
"""

from __future__ import annotations

import signal
import sys


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


# The signal last received and not yet reported: a signal's exception raised
# inside a finaliser or a garbage-collector callback (JAX has one) is printed
# and dropped by Python, so the loop also asks ``check`` between epochs.
_pending: int | None = None


def _raise_interrupted(signum, frame):
  global _pending
  del frame
  _pending = signum
  raise Interrupted(signum)


def _unraisable(info) -> None:
  """Python's hook for exceptions it drops: an ``Interrupted`` is not printed
  (``check`` raises it again); any other goes to the default hook."""
  if not isinstance(info.exc_value, Interrupted):
    sys.__unraisablehook__(info)


def raise_on_signals() -> None:
  """Makes SIGINT and SIGTERM raise ``Interrupted`` in the main thread."""
  for signum in (signal.SIGINT, signal.SIGTERM):
    signal.signal(signum, _raise_interrupted)
  sys.unraisablehook = _unraisable



def check() -> None:
  """Raises the ``Interrupted`` of a signal whose exception was swallowed."""
  global _pending
  if _pending is not None:
    signum, _pending = _pending, None
    raise Interrupted(signum)


def clear() -> None:
  """Forgets a received signal (once its interruption has been reported)."""
  global _pending
  _pending = None


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
