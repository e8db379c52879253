"""Configuration: one frozen dataclass per concern, field names = flag names.

``Config`` holds every setting of a run (data, model, loss, optimisation). Its
field names are the flag names of ``experiments/train.py`` and the keys of the
``config.json`` saved in a run's workdir. ``Config.model_config`` builds from
it the ``ModelConfig`` (``wincls.model.settings``, re-exported here), the part
the pure model functions need: it lives in ``wincls/model/`` so that the model
imports nothing above it.

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

# The model's choices are the live registries (wincls/model/registry.py): a
# part registered by any module, before validation, is a valid flag value.
LABEL_SCHEMES = ("io", "iob2", "iobes")
OPTIMIZERS = ("sgd", "adam", "adagrad")
SCHEDULES = ("constant", "cosine", "linear")
GRADS = ("autodiff", "hand")
EMBEDDING_UPDATES = ("dense", "sparse")
# Keys of a saved config that are records of the run, not flags: "inputs", the
# size and sha256 of each file the run read (wincls/train/inputs.py).
SAVED_RECORDS = ("inputs",)


@dataclasses.dataclass(frozen=True)
class Config:
  """Every setting of one run; field names are the flag names of train.py.

  The defaults are the recommended random-init configuration, the best found
  on CoNLL-2003 testa (5 seeds, dev entity F1 0.883 ± 0.002)::

    python experiments/train.py --dataset=conll2003 --num_seeds=5 --workdir=W

  (concat window, m=2, 50-d word vectors + 5-d casing, hidden 300 relu,
  dropout 0.3, word dropout 0.1, Adam 1e-3, batch 256, 12 epochs, best epoch
  on dev). Tuning runs: tanh/dropout 0.3/word dropout 0.1 0.874, tanh/0.5/0.2
  0.874, tanh/m=3 0.878, relu 0.883 (docs/results.md, "Tuning").
  """

  # Data.
  dataset: str = "wnut16"  # runs anywhere; conll2003 reads --data_dir
  data_dir: str = ""
  train_path: str = ""
  dev_path: str = ""
  train_fraction: float = 1.0
  label_scheme: str = "iobes"
  min_count: int = 1
  lowercase: bool = True
  normalize_digits: bool = True
  features: tuple[str, ...] = ("casing",)
  # Word vectors.
  vectors: str = "random"
  vectors_path: str = ""
  freeze_vectors: bool = False
  # With pre-trained vectors, also give a row to every dev word the vectors know
  # (initialised from the vectors, never from dev labels). Not needed since
  # evaluation and tagging are open-vocabulary (every word the vectors know gets
  # its pre-trained row; wincls/train/prepare.py): kept for older runs.
  vocab_include_dev: bool = False
  # Model.
  window: str = "concat"
  window_size: int = 2
  embed_dim: int = 50
  feature_dim: int = 5
  classifier: str = "hidden"
  hidden_size: int = 300
  hidden2_size: int = 0
  activation: str = "relu"
  output: str = "multiclass"
  target_type: str = ""  # for output="score": the entity type to detect
  dropout: float = 0.3
  # Training-time word dropout: each word id of a training window (not the
  # reserved ids) becomes <unk> with this probability, so the <unk> vector is
  # trained and rare words are not memorised.
  word_dropout: float = 0.1
  # Loss.
  loss: str = "cross_entropy"
  margin: float = 1.0
  num_corruptions: int = 1
  # Optimisation.
  optimizer: str = "adam"
  learning_rate: float = 1e-3
  schedule: str = "constant"
  grad_clip: float = 0.0  # global-norm clipping; 0 = off
  weight_decay: float = 0.0
  batch_size: int = 256
  epochs: int = 12
  patience: int = 0  # early-stopping patience in epochs; 0 = off
  grad: str = "autodiff"
  # "sparse": update only the word-table rows a batch touches (wincls/train/sparse.py;
  # exact for SGD, lazy Adam/AdaGrad semantics otherwise); "dense": optax on
  # the whole table.
  embedding_update: str = "dense"
  # Run.
  seed: int = 0
  num_seeds: int = 1
  # Modules imported before anything reads the config (wincls/plugins.py):
  # they register windows, losses, activations or features of their own.
  plugins: tuple[str, ...] = ()
  # Character features (--features=...,chars; wincls/model/features.py).
  char_dim: int = 16
  char_filters: int = 32
  char_width: int = 3
  char_max_len: int = 16
  # Gazetteer lists (--features=...,gazetteer): TYPE=PATH entries, one list
  # entry per line; empty: the default lists (wincls/model/gazetteer.py).
  gazetteers: tuple[str, ...] = ()

  def model_config(self, *, vocab_size: int, num_classes: int,
                   feature_sizes: tuple[int, ...] | None = None) -> ModelConfig:
    """The model part of this config, with the sizes that come from the data.

    ``feature_sizes`` defaults to the registered features' (``features.sizes``).
    """
    if feature_sizes is None:
      feature_sizes = features_lib.sizes(self.features)
    return ModelConfig(
        vocab_size=vocab_size,
        feature_sizes=tuple(feature_sizes),
        num_classes=num_classes,
        window=self.window,
        window_size=self.window_size,
        embed_dim=self.embed_dim,
        feature_dim=self.feature_dim,
        classifier=self.classifier,
        hidden_size=self.hidden_size,
        hidden2_size=self.hidden2_size,
        activation=self.activation,
        output=self.output,
        dropout=self.dropout,
        freeze_vectors=self.freeze_vectors,
        use_crf=losses.is_sentence(self.loss),
        features=tuple(self.features),
        char_dim=self.char_dim,
        char_filters=self.char_filters,
        char_width=self.char_width,
        char_max_len=self.char_max_len,
    )

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
    if len(set(self.features)) != len(self.features):
      raise ValueError(f"--features={','.join(self.features)} names a feature twice")
    for feature in self.features:  # its data side, on this run's flags
      features_lib.check_inputs(feature, features_lib.get(feature), self)
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
    if not 0.0 <= self.dropout < 1.0:
      raise ValueError(f"--dropout={self.dropout} must be in [0, 1)")
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
    return self

  def _plugins_said(self, registered: bool) -> str:
    """What a message about an unknown registered part adds: the plugins loaded."""
    if not registered:
      return ""
    if not self.plugins:
      return " (no --plugins were given: a part of your own needs --plugins=MODULE)"
    return f" (none of the plugins {', '.join(self.plugins)} registers it)"

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
    d = {k: v for k, v in d.items() if k in names}
    for name in ("features", "plugins", "gazetteers"):
      if name in d:
        d[name] = tuple(d[name]) if isinstance(d[name], list) else d[name]
    # A run trained with a plugin is read back (resumed, tagged) with it.
    plugins_lib.load_saved(d.get("plugins", ()), source)
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
