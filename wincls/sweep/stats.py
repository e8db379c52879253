"""Statistics over seeds: Student's t, mean intervals, paired differences.

``t_quantile`` (SciPy's inverse t CDF) gives the 95% t-interval of a mean
(``mean_interval``). ``summarize`` reports each run's mean ± std of a metric
over its seeds; ``paired_differences`` compares the values of an axis with
the other axes fixed, paired by seed (the same seed shares initialisation
and data order across runs, so pairs cancel much of the seed-to-seed noise).
Both work on any grid: the columns are the grid's axes.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Collection, Sequence

import numpy as np
from scipy import special

from wincls.sweep import grid as grid_lib


def t_quantile(p: float, df: float) -> float:
  """The p-quantile of Student's t with ``df`` degrees of freedom.

  ``scipy.special.stdtrit`` is what ``scipy.stats.t.ppf`` calls; importing
  ``scipy.special`` costs ~0.05 s where ``scipy.stats`` costs ~0.6 s.
  """
  if not 0.0 < p < 1.0:
    raise ValueError(f"p={p} must be in (0, 1)")
  return float(special.stdtrit(df, p))


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


def summarize(runs: Sequence[grid_lib.Run], rows: Sequence[dict[str, Any]],
              metric: str = "dev_f1") -> list[dict[str, Any]]:
  """Per run with rows (grid order): its axis values and ``mean_interval`` of
  ``metric``, with the means of precision, recall, best epoch and wall time."""
  out = []
  for run in runs:
    mine = [r for r in rows if r["run"] == run.name]
    if not mine:
      continue
    entry = {"run": run.name, **dict(run.values),
             **mean_interval([r[metric] for r in mine])}
    for name in ("dev_precision", "dev_recall", "best_epoch", "wall_time"):
      entry[name] = float(np.mean([r[name] for r in mine]))
    out.append(entry)
  return out


def paired_differences(runs: Sequence[grid_lib.Run], rows: Sequence[dict[str, Any]],
                       axes: grid_lib.Axes, metric: str = "dev_f1", *,
                       compare: Collection[str] | None = None,
                       all_pairs: bool = False) -> list[dict[str, Any]]:
  """Differences ``b − a`` of ``metric`` between values of an axis, paired by seed.

  For each axis (of ``compare``; None: every axis) and each setting of the
  other axes, the runs that differ only in that axis are compared: every
  value b after the first against the first value a, or with ``all_pairs``
  every pair of values (a before b in the axis). Only seeds present in both
  runs are paired.

  Returns:
    ``[{"axis", "a", "b", "fixed": {axis: value}, "n", "mean", "std",
    "half_width", "low", "high"}, ...]``.
  """
  axes = grid_lib.make_axes(axes)
  by_run = {}
  for row in rows:
    by_run.setdefault(row["run"], {})[int(row["seed"])] = row[metric]
  lookup = {r.values: r for r in runs}
  out = []
  for k, axis in enumerate(axes):
    if len(axis.values) < 2 or (compare is not None and axis.name not in compare):
      continue
    values = axis.values
    if all_pairs:
      pairs = [(a, b) for i, a in enumerate(values) for b in values[i + 1:]]
    else:
      pairs = [(values[0], b) for b in values[1:]]
    others = [other for i, other in enumerate(axes) if i != k]
    for fixed in itertools.product(*[other.values for other in others]):
      fixed_values = dict(zip([other.name for other in others], fixed))

      def run_of(value):
        return lookup.get(tuple(
            (a.name, value if a.name == axis.name else fixed_values[a.name])
            for a in axes))

      for a, b in pairs:
        run_a, run_b = run_of(a), run_of(b)
        if run_a is None or run_b is None:
          continue
        scores_a, scores_b = by_run.get(run_a.name, {}), by_run.get(run_b.name, {})
        seeds = sorted(set(scores_a) & set(scores_b))
        if not seeds:
          continue
        diffs = [scores_b[s] - scores_a[s] for s in seeds]
        out.append({"axis": axis.name, "a": a, "b": b, "fixed": fixed_values,
                    **mean_interval(diffs)})
  return out
