"""Tests of wincls/sweep/: grid order and names, arms, shards, statistics, reports.

The sweep logic is tested with a fake ``train_fn`` (deterministic results per
config and seed, no training); tests/test_scripts.py runs real sweeps.
"""

import dataclasses
import hashlib
import json
import math
import os
import re
import threading

import numpy as np
import pytest

from wincls.train import workdir as workdir_lib
from wincls import config as config_lib
from wincls import sweep

BASE = config_lib.Config(num_seeds=3, epochs=2)
AXES = [("window", ["average", "concat"]), ("loss", ["cross_entropy", "max_margin"]),
        ("learning_rate", ["0.01", "0.1"])]


def fake_train(config, workdir, calls=None):
  """Deterministic per-seed results of a config, and a metrics.jsonl."""
  if calls is not None:
    calls.append(workdir.name)
  seeds = []
  for i in range(config.num_seeds):
    digest = hashlib.sha256(f"{config.window}{config.loss}{config.learning_rate}"
                            f"{config.seed + i}".encode()).digest()
    f1 = 0.5 + digest[0] / 1000 + (0.05 if config.window == "concat" else 0.0)
    seeds.append({"seed": config.seed + i, "best_epoch": 1 + digest[1] % 2, "dev_f1": f1,
                  "dev_precision": f1 - 0.01, "dev_recall": f1 + 0.01,
                  "dev_accuracy": 0.9})
  workdir.mkdir(parents=True, exist_ok=True)
  workdir_lib.rewrite_jsonl(workdir / "metrics.jsonl", lambda r: False)
  workdir_lib.append_jsonl(workdir / "metrics.jsonl", [
      {"epoch": e, "seed": s["seed"], "dev_f1": s["dev_f1"] - 0.1 / e}
      for e in (1, 2) for s in seeds])
  return {"seeds": seeds, "epochs_run": 2, "wall_time": 1.0}


def test_grid_order_and_names_are_stable():
  runs = sweep.make_grid(BASE, AXES)
  assert [r.index for r in runs] == list(range(8))
  assert runs[0].name == "window=average,loss=cross_entropy,learning_rate=0.01"
  assert runs[-1].name == "window=concat,loss=max_margin,learning_rate=0.1"
  assert runs[1].config.learning_rate == 0.1 and runs[1].config.window == "average"
  assert runs[4].config.window == "concat" and runs[4].config.loss == "cross_entropy"
  assert [r.name for r in sweep.make_grid(BASE, AXES)] == [r.name for r in runs]
  bools = sweep.make_grid(BASE, [("freeze_vectors", ["false", "true"])])
  assert [r.name for r in bools] == ["freeze_vectors=false", "freeze_vectors=true"]
  assert bools[1].config.freeze_vectors is True


def test_grid_rejects_bad_axes():
  with pytest.raises(ValueError, match="axis 'colour' is not a Config field"):
    sweep.make_grid(BASE, [("colour", ["red"])])
  with pytest.raises(ValueError, match="axis window_size: 'two' is not a int"):
    sweep.make_grid(BASE, [("window_size", ["two"])])
  with pytest.raises(ValueError, match="run window=diagonal: --window='diagonal'"):
    sweep.make_grid(BASE, [("window", ["diagonal"])])
  with pytest.raises(ValueError, match="repeats a value"):
    sweep.make_grid(BASE, [("window", ["concat", "concat"])])


def test_shards_partition_the_grid():
  runs = sweep.make_grid(BASE, AXES)
  shards = [sweep.shard(runs, shard_index=i, num_shards=3) for i in range(3)]
  names = sorted(r.name for s in shards for r in s)
  assert names == sorted(r.name for r in runs)
  assert [r.index for r in shards[1]] == [1, 4, 7]
  with pytest.raises(ValueError, match="--shard_index=3 must be in"):
    sweep.shard(runs, shard_index=3, num_shards=3)


def test_t_quantile_and_interval():
  # Student's t table values.
  for df, expected in ((1, 12.7062), (4, 2.7764), (9, 2.2622), (30, 2.0423)):
    assert sweep.t_quantile(0.975, df) == pytest.approx(expected, abs=1e-4)
  assert sweep.t_quantile(0.025, 4) == pytest.approx(-2.7764, abs=1e-4)
  stats = sweep.mean_interval([0.80, 0.82, 0.84, 0.86, 0.88])
  assert stats["mean"] == pytest.approx(0.84)
  assert stats["std"] == pytest.approx(np.std([0.80, 0.82, 0.84, 0.86, 0.88], ddof=1))
  assert stats["half_width"] == pytest.approx(2.7764 * stats["std"] / math.sqrt(5),
                                              rel=1e-4)
  assert math.isnan(sweep.mean_interval([0.5])["half_width"])


