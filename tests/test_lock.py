"""Tests of wincls/train/lock.py: one training process per workdir."""

import json
import logging
import os
import socket
import subprocess
import sys

import pytest

from wincls import config as config_lib
from wincls import train
from wincls.train import lock as lock_lib
from wincls.train import resume


def _dead_pid():
  process = subprocess.Popen([sys.executable, "-c", "pass"])
  process.wait()  # reaped: its pid runs no more
  return process.pid


def test_second_holder_is_refused_with_the_holder_named(tmp_path):
  with lock_lib.WorkdirLock(tmp_path):
    holder = json.loads((tmp_path / "lock").read_text())
    assert holder["host"] == socket.gethostname()
    with pytest.raises(lock_lib.WorkdirLockedError,
                       match=rf"another run is training in this workdir: pid "
                             rf"{holder['pid']} on host '{holder['host']}'"):
      lock_lib.WorkdirLock(tmp_path).acquire()
  assert not (tmp_path / "lock").exists()  # released


def test_stale_lock_is_taken_over_and_another_hosts_is_not(tmp_path, caplog):
  path = tmp_path / "lock"
  path.write_text(json.dumps({"pid": _dead_pid(), "host": socket.gethostname(),
                              "started": "earlier", "token": "old"}))
  with caplog.at_level(logging.WARNING):
    with lock_lib.WorkdirLock(tmp_path) as lock:
      assert json.loads(path.read_text())["token"] == lock.token
  assert "took over the stale lock of pid" in caplog.text
  path.write_text(json.dumps({"pid": 1, "host": "elsewhere", "token": "x"}))
  with pytest.raises(lock_lib.WorkdirLockedError, match="another host"):
    lock_lib.WorkdirLock(tmp_path).acquire()
  assert json.loads(path.read_text())["host"] == "elsewhere"  # left alone



def test_a_lock_whose_pid_now_runs_another_process_is_stale(tmp_path):
  """The lock records when its holder started (/proc/<pid>/stat field 22, in the
  boot of /proc/sys/kernel/random/boot_id): a live pid that started at another
  time, or in another boot, is a reused pid and does not hold the lock."""
  try:
    with open("/proc/self/stat", encoding="ascii") as f:
      ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
      boot = f.read().strip()
  except OSError:
    pytest.skip("no /proc here: a live pid holds its lock")
  path = tmp_path / "lock"
  with lock_lib.WorkdirLock(tmp_path):
    assert json.loads(path.read_text())["start_ticks"] == ticks
  mine = {"pid": os.getpid(), "host": socket.gethostname(), "started": "earlier",
          "token": "old", "boot_id": boot, "start_ticks": ticks}
  for reused in ({"start_ticks": ticks + 1}, {"boot_id": "another boot"}):
    path.write_text(json.dumps({**mine, **reused}))
    with lock_lib.WorkdirLock(tmp_path) as lock:  # taken over
      assert json.loads(path.read_text())["token"] == lock.token
  no_start = {k: v for k, v in mine.items() if k not in ("boot_id", "start_ticks")}
  damaged = {**mine, "start_ticks": str(ticks + 1)}
  for held in (mine, no_start, damaged):  # the holder; an older lock file: pid only
    path.write_text(json.dumps(held))
    with pytest.raises(lock_lib.WorkdirLockedError, match=f"pid {os.getpid()} on host"):
      lock_lib.WorkdirLock(tmp_path).acquire()
    assert json.loads(path.read_text())["token"] == "old"

def test_run_releases_its_lock_on_errors(tmp_path, monkeypatch):
  def fail(*args, **kwargs):
    raise ValueError("bad data")

  monkeypatch.setattr(resume, "open_run", fail)
  with pytest.raises(ValueError, match="bad data"):
    train.train_and_evaluate(config_lib.Config(dataset="wnut16", epochs=1), tmp_path)
  assert not (tmp_path / "lock").exists()
  # While another process holds it, the run does not start.
  (tmp_path / "lock").write_text(json.dumps({"pid": 1, "host": socket.gethostname()}))
  with pytest.raises(lock_lib.WorkdirLockedError, match="pid 1 on host"):
    train.train_and_evaluate(config_lib.Config(dataset="wnut16", epochs=1), tmp_path)


def test_the_workdirs_lock_and_a_sweep_shards_exclude_each_other(tmp_path):
  shard = dict(name="lock.shard-0-of-2", what="shard 0 of 2 of a sweep")
  with lock_lib.WorkdirLock(tmp_path, **shard):
    # A run (or an unsharded sweep) is refused, naming the shard, and gives its lock back.
    with pytest.raises(lock_lib.WorkdirLockedError, match="shard 0 of 2 of a sweep is "
                       "running in this workdir: pid"):
      lock_lib.WorkdirLock(tmp_path).acquire()
    assert not (tmp_path / "lock").exists()
    with lock_lib.WorkdirLock(tmp_path, name="lock.shard-1-of-2"):
      pass  # the shards of one sweep share the workdir
  with lock_lib.WorkdirLock(tmp_path):
    with pytest.raises(lock_lib.WorkdirLockedError, match="another run is training"):
      lock_lib.WorkdirLock(tmp_path, **shard).acquire()
    assert not (tmp_path / shard["name"]).exists()
  assert not list(tmp_path.iterdir())
