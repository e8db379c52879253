"""The lists a run reads: its ``--gazetteers``, or the default set; loaded once a process.

``for_config(config)`` is what the gazetteer feature's ``inputs`` calls on every
sentence: the ``Gazetteer`` of the run's lists, read and checked the first time
and then kept while the files' size, mtime and inode stay the same.
``--gazetteers`` empty means the default lists (``defaults``), built into the
cache at first use. ``list_files(config)`` names the files without reading
them, for the run's fingerprints (``wincls.train.inputs``).
"""

from __future__ import annotations

import os
from pathlib import Path

from absl import logging

from wincls.data.gazetteers import defaults
from wincls.data.gazetteers import lists as lists_lib

_LOADED: dict[tuple, lists_lib.Gazetteer] = {}


def _specs(config) -> tuple[str, ...]:
  return tuple(getattr(config, "gazetteers", ()) or ())


def list_specs(config, *, build: bool = True) -> list[lists_lib.ListSpec]:
  """The run's lists (``--gazetteers``, or the default set: built when ``build``).

  Raises:
    ValueError: a bad ``--gazetteers`` entry (one line naming it).
    defaults.InstallError: the default lists' packages are missing.
  """
  specs = _specs(config)
  if specs:
    return lists_lib.parse_specs(specs)
  paths = (defaults.ensure(log=logging.info) if build else defaults.list_paths())
  return [lists_lib.ListSpec(type=t, path=p, given=f"{defaults.NAME} {t}")
          for t, p in paths.items()]


def list_files(config) -> dict[str, Path]:
  """``{role: path}`` of the run's list files, read or built nothing: ``TYPE.N``
  for the N-th ``--gazetteers`` entry, ``TYPE.default`` for a default list."""
  specs = _specs(config)
  if not specs:
    return {f"{t}.{defaults.NAME}": p for t, p in defaults.list_paths().items()}
  out = {}
  for n, given in enumerate(specs, start=1):
    type_, _, path = given.partition("=")
    out[f"{type_.strip()}.{n}"] = Path(path.strip())
  return out


def _key(specs: list[lists_lib.ListSpec]) -> tuple | None:
  """What identifies the lists' contents on disk; None when a file is missing."""
  key = []
  for spec in specs:
    try:
      stat = os.stat(spec.path)
    except FileNotFoundError:
      return None
    key.append((spec.type, str(spec.path), stat.st_size, stat.st_mtime_ns, stat.st_ino))
  return tuple(key)


def for_config(config) -> lists_lib.Gazetteer:
  """The ``Gazetteer`` of the run's lists (module docstring).

  Raises:
    ValueError: a bad ``--gazetteers`` entry; ``conll.DataError`` (a
      ValueError): a bad list, naming ``file:line``.
    defaults.InstallError: the default lists' packages are missing.
  """
  specs = list_specs(config, build=False)
  key = _key(specs)
  if key is None or key not in _LOADED:
    if not _specs(config):  # the default set: checked (and built) before it is read
      specs = list_specs(config, build=True)
      key = _key(specs)
    entries: dict[str, list[tuple[str, ...]]] = {}
    for spec in specs:
      entries.setdefault(spec.type, []).extend(lists_lib.read_list(spec.path))
    _LOADED[key] = lists_lib.Gazetteer(entries)
  return _LOADED[key]


def coverage_of(config, corpus) -> dict:
  """The run's lists' coverage of a tagged corpus (``lists.coverage``), with the
  lists and the corpus named."""
  report = lists_lib.coverage(for_config(config), corpus.words, corpus.tags)
  report["lists"] = [{"type": s.type, "path": str(s.path), "given": s.given}
                     for s in list_specs(config)]
  report["corpus"] = str(corpus.path)
  return report
