"""The gradient check's figure: time vs size, AD modes, accuracy, hand vs AD."""

from __future__ import annotations

import numpy as np

from benchmarks.gradcheck_lib import cases
from benchmarks.gradcheck_lib import measure
from benchmarks.gradcheck_lib import report

COLORS = {"hand": "tab:green", "jacfwd": "tab:blue", "jacrev": "tab:orange",
          "fd": "tab:gray"}
# Errors of exactly 0 are drawn here on the log axis.
_FLOOR = 1e-17


def _legend(ax, **kwargs):
  if ax.get_legend_handles_labels()[0]:
    ax.legend(**kwargs)


def _times(ax, good, dtype_name):
  for method in measure.METHODS:
    pts = [(r["jacobian_entries"], r[f"time_{method}_s"]) for r in good
           if r["dtype"] == dtype_name and r.get(f"time_{method}_s")]
    if pts:
      x, y = zip(*pts)
      ax.scatter(x, np.array(y) * 1e3, s=12, alpha=0.6, label=method,
                 color=COLORS[method])
  ax.set(xscale="log", yscale="log", xlabel="Jacobian entries",
         ylabel="median time (ms)", title=f"Time per Jacobian ({dtype_name})")
  _legend(ax)


def _modes(ax, good, dtype_name):
  for shape_class, marker in (("tall", "^"), ("square", "s"), ("wide", "v")):
    pts = [(r["out_size"] / r["in_size"], r["time_jacfwd_s"] / r["time_jacrev_s"])
           for r in good if r["dtype"] == dtype_name and r["shape_class"] == shape_class
           and r.get("time_jacfwd_s") and r.get("time_jacrev_s")]
    if pts:
      x, y = zip(*pts)
      ax.scatter(x, y, s=14, marker=marker, alpha=0.7, label=shape_class)
  ax.axhline(1.0, color="k", lw=0.8)
  ax.axvline(1.0, color="k", lw=0.8, ls=":")
  ax.set(xscale="log", yscale="log", xlabel="outputs / inputs (tall > 1 > wide)",
         ylabel="time jacfwd / time jacrev (> 1: jacrev wins)",
         title=f"Forward vs reverse mode ({dtype_name})")
  _legend(ax)


def _errors(ax, good, names):
  for offset, method in zip((-0.25, 0.0, 0.25), ("jacfwd", "jacrev", "fd")):
    for dtype_name, marker in (("float32", "o"), ("float64", "x")):
      pts = [(names.index(r["component"]) + offset,
              max(r[f"max_rel_err_{method}"], _FLOOR)) for r in good
             if r["dtype"] == dtype_name and r["component"] in names
             and r.get(f"max_rel_err_{method}") is not None]
      if pts:
        x, y = zip(*pts)
        ax.scatter(x, y, s=10, marker=marker, color=COLORS[method], alpha=0.6,
                   label=f"{method} {dtype_name}")
  ax.set_xticks(range(len(names)), names, rotation=70, fontsize=7)
  ax.set(yscale="log", ylabel=f"max relative error (0 drawn at {_FLOOR:g})",
         title="Hand Jacobian vs references")
  _legend(ax, fontsize=6, ncol=2)


def _hand_vs_ad(ax, good, names):
  for offset, dtype_name in zip((-0.2, 0.2), cases.DTYPES):
    xs, ys = [], []
    for i, name in enumerate(names):
      r = report.find(good, name, dtype_name)
      if r and report.best_ad(r)[1]:
        xs.append(i + offset)
        ys.append(r["time_hand_s"] / report.best_ad(r)[1])
    if xs:
      ax.bar(xs, ys, width=0.4, label=dtype_name)
  ax.axhline(1.0, color="k", lw=0.8)
  ax.set_xticks(range(len(names)), names, rotation=70, fontsize=7)
  ax.set(yscale="log", ylabel="time hand / better of jacfwd, jacrev",
         title="Hand vs best AD at the CS224n sizes (< 1: hand wins)")
  _legend(ax)


def plot(rows, path: str, names: list[str]) -> None:
  """Writes the 2×2 figure of ``rows`` (components in the order of ``names``)."""
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

  good = [r for r in rows if report.ok(r)]
  dtype_name = "float32" if any(r["dtype"] == "float32" for r in good) else "float64"
  fig, axes = plt.subplots(2, 2, figsize=(13, 10))
  _times(axes[0, 0], good, dtype_name)
  _modes(axes[0, 1], good, dtype_name)
  _errors(axes[1, 0], good, names)
  _hand_vs_ad(axes[1, 1], good, names)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
