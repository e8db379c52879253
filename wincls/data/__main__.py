"""Data checker and scorer: ``python -m wincls.data stats|score ...``.

``stats PATH [PATH ...] [--scheme S] [--json]`` prints per file the sentences,
tokens, documents, entities per type and the tag scheme (detected, or as given
by ``--scheme``, whose prefixes are then checked). With ``--json``, one JSON
object per file and line, with keys ``path``, ``sentences``, ``tokens``,
``documents``, ``entities`` (type -> count) and ``scheme``.

``score FILE [--json]`` scores a predictions file in conlleval's format (the
token first, the gold tag and the predicted tag as the last two columns, blank
lines between sentences; what ``experiments/predict.py`` writes for a file with
gold tags) with the entity scores training uses (``metrics.entity_scores``:
an entity is correct when its type and both boundaries equal a gold one's). It
prints conlleval's table, the lines the Perl script prints::

  processed 14 tokens with 6 phrases; found: 5 phrases; correct: 3.
  accuracy:  71.43%; precision:  60.00%; recall:  50.00%; FB1:  54.55
                PER: precision:  50.00%; recall:  33.33%; FB1:  40.00  2

(per type, the last figure is the number of *predicted* phrases, as in
conlleval). With ``--json``, one JSON object: ``path``, ``tokens``,
``phrases`` (``{"gold", "found", "correct"}``), ``accuracy``, ``precision``,
``recall``, ``f1`` (fractions in [0, 1], unrounded) and ``per_type`` (type ->
``{"precision", "recall", "f1", "gold", "found", "correct"}``). The file's
``f1`` is the F1 that ``predict.py`` printed for its input, to the digit.

Chunks are read as conlleval reads them (``tags.spans``), in whatever scheme
each column is written: ``I-X`` after ``O`` or another type starts an entity,
so IOB1 files (CoNLL-2003's own) and IOB2 files score as conlleval scores them,
and gold and predictions need not share a scheme. ``E-``/``S-`` tags (IOBES)
are read as seqeval's default mode reads them; the original Perl script
predates IOBES (it joins ``S-X S-X`` into one entity), which is why
``predict.py`` writes IOB1 or IOB2. As in conlleval, a blank line ends a
sentence and is no token, while a ``-DOCSTART-`` line is a token: its last two
columns are its tags (``O O`` in CoNLL files), and it counts in ``tokens``
(testa with its 216 ``-DOCSTART-`` lines: 51,578 tokens, not 51,362) and in
``accuracy``, which compares the tags as written (``read_predictions``).

A malformed file prints ``PATH:LINE: what was wrong; what was expected`` on
stderr and the exit status is 1 (for ``stats``, if any file failed).

Examples::

  python -m wincls.data stats ../shared/data/conll2003/eng.train --json
  python -m wincls.data score test.pred
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
from pathlib import Path

from wincls import metrics
from wincls.data import conll
from wincls.data import tags as tags_lib
from wincls.data.conll import DataError, read_conll

CONLLEVAL_BOUNDARY = "-X-"  # a word conlleval reads as a blank line


def file_stats(path: str, *, scheme: str | None = None) -> dict:
  """The checker's figures for one file; DataError if it is malformed."""
  corpus = read_conll(path, scheme=scheme)
  entities = collections.Counter()
  for sentence in corpus.sentences:
    entities.update(t for t, _, _ in tags_lib.spans(sentence.tags))
  return {"path": path, "sentences": len(corpus), "tokens": corpus.num_tokens,
          "documents": corpus.num_documents,
          "entities": dict(sorted(entities.items())), "scheme": corpus.scheme}


def _format(stats: dict) -> str:
  total = sum(stats["entities"].values())
  per_type = ", ".join(f"{t} {n}" for t, n in stats["entities"].items())
  return (f"{stats['path']}: {stats['sentences']} sentences, {stats['tokens']} "
          f"tokens, {stats['documents']} documents, scheme {stats['scheme']}\n"
          f"  entities: {total}" + (f" ({per_type})" if per_type else ""))


