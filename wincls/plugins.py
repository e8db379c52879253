"""``--plugins=MODULE[,MODULE...]``: modules that register parts of their own.

A plugin is any importable module whose import registers windows, losses,
activations or word features (``register(name, spec)`` in
``wincls.model.windows``, ``losses``, ``layers``, ``features``;
docs/extending.md). The run's ``Config`` holds their names, so ``config.json``
records them and a run is resumed or tagged (``predict.py``, ``Tagger.load``)
with them without naming them again.

Two ways in by name, two rules:

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

A third way needs no name at all: ``load_entry_points``, which ``load`` and
``load_saved`` call first (once a process), imports every entry point of the
group ``wincls.plugins`` (``ENTRY_POINT_GROUP``) that your installed
distributions declare (``[project.entry-points."wincls.plugins"]`` in their
``pyproject.toml``), as pytest does with ``pytest11``. The distributions are
looked up on the same own path as ``load_saved``'s names: a ``.dist-info`` in
the current directory or a workdir declares nothing. ``$WINCLS_DISABLE_PLUGIN_AUTOLOAD``
(any non-empty value) turns it off.

Whichever way a part came in, a new run's ``config.json`` records the module
that registered each of its parts from outside the package, under ``"parts"``
(``part_modules``: ``{"window:gated": "labparts"}``). Reading the file back
(``check_parts``) imports a recorded module that is not loaded, by
``load_saved``'s rule, and refuses a name that another module registers now:
the run would otherwise load with the same shapes and other code.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.metadata
import importlib.util
import os
from pathlib import Path
import re
import sys
from typing import Any, Iterable

from wincls.model import registry

ENTRY_POINT_GROUP = "wincls.plugins"
PARTS_KEY = "parts"  # config.json's record of the modules of the run's parts
DISABLE_AUTOLOAD = "WINCLS_DISABLE_PLUGIN_AUTOLOAD"

# load_entry_points' outcome in this process: None (not tried), True (all
# loaded), or the PluginError of the one that failed (raised again, not retried:
# a module that failed halfway may have registered some parts already).
_entry_points_loaded: "bool | PluginError | None" = None


class PluginError(ValueError):
  """A plugin module could not be imported (one line naming where the name came from)."""


def load(modules: Iterable[str]) -> None:
  """Imports each module you named (once; a module already imported is not run again).

  The installed distributions' entry points are loaded first
  (``load_entry_points``).

  Raises:
    PluginError: a module failed to import, with its name and the error.
  """
  load_entry_points()
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
  load_entry_points()
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


def part_modules(parts: Iterable[tuple[str, str]]) -> dict[str, str]:
  """``{"kind:name": module}`` of the ``(kind, name)`` parts registered from outside
  the package (``Registry.module_of``); a part a script's ``__main__`` registered
  cannot be named, and is left out."""
  out = {}
  for kind, name in parts:
    parts_of_kind = registry.of_kind(kind)
    if name in parts_of_kind:
      module = parts_of_kind.module_of(name)
      if module.split(".")[0] not in ("wincls", "__main__"):
        out[f"{kind}:{name}"] = module
  return out


def check_parts(recorded: Any, source: str | os.PathLike) -> None:
  """Each part a saved file records (``part_modules``) is registered by its module.

  A recorded module not loaded yet is imported as ``load_saved`` imports one.

  Raises:
    PluginError: one line naming the file, the part and the modules.
  """
  if recorded is None:
    return  # written before parts were recorded, or none from outside
  if not isinstance(recorded, dict) or not all(
      isinstance(k, str) and ":" in k and isinstance(v, str) for k, v in recorded.items()):
    raise PluginError(f"{source}: \"{PARTS_KEY}\" must map \"kind:name\" to a module "
                      f"name, not {recorded!r}")
  for key, module in sorted(recorded.items()):
    kind, _, name = key.partition(":")
    try:
      parts_of_kind = registry.of_kind(kind)
    except KeyError:
      raise PluginError(f"{source}: \"{PARTS_KEY}\" names an unknown kind of part "
                        f"{kind!r}") from None
    if name not in parts_of_kind:
      load_saved([module], source)
    if name not in parts_of_kind:
      raise PluginError(f"{source}: the run's {kind} {name!r} came from module "
                        f"{module}, which does not register it here")
    now = parts_of_kind.module_of(name)
    if now != module:
      raise PluginError(f"{source}: the run's {kind} {name!r} came from module "
                        f"{module}; here module {now} registers that name, so the "
                        "run would load with other code: make the run's module "
                        "the one that registers it")


def installed_entry_points() -> list[tuple[importlib.metadata.EntryPoint,
                                           importlib.metadata.Distribution]]:
  """``(entry point, its distribution)`` of group ``wincls.plugins``, from your own path.

  As ``importlib.metadata.entry_points(group=...)`` finds them (the first
  distribution of a name on the path wins), but with the distributions on the
  ``sys.path`` entries ``load_saved`` skips (the current directory, unless you
  named it in ``$PYTHONPATH``) left out.
  """
  path = [e for e in sys.path if e not in _skipped_entries(None)]
  found, seen = [], set()
  for dist in importlib.metadata.distributions(path=path):
    # The name from its directory's name (its METADATA is read by errors only).
    key = getattr(dist, "_normalized_name", None) or _normalized(dist.metadata["Name"])
    if key in seen:
      continue
    seen.add(key)
    found += [(ep, dist) for ep in dist.entry_points.select(group=ENTRY_POINT_GROUP)]
  return found


def load_entry_points() -> None:
  """Imports the ``wincls.plugins`` entry points of your installed distributions.

  Once a process (later calls return at once, or raise the first call's error
  again); nothing when ``$WINCLS_DISABLE_PLUGIN_AUTOLOAD`` is set.

  Raises:
    PluginError: an entry point failed to load: one line naming it, its
      distribution, the error, and how to get past it.
  """
  global _entry_points_loaded
  if isinstance(_entry_points_loaded, PluginError):
    raise _entry_points_loaded
  if _entry_points_loaded or os.environ.get(DISABLE_AUTOLOAD):
    return
  for ep, dist in installed_entry_points():
    try:
      ep.load()
    except (Exception, SystemExit) as e:  # any way, sys.exit() too: one line
      name = dist.metadata["Name"] or "?"
      _entry_points_loaded = PluginError(
          f"entry point {ep.name} = {ep.value} (group {ENTRY_POINT_GROUP}) of the "
          f"installed distribution {name} {dist.version} failed to load: {_said(e)}; "
          f"fix it, uninstall it (pip uninstall {name}), or set "
          f"{DISABLE_AUTOLOAD}=1")
      raise _entry_points_loaded from None
  _entry_points_loaded = True


def _normalized(name: str | None) -> str:
  """A distribution name as PEP 503 compares them (``My_Pkg`` -> ``my-pkg``)."""
  return re.sub(r"[-_.]+", "-", name or "").lower()


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
