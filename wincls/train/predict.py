"""A finished run as a tagger of new files: ``predict_file(workdir, input, output)``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from wincls import config as config_lib
from wincls import metrics as metrics_lib
from wincls.model import network
from wincls.data import conll
from wincls.data import tags as tags_lib
from wincls.data import vocab as vocab_lib
from wincls.data import windows as windows_lib
from wincls.train import evaluate
from wincls.train import workdir as workdir_lib


def load_run(workdir: str | os.PathLike):
  """``(config, vocab, label_vocab, model_config, best, results)`` of a run.

  ``best`` is ``checkpoints/best``: ``{"params": [S, ...], "epoch": [S],
  "f1": [S]}``; ``results`` is ``results.json`` (None for an unfinished run).

  Raises:
    FileNotFoundError: the workdir lacks a finished run's files.
  """
  workdir = Path(workdir)
  for name in (workdir_lib.CONFIG_FILE, workdir_lib.VOCAB_FILE, workdir_lib.LABELS_FILE):
    if not (workdir / name).exists():
      raise FileNotFoundError(f"{workdir / name}: missing; expected the workdir of "
                              "a run of experiments/train.py")
  best_path = workdir_lib.checkpoint_path(workdir, workdir_lib.BEST)
  if not best_path.exists():
    raise FileNotFoundError(f"{best_path}: missing; the run has not finished an "
                            "epoch yet")
  config = config_lib.Config.from_dict(
      workdir_lib.read_json(workdir / workdir_lib.CONFIG_FILE))
  vocab = vocab_lib.Vocab.load(workdir / workdir_lib.VOCAB_FILE)
  label_vocab = vocab_lib.LabelVocab.load(workdir / workdir_lib.LABELS_FILE)
  model_config = config.model_config(
      vocab_size=len(vocab),
      feature_sizes=tuple(vocab_lib.FEATURE_SIZES[f] for f in config.features),
      num_classes=len(label_vocab))
  params = network.init_params(jax.random.key(0), config=model_config)
  params = jax.tree.map(lambda x: jnp.zeros((config.num_seeds,) + x.shape, x.dtype), params)
  target = {"params": params, "epoch": np.zeros(config.num_seeds, np.int64),
            "f1": np.zeros(config.num_seeds)}
  best = workdir_lib.restore(best_path, target)
  results_path = workdir / workdir_lib.RESULTS_FILE
  results = workdir_lib.read_json(results_path) if results_path.exists() else None
  best["params"] = jax.tree.map(jnp.asarray, best["params"])
  return config, vocab, label_vocab, model_config, best, results


def read_input(path: str | os.PathLike) -> conll.Corpus:
  """A CoNLL file with or without gold tags: one column = words only."""
  if not Path(path).is_file():
    return conll.read_conll(path)  # raises its DataError (missing, a directory)
  with open(path, encoding="utf-8-sig", errors="replace") as f:
    for line in f:
      columns = line.split()
      if columns and columns[0] != conll.DOCSTART:
        return conll.read_conll(path, has_tags=len(columns) > 1)
  return conll.read_conll(path)  # raises the reader's error for an empty file


def predict_file(workdir: str | os.PathLike, input_path: str | os.PathLike,
                 output_path: str | os.PathLike, *, seed_index: int | None = None
                 ) -> dict[str, Any]:
  """Tags a CoNLL file with run ``workdir``'s best checkpoint.

  Writes ``word gold pred`` lines (``word pred`` when the input has no tags),
  sentences separated by blank lines (conlleval reads it).

  Args:
    workdir: a run's workdir.
    input_path: CoNLL file; one column = words only, else the last column is gold.
    output_path: where to write.
    seed_index: which replica (default: the best on dev).

  Returns:
    ``{"seed_index", "seed", "num_sentences", "num_tokens", "scores"}`` with
    ``scores`` the P/R/F1 dict when gold tags are present, else None.
  """
  config, vocab, label_vocab, model_config, best, results = load_run(workdir)
  if seed_index is None:
    seed_index = (results["best_seed_index"] if results is not None
                  else int(np.argmax(np.asarray(best["f1"]))))
  if not 0 <= seed_index < config.num_seeds:
    raise ValueError(f"--seed_index={seed_index} must be in [0, {config.num_seeds}) "
                     f"(the run has {config.num_seeds} seeds)")
  corpus = read_input(input_path)
  data = windows_lib.encode_corpus(corpus, vocab, window_size=config.window_size,
                                   features=config.features)
  params = jax.tree.map(lambda x: x[seed_index:seed_index + 1], best["params"])
  tagger = evaluate.Tagger(model_config, config, label_vocab)
  predictions = tagger.predict(params, data)[0]
  pred_tags = tagger.to_tags(predictions, data.lengths)
  has_gold = corpus.scheme != conll.NO_TAGS
  conll.write_conll(output_path, corpus.words, corpus.tags if has_gold else None,
                    pred_tags)
  scores = None
  if has_gold:
    if config.output == "score":
      gold = np.array([tags_lib.io_type(t) == config.target_type
                       for s in corpus.tags for t in s])
      scores = metrics_lib.detection_scores(gold, predictions > 0)
    else:
      scores = metrics_lib.entity_scores(corpus.tags, pred_tags)
  return {"seed_index": seed_index, "seed": config.seed + seed_index,
          "num_sentences": len(corpus), "num_tokens": corpus.num_tokens,
          "scores": scores}
