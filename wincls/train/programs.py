"""The compiled programs: ``step.py``'s functions over seeds and devices, cached.

``Static`` holds the settings compiled into the programs; ``_train_epoch_fn``,
``_eval_fn`` and ``_init_fn`` jit ``step.train_epoch``/``step.eval_dataset``/the
initialiser with them bound by ``functools.partial`` (state donated), and
``_compiled`` keeps one executable per argument shapes: the one cache of
compiled programs.

**Seeds.** ``num_seeds=N`` trains N independent replicas with seeds ``seed,
seed+1, ...`` together: the state (params and optimizer state) has a
leading axis of size N, and the epoch runs over it and over the per-seed keys
(init key, shuffles, dropout), with the data shared. Replica i computes what a
run with ``seed=seed+i`` computes, up to float rounding (tests/test_loop.py).
How the seeds are looped over is ``Static.seed_loop`` (``default_seed_loop``):
on the CPU, N > 1 seeds are N calls of the one-seed program per epoch
(``"calls"``: one executable, compiled once), because one seed's steps
already keep the cores busy and both one-program forms lost to N sequential
runs on a quiet 2-core CPU (docs/benchmarks.md, "Training throughput": ``vmap``'s batched
steps 0.75-0.88×, a ``lax.map`` over the seeds 0.71-0.96×, its word-table
passes running several times slower inside the outer loop); N calls do the
work of N sequential runs, and replica i is bit for bit the one-seed run with
``seed+i``. A single seed, accelerators (where one small model leaves the
device idle) and device layouts (whose sharding is of the vmapped state) use
``"vmap"``: one program over the seed axis.

**Devices.** With a ``Static.layout`` (``wincls.train.distributed``) the same
programs run data-parallel: each step's batch rows are split over the devices
and GSPMD inserts the gradient all-reduce (docs/scaling.md).

**The epoch ``train_and_evaluate`` runs, for a benchmark** (the public API)::

  static = programs.Static.from_config(config, model_config, steps_per_epoch=steps)
  keys = programs.seed_keys(config.seed, config.num_seeds)         # [S] keys
  state = programs.init_state(static, keys, pretrained, config)    # [S, ...] state
  args = programs.epoch_args(state, data, keys, epoch=1, bucket=0)
  run = programs.compiled_epoch(static, config.batch_size, args)   # compiles once
  state, sums = run(*args)   # state is donated; sums: {"loss_sum", ...} [S]

``epoch_fn(static, batch_size)`` is the jitted (not yet compiled) function.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from wincls import config as config_lib
from wincls.model import network
from wincls.train import distributed
from wincls.train import optim
from wincls.train import step
from wincls.train import threefry

Array = jax.Array
State = dict[str, Any]

SEED_LOOPS = ("calls", "vmap")

# Same bits, unrolled hash on the CPU (wincls/train/threefry.py).
threefry.use_unrolled_cpu_lowering()


def default_seed_loop(num_seeds: int, layout: distributed.Layout | None = None) -> str:
  """How ``num_seeds`` seeds are trained here (module docstring, **Seeds**).

  ``"calls"`` for several seeds on the CPU without a device layout, else ``"vmap"``.
  """
  if num_seeds > 1 and layout is None and jax.default_backend() == "cpu":
    return "calls"
  return "vmap"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Static:
  """The settings compiled into the programs (hashable; no swept numbers).

  The numbers a sweep varies (learning rate, weight decay, clipping) live in
  the optimizer state instead (``init_state``), so they do not recompile.
  """

  model_config: config_lib.ModelConfig
  loss: str
  grad: str
  margin: float
  num_corruptions: int
  optimizer: str
  schedule: str
  total_steps: int
  word_dropout: float  # no defaults: every value comes from a Config (from_config)
  embedding_update: str
  layout: distributed.Layout | None = None  # None: one device
  seed_loop: str = "vmap"  # of SEED_LOOPS; from_config: default_seed_loop(...)

  @classmethod
  def from_config(cls, config: config_lib.Config, model_config: config_lib.ModelConfig,
                  *, steps_per_epoch: int, layout: distributed.Layout | None = None
                  ) -> "Static":
    """The settings ``train_and_evaluate`` compiles for ``config``.

    Args:
      config: the run's settings.
      model_config: ``config.model_config(...)`` with the data's sizes.
      steps_per_epoch: optimizer steps in one epoch (all buckets).
      layout: the devices (``distributed.word_table_layout``'s); None: one.
    """
    return cls(model_config=model_config, loss=config.loss, grad=config.grad,
               margin=float(config.margin), num_corruptions=config.num_corruptions,
               optimizer=config.optimizer, schedule=config.schedule,
               # Only a decaying schedule depends on the run's length.
               total_steps=(0 if config.schedule == "constant"
                            else steps_per_epoch * config.epochs),
               word_dropout=float(config.word_dropout),
               embedding_update=config.embedding_update, layout=layout,
               seed_loop=default_seed_loop(config.num_seeds, layout))


def _optimizer_for(static: Static, **values) -> optax.GradientTransformation:
  """The optax transformation of the parameters it updates (sparse: all but words)."""
  # The trainable mask needs the params' structure only.
  shapes = jax.eval_shape(functools.partial(network.init_params,
                                            config=static.model_config),
                          jax.random.key(0))
  trainable = network.trainable_mask(shapes, static.model_config)
  return optim.make_optimizer(
      optimizer=static.optimizer, schedule=static.schedule,
      total_steps=static.total_steps,
      trainable=optim.dense_part(trainable, static.embedding_update), **values)


def _one_program(static: Static) -> Static:
  """The settings of the program ``"calls"`` runs per seed: the one-seed run's."""
  return dataclasses.replace(static, seed_loop="vmap")


@functools.lru_cache(maxsize=32)
def _per_seed(run_one: Callable) -> Callable:
  """``run_one`` (a program over a seed axis) once per seed, the results stacked.

  Each call gets seed i's slice of the state (a new array, so ``run_one`` may
  donate it) and of the keys.
  """
  def run(state, data, seed_keys, epoch, bucket):
    outs = [run_one(jax.tree.map(lambda x: x[i:i + 1], state), data,
                    seed_keys[i:i + 1], epoch, bucket)
            for i in range(seed_keys.shape[0])]
    return jax.tree.map(lambda *xs: jnp.concatenate(xs), *outs)

  return run


@functools.lru_cache(maxsize=32)
def _train_epoch_fn(static: Static, batch_size: int) -> Callable:
  """The jitted epoch over the seeds for these settings (cached: compiled once)."""
  step_fn = functools.partial(
      step.train_step, tx=_optimizer_for(static), config=static.model_config,
      loss=static.loss, grad=static.grad, margin=static.margin,
      num_corruptions=static.num_corruptions, word_dropout=static.word_dropout,
      embedding_update=static.embedding_update, optimizer=static.optimizer,
      schedule=optim.schedule_factor(static.schedule, static.total_steps))
  layout = static.layout
  one_seed = functools.partial(step.train_epoch, step_fn=step_fn, batch_size=batch_size,
                               layout=layout)
  if static.seed_loop not in SEED_LOOPS:
    raise ValueError(f"Static.seed_loop={static.seed_loop!r} is not one of {SEED_LOOPS}")
  # Vmapped over the seed axis; for "calls" (epoch_fn, compiled_epoch) this is
  # the one-seed program (a seed axis of 1) that _per_seed calls once per seed.
  epoch_fn = jax.vmap(one_seed, in_axes=(0, None, 0, None, None))
  if layout is None:
    return jax.jit(epoch_fn, donate_argnums=0)

  def sharded_epoch_fn(state, data, seed_keys, epoch, bucket):
    state, sums = epoch_fn(state, data, seed_keys, epoch, bucket)
    state = distributed.constrain_state(state, layout,
                                        vocab_size=static.model_config.vocab_size)
    return state, distributed.replicate(sums, layout)

  return jax.jit(sharded_epoch_fn, donate_argnums=0)


@functools.lru_cache(maxsize=32)
def _eval_fn(model_config: config_lib.ModelConfig, loss: str, batch_size: int,
             layout: distributed.Layout | None = None) -> Callable:
  """The jitted, seed-vmapped ``eval_dataset``: ``(params [S, ...], data) -> [S, N...]``."""
  step_fn = functools.partial(step.eval_step, config=model_config, loss=loss)
  fn = jax.vmap(functools.partial(step.eval_dataset, step_fn=step_fn, batch_size=batch_size,
                                  layout=layout), in_axes=(0, None))
  return jax.jit(lambda params, data: distributed.replicate(fn(params, data), layout))


@functools.lru_cache(maxsize=32)
def _init_fn(static: Static) -> Callable:
  """``(seed_keys [S], pretrained, learning_rate, weight_decay, grad_clip) -> state``."""
  tx = _optimizer_for(static)

  def init(seed_key, pretrained, learning_rate, weight_decay, grad_clip):
    params = network.init_params(jax.random.fold_in(seed_key, step.INIT_STREAM),
                                config=static.model_config, pretrained=pretrained)
    return optim.init_state(tx, params, embedding_update=static.embedding_update,
                            optimizer=static.optimizer, learning_rate=learning_rate,
                            weight_decay=weight_decay, grad_clip=grad_clip)

  vmapped = jax.vmap(init, in_axes=(0, None, None, None, None))
  return jax.jit(lambda *args: distributed.constrain_state(
      vmapped(*args), static.layout, vocab_size=static.model_config.vocab_size))


_COMPILED: dict[Any, Any] = {}


def _compiled(fn, args):
  """``fn.lower(*args).compile()``, cached by ``fn`` and the arguments' shapes.

  Compiling ahead of the first call keeps compile time out of the first
  epoch's throughput.
  """
  leaves, treedef = jax.tree.flatten(args)
  signature = (fn, treedef, tuple((np.shape(x), str(getattr(x, "dtype", type(x))),
                                   getattr(x, "sharding", None)) for x in leaves))
  compiled = _COMPILED.get(signature)
  if compiled is None:
    compiled = _COMPILED[signature] = fn.lower(*args).compile()
  return compiled


def seed_keys(seed: int, num_seeds: int) -> Array:
  """``[num_seeds]`` typed keys ``jax.random.key(seed + i)``."""
  return jnp.stack([jax.random.key(seed + i) for i in range(num_seeds)])


def init_state(static: Static, keys: Array, pretrained: Array | None,
               config: config_lib.Config) -> State:
  """The initial train state ``[S, ...]`` of every seed (module docstring).

  Args:
    static: ``Static.from_config(config, ...)``.
    keys: ``seed_keys(config.seed, config.num_seeds)``.
    pretrained: ``[V, E]`` initial word vectors (on the layout's devices), or
      None.
    config: the run's settings (learning rate, weight decay, clipping).
  """
  grad_clip = config.grad_clip if config.grad_clip > 0 else float("inf")
  return _init_fn(static)(keys, pretrained, config.learning_rate,
                          config.weight_decay, grad_clip)


def epoch_fn(static: Static, batch_size: int) -> Callable:
  """The jitted epoch ``(state, data, seed_keys, epoch, bucket) -> (state, sums)``.

  Over the seeds of ``state`` and ``seed_keys`` (``static.seed_loop``; for
  ``"calls"`` one call of the jitted one-seed epoch per seed), ``state``
  donated; one function per ``(static, batch_size)`` (cached).
  """
  if static.seed_loop == "calls":
    return _per_seed(_train_epoch_fn(_one_program(static), batch_size))
  return _train_epoch_fn(static, batch_size)


def eval_fn(model_config: config_lib.ModelConfig, loss: str, batch_size: int,
            layout: distributed.Layout | None = None) -> Callable:
  """The jitted predictions ``(params [S, ...], data) -> [S, N, ...]`` (cached).

  ``eval_step`` over ``data`` in chunks of ``batch_size`` rows, vmapped over
  the seeds of ``params``, replicated over ``layout``'s devices.
  """
  return _eval_fn(model_config, loss, batch_size, layout)


def epoch_args(state: State, data: dict[str, Array], keys: Array, epoch: int,
               bucket: int) -> tuple:
  """``epoch_fn``'s arguments, the epoch and bucket as int32 scalars."""
  return (state, data, keys, jnp.asarray(epoch, jnp.int32), jnp.asarray(bucket, jnp.int32))


def compiled_epoch(static: Static, batch_size: int, args: tuple) -> Callable:
  """``epoch_fn(static, batch_size)`` compiled for ``args`` (``epoch_args``).

  Cached by the function and the arguments' shapes, dtypes and shardings, so
  every epoch (and every benchmark round) reuses one executable (for
  ``"calls"``, the one-seed executable, called once per seed).
  """
  if static.seed_loop == "calls":
    state, data, keys, epoch, bucket = args
    # The shapes (and placement) of one seed's slice, no slice computed (this
    # runs every epoch): the cache entry of a one-seed run at these shapes.
    one = lambda x: jax.ShapeDtypeStruct((1,) + x.shape[1:], x.dtype, sharding=x.sharding)
    one_seed = (jax.tree.map(one, state), data, one(keys), epoch, bucket)
    return _per_seed(_compiled(_train_epoch_fn(_one_program(static), batch_size), one_seed))
  return _compiled(_train_epoch_fn(static, batch_size), args)
