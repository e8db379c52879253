"""benchmarks/sweep_floor.py: a sweep's matmul FLOPs, from its runs' files."""

import dataclasses
import json
from pathlib import Path
import sys

from wincls import config as config_lib

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks import sweep_floor  # pylint: disable=g-import-not-at-top


def test_matmul_flops_per_window_follow_the_window_and_classifier():
  cw = config_lib.Config()  # m=2, 50+5 dims, H=300: D = 5·55 = 275
  assert sweep_floor.matmul_flops(cw, 17) == 2 * (275 * 300 + 300 * 17)
  average = dataclasses.replace(cw, window="average")  # D = 55
  assert sweep_floor.matmul_flops(average, 17) == 2 * (55 * 300 + 300 * 17)
  softmax = dataclasses.replace(cw, classifier="softmax")
  assert sweep_floor.matmul_flops(softmax, 17) == 2 * 275 * 17
  two = dataclasses.replace(cw, hidden2_size=10, output="score")
  assert sweep_floor.matmul_flops(two, 17) == 2 * (275 * 300 + 300 * 10 + 10 * 1)


def test_run_floor_counts_seeds_epochs_and_both_splits(tmp_path):
  config = dataclasses.replace(config_lib.Config(), num_seeds=3)
  (tmp_path / "config.json").write_text(json.dumps(dataclasses.asdict(config)))
  (tmp_path / "labels.json").write_text(json.dumps({"labels": ["O"] * 17}))
  (tmp_path / "results.json").write_text(json.dumps(
      {"num_train_windows": 100, "num_dev_windows": 40, "epochs_run": 2,
       "wall_time": 9.0}))
  flops, wall = sweep_floor.run_floor(tmp_path)
  forward = 2 * (275 * 300 + 300 * 17)
  assert flops == 3 * 2 * (3 * forward * 100 + forward * 40) and wall == 9.0
