"""Smoke tests of benchmarks/gradcheck.py: run it as a script and read what it writes.

The script runs in a subprocess (it defines absl flags, which other benchmark
scripts may define too), with ``--smoke``: one tiny size per component, both
dtypes, one timed repeat. Its components are read from the registries of
``wincls/model``; the last tests check that in-process (``gradcheck_lib``
defines no flags).
"""

import json
import math
import os
import pathlib
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import pytest

from wincls.model import features
from wincls.model import layers
from wincls.model import losses
from wincls.model import windows

REPO = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gradcheck.py"
if str(REPO) not in sys.path:
  sys.path.insert(0, str(REPO))

# pylint: disable=g-import-not-at-top,wrong-import-position
from benchmarks.gradcheck_lib import cases
from benchmarks.gradcheck_lib import components
from benchmarks.gradcheck_lib import measure
from benchmarks.gradcheck_lib import report

pytestmark = pytest.mark.heavy  # started first (tests/conftest.py)
# pylint: enable=g-import-not-at-top,wrong-import-position

# Every piece of the window network with a hand Jacobian, and the whole network
# (issue 8); spelled out here so that a component dropped from the script fails
# (test_every_registry_entry_has_a_component checks the registries' own lists).
COMPONENTS = (
    "affine_x", "affine_W", "affine_b", "tanh", "relu", "sigmoid", "hardtanh",
    "softmax", "log_softmax", "cross_entropy", "max_margin", "hinge_ww", "hinge_cs",
    "logistic", "crf", "window_concat", "window_average", "window_masked_average",
    "window_weighted", "window_weighted_params", "embed", "crf_log_partition",
    "network_x", "network_params", "model_params",
)
KEYS = (
    "component", "dtype", "jacobian_shape", "out_size", "in_size",
    "max_abs_err_jacfwd", "max_abs_err_jacrev", "max_abs_err_fd",
    "max_rel_err_jacfwd", "max_rel_err_jacrev", "max_rel_err_fd",
    "time_hand_s", "time_jacfwd_s", "time_jacrev_s", "fd_dtype", "fd_eps",
)


def _run(args, timeout=240, env=None):
  return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True,
                        text=True, timeout=timeout, env=env)


# A researcher's module (issue 28): a 16-d lookup feature whose dim is its own,
# not --feature_dim; the smoke run names it with --plugins.
PLUGIN = textwrap.dedent("""
    import jax
    import numpy as np
    from wincls.model import features

    def _init(key, size, config, dtype):
      return 0.1 * jax.random.normal(key, (size, 16), dtype)

    features.register("parity16", features.FeatureSpec(
        inputs=lambda words, config: np.asarray(
            [[1 + len(w) % 2] for w in words], np.int32).reshape(len(words), 1),
        width=lambda config: 1, size=3, dim=lambda config: 16, init=_init,
        forward=features.table_forward, vjp=features.table_vjp,
        jacobian=features.table_jacobian, help="word length's parity, 16-d"))
""")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
  out = tmp_path_factory.mktemp("gradcheck") / "g.json"
  plugin_dir = tmp_path_factory.mktemp("plugin")
  (plugin_dir / "gradcheck_plugin_16d.py").write_text(PLUGIN)
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(
      [str(plugin_dir), os.environ.get("PYTHONPATH", "")]))
  proc = _run([str(SCRIPT), "--smoke", "--plugins=gradcheck_plugin_16d",
               f"--output={out}"], env=env)
  assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
  return out, json.loads(out.read_text())


def test_a_plugin_part_is_checked_with_its_own_size(smoke):
  """--plugins imports the module before the components are listed; the row of
  its 16-d feature says Fd=16 (it said the point's Fd=2)."""
  out, rows = smoke
  mine = [r for r in rows if r["component"] == "feature_parity16"]
  assert {r["dtype"] for r in mine} == {"float32", "float64"}
  for row in mine:
    assert "error" not in row and row["max_rel_err_jacrev"] <= 1e-4, row
    assert report.size_label(row) == "Fd=16", report.size_label(row)
  assert "| feature_parity16 | float64 |" in out.with_suffix(".md").read_text()