def test_paired_differences_pair_by_seed():
  axes = [("window", ["average", "concat"])]
  runs = sweep.make_grid(BASE, axes)
  rows = [{"run": runs[0].name, "seed": s, "dev_f1": f} for s, f in
          ((0, 0.5), (1, 0.6), (2, 0.7))]
  rows += [{"run": runs[1].name, "seed": s, "dev_f1": f} for s, f in
           ((0, 0.55), (1, 0.66), (2, 0.77))]
  (diff,) = sweep.paired_differences(runs, rows, axes)
  assert (diff["axis"], diff["a"], diff["b"], diff["n"]) == ("window", "average",
                                                             "concat", 3)
  assert diff["mean"] == pytest.approx(0.06)
  assert diff["std"] == pytest.approx(0.01)  # paired: much smaller than unpaired


class _Killed(Exception):
  pass


def test_killed_sweep_resumes_without_duplicates(tmp_path):
  reference = sweep.run_sweep(BASE, AXES, tmp_path / "ref", train_fn=fake_train,
                              reports=False)
  calls = []

  def dies_at_third_run(config, workdir):
    if len(calls) == 2:
      raise _Killed
    return fake_train(config, workdir, calls)

  with pytest.raises(_Killed):
    sweep.run_sweep(BASE, AXES, tmp_path / "s", train_fn=dies_at_third_run,
                    reports=False)
  assert len(workdir_lib.read_jsonl(tmp_path / "s" / "results.jsonl")) == 6
  calls.clear()
  rows = sweep.run_sweep(BASE, AXES, tmp_path / "s",
                         train_fn=lambda c, w: fake_train(c, w, calls), reports=False)
  assert len(calls) == 6  # the two finished runs are not retrained
  assert rows == reference
  stored = workdir_lib.read_jsonl(tmp_path / "s" / "results.jsonl")
  assert stored == reference and len(stored) == 8 * 3
  assert {(r["run"], r["seed"]) for r in stored} == {
      (r.name, s) for r in sweep.make_grid(BASE, AXES) for s in (0, 1, 2)}
  row = stored[0]
  for key in ("window", "loss", "learning_rate", "seed", "dev_f1", "dev_precision",
              "dev_recall", "best_epoch", "wall_time"):
    assert key in row


