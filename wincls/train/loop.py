"""The training loop: ``train_and_evaluate(config, workdir) -> results``.

``train_and_evaluate`` opens the workdir (``workdir.inspect_run``: a finished
run returns its stored results), takes its lock (``wincls.train.lock``: one
training process per workdir), then, in ``wincls.train.resume``, reads the
data (``open_run``: data, vocabularies, config.json), places the data and
compiles the settings (``build_run``) and starts from scratch or resumes from
``checkpoints/latest`` (``start``); then per epoch it trains
(``_train_epoch``: one compiled epoch per data part, over the seeds as
``programs.Static.seed_loop`` says: N calls on the CPU, vmapped elsewhere; a
seed whose loss or parameters become non-finite is frozen, ``wincls.train.divergence``),
evaluates on dev and updates early stopping (``_evaluate_epoch``) and writes
metrics and checkpoints (``_save_epoch``), and finally scores each seed's best
parameters and writes predictions and ``results.json`` (``_finish``).

**Per epoch** it writes loss, dev P/R/F1, windows/s, the L2 norms of the
parameters and of the gradient (mean over steps) to ``<workdir>/metrics.jsonl``
and as TensorBoard events (``wincls.train.events``), and logs one line over the
seeds (``wincls.train.console``; each seed's line at DEBUG on
``console.SEED_LOGGER``); it keeps per seed the parameters of the best dev F1
epoch (``checkpoints/best``) and stops when every seed has gone ``patience``
epochs without improving (``patience=0``: never) or diverged. A number that is
not finite is written as ``null`` (strict JSON); a diverged seed writes no
more rows. See ``wincls.train.workdir``
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

import logging as python_logging
import os
import time
from pathlib import Path
from typing import Any

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from wincls import config as config_lib
from wincls import interrupts
from wincls.train import checks
from wincls.train import console
from wincls.train import distributed
from wincls.train import divergence
from wincls.train import evaluate
from wincls.train import events
from wincls.train import files
from wincls.train import lock as lock_lib
from wincls.train import progress as progress_lib
from wincls.train import records
from wincls.train import resume
from wincls.train import programs
from wincls.train import workdir as workdir_lib

Array = jax.Array

TIMING_KEYS = evaluate.TIMING_KEYS


def _train_epoch(run: resume.Run, progress: resume.Progress, epoch: int
                 ) -> tuple[dict[str, np.ndarray], float]:
  """Trains one epoch over every data part: ``(sums [S], compile_seconds)``.

  ``sums["first_nonfinite_step"]`` is the first step of the whole epoch (parts
  in the order they ran) with a non-finite loss or gradient norm, -1 if none.
  Diverged seeds are frozen afterwards (``_freeze_diverged``).
  """
  order = np.arange(len(run.parts))
  if len(run.parts) > 1:
    # Depends on the epoch only, so that every seed (however they are looped) sees
    # the same bucket order.
    order = np.random.default_rng(epoch).permutation(len(run.parts))
  before = resume.copy_tree(progress.state)  # the last finite state of a seed that diverges
  sums = None
  compile_seconds = 0.0
  first_bad = np.full(len(run.seeds), -1, np.int64)
  steps_before = 0
  for b in order:
    batch_size, arrays = run.parts[b]
    args = programs.epoch_args(progress.state, arrays, run.keys, epoch, b)
    t0 = time.perf_counter()
    compiled = programs.compiled_epoch(run.static, batch_size, args)
    compile_seconds += time.perf_counter() - t0
    progress.state, part_sums = compiled(*args)
    part_sums = jax.tree.map(np.asarray, part_sums)
    part_first = part_sums.pop("first_nonfinite_step")
    first_bad = np.where((first_bad < 0) & (part_first >= 0), steps_before + part_first,
                         first_bad)
    steps_before += -(-jax.tree.leaves(arrays)[0].shape[0] // batch_size)
    if sums is None:
      sums = part_sums
    else:
      param_norm = part_sums["param_norm"]
      sums = jax.tree.map(np.add, sums, part_sums)
      sums["param_norm"] = param_norm
  sums["first_nonfinite_step"] = first_bad
  _freeze_diverged(run, progress, epoch, sums, before)
  jax.block_until_ready(progress.state)
  return sums, compile_seconds


def _freeze_diverged(run: resume.Run, progress: resume.Progress, epoch: int,
                     sums: dict[str, np.ndarray], before: Any) -> None:
  """Marks the seeds whose epoch was not finite as diverged; keeps every diverged
  seed at its state of before the epoch (``wincls.train.divergence``)."""
  early = progress.early
  newly = divergence.nonfinite_seeds(sums) & (early["diverged_epoch"] == 0)
  for i in np.flatnonzero(newly):
    step_index = divergence.diverged_step(int(sums["first_nonfinite_step"][i]),
                                          run.steps_per_epoch)
    early["diverged_epoch"][i], early["diverged_step"][i] = epoch, step_index
    logging.warning("%s", divergence.message(
        seed=run.seeds[i], epoch=epoch, step=step_index,
        steps_per_epoch=run.steps_per_epoch, sums=sums, index=i,
        best_epoch=int(early["best_epoch"][i]), best_f1=float(early["best_f1"][i])))
  frozen = early["diverged_epoch"] > 0
  if frozen.any():
    progress.state = resume.select_seeds(jnp.asarray(~frozen), progress.state, before)
  if newly.any() and frozen.all():
    logging.error("Every seed of %s has diverged: the run ends after epoch %d",
                  run.workdir, epoch)


def _evaluate_epoch(run: resume.Run, progress: resume.Progress, epoch: int, sums, *,
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
  rows = records.epoch_rows(epoch, run.seeds, sums, dev_scores, active=active,
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
    progress.best_params = resume.select_seeds(
        jnp.asarray(improved), progress.state["params"], progress.best_params)
  for row in rows:
    row["best_dev_f1"] = float(early["best_f1"][run.seeds.index(row["seed"])])
  return rows, improved


def _save_epoch(run: resume.Run, progress: resume.Progress, epoch: int, rows: list[dict],
                improved: np.ndarray, epoch_start: float,
                event_writer: events.EpochWriter) -> None:
  """Writes the epoch: metrics rows and their TensorBoard events, then ``best`` (if
  improved), then ``latest``.

  A kill in between resumes from the previous ``latest`` and redoes this
  epoch identically. ``to_host`` runs in every process (it gathers a split
  word table).
  """
  if run.lead:
    finite_rows = [divergence.finite_or_none(row) for row in rows]
    workdir_lib.append_jsonl(run.workdir / workdir_lib.METRICS_FILE, finite_rows)
    event_writer.write(finite_rows)
  early = progress.early
  if improved.any():
    best_tree = distributed.to_host({"params": progress.best_params,
                                     "epoch": early["best_epoch"], "f1": early["best_f1"]})
    if not all(np.isfinite(x).all() for x in jax.tree.leaves(best_tree["params"])):
      raise RuntimeError("refusing to save non-finite parameters as checkpoints/best")
    if run.lead:
      workdir_lib.save_checkpoint(run.workdir, workdir_lib.BEST, best_tree)
  progress.elapsed += time.perf_counter() - epoch_start
  progress.epochs_seconds += time.perf_counter() - epoch_start
  latest_tree = distributed.to_host({"state": progress.state, "epoch": epoch,
                                     "wall_time": progress.elapsed, **early})
  progress.writing = epoch
  if run.lead:
    workdir_lib.save_checkpoint(run.workdir, workdir_lib.LATEST, latest_tree)
  progress.epoch, progress.writing = epoch, None


def _finish(run: resume.Run, progress: resume.Progress, start_time: float, *,
            run_name: str) -> dict[str, Any]:
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
      names = ["dev.txt"] if i == best_index else []
      if num_seeds > 1:
        names.append(f"dev.seed{seeds[i]}.txt")
      for name in names:  # in the dev file's scheme (IOB1 for CoNLL-2003)
        try:
          tagger.write_conll(predictions_dir / name, data.dev_corpus, predictions[i],
                             data.dev)
        except OSError as e:
          raise files.with_path(e, predictions_dir / name) from None
  # Epoch time of earlier processes (from the checkpoint) plus all of this one's.
  wall_time = (progress.elapsed + (time.perf_counter() - start_time)
               - progress.epochs_seconds)
  seed_results = records.seed_results(seeds, scores, progress.early["best_epoch"])
  for entry, fields in zip(seed_results, divergence.seed_fields(
      progress.early["diverged_epoch"], progress.early["diverged_step"])):
    entry.update(fields)
  results = {
      "seeds": seed_results,
      "diverged_seeds": [s["seed"] for s in seed_results if s["diverged"]],
      "best_seed_index": best_index,
      "dev_f1_mean": float(f1s.mean()),
      "dev_f1_std": float(f1s.std(ddof=1)) if num_seeds > 1 else 0.0,
      "dev_f1_best_seed": float(f1s[best_index]),
      **records.ensemble_results(run.tagger, progress.best_params,
                                 progress.early["best_epoch"], seeds, scores,
                                 run.data.dev, run.data.dev_corpus),
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
  logging.info("%s", console.run_line(run_name, results))
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
    "dev_f1", "dev_precision", "dev_recall", "dev_accuracy", "per_type",
    "diverged", "diverged_epoch", "diverged_step"}...], "diverged_seeds",
    "best_seed_index", "dev_f1_mean", "dev_f1_std", "dev_f1_best_seed",
    "dev_f1_ensemble", "ensemble": {"seeds", "rule", "dev_f1", ...},
    "epochs_run", "wall_time", "num_train_windows", "num_dev_windows", ...}``.

  Raises:
    workdir.ConfigMismatchError: ``workdir`` holds a run of another config.
    lock.WorkdirLockedError: another process trains in ``workdir``.
    workdir.CheckpointError: a checkpoint is damaged and no good one is left.
    ValueError, FileNotFoundError, DataError (wincls.data.conll): bad settings, data, or a
      damaged file of the workdir (named).
    OSError: the workdir cannot be written (read-only, disk full), the file
      named; what was written before stays as it was.
  """
  checks.check_run(config, layout)  # everything a run refuses up front
  workdir = Path(workdir)
  inspect = lambda: workdir_lib.inspect_run(workdir, config)
  # A finished run answers without the lock (its workdir may be read-only).
  found = distributed.run_on_lead(inspect)
  if found["results"] is None:
    lock = lock_lib.WorkdirLock(workdir)
    distributed.run_on_lead(lock.acquire)  # process 0 holds it for all
    try:
      found = distributed.run_on_lead(inspect)  # another run may have finished it
      if found["results"] is None:
        return _train_and_finish(config, workdir, layout, existed=found["existed"])
    finally:
      lock.release()
  results = found["results"]
  logging.info("%s is finished; stored results: dev F1 %s", workdir,
               [round(s["dev_f1"], 4) for s in results["seeds"]])
  return results