def test_every_component_appears_in_both_dtypes(smoke):
  _, rows = smoke
  seen = {(r["component"], r["dtype"]) for r in rows}
  expected = {(c, d) for c in COMPONENTS for d in ("float32", "float64")}
  assert expected <= seen, sorted(expected - seen)
  assert not [r for r in rows if "error" in r]


def test_rows_have_the_documented_keys(smoke):
  _, rows = smoke
  for row in rows:
    missing = [k for k in KEYS if k not in row]
    assert not missing, (row["component"], row["dtype"], missing)
    for method in ("hand", "jacfwd", "jacrev"):
      t = row[f"time_{method}_s"]
      assert t is not None and 0 < t < 10, (row["component"], method, t)
    assert row["fd_dtype"] == "float64"  # the default: FD evaluated in float64


def test_float64_errors_are_at_rounding_level(smoke):
  _, rows = smoke
  for row in rows:
    if row["dtype"] != "float64":
      continue
    for method in ("jacfwd", "jacrev"):
      err = row[f"max_rel_err_{method}"]
      assert err is not None and err <= 1e-10, (row["component"], method, err)
    # Central differences with eps=1e-6 are good to about 1e-8 here.
    assert row["max_rel_err_fd"] <= 1e-6, (row["component"], row["max_rel_err_fd"])


def test_float32_errors_are_float32_sized(smoke):
  _, rows = smoke
  for row in rows:
    if row["dtype"] != "float32":
      continue
    for method in ("jacfwd", "jacrev", "fd"):
      err = row[f"max_rel_err_{method}"]
      assert err is not None and math.isfinite(err) and err <= 1e-4, (
          row["component"], method, err)


def test_jacobian_shapes_are_output_by_input(smoke):
  _, rows = smoke
  by_name = {r["component"]: r for r in rows if r["dtype"] == "float64"}
  net = by_name["network_x"]  # scores [C] w.r.t. the window vector [D]
  d = (2 * net["window_size"] + 1) * (net["embed_dim"] + net["feature_dim"])
  assert net["jacobian_shape"] == [net["num_classes"], d]
  ce = by_name["cross_entropy"]  # per-example losses [B] w.r.t. logits [B, C]
  assert ce["jacobian_shape"] == [ce["batch"], ce["batch"], ce["num_classes"]]
  assert by_name["crf_log_partition"]["jacobian_shape"] == [
      by_name["crf_log_partition"]["seq_len"], by_name["crf_log_partition"]["num_classes"]]
  crf = by_name["crf"]  # per-sentence NLL [B] w.r.t. the CRF params and emissions
  b, t, c = crf["batch"], crf["seq_len"], crf["num_classes"]
  assert crf["jacobian_shape"] == [[b, c], [b, c], [b, c, c], [b, b, t, c]]


def test_markdown_and_plot_are_written(smoke):
  out, _ = smoke
  text = out.with_suffix(".md").read_text()
  assert "## Summary (computed from the rows)" in text
  for component in COMPONENTS:
    assert f"| {component} | float64 |" in text, component
  assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_failing_row_is_recorded_and_the_run_exits_nonzero(tmp_path):
  out = tmp_path / "g.json"
  code = textwrap.dedent(f"""
      import sys
      from absl import app
      sys.path.insert(0, {str(SCRIPT.parent)!r})
      import gradcheck as gc
      import dataclasses
      def broken(sizes, rng, dtype):
        raise RuntimeError("injected failure")
      tanh = gc.components_lib.components()["tanh"]
      def off(sizes, rng, dtype):  # a hand Jacobian 1% off: runs, but is wrong
        case = tanh.build(sizes, rng, dtype)
        return dataclasses.replace(case, hand=lambda v, c: 1.01 * case.hand(v, c))
      gc.COMPONENTS = {{"broken": gc.Component(broken, ("hidden_size",)),
                        "tanh": tanh, "off": gc.Component(off, tanh.axes)}}
      sys.argv = ["gradcheck.py", "--smoke", "--dtypes=float64", "--output={out}"]
      app.run(gc.main)
  """)
  proc = _run(["-c", code])
  assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
  rows = json.loads(out.read_text())
  assert [r["component"] for r in rows] == ["broken", "tanh", "off"]
  assert "RuntimeError: injected failure" in rows[0]["error"]
  assert "error" not in rows[1] and rows[1]["max_rel_err_jacrev"] <= 1e-10
  # A wrong hand Jacobian fails the run too (it exited 0 with a large error).
  assert "WRONG off float64" in proc.stderr and "WRONG tanh" not in proc.stderr
  assert "1 of 3 rows failed, 1 disagree with autodiff" in proc.stderr


