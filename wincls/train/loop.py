"""The training loop: ``train_and_evaluate(config, workdir) -> results``.

``train_and_evaluate`` opens the workdir (``workdir.inspect_run``: a finished
run returns its stored results; ``_open_run``: data, vocabularies, config.json),
places the data and compiles the settings (``_build_run``), starts from
scratch or resumes from ``checkpoints/latest`` (``_start``), then per epoch
trains (``_train_epoch``: one compiled, seed-vmapped epoch per data part),
evaluates on dev and updates early stopping (``_evaluate_epoch``) and writes
metrics and checkpoints (``_save_epoch``), and finally scores each seed's best
parameters and writes predictions and ``results.json`` (``_finish``).

**Per epoch** it logs loss, dev P/R/F1, windows/s, the L2 norms of the
parameters and of the gradient (mean over steps) to absl logging and to
``<workdir>/metrics.jsonl``; it keeps per seed the parameters of the best dev F1
epoch (``checkpoints/best``) and stops when every seed has gone ``patience``
epochs without improving (``patience=0``: never). See ``wincls.train.workdir``
for the workdir's files and how a killed run resumes.

**CRF (``loss="crf"``)** trains on sentences padded to length buckets
(``prepare.sentence_buckets``); each bucket is one scanned, jitted pass, and the
buckets run in an order shuffled per epoch (the same order for every seed).

**Devices.** ``train_and_evaluate(..., layout=distributed.make_layout(N))``
trains data-parallel on N devices (and hosts) with the same programs: the
training windows and the state are replicated (or the word table split on its
rows), each step's batch rows are split over the devices, and GSPMD inserts
the gradient all-reduce (``wincls.train.distributed``, docs/scaling.md). In a
multi-process run process 0 alone reads and writes the workdir.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from wincls import config as config_lib
from wincls.data import conll
from wincls.train import distributed
from wincls.train import evaluate
from wincls.train import optim
from wincls.train import prepare
from wincls.train import progress as progress_lib
from wincls.train import step
from wincls.train import workdir as workdir_lib

Array = jax.Array

# Keys of metrics.jsonl rows that measure time and differ between identical runs.
TIMING_KEYS = ("windows_per_sec", "epoch_time", "eval_time", "compile_time",
               "wall_time")


@dataclasses.dataclass
class _Run:
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
  static: step.Static
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
class _Progress:
  """What changes from epoch to epoch (``checkpoints/latest`` holds it).

  Attributes:
    state: the train state ``[S, ...]``.
    best_params: per seed, the parameters of its best epoch so far.
    early: ``{"best_f1", "best_epoch", "bad_epochs"}``, each ``[S]``.
    epoch: the last finished epoch (0: none).
    elapsed: seconds of training in every process so far (from the checkpoint).
    epochs_seconds: the part of ``elapsed`` spent in this process.
  """

  state: Any
  best_params: Any
  early: dict[str, np.ndarray]
  epoch: int = 0
  elapsed: float = 0.0
  epochs_seconds: float = 0.0

  def stopped(self, patience: int) -> np.ndarray:
    """bool ``[S]``: the seeds that went ``patience`` epochs without improving."""
    return (patience > 0) & (self.early["bad_epochs"] >= patience)


def _progress_bar(iterable, **kwargs):
  # A sweep's one bar for its grid replaces the run's (wincls.train.progress).
  return progress_lib.epochs(iterable, **kwargs)


@jax.jit
def _copy_tree(tree: Any) -> Any:
  return jax.tree.map(jnp.copy, tree)


@jax.jit
def _select_seeds(mask: Array, new: Any, old: Any) -> Any:
  """Per seed (leading axis), ``new``'s leaves where ``mask`` [S] else ``old``'s."""
  return jax.tree.map(
      lambda a, b: jnp.where(mask.reshape((-1,) + (1,) * (a.ndim - 1)), a, b), new, old)


def _open_run(config: config_lib.Config, workdir: Path, *, existed: bool,
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
    workdir_lib.check_workdir_config(workdir, config)
  if lead and data.vectors_report is not None:
    workdir_lib.write_json(workdir / workdir_lib.VECTORS_COVERAGE_FILE,
                           data.vectors_report)
  return data


def _place(tree: Any, layout: distributed.Layout | None) -> Any:
  """``tree`` on the device, or replicated over ``layout``'s devices."""
  if layout is None:
    return jax.tree.map(jnp.asarray, tree)
  return distributed.put_replicated(tree, layout)


