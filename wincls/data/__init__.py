"""Data pipeline: CoNLL files -> corpora -> vocabularies -> word windows.

``conll`` (read/write CoNLL files, ``DataError``), ``tags`` (schemes, spans),
``vocab`` (``Vocab``, casing features, ``LabelVocab``), ``windows``
(``make_windows``, ``encode_corpus``), ``datasets`` (``load_splits``) and
``vectors`` (pre-trained word vectors). ``python -m wincls.data stats PATH``
checks files.
"""

from wincls.data.conll import Corpus
from wincls.data.conll import DataError
from wincls.data.conll import Sentence
from wincls.data.conll import read_conll
from wincls.data.conll import write_conll
from wincls.data.datasets import load_splits
from wincls.data.tags import detect_scheme
from wincls.data.tags import repair
from wincls.data.tags import spans
from wincls.data.tags import to_scheme
from wincls.data.vocab import FEATURE_SIZES
from wincls.data.vocab import LabelVocab
from wincls.data.vocab import Vocab
from wincls.data.windows import WindowedCorpus
from wincls.data.windows import encode_corpus
from wincls.data.windows import make_windows
