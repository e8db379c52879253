"""Sweeps: grids of runs, their results table, statistics over seeds, reports.

- ``grid``: a base ``Config`` and axes, over ``Config`` fields or named arms
  (an arm sets several fields: ``("setting", {"frozen": {"vectors":
  "glove-6b-100d", "freeze_vectors": True}, ...})``); run names and order,
  shards, ``grid.json``; ``settle_axes``: a script's axes against the base
  flags the user gave.
- ``run``: ``run_sweep`` (every run checked up front, the workdir's lock, one
  resumable training run per configuration, one row per seed in
  ``results.jsonl``) and ``collect`` (merges shards).
- ``stats``: Student's t, ``mean_interval``, ``summarize``,
  ``paired_differences`` (over whatever axes the grid has).
- ``report``: ``results.csv``, ``results.md``, plots.
- ``vectors_study``: the arms, epochs rule and reports of
  ``experiments/vectors_study.py``.

The names below are what scripts and tests use: ``from wincls import sweep;
sweep.run_sweep(base, axes, workdir)``.
"""

from wincls.sweep.grid import GRID_FILE
from wincls.sweep.grid import RESULTS_FILE
from wincls.sweep.grid import RUNS_DIR
from wincls.sweep.grid import Arm
from wincls.sweep.grid import AxisFlag
from wincls.sweep.grid import Axes
from wincls.sweep.grid import Axis
from wincls.sweep.grid import Run
from wincls.sweep.grid import check_grid_file
from wincls.sweep.grid import format_value
from wincls.sweep.grid import make_axes
from wincls.sweep.grid import make_grid
from wincls.sweep.grid import order_rows
from wincls.sweep.grid import parse_value
from wincls.sweep.grid import run_name
from wincls.sweep.grid import settle_axes
from wincls.sweep.grid import shard
from wincls.sweep.report import ROW_COLUMNS
from wincls.sweep.report import ReportOptions
from wincls.sweep.report import markdown_report
from wincls.sweep.report import plot_curves
from wincls.sweep.report import plot_f1
from wincls.sweep.report import plot_f1_vs
from wincls.sweep.report import write_csv
from wincls.sweep.report import write_reports
from wincls.sweep.run import TIMING_FIELDS
from wincls.sweep.run import check_runs
from wincls.sweep.run import collect
from wincls.sweep.run import result_rows
from wincls.sweep.run import results_path
from wincls.sweep.run import run_sweep
from wincls.sweep.run import sweep_lock
from wincls.sweep.stats import mean_interval
from wincls.sweep.stats import paired_differences
from wincls.sweep.stats import summarize
from wincls.sweep.stats import t_quantile
