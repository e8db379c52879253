"""absl flags generated from ``wincls.config.Config``: one flag per field.

``define_config_flags()`` defines, for every field of ``Config``, a flag of the
same name with the field's default (or an override) and a short help text;
tuple fields are comma lists (``--features=casing,caps``, ``--features=`` for
none). ``config_from_flags(FLAGS)`` builds the ``Config`` and validates it.
``run(main)`` runs a script's ``main`` so that a bad flag or bad input ends
with one line on stderr (``error: ...``) and exit status 2, not a traceback.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Any, Callable

from absl import app
from absl import flags

from wincls import config as config_lib

HELP = {
    "dataset": "Dataset: conll2003 (reads --data_dir), wnut16 (bundled), or files "
               "(--train_path and --dev_path).",
    "data_dir": "Directory holding CoNLL-2003's eng.train and eng.testa.",
    "train_path": "A CoNLL file replacing the dataset's train split.",
    "dev_path": "A CoNLL file replacing the dataset's dev split.",
    "train_fraction": "Fraction of the training sentences used (a fixed subset).",
    "label_scheme": "Labels the classifier predicts: io, iob2 or iobes.",
    "min_count": "Keep training words seen at least this often (others are UNK).",
    "lowercase": "Lowercase words before vocabulary lookup.",
    "normalize_digits": "Map digits to 0 before vocabulary lookup.",
    "features": "Per-word features, comma list of casing, caps (empty: none).",
    "vectors": "Word vectors: random, glove-6b-100d, or file (with --vectors_path).",
    "vectors_path": "A GloVe/word2vec file of pre-trained vectors.",
    "freeze_vectors": "Word vectors receive no update.",
    "window": "Window representation: concat or average.",
    "window_size": "Half-width m of the window (2m+1 words).",
    "embed_dim": "Dimension of a word vector.",
    "feature_dim": "Dimension of each feature vector.",
    "classifier": "softmax (scores = W x + b) or hidden (a hidden layer first).",
    "hidden_size": "Width of the hidden layer.",
    "hidden2_size": "Width of an optional second hidden layer (0: none).",
    "activation": "Non-linearity: tanh, relu, sigmoid or hardtanh.",
    "output": "multiclass (one score per label) or score (one score: a detector).",
    "target_type": "With --output=score: the entity type detected (e.g. LOC).",
    "dropout": "Dropout rate on the window vector and hidden layers.",
    "word_dropout": "Probability that a training word id becomes <unk>.",
    "embedding_update": "dense (optax on the whole word table) or sparse (only "
                        "the rows a batch uses; wincls/sparse.py).",
    "loss": "Loss: cross_entropy, max_margin, hinge_ww, hinge_cs, logistic, crf.",
    "margin": "Margin of the hinge losses.",
    "num_corruptions": "Corrupted windows per true window (max_margin, score).",
    "optimizer": "sgd, adam or adagrad.",
    "learning_rate": "Base learning rate.",
    "schedule": "Learning-rate schedule: constant, cosine or linear (decay to 0).",
    "grad_clip": "Clip the gradient's global norm to this (0: off).",
    "weight_decay": "Decoupled weight decay (0: off).",
    "batch_size": "Windows per step (loss=crf: about this many token positions).",
    "epochs": "Training epochs.",
    "patience": "Stop after this many epochs without better dev F1 (0: off).",
    "grad": "Gradient: autodiff (jax.grad) or hand (wincls.backprop).",
    "seed": "Random seed (of the first replica).",
    "num_seeds": "Replicas with seeds seed, seed+1, ... trained in one program.",
}

# Exceptions that mean bad input (flags, files), reported in one line.
USER_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError,
               PermissionError)


def _help(name: str) -> str:
  return HELP.get(name, f"Config.{name}.")


def define_config_flags(flag_values: flags.FlagValues = flags.FLAGS, *,
                        defaults: dict[str, Any] | None = None,
                        skip: tuple[str, ...] = ()) -> list[str]:
  """Defines one flag per ``Config`` field; returns the names defined.

  Args:
    flag_values: where to define them.
    defaults: defaults that replace ``Config()``'s for some fields.
    skip: fields to leave out.
  """
  defaults = dict(defaults or {})
  unknown = set(defaults) - {f.name for f in dataclasses.fields(config_lib.Config)}
  if unknown:
    raise ValueError(f"define_config_flags: unknown fields {sorted(unknown)}")
  names = []
  for field in dataclasses.fields(config_lib.Config):
    if field.name in skip:
      continue
    default = defaults.get(field.name, field.default)
    kwargs = dict(name=field.name, default=default, help=_help(field.name),
                  flag_values=flag_values)
    if isinstance(default, bool):
      flags.DEFINE_bool(**kwargs)
    elif isinstance(default, int):
      flags.DEFINE_integer(**kwargs)
    elif isinstance(default, float):
      flags.DEFINE_float(**kwargs)
    elif isinstance(default, tuple):
      kwargs["default"] = ",".join(default)
      flags.DEFINE_list(**kwargs)
    else:
      flags.DEFINE_string(**kwargs)
    names.append(field.name)
  return names


def config_values(flag_values: flags.FlagValues = flags.FLAGS) -> dict[str, Any]:
  """The ``Config`` fields' values from the flags that are defined."""
  values = {}
  for field in dataclasses.fields(config_lib.Config):
    if field.name in flag_values:
      value = flag_values[field.name].value
      if isinstance(field.default, tuple):
        value = tuple(v for v in (value or ()) if v)
      values[field.name] = value
  return values


