"""experiments/unknown_words.py on hand-made runs: recalls by known and unknown
words, and runs compared with the first, paired by seed (no training here)."""

import json
from pathlib import Path
import subprocess
import sys

import pytest

from wincls.data import vocab as vocab_lib

REPO = Path(__file__).resolve().parents[1]
# Gold entities: "Paris" (a training word) and "Zorbia" (not one).
GOLD = [("Paris", "B-LOC"), ("is", "O"), ("in", "O"), ("Zorbia", "B-LOC")]


def _run(root: Path, name: str, predicted: dict[int, list[str]], f1: dict[int, float]):
  """A finished run's files: vocab.json, one predictions file a seed, results.json."""
  workdir = root / name
  (workdir / "predictions").mkdir(parents=True)
  vocab_lib.Vocab([*vocab_lib.RESERVED, "Paris", "is", "in"]).save(workdir / "vocab.json")
  for seed, tags in predicted.items():
    lines = [f"{w} {g} {p}" for (w, g), p in zip(GOLD, tags)]
    (workdir / "predictions" / f"dev.seed{seed}.txt").write_text("\n".join(lines) + "\n\n")
  (workdir / "results.json").write_text(json.dumps(
      {"seeds": [{"seed": s, "dev_f1": v} for s, v in f1.items()]}))
  return workdir


def test_runs_after_the_first_are_compared_paired_by_seed(tmp_path):
  hit, miss = ["B-LOC", "O", "O", "B-LOC"], ["B-LOC", "O", "O", "O"]
  seeds = (2, 10, 11)  # 10 sorts before 2 as text: pairing is by seed, not order
  base = _run(tmp_path, "a", {s: miss for s in seeds}, {2: 0.5, 10: 0.6, 11: 0.7})
  other = _run(tmp_path, "b", {2: hit, 10: hit, 11: miss}, {2: 0.6, 10: 0.8, 11: 0.7})
  done = subprocess.run(
      [sys.executable, str(REPO / "experiments" / "unknown_words.py"),
       f"--workdirs={base}", f"--workdirs={other}", "--json"],
      cwd=tmp_path, capture_output=True, text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-2000:]
  rows = [json.loads(line) for line in done.stdout.splitlines()]
  assert rows[0]["unknown"]["recall"] == [0.0, 0.0, 0.0]
  assert rows[1]["unknown"]["recall"] == [1.0, 1.0, 0.0]  # seeds 2, 10, 11
  paired = rows[2]
  assert (paired["workdir"], paired["minus"], paired["seeds"]) == (str(other), str(base),
                                                                    [2, 10, 11])
  assert paired["dev_f1"]["mean"] == pytest.approx((0.1 + 0.2 + 0.0) / 3)
  assert paired["unknown"]["mean"] == pytest.approx(2 / 3)
  assert paired["known"]["mean"] == 0.0 and paired["known"]["std"] == 0.0


def test_one_shared_seed_gives_a_difference_without_an_interval(tmp_path):
  """With one seed in common there is no interval: JSON null (not NaN, which is
  no JSON) and a line without brackets."""
  hit, miss = ["B-LOC", "O", "O", "B-LOC"], ["B-LOC", "O", "O", "O"]
  base = _run(tmp_path, "a", {0: miss}, {0: 0.5})
  other = _run(tmp_path, "b", {0: hit}, {0: 0.75})
  script = [sys.executable, str(REPO / "experiments" / "unknown_words.py"),
            f"--workdirs={base}", f"--workdirs={other}"]
  done = subprocess.run([*script, "--json"], cwd=tmp_path, capture_output=True,
                        text=True, timeout=300)
  paired = json.loads(done.stdout.splitlines()[-1])
  assert paired["dev_f1"]["mean"] == 0.25 and paired["dev_f1"]["low"] is None
  done = subprocess.run(script, cwd=tmp_path, capture_output=True, text=True, timeout=300)
  assert done.stdout.splitlines()[-1].endswith(
      "(1 seeds, 95% CI): dev F1 +25.00; unknown-word recall +100.00; known-word recall +0.00")
