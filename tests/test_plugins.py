"""Parts from the researcher's own code: register, --plugins, wincls.testing.

The plugin is docs/examples/wincls_plugin_example.py (a window, a loss and an
activation defined outside wincls/). It is checked by the public checkers,
trained through experiments/train.py with --plugins and autodiff, in process
with --grad=hand, and tagged by predict.py without naming the plugin again.
A derivative off by a factor is rejected by each checker.
"""

import dataclasses
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

from wincls import cli
from wincls import config as config_lib
from wincls import plugins
from wincls import testing
from wincls import train
from wincls.model import features
from wincls.model import layers
from wincls.model import losses
from wincls.model import windows

pytestmark = pytest.mark.heavy  # started first (tests/conftest.py)

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "docs" / "examples"
PARTS = ((windows.WINDOWS, "maxpool"), (losses.LOSSES, "squared_hinge"),
         (layers.ACTIVATIONS, "softplus"))
example = None  # the plugin module, imported for this module's tests only


@pytest.fixture(scope="module", autouse=True)
def _plugin():
  """Imports the example (registering its parts) and takes them away afterwards,
  so that test files sharing this process (their grids read the registries) do
  not see them."""
  global example
  sys.path.insert(0, str(EXAMPLES))
  try:
    example = importlib.import_module("wincls_plugin_example")
    yield
  finally:
    for registry, name in PARTS:
      if name in registry:
        registry.unregister(name)
    sys.modules.pop("wincls_plugin_example", None)
    sys.path.remove(str(EXAMPLES))

TINY = dict(train_fraction=0.05, hidden_size=8, embed_dim=8, epochs=2,
            learning_rate=0.01, batch_size=64)
PLUGIN = dict(plugins=("wincls_plugin_example",), window="maxpool",
              loss="squared_hinge", activation="softplus")


def _env():
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  env["PYTHONPATH"] = os.pathsep.join([str(EXAMPLES), env.get("PYTHONPATH", "")])
  return env


def _script(name, *args):
  return subprocess.run([sys.executable, str(REPO / "experiments" / name), *args],
                        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=300)


def test_the_checkers_accept_the_plugin_parts():
  assert testing.check_window(example.MAXPOOL) <= testing.RTOL
  assert testing.check_loss(example.SQUARED_HINGE) <= testing.RTOL
  assert testing.check_activation(example.SOFTPLUS) <= testing.RTOL


def _scaled(fn, factor=1.01):
  def wrong(*args, **kwargs):
    return jax.tree.map(lambda x: None if x is None else factor * x, fn(*args, **kwargs))
  wrong.__qualname__ = f"wrong_{fn.__name__}"
  return wrong


@pytest.mark.parametrize("check,registry,name,part", [
    (testing.check_window, windows.WINDOWS, "maxpool", "vjp"),
    (testing.check_window, windows.WINDOWS, "maxpool", "jacobian"),
    (testing.check_window, windows.WINDOWS, "weighted", "jacobian_params"),
    (testing.check_loss, losses.LOSSES, "squared_hinge", "gradient"),
    (testing.check_loss, losses.LOSSES, "crf", "gradient"),
    (testing.check_activation, layers.ACTIVATIONS, "softplus", "derivative"),
    (testing.check_feature, features.FEATURES, "chars", "vjp"),
    (testing.check_feature, features.FEATURES, "chars", "jacobian"),
    (testing.check_feature, features.FEATURES, "casing", "jacobian"),
])
def test_a_derivative_off_by_one_percent_is_rejected(check, registry, name, part):
  spec = registry[name]
  wrong = dataclasses.replace(spec, **{part: _scaled(getattr(spec, part))})
  with pytest.raises(AssertionError, match=r"wrong_\w+.*worst relative error"):
    check(wrong)


def test_register_is_idempotent_and_refuses_a_taken_name():
  assert windows.register("maxpool", example.MAXPOOL) is example.MAXPOOL  # no-op
  other = dataclasses.replace(example.MAXPOOL, help="another")
  with pytest.raises(ValueError, match="window 'maxpool' is already registered"):
    windows.register("maxpool", other)
  with pytest.raises(ValueError, match="activation 'tanh' is already registered"):
    layers.register("tanh", example.SOFTPLUS)
  with pytest.raises(ValueError, match="must be a non-empty string without"):
    losses.register("a,b", example.SQUARED_HINGE)  # a name that is no flag value


