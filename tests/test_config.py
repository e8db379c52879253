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
])
def test_bad_values_name_the_flag(overrides, message):
  with pytest.raises(ValueError, match=message):
    _with(**overrides).validate()
