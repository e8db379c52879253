"""Tests of wincls/train/prepare.py: sentence buckets; data preparation writes nothing."""

import numpy as np

from wincls import config as config_lib
from wincls.data import vocab as vocab_lib
from wincls.data import windows as windows_lib
from wincls.train import prepare


def test_sentence_buckets_cover_every_token_once():
  lengths = np.array([3, 9, 1, 20, 8, 13], np.int32)
  n = int(lengths.sum())
  data = windows_lib.WindowedCorpus(
      window_ids=np.arange(n * 3, dtype=np.int32).reshape(n, 3),
      feature_ids=np.zeros((n, 3, 0), np.int32),
      labels=np.arange(n, dtype=np.int32), lengths=lengths)
  buckets = prepare.sentence_buckets(data, batch_size=64)
  assert [b.length for b in buckets] == [8, 12, 18, 27]
  seen = []
  for b in buckets:
    mask = b.arrays["mask"].astype(bool)
    assert b.arrays["window_ids"].shape == (len(b.sentences), b.length, 3)
    assert (lengths[b.sentences] <= b.length).all()
    assert b.batch_size == 64 // b.length
    seen.extend(b.arrays["labels"][mask].tolist())
  assert sorted(seen) == list(range(n))


def test_prepare_data_reads_the_workdir_and_writes_nothing(tmp_path):
  config = config_lib.Config(dataset="wnut16", train_fraction=0.05, embed_dim=8,
                             hidden_size=8)
  fresh = prepare.prepare_data(config, tmp_path)
  assert list(tmp_path.iterdir()) == []  # the loop writes the vocabularies
  # A resumed run encodes with its stored vocabularies (here: a smaller one).
  small = vocab_lib.Vocab.build(fresh.train_corpus.words[:5], lowercase=config.lowercase,
                                normalize_digits=config.normalize_digits)
  small.save(tmp_path / "vocab.json")
  resumed = prepare.prepare_data(config, tmp_path)
  assert list(resumed.vocab.words) == list(small.words)
  assert list(resumed.label_vocab.labels) == list(fresh.label_vocab.labels)
  ignored = prepare.prepare_data(config, tmp_path, reuse_vocab=False)
  assert list(ignored.vocab.words) == list(fresh.vocab.words)
  assert sorted(p.name for p in tmp_path.iterdir()) == ["vocab.json"]