def test_config_reads_the_live_registries_and_names_the_plugins():
  config_lib.Config(**PLUGIN).validate()
  with pytest.raises(ValueError, match=r"--window='sum' is not one of .*maxpool.*"
                     r"none of the plugins wincls_plugin_example registers it"):
    config_lib.Config(plugins=PLUGIN["plugins"], window="sum").validate()
  with pytest.raises(plugins.PluginError, match="--plugins: cannot import 'no_such_mod"):
    config_lib.Config(plugins=("no_such_module_here",)).validate()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  root = tmp_path_factory.mktemp("plugin")
  flags = [f"--{k}={v}" for k, v in TINY.items()] + [
      "--plugins=wincls_plugin_example", "--window=maxpool", "--loss=squared_hinge",
      "--activation=softplus"]
  done = _script("train.py", f"--workdir={root / 'autodiff'}", *flags)
  assert done.returncode == 0, done.stderr[-2000:]
  hand = config_lib.Config(**TINY, **PLUGIN, grad="hand").validate()
  train.train_and_evaluate(hand, root / "hand")
  return root


def _dev_f1(workdir):
  return json.loads((workdir / "results.json").read_text())["seeds"][0]["dev_f1"]


def test_train_py_trains_the_plugin_parts_with_autodiff_and_by_hand(trained):
  saved = json.loads((trained / "autodiff" / "config.json").read_text())
  assert saved["plugins"] == ["wincls_plugin_example"] and saved["window"] == "maxpool"
  assert _dev_f1(trained / "autodiff") == pytest.approx(_dev_f1(trained / "hand"),
                                                         abs=5e-3)
  # The same trajectory (float32 rounding apart), and one that learns: on this
  # tiny slice dev F1 may still be 0, so the per-epoch losses are compared too.
  losses = {name: [json.loads(line)["loss"] for line in
                   (trained / name / "metrics.jsonl").read_text().splitlines()]
            for name in ("autodiff", "hand")}
  assert losses["autodiff"] == pytest.approx(losses["hand"], rel=1e-4)
  assert losses["hand"][-1] < 0.9 * losses["hand"][0]


def test_predict_py_tags_without_being_told_the_plugin(trained, tmp_path):
  text = tmp_path / "in.txt"
  text.write_text("Peter lives in Paris\n")
  done = _script("predict.py", f"--workdir={trained / 'autodiff'}", f"--input={text}",
                 "--input_format=text", f"--output={tmp_path / 'out.jsonl'}",
                 "--ensemble")  # the plugin loss's spec gives the rule; one seed
  assert done.returncode == 0, done.stderr[-2000:]
  assert "with the ensemble of 1 seed [0]" in done.stdout
  row = json.loads((tmp_path / "out.jsonl").read_text().splitlines()[0])
  assert row["tokens"] == ["Peter", "lives", "in", "Paris"]


