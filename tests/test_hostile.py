"""A hostile user's inputs at the entry points (issue 26's campaign; the table is
in docs/reliability.md): parts that misbehave are refused when registered,
naming the part; a plugin that exits at import is an error; flags at their edges
and commands that read a workdir end in one ``error:`` line.

Everything here runs in-process or in subprocesses that exit before JAX
compiles anything (tests/test_predict.py holds the cases that need a trained run).
"""

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from wincls import config as config_lib
from wincls import plugins
from wincls.model import features
from wincls.model import layers
from wincls.model import losses
from wincls.model import windows

REPO = Path(__file__).resolve().parents[1]


def _refused(registry, name, spec, message):
  with pytest.raises((TypeError, ValueError), match=message):
    registry.register(name, spec)
  assert name not in registry


def test_a_window_that_lies_about_its_shape_or_computes_nan_is_refused():
  average = windows.WINDOWS["average"]
  _refused(windows.WINDOWS, "fn", lambda p, v, m: v,
           r"window 'fn': expected a WindowSpec, got a function")
  _refused(windows.WINDOWS, "wide",
           dataclasses.replace(average, out_dim=lambda w, d: w * d),
           r"window 'wide': forward gives shape \(2, 3\) .* out_dim\(5, 3\) = 15")
  _refused(windows.WINDOWS, "nan", dataclasses.replace(
      average, forward=lambda p, v, m: average.forward(p, v, m) * jnp.nan),
           r"window 'nan': forward gives non-finite values on finite vectors")
  _refused(windows.WINDOWS, "broken", dataclasses.replace(
      average, forward=lambda p, v, m: v @ v),
           r"window 'broken': forward failed on vectors \[2, 5, 3\]")


def test_a_loss_that_computes_nan_or_the_wrong_shape_is_refused():
  ce, margin = losses.LOSSES["cross_entropy"], losses.LOSSES["max_margin_neg"]
  _refused(losses.LOSSES, "fn", ce.forward, r"loss 'fn': expected a LossSpec")
  _refused(losses.LOSSES, "nan", dataclasses.replace(
      ce, forward=lambda **kw: ce.forward(**kw) * jnp.nan),
           r"loss 'nan' \(--output=multiclass\): forward gives non-finite values")
  _refused(losses.LOSSES, "mean", dataclasses.replace(
      ce, forward=lambda **kw: jnp.mean(ce.forward(**kw))),
           r"loss 'mean' \(--output=multiclass\): forward gives shape \(\)")
  _refused(losses.LOSSES, "one_grad", dataclasses.replace(
      margin, gradient=lambda **kw: margin.gradient(**kw)[0]),
           r"loss 'one_grad' \(--output=score\): .*one gradient per score array")
  _refused(losses.LOSSES, "pairwise", dataclasses.replace(margin, kind="pairwise"),
           r"loss 'pairwise': kind='pairwise'; expected one of token, corrupted, sentence")


def test_an_activation_or_feature_that_misbehaves_is_refused():
  relu = layers.ACTIVATIONS["relu"]
  _refused(layers.ACTIVATIONS, "s", "relu", r"activation 's': expected an Activation")
  _refused(layers.ACTIVATIONS, "nan",
           dataclasses.replace(relu, forward=lambda z: z * jnp.nan),
           r"activation 'nan': forward gives non-finite values")
  _refused(layers.ACTIVATIONS, "sum", dataclasses.replace(relu, derivative=jnp.sum),
           r"activation 'sum': derivative gives shape \(\) for input shape \(7,\)")
  _refused(features.FEATURES, "fn", lambda words, config: None,
           r"feature 'fn': expected a FeatureSpec, got a function")
  # A feature's data side is tried with the run's own Config when flags are checked.
  casing = features.FEATURES["casing"]
  for name, spec, message in [
      ("long", dataclasses.replace(casing, inputs=lambda words, config: np.ones(
          (len(words) + 1, 1), np.int32)),
       r"feature 'long': inputs gives shape \(8, 1\) for 7 words; expected \(7, 1\)"),
      ("bad", features.table_feature(lambda words: np.ones(len(words) + 1, np.int32),
                                     4, "one id too many"),
       r"feature 'bad': inputs failed on 7 words: ValueError: cannot reshape"),
      ("big", features.table_feature(lambda words: np.full(len(words), 99, np.int32),
                                     4, "ids beyond the table"),
       r"feature 'big': inputs gives ids in \[99, 99\]; expected ids in \[0, 4\)")]:
    features.register(name, spec)
    try:
      with pytest.raises(ValueError, match=message):
        config_lib.Config(features=("casing", name)).validate()
    finally:
      features.FEATURES.unregister(name)


