"""Running a grid: one resumable training run per configuration, result rows.

Each run trains in ``<workdir>/runs/<name>/`` (a resumable
``train.train_and_evaluate`` run, its seeds trained together as
``wincls.train.programs.Static.seed_loop`` says: on the CPU N calls of the
one-seed program); when
it finishes, one row per seed goes to ``results.jsonl`` (or, for a shard,
``results.shard-<i>-of-<n>.jsonl``), keyed by ``(run, seed)`` and never
duplicated. A killed sweep rerun with the same command skips the rows it has,
returns the stored results of finished runs and resumes the interrupted one.
``collect`` merges the shards' files into what the whole sweep writes.

Before anything is written every run of the grid is checked as it would check
itself (``check_runs``: ``checks.check_run``), so that an impossible run stops
the sweep before the first one trains. One sweep at a time per workdir
(``sweep_lock``): an unsharded sweep holds the workdir's ``lock`` (the one a
training run there would take), a shard ``lock.shard-<i>-of-<n>``; shards of
one grid share the workdir, and ``grid.json`` (created atomically) refuses
another grid. A second sweep is refused with one line naming the holder.

A row holds ``run``, ``run_index``, the run's axis values (``window``,
``loss``, ``setting``, ...), the seed's scores (``ROW_COLUMNS`` in
``report``), the run's times (``wall_time``, and from its ``metrics.jsonl``
``compile_s``: compiling the epoch programs, ``train_s``: the epochs'
training, ``eval_s``: the per-epoch dev evaluations, which include compiling
the evaluation program once; each the run's, all its seeds together) and
whatever a ``row_fields`` function adds.

TensorBoard: each finished run's ``runs/<name>/tensorboard/hparams/`` holds
one HParams session (``write_hparams``), rewritten from its rows when they
are appended and by every rerun, so ``tensorboard --logdir=<workdir>``
compares the runs.

Progress: one ``progress.Counter`` for the whole grid, counted in epochs (a
run's epochs are ``config.epochs``; a run that stops early or resumes jumps to
its end): its bar (when stderr is a terminal) and the ETA that every epoch line
of the runs shows cover the whole sweep. The runs' lines name them
``run i/n``; a last line closes the sweep.
"""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from absl import logging
import numpy as np

from wincls.train import checks
from wincls.train import distributed
from wincls.train import events
from wincls.train import lock as lock_lib
from wincls.train import progress
from wincls.train import workdir as workdir_lib
from wincls import config as config_lib
from wincls.sweep import grid as grid_lib
from wincls.sweep import report

# Row fields that measure time: they differ between identical sweeps.
TIMING_FIELDS = ("wall_time", "compile_s", "train_s", "eval_s")

TrainFn = Callable[[config_lib.Config, Path], dict]
# (run, its results.json, its directory) -> extra fields of each of its rows.
RowFieldsFn = Callable[[grid_lib.Run, dict, Path], dict]


def results_path(workdir: str | os.PathLike, *, shard_index: int = 0,
                 num_shards: int = 1) -> Path:
  """``results.jsonl``, or the shard's ``results.shard-<i>-of-<n>.jsonl``."""
  if num_shards == 1:
    return Path(workdir) / grid_lib.RESULTS_FILE
  return Path(workdir) / f"results.shard-{shard_index}-of-{num_shards}.jsonl"


def result_rows(run: grid_lib.Run, results: dict[str, Any]) -> list[dict[str, Any]]:
  """One row per seed of a finished run (its ``results.json``)."""
  rows = []
  for seed_index, seed_result in enumerate(results["seeds"]):
    row = {"run": run.name, "run_index": run.index, **dict(run.values)}
    row.update({
        "seed": seed_result["seed"], "seed_index": seed_index,
        "dev_f1": seed_result["dev_f1"],
        "dev_precision": seed_result["dev_precision"],
        "dev_recall": seed_result["dev_recall"],
        "dev_accuracy": seed_result["dev_accuracy"],
        "best_epoch": seed_result["best_epoch"],
        "epochs_run": results["epochs_run"],
        "num_seeds": len(results["seeds"]),
        "wall_time": results["wall_time"],  # of the run: all its seeds together
    })
    rows.append(row)
  return rows


def run_times(run_dir: str | os.PathLike) -> dict[str, float]:
  """``{"compile_s", "train_s", "eval_s"}`` of a run, from its ``metrics.jsonl``.

  Sums over epochs of ``compile_time``, ``epoch_time`` and ``eval_time`` (the
  rows of one epoch, one per seed, carry the same times).
  """
  by_epoch = {}
  for row in workdir_lib.read_jsonl(Path(run_dir) / workdir_lib.METRICS_FILE):
    by_epoch.setdefault(row.get("epoch"), row)
  rows = by_epoch.values()
  return {"compile_s": float(sum(r.get("compile_time", 0.0) for r in rows)),
          "train_s": float(sum(r.get("epoch_time", 0.0) for r in rows)),
          "eval_s": float(sum(r.get("eval_time", 0.0) for r in rows))}