def _train_and_finish(config: config_lib.Config, workdir: Path,
                      layout: distributed.Layout | None, *, existed: bool
                      ) -> dict[str, Any]:
  """``train_and_evaluate`` of a run that is not finished, holding its lock."""
  lead = distributed.is_lead()
  if lead:
    workdir_lib.remove_temporary_files(workdir)
  start_time = time.perf_counter()
  data = resume.open_run(config, workdir, existed=existed, lead=lead)
  run = resume.build_run(config, workdir, data, layout)
  progress = resume.start(run)
  with progress_lib.run_epochs(total=config.epochs, initial=progress.epoch) as counter:
    # In a sweep, its name of the run ("run 2/4") goes with the workdir.
    name = f"{workdir} ({counter.label})" if counter.label else str(workdir)
    logging.info("Training %s: %d train windows, %d dev windows, %d seeds, %d steps/epoch%s",
                 name, data.train.labels.shape[0], data.dev.labels.shape[0],
                 len(run.seeds), run.steps_per_epoch, "" if run.layout is None else
                 f", data-parallel over {run.layout.num_devices} devices")
    event_writer = events.EpochWriter(workdir, config_json=config.to_json())
    finishing = False
    try:
      if run.lead:  # the events of the epochs metrics.jsonl holds, and no others
        event_writer.rebuild(run.seeds, through_epoch=progress.epoch)
      for epoch in range(progress.epoch + 1, config.epochs + 1):
        interrupts.check()  # a signal whose exception Python dropped (a gc callback)
        if progress.stopped(config.patience).all():
          break
        _run_epoch(run, progress, epoch, counter, event_writer)
      finishing = True
      return _finish(run, progress, start_time, run_name=name)
    except KeyboardInterrupt as e:
      raise _interrupted(e, run, progress, finishing=finishing) from None
    finally:
      event_writer.close()


