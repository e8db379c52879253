"""The workdir lock: one training process per workdir.

``train_and_evaluate`` holds ``<workdir>/lock`` while it trains (a sweep's run
holds the lock of its own ``runs/<name>/``). The file is created atomically
(``O_CREAT | O_EXCL``) and holds JSON ``{"pid", "host", "started", "token"}``
and, where ``/proc`` says, ``"boot_id"`` and ``"start_ticks"`` (below);
a second process on the same workdir gets ``WorkdirLockedError`` naming the
holder (``experiments/train.py``: one ``error:`` line, exit status 2). The
lock is released when the run ends, normally or by an exception.

A process killed without a chance to clean up (``kill -9``, a crash, SIGTERM)
leaves its lock behind. A lock whose holder is on this host and no longer runs
(no such pid, or a zombie) is **stale** and is taken over with a log line; the
takeover renames the stale file to a name of our own first and checks it is
still the stale one (by its token), so two processes taking over at once do
not both win. A lock of another host cannot be checked from here: the error
says so and names the file to delete once that process is known to be gone.
A pid is reused once its process is gone, so a live pid alone does not show
that the holder runs: the lock also records when its holder started (field 22
of ``/proc/<pid>/stat``, clock ticks since boot) and in which boot
(``/proc/sys/kernel/random/boot_id``). A live pid that started at another time,
or in another boot, runs another process, and the lock is stale. Where
``/proc`` is missing (macOS), and for a lock file written without them, a
live pid holds the lock, and the refusal names the pid to check.

A sweep holds a lock of its own workdir too (``wincls.sweep.run``): the same
``<workdir>/lock`` when it is unsharded (so a run and a sweep never write one
directory at once), ``lock.shard-<i>-of-<n>`` for a shard (the shards of one
grid share the workdir). The workdir's ``lock`` and the shards' exclude each
other: whichever is taken second is given back and refused. The file records
what holds it (``"what"``), which the refusal names.

Reading a finished run (its stored ``results.json``) takes no lock, so a
finished run in a read-only directory still answers.
"""

from __future__ import annotations

import datetime
import json
import os
import socket
import time
import uuid
from pathlib import Path
from typing import Any

from absl import logging

from wincls.train import files

LOCK_FILE = "lock"
# A lock file with no readable content younger than this is being written now.
_WRITE_GRACE_SECONDS = 10.0


class WorkdirLockedError(ValueError):
  """Another process holds the workdir's lock."""


def _stat_fields(pid: int) -> list[str] | None:
  """The fields of ``/proc/<pid>/stat`` after the command's name (field 3 on),
  or None (no such process, or no /proc)."""
  try:
    with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
      return f.read().rsplit(")", 1)[1].split()
  except (OSError, IndexError):
    return None


def process_start(pid: int) -> dict[str, Any] | None:
  """``{"boot_id", "start_ticks"}``: when process ``pid`` of this host started
  (``/proc/<pid>/stat`` field 22, clock ticks since boot) and in which boot;
  None where ``/proc`` does not say."""
  fields = _stat_fields(pid)
  try:
    with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
      boot_id = f.read().strip()
    return {"boot_id": boot_id, "start_ticks": int(fields[19])}
  except (OSError, TypeError, IndexError, ValueError):
    return None


def _pid_alive(pid: int) -> bool:
  """Whether process ``pid`` of this host runs (a zombie does not)."""
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True  # another user's process
  fields = _stat_fields(pid)
  return not fields or fields[0] != "Z"


