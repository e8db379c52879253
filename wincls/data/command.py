"""How the data package's commands end: ``run(action, expected) -> exit status``.

``python -m wincls.vectors`` and ``python -m wincls.gazetteers`` run one action
each; an expected error (bad input, a failed install) or an OS error (a
``--cache_dir`` that is a file, a read-only directory, a full disk) ends in one
``error:`` line on stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

import sys
from typing import Callable


def run(action: Callable[[], object],
        expected: tuple[type[Exception], ...]) -> int:
  """Runs ``action``; 0, or 1 after one ``error:`` line for ``expected`` or an OSError."""
  try:
    action()
  except expected as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  except OSError as e:
    where = f"{e.filename}: " if e.filename else ""
    print(f"error: {where}{e.strerror or e}", file=sys.stderr)
    return 1
  return 0
