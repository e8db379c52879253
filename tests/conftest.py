"""Settings of the whole suite, read before any test module imports JAX.

Most of the suite's time is XLA compiling small programs that then run once or
a few times on tiny shapes, and most of a compile is LLVM's optimisation
pipeline. The suite (and the scripts it starts as subprocesses, which inherit
the environment) compiles without it: ``XLA_FLAGS`` gains
``--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true``
(the suite: 3:50-4:46 over four runs on the 2-core CPU, 5:05 without it). What a test checks is
numbers, which do not depend on the pipeline beyond float rounding, and the
tolerances hold either way. The program the trainer runs is also compiled with
the full pipeline, in tests/test_compiled.py (``FULL_PIPELINE``), where a
miscompile at the trainer's shapes would show. To run everything with the full
pipeline, give ``--xla_backend_optimization_level`` yourself::

  XLA_FLAGS=--xla_backend_optimization_level=3 python -m pytest -q

Test files run one per worker (``--dist loadfile``); the files marked
``heavy`` (18 s or more: subprocesses, module fixtures that train) start
first, so that no long file starts last and keeps one worker busy while the
other idles (the suite: 235-241 s against 266-289 s in collection order, on the
2-core CPU).

The wincls.plugins entry points of the distributions installed on the machine
are not loaded (``WINCLS_DISABLE_PLUGIN_AUTOLOAD``): a researcher's own plugin
package must not change the suite's registries. The entry-point tests set up
their own distributions and clear the variable for their subprocesses.
"""

import os

os.environ.setdefault("WINCLS_DISABLE_PLUGIN_AUTOLOAD", "1")

FAST_COMPILE_FLAGS = ("--xla_backend_optimization_level=0",
                      "--xla_llvm_disable_expensive_passes=true")

_flags = os.environ.get("XLA_FLAGS", "")
if "xla_backend_optimization_level" not in _flags:
  os.environ["XLA_FLAGS"] = " ".join([_flags, *FAST_COMPILE_FLAGS]).strip()


def pytest_configure(config):
  config.addinivalue_line(
      "markers", "heavy: a test file of 18 s or more; the suite starts these first")


def pytest_collection_modifyitems(items):
  """The ``heavy`` files first, each file's tests in their order (a stable sort)."""
  items.sort(key=lambda item: item.get_closest_marker("heavy") is None)