def read_predictions(path: str) -> tuple[list[list[str]], list[list[str]]]:
  """``(gold, pred)`` tags of a predictions file, as conlleval reads it.

  A sequence is a run of lines between blank lines: conlleval's sentence. A
  ``-DOCSTART-`` line is a token in it (conlleval splits sentences at blank
  lines only); with as many columns as the token lines its last two columns
  are its tags (``O O`` in CoNLL files), else (conlleval would stop) ``O O``.
  A token whose word is ``-X-``, conlleval's other sentence boundary, ends a
  sequence and is no token.

  Raises:
    DataError: as ``read_conll`` (columns, tags, encoding, empty), fewer than
      three columns on the token lines, or a bad tag on a ``-DOCSTART-`` line.
  """
  pred = read_conll(path)  # checks every line; the tags of the last column
  lines = conll.split_lines(conll.read_text(Path(path)))
  split = conll._COLUMN_SEP.split  # pylint: disable=protected-access
  first = pred.sentences[0].line
  num_columns = len(split(lines[first - 1].strip(" \t")))
  if num_columns < 3:
    raise DataError(path, first, f"found {num_columns} columns; expected the "
                    "token first and the gold and the predicted tag as the last "
                    "two columns (conlleval's format), e.g. 'Peter I-PER I-PER'")
  tokens = {}  # line number -> (word, gold, pred)
  for gold, sentence in zip(read_conll(path, tag_column=-2).sentences, pred.sentences):
    for i, token in enumerate(zip(sentence.words, gold.tags, sentence.tags)):
      tokens[sentence.line + i] = token
  for number, line in enumerate(lines, start=1):
    columns = split(line.strip(" \t"))
    if columns[0] == conll.DOCSTART:
      tags = columns[-2:] if len(columns) == num_columns else ["O", "O"]
      for tag in tags:
        try:
          tags_lib.split_tag(tag)
        except ValueError as e:
          raise DataError(path, number, str(e)) from None
      tokens[number] = (conll.DOCSTART, *tags)
  gold_tags, pred_tags = [], []
  run = []
  for number in range(1, len(lines) + 2):
    token = tokens.get(number)
    if token is not None and token[0] != CONLLEVAL_BOUNDARY:
      run.append(token)
    elif run:
      gold_tags.append([g for _, g, _ in run])
      pred_tags.append([p for _, _, p in run])
      run = []
  return gold_tags, pred_tags


def file_scores(path: str) -> dict:
  """conlleval's figures for one predictions file; DataError if it is malformed."""
  gold, pred = read_predictions(path)
  scores = metrics.entity_scores(gold, pred)

  def counts(s):
    return {"gold": s["num_gold"], "found": s["num_pred"], "correct": s["num_correct"]}

  return {"path": path, "tokens": sum(len(s) for s in gold),
          "phrases": counts(scores), "accuracy": metrics.token_accuracy(gold, pred),
          "precision": scores["precision"], "recall": scores["recall"],
          "f1": scores["f1"],
          "per_type": {t: {"precision": s["precision"], "recall": s["recall"],
                           "f1": s["f1"], **counts(s)}
                       for t, s in scores["per_type"].items()}}


def _rates(phrases: dict) -> str:
  # Percentages from the counts in the Perl script's order of operations
  # (100 * correct / found, ...), so each rounds to the digit it prints.
  precision, recall, f1 = metrics.prf(100 * phrases["correct"], phrases["found"],
                                      phrases["gold"])
  return f"precision: {precision:6.2f}%; recall: {recall:6.2f}%; FB1: {f1:6.2f}"


def _format_scores(scores: dict) -> str:
  """conlleval's table (its non-LaTeX output)."""
  phrases, tokens = scores["phrases"], scores["tokens"]
  lines = [f"processed {tokens} tokens with {phrases['gold']} phrases; found: "
           f"{phrases['found']} phrases; correct: {phrases['correct']}."]
  if tokens:
    correct_tags = round(scores["accuracy"] * tokens)  # the count, exactly
    lines.append(f"accuracy: {100 * correct_tags / tokens:6.2f}%; " + _rates(phrases))
  lines += [f"{t:>17}: {_rates(s)}  {s['found']}" for t, s in scores["per_type"].items()]
  return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(prog="python -m wincls.data",
                                   description="Check CoNLL NER files; score "
                                   "predictions as conlleval does.")
  commands = parser.add_subparsers(dest="command", required=True)
  stats = commands.add_parser("stats", help="sentences, tokens, documents, "
                              "entities per type and tag scheme of each file")
  stats.add_argument("paths", nargs="+", metavar="PATH")
  stats.add_argument("--scheme", choices=tags_lib.SCHEMES, default=None,
                     help="the files' tag scheme (default: detect it)")
  stats.add_argument("--json", action="store_true",
                     help="one JSON object per file and line")
  score = commands.add_parser("score", help="conlleval's entity precision, recall "
                              "and F1 of a predictions file (token ... gold "
                              "predicted per line)")
  score.add_argument("path", metavar="FILE")
  score.add_argument("--json", action="store_true", help="one JSON object")
  args = parser.parse_args(argv)
  if args.command == "score":
    try:
      result = file_scores(args.path)
    except DataError as e:
      print(e, file=sys.stderr)
      return 1
    print(json.dumps(result) if args.json else _format_scores(result), flush=True)
    return 0
  status = 0
  for path in args.paths:
    try:
      result = file_stats(path, scheme=args.scheme)
    except DataError as e:
      print(e, file=sys.stderr)
      status = 1
      continue
    print(json.dumps(result) if args.json else _format(result), flush=True)
  return status


def run(argv: list[str] | None = None) -> int:
  """``main``, where a reader that stops early (``| head``) ends it quietly."""
  try:
    return main(argv)
  except BrokenPipeError:
    # Python would print a traceback flushing stdout at exit: point it away.
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 141  # 128 + SIGPIPE, as a shell's own commands end


if __name__ == "__main__":
  sys.exit(run())