def test_bad_flag_is_a_usage_error(tmp_path):
  proc = _run([str(SCRIPT), "--smoke", "--components=affine_z",
               f"--output={tmp_path / 'g.json'}"])
  assert proc.returncode != 0
  assert "--components: 'affine_z' is not one of" in proc.stderr


def test_every_registry_entry_has_a_component():
  names = set(components.components())
  expected = (set(layers.ACTIVATIONS) | set(losses.LOSSES)
              | {f"window_{name}" for name in windows.WINDOWS}
              | {f"feature_{name}" for name in features.choices()}
              | {f"window_{name}_params" for name, spec in windows.WINDOWS.items()
                 if spec.init is not None})
  assert expected <= names, sorted(expected - names)
  # The whole network is checked with each activation and each window too.
  settings = {name: components.components()[name].settings
              for name in ("network_x", "network_params", "model_params")}
  assert set(settings["network_x"]["activation"]) == set(layers.ACTIVATIONS)
  assert set(settings["network_params"]["activation"]) == set(layers.ACTIVATIONS)
  assert set(settings["model_params"]["window"]) == set(windows.WINDOWS)


def _scaled_sum_spec() -> windows.WindowSpec:
  """A window with a parameter: ``x = a Σ_q e_q``."""
  def jacobian(p, e, mask):
    del mask
    d = e.shape[-1]
    eye = jnp.eye(d, dtype=e.dtype)[:, None, :]
    return p["scale"] * jnp.broadcast_to(eye, (d,) + e.shape)

  def vjp(p, e, mask, g):
    del mask
    return ({"scale": jnp.sum(g * jnp.sum(e, axis=-2))},
            p["scale"] * jnp.broadcast_to(g[..., None, :], e.shape))
  return windows.WindowSpec(
      forward=lambda p, e, mask: p["scale"] * jnp.sum(e, axis=-2),
      out_dim=lambda w, d: d, jacobian=jacobian, vjp=vjp, help="a Σ e",
      init=lambda key, w, d, dtype: {"scale": jnp.ones((), dtype)},
      jacobian_params=lambda p, e, mask: {"scale": jnp.sum(e, axis=0)})


def _squared_loss_spec() -> losses.LossSpec:
  return losses.LossSpec(
      forward=lambda *, scores, labels, margin=1.0: 0.5 * (scores - labels) ** 2,
      gradient=lambda *, scores, labels, margin=1.0: scores - labels,
      outputs=("score",), help="½ (s - y)²")


def test_a_new_registry_entry_is_checked_with_no_edit(monkeypatch):
  monkeypatch.setitem(layers.ACTIVATIONS, "softplus", layers.Activation(
      jax.nn.softplus, jax.nn.sigmoid, "log(1 + e^z); f' = σ"))
  monkeypatch.setitem(windows.WINDOWS, "scaled_sum", _scaled_sum_spec())
  monkeypatch.setitem(losses.LOSSES, "squared", _squared_loss_spec())
  comps = components.components()
  checks = (("softplus", {}), ("window_scaled_sum", {}),
            ("window_scaled_sum_params", {}), ("squared", {}),
            ("network_x", {"activation": "softplus"}),
            ("model_params", {"window": "scaled_sum"}))
  for name, setting in checks:
    point = dict(cases.size_points(comps[name], smoke=True)[0], **setting)
    row = measure.measure(name, comps[name], point, "float64", repeats=1,
                          fd_dtype="float64", fd_eps={"float64": 1e-6},
                          fd_max_columns=64, max_basis=2**20, seed=0)
    assert row["max_rel_err_jacrev"] <= 1e-10, (name, row["max_rel_err_jacrev"])
    assert row["max_rel_err_fd"] <= 1e-6, (name, row["max_rel_err_fd"])
