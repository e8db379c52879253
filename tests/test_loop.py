"""Tests of wincls/train/loop.py: whole runs on a slice of WNUT-2016 (no files needed)."""

import dataclasses
import errno
import json
import logging
import struct

import jax
import numpy as np
import pytest

from wincls import cli
from wincls import config as config_lib
from wincls import train
from wincls.train import checkpoints
from wincls.train import divergence
from wincls.train import files
from wincls.train import loop
from wincls.train import prepare
from wincls.train import programs
from wincls.train import workdir as workdir_lib
from wincls.data import conll
from wincls.data import datasets

BASE = config_lib.Config(dataset="wnut16", train_fraction=0.1, epochs=2, hidden_size=8,
                         embed_dim=8, batch_size=64, learning_rate=0.01)


def _rows(workdir, seed=None):
  rows = workdir_lib.read_jsonl(workdir / workdir_lib.METRICS_FILE)
  rows = [r for r in rows if seed is None or r["seed"] == seed]
  return [{k: v for k, v in r.items() if k not in train.TIMING_KEYS} for r in rows]


def _results(results):
  return {k: v for k, v in results.items() if k != "wall_time"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  """Two seeds vmapped in one run, and the same seeds as separate runs."""
  root = tmp_path_factory.mktemp("runs")
  out = {}
  out["vmapped"] = (root / "vmapped",
                    train.train_and_evaluate(dataclasses.replace(BASE, num_seeds=2),
                                             root / "vmapped"))
  for seed in (0, 1):
    workdir = root / f"seed{seed}"
    out[seed] = (workdir, train.train_and_evaluate(dataclasses.replace(BASE, seed=seed),
                                                   workdir))
  return out


def test_run_writes_its_workdir(runs):
  workdir, results = runs["vmapped"]
  for name in ("config.json", "vocab.json", "labels.json", "metrics.jsonl",
               "results.json", "checkpoints/best", "checkpoints/latest",
               "predictions/dev.txt", "predictions/dev.seed0.txt",
               "predictions/dev.seed1.txt"):
    assert (workdir / name).is_file(), name
  rows = workdir_lib.read_jsonl(workdir / "metrics.jsonl")
  assert [(r["epoch"], r["seed"]) for r in rows] == [(1, 0), (1, 1), (2, 0), (2, 1)]
  for row in rows:
    for key in ("loss", "dev_f1", "dev_precision", "dev_recall", "windows_per_sec",
                "param_norm", "grad_norm"):
      assert np.isfinite(row[key]), key
  assert rows[2]["loss"] < rows[0]["loss"] and rows[3]["loss"] < rows[1]["loss"]
  assert [s["seed"] for s in results["seeds"]] == [0, 1]
  best = results["seeds"][results["best_seed_index"]]
  assert best["dev_f1"] == max(s["dev_f1"] for s in results["seeds"])
  for s in results["seeds"]:  # the final scores are those of the best epoch
    assert s["dev_f1"] == max(r["dev_f1"] for r in rows if r["seed"] == s["seed"])
  predicted = conll.read_conll(workdir / "predictions" / "dev.txt", tag_column=2)
  assert predicted.num_tokens == results["num_dev_windows"]
  assert json.loads((workdir / "config.json").read_text())["num_seeds"] == 2


def test_vmapped_seeds_equal_separate_runs(runs):
  vmapped_dir, vmapped = runs["vmapped"]
  for seed in (0, 1):
    single_dir, single = runs[seed]
    rows_v, rows_s = _rows(vmapped_dir, seed), _rows(single_dir, seed)
    assert len(rows_v) == len(rows_s) == 2
    for a, b in zip(rows_v, rows_s):
      assert a["epoch"] == b["epoch"]
      np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-4)
      np.testing.assert_allclose(a["param_norm"], b["param_norm"], rtol=1e-4)
      assert a["dev_f1"] == pytest.approx(b["dev_f1"], abs=2e-3)
    assert vmapped["seeds"][seed]["dev_f1"] == pytest.approx(
        single["seeds"][0]["dev_f1"], abs=2e-3)
  # Different seeds give different replicas.
  assert _rows(vmapped_dir, 0)[0]["loss"] != _rows(vmapped_dir, 1)[0]["loss"]


