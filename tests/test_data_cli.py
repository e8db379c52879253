"""Tests of the data checker, ``python -m wincls.data stats``."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wincls.data.__main__ import main


def _conll2003_dir() -> Path:
  env = os.environ.get("WINCLS_CONLL2003_DIR")
  path = Path(env) if env else (
      Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "conll2003")
  if not (path / "eng.train").is_file() or not (path / "eng.testa").is_file():
    pytest.skip(f"CoNLL-2003 not found in {path} (set WINCLS_CONLL2003_DIR)")
  return path


def _run(*args):
  return subprocess.run([sys.executable, "-m", "wincls.data", "stats", *map(str, args)],
                        capture_output=True, text=True, timeout=120)


def test_stats_json_on_conll2003():
  directory = _conll2003_dir()
  result = _run(directory / "eng.train", directory / "eng.testa", "--json")
  assert result.returncode == 0, result.stderr
  train, testa = [json.loads(line) for line in result.stdout.splitlines()]
  # Published counts (Tjong Kim Sang & De Meulder 2003, Tables 1 and 2).
  assert train == {"path": str(directory / "eng.train"), "sentences": 14041,
                   "tokens": 203621, "documents": 946, "scheme": "iob1",
                   "entities": {"LOC": 7140, "MISC": 3438, "ORG": 6321, "PER": 6600}}
  assert testa == {"path": str(directory / "eng.testa"), "sentences": 3250,
                   "tokens": 51362, "documents": 216, "scheme": "iob1",
                   "entities": {"LOC": 1837, "MISC": 922, "ORG": 1341, "PER": 1842}}


def test_stats_bad_files_exit_nonzero_without_traceback(tmp_path):
  good = tmp_path / "good.txt"
  good.write_text("Peter B-PER\nBlackburn I-PER\n\n")
  columns = tmp_path / "columns.txt"
  columns.write_text("a B-PER\n\nb NN O\n")
  tag = tmp_path / "tag.txt"
  tag.write_text("a O\nb B-\n")
  binary = tmp_path / "binary.bin"
  binary.write_bytes(b"\x7fELF\x00\x01")
  missing = tmp_path / "missing.txt"
  result = _run(good, columns, tag, binary, missing)
  assert result.returncode != 0
  assert "Traceback" not in result.stderr
  errors = result.stderr.splitlines()
  assert errors == [
      f"{columns}:3: found 3 columns; expected 2 like the first token line (line 1)",
      f"{tag}:2: invalid tag 'B-'; expected O or B-/I-/E-/S- followed by an "
      "entity type, e.g. B-PER",
      f"{binary}:1: contains a NUL byte (a binary file?); expected UTF-8 text",
      f"{missing}: no such file; expected a CoNLL file (one token per line, the "
      "tag in the last column)"]
  assert result.stdout.startswith(f"{good}: 1 sentences, 2 tokens, 1 documents, "
                                  "scheme iob2\n  entities: 1 (PER 1)")


def test_stats_given_scheme(tmp_path, capsys):
  path = tmp_path / "iobes.txt"
  path.write_text("a S-PER\nb O\n\nc B-geo-loc\nd E-geo-loc\n")
  assert main(["stats", str(path), "--json", "--scheme", "iobes"]) == 0
  stats = json.loads(capsys.readouterr().out)
  assert stats["entities"] == {"PER": 1, "geo-loc": 1}
  assert stats["scheme"] == "iobes" and stats["documents"] == 1
  assert main(["stats", str(path), "--scheme", "iob2"]) == 1
  expected = f"{path}:1: tag 'S-PER' is not an iob2 tag; expected prefixes O/B/I"
  assert expected in capsys.readouterr().err


def test_stats_on_old_mac_line_ends_and_control_characters(tmp_path):
  """The checker reads CR-only files and refuses what the trainer would refuse."""
  cr = tmp_path / "cr.txt"
  cr.write_bytes(b"Peter B-PER\rBlackburn I-PER\r\rin O\r")
  control = tmp_path / "control.txt"
  control.write_bytes(b"a O\nb\x0cc O\n")
  result = _run(cr, control)
  assert result.returncode != 0 and "Traceback" not in result.stderr
  assert result.stdout.startswith(f"{cr}: 2 sentences, 3 tokens, 1 documents")
  assert result.stderr.splitlines() == [
      f"{control}:2: control character U+000C at column 2; expected printable text "
      "(columns separated by spaces or tabs)"]
