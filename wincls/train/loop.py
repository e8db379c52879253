"""Training and evaluation: ``train_and_evaluate(config, workdir) -> results``.

The shape of flax's examples: ``train_step(state, batch, rng) -> (state,
metrics)`` and ``eval_step(params, batch) -> predictions`` are plain functions;
they are jitted where they are used (``_train_epoch_fn``/``_eval_fn``) with
their static settings bound by ``functools.partial`` and the state donated.

One epoch is one jitted call: the training windows live on the device, the
epoch draws a permutation from its key and ``lax.scan`` runs the steps, each
gathering its batch by the permutation (the last, partial batch is padded with
weight-0 rows, so every step has the same shape and nothing recompiles). So
the Python loop runs once per epoch, not once per step.

**Seeds.** ``num_seeds=N`` trains N independent replicas with seeds ``seed,
seed+1, ...`` in one program: the state (params and optimizer state) has a
leading axis of size N and the epoch is ``jax.vmap``-ed over it and over the
per-seed keys (init key, shuffles, dropout), with the data shared. Replica i
computes what a run with ``seed=seed+i`` computes (tests/test_train.py).

**Randomness.** Everything comes from ``jax.random.key(seed_i)``: the initial
parameters from ``fold_in(key, INIT_STREAM)``, epoch e from
``fold_in(fold_in(key, EPOCH_STREAM), e)``; with ``part = fold_in(epoch_key, b)``
for bucket b (0 for token data), the permutation comes from ``fold_in(part, 0)``
and step i's key from ``fold_in(fold_in(part, 1), i)``. So a resumed run draws what an uninterrupted one draws.
The ``train_fraction`` subset is drawn with a fixed seed (``SUBSAMPLE_SEED``),
not the run's: every seed and configuration sees the same sentences, and
smaller fractions are subsets of larger ones.

**Optimizer** (``make_optimizer``): ``clip_by_global_norm(grad_clip)`` (off at
0) → the method's scaling (``sgd``: none, the lecture's θ ← θ − α∇J; ``adam``:
``scale_by_adam``; ``adagrad``: ``scale_by_rss`` as ``optax.adagrad``) →
``add_decayed_weights(weight_decay)`` (decoupled, AdamW-style for Adam; L2
regularisation for SGD) → the schedule's factor (constant 1; cosine
``(1 + cos(π t/T))/2``; linear ``1 − t/T``; T = total steps) → ``−learning_rate``.
It is built by ``optax.inject_hyperparams``, so ``learning_rate``,
``weight_decay`` and ``grad_clip`` live in the optimizer *state* (per seed),
and changing them does not recompile. Frozen word vectors
(``models.trainable_mask``) go through ``optax.multi_transform`` to
``set_to_zero``: their update is exactly 0.

**Word table updates.** ``embedding_update="dense"`` lets optax update every
parameter (the ``[V, E]`` word table included) each step;
``embedding_update="sparse"`` updates only the rows of the words in the batch
(``wincls/sparse.py``: exact for SGD and AdaGrad, lazy Adam), with the global
norm clipping computed over the whole gradient. ``word_dropout`` replaces each
non-reserved word id of a training batch by ``<unk>`` with that probability
(drawn from ``fold_in(step_key, 1)``; the loss gets ``fold_in(step_key, 0)``).

**CRF (``loss="crf"``)** trains on padded sentences ``[B, T, W]`` with a mask.
Sentences are bucketed by length into ``T`` from the geometric ladder 8, 12, 18,
27, 41, 62, 93, 140, ... (×1.5; only rungs holding sentences are used), so a
sentence longer than 8 is padded to less than 1.5× its length: on CoNLL-2003
train that is 8 buckets (8 compiled epoch programs, compiled once per run) and
22% padded positions, against 87% when every sentence is padded to the longest
(124). A batch holds ``max(1, batch_size // T)`` sentences, i.e. about
``batch_size`` token positions. Each bucket is one scanned, jitted pass; the
buckets run in an order shuffled per epoch (the same order for every seed).

**Evaluation.** Predictions on dev are decoded to tags of the label scheme
(argmax, or Viterbi for the CRF) and scored against the gold tags of the
original file with conlleval semantics (``wincls.metrics``). ``output="score"``
runs are binary detectors of ``target_type`` (decision ``s > 0``) scored by
token-level detection P/R/F1; their ``dev_f1`` is that detection F1.

**Devices.** ``train_and_evaluate(..., layout=distributed.make_layout(N))``
trains data-parallel on N devices (and hosts) with the same programs: the
training windows and the state are replicated (or the word table split on its
rows), each step's batch rows are split over the devices, and GSPMD inserts
the gradient all-reduce (``wincls/distributed.py``, docs/scaling.md). In a
multi-process run process 0 alone reads and writes the workdir.

**Per epoch** it logs loss, dev P/R/F1, windows/s, the L2 norms of the
parameters and of the gradient (mean over steps) to absl logging and to
``<workdir>/metrics.jsonl``; it keeps per seed the parameters of the best dev F1
epoch (``checkpoints/best``) and stops when every seed has gone ``patience``
epochs without improving (``patience=0``: never). See ``wincls/checkpoint.py``
for the workdir's files and how a killed run resumes.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

from absl import logging
import jax
import jax.numpy as jnp
from jax import lax
import numpy as np
import optax
import tqdm

from wincls.train import workdir as checkpoint
from wincls import config as config_lib
from wincls import crf
from wincls.train import distributed
from wincls import metrics as metrics_lib
from wincls import models
from wincls import objectives
from wincls.data import conll
from wincls.data import datasets
from wincls.data import tags as tags_lib
from wincls.data import vocab as vocab_lib
from wincls.data import windows as windows_lib

Array = jax.Array
State = dict[str, Any]

INIT_STREAM = 0
EPOCH_STREAM = 1
SUBSAMPLE_SEED = 0
EVAL_BATCH_SIZE = 2048  # windows per evaluation step (sentences: / T)
BUCKET_MIN_LEN = 8
BUCKET_GROWTH = 1.5
# Keys of metrics.jsonl rows that measure time and differ between identical runs.
TIMING_KEYS = ("windows_per_sec", "epoch_time", "eval_time", "compile_time",
               "wall_time")


# ----------------------------------------------------------------------------
# Data.


@dataclasses.dataclass
class RunData:
  """A run's data, encoded for the model.

  Attributes:
    vocab: word ids.
    label_vocab: tag ids in ``config.label_scheme``.
    model_config: the model's static settings (sizes from the data).
    train_corpus: the training sentences (after ``train_fraction``).
    dev_corpus: the dev sentences.
    train: the training windows; ``labels`` are class ids (0/1 for
      ``output="score"``).
    dev: the dev windows, labelled likewise.
    pretrained: ``[V, E]`` initial word vectors, or None (random).
    vectors_report: ``align_vectors``' coverage report, or None.
  """

  vocab: vocab_lib.Vocab
  label_vocab: vocab_lib.LabelVocab
  model_config: config_lib.ModelConfig
  train_corpus: conll.Corpus
  dev_corpus: conll.Corpus
  train: windows_lib.WindowedCorpus
  dev: windows_lib.WindowedCorpus
  pretrained: np.ndarray | None = None
  vectors_report: dict[str, Any] | None = None


def subsample(corpus: conll.Corpus, fraction: float) -> conll.Corpus:
  """``round(fraction · n)`` sentences (at least 1) drawn with ``SUBSAMPLE_SEED``.

  Kept in file order; the draw is a prefix of one fixed permutation, so a
  smaller fraction gives a subset of a larger one.
  """
  if fraction >= 1.0:
    return corpus
  n = len(corpus)
  k = max(1, int(round(fraction * n)))
  chosen = np.sort(np.random.default_rng(SUBSAMPLE_SEED).permutation(n)[:k])
  return corpus.subset([corpus.sentences[i] for i in chosen])


def _target_labels(label_vocab: vocab_lib.LabelVocab, target_type: str) -> np.ndarray:
  """bool ``[C]``: which labels belong to ``target_type``."""
  if target_type not in label_vocab.types:
    raise ValueError(f"--target_type={target_type!r} is not an entity type of the "
                     f"data; expected one of {', '.join(label_vocab.types)}")
  return np.array([tags_lib.io_type(t) == target_type for t in label_vocab.labels])


def load_splits(config: config_lib.Config) -> dict[str, conll.Corpus]:
  return datasets.load_splits(config.dataset, data_dir=config.data_dir or None,
                              train_path=config.train_path or None,
                              dev_path=config.dev_path or None)


def _load_vectors(config: config_lib.Config, vocab_for_extension, train_corpus,
                  dev_corpus):
  """Pre-trained vectors: returns ``(vocab, table, report)``."""
  from wincls.data import vectors as vectors_lib
  spec = config.vectors_path or config.vectors
  vec_words, matrix = vectors_lib.load_vectors(spec, dim=config.embed_dim)
  if matrix.shape[1] != config.embed_dim:
    raise ValueError(f"--vectors={spec} has dimension {matrix.shape[1]}; "
                     f"--embed_dim={config.embed_dim}")
  vocab = vocab_for_extension
  if vocab is None:
    # Training words, plus the dev words the vectors know (their vectors are
    # pre-trained, not learned from dev labels; the usual practice).
    known = set(vec_words) | {w.lower() for w in vec_words}
    train_vocab = vocab_lib.Vocab.build(
        train_corpus.words, min_count=config.min_count, lowercase=config.lowercase,
        normalize_digits=config.normalize_digits)
    extra = [w for s in dev_corpus.words for w in s
             if train_vocab.normalize(w) in known or w in known]
    vocab = train_vocab.extend(extra) if config.vocab_include_dev else train_vocab
  counts, forms = vectors_lib.corpus_counts(train_corpus.words,
                                            normalize=vocab.normalize)
  table, report = vectors_lib.align_vectors(
      vocab.words, vec_words, matrix, counts=counts, surface_forms=forms,
      seed=config.seed)
  logging.info("%s", vectors_lib.format_coverage(report, title=f"vectors {spec}"))
  return vocab, table, report


def prepare_data(config: config_lib.Config, workdir: str | os.PathLike | None = None,
                 *, reuse_vocab: bool = True) -> RunData:
  """Reads the dataset and encodes it; reuses/saves the vocabularies in ``workdir``.

  Args:
    config: the run's settings.
    workdir: where ``vocab.json``/``labels.json`` are read from (when present
      and ``reuse_vocab``) or written to (after everything else succeeded).
    reuse_vocab: False ignores (and overwrites) vocabulary files of ``workdir``.

  Raises:
    ValueError, FileNotFoundError, conll.DataError: bad data or settings, with
      a message naming the flag or the file and line.
  """
  splits = load_splits(config)
  train_corpus = subsample(splits["train"], config.train_fraction)
  dev_corpus = splits["dev"]
  vocab_path = label_path = None
  if workdir is not None:
    vocab_path = Path(workdir) / checkpoint.VOCAB_FILE
    label_path = Path(workdir) / checkpoint.LABELS_FILE
  reuse = reuse_vocab and vocab_path is not None
  vocab = vocab_lib.Vocab.load(vocab_path) if reuse and vocab_path.exists() else None
  if reuse and label_path.exists():
    label_vocab = vocab_lib.LabelVocab.load(label_path)
  else:
    # Types of train and dev: the label set belongs to the task, and a small
    # train_fraction may miss a rare type.
    label_vocab = vocab_lib.LabelVocab.from_tags(
        list(train_corpus.tags) + list(dev_corpus.tags), scheme=config.label_scheme)
  pretrained = report = None
  if config.vectors != "random":
    vocab, pretrained, report = _load_vectors(config, vocab, train_corpus, dev_corpus)
  elif config.vectors_path:
    raise ValueError("--vectors_path is set but --vectors=random; pass --vectors="
                     "file (or a name) to use it")
  if vocab is None:
    vocab = vocab_lib.Vocab.build(
        train_corpus.words, min_count=config.min_count, lowercase=config.lowercase,
        normalize_digits=config.normalize_digits)
  encode = functools.partial(windows_lib.encode_corpus, vocab=vocab,
                             window_size=config.window_size, features=config.features,
                             label_vocab=label_vocab, label_scheme=config.label_scheme)
  train, dev = encode(train_corpus), encode(dev_corpus)
  if config.output == "score":
    is_target = _target_labels(label_vocab, config.target_type)
    train = train._replace(labels=is_target[train.labels].astype(np.int32))
    dev = dev._replace(labels=is_target[dev.labels].astype(np.int32))
  model_config = config.model_config(
      vocab_size=len(vocab),
      feature_sizes=tuple(vocab_lib.FEATURE_SIZES[f] for f in config.features),
      num_classes=len(label_vocab))
  if vocab_path is not None:
    Path(workdir).mkdir(parents=True, exist_ok=True)
    if not (reuse and vocab_path.exists()):
      vocab.save(vocab_path)
    if not (reuse and label_path.exists()):
      label_vocab.save(label_path)
  return RunData(vocab=vocab, label_vocab=label_vocab, model_config=model_config,
                 train_corpus=train_corpus, dev_corpus=dev_corpus, train=train,
                 dev=dev, pretrained=pretrained, vectors_report=report)


def token_arrays(data: windows_lib.WindowedCorpus) -> dict[str, np.ndarray]:
  """``{"window_ids": [N, W], "feature_ids": [N, W, K], "labels": [N]}``."""
  return {"window_ids": data.window_ids, "feature_ids": data.feature_ids,
          "labels": data.labels}


def bucket_lengths(max_length: int) -> list[int]:
  """The ladder of padded lengths ``8, 12, 18, ...`` up to ``max_length``."""
  ladder = [BUCKET_MIN_LEN]
  while ladder[-1] < max_length:
    ladder.append(int(math.ceil(ladder[-1] * BUCKET_GROWTH)))
  return ladder


@dataclasses.dataclass
class Bucket:
  """Sentences padded to one length T.

  Attributes:
    length: T.
    sentences: int ``[S_b]`` indices of the sentences (in corpus order).
    arrays: ``{"window_ids": [S_b, T, W], "feature_ids": [S_b, T, W, K],
      "labels": [S_b, T], "mask": [S_b, T]}`` (mask float 1 for real tokens).
    batch_size: sentences per training step, ``max(1, batch_size // T)``.
  """

  length: int
  sentences: np.ndarray
  arrays: dict[str, np.ndarray]
  batch_size: int


def sentence_buckets(data: windows_lib.WindowedCorpus, *, batch_size: int) -> list[Bucket]:
  """Groups the sentences into length buckets (module docstring)."""
  lengths = np.asarray(data.lengths, np.int64)
  starts = np.cumsum(lengths) - lengths
  ladder = np.asarray(bucket_lengths(int(lengths.max(initial=1))))
  which = np.searchsorted(ladder, lengths)  # first rung >= length
  buckets = []
  for b, length in enumerate(ladder):
    chosen = np.flatnonzero(which == b)
    if chosen.size == 0:
      continue
    positions = np.arange(length)[None, :]
    mask = positions < lengths[chosen][:, None]  # [S_b, T]
    rows = np.where(mask, starts[chosen][:, None] + positions, 0)
    arrays = {
        "window_ids": np.where(mask[..., None], data.window_ids[rows], 0),
        "feature_ids": np.where(mask[..., None, None], data.feature_ids[rows], 0),
        "labels": np.where(mask, data.labels[rows], 0).astype(np.int32),
        "mask": mask.astype(np.float32),
    }
    buckets.append(Bucket(length=int(length), sentences=chosen, arrays=arrays,
                          batch_size=max(1, batch_size // int(length))))
  return buckets


# ----------------------------------------------------------------------------
# Optimizer.


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
  """The run's optimizer (module docstring); numbers are injected hyperparameters.

  Args:
    optimizer: ``sgd | adam | adagrad``.
    schedule: ``constant | cosine | linear``.
    total_steps: T of the schedule.
    trainable: ``models.trainable_mask(params, config)``.
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


# ----------------------------------------------------------------------------
# Steps.


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


def train_step(state: State, batch: dict[str, Array], rng: Array, *,
               tx: optax.GradientTransformation, config: config_lib.ModelConfig,
               loss: str, grad: str, margin: float, num_corruptions: int,
               word_dropout: float = 0.0, embedding_update: str = "dense",
               optimizer: str = "adam",
               schedule: Callable[[Array], Array] | None = None
               ) -> tuple[State, dict[str, Array]]:
  """One optimizer step on one batch.

  Args:
    state: ``{"params": ..., "opt_state": ...}``, plus ``"rows"`` (the word
      table's ``sparse.SparseRowState``) for ``embedding_update="sparse"``,
      where ``opt_state`` covers every parameter but the word table.
    batch: a token batch (with ``weights``) or a sentence batch (``loss="crf"``).
    rng: this step's key: ``fold_in(rng, 0)`` goes to the loss (dropout,
      corruptions), ``fold_in(rng, 1)`` draws the word dropout.
    tx: the optimizer (``make_optimizer``).
    config, loss, margin, num_corruptions: as for ``objectives.loss_fn``.
    grad: ``"autodiff"`` (``jax.value_and_grad``) or ``"hand"``
      (``backprop.hand_grad``).
    word_dropout: probability that a word id becomes ``<unk>``.
    embedding_update: ``"dense"`` (optax on every parameter) or ``"sparse"``
      (``wincls.sparse``: only the batch's rows of the word table; the global
      norm clipping covers them too).
    optimizer: the row optimizer for ``"sparse"`` (same as ``tx``'s method).
    schedule: the learning-rate factor of step t, for ``"sparse"``'s rows.

  Returns:
    ``(new_state, {"loss_sum", "weight_sum", "grad_norm"})``.
  """
  params = state["params"]
  kwargs = dict(config=config, loss=loss, key=jax.random.fold_in(rng, 0), margin=margin,
                num_corruptions=num_corruptions)
  if word_dropout > 0.0:
    batch = dict(batch)
    batch["window_ids"] = word_dropout_ids(jax.random.fold_in(rng, 1),
                                           batch["window_ids"], word_dropout)
  if grad == "hand":
    from wincls import backprop
    grad_fn = functools.partial(backprop.hand_grad, **kwargs)
  else:
    value_and_grad = jax.value_and_grad(objectives.loss_fn, has_aux=True)

    def grad_fn(params, batch):
      (mean, _), grads = value_and_grad(params, batch, **kwargs)
      return mean, grads

  weight_sum = _weight_sum(batch)
  if embedding_update == "sparse":
    from wincls.train import sparse
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
    new_state = {"params": sparse.merge_words(words, rest), "opt_state": opt_state,
                 "rows": rows}
  else:
    mean, grads = grad_fn(params, batch)
    grad_norm = optax.tree.norm(grads)
    updates, opt_state = tx.update(grads, state["opt_state"], params)
    new_state = {"params": optax.apply_updates(params, updates), "opt_state": opt_state}
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
    layout: devices to split each batch over (``wincls.distributed``): each
      device gathers its slice of the batch's rows from its replica of
      ``data``; None: one device. The program is the same either way.

  Returns:
    ``(state, {"loss_sum", "weight_sum", "grad_norm_sum", "num_steps",
    "param_norm"})``.
  """
  num_rows = jax.tree.leaves(data)[0].shape[0]
  num_steps = -(-num_rows // batch_size)
  padding = num_steps * batch_size - num_rows
  epoch_key = jax.random.fold_in(jax.random.fold_in(seed_key, EPOCH_STREAM), epoch)
  part_key = jax.random.fold_in(epoch_key, bucket)
  order = jax.random.permutation(jax.random.fold_in(part_key, 0), num_rows)
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
  return state, {"loss_sum": jnp.sum(step_metrics["loss_sum"]),
                 "weight_sum": jnp.sum(step_metrics["weight_sum"]),
                 "grad_norm_sum": jnp.sum(step_metrics["grad_norm"]),
                 "num_steps": jnp.asarray(num_steps, jnp.float32),
                 "param_norm": optax.tree.norm(state["params"])}


def eval_step(params: Any, batch: dict[str, Array], *, config: config_lib.ModelConfig,
              loss: str) -> Array:
  """Predictions of one batch (no dropout).

  Returns:
    int32 ``[B]`` class ids (argmax) for output="multiclass"; ``[B]`` scores for
    output="score"; int32 ``[B, T]`` Viterbi tags for ``loss="crf"``.
  """
  if loss == "crf":
    window_ids = batch["window_ids"]
    b, t, w = window_ids.shape
    feature_ids = batch["feature_ids"].reshape((b * t,) + batch["feature_ids"].shape[2:])
    emissions = models.apply(params, window_ids.reshape(b * t, w), feature_ids,
                             config=config).reshape(b, t, -1)
    tags, _ = crf.viterbi_decode(emissions, batch["mask"], params["crf"])
    return tags
  scores = models.apply(params, batch["window_ids"], batch["feature_ids"], config=config)
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


@dataclasses.dataclass(frozen=True)
class _Static:
  """The settings compiled into the programs (hashable; no swept numbers)."""

  model_config: config_lib.ModelConfig
  loss: str
  grad: str
  margin: float
  num_corruptions: int
  optimizer: str
  schedule: str
  total_steps: int
  word_dropout: float = 0.0
  embedding_update: str = "dense"
  layout: distributed.Layout | None = None  # None: one device


def _optimizer_for(static: _Static, **values) -> optax.GradientTransformation:
  """The optax transformation of the parameters it updates (sparse: all but words)."""
  # The trainable mask needs the params' structure only.
  shapes = jax.eval_shape(functools.partial(models.init_params,
                                            config=static.model_config),
                          jax.random.key(0))
  trainable = models.trainable_mask(shapes, static.model_config)
  if static.embedding_update == "sparse":
    from wincls.train import sparse
    trainable = sparse.split_words(trainable)[1]
  return make_optimizer(optimizer=static.optimizer, schedule=static.schedule,
                        total_steps=static.total_steps, trainable=trainable, **values)


@functools.lru_cache(maxsize=32)
def _train_epoch_fn(static: _Static, batch_size: int) -> Callable:
  """The jitted, seed-vmapped epoch for these settings (cached: compiled once)."""
  step_fn = functools.partial(
      train_step, tx=_optimizer_for(static), config=static.model_config,
      loss=static.loss, grad=static.grad, margin=static.margin,
      num_corruptions=static.num_corruptions, word_dropout=static.word_dropout,
      embedding_update=static.embedding_update, optimizer=static.optimizer,
      schedule=schedule_factor(static.schedule, static.total_steps))
  layout = static.layout
  epoch_fn = jax.vmap(functools.partial(train_epoch, step_fn=step_fn,
                                        batch_size=batch_size, layout=layout),
                      in_axes=(0, None, 0, None, None))
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
  step_fn = functools.partial(eval_step, config=model_config, loss=loss)
  fn = jax.vmap(functools.partial(eval_dataset, step_fn=step_fn, batch_size=batch_size,
                                  layout=layout), in_axes=(0, None))
  return jax.jit(lambda params, data: distributed.replicate(fn(params, data), layout))


@functools.lru_cache(maxsize=32)
def _init_fn(static: _Static) -> Callable:
  tx = _optimizer_for(static)

  def init(seed_key, pretrained, learning_rate, weight_decay, grad_clip):
    params = models.init_params(jax.random.fold_in(seed_key, INIT_STREAM),
                                config=static.model_config, pretrained=pretrained)
    state = {"params": params}
    if static.embedding_update == "sparse":
      from wincls.train import sparse
      words, rest = sparse.split_words(params)
      opt_state = tx.init(rest)
      state["rows"] = sparse.init_rows_state(words, optimizer=static.optimizer)
    else:
      opt_state = tx.init(params)
    state["opt_state"] = opt_state
    hyper = opt_state.hyperparams
    hyper["learning_rate"] = jnp.asarray(learning_rate, hyper["learning_rate"].dtype)
    hyper["weight_decay"] = jnp.asarray(weight_decay, hyper["weight_decay"].dtype)
    hyper["grad_clip"] = jnp.asarray(grad_clip, hyper["grad_clip"].dtype)
    return state

  vmapped = jax.vmap(init, in_axes=(0, None, None, None, None))
  return jax.jit(lambda *args: distributed.constrain_state(
      vmapped(*args), static.layout, vocab_size=static.model_config.vocab_size))


def seed_keys(seed: int, num_seeds: int) -> Array:
  """``[num_seeds]`` typed keys ``jax.random.key(seed + i)``."""
  return jnp.stack([jax.random.key(seed + i) for i in range(num_seeds)])


# ----------------------------------------------------------------------------
# The model as a tagger.


class Tagger:
  """Predicts tags for encoded corpora with (a stack of) parameters.

  Args:
    model_config: the model's settings.
    config: the run's config (loss, output, label scheme).
    label_vocab: the labels.
    layout: devices to split the evaluation batches over (None: one device).
  """

  def __init__(self, model_config: config_lib.ModelConfig, config: config_lib.Config,
               label_vocab: vocab_lib.LabelVocab, *,
               layout: distributed.Layout | None = None):
    self.model_config = model_config
    self.config = config
    self.label_vocab = label_vocab
    self.layout = layout

  def _put(self, arrays: dict[str, np.ndarray]) -> dict[str, Array]:
    if self.layout is None:
      return jax.tree.map(jnp.asarray, arrays)
    return distributed.put_replicated(arrays, self.layout)

  def predict(self, params: Any, data: windows_lib.WindowedCorpus) -> np.ndarray:
    """Per-seed predictions ``[S, N]`` (class ids, or scores for output="score").

    Args:
      params: parameters with a leading seed axis ``[S, ...]``.
      data: the encoded corpus.
    """
    config = self.config
    num_seeds = jax.tree.leaves(params)[0].shape[0]
    if config.loss != "crf":
      fn = _eval_fn(self.model_config, config.loss, EVAL_BATCH_SIZE, self.layout)
      arrays = {"window_ids": data.window_ids, "feature_ids": data.feature_ids}
      return np.asarray(fn(params, self._put(arrays)))
    out = np.zeros((num_seeds, data.window_ids.shape[0]), np.int32)
    starts = np.cumsum(data.lengths) - data.lengths
    for bucket in sentence_buckets(data, batch_size=1):
      arrays = {k: v for k, v in bucket.arrays.items() if k != "labels"}
      fn = _eval_fn(self.model_config, "crf", max(1, EVAL_BATCH_SIZE // bucket.length),
                    self.layout)
      tags = np.asarray(fn(params, self._put(arrays)))  # [S, S_b, T]
      mask = bucket.arrays["mask"].astype(bool)
      rows = (starts[bucket.sentences][:, None] + np.arange(bucket.length)[None, :])
      out[:, rows[mask]] = tags[:, mask]
    return out

  def to_tags(self, predictions: np.ndarray, lengths: np.ndarray) -> list[list[str]]:
    """One seed's predictions ``[N]`` as per-sentence tags of the label scheme.

    For output="score": ``I-<target_type>`` where the score is > 0, else ``O``.
    """
    if self.config.output == "score":
      target = f"I-{self.config.target_type}"
      flat = [target if s > 0 else "O" for s in predictions]
    else:
      flat = self.label_vocab.decode(predictions)
    out, start = [], 0
    for n in np.asarray(lengths):
      out.append(flat[start:start + int(n)])
      start += int(n)
    return out

  def evaluate(self, predictions: np.ndarray, corpus: conll.Corpus,
               data: windows_lib.WindowedCorpus) -> dict[str, Any]:
    """Scores of one seed's predictions ``[N]`` against the corpus' gold tags.

    Returns:
      ``{"precision", "recall", "f1", "accuracy", ...}``: entity scores
      (``metrics.evaluate_tags``) for a multiclass tagger, detection scores
      (``metrics.detection_scores``) for output="score".
    """
    if self.config.output == "score":
      return metrics_lib.detection_scores(data.labels == 1, predictions > 0)
    return metrics_lib.evaluate_tags(
        corpus.tags, self.to_tags(predictions, data.lengths), gold_scheme=corpus.scheme,
        label_scheme=self.label_vocab.scheme, labels=self.label_vocab.labels)


# ----------------------------------------------------------------------------
# The loop.


def _progress(iterable, **kwargs):
  return tqdm.tqdm(iterable, disable=not sys.stdout.isatty(), **kwargs)


def _epoch_rows(epoch, seeds, train_sums, dev_scores, *, active, timing,
                learning_rate):
  rows = []
  for i, seed in enumerate(seeds):
    if not active[i]:
      continue
    scores = dev_scores[i]
    row = {
        "epoch": epoch, "seed": seed,
        "loss": float(train_sums["loss_sum"][i] / max(train_sums["weight_sum"][i], 1.0)),
        "dev_precision": scores["precision"], "dev_recall": scores["recall"],
        "dev_f1": scores["f1"], "dev_accuracy": scores["accuracy"],
        "param_norm": float(train_sums["param_norm"][i]),
        "grad_norm": float(train_sums["grad_norm_sum"][i] /
                           max(train_sums["num_steps"][i], 1.0)),
        "learning_rate": float(learning_rate[i]),
    }
    for type_, s in scores.get("per_type", {}).items():
      row[f"dev_f1_{type_}"] = s["f1"]
    row.update(timing)
    rows.append(row)
  return rows


def _seed_results(seeds, scores, best_epoch) -> list[dict[str, Any]]:
  out = []
  for i, seed in enumerate(seeds):
    s = scores[i]
    row = {"seed": seed, "best_epoch": int(best_epoch[i]), "dev_f1": s["f1"],
           "dev_precision": s["precision"], "dev_recall": s["recall"],
           "dev_accuracy": s["accuracy"]}
    if "per_type" in s:
      row["per_type"] = s["per_type"]
    out.append(row)
  return out


def _load_results(workdir: Path) -> dict[str, Any]:
  return checkpoint.read_json(workdir / checkpoint.RESULTS_FILE)


@jax.jit
def _copy_tree(tree: Any) -> Any:
  return jax.tree.map(jnp.copy, tree)


@jax.jit
def _select_seeds(mask: Array, new: Any, old: Any) -> Any:
  """Per seed (leading axis), ``new``'s leaves where ``mask`` [S] else ``old``'s."""
  return jax.tree.map(
      lambda a, b: jnp.where(mask.reshape((-1,) + (1,) * (a.ndim - 1)), a, b), new, old)


def _data_digest(data: RunData) -> str:
  """What must be the same in every process of a run: vocabularies and data."""
  return json.dumps([list(data.vocab.words), list(data.label_vocab.labels),
                     data.train.window_ids.shape, int(data.train.labels.sum()),
                     data.dev.window_ids.shape])


def train_and_evaluate(config: config_lib.Config, workdir: str | os.PathLike, *,
                       layout: distributed.Layout | None = None) -> dict[str, Any]:
  """Trains ``config.num_seeds`` replicas and evaluates them on dev.

  Resumes from ``<workdir>/checkpoints/latest`` when present; returns the
  stored results without training when ``results.json`` exists.

  Args:
    config: the run's settings (validated here).
    workdir: the run's directory (created if needed).
    layout: the devices to train on, data-parallel (``wincls.distributed``);
      None: one device. In a multi-process run every process calls this with
      the same arguments; process 0 reads the workdir and tells the others
      what it holds, and only process 0 writes it.

  Returns:
    The content of ``results.json``: ``{"seeds": [{"seed", "best_epoch",
    "dev_f1", "dev_precision", "dev_recall", "dev_accuracy", "per_type"}...],
    "best_seed_index", "dev_f1_mean", "dev_f1_std", "epochs_run",
    "wall_time", "num_train_windows", "num_dev_windows", ...}``.

  Raises:
    checkpoint.ConfigMismatchError: ``workdir`` holds a run of another config.
    ValueError, FileNotFoundError, conll.DataError: bad settings or data.
  """
  config.validate()
  if config.embedding_update == "sparse":
    from wincls.train import sparse
    sparse.check_supported(config)
  if config.loss != "crf":  # sentence batches (batch_size // T) may split unevenly
    distributed.check_batch_size(config.batch_size, layout)
  lead = distributed.is_lead()
  workdir = Path(workdir)

  def inspect_workdir():
    workdir.mkdir(parents=True, exist_ok=True)
    # config.json is written once the data is read (bad data leaves no run
    # behind); a workdir without it holds no run, whatever else it holds.
    existed = checkpoint.check_workdir_config(workdir, config, write=False)
    finished = existed and (workdir / checkpoint.RESULTS_FILE).exists()
    return {"existed": existed, "results": _load_results(workdir) if finished else None}

  found = distributed.run_on_lead(inspect_workdir)
  existed = found["existed"]
  if found["results"] is not None:
    results = found["results"]
    logging.info("%s is finished; stored results: dev F1 %s", workdir,
                 [round(s["dev_f1"], 4) for s in results["seeds"]])
    return results

  start_time = time.perf_counter()
  data = prepare_data(config, workdir if lead else None, reuse_vocab=existed)
  distributed.check_same(_data_digest(data), "the vocabulary or data")
  if lead and not existed:
    for name in (checkpoint.METRICS_FILE, checkpoint.RESULTS_FILE):
      (workdir / name).unlink(missing_ok=True)
    for name in (checkpoint.LATEST, checkpoint.BEST):
      checkpoint.checkpoint_path(workdir, name).unlink(missing_ok=True)
    checkpoint.check_workdir_config(workdir, config)
  if lead and data.vectors_report is not None:
    checkpoint.write_json(workdir / "vectors_coverage.json", data.vectors_report)
  model_config = data.model_config
  layout = distributed.word_table_layout(layout, model_config.vocab_size)
  num_seeds = config.num_seeds
  seeds = [config.seed + i for i in range(num_seeds)]
  keys = seed_keys(config.seed, num_seeds)

  def place_data(arrays):
    if layout is None:
      return jax.tree.map(jnp.asarray, arrays)
    return distributed.put_replicated(arrays, layout)

  def place_state(tree):
    if layout is None:
      return jax.tree.map(jnp.asarray, tree)
    return distributed.put(tree, distributed.state_shardings(
        tree, layout, vocab_size=model_config.vocab_size))

  # Training data on the device(s): one array set for tokens, one per bucket
  # for sentences; replicated over a layout's devices.
  if config.loss == "crf":
    buckets = sentence_buckets(data.train, batch_size=config.batch_size)
    parts = [(b.batch_size, place_data(b.arrays)) for b in buckets]
    steps_per_epoch = sum(-(-len(b.sentences) // b.batch_size) for b in buckets)
  else:
    parts = [(config.batch_size, place_data(token_arrays(data.train)))]
    steps_per_epoch = -(-data.train.labels.shape[0] // config.batch_size)
  static = _Static(model_config=model_config, loss=config.loss, grad=config.grad,
                   margin=float(config.margin), num_corruptions=config.num_corruptions,
                   optimizer=config.optimizer, schedule=config.schedule,
                   # Only a decaying schedule depends on the run's length.
                   total_steps=(0 if config.schedule == "constant"
                                else steps_per_epoch * config.epochs),
                   word_dropout=float(config.word_dropout),
                   embedding_update=config.embedding_update, layout=layout)
  num_train_windows = int(data.train.labels.shape[0])
  tagger = Tagger(model_config, config, data.label_vocab, layout=layout)

  grad_clip = config.grad_clip if config.grad_clip > 0 else float("inf")
  pretrained = None
  if data.pretrained is not None:
    pretrained = (jnp.asarray(data.pretrained) if layout is None
                  else distributed.put_replicated(data.pretrained, layout))
  state = _init_fn(static)(keys, pretrained, config.learning_rate,
                           config.weight_decay, grad_clip)
  early = {"best_f1": np.full(num_seeds, -1.0), "best_epoch": np.zeros(num_seeds, np.int64),
           "bad_epochs": np.zeros(num_seeds, np.int64)}
  # Checkpoints are read by process 0 and broadcast (the others' workdir may
  # be another disk): ``held`` keeps its arrays, the numbers go as JSON.
  held = {}
  shapes_only = lambda tree: jax.tree.map(lambda x: np.zeros(x.shape, x.dtype), tree)

  def read_latest():
    target = {"state": state, "epoch": 0, "wall_time": 0.0, **early}
    latest = held["latest"] = checkpoint.restore_checkpoint(
        workdir, checkpoint.LATEST, target)
    if latest is None:
      return None
    return {"epoch": int(latest["epoch"]), "wall_time": float(latest["wall_time"]),
            **{k: np.asarray(latest[k]).tolist() for k in early}}

  latest = distributed.run_on_lead(read_latest)
  metrics_path = workdir / checkpoint.METRICS_FILE
  start_epoch, elapsed = 0, 0.0
  if latest is not None:
    state = place_state(distributed.broadcast_tree(
        held["latest"]["state"] if lead else shapes_only(state)))
    start_epoch = int(latest["epoch"])
    elapsed = float(latest["wall_time"])
    early = {k: np.asarray(latest[k], early[k].dtype) for k in early}
    logging.info("Resuming %s after epoch %d", workdir, start_epoch)
  if lead:
    # Rows of epochs after the checkpoint come from a killed run: redone below.
    checkpoint.rewrite_jsonl(metrics_path, lambda row: row.get("epoch", 0) <= start_epoch)

  def read_best():
    target = {"params": state["params"], "epoch": early["best_epoch"],
              "f1": early["best_f1"]}
    held["best"] = checkpoint.restore_checkpoint(workdir, checkpoint.BEST, target)
    return held["best"] is not None

  best_params = None
  if start_epoch > 0 and distributed.run_on_lead(read_best):
    best_params = place_state(distributed.broadcast_tree(
        held["best"]["params"] if lead else shapes_only(state["params"])))
  if best_params is None:
    best_params = _copy_tree(state["params"])

  logging.info("Training %s: %d train windows, %d dev windows, %d seeds, %d steps/epoch%s",
               workdir, num_train_windows, data.dev.labels.shape[0], num_seeds,
               steps_per_epoch, "" if layout is None else
               f", data-parallel over {layout.num_devices} devices")
  patience = config.patience
  stopped = (patience > 0) & (early["bad_epochs"] >= patience)
  epochs_run = start_epoch
  epochs_seconds = 0.0  # spent in this process's epochs (already in ``elapsed``)
  for epoch in _progress(range(start_epoch + 1, config.epochs + 1), desc="epochs",
                         initial=start_epoch, total=config.epochs):
    if stopped.all():
      break
    epoch_start = time.perf_counter()
    order = np.arange(len(parts))
    if len(parts) > 1:
      # Depends on the epoch only, so that every seed (vmapped or not) sees
      # the same bucket order.
      order = np.random.default_rng(epoch).permutation(len(parts))
    sums = None
    compile_seconds = 0.0
    for b in order:
      batch_size, arrays = parts[b]
      fn = _train_epoch_fn(static, batch_size)
      args = (state, arrays, keys, jnp.asarray(epoch, jnp.int32), jnp.asarray(b, jnp.int32))
      t0 = time.perf_counter()
      compiled = _compiled(fn, args)
      compile_seconds += time.perf_counter() - t0
      state, part_sums = compiled(*args)
      part_sums = jax.tree.map(np.asarray, part_sums)
      if sums is None:
        sums = part_sums
      else:
        param_norm = part_sums["param_norm"]
        sums = jax.tree.map(np.add, sums, part_sums)
        sums["param_norm"] = param_norm
    jax.block_until_ready(state)
    train_time = time.perf_counter() - epoch_start - compile_seconds
    eval_start = time.perf_counter()
    predictions = tagger.predict(state["params"], data.dev)
    dev_scores = [tagger.evaluate(predictions[i], data.dev_corpus, data.dev)
                  for i in range(num_seeds)]
    eval_time = time.perf_counter() - eval_start
    timing = {"epoch_time": train_time, "eval_time": eval_time,
              "windows_per_sec": num_train_windows * num_seeds / max(train_time, 1e-9)}
    if compile_seconds > 0.05:
      timing["compile_time"] = compile_seconds
    active = ~stopped
    lr = np.asarray(state["opt_state"].hyperparams["learning_rate"])
    rows = _epoch_rows(epoch, seeds, sums, dev_scores, active=active,
                       timing=timing, learning_rate=lr)
    # Early stopping and best parameters, per seed (the same in every process:
    # the predictions are replicated).
    f1 = np.array([s["f1"] for s in dev_scores])
    improved = active & (f1 > early["best_f1"])
    early["best_f1"] = np.where(improved, f1, early["best_f1"])
    early["best_epoch"] = np.where(improved, epoch, early["best_epoch"])
    early["bad_epochs"] = np.where(improved, 0, early["bad_epochs"] + active)
    if improved.any():
      best_params = _select_seeds(jnp.asarray(improved), state["params"], best_params)
    stopped = (patience > 0) & (early["bad_epochs"] >= patience)
    for row in rows:
      row["best_dev_f1"] = float(early["best_f1"][seeds.index(row["seed"])])
      logging.info(
          "epoch %d seed %d: loss %.4f dev P/R/F1 %.4f/%.4f/%.4f acc %.4f | %.0f "
          "windows/s, %.2fs/epoch | |params| %.3g |grad| %.3g", epoch, row["seed"],
          row["loss"], row["dev_precision"], row["dev_recall"], row["dev_f1"],
          row["dev_accuracy"], row["windows_per_sec"], row["epoch_time"],
          row["param_norm"], row["grad_norm"])
    # Order (see checkpoint.py): metrics, best, latest. A kill in between
    # resumes from the previous latest and redoes this epoch identically.
    # ``to_host`` runs in every process (it gathers a split word table).
    if lead:
      checkpoint.append_jsonl(metrics_path, rows)
    if improved.any():
      best_tree = distributed.to_host({"params": best_params, "epoch": early["best_epoch"],
                                       "f1": early["best_f1"]})
      if lead:
        checkpoint.save_checkpoint(workdir, checkpoint.BEST, best_tree)
    elapsed += time.perf_counter() - epoch_start
    epochs_seconds += time.perf_counter() - epoch_start
    latest_tree = distributed.to_host({"state": state, "epoch": epoch,
                                       "wall_time": elapsed, **early})
    if lead:
      checkpoint.save_checkpoint(workdir, checkpoint.LATEST, latest_tree)
    epochs_run = epoch

  # Final evaluation with each seed's best parameters.
  predictions = tagger.predict(best_params, data.dev)
  scores = [tagger.evaluate(predictions[i], data.dev_corpus, data.dev)
            for i in range(num_seeds)]
  f1s = np.array([s["f1"] for s in scores])
  best_index = int(np.argmax(f1s))
  if lead:
    predictions_dir = workdir / "predictions"
    predictions_dir.mkdir(exist_ok=True)
    for i in range(num_seeds):
      pred_tags = tagger.to_tags(predictions[i], data.dev.lengths)
      names = ["dev.txt"] if i == best_index else []
      if num_seeds > 1:
        names.append(f"dev.seed{seeds[i]}.txt")
      for name in names:
        conll.write_conll(predictions_dir / name, data.dev_corpus.words,
                          data.dev_corpus.tags, pred_tags)
  # Epoch time of earlier processes (from the checkpoint) plus all of this one's.
  wall_time = elapsed + (time.perf_counter() - start_time) - epochs_seconds
  results = {
      "seeds": _seed_results(seeds, scores, early["best_epoch"]),
      "best_seed_index": best_index,
      "dev_f1_mean": float(f1s.mean()),
      "dev_f1_std": float(f1s.std(ddof=1)) if num_seeds > 1 else 0.0,
      "epochs_run": int(epochs_run),
      "wall_time": float(wall_time),
      "num_train_windows": num_train_windows,
      "num_dev_windows": int(data.dev.labels.shape[0]),
      "num_train_sentences": len(data.train_corpus),
      "vocab_size": len(data.vocab),
      "labels": list(data.label_vocab.labels),
  }
  if lead:
    checkpoint.write_json(workdir / checkpoint.RESULTS_FILE, results)
  logging.info("Finished %s: dev F1 per seed %s (best seed %d)", workdir,
               [round(float(f), 4) for f in f1s], seeds[best_index])
  return results


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


# ----------------------------------------------------------------------------
# A finished run as a tagger of new files.


def load_run(workdir: str | os.PathLike):
  """``(config, vocab, label_vocab, model_config, best_params [S, ...], results)``.

  Raises:
    FileNotFoundError: the workdir lacks a finished run's files.
  """
  workdir = Path(workdir)
  for name in (checkpoint.CONFIG_FILE, checkpoint.VOCAB_FILE, checkpoint.LABELS_FILE):
    if not (workdir / name).exists():
      raise FileNotFoundError(f"{workdir / name}: missing; expected the workdir of "
                              "a run of experiments/train.py")
  best_path = checkpoint.checkpoint_path(workdir, checkpoint.BEST)
  if not best_path.exists():
    raise FileNotFoundError(f"{best_path}: missing; the run has not finished an "
                            "epoch yet")
  config = config_lib.Config.from_dict(checkpoint.read_json(workdir / checkpoint.CONFIG_FILE))
  vocab = vocab_lib.Vocab.load(workdir / checkpoint.VOCAB_FILE)
  label_vocab = vocab_lib.LabelVocab.load(workdir / checkpoint.LABELS_FILE)
  model_config = config.model_config(
      vocab_size=len(vocab),
      feature_sizes=tuple(vocab_lib.FEATURE_SIZES[f] for f in config.features),
      num_classes=len(label_vocab))
  params = models.init_params(jax.random.key(0), config=model_config)
  params = jax.tree.map(lambda x: jnp.zeros((config.num_seeds,) + x.shape, x.dtype), params)
  target = {"params": params, "epoch": np.zeros(config.num_seeds, np.int64),
            "f1": np.zeros(config.num_seeds)}
  best = checkpoint.restore(best_path, target)
  results_path = workdir / checkpoint.RESULTS_FILE
  results = checkpoint.read_json(results_path) if results_path.exists() else None
  best["params"] = jax.tree.map(jnp.asarray, best["params"])
  return config, vocab, label_vocab, model_config, best, results


def read_input(path: str | os.PathLike) -> conll.Corpus:
  """A CoNLL file with or without gold tags: one column = words only."""
  if not Path(path).is_file():
    return conll.read_conll(path)  # raises its DataError (missing, a directory)
  with open(path, encoding="utf-8-sig", errors="replace") as f:
    for line in f:
      columns = line.split()
      if columns and columns[0] != conll.DOCSTART:
        return conll.read_conll(path, has_tags=len(columns) > 1)
  return conll.read_conll(path)  # raises the reader's error for an empty file


def predict_file(workdir: str | os.PathLike, input_path: str | os.PathLike,
                 output_path: str | os.PathLike, *, seed_index: int | None = None
                 ) -> dict[str, Any]:
  """Tags a CoNLL file with run ``workdir``'s best checkpoint.

  Writes ``word gold pred`` lines (``word pred`` when the input has no tags),
  sentences separated by blank lines (conlleval reads it).

  Args:
    workdir: a run's workdir.
    input_path: CoNLL file; one column = words only, else the last column is gold.
    output_path: where to write.
    seed_index: which replica (default: the best on dev).

  Returns:
    ``{"seed_index", "seed", "num_sentences", "num_tokens", "scores"}`` with
    ``scores`` the P/R/F1 dict when gold tags are present, else None.
  """
  config, vocab, label_vocab, model_config, best, results = load_run(workdir)
  if seed_index is None:
    seed_index = (results["best_seed_index"] if results is not None
                  else int(np.argmax(np.asarray(best["f1"]))))
  if not 0 <= seed_index < config.num_seeds:
    raise ValueError(f"--seed_index={seed_index} must be in [0, {config.num_seeds}) "
                     f"(the run has {config.num_seeds} seeds)")
  corpus = read_input(input_path)
  data = windows_lib.encode_corpus(corpus, vocab, window_size=config.window_size,
                                   features=config.features)
  params = jax.tree.map(lambda x: x[seed_index:seed_index + 1], best["params"])
  tagger = Tagger(model_config, config, label_vocab)
  predictions = tagger.predict(params, data)[0]
  pred_tags = tagger.to_tags(predictions, data.lengths)
  has_gold = corpus.scheme != conll.NO_TAGS
  conll.write_conll(output_path, corpus.words, corpus.tags if has_gold else None,
                    pred_tags)
  scores = None
  if has_gold:
    if config.output == "score":
      gold = np.array([tags_lib.io_type(t) == config.target_type
                       for s in corpus.tags for t in s])
      scores = metrics_lib.detection_scores(gold, predictions > 0)
    else:
      scores = metrics_lib.entity_scores(corpus.tags, pred_tags)
  return {"seed_index": seed_index, "seed": config.seed + seed_index,
          "num_sentences": len(corpus), "num_tokens": corpus.num_tokens,
          "scores": scores}