def test_same_seed_gives_identical_metrics(runs, tmp_path):
  workdir, results = runs[0]
  again = train.train_and_evaluate(dataclasses.replace(BASE, seed=0), tmp_path)
  assert _rows(tmp_path) == _rows(workdir)
  assert _results(again) == _results(results)


def test_finished_run_is_not_redone_and_config_mismatch_is_an_error(runs, monkeypatch):
  workdir, results = runs[0]
  before = (workdir / "metrics.jsonl").read_text()
  monkeypatch.setattr(prepare, "prepare_data", lambda *a, **k: pytest.fail("retrained"))
  assert train.train_and_evaluate(dataclasses.replace(BASE, seed=0), workdir) == results
  assert (workdir / "metrics.jsonl").read_text() == before
  with pytest.raises(workdir_lib.ConfigMismatchError, match="--learning_rate: stored 0.01"):
    train.train_and_evaluate(dataclasses.replace(BASE, learning_rate=0.1), workdir)


class _Killed(Exception):
  pass


def test_resume_after_kill_equals_uninterrupted_run(runs, tmp_path, monkeypatch):
  workdir, results = runs[0]
  save = workdir_lib.save_checkpoint

  def save_then_die(directory, name, tree):
    # Dies where epoch 2's metrics row is written but its checkpoint is not.
    if name == workdir_lib.LATEST and int(np.asarray(tree["epoch"])) == 2:
      raise _Killed
    save(directory, name, tree)

  monkeypatch.setattr(workdir_lib, "save_checkpoint", save_then_die)
  with pytest.raises(_Killed):
    train.train_and_evaluate(dataclasses.replace(BASE, seed=0), tmp_path)
  assert [r["epoch"] for r in _rows(tmp_path)] == [1, 2]
  assert not (tmp_path / "results.json").exists()
  monkeypatch.setattr(workdir_lib, "save_checkpoint", save)
  resumed = train.train_and_evaluate(dataclasses.replace(BASE, seed=0), tmp_path)
  assert _rows(tmp_path) == _rows(workdir)  # epoch 2 redone, not duplicated
  assert _results(resumed) == _results(results)
  # The rerun rebuilt the events from metrics.jsonl: one file, epoch 2 once.
  (events_file,) = (tmp_path / "tensorboard" / "seed_0").iterdir()
  steps = [e.step for e in _events(events_file) if e.summary.value]
  assert steps == [0, 1, 2]  # 0: config
  _assert_events_match_metrics(tmp_path, seeds=(0,))


def _strict_json(text):
  def refuse(constant):
    raise AssertionError(f"bare {constant} in JSON")
  return json.loads(text, parse_constant=refuse)


def _checkpoint(path):
  return checkpoints.decode_checkpoint(path, path.read_bytes())


def _all_finite(tree):
  return all(np.isfinite(x).all() for x in jax.tree.leaves(tree))


