"""TensorBoard's events are derived from ``metrics.jsonl`` (wincls/train/events.py).

After a kill anywhere and a rerun, every scalar TensorBoard shows equals the
number ``metrics.jsonl`` holds, each (tag, step) once. The event files are
read here as TensorBoard reads them: the files of a directory in name order,
a truncated last record ignored, a ``SessionLog.START`` at step k dropping the
points of steps >= k read before it (``purge_step``).
"""

import collections
import dataclasses
import json
import os
import signal
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from wincls import config as config_lib
from wincls import train
from wincls.train import events
from wincls.train import workdir as workdir_lib

REPO = Path(__file__).resolve().parents[1]
# tests/test_loop.py's runs (their programs are compiled once in a process).
CONFIG = config_lib.Config(dataset="wnut16", train_fraction=0.1, epochs=2, hidden_size=8,
                           embed_dim=8, batch_size=64, learning_rate=0.01, num_seeds=2)


def _events(path):
  """The ``Event``s of an event file (TFRecord framing: uint64 length, uint32
  masked crc, the ``Event``, uint32 crc); a record cut short ends the file."""
  from tensorboardX.proto import event_pb2  # pylint: disable=g-import-not-at-top
  data, offset = path.read_bytes(), 0
  while offset + 12 <= len(data):
    (length,) = struct.unpack_from("<Q", data, offset)
    if offset + 12 + length + 4 > len(data):
      return
    yield event_pb2.Event.FromString(data[offset + 12:offset + 12 + length])
    offset += 12 + length + 4


def _points(directory):
  """``[(tag, step, value)]`` of a directory as TensorBoard shows them, repeats kept."""
  points = []
  for path in sorted(directory.glob("*tfevents*")):
    for event in _events(path):
      if event.session_log.status == event.session_log.START:
        points = [p for p in points if p[1] < event.step]
      points += [(v.tag, event.step, v.simple_value) for v in event.summary.value
                 if v.HasField("simple_value")]
  return points


def _assert_events_equal_metrics(workdir):
  """Each seed's scalars are its ``metrics.jsonl`` numbers, each (tag, step) once."""
  rows = workdir_lib.read_jsonl(workdir / workdir_lib.METRICS_FILE)
  wanted = collections.defaultdict(dict)
  for row in rows:
    for tag, value in events.scalars(row).items():
      wanted[row["seed"]][(tag, row["epoch"])] = float(np.float32(value))
  shown = {int(d.name[len("seed_"):]): _points(d)
           for d in (workdir / events.EVENTS_DIR).glob("seed_*")}
  for seed in set(wanted) | set(shown):
    points = shown.get(seed, [])
    twice = [k for k, n in collections.Counter(p[:2] for p in points).items() if n > 1]
    assert not twice, (seed, sorted(twice))
    assert {p[:2]: p[2] for p in points} == wanted[seed], seed
  for seed in wanted:  # the numbers a chart draws are there
    assert {"dev/f1", "dev/best_f1", "train/loss", "time/windows_per_sec"} <= {
        tag for tag, _ in wanted[seed]}


def _event_files(workdir):
  return {p: p.read_bytes() for p in (workdir / events.EVENTS_DIR).glob("*/*")}


class _Killed(Exception):
  pass


def test_a_kill_in_epoch_1s_checkpoint_write_shows_each_point_once(tmp_path,
                                                                   monkeypatch):
  save = workdir_lib.save_checkpoint

  def die_in_epoch_1(directory, name, tree):
    # Epoch 1's rows and events are written, its checkpoint is not.
    if name == workdir_lib.LATEST and int(np.asarray(tree["epoch"])) == 1:
      _assert_events_equal_metrics(directory)  # on disk, the writer still open
      raise _Killed
    save(directory, name, tree)

  monkeypatch.setattr(workdir_lib, "save_checkpoint", die_in_epoch_1)
  with pytest.raises(_Killed):
    train.train_and_evaluate(CONFIG, tmp_path)
  monkeypatch.setattr(workdir_lib, "save_checkpoint", save)
  train.train_and_evaluate(CONFIG, tmp_path)
  assert sorted({r["epoch"] for r in workdir_lib.read_jsonl(
      tmp_path / workdir_lib.METRICS_FILE)}) == [1, 2]
  _assert_events_equal_metrics(tmp_path)
  # A finished run's rerun answers with its results and writes no event.
  before = _event_files(tmp_path)
  train.train_and_evaluate(CONFIG, tmp_path)
  assert _event_files(tmp_path) == before


# Trains CONFIG in argv[1] and dies by SIGKILL once epoch 1 is saved (its line
# would print next): nothing of the process runs after, no flush, no close.
_KILLED_AFTER_EPOCH_1 = """
import json, os, signal, sys
from wincls import config as config_lib, train
from wincls.train import loop

save_epoch = loop._save_epoch

def save_then_die(run, progress, epoch, *args):
  save_epoch(run, progress, epoch, *args)
  if epoch == 1:
    os.kill(os.getpid(), signal.SIGKILL)

loop._save_epoch = save_then_die
config = config_lib.Config.from_dict(json.loads(sys.argv[2]))
train.train_and_evaluate(config, sys.argv[1])
"""


def test_a_kill_9_after_an_epoch_loses_no_point(tmp_path):
  env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO)}
  killed = subprocess.run([sys.executable, "-c", _KILLED_AFTER_EPOCH_1, str(tmp_path),
                           CONFIG.to_json()], env=env, capture_output=True, text=True,
                          timeout=120)
  assert killed.returncode == -signal.SIGKILL, killed.stderr
  rows = workdir_lib.read_jsonl(tmp_path / workdir_lib.METRICS_FILE)
  assert [r["epoch"] for r in rows] == [1, 1]
  _assert_events_equal_metrics(tmp_path)  # what the killed process wrote
  train.train_and_evaluate(CONFIG, tmp_path)  # resumes after epoch 1
  _assert_events_equal_metrics(tmp_path)
  assert json.loads((tmp_path / "results.json").read_text())["epochs_run"] == 2


def test_events_are_rebuilt_from_metrics_when_a_run_opens(tmp_path):
  """Whatever the event directory holds (a killed process's points of a later
  epoch, a stray file), opening the run writes metrics.jsonl's rows again."""
  config = dataclasses.replace(CONFIG, epochs=1)
  train.train_and_evaluate(config, tmp_path)
  (tmp_path / "results.json").unlink()
  stray = tmp_path / events.EVENTS_DIR / "seed_0" / "events.out.tfevents.1.stray"
  (seed_1_file,) = (tmp_path / events.EVENTS_DIR / "seed_1").glob("*tfevents*")
  stray.write_bytes(seed_1_file.read_bytes())  # seed 1's points, shown as seed 0's
  train.train_and_evaluate(config, tmp_path)  # finishes again from checkpoints/latest
  _assert_events_equal_metrics(tmp_path)