def test_three_shards_collected_equal_the_unsplit_sweep(tmp_path):
  whole = sweep.run_sweep(BASE, AXES, tmp_path / "whole", train_fn=fake_train)
  for i in range(3):
    sweep.run_sweep(BASE, AXES, tmp_path / "split", shard_index=i, num_shards=3,
                    train_fn=fake_train)
  with pytest.raises(ValueError, match="missing; run shard 0 of 4"):
    sweep.collect(BASE, AXES, tmp_path / "split", num_shards=4)
  collected = sweep.collect(BASE, AXES, tmp_path / "split", num_shards=3)
  assert collected == whole
  for name in ("results.jsonl", "results.csv", "results.md"):
    assert ((tmp_path / "split" / name).read_text() ==
            (tmp_path / "whole" / name).read_text()), name
  for name in ("f1_by_config.png", "dev_f1_per_epoch.png"):
    assert (tmp_path / "split" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_contents(tmp_path):
  rows = sweep.run_sweep(BASE, AXES[:2], tmp_path, train_fn=fake_train)
  text = (tmp_path / "results.md").read_text()
  assert "| window | loss | objective | seeds | dev F1 | 95% CI |" in text
  # A multiclass max_margin is labelled for what it computes.
  assert "| concat | max_margin | hinge_cs: Crammer–Singer hinge" in text
  assert "concat − average" in text and "max_margin − cross_entropy" in text
  csv_lines = (tmp_path / "results.csv").read_text().splitlines()
  assert len(csv_lines) == 1 + len(rows) and csv_lines[0].startswith("run,run_index")
  with pytest.raises(workdir_lib.ConfigMismatchError, match="grid.json"):
    sweep.run_sweep(dataclasses.replace(BASE, epochs=3), AXES[:2], tmp_path,
                    train_fn=fake_train)


ARMS = {"random": {"vectors": "random"},
        "frozen": {"vectors": "file", "vectors_path": "v.txt", "freeze_vectors": "true"},
        "fine_tuned": {"vectors": "file", "vectors_path": "v.txt"}}


@pytest.fixture
def vector_files(tmp_path, monkeypatch):
  """ARMS's vectors files (a sweep checks every run's inputs before training)."""
  monkeypatch.chdir(tmp_path)
  for name in ("v.txt", "w.txt"):
    (tmp_path / name).write_text("the 0.1 0.2\n")


def test_arms_set_several_fields_and_name_the_runs():
  runs = sweep.make_grid(BASE, [("setting", ARMS), ("window", ["average", "concat"])])
  assert [r.name for r in runs[:3]] == ["setting=random,window=average",
                                        "setting=random,window=concat",
                                        "setting=frozen,window=average"]
  frozen = runs[2]
  assert frozen.values == (("setting", "frozen"), ("window", "average"))
  assert dict(frozen.overrides) == {"vectors": "file", "vectors_path": "v.txt",
                                    "freeze_vectors": True, "window": "average"}
  assert frozen.config.freeze_vectors is True and runs[0].config.vectors == "random"
  fractions = [sweep.Arm(f, {"train_fraction": f, "epochs": e})
               for f, e in ((0.01, 30), (1.0, 2))]
  (small, full) = sweep.make_grid(BASE, [("train_fraction", fractions)])
  assert small.name == "train_fraction=0.01" and small.config.epochs == 30
  assert full.config.train_fraction == 1.0 and full.config.epochs == 2


def test_arms_reject_unknown_fields_and_two_axes_setting_one_field():
  with pytest.raises(ValueError, match="arm bad of axis setting: field 'colour' is "
                     "not a Config field"):
    sweep.make_grid(BASE, [("setting", {"bad": {"colour": "red"}})])
  with pytest.raises(ValueError, match="axes setting and vectors both set vectors"):
    sweep.make_grid(BASE, [("setting", ARMS), ("vectors", ["random"])])
  with pytest.raises(ValueError, match="axis 'setting' is not a Config field"):
    sweep.make_grid(BASE, [("setting", ["random"])])


def test_arms_sweep_rows_reports_and_grid_file(tmp_path, vector_files):
  axes = [("setting", ARMS), ("loss", ["cross_entropy", "max_margin"])]
  rows = sweep.run_sweep(BASE, axes, tmp_path, train_fn=fake_train)
  assert len(rows) == 6 * 3
  assert {r["setting"] for r in rows} == set(ARMS)
  assert "window" not in rows[0]  # the columns are the grid's axes
  csv_header = (tmp_path / "results.csv").read_text().splitlines()[0]
  assert csv_header.startswith("run,run_index,setting,loss,seed,")
  text = (tmp_path / "results.md").read_text()
  assert "| setting | loss | objective | seeds | dev F1 |" in text
  assert "| field | random | frozen | fine_tuned |" in text
  assert "| `vectors` | random | file | file |" in text
  assert "| `freeze_vectors` | false | true | false |" in text
  assert "| setting | frozen − random | loss=cross_entropy | 3 |" in text
  grid = workdir_lib.read_json(tmp_path / "grid.json")
  assert grid["axes"][0][1][1] == {"name": "frozen", "overrides": {
      "vectors": "file", "vectors_path": "v.txt", "freeze_vectors": True}}
  changed = dict(ARMS, frozen={"vectors": "file", "vectors_path": "w.txt"})
  with pytest.raises(workdir_lib.ConfigMismatchError, match="sweep with other axes;"):
    sweep.run_sweep(BASE, [("setting", changed), axes[1]], tmp_path, train_fn=fake_train)


def test_paired_differences_all_pairs_of_one_axis(tmp_path, vector_files):
  axes = [("setting", ARMS), ("loss", ["cross_entropy", "max_margin"])]
  rows = sweep.run_sweep(BASE, axes, tmp_path, train_fn=fake_train, reports=False)
  runs = sweep.make_grid(BASE, axes)
  diffs = sweep.paired_differences(runs, rows, axes, compare=("setting",),
                                   all_pairs=True)
  assert [(d["b"], d["a"]) for d in diffs[:3]] == [
      ("frozen", "random"), ("fine_tuned", "random"), ("fine_tuned", "frozen")]
  assert len(diffs) == 3 * 2 and {d["axis"] for d in diffs} == {"setting"}
  by_run = {(r["run"], r["seed"]): r["dev_f1"] for r in rows}
  d = diffs[2]
  assert d["fixed"] == {"loss": "cross_entropy"}
  expected = [by_run[("setting=fine_tuned,loss=cross_entropy", s)] -
              by_run[("setting=frozen,loss=cross_entropy", s)] for s in (0, 1, 2)]
  assert d["mean"] == pytest.approx(np.mean(expected))


def test_plot_f1_vs_a_numeric_axis(tmp_path, vector_files):
  axes = [("learning_rate", ["0.01", "0.1"]), ("setting", ARMS)]
  rows = sweep.run_sweep(BASE, axes, tmp_path, train_fn=fake_train, reports=False)
  runs = sweep.make_grid(BASE, axes)
  for log_x in (True, False):
    path = tmp_path / f"f1_vs_lr_{log_x}.png"
    sweep.plot_f1_vs(path, runs, rows, x="learning_rate", lines="setting", log_x=log_x)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rows_carry_the_runs_times_and_one_counter_counts_the_grids_epochs(tmp_path,
                                                                           monkeypatch):
  from wincls.train import progress  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(progress, "on_terminal", lambda: True)  # draw the bar
  seen = []

  def timed_train(config, workdir):
    results = fake_train(config, workdir)
    # The sweep's counter, as the training loop sees it.
    with progress.run_epochs(total=config.epochs, initial=0) as counter:
      for epoch in (1, 2):
        seen.append((counter.label, epoch, counter.done, counter.bar.n))
        counter.update(1)
      assert counter.desc == "sweep" and counter.eta() is not None
    workdir_lib.rewrite_jsonl(workdir / "metrics.jsonl", lambda r: False)
    workdir_lib.append_jsonl(workdir / "metrics.jsonl", [
        {"epoch": e, "seed": s["seed"], "dev_f1": 0.5, "epoch_time": 2.0 * e,
         "eval_time": 0.5, **({"compile_time": 3.0} if e == 1 else {})}
        for e in (1, 2) for s in results["seeds"]])
    return results

  rows = sweep.run_sweep(BASE, AXES[:2], tmp_path, train_fn=timed_train, reports=False)
  assert len(rows) == 4 * 3
  for row in rows:  # per configuration (all its seeds), summed over epochs
    assert (row["compile_s"], row["train_s"], row["eval_s"]) == (3.0, 6.0, 1.0)
    assert "wall_time" in row
  # One count (and bar) over the 4 runs x 2 epochs, advanced by each run's epochs.
  assert [done for _, _, done, _ in seen] == [0, 1, 2, 3, 4, 5, 6, 7]
  assert [n for _, _, _, n in seen] == [0, 1, 2, 3, 4, 5, 6, 7]
  assert [label for label, _, _, _ in seen[::2]] == [f"run {i}/4" for i in (1, 2, 3, 4)]
  assert set(sweep.TIMING_FIELDS) >= {"wall_time", "compile_s", "train_s", "eval_s"}


def test_a_second_sweep_on_a_workdir_in_use_is_refused_naming_the_holder(tmp_path):
  from wincls.train import lock as lock_lib  # pylint: disable=g-import-not-at-top
  workdir, axes, refusals = tmp_path / "s", AXES[:2], {}

  def train_and_intrude(config, run_dir):
    if not refusals:  # while the sweep trains its first run
      others = {"same grid": dict(axes=axes), "other grid": dict(axes=AXES[:1]),
                "a shard": dict(axes=axes, shard_index=1, num_shards=2)}
      for what, kwargs in others.items():
        with pytest.raises(lock_lib.WorkdirLockedError) as error:
          sweep.run_sweep(BASE, workdir=workdir, train_fn=fake_train, **kwargs)
        refusals[what] = str(error.value)
      with pytest.raises(lock_lib.WorkdirLockedError) as error:  # a run on the workdir
        lock_lib.WorkdirLock(workdir).acquire()
      refusals["a run"] = str(error.value)
    return fake_train(config, run_dir)

  rows = sweep.run_sweep(BASE, axes, workdir, train_fn=train_and_intrude)
  for what, message in refusals.items():
    assert (f"a sweep is running in this workdir: pid {os.getpid()} on host"
            in message), what
    assert len(message.splitlines()) == 1
  assert len(rows) == 4 * 3 and not (workdir / "lock").exists()
  calls = []  # the finished sweep answers again, training nothing
  assert sweep.run_sweep(BASE, axes, workdir,
                         train_fn=lambda c, w: fake_train(c, w, calls)) == rows
  assert calls == []
  with pytest.raises(workdir_lib.ConfigMismatchError, match="sweep with other axes"):
    sweep.run_sweep(BASE, AXES[:1], workdir, train_fn=fake_train)


def test_shards_of_one_grid_share_a_workdir_and_another_grid_is_refused(tmp_path):
  from wincls.train import lock as lock_lib  # pylint: disable=g-import-not-at-top
  workdir, axes, seen = tmp_path / "s", AXES[:2], []

  def train_and_intrude(config, run_dir):
    if not seen:  # shard 0 trains; shard 1 of the same grid runs beside it
      seen.append(sweep.run_sweep(BASE, axes, workdir, shard_index=1, num_shards=2,
                                  train_fn=fake_train))
      with pytest.raises(lock_lib.WorkdirLockedError,
                         match="shard 0 of 2 of a sweep is running in this workdir"):
        sweep.run_sweep(BASE, axes, workdir, shard_index=0, num_shards=2,
                        train_fn=fake_train)
      with pytest.raises(workdir_lib.ConfigMismatchError, match="sweep with other axes"):
        sweep.run_sweep(BASE, AXES[:1], workdir, shard_index=1, num_shards=2,
                        train_fn=fake_train)
    return fake_train(config, run_dir)

  sweep.run_sweep(BASE, axes, workdir, shard_index=0, num_shards=2,
                  train_fn=train_and_intrude)
  assert len(seen[0]) == 2 * 3
  assert sweep.collect(BASE, axes, workdir, num_shards=2) == sweep.run_sweep(
      BASE, axes, tmp_path / "whole", train_fn=fake_train)
  assert sorted(p.name for p in workdir.glob("lock*")) == []


def test_racing_sweeps_create_the_grid_file_once(tmp_path):
  """Two grids checked at once on a new workdir: one writes grid.json, the other
  is refused (never both accepted, as a check followed by a write allows)."""
  grids = [(AXES[:1], sweep.make_grid(BASE, AXES[:1])),
           (AXES[1:2], sweep.make_grid(BASE, AXES[1:2]))]
  for attempt in range(20):
    workdir = tmp_path / str(attempt)
    workdir.mkdir()
    barrier, outcomes = threading.Barrier(2), []

    def check(axes, runs):
      barrier.wait()
      try:
        sweep.check_grid_file(workdir, BASE, runs, axes)
        outcomes.append("written")
      except workdir_lib.ConfigMismatchError:
        outcomes.append("refused")

    threads = [threading.Thread(target=check, args=grid) for grid in grids]
    for thread in threads:
      thread.start()
    for thread in threads:
      thread.join()
    assert sorted(outcomes) == ["refused", "written"], attempt
    stored = workdir_lib.read_json(workdir / "grid.json")
    assert stored["axes"][0][0] in ("window", "loss")
    assert [p.name for p in workdir.iterdir()] == ["grid.json"]  # no temporary left


def test_every_run_is_checked_before_the_first_trains(tmp_path):
  cases = {
      # sparse updates refuse frozen vectors: the second run of the grid
      "run embedding_update=sparse: --embedding_update=sparse": (
          dataclasses.replace(BASE, freeze_vectors=True),
          [("embedding_update", ["dense", "sparse"])]),
      # the named vectors' size is not --embed_dim
      "run vectors=glove-6b-100d: --vectors=glove-6b-100d has dimension 100; "
      "--embed_dim=50": (BASE, [("vectors", ["random", "glove-6b-100d"])]),
      "run train_path=-no-such-file: --train_path=/no/such/file: no such file": (
          BASE, [("train_path", ["", "/no/such/file"])]),
  }
  for message, (base, axes) in cases.items():
    calls = []
    with pytest.raises(ValueError, match=re.escape(message)):
      sweep.run_sweep(base, axes, tmp_path / "s",
                      train_fn=lambda c, w: fake_train(c, w, calls))
    assert calls == [], message
    assert not (tmp_path / "s").exists()  # nothing written


def test_a_flag_an_axis_would_replace_is_an_error_naming_both():
  window = sweep.AxisFlag("window", ["average", "concat"], "--windows", given=False)
  loss = sweep.AxisFlag("loss", ["cross_entropy", "max_margin"], "--losses", given=False)
  # The script's default axis gives way to the flag the user gave, and says so.
  axes, notes = sweep.settle_axes([window, loss], {"loss": "hinge_ww"})
  assert axes == [("window", ["average", "concat"])]
  assert notes == ["--loss=hinge_ww: the sweep's default axis "
                   "--losses=cross_entropy,max_margin is dropped"]
  assert sweep.settle_axes([window, loss], {}) == (
      [("window", ["average", "concat"]), ("loss", ["cross_entropy", "max_margin"])], [])
  given = dataclasses.replace(loss, given=True)
  with pytest.raises(ValueError, match=re.escape(
      "--loss=hinge_ww is replaced by the sweep's axis --losses=cross_entropy,"
      "max_margin: give --losses=hinge_ww (or drop --loss)")):
    sweep.settle_axes([window, given], {"loss": "hinge_ww"})
  rates = sweep.AxisFlag("learning_rate", ["0.1", "0.01"], "--axis=learning_rate",
                         given=True)
  with pytest.raises(ValueError, match=re.escape(
      "--learning_rate=0.5 is replaced by the sweep's axis "
      "--axis=learning_rate=0.1,0.01")):
    sweep.settle_axes([rates], {"learning_rate": 0.5})


def _hparams_sessions(run_dir):
  """``[(hparams, {metric tag: value})]`` of a run's ``tensorboard/hparams/``
  event files, one per HParams session start (what TensorBoard compares)."""
  from tensorboardX.proto import plugin_hparams_pb2  # pylint: disable=g-import-not-at-top
  from test_events import _events  # pylint: disable=g-import-not-at-top
  sessions = []
  for path in sorted((run_dir / "tensorboard").glob("**/*tfevents*")):
    for event in _events(path):
      for value in event.summary.value:
        if value.tag == "_hparams_/session_start_info":
          info = plugin_hparams_pb2.HParamsPluginData.FromString(
              value.metadata.plugin_data.content).session_start_info
          sessions.append(({k: getattr(v, v.WhichOneof("kind"))
                            for k, v in info.hparams.items()}, {}))
        elif value.HasField("simple_value") and sessions:
          sessions[-1][1][value.tag] = value.simple_value
  return sessions


def test_each_run_has_one_hparams_session_rebuilt_by_a_rerun(tmp_path):
  axes = AXES[:2]
  sweep.run_sweep(BASE, axes, tmp_path, train_fn=fake_train, reports=False)
  # A rerun skips the finished runs; one whose rows are lost trains again; one
  # killed between its rows and its hparams (none written) gets them.
  workdir_lib.rewrite_jsonl(tmp_path / "results.jsonl",
                            lambda r: r["window"] == "concat")
  # (The files as an earlier process named them: a rerun's name differs.)
  runs = sweep.make_grid(BASE, axes)
  for run in runs:
    for path in (tmp_path / "runs" / run.name / "tensorboard" / "hparams").iterdir():
      path.rename(path.with_name("events.out.tfevents.0000000001.host.1"))
      if run is runs[-1]:
        path.with_name("events.out.tfevents.0000000001.host.1").unlink()
  rows = sweep.run_sweep(BASE, axes, tmp_path, train_fn=fake_train, reports=False)
  for run in runs:
    f1s = [r["dev_f1"] for r in rows if r["run"] == run.name]
    (session,) = _hparams_sessions(tmp_path / "runs" / run.name)
    assert session[0] == dict(run.values)
    assert session[1] == {"dev/f1_mean": pytest.approx(np.mean(f1s)),
                          "dev/f1_std": pytest.approx(np.std(f1s, ddof=1))}


def test_a_grid_file_from_before_a_field_existed_still_answers(tmp_path):
  """A base field added since grid.json was written is absent from it: the sweep
  ran at that field's default, so the rerun goes on; another value is refused."""
  runs = sweep.make_grid(BASE, AXES[:1])
  sweep.check_grid_file(tmp_path, BASE, runs, AXES[:1])
  stored = workdir_lib.read_json(tmp_path / "grid.json")
  del stored["base"]["gazetteers"]
  (tmp_path / "grid.json").write_text(json.dumps(stored))
  sweep.check_grid_file(tmp_path, BASE, runs, AXES[:1])
  with pytest.raises(workdir_lib.ConfigMismatchError, match=r"base fields \['gazetteers'\]"):
    sweep.check_grid_file(tmp_path, dataclasses.replace(BASE, gazetteers=("LOC=x",)),
                          runs, AXES[:1])
