"""The model's settings, each written once: ``ModelSettings`` and ``ModelConfig``.

``ModelSettings`` holds the settings that are both flags of a run and static
arguments of the pure model (window, sizes, activation, features, ...): each
field's default and help text are written here once (``setting``). The run's
``Config`` (``wincls/config.py``) inherits them, so its flags, ``config.json``
keys and the model agree by construction; ``cli.py`` reads the help from the
fields' metadata.

``ModelConfig`` adds what comes from the data (vocabulary, feature inputs,
classes) and from the loss (``use_crf``). It lives in ``wincls/model/`` so that
the model imports nothing above it; it is hashable, so jitted functions take it
as a static argument.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from wincls.model import registry

CLASSIFIERS = ("softmax", "hidden")
OUTPUTS = ("multiclass", "score")
# The spec of a feature table given by its size alone (``feature_sizes`` with
# ``features=()``): a lookup table like casing's.
TABLE_FEATURE = "table"


def setting(default: Any, help: str, registry_kind: str | None = None) -> Any:  # pylint: disable=redefined-builtin
  """A settings field: its default and its help (a flag's, read by ``cli.py``).

  ``registry_kind``: the field names a registered part; its help goes on with
  the registry's parts, read when the flags are defined (plugins add to them).
  """
  return dataclasses.field(default=default,
                           metadata={"help": help, "registry": registry_kind})


def help_of(field: dataclasses.Field) -> str:
  """The help text of a ``setting`` field (with its registry's parts, if any)."""
  text = field.metadata.get("help", f"{field.name}.")
  kind = field.metadata.get("registry")
  if kind is None:
    return text
  return text + registry.of_kind(kind).help_text(skip=(TABLE_FEATURE,)) + "."


@dataclasses.dataclass(frozen=True)
class ModelSettings:
  """The model's settings that are also a run's flags (defaults: the recommended
  random-init configuration, docs/results.md "Headlines")."""

  features: tuple[str, ...] = setting(
      ("casing",), "Word features after the word vector, a comma list (empty: none) "
      "of: ", "feature")
  freeze_vectors: bool = setting(False, "Word vectors receive no update.")
  window: str = setting("concat", "Window representation: ", "window")
  window_size: int = setting(2, "Half-width m of the window (2m+1 words).")
  embed_dim: int = setting(50, "Dimension of a word vector.")
  feature_dim: int = setting(5, "Dimension of each lookup-table feature's vector.")
  classifier: str = setting("hidden", "softmax (scores = W x + b) or hidden "
                            "(hidden layers first).")
  hidden_size: int = setting(300, "Width of the (first) hidden layer.")
  hidden2_size: int = setting(0, "Width of an optional second hidden layer (0: none).")
  activation: str = setting("relu", "Non-linearity: ", "activation")
  output: str = setting("multiclass", "multiclass (one score per label, [B, C]) or "
                        "score (one score s = u^T h: a detector, [B]).")
  dropout: float = setting(0.3, "Dropout rate on the window vector and hidden "
                           "layers (training only).")
  char_dim: int = setting(16, "chars: dimension of a character vector.")
  char_filters: int = setting(32, "chars: convolution filters (the feature's dimension).")
  char_width: int = setting(3, "chars: characters per convolution window.")
  char_max_len: int = setting(16, "chars: the first this many characters of a word "
                              "are read.")
  char_dropout: float = setting(0.0, "chars: dropout rate on each position's character "
                                "vector before the window (training only; --dropout "
                                "still applies to the window vector).")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ModelConfig(ModelSettings):
  """What ``network.init_params``/``network.apply`` need. Hashable (static arg).

  The settings of ``ModelSettings`` and, from the data and the loss:

  Attributes:
    vocab_size: rows of the word table (including the reserved ids).
    feature_sizes: the size of each word feature's input (a lookup table's
      rows; the character alphabet of ``chars``), in the order of ``features``;
      None: the registered features' own sizes. With ``features=()``, each size
      is a plain lookup table (``TABLE_FEATURE``).
    num_classes: C, the number of output classes (ignored for output="score").
    use_crf: add transition parameters for the sentence-level likelihood.
  """

  vocab_size: int
  feature_sizes: tuple[int, ...] | None = None
  num_classes: int = 5
  use_crf: bool = False

  def __post_init__(self):
    if self.feature_sizes is None:  # the registered features' (features.sizes)
      registered = registry.of_kind("feature")
      object.__setattr__(self, "feature_sizes",  # ValueError naming the choices
                         tuple(registered.lookup(name).size for name in self.features))
    if self.features and len(self.features) != len(self.feature_sizes):
      raise ValueError(f"wincls/model/settings.py: ModelConfig.features="
                       f"{self.features} needs one size each; feature_sizes="
                       f"{self.feature_sizes}")

  @property
  def feature_names(self) -> tuple[str, ...]:
    """The feature spec of each entry of ``feature_sizes``."""
    return self.features or (TABLE_FEATURE,) * len(self.feature_sizes)

  @property
  def window_len(self) -> int:
    return 2 * self.window_size + 1

  @classmethod
  def from_settings(cls, settings: ModelSettings, **data: Any) -> "ModelConfig":
    """The model config of ``settings`` (a run's ``Config``) with the data's sizes."""
    shared = {f.name: getattr(settings, f.name) for f in dataclasses.fields(ModelSettings)}
    return cls(**shared, **data)
