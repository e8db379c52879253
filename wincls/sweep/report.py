"""Reports of a sweep: ``results.csv``, ``results.md`` and plots.

``write_reports`` writes ``results.csv`` (the rows: run, the axes, seed and
scores first), ``results.md`` (per configuration the mean ± std of dev F1 and
its 95% t-interval over seeds; per axis the paired differences between its
values with the other axes fixed; each arms axis's fields), and the plots
``f1_by_config.png`` (mean dev F1 per configuration with 95% intervals and the
seeds' points) and ``dev_f1_per_epoch.png`` (mean over seeds per epoch).
``plot_f1_vs`` draws dev F1 against a numeric axis (e.g. the training
fraction), one line per value of another. The columns come from the grid's
axes; ``ReportOptions`` adds a study's title, columns and notes.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from wincls.train import workdir as workdir_lib
from wincls import config as config_lib
from wincls.model import losses
from wincls.sweep import grid as grid_lib
from wincls.sweep import stats

ROW_COLUMNS = ("seed", "seed_index", "dev_f1", "dev_precision", "dev_recall",
               "dev_accuracy", "best_epoch", "epochs_run", "num_seeds", "wall_time")


@dataclasses.dataclass(frozen=True)
class ReportOptions:
  """What a study adds to the generic ``results.md``.

  Attributes:
    title: the first heading.
    description: a paragraph under the base config line.
    shared_fields: ``Config`` fields listed with their value when every run
      shares it ("Shared by every run: ...").
    columns: ``(header, row key)`` columns of the per-run table after the axes
      (the value of the run's first row, e.g. ``("vocab", "vocab_size")``).
    compare: axes whose values are compared by paired differences (None: all).
    all_pairs: compare every pair of an axis's values, not only each with
      the first.
    notes: paragraphs at the end.
  """

  title: str = "Sweep results"
  description: str = ""
  shared_fields: Sequence[str] = ()
  columns: Sequence[tuple[str, str]] = ()
  compare: Sequence[str] | None = None
  all_pairs: bool = False
  notes: Sequence[str] = ()


def write_csv(path: str | os.PathLike, rows: Sequence[dict[str, Any]],
              axis_names: Sequence[str] = ()) -> None:
  """The rows as CSV: run, axes, seed and scores first, other keys sorted."""
  leading = ["run", "run_index"]
  leading += [n for n in axis_names if n not in leading] + list(ROW_COLUMNS)
  present = {key for row in rows for key in row}
  columns = [c for c in leading if c in present]
  columns += sorted(present - set(columns))
  buffer = io.StringIO()
  writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
  writer.writeheader()
  for row in rows:
    writer.writerow(row)
  workdir_lib.atomic_write_text(path, buffer.getvalue())


def _pct(x: float) -> str:
  return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.2f}"


def _cell(value: Any) -> str:
  """A config value in a table cell: tuples as comma lists, '' as –."""
  if isinstance(value, (tuple, list)):
    return ",".join(value) or "–"
  return "–" if value == "" else grid_lib.format_value(value)


def shared_settings(runs: Sequence[grid_lib.Run],
                    axes: grid_lib.Axes) -> dict[str, Any]:
  """The ``Config`` fields that every run shares (field axes left out)."""
  field_axes = {a.name for a in grid_lib.make_axes(axes) if a.is_field}
  shared = {}
  for field in dataclasses.fields(config_lib.Config):
    values = {repr(getattr(r.config, field.name)) for r in runs}
    if field.name not in field_axes and len(values) == 1 and runs:
      shared[field.name] = getattr(runs[0].config, field.name)
  return shared


def arms_table(runs: Sequence[grid_lib.Run], axis: grid_lib.Axis) -> list[str]:
  """Markdown lines: the fields an arms axis sets (those that differ), by arm."""
  fields = list(dict.fromkeys(f for o in axis.overrides for f in o))
  config_of = {}
  for run in runs:
    config_of.setdefault(dict(run.values)[axis.name], run.config)
  arms = [v for v in axis.values if v in config_of]
  cells = {f: [_cell(getattr(config_of[v], f)) for v in arms] for f in fields}
  fields = [f for f in fields if len(set(cells[f])) > 1]
  if not fields:
    return []
  lines = ["| field | " + " | ".join(grid_lib.format_value(v) for v in arms) + " |",
           "|---|" + "---|" * len(arms)]
  lines += [f"| `{f}` | " + " | ".join(cells[f]) + " |" for f in fields]
  return lines


def _preamble(runs, axes, base, options: ReportOptions) -> list[str]:
  """Title, base config, description, arms and shared settings."""
  axes = grid_lib.make_axes(axes)
  lines = [f"# {options.title}", ""]
  shared = shared_settings(runs, axes)
  if base is not None:
    defaults = config_lib.Config()
    changed = {k: v for k, v in shared.items() if v != getattr(defaults, k)}
    lines.append("Base config (fields differing from `Config()`): " + (", ".join(
        f"`{k}={grid_lib.format_value(v) if not isinstance(v, tuple) else ','.join(v)}`"
        for k, v in changed.items()) or "none") + ".")
    lines.append("")
  if options.description:
    lines += [options.description, ""]
  for axis in axes:
    table = [] if axis.is_field else arms_table(runs, axis)
    if table:
      lines += [f"Arms of `{axis.name}` (the fields that differ between them):", ""]
      lines += table + [""]
  listed = [f for f in options.shared_fields if f in shared]
  if listed:
    lines += ["Shared by every run: " + ", ".join(
        f"`{f}={_cell(shared[f])}`" for f in listed) + ".", ""]
  return lines


def markdown_report(runs: Sequence[grid_lib.Run], axes: grid_lib.Axes,
                    rows: Sequence[dict[str, Any]],
                    base: config_lib.Config | None = None,
                    options: ReportOptions | None = None) -> str:
  """``results.md``: the per-run table, paired differences, arms and notes."""
  options = options or ReportOptions()
  summary = stats.summarize(runs, rows)
  diffs = stats.paired_differences(runs, rows, axes, compare=options.compare,
                                   all_pairs=options.all_pairs)
  axes = grid_lib.make_axes(axes)
  axis_names = [axis.name for axis in axes]
  lines = _preamble(runs, axes, base, options)
  detectors = {run.config.target_type for run in runs if run.config.output == "score"}
  metric = (f"Dev token-level detection F1 of {', '.join(sorted(detectors))} (%)"
            if detectors else "Dev entity F1 (%, conlleval)")
  lines += [f"{metric} over seeds: mean ± sample std, and the 95% t-interval of the "
            "mean. `objective`: what each `--loss` computes with the run's output.", ""]
  objective = {run.name: losses.describe(run.config.loss, run.config.output,
                                         run.config.margin) for run in runs}
  header = axis_names + ["objective"] + [h for h, _ in options.columns]
  header += ["seeds", "dev F1", "95% CI", "P", "R", "best epoch", "wall s"]
  lines.append("| " + " | ".join(header) + " |")
  lines.append("|" + "---|" * len(header))
  first_rows = {}
  for row in rows:
    first_rows.setdefault(row["run"], row)
  for s in summary:
    cells = [grid_lib.format_value(s[name]) for name in axis_names]
    cells.append(objective[s["run"]].replace("|", "∣"))
    cells += [str(first_rows[s["run"]].get(key, "")) for _, key in options.columns]
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
      fixed = ", ".join(f"{k}={grid_lib.format_value(v)}"
                        for k, v in d["fixed"].items()) or "–"
      lines.append(
          f"| {d['axis']} | {grid_lib.format_value(d['b'])} − "
          f"{grid_lib.format_value(d['a'])} | {fixed} | "
          f"{d['n']} | {_pct(d['mean'])} ± {_pct(d['std'])} | "
          f"[{_pct(d['low'])}, {_pct(d['high'])}] |")
  for note in options.notes:
    lines += ["", note]
  return "\n".join(lines) + "\n"


def _pyplot():
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def _save(fig, path: str | os.PathLike) -> None:
  """Saves a figure as PNG atomically and closes it."""
  buffer = io.BytesIO()
  fig.savefig(buffer, format="png", dpi=120)
  _pyplot().close(fig)
  workdir_lib.atomic_write_bytes(path, buffer.getvalue())


def plot_f1(path: str | os.PathLike, runs: Sequence[grid_lib.Run],
            rows: Sequence[dict[str, Any]]) -> None:
  """Mean dev F1 per configuration with 95% intervals and the seeds' points."""
  plt = _pyplot()
  summary = stats.summarize(runs, rows)
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
  _save(fig, path)


def plot_curves(path: str | os.PathLike, workdir: str | os.PathLike,
                runs: Sequence[grid_lib.Run]) -> None:
  """Mean over seeds of dev F1 per epoch, one line per configuration."""
  plt = _pyplot()
  from matplotlib import ticker  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(6.0, 4.0))
  for run in runs:
    metrics = workdir_lib.read_jsonl(Path(workdir) / grid_lib.RUNS_DIR / run.name /
                                    workdir_lib.METRICS_FILE)
    by_epoch = {}
    for row in metrics:
      by_epoch.setdefault(row["epoch"], []).append(row["dev_f1"])
    if not by_epoch:
      continue
    epochs = sorted(by_epoch)
    ax.plot(epochs, [100 * np.mean(by_epoch[e]) for e in epochs], marker="o",
            markersize=3, label=run.name)
  ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
  ax.set_xlabel("epoch")
  ax.set_ylabel("dev entity F1 (%), mean over seeds")
  ax.grid(alpha=0.3)
  ax.legend(fontsize=7)
  fig.tight_layout()
  _save(fig, path)