def check_paths(config: config_lib.Config) -> None:
  """Raises ValueError for data/vectors paths that do not exist (named flag)."""
  for name in ("train_path", "dev_path", "vectors_path"):
    path = getattr(config, name)
    if path and not os.path.isfile(path):
      raise ValueError(f"--{name}={path}: no such file")
  if config.data_dir and not os.path.isdir(config.data_dir):
    raise ValueError(f"--data_dir={config.data_dir}: no such directory")
  from wincls.data import datasets
  if config.dataset not in datasets.DATASETS:
    raise ValueError(f"--dataset={config.dataset!r} is not one of "
                     f"{', '.join(datasets.DATASETS)}")
  if config.dataset == "conll2003" and not (config.train_path and config.dev_path):
    try:
      datasets.conll2003_dir(config.data_dir or None)
    except FileNotFoundError as e:
      raise ValueError(str(e)) from None
  if getattr(config, "embedding_update", "dense") == "sparse":
    from wincls import sparse
    sparse.check_supported(config)
  if config.vectors == "file" and not config.vectors_path:
    raise ValueError("--vectors=file needs --vectors_path")


def config_from_flags(flag_values: flags.FlagValues = flags.FLAGS,
                      **overrides) -> config_lib.Config:
  """The validated ``Config`` of the flags (with ``overrides`` applied).

  Raises:
    app.UsageError: a flag value is invalid (one line naming the flag).
  """
  values = config_values(flag_values)
  values.update(overrides)
  try:
    config = config_lib.Config(**values).validate()
    check_paths(config)
  except ValueError as e:
    raise app.UsageError(str(e)) from None
  return config


def fail(message: str) -> None:
  """Prints ``error: message`` to stderr and exits with status 2."""
  print(f"error: {message}", file=sys.stderr)
  sys.exit(2)


def run(main: Callable[[list[str]], Any]) -> None:
  """``app.run(main)`` with bad input reported in one line (exit status 2).

  ``app.UsageError`` and the ``USER_ERRORS`` (ValueError, which includes
  ``DataError`` and ``ConfigMismatchError``, FileNotFoundError, ...) become
  ``error: <message>`` on stderr; other exceptions keep their traceback.
  """
  def wrapped(argv):
    import logging as python_logging
    python_logging.getLogger("jax").setLevel(python_logging.WARNING)  # backend probing
    try:
      return main(argv)
    except app.UsageError as e:
      fail(str(e))
    except USER_ERRORS as e:
      fail(str(e))

  try:
    app.run(wrapped)
  except flags.Error as e:  # pragma: no cover - absl reports these itself
    fail(str(e))


def use_stdout_for_logging() -> None:
  """Sends absl's log lines to stdout (the per-epoch metrics are logged)."""
  from absl import logging
  logging.set_verbosity(logging.INFO)
  handler = logging.get_absl_handler()
  handler.python_handler.stream = sys.stdout
