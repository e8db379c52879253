"""Grids of runs, their results table, statistics over seeds, plots.

A sweep is a base ``Config`` and an ordered list of axes ``[(field, values),
...]``. ``make_grid`` expands it into an ordered list of ``Run``s (the
Cartesian product, first axis slowest), each named after its values in axis
order, e.g. ``window=concat,loss=max_margin``: the names and the order depend
only on the axes, so a sweep can be split (``shard``: run i goes to shard
``i % num_shards``) and its pieces collected (``collect``) into what the whole
sweep writes.

Each run trains in ``<workdir>/runs/<name>/`` (a resumable
``train.train_and_evaluate`` run, all its seeds vmapped in one program); when
it finishes, one row per seed goes to ``results.jsonl`` (or, for a shard,
``results.shard-<i>-of-<n>.jsonl``), keyed by ``(run, seed)`` and never
duplicated. A killed sweep rerun with the same command skips the rows it has,
returns the stored results of finished runs and resumes the interrupted one.

Reports (``write_reports``): ``results.csv`` (the rows), ``results.md`` (per
configuration the mean ± std of dev F1 and its 95% t-interval over seeds; per
axis the paired differences between its values, e.g. concat − average with
the other axes fixed, paired by seed, with their t-interval), and the plots
``f1_by_config.png`` (mean dev F1 per configuration with 95% intervals and the
seeds' points) and ``dev_f1_per_epoch.png`` (mean over seeds per epoch).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import json
import math
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from absl import logging
import numpy as np
import tqdm

from wincls import checkpoint
from wincls import config as config_lib

RESULTS_FILE = "results.jsonl"
GRID_FILE = "grid.json"
RUNS_DIR = "runs"
# Row fields that measure time: they differ between identical sweeps.
TIMING_FIELDS = ("wall_time",)

Axes = Sequence[tuple[str, Sequence[Any]]]


@dataclasses.dataclass(frozen=True)
class Run:
  """One configuration of a sweep.

  Attributes:
    index: position in the grid's order.
    name: stable name from the axis values (``field=value`` joined by commas).
    overrides: ``((field, value), ...)`` in axis order.
    config: the base config with the overrides.
  """

  index: int
  name: str
  overrides: tuple[tuple[str, Any], ...]
  config: config_lib.Config


def _field(name: str) -> dataclasses.Field:
  for field in dataclasses.fields(config_lib.Config):
    if field.name == name:
      return field
  names = ", ".join(f.name for f in dataclasses.fields(config_lib.Config))
  raise ValueError(f"axis {name!r} is not a Config field; expected one of {names}")


def parse_value(name: str, text: Any) -> Any:
  """A string from the command line as the type of ``Config.<name>``."""
  default = _field(name).default
  if not isinstance(text, str):
    return text
  text = text.strip()
  try:
    if isinstance(default, bool):
      lowered = text.lower()
      if lowered in ("true", "1", "yes"):
        return True
      if lowered in ("false", "0", "no"):
        return False
      raise ValueError
    if isinstance(default, int):
      return int(text)
    if isinstance(default, float):
      return float(text)
  except ValueError:
    raise ValueError(f"axis {name}: {text!r} is not a {type(default).__name__}") from None
  if isinstance(default, tuple):
    raise ValueError(f"axis {name}: tuple-valued fields cannot be swept")
  return text


def format_value(value: Any) -> str:
  if isinstance(value, bool):
    return "true" if value else "false"
  if isinstance(value, float):
    return repr(value)
  return str(value)


def run_name(overrides: Sequence[tuple[str, Any]]) -> str:
  """``field=value`` pairs joined by commas, safe as a directory name."""
  parts = []
  for name, value in overrides:
    text = re.sub(r"[^A-Za-z0-9._+-]", "-", format_value(value))
    parts.append(f"{name}={text}")
  return ",".join(parts) or "base"


def make_grid(base: config_lib.Config, axes: Axes) -> list[Run]:
  """The runs of the grid, in order (the first axis varies slowest).

  Raises:
    ValueError: an unknown or repeated axis, an empty axis, a repeated value,
      or a combination that ``Config.validate`` rejects (naming the run).
  """
  names = [name for name, _ in axes]
  if len(set(names)) != len(names):
    raise ValueError(f"axes repeat a field: {names}")
  parsed = []
  for name, values in axes:
    values = [parse_value(name, v) for v in values]
    if not values:
      raise ValueError(f"axis {name} has no values")
    if len(set(values)) != len(values):
      raise ValueError(f"axis {name} repeats a value: {values}")
    parsed.append((name, values))
  runs = []
  for index, combo in enumerate(itertools.product(*[v for _, v in parsed])):
    overrides = tuple(zip(names, combo))
    name = run_name(overrides)
    try:
      config = dataclasses.replace(base, **dict(overrides)).validate()
    except ValueError as e:
      raise ValueError(f"run {name}: {e}") from None
    runs.append(Run(index=index, name=name, overrides=overrides, config=config))
  if len({r.name for r in runs}) != len(runs):
    raise ValueError("two runs of the grid have the same name; use values that "
                     "differ after replacing characters outside [A-Za-z0-9._+-]")
  return runs


def shard(runs: Sequence[Run], *, shard_index: int, num_shards: int) -> list[Run]:
  """The runs of one shard: every ``num_shards``-th run from ``shard_index``."""
  if num_shards < 1 or not 0 <= shard_index < num_shards:
    raise ValueError(f"--shard_index={shard_index} must be in [0, --num_shards="
                     f"{num_shards})")
  return list(runs[shard_index::num_shards])


def results_path(workdir: str | os.PathLike, *, shard_index: int = 0,
                 num_shards: int = 1) -> Path:
  if num_shards == 1:
    return Path(workdir) / RESULTS_FILE
  return Path(workdir) / f"results.shard-{shard_index}-of-{num_shards}.jsonl"


def result_rows(run: Run, results: dict[str, Any]) -> list[dict[str, Any]]:
  """One row per seed of a finished run."""
  rows = []
  for seed_index, seed_result in enumerate(results["seeds"]):
    row = {"run": run.name, "run_index": run.index,
           "window": run.config.window, "loss": run.config.loss}
    row.update(dict(run.overrides))
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


def _key(row: dict[str, Any]) -> tuple[str, int]:
  return row["run"], int(row["seed"])


def check_grid_file(workdir: str | os.PathLike, base: config_lib.Config,
                    runs: Sequence[Run], axes: Axes) -> None:
  """Writes ``grid.json``, or checks that an existing one describes this grid."""
  path = Path(workdir) / GRID_FILE
  wanted = {"base": checkpoint.config_dict(base),
            "axes": [[name, [format_value(parse_value(name, v)) for v in values]]
                     for name, values in axes],
            "runs": [r.name for r in runs]}
  if path.exists():
    stored = checkpoint.read_json(path)
    if stored != wanted:
      diffs = [k for k in wanted if stored.get(k) != wanted[k]]
      detail = ""
      if "base" in diffs:
        fields = sorted(k for k in wanted["base"]
                        if stored.get("base", {}).get(k) != wanted["base"][k])
        detail = f" (base fields {fields})"
      raise checkpoint.ConfigMismatchError(
          f"{path}: the workdir holds a sweep with other {', '.join(diffs)}{detail}; "
          "use a new --workdir, or delete this one to start over")
    return
  checkpoint.write_json(path, wanted)


def run_sweep(base: config_lib.Config, axes: Axes, workdir: str | os.PathLike, *,
              shard_index: int = 0, num_shards: int = 1,
              train_fn: Callable[[config_lib.Config, Path], dict] | None = None,
              reports: bool = True) -> list[dict[str, Any]]:
  """Runs (this shard of) the grid; returns the rows of the results file.

  Args:
    base: the config every run starts from.
    axes: ``[(field, values), ...]``.
    workdir: the sweep's directory.
    shard_index, num_shards: run only ``shard(...)`` of the grid, writing its
      rows to ``results.shard-<i>-of-<n>.jsonl``; ``collect`` merges them.
    train_fn: ``train.train_and_evaluate`` (replaceable for tests).
    reports: write the CSV, markdown and plots when the whole grid is done
      (unsharded sweeps only).
  """
  if train_fn is None:
    from wincls import train
    train_fn = train.train_and_evaluate
  workdir = Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  runs = make_grid(base, axes)
  check_grid_file(workdir, base, runs, axes)
  mine = shard(runs, shard_index=shard_index, num_shards=num_shards)
  path = results_path(workdir, shard_index=shard_index, num_shards=num_shards)
  rows = checkpoint.read_jsonl(path)
  done = {_key(r) for r in rows}
  logging.info("Sweep %s: %d runs (%d in this shard), %d rows already", workdir,
               len(runs), len(mine), len(rows))
  for run in tqdm.tqdm(mine, desc="runs", disable=not sys.stdout.isatty()):
    seeds = [run.config.seed + i for i in range(run.config.num_seeds)]
    if all((run.name, s) in done for s in seeds):
      continue
    logging.info("Run %d/%d: %s", run.index + 1, len(runs), run.name)
    start = time.perf_counter()
    results = train_fn(run.config, workdir / RUNS_DIR / run.name)
    new = [r for r in result_rows(run, results) if _key(r) not in done]
    checkpoint.append_jsonl(path, new)
    rows.extend(new)
    done.update(_key(r) for r in new)
    logging.info("Run %s: dev F1 %s (%.1fs)", run.name,
                 [round(r["dev_f1"], 4) for r in new], time.perf_counter() - start)
  if reports and num_shards == 1:
    write_reports(workdir, runs, axes, rows)
  return rows


def order_rows(rows: Sequence[dict[str, Any]], runs: Sequence[Run]) -> list[dict[str, Any]]:
  """Rows deduplicated by (run, seed) and sorted in grid order, then by seed."""
  index = {r.name: r.index for r in runs}
  unique = {}
  for row in rows:
    if row["run"] not in index:
      raise ValueError(f"row of run {row['run']!r} is not in this grid")
    unique.setdefault(_key(row), row)
  return sorted(unique.values(), key=lambda r: (index[r["run"]], int(r["seed"])))


def collect(base: config_lib.Config, axes: Axes, workdir: str | os.PathLike, *,
            num_shards: int, reports: bool = True) -> list[dict[str, Any]]:
  """Merges the shards' results files into ``results.jsonl`` (grid order).

  Raises:
    ValueError: a shard's file is missing or a run's rows are incomplete.
  """
  workdir = Path(workdir)
  runs = make_grid(base, axes)
  check_grid_file(workdir, base, runs, axes)
  rows = checkpoint.read_jsonl(workdir / RESULTS_FILE)
  for i in range(num_shards):
    path = results_path(workdir, shard_index=i, num_shards=num_shards)
    if not path.exists():
      raise ValueError(f"{path}: missing; run shard {i} of {num_shards} first")
    rows.extend(checkpoint.read_jsonl(path))
  rows = order_rows(rows, runs)
  have = {_key(r) for r in rows}
  missing = [r.name for r in runs
             if any((r.name, r.config.seed + i) not in have
                    for i in range(r.config.num_seeds))]
  if missing:
    raise ValueError(f"{workdir}: no results yet for runs {missing}; finish their "
                     "shards first")
  checkpoint.atomic_write_text(workdir / RESULTS_FILE, "".join(
      json.dumps(r, sort_keys=True) + "\n" for r in rows))
  if reports:
    write_reports(workdir, runs, axes, rows)
  return rows


# ----------------------------------------------------------------------------
# Statistics.


def _betacf(a: float, b: float, x: float) -> float:
  """Continued fraction of the incomplete beta function (modified Lentz)."""
  tiny = 1e-300
  qab, qap, qam = a + b, a + 1.0, a - 1.0
  c, d = 1.0, 1.0 - qab * x / qap
  d = 1.0 / (d if abs(d) > tiny else tiny)
  h = d
  for m in range(1, 500):
    m2 = 2 * m
    aa = m * (b - m) * x / ((qam + m2) * (a + m2))
    d = 1.0 + aa * d
    d = 1.0 / (d if abs(d) > tiny else tiny)
    c = 1.0 + aa / c
    c = c if abs(c) > tiny else tiny
    h *= d * c
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
    d = 1.0 + aa * d
    d = 1.0 / (d if abs(d) > tiny else tiny)
    c = 1.0 + aa / c
    c = c if abs(c) > tiny else tiny
    delta = d * c
    h *= delta
    if abs(delta - 1.0) < 1e-15:
      break
  return h


def betainc(a: float, b: float, x: float) -> float:
  """The regularized incomplete beta function ``I_x(a, b)``."""
  if x <= 0.0:
    return 0.0
  if x >= 1.0:
    return 1.0
  log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) +
               a * math.log(x) + b * math.log1p(-x))
  if x < (a + 1.0) / (a + b + 2.0):
    return math.exp(log_front) * _betacf(a, b, x) / a
  return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
  """Student's t cumulative distribution function."""
  tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
  return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
  """The p-quantile of Student's t with ``df`` degrees of freedom (bisection)."""
  if not 0.0 < p < 1.0:
    raise ValueError(f"p={p} must be in (0, 1)")
  if p < 0.5:
    return -t_quantile(1.0 - p, df)
  lo, hi = 0.0, 1.0
  while t_cdf(hi, df) < p:
    hi *= 2.0
  for _ in range(200):
    mid = 0.5 * (lo + hi)
    if t_cdf(mid, df) < p:
      lo = mid
    else:
      hi = mid
    if hi - lo < 1e-12 * max(1.0, hi):
      break
  return 0.5 * (lo + hi)


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> dict[str, float]:
  """Mean, sample std and the t-interval of the mean.

  Returns:
    ``{"n", "mean", "std", "half_width", "low", "high"}``; std and the interval
    are NaN for fewer than 2 values.
  """
  x = np.asarray(values, np.float64)
  n = x.size
  mean = float(x.mean()) if n else math.nan
  if n < 2:
    return {"n": n, "mean": mean, "std": math.nan, "half_width": math.nan,
            "low": math.nan, "high": math.nan}
  std = float(x.std(ddof=1))
  half = t_quantile(0.5 + confidence / 2.0, n - 1) * std / math.sqrt(n)
  return {"n": n, "mean": mean, "std": std, "half_width": half,
          "low": mean - half, "high": mean + half}


