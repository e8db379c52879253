"""A run's data as arrays: read, subsample, encode, bucket (writes nothing).

``prepare_data(config, workdir=None) -> RunData`` reads the dataset, draws the
``train_fraction`` subset, builds (or reads back) the vocabularies, aligns
pre-trained vectors and encodes train and dev as windows. It is pure with
respect to the workdir: it may *read* ``vocab.json``/``labels.json`` of a run
being resumed, but the loop (``wincls.train.loop``) writes them
(``workdir.save_vocabularies``).

**Open vocabulary** (``encode``): with pre-trained vectors, a corpus to
evaluate or tag is encoded so that every word the vectors know gets its
pre-trained row, whether or not it is in the training vocabulary: such words
get ids after the vocabulary's and their rows travel with the data
(``WindowedCorpus.new_rows``); the tagger appends them to the word table. Dev
during training, ``predict.py`` and ``Tagger.tag`` all go through ``encode``,
so a new file is tagged exactly as dev was scored. The training vocabulary
therefore needs no dev words (``vocab_include_dev`` is off by default; on, it
adds the dev words the vectors know to the vocabulary as before, whose rows keep
their pre-trained values under dense updates: the same predictions).

The ``train_fraction`` subset is drawn with a fixed seed (``SUBSAMPLE_SEED``),
not the run's: every seed and configuration sees the same sentences, and
smaller fractions are subsets of larger ones.

**Sentence buckets** (``loss="crf"``, ``sentence_buckets``): sentences are
padded to ``T`` from the geometric ladder 8, 12, 18, 27, 41, 62, 93, 140, ...
(×1.5; only rungs holding sentences are used), so a sentence longer than 8 is
padded to less than 1.5× its length: on CoNLL-2003 train that is 8 buckets (8
compiled epoch programs, compiled once per run) and 22% padded positions,
against 87% when every sentence is padded to the longest (124). A batch holds
``max(1, batch_size // T)`` sentences, i.e. about ``batch_size`` token
positions.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any

from absl import logging
import numpy as np

from wincls import config as config_lib
from wincls.data import conll
from wincls.data import datasets
from wincls.data import tags as tags_lib
from wincls.data import vocab as vocab_lib
from wincls.data import windows as windows_lib
from wincls.model import features as features_lib
from wincls.train import workdir as workdir_lib

SUBSAMPLE_SEED = 0
BUCKET_MIN_LEN = 8
BUCKET_GROWTH = 1.5


@dataclasses.dataclass
class RunData:
  """A run's data, encoded for the model.

  Attributes:
    vocab: word ids.
    label_vocab: tag ids in ``config.label_scheme``.
    model_config: the model's static settings (sizes from the data).
    train_corpus: the training sentences (after ``train_fraction``).
    dev_corpus: the dev sentences.
    train: the training windows; ``labels`` are class ids (0/1 for
      ``output="score"``).
    dev: the dev windows, labelled likewise (open vocabulary: ``encode``).
    pretrained: ``[V, E]`` initial word vectors, or None (random).
    vectors_report: ``align_vectors``' coverage report, or None.
    extender: the pre-trained rows of words beyond the vocabulary, or None.
    feature_coverage: ``{feature: report}`` of the features with a ``coverage``
      (``FeatureSpec``): what they know of the dev corpus.
  """

  vocab: vocab_lib.Vocab
  label_vocab: vocab_lib.LabelVocab
  model_config: config_lib.ModelConfig
  train_corpus: conll.Corpus
  dev_corpus: conll.Corpus
  train: windows_lib.WindowedCorpus
  dev: windows_lib.WindowedCorpus
  pretrained: np.ndarray | None = None
  vectors_report: dict[str, Any] | None = None
  extender: Any = None  # vectors.Extender
  feature_coverage: dict[str, Any] = dataclasses.field(default_factory=dict)


def subsample(corpus: conll.Corpus, fraction: float) -> conll.Corpus:
  """``round(fraction · n)`` sentences (at least 1) drawn with ``SUBSAMPLE_SEED``.

  Kept in file order; the draw is a prefix of one fixed permutation, so a
  smaller fraction gives a subset of a larger one.
  """
  if fraction >= 1.0:
    return corpus
  n = len(corpus)
  k = max(1, int(round(fraction * n)))
  chosen = np.sort(np.random.default_rng(SUBSAMPLE_SEED).permutation(n)[:k])
  return corpus.subset([corpus.sentences[i] for i in chosen])


def _target_labels(label_vocab: vocab_lib.LabelVocab, target_type: str) -> np.ndarray:
  """bool ``[C]``: which labels belong to ``target_type``."""
  if target_type not in label_vocab.types:
    raise ValueError(f"--target_type={target_type!r} is not an entity type of the "
                     f"data; expected one of {', '.join(label_vocab.types)}")
  return np.array([tags_lib.io_type(t) == target_type for t in label_vocab.labels])


def load_splits(config: config_lib.Config) -> dict[str, conll.Corpus]:
  """``{"train": ..., "dev": ...}`` of ``config.dataset`` (or its files)."""
  return datasets.load_splits(config.dataset, data_dir=config.data_dir or None,
                              train_path=config.train_path or None,
                              dev_path=config.dev_path or None)


def load_run_vectors(config: config_lib.Config):
  """``(vec_words, matrix)`` of the run's ``--vectors`` (``--vectors_path``)."""
  from wincls.data import vectors as vectors_lib
  spec = config.vectors_path or config.vectors
  vec_words, matrix = vectors_lib.load_vectors(spec, dim=config.embed_dim)
  if matrix.shape[1] != config.embed_dim:
    raise ValueError(f"--vectors={spec} has dimension {matrix.shape[1]}; "
                     f"--embed_dim={config.embed_dim}")
  return vec_words, matrix