def _build_run(config: config_lib.Config, workdir: Path, data: prepare.RunData,
               layout: distributed.Layout | None) -> _Run:
  """Places the training data on the device(s) and fixes the compiled settings."""
  model_config = data.model_config
  layout = distributed.word_table_layout(layout, model_config.vocab_size)
  # One array set for tokens, one per bucket for sentences.
  if config.loss == "crf":
    buckets = prepare.sentence_buckets(data.train, batch_size=config.batch_size)
    parts = [(b.batch_size, _place(b.arrays, layout)) for b in buckets]
    steps_per_epoch = sum(-(-len(b.sentences) // b.batch_size) for b in buckets)
  else:
    parts = [(config.batch_size, _place(prepare.token_arrays(data.train), layout))]
    steps_per_epoch = -(-data.train.labels.shape[0] // config.batch_size)
  static = step.Static.from_config(config, model_config,
                                   steps_per_epoch=steps_per_epoch, layout=layout)
  return _Run(config=config, workdir=workdir, lead=distributed.is_lead(), data=data,
              layout=layout, static=static,
              keys=step.seed_keys(config.seed, config.num_seeds),
              seeds=[config.seed + i for i in range(config.num_seeds)], parts=parts,
              steps_per_epoch=steps_per_epoch,
              tagger=evaluate.Tagger(model_config, config, data.label_vocab,
                                     layout=layout))


def _start(run: _Run) -> _Progress:
  """The initial state, or the state of ``checkpoints/latest`` (and ``best``).

  Checkpoints are read by process 0 and broadcast (the others' workdir may be
  another disk): ``held`` keeps its arrays, the numbers go as JSON.
  """
  pretrained = None
  if run.data.pretrained is not None:
    pretrained = _place(run.data.pretrained, run.layout)
  state = step.init_state(run.static, run.keys, pretrained, run.config)
  num_seeds = len(run.seeds)
  early = {"best_f1": np.full(num_seeds, -1.0),
           "best_epoch": np.zeros(num_seeds, np.int64),
           "bad_epochs": np.zeros(num_seeds, np.int64)}
  progress = _Progress(state=state, best_params=None, early=early)
  held = {}
  shapes_only = lambda tree: jax.tree.map(lambda x: np.zeros(x.shape, x.dtype), tree)

  def read_latest():
    target = {"state": state, "epoch": 0, "wall_time": 0.0, **early}
    latest = held["latest"] = workdir_lib.restore_checkpoint(
        run.workdir, workdir_lib.LATEST, target)
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
    held["best"] = workdir_lib.restore_checkpoint(run.workdir, workdir_lib.BEST, target)
    return held["best"] is not None

  if progress.epoch > 0 and distributed.run_on_lead(read_best):
    progress.best_params = run.place_state(distributed.broadcast_tree(
        held["best"]["params"] if run.lead else shapes_only(state["params"])))
  if progress.best_params is None:
    progress.best_params = _copy_tree(progress.state["params"])
  return progress


def _train_epoch(run: _Run, progress: _Progress, epoch: int
                 ) -> tuple[dict[str, np.ndarray], float]:
  """Trains one epoch over every data part: ``(sums [S], compile_seconds)``."""
  order = np.arange(len(run.parts))
  if len(run.parts) > 1:
    # Depends on the epoch only, so that every seed (vmapped or not) sees
    # the same bucket order.
    order = np.random.default_rng(epoch).permutation(len(run.parts))
  sums = None
  compile_seconds = 0.0
  for b in order:
    batch_size, arrays = run.parts[b]
    args = step.epoch_args(progress.state, arrays, run.keys, epoch, b)
    t0 = time.perf_counter()
    compiled = step.compiled_epoch(run.static, batch_size, args)
    compile_seconds += time.perf_counter() - t0
    progress.state, part_sums = compiled(*args)
    part_sums = jax.tree.map(np.asarray, part_sums)
    if sums is None:
      sums = part_sums
    else:
      param_norm = part_sums["param_norm"]
      sums = jax.tree.map(np.add, sums, part_sums)
      sums["param_norm"] = param_norm
  jax.block_until_ready(progress.state)
  return sums, compile_seconds


def _evaluate_epoch(run: _Run, progress: _Progress, epoch: int, sums, *,
                    timing: dict[str, float]) -> tuple[list[dict], np.ndarray]:
  """Scores dev, updates early stopping and the best params: ``(rows, improved)``."""
  data, tagger = run.data, run.tagger
  eval_start = time.perf_counter()
  predictions = tagger.predict(progress.state["params"], data.dev)
  dev_scores = [tagger.evaluate(predictions[i], data.dev_corpus, data.dev)
                for i in range(len(run.seeds))]
  timing["eval_time"] = time.perf_counter() - eval_start
  active = ~progress.stopped(run.config.patience)
  lr = np.asarray(progress.state["opt_state"].hyperparams["learning_rate"])
  rows = evaluate.epoch_rows(epoch, run.seeds, sums, dev_scores, active=active,
                     timing=timing, learning_rate=lr)
  # Early stopping and best parameters, per seed (the same in every process:
  # the predictions are replicated).
  early = progress.early
  f1 = np.array([s["f1"] for s in dev_scores])
  improved = active & (f1 > early["best_f1"])
  early["best_f1"] = np.where(improved, f1, early["best_f1"])
  early["best_epoch"] = np.where(improved, epoch, early["best_epoch"])
  early["bad_epochs"] = np.where(improved, 0, early["bad_epochs"] + active)
  if improved.any():
    progress.best_params = _select_seeds(jnp.asarray(improved), progress.state["params"],
                                         progress.best_params)
  for row in rows:
    row["best_dev_f1"] = float(early["best_f1"][run.seeds.index(row["seed"])])
    logging.info(
        "epoch %d seed %d: loss %.4f dev P/R/F1 %.4f/%.4f/%.4f acc %.4f | %.0f "
        "windows/s, %.2fs/epoch | |params| %.3g |grad| %.3g", epoch, row["seed"],
        row["loss"], row["dev_precision"], row["dev_recall"], row["dev_f1"],
        row["dev_accuracy"], row["windows_per_sec"], row["epoch_time"],
        row["param_norm"], row["grad_norm"])
  return rows, improved


def _save_epoch(run: _Run, progress: _Progress, epoch: int, rows: list[dict],
                improved: np.ndarray, epoch_start: float) -> None:
  """Writes the epoch: metrics rows, then ``best`` (if improved), then ``latest``.

  A kill in between resumes from the previous ``latest`` and redoes this
  epoch identically. ``to_host`` runs in every process (it gathers a split
  word table).
  """
  if run.lead:
    workdir_lib.append_jsonl(run.workdir / workdir_lib.METRICS_FILE, rows)
  early = progress.early
  if improved.any():
    best_tree = distributed.to_host({"params": progress.best_params,
                                     "epoch": early["best_epoch"], "f1": early["best_f1"]})
    if run.lead:
      workdir_lib.save_checkpoint(run.workdir, workdir_lib.BEST, best_tree)
  progress.elapsed += time.perf_counter() - epoch_start
  progress.epochs_seconds += time.perf_counter() - epoch_start
  latest_tree = distributed.to_host({"state": progress.state, "epoch": epoch,
                                     "wall_time": progress.elapsed, **early})
  if run.lead:
    workdir_lib.save_checkpoint(run.workdir, workdir_lib.LATEST, latest_tree)
  progress.epoch = epoch


def _finish(run: _Run, progress: _Progress, start_time: float) -> dict[str, Any]:
  """Scores each seed's best parameters, writes predictions and ``results.json``."""
  data, tagger, seeds = run.data, run.tagger, run.seeds
  num_seeds = len(seeds)
  predictions = tagger.predict(progress.best_params, data.dev)
  scores = [tagger.evaluate(predictions[i], data.dev_corpus, data.dev)
            for i in range(num_seeds)]
  f1s = np.array([s["f1"] for s in scores])
  best_index = int(np.argmax(f1s))
  if run.lead:
    predictions_dir = run.workdir / workdir_lib.PREDICTIONS_DIR
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
  wall_time = (progress.elapsed + (time.perf_counter() - start_time)
               - progress.epochs_seconds)
  results = {
      "seeds": evaluate.seed_results(seeds, scores, progress.early["best_epoch"]),
      "best_seed_index": best_index,
      "dev_f1_mean": float(f1s.mean()),
      "dev_f1_std": float(f1s.std(ddof=1)) if num_seeds > 1 else 0.0,
      "epochs_run": int(progress.epoch),
      "wall_time": float(wall_time),
      "num_train_windows": int(data.train.labels.shape[0]),
      "num_dev_windows": int(data.dev.labels.shape[0]),
      "num_train_sentences": len(data.train_corpus),
      "vocab_size": len(data.vocab),
      "labels": list(data.label_vocab.labels),
  }
  if run.lead:
    workdir_lib.write_json(run.workdir / workdir_lib.RESULTS_FILE, results)
  logging.info("Finished %s: dev F1 per seed %s (best seed %d)", run.workdir,
               [round(float(f), 4) for f in f1s], seeds[best_index])
  return results


def train_and_evaluate(config: config_lib.Config, workdir: str | os.PathLike, *,
                       layout: distributed.Layout | None = None) -> dict[str, Any]:
  """Trains ``config.num_seeds`` replicas and evaluates them on dev.

  Resumes from ``<workdir>/checkpoints/latest`` when present; returns the
  stored results without training when ``results.json`` exists.

  Args:
    config: the run's settings (validated here).
    workdir: the run's directory (created if needed).
    layout: the devices to train on, data-parallel
      (``wincls.train.distributed``); None: one device. In a multi-process run
      every process calls this with the same arguments; process 0 reads the
      workdir and tells the others what it holds, and only process 0 writes it.

  Returns:
    The content of ``results.json``: ``{"seeds": [{"seed", "best_epoch",
    "dev_f1", "dev_precision", "dev_recall", "dev_accuracy", "per_type"}...],
    "best_seed_index", "dev_f1_mean", "dev_f1_std", "epochs_run",
    "wall_time", "num_train_windows", "num_dev_windows", ...}``.

  Raises:
    workdir.ConfigMismatchError: ``workdir`` holds a run of another config.
    ValueError, FileNotFoundError, conll.DataError: bad settings or data.
  """
  config.validate()
  optim.check_supported(config)
  if config.loss != "crf":  # sentence batches (batch_size // T) may split unevenly
    distributed.check_batch_size(config.batch_size, layout)
  lead = distributed.is_lead()
  workdir = Path(workdir)
  found = distributed.run_on_lead(lambda: workdir_lib.inspect_run(workdir, config))
  if found["results"] is not None:
    results = found["results"]
    logging.info("%s is finished; stored results: dev F1 %s", workdir,
                 [round(s["dev_f1"], 4) for s in results["seeds"]])
    return results

  start_time = time.perf_counter()
  data = _open_run(config, workdir, existed=found["existed"], lead=lead)
  run = _build_run(config, workdir, data, layout)
  progress = _start(run)
  logging.info("Training %s: %d train windows, %d dev windows, %d seeds, %d steps/epoch%s",
               workdir, data.train.labels.shape[0], data.dev.labels.shape[0],
               len(run.seeds), run.steps_per_epoch, "" if run.layout is None else
               f", data-parallel over {run.layout.num_devices} devices")
  num_train_windows = int(data.train.labels.shape[0])
  for epoch in _progress_bar(range(progress.epoch + 1, config.epochs + 1),
                             desc="epochs", initial=progress.epoch, total=config.epochs):
    if progress.stopped(config.patience).all():
      break
    epoch_start = time.perf_counter()
    sums, compile_seconds = _train_epoch(run, progress, epoch)
    train_time = time.perf_counter() - epoch_start - compile_seconds
    timing = {"epoch_time": train_time, "eval_time": 0.0,
              "windows_per_sec": num_train_windows * len(run.seeds) / max(train_time, 1e-9)}
    if compile_seconds > 0.05:
      timing["compile_time"] = compile_seconds
    rows, improved = _evaluate_epoch(run, progress, epoch, sums, timing=timing)
    _save_epoch(run, progress, epoch, rows, improved, epoch_start)
  return _finish(run, progress, start_time)