def summarize(runs: Sequence[Run], rows: Sequence[dict[str, Any]],
              metric: str = "dev_f1") -> list[dict[str, Any]]:
  """Per run (grid order): its overrides and ``mean_interval`` of ``metric``."""
  out = []
  for run in runs:
    mine = [r for r in rows if r["run"] == run.name]
    if not mine:
      continue
    entry = {"run": run.name, **dict(run.overrides),
             **mean_interval([r[metric] for r in mine])}
    for name in ("dev_precision", "dev_recall", "best_epoch", "wall_time"):
      entry[name] = float(np.mean([r[name] for r in mine]))
    out.append(entry)
  return out


def paired_differences(runs: Sequence[Run], rows: Sequence[dict[str, Any]],
                       axes: Axes, metric: str = "dev_f1") -> list[dict[str, Any]]:
  """For each axis and each of its values b after the first a: ``b − a``.

  The other axes are held fixed (one entry per setting of them) and the
  differences are paired by seed (seeds present in both runs).

  Returns:
    ``[{"axis", "a", "b", "fixed": {field: value}, "n", "mean", "std",
    "half_width", "low", "high"}, ...]``.
  """
  by_run = {}
  for row in rows:
    by_run.setdefault(row["run"], {})[int(row["seed"])] = row[metric]
  lookup = {r.overrides: r for r in runs}
  out = []
  for axis_index, (axis, values) in enumerate(axes):
    values = [parse_value(axis, v) for v in values]
    if len(values) < 2:
      continue
    others = [(n, [parse_value(n, v) for v in vs])
              for i, (n, vs) in enumerate(axes) if i != axis_index]
    for fixed in itertools.product(*[vs for _, vs in others]):
      fixed_pairs = dict(zip([n for n, _ in others], fixed))

      def run_of(value):
        overrides = tuple((n, value if n == axis else fixed_pairs[n]) for n, _ in axes)
        return lookup[overrides]

      a = run_of(values[0])
      for value in values[1:]:
        b = run_of(value)
        f1_a, f1_b = by_run.get(a.name, {}), by_run.get(b.name, {})
        seeds = sorted(set(f1_a) & set(f1_b))
        if not seeds:
          continue
        diffs = [f1_b[s] - f1_a[s] for s in seeds]
        out.append({"axis": axis, "a": values[0], "b": value, "fixed": fixed_pairs,
                    **mean_interval(diffs)})
  return out