class WorkdirLock:
  """``<workdir>/lock`` held by this process (a context manager).

  Args:
    workdir: the run's directory (must exist).
    name: the lock file's name in ``workdir``.
    what: what holds it, as the refusal of another process names it (e.g.
      ``"a sweep"``); None: a training run.
  """

  def __init__(self, workdir: str | os.PathLike, *, name: str = LOCK_FILE,
               what: str | None = None):
    self.path = Path(workdir) / name
    self.what = what
    self.token = uuid.uuid4().hex
    self.held = False

  def __enter__(self) -> "WorkdirLock":
    self.acquire()
    return self

  def __exit__(self, *exc_info) -> None:
    self.release()

  def _read(self, path: Path) -> dict[str, Any] | None:
    """The lock's content, or None (empty or unreadable: being written, or damaged)."""
    try:
      holder = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
      return None
    return holder if isinstance(holder, dict) else None

  def _describe(self, holder: dict[str, Any] | None) -> str:
    if holder is None:
      return f"an unknown process (the lock file {self.path} has no readable holder)"
    return (f"pid {holder.get('pid')} on host {holder.get('host')!r} since "
            f"{holder.get('started')} (lock file {self.path})")

  def _is_stale(self, holder: dict[str, Any] | None) -> bool:
    if holder is None:  # stale once it is too old to be a lock being written
      try:
        return time.time() - self.path.stat().st_mtime > _WRITE_GRACE_SECONDS
      except FileNotFoundError:
        return True
    if holder.get("host") != socket.gethostname() or not isinstance(holder.get("pid"), int):
      return False
    now = process_start(holder["pid"])  # before: a pid gone meanwhile reads as dead
    if not _pid_alive(holder["pid"]):
      return True
    recorded = {key: holder.get(key) for key in ("boot_id", "start_ticks")}
    if (not isinstance(recorded["boot_id"], str)
        or not isinstance(recorded["start_ticks"], int) or now is None):
      return False  # a lock file without them, or no /proc: the live pid holds it
    return now != recorded  # started at another time or in another boot: reused

  def _take_over(self, holder: dict[str, Any] | None) -> bool:
    """Removes the stale lock ``holder``; False if another process changed it."""
    aside = self.path.with_name(f"{self.path.name}.stale.{self.token}")
    try:
      os.replace(self.path, aside)
    except FileNotFoundError:
      return True  # someone else removed it: try to create ours
    if self._read(aside) != holder:
      # Not the lock we judged stale (another process took over meanwhile): put it back.
      try:
        os.link(aside, self.path)
      except FileExistsError:
        pass
      aside.unlink(missing_ok=True)
      return False
    aside.unlink(missing_ok=True)
    logging.warning("%s: took over the stale lock of %s, which no longer runs",
                    self.path.parent, self._describe(holder))
    return True

  def _refusal(self, holder: dict[str, Any] | None) -> WorkdirLockedError:
    """The error that names ``holder``, the live holder of the lock."""
    where = ("" if holder is None or holder.get("host") == socket.gethostname()
             else "; it runs on another host: if it is gone, delete the lock file")
    doing = "another run is training"
    if holder is not None and isinstance(holder.get("what"), str):
      doing = f"{holder['what']} is running"
    return WorkdirLockedError(
        f"{self.path.parent}: {doing} in this workdir: {self._describe(holder)}"
        f"{where}; wait for it to end or use another --workdir")

  def _excluded(self) -> list[str]:
    """The other locks of the workdir that this one excludes: the workdir's
    ``lock`` (a run, an unsharded sweep) and a sweep shard's
    ``lock.shard-<i>-of-<n>`` exclude each other; shards do not."""
    shard = f"{LOCK_FILE}.shard-"
    if self.path.name == LOCK_FILE:
      return sorted(p.name for p in self.path.parent.glob(shard + "*")
                    if ".stale." not in p.name)
    return [LOCK_FILE] if self.path.name.startswith(shard) else []

  def check_free(self) -> None:
    """Raises ``WorkdirLockedError`` if a live process holds this lock (a stale
    lock, or none, passes; nothing is taken).

    ``acquire`` calls this for the locks its own excludes (``_excluded``),
    after taking its own: of two processes that start together, at least one
    sees the other.
    """
    if not self.path.exists():
      return
    holder = self._read(self.path)
    if not self._is_stale(holder):
      raise self._refusal(holder)

  def acquire(self) -> None:
    """Creates the lock file, taking over a stale one.

    Raises:
      WorkdirLockedError: a live process (or one of another host) holds it.
      OSError: the workdir cannot be written (read-only, full), its path named.
    """
    content = {
        "pid": os.getpid(), "host": socket.gethostname(), "token": self.token,
        "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        **(process_start(os.getpid()) or {})}
    if self.what is not None:
      content["what"] = self.what
    content = json.dumps(content, allow_nan=False)
    for _ in range(3):
      try:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
      except FileExistsError:
        holder = self._read(self.path)
        if self._is_stale(holder):
          if self._take_over(holder):
            continue
          holder = self._read(self.path)
        raise self._refusal(holder) from None
      try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
          f.write(content + "\n")
          f.flush()
          os.fsync(f.fileno())
      except OSError as e:
        self.path.unlink(missing_ok=True)
        raise files.with_path(e, self.path) from None
      self.held = True
      try:  # ours first, then theirs: of two at once, one sees the other
        for name in self._excluded():
          WorkdirLock(self.path.parent, name=name).check_free()
      except BaseException:
        self.release()
        raise
      return
    raise WorkdirLockedError(f"{self.path}: could not take the workdir's lock "
                             "(other processes keep taking it over)")

  def release(self) -> None:
    """Removes the lock file if it is still this process's."""
    if not self.held:
      return
    self.held = False
    holder = self._read(self.path)
    if holder is not None and holder.get("token") == self.token:
      self.path.unlink(missing_ok=True)
    else:
      logging.warning("%s: the lock is no longer this process's (%s); left as it is",
                      self.path, self._describe(holder))
