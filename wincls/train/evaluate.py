"""The model as a tagger: predictions, tags of the label scheme, conlleval scores.

Predictions are decoded to tags of the label scheme (argmax, or Viterbi for
the CRF) and scored against the gold tags of the original file with conlleval
semantics (``wincls.metrics``). A loaded tagger tags with one seed, or with
all of the run's seeds as an ensemble (``Tagger.load(W, ensemble=True)``;
the rule per output kind: ``wincls.train.ensemble``); one seed is the
ensemble of a ``[1, ...]`` slice. ``output="score"`` runs are binary detectors
of ``target_type`` (decision ``s > 0``) scored by token-level detection
P/R/F1; their ``dev_f1`` is that detection F1. ``wincls.train.records`` turns
the scores into ``metrics.jsonl`` rows and ``results.json``'s entries.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from wincls import config as config_lib
from wincls import metrics as metrics_lib
from wincls.data import conll
from wincls.data import tags as tags_lib
from wincls.data import text as text_lib
from wincls.data import vocab as vocab_lib
from wincls.data import windows as windows_lib
from wincls.model import features as features_lib
from wincls.model import losses
from wincls.train import distributed
from wincls.train import ensemble as ensemble_lib
from wincls.train import inputs as inputs_lib
from wincls.train import prepare
from wincls.train import programs
from wincls.train import saved_run
from wincls.train import workdir as workdir_lib

Array = jax.Array

EVAL_BATCH_SIZE = 2048  # windows per evaluation step (sentences: / T)

# Keys of metrics.jsonl rows that measure time and differ between identical runs.
TIMING_KEYS = ("windows_per_sec", "epoch_time", "eval_time", "compile_time",
               "wall_time")


def output_scheme(corpus_scheme: str) -> str:
  """The scheme predictions are written in: IOB1 for IOB1 input, else IOB2.

  Both have only B-/I- prefixes, which the original conlleval script reads.
  """
  return "iob1" if corpus_scheme == "iob1" else "iob2"


class Tagger:
  """Predicts, scores and writes tags with (a stack of) parameters.

  Args:
    model_config: the model's settings.
    config: the run's config (loss, output, label scheme, window, features).
    label_vocab: the labels.
    vocab: the model's vocabulary (``encode``).
    extender: the run's pre-trained vectors as a ``vectors.Extender`` (open
      vocabulary, ``prepare.encode``), or None.
    layout: devices to split the evaluation batches over (None: one device).
    params: parameters with a seed axis ``[S, ...]`` for ``tag``/``tag_corpus``,
      which tag with their ensemble (``predict_ensemble``; ``Tagger.load`` sets
      them: one seed, or every seed with ``ensemble=True``), or None.
  """

  # Of the run's seeds, for a loaded tagger: the ones in ``params``, and that
  # one seed's index (None for an ensemble).
  seed_indices: tuple[int, ...] = (0,)
  seed_index: int | None = 0

  def __init__(self, model_config: config_lib.ModelConfig, config: config_lib.Config,
               label_vocab: vocab_lib.LabelVocab, *,
               vocab: vocab_lib.Vocab | None = None, extender: Any = None,
               layout: distributed.Layout | None = None, params: Any = None):
    self.model_config = model_config
    self.config = config
    self.label_vocab = label_vocab
    self.vocab = vocab
    self.extender = extender
    self.layout = layout
    self.params = params

  @classmethod
  def load(cls, workdir, *, seed_index: int | None = None,
           ensemble: bool = False) -> "Tagger":
    """The best checkpoint of a finished (or running) run as a tagger.

    Args:
      workdir: a run's workdir (reads ``config.json``, ``vocab.json``,
        ``labels.json``, ``checkpoints/best`` and, if present and readable,
        ``results.json`` for the best seed; the run's pre-trained vectors when
        it used some).
      seed_index: which replica (default: the best on dev).
      ensemble: tag with every seed of the run (``wincls.train.ensemble``);
        not with ``seed_index``.
    """
    return load_tagger(workdir, seed_index=seed_index, ensemble=ensemble)

  def _put(self, arrays: dict[str, np.ndarray]) -> dict[str, Array]:
    if self.layout is None:
      return jax.tree.map(jnp.asarray, arrays)
    return distributed.put_replicated(arrays, self.layout)

  def encode(self, corpus: conll.Corpus) -> windows_lib.WindowedCorpus:
    """``prepare.encode`` with this tagger's vocabulary and vectors (gold labels kept)."""
    has_gold = corpus.scheme != conll.NO_TAGS
    return prepare.encode(corpus, self.config, vocab=self.vocab,
                          label_vocab=self.label_vocab if has_gold else None,
                          extender=self.extender)

  def predict(self, params: Any, data: windows_lib.WindowedCorpus) -> np.ndarray:
    """Per-seed predictions ``[S, N]`` (class ids, or scores for output="score").

    Args:
      params: parameters with a leading seed axis ``[S, ...]``.
      data: the encoded corpus; its ``new_rows`` (open vocabulary) are appended
        to every seed's word table.
    """
    return self._run(lambda batch_size: programs.eval_fn(
        self.model_config, self.config.loss, batch_size, self.layout), params, data,
                     lead=(jax.tree.leaves(params)[0].shape[0],))

  def predict_ensemble(self, params: Any, data: windows_lib.WindowedCorpus
                       ) -> np.ndarray:
    """The seeds' combined predictions ``[N]`` (``wincls.train.ensemble``).

    One program vmapped over the seed axis of ``params`` ``[S, ...]``; with
    ``S = 1`` it decodes what ``predict`` gives that seed.
    """
    rule = ensemble_lib.rule_of(self.config.loss, self.config.output)
    return self._run(lambda batch_size: ensemble_lib.tag_fn(
        self.model_config, rule, batch_size, self.layout), params, data, lead=())

  def _run(self, program, params: Any, data: windows_lib.WindowedCorpus, *,
           lead: tuple[int, ...]) -> np.ndarray:
    """``program(batch_size)(params, arrays)`` over the corpus: one call on the
    token windows, or one per sentence bucket (a sentence loss), whose ``[...,
    S_b, T]`` tags go back to the tokens' rows: ``lead + [N]``."""
    if data.new_rows is not None and len(data.new_rows):
      params = _with_new_rows(params, data.new_rows)
    if not losses.is_sentence(self.config.loss):
      arrays = {"window_ids": data.window_ids, "feature_ids": data.feature_ids}
      return np.asarray(program(EVAL_BATCH_SIZE)(params, self._put(arrays)))
    out = np.zeros(lead + (data.window_ids.shape[0],), np.int32)
    starts = np.cumsum(data.lengths) - data.lengths
    for bucket in prepare.sentence_buckets(data, batch_size=1):
      arrays = {k: v for k, v in bucket.arrays.items() if k != "labels"}
      fn = program(max(1, EVAL_BATCH_SIZE // bucket.length))
      tags = np.asarray(fn(params, self._put(arrays)))  # lead + [S_b, T]
      mask = bucket.arrays["mask"].astype(bool)
      rows = (starts[bucket.sentences][:, None] + np.arange(bucket.length)[None, :])
      out[..., rows[mask]] = tags[..., mask]
    return out

  def to_tags(self, predictions: np.ndarray, lengths: np.ndarray, *,
              scheme: str | None = None) -> list[list[str]]:
    """One seed's predictions ``[N]`` as per-sentence tags.

    Args:
      predictions: class ids, or scores (output="score": ``I-<target_type>``
        where the score is > 0, else ``O``).
      lengths: ``[num_sentences]``.
      scheme: convert to this scheme (``output_scheme``); None: the label scheme.
    """
    if self.config.output == "score":
      target = f"I-{self.config.target_type}"
      flat, source = [target if s > 0 else "O" for s in predictions], "io"
    else:
      flat, source = self.label_vocab.decode(predictions), self.label_vocab.scheme
    out, start = [], 0
    for n in np.asarray(lengths):
      sentence = flat[start:start + int(n)]
      start += int(n)
      out.append(sentence if scheme is None else
                 tags_lib.to_scheme(sentence, source=source, target=scheme))
    return out

  def evaluate(self, predictions: np.ndarray, corpus: conll.Corpus,
               data: windows_lib.WindowedCorpus) -> dict[str, Any]:
    """Scores of one seed's predictions ``[N]`` against the corpus' gold tags.

    Returns:
      ``{"precision", "recall", "f1", "accuracy", ...}``: entity scores
      (``metrics.evaluate_tags``) for a multiclass tagger, token detection
      scores (``metrics.detection_scores``) for output="score".
    """
    if self.config.output == "score":
      gold = [tags_lib.io_type(t) == self.config.target_type
              for tags in corpus.tags for t in tags]
      return metrics_lib.detection_scores(np.array(gold, bool), predictions > 0,
                                          scores=predictions)
    return metrics_lib.evaluate_tags(
        corpus.tags, self.to_tags(predictions, data.lengths), gold_scheme=corpus.scheme,
        label_scheme=self.label_vocab.scheme, labels=self.label_vocab.labels)

  def write_conll(self, path, corpus: conll.Corpus, predictions: np.ndarray,
                  data: windows_lib.WindowedCorpus) -> None:
    """``word [gold] pred`` lines in ``output_scheme(corpus.scheme)`` (conlleval reads it)."""
    conll.write_conll(path, corpus.words, *self._conll_columns(corpus, predictions, data))

  def conll_text(self, corpus: conll.Corpus, predictions: np.ndarray,
                 data: windows_lib.WindowedCorpus) -> str:
    """The text ``write_conll`` writes."""
    return conll.format_conll(corpus.words,
                              *self._conll_columns(corpus, predictions, data))

  def _conll_columns(self, corpus, predictions, data):
    """``(gold or None, pred)`` per sentence in ``output_scheme(corpus.scheme)``."""
    scheme = output_scheme(corpus.scheme)
    gold = None
    if corpus.scheme != conll.NO_TAGS:
      gold = [tags_lib.to_scheme(t, source=corpus.scheme, target=scheme)
              for t in corpus.tags]
    return gold, self.to_tags(predictions, data.lengths, scheme=scheme)

  def tag_corpus(self, corpus: conll.Corpus) -> tuple[np.ndarray, windows_lib.WindowedCorpus]:
    """``(predictions [N], data)`` of ``self.params``' seeds (their ensemble;
    one seed: its own) on a corpus."""
    if self.params is None:
      raise ValueError("Tagger.tag needs parameters: use Tagger.load(workdir)")
    data = self.encode(corpus)
    return self.predict_ensemble(self.params, data), data

  def tag(self, tokens: Sequence[str]) -> dict[str, Any]:
    """Entities of one tokenised sentence.

    Returns:
      ``{"tokens": [...], "tags": [IOB2 tags], "entities": [{"start", "end",
      "type", "text"}]}`` with ``end`` exclusive (token indices) and ``text`` the
      entity's tokens joined by spaces.
    """
    return self.tag_sentences([_token_list(tokens, "Tagger.tag")])[0]

  def tag_sentences(self, sentences: Sequence[Sequence[str]]) -> list[dict[str, Any]]:
    """``tag`` of several sentences in one pass (one result each, empty ones too)."""
    if isinstance(sentences, (str, bytes)) or not isinstance(sentences, Iterable):
      raise TypeError(f"Tagger.tag_sentences expects a list of sentences, not a "
                      f"{type(sentences).__name__}")
    sentences = [_token_list(s, f"Tagger.tag_sentences: sentence {i + 1}")
                 for i, s in enumerate(sentences)]
    return self.tag_lines(text_lib.corpus_of_words(sentences), len(sentences))

  def tag_lines(self, corpus: conll.Corpus, num_lines: int) -> list[dict[str, Any]]:
    """``tag``'s result for each of lines ``1..num_lines`` of an untagged corpus.

    A line without a sentence (blank, or an empty token list) gets ``{"tokens":
    [], "tags": [], "entities": []}``, so the results stay aligned with the input.
    """
    by_line = {}
    if corpus.sentences:  # nothing to tag: every line is blank
      predictions, data = self.tag_corpus(corpus)
      by_line = {sentence.line: result for sentence, result in
                 zip(corpus.sentences, self.sentences_of(corpus, predictions, data))}
    empty = {"tokens": [], "tags": [], "entities": []}
    return [by_line.get(number, empty) for number in range(1, num_lines + 1)]

  def sentences_of(self, corpus: conll.Corpus, predictions: np.ndarray,
                   data: windows_lib.WindowedCorpus) -> list[dict[str, Any]]:
    """Per sentence ``{"tokens", "tags" (IOB2), "entities"}`` (``tag``'s format)."""
    out = []
    for words, tags in zip(corpus.words, self.to_tags(predictions, data.lengths,
                                                      scheme="iob2")):
      entities = [{"start": start, "end": end, "type": type_,
                   "text": " ".join(words[start:end])}
                  for type_, start, end in tags_lib.spans(tags)]
      out.append({"tokens": list(words), "tags": tags, "entities": entities})
    return out


def load_tagger(workdir: str | os.PathLike, *, seed_index: int | None = None,
                ensemble: bool = False, open_vocab: bool = True) -> Tagger:
  """``Tagger`` with one seed's best parameters, or every seed's (``Tagger.load``).

  ``ensemble=True`` takes the seeds that finished an epoch (``ensemble_seeds``),
  so a run of one seed is its own ensemble. ``open_vocab=False`` encodes words
  outside the training vocabulary as ``<unk>`` even when the run's vectors
  know them (to measure what the open vocabulary is worth).
  """
  check_workdir(workdir)
  if not isinstance(ensemble, (bool, np.bool_)):
    raise ValueError(f"--ensemble={ensemble!r} must be True or False")
  if seed_index is not None and (isinstance(seed_index, bool) or
                                 not isinstance(seed_index, (int, np.integer))):
    raise ValueError(f"--seed_index={seed_index!r} must be an integer (or None: the "
                     "best seed on dev)")
  if ensemble and seed_index is not None:
    raise ValueError(f"--seed_index={seed_index} and --ensemble exclude each other: "
                     "--ensemble tags with every seed of the run, --seed_index with one")
  config, vocab, label_vocab, model_config, best, results = saved_run.load_run(workdir)
  if ensemble:
    seed_indices = ensemble_lib.ensemble_seeds(best["epoch"])
    if not seed_indices:
      raise ValueError(f"--ensemble: no seed of {workdir} has finished an epoch "
                       "(checkpoints/best holds no trained parameters)")
  else:
    if seed_index is None:
      seed_index = (results["best_seed_index"]
                    if results and "best_seed_index" in results
                    else int(np.argmax(np.asarray(best["f1"]))))
    if not 0 <= seed_index < config.num_seeds:
      raise ValueError(f"--seed_index={seed_index} must be in [0, {config.num_seeds}) "
                       f"(the run has {config.num_seeds} seeds)")
    seed_indices = [int(seed_index)]
  extender = None
  reads_vectors = config.vectors != "random" and open_vocab
  if inputs_lib.feature_files(config) or reads_vectors:
    # What tagging reads besides the checkpoint: the vectors file (rows for
    # words beyond the vocabulary) and a word feature's files (the gazetteer's
    # lists). Other contents would tag with what the model was not trained on,
    # so their fingerprints are checked, after each feature's data side has
    # made its files (the default lists, built on first use).
    for name in config.features:
      features_lib.check_inputs(name, features_lib.get(name), config)
    config_path = Path(workdir) / workdir_lib.CONFIG_FILE
    inputs_lib.check(workdir_lib.read_json(config_path), config, source=config_path,
                     only_vectors=True)
  if reads_vectors:
    from wincls.data import vectors as vectors_lib
    extender = vectors_lib.Extender(*prepare.load_run_vectors(config))
  tagger = Tagger(model_config, config, label_vocab, vocab=vocab, extender=extender,
                  params=ensemble_lib.select_seeds(best["params"], seed_indices))
  tagger.seed_indices = tuple(seed_indices)
  tagger.seed_index = None if ensemble else seed_indices[0]
  return tagger


def check_workdir(workdir) -> None:
  """ValueError for a workdir that is None or empty (it would mean the current
  directory)."""
  if workdir is None or not str(workdir):
    raise ValueError("--workdir is empty; expected the workdir of a run of train.py")


def _token_list(tokens: Any, what: str) -> list[str]:
  """``tokens`` (any iterable of str: a list, tuple, generator, numpy array) as a
  list; TypeError for a str (it would be tagged character by character), bytes,
  a mapping or something not iterable. The tokens' types are checked by
  ``text.corpus_of_words``."""
  if isinstance(tokens, (str, bytes, Mapping)) or not isinstance(tokens, Iterable):
    raise TypeError(f"{what} expects a list of tokens, not a {type(tokens).__name__} "
                    "(split a text first: tag(text.split()), or "
                    "wincls.data.text.tokenize)")
  return list(tokens)


def _with_new_rows(params: Any, rows: np.ndarray) -> Any:
  """Every seed's word table ``[S, V, E]`` with ``rows [n, E]`` appended."""
  words = params["embed"]["words"]
  extra = jnp.broadcast_to(jnp.asarray(rows, words.dtype),
                           (words.shape[0],) + tuple(rows.shape))
  embed = dict(params["embed"], words=jnp.concatenate([words, extra], axis=1))
  return dict(params, embed=embed)
