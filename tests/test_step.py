"""Tests of wincls/train/step.py: one train step, dense vs sparse, word dropout."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from wincls import config as config_lib
from wincls.model import network
from wincls.train import optim
from wincls.train import programs
from wincls.train import step


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
  model_config = config_lib.ModelConfig(features=(), vocab_size=12, feature_sizes=(3,), num_classes=3,
                                        embed_dim=4, feature_dim=2, hidden_size=5,
                                        window_size=1, freeze_vectors=True)
  params = network.init_params(jax.random.key(0), config=model_config)
  batch = _tiny_batch(model_config)
  batch["window_ids"] = batch["window_ids"].at[0].set(jnp.arange(3))  # touch row 0
  optimizers = ("sgd", "adam", "adagrad")

  @jax.jit
  def steps(params, batch, key):
    out = {}
    for optimizer in optimizers:
      tx = optim.make_optimizer(optimizer=optimizer, schedule="linear", total_steps=4,
                                trainable=network.trainable_mask(params, model_config),
                                learning_rate=0.1, weight_decay=0.01, grad_clip=0.5)
      state = {"params": params, "opt_state": tx.init(params)}
      out[optimizer] = step.train_step(
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
  model_config = config_lib.ModelConfig(features=(), vocab_size=12, feature_sizes=(3,), num_classes=3,
                                        embed_dim=4, feature_dim=2, hidden_size=5,
                                        window_size=1)
  params = network.init_params(jax.random.key(0), config=model_config)
  batch = _tiny_batch(model_config)
  batch["weights"] = batch["weights"].at[-2:].set(0.0)  # padding rows
  tx = optax.sgd(0.5)
  state = {"params": params, "opt_state": tx.init(params)}
  out = {}
  for grad in ("hand", "autodiff"):
    step_fn = jax.jit(functools.partial(step.train_step, tx=tx, config=model_config,
                                        loss="max_margin", grad=grad, margin=1.0,
                                        num_corruptions=1))
    out[grad] = step_fn(state, batch, jax.random.key(1))
  for a, b in zip(jax.tree.leaves(out["hand"]), jax.tree.leaves(out["autodiff"])):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  assert out["hand"][1]["weight_sum"] == 4


def test_sparse_embedding_update_equals_dense():
  # AdaGrad's sparse rows are exact (wincls/train/sparse.py), clipping included.
  optimizer = "adagrad"
  model_config = config_lib.ModelConfig(features=(), vocab_size=12, feature_sizes=(3,), num_classes=3,
                                        embed_dim=4, feature_dim=2, hidden_size=5,
                                        window_size=1)
  keys = programs.seed_keys(0, 1)
  batches = [_tiny_batch(model_config) for _ in range(2)]
  for i, batch in enumerate(batches):
    batch["window_ids"] = (batch["window_ids"] + i) % model_config.vocab_size

  @jax.jit
  def run_both(keys, batches):
    out = {}
    for update in ("dense", "sparse"):
      static = programs.Static(
          model_config=model_config, loss="cross_entropy", grad="autodiff", margin=1.0,
          num_corruptions=1, optimizer=optimizer, schedule="linear", total_steps=4,
          word_dropout=0.0, embedding_update=update)
      state = programs._init_fn(static)(keys, None, 0.3, 0.0, 0.2)  # clip 0.2 binds
      step_fn = jax.vmap(functools.partial(
          step.train_step, tx=programs._optimizer_for(static), config=model_config,
          loss="cross_entropy", grad="autodiff", margin=1.0, num_corruptions=1,
          embedding_update=update, optimizer=optimizer,
          schedule=optim.schedule_factor("linear", 4)), in_axes=(0, None, 0))
      for i, batch in enumerate(batches):
        state, metrics = step_fn(state, batch, jax.vmap(jax.random.fold_in,
                                                        in_axes=(0, None))(keys, i))
      out[update] = (state["params"], metrics)
    return out

  out = run_both(keys, batches)
  assert out["dense"][1]["grad_norm"][0] > 0.2
  for a, b in zip(jax.tree.leaves(out["dense"]), jax.tree.leaves(out["sparse"])):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_word_dropout_ids():
  ids = jnp.tile(jnp.arange(10, dtype=jnp.int32), (2000, 1))
  dropped = step.word_dropout_ids(jax.random.key(0), ids, 0.25)
  np.testing.assert_array_equal(dropped[:, :4], ids[:, :4])  # reserved ids kept
  changed = np.asarray(dropped[:, 4:] != ids[:, 4:])
  assert (np.asarray(dropped[:, 4:])[changed] == 1).all()  # to <unk>
  assert abs(changed.mean() - 0.25) < 0.01




def test_seed_loops_calls_and_vmap_train_the_same_replicas():
  """``seed_loop="calls"``: replica i is bitwise the one-seed run; vmap agrees."""
  model_config = config_lib.ModelConfig(features=(), vocab_size=30, feature_sizes=(3,), num_classes=3,
                                        embed_dim=4, feature_dim=2, hidden_size=5,
                                        window_size=1, dropout=0.3, activation="relu")
  config = config_lib.Config(window_size=1, embed_dim=4, feature_dim=2, hidden_size=5,
                             learning_rate=0.01, dropout=0.3, word_dropout=0.1,
                             num_seeds=2, batch_size=8)
  rng = np.random.default_rng(0)
  data = {"window_ids": jnp.asarray(rng.integers(0, 30, (20, 3)), jnp.int32),
          "feature_ids": jnp.asarray(rng.integers(0, 3, (20, 3, 1)), jnp.int32),
          "labels": jnp.asarray(rng.integers(0, 3, 20), jnp.int32)}
  static = programs.Static.from_config(config, model_config, steps_per_epoch=3)
  assert static.seed_loop == "calls"  # several seeds on the CPU
  one_seed = dataclasses.replace(config, num_seeds=1)
  one_static = programs.Static.from_config(one_seed, model_config, steps_per_epoch=3)
  assert one_static.seed_loop == "vmap"

  def train(static, seeds):
    keys = jnp.stack([programs.seed_keys(s, 1)[0] for s in seeds])
    state = programs.init_state(static, keys, None, config)
    state, _ = programs.epoch_fn(static, 8)(*programs.epoch_args(state, data, keys, 1, 0))
    return state

  both = train(static, [0, 1])
  vmapped = train(dataclasses.replace(static, seed_loop="vmap"), [0, 1])
  for i in (0, 1):
    alone = train(one_static, [i])  # what --num_seeds=1 --seed=i trains
    for a, b in zip(jax.tree.leaves(both), jax.tree.leaves(alone)):
      np.testing.assert_array_equal(a[i], b[0])
  for a, b in zip(jax.tree.leaves(both), jax.tree.leaves(vmapped)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_permutation_on_the_host_is_jaxs():
  for n in (1, 7, 1000, 70_000):  # 1, 1 and 2 rounds of sort keys
    for seed in (0, 1):
      key = jax.random.fold_in(jax.random.key(seed), n)
      want = jax.random.permutation(key, n)
      got = jax.jit(lambda k, n=n: step.permutation(k, n, on_host=True))(key)
      assert got.dtype == want.dtype
      np.testing.assert_array_equal(got, want)
  keys = programs.seed_keys(0, 2)  # under vmap (seeds) too
  got = jax.vmap(lambda k: step.permutation(k, 50, on_host=True))(keys)
  want = jax.vmap(lambda k: jax.random.permutation(k, 50))(keys)
  np.testing.assert_array_equal(got, want)
