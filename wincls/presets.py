"""Measured best settings, as ``Config`` field -> value (flags not given).

``RANDOM_INIT``: the best configuration with randomly initialised word vectors
(``Config``'s defaults; tuned on CoNLL-2003 testa, README "Tuning"), 5 seeds:
dev entity F1 0.883 ± 0.002::

  python experiments/train.py --dataset=conll2003 --num_seeds=5 --workdir=W

``PRETRAINED``: the best configuration with pre-trained vectors (glove-6b-100d,
fine-tuned, sentence-level CRF): dev entity F1 0.9343 ± 0.0011 over 3 seeds;
see its docstring below and docs/vectors.md for the search. ``--vectors``
itself is not in it: a run names its vectors, and the preset fills in the
flags it does not give (``embed_dim`` must match the vectors).

Both spell out the fields that define them, defaults included, so that the
settings stay put when ``Config``'s defaults change.
"""

from __future__ import annotations

import dataclasses

from wincls import config as config_lib

RANDOM_INIT: dict[str, object] = {
    "window": "concat",
    "window_size": 2,
    "embed_dim": 50,
    "features": ("casing",),
    "feature_dim": 5,
    "classifier": "hidden",
    "hidden_size": 300,
    "activation": "relu",
    "label_scheme": "iobes",
    "loss": "cross_entropy",
    "optimizer": "adam",
    "learning_rate": 1e-3,
    "batch_size": 256,
    "dropout": 0.3,
    "word_dropout": 0.1,
    "epochs": 12,
}

PRETRAINED: dict[str, object] = {
    "window": "concat",
    "window_size": 2,
    "embed_dim": 100,
    "features": ("casing",),
    "feature_dim": 5,
    "classifier": "hidden",
    "hidden_size": 300,
    "activation": "relu",
    "label_scheme": "iobes",
    "loss": "crf",
    "optimizer": "adam",
    "learning_rate": 1e-3,
    "batch_size": 256,
    "dropout": 0.5,
    "word_dropout": 0.1,
    "freeze_vectors": False,
    "epochs": 20,
}
"""Best configuration with pre-trained vectors (glove-6b-100d, fine-tuned).

CoNLL-2003 testa (dev), 3 seeds: dev entity F1 0.9343 ± 0.0011 (seeds 0.9353,
0.9332, 0.9343; best epochs 15, 16, 19)::

  python experiments/train.py --dataset=conll2003 --vectors=glove-6b-100d \
      --embed_dim=100 --loss=crf --dropout=0.5 --word_dropout=0.1 --epochs=20 \
      --num_seeds=3 --workdir=W

The same with ``--loss=cross_entropy``: 0.9186 ± 0.0005; with
``--freeze_vectors`` (cross_entropy): 0.8791 ± 0.0027. The search (7 runs,
docs/vectors.md): word dropout 0.2 / 0 / 0.1, 12 vs 20 epochs, frozen vs
fine-tuned, cross_entropy vs crf, window half-width 2 vs 3.
"""


def check_preset(preset: dict[str, object]) -> None:
  """Raises ValueError if a key is not a ``Config`` field."""
  names = {f.name for f in dataclasses.fields(config_lib.Config)}
  unknown = sorted(set(preset) - names)
  if unknown:
    raise ValueError(f"preset fields {unknown} are not Config fields")


check_preset(RANDOM_INIT)
check_preset(PRETRAINED)
