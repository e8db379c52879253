"""Per-position Jacobian norms: hand calculus vs jax.grad, and position blindness."""

import json
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wincls import config as config_lib
from wincls.model import jacobians
from wincls.model import network
from wincls.model import windows

pytestmark = pytest.mark.heavy  # started first (tests/conftest.py)

_REPO = Path(__file__).resolve().parents[1]


def _setup(window, output="multiclass"):
  config = config_lib.ModelConfig(features=(), vocab_size=30, feature_sizes=(5,), num_classes=4,
                                  window=window, window_size=2, embed_dim=4,
                                  feature_dim=2, hidden_size=6, activation="tanh",
                                  output=output)
  params = network.init_params(jax.random.key(0), config=config)
  rng = np.random.default_rng(0)
  window_ids = rng.integers(4, 30, size=(7, 5)).astype(np.int32)
  feature_ids = rng.integers(1, 5, size=(7, 5, 1)).astype(np.int32)
  return config, params, window_ids, feature_ids


def _autodiff_norms(params, window_ids, feature_ids, config):
  vectors = windows.embed(params["embed"], window_ids, feature_ids)
  spec = windows.get(config.window)

  def score(v, w, f):
    x = spec.forward(params.get("window"), v, network.real_positions(w))
    s = network.head(params, x, config=config)[0]
    if config.output == "score":
      return s
    return s[jnp.argmax(network.apply(params, w[None], f[None], config=config)[0])]

  grads = jax.vmap(jax.grad(score))(vectors, window_ids, feature_ids)
  return np.linalg.norm(np.asarray(grads), axis=-1).mean(0)


@pytest.mark.parametrize("window,output", [("concat", "score")] + [
    (window, "multiclass") for window in windows.WINDOWS])
def test_hand_position_norms_equal_autodiff(window, output):
  with jax.enable_x64(True):
    config, params, window_ids, feature_ids = _setup(window, output)
    params = jax.tree.map(lambda x: x.astype(jnp.float64), params)
    hand = jacobians.position_norms(params, window_ids, feature_ids, config=config,
                                   batch_size=4)
    auto = _autodiff_norms(params, window_ids, feature_ids, config)
    np.testing.assert_allclose(hand, auto, rtol=1e-10)


def test_average_is_position_blind_and_concat_is_not():
  config, params, window_ids, feature_ids = _setup("average")
  norms = jacobians.position_norms(params, window_ids, feature_ids, config=config)
  np.testing.assert_allclose(norms, norms[0], rtol=1e-6)
  config, params, window_ids, feature_ids = _setup("concat")
  norms = jacobians.position_norms(params, window_ids, feature_ids, config=config)
  assert np.ptp(norms) > 1e-3 * norms.max()


def test_script_on_a_trained_run(tmp_path):
  run = tmp_path / "run"
  common = ["--dataset=wnut16", "--train_fraction=0.05", "--epochs=1",
            "--hidden_size=8", "--embed_dim=8", "--window_size=1"]
  subprocess.run([sys.executable, str(_REPO / "experiments" / "train.py"),
                  f"--workdir={run}", *common], check=True, capture_output=True,
                 cwd=_REPO)
  out = tmp_path / "sal"
  proc = subprocess.run([sys.executable, str(_REPO / "experiments" / "saliency.py"),
                         f"--workdirs={run}", f"--output_dir={out}",
                         "--max_windows=300"], capture_output=True, text=True, cwd=_REPO)
  assert proc.returncode == 0, proc.stderr
  rows = json.loads((out / "saliency.json").read_text())
  assert rows[0]["positions"] == [-1, 0, 1] and len(rows[0]["norms"]) == 3
  assert (out / "run.png").is_file() and "| run |" in (out / "saliency.md").read_text()
  bad = subprocess.run([sys.executable, str(_REPO / "experiments" / "saliency.py"),
                        f"--workdirs={tmp_path / 'nope'}", f"--output_dir={out}"],
                       capture_output=True, text=True, cwd=_REPO)
  assert bad.returncode != 0 and "Traceback" not in bad.stderr
