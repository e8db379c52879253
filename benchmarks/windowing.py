"""Times windowing CoNLL-2003's training set (``make_windows``, ``encode_corpus``).

  python benchmarks/windowing.py --data_dir=../shared/data/conll2003 --window_size=2

Reads ``eng.train`` once, builds the vocabulary, then reports the median over
``--repeats`` runs of: ``make_windows`` on the word ids (203,621 tokens ->
``[203621, 2m+1]``), ``make_windows`` on the two feature columns
(``[203621, 2m+1, 2]``), and the whole ``encode_corpus`` (word lookup, feature
extraction, label conversion to IOBES and windowing). NumPy only, on the CPU.
"""

import statistics
import time

from absl import app
from absl import flags

from wincls.data import datasets
from wincls.data import vocab as vocab_lib
from wincls.data import windows

_DATA_DIR = flags.DEFINE_string("data_dir", None, "CoNLL-2003 directory "
                                "(default: $WINCLS_CONLL2003_DIR or "
                                "../shared/data/conll2003)")
_WINDOW_SIZE = flags.DEFINE_integer("window_size", 2, "half-width m", lower_bound=0)
_REPEATS = flags.DEFINE_integer("repeats", 5, "timed runs (median reported)",
                                lower_bound=1)


def _median_seconds(fn, repeats):
  fn()  # warm-up
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def main(argv):
  del argv
  m, repeats = _WINDOW_SIZE.value, _REPEATS.value
  start = time.perf_counter()
  corpus = datasets.load_splits("conll2003", data_dir=_DATA_DIR.value)["train"]
  read_s = time.perf_counter() - start
  vocab = vocab_lib.Vocab.build(corpus.words, lowercase=True, normalize_digits=True)
  labels = vocab_lib.LabelVocab.from_tags(corpus.tags, scheme="iobes")
  lengths = [len(s) for s in corpus.sentences]
  words = [w for s in corpus.sentences for w in s.words]
  ids = vocab.encode(words)
  features = vocab_lib.feature_ids(words, ("casing", "caps"))
  print(f"{corpus.path}: {len(corpus)} sentences, {len(ids)} tokens, read in "
        f"{read_s:.3f} s; window 2m+1 = {2 * m + 1}")
  word_s = _median_seconds(lambda: windows.make_windows(
      ids, lengths, half_width=m, pad_left=vocab_lib.BOS,
      pad_right=vocab_lib.EOS), repeats)
  feature_s = _median_seconds(lambda: windows.make_windows(
      features, lengths, half_width=m, pad_left=0, pad_right=0), repeats)
  encode_s = _median_seconds(lambda: windows.encode_corpus(
      corpus, vocab, window_size=m, features=("casing", "caps"),
      label_vocab=labels), repeats)
  rows = [(f"make_windows, word ids [{len(ids)}, {2 * m + 1}]", word_s),
          (f"make_windows, features [{len(ids)}, {2 * m + 1}, 2]", feature_s),
          ("encode_corpus (lookup, features, IOBES labels, windows)", encode_s)]
  for name, seconds in rows:
    print(f"{name:<58} {seconds * 1e3:8.1f} ms")


if __name__ == "__main__":
  app.run(main)