def test_a_diverging_seed_stops_and_the_others_go_on(runs, tmp_path, monkeypatch):
  vmapped_dir, vmapped = runs["vmapped"]
  epoch_args = programs.epoch_args

  def blow_up_seed_1_in_epoch_2(state, data, keys, epoch, bucket):
    if epoch == 2:  # a learning rate that overflows the parameters at once
      opt_state = state["opt_state"]
      hyperparams = dict(opt_state.hyperparams)
      hyperparams["learning_rate"] = hyperparams["learning_rate"].at[1].set(1e30)
      state = {**state, "opt_state": opt_state._replace(hyperparams=hyperparams)}
    return epoch_args(state, data, keys, epoch, bucket)

  monkeypatch.setattr(programs, "epoch_args", blow_up_seed_1_in_epoch_2)
  results = train.train_and_evaluate(dataclasses.replace(BASE, num_seeds=2), tmp_path)
  assert results["diverged_seeds"] == [1]
  seed0, seed1 = results["seeds"]
  assert seed0 == vmapped["seeds"][0]  # seed 0 went on as if alone
  assert (seed1["diverged"], seed1["diverged_epoch"], seed1["diverged_step"]) == (True, 2, 2)
  assert seed1["best_epoch"] == 1  # its last finite best, scored as in epoch 1
  assert seed1["dev_f1"] == _rows(vmapped_dir, 1)[0]["dev_f1"]
  assert _rows(tmp_path, 0) == _rows(vmapped_dir, 0)
  assert _rows(tmp_path, 1) == _rows(vmapped_dir, 1)[:1]  # no row once diverged
  for name in ("metrics.jsonl", "results.json"):
    text = (tmp_path / name).read_text()
    for line in text.splitlines() if name.endswith("l") else [text]:
      _strict_json(line)
  # Only finite parameters are saved; seed 1 stays at its state after epoch 1.
  latest = _checkpoint(tmp_path / "checkpoints" / "latest")
  previous = _checkpoint(tmp_path / "checkpoints" / "latest.prev")
  assert int(latest["epoch"]) == 2 and int(previous["epoch"]) == 1
  assert _all_finite(latest["state"]["params"])
  assert _all_finite(_checkpoint(tmp_path / "checkpoints" / "best")["params"])
  for now, before in zip(jax.tree.leaves(latest["state"]["params"]),
                         jax.tree.leaves(previous["state"]["params"])):
    np.testing.assert_array_equal(now[1], before[1])
  assert list(latest["diverged_epoch"]) == [0, 2]


def test_every_seed_diverging_ends_the_run(runs, tmp_path, monkeypatch):
  epoch_args = programs.epoch_args

  def blow_up(state, data, keys, epoch, bucket):
    opt_state = state["opt_state"]
    hyperparams = {**opt_state.hyperparams,
                   "learning_rate": opt_state.hyperparams["learning_rate"] * 1e30}
    state = {**state, "opt_state": opt_state._replace(hyperparams=hyperparams)}
    return epoch_args(state, data, keys, epoch, bucket)

  monkeypatch.setattr(programs, "epoch_args", blow_up)
  results = train.train_and_evaluate(dataclasses.replace(BASE, num_seeds=2), tmp_path)
  assert results["epochs_run"] == 1 and results["diverged_seeds"] == [0, 1]
  assert [s["best_epoch"] for s in results["seeds"]] == [0, 0]
  assert (tmp_path / "metrics.jsonl").read_text() == ""
  assert not (tmp_path / "checkpoints" / "best").exists()  # nothing finite improved
  latest = _checkpoint(tmp_path / "checkpoints" / "latest")
  assert _all_finite(latest["state"]["params"])  # the initial parameters
  message = divergence.all_diverged_message(results, str(tmp_path))
  assert message.startswith(f"{tmp_path}: every seed diverged (seed 0 in epoch 1 step")


