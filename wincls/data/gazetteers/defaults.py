"""The default lists: LOC, PER and MISC built from two PyPI packages into a checksummed cache.

  python -m wincls.gazetteers install [--cache_dir=DIR] [--force]

Built once (by that command, or by the first run that needs them) from the
data files of two small dependencies of wincls, read as files (their code is
not run), pinned in ``pyproject.toml``:

* ``geotext`` 0.4.0 (MIT; data from GeoNames, CC BY 3.0): **LOC** = the names
  of its 252 countries and their capitals (``countryInfo.txt``) and the name
  and ASCII name of its 23,355 cities of at least 15,000 people
  (``cities15000.txt``); **MISC** = its nationality adjectives
  (``nationalities.txt``: ``german`` -> ``German``).
* ``names`` 0.3.0 (MIT; data: the 1990 US Census name files, public domain):
  **PER** = its first names (male and female) and last names, from capitals to
  title case (``SMITH`` -> ``Smith``, ``MCDONALD`` -> ``McDonald``).

No default ORG list. The cache (``$WINCLS_CACHE`` or ``~/.cache/wincls``, then
``gazetteers/default``) holds ``LOC.txt``, ``PER.txt``, ``MISC.txt`` (one entry
a line, sorted) and ``meta.json`` (each list's entries and sha256, the package
versions, the date). It is written in a temporary directory beside it and
renamed into place, so a build that is killed leaves nothing that is then
trusted; loading checks every list against its sha256. docs/gazetteers.md says
why these packages and not others.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import importlib.util
import json
import os
from pathlib import Path
import shutil
import tempfile
from typing import Any, Callable

from wincls.data.conll import DataError
from wincls.data.gazetteers import lists as lists_lib
from wincls.data.vectors import cache as vectors_cache

NAME = "default"
PACKAGES = {"geotext": "0.4.0", "names": "0.3.0"}  # as pinned in pyproject.toml
# Each default list: the package files it is read from.
SOURCES = {
    "LOC": ("geotext: countryInfo.txt (countries, capitals), cities15000.txt "
            "(cities of >= 15,000 people: name, ASCII name); GeoNames, CC BY 3.0"),
    "PER": ("names: dist.male.first, dist.female.first, dist.all.last (1990 US "
            "Census, public domain)"),
    "MISC": "geotext: nationalities.txt (nationality adjectives)",
}
META_FILE = "meta.json"


class InstallError(RuntimeError):
  """The default lists cannot be built (a package is missing); the message says why."""


def default_dir(cache_dir: str | os.PathLike | None = None) -> Path:
  """Where the default lists live (nothing is read or built)."""
  root = Path(cache_dir) if cache_dir else vectors_cache.default_cache_dir()
  return root / "gazetteers" / NAME


def list_paths(cache_dir: str | os.PathLike | None = None) -> dict[str, Path]:
  """``{type: path}`` of the default lists (nothing is read or built)."""
  return {t: default_dir(cache_dir) / f"{t}.txt" for t in SOURCES}


def _package_data(package: str) -> Path:
  """The directory of an installed package, found without importing it."""
  spec = importlib.util.find_spec(package)
  if spec is None or not spec.submodule_search_locations:
    pins = " ".join(f"{p}=={v}" for p, v in PACKAGES.items())
    raise InstallError(f"the default gazetteer lists are built from the packages "
                       f"{', '.join(PACKAGES)}, and {package} is not installed: "
                       f"pip install {pins} (dependencies of wincls), or give your "
                       "own lists with --gazetteers=TYPE=PATH")
  return Path(list(spec.submodule_search_locations)[0])


def _rows(path: Path, sep: str = "\t") -> list[list[str]]:
  text = path.read_text(encoding="utf-8-sig")
  return [line.split(sep) for line in text.splitlines()
          if line.strip() and not line.startswith("#")]


def _title(name: str) -> str:
  """``SMITH -> Smith``, ``MCDONALD -> McDonald``, ``new zealander -> New Zealander``."""
  name = name.strip().title()
  if name.startswith("Mc") and len(name) > 2:
    name = "Mc" + name[2:].capitalize()
  return name


def build_lists() -> dict[str, list[str]]:
  """``{type: sorted unique entries}`` read from the installed packages."""
  geotext = _package_data("geotext") / "data"
  names = _package_data("names")
  countries = _rows(geotext / "countryInfo.txt")
  cities = _rows(geotext / "cities15000.txt")
  loc = {c[4] for c in countries} | {c[5] for c in countries if len(c) > 5}
  loc |= {c[1] for c in cities} | {c[2] for c in cities}
  per = set()
  for file in ("dist.male.first", "dist.female.first", "dist.all.last"):
    per |= {_title(row[0].split()[0]) for row in _rows(names / file)}
  misc = {_title(row[0]) for row in _rows(geotext / "nationalities.txt", sep=":")}
  built = {"LOC": loc, "PER": per, "MISC": misc}
  return {t: sorted({" ".join(e.split()) for e in entries if e.strip()})
          for t, entries in built.items()}


def _versions() -> dict[str, str | None]:
  out = {}
  for package in PACKAGES:
    try:
      out[package] = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
      out[package] = None
  return out


def write_lists(directory: Path, built: dict[str, list[str]]) -> dict[str, Any]:
  """Writes the lists and ``meta.json`` into ``directory``; returns the meta."""
  directory.mkdir(parents=True, exist_ok=True)
  meta = {"name": NAME, "packages": _versions(), "lists": {},
          "created": datetime.datetime.now(datetime.timezone.utc).isoformat(
              timespec="seconds")}
  for type_, entries in built.items():
    path = directory / f"{type_}.txt"
    with open(path, "w", encoding="utf-8", newline="\n") as f:
      f.write("\n".join(entries) + "\n")
    meta["lists"][type_] = {"file": path.name, "entries": len(entries),
                            "sha256": vectors_cache.file_digest(path),
                            "source": SOURCES[type_]}
  with open(directory / META_FILE, "w", encoding="utf-8") as f:
    json.dump(meta, f, indent=2)
    f.write("\n")
  return meta


def verify(cache_dir: str | os.PathLike | None = None) -> dict[str, Any]:
  """Checks the installed default lists against ``meta.json``; returns the meta.

  Raises:
    FileNotFoundError: not built; the message gives the command.
    DataError: a list or ``meta.json`` is damaged (its sha256 differs).
  """
  directory = default_dir(cache_dir)
  meta_path = directory / META_FILE
  if not meta_path.is_file():
    flag = f" --cache_dir={cache_dir}" if cache_dir else ""
    raise FileNotFoundError(f"{directory}: the default gazetteer lists are not built; "
                            f"build them with: python -m wincls.gazetteers install{flag}")
  try:
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    recorded = {t: meta["lists"][t]["sha256"] for t in SOURCES}
  except (ValueError, KeyError, TypeError) as e:
    raise DataError(meta_path, None, f"unreadable ({type(e).__name__}: {e}); expected "
                    f"JSON with the sha256 of {', '.join(SOURCES)}") from None
  for type_, path in list_paths(cache_dir).items():
    actual = vectors_cache.file_digest(path) if path.is_file() else "missing"
    if actual != recorded[type_]:
      raise DataError(path, None, f"sha256 is {actual}; {META_FILE} says "
                      f"{recorded[type_]} (damaged: python -m wincls.gazetteers "
                      "install --force rebuilds it)")
  return meta


def install(cache_dir: str | os.PathLike | None = None, *, force: bool = False,
            log: Callable[[str], None] = print) -> tuple[Path, bool]:
  """Builds the default lists into the cache, once.

  Returns:
    ``(directory, built)``: ``built`` is False when valid lists were there.

  Raises:
    InstallError: a package is missing.
  """
  directory = default_dir(cache_dir)
  if directory.exists() and not force:
    try:
      verify(cache_dir)
      return directory, False
    except (FileNotFoundError, DataError) as e:
      log(f"the default gazetteer lists at {directory} are incomplete or damaged "
          f"({e}); rebuilding")
  elif not directory.exists():
    log(f"building the default gazetteer lists at {directory} (once)")
  built = build_lists()
  directory.parent.mkdir(parents=True, exist_ok=True)
  work = Path(tempfile.mkdtemp(prefix=f".{NAME}-", dir=directory.parent))
  try:
    staging = work / NAME
    meta = write_lists(staging, built)
    for type_ in built:
      lists_lib.read_list(staging / f"{type_}.txt")  # what a run reads, checked once
    if not force and _valid(cache_dir):
      return directory, False  # another process built them meanwhile
    if directory.exists():
      os.replace(directory, work / "replaced")
    try:
      os.replace(staging, directory)
    except OSError:  # another process put its build there first: use that one
      verify(cache_dir)
      return directory, False
  finally:
    shutil.rmtree(work, ignore_errors=True)
  log(f"built the default gazetteer lists at {directory}: " + ", ".join(
      f"{t} {m['entries']}" for t, m in meta["lists"].items()))
  return directory, True


def _valid(cache_dir) -> bool:
  try:
    verify(cache_dir)
    return True
  except (FileNotFoundError, DataError):
    return False


def ensure(cache_dir: str | os.PathLike | None = None,
           log: Callable[[str], None] = print) -> dict[str, Path]:
  """``{type: path}`` of the default lists, built first if they are not there."""
  if not _valid(cache_dir):
    install(cache_dir, log=log)
  return list_paths(cache_dir)
