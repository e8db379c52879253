"""Tests of wincls/train.py on tiny models and a slice of WNUT-2016 (no files needed)."""

import dataclasses
import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from wincls.train import workdir as checkpoint
from wincls import config as config_lib
from wincls import models
from wincls import train
from wincls.data import conll
from wincls.data import datasets

BASE = config_lib.Config(dataset="wnut16", train_fraction=0.1, epochs=2, hidden_size=8,
                         embed_dim=8, batch_size=64, learning_rate=0.01)


def _rows(workdir, seed=None):
  rows = checkpoint.read_jsonl(workdir / checkpoint.METRICS_FILE)
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
  rows = checkpoint.read_jsonl(workdir / "metrics.jsonl")
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
  monkeypatch.setattr(train.loop, "prepare_data", lambda *a, **k: pytest.fail("retrained"))
  assert train.train_and_evaluate(dataclasses.replace(BASE, seed=0), workdir) == results
  assert (workdir / "metrics.jsonl").read_text() == before
  with pytest.raises(checkpoint.ConfigMismatchError, match="--learning_rate: stored 0.01"):
    train.train_and_evaluate(dataclasses.replace(BASE, learning_rate=0.1), workdir)


class _Killed(Exception):
  pass


def test_resume_after_kill_equals_uninterrupted_run(runs, tmp_path, monkeypatch):
  workdir, results = runs[0]
  save = checkpoint.save_checkpoint

  def save_then_die(directory, name, tree):
    # Dies where epoch 2's metrics row is written but its checkpoint is not.
    if name == checkpoint.LATEST and int(np.asarray(tree["epoch"])) == 2:
      raise _Killed
    save(directory, name, tree)

  monkeypatch.setattr(checkpoint, "save_checkpoint", save_then_die)
  with pytest.raises(_Killed):
    train.train_and_evaluate(dataclasses.replace(BASE, seed=0), tmp_path)
  assert [r["epoch"] for r in _rows(tmp_path)] == [1, 2]
  assert not (tmp_path / "results.json").exists()
  monkeypatch.setattr(checkpoint, "save_checkpoint", save)
  resumed = train.train_and_evaluate(dataclasses.replace(BASE, seed=0), tmp_path)
  assert _rows(tmp_path) == _rows(workdir)  # epoch 2 redone, not duplicated
  assert _results(resumed) == _results(results)


def test_patience_stops_a_run_that_does_not_improve(runs, tmp_path):
  # A learning rate too small to change the predictions: dev F1 stays flat.
  config = dataclasses.replace(BASE, learning_rate=1e-9, epochs=5, patience=2)
  results = train.train_and_evaluate(config, tmp_path)
  rows = _rows(tmp_path)
  assert [r["epoch"] for r in rows] == [1, 2, 3]
  assert len({r["dev_f1"] for r in rows}) == 1
  assert results["epochs_run"] == 3 and results["seeds"][0]["best_epoch"] == 1


def test_learning_rate_does_not_recompile(runs, tmp_path):
  misses = train._train_epoch_fn.cache_info().misses
  num_compiled = len(train._COMPILED)
  config = dataclasses.replace(BASE, learning_rate=0.003, epochs=1)
  train.train_and_evaluate(config, tmp_path)
  assert train._train_epoch_fn.cache_info().misses == misses
  assert len(train._COMPILED) == num_compiled
  rows = _rows(tmp_path)
  assert rows[0]["learning_rate"] == pytest.approx(0.003)


def _tiny_batch(model_config, batch_size=6):
  rng = np.random.default_rng(0)
  window_len = model_config.window_len
  return {
      "window_ids": jnp.asarray(rng.integers(0, model_config.vocab_size,
                                             (batch_size, window_len)), jnp.int32),
      "feature_ids": jnp.asarray(rng.integers(0, 3, (batch_size, window_len, 1)),
                                 jnp.int32),
      "labels": jnp.asarray(rng.integers(0, model_config.num_classes, batch_size),
                            jnp.int32),
      "weights": jnp.ones(batch_size),
  }


def test_train_step_updates_every_trainable_leaf_and_no_frozen_one():
  model_config = config_lib.ModelConfig(vocab_size=12, feature_sizes=(3,), num_classes=3,
                                        embed_dim=4, feature_dim=2, hidden_size=5,
                                        window_size=1, freeze_vectors=True)
  params = models.init_params(jax.random.key(0), config=model_config)
  batch = _tiny_batch(model_config)
  batch["window_ids"] = batch["window_ids"].at[0].set(jnp.arange(3))  # touch row 0
  optimizers = ("sgd", "adam", "adagrad")

  @jax.jit
  def steps(params, batch, key):
    out = {}
    for optimizer in optimizers:
      tx = train.make_optimizer(optimizer=optimizer, schedule="linear", total_steps=4,
                                trainable=models.trainable_mask(params, model_config),
                                learning_rate=0.1, weight_decay=0.01, grad_clip=0.5)
      state = {"params": params, "opt_state": tx.init(params)}
      out[optimizer] = train.train_step(
          state, batch, key, tx=tx, config=model_config, loss="cross_entropy",
          grad="autodiff", margin=1.0, num_corruptions=1)
    return out

  for optimizer, (new_state, metrics) in steps(params, batch, jax.random.key(1)).items():
    assert metrics["weight_sum"] == 6 and np.isfinite(metrics["loss_sum"])
    np.testing.assert_array_equal(new_state["params"]["embed"]["words"],
                                  params["embed"]["words"])
    changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), new_state["params"],
                           params)
    changed["embed"]["words"] = True
    assert all(jax.tree.leaves(changed)), (optimizer, changed)


