"""Ctrl-C and SIGTERM end a script in one line, and a rerun loses nothing.

A train.py run on a slice of WNUT-2016 gets SIGINT once its first metrics row
is written: it must exit with 130 and one line on stderr (the epoch, what
``checkpoints/latest`` holds, the command to resume), and the same command
rerun must end with the dev F1 of an uninterrupted run (started side by side).
``cli.run`` itself is checked in-process for SIGTERM (143) and a bare Ctrl-C.
"""

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wincls import cli
from wincls import interrupts

REPO = Path(__file__).resolve().parents[1]
# ~0.1-0.3 s per epoch on one CPU core: the run is still training when polled.
TINY = ["--dataset=wnut16", "--train_fraction=0.5", "--hidden_size=64", "--embed_dim=16",
        "--epochs=6", "--learning_rate=0.01", "--batch_size=256", "--num_seeds=2"]


def _command(workdir):
  return [sys.executable, str(REPO / "experiments" / "train.py"), f"--workdir={workdir}",
          *TINY]


def _start(workdir, cache_dir):
  env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO),
         "JAX_COMPILATION_CACHE_DIR": str(cache_dir),
         "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
         "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}
  return subprocess.Popen(_command(workdir), cwd=REPO, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)


def _dev_f1(workdir):
  results = json.loads((workdir / "results.json").read_text())
  return [seed["dev_f1"] for seed in results["seeds"]]


def test_sigint_ends_train_py_in_one_line_and_the_rerun_finishes_the_run(tmp_path):
  cache = tmp_path / "jax_cache"
  reference = _start(tmp_path / "reference", cache)
  workdir = tmp_path / "interrupted"
  process = _start(workdir, cache)
  metrics = workdir / "metrics.jsonl"
  deadline = time.monotonic() + 120
  while not (metrics.exists() and metrics.read_text().endswith("\n")):
    assert process.poll() is None and time.monotonic() < deadline, process.communicate()
    time.sleep(0.01)
  process.send_signal(signal.SIGINT)
  _, err = process.communicate(timeout=60)
  assert process.returncode == 130, err
  assert "Traceback" not in err and err.count("\n") == 1, err
  line = err.rstrip("\n")
  found = re.fullmatch(r"interrupted \(SIGINT\) at epoch (\d+) of 6 \(2 seeds\): "
                       r"(?:.*checkpoints/latest holds epoch (\d+)|no epoch was saved "
                       r"yet); resume with: (.*)", line)
  assert found, line
  running, saved = int(found.group(1)), int(found.group(2) or 0)
  assert 1 <= running <= 6 and saved == running - 1, line
  assert found.group(3) == shlex.join(_command(workdir))
  assert not (workdir / "results.json").exists()

  rerun = _start(workdir, cache)
  out, err = rerun.communicate(timeout=120)
  assert rerun.returncode == 0, err
  reference.communicate(timeout=120)
  assert reference.returncode == 0
  assert _dev_f1(workdir) == _dev_f1(tmp_path / "reference")
  epochs = [json.loads(row)["epoch"] for row in metrics.read_text().splitlines()]
  assert epochs == sorted(epochs) and epochs[-1] == 6  # each epoch's rows once
  assert len(epochs) == 2 * 6


@pytest.fixture
def signal_handlers():
  """Restores SIGINT's and SIGTERM's handlers, which ``cli.run`` changes."""
  saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
  yield
  for signum, handler in saved.items():
    signal.signal(signum, handler)


@pytest.mark.parametrize("signum, status, line", [
    (signal.SIGTERM, 143, "interrupted (SIGTERM); rerun with: "),
    (signal.SIGINT, 130, "interrupted (SIGINT); rerun with: "),
])
def test_cli_run_ends_a_signal_in_one_line(signum, status, line, signal_handlers,
                                           monkeypatch, capsys):
  def main(argv):
    os.kill(os.getpid(), signum)
    time.sleep(10)  # the signal's exception arrives first
    raise AssertionError("not interrupted")

  monkeypatch.setattr(sys, "argv", ["train.py"])
  with pytest.raises(SystemExit) as e:
    cli.run(main)
  assert e.value.code == status
  assert capsys.readouterr().err == line + shlex.join(sys.orig_argv) + "\n"


def test_an_interruption_that_knows_the_run_says_resume(signal_handlers, monkeypatch,
                                                        capsys):
  def main(argv):
    raise interrupts.Interrupted(signal.SIGTERM, "at epoch 3 of 5: w/latest holds epoch 2")

  monkeypatch.setattr(sys, "argv", ["train.py"])
  with pytest.raises(SystemExit) as e:
    cli.run(main)
  assert e.value.code == 143
  assert capsys.readouterr().err.startswith(
      "interrupted (SIGTERM) at epoch 3 of 5: w/latest holds epoch 2; resume with: ")