def _load_vectors(config: config_lib.Config, vocab_for_extension, train_corpus,
                  dev_corpus):
  """Pre-trained vectors: returns ``(vocab, table, report, extender)``."""
  from wincls.data import vectors as vectors_lib
  spec = config.vectors_path or config.vectors
  vec_words, matrix = load_run_vectors(config)
  vocab = vocab_for_extension
  if vocab is None:
    vocab = vocab_lib.Vocab.build(
        train_corpus.words, min_count=config.min_count, lowercase=config.lowercase,
        normalize_digits=config.normalize_digits)
    if config.vocab_include_dev:
      # Training words, plus the dev words the vectors know (their vectors are
      # pre-trained, not learned from dev labels; the usual practice).
      known = set(vec_words) | {w.lower() for w in vec_words}
      vocab = vocab.extend([w for s in dev_corpus.words for w in s
                            if vocab.normalize(w) in known or w in known])
  counts, forms = vectors_lib.corpus_counts(train_corpus.words,
                                            normalize=vocab.normalize)
  table, report = vectors_lib.align_vectors(
      vocab.words, vec_words, matrix, counts=counts, surface_forms=forms,
      seed=config.seed)
  logging.info("%s", vectors_lib.format_coverage(report, title=f"vectors {spec}"))
  return vocab, table, report, vectors_lib.Extender(vec_words, matrix)


