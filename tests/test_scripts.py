"""End-to-end tests of experiments/{train,predict,compare}.py as subprocesses.

A compare.py sweep killed with SIGKILL after its first result row and rerun
must end with the rows and metrics of an uninterrupted sweep; a second sweep
on a workdir in use is refused in one line naming the holder; predict.py's
output re-scored by seqeval must give the F1 it printed; bad flags must exit
with one line on stderr and no traceback. Data: a slice of WNUT-2016 (bundled).
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from seqeval import metrics as seqeval_metrics

from wincls.train import workdir as checkpoint
from wincls import config as config_lib
from wincls import sweep
from wincls import train
from wincls.data import conll
from wincls.data import datasets

pytestmark = pytest.mark.heavy  # started first (tests/conftest.py)

REPO = Path(__file__).resolve().parents[1]
TINY = ["--train_fraction=0.05", "--hidden_size=8", "--embed_dim=8", "--epochs=2",
        "--learning_rate=0.01", "--batch_size=64"]
SWEEP = ["--losses=cross_entropy", "--num_seeds=2"] + TINY


_CACHE = {}


@pytest.fixture(scope="module", autouse=True)
def compilation_cache(tmp_path_factory):
  """A persistent compilation cache shared by this module's subprocesses.

  The sweeps and the train.py run compile the same programs; with the cache
  only the first process compiles each (the tests run in a fraction of the
  time). The numbers are the same either way: the cache holds executables.
  """
  _CACHE["dir"] = str(tmp_path_factory.mktemp("jax_cache"))
  yield
  _CACHE.clear()


def _env():
  env = dict(os.environ)
  env["JAX_PLATFORMS"] = "cpu"
  # A script's sys.path starts with experiments/, not the repository: import
  # this checkout's wincls, not another one installed in editable mode.
  env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH"))
                                      if p)
  if "dir" in _CACHE:
    env["JAX_COMPILATION_CACHE_DIR"] = _CACHE["dir"]
    env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    env["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
  return env


def _start(script, *args):
  return subprocess.Popen([sys.executable, str(REPO / "experiments" / script), *args],
                          cwd=REPO, env=_env(), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)


def _finish(process, timeout=240):
  out, err = process.communicate(timeout=timeout)
  return process.returncode, out, err


def _rows_without_timing(path):
  return [{k: v for k, v in row.items() if k not in train.TIMING_KEYS}
          for row in checkpoint.read_jsonl(path)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  """A sweep killed after its first result row and rerun, an uninterrupted
  sweep (a second sweep started on its workdir meanwhile, and a rerun once it
  finished), and a 2-seed train.py run of the sweep's concat configuration."""
  root = tmp_path_factory.mktemp("runs")
  killed = _start("compare.py", f"--workdir={root / 'killed'}", *SWEEP)
  single = _start("train.py", f"--workdir={root / 'train'}", *TINY, "--num_seeds=2",
                  "--per_seed_lines")
  results = root / "killed" / "results.jsonl"
  deadline = time.time() + 240
  while not checkpoint.read_jsonl(results):
    assert killed.poll() is None, killed.communicate()
    assert time.time() < deadline, "no result row within 240 s"
    time.sleep(0.05)
  killed.send_signal(signal.SIGKILL)
  killed.communicate()
  rows_at_kill = len(checkpoint.read_jsonl(results))
  whole = _start("compare.py", f"--workdir={root / 'whole'}", *SWEEP)
  rerun = _start("compare.py", f"--workdir={root / 'killed'}", *SWEEP)
  while not (root / "whole" / "lock").exists():  # the sweep holds its workdir
    assert whole.poll() is None, whole.communicate()
    assert time.time() < deadline + 240, "the sweep took no lock within 240 s"
    time.sleep(0.05)
  # A second sweep (another grid) on the workdir in use.
  intruder = _start("compare.py", f"--workdir={root / 'whole'}", "--axis=window=concat",
                    *SWEEP)
  outputs = {"whole_pid": whole.pid, "intruder": _finish(intruder)}
  for name, process in (("train", single), ("whole", whole), ("rerun", rerun)):
    code, out, err = _finish(process)
    assert code == 0, (name, err[-3000:])
    outputs[name] = out
  # The finished sweep answers again.
  outputs["again"] = _finish(_start("compare.py", f"--workdir={root / 'whole'}", *SWEEP))
  return root, rows_at_kill, outputs


