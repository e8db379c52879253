"""Files that survive a kill, a full disk and strict readers.

``atomic_write_bytes`` writes to a temporary file in the same directory,
flushes and fsyncs it and moves it into place with ``os.replace`` (then fsyncs
the directory), so a kill at any moment leaves either the old or the new file,
never half of one; a failed write (read-only directory, full disk) raises
``OSError`` naming the file and leaves the old file and no temporary file.
JSON is written strictly (``json_dumps``: ``allow_nan=False``, since a bare
``NaN`` makes the file unreadable by strict parsers) and a damaged JSON file
raises ValueError naming it. JSON lines are appended flushed and fsynced; a
last line a kill cut short is dropped by the next read or append.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable


def with_path(error: OSError, path: str | os.PathLike) -> OSError:
  """``error`` naming ``path`` (a failed ``write`` names no file)."""
  if error.filename is not None:
    return error
  return type(error)(error.errno, error.strerror or os.strerror(error.errno or 0),
                     str(path))


def _fsync_directory(directory: Path) -> None:
  """Makes a rename in ``directory`` durable (best effort: not every OS allows it)."""
  try:
    fd = os.open(directory, os.O_RDONLY)
  except OSError:
    return
  try:
    os.fsync(fd)
  except OSError:
    pass
  finally:
    os.close(fd)


def _write(f, data: bytes | str) -> None:
  """``f.write(data)``: the one place a file's content is written (tests make it
  fail as a full disk does)."""
  f.write(data)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *,
                       previous: str | os.PathLike | None = None) -> None:
  """Writes ``data`` to ``path`` so that readers see the old or the new file.

  Args:
    path: the file.
    data: its new content.
    previous: where the current file (if any) moves just before the new one
      takes its place (None: it is replaced).

  Raises:
    OSError: the write failed (read-only directory, full disk, ...), with
      ``filename`` set; ``path`` is unchanged and no temporary file is left.
  """
  path = Path(path)
  try:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
  except OSError as e:
    raise with_path(e, path) from None
  try:
    with os.fdopen(fd, "wb") as f:
      _write(f, data)
      f.flush()
      os.fsync(f.fileno())
    os.chmod(tmp, 0o644)
    if previous is not None and path.exists():
      os.replace(path, previous)
    os.replace(tmp, path)
  except BaseException as e:
    if os.path.exists(tmp):
      os.unlink(tmp)
    if isinstance(e, OSError):
      raise with_path(e, path) from None
    raise
  _fsync_directory(path.parent)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
  atomic_write_bytes(path, text.encode("utf-8"))


def json_dumps(obj: Any, path: str | os.PathLike, **kwargs) -> str:
  """``json.dumps(obj, allow_nan=False, sort_keys=True)``; ValueError naming ``path``.

  Strict JSON: a NaN or infinity is refused (write None instead), since
  ``json.dumps`` would write the bare ``NaN`` that strict parsers reject.
  """
  try:
    return json.dumps(obj, allow_nan=False, sort_keys=True, **kwargs)
  except ValueError as e:
    raise ValueError(f"{path}: refusing to write a non-finite number as JSON ({e}); "
                     "expected finite numbers or null") from None


def write_json(path: str | os.PathLike, obj: Any) -> None:
  atomic_write_text(path, json_dumps(obj, path, indent=2) + "\n")


def read_json(path: str | os.PathLike, *, remedy: str = "") -> Any:
  """The JSON value of ``path``.

  Args:
    path: the file.
    remedy: what to do when the file is damaged (appended to the message).

  Raises:
    ValueError: the file is not valid JSON (damaged), naming it.
  """
  try:
    with open(path, encoding="utf-8") as f:
      return json.load(f)
  except json.JSONDecodeError as e:
    message = f"{e.msg} at line {e.lineno} column {e.colno}"
  except UnicodeDecodeError as e:
    message = f"not UTF-8 text: {e.reason} at byte {e.start}"
  raise ValueError(f"{path}: damaged: not valid JSON ({message})"
                   + (f"; {remedy}" if remedy else "")) from None


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
  text = "".join(json_dumps(row, path) + "\n" for row in rows)
  if not text:
    return
  path = Path(path)
  try:
    path.parent.mkdir(parents=True, exist_ok=True)
    _drop_torn_line(path)
    with open(path, "a", encoding="utf-8") as f:
      _write(f, text)
      f.flush()
      os.fsync(f.fileno())
  except OSError as e:
    # A partial append is a torn last line: the next read or append drops it.
    raise with_path(e, path) from None


def _drop_torn_line(path: Path) -> None:
  if path.exists() and path.stat().st_size:
    data = path.read_bytes()
    if not data.endswith(b"\n"):
      atomic_write_bytes(path, data[:data.rfind(b"\n") + 1])


def rewrite_jsonl(path: str | os.PathLike, keep: Callable[[dict[str, Any]], bool]) -> int:
  """Atomically keeps only the rows for which ``keep`` is true; returns how many."""
  rows = [row for row in read_jsonl(path) if keep(row)]
  atomic_write_text(path, "".join(json_dumps(r, path) + "\n" for r in rows))
  return len(rows)