def write_hparams(workdir: Path, run: grid_lib.Run, rows: Sequence[dict]) -> None:
  """The run's HParams session: its axis values, ``dev/f1_mean`` and
  ``dev/f1_std`` (ddof=1, as ``results.json``'s) of its rows' seeds."""
  f1s = np.array([r["dev_f1"] for r in rows if r["run"] == run.name], np.float64)
  if distributed.is_lead() and f1s.size:
    events.write_hparams(workdir / grid_lib.RUNS_DIR / run.name, dict(run.values), {
        "dev/f1_mean": float(f1s.mean()),
        "dev/f1_std": float(f1s.std(ddof=1)) if f1s.size > 1 else 0.0})


def check_runs(runs: Sequence[grid_lib.Run],
               layout: distributed.Layout | None = None) -> None:
  """Every check a run of the grid would make before training
  (``checks.check_run``), for all of them before the first trains.

  Raises:
    ValueError: ``run <name>: <the run's one-line error>``.
  """
  for run in runs:
    try:
      checks.check_run(run.config, layout)
    except ValueError as e:
      raise ValueError(f"run {run.name}: {e}") from None


def sweep_lock(workdir: Path, *, shard_index: int = 0,
               num_shards: int = 1) -> lock_lib.WorkdirLock:
  """The sweep's lock of ``workdir`` (a context manager), held while it runs.

  An unsharded sweep (and ``collect``) holds ``<workdir>/lock``, the lock a
  training run of that directory would take; a shard holds
  ``lock.shard-<i>-of-<n>`` (shards of one grid share the workdir;
  ``grid.json`` refuses another grid). The two kinds exclude each other
  (``lock.WorkdirLock``); the refusal names the holder.
  """
  if num_shards == 1:
    return lock_lib.WorkdirLock(workdir, what="a sweep")
  return lock_lib.WorkdirLock(
      workdir, name=f"{lock_lib.LOCK_FILE}.shard-{shard_index}-of-{num_shards}",
      what=f"shard {shard_index} of {num_shards} of a sweep")


def run_sweep(base: config_lib.Config, axes: grid_lib.Axes, workdir: str | os.PathLike,
              *, shard_index: int = 0, num_shards: int = 1,
              train_fn: TrainFn | None = None, row_fields: RowFieldsFn | None = None,
              reports: bool = True,
              layout: distributed.Layout | None = None) -> list[dict[str, Any]]:
  """Runs (this shard of) the grid; returns the rows of the results file.

  Every run of the grid is checked (``check_runs``) before anything is
  written; the sweep then holds its lock of ``workdir`` (``sweep_lock``) and
  creates or checks ``grid.json``.

  Args:
    base: the config every run starts from.
    axes: ``[(name, values), ...]`` (see ``grid.make_grid``).
    workdir: the sweep's directory.
    shard_index, num_shards: run only ``shard(...)`` of the grid, writing its
      rows to ``results.shard-<i>-of-<n>.jsonl``; ``collect`` merges them.
    train_fn: ``train.train_and_evaluate`` (replaceable for tests).
    row_fields: extra fields for the rows of a finished run, from the run,
      its results and its directory (None: none).
    reports: write the CSV, markdown and plots when the whole grid is done
      (unsharded sweeps only).
    layout: the devices each run trains on (``distributed.make_layout``);
      None: one. With ``train_fn`` None, ``train_and_evaluate`` gets it.

  Raises:
    ValueError: a run of the grid would refuse to train (named), or a bad shard.
    lock.WorkdirLockedError: another sweep (or run) holds ``workdir``.
    workdir.ConfigMismatchError: ``workdir`` holds another grid or a run.
  """
  if train_fn is None:
    from wincls import train  # pylint: disable=g-import-not-at-top
    train_fn = functools.partial(train.train_and_evaluate, layout=layout)
  workdir = Path(workdir)
  runs = grid_lib.make_grid(base, axes)
  mine = grid_lib.shard(runs, shard_index=shard_index, num_shards=num_shards)
  check_runs(runs, layout)
  workdir.mkdir(parents=True, exist_ok=True)
  with sweep_lock(workdir, shard_index=shard_index, num_shards=num_shards):
    if num_shards == 1:  # the workdir's lock: no other process writes here
      workdir_lib.remove_temporary_files(workdir)
    grid_lib.check_grid_file(workdir, base, runs, axes)
    path = results_path(workdir, shard_index=shard_index, num_shards=num_shards)
    rows = _run_shard(runs, mine, workdir, path, train_fn, row_fields)
    if reports and num_shards == 1:
      report.write_reports(workdir, runs, axes, rows)
  return rows


