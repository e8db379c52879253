"""Tests of benchmarks/devices.py: the devices JAX sees, one epoch timed on them."""

import os
from pathlib import Path
import re
import subprocess
import sys

import jax

REPO = Path(__file__).resolve().parents[1]


def _run(*flags):
  # A subprocess: devices.py's absl flags (--data_dir, --batch_size, ...) share
  # names with throughput.py's, which other test files import.
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  return subprocess.run([sys.executable, str(REPO / "benchmarks" / "devices.py"), *flags],
                        capture_output=True, text=True, timeout=120, cwd=REPO, env=env)


def test_prints_the_devices_and_times_an_epoch_of_the_default_data():
  result = _run("--config=cs224n", "--max_windows=300", "--batch_size=64", "--repeats=1",
                "--num_seeds=2")
  assert result.returncode == 0, result.stderr[-3000:]
  lines = result.stdout.splitlines()
  assert lines[0].startswith(f"jax {jax.__version__}, backend cpu, ")
  assert re.fullmatch(r"  0: cpu .*", lines[1])
  # Two seeds on the CPU: the calls loop, as --num_seeds=2 trains them.
  assert re.fullmatch(r"wnut16 train, cs224n shape, 300 windows, 2 seed\(s\) \(seed_loop calls\) "
                      r"on cpu:0: compile [0-9.]+ s, epoch [0-9.]+ s \(median\), "
                      r"[0-9,]+ windows/s", lines[-1]), lines[-1]
