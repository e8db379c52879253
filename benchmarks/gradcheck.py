"""Checks and times the hand-written Jacobians against jacfwd, jacrev and finite differences.

  python benchmarks/gradcheck.py                       # full sweep -> results/gradcheck.{json,md,png}
                                                       # (380 rows)
  python benchmarks/gradcheck.py --smoke --output=/tmp/g.json   # one tiny size per component
  python benchmarks/gradcheck.py --plugins=my_parts --components=window_mine  # your part

Every hand Jacobian of ``wincls/model`` that differentiates a piece of the
window network ("component", ``gradcheck_lib/components.py``), and of the parts
the ``--plugins`` modules register (imported before the flags are parsed, as
``experiments/train.py`` does: ``wincls.cli.run``), is compared, in
float32 and in float64, against

* ``jax.jacfwd`` and ``jax.jacrev`` of the forward function, and
* central finite differences ``(f(v + ε e_i) - f(v - ε e_i)) / (x_i⁺ - x_i⁻)``
  (the denominator is the step actually taken after rounding). By default the
  differences are evaluated **in float64 for both dtypes** (a float32 row's
  inputs are upcast exactly, so its FD reference is the same function at the
  same point, without float32 cancellation), with ε = ``--fd_eps_float64``;
  ``--fd_dtype=native`` evaluates them in the row's own dtype with ε =
  ``--fd_eps_float32`` / ``--fd_eps_float64``. When the input has more than
  ``--fd_max_columns`` entries, FD checks a seeded random sample of that many
  input coordinates (Jacobian columns); the row records how many.

Errors are normwise relative, over all leaves of the Jacobian pytree
(``gradcheck_lib/measure.py``). Timing: hand, jacfwd and jacrev are each jitted
with every array passed as an argument, compiled ahead of time, warmed up, then
called in ``--repeats`` rotated rounds; the median is reported (the samples are
in the JSON), with XLA's flop estimate. The hand side of a per-example loss
assembles the dense block-diagonal ``[B, B, C]`` Jacobian from its ``[B, C]``
gradient rows so the three methods return the same array. ``jax.jacfwd``
pushes forward an identity basis of ``[n, n]`` for an input of n entries
(``jax.jacrev`` pulls back an ``[m, m]`` one for m outputs); a method whose
basis exceeds ``--max_basis_entries`` is skipped and the row says why.

Sizes (``gradcheck_lib/cases.py``): the CS224n configuration of the throughput
benchmark (window half-width m=1, 50-d word vectors + one 5-d casing feature so
d=55 and D=165, hidden H=200, C=5 classes; batch 32, sentence length 15 and one
corruption where those apply) and each of a component's size axes swept one at
a time, the other axes held there; the whole-network components also get a
CS224n point per other activation (``network_x``, ``network_params``), per other
window (``model_params``) and for the score output. ``--smoke`` runs one tiny
point per component with the default settings. The markdown summary is computed
from the rows. A row that raises is recorded with an ``error`` and the run goes
on; the JSON is rewritten atomically after every row, and the exit status is 1
if any row failed or a float64 hand Jacobian differs from jacfwd or jacrev by
more than ``FLOAT64_BAR`` (each such row is named on stderr: ``WRONG ...``).
"""

from __future__ import annotations

import datetime
import os
import pathlib
import platform
import sys
import time
import traceback

from absl import app
from absl import flags
import jax

# Run as a script, this file's folder comes first on sys.path, not the
# repository: put the repository first so that its own wincls is imported
# (not an installed copy from another checkout).
_REPO = str(pathlib.Path(__file__).resolve().parents[1])
if sys.path[0] != _REPO:
  sys.path.insert(0, _REPO)

# pylint: disable=g-import-not-at-top,wrong-import-position
from benchmarks.gradcheck_lib import cases
from benchmarks.gradcheck_lib import components as components_lib
from benchmarks.gradcheck_lib import measure
from benchmarks.gradcheck_lib import plot as plot_lib
from benchmarks.gradcheck_lib import report
from wincls import cli
# pylint: enable=g-import-not-at-top,wrong-import-position

_OUTPUT = flags.DEFINE_string("output", "results/gradcheck.json",
                              "JSON rows; the markdown and PNG go next to it "
                              "(same name, .md and .png)")
_SMOKE = flags.DEFINE_bool("smoke", False, "one tiny size per component (default "
                            "settings), one repeat")
