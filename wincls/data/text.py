"""Plain text as an untagged corpus: one sentence per line, or token lists.

``read_text(path)`` reads UTF-8 text with one sentence per line (LF, CRLF or CR
line ends; blank lines are skipped): tokens are separated by spaces or tabs,
or, with ``tokenize=True``, found by ``tokenize``'s rule. Control characters
are refused with ``PATH:LINE`` as in CoNLL files (``wincls.data.conll``).

``tokenize`` is a simple, documented rule, not a full tokenizer. A token is
(first match wins) two or more letter-period pairs (``U.S.``, ``e.g.``); a run
of letters/digits with inner ``-``, ``'``, ``.`` or ``,`` between word
characters (``pre-war``, ``don't``, ``France's``, ``1,000``, ``3.5``); or any
single other non-space character (``Paris,`` -> ``Paris`` ``,``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

from wincls.data import conll

_TOKEN = re.compile(r"(?:\w\.){2,}|\w+(?:[-'.,]\w+)*|[^\w\s]", re.UNICODE)
_SPACE = re.compile(r"[ \t]+")


def tokenize(line: str) -> list[str]:
  """The tokens of one line by the module docstring's rule."""
  return _TOKEN.findall(line)


def corpus_of_words(sentences: Sequence[Sequence[str]], *, path: str = "<tokens>",
                    lines: Sequence[int] | None = None) -> conll.Corpus:
  """An untagged corpus of tokenised sentences.

  Raises:
    ValueError: a token is empty or holds whitespace or a control character
      (it could not be written back one per line), naming the sentence.
  """
  out = []
  for i, words in enumerate(sentences):
    line = lines[i] if lines is not None else i + 1
    for word in words:
      if not isinstance(word, str):
        raise conll.DataError(path, line, f"token {word!r} is a {type(word).__name__}; "
                              "expected a str")
      if not word or re.search(r"\s", word, re.ASCII):
        raise conll.DataError(path, line, f"token {word!r} is empty or holds "
                              "whitespace; expected single tokens")
      conll.check_printable(path, line, word)
    if words:
      out.append(conll.Sentence(tuple(words), (), line, 0))
  return conll.Corpus(path=path, sentences=out, num_documents=1 if out else 0,
                      scheme=conll.NO_TAGS)


def read_text(path: str | os.PathLike, *, tokenize_words: bool = False) -> conll.Corpus:
  """One sentence per non-blank line of a UTF-8 text file (module docstring).

  Raises:
    DataError: missing file, not UTF-8, a control character, or no sentence.
  """
  path = Path(path)
  lines = conll.split_lines(conll.read_text(path))
  sentences, numbers = [], []
  for number, line in enumerate(lines, start=1):
    conll.check_printable(path, number, line)
    words = tokenize(line) if tokenize_words else [w for w in _SPACE.split(line.strip(" \t")) if w]
    if words:
      sentences.append(words)
      numbers.append(number)
  if not sentences:
    raise conll.DataError(path, None, "no sentences (only blank lines); expected one "
                          "sentence per line")
  return corpus_of_words(sentences, path=str(path), lines=numbers)