def test_a_plugin_that_exits_at_import_is_an_error(tmp_path, monkeypatch):
  (tmp_path / "hostile_exits.py").write_text("import sys\nsys.exit(0)\n")
  monkeypatch.syspath_prepend(str(tmp_path))
  with pytest.raises(plugins.PluginError, match=r"'hostile_exits'.*SystemExit: 0"):
    plugins.load(["hostile_exits"])
  sys.modules.pop("hostile_exits", None)


def _script(cwd, script, *args):
  env = {**os.environ, "JAX_PLATFORMS": "cpu"}
  return subprocess.Popen([sys.executable, str(REPO / "experiments" / script), *args],
                          cwd=cwd, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_commands_end_in_one_line(tmp_path):
  """An empty --workdir (trained in the current directory before), a missing
  workdir of unknown_words.py (a traceback before): one ``error:`` line, exit 2
  (the vectors CLI: 1)."""
  (tmp_path / "a_file").write_text("x")
  cases = [
      (_script(tmp_path, "train.py", "--workdir=", "--epochs=1", "--train_fraction=0.01"),
       "--workdir is empty"),
      (_script(tmp_path, "unknown_words.py", f"--workdirs={tmp_path}/missing"),
       "missing/vocab.json: no such file"),
      # --cache_dir that is a file (a FileExistsError traceback before); in a
      # process of its own: the vectors CLI defines absl flags at import.
      (subprocess.Popen([sys.executable, "-m", "wincls.vectors", "install",
                         "glove-6b-100d", f"--cache_dir={tmp_path}/a_file"],
                        cwd=tmp_path, text=True, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE), f"error: {tmp_path}/a_file"),
  ]
  for process, message in cases:
    out, err = process.communicate(timeout=120)
    assert process.returncode in (1, 2), (process.args, err)
    assert len(err.strip().splitlines()) == 1 and message in err, (process.args, err)
  assert not (tmp_path / "config.json").exists()  # nothing trained in the cwd


def test_a_vocabulary_too_small_to_corrupt_names_the_flag(tmp_path):
  """--min_count above every count with a corrupted-window loss: the run names
  --min_count (before: "wincls/model/losses.py corrupt_centre: need high > low")."""
  from wincls import config as config_lib
  from wincls.train import prepare
  data = tmp_path / "d.txt"
  data.write_text("Peter B-PER\nlives O\n\nParis B-LOC\n")
  config = config_lib.Config(dataset="files", train_path=str(data), dev_path=str(data),
                             min_count=1000, loss="max_margin", output="score",
                             target_type="PER")
  with pytest.raises(ValueError, match=r"--min_count=1000 leaves no training word .* "
                     r"--loss=max_margin"):
    prepare.prepare_data(config)


def test_out_of_memory_ends_in_one_line(monkeypatch, capsys):
  """--batch_size=99999999999 ran out of memory with a JAX traceback."""
  import jax
  from wincls import cli

  def main(argv):
    raise jax.errors.JaxRuntimeError(
        "RESOURCE_EXHAUSTED: Out of memory allocating 494400001919872 bytes.")

  monkeypatch.setattr(sys, "argv", ["train.py"])
  with pytest.raises(SystemExit) as e:
    cli.run(main)
  assert e.value.code == 2
  err = capsys.readouterr().err
  assert err.startswith("error: out of memory") and "--batch_size" in err
  assert len(err.splitlines()) == 1
