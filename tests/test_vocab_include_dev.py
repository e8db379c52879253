"""--vocab_include_dev: dev words the vectors know join the vocabulary only when it
is on; either way dev sees their pre-trained rows (open vocabulary)."""

import numpy as np
import pytest

from wincls import config as config_lib
from wincls import train
from wincls.data import datasets


@pytest.mark.parametrize("include", [True, False])
def test_dev_words_known_to_the_vectors(tmp_path, include):
  splits = datasets.load_splits("wnut16")
  train_words = {w.lower() for s in splits["train"].sentences for w in s.words}
  dev_only = sorted({w.lower() for s in splits["dev"].sentences for w in s.words
                     if w.isalpha() and w.lower() not in train_words})[:3]
  assert dev_only
  path = tmp_path / "vec.txt"
  path.write_text("".join(f"{w} 0.1 0.2 0.3 0.4\n" for w in ["the", *dev_only]),
                  encoding="utf-8")
  config = config_lib.Config(dataset="wnut16", vectors="file", vectors_path=str(path),
                             embed_dim=4, vocab_include_dev=include)
  data = train.prepare_data(config)
  assert all((w in data.vocab) == include for w in dev_only)
  assert "the" in data.vocab
  if not include:  # open vocabulary: dev still sees their pre-trained rows
    assert len(data.dev.new_rows) == len(dev_only)
    np.testing.assert_allclose(data.dev.new_rows, [[0.1, 0.2, 0.3, 0.4]] * 3, rtol=1e-6)
    assert data.dev.window_ids.max() == len(data.vocab) + len(dev_only) - 1
