"""Tests of wincls/data/conll.py: CoNLL reading, writing and input errors."""

import collections
import os
import pickle
from pathlib import Path

import pytest
from seqeval.metrics.sequence_labeling import get_entities

from wincls.data import tags as tags_lib
from wincls.data.conll import DataError
from wincls.data.conll import read_conll
from wincls.data.conll import write_conll


def _conll2003_dir() -> Path:
  env = os.environ.get("WINCLS_CONLL2003_DIR")
  path = Path(env) if env else (
      Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "conll2003")
  if not (path / "eng.train").is_file() or not (path / "eng.testa").is_file():
    pytest.skip(f"CoNLL-2003 not found in {path} (set WINCLS_CONLL2003_DIR)")
  return path


@pytest.fixture(scope="module")
def conll2003():
  path = _conll2003_dir()
  return {"train": read_conll(path / "eng.train"),
          "testa": read_conll(path / "eng.testa")}


# Published sizes (Tjong Kim Sang & De Meulder 2003, Table 1).
@pytest.mark.parametrize("split, sentences, tokens, documents", [
    ("train", 14041, 203621, 946),
    ("testa", 3250, 51362, 216),
])
def test_conll2003_published_counts(conll2003, split, sentences, tokens, documents):
  corpus = conll2003[split]
  assert len(corpus) == sentences
  assert corpus.num_tokens == tokens
  assert corpus.num_documents == documents
  assert corpus.scheme == "iob1"
  assert all(len(s.words) == len(s.tags) > 0 for s in corpus.sentences)
  # eng.train's first document has no -DOCSTART- line: the sentence on line 1.
  assert corpus.sentences[0].line == 1 and corpus.sentences[0].doc == 0
  assert corpus.sentences[-1].doc == documents - 1


@pytest.mark.parametrize("split", ["train", "testa"])
def test_conll2003_entities_match_seqeval(conll2003, split):
  corpus = conll2003[split]
  ours = collections.Counter(
      t for s in corpus.sentences for t, _, _ in tags_lib.spans(s.tags))
  theirs = collections.Counter(
      t for t, _, _ in get_entities([list(s.tags) for s in corpus.sentences]))
  assert ours == theirs
  assert set(ours) == {"PER", "ORG", "LOC", "MISC"}


def _write(tmp_path, content, name="data.txt"):
  path = tmp_path / name
  path.write_bytes(content if isinstance(content, bytes) else content.encode())
  return path


def test_documents_sentences_and_lines(tmp_path):
  path = _write(tmp_path, "EU NNP I-ORG\nrejects VBZ O\n\n"
                "-DOCSTART- -X- O\n\nPeter NNP I-PER\n\n\n"
                "-DOCSTART- -X- O\n\nBRUSSELS NNP I-LOC\nx NN O\n"
                "-DOCSTART- -X- O\n\n")
  corpus = read_conll(path)
  assert corpus.words == [("EU", "rejects"), ("Peter",), ("BRUSSELS", "x")]
  assert corpus.tags == [("I-ORG", "O"), ("I-PER",), ("I-LOC", "O")]
  assert [s.line for s in corpus.sentences] == [1, 6, 11]
  assert [s.doc for s in corpus.sentences] == [0, 1, 2]
  # The first document lacks -DOCSTART-; the trailing one is empty.
  assert corpus.num_documents == 3
  assert corpus.scheme == "iob1"


def test_crlf_tabs_trailing_spaces_and_bom(tmp_path):
  path = _write(tmp_path, b"\xef\xbb\xbfPeter\tB-PER  \r\nBlackburn \t I-PER\r\n"
                b" \t \r\nin\tO\r\nEU\tB-geo-loc\r\n")
  corpus = read_conll(path)
  assert corpus.words == [("Peter", "Blackburn"), ("in", "EU")]
  assert corpus.tags == [("B-PER", "I-PER"), ("O", "B-geo-loc")]
  assert corpus.num_documents == 1
  assert corpus.scheme == "iob2"


def test_old_mac_line_ends_read_like_lf(tmp_path):
  """A file with lone CR line ends (``tr '\\n' '\\r'``) reads like its LF twin."""
  text = "-DOCSTART- -X- O\n\nEU NNP I-ORG\nrejects VBZ O\n\nPeter NNP I-PER\n"
  lf = read_conll(_write(tmp_path, text, "lf.txt"))
  cr = read_conll(_write(tmp_path, text.replace("\n", "\r"), "cr.txt"))
  assert cr.words == lf.words == [("EU", "rejects"), ("Peter",)]
  assert cr.tags == lf.tags
  assert [s.line for s in cr.sentences] == [s.line for s in lf.sentences] == [3, 6]
  mixed = read_conll(_write(tmp_path, "a O\r\nb O\rc O\n\rd O", "mixed.txt"))
  assert mixed.words == [("a", "b", "c"), ("d",)]


@pytest.mark.parametrize("char", ["\f", "\v", "\x1b", "\x7f"])
def test_control_characters_are_refused_with_their_line(tmp_path, char):
  """A token the trainer could not write back is refused up front."""
  path = _write(tmp_path, f"a O\nb{char}c O\n")
  with pytest.raises(DataError) as e:
    read_conll(path)
  assert str(e.value) == (f"{path}:2: control character U+{ord(char):04X} at column 2;"
                          " expected printable text (columns separated by spaces or "
                          "tabs)")
  path = _write(tmp_path, f"a O\n{char}\n", "trailing.txt")
  with pytest.raises(DataError, match=r"trailing.txt:2: control character"):
    read_conll(path)


