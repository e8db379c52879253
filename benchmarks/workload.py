"""The benchmarked run: CoNLL-2003 train as windows, in the default ``Config``'s shapes.

``dataset="wnut16"`` (``benchmarks/devices.py``'s default) reads the WNUT-2016
training set instead, which needs no files (the default ``Config``'s data).

Shared by ``throughput.py`` and ``epoch_profile.py`` (no flags here): the two
shapes (``CONFIGS``), the ``Config`` of each (``base_config``, with
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

# The shapes; every other setting is the default Config's.
CONFIGS = {
    "cs224n": {"window_size": 1, "hidden_size": 200},
    "cw": {"window_size": 2, "hidden_size": 300},
}


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
  """``dataset``'s train split as windows for ``config_name``, and the model's settings."""
  config = base_config(config_name, overrides, dataset=dataset)
  if config.features != ("casing",) or config.window != "concat":
    raise ValueError("the peers model concat windows of words and casing features; "
                     f"Config has window={config.window}, features={config.features}")
  corpus = datasets.load_splits(dataset, data_dir=data_dir)["train"]
  vocab = vocab_lib.Vocab.build(corpus.words, min_count=config.min_count,
                                lowercase=config.lowercase,
                                normalize_digits=config.normalize_digits)
  labels = vocab_lib.LabelVocab.from_tags(corpus.tags, scheme=config.label_scheme)
  encoded = windows.encode_corpus(corpus, vocab, window_size=config.window_size,
                                  features=config.features, label_vocab=labels,
                                  label_scheme=config.label_scheme)
  n = encoded.labels.shape[0] if max_windows is None else max_windows
  data = peers.Data(window_ids=np.ascontiguousarray(encoded.window_ids[:n]),
                    feature_ids=np.ascontiguousarray(encoded.feature_ids[:n, :, 0]),
                    labels=np.ascontiguousarray(encoded.labels[:n]))
  spec = peers.Spec(vocab_size=len(vocab), feature_size=vocab_lib.FEATURE_SIZES["casing"],
                    embed_dim=config.embed_dim, feature_dim=config.feature_dim,
                    window_len=config.window_size * 2 + 1,
                    hidden_size=config.hidden_size, num_classes=len(labels),
                    activation=config.activation, dropout=config.dropout,
                    word_dropout=config.word_dropout)
  return data, spec


def flops_per_window(spec: peers.Spec) -> int:
  """Forward + backward matmul FLOPs of one window: ``6·(D·H + H·C)``."""
  return 6 * (spec.input_dim * spec.hidden_size + spec.hidden_size * spec.num_classes)
