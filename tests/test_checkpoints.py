"""Tests of wincls/train/checkpoints.py and files.py: checksums, fallback, OS errors."""

import errno
import json
import logging

import numpy as np
import pytest
from flax import serialization

from wincls.train import checkpoints
from wincls.train import files
from wincls.train import workdir

TREE = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "epoch": 2}
TARGET = {"w": np.zeros((2, 3), np.float32), "epoch": 0}


def _flip_a_byte(path, offset=-3):
  data = bytearray(path.read_bytes())
  data[offset] ^= 0xFF
  path.write_bytes(bytes(data))


def test_damaged_checkpoint_is_detected_by_its_checksum(tmp_path):
  path = tmp_path / "ckpt"
  checkpoints.save(path, TREE)
  assert path.read_bytes().startswith(checkpoints.CHECKPOINT_MAGIC)
  _flip_a_byte(path)
  with pytest.raises(checkpoints.CheckpointError,
                     match=rf"{path}: damaged checkpoint: the sha256 of its"):
    checkpoints.restore(path, TARGET)
  path.write_bytes(path.read_bytes()[:40])  # cut short
  with pytest.raises(checkpoints.CheckpointError, match=f"{path}: damaged checkpoint"):
    checkpoints.restore(path, TARGET)


def test_checkpoint_without_checksum_still_loads_with_a_log_line(tmp_path, caplog):
  path = tmp_path / "old"
  path.write_bytes(serialization.to_bytes(TREE))  # written before checksums
  target = {**TARGET, "diverged_epoch": np.zeros(2, np.int64)}  # a key added since
  with caplog.at_level(logging.INFO):
    restored = checkpoints.restore(path, target, optional=("diverged_epoch",))
  np.testing.assert_array_equal(restored["w"], TREE["w"])
  np.testing.assert_array_equal(restored["diverged_epoch"], [0, 0])
  assert "written before checkpoints carried a checksum" in caplog.text
  path.write_bytes(b"\x00garbage")
  with pytest.raises(checkpoints.CheckpointError, match=f"{path}: damaged checkpoint"):
    checkpoints.restore(path, TARGET)


def test_damaged_or_missing_latest_falls_back_on_the_previous(tmp_path, caplog):
  for epoch in (1, 2):
    checkpoints.save_checkpoint(tmp_path, "latest", {**TREE, "epoch": epoch})
  latest = checkpoints.checkpoint_path(tmp_path, "latest")
  previous = latest.with_name("latest.prev")
  restore = lambda: checkpoints.restore_checkpoint_or_previous(tmp_path, "latest", TARGET)
  assert restore()["epoch"] == 2
  _flip_a_byte(latest)
  with caplog.at_level(logging.WARNING):
    assert restore()["epoch"] == 1
  assert f"{latest}: damaged checkpoint" in caplog.text
  assert f"using the previous checkpoint {previous}" in caplog.text
  assert latest.with_name("latest.damaged").exists() and not latest.exists()
  caplog.clear()
  with caplog.at_level(logging.WARNING):  # missing (a kill between the two renames)
    assert restore()["epoch"] == 1
  assert f"{latest}: missing" in caplog.text
  # The next save keeps the good previous one as latest.prev.
  checkpoints.save_checkpoint(tmp_path, "latest", {**TREE, "epoch": 2})
  assert checkpoints.restore(previous, TARGET)["epoch"] == 1
  _flip_a_byte(latest)
  _flip_a_byte(previous)
  with pytest.raises(checkpoints.CheckpointError, match=rf"{latest}: damaged .*"
                     rf"{previous}: damaged .* no good checkpoint left"):
    restore()
  assert latest.exists() and previous.exists()  # nothing moved when nothing is usable
  assert checkpoints.restore_checkpoint_or_previous(tmp_path / "new", "latest",
                                                    TARGET) is None


def test_failed_write_names_the_file_and_keeps_the_old_one(tmp_path, monkeypatch):
  path = tmp_path / "results.json"
  workdir.write_json(path, {"dev_f1": 0.5})

  def disk_full(f, data):
    raise OSError(errno.ENOSPC, "No space left on device")  # as a write raises it

  monkeypatch.setattr(files, "_write", disk_full)
  for write in (lambda: workdir.write_json(path, {"dev_f1": 0.7}),
                lambda: checkpoints.save(tmp_path / "ckpt", TREE),
                lambda: workdir.append_jsonl(tmp_path / "m.jsonl", [{"epoch": 1}])):
    with pytest.raises(OSError) as e:
      write()
    assert e.value.errno == errno.ENOSPC and e.value.filename is not None
  assert json.loads(path.read_text()) == {"dev_f1": 0.5}
  assert sorted(p.name for p in tmp_path.iterdir()) == ["m.jsonl", "results.json"]


def test_json_is_written_strictly_and_damaged_json_is_named(tmp_path):
  with pytest.raises(ValueError, match=r"m.jsonl: refusing to write a non-finite number"):
    workdir.append_jsonl(tmp_path / "m.jsonl", [{"loss": float("nan")}])
  with pytest.raises(ValueError, match="refusing to write a non-finite"):
    workdir.write_json(tmp_path / "r.json", {"loss": float("inf")})
  path = tmp_path / "results.json"
  path.write_text('{"seeds": [1 2]}')
  with pytest.raises(ValueError, match=rf"{path}: damaged: not valid JSON "
                     r"\(Expecting ',' delimiter at line 1 column 14\)"):
    workdir.read_results(tmp_path)
  path.write_text('{"dev_f1": 0.5}')
  with pytest.raises(ValueError, match=rf"{path}: damaged: expected the results"):
    workdir.read_results(tmp_path)


def test_temporary_files_of_cut_writes_are_removed(tmp_path):
  (tmp_path / "checkpoints").mkdir()
  stale = [tmp_path / "checkpoints" / ".latest.x1.tmp", tmp_path / ".best.x2.tmp",
           tmp_path / ".results.json.x3.tmp"]
  for path in stale:
    path.write_bytes(b"half")
  (tmp_path / "checkpoints" / "latest").write_bytes(b"kept")
  assert sorted(workdir.remove_temporary_files(tmp_path)) == sorted(stale)
  assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["latest"]
