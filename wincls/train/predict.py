"""A run as a tagger of new files: ``predict_file(...)``.

The run is read back by ``evaluate.load_tagger`` (``saved_run.load_run``):
prediction needs only ``config.json``, ``vocab.json``, ``labels.json`` and
``checkpoints/best`` (plus the run's pre-trained vectors, if it used some).
It tags with the best seed on dev, one named seed (``seed_index``), or the
ensemble of all the run's seeds (``ensemble=True``; the rule per output kind:
``wincls.train.ensemble``); every input format and output is the same either
way.

Inputs (``predict_file``): a CoNLL file (one token per line; one column =
words only, more = the last holds gold tags) written back as ``word [gold]
pred`` lines in the input's scheme (IOB1 for IOB1 input, else IOB2: the
original conlleval script reads both); or plain text (``input_format="text"``,
one sentence per line, ``wincls.data.text``) written as JSON lines ``{"text",
"tokens", "entities": [{"start", "end", "type", "text"}]}`` (``end``
exclusive), one per input line in order: a blank line gives ``{"text": "",
"tokens": [], "entities": []}``.

The output never destroys an input: ``--output`` equal to ``--input``, to the
run's ``--vectors_path``, anywhere inside the run's workdir, a directory or
empty is refused up front (ValueError naming ``--output``); a device or pipe
(``/dev/stdout``) is written through, a file is replaced atomically.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from wincls.data import conll
from wincls.data import text as text_lib
from wincls.train import evaluate
from wincls.train import workdir as workdir_lib

INPUT_FORMATS = ("conll", "text")


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


def _check_output(output_path: str | os.PathLike, input_path: str | os.PathLike,
                  workdir: str | os.PathLike) -> Path:
  """``output_path``, refused (ValueError naming ``--output``) when writing it
  would destroy an input: the ``--input`` file, anything inside the run's
  workdir (its config, vocabularies, checkpoints) or inside a sweep's workdir
  above any run (its ``grid.json``, ``results.jsonl``, other runs), or a
  directory."""
  if not str(output_path):
    raise ValueError("--output is empty; expected the path of the file to write")
  output_path = Path(output_path)
  if output_path.is_dir():
    raise ValueError(f"--output={output_path} is a directory; expected a file path")
  if not output_path.parent.is_dir():
    raise FileNotFoundError(f"--output={output_path}: directory {output_path.parent} "
                            "does not exist")
  real = Path(os.path.realpath(output_path))
  if real == Path(os.path.realpath(input_path)):
    raise ValueError(f"--output={output_path} is the --input file; writing it would "
                     "replace the text being tagged: choose another path")
  run = Path(os.path.realpath(workdir))
  if real == run or run in real.parents:
    raise ValueError(f"--output={output_path} is inside the run's workdir {workdir}, "
                     "which holds the run's own files (config.json, vocab.json, "
                     "checkpoints/...): write predictions outside it")
  sweep = next((p for p in real.parents
                if (p / workdir_lib.SWEEP_GRID_FILE).is_file()), None)
  if sweep is not None:
    raise ValueError(f"--output={output_path} is inside the sweep workdir {sweep} "
                     f"({workdir_lib.SWEEP_GRID_FILE}, results.jsonl, runs/...): "
                     "write predictions outside it")
  return output_path


def _write(path: Path, text: str) -> None:
  """``text`` into ``path``: atomically for a file, in place for a device or a
  pipe (``/dev/stdout``, ``/dev/null``), which a rename would replace."""
  if path.exists() and not path.is_file():
    with open(path, "w", encoding="utf-8", newline="\n") as f:
      f.write(text)
  else:
    workdir_lib.atomic_write_text(path, text)


def _write_jsonl(path: Path, lines: list[str], results: list[dict[str, Any]]) -> None:
  """One JSON line per input line, in order (``Tagger.tag_lines``)."""
  rows = [json.dumps({"text": line.strip(" \t"), "tokens": result["tokens"],
                      "entities": result["entities"]}, ensure_ascii=False)
          for line, result in zip(lines, results)]
  _write(path, "".join(r + "\n" for r in rows))


def predict_file(workdir: str | os.PathLike, input_path: str | os.PathLike,
                 output_path: str | os.PathLike, *, seed_index: int | None = None,
                 ensemble: bool = False, input_format: str = "conll",
                 tokenize: bool = False, open_vocab: bool = True) -> dict[str, Any]:
  """Tags a file with run ``workdir``'s best checkpoint (module docstring).

  Args:
    workdir: a run's workdir.
    input_path: a CoNLL file, or plain text (``input_format="text"``).
    output_path: where to write (its directory must exist).
    seed_index: which replica (default: the best on dev).
    ensemble: tag with every seed of the run (not with ``seed_index``).
    input_format: ``conll`` or ``text``.
    tokenize: text input: split lines with ``text.tokenize`` instead of on spaces.
    open_vocab: False: words outside the training vocabulary become ``<unk>``
      even when the run's vectors know them (``evaluate.load_tagger``).

  Returns:
    ``{"seed_index", "seed", "seed_indices", "seeds", "ensemble",
    "num_sentences", "num_tokens", "num_entities", "scores"}`` with
    ``scores`` as the training's dev scores (``Tagger.evaluate``) when gold
    tags are present, else None; ``seed_indices``/``seeds`` the seeds tagged
    with (``seed_index``/``seed``: the one seed, None for an ensemble).
  """
  if input_format not in INPUT_FORMATS:
    raise ValueError(f"--input_format={input_format!r} is not one of "
                     f"{', '.join(INPUT_FORMATS)}")
  evaluate.check_workdir(workdir)
  output_path = _check_output(output_path, input_path, workdir)
  tagger = evaluate.load_tagger(workdir, seed_index=seed_index, ensemble=ensemble,
                                open_vocab=open_vocab)
  vectors_path = tagger.config.vectors_path
  if vectors_path and os.path.realpath(vectors_path) == os.path.realpath(output_path):
    raise ValueError(f"--output={output_path} is the run's --vectors_path; writing it "
                     "would destroy the vectors the run needs: choose another path")
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
    _write(output_path, tagger.conll_text(corpus, predictions, data))
    if corpus.scheme != conll.NO_TAGS:
      scores = tagger.evaluate(predictions, corpus, data)
  num_entities = sum(len(s["entities"]) for s in sentences)
  seeds = [tagger.config.seed + i for i in tagger.seed_indices]
  return {"seed_index": tagger.seed_index,
          "seed": None if tagger.seed_index is None else seeds[0],
          "seed_indices": list(tagger.seed_indices), "seeds": seeds,
          "ensemble": bool(ensemble), "num_sentences": len(corpus),
          "num_tokens": corpus.num_tokens, "num_entities": num_entities,
          "scores": scores}