def test_damaged_latest_falls_back_and_a_lost_best_is_said(runs, tmp_path, monkeypatch,
                                                           caplog):
  workdir, results = runs[0]
  config = dataclasses.replace(BASE, seed=0)
  finish = loop._finish

  def die(*args, **kwargs):
    raise _Killed

  monkeypatch.setattr(loop, "_finish", die)  # killed after epoch 2's checkpoints
  with pytest.raises(_Killed):
    train.train_and_evaluate(config, tmp_path)
  monkeypatch.setattr(loop, "_finish", finish)
  ckpt_dir = tmp_path / "checkpoints"
  data = bytearray((ckpt_dir / "latest").read_bytes())
  data[-3] ^= 0xFF
  (ckpt_dir / "latest").write_bytes(bytes(data))
  (ckpt_dir / ".latest.x1.tmp").write_bytes(b"half a write")
  with caplog.at_level(logging.INFO):
    resumed = train.train_and_evaluate(config, tmp_path)
  assert f"{ckpt_dir / 'latest'}: damaged checkpoint" in caplog.text
  assert "using the previous checkpoint" in caplog.text
  assert "Resuming" in caplog.text and "after epoch 1" in caplog.text
  assert _results(resumed) == _results(results)  # epoch 2 redone identically
  assert _rows(tmp_path) == _rows(workdir)
  assert sorted(p.name for p in ckpt_dir.iterdir()) == [
      "best", "latest", "latest.damaged", "latest.prev"]
  # A run whose best parameters are gone does not pair others with their scores.
  (tmp_path / "results.json").unlink()
  (ckpt_dir / "best").unlink()
  caplog.clear()
  with caplog.at_level(logging.WARNING):
    again = train.train_and_evaluate(config, tmp_path)
  assert f"{ckpt_dir / 'best'}: lost" in caplog.text
  assert again["seeds"][0]["best_epoch"] == 2
  assert again["seeds"][0]["dev_f1"] == _rows(tmp_path)[-1]["dev_f1"]


def test_disk_full_names_the_file_and_keeps_what_was_written(runs, tmp_path,
                                                             monkeypatch):
  workdir, results = runs[0]
  config = dataclasses.replace(BASE, seed=0)
  write = files._write
  latest = tmp_path / "checkpoints" / "latest"

  def full_in_epoch_2(f, data):
    if latest.exists() and data[:8] == checkpoints.CHECKPOINT_MAGIC[:8]:
      raise OSError(errno.ENOSPC, "No space left on device")
    write(f, data)

  monkeypatch.setattr(files, "_write", full_in_epoch_2)
  with pytest.raises(OSError) as e:
    train.train_and_evaluate(config, tmp_path)
  assert e.value.filename.startswith(str(tmp_path / "checkpoints"))
  assert cli.describe_os_error(e.value) == (f"{e.value.filename}: No space left on "
                                            "device (ENOSPC)")
  assert int(_checkpoint(latest)["epoch"]) == 1
  assert not list(tmp_path.glob("**/.*.tmp")) and not (tmp_path / "lock").exists()
  monkeypatch.setattr(files, "_write", write)
  assert _results(train.train_and_evaluate(config, tmp_path)) == _results(results)
  assert _rows(tmp_path) == _rows(workdir)
  # A finished run is answered without writing: a full disk does not touch it.
  before = (tmp_path / "results.json").read_bytes()

  def always_full(f, data):
    raise OSError(errno.ENOSPC, "No space left on device")

  monkeypatch.setattr(files, "_write", always_full)
  assert _results(train.train_and_evaluate(config, tmp_path)) == _results(results)
  assert (tmp_path / "results.json").read_bytes() == before


def test_patience_stops_a_run_that_does_not_improve(runs, tmp_path):
  # A learning rate too small to change the predictions: dev F1 stays flat.
  config = dataclasses.replace(BASE, learning_rate=1e-9, epochs=5, patience=2)
  results = train.train_and_evaluate(config, tmp_path)
  rows = _rows(tmp_path)
  assert [r["epoch"] for r in rows] == [1, 2, 3]
  assert len({r["dev_f1"] for r in rows}) == 1
  assert results["epochs_run"] == 3 and results["seeds"][0]["best_epoch"] == 1


def test_learning_rate_does_not_recompile(runs, tmp_path):
  misses = programs._train_epoch_fn.cache_info().misses
  num_compiled = len(programs._COMPILED)
  config = dataclasses.replace(BASE, learning_rate=0.003, epochs=1)
  train.train_and_evaluate(config, tmp_path)
  assert programs._train_epoch_fn.cache_info().misses == misses
  assert len(programs._COMPILED) == num_compiled
  rows = _rows(tmp_path)
  assert rows[0]["learning_rate"] == pytest.approx(0.003)


