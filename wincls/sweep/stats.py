"""Statistics over seeds: Student's t, mean intervals, paired differences.

``t_quantile`` (no SciPy: the regularized incomplete beta function by its
continued fraction, then bisection) gives the 95% t-interval of a mean
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

from wincls.sweep import grid as grid_lib


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