def test_wnut_style_tab_lines_and_unicode_words(tmp_path):
  path = _write(tmp_path, "Empire\tB-facility\nState\tI-facility\n\t\n"
                "caf\u00e9\u00a0x\tO\n\t\n")
  corpus = read_conll(path, scheme="iob2")
  # A no-break space is part of the word, not a column separator.
  assert corpus.words == [("Empire", "State"), ("caf\u00e9\u00a0x",)]
  assert corpus.scheme == "iob2"


def test_tag_column_and_untagged_files(tmp_path):
  path = _write(tmp_path, "EU I-ORG I-NP\nrejects O I-VP\n")
  assert read_conll(path, tag_column=1).tags == [("I-ORG", "O")]
  raw = _write(tmp_path, "Peter\nBlackburn\n\nhi\n", "raw.txt")
  corpus = read_conll(raw, has_tags=False)
  assert corpus.words == [("Peter", "Blackburn"), ("hi",)]
  assert corpus.tags == [(), ()]
  assert corpus.scheme == "none"


@pytest.mark.parametrize("content, line, fragment", [
    ("a B-PER\nb O x\n", 2,
     "found 3 columns; expected 2 like the first token line (line 1)"),
    ("a NN B-PER\n\nb O\n", 3, "found 2 columns; expected 3"),
    ("Peter\nBlackburn\n", 1, "found 1 column"),
    ("a O\nb X-PER\n", 2, "invalid tag 'X-PER'; expected O or B-/I-/E-/S-"),
    ("a O\n\nb B-\n", 3, "invalid tag 'B-'"),
    ("a per\n", 1, "invalid tag 'per'"),
    ("", 1, "the file is empty"),
    ("\n  \n-DOCSTART- -X- O\n\n", 4, "no sentences"),
    (b"a O\nb\xff O\n", 2, "byte 0xff at column 2 is not valid UTF-8"),
    (b"a O\n\nb\x00 O\n", 3, "NUL byte"),
])
def test_bad_input_names_file_and_line(tmp_path, content, line, fragment):
  path = _write(tmp_path, content)
  with pytest.raises(DataError) as info:
    read_conll(path)
  assert str(info.value).startswith(f"{path}:{line}: ")
  assert fragment in str(info.value)
  assert (info.value.path, info.value.line) == (str(path), line)
  assert isinstance(info.value, ValueError)


def test_bad_tag_for_given_scheme_and_tag_column(tmp_path):
  path = _write(tmp_path, "a B-PER\nb E-PER\n")
  with pytest.raises(DataError, match=r":2: tag 'E-PER' is not an iob1 tag"):
    read_conll(path, scheme="iob1")
  assert read_conll(path).scheme == "iobes"
  with pytest.raises(DataError, match=r":1: tag_column=2 does not name a column"):
    read_conll(path, tag_column=2)


def test_missing_path_and_directory(tmp_path):
  with pytest.raises(DataError) as info:
    read_conll(tmp_path / "nope.txt")
  assert str(info.value) == f"{tmp_path / 'nope.txt'}: no such file; expected a " \
      "CoNLL file (one token per line, the tag in the last column)"
  assert info.value.line is None
  with pytest.raises(DataError, match="is a directory"):
    read_conll(tmp_path)


def test_data_error_pickles():
  error = pickle.loads(pickle.dumps(DataError("f.txt", 3, "bad")))
  assert (str(error), error.path, error.line, error.message) == (
      "f.txt:3: bad", "f.txt", 3, "bad")


def test_write_conll_round_trip(tmp_path):
  words = [["Peter", "Blackburn", "said"], ["EU"]]
  gold = [["B-PER", "I-PER", "O"], ["S-ORG"]]
  pred = [["B-PER", "O", "O"], ["S-LOC"]]
  path = tmp_path / "out.txt"
  write_conll(path, words, gold, pred)
  assert path.read_text() == ("Peter B-PER B-PER\nBlackburn I-PER O\nsaid O O\n\n"
                              "EU S-ORG S-LOC\n\n")
  assert read_conll(path, tag_column=1).tags == [tuple(t) for t in gold]
  assert read_conll(path).tags == [tuple(t) for t in pred]
  write_conll(path, words, None, pred)  # replaces the file
  assert read_conll(path).words == [tuple(w) for w in words]
  assert path.read_text().splitlines()[0] == "Peter B-PER"
  assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]  # no temp left


@pytest.mark.parametrize("words, pred, fragment", [
    ([["a", "b"]], [["O"]], "expected equal lengths"),
    ([["a b"]], [["O"]], "holds whitespace"),
    ([["a"], ["b"]], [["O"]], "2 sentences of words but 1 of predictions"),
])
def test_write_conll_rejects(tmp_path, words, pred, fragment):
  with pytest.raises(ValueError, match=fragment):
    write_conll(tmp_path / "out.txt", words, None, pred)
  assert not list(tmp_path.iterdir())
