"""The train and eval steps and the scanned epoch (``programs.py`` compiles them).

The shape of flax's examples: ``train_step(state, batch, rng) -> (state,
metrics)`` and ``eval_step(params, batch) -> predictions`` are plain functions;
they are jitted where they are used (``wincls.train.programs``) with their
static settings bound by ``functools.partial`` and the state donated.

One epoch is one jitted call: the training windows live on the device, the
epoch draws a permutation from its key and ``lax.scan`` runs the steps, each
gathering its batch by the permutation (the last, partial batch is padded with
weight-0 rows, so every step has the same shape and nothing recompiles). So
the Python loop runs once per epoch, not once per step.

**Randomness.** Everything comes from ``jax.random.key(seed_i)``: the initial
parameters from ``fold_in(key, INIT_STREAM)``, epoch e from
``fold_in(fold_in(key, EPOCH_STREAM), e)``; with ``part = fold_in(epoch_key, b)``
for bucket b (0 for token data), the permutation comes from ``fold_in(part, 0)``
and step i's key from ``fold_in(fold_in(part, 1), i)``; in the step,
``fold_in(step_key, 0)`` goes to the loss (dropout, corruptions) and
``fold_in(step_key, 1)`` draws the word dropout (``word_dropout_ids``). So a
resumed run draws what an uninterrupted one draws.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax import lax
import numpy as np
import optax

from wincls import config as config_lib
from wincls.model import crf
from wincls.model import losses
from wincls.model import network
from wincls.model import objective
from wincls.data import vocab as vocab_lib
from wincls.train import distributed
from wincls.train import optim
from wincls.train import sparse

Array = jax.Array
State = dict[str, Any]

INIT_STREAM = 0
EPOCH_STREAM = 1


def _weight_sum(batch) -> Array:
  if "mask" in batch:
    return jnp.sum(batch["mask"])
  return jnp.sum(batch["weights"])


def word_dropout_ids(key: Array, window_ids: Array, rate: float) -> Array:
  """Each word id (not a reserved one) becomes ``<unk>`` with probability ``rate``.

  Args:
    key: a ``jax.random.key``.
    window_ids: int ``[...]`` word ids (token or sentence batch).
    rate: the dropout probability.

  Returns:
    The ids, shaped like ``window_ids``.
  """
  drop = jax.random.bernoulli(key, rate, window_ids.shape)
  drop = drop & (window_ids >= len(vocab_lib.RESERVED))
  return jnp.where(drop, jnp.asarray(vocab_lib.UNK, window_ids.dtype), window_ids)


def permutation(key: Array, num_rows: int, *, on_host: bool = False) -> Array:
  """``jax.random.permutation(key, num_rows)``, bit for bit; ``on_host`` sorts on the host.

  jax draws ``rounds`` arrays of 32-bit sort keys from ``key`` and
  stable-sorts the rows by each in turn (``jax/_src/random``'s ``_shuffle``).
  XLA's CPU sort calls a comparator per comparison, which makes it most of the
  permutation's time; with ``on_host`` the keys are drawn on the device exactly
  as jax draws them and NumPy's stable argsort orders them
  (``jax.pure_callback``), about half the time (docs/benchmarks.md,
  "Optimisations that leave results unchanged"). tests/test_step.py checks the
  two agree.

  Args:
    key: a ``jax.random.key``.
    num_rows: n.
    on_host: sort on the host (for a program on the CPU, where the host is
      the device).

  Returns:
    int32 ``[n]``, a permutation of ``0..n-1``.
  """
  if not on_host:
    return jax.random.permutation(key, num_rows)
  uint32_max = np.iinfo(np.uint32).max
  rounds = int(np.ceil(3 * np.log(max(1, num_rows)) / np.log(uint32_max)))
  sort_keys = []
  for _ in range(rounds):
    key, subkey = jax.random.split(key)
    sort_keys.append(jax.random.bits(subkey, (num_rows,), jnp.uint32))

  def stable_sorts(*keys):
    order = np.arange(num_rows, dtype=np.int32)
    for k in keys:
      order = order[np.argsort(np.asarray(k), kind="stable")]
    return order

  return jax.pure_callback(stable_sorts, jax.ShapeDtypeStruct((num_rows,), jnp.int32),
                           *sort_keys, vmap_method="sequential")


def _grad_fn(grad: str, **kwargs) -> optim.GradFn:
  """``(params, batch) -> (mean_loss, grads)`` by autodiff or by hand."""
  if grad == "hand":
    return functools.partial(objective.hand_grad, **kwargs)
  value_and_grad = jax.value_and_grad(objective.loss_fn, has_aux=True)

  def grad_fn(params, batch):
    (mean, _), grads = value_and_grad(params, batch, **kwargs)
    return mean, grads

  return grad_fn


def dense_update(state: State, batch: dict[str, Array], grad_fn: optim.GradFn, *,
                 tx: optax.GradientTransformation) -> tuple[State, Array, Array]:
  """``embedding_update="dense"``: gradient → ``tx.update`` → ``apply_updates``.

  Returns:
    ``(new_state, mean_loss, grad_norm)``: ``grad_norm`` is the gradient's
    global L2 norm before clipping (``tx`` clips).
  """
  params = state["params"]
  mean, grads = grad_fn(params, batch)
  updates, opt_state = tx.update(grads, state["opt_state"], params)
  return ({"params": optax.apply_updates(params, updates), "opt_state": opt_state},
          mean, optax.tree.norm(grads))


def sparse_update(state: State, batch: dict[str, Array], grad_fn: optim.GradFn, *,
                  tx: optax.GradientTransformation, optimizer: str,
                  schedule: Callable[[Array], Array]) -> tuple[State, Array, Array]:
  """``embedding_update="sparse"``: the dense path on all but the word table, and
  beside it the row update of the batch's words (``wincls/train/sparse.py``).

  The gradient is taken with respect to the batch's rows only
  (``sparse.value_and_row_grads``); both parts are clipped by the norm of the
  whole gradient, so ``tx``'s own clipping then sees a norm <= ``grad_clip``.
  """
  params = state["params"]
  mean, rest_grads, unique_ids, row_grads = sparse.value_and_row_grads(
      grad_fn, params, batch)
  hyper = state["opt_state"].hyperparams
  grad_norm = sparse.global_norm(rest_grads, row_grads)
  clip = hyper["grad_clip"]
  scale = jnp.where(grad_norm > clip, clip / grad_norm, 1.0).astype(row_grads.dtype)
  words, rest = sparse.split_words(params)
  updates, opt_state = tx.update(jax.tree.map(lambda g: g * scale, rest_grads),
                                 state["opt_state"], rest)
  rest = optax.apply_updates(rest, updates)
  words, rows = sparse.apply_row_update(
      words, state["rows"], unique_ids, row_grads * scale, optimizer=optimizer,
      learning_rate=hyper["learning_rate"] * schedule(state["rows"].count))
  return ({"params": sparse.merge_words(words, rest), "opt_state": opt_state,
           "rows": rows}, mean, grad_norm)


def train_step(state: State, batch: dict[str, Array], rng: Array, *,
               tx: optax.GradientTransformation, config: config_lib.ModelConfig,
               loss: str, grad: str, margin: float, num_corruptions: int,
               word_dropout: float = 0.0, embedding_update: str = "dense",
               optimizer: str = "adam",
               schedule: Callable[[Array], Array] | None = None
               ) -> tuple[State, dict[str, Array]]:
  """One optimizer step on one batch: the batch's word dropout and corruptions,
  its gradient (autodiff or hand), then ``dense_update`` or ``sparse_update``.

  Args:
    state: ``{"params": ..., "opt_state": ...}``, plus ``"rows"`` for
      ``embedding_update="sparse"`` (``optim.init_state``).
    batch: a token batch (with ``weights``) or a sentence batch (a sentence
      loss: ``losses.is_sentence``).
    rng: this step's key: ``fold_in(rng, 0)`` goes to the loss (dropout,
      corruptions), ``fold_in(rng, 1)`` draws the word dropout.
    tx: the optimizer (``optim.make_optimizer``), built once outside the step.
    config, loss, margin, num_corruptions: as for ``objective.loss_fn``.
    grad: ``"autodiff"`` (``jax.value_and_grad``) or ``"hand"``
      (``objective.hand_grad``).
    word_dropout: probability that a word id becomes ``<unk>``.
    embedding_update: ``"dense"`` or ``"sparse"``.
    optimizer: the row optimizer for ``"sparse"`` (same as ``tx``'s method).
    schedule: the learning-rate factor of step t, for ``"sparse"``'s rows.

  Returns:
    ``(new_state, {"loss_sum", "weight_sum", "grad_norm"})``.
  """
  if word_dropout > 0.0:
    batch = dict(batch)
    batch["window_ids"] = word_dropout_ids(jax.random.fold_in(rng, 1),
                                           batch["window_ids"], word_dropout)
  loss_key = jax.random.fold_in(rng, 0)
  # A corrupted loss's centre words, drawn here as the loss would draw them, so
  # that a sparse step gathers and updates their rows too.
  batch = objective.with_corruptions(batch, config=config, loss=loss, key=loss_key,
                                     num_corruptions=num_corruptions)
  grad_fn = _grad_fn(grad, config=config, loss=loss, key=loss_key,
                     margin=margin, num_corruptions=num_corruptions)
  if embedding_update == "sparse":
    new_state, mean, grad_norm = sparse_update(state, batch, grad_fn, tx=tx,
                                               optimizer=optimizer, schedule=schedule)
  else:
    new_state, mean, grad_norm = dense_update(state, batch, grad_fn, tx=tx)
  weight_sum = _weight_sum(batch)
  return new_state, {"loss_sum": mean * jnp.maximum(weight_sum, 1.0),
                     "weight_sum": weight_sum, "grad_norm": grad_norm}


def train_epoch(state: State, data: dict[str, Array], seed_key: Array, epoch: Array,
                bucket: Array, *, step_fn: Callable, batch_size: int,
                layout: distributed.Layout | None = None
                ) -> tuple[State, dict[str, Array]]:
  """One pass over ``data`` in shuffled minibatches, the steps under ``lax.scan``.

  Args:
    state: one replica's state.
    data: token arrays ``[N, ...]`` (with ``labels``), or one bucket's sentence
      arrays ``[S_b, T, ...]`` (with ``mask``).
    seed_key: the replica's ``jax.random.key(seed_i)``.
    epoch: int scalar, the 1-based epoch.
    bucket: int scalar, the bucket index (0 for token data).
    step_fn: ``train_step`` with its settings bound.
    batch_size: rows per step (the global batch).
    layout: devices to split each batch over (``wincls.train.distributed``):
      each device gathers its slice of the batch's rows from its replica of
      ``data``; None: one device. The program is the same either way.

  Returns:
    ``(state, {"loss_sum", "weight_sum", "grad_norm_sum", "num_steps",
    "param_norm", "first_nonfinite_step"})``.
  """
  num_rows = jax.tree.leaves(data)[0].shape[0]
  num_steps = -(-num_rows // batch_size)
  padding = num_steps * batch_size - num_rows
  epoch_key = jax.random.fold_in(jax.random.fold_in(seed_key, EPOCH_STREAM), epoch)
  part_key = jax.random.fold_in(epoch_key, bucket)
  # On one CPU device the host sorts (``permutation``); results are the same.
  on_host = layout is None and jax.default_backend() == "cpu"
  order = permutation(jax.random.fold_in(part_key, 0), num_rows, on_host=on_host)
  order = jnp.concatenate([order, jnp.zeros([padding], order.dtype)])
  weights = jnp.concatenate([jnp.ones([num_rows], jnp.float32),
                             jnp.zeros([padding], jnp.float32)])
  order = order.reshape(num_steps, batch_size)
  weights = weights.reshape(num_steps, batch_size)
  step_keys = jax.random.fold_in(part_key, 1)

  def body(state, inputs):
    i, rows, row_weights = inputs
    rows, row_weights = distributed.shard_batch((rows, row_weights), layout)
    batch = distributed.shard_batch({name: array[rows] for name, array in data.items()},
                                    layout)
    if "mask" in batch:
      batch["mask"] = batch["mask"] * row_weights[:, None]  # padding sentences
    else:
      batch["weights"] = row_weights
    state, step_metrics = step_fn(state, batch, jax.random.fold_in(step_keys, i))
    return state, step_metrics

  state, step_metrics = lax.scan(body, state, (jnp.arange(num_steps), order, weights))
  sums = {"loss_sum": jnp.sum(step_metrics["loss_sum"]),
          "weight_sum": jnp.sum(step_metrics["weight_sum"]),
          "grad_norm_sum": jnp.sum(step_metrics["grad_norm"]),
          "num_steps": jnp.asarray(num_steps, jnp.float32),
          "param_norm": optax.tree.norm(state["params"])}
  sums["first_nonfinite_step"] = _first_nonfinite_step(step_metrics)
  return state, sums


def _first_nonfinite_step(step_metrics: dict[str, Array]) -> Array:
  """int32: the 0-based step whose loss or gradient norm is not finite, -1 if none.

  For the divergence check (``wincls.train.divergence``: which seed diverged,
  at which step); it reads the ``[num_steps]`` metrics the scan stacks anyway.
  """
  bad = ~(jnp.isfinite(step_metrics["loss_sum"])
          & jnp.isfinite(step_metrics["grad_norm"]))
  return jnp.where(jnp.any(bad), jnp.argmax(bad), -1).astype(jnp.int32)


def eval_step(params: Any, batch: dict[str, Array], *, config: config_lib.ModelConfig,
              loss: str) -> Array:
  """Predictions of one batch (no dropout): the scores, then ``decode``.

  Returns:
    int32 ``[B]`` class ids (argmax) for output="multiclass"; ``[B]`` scores for
    output="score"; int32 ``[B, T]`` Viterbi tags for a sentence loss
    (``losses.is_sentence``: crf or a plugin's).
  """
  sentence = losses.is_sentence(loss)
  scores = network.apply(params, *flat_windows(batch, sentence), config=config)
  return decode(scores, batch, params.get("crf"), config=config, sentence=sentence)


def flat_windows(batch: dict[str, Array], sentence: bool) -> tuple[Array, Array]:
  """The batch's ``window_ids`` and ``feature_ids``, a sentence batch's
  ``[B, T, ...]`` flattened to ``[B*T, ...]`` windows."""
  window_ids, feature_ids = batch["window_ids"], batch["feature_ids"]
  if sentence:
    b, t, w = window_ids.shape
    window_ids = window_ids.reshape(b * t, w)
    feature_ids = feature_ids.reshape((b * t,) + feature_ids.shape[2:])
  return window_ids, feature_ids


def decode(scores: Array, batch: dict[str, Array], crf_params: Any, *,
           config: config_lib.ModelConfig, sentence: bool) -> Array:
  """A batch's predictions from its scores (``eval_step``'s; a seed ensemble's
  combined scores, ``wincls.train.ensemble``): Viterbi with ``crf_params`` over
  a sentence batch, the scores of a detector, else the argmax."""
  if sentence:
    b, t = batch["window_ids"].shape[:2]
    tags, _ = crf.viterbi_decode(scores.reshape(b, t, -1), batch["mask"], crf_params)
    return tags
  if config.output == "score":
    return scores
  return jnp.argmax(scores, axis=-1).astype(jnp.int32)


def eval_dataset(params: Any, data: dict[str, Array], *, step_fn: Callable,
                 batch_size: int, layout: distributed.Layout | None = None) -> Array:
  """``step_fn`` over all rows of ``data`` in chunks of ``batch_size`` (``lax.map``).

  With a ``layout`` each chunk is split over its devices.
  """
  num_rows = jax.tree.leaves(data)[0].shape[0]
  num_steps = -(-num_rows // batch_size)
  padding = num_steps * batch_size - num_rows

  def chunked(array):
    pad = jnp.zeros((padding,) + array.shape[1:], array.dtype)
    array = jnp.concatenate([array, pad])
    return array.reshape((num_steps, batch_size) + array.shape[1:])

  chunks = {k: chunked(v) for k, v in data.items() if k != "mask"}
  if "mask" in data:
    # Padding sentences get one real position: Viterbi needs length >= 1.
    first = (jnp.arange(data["mask"].shape[1]) == 0).astype(data["mask"].dtype)
    mask = jnp.concatenate([data["mask"], jnp.broadcast_to(
        first, (padding,) + data["mask"].shape[1:])])
    chunks["mask"] = mask.reshape((num_steps, batch_size) + mask.shape[1:])
  chunks = distributed.shard_batch(chunks, layout, axis=1)
  out = lax.map(lambda batch: step_fn(params, batch), chunks)
  return out.reshape((num_steps * batch_size,) + out.shape[2:])[:num_rows]


