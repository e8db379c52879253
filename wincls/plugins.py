"""``--plugins=MODULE[,MODULE...]``: modules that register parts of their own.

A plugin is any importable module whose import registers windows, losses,
activations or word features (``register(name, spec)`` in
``wincls.model.windows``, ``losses``, ``layers``, ``features``;
docs/extending.md). The run's ``Config`` holds their names, so ``config.json``
records them and a run is resumed or tagged (``predict.py``, ``Tagger.load``)
with them without naming them again.

Two ways in, two rules:

* ``load``: the names *you* give (``--plugins`` on the command line,
  ``Config(plugins=...)``) import as Python imports them, and from the current
  directory too (a script run as ``python experiments/train.py`` does not have
  it on ``sys.path``; it is appended, after everything else).
* ``load_saved``: the names a file names (a workdir's ``config.json``, a
  sweep's ``grid.json``) are data, not code. Such a name is imported only from
  *your own path*: ``sys.path`` as it is, with every entry that stands for the
  current directory (``''``, ``.``, the directory itself: what ``python -m``,
  ``python -c``, a REPL or a notebook put first) and the file's directory (the
  workdir) skipped. An entry you named in ``$PYTHONPATH`` counts even
  when it is the current directory. A module already imported (by ``--plugins``
  or your own ``import``) is not imported again. So a workdir can make wincls
  import a module installed in your environment (as ``import NAME`` would), but
  never a file it ships or one lying in the current directory.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
from pathlib import Path
import sys
from typing import Iterable

HELP = ("Modules to import first, comma list: they register windows, losses, "
        "activations or features of their own (docs/extending.md)")


class PluginError(ValueError):
  """A plugin module could not be imported (one line naming where the name came from)."""


def load(modules: Iterable[str]) -> None:
  """Imports each module you named (once; a module already imported is not run again).

  Raises:
    PluginError: a module failed to import, with its name and the error.
  """
  # Imported already (by load_saved, for a config read from a workdir): the
  # current directory is not put on sys.path for them.
  modules = [m for m in modules if m and m not in sys.modules]
  if not modules:
    return
  cwd = os.getcwd()
  if cwd not in sys.path:
    sys.path.append(cwd)
  for name in modules:
    try:
      importlib.import_module(name)
    except (Exception, SystemExit) as e:  # any way, sys.exit() too: one line
      raise PluginError(f"--plugins: cannot import {name!r}: {_said(e)}") from None


def load_saved(modules: Iterable[str], source: str | os.PathLike | None) -> None:
  """Imports the modules a saved file names, from your own path only (module docstring).

  Args:
    modules: the module names the file holds.
    source: the file (``W/config.json``), named by every error; its directory
      is not searched. None: an unnamed saved config.

  Raises:
    PluginError: a name is not a module name, is not importable from your own
      path, or failed to import; one line saying so, where the name came from
      and how to make the module importable.
  """
  saved_dir = None if source is None else Path(source).parent
  source = "a saved config" if source is None else source
  if (not isinstance(modules, (list, tuple))
      or not all(isinstance(m, str) for m in modules)):
    raise PluginError(f"{source}: \"plugins\" must be a list of module names, not "
                      f"{modules!r}")
  for name in modules:
    if not name.strip():
      continue
    if not all(part.isidentifier() for part in name.split(".")):
      raise PluginError(f"{source}: plugin {name!r} is not a module name")
    if name not in sys.modules:
      _import_saved(name, source, saved_dir)


def _import_saved(name: str, source: str | os.PathLike,
                  saved_dir: Path | None) -> None:
  """Imports ``name`` with its top-level package found on your own path only."""
  top = name.split(".")[0]
  try:
    if top not in sys.modules:
      spec = _find_outside(top, skipped=_skipped_entries(saved_dir))
      if spec is None:
        raise PluginError(_not_importable(name, top, source))
      _load_spec(spec)
    importlib.import_module(name)
  except PluginError:
    raise
  except (Exception, SystemExit) as e:  # any way, sys.exit() too: one line
    raise PluginError(f"{source}: plugin {name!r} failed to import: {_said(e)}") from None


def _said(error: Exception) -> str:
  return f"{type(error).__name__}: {' '.join(str(error).split())}"


def _same(a: str, b: str) -> bool:
  try:
    return os.path.samefile(a, b)
  except OSError:
    return False


def _skipped_entries(saved_dir: Path | None) -> set[str]:
  """The ``sys.path`` entries a saved name is not looked up in (module docstring)."""
  try:
    cwd = os.getcwd()
  except OSError:  # the current directory was removed: '' finds nothing there
    cwd = None
  named = {os.path.realpath(e) for e in os.environ.get("PYTHONPATH", "").split(os.pathsep)
           if e}
  return {e for e in sys.path if isinstance(e, str) and (
      e == "" or (cwd is not None and os.path.realpath(e) not in named and _same(e, cwd))
      or (saved_dir is not None and _same(e, str(saved_dir))))}


def _find_outside(top: str, skipped: set[str]):
  """``top``'s spec as the import system finds it, without the ``skipped`` entries.

  The path-based finder searches ``sys.path`` less those entries; the other
  finders (built-in and frozen modules, editable installs' finders) are asked
  as the import system asks them.
  """
  path = [e for e in sys.path if e not in skipped]
  for finder in sys.meta_path:
    if finder is importlib.machinery.PathFinder:
      spec = finder.find_spec(top, path)
    else:
      find_spec = getattr(finder, "find_spec", None)
      spec = find_spec(top, None) if find_spec else None
    if spec is not None:
      return spec
  return None


def _load_spec(spec) -> None:
  """Imports the module of ``spec`` (as the import system does for a found spec)."""
  module = importlib.util.module_from_spec(spec)
  sys.modules[spec.name] = module
  try:
    spec.loader.exec_module(module)
  except BaseException:
    sys.modules.pop(spec.name, None)
    raise
  if spec.origin is None and spec.submodule_search_locations is not None:
    # A namespace package recomputes its portions from sys.path (current
    # directory included): keep the ones found here.
    module.__path__ = list(spec.submodule_search_locations)


def _not_importable(name: str, top: str, source: str | os.PathLike) -> str:
  """The one line for a saved plugin that your own path does not hold."""
  where = ""
  try:
    here = os.getcwd()
  except OSError:
    here = None
  if here and importlib.machinery.PathFinder.find_spec(top, [here]) is not None:
    where = (" (only the current directory has it, and wincls does not import a "
             "workdir's plugins from there)")
  return (f"{source}: plugin {name!r} is not importable from your installed packages or "
          f"PYTHONPATH{where}; to use it, install it (pip install -e YOUR_PACKAGE), add "
          f"its directory to PYTHONPATH, or name it yourself (--plugins={name})")