def test_unknown_words_py_reads_a_plugin_run_with_or_without_the_plugin(trained):
  """It reads vocab.json and the predictions only: the plugin need not be
  importable; ``--plugins`` is accepted as predict.py's is."""
  workdir = trained / "autodiff"
  bare = dict(_env(), PYTHONPATH=os.environ.get("PYTHONPATH", ""))  # no docs/examples
  outputs, own = [], workdir / "predictions" / "dev.txt"
  for env, extra in ((bare, []), (_env(), ["--plugins=wincls_plugin_example",
                                           f"--predictions={own}"])):
    done = subprocess.run(
        [sys.executable, str(REPO / "experiments" / "unknown_words.py"),
         f"--workdirs={workdir}", "--json", *extra],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    outputs.append([json.loads(line) for line in done.stdout.splitlines()])
  assert outputs[0] == outputs[1][:1]
  assert set(outputs[0][0]) == {"workdir", "known", "unknown"}
  # --predictions scores a file the same way: the one-seed run's own file.
  row = outputs[1][1]
  assert row["predictions"] == str(own)
  assert (row["known"], row["unknown"]) == (outputs[0][0]["known"], outputs[0][0]["unknown"])


def test_a_plugin_that_fails_to_import_is_one_line_and_exit_2(capsys):
  """train.py's flag parsing (``cli._parse_flags``, what ``cli.run`` uses)."""
  with pytest.raises(SystemExit) as exit_info:
    cli._parse_flags(["train.py", "--plugins=no_such_module_here"])
  assert exit_info.value.code == 2
  assert capsys.readouterr().err.strip().splitlines() == [
      "error: --plugins: cannot import 'no_such_module_here': ModuleNotFoundError: "
      "No module named 'no_such_module_here'"]


# A module that leaves a mark when it runs (what a hostile workdir would ship).
MARKING = "import pathlib\npathlib.Path({marker!r}).write_text('ran')\n"


def _workdir_naming(workdir, module):
  """A run's workdir whose config.json names ``module`` (its other files empty:
  the plugins are loaded before they are read)."""
  (workdir / "checkpoints").mkdir(parents=True)
  (workdir / "config.json").write_text(json.dumps({"plugins": [module], "epochs": 1}))
  for name in ("vocab.json", "labels.json", "checkpoints/best"):
    (workdir / name).write_text("")
  return workdir


@pytest.mark.parametrize("where", ["current directory", "workdir"])
def test_a_workdir_runs_no_module_of_the_current_directory_or_its_own(
    where, tmp_path, monkeypatch):
  """As ``python -m``, ``python -c``, a REPL or a notebook: the current directory
  is first on sys.path ('' and itself), yet Tagger.load imports nothing from it;
  nor from the workdir, even on sys.path."""
  marker, name = tmp_path / "ran", f"marking_{where.split()[0]}"
  workdir = _workdir_naming(tmp_path / "W", name)
  here = workdir if where == "workdir" else tmp_path
  (here / f"{name}.py").write_text(MARKING.format(marker=str(marker)))
  monkeypatch.chdir(tmp_path)
  monkeypatch.syspath_prepend(str(here))
  sys.path.insert(0, "")  # restored with the rest by monkeypatch
  with pytest.raises(plugins.PluginError) as error:
    train.Tagger.load(workdir)
  assert str(error.value).startswith(
      f"{workdir / 'config.json'}: plugin '{name}' is not importable from your "
      "installed packages or PYTHONPATH")
  assert ("only the current directory has it" in str(error.value)) == (here == tmp_path)
  assert "pip install -e" in str(error.value) and f"--plugins={name}" in str(error.value)
  assert not marker.exists() and name not in sys.modules


def test_a_saved_plugin_comes_from_your_path_not_from_a_shadow_in_the_cwd(
    tmp_path, monkeypatch):
  """The current directory's module of the same name is passed over."""
  marker = tmp_path / "ran"
  (tmp_path / "yours").mkdir()
  (tmp_path / "yours" / "shadowed_plugin.py").write_text("WHO = 'yours'\n")
  (tmp_path / "shadowed_plugin.py").write_text(MARKING.format(marker=str(marker)))
  monkeypatch.chdir(tmp_path)
  monkeypatch.syspath_prepend(str(tmp_path / "yours"))
  monkeypatch.syspath_prepend(str(tmp_path))  # first, as python -m puts it
  try:
    config = config_lib.Config.from_dict({"plugins": ["shadowed_plugin"]})
    assert config.plugins == ("shadowed_plugin",)
    assert sys.modules["shadowed_plugin"].WHO == "yours" and not marker.exists()
  finally:
    sys.modules.pop("shadowed_plugin", None)
  # A directory you named in PYTHONPATH is yours, the current one included.
  (tmp_path / "yours_in_cwd.py").write_text("WHO = 'yours'\n")
  monkeypatch.setenv("PYTHONPATH", ".")
  try:
    config_lib.Config.from_dict({"plugins": ["yours_in_cwd"]}, source="W/config.json")
    assert sys.modules["yours_in_cwd"].WHO == "yours"
  finally:
    sys.modules.pop("yours_in_cwd", None)
  for bad in (["../evil"], ["os/path"], "evil", None):
    with pytest.raises(plugins.PluginError,
                       match=r"^W/config\.json: (plugin|\"plugins\")"):
      config_lib.Config.from_dict({"plugins": bad}, source="W/config.json")


def test_predict_py_runs_no_module_of_the_current_directory(tmp_path):
  """The script's own run (``python experiments/predict.py`` from the directory
  holding the module): one line naming config.json, exit 2, nothing ran."""
  workdir = _workdir_naming(tmp_path / "W", "evilmod")
  (tmp_path / "evilmod.py").write_text(MARKING.format(marker=str(tmp_path / "ran")))
  (tmp_path / "in.txt").write_text("Peter lives in Paris\n")
  done = subprocess.run(
      [sys.executable, str(REPO / "experiments" / "predict.py"), "--workdir=W",
       "--input=in.txt", "--input_format=text", "--output=out.jsonl"],
      cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
  assert done.returncode == 2, done.stderr[-2000:]
  lines = done.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith(
      "error: W/config.json: plugin 'evilmod' is not importable"), lines
  assert not (tmp_path / "ran").exists()


def test_a_saved_config_checked_leaves_the_current_directory_off_sys_path(
    tmp_path, monkeypatch):
  """``Config.validate`` of a config read from a workdir imports its plugins no
  second time, so it does not put the current directory on sys.path (where a
  later optional import, e.g. ``try: import ipywidgets``, would find a file of
  the workdir's choosing); before, it appended it."""
  (tmp_path / "yours").mkdir()
  (tmp_path / "yours" / "own_plugin.py").write_text("WHO = 'yours'\n")
  monkeypatch.chdir(tmp_path)
  monkeypatch.syspath_prepend(str(tmp_path / "yours"))
  monkeypatch.setattr(sys, "path", [e for e in sys.path if e not in ("", ".")])
  try:
    config_lib.Config.from_dict({"plugins": ["own_plugin"]},
                                source="W/config.json").validate()
    assert str(tmp_path) not in sys.path and os.getcwd() not in sys.path
  finally:
    sys.modules.pop("own_plugin", None)


def _register_as(module, registry, name, spec):
  exec("registry.register(name, spec)",  # pylint: disable=exec-used
       {"__name__": module, "registry": registry, "name": name, "spec": spec})


def test_config_json_records_the_module_behind_each_plugin_part(tmp_path):
  """A run's config.json names the module that registered each part from outside
  wincls; read back where another module registers that name (the same shapes,
  other code), it is refused, naming both."""
  from wincls.train import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  config = config_lib.Config(**PLUGIN)
  module = "wincls_plugin_example"
  assert plugins.part_modules(config.parts()) == {
      "window:maxpool": module, "loss:squared_hinge": module, "activation:softplus": module}
  workdir_lib.check_workdir_config(tmp_path, config)
  path = tmp_path / "config.json"
  saved = json.loads(path.read_text())
  assert saved["parts"]["window:maxpool"] == module
  assert config_lib.Config.from_dict(saved, source=path) == config
  spec = windows.WINDOWS["maxpool"]
  windows.WINDOWS.unregister("maxpool")
  try:
    _register_as("another_lab", windows.WINDOWS, "maxpool", spec)
    message = (f"{path}: the run's window 'maxpool' came from module {module}; here "
               "module another_lab registers that name")
    with pytest.raises(plugins.PluginError, match=message):
      config_lib.Config.from_dict(saved, source=path)
    with pytest.raises(plugins.PluginError, match=message):
      workdir_lib.check_workdir_config(tmp_path, config)
  finally:
    windows.WINDOWS.unregister("maxpool")
    _register_as(module, windows.WINDOWS, "maxpool", spec)
  saved["parts"] = {"window:maxpool": module, "window:gated": "no_such_lab_module"}
  with pytest.raises(plugins.PluginError, match="no_such_lab_module"):
    config_lib.Config.from_dict(saved, source=path)