def test_killed_sweep_resumes_to_the_same_results(runs):
  root, rows_at_kill, outputs = runs
  assert 2 <= rows_at_kill < 4  # killed mid-sweep: 2 configurations × 2 seeds
  whole = checkpoint.read_jsonl(root / "whole" / "results.jsonl")
  resumed = checkpoint.read_jsonl(root / "killed" / "results.jsonl")
  assert len(whole) == len(resumed) == 4
  assert len({(r["run"], r["seed"]) for r in resumed}) == 4  # no duplicates
  timing = set(sweep.TIMING_FIELDS)
  strip = lambda rows: sorted(({k: v for k, v in r.items() if k not in timing}
                               for r in rows), key=lambda r: (r["run_index"], r["seed"]))
  assert strip(resumed) == strip(whole)
  assert {r["window"] for r in whole} == {"average", "concat"}
  for run in ("window=average,loss=cross_entropy", "window=concat,loss=cross_entropy"):
    a = _rows_without_timing(root / "whole" / "runs" / run / "metrics.jsonl")
    b = _rows_without_timing(root / "killed" / "runs" / run / "metrics.jsonl")
    assert a == b and len(a) == 4  # 2 epochs × 2 seeds, none duplicated
  for name in ("results.csv", "results.md", "f1_by_config.png", "dev_f1_per_epoch.png"):
    assert (root / "killed" / name).is_file(), name
  assert "concat − average" in (root / "killed" / "results.md").read_text()
  assert "concat − average" in outputs["rerun"]
  _assert_quiet_console(outputs["whole"], runs=2, epochs=2)


def _assert_quiet_console(out, *, runs, epochs):
  """One line per epoch of each run over its seeds, one closing each run; no
  per-seed lines and no absl log prefixes."""
  lines = out.splitlines()
  assert not [l for l in lines if re.match(r"[IWEF]\d{4} ", l)], out  # absl's prefix
  assert not [l for l in lines if re.match(r"epoch \d+ seed \d+:", l)], out
  epoch_lines = [l for l in lines if re.match(r"epoch \d+/\d+: dev F1 ", l)]
  assert len(epoch_lines) == runs * epochs, out
  assert all(re.search(r"dev F1 [\d.]+ ± [\d.]+ \([\d.]+–[\d.]+\) \| loss [\d.]+ \| "
                       r"\d+ windows/s \| sweep ETA \d\d:\d\d$", l)
             for l in epoch_lines), epoch_lines
  assert sum(l.startswith("Finished ") and "over 2 seeds" in l for l in lines) == runs
  assert sum(l.startswith("Training ") and "(run " in l for l in lines) == runs
  assert any(l.startswith("Sweep ") and f"{runs} runs trained" in l for l in lines)


def _write_dev_files(directory):
  """The first 100 WNUT-2016 dev tweets with gold tags, and without."""
  dev = datasets.load_splits("wnut16")["dev"]
  sentences = dev.sentences[:100]
  words = [s.words for s in sentences]
  tagged, untagged = directory / "dev_tagged.txt", directory / "dev_words.txt"
  conll.write_conll(tagged, words, None, [s.tags for s in sentences])
  untagged.write_text("".join("\n".join(w) + "\n\n" for w in words))
  return tagged, untagged, sentences


def test_predict_output_rescored_by_seqeval_gives_printed_f1(runs, tmp_path):
  workdir = runs[0] / "train"
  tagged, untagged, sentences = _write_dev_files(tmp_path)
  code, out, err = _finish(_start("predict.py", f"--workdir={workdir}",
                                  f"--input={tagged}",
                                  f"--output={tmp_path / 'out_gold.txt'}"))
  assert code == 0, err
  printed = json.loads(out.strip().splitlines()[-1])
  gold = conll.read_conll(tmp_path / "out_gold.txt", tag_column=1)
  pred = conll.read_conll(tmp_path / "out_gold.txt", tag_column=2)
  assert [s.words for s in gold.sentences] == [s.words for s in sentences]
  assert gold.tags == [s.tags for s in sentences]
  gold_tags, pred_tags = [list(t) for t in gold.tags], [list(t) for t in pred.tags]
  assert printed["f1"] == pytest.approx(
      seqeval_metrics.f1_score(gold_tags, pred_tags, zero_division=0), abs=1e-12)
  assert printed["precision"] == pytest.approx(
      seqeval_metrics.precision_score(gold_tags, pred_tags, zero_division=0), abs=1e-12)
  assert f"F1 {100 * printed['f1']:.2f}" in out
  results = json.loads((workdir / "results.json").read_text())
  assert f"seed {results['best_seed_index']}" in out  # default: the best seed
  code, out, err = _finish(_start("predict.py", f"--workdir={workdir}",
                                  f"--input={untagged}",
                                  f"--output={tmp_path / 'out_words.txt'}",
                                  "--seed_index=1"))
  assert code == 0, err
  assert "F1" not in out and "seed 1 (index 1)" in out
  lines = (tmp_path / "out_words.txt").read_text().split("\n")
  assert {len(line.split()) for line in lines if line} == {2}  # word pred
  assert sum(1 for line in lines if line) == sum(len(s) for s in sentences)


