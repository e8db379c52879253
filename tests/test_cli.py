"""Tests of wincls/cli.py and experiments/train.py's exits: one line, a named file.

Every failure a user can meet ends with one ``error:`` line on stderr, no
traceback, and exit status 2 (3: every seed diverged). The subprocesses run
side by side and train nothing (tests/test_loop.py trains the diverging runs).
"""

import errno
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from wincls import cli
from wincls import config as config_lib
from wincls.train import workdir as workdir_lib

REPO = Path(__file__).resolve().parents[1]


def _train(*args):
  env = {**os.environ, "JAX_PLATFORMS": "cpu"}
  return subprocess.Popen([sys.executable, str(REPO / "experiments" / "train.py"), *args],
                          cwd=REPO, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)


def _stored_run(workdir):
  """A workdir holding the config of ``train.py --epochs=1`` (no training)."""
  workdir_lib.check_workdir_config(workdir, config_lib.Config(epochs=1))
  return workdir


def test_failures_end_in_one_line_naming_the_file(tmp_path):
  damaged_results = _stored_run(tmp_path / "results")
  (damaged_results / "results.json").write_text('{"seeds": [{"seed": 0} {"seed": 1}]}')
  damaged_config = tmp_path / "config"
  damaged_config.mkdir()
  (damaged_config / "config.json").write_text('{"epochs": 1,')
  diverged = _stored_run(tmp_path / "diverged")  # a finished run (its rerun answers)
  (diverged / "results.json").write_text(json.dumps({
      "dev_f1_mean": 0.0, "dev_f1_std": 0.0, "best_seed_index": 0, "epochs_run": 1,
      "wall_time": 1.0, "diverged_seeds": [0], "seeds": [
          {"seed": 0, "dev_f1": 0.0, "best_epoch": 0, "diverged": True,
           "diverged_epoch": 1, "diverged_step": 4}]}))
  locked = _stored_run(tmp_path / "locked")
  (locked / "lock").write_text(json.dumps(  # held by this (live) process
      {"pid": os.getpid(), "host": socket.gethostname(), "started": "now"}))
  cases = {  # message -> (exit status, arguments)
      "flag --epochs=abc: invalid literal for int()": (2, ["--epochs=abc"]),
      "Unknown command line flag 'no_such_flag'": (2, ["--no_such_flag=1"]),
      f"{damaged_results / 'results.json'}: damaged: not valid JSON (Expecting ',' "
      "delimiter": (2, [f"--workdir={damaged_results}", "--epochs=1"]),
      f"{damaged_config / 'config.json'}: damaged: not valid JSON":
          (2, [f"--workdir={damaged_config}", "--epochs=1"]),
      f"another run is training in this workdir: pid {os.getpid()} on host":
          (2, [f"--workdir={locked}", "--epochs=1"]),
      f"{diverged}: every seed diverged (seed 0 in epoch 1 step 4)":
          (3, [f"--workdir={diverged}", "--epochs=1"]),
  }
  processes = {}
  for message, (_, args) in cases.items():
    if not any(a.startswith("--workdir") for a in args):
      args = [f"--workdir={tmp_path / 'flags'}", *args]
    processes[message] = _train(*args)
  for message, process in processes.items():
    out, err = process.communicate(timeout=300)
    lines = err.strip().splitlines()
    assert process.returncode == cases[message][0], (message, err[-2000:])
    assert len(lines) == 1 and lines[0].startswith("error: "), err[-2000:]
    assert message in lines[0] and "Traceback" not in err
  # The damaged file and the lock are left as they were; so is the finished run.
  assert (damaged_results / "results.json").read_text().startswith('{"seeds": [{')
  assert json.loads((locked / "lock").read_text())["pid"] == os.getpid()


@pytest.mark.parametrize("error, line", [
    (OSError(errno.ENOSPC, "No space left on device", "/w/checkpoints/latest"),
     "error: /w/checkpoints/latest: No space left on device (ENOSPC)"),
    (OSError(errno.EROFS, "Read-only file system", "/w/lock"),
     "error: /w/lock: Read-only file system (EROFS)"),
    (PermissionError(errno.EACCES, "Permission denied", "/w/metrics.jsonl"),
     "error: /w/metrics.jsonl: Permission denied (EACCES)"),
])
def test_os_errors_end_in_one_line_naming_the_path(error, line, monkeypatch, capsys):
  def main(argv):
    raise error

  monkeypatch.setattr(sys, "argv", ["train.py"])
  with pytest.raises(SystemExit) as e:
    cli.run(main)
  assert e.value.code == 2
  assert capsys.readouterr().err == line + "\n"
