"""A run as a tagger of new text: ``load_tagger(workdir)``, ``predict_file(...)``.

Prediction needs only what it reads: ``config.json``, ``vocab.json``,
``labels.json`` and ``checkpoints/best`` (plus the run's pre-trained vectors,
if it used some, for open-vocabulary encoding: ``prepare.encode``).
``results.json`` only names the best seed; when it is missing or damaged the
best seed is read from the checkpoint's own dev F1.

Inputs (``predict_file``): a CoNLL file (one token per line; one column =
words only, more = the last holds gold tags) written back as ``word [gold]
pred`` lines in the input's scheme (IOB1 for IOB1 input, else IOB2: the
original conlleval script reads both); or plain text (``input_format="text"``,
one sentence per line, ``wincls.data.text``) written as JSON lines ``{"text",
"tokens", "entities": [{"start", "end", "type", "text"}]}`` (``end``
exclusive), one per input line in order: a blank line gives ``{"text": "",
"tokens": [], "entities": []}``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from wincls import config as config_lib
from wincls.data import conll
from wincls.data import text as text_lib
from wincls.data import vocab as vocab_lib
from wincls.model import network
from wincls.train import evaluate
from wincls.train import prepare
from wincls.train import workdir as workdir_lib

INPUT_FORMATS = ("conll", "text")


def load_run(workdir: str | os.PathLike):
  """``(config, vocab, label_vocab, model_config, best, results)`` of a run.

  ``best`` is ``checkpoints/best``: ``{"params": [S, ...], "epoch": [S],
  "f1": [S]}``; ``results`` is ``results.json`` (None when the run is
  unfinished or the file cannot be read: prediction does not need it).

  Raises:
    FileNotFoundError: the workdir lacks a run's config, vocabularies or best
      checkpoint.
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
  params = jax.eval_shape(lambda: network.init_params(jax.random.key(0),
                                                      config=model_config))
  params = jax.tree.map(lambda x: np.zeros((config.num_seeds,) + x.shape, x.dtype), params)
  target = {"params": params, "epoch": np.zeros(config.num_seeds, np.int64),
            "f1": np.zeros(config.num_seeds)}
  best = workdir_lib.restore(best_path, target)
  best["params"] = jax.tree.map(jnp.asarray, best["params"])
  return config, vocab, label_vocab, model_config, best, _read_results(workdir)


def _read_results(workdir: Path) -> dict[str, Any] | None:
  path = workdir / workdir_lib.RESULTS_FILE
  try:
    return workdir_lib.read_json(path) if path.exists() else None
  except (ValueError, OSError):
    return None  # only names the best seed, which the checkpoint also knows


def load_tagger(workdir: str | os.PathLike, *, seed_index: int | None = None,
                open_vocab: bool = True) -> evaluate.Tagger:
  """``evaluate.Tagger`` with one seed's best parameters (``Tagger.load``).

  ``open_vocab=False`` encodes words outside the training vocabulary as
  ``<unk>`` even when the run's vectors know them (to measure what the open
  vocabulary is worth).
  """
  config, vocab, label_vocab, model_config, best, results = load_run(workdir)
  if seed_index is None:
    seed_index = (results["best_seed_index"] if results and "best_seed_index" in results
                  else int(np.argmax(np.asarray(best["f1"]))))
  if not 0 <= seed_index < config.num_seeds:
    raise ValueError(f"--seed_index={seed_index} must be in [0, {config.num_seeds}) "
                     f"(the run has {config.num_seeds} seeds)")
  extender = None
  if config.vectors != "random" and open_vocab:
    from wincls.data import vectors as vectors_lib
    extender = vectors_lib.Extender(*prepare.load_run_vectors(config))
  params = jax.tree.map(lambda x: x[seed_index:seed_index + 1], best["params"])
  tagger = evaluate.Tagger(model_config, config, label_vocab, vocab=vocab,
                           extender=extender, params=params)
  tagger.seed_index = seed_index
  return tagger


def read_input(path: str | os.PathLike) -> conll.Corpus:
  """A CoNLL file with or without gold tags: one column = words only."""
  if not Path(path).is_file():
    return conll.read_conll(path)  # raises its DataError (missing, a directory)
  lines = conll.split_lines(conll.read_text(Path(path)))
  for line in lines:
    columns = line.split()
    if columns and columns[0] != conll.DOCSTART:
      return conll.read_conll(path, has_tags=len(columns) > 1)
  return conll.read_conll(path)  # raises the reader's error for an empty file


def _check_output(output_path: str | os.PathLike) -> Path:
  output_path = Path(output_path)
  if not output_path.parent.is_dir():
    raise FileNotFoundError(f"--output={output_path}: directory {output_path.parent} "
                            "does not exist")
  return output_path


def _write_jsonl(path: Path, lines: list[str], results: list[dict[str, Any]]) -> None:
  """One JSON line per input line, in order (``Tagger.tag_lines``)."""
  rows = [json.dumps({"text": line.strip(" \t"), "tokens": result["tokens"],
                      "entities": result["entities"]}, ensure_ascii=False)
          for line, result in zip(lines, results)]
  workdir_lib.atomic_write_text(path, "".join(r + "\n" for r in rows))


def predict_file(workdir: str | os.PathLike, input_path: str | os.PathLike,
                 output_path: str | os.PathLike, *, seed_index: int | None = None,
                 input_format: str = "conll", tokenize: bool = False,
                 open_vocab: bool = True) -> dict[str, Any]:
  """Tags a file with run ``workdir``'s best checkpoint (module docstring).

  Args:
    workdir: a run's workdir.
    input_path: a CoNLL file, or plain text (``input_format="text"``).
    output_path: where to write (its directory must exist).
    seed_index: which replica (default: the best on dev).
    input_format: ``conll`` or ``text``.
    tokenize: text input: split lines with ``text.tokenize`` instead of on spaces.
    open_vocab: False: words outside the training vocabulary become ``<unk>``
      even when the run's vectors know them (``load_tagger``).

  Returns:
    ``{"seed_index", "seed", "num_sentences", "num_tokens", "num_entities",
    "scores"}`` with ``scores`` as the training's dev scores (``Tagger.evaluate``)
    when gold tags are present, else None.
  """
  if input_format not in INPUT_FORMATS:
    raise ValueError(f"--input_format={input_format!r} is not one of "
                     f"{', '.join(INPUT_FORMATS)}")
  output_path = _check_output(output_path)
  tagger = load_tagger(workdir, seed_index=seed_index, open_vocab=open_vocab)
  scores = None
  if input_format == "text":
    corpus = text_lib.read_text(input_path, tokenize_words=tokenize)
    lines = conll.split_lines(conll.read_text(Path(input_path)))
    sentences = tagger.tag_lines(corpus, len(lines))
    _write_jsonl(output_path, lines, sentences)
  else:
    corpus = read_input(input_path)
    predictions, data = tagger.tag_corpus(corpus)
    sentences = tagger.sentences_of(corpus, predictions, data)
    tagger.write_conll(output_path, corpus, predictions, data)
    if corpus.scheme != conll.NO_TAGS:
      scores = tagger.evaluate(predictions, corpus, data)
  num_entities = sum(len(s["entities"]) for s in sentences)
  config = tagger.config
  return {"seed_index": tagger.seed_index, "seed": config.seed + tagger.seed_index,
          "num_sentences": len(corpus), "num_tokens": corpus.num_tokens,
          "num_entities": num_entities, "scores": scores}