# ----------------------------------------------------------------------------
# Reports.


ROW_COLUMNS = ("seed", "seed_index", "dev_f1", "dev_precision", "dev_recall",
               "dev_accuracy", "best_epoch", "epochs_run", "num_seeds", "wall_time")


def write_csv(path: str | os.PathLike, rows: Sequence[dict[str, Any]],
              axis_names: Sequence[str] = ()) -> None:
  """The rows as CSV: run, axes, seed and scores first, other keys sorted."""
  leading = ["run", "run_index", "window", "loss"]
  leading += [n for n in axis_names if n not in leading] + list(ROW_COLUMNS)
  present = {key for row in rows for key in row}
  columns = [c for c in leading if c in present]
  columns += sorted(present - set(columns))
  buffer = io.StringIO()
  writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
  writer.writeheader()
  for row in rows:
    writer.writerow(row)
  checkpoint.atomic_write_text(path, buffer.getvalue())


def _pct(x: float) -> str:
  return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.2f}"


def markdown_report(runs: Sequence[Run], axes: Axes, rows: Sequence[dict[str, Any]],
                    base: config_lib.Config | None = None) -> str:
  summary = summarize(runs, rows)
  diffs = paired_differences(runs, rows, axes)
  axis_names = [name for name, _ in axes]
  lines = ["# Sweep results", ""]
  if base is not None:
    defaults = config_lib.Config()
    changed = {f.name: getattr(base, f.name) for f in dataclasses.fields(base)
               if getattr(base, f.name) != getattr(defaults, f.name)
               and f.name not in axis_names}
    lines.append("Base config (fields differing from `Config()`): " + (", ".join(
        f"`{k}={format_value(v) if not isinstance(v, tuple) else ','.join(v)}`"
        for k, v in changed.items()) or "none") + ".")
    lines.append("")
  lines += ["Dev entity F1 (%, conlleval) over seeds: mean ± sample std, and the 95% "
            "t-interval of the mean.", ""]
  header = axis_names + ["seeds", "dev F1", "95% CI", "P", "R", "best epoch",
                         "wall s"]
  lines.append("| " + " | ".join(header) + " |")
  lines.append("|" + "---|" * len(header))
  for s in summary:
    cells = [format_value(s[name]) for name in axis_names]
    cells += [str(s["n"]), f"{_pct(s['mean'])} ± {_pct(s['std'])}",
              f"[{_pct(s['low'])}, {_pct(s['high'])}]", _pct(s["dev_precision"]),
              _pct(s["dev_recall"]), f"{s['best_epoch']:.1f}", f"{s['wall_time']:.0f}"]
    lines.append("| " + " | ".join(cells) + " |")
  if diffs:
    lines += ["", "Paired differences of dev F1 (percentage points; b − a with the "
              "other axes fixed, paired by seed; 95% t-interval):", ""]
    lines.append("| axis | b − a | fixed | seeds | mean ± std | 95% CI |")
    lines.append("|---|---|---|---|---|---|")
    for d in diffs:
      fixed = ", ".join(f"{k}={format_value(v)}" for k, v in d["fixed"].items()) or "–"
      lines.append(
          f"| {d['axis']} | {format_value(d['b'])} − {format_value(d['a'])} | {fixed} | "
          f"{d['n']} | {_pct(d['mean'])} ± {_pct(d['std'])} | "
          f"[{_pct(d['low'])}, {_pct(d['high'])}] |")
  return "\n".join(lines) + "\n"


