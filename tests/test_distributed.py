"""Tests of wincls/train/distributed.py: data-parallel training over devices and processes.

Each test body runs in subprocesses, where the device count can be set:
``XLA_FLAGS=--xla_force_host_platform_device_count=4`` makes 4 CPU devices, and
two processes with one CPU device each join by ``jax.distributed.initialize``
on 127.0.0.1 (gloo collectives); the three run side by side (module fixture).
Sharded training must compute what single-device training computes (to float
tolerance), with the batch really split; the two processes, killed after an
epoch and resumed, must hold the same parameters, and only process 0 may
write. The split-and-collect sweep is tested in tests/test_sweep.py
(``test_three_shards_collected_equal_the_unsplit_sweep``).
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from wincls.train import workdir as checkpoint

pytestmark = pytest.mark.heavy  # started first (tests/conftest.py)

REPO = Path(__file__).resolve().parents[1]

DRIVER = r'''
import dataclasses, json, sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from wincls import train
from wincls.train import distributed
from wincls.train import programs
from wincls.train import step
from wincls.train import workdir as checkpoint
from wincls import config as config_lib

mode, out = sys.argv[1], Path(sys.argv[2])
# SGD: Adam's m/sqrt(v) turns the rounding differences of near-zero gradients
# into differences of up to a step (the synthetic test runs Adam).
CONFIG = config_lib.Config(dataset="wnut16", train_fraction=0.1, epochs=2, hidden_size=8,
                           embed_dim=8, batch_size=64, optimizer="sgd",
                           learning_rate=0.1, num_seeds=2)
captured = {}
to_host = distributed.to_host


def capturing_to_host(tree):
  """Records the final train state as this process holds it (its replica)."""
  host = to_host(tree)
  if isinstance(tree, dict) and "state" in tree:
    captured["params"] = host["state"]["params"]
  return host


distributed.to_host = capturing_to_host


def save_params(name):
  leaves = jax.tree_util.tree_flatten_with_path(captured["params"])[0]
  np.savez(out / name, **{jax.tree_util.keystr(p): x for p, x in leaves})


def metrics(workdir):
  return [{k: v for k, v in r.items() if k not in train.TIMING_KEYS}
          for r in checkpoint.read_jsonl(Path(workdir) / checkpoint.METRICS_FILE)]


def spec_of(sharding):
  return str(getattr(sharding, "spec", type(sharding).__name__))


def synthetic(report):
  """One compiled epoch program per layout on random data: final states."""
  model_config = config_lib.ModelConfig(features=(), vocab_size=16, feature_sizes=(3,), num_classes=3,
                                        embed_dim=4, feature_dim=2, hidden_size=6,
                                        window_size=1)
  rng = np.random.default_rng(0)
  n = 50  # not a multiple of the batch: the last batch is padded
  data = {"window_ids": rng.integers(0, 16, (n, 3)).astype(np.int32),
          "feature_ids": rng.integers(0, 3, (n, 3, 1)).astype(np.int32),
          "labels": rng.integers(0, 3, n).astype(np.int32)}
  keys = programs.seed_keys(0, 2)
  specs = []
  train_step = step.train_step

  def inspecting_step(state, batch, rng, **kwargs):
    jax.debug.inspect_array_sharding(batch["window_ids"],
                                     callback=lambda s: specs.append(spec_of(s)))
    return train_step(state, batch, rng, **kwargs)

  step.train_step = inspecting_step
  four_words = distributed.make_layout(4, shard_word_table=True)
  states = {}
  for name, layout in (("one", None), ("four_words", four_words)):
    static = programs.Static(model_config=model_config, loss="cross_entropy",
                         grad="autodiff", margin=1.0, num_corruptions=1,
                         optimizer="adam", schedule="constant", total_steps=0,
                         word_dropout=0.0, embedding_update="dense", layout=layout)
    if layout is None:
      state = programs._init_fn(static)(keys, None, 0.05, 0.0, float("inf"))
      initial = distributed.to_host(state)  # the epochs donate ``state``
      arrays = data
    else:  # placed as a resumed run places its checkpoint
      state = distributed.put(initial, distributed.state_shardings(
          initial, layout, vocab_size=model_config.vocab_size))
      arrays = distributed.put_replicated(data, layout)
    specs.clear()
    for epoch in (1, 2):
      state, sums = programs._train_epoch_fn(static, 8)(
          state, arrays, keys, jnp.int32(epoch), jnp.int32(0))
    adam = state["opt_state"].inner_state[1]
    report[name] = {"batch_specs": sorted(set(specs)),
                    "loss_sum": np.asarray(sums["loss_sum"]).tolist(),
                    "words_spec": spec_of(state["params"]["embed"]["words"].sharding),
                    "adam_words_spec": spec_of(adam.mu["embed"]["words"].sharding),
                    "hidden_spec": spec_of(state["params"]["hidden"]["W"].sharding)}
    states[name] = state
  step.train_step = train_step
  diffs = jax.tree.map(lambda a, b: float(np.max(np.abs(np.where(
      np.asarray(a) == np.asarray(b), 0, np.asarray(a) - np.asarray(b))), initial=0)),
      states["four_words"], states["one"])  # (a == b: the infinite clip norm)
  report["four_words"]["max_diff"] = max(jax.tree.leaves(diffs))
  # The sparse update's row state (shapes only: nothing compiled).
  static = programs.Static(model_config=model_config, loss="cross_entropy",
                       grad="autodiff", margin=1.0, num_corruptions=1,
                       optimizer="adam", schedule="constant", total_steps=0,
                       word_dropout=0.0, embedding_update="sparse", layout=four_words)
  shapes = jax.eval_shape(programs._init_fn(static), keys, None, 0.05, 0.0, 1.0)
  rows = distributed.state_shardings(shapes, four_words, vocab_size=16)["rows"]
  report["sparse_rows_specs"] = [spec_of(rows.count), spec_of(rows.mu), spec_of(rows.nu)]
  four = distributed.make_layout(4)
  try:
    train.train_and_evaluate(dataclasses.replace(CONFIG, batch_size=66), out / "bad",
                             layout=four)
  except ValueError as e:
    report["batch_error"] = str(e)
  try:
    distributed.make_layout(5)
  except ValueError as e:
    report["devices_error"] = str(e)


class Killed(Exception):
  pass


if mode == "devices":
  report = {"device_count": jax.device_count()}
  synthetic(report)
  train.train_and_evaluate(CONFIG, out / "one")
  save_params("params.one.npz")
  report["metrics_one"] = metrics(out / "one")
else:
  process_id, port = int(sys.argv[3]), int(sys.argv[4])
  layout = distributed.setup(coordinator_address=f"127.0.0.1:{port}", num_processes=2,
                             process_id=process_id)
  report = {"process_index": jax.process_index(), "device_count": jax.device_count(),
            "local_device_count": jax.local_device_count(),
            "mesh_size": layout.num_devices}
  workdir = out / f"p{process_id}"

  def die_at_epoch_2(tree):
    """Both processes stop where epoch 2's latest checkpoint is to be saved."""
    if isinstance(tree, dict) and "state" in tree and int(tree["epoch"]) == 2:
      raise Killed
    return capturing_to_host(tree)

  distributed.to_host = die_at_epoch_2
  try:
    train.train_and_evaluate(CONFIG, workdir, layout=layout)
  except Killed:
    report["killed"] = True
  distributed.to_host = capturing_to_host
  results = train.train_and_evaluate(CONFIG, workdir, layout=layout)
  save_params(f"params.p{process_id}.npz")
  report["results"] = {k: v for k, v in results.items() if k != "wall_time"}
  if process_id == 0:
    report["metrics"] = metrics(workdir)
