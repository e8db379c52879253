"""``ModelConfig``: the static settings of the pure model (no flag, no file).

It lives in ``wincls/model/`` so that the model imports nothing above it: the
run's ``Config`` (``wincls/config.py``) builds one with ``model_config`` and the
choices flow down. It is hashable, so it is passed to jitted functions as a
static argument, and it carries the sizes that come from the data
(vocabulary, feature inputs, classes).
"""

from __future__ import annotations

import dataclasses

CLASSIFIERS = ("softmax", "hidden")
OUTPUTS = ("multiclass", "score")
# The spec of a feature table given by its size alone (``feature_sizes`` without
# ``features``): a lookup table like casing's.
TABLE_FEATURE = "table"


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """What ``network.init_params``/``network.apply`` need. Hashable (static arg).

  Attributes:
    vocab_size: rows of the word table (including the reserved ids).
    feature_sizes: the size of each word feature's input (a lookup table's
      rows; the character alphabet of ``chars``), in the order of ``features``;
      ``()`` for words only.
    num_classes: C, the number of output classes (ignored for output="score").
    window: name of the window representation (a key of ``windows.WINDOWS``).
    window_size: half-width m; a window holds 2m+1 words.
    embed_dim: dimension of a word vector.
    feature_dim: dimension of each lookup-table feature's vector.
    classifier: "softmax" (scores = W x + b) or "hidden" (one/two hidden layers).
    hidden_size: H, width of the first hidden layer.
    hidden2_size: width of an optional second hidden layer (0 = none).
    activation: the non-linearity f of the hidden layers.
    output: "multiclass" (scores U h + c, [B, C]) or "score" (s = u^T h, [B]).
    dropout: dropout rate on the window vector and hidden layers (train only).
    freeze_vectors: word vectors receive no update.
    use_crf: add transition parameters for the sentence-level likelihood.
    features: names of the word features (keys of ``features.FEATURES``), one
      per entry of ``feature_sizes``; ``()`` with ``feature_sizes`` given means
      plain lookup tables (``TABLE_FEATURE``).
    char_dim: ``chars``: dimension of a character vector.
    char_filters: ``chars``: convolution filters (the feature's dimension).
    char_width: ``chars``: characters per convolution window.
    char_max_len: ``chars``: characters of a word read (the first ones).
  """

  vocab_size: int
  feature_sizes: tuple[int, ...] = ()
  num_classes: int = 5
  window: str = "concat"
  window_size: int = 2
  embed_dim: int = 50
  feature_dim: int = 5
  classifier: str = "hidden"
  hidden_size: int = 300
  hidden2_size: int = 0
  activation: str = "tanh"
  output: str = "multiclass"
  dropout: float = 0.0
  freeze_vectors: bool = False
  use_crf: bool = False
  features: tuple[str, ...] = ()
  char_dim: int = 16
  char_filters: int = 32
  char_width: int = 3
  char_max_len: int = 16

  def __post_init__(self):
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
