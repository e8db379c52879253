"""A run's fixed parts and progress; opening its workdir, starting or resuming it.

``open_run`` reads the data and writes the vocabularies and a new run's
``config.json`` (with the fingerprints of the files read, ``inputs``: a rerun
on other contents is refused by ``workdir.check_workdir_config``);
``build_run`` places the training data on the device(s) and fixes the
compiled settings (``Run``); ``start`` makes the initial state, or
resumes the one of ``checkpoints/latest`` (``Progress``) with each seed's best
parameters from ``checkpoints/best``. A missing or damaged ``latest`` falls
back on ``latest.prev`` (``workdir.restore_checkpoint_or_previous``, logged);
a missing or damaged ``best`` restarts each seed's best from the resumed
parameters (``_restart_best``, logged), never pairing the current parameters
with the stored best F1 and epoch. ``wincls.train.loop`` runs the epochs.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from wincls import config as config_lib
from wincls.model import losses
from wincls.train import distributed
from wincls.train import evaluate
from wincls.train import inputs as inputs_lib
from wincls.train import prepare
from wincls.train import programs
from wincls.train import workdir as workdir_lib

Array = jax.Array


@dataclasses.dataclass
class Run:
  """What stays fixed while a run trains.

  Attributes:
    config: the run's settings.
    workdir: its directory.
    lead: whether this process reads and writes the workdir.
    data: the encoded data.
    layout: the devices (None: one).
    static: the compiled settings.
    keys: ``[S]`` seed keys; ``seeds`` their seeds.
    parts: ``(batch_size, device arrays)`` per data part (one for tokens, one
      per bucket for sentences).
    steps_per_epoch: optimizer steps per epoch, over all parts.
    tagger: predicts and scores dev.
  """

  config: config_lib.Config
  workdir: Path
  lead: bool
  data: prepare.RunData
  layout: distributed.Layout | None
  static: programs.Static
  keys: Array
  seeds: list[int]
  parts: list[tuple[int, dict[str, Array]]]
  steps_per_epoch: int
  tagger: evaluate.Tagger

  def place_state(self, tree: Any) -> Any:
    """A restored state (host arrays) placed as the train state is placed."""
    if self.layout is None:
      return jax.tree.map(jnp.asarray, tree)
    return distributed.put(tree, distributed.state_shardings(
        tree, self.layout, vocab_size=self.data.model_config.vocab_size))


@dataclasses.dataclass
class Progress:
  """What changes from epoch to epoch (``checkpoints/latest`` holds it).

  Attributes:
    state: the train state ``[S, ...]``.
    best_params: per seed, the parameters of its best epoch so far.
    early: ``{"best_f1", "best_epoch", "bad_epochs", "diverged_epoch",
      "diverged_step"}``, each ``[S]`` (``wincls.train.divergence``; epoch 0:
      not diverged).
    epoch: the last finished epoch (0: none).
    elapsed: seconds of training in every process so far (from the checkpoint).
    epochs_seconds: the part of ``elapsed`` spent in this process.
    writing: the epoch whose ``checkpoints/latest`` is being written (None: none),
      so that a signal in the write says what the rerun may find.
  """

  state: Any
  best_params: Any
  early: dict[str, np.ndarray]
  epoch: int = 0
  elapsed: float = 0.0
  epochs_seconds: float = 0.0
  writing: int | None = None

  def stopped(self, patience: int) -> np.ndarray:
    """bool ``[S]``: the seeds that went ``patience`` epochs without improving
    or diverged."""
    return (((patience > 0) & (self.early["bad_epochs"] >= patience))
            | (self.early["diverged_epoch"] > 0))


@jax.jit
def copy_tree(tree: Any) -> Any:
  return jax.tree.map(jnp.copy, tree)


@jax.jit
def select_seeds(mask: Array, new: Any, old: Any) -> Any:
  """Per seed (leading axis), ``new``'s leaves where ``mask`` [S] else ``old``'s."""
  return jax.tree.map(
      lambda a, b: jnp.where(mask.reshape((-1,) + (1,) * (a.ndim - 1)), a, b), new, old)


def open_run(config: config_lib.Config, workdir: Path, *, existed: bool,
              lead: bool) -> prepare.RunData:
  """Reads the data; process 0 writes the vocabularies and a new run's config."""
  data = prepare.prepare_data(config, workdir if lead else None, reuse_vocab=existed)
  if lead:
    # A resumed run keeps the files it was encoded with.
    workdir_lib.save_vocabularies(workdir, data.vocab, data.label_vocab,
                                  keep_existing=existed)
  distributed.check_same(prepare.data_digest(data), "the vocabulary or data")
  if lead and not existed:
    workdir_lib.clear_run(workdir)
    # What the run read, so that a rerun on other contents is refused.
    workdir_lib.check_workdir_config(workdir, config,
                                     inputs=inputs_lib.fingerprints(config))
  if lead and data.vectors_report is not None:
    workdir_lib.write_json(workdir / workdir_lib.VECTORS_COVERAGE_FILE,
                           data.vectors_report)
  for name, report in data.feature_coverage.items():
    if lead:
      workdir_lib.write_json(workdir / workdir_lib.FEATURE_COVERAGE_FILE.format(name),
                             report)
  return data


