"""The pre-trained preset fills the flags not given when --vectors is set."""

from absl import flags

from wincls import cli
from wincls import config as config_lib
from wincls import presets


def _config(argv):
  flag_values = flags.FlagValues()
  cli.define_config_flags(flag_values)
  flag_values(["prog", "--dataset=wnut16", *argv])
  return cli.config_from_flags(flag_values)


def test_random_vectors_keep_the_defaults():
  assert _config([]) == config_lib.Config(dataset="wnut16")


def test_pretrained_vectors_take_the_preset_for_flags_not_given():
  config = _config(["--vectors=glove-6b-100d", "--hidden_size=17"])
  assert config.hidden_size == 17  # given: kept
  for name, value in presets.PRETRAINED.items():
    if name != "hidden_size":
      assert getattr(config, name) == value, name
  assert config.embed_dim == 100
