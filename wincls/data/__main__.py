"""Data checker: ``python -m wincls.data stats PATH [PATH ...] [--scheme S] [--json]``.

Prints per file the sentences, tokens, documents, entities per type and the tag
scheme (detected, or as given by ``--scheme``, whose prefixes are then checked).
With ``--json``, one JSON object per file and line, with keys ``path``,
``sentences``, ``tokens``, ``documents``, ``entities`` (type -> count) and
``scheme``. A malformed file prints ``PATH:LINE: what was wrong; what was
expected`` on stderr; the exit status is 1 if any file failed.

Example::

  python -m wincls.data stats ../shared/data/conll2003/eng.train --json
"""

from __future__ import annotations

import argparse
import collections
import json
import sys

from wincls.data import tags as tags_lib
from wincls.data.conll import DataError, read_conll


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


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(prog="python -m wincls.data",
                                   description="Check CoNLL NER files.")
  commands = parser.add_subparsers(dest="command", required=True)
  stats = commands.add_parser("stats", help="sentences, tokens, documents, "
                              "entities per type and tag scheme of each file")
  stats.add_argument("paths", nargs="+", metavar="PATH")
  stats.add_argument("--scheme", choices=tags_lib.SCHEMES, default=None,
                     help="the files' tag scheme (default: detect it)")
  stats.add_argument("--json", action="store_true",
                     help="one JSON object per file and line")
  args = parser.parse_args(argv)
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


if __name__ == "__main__":
  sys.exit(main())