def _place(tree: Any, layout: distributed.Layout | None) -> Any:
  """``tree`` on the device, or replicated over ``layout``'s devices."""
  if layout is None:
    return jax.tree.map(jnp.asarray, tree)
  return distributed.put_replicated(tree, layout)


def build_run(config: config_lib.Config, workdir: Path, data: prepare.RunData,
               layout: distributed.Layout | None) -> Run:
  """Places the training data on the device(s) and fixes the compiled settings."""
  model_config = data.model_config
  layout = distributed.word_table_layout(layout, model_config.vocab_size)
  # One array set for tokens, one per bucket for sentences.
  if losses.is_sentence(config.loss):
    buckets = prepare.sentence_buckets(data.train, batch_size=config.batch_size)
    parts = [(b.batch_size, _place(b.arrays, layout)) for b in buckets]
    steps_per_epoch = sum(-(-len(b.sentences) // b.batch_size) for b in buckets)
  else:
    parts = [(config.batch_size, _place(prepare.token_arrays(data.train), layout))]
    steps_per_epoch = -(-data.train.labels.shape[0] // config.batch_size)
  static = programs.Static.from_config(config, model_config,
                                   steps_per_epoch=steps_per_epoch, layout=layout)
  return Run(config=config, workdir=workdir, lead=distributed.is_lead(), data=data,
             layout=layout, static=static,
             keys=programs.seed_keys(config.seed, config.num_seeds),
             seeds=[config.seed + i for i in range(config.num_seeds)], parts=parts,
             steps_per_epoch=steps_per_epoch,
             tagger=evaluate.Tagger(model_config, config, data.label_vocab,
                                    vocab=data.vocab, extender=data.extender,
                                    layout=layout))


# Keys of ``Progress.early`` a checkpoint written before divergence checks lacks.
_NEW_EARLY_KEYS = ("diverged_epoch", "diverged_step")


def start(run: Run) -> Progress:
  """The initial state, or the state of ``checkpoints/latest`` (and ``best``).

  Checkpoints are read by process 0 and broadcast (the others' workdir may be
  another disk): ``held`` keeps its arrays, the numbers go as JSON. A missing
  or damaged ``latest`` falls back on ``latest.prev``
  (``workdir.restore_checkpoint_or_previous``, logged).
  """
  pretrained = None
  if run.data.pretrained is not None:
    pretrained = _place(run.data.pretrained, run.layout)
  state = programs.init_state(run.static, run.keys, pretrained, run.config)
  num_seeds = len(run.seeds)
  early = {"best_f1": np.full(num_seeds, -1.0),
           "best_epoch": np.zeros(num_seeds, np.int64),
           "bad_epochs": np.zeros(num_seeds, np.int64),
           "diverged_epoch": np.zeros(num_seeds, np.int64),
           "diverged_step": np.zeros(num_seeds, np.int64)}
  progress = Progress(state=state, best_params=None, early=early)
  held = {}
  shapes_only = lambda tree: jax.tree.map(lambda x: np.zeros(x.shape, x.dtype), tree)

  def read_latest():
    target = {"state": state, "epoch": 0, "wall_time": 0.0, **early}
    latest = held["latest"] = workdir_lib.restore_checkpoint_or_previous(
        run.workdir, workdir_lib.LATEST, target, optional=_NEW_EARLY_KEYS)
    if latest is None:
      return None
    return {"epoch": int(latest["epoch"]), "wall_time": float(latest["wall_time"]),
            **{k: np.asarray(latest[k]).tolist() for k in early}}

  latest = distributed.run_on_lead(read_latest)
  if latest is not None:
    progress.state = run.place_state(distributed.broadcast_tree(
        held["latest"]["state"] if run.lead else shapes_only(state)))
    progress.epoch = int(latest["epoch"])
    progress.elapsed = float(latest["wall_time"])
    progress.early = {k: np.asarray(latest[k], early[k].dtype) for k in early}
    logging.info("Resuming %s after epoch %d", run.workdir, progress.epoch)
  if run.lead:
    # Rows of epochs after the checkpoint come from a killed run: redone below.
    workdir_lib.rewrite_jsonl(run.workdir / workdir_lib.METRICS_FILE,
                              lambda row: row.get("epoch", 0) <= progress.epoch)

  def read_best():
    target = {"params": progress.state["params"], "epoch": progress.early["best_epoch"],
              "f1": progress.early["best_f1"]}
    path = workdir_lib.checkpoint_path(run.workdir, workdir_lib.BEST)
    try:
      held["best"] = workdir_lib.restore_checkpoint(run.workdir, workdir_lib.BEST, target)
    except workdir_lib.CheckpointError as e:
      logging.warning("%s; set aside as %s", e, workdir_lib.set_aside(path).name)
      held["best"] = None
    if held["best"] is not None:
      return None
    rows = workdir_lib.read_jsonl(run.workdir / workdir_lib.METRICS_FILE)
    f1 = {r["seed"]: r.get("dev_f1") for r in rows if r.get("epoch") == progress.epoch}
    return [f1.get(seed) for seed in run.seeds]

  if progress.epoch > 0:
    f1_now = distributed.run_on_lead(read_best)
    if f1_now is None:
      progress.best_params = run.place_state(distributed.broadcast_tree(
          held["best"]["params"] if run.lead else shapes_only(state["params"])))
    elif (progress.early["best_epoch"] > 0).any():
      _restart_best(run, progress, f1_now)
  if progress.best_params is None:
    progress.best_params = copy_tree(progress.state["params"])
  return progress


def _restart_best(run: Run, progress: Progress, f1_now: list[float | None]) -> None:
  """``checkpoints/best`` is missing or damaged: the best so far restarts here.

  Each seed's best becomes its resumed parameters, with the dev F1 its row of
  the resumed epoch holds (-1: none, so the next epoch replaces it), never the
  stored best F1 and epoch of parameters that are gone.
  """
  epoch, early = progress.epoch, progress.early
  early["best_f1"] = np.array([-1.0 if f is None else f for f in f1_now])
  early["best_epoch"] = np.full_like(early["best_epoch"], epoch)
  logging.warning(
      "%s: lost: each seed's best parameters restart from the resumed ones of epoch "
      "%d (dev F1 %s); results.json's best epochs and scores count from there",
      workdir_lib.checkpoint_path(run.workdir, workdir_lib.BEST), epoch,
      [None if f is None else round(f, 4) for f in f1_now])