def _run_epoch(run: resume.Run, progress: resume.Progress, epoch: int,
               counter: progress_lib.Counter, event_writer: events.EpochWriter) -> None:
  """Trains, evaluates, writes and reports one epoch."""
  epoch_start = time.perf_counter()
  sums, compile_seconds = _train_epoch(run, progress, epoch)
  train_time = time.perf_counter() - epoch_start - compile_seconds
  num_train_windows = int(run.data.train.labels.shape[0])
  timing = {"epoch_time": train_time, "eval_time": 0.0,
            "windows_per_sec": num_train_windows * len(run.seeds) / max(train_time, 1e-9)}
  if compile_seconds > 0.05:
    timing["compile_time"] = compile_seconds
  rows, improved = _evaluate_epoch(run, progress, epoch, sums, timing=timing)
  _save_epoch(run, progress, epoch, rows, improved, epoch_start, event_writer)
  counter.update(1)
  seed_log = python_logging.getLogger(console.SEED_LOGGER)
  for row in rows:
    seed_log.debug("%s", console.seed_line(row))
  if rows:
    logging.info("%s", console.epoch_line(epoch, run.config.epochs, rows,
                                          num_seeds=len(run.seeds), eta=counter.eta(),
                                          eta_of=counter.desc))


def _interrupted(error: KeyboardInterrupt, run: resume.Run, progress: resume.Progress, *,
                 finishing: bool) -> interrupts.Interrupted:
  """``error`` as an ``Interrupted`` saying where the run was and what is saved.

  ``progress.epoch`` is set only once ``checkpoints/latest`` holds the epoch
  (``_save_epoch``): a rerun resumes from there and loses only the epoch that
  was running.
  """
  saved, total = progress.epoch, run.config.epochs
  latest = workdir_lib.checkpoint_path(run.workdir, workdir_lib.LATEST)
  at = (f"after epoch {saved} of {total}, scoring the best checkpoints" if finishing
        else f"at epoch {saved + 1} of {total} ({len(run.seeds)} seeds)")
  holds = f"{latest} holds epoch {saved}" if saved else "no epoch was saved yet"
  if progress.writing is not None:  # the signal came while latest was written
    before = f"epoch {saved}" if saved else "no epoch"
    holds = (f"{latest} holds epoch {progress.writing} if its write had finished, "
             f"else {before} (the rerun resumes from what it holds)")
  return interrupts.Interrupted(interrupts.signum_of(error), f"{at}: {holds}")
