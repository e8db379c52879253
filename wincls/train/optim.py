"""The optimizer: optax chain, schedules, and dense or sparse word-table updates.

**The optax chain** (``make_optimizer``): ``clip_by_global_norm(grad_clip)`` (off
at 0) → the method's scaling (``sgd``: none, the lecture's θ ← θ − α∇J;
``adam``: ``scale_by_adam``; ``adagrad``: ``scale_by_rss`` as
``optax.adagrad``) → ``add_decayed_weights(weight_decay)`` (decoupled,
AdamW-style for Adam; L2 regularisation for SGD) → the schedule's factor
(constant 1; cosine ``(1 + cos(π t/T))/2``; linear ``1 − t/T``; T = total
steps) → ``−learning_rate``. It is built by ``optax.inject_hyperparams``, so
``learning_rate``, ``weight_decay`` and ``grad_clip`` live in the optimizer
*state* (per seed), and changing them does not recompile. Frozen word vectors
(the model's ``trainable_mask``) go through ``optax.multi_transform`` to
``set_to_zero``: their update is exactly 0.

**Word table updates.** The train state is ``{"params", "opt_state"}``, plus
``"rows"`` for sparse (``init_state``). ``embedding_update="dense"`` lets optax
update every parameter (the ``[V, E]`` word table included) each step;
``embedding_update="sparse"`` updates only the rows of the words in the batch
(``wincls.train.sparse``: exact for SGD and AdaGrad, lazy Adam), optax
updates the other parameters, and the global norm clipping is computed over
the whole gradient (rows included). The two updates are
``wincls.train.step``'s ``dense_update`` and ``sparse_update``.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from wincls import config as config_lib
from wincls.train import sparse

Array = jax.Array
State = dict[str, Any]
# ``(params, batch) -> (mean_loss, grads)``, grads shaped like params.
GradFn = Callable[[Any, dict[str, Array]], tuple[Array, Any]]


def schedule_factor(schedule: str, total_steps: int) -> Callable[[Array], Array]:
  """The learning-rate multiplier at step t (0-based) of ``total_steps``."""
  total = max(int(total_steps), 1)
  if schedule == "constant":
    return lambda count: jnp.ones([], jnp.float32)
  if schedule == "cosine":
    return lambda count: 0.5 * (1.0 + jnp.cos(jnp.pi * jnp.minimum(count, total) / total))
  if schedule == "linear":
    return lambda count: jnp.maximum(1.0 - count / total, 0.0)
  raise ValueError(f"--schedule={schedule!r} is not one of "
                   f"{', '.join(config_lib.SCHEDULES)}")


def make_optimizer(*, optimizer: str, schedule: str, total_steps: int,
                   trainable: Any, learning_rate: float = 1.0,
                   weight_decay: float = 0.0, grad_clip: float = 0.0
                   ) -> optax.GradientTransformation:
  """The run's optax chain (module docstring); numbers are injected hyperparameters.

  Args:
    optimizer: ``sgd | adam | adagrad``.
    schedule: ``constant | cosine | linear``.
    total_steps: T of the schedule.
    trainable: the model's ``trainable_mask(params, config)`` (for sparse
      updates, ``dense_part`` of it).
    learning_rate, weight_decay, grad_clip: initial values of the injected
      hyperparameters (``grad_clip=0``: no clipping). ``update`` reads them from
      the state, so a transformation built with other values updates the same
      state identically.
  """
  if optimizer not in config_lib.OPTIMIZERS:
    raise ValueError(f"--optimizer={optimizer!r} is not one of "
                     f"{', '.join(config_lib.OPTIMIZERS)}")
  factor = schedule_factor(schedule, total_steps)
  labels = jax.tree.map(lambda t: "train" if t else "frozen", trainable)
  any_frozen = "frozen" in jax.tree.leaves(labels)

  def factory(learning_rate, weight_decay, grad_clip):
    method = {"sgd": optax.identity(),
              "adam": optax.scale_by_adam(),
              "adagrad": optax.scale_by_rss(initial_accumulator_value=0.1,
                                            eps=1e-7)}[optimizer]
    inner = optax.chain(
        optax.clip_by_global_norm(grad_clip),
        method,
        optax.add_decayed_weights(weight_decay),
        optax.scale_by_schedule(factor),
        optax.scale_by_learning_rate(learning_rate),
    )
    if not any_frozen:
      return inner
    return optax.multi_transform({"train": inner, "frozen": optax.set_to_zero()},
                                 labels)

  clip = grad_clip if grad_clip > 0 else float("inf")
  return optax.inject_hyperparams(factory)(
      learning_rate=learning_rate, weight_decay=weight_decay, grad_clip=clip)


def dense_part(tree: Any, embedding_update: str) -> Any:
  """What optax updates: ``tree`` (dense), or ``tree`` less the word table (sparse).

  Args:
    tree: a params-shaped pytree (params, gradients, a trainable mask).
    embedding_update: ``"dense"`` or ``"sparse"``.
  """
  if embedding_update == "sparse":
    return sparse.split_words(tree)[1]
  return tree


def init_state(tx: optax.GradientTransformation, params: Any, *,
               embedding_update: str, optimizer: str, learning_rate: float,
               weight_decay: float, grad_clip: float) -> State:
  """A replica's train state: ``{"params", "opt_state"}``, plus ``"rows"`` for sparse.

  For ``embedding_update="sparse"``, ``opt_state`` covers every parameter but
  the word table, whose rows' state is ``"rows"`` (``sparse.SparseRowState``
  of ``optimizer``). The injected hyperparameters are set to the given values
  (``grad_clip``: ``inf`` for none). The step that updates the state is
  ``wincls.train.step``'s ``dense_update`` or ``sparse_update``.

  Args:
    tx: ``make_optimizer``'s transformation (on ``dense_part`` of the params).
    params: the model's parameters.
    embedding_update: ``"dense"`` or ``"sparse"``.
    optimizer: the row optimizer for ``"sparse"`` (``tx``'s method).
    learning_rate, weight_decay, grad_clip: the hyperparameters' values.
  """
  state = {"params": params}
  if embedding_update == "sparse":
    words, rest = sparse.split_words(params)
    opt_state = tx.init(rest)
    state["rows"] = sparse.init_rows_state(words, optimizer=optimizer)
  else:
    opt_state = tx.init(params)
  state["opt_state"] = opt_state
  hyper = opt_state.hyperparams
  for name, value in (("learning_rate", learning_rate), ("weight_decay", weight_decay),
                      ("grad_clip", grad_clip)):
    hyper[name] = jnp.asarray(value, hyper[name].dtype)
  return state
