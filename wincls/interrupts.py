"""Ctrl-C (SIGINT) and SIGTERM at any moment: one line, exit status 130 or 143.

A script's first lines call ``exit_on_signals``, before its heavy imports (this
module and ``wincls/__init__`` load no JAX): until its ``main`` starts, a signal
ends the process at once with ``interrupted (SIGINT); rerun with: <command>``
(nothing is written yet). ``cli.run`` then calls ``raise_on_signals``: a signal
raises ``Interrupted`` (a ``KeyboardInterrupt``) in the main thread, the
training loop re-raises it with ``where`` (which epoch was running, which one
``checkpoints/latest`` holds), ``finally`` blocks release the workdir's lock,
and ``cli.run`` ends with ``exit_interrupted``.

``exit_interrupted`` ends the process with ``os._exit`` after flushing stdout and
stderr, without the interpreter's teardown: XLA may still be compiling in
worker threads, and tearing its thread pools down under them crashes
(``Fatal Python error: Segmentation fault``). Once an ``Interrupted`` is on its
way up, or the script is ending, a further signal is ignored, so that neither
the ``finally`` blocks nor the line are cut. An ``Interrupted`` that Python
drops (raised inside a garbage-collector callback, which JAX installs, or a
finaliser: Python prints and forgets it) is delivered again
(``_unraisable``); ``check`` raises one that was swallowed otherwise.
Free of JAX, so that the scripts' flags are checked before it loads.
"""

from __future__ import annotations

import _thread
import os
import shlex
import signal
import sys

SIGNALS = (signal.SIGINT, signal.SIGTERM)


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


# What a signal does now: "exit" (start-up: end the process at once), "raise"
# (``main`` runs: raise ``Interrupted``), "in_flight" (one was raised and is on
# its way to ``cli.run``: ignore) or "ignore" (the script is ending).
_mode = "exit"
# The signal last received and not yet reported.
_pending: int | None = None
# Whether a script installed the handlers first (``exit_on_signals``): the
# process is then its own, and ``ignore_signals`` sets SIG_IGN, which holds
# through the interpreter's exit (Python's teardown puts back the default
# action, ending the process, in place of a handler it set, but not SIG_IGN).
_script = False
_default_hook = sys.__unraisablehook__  # the module's globals may be gone at exit


def _on_signal(signum: int, frame) -> None:
  global _mode, _pending
  del frame
  if _mode == "exit":
    exit_interrupted(Interrupted(signum), shlex.join(sys.orig_argv))
  if _mode != "raise":
    return
  _pending, _mode = signum, "in_flight"
  raise Interrupted(signum)


def _unraisable(info) -> None:
  """Python's hook for exceptions it drops: a dropped ``Interrupted`` is
  delivered again (the main thread's handler runs once it is out of the
  callback; dropped again, it comes back here); any other exception goes to
  the default hook."""
  global _mode
  if not isinstance(info.exc_value, KeyboardInterrupt):
    _default_hook(info)
  elif _mode == "in_flight" and _pending is not None:
    _mode = "raise"
    # From another thread: here, the handler would run (and raise) in this hook.
    _thread.start_new_thread(_thread.interrupt_main, (_pending,))


def _install() -> None:
  for signum in SIGNALS:
    signal.signal(signum, _on_signal)
  sys.unraisablehook = _unraisable


def exit_on_signals() -> None:
  """Start-up (a script's first lines): SIGINT and SIGTERM end the process in one line."""
  global _mode, _pending, _script
  _mode, _pending, _script = "exit", None, True
  _install()


def raise_on_signals() -> None:
  """Makes SIGINT and SIGTERM raise ``Interrupted`` in the main thread."""
  global _mode, _pending
  _mode, _pending = "raise", None
  _install()


def ignore_signals() -> None:
  """The script is ending (its result or error is being reported): signals are ignored."""
  global _mode
  _mode = "ignore"
  if _script:
    for signum in SIGNALS:
      signal.signal(signum, signal.SIG_IGN)


def check() -> None:
  """Raises the ``Interrupted`` of a signal whose exception was swallowed."""
  global _mode
  if _pending is not None and _mode in ("raise", "in_flight"):
    _mode = "in_flight"
    raise Interrupted(_pending)


def exit_interrupted(error: BaseException, command: str) -> None:
  """Ends the process at once: ``message(error, command)`` on stderr, ``exit_status(error)``.

  Signals are ignored from here on; stdout and stderr are flushed; the
  interpreter's teardown is skipped (``os._exit``), since XLA's worker threads
  may still run. What must be released (the workdir's lock) is released by
  the ``finally`` blocks the interruption passed through.
  """
  ignore_signals()
  text = message(error, command) + "\n"
  try:
    sys.stdout.flush()
  except (OSError, ValueError, RuntimeError):  # closed, or a write it interrupted
    pass
  try:
    sys.stderr.write(text)
    sys.stderr.flush()
  except (OSError, ValueError, RuntimeError):
    try:
      os.write(2, text.encode(errors="replace"))
    except OSError:
      pass
  os._exit(exit_status(error))


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
