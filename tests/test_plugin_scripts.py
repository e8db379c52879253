"""--plugins of the benchmark scripts that name parts (issue 28).

sweep_floor.py sizes a sweep's runs from their windows, epoch_profile.py
profiles a --window, throughput.py times an activation of
--model_overrides: each takes --plugins. The plugin is
docs/examples/wincls_plugin_example.py, copied into the current directory (so
only --plugins imports it: a config.json naming it does not).
"""

import json
import os
from pathlib import Path
import shutil
import subprocess
import sys

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
  sys.path.insert(0, str(REPO))

from benchmarks import peers  # pylint: disable=g-import-not-at-top
from benchmarks.peers import numpy_hand  # pylint: disable=g-import-not-at-top

pytestmark = pytest.mark.heavy  # started first (tests/conftest.py)

PLUGIN = "wincls_plugin_example"


@pytest.fixture
def cwd_with_plugin(tmp_path):
  shutil.copy(REPO / "docs" / "examples" / f"{PLUGIN}.py", tmp_path)
  return tmp_path


def _bench(cwd, script, *args):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  return subprocess.run([sys.executable, str(REPO / "benchmarks" / script), *args],
                        cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _one_line(done):
  lines = done.stderr.strip().splitlines()
  assert done.returncode == 2 and len(lines) == 1, done.stderr[-2000:]
  return lines[0]


def test_sweep_floor_sizes_a_plugin_window_with_plugins(cwd_with_plugin):
  run = cwd_with_plugin / "S" / "runs" / "r1"
  run.mkdir(parents=True)
  (run / "config.json").write_text(json.dumps({"plugins": [PLUGIN], "window": "maxpool"}))
  (run / "labels.json").write_text(json.dumps({"labels": ["O"] * 17}))
  (run / "results.json").write_text(json.dumps(
      {"num_train_windows": 100, "num_dev_windows": 40, "epochs_run": 2,
       "wall_time": 9.0}))
  # The saved name is not imported from the current directory.
  line = _one_line(_bench(cwd_with_plugin, "sweep_floor.py", "--workdir=S",
                          "--peak_gflops=0.001"))
  assert line.startswith(f"error: S/runs/r1/config.json: plugin '{PLUGIN}' is not "
                         "importable"), line
  done = _bench(cwd_with_plugin, "sweep_floor.py", "--workdir=S", "--peak_gflops=0.001",
                f"--plugins={PLUGIN}")
  assert done.returncode == 0, done.stderr[-2000:]
  # maxpool: D = d = 50 + 5 (concat's would be 5·55): 2·(55·300 + 300·17) a
  # window, 2 epochs of 3·100 + 40 window passes, at 1e6 FLOP/s.
  floor = 2 * 340 * 2 * (55 * 300 + 300 * 17) / 1e6
  assert f"| r1 | 9 | {floor:.1f} |" in done.stdout, done.stdout


def test_epoch_profile_checks_the_window_after_plugins(cwd_with_plugin):
  line = _one_line(_bench(cwd_with_plugin, "epoch_profile.py", "--window=maxpool"))
  assert line == ("error: window 'maxpool' is not one of concat, average, "
                  "masked_average, weighted (a part of your own: --plugins=MODULE)")
  # With the plugin, the window and activation pass; it stops at the data.
  line = _one_line(_bench(cwd_with_plugin, "epoch_profile.py", f"--plugins={PLUGIN}",
                          "--window=maxpool", "--model_overrides=activation=softplus",
                          f"--data_dir={cwd_with_plugin / 'none'}"))
  assert line.startswith("error: CoNLL-2003 not found"), line


def test_throughput_takes_plugins(cwd_with_plugin):
  line = _one_line(_bench(cwd_with_plugin, "throughput.py", f"--plugins={PLUGIN}",
                          "--model_overrides=activation=softplus", "--impls=nope"))
  assert line.startswith("error: --impls: 'nope' is not one of"), line


def test_the_numpy_peer_refuses_an_activation_it_does_not_compute():
  """It computed tanh for any activation but relu, so its row timed another model."""
  spec = peers.Spec(vocab_size=30, feature_size=9, embed_dim=4, feature_dim=2,
                    window_len=3, hidden_size=6, num_classes=5, activation="sigmoid")
  data = peers.Data(window_ids=np.zeros((8, 3), np.int32),
                    feature_ids=np.zeros((8, 3), np.int32), labels=np.zeros(8, np.int32))
  with pytest.raises(ValueError, match="numpy_hand: activation 'sigmoid' is not one of"):
    numpy_hand.make_runner(data, spec, batch_size=4, seed=0)