_REPEATS = flags.DEFINE_integer("repeats", 9, "timed calls per method (median)",
                                lower_bound=1)
_DTYPES = flags.DEFINE_list("dtypes", "float32,float64", "float32 and/or float64")
_COMPONENTS = flags.DEFINE_list("components", None,
                                "only these components (default: all, the "
                                "--plugins' parts included)")
# Read by cli.run before the other flags are parsed (cli.plugins_in_argv): the
# modules are imported first, so their parts are components here.
cli.define_plugins_flag("their parts are checked too (window_NAME, NAME, "
                        "feature_NAME).")
_FD_DTYPE = flags.DEFINE_enum("fd_dtype", "float64", ["float64", "native"],
                              "evaluate finite differences in float64, or in the "
                              "row's dtype")
_FD_EPS_FLOAT32 = flags.DEFINE_float("fd_eps_float32", 1e-3,
                                     "FD step when evaluated in float32")
_FD_EPS_FLOAT64 = flags.DEFINE_float("fd_eps_float64", 1e-6,
                                     "FD step when evaluated in float64")
_FD_MAX_COLUMNS = flags.DEFINE_integer("fd_max_columns", 256,
                                       "FD checks at most this many input "
                                       "coordinates (a seeded sample)", lower_bound=1)
_MAX_BASIS = flags.DEFINE_integer("max_basis_entries", 2**26,
                                  "skip jacfwd (jacrev) when its [n, n] ([m, m]) "
                                  "identity basis has more entries", lower_bound=1)
_SEED = flags.DEFINE_integer("seed", 0, "seed of the random inputs")

Component = cases.Component
# None: every component of the registries, read when main runs (after --plugins
# registered their parts). A test sets its own.
COMPONENTS: dict[str, cases.Component] | None = None


def _components() -> dict[str, cases.Component]:
  return components_lib.components() if COMPONENTS is None else COMPONENTS


def _checked_flags(components: dict[str, cases.Component]) -> tuple[list[str], str]:
  """(the components to run, the JSON path); UsageError naming a bad flag."""
  for name in _DTYPES.value:
    if name not in cases.DTYPES:
      raise app.UsageError(f"--dtypes: {name!r} is not one of {', '.join(cases.DTYPES)}")
  names = _COMPONENTS.value or list(components)
  for name in names:
    if name not in components:
      raise app.UsageError(f"--components: {name!r} is not one of "
                           f"{', '.join(components)}")
  output = _OUTPUT.value
  if not output.endswith(".json"):
    raise app.UsageError(f"--output={output!r}: expected a path ending in .json")
  return names, output


def _progress(row, elapsed: float) -> str:
  return (f"[{elapsed:6.1f}s] {row['component']:<17} {row['dtype']} "
          f"{report.size_label(row):<36} rel err fwd/rev/fd "
          f"{report.err(row['max_rel_err_jacfwd'])}/"
          f"{report.err(row['max_rel_err_jacrev'])}/{report.err(row['max_rel_err_fd'])}"
          f"  ms hand/fwd/rev {report.ms(row['time_hand_s'])}/"
          f"{report.ms(row['time_jacfwd_s'])}/{report.ms(row['time_jacrev_s'])}")


# --smoke checks that every row runs, not how fast: LLVM's cheaper pipeline
# compiles in about 3/4 of the time.
SMOKE_COMPILE = {"xla_backend_optimization_level": 0,
                 "xla_llvm_disable_expensive_passes": True}