def _short_sentence_files(tmp_path):
  """WNUT-2016 sentences of at most 8 tokens as train/dev files (1 bucket)."""
  splits = datasets.load_splits("wnut16")
  paths = {}
  for split, count in (("train", 150), ("dev", 60)):
    sentences = [s for s in splits[split].sentences if len(s) <= 8][:count]
    path = tmp_path / f"{split}.txt"
    conll.write_conll(path, [s.words for s in sentences], None,
                      [s.tags for s in sentences])
    paths[split] = str(path)
  return paths


@pytest.mark.parametrize("overrides", [
    {"loss": "crf", "label_scheme": "iob2", "embedding_update": "sparse"},
    {"output": "score", "loss": "max_margin", "target_type": "person",
     "window": "average", "optimizer": "adagrad", "word_dropout": 0.2},
])
def test_one_epoch_smoke(overrides, tmp_path):
  paths = _short_sentence_files(tmp_path)
  config = dataclasses.replace(BASE, dataset="files", train_path=paths["train"],
                               dev_path=paths["dev"], epochs=1, batch_size=32,
                               train_fraction=1.0, **overrides)
  results = train.train_and_evaluate(config, tmp_path / "run")
  rows = _rows(tmp_path / "run")
  assert len(rows) == 1 and np.isfinite(rows[0]["loss"]) and rows[0]["loss"] > 0
  assert 0.0 <= results["seeds"][0]["dev_f1"] <= 1.0
  predicted = conll.read_conll(tmp_path / "run" / "predictions" / "dev.txt", tag_column=2)
  assert predicted.num_tokens == results["num_dev_windows"]


def _events(path):
  """The ``Event``s of an event file (TFRecord framing: uint64 length, uint32
  masked crc, the ``Event``, uint32 crc)."""
  from tensorboardX.proto import event_pb2  # pylint: disable=g-import-not-at-top
  data, offset = path.read_bytes(), 0
  while offset < len(data):
    (length,) = struct.unpack_from("<Q", data, offset)
    yield event_pb2.Event.FromString(data[offset + 12:offset + 12 + length])
    offset += 12 + length + 4


def _tensorboard_scalars(directory):
  """``{tag: {step: value}}`` of a directory's event files as TensorBoard shows them.

  A ``SessionLog.START`` at step k (``purge_step``) drops the points of steps >= k
  read before it, as TensorBoard does.
  """
  scalars = {}
  for path in sorted(directory.glob("events.out.tfevents.*")):
    for event in _events(path):
      if event.session_log.status == event.session_log.START:
        scalars = {tag: {s: v for s, v in points.items() if s < event.step}
                   for tag, points in scalars.items()}
      for value in event.summary.value:
        if value.HasField("simple_value"):
          scalars.setdefault(value.tag, {})[event.step] = value.simple_value
  return scalars


def _assert_events_match_metrics(workdir, seeds):
  rows = workdir_lib.read_jsonl(workdir / "metrics.jsonl")
  for seed in seeds:
    scalars = _tensorboard_scalars(workdir / "tensorboard" / f"seed_{seed}")
    mine = [r for r in rows if r["seed"] == seed]
    for key, tag in (("dev_f1", "dev/f1"), ("loss", "train/loss"),
                     ("dev_precision", "dev/precision"), ("grad_norm", "train/grad_norm"),
                     ("windows_per_sec", "time/windows_per_sec")):
      assert scalars[tag] == {r["epoch"]: pytest.approx(r[key], rel=1e-6) for r in mine}, (
          seed, tag)


def test_tensorboard_events_per_seed_and_epoch_equal_metrics(runs):
  workdir, _ = runs["vmapped"]
  assert sorted(p.name for p in (workdir / "tensorboard").iterdir()) == ["seed_0", "seed_1"]
  _assert_events_match_metrics(workdir, seeds=(0, 1))
  texts = [v.tensor.string_val[0].decode() for e in _events(next(
      (workdir / "tensorboard" / "seed_1").iterdir())) for v in e.summary.value
           if v.tag.startswith("config")]
  assert len(texts) == 1 and '"num_seeds": 2' in texts[0]