def encode(corpus: conll.Corpus, config: config_lib.Config, *, vocab: vocab_lib.Vocab,
           label_vocab: vocab_lib.LabelVocab | None, extender=None
           ) -> windows_lib.WindowedCorpus:
  """A corpus as model inputs (module docstring: open vocabulary with ``extender``).

  Args:
    corpus: the sentences (tagged or not).
    config: the run's settings (window size, features, label scheme, output).
    vocab: the model's vocabulary.
    label_vocab: gold tags to class ids, or None (labels -1).
    extender: ``vectors.Extender`` of the run's vectors, or None (random vectors).

  Returns:
    The windows; labels 0/1 (is the target type) for ``output="score"``;
    ``new_rows`` set when words beyond ``vocab`` got pre-trained rows.
  """
  new_rows = None
  if extender is not None:
    types, new_rows = extender.new_rows(vocab.__contains__, corpus.words,
                                        normalize=vocab.normalize)
    vocab = vocab.extend(types)
  data = windows_lib.encode_corpus(
      corpus, vocab, window_size=config.window_size,
      feature_inputs=lambda words: features_lib.word_inputs(
          words, config, lengths=[len(s) for s in corpus.sentences]),
      label_vocab=label_vocab, label_scheme=config.label_scheme if label_vocab else None)
  if config.output == "score" and label_vocab is not None and corpus.scheme != conll.NO_TAGS:
    is_target = _target_labels(label_vocab, config.target_type)
    data = data._replace(labels=is_target[data.labels].astype(np.int32))
  return data._replace(new_rows=new_rows)


def _stored_vocabularies(workdir: str | os.PathLike | None):
  """``(vocab, label_vocab)`` read from ``workdir`` (each None when absent)."""
  if workdir is None:
    return None, None
  vocab_path = Path(workdir) / workdir_lib.VOCAB_FILE
  label_path = Path(workdir) / workdir_lib.LABELS_FILE
  vocab = vocab_lib.Vocab.load(vocab_path) if vocab_path.exists() else None
  label_vocab = (vocab_lib.LabelVocab.load(label_path) if label_path.exists()
                 else None)
  return vocab, label_vocab


def prepare_data(config: config_lib.Config, workdir: str | os.PathLike | None = None,
                 *, reuse_vocab: bool = True) -> RunData:
  """Reads the dataset and encodes it (may read ``workdir``; writes nothing).

  Args:
    config: the run's settings.
    workdir: a run's directory whose ``vocab.json``/``labels.json`` (those
      present) are reused when ``reuse_vocab`` (a resumed run encodes with the
      ids it trained with); None: build both.
    reuse_vocab: False ignores the vocabulary files of ``workdir``.

  Raises:
    ValueError, FileNotFoundError, conll.DataError: bad data or settings, with
      a message naming the flag or the file and line.
  """
  splits = load_splits(config)
  train_corpus = subsample(splits["train"], config.train_fraction)
  dev_corpus = splits["dev"]
  vocab, label_vocab = _stored_vocabularies(workdir if reuse_vocab else None)
  if label_vocab is None:
    # Types of train and dev: the label set belongs to the task, and a small
    # train_fraction may miss a rare type.
    label_vocab = vocab_lib.LabelVocab.from_tags(
        list(train_corpus.tags) + list(dev_corpus.tags), scheme=config.label_scheme)
  pretrained = report = extender = None
  if config.vectors != "random":
    vocab, pretrained, report, extender = _load_vectors(config, vocab, train_corpus,
                                                        dev_corpus)
  elif config.vectors_path:
    raise ValueError("--vectors_path is set but --vectors=random; pass --vectors="
                     "file (or a name) to use it")
  if vocab is None:
    vocab = vocab_lib.Vocab.build(
        train_corpus.words, min_count=config.min_count, lowercase=config.lowercase,
        normalize_digits=config.normalize_digits)
  _check_corruptible(config, vocab)
  train = encode(train_corpus, config, vocab=vocab, label_vocab=label_vocab)
  dev = encode(dev_corpus, config, vocab=vocab, label_vocab=label_vocab,
               extender=extender)
  model_config = config.model_config(vocab_size=len(vocab), num_classes=len(label_vocab))
  return RunData(vocab=vocab, label_vocab=label_vocab, model_config=model_config,
                 train_corpus=train_corpus, dev_corpus=dev_corpus, train=train,
                 dev=dev, pretrained=pretrained, vectors_report=report,
                 extender=extender, feature_coverage=feature_coverage(config, dev_corpus))


