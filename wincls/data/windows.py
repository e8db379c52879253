"""Word windows: each token with the m tokens on either side of it.

A corpus is held as its tokens concatenated (``[num_tokens]`` ids) and its
sentence lengths (``[num_sentences]``). ``make_windows`` builds every token's
window at once with NumPy index arithmetic, so windowing all 203,621 tokens of
CoNLL-2003's training set takes milliseconds (``benchmarks/windowing.py``).
Positions before a sentence's first token get ``pad_left`` (the ``<s>`` id for
words, the padding id 0 for features), positions after its last token get
``pad_right`` (``</s>``, or 0).
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from wincls.data import tags as tags_lib
from wincls.data import vocab as vocab_lib
from wincls.data.conll import Corpus, DataError, NO_TAGS


def make_windows(ids: np.ndarray, lengths: np.ndarray, *, half_width: int,
                 pad_left, pad_right) -> np.ndarray:
  """Every token's window of ``2 * half_width + 1`` ids, padded at sentence edges.

  Args:
    ids: int ``[num_tokens]`` or ``[num_tokens, K]``: the tokens of all
      sentences, concatenated.
    lengths: int ``[num_sentences]``, summing to ``num_tokens``; zero-length
      sentences are allowed and contribute nothing.
    half_width: m >= 0, the number of neighbours on each side.
    pad_left: id for positions before a sentence's start (scalar, or ``[K]``).
    pad_right: id for positions after a sentence's end (scalar, or ``[K]``).

  Returns:
    int32 ``[num_tokens, 2m+1]`` (or ``[num_tokens, 2m+1, K]``): row t holds
    tokens ``t-m .. t+m``, column m being token t itself.
  """
  ids = np.asarray(ids)
  lengths = np.asarray(lengths)
  if ids.ndim not in (1, 2):
    raise ValueError(f"make_windows: ids must be [num_tokens] or [num_tokens, K], "
                     f"got shape {ids.shape}")
  if lengths.ndim != 1 or (lengths.size and (
      not np.issubdtype(lengths.dtype, np.integer) or lengths.min() < 0)):
    raise ValueError("make_windows: lengths must be non-negative integers "
                     f"[num_sentences], got {lengths.dtype} {lengths.shape}")
  if int(lengths.sum()) != ids.shape[0]:
    raise ValueError(f"make_windows: lengths sum to {int(lengths.sum())} but ids "
                     f"has {ids.shape[0]} tokens")
  if int(half_width) != half_width or half_width < 0:
    raise ValueError(f"make_windows: half_width={half_width} must be an integer >= 0")
  m = int(half_width)
  num_tokens = ids.shape[0]
  width = 2 * m + 1
  if num_tokens == 0:
    return np.zeros((0, width) + ids.shape[1:], dtype=np.int32)
  lengths = lengths.astype(np.int64)
  # Each token's sentence start and end (exclusive), as flat positions.
  starts = np.repeat(np.cumsum(lengths) - lengths, lengths)  # [num_tokens]
  ends = starts + np.repeat(lengths, lengths)  # [num_tokens]
  positions = np.arange(num_tokens)[:, None] + np.arange(-m, m + 1)[None, :]
  windows = ids.astype(np.int32, copy=False)[np.clip(positions, 0, num_tokens - 1)]
  before = positions < starts[:, None]  # [num_tokens, W]
  after = positions >= ends[:, None]
  if ids.ndim == 2:
    before, after = before[..., None], after[..., None]
  pad_left = np.asarray(pad_left, dtype=np.int32)
  pad_right = np.asarray(pad_right, dtype=np.int32)
  for name, pad in (("pad_left", pad_left), ("pad_right", pad_right)):
    if pad.shape not in ((), ids.shape[1:]):
      raise ValueError(f"make_windows: {name} must be a scalar or "
                       f"{list(ids.shape[1:])}, got shape {list(pad.shape)}")
  windows = np.where(before, pad_left, windows)
  windows = np.where(after, pad_right, windows)
  return windows.astype(np.int32, copy=False)


class WindowedCorpus(NamedTuple):
  """A corpus as model inputs, one row per token (sentences concatenated).

  Attributes:
    window_ids: int32 ``[N, 2m+1]`` word ids (``<s>``/``</s>`` outside the
      sentence).
    feature_ids: int32 ``[N, 2m+1, K]`` feature ids (0 outside the sentence),
      K = number of feature names; ``[N, 2m+1, 0]`` without features.
    labels: int32 ``[N]`` class ids of the tags in the label scheme (-1 for
      an untagged corpus or when no LabelVocab was given).
    lengths: int32 ``[num_sentences]``, to split rows back into sentences.
    new_rows: float32 ``[n, E]``: the pre-trained vectors of word ids ``V ..
      V + n - 1``, words of this corpus beyond the model's vocabulary of V words
      that the run's vectors know (open-vocabulary encoding,
      ``wincls.train.prepare.encode``); None: every id is below V.
  """

  window_ids: np.ndarray
  feature_ids: np.ndarray
  labels: np.ndarray
  lengths: np.ndarray
  new_rows: np.ndarray | None = None


def encode_corpus(corpus: Corpus, vocab: vocab_lib.Vocab, *, window_size: int,
                  features: Sequence[str] = (),
                  label_vocab: vocab_lib.LabelVocab | None = None,
                  label_scheme: str | None = None,
                  feature_inputs=None) -> WindowedCorpus:
  """Turns a corpus into window arrays for the model.

  Args:
    corpus: the sentences (their tags are in ``corpus.scheme``).
    vocab: word ids.
    window_size: the half-width m.
    features: feature names (keys of ``vocab.FEATURES``), in the order of the
      last axis of ``feature_ids``.
    label_vocab: tag ids; None gives labels -1.
    label_scheme: scheme of the labels; the tags are converted to it from
      ``corpus.scheme`` by ``tags.to_scheme`` (also when the schemes are equal,
      which makes invalid gold sequences canonical, as the metrics read them).
      None: ``label_vocab.scheme``.
    feature_inputs: ``words -> int [num_words, K]``, the per-word feature inputs
      (``wincls.model.features.word_inputs``); None: ``vocab.feature_ids`` of
      ``features``.

  Returns:
    A ``WindowedCorpus``.

  Raises:
    DataError: a tag (after conversion) is not in ``label_vocab``, naming the
      file and line of the token.
  """
  lengths = np.asarray([len(s) for s in corpus.sentences], dtype=np.int32)
  words = [w for s in corpus.sentences for w in s.words]
  word_ids = vocab.encode(words)
  window_ids = make_windows(word_ids, lengths, half_width=window_size,
                            pad_left=vocab_lib.BOS, pad_right=vocab_lib.EOS)
  if feature_inputs is None:
    inputs = vocab_lib.feature_ids(words, features)
  else:
    inputs = np.asarray(feature_inputs(words), np.int32).reshape(len(words), -1)
  feature_ids = make_windows(inputs, lengths,
                             half_width=window_size,
                             pad_left=vocab_lib.FEATURE_PAD,
                             pad_right=vocab_lib.FEATURE_PAD)
  if label_vocab is None or corpus.scheme == NO_TAGS:
    labels = np.full(len(words), -1, dtype=np.int32)
  else:
    scheme = label_scheme or label_vocab.scheme
    if scheme != label_vocab.scheme:
      raise ValueError(f"label_scheme={scheme!r} but the LabelVocab's labels are "
                       f"{label_vocab.scheme!r}")
    labels = np.empty(len(words), dtype=np.int32)
    offset = 0
    for sentence in corpus.sentences:
      converted = tags_lib.to_scheme(sentence.tags, source=corpus.scheme,
                                     target=scheme)
      for i, tag in enumerate(converted):
        if tag not in label_vocab:
          raise DataError(corpus.path, sentence.line + i,
                          f"tag {sentence.tags[i]!r} ({tag!r} in {scheme}) is "
                          f"not among the {len(label_vocab)} labels "
                          f"{list(label_vocab.labels)}; expected a type seen in "
                          "training")
      labels[offset:offset + len(converted)] = label_vocab.encode(converted)
      offset += len(converted)
  return WindowedCorpus(window_ids=window_ids, feature_ids=feature_ids,
                        labels=labels, lengths=lengths)