def test_train_script_prints_config_and_metrics(runs):
  workdir, out = runs[0] / "train", runs[2]["train"]
  config = json.loads((workdir / "config.json").read_text())
  assert config["num_seeds"] == 2 and config["epochs"] == 2
  assert '"window": "concat"' in out  # the config is printed
  for epoch in (1, 2):
    assert re.search(rf"^epoch {epoch}/2: dev F1 .* \| run ETA", out, re.M)
    for seed in (0, 1):  # asked for with --per_seed_lines
      assert re.search(rf"^epoch {epoch} seed {seed}: loss", out, re.M)
  assert "Finished " in out and "over 2 seeds" in out
  assert len(checkpoint.read_jsonl(workdir / "metrics.jsonl")) == 4
  assert '"dev_f1": [' in out


def test_bad_flags_exit_with_one_clear_line(tmp_path):
  vectors = tmp_path / "vectors3.txt"
  vectors.write_text("the 0.1 0.2 0.3\ncat 0.3 0.2 0.1\n")
  cases = {
      "--window='diagonal' is not one of": ["--window=diagonal"],
      "--window_size=-1 must be >= 0": ["--window_size=-1"],
      "--data_dir=/no/such/dir: no such directory": ["--dataset=conll2003",
                                                     "--data_dir=/no/such/dir"],
      "--train_path=/no/such/file: no such file": ["--train_path=/no/such/file"],
      "expected 8": ["--vectors=file", f"--vectors_path={vectors}", "--embed_dim=8"],
  }
  # A workdir holding a run of another config.
  checkpoint.check_workdir_config(tmp_path / "other", config_lib.Config(epochs=1))
  cases["--epochs: stored 1, now 3"] = ["--epochs=3"]
  workdirs = {message: tmp_path / str(i) for i, message in enumerate(cases)}
  workdirs["--epochs: stored 1, now 3"] = tmp_path / "other"
  processes = {message: _start("train.py", f"--workdir={workdirs[message]}", *args)
               for message, args in cases.items()}
  processes["axis 'colour' is not a Config field"] = _start(
      "compare.py", f"--workdir={tmp_path / 'sweep'}", "--axis=colour=red,blue")
  # A base flag that the sweep's axis would replace.
  processes["--loss=hinge_ww is replaced by the sweep's axis --losses=cross_entropy,"
            "max_margin: give --losses=hinge_ww (or drop --loss)"] = _start(
      "compare.py", f"--workdir={tmp_path / 'sweep'}", "--loss=hinge_ww",
      "--losses=cross_entropy,max_margin")
  for message, process in processes.items():
    code, _, err = _finish(process)
    lines = err.strip().splitlines()
    assert code == 2, (message, err)
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert message in lines[0] and "Traceback" not in err
  # A run that failed on its data leaves no config behind: fixing the flag works.
  assert not (workdirs["expected 8"] / "config.json").exists()


def test_two_sweeps_on_one_workdir_one_is_refused_the_other_answers_again(runs):
  root, _, outputs = runs
  workdir = root / "whole"
  code, _, err = outputs["intruder"]
  assert code == 2 and err.count("\n") == 1, err
  assert (f"error: {workdir}: a sweep is running in this workdir: pid "
          f"{outputs['whole_pid']} on host" in err)
  assert {r["window"] for r in checkpoint.read_jsonl(workdir / "results.jsonl")} == {
      "average", "concat"}  # the sweep's own grid, whole
  code, out, err = outputs["again"]
  assert code == 0 and "Training" not in out, err[-3000:]
  assert "concat − average" in out