# jaxlib 0.10.2's XLA:CPU miscompiles some multiply-reduce fusions it hands to
# YNNPACK when an operand is broadcast (the class of jax-ml/jax#39103): the
# jitted jacfwd of hinge_ww (float32, B >= 128 or C >= 9) and of the CRF came
# out off by up to 100% while jacrev, the hand Jacobian and finite differences
# agreed. Every method here is compiled with YNNPACK for dots only, so the
# three are compared (and timed) alike and the references are right.
CPU_COMPILE = {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_DOT"}


def _compiler_options() -> dict:
  options = dict(SMOKE_COMPILE) if _SMOKE.value else {}
  if jax.default_backend() == "cpu" and _accepted(CPU_COMPILE):
    options.update(CPU_COMPILE)
  return options


def _accepted(options: dict) -> bool:
  """Whether this jaxlib knows ``options`` (the YNNPACK one is experimental)."""
  try:
    jax.jit(lambda x: x + 1).lower(1.0).compile(options)
  except Exception:  # pylint: disable=broad-except  # an unknown option or value
    return False
  return True


def _run_rows(components: dict[str, cases.Component], names: list[str], output: str, *,
              repeats: int, fd_eps) -> list[dict]:
  """Measures every (component, size, dtype); rewrites the JSON after each row."""
  rows = []
  start = time.perf_counter()
  compiler_options = _compiler_options()
  for name in names:
    for point in cases.size_points(components[name], _SMOKE.value):
      for dtype_name in _DTYPES.value:
        try:
          row = measure.measure(name, components[name], point, dtype_name,
                                repeats=repeats, fd_dtype=_FD_DTYPE.value,
                                fd_eps=fd_eps, fd_max_columns=_FD_MAX_COLUMNS.value,
                                max_basis=_MAX_BASIS.value, seed=_SEED.value,
                                compiler_options=compiler_options)
        except Exception as e:  # pylint: disable=broad-except  # recorded, run goes on
          row = {"component": name, "dtype": dtype_name, **point,
                 "error": f"{type(e).__name__}: {e}\n"
                          + "".join(traceback.format_exc(limit=-4))}
          print(f"FAILED {name} {dtype_name} {report.size_label(row)}: "
                f"{row['error']}", file=sys.stderr)
        rows.append(row)
        report.write_json_atomic(output, rows)
        if report.ok(row):
          print(_progress(row, time.perf_counter() - start), flush=True)
  return rows


def _side_path(output: str, suffix: str) -> str:
  root, ext = os.path.splitext(output)
  return (root if ext == ".json" else output) + suffix


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments {argv[1:]}")
  components = _components()
  names, output = _checked_flags(components)
  repeats = 1 if _SMOKE.value else _REPEATS.value
  fd_eps = {"float32": _FD_EPS_FLOAT32.value, "float64": _FD_EPS_FLOAT64.value}
  meta = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
          "jax": jax.__version__, "backend": jax.default_backend(),
          "device": str(jax.devices()[0]), "cpu_count": os.cpu_count(),
          "machine": platform.machine(), "repeats": repeats,
          "fd_dtype": _FD_DTYPE.value, "fd_eps": fd_eps,
          "fd_max_columns": _FD_MAX_COLUMNS.value,
          "max_basis_entries": _MAX_BASIS.value}
  start = time.perf_counter()
  rows = _run_rows(components, names, output, repeats=repeats, fd_eps=fd_eps)
  meta["total_seconds"] = round(time.perf_counter() - start, 1)
  text = report.markdown(rows, command="python " + " ".join(sys.argv), meta=meta,
                         components={n: components[n] for n in names})
  md_path, png_path = _side_path(output, ".md"), _side_path(output, ".png")
  with open(md_path + ".tmp", "w") as f:
    f.write(text)
  os.replace(md_path + ".tmp", md_path)
  plot_lib.plot(rows, png_path, names)
  print(text)
  print(f"wrote {output}, {md_path}, {png_path}")
  failed = [r for r in rows if not report.ok(r)]
  wrong = [r for r in rows if report.ok(r) and _wrong(r)]
  for r in wrong:
    print(f"WRONG {r['component']} {r['dtype']} {report.size_label(r)}: {_wrong(r)}",
          file=sys.stderr)
  if failed or wrong:
    print(f"{len(failed)} of {len(rows)} rows failed, {len(wrong)} disagree with "
          f"autodiff beyond {FLOAT64_BAR:g} in float64", file=sys.stderr)
    return 1
  return 0


# A float64 row's hand Jacobian against jacfwd/jacrev: every row of the package
# is within 1e-13 (results/gradcheck.md), so past this the hand form is wrong.
FLOAT64_BAR = 1e-8


def _wrong(row) -> str:
  """Why a float64 row's hand Jacobian is wrong ('' when it is not, or float32)."""
  if row["dtype"] != "float64":
    return ""
  for method in ("jacfwd", "jacrev"):
    err = row.get(f"max_rel_err_{method}")
    if err is not None and not err <= FLOAT64_BAR:
      return f"hand vs {method} relative error {err:.3g} > {FLOAT64_BAR:g}"
  return ""


if __name__ == "__main__":
  cli.run(main)
