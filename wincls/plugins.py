"""``--plugins=MODULE[,MODULE...]``: modules that register parts of their own.

A plugin is any importable module whose import registers windows, losses,
activations or word features (``register(name, spec)`` in
``wincls.model.windows``, ``losses``, ``layers``, ``features``;
docs/extending.md). ``load`` imports them; the run's ``Config`` holds their
names, so ``config.json`` records them and a run is resumed or tagged
(``predict.py``, ``Tagger.load``) with them without naming them again. The
current directory is searched too (a script run as ``python
experiments/train.py`` does not have it on ``sys.path``).
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Iterable


class PluginError(ValueError):
  """A plugin module could not be imported (one line: ``--plugins: ...``)."""


def load(modules: Iterable[str]) -> None:
  """Imports each module (once; a module already imported is not run again).

  Raises:
    PluginError: a module failed to import, with its name and the error.
  """
  modules = [m for m in modules if m]
  if not modules:
    return
  cwd = os.getcwd()
  if cwd not in sys.path:
    sys.path.append(cwd)
  for name in modules:
    try:
      importlib.import_module(name)
    except Exception as e:  # an import can fail any way; report it in one line
      raise PluginError(f"--plugins: cannot import {name!r}: {type(e).__name__}: "
                        f"{' '.join(str(e).split())}") from None
