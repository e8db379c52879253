"""The benchmarked run: CoNLL-2003 train as windows, in the default ``Config``'s shapes.

``dataset="wnut16"`` (``benchmarks/devices.py``'s default) reads the WNUT-2016
training set instead, which needs no files (the default ``Config``'s data).

Shared by ``throughput.py`` and ``epoch_profile.py`` (no flags here): the
shapes (``CONFIGS``; ``cw_chars`` is ``cw`` with the ``chars`` feature, the
default char settings), the ``Config`` of each (``base_config``, with
``--model_overrides`` parsed by ``parse_overrides``), the data and model sizes
every peer trains on (``load_data``), and the matmul FLOPs of one window
(``flops_per_window``).
"""

from __future__ import annotations

import numpy as np

from benchmarks import peers
from wincls import config as config_lib
from wincls.data import datasets
from wincls.data import vocab as vocab_lib
from wincls.data import windows
from wincls.model import features as features_lib

# The shapes; every other setting is the default Config's.
CONFIGS = {
    "cs224n": {"window_size": 1, "hidden_size": 200},
    "cw": {"window_size": 2, "hidden_size": 300},
    "cw_chars": {"window_size": 2, "hidden_size": 300, "features": ("casing", "chars")},
}
FEATURES = (("casing",), ("casing", "chars"))  # what the peers model


def base_config(config_name: str, overrides: dict | None = None, *,
                dataset: str = "conll2003") -> config_lib.Config:
  """The default ``Config`` on ``dataset`` with the shape of ``config_name``.

  ``overrides`` (``--model_overrides``) replace fields the peers share
  (``OVERRIDABLE``), for every impl alike.
  """
  return config_lib.Config(dataset=dataset, **CONFIGS[config_name], **(overrides or {}))


OVERRIDABLE = {"dropout": float, "word_dropout": float, "activation": str}


def parse_overrides(items: list[str]) -> dict:
  """``["dropout=0", ...]`` -> ``{"dropout": 0.0, ...}``; ValueError naming the flag."""
  overrides = {}
  for item in items:
    name, sep, value = item.partition("=")
    if not sep or name not in OVERRIDABLE:
      raise ValueError(f"--model_overrides={item!r}: expected FIELD=VALUE with FIELD "
                       f"one of {', '.join(OVERRIDABLE)}")
    overrides[name] = OVERRIDABLE[name](value)
  return overrides


def load_data(config_name: str, *, data_dir: str | None, max_windows: int | None = None,
              overrides: dict | None = None, dataset: str = "conll2003"
              ) -> tuple[peers.Data, peers.Spec]:
  """``dataset``'s train split as windows for ``config_name``, and the model's settings.

  The windows are encoded as ``experiments/train.py`` encodes them
  (``windows.encode_corpus`` with ``features.word_inputs``); ``Data.char_ids``
  holds the ``chars`` columns of ``feature_ids`` where the config has them.
  """
  config = base_config(config_name, overrides, dataset=dataset)
  if tuple(config.features) not in FEATURES or config.window != "concat":
    raise ValueError("the peers model concat windows of words, casing and optionally "
                     f"chars features; Config has window={config.window}, "
                     f"features={config.features}")
  corpus = datasets.load_splits(dataset, data_dir=data_dir)["train"]
  vocab = vocab_lib.Vocab.build(corpus.words, min_count=config.min_count,
                                lowercase=config.lowercase,
                                normalize_digits=config.normalize_digits)
  labels = vocab_lib.LabelVocab.from_tags(corpus.tags, scheme=config.label_scheme)
  encoded = windows.encode_corpus(
      corpus, vocab, window_size=config.window_size,
      feature_inputs=lambda words: features_lib.word_inputs(
          words, config, lengths=[len(s) for s in corpus.sentences]),
      label_vocab=labels, label_scheme=config.label_scheme)
  n = encoded.labels.shape[0] if max_windows is None else max_windows
  columns = dict(zip(config.features, (cols for _, cols in features_lib.columns(config))))
  chars = "chars" in config.features
  data = peers.Data(
      window_ids=np.ascontiguousarray(encoded.window_ids[:n]),
      feature_ids=np.ascontiguousarray(encoded.feature_ids[:n, :, columns["casing"].start]),
      labels=np.ascontiguousarray(encoded.labels[:n]),
      char_ids=(np.ascontiguousarray(encoded.feature_ids[:n, :, columns["chars"]])
                if chars else None))
  spec = peers.Spec(vocab_size=len(vocab), feature_size=vocab_lib.FEATURE_SIZES["casing"],
                    embed_dim=config.embed_dim, feature_dim=config.feature_dim,
                    window_len=config.window_size * 2 + 1,
                    hidden_size=config.hidden_size, num_classes=len(labels),
                    activation=config.activation, dropout=config.dropout,
                    word_dropout=config.word_dropout, chars=chars,
                    char_dim=config.char_dim, char_filters=config.char_filters,
                    char_width=config.char_width, char_max_len=config.char_max_len)
  return data, spec


def flops_per_window(spec: peers.Spec) -> int:
  """Forward + backward matmul FLOPs of one window: ``6·(D·H + H·C)``, plus with
  ``spec.chars`` the char convolution's ``6·W·L·k·c·Fc`` (forward
  ``2·L·k·c·Fc`` per position, ×3 for forward + backward, as the hidden layer's)."""
  flops = 6 * (spec.input_dim * spec.hidden_size + spec.hidden_size * spec.num_classes)
  if spec.chars:
    flops += 6 * spec.window_len * (spec.char_max_len * spec.char_width * spec.char_dim
                                    * spec.char_filters)
  return flops
