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

**Word table updates, one interface** (``make_train_optimizer``: an
``init``/``update`` pair over the train state ``{"params", "opt_state"}``, plus
``"rows"`` for sparse). ``embedding_update="dense"`` lets optax update every
parameter (the ``[V, E]`` word table included) each step;
``embedding_update="sparse"`` updates only the rows of the words in the batch
(``wincls.train.sparse``: exact for SGD and AdaGrad, lazy Adam), optax
updates the other parameters, and the global norm clipping is computed over
the whole gradient (rows included).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

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


class TrainOptimizer(NamedTuple):
  """Dense or sparse parameter updates behind one ``init``/``update`` pair.

  Attributes:
    init: ``(params, *, learning_rate, weight_decay, grad_clip) -> state``:
      ``{"params", "opt_state"}`` (plus ``"rows"``, the word table's
      ``sparse.SparseRowState``, for sparse updates, where ``opt_state``
      covers every parameter but the word table), with the injected
      hyperparameters set (``grad_clip``: ``inf`` for none).
    update: ``(state, grad_fn, batch) -> (state, mean_loss, grad_norm)``: one
      step; ``grad_fn(params, batch) -> (mean_loss, grads)``; ``grad_norm`` is
      the L2 norm of the whole gradient (before clipping).
  """

  init: Callable[..., State]
  update: Callable[[State, GradFn, dict[str, Array]], tuple[State, Array, Array]]


def make_train_optimizer(tx: optax.GradientTransformation, *,
                         embedding_update: str = "dense", optimizer: str = "adam",
                         schedule: Callable[[Array], Array] | None = None
                         ) -> TrainOptimizer:
  """The ``TrainOptimizer`` of ``tx`` (``make_optimizer``'s, on ``dense_part``).

  Args:
    tx: the optax transformation of the parameters it updates.
    embedding_update: ``"dense"`` (``tx`` on every parameter) or ``"sparse"``
      (``tx`` on all but the word table, whose touched rows get
      ``sparse.apply_row_update``).
    optimizer: the row optimizer for ``"sparse"`` (``tx``'s method).
    schedule: the learning-rate factor of step t, for ``"sparse"``'s rows.
  """
  is_sparse = embedding_update == "sparse"

  def init(params, *, learning_rate, weight_decay, grad_clip) -> State:
    state = {"params": params}
    if is_sparse:
      words, rest = sparse.split_words(params)
      opt_state = tx.init(rest)
      state["rows"] = sparse.init_rows_state(words, optimizer=optimizer)
    else:
      opt_state = tx.init(params)
    state["opt_state"] = opt_state
    hyper = opt_state.hyperparams
    hyper["learning_rate"] = jnp.asarray(learning_rate, hyper["learning_rate"].dtype)
    hyper["weight_decay"] = jnp.asarray(weight_decay, hyper["weight_decay"].dtype)
    hyper["grad_clip"] = jnp.asarray(grad_clip, hyper["grad_clip"].dtype)
    return state

  def dense_update(state, grad_fn, batch):
    params = state["params"]
    mean, grads = grad_fn(params, batch)
    grad_norm = optax.tree.norm(grads)
    updates, opt_state = tx.update(grads, state["opt_state"], params)
    return ({"params": optax.apply_updates(params, updates), "opt_state": opt_state},
            mean, grad_norm)

  def sparse_update(state, grad_fn, batch):
    params = state["params"]
    mean, rest_grads, unique_ids, row_grads = sparse.value_and_row_grads(
        grad_fn, params, batch)
    hyper = state["opt_state"].hyperparams
    grad_norm = sparse.global_norm(rest_grads, row_grads)
    # Clip by the norm of the whole gradient (the rows included); the dense
    # transformation's own clipping then sees a norm <= grad_clip and passes.
    clip = hyper["grad_clip"]
    scale = jnp.where(grad_norm > clip, clip / grad_norm, 1.0).astype(row_grads.dtype)
    rest_grads = jax.tree.map(lambda g: g * scale, rest_grads)
    words, rest = sparse.split_words(params)
    updates, opt_state = tx.update(rest_grads, state["opt_state"], rest)
    rest = optax.apply_updates(rest, updates)
    learning_rate = hyper["learning_rate"] * schedule(state["rows"].count)
    words, rows = sparse.apply_row_update(words, state["rows"], unique_ids,
                                          row_grads * scale, optimizer=optimizer,
                                          learning_rate=learning_rate)
    return ({"params": sparse.merge_words(words, rest), "opt_state": opt_state,
             "rows": rows}, mean, grad_norm)

  return TrainOptimizer(init=init, update=sparse_update if is_sparse else dense_update)