(out / f"report.{mode}{sys.argv[3] if mode == 'process' else ''}.json").write_text(
    json.dumps(report))
'''


def _env(num_devices=None):
  env = dict(os.environ)
  env["JAX_PLATFORMS"] = "cpu"
  # The suite's own XLA flags (tests/conftest.py) stay; the device count is ours.
  flags = [f for f in env.get("XLA_FLAGS", "").split()
           if not f.startswith("--xla_force_host_platform_device_count")]
  if num_devices is not None:
    flags.append(f"--xla_force_host_platform_device_count={num_devices}")
  env["XLA_FLAGS"] = " ".join(flags)
  return env


def _free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
  """The 4-device driver and the two processes, run side by side."""
  out = tmp_path_factory.mktemp("distributed")
  driver = out / "driver.py"
  driver.write_text(DRIVER)
  port = str(_free_port())
  commands = {"devices": ([sys.executable, str(driver), "devices", str(out)], _env(4))}
  for i in (0, 1):
    commands[f"process{i}"] = ([sys.executable, str(driver), "process", str(out), str(i),
                                port], _env())
  processes = {name: subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True)
               for name, (command, env) in commands.items()}
  for name, process in processes.items():
    try:
      _, err = process.communicate(timeout=240)
    except subprocess.TimeoutExpired:
      for p in processes.values():
        p.kill()
      pytest.fail(f"{name} did not finish within 240 s")
    assert process.returncode == 0, (name, err[-4000:])
  return out, {name: json.loads((out / f"report.{name}.json").read_text())
               for name in processes}


def _loaded(path):
  with np.load(path) as f:
    return dict(f)


def _assert_metrics_close(rows, reference):
  assert [(r["epoch"], r["seed"]) for r in rows] == [(r["epoch"], r["seed"])
                                                     for r in reference]
  for a, b in zip(rows, reference):
    np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-5)
    np.testing.assert_allclose(a["param_norm"], b["param_norm"], rtol=1e-5)
    assert a["dev_f1"] == pytest.approx(b["dev_f1"], abs=1e-3)


def test_sharded_epochs_equal_single_device_with_the_batch_split(reports):
  _, report = reports
  devices = report["devices"]
  assert devices["device_count"] == 4
  split = "P(None, 'data')"  # [seeds, batch] or [seeds, V, E]: split over 4 devices
  sharded, one = devices["four_words"], devices["one"]
  assert sharded["batch_specs"] == [split]
  assert split not in one["batch_specs"]  # one device: not split
  assert sharded["max_diff"] < 1e-5, sharded["max_diff"]
  np.testing.assert_allclose(sharded["loss_sum"], one["loss_sum"], rtol=1e-5)
  # The word table and its optimizer state are split on the rows; the rest is
  # replicated.
  assert sharded["words_spec"] == sharded["adam_words_spec"] == split
  assert sharded["hidden_spec"] == "P()"
  assert devices["sparse_rows_specs"] == ["P()", split, split]
  assert "--batch_size=66 is not divisible by the 4 devices" in devices["batch_error"]
  assert "--num_devices=5: only 4 device(s)" in devices["devices_error"]


def test_two_processes_train_together_resume_and_only_process_0_writes(reports):
  out, report = reports
  first, second = report["process0"], report["process1"]
  assert first["killed"] and second["killed"]
  assert (first["process_index"], second["process_index"]) == (0, 1)
  for r in (first, second):
    assert (r["device_count"], r["local_device_count"], r["mesh_size"]) == (2, 1, 2)
  assert first["results"] == second["results"]
  p0, p1 = _loaded(out / "params.p0.npz"), _loaded(out / "params.p1.npz")
  one = _loaded(out / "params.one.npz")
  assert p0.keys() == p1.keys() == one.keys()
  for key in p0:
    np.testing.assert_array_equal(p0[key], p1[key], err_msg=key)  # one replica
    np.testing.assert_allclose(p0[key], one[key], atol=1e-5, err_msg=key)
  # Killed after epoch 2's metrics rows, resumed: epoch 2 redone, not duplicated.
  _assert_metrics_close(first["metrics"], report["devices"]["metrics_one"])
  for name in ("config.json", "metrics.jsonl", "results.json", "checkpoints/best",
               "checkpoints/latest", "predictions/dev.txt"):
    assert (out / "p0" / name).is_file(), name
  assert not (out / "p1").exists()  # process 1 wrote nothing
  stored = checkpoint.read_json(out / "p0" / "results.json")
  assert {k: v for k, v in stored.items() if k != "wall_time"} == first["results"]


def test_device_flags_are_checked(tmp_path):
  cases = {
      "--process_id=2 must be in [0, --num_processes=2)": ["--num_processes=2",
                                                           "--process_id=2"],
      "--num_devices=3: only 1 device(s)": ["--num_devices=3"],
  }
  processes = {message: subprocess.Popen(
      [sys.executable, str(REPO / "experiments" / "train.py"),
       f"--workdir={tmp_path / str(i)}", *args], cwd=REPO, env=_env(),
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
      for i, (message, args) in enumerate(cases.items())}
  for message, process in processes.items():
    _, err = process.communicate(timeout=120)
    lines = err.strip().splitlines()
    assert process.returncode == 2, (message, err)
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err
