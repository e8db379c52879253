"""Ctrl-C and SIGTERM at any moment end a script in one line, and a rerun loses nothing.

train.py on a slice of WNUT-2016 gets a signal at three moments: during its
imports (SIGINT and SIGTERM once jaxlib is loaded: one line, 130/143, nothing
written), during the first epoch's compile (SIGTERM while XLA compiles in its
worker threads, with XLA's full pipeline so that the compile is still running
when the process ends: no segfault at the interpreter's exit), and once its
first metrics row is written (SIGINT: the line says what
``checkpoints/latest`` holds; the same command rerun must end with the dev F1
of an uninterrupted run, started side by side). At the first two moments
nothing of a run is saved, so a rerun is a fresh run. ``cli.run`` itself is checked in-process
for SIGTERM (143) and a bare Ctrl-C, and a signal whose exception Python drops
(raised inside a garbage-collector callback, as JAX installs one) must still
interrupt.
"""

import gc
import json
import os
import platform
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

pytestmark = pytest.mark.heavy  # started first (tests/conftest.py)

REPO = Path(__file__).resolve().parents[1]
# ~0.1-0.3 s per epoch on one CPU core: the run is still training when polled.
TINY = ["--dataset=wnut16", "--train_fraction=0.5", "--hidden_size=64", "--embed_dim=16",
        "--epochs=6", "--learning_rate=0.01", "--batch_size=256", "--num_seeds=2"]


def _command(workdir):
  return [sys.executable, str(REPO / "experiments" / "train.py"), f"--workdir={workdir}",
          *TINY]


