"""Measured configurations, as ``Config`` field -> value.

What each one measures, with its command, is in docs/results.md ("Headlines");
the figures live there, not here.

``--preset=NAME`` (``cli.define_preset_flag``; ``PRESETS``) fills every flag
not given on the command line from one of them; ``--vectors`` alone takes
``pretrained``.

``DEFAULTS``: ``Config``'s defaults (tests/test_presets.py checks they are
equal), the configuration tuned with randomly initialised word vectors and
cross-entropy (CoNLL-2003 testa, docs/results.md "Tuning")::

  python experiments/train.py --dataset=conll2003 --num_seeds=5 --workdir=W

It is the lecture's window model (words and casing, cross-entropy), which
every figure of the defaults in README and docs measures.

``RANDOM_INIT`` (``--preset=random_init``): the best measured configuration
with random word vectors, ``DEFAULTS`` with the sentence-level CRF, the
character CNN, the gazetteer feature and the learning rate decayed on a
cosine (docs/results.md "Character features", "Gazetteer" and "Choosing the
presets": each wins on dev F1, paired by seed)::

  python experiments/train.py --dataset=conll2003 --num_seeds=5 --preset=random_init \
      --workdir=W

``PRETRAINED`` (``--preset=pretrained``, or ``--vectors`` alone): the best
configuration with pre-trained vectors (glove-6b-100d, fine-tuned,
sentence-level CRF, the character CNN, cosine decay); its docstring below, and
docs/vectors.md for the search. ``--vectors`` itself is not in it: a run names its
vectors, and the preset fills in the flags it does not give, ``embed_dim`` as
the vectors' own dimension (``chosen``: it must match them).

``VECTORS_STUDY``: the settings every arm of the word-vectors study shares
(``DEFAULTS`` with 100-d vectors and a training-words vocabulary).

They spell out the fields that define them, defaults included, so that the
settings stay put when ``Config``'s defaults change.
"""

from __future__ import annotations

import dataclasses
import re

from wincls import config as config_lib

DEFAULTS: dict[str, object] = {
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

RANDOM_INIT: dict[str, object] = {
    **DEFAULTS,
    "features": ("casing", "chars", "gazetteer"),
    "char_dim": 16,
    "char_filters": 32,
    "char_width": 3,
    "char_max_len": 16,
    "loss": "crf",
    "schedule": "cosine",
}
"""Best measured configuration with random word vectors (``--preset=random_init``).

Its dev F1 against the CRF without characters and ``DEFAULTS`` (paired by
seed), its wall time, and the search of the character settings that kept
these values are in docs/results.md ("Headlines", "Character features").
"""

PRETRAINED: dict[str, object] = {
    "window": "concat",
    "window_size": 2,
    "embed_dim": 100,
    "features": ("casing", "chars"),
    "char_dim": 16,
    "char_filters": 32,
    "char_width": 3,
    "char_max_len": 16,
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
    "schedule": "cosine",
}
"""Best configuration with pre-trained vectors (glove-6b-100d, fine-tuned).

Its dev F1 on CoNLL-2003 testa is in docs/results.md ("Headlines"); the
search that chose it, run by run, in docs/vectors.md ("The best pre-trained
configuration"); the character CNN joined it because it recalls more of the
entities with unseen words at an equal dev F1, and the cosine decay of the
learning rate because it wins on dev F1 (docs/results.md "Choosing the
presets")::

  python experiments/train.py --dataset=conll2003 --vectors=glove-6b-100d \
      --num_seeds=5 --workdir=W

It differs from ``DEFAULTS`` in ``embed_dim`` (the vectors' 100), ``loss``,
``features`` (the character CNN), ``epochs`` and ``schedule``. In the search, dropout 0.5,
cross-entropy, frozen vectors, word dropout 0.2 or 0 and a window of 7 (m=3)
did no better.
"""


VECTORS_STUDY: dict[str, object] = {
    **DEFAULTS,
    "embed_dim": 100,
    "vocab_include_dev": False,
}
"""Shared settings of every arm of ``experiments/vectors_study.py``.

``DEFAULTS`` (``Config``'s defaults: words and casing, no characters) with the word-vector size
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


PRESETS: dict[str, dict[str, object]] = {"random_init": RANDOM_INIT,
                                          "pretrained": PRETRAINED}
CHOICES = ("auto", "none", *PRESETS)  # the values of --preset


def chosen(name: str, vectors: str, vectors_path: str = "") -> dict[str, object]:
  """The fields ``--preset=name`` fills in; ``auto``: ``PRETRAINED`` with
  pre-trained ``vectors``, else none; ``none``: none.

  With pre-trained vectors the preset's ``embed_dim`` is the vectors' own
  dimension (``vectors_dim``), since the two must match: a 50-d
  ``--vectors_path`` is not refused for the preset's 100, a value the user
  never gave.
  """
  if name == "none" or (name == "auto" and vectors == "random"):
    return {}
  if name == "pretrained" and vectors == "random":
    raise ValueError("--preset=pretrained needs --vectors (glove-6b-100d, or file with "
                     "--vectors_path): it is the configuration measured with them")
  preset = dict(PRETRAINED if name == "auto" else PRESETS[name])
  dim = vectors_dim(vectors, vectors_path) if vectors != "random" else None
  if "embed_dim" in preset and dim is not None:
    preset["embed_dim"] = dim
  return preset


def blame(message: str, filled: dict[str, object], name: str) -> str:
  """``message`` with a note for each flag it names whose value ``--preset=name``
  set (``filled``: field -> value), so that a conflict with a value the user
  never gave does not read as theirs."""
  notes = []
  for field, value in filled.items():
    if re.search(rf"--{field}\b", message):
      shown = ",".join(value) if isinstance(value, tuple) else value
      notes.append(f"--{field}={shown}")
  if not notes:
    return message
  preset = "auto (pretrained, as --vectors is given)" if name == "auto" else name
  return (f"{message} ({', '.join(notes)} was set by --preset={preset}, not given; "
          f"give --{notes[0][2:].split('=')[0]} to override it, or --preset=none)")


def vectors_dim(vectors: str, vectors_path: str = "") -> int | None:
  """The dimension of named ``vectors`` or of the file ``vectors_path`` (its
  word2vec header ``N D`` or its first row), or None when it cannot be read
  here (the run's reader then names the file and what is wrong)."""
  if not vectors_path:
    from wincls.data import vectors as vectors_lib  # pylint: disable=g-import-not-at-top
    spec = vectors_lib.NAMED_VECTORS.get(vectors)
    return None if spec is None else spec.dim
  from wincls.data.vectors import io  # pylint: disable=g-import-not-at-top
  try:
    with io.open_binary(vectors_path) as f:
      first = f.readline(1 << 20).decode("utf-8").split()
  except (OSError, ValueError, EOFError):  # missing, a directory, not gzip/UTF-8
    return None
  if len(first) == 2 and all(x.isdigit() for x in first):
    return int(first[1])
  return len(first) - 1 if len(first) > 1 else None


check_preset(DEFAULTS)
check_preset(RANDOM_INIT)
check_preset(PRETRAINED)
check_preset(VECTORS_STUDY)
