r"""Gazetteer lists from the command line: build the default lists, check them, measure coverage.

  python -m wincls.gazetteers install [--cache_dir=DIR] [--force]
  python -m wincls.gazetteers verify [--cache_dir=DIR]
  python -m wincls.gazetteers coverage [--gazetteers=TYPE=PATH,...] \
      [--dataset=conll2003] [--data_dir=DIR] [--train_path=F --dev_path=F] [--json]

``install`` builds the default lists (``defaults``) into the cache
(``$WINCLS_CACHE`` or ``~/.cache/wincls`` by default); a second run only checks
them. ``coverage`` prints, for the train and dev splits, the share of each
type's entities the lists match (``lists.coverage``); without
``--gazetteers`` it reads the default lists (building them first).

The command is ``wincls/gazetteers.py`` (``python -m wincls.gazetteers``), which
runs ``main`` here; importing this module defines its absl flags.
"""

import json
import sys
import time

from absl import flags

from wincls.data import command
from wincls.data import datasets
from wincls.data.conll import DataError
from wincls.data.gazetteers import defaults
from wincls.data.gazetteers import lists as lists_lib
from wincls.data.gazetteers import resolve

_CACHE_DIR = flags.DEFINE_string(
    "cache_dir", "", "Cache of the default lists (default $WINCLS_CACHE or ~/.cache/wincls).")
_FORCE = flags.DEFINE_bool("force", False, "install: rebuild over valid lists.")
_GAZETTEERS = flags.DEFINE_list(
    "gazetteers", [], "coverage: lists as TYPE=PATH (empty: the default lists).")
_DATASET = flags.DEFINE_string("dataset", "conll2003", "coverage: the dataset.")
_DATA_DIR = flags.DEFINE_string("data_dir", "", "coverage: the dataset's directory.")
_TRAIN_PATH = flags.DEFINE_string("train_path", "", "coverage: a CoNLL train file.")
_DEV_PATH = flags.DEFINE_string("dev_path", "", "coverage: a CoNLL dev file.")
_JSON = flags.DEFINE_bool("json", False, "coverage: print the reports as JSON.")

_USAGE = "usage: python -m wincls.gazetteers install | verify | coverage [flags]"


class _Lists:
  """What ``resolve`` reads of a run's config: its ``gazetteers``."""

  def __init__(self, gazetteers):
    self.gazetteers = tuple(gazetteers)


def _install() -> None:
  start = time.perf_counter()
  directory, built = defaults.install(_CACHE_DIR.value or None, force=_FORCE.value)
  if not built:
    print(f"the default gazetteer lists are already built at {directory} (checksums ok)")
  else:
    print(f"done in {time.perf_counter() - start:.1f} s")


def _verify() -> None:
  meta = defaults.verify(_CACHE_DIR.value or None)
  print(f"{defaults.default_dir(_CACHE_DIR.value or None)}: " + ", ".join(
      f"{t} {m['entries']} entries" for t, m in meta["lists"].items())
      + f"; checksums ok; built from {meta['packages']} on {meta['created']}")


def _coverage() -> None:
  if _CACHE_DIR.value and not _GAZETTEERS.value:
    defaults.install(_CACHE_DIR.value, log=lambda s: print(s, file=sys.stderr))
    specs = [f"{t}={p}" for t, p in defaults.list_paths(_CACHE_DIR.value).items()]
  else:
    specs = _GAZETTEERS.value
  config = _Lists(specs)
  splits = datasets.load_splits(_DATASET.value, data_dir=_DATA_DIR.value or None,
                                train_path=_TRAIN_PATH.value or None,
                                dev_path=_DEV_PATH.value or None)
  reports = {split: resolve.coverage_of(config, corpus)
             for split, corpus in splits.items() if split != "test"}
  if _JSON.value:
    print(json.dumps(reports, indent=2))
    return
  for split, report in reports.items():
    print(lists_lib.format_coverage(report, title=f"{split} ({report['corpus']})"))


def main(argv):
  """``install``, ``verify`` or ``coverage``; the exit status."""
  args = argv[1:]
  if len(args) != 1 or args[0] not in ("install", "verify", "coverage"):
    print(_USAGE, file=sys.stderr)
    return 2
  action = {"install": _install, "verify": _verify, "coverage": _coverage}[args[0]]
  return command.run(action, (defaults.InstallError, FileNotFoundError, DataError,
                              ValueError))
