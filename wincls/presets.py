"""Measured best settings, as ``Config`` field -> value (flags not given).

``RANDOM_INIT``: ``Config``'s defaults, the configuration tuned with randomly
initialised word vectors and cross-entropy (CoNLL-2003 testa, docs/results.md
"Tuning"), 5 seeds: dev entity F1 0.883 ± 0.002::

  python experiments/train.py --dataset=conll2003 --num_seeds=5 --workdir=W

Measured since (docs/results.md "Character features"): ``--loss=crf`` gives
0.899 ± 0.002 and ``--loss=crf --features=casing,chars`` 0.904 ± 0.002; the
defaults stay as they are, since every figure of the defaults depends on them.

``PRETRAINED``: the best configuration with pre-trained vectors (glove-6b-100d,
fine-tuned, sentence-level CRF): dev entity F1 0.9349 ± 0.0019 over 3 seeds;
see its docstring below and docs/vectors.md for the search. ``--vectors``
itself is not in it: a run names its vectors, and the preset fills in the
flags it does not give (``embed_dim`` must match the vectors).

``VECTORS_STUDY``: the settings every arm of the word-vectors study shares
(``RANDOM_INIT`` with 100-d vectors and a training-words vocabulary).

They spell out the fields that define them, defaults included, so that the
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
    "dropout": 0.3,
    "word_dropout": 0.1,
    "freeze_vectors": False,
    "epochs": 20,
}
"""Best configuration with pre-trained vectors (glove-6b-100d, fine-tuned).

CoNLL-2003 testa (dev), 3 seeds: dev entity F1 0.9349 ± 0.0019 (seeds 0.9368,
0.9330, 0.9348; best epochs 8, 14, 16; 252 s for the 3 seeds on 2 shared CPU
cores)::

  python experiments/train.py --dataset=conll2003 --vectors=glove-6b-100d \
      --embed_dim=100 --loss=crf --activation=relu --dropout=0.3 \
      --word_dropout=0.1 --epochs=20 --num_seeds=3 --workdir=W

It differs from ``RANDOM_INIT`` in ``embed_dim`` (the vectors' 100), ``loss``
and ``epochs``. The search (8 runs, table in docs/vectors.md): dropout 0.5 gave
0.9343 ± 0.0011; cross_entropy 0.9186 ± 0.0005 (dropout 0.5), and frozen
vectors with it 0.8791 ± 0.0027; word dropout 0.2 and 0 were worse than 0.1;
a window of 7 (m=3) did not help the CRF (0.9340 ± 0.0012).
"""


VECTORS_STUDY: dict[str, object] = {
    **RANDOM_INIT,
    "embed_dim": 100,
    "vocab_include_dev": False,
}
"""Shared settings of every arm of ``experiments/vectors_study.py``.

``RANDOM_INIT`` (``Config``'s recommended defaults) with the word-vector size
of glove-6b-100d, and a vocabulary of the training words only: the arms
(random, frozen, fine-tuned vectors; ``wincls/sweep/vectors_study.py``)
differ in nothing but the word vectors. ``loss`` and ``train_fraction`` are
axes of the study; ``epochs`` is E of its epochs rule.
"""

def check_preset(preset: dict[str, object]) -> None:
  """Raises ValueError if a key is not a ``Config`` field."""
  names = {f.name for f in dataclasses.fields(config_lib.Config)}
  unknown = sorted(set(preset) - names)
  if unknown:
    raise ValueError(f"preset fields {unknown} are not Config fields")


check_preset(RANDOM_INIT)
check_preset(PRETRAINED)
check_preset(VECTORS_STUDY)
