"""Config validation: every bad value ends in one line naming the flag."""

import dataclasses

import pytest

from wincls import config as config_lib


def _with(**overrides):
  return dataclasses.replace(config_lib.Config(), **overrides)


def test_defaults_are_valid():
  config_lib.Config().validate()


@pytest.mark.parametrize("overrides,message", [
    ({"learning_rate": float("nan")}, "--learning_rate=nan must be a finite number"),
    ({"learning_rate": float("inf")}, "--learning_rate=inf must be a finite number"),
    ({"weight_decay": float("nan")}, "--weight_decay=nan must be a finite number"),
    ({"margin": float("nan")}, "--margin=nan must be a finite number"),
    ({"grad_clip": float("inf")}, "--grad_clip=inf must be a finite number"),
    ({"dropout": float("nan")}, "--dropout=nan must be a finite number"),
    ({"margin": -5.0}, r"--margin=-5.0 must be > 0"),
    ({"margin": 0.0}, r"--margin=0.0 must be > 0"),
    ({"classifier": "softmax", "hidden2_size": 10},
     "--hidden2_size=10 needs --classifier=hidden"),
    ({"loss": "logistic"}, "--loss=logistic does not work with --output=multiclass"),
    ({"output": "score", "target_type": "LOC", "loss": "cross_entropy"},
     "--loss=cross_entropy does not work with --output=score"),
    ({"window": "sum"}, "--window='sum' is not one of concat, average"),
    ({"gazetteers": ("LOC=x.txt",)},
     r"--gazetteers=LOC=x.txt is read by the gazetteer feature only: add it"),
])
def test_bad_values_name_the_flag(overrides, message):
  with pytest.raises(ValueError, match=message):
    _with(**overrides).validate()


def test_config_and_model_config_share_each_default_and_help():
  """One home per setting: the model's settings are ModelSettings fields, which
  Config and ModelConfig both inherit, and every flag's help is its field's."""
  from absl import flags  # pylint: disable=g-import-not-at-top
  from wincls import cli  # pylint: disable=g-import-not-at-top
  from wincls.model import features, settings  # pylint: disable=g-import-not-at-top
  config, shared = config_lib.Config(), dataclasses.fields(settings.ModelSettings)
  model = config_lib.ModelConfig(vocab_size=10)
  assert len(shared) >= 15
  for field in shared:
    assert getattr(model, field.name) == getattr(config, field.name), field.name
  assert config.model_config(vocab_size=10, num_classes=5) == model
  assert model.feature_sizes == features.sizes(config.features)  # the data's: registered
  flag_values = flags.FlagValues()
  cli.define_config_flags(flag_values)
  for field in dataclasses.fields(config_lib.Config):
    assert "help" in field.metadata, field.name
    assert flag_values[field.name].help == settings.help_of(field)
    default = field.default
    assert flag_values[field.name].default == (list(default) if isinstance(default, tuple)
                                               else default), field.name
