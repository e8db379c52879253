"""A finished sweep's wall time against its roofline floor.

  python experiments/compare.py --dataset=conll2003 --workdir=W
  python benchmarks/sweep_floor.py --workdir=W [--peak_gflops=206]

The floor is the time the sweep's matmul FLOPs would take at the machine's
float32 matmul rate (``roofline.peak_matmul_flops``, measured here unless
``--peak_gflops`` gives it): for every configuration, seeds × epochs run ×
(train windows × ``6·(D·H + H·C)`` + dev windows × ``2·(D·H + H·C)``), with
``D`` the window vector's size (``network.input_dim``, the window's registry
entry), ``H`` the hidden size (0 for softmax regression: ``D·C`` instead) and
``C`` the classes. Everything else a run does (embedding gathers, dropout
masks, the optimizer's pass over the word table, conlleval, checkpoints,
compiles) counts against the sweep, so ``wall / floor`` is what the
sweep loses to everything but its matmuls.

A sweep over parts of your own needs them registered to size ``D``: the
plugins each run's ``config.json`` names are imported from your installed
packages and ``PYTHONPATH`` (``plugins.load_saved``), or name them with
``--plugins`` (from the current directory too).
"""

from __future__ import annotations

import json
from pathlib import Path
import sys

from absl import app
from absl import flags

_REPO = Path(__file__).resolve().parents[1]
if str(_REPO) not in sys.path:
  sys.path.insert(0, str(_REPO))

from benchmarks import roofline  # pylint: disable=g-import-not-at-top
from wincls import cli  # pylint: disable=g-import-not-at-top
from wincls import config as config_lib  # pylint: disable=g-import-not-at-top
from wincls.model import network  # pylint: disable=g-import-not-at-top

_WORKDIR = flags.DEFINE_string("workdir", None, "A finished sweep's workdir.")
_PEAK = flags.DEFINE_float("peak_gflops", None, "float32 matmul GFLOP/s (default: "
                           "measured, a 2048² matmul)")


def matmul_flops(config: config_lib.Config, num_classes: int) -> int:
  """Forward matmul FLOPs of one window: ``2·(D·H + H·C)`` (``2·D·C`` without H)."""
  model_config = config.model_config(vocab_size=4, feature_sizes=(1,) * len(config.features),
                                     num_classes=num_classes)
  d = network.input_dim(model_config)
  sizes = [d]
  if config.classifier == "hidden":
    sizes += [config.hidden_size] + ([config.hidden2_size] if config.hidden2_size else [])
  sizes.append(1 if config.output == "score" else num_classes)
  return 2 * sum(a * b for a, b in zip(sizes, sizes[1:]))


def run_floor(run_dir: Path) -> tuple[float, float]:
  """``(matmul FLOPs, wall seconds)`` of one finished run."""
  config = config_lib.Config.from_dict(json.loads((run_dir / "config.json").read_text()),
                                       source=run_dir / "config.json")
  results = json.loads((run_dir / "results.json").read_text())
  num_classes = len(json.loads((run_dir / "labels.json").read_text())["labels"])
  forward = matmul_flops(config, num_classes)
  per_epoch = (3 * forward * results["num_train_windows"]
               + forward * results["num_dev_windows"])
  return config.num_seeds * results["epochs_run"] * per_epoch, results["wall_time"]


def main(argv):
  del argv
  if not _WORKDIR.value:
    raise app.UsageError("--workdir: the workdir of a finished sweep is required")
  runs = sorted(p for p in (Path(_WORKDIR.value) / "runs").iterdir()
                if (p / "results.json").exists())
  if not runs:
    raise app.UsageError(f"--workdir={_WORKDIR.value}: no finished runs under runs/")
  peak = (_PEAK.value * 1e9 if _PEAK.value else roofline.peak_matmul_flops(2048))
  total_flops = total_wall = 0.0
  print(f"peak float32 matmul: {peak / 1e9:.1f} GFLOP/s\n")
  print("| run | wall s | floor s | wall ÷ floor |\n|---|---:|---:|---:|")
  for run_dir in runs:
    flops, wall = run_floor(run_dir)
    total_flops, total_wall = total_flops + flops, total_wall + wall
    print(f"| {run_dir.name} | {wall:.0f} | {flops / peak:.1f} | {wall * peak / flops:.1f}× |")
  print(f"| all | {total_wall:.0f} | {total_flops / peak:.1f} | "
        f"{total_wall * peak / total_flops:.1f}× |")


if __name__ == "__main__":
  # Defined here, not at import: the tests import this module beside others
  # that define --plugins too. cli.run reads it before the other flags.
  cli.define_plugins_flag("yours import from the current directory too; those "
                          "a run's config.json names, from your installed packages "
                          "and PYTHONPATH only.")
  cli.run(main)
