"""Tests of wincls/train/optim.py: schedules and the optax chain."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wincls import config as config_lib
from wincls.model import network
from wincls.train import optim
from wincls.train import sparse
from wincls.train import step


def test_schedules():
  cosine = optim.schedule_factor("cosine", 10)
  linear = optim.schedule_factor("linear", 10)
  np.testing.assert_allclose([cosine(0), cosine(5), cosine(10)], [1.0, 0.5, 0.0], atol=1e-6)
  np.testing.assert_allclose([linear(0), linear(5), linear(10)], [1.0, 0.5, 0.0], atol=1e-6)
  assert optim.schedule_factor("constant", 0)(7) == 1.0


def _norm(tree):
  """The L2 norm of a pytree."""
  return jnp.sqrt(sum(jnp.sum(jnp.square(x)) for x in jax.tree.leaves(tree)))


@pytest.mark.parametrize("embedding_update", ["dense", "sparse"])
def test_train_optimizer_init_and_one_sgd_update(embedding_update):
  model_config = config_lib.ModelConfig(features=(), vocab_size=12, feature_sizes=(3,), num_classes=3,
                                        embed_dim=4, feature_dim=2, hidden_size=5,
                                        window_size=1)
  params = network.init_params(jax.random.key(0), config=model_config)
  trainable = optim.dense_part(network.trainable_mask(params, model_config),
                               embedding_update)
  tx = optim.make_optimizer(optimizer="sgd", schedule="constant", total_steps=1,
                            trainable=trainable)
  state = optim.init_state(tx, params, embedding_update=embedding_update,
                           optimizer="sgd", learning_rate=0.5, weight_decay=0.0,
                           grad_clip=float("inf"))
  if embedding_update == "dense":
    update = functools.partial(step.dense_update, tx=tx)
  else:
    update = functools.partial(step.sparse_update, tx=tx, optimizer="sgd",
                               schedule=optim.schedule_factor("constant", 1))
  assert set(state) == ({"params", "opt_state", "rows"} if embedding_update == "sparse"
                        else {"params", "opt_state"})
  assert state["opt_state"].hyperparams["learning_rate"] == 0.5
  batch = {"window_ids": jnp.array([[4, 5, 4]], jnp.int32)}

  def grad_fn(p, batch):  # d/dp of sum(p * p) / 2 on the rows the batch reads
    del batch
    return jnp.zeros([]), jax.tree.map(lambda x: x, p)

  new_state, _, grad_norm = jax.jit(update, static_argnums=2)(state, batch, grad_fn)
  np.testing.assert_allclose(new_state["params"]["hidden"]["W"],
                             0.5 * params["hidden"]["W"], rtol=1e-6)
  words = np.asarray(params["embed"]["words"])
  new_words = np.asarray(new_state["params"]["embed"]["words"])
  if embedding_update == "dense":
    np.testing.assert_allclose(new_words, 0.5 * words, rtol=1e-6)
    np.testing.assert_allclose(grad_norm, float(_norm(params)), rtol=1e-5)
  else:  # only the rows 4 and 5 move; the gradient is that of those rows
    np.testing.assert_allclose(new_words[[4, 5]], 0.5 * words[[4, 5]], rtol=1e-6)
    np.testing.assert_array_equal(np.delete(new_words, [4, 5], axis=0),
                                  np.delete(words, [4, 5], axis=0))
    rest = sparse.split_words(params)[1]
    expected = np.sqrt(float(_norm(rest)) ** 2 + float(np.sum(words[[4, 5]] ** 2)))
    np.testing.assert_allclose(grad_norm, expected, rtol=1e-5)

