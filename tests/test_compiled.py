"""The compiled gradient equals op-by-op execution at the trainer's own shapes.

jaxlib 0.10.2's XLA:CPU miscompiles some multiply-reduce fusions with a
broadcast operand (the class of jax-ml/jax#39103; benchmarks/gradcheck.py
met it in jacfwd): wrong numbers, no error, and only at some shapes. Every
other test compares two compiled programs; this one compares the program the
trainer compiles (the loss gradient, seeds vmapped over shared data, the
default C&W sizes and batch) with ``jax.disable_jit()``'s primitive-by-primitive
evaluation, so a miscompile at these shapes fails here. The program is compiled
with XLA's full pipeline (``FULL_PIPELINE``, XLA's defaults), as the trainer
compiles it, not the suite's fast one (tests/conftest.py).
"""

import jax
import jax.numpy as jnp
import numpy as np

from wincls import config as config_lib
from wincls.model import network
from wincls.model import objective

# XLA's own defaults, which tests/conftest.py turns down for the rest of the suite.
FULL_PIPELINE = {"xla_backend_optimization_level": 3,
                 "xla_llvm_disable_expensive_passes": False}


def test_jitted_gradient_equals_op_by_op_at_the_default_shapes():
  loss, num_seeds = "cross_entropy", 2
  # Two seeds vmapped over shared data (as on accelerators; the CPU trainer's
  # one-seed program is the same with a seed axis of 1): the setting where the
  # miscompiled pattern, a broadcast operand in a multiply-reduce, arises.
  # The op-by-op reference compiles each of ~200 primitives: one case only.
  default = config_lib.Config()
  model_config = default.model_config(vocab_size=17_496, feature_sizes=(9,),
                                      num_classes=17)
  keys = jax.random.split(jax.random.key(0), num_seeds)
  params = jax.jit(jax.vmap(lambda k: network.init_params(k, config=model_config)))(keys)
  rng = np.random.default_rng(0)
  width, batch_size = model_config.window_len, default.batch_size
  batch = {"window_ids": jnp.asarray(rng.integers(0, 17_496, (batch_size, width)), jnp.int32),
           "feature_ids": jnp.asarray(rng.integers(0, 9, (batch_size, width, 1)), jnp.int32),
           "labels": jnp.asarray(rng.integers(0, 17, batch_size), jnp.int32),
           "weights": jnp.ones([batch_size], jnp.float32)}

  def grad(p, key):  # the data shared by the seeds, as the trainer's epoch has it
    return jax.grad(lambda p: objective.loss_fn(
        p, batch, config=model_config, loss=loss, key=key)[0])(p)

  step_keys = jax.random.split(jax.random.key(1), num_seeds)
  compiled = jax.jit(jax.vmap(grad), compiler_options=FULL_PIPELINE)(params, step_keys)
  with jax.disable_jit():
    eager = jax.vmap(grad)(params, step_keys)
  for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(compiled),
                          jax.tree.leaves(eager)):
    a, b = np.asarray(a), np.asarray(b)
    scale = max(float(np.max(np.abs(b))), 1e-30)
    assert float(np.max(np.abs(a - b))) / scale < 1e-5, jax.tree_util.keystr(path)