def plot_f1(path: str | os.PathLike, runs: Sequence[Run],
            rows: Sequence[dict[str, Any]]) -> None:
  """Mean dev F1 per configuration with 95% intervals and the seeds' points."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  summary = summarize(runs, rows)
  fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(summary) + 1.5), 4.0))
  x = np.arange(len(summary))
  means = np.array([100 * s["mean"] for s in summary])
  errors = np.array([0.0 if math.isnan(s["half_width"]) else 100 * s["half_width"]
                     for s in summary])
  ax.errorbar(x, means, yerr=errors, fmt="o", capsize=5, color="C0",
              label="mean ± 95% CI")
  for i, s in enumerate(summary):
    seeds = [100 * r["dev_f1"] for r in rows if r["run"] == s["run"]]
    ax.plot(np.full(len(seeds), i) + 0.15, seeds, ".", color="C1", alpha=0.7,
            label="seeds" if i == 0 else None)
  ax.set_xticks(x)
  ax.set_xticklabels([s["run"].replace(",", "\n") for s in summary], fontsize=8)
  ax.set_ylabel("dev entity F1 (%)")
  ax.legend(fontsize=8)
  ax.grid(axis="y", alpha=0.3)
  fig.tight_layout()
  buffer = io.BytesIO()
  fig.savefig(buffer, format="png", dpi=120)
  plt.close(fig)
  checkpoint.atomic_write_bytes(path, buffer.getvalue())


def plot_curves(path: str | os.PathLike, workdir: str | os.PathLike,
                runs: Sequence[Run]) -> None:
  """Mean over seeds of dev F1 per epoch, one line per configuration."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  fig, ax = plt.subplots(figsize=(6.0, 4.0))
  for run in runs:
    metrics = checkpoint.read_jsonl(Path(workdir) / RUNS_DIR / run.name /
                                    checkpoint.METRICS_FILE)
    by_epoch = {}
    for row in metrics:
      by_epoch.setdefault(row["epoch"], []).append(row["dev_f1"])
    if not by_epoch:
      continue
    epochs = sorted(by_epoch)
    ax.plot(epochs, [100 * np.mean(by_epoch[e]) for e in epochs], marker="o",
            markersize=3, label=run.name)
  from matplotlib import ticker
  ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
  ax.set_xlabel("epoch")
  ax.set_ylabel("dev entity F1 (%), mean over seeds")
  ax.grid(alpha=0.3)
  ax.legend(fontsize=7)
  fig.tight_layout()
  buffer = io.BytesIO()
  fig.savefig(buffer, format="png", dpi=120)
  plt.close(fig)
  checkpoint.atomic_write_bytes(path, buffer.getvalue())


def write_reports(workdir: str | os.PathLike, runs: Sequence[Run], axes: Axes,
                  rows: Sequence[dict[str, Any]]) -> None:
  """``results.csv``, ``results.md`` and the two PNG plots."""
  workdir = Path(workdir)
  rows = order_rows(rows, runs)
  base = None
  grid = workdir / GRID_FILE
  if grid.exists():
    base = config_lib.Config.from_dict(checkpoint.read_json(grid)["base"])
  write_csv(workdir / "results.csv", rows, [name for name, _ in axes])
  checkpoint.atomic_write_text(workdir / "results.md",
                               markdown_report(runs, axes, rows, base))
  plot_f1(workdir / "f1_by_config.png", runs, rows)
  plot_curves(workdir / "dev_f1_per_epoch.png", workdir, runs)
