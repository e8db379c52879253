"""Configuration: ``Config``, every setting of a run; field names = flag names.

``Config`` holds every setting of a run (data, model, loss, optimisation). Its
field names are the flag names of ``experiments/train.py`` and the keys of the
``config.json`` saved in a run's workdir; each field's default and help text
are written once, in the field (``settings.setting``), and ``wincls/cli.py``
makes the flags from them. The model's settings are inherited from
``ModelSettings`` (``wincls/model/settings.py``), which ``ModelConfig`` (the
part the pure model functions need, re-exported here) inherits too, so the two
agree on every shared default. ``Config.model_config`` adds the data's sizes.

Sweep-varied numbers (learning rate) are *not* in ``ModelConfig``, so changing
them never recompiles the model.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Any

from wincls import plugins as plugins_lib
from wincls.model import features as features_lib
from wincls.model import layers
from wincls.model import losses
from wincls.model import windows
from wincls.model.settings import CLASSIFIERS, OUTPUTS, ModelConfig  # noqa: F401
from wincls.model.settings import ModelSettings, setting

# The model's choices are the live registries (wincls/model/registry.py): a
# part registered by any module, before validation, is a valid flag value.
LABEL_SCHEMES = ("io", "iob2", "iobes")
OPTIMIZERS = ("sgd", "adam", "adagrad")
SCHEDULES = ("constant", "cosine", "linear")
GRADS = ("autodiff", "hand")
EMBEDDING_UPDATES = ("dense", "sparse")
PLUGINS_HELP = ("Modules to import first, comma list: they register windows, losses, "
                "activations or features of their own (docs/extending.md)")
# Keys of a saved config that are records of the run, not flags: "inputs", the
# size and sha256 of each file the run read (wincls/train/inputs.py), and
# "parts", the module behind each part from outside wincls (wincls/plugins.py).
SAVED_RECORDS = ("inputs", plugins_lib.PARTS_KEY)


@dataclasses.dataclass(frozen=True)
class Config(ModelSettings):
  """Every setting of one run; field names are the flag names of train.py.

  The model's settings (window, sizes, activation, dropout, features, the
  character CNN's) are inherited from ``ModelSettings``; the data's, the loss's
  and the optimisation's are here. Each field's default and help are written
  once (``settings.setting``): ``cli.py`` makes the flags from them. The
  defaults are the recommended random-init configuration; its dev F1 and
  command are in docs/results.md ("Headlines", "Tuning").
  """

  # Data.
  dataset: str = setting("wnut16", "Dataset: conll2003 (reads --data_dir), wnut16 "
                         "(bundled), or files (--train_path and --dev_path).")
  data_dir: str = setting("", "Directory holding CoNLL-2003's eng.train and eng.testa.")
  train_path: str = setting("", "A CoNLL file replacing the dataset's train split.")
  dev_path: str = setting("", "A CoNLL file replacing the dataset's dev split.")
  train_fraction: float = setting(1.0, "Fraction of the training sentences used "
                                  "(a fixed subset).")
  label_scheme: str = setting("iobes", "Labels the classifier predicts: io, iob2 or iobes.")
  min_count: int = setting(1, "Keep training words seen at least this often "
                           "(others are UNK).")
  lowercase: bool = setting(True, "Lowercase words before vocabulary lookup.")
  normalize_digits: bool = setting(True, "Map digits to 0 before vocabulary lookup.")
  gazetteers: tuple[str, ...] = setting(
      (), "gazetteer: lists as TYPE=PATH, a comma list (one entry a line); "
      "empty: the default lists.")
  # Word vectors.
  vectors: str = setting("random", "Word vectors: random, glove-6b-100d, or file "
                         "(with --vectors_path).")
  vectors_path: str = setting("", "A GloVe/word2vec file of pre-trained vectors.")
  vocab_include_dev: bool = setting(
      False, "With pre-trained vectors, add the dev words the vectors know to the "
      "vocabulary (not needed: evaluation and tagging give every word the vectors "
      "know its pre-trained row anyway; kept for older runs).")
  target_type: str = setting("", "With --output=score: the entity type detected "
                             "(e.g. LOC).")
  word_dropout: float = setting(
      0.1, "Probability that a training word id becomes <unk> (so the <unk> "
      "vector is trained and rare words are not memorised).")
  # Loss.
  loss: str = setting("cross_entropy", "Loss: ", "loss")
  margin: float = setting(1.0, "Margin of the hinge losses.")
  num_corruptions: int = setting(1, "Corrupted windows per true window (max_margin, "
                                 "score).")
  # Optimisation.
  optimizer: str = setting("adam", "sgd, adam or adagrad.")
  learning_rate: float = setting(1e-3, "Base learning rate.")
  schedule: str = setting("constant", "Learning-rate schedule: constant, cosine or "
                          "linear (decay to 0).")
  grad_clip: float = setting(0.0, "Clip the gradient's global norm to this (0: off).")
  weight_decay: float = setting(0.0, "Decoupled weight decay (0: off).")
  batch_size: int = setting(256, "Windows per step (loss=crf: about this many token "
                            "positions).")
  epochs: int = setting(12, "Training epochs.")
  patience: int = setting(0, "Stop after this many epochs without better dev F1 "
                          "(0: off).")
  grad: str = setting("autodiff", "Gradient: autodiff (jax.grad) or hand "
                      "(wincls/model/objective.py hand_grad).")
  embedding_update: str = setting(
      "dense", "dense (optax on the whole word table) or sparse (only the rows a "
      "batch uses: exact for SGD, lazy Adam/AdaGrad otherwise; wincls/train/sparse.py).")
  # Run.
  seed: int = setting(0, "Random seed (of the first replica).")
  num_seeds: int = setting(1, "Replicas with seeds seed, seed+1, ... trained together: "
                           "N calls of the one-seed program on the CPU, vmapped on an "
                           "accelerator.")
  plugins: tuple[str, ...] = setting(
      (), PLUGINS_HELP + "; saved in config.json, so resuming and predict.py "
      "load them again.")

  def model_config(self, *, vocab_size: int, num_classes: int,
                   feature_sizes: tuple[int, ...] | None = None) -> ModelConfig:
    """The model part of this config, with the sizes that come from the data.

    ``feature_sizes`` defaults to the registered features' (``features.sizes``).
    """
    return ModelConfig.from_settings(
        self, vocab_size=vocab_size, num_classes=num_classes,
        feature_sizes=None if feature_sizes is None else tuple(feature_sizes),
        use_crf=losses.is_sentence(self.loss))

  def validate(self) -> "Config":
    """Raises ValueError naming the flag and what was expected; returns self."""
    plugins_lib.load(self.plugins)
    registries = {"window": windows.WINDOWS, "activation": layers.ACTIVATIONS,
                  "loss": losses.LOSSES}
    choices = {
        "classifier": CLASSIFIERS, "output": OUTPUTS, "label_scheme": LABEL_SCHEMES,
        "optimizer": OPTIMIZERS, "schedule": SCHEDULES, "grad": GRADS,
        "embedding_update": EMBEDDING_UPDATES,
    } | registries
    for name, allowed in choices.items():
      value = getattr(self, name)
      if value not in allowed:
        raise ValueError(f"--{name}={value!r} is not one of {', '.join(allowed)}"
                         + self._plugins_said(name in registries))
    for feature in self.features:
      if feature not in features_lib.FEATURES or feature == features_lib.TABLE_FEATURE:
        raise ValueError(f"--features: {feature!r} is not one of "
                         f"{', '.join(features_lib.choices())}" + self._plugins_said(True))
    if self.gazetteers and "gazetteer" not in self.features:
      raise ValueError(f"--gazetteers={','.join(self.gazetteers)} is read by the "
                       "gazetteer feature only: add it (--features=...,gazetteer)")
    if self.char_dropout and "chars" not in self.features:
      raise ValueError(f"--char_dropout={self.char_dropout} is read by the chars "
                       "feature only: add it (--features=...,chars)")
    if len(set(self.features)) != len(self.features):
      raise ValueError(f"--features={','.join(self.features)} names a feature twice")
    for field in dataclasses.fields(self):
      value = getattr(self, field.name)
      if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"--{field.name}={value} must be a finite number")
    positive = ("embed_dim", "hidden_size", "batch_size", "epochs", "num_seeds",
                "num_corruptions", "feature_dim", "char_dim", "char_filters",
                "char_width", "char_max_len")
    for name in positive:
      if getattr(self, name) < 1:
        raise ValueError(f"--{name}={getattr(self, name)} must be >= 1")
    non_negative = ("window_size", "hidden2_size", "patience", "grad_clip",
                    "weight_decay", "min_count")
    for name in non_negative:
      if getattr(self, name) < 0:
        raise ValueError(f"--{name}={getattr(self, name)} must be >= 0")
    if not 0.0 < self.train_fraction <= 1.0:
      raise ValueError(f"--train_fraction={self.train_fraction} must be in (0, 1]")
    if not 0.0 <= self.word_dropout < 1.0:
      raise ValueError(f"--word_dropout={self.word_dropout} must be in [0, 1)")
    for name in ("dropout", "char_dropout"):
      if not 0.0 <= getattr(self, name) < 1.0:
        raise ValueError(f"--{name}={getattr(self, name)} must be in [0, 1)")
    if self.learning_rate <= 0:
      raise ValueError(f"--learning_rate={self.learning_rate} must be > 0")
    if self.margin <= 0:
      raise ValueError(f"--margin={self.margin} must be > 0 (the hinge's Δ)")
    if self.classifier != "hidden" and self.hidden2_size > 0:
      raise ValueError(f"--hidden2_size={self.hidden2_size} needs --classifier=hidden "
                       f"(--classifier={self.classifier} has no hidden layer)")
    losses.get(self.loss, self.output)  # its outputs, and what its kind serves
    if self.output == "score" and not self.target_type:
      raise ValueError("--output=score needs --target_type (the entity type to detect, e.g. LOC)")
    # Last: a feature's data side may read files or build a cache (the gazetteer's).
    for feature in self.features:
      features_lib.check_inputs(feature, features_lib.get(feature), self)
    return self

  def _plugins_said(self, registered: bool) -> str:
    """What a message about an unknown registered part adds: the plugins loaded."""
    if not registered:
      return ""
    if not self.plugins:
      return (" (no --plugins were given: a part of your own needs --plugins=MODULE, "
              "or a wincls.plugins entry point of an installed package)")
    return f" (none of the plugins {', '.join(self.plugins)} registers it)"

  def parts(self) -> list[tuple[str, str]]:
    """``(kind, name)`` of the registered parts the run uses (``plugins.part_modules``)."""
    return ([("window", self.window), ("activation", self.activation),
             ("loss", self.loss)] + [("feature", name) for name in self.features])

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

  @classmethod
  def from_dict(cls, d: dict[str, Any], *,
                source: str | os.PathLike | None = None) -> "Config":
    """The config a file holds (``config.json``, a sweep's ``grid.json``).

    Keys that are not fields but records beside them (``SAVED_RECORDS``: the
    fingerprints of the run's files) are left out. The plugins the file names
    are imported from your own path only (``plugins.load_saved``): a file is
    data, never a way to run code.

    Args:
      d: the file's JSON object.
      source: the file, named by errors (None: "a saved config").
    """
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names - set(SAVED_RECORDS))
    if unknown:
      raise ValueError(f"{source or 'a saved config'}: unknown config fields {unknown}; "
                       f"expected some of {sorted(names)}")
    parts = d.get(plugins_lib.PARTS_KEY)
    d = {k: v for k, v in d.items() if k in names}
    for name in ("features", "plugins", "gazetteers"):
      if name in d:
        d[name] = tuple(d[name]) if isinstance(d[name], list) else d[name]
    # A run trained with a plugin is read back (resumed, tagged) with it, and
    # with the same module behind each of its parts.
    plugins_lib.load_saved(d.get("plugins", ()), source)
    plugins_lib.check_parts(parts, source or "a saved config")
    return cls(**d)


def inputs_config(model_config: ModelConfig) -> Config:
  """The config a feature's ``inputs(words, config)`` receives: a run's ``Config``.

  Training encodes the data before the model exists (``features.word_inputs``
  with the run's ``Config``); the checkers (``wincls.testing``, the gradient-check
  benchmark) call ``inputs`` with this ``Config``, carrying ``model_config``'s
  shared settings, so a feature's data side sees the same type everywhere. The
  model side (``dim``, ``init``, ``forward``, ...) gets the ``ModelConfig``.
  """
  names = ({f.name for f in dataclasses.fields(Config)}
           & {f.name for f in dataclasses.fields(model_config)})
  return Config(**{n: getattr(model_config, n) for n in sorted(names)})
