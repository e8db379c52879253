"""The gradient check's outputs: the JSON rows, the summary sentences, the markdown.

Everything in the markdown is computed from the rows.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import statistics
import tempfile
from typing import Any, Mapping

import numpy as np

from benchmarks.gradcheck_lib import cases
from benchmarks.gradcheck_lib import measure

# The whole-network components, whose CS224n rows get a verdict sentence.
NETWORKS = ("network_x", "network_params", "model_params")
# Speed ratios within this factor count as a tie in the summary.
_CLEAR = 1.25
_SIZE_LABELS = (("window_size", "m"), ("embed_dim", "E"), ("feature_dim", "Fd"),
                ("hidden_size", "H"), ("num_classes", "C"), ("batch", "B"),
                ("seq_len", "T"), ("num_corruptions", "k"), ("vocab_size", "V"),
                ("output", "out"), ("activation", "f"), ("window", "window"))


def write_json_atomic(path: str, obj) -> None:
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=directory, prefix=".gradcheck-", suffix=".tmp")
  try:
    with os.fdopen(fd, "w") as f:
      json.dump(obj, f, indent=1, allow_nan=True)
      f.write("\n")
    os.chmod(tmp, 0o644)  # mkstemp makes it private
    os.replace(tmp, path)
  except BaseException:
    with contextlib.suppress(OSError):
      os.unlink(tmp)
    raise


def ok(row) -> bool:
  return "error" not in row


def ms(seconds) -> str:
  return "–" if seconds is None else f"{seconds * 1e3:.3g}"


def err(value) -> str:
  return "–" if value is None else f"{value:.1e}"


def best_ad(row) -> tuple[str | None, float | None]:
  """The faster of jacfwd and jacrev in ``row``, and its median time."""
  times = {m: row.get(f"time_{m}_s") for m in ("jacfwd", "jacrev")}
  times = {m: t for m, t in times.items() if t is not None}
  if not times:
    return None, None
  name = min(times, key=times.get)
  return name, times[name]


def size_label(row) -> str:
  """``m=1 E=50 ...``; the model settings only where they are not the default."""
  return " ".join(f"{short}={row[key]}" for key, short in _SIZE_LABELS
                  if key in row and row[key] != cases.DEFAULT_SETTINGS.get(key))


def shape_label(row) -> str:
  shape = row.get("jacobian_shape")
  if shape is None:
    return "?"
  if shape and isinstance(shape[0], list):
    return " + ".join("[" + ",".join(map(str, s)) + "]" for s in shape)
  return "[" + ",".join(map(str, shape)) + "]"


def find(rows, component, dtype_name, **match):
  """The first CS224n row of ``component`` with the default settings but ``match``."""
  want = {**cases.DEFAULT_SETTINGS, **match}
  for r in rows:
    if (r["component"] == component and r["dtype"] == dtype_name and r.get("cs224n")
        and all(r.get(k, v) == v for k, v in want.items())):
      return r
  return None


def _axis_value(axis, row):
  return row["window_len"] if axis == "window_size" else row[axis]


def _slope(xs, ys):
  pairs = [(x, math.log(y)) for x, y in zip(xs, ys) if y is not None and y > 0]
  if len(pairs) < 2 or len({p[0] for p in pairs}) < 2:
    return None
  x, y = np.array(pairs).T
  return float(np.polyfit(x, y, 1)[0])


def growth_rows(rows, dtype_name, components: Mapping[str, cases.Component]):
  """Per (component, axis): log-log slopes of time (and Jacobian entries) vs the axis.

  The window axis is measured by the window length 2m+1.
  """
  out = []
  for name, component in components.items():
    for axis in component.axes:
      line = [r for r in rows if ok(r) and r["component"] == name
              and r["dtype"] == dtype_name and r["swept"] in (axis, "cs224n")]
      if len(line) < 2:
        continue
      line.sort(key=lambda r: _axis_value(axis, r))
      xs = np.log([_axis_value(axis, r) for r in line])
      entry = {"component": name, "axis": axis,
               "values": [_axis_value(axis, r) for r in line],
               "entries": _slope(xs, [r["jacobian_entries"] for r in line])}
      for method in measure.METHODS:
        entry[method] = _slope(xs, [r.get(f"time_{method}_s") for r in line])
      out.append(entry)
  return out


def _accuracy_sentence(sub, dtype_name) -> str:
  parts = []
  for method in ("jacfwd", "jacrev", "fd"):
    vals = [(r[f"max_rel_err_{method}"], r) for r in sub
            if r.get(f"max_rel_err_{method}") is not None]
    if vals:
      worst, r = max(vals, key=lambda v: v[0])
      parts.append(f"{worst:.1e} vs {method} ({r['component']}, {size_label(r)})")
  fd_dtypes = sorted({r["fd_dtype"] for r in sub if "fd_dtype" in r})
  ad_fd = [(r[f"max_rel_err_fd_{m}"], m, r) for r in sub for m in ("jacfwd", "jacrev")
           if r.get(f"max_rel_err_fd_{m}") is not None]
  ad_text = ""
  if ad_fd:
    worst, m, r = max(ad_fd, key=lambda v: v[0])
    ad_text = (f" For scale, the AD Jacobians differ from the same finite "
               f"differences by up to {worst:.1e} ({m}, {r['component']}, "
               f"{size_label(r)}).")
  return (f"**Accuracy, {dtype_name}** ({len(sub)} rows; FD evaluated in "
          f"{'/'.join(fd_dtypes)}): the largest relative error of the hand "
          f"Jacobian is {'; '.join(parts)}.{ad_text}")


def _mode_sentences(good) -> list[str]:
  """Tall vs wide Jacobians: which AD mode won; where jacfwd was skipped."""
  lines = []
  both = [r for r in good if r.get("time_jacfwd_s") and r.get("time_jacrev_s")]
  for shape_class in ("tall", "square", "wide"):
    sub = [r for r in both if r["shape_class"] == shape_class]
    if not sub:
      continue
    fwd_wins = sum(r["time_jacfwd_s"] < r["time_jacrev_s"] for r in sub)
    ratio = statistics.median(r["time_jacfwd_s"] / r["time_jacrev_s"] for r in sub)
    lines.append(f"**{shape_class.capitalize()} Jacobians** (outputs "
                 f"{'>' if shape_class == 'tall' else '<' if shape_class == 'wide' else '='}"
                 f" inputs, {len(sub)} rows timed both ways): jacfwd was faster in "
                 f"{fwd_wins}, jacrev in {len(sub) - fwd_wins}; median time "
                 f"jacfwd/jacrev = {ratio:.2f}.")
  skipped = [r for r in good if r.get("skipped_jacfwd")]
  if skipped:
    comps = sorted({r["component"] for r in skipped})
    smallest = min(r["in_size"] for r in skipped)
    lines.append(f"jacfwd was not run in {len(skipped)} rows ({', '.join(comps)}): "
                 f"their inputs have ≥{smallest} entries, so its identity basis "
                 f"would have ≥{smallest ** 2:.2g} entries (> --max_basis_entries).")
  return lines


def _network_x_sentences(good) -> list[str]:
  """The network Jacobian w.r.t. x: multiclass ``[C, D]`` and score ``[D]``."""
  lines = []
  for dtype_name in cases.DTYPES:
    for output in ("multiclass", "score"):
      r = find(good, "network_x", dtype_name, output=output)
      if r and r.get("time_jacfwd_s") and r.get("time_jacrev_s"):
        lines.append(
            f"network_x at CS224n sizes, {output} ({shape_label(r)}, {dtype_name}): "
            f"jacfwd {ms(r['time_jacfwd_s'])} ms, jacrev {ms(r['time_jacrev_s'])} ms "
            f"(jacfwd/jacrev = {r['time_jacfwd_s'] / r['time_jacrev_s']:.2f}); "
            f"hand {ms(r['time_hand_s'])} ms.")
  return lines


def _describe_ratios(d) -> str:
  return ", ".join(
      f"{c} ({statistics.median(v):.2g}, range {min(v):.2g}–{max(v):.2g})"
      for c, v in sorted(d.items(), key=lambda kv: statistics.median(kv[1])))


def _hand_vs_ad_sentence(good, dtype_name) -> str | None:
  sub = [r for r in good if r["dtype"] == dtype_name and best_ad(r)[1]]
  if not sub:
    return None
  ratios = {}
  for r in sub:
    ratios.setdefault(r["component"], []).append(r["time_hand_s"] / best_ad(r)[1])
  no_slower = sum(v <= 1 for vs in ratios.values() for v in vs)
  faster = {c: vs for c, vs in ratios.items() if statistics.median(vs) < 1 / _CLEAR}
  slower = {c: vs for c, vs in ratios.items() if statistics.median(vs) > _CLEAR}
  rest = len(ratios) - len(faster) - len(slower)
  return (f"**Hand vs the better AD mode, {dtype_name}**: the hand Jacobian was no "
          f"slower in {no_slower} of {len(sub)} rows. By the median over each "
          f"component's sizes of time hand / better AD, it is more than "
          f"{_CLEAR}× faster for {_describe_ratios(faster) or 'none'}; more than "
          f"{_CLEAR}× slower for {_describe_ratios(slower) or 'none'}; the other "
          f"{rest} components are within {_CLEAR}× (at these sizes mostly per-call "
          "overhead of a few µs).")


def _verdict_sentence(r, component, dtype_name) -> str | None:
  """Hand vs the better AD mode for one CS224n row, with the timing noise."""
  best, best_t = best_ad(r)
  if best_t is None:
    return None
  ratio = r["time_hand_s"] / best_t
  paired = sorted(h / b for h, b in zip(r["samples_hand_s"], r[f"samples_{best}_s"]))
  q1, q3 = np.percentile(paired, [25, 75])
  if ratio <= 1:
    verdict = "no slower than"
  elif q1 <= 1:
    verdict = "within the timing noise of"
  else:
    verdict = "slower than"
  flops = ""
  if r.get("flops_hand") and r.get(f"flops_{best}"):
    flops = (f"; XLA estimates {r['flops_hand']:.3g} flops for hand vs "
             f"{r[f'flops_{best}']:.3g} for {best}")
  return (f"**{component} at CS224n sizes ({shape_label(r)}, {dtype_name})**: hand "
          f"{ms(r['time_hand_s'])} ms is {verdict} the better AD mode ({best} "
          f"{ms(best_t)} ms; hand/{best} = {ratio:.2f}, per-round paired ratios "
          f"{q1:.2f}–{q3:.2f} (quartiles of {len(paired)})){flops}.")


def summary_sentences(rows) -> list[str]:
  """The findings, computed from the rows."""
  good = [r for r in rows if ok(r)]
  lines = [_accuracy_sentence(sub, dtype_name) for dtype_name in cases.DTYPES
           if (sub := [r for r in good if r["dtype"] == dtype_name])]
  lines += _mode_sentences(good)
  lines += _network_x_sentences(good)
  lines += [s for dtype_name in cases.DTYPES
            if (s := _hand_vs_ad_sentence(good, dtype_name))]
  for component in NETWORKS:
    for dtype_name in cases.DTYPES:
      r = find(good, component, dtype_name)
      if r and (s := _verdict_sentence(r, component, dtype_name)):
        lines.append(s)
  return lines


def table(rows) -> list[str]:
  lines = ["| component | dtype | sizes | Jacobian | rel err jacfwd | rel err jacrev | "
           "rel err FD | hand ms | jacfwd ms | jacrev ms | hand / best AD |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
  for r in rows:
    if not ok(r):
      lines.append(f"| {r['component']} | {r['dtype']} | {size_label(r)} | "
                   f"ERROR: {r['error'].splitlines()[0][:80]} | | | | | | | |")
      continue
    best, best_t = best_ad(r)
    ratio = f"{r['time_hand_s'] / best_t:.2f} ({best})" if best_t else "–"
    fd = err(r.get("max_rel_err_fd"))
    if r.get("fd_columns", 0) < r.get("in_size", 0):
      fd += f" ({r['fd_columns']} cols)"
    lines.append(
        f"| {r['component']} | {r['dtype']} | {size_label(r)} | {shape_label(r)} | "
        f"{err(r.get('max_rel_err_jacfwd'))} | {err(r.get('max_rel_err_jacrev'))} | "
        f"{fd} | {ms(r.get('time_hand_s'))} | {ms(r.get('time_jacfwd_s'))} | "
        f"{ms(r.get('time_jacrev_s'))} | {ratio} |")
  return lines


_PREAMBLE = (
    "Relative error = max|J_hand − J_ref| / max(max|J_ref|, tiny) over the whole "
    "Jacobian (all leaves); times are medians of jitted calls (two warm-up calls, "
    "then rounds calling hand, jacfwd and jacrev in rotated order, each call ended "
    "by `block_until_ready`); '–' = not run (see the JSON's `skipped_*`). Sizes: m "
    "window half-width, E word-vector dim, Fd casing-feature dim (d = E + Fd, "
    "D = (2m+1)·d; a feature_NAME row: that feature's own dim), H hidden, C classes, B batch, T sentence length, k corruptions, "
    "V vocabulary; out, f and window name a model setting other than the CS224n "
    "model's (multiclass, tanh, concat).")
_GROWTH = (
    "Log-log slope of the median time against the swept axis (the window axis by "
    "its length 2m+1), the other axes at the CS224n values; 'entries' is the slope "
    "of the Jacobian's size. A slope well below 'entries' means fixed per-call "
    "costs dominate at these sizes.")


def _growth_table(growth) -> list[str]:
  fmt = lambda v: "–" if v is None else f"{v:.2f}"
  lines = ["| component | axis | values | entries | hand | jacfwd | jacrev |",
           "|---|---|---|---|---|---|---|"]
  for g in growth:
    lines.append(f"| {g['component']} | {g['axis']} | "
                 f"{', '.join(map(str, g['values']))} | {fmt(g['entries'])} | "
                 f"{fmt(g['hand'])} | {fmt(g['jacfwd'])} | {fmt(g['jacrev'])} |")
  return lines


def markdown(rows, *, command: str, meta: dict[str, Any],
             components: Mapping[str, cases.Component]) -> str:
  """The whole report: summary, the CS224n rows, growth slopes, all rows."""
  lines = ["# Hand-written Jacobians vs jacfwd, jacrev and finite differences", "",
           f"`{command}`", "", ", ".join(f"{k}: {v}" for k, v in meta.items()), "",
           _PREAMBLE, "", "## Summary (computed from the rows)", ""]
  lines += [f"- {s}" for s in summary_sentences(rows)]
  failed = [r for r in rows if not ok(r)]
  if failed:
    lines += ["", f"**{len(failed)} rows failed**: " + ", ".join(
        f"{r['component']} {r['dtype']} {size_label(r)}" for r in failed)]
  cs = [r for r in rows if r.get("cs224n")]
  if cs:
    lines += ["", "## At the CS224n sizes", ""] + table(cs)
  dtype_name = "float32" if any(r["dtype"] == "float32" for r in rows) else "float64"
  growth = growth_rows(rows, dtype_name, components)
  if growth:
    lines += ["", f"## Growth with size ({dtype_name})", "", _GROWTH, ""]
    lines += _growth_table(growth)
  lines += ["", "## All rows", ""] + table(rows)
  return "\n".join(lines) + "\n"
