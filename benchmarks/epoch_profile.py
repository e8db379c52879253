"""Where one training epoch's time goes, by what each XLA op computes.

  python benchmarks/epoch_profile.py --config=cw --threads=2 \\
      --output=results/epoch_profile_cw.json
  python benchmarks/epoch_profile.py --config=cw --window=average --embedding_update=sparse
  python benchmarks/epoch_profile.py --plugins=my_parts --window=mine   # a window of yours

Prints (and with ``--output`` writes as JSON) ``profiling.profile``: the
trainer's own compiled epoch on CoNLL-2003 train, timed untraced and then
traced once with ``jax.profiler``, its op time split into
``profiling.CATEGORIES`` (matmul, random bits, the word table's [V, E] passes,
gathers, host callbacks, other); ``benchmarks/profiling.py`` says how.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import sys

from absl import app
from absl import flags
import jax

_REPO = Path(__file__).resolve().parents[1]
if str(_REPO) not in sys.path:
  sys.path.insert(0, str(_REPO))

from benchmarks import peers  # pylint: disable=g-import-not-at-top
from benchmarks import profiling  # pylint: disable=g-import-not-at-top
from benchmarks import workload  # pylint: disable=g-import-not-at-top
from wincls import cli  # pylint: disable=g-import-not-at-top
from wincls import config as config_lib  # pylint: disable=g-import-not-at-top
from wincls.model import layers  # pylint: disable=g-import-not-at-top
from wincls.model import windows  # pylint: disable=g-import-not-at-top

_CONFIG = flags.DEFINE_enum("config", "cw", list(workload.CONFIGS), "model shape")
_WINDOW = flags.DEFINE_string("window", "concat",
                              "window representation (train.py's --window)")
_EMBEDDING_UPDATE = flags.DEFINE_enum("embedding_update", "dense",
                                      list(config_lib.EMBEDDING_UPDATES),
                                      "word-table updates (train.py's --embedding_update)")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 256, "batch size", lower_bound=1)
_MODEL_OVERRIDES = flags.DEFINE_list(
    "model_overrides", [], f"FIELD=VALUE, FIELD of {', '.join(workload.OVERRIDABLE)}")
_WARMUP = flags.DEFINE_integer("warmup", 1, "untimed epochs first", lower_bound=1)
_REPEATS = flags.DEFINE_integer("repeats", 3, "timed untraced epochs", lower_bound=1)
_TRACED = flags.DEFINE_integer("traced", 3, "traced epochs (each op: its median)",
                               lower_bound=1)
_THREADS = flags.DEFINE_integer("threads", None, "XLA/BLAS threads (default: all cores)",
                                lower_bound=1)
_TOP = flags.DEFINE_integer("top", 12, "ops listed by time", lower_bound=0)
_DATA_DIR = flags.DEFINE_string("data_dir", None, "CoNLL-2003 directory (default: "
                                "$WINCLS_CONLL2003_DIR, then ../shared/data/conll2003)")
_MAX_WINDOWS = flags.DEFINE_integer("max_windows", None,
                                    "train on the first N windows only (a quick look)")
_OUTPUT = flags.DEFINE_string("output", None, "JSON file to write (optional)")
# Read by cli.run before the other flags are parsed (cli.plugins_in_argv).
cli.define_plugins_flag("their windows (--window) and activations "
                        "(--model_overrides=activation=NAME) can be profiled.")


def main(argv):
  del argv
  try:
    overrides = workload.parse_overrides(_MODEL_OVERRIDES.value)
  except ValueError as e:
    raise app.UsageError(str(e)) from e
  try:  # before the data is read
    windows.WINDOWS.lookup(_WINDOW.value)
    if "activation" in overrides:
      layers.ACTIVATIONS.lookup(overrides["activation"])
  except ValueError as e:
    raise app.UsageError(f"{e} (a part of your own: --plugins=MODULE)") from e
  threads = _THREADS.value or os.cpu_count() or 1
  note = peers.limit_threads(threads)
  result = profiling.profile(
      config_name=_CONFIG.value, window=_WINDOW.value,
      embedding_update=_EMBEDDING_UPDATE.value, batch_size=_BATCH_SIZE.value,
      overrides=overrides, data_dir=_DATA_DIR.value, max_windows=_MAX_WINDOWS.value,
      warmup=_WARMUP.value, repeats=_REPEATS.value, traced=_TRACED.value,
      top=_TOP.value)
  result.update(threads=threads, thread_settings=note, cpu_count=os.cpu_count(),
                load_avg=os.getloadavg()[0], device=jax.devices()[0].device_kind)
  print(profiling.markdown(result))
  if _OUTPUT.value:
    output = Path(_OUTPUT.value)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=1) + "\n")
    print(f"\nwrote {output}")


if __name__ == "__main__":
  cli.run(main)