def plot_f1_vs(path: str | os.PathLike, runs: Sequence[grid_lib.Run],
               rows: Sequence[dict[str, Any]], *, x: str, lines: str,
               log_x: bool = True, xlabel: str | None = None) -> None:
  """Mean dev F1 against the numeric axis ``x``, one colour per value of ``lines``.

  Error bars are 95% t-intervals, dots the seeds; each setting of the other
  axes (e.g. the loss) gets its own line style. With ``log_x`` the x axis is
  logarithmic and the lines are offset a little so the bars stay apart.
  """
  plt = _pyplot()
  summary = {s["run"]: s for s in stats.summarize(runs, rows)}
  values = [dict(r.values) for r in runs]
  rest_names = [n for n, _ in runs[0].values if n not in (x, lines)] if runs else []
  rest = list(dict.fromkeys(tuple(v[n] for n in rest_names) for v in values))
  colours = list(dict.fromkeys(v[lines] for v in values))
  xs = sorted({v[x] for v in values})
  span = (xs[-1] - xs[0]) if len(xs) > 1 else 1.0
  styles = ["-", "--", ":", "-."]
  fig, ax = plt.subplots(figsize=(6.0, 4.2))
  for ri, other in enumerate(rest):
    for ci, colour in enumerate(colours):
      points = sorted((v[x], summary[run.name], run.name) for run, v in zip(runs, values)
                      if v[lines] == colour and run.name in summary
                      and tuple(v[n] for n in rest_names) == other)
      if not points:
        continue
      offset = 0.04 * (ci - (len(colours) - 1) / 2)
      px = np.array([p[0] for p in points], np.float64)
      px = px * (1.0 + offset) if log_x else px + offset * span / 4
      y = [100 * p[1]["mean"] for p in points]
      err = [0.0 if math.isnan(p[1]["half_width"]) else 100 * p[1]["half_width"]
             for p in points]
      label = grid_lib.format_value(colour)
      if len(rest) > 1:
        label += ", " + ", ".join(grid_lib.format_value(o) for o in other)
      ax.errorbar(px, y, yerr=err, fmt="o" + styles[ri % len(styles)],
                  color=f"C{ci}", capsize=4, markersize=4, label=label)
      for xi, (_, _, name) in zip(px, points):
        seeds = [100 * r["dev_f1"] for r in rows if r["run"] == name]
        ax.plot(np.full(len(seeds), xi), seeds, ".", color=f"C{ci}", alpha=0.35,
                markersize=3)
  if log_x:
    from matplotlib import ticker  # pylint: disable=g-import-not-at-top
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())  # only the axis values
  ax.set_xticks(xs)
  ax.set_xticklabels([f"{v:g}" for v in xs])
  ax.set_xlabel(xlabel or (x + (" (log scale)" if log_x else "")))
  ax.set_ylabel("dev entity F1 (%)")
  ax.set_title("mean over seeds, 95% t-intervals; dots: seeds", fontsize=9)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  fig.tight_layout()
  _save(fig, path)


def write_reports(workdir: str | os.PathLike, runs: Sequence[grid_lib.Run],
                  axes: grid_lib.Axes, rows: Sequence[dict[str, Any]], *,
                  options: ReportOptions | None = None) -> str:
  """``results.csv``, ``results.md`` and the two PNG plots; returns the markdown."""
  workdir = Path(workdir)
  rows = grid_lib.order_rows(rows, runs)
  base = None
  grid = workdir / grid_lib.GRID_FILE
  if grid.exists():
    base = config_lib.Config.from_dict(workdir_lib.read_json(grid)["base"], source=grid)
  write_csv(workdir / "results.csv", rows, [a.name for a in grid_lib.make_axes(axes)])
  text = markdown_report(runs, axes, rows, base, options)
  workdir_lib.atomic_write_text(workdir / "results.md", text)
  plot_f1(workdir / "f1_by_config.png", runs, rows)
  plot_curves(workdir / "dev_f1_per_epoch.png", workdir, runs)
  return text
