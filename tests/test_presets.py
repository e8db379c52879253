"""The presets fill the flags not given: ``--preset``, and ``--vectors`` alone."""

from absl import app
from absl import flags
import pytest

from wincls import cli
from wincls import config as config_lib
from wincls import presets


def _config(argv, workdir=None):
  flag_values = flags.FlagValues()
  cli.define_config_flags(flag_values)
  cli.define_preset_flag(flag_values)
  flag_values(["prog", "--dataset=wnut16", *argv])
  return cli.config_from_flags(flag_values, workdir=workdir)


def test_the_defaults_are_the_defaults_preset():
  assert config_lib.Config(**presets.DEFAULTS) == config_lib.Config()


def test_random_vectors_keep_the_defaults():
  assert _config([]) == config_lib.Config(dataset="wnut16")
  assert _config(["--preset=none"]) == config_lib.Config(dataset="wnut16")


def test_pretrained_vectors_take_the_preset_for_flags_not_given():
  config = _config(["--vectors=glove-6b-100d", "--hidden_size=17"])
  assert config.hidden_size == 17  # given: kept
  for name, value in presets.PRETRAINED.items():
    if name != "hidden_size":
      assert getattr(config, name) == value, name
  assert config.embed_dim == 100
  assert _config(["--vectors=glove-6b-100d", "--preset=none"]) == config_lib.Config(
      dataset="wnut16", vectors="glove-6b-100d")


def test_random_init_preset_is_the_measured_command():
  # docs/results.md measured it as --loss=crf --features=casing,chars,gazetteer
  # --schedule=cosine.
  features = ("casing", "chars", "gazetteer")
  measured = config_lib.Config(dataset="wnut16", loss="crf", features=features,
                               schedule="cosine")
  assert _config(["--preset=random_init"]) == measured
  given = _config(["--preset=random_init", "--loss=cross_entropy", "--char_filters=8"])
  assert (given.loss, given.char_filters, given.features) == (
      "cross_entropy", 8, features)


def test_a_run_started_before_a_preset_changed_resumes_with_the_same_command(tmp_path):
  """A workdir holding a run (config.json) or a sweep (grid.json's base) keeps
  the values its preset gave it; a new workdir takes today's preset; a flag
  given on the command line is the user's (the workdir check then compares)."""
  import json  # pylint: disable=g-import-not-at-top
  old = ["casing", "chars"]  # --preset=random_init before the gazetteer joined it
  run, sweep = tmp_path / "run", tmp_path / "sweep"
  run.mkdir()
  sweep.mkdir()
  (run / "config.json").write_text(json.dumps({"features": old, "loss": "crf"}))
  (sweep / "grid.json").write_text(json.dumps({"base": {"features": old}}))
  for workdir in (run, sweep):
    assert _config(["--preset=random_init"], workdir).features == tuple(old)
  assert _config(["--preset=random_init"], tmp_path / "new").features == (
      presets.RANDOM_INIT["features"])
  given = _config(["--preset=random_init", "--features=casing"], run)
  assert given.features == ("casing",)
  (run / "config.json").write_text("{damaged")  # reported by the run's own checks
  assert _config(["--preset=random_init"], run).features == presets.RANDOM_INIT["features"]


def test_the_preset_takes_a_vectors_files_own_dimension(tmp_path):
  """--vectors=file with a 50-d file and no --embed_dim: the pretrained preset's
  embed_dim is the file's 50, not its own 100 (the run refused before with
  "row has 50 values; expected 100", a value the user never gave)."""
  text = tmp_path / "vec.txt"
  text.write_text("paris " + " ".join(["0.5"] * 50) + "\nlondon "
                  + " ".join(["1"] * 50) + "\n")
  w2v = tmp_path / "vec.w2v.txt"
  w2v.write_text("1 30\nparis " + " ".join(["0.5"] * 30) + "\n")
  for path, dim in ((text, 50), (w2v, 30)):
    config = _config(["--vectors=file", f"--vectors_path={path}"])
    assert config.embed_dim == dim and config.loss == presets.PRETRAINED["loss"]
  given = _config(["--vectors=file", f"--vectors_path={text}", "--embed_dim=64"])
  assert given.embed_dim == 64  # a flag given is kept (and then refused by the reader)
  assert presets.chosen("pretrained", "glove-6b-100d")["embed_dim"] == 100
  assert presets.chosen("pretrained", "file", str(tmp_path / "missing.txt"))[
      "embed_dim"] == 100  # unreadable: left to the reader's error naming the file


def test_a_conflict_with_a_value_the_preset_set_says_so():
  """--preset=random_init (or --vectors alone) sets --loss=crf; --output=score then
  conflicts with it, and the error says the preset set it (it read as the user's)."""
  with pytest.raises(app.UsageError, match=r"--loss=crf does not work with "
                     r"--output=score.*--loss=crf was set by --preset=random_init, "
                     r"not given; give --loss"):
    _config(["--preset=random_init", "--output=score", "--target_type=person"])
  with pytest.raises(app.UsageError, match=r"--loss=crf was set by --preset=auto "
                     r"\(pretrained, as --vectors is given\)"):
    _config(["--vectors=glove-6b-100d", "--output=score", "--target_type=person"])
  with pytest.raises(app.UsageError) as given:
    _config(["--preset=random_init", "--loss=crf", "--output=score",
             "--target_type=person"])
  assert "preset" not in str(given.value)  # the user gave --loss=crf


def test_the_pretrained_preset_needs_vectors():
  with pytest.raises(ValueError, match="--preset=pretrained needs --vectors"):
    _config(["--preset=pretrained"])
