"""wincls's own trainer as a runner of ``benchmarks/throughput.py`` (the ``wincls_*`` impls).

Not a peer: the very epoch ``train_and_evaluate`` compiles
(``programs.compiled_epoch``), on the benchmark's data and ``peers.Spec``
(``train_config``: the run's ``Config`` with the peers' settings), for one
seed (``wincls_train`` dense, ``wincls_train_sparse`` lazy) or several
(``wincls_seeds`` as ``--num_seeds`` trains them, ``wincls_vmap_seeds``,
``wincls_sequential_seeds``).
"""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import peers
from wincls import config as config_lib
from wincls.model import features as features_lib
from wincls.train import programs

SEED_MODES = {"wincls_seeds": "program", "wincls_vmap_seeds": "vmap",
              "wincls_sequential_seeds": "sequential"}
UPDATES = {"wincls_train": "dense", "wincls_train_sparse": "sparse"}


def train_config(spec: peers.Spec, *, batch_size: int = 256, seed: int = 0,
                 embedding_update: str = "dense", num_seeds: int = 1,
                 window: str = "concat") -> config_lib.Config:
  """The run's ``Config`` of the benchmarked model (the peers' settings).

  ``window``: the peers model ``"concat"``; another window (for
  ``benchmarks/epoch_profile.py``) reads the same ids into another model.
  """
  return config_lib.Config(
      dataset="conll2003", features=("casing", "chars") if spec.chars else ("casing",),
      char_dim=spec.char_dim, char_filters=spec.char_filters,
      char_width=spec.char_width, char_max_len=spec.char_max_len, window=window,
      window_size=spec.window_len // 2, embed_dim=spec.embed_dim,
      feature_dim=spec.feature_dim, classifier="hidden", hidden_size=spec.hidden_size,
      activation=spec.activation, output="multiclass", dropout=spec.dropout,
      word_dropout=spec.word_dropout, loss="cross_entropy", optimizer="adam",
      learning_rate=peers.LEARNING_RATE, schedule="constant", batch_size=batch_size,
      grad="autodiff", embedding_update=embedding_update, seed=seed,
      num_seeds=num_seeds)


def model_config(spec: peers.Spec, window: str = "concat") -> config_lib.ModelConfig:
  config = train_config(spec, window=window)
  return config.model_config(
      vocab_size=spec.vocab_size,
      feature_sizes=(spec.feature_size,) + features_lib.sizes(config.features[1:]),
      num_classes=spec.num_classes)


def feature_ids(data: peers.Data) -> np.ndarray:
  """``feature_ids [N, W, 1 (+ L)]`` as wincls's windows carry them: casing, then chars."""
  parts = [data.feature_ids[..., None]]
  if data.char_ids is not None:
    parts.append(data.char_ids)
  return np.concatenate(parts, axis=-1).astype(np.int32)


class TrainRunner:
  """``wincls.train.step``'s compiled epoch, for one seed or ``num_seeds``.

  ``mode="single"``: one seed; ``"program"``: one state of ``num_seeds``
  replicas, trained by the seed loop ``Static.from_config`` picks (as
  ``--num_seeds`` trains them); ``"vmap"``: the same with the seeds vmapped;
  ``"sequential"``: ``num_seeds`` one-seed states run one after the other by
  one executable.
  """

  def __init__(self, data: peers.Data, spec: peers.Spec, *, batch_size: int, seed: int,
               embedding_update: str, num_seeds: int = 1, mode: str = "single",
               window: str = "concat"):
    together = mode in ("program", "vmap")
    config = train_config(spec, batch_size=batch_size, seed=seed,
                          embedding_update=embedding_update,
                          num_seeds=num_seeds if together else 1, window=window)
    self.steps = -(-data.num_windows // batch_size)
    static = programs.Static.from_config(config, model_config(spec, window),
                                         steps_per_epoch=self.steps)
    if mode == "vmap":
      static = dataclasses.replace(static, seed_loop="vmap")
    self.seed_loop = static.seed_loop if together else None
    self.data = jax.tree.map(jnp.asarray, {
        "window_ids": data.window_ids, "feature_ids": feature_ids(data),
        "labels": data.labels})
    self.windows = data.num_windows * num_seeds
    self.epoch = 0
    start = time.perf_counter()
    if together:
      self.keys = [programs.seed_keys(seed, num_seeds)]
    else:
      self.keys = [programs.seed_keys(seed + i, 1) for i in range(num_seeds)]
    self.states = [programs.init_state(static, keys, None, config) for keys in self.keys]
    self.compiled = programs.compiled_epoch(
        static, batch_size, programs.epoch_args(self.states[0], self.data, self.keys[0], 1, 0))
    jax.block_until_ready(self.states)
    self.compile_s = time.perf_counter() - start

  def run_epoch(self) -> int:
    self.epoch += 1
    for i, keys in enumerate(self.keys):
      args = programs.epoch_args(self.states[i], self.data, keys, self.epoch, 0)
      self.states[i], sums = self.compiled(*args)
    jax.block_until_ready((self.states, sums))
    return self.windows


def make_runner(impl: str, data: peers.Data, spec: peers.Spec, *, batch_size: int,
                seed: int, num_seeds: int) -> TrainRunner:
  """The runner of a ``wincls_*`` impl (``UPDATES`` or ``SEED_MODES``)."""
  if impl in UPDATES:
    return TrainRunner(data, spec, batch_size=batch_size, seed=seed,
                       embedding_update=UPDATES[impl])
  return TrainRunner(data, spec, batch_size=batch_size, seed=seed,
                     embedding_update="dense", num_seeds=num_seeds, mode=SEED_MODES[impl])