def _run_shard(runs: Sequence[grid_lib.Run], mine: Sequence[grid_lib.Run],
               workdir: Path, path: Path, train_fn: TrainFn,
               row_fields: RowFieldsFn | None) -> list[dict[str, Any]]:
  """Trains the runs of ``mine`` without rows in ``path``; returns its rows."""
  rows = workdir_lib.read_jsonl(path)
  done = {grid_lib.row_key(r) for r in rows}
  logging.info("Sweep %s: %d runs (%d in this shard: %s), %d rows already", workdir,
               len(runs), len(mine), ", ".join(run.name for run in mine), len(rows))
  finished = lambda run: all((run.name, run.config.seed + i) in done
                             for i in range(run.config.num_seeds))
  total = sum(run.config.epochs for run in mine)
  counter = progress.Counter(total=total, desc="sweep",
                             initial=sum(run.config.epochs for run in mine if finished(run)))
  for run in mine:  # a run's rows and checkpoints stand for the files it read:
    # other contents now are refused (naming the file) before any run trains.
    workdir_lib.check_workdir_config(workdir / grid_lib.RUNS_DIR / run.name, run.config,
                                     write=False)
  trained = 0
  try:
    with progress.report_to(counter):
      for run in mine:
        if finished(run):  # rebuilt: a kill may have cut its last write short
          write_hparams(workdir, run, rows)
          continue
        counter.label, position = f"run {run.index + 1}/{len(runs)}", counter.done
        counter.bar.set_postfix_str(run.name)
        run_dir = workdir / grid_lib.RUNS_DIR / run.name
        results = train_fn(run.config, run_dir)
        extra = dict(run_times(run_dir))
        if row_fields is not None:
          extra.update(row_fields(run, results, run_dir))
        new = [{**r, **extra} for r in result_rows(run, results)
               if grid_lib.row_key(r) not in done]
        workdir_lib.append_jsonl(path, new)
        rows.extend(new)
        done.update(grid_lib.row_key(r) for r in new)
        write_hparams(workdir, run, rows)
        # A run that stopped early or resumed moves the count to its end.
        counter.jump_to(position + run.config.epochs)
        trained += 1
  finally:
    counter.close()
  logging.info("Sweep %s: %d runs trained in %s; %d result rows", workdir, trained,
               progress.format_seconds(time.perf_counter() - counter.start), len(rows))
  return rows


def collect(base: config_lib.Config, axes: grid_lib.Axes, workdir: str | os.PathLike,
            *, num_shards: int, reports: bool = True) -> list[dict[str, Any]]:
  """Merges the shards' results files into ``results.jsonl`` (grid order).

  Raises:
    ValueError: a shard's file is missing or a run's rows are incomplete.
  """
  workdir = Path(workdir)
  runs = grid_lib.make_grid(base, axes)
  if not workdir.is_dir():
    raise ValueError(f"{workdir}: no such sweep directory; run its shards first")
  with sweep_lock(workdir):
    return _collect(base, axes, workdir, runs, num_shards=num_shards, reports=reports)


def _collect(base, axes, workdir: Path, runs: Sequence[grid_lib.Run], *,
             num_shards: int, reports: bool) -> list[dict[str, Any]]:
  """``collect``, holding the workdir's lock."""
  workdir_lib.remove_temporary_files(workdir)
  grid_lib.check_grid_file(workdir, base, runs, axes)
  rows = workdir_lib.read_jsonl(workdir / grid_lib.RESULTS_FILE)
  for i in range(num_shards):
    path = results_path(workdir, shard_index=i, num_shards=num_shards)
    if not path.exists():
      raise ValueError(f"{path}: missing; run shard {i} of {num_shards} first")
    rows.extend(workdir_lib.read_jsonl(path))
  rows = grid_lib.order_rows(rows, runs)
  have = {grid_lib.row_key(r) for r in rows}
  missing = [r.name for r in runs
             if any((r.name, r.config.seed + i) not in have
                    for i in range(r.config.num_seeds))]
  if missing:
    raise ValueError(f"{workdir}: no results yet for runs {missing}; finish their "
                     "shards first")
  path = workdir / grid_lib.RESULTS_FILE
  workdir_lib.atomic_write_text(path, "".join(
      workdir_lib.json_dumps(r, path) + "\n" for r in rows))
  if reports:
    report.write_reports(workdir, runs, axes, rows)
  return rows