def feature_coverage(config: config_lib.Config, corpus: conll.Corpus) -> dict[str, Any]:
  """``{feature: report}`` of the run's features with a ``coverage`` on ``corpus``
  (each logged as the vectors' coverage is)."""
  reports = {}
  for name in config.features:
    spec = features_lib.get(name)
    if spec.coverage is not None:
      reports[name], text = spec.coverage(corpus, config)
      logging.info("%s", text)
  return reports


def _check_corruptible(config: config_lib.Config, vocab: vocab_lib.Vocab) -> None:
  """ValueError naming --min_count when a corrupted-window loss has no word to
  draw a corrupted centre from (only the reserved ids are left)."""
  from wincls.model import losses  # pylint: disable=g-import-not-at-top
  if (losses.get(config.loss, config.output).kind == "corrupted"
      and len(vocab) <= losses.FIRST_WORD_ID):
    raise ValueError(f"--min_count={config.min_count} leaves no training word in the "
                     f"vocabulary (only its {len(vocab)} reserved ids), and "
                     f"--loss={config.loss}'s corrupted windows draw their centre word "
                     "from it: lower --min_count")


def token_arrays(data: windows_lib.WindowedCorpus) -> dict[str, np.ndarray]:
  """``{"window_ids": [N, W], "feature_ids": [N, W, K], "labels": [N]}``."""
  return {"window_ids": data.window_ids, "feature_ids": data.feature_ids,
          "labels": data.labels}


def bucket_lengths(max_length: int) -> list[int]:
  """The ladder of padded lengths ``8, 12, 18, ...`` up to ``max_length``."""
  ladder = [BUCKET_MIN_LEN]
  while ladder[-1] < max_length:
    ladder.append(int(math.ceil(ladder[-1] * BUCKET_GROWTH)))
  return ladder


@dataclasses.dataclass
class Bucket:
  """Sentences padded to one length T.

  Attributes:
    length: T.
    sentences: int ``[S_b]`` indices of the sentences (in corpus order).
    arrays: ``{"window_ids": [S_b, T, W], "feature_ids": [S_b, T, W, K],
      "labels": [S_b, T], "mask": [S_b, T]}`` (mask float 1 for real tokens).
    batch_size: sentences per training step, ``max(1, batch_size // T)``.
  """

  length: int
  sentences: np.ndarray
  arrays: dict[str, np.ndarray]
  batch_size: int


def sentence_buckets(data: windows_lib.WindowedCorpus, *, batch_size: int) -> list[Bucket]:
  """Groups the sentences into length buckets (module docstring)."""
  lengths = np.asarray(data.lengths, np.int64)
  starts = np.cumsum(lengths) - lengths
  ladder = np.asarray(bucket_lengths(int(lengths.max(initial=1))))
  which = np.searchsorted(ladder, lengths)  # first rung >= length
  buckets = []
  for b, length in enumerate(ladder):
    chosen = np.flatnonzero(which == b)
    if chosen.size == 0:
      continue
    positions = np.arange(length)[None, :]
    mask = positions < lengths[chosen][:, None]  # [S_b, T]
    rows = np.where(mask, starts[chosen][:, None] + positions, 0)
    arrays = {
        "window_ids": np.where(mask[..., None], data.window_ids[rows], 0),
        "feature_ids": np.where(mask[..., None, None], data.feature_ids[rows], 0),
        "labels": np.where(mask, data.labels[rows], 0).astype(np.int32),
        "mask": mask.astype(np.float32),
    }
    buckets.append(Bucket(length=int(length), sentences=chosen, arrays=arrays,
                          batch_size=max(1, batch_size // int(length))))
  return buckets


def data_digest(data: RunData) -> str:
  """What must be the same in every process of a run: vocabularies and data."""
  return json.dumps([list(data.vocab.words), list(data.label_vocab.labels),
                     data.train.window_ids.shape, int(data.train.labels.sum()),
                     data.dev.window_ids.shape])