def test_hand_and_autodiff_train_steps_agree():
  model_config = config_lib.ModelConfig(vocab_size=12, feature_sizes=(3,), num_classes=3,
                                        embed_dim=4, feature_dim=2, hidden_size=5,
                                        window_size=1)
  params = models.init_params(jax.random.key(0), config=model_config)
  batch = _tiny_batch(model_config)
  batch["weights"] = batch["weights"].at[-2:].set(0.0)  # padding rows
  tx = optax.sgd(0.5)
  state = {"params": params, "opt_state": tx.init(params)}
  out = {}
  for grad in ("hand", "autodiff"):
    step = jax.jit(functools.partial(train.train_step, tx=tx, config=model_config,
                                     loss="max_margin", grad=grad, margin=1.0,
                                     num_corruptions=1))
    out[grad] = step(state, batch, jax.random.key(1))
  for a, b in zip(jax.tree.leaves(out["hand"]), jax.tree.leaves(out["autodiff"])):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  assert out["hand"][1]["weight_sum"] == 4


def test_sparse_embedding_update_equals_dense():
  # AdaGrad's sparse rows are exact (wincls/sparse.py), clipping included.
  optimizer = "adagrad"
  model_config = config_lib.ModelConfig(vocab_size=12, feature_sizes=(3,), num_classes=3,
                                        embed_dim=4, feature_dim=2, hidden_size=5,
                                        window_size=1)
  keys = train.seed_keys(0, 1)
  batches = [_tiny_batch(model_config) for _ in range(2)]
  for i, batch in enumerate(batches):
    batch["window_ids"] = (batch["window_ids"] + i) % model_config.vocab_size

  @jax.jit
  def run_both(keys, batches):
    out = {}
    for update in ("dense", "sparse"):
      static = train._Static(
          model_config=model_config, loss="cross_entropy", grad="autodiff", margin=1.0,
          num_corruptions=1, optimizer=optimizer, schedule="linear", total_steps=4,
          embedding_update=update)
      state = train._init_fn(static)(keys, None, 0.3, 0.0, 0.2)  # clip 0.2 binds
      step = jax.vmap(functools.partial(
          train.train_step, tx=train._optimizer_for(static), config=model_config,
          loss="cross_entropy", grad="autodiff", margin=1.0, num_corruptions=1,
          embedding_update=update, optimizer=optimizer,
          schedule=train.schedule_factor("linear", 4)), in_axes=(0, None, 0))
      for i, batch in enumerate(batches):
        state, metrics = step(state, batch, jax.vmap(jax.random.fold_in,
                                                     in_axes=(0, None))(keys, i))
      out[update] = (state["params"], metrics)
    return out

  out = run_both(keys, batches)
  assert out["dense"][1]["grad_norm"][0] > 0.2
  for a, b in zip(jax.tree.leaves(out["dense"]), jax.tree.leaves(out["sparse"])):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_word_dropout_ids():
  ids = jnp.tile(jnp.arange(10, dtype=jnp.int32), (2000, 1))
  dropped = train.word_dropout_ids(jax.random.key(0), ids, 0.25)
  np.testing.assert_array_equal(dropped[:, :4], ids[:, :4])  # reserved ids kept
  changed = np.asarray(dropped[:, 4:] != ids[:, 4:])
  assert (np.asarray(dropped[:, 4:])[changed] == 1).all()  # to <unk>
  assert abs(changed.mean() - 0.25) < 0.01


def test_schedules():
  cosine = train.schedule_factor("cosine", 10)
  linear = train.schedule_factor("linear", 10)
  np.testing.assert_allclose([cosine(0), cosine(5), cosine(10)], [1.0, 0.5, 0.0], atol=1e-6)
  np.testing.assert_allclose([linear(0), linear(5), linear(10)], [1.0, 0.5, 0.0], atol=1e-6)
  assert train.schedule_factor("constant", 0)(7) == 1.0


def test_sentence_buckets_cover_every_token_once():
  lengths = np.array([3, 9, 1, 20, 8, 13], np.int32)
  n = int(lengths.sum())
  data = train.windows_lib.WindowedCorpus(
      window_ids=np.arange(n * 3, dtype=np.int32).reshape(n, 3),
      feature_ids=np.zeros((n, 3, 0), np.int32),
      labels=np.arange(n, dtype=np.int32), lengths=lengths)
  buckets = train.sentence_buckets(data, batch_size=64)
  assert [b.length for b in buckets] == [8, 12, 18, 27]
  seen = []
  for b in buckets:
    mask = b.arrays["mask"].astype(bool)
    assert b.arrays["window_ids"].shape == (len(b.sentences), b.length, 3)
    assert (lengths[b.sentences] <= b.length).all()
    assert b.batch_size == 64 // b.length
    seen.extend(b.arrays["labels"][mask].tolist())
  assert sorted(seen) == list(range(n))


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