def _start(workdir, cache_dir, stdout=subprocess.PIPE, **env):
  env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO),
         "PYTHONUNBUFFERED": "1", **env}
  if cache_dir is not None:
    env.update(JAX_COMPILATION_CACHE_DIR=str(cache_dir),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
               JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
  return subprocess.Popen(_command(workdir), cwd=REPO, env=env, stdout=stdout,
                          stderr=subprocess.PIPE, text=True)


def _dev_f1(workdir):
  results = json.loads((workdir / "results.json").read_text())
  return [seed["dev_f1"] for seed in results["seeds"]]


def _wait(process, ready, what):
  """Polls ``ready()`` until true (the process must still run)."""
  deadline = time.monotonic() + 120
  while not ready():
    assert process.poll() is None and time.monotonic() < deadline, (what, process.communicate())
    time.sleep(0.005)


# The futex system call's number, as /proc/PID/task/TID/syscall shows it.
FUTEX = {"x86_64": "202", "aarch64": "98"}.get(platform.machine())


def _compiling(pid):
  """XLA compiles: three times 20 ms apart, the main thread waits (futex) and another runs."""
  return all(_waits_while_another_runs(pid) and not time.sleep(0.02) for _ in range(3))


def _waits_while_another_runs(pid):
  try:
    main = Path(f"/proc/{pid}/task/{pid}/syscall").read_text().split()[0]
    states = [Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()[0]
              for tid in os.listdir(f"/proc/{pid}/task") if tid != str(pid)]
  except (OSError, IndexError):
    return False
  return main == FUTEX and "R" in states


def _one_line(err, signum, rest):
  """Asserts ``err`` is one ``interrupted (SIG...) ...`` line; returns what follows."""
  assert not any(w in err for w in ("Traceback", "Fatal", "terminate")), err
  assert err.count("\n") == 1 and err.endswith("\n"), err
  head = f"interrupted ({signal.Signals(signum).name})"
  assert err.startswith(head), err
  found = re.fullmatch(rest, err[len(head):-1])
  assert found, err
  return found


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc/PID/maps (Linux)")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_the_imports_ends_in_one_line(signum, tmp_path):
  workdir = tmp_path / "w"
  process = _start(workdir, None)
  maps = Path(f"/proc/{process.pid}/maps")
  _wait(process, lambda: "jaxlib" in maps.read_text(), "jaxlib loaded")
  process.send_signal(signum)
  _, err = process.communicate(timeout=60)
  assert process.returncode == 128 + signum, err
  _one_line(err, signum, re.escape("; rerun with: " + shlex.join(_command(workdir))))
  assert not workdir.exists()  # nothing written: the rerun is a fresh run


@pytest.mark.skipif(FUTEX is None or not os.path.isdir("/proc"),
                    reason="reads a thread's system call in /proc (Linux, x86-64 or arm64)")
def test_sigterm_during_the_first_compile_ends_in_one_line_with_nothing_saved(tmp_path):
  workdir, out = tmp_path / "w", tmp_path / "stdout"
  with open(out, "w") as stdout:  # XLA's full pipeline: the compile outlasts the exit
    process = _start(workdir, None, stdout=stdout, XLA_FLAGS="")
    _wait(process, lambda: "Training " in out.read_text(), "the Training line")
    _wait(process, lambda: _compiling(process.pid), "XLA compiling")
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
  assert process.returncode == 143, err
  _one_line(err, signal.SIGTERM, r" at epoch 1 of 6 \(2 seeds\): no epoch was saved yet; "
            r"resume with: .*")
  # Released on the way out, and nothing of a run saved: the rerun is a fresh run.
  assert not (workdir / "lock").exists()
  metrics = workdir / "metrics.jsonl"
  assert not (workdir / "checkpoints").exists()
  assert not metrics.exists() or not metrics.read_text().strip()


def test_sigint_mid_run_ends_in_one_line_and_the_rerun_finishes_the_run(tmp_path):
  cache = tmp_path / "jax_cache"
  reference = _start(tmp_path / "reference", cache)
  workdir = tmp_path / "interrupted"
  process = _start(workdir, cache)
  metrics = workdir / "metrics.jsonl"
  _wait(process, lambda: metrics.exists() and metrics.read_text().endswith("\n"),
        "the first metrics row")
  process.send_signal(signal.SIGINT)
  _, err = process.communicate(timeout=60)
  assert process.returncode == 130, err
  found = _one_line(err, signal.SIGINT, r" at epoch (\d+) of 6 \(2 seeds\): (?:.*checkpoints/"
                    r"latest holds epoch (\d+)|no epoch was saved yet); resume with: (.*)")
  running, saved = int(found.group(1)), int(found.group(2) or 0)
  assert 1 <= running <= 6 and saved == running - 1, err
  assert found.group(3) == shlex.join(_command(workdir))
  assert not (workdir / "results.json").exists()

  rerun = _start(workdir, cache)
  _, err = rerun.communicate(timeout=120)
  assert rerun.returncode == 0, err
  reference.communicate(timeout=120)
  assert reference.returncode == 0
  assert _dev_f1(workdir) == _dev_f1(tmp_path / "reference")
  epochs = [json.loads(row)["epoch"] for row in metrics.read_text().splitlines()]
  assert epochs == sorted(epochs) and epochs[-1] == 6  # each epoch's rows once
  assert len(epochs) == 2 * 6


FINISHED = """
import os, signal
from wincls import interrupts
interrupts.exit_on_signals()
from wincls import cli

class Late:  # deleted in the interpreter's exit, once Python put back SIGINT's default
  def __del__(self, kill=os.kill, pid=os.getpid(), signum=signal.SIGINT):
    kill(pid, signum)
    sum(range(100000))

late = Late()
cli.run(lambda argv: print("done"))
"""


def test_a_signal_during_the_interpreters_exit_after_a_finished_run_is_ignored(tmp_path):
  script = tmp_path / "finished.py"
  script.write_text(FINISHED)
  done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                        env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
  assert (done.returncode, done.stdout, done.stderr) == (0, "done\n", "")


@pytest.fixture
def in_process(monkeypatch):
  """``cli.run`` in this process: its handlers and hook are restored afterwards, and
  its ``os._exit`` raises ``SystemExit`` (with the status) instead of ending pytest."""
  saved = {s: signal.getsignal(s) for s in interrupts.SIGNALS}
  hook = sys.unraisablehook

  def exit_(status):
    raise SystemExit(status)

  monkeypatch.setattr(os, "_exit", exit_)
  monkeypatch.setattr(sys, "argv", ["train.py"])
  yield
  sys.unraisablehook = hook
  for signum, handler in saved.items():
    signal.signal(signum, handler)


@pytest.mark.parametrize("signum, status, line", [
    (signal.SIGTERM, 143, "interrupted (SIGTERM); rerun with: "),
    (signal.SIGINT, 130, "interrupted (SIGINT); rerun with: "),
])
def test_cli_run_ends_a_signal_in_one_line(signum, status, line, in_process, capsys):
  def main(argv):
    os.kill(os.getpid(), signum)
    time.sleep(10)  # the signal's exception arrives first
    raise AssertionError("not interrupted")

  with pytest.raises(SystemExit) as e:
    cli.run(main)
  assert e.value.code == status
  assert capsys.readouterr().err == line + shlex.join(sys.orig_argv) + "\n"


def test_an_interruption_that_knows_the_run_says_resume(in_process, capsys):
  def main(argv):
    raise interrupts.Interrupted(signal.SIGTERM, "at epoch 3 of 5: w/latest holds epoch 2")

  with pytest.raises(SystemExit) as e:
    cli.run(main)
  assert e.value.code == 143
  assert capsys.readouterr().err.startswith(
      "interrupted (SIGTERM) at epoch 3 of 5: w/latest holds epoch 2; resume with: ")


def test_a_signal_inside_a_gc_callback_still_interrupts(in_process, capsys):
  """Python drops an exception raised in a gc callback (JAX installs one)."""
  fired = []

  def callback(phase, info):
    if phase == "start" and not fired:
      fired.append(phase)
      os.kill(os.getpid(), signal.SIGINT)
      sum(range(10000))  # the handler runs here, inside the callback

  def main(argv):
    gc.callbacks.append(callback)
    try:
      gc.collect()
      for _ in range(200):  # a second at most: the signal is delivered again
        time.sleep(0.005)
    finally:
      gc.callbacks.remove(callback)
    raise AssertionError("the signal was lost")

  with pytest.raises(SystemExit) as e:
    cli.run(main)
  assert fired and e.value.code == 130
  assert capsys.readouterr().err.startswith("interrupted (SIGINT); rerun with: ")


def test_a_second_signal_while_the_first_is_on_its_way_out_is_ignored(in_process, capsys):
  released = []

  def main(argv):
    try:
      os.kill(os.getpid(), signal.SIGTERM)
      time.sleep(10)
    finally:  # as the loop's: the workdir's lock is released on the way out
      os.kill(os.getpid(), signal.SIGINT)
      sum(range(10000))
      released.append(True)

  with pytest.raises(SystemExit) as e:
    cli.run(main)
  assert released and e.value.code == 143
  assert capsys.readouterr().err.startswith("interrupted (SIGTERM); rerun with: ")


def test_a_signal_while_latest_is_written_says_what_the_rerun_may_find(tmp_path):
  """The message of a signal inside the write of checkpoints/latest: before, it
  said "no epoch was saved yet" although the rename had already put epoch 1 there."""
  import types  # pylint: disable=g-import-not-at-top
  from wincls.train import loop, resume  # pylint: disable=g-import-not-at-top
  run = types.SimpleNamespace(config=types.SimpleNamespace(epochs=3), workdir=tmp_path,
                              seeds=(0, 1))
  progress = resume.Progress(state=None, best_params=None, early={}, epoch=0, writing=1)
  where = loop._interrupted(KeyboardInterrupt(), run, progress, finishing=False).where
  assert where.startswith("at epoch 1 of 3 (2 seeds): ")
  assert "holds epoch 1 if its write had finished, else no epoch" in where
  progress.epoch, progress.writing = 1, None
  where = loop._interrupted(KeyboardInterrupt(), run, progress, finishing=False).where
  assert where.endswith("checkpoints/latest holds epoch 1")
