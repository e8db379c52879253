r"""Pre-trained vs random word vectors, frozen vs fine-tuned, by amount of training data.

Launch (CoNLL-2003; the vectors installed once with
``python -m wincls.vectors install glove-6b-100d``)::

  python experiments/vectors_study.py --dataset=conll2003 --workdir=/tmp/vectors_study

trains the grid ``--settings`` (random, frozen, fine_tuned) × ``--train_fractions``
(0.01, 0.1, 1.0) × ``--losses`` (cross_entropy; add ``crf`` for the
sentence-level likelihood), each configuration with ``--num_seeds`` (3) replicas
vmapped in one program, and writes into ``--workdir``: ``results.jsonl`` (one
row per configuration and seed), ``results.csv``, ``results.md`` (mean ± std and
95% t-interval of dev entity F1 per configuration; the paired differences
fine_tuned − frozen, fine_tuned − random and frozen − random per fraction) and
``f1_vs_fraction.png`` (dev F1 against the training fraction, log x axis, one
line per setting, 95% intervals as error bars).

The settings (``wincls/presets.py``):

- ``random``: ``presets.RANDOM_INIT`` (the best random-init configuration:
  50-d vectors drawn N(0, 0.01²)-ish by ``models.init_params``, dropout 0.5,
  word dropout 0.2); its vocabulary holds the training words only.
- ``fine_tuned``: ``presets.PRETRAINED`` with ``--vectors`` (glove-6b-100d by
  default, or ``--vectors=file --vectors_path=F``): the word table starts from
  the aligned vectors and is trained; the vocabulary holds the training words
  plus the dev words the vectors know (``wincls.train.prepare_data``).
- ``frozen``: the same with ``freeze_vectors=True`` (its only difference).

A ``Config`` flag given on the command line (e.g. ``--hidden_size=8``) replaces
the presets' value in every setting; ``--vectors``/``--vectors_path`` only
concern the pre-trained settings. ``results.md`` lists what differs.

**Epochs.** A fraction f of the data has about f times the steps per epoch, so
with the same number of epochs a 1% run would take 1% of the optimizer steps
and stop far from convergence. Each configuration trains
``max(E, ceil(--min_steps / steps_per_epoch(f)))`` epochs, E the setting's
epochs (12) and ``steps_per_epoch(f) = ceil(training tokens / batch_size)``
(for ``loss=crf`` batches hold about ``batch_size`` token positions, so the
same count is used). Every run still keeps, per seed, its best-dev-F1 epoch.
The full-data runs are unchanged (their steps exceed ``--min_steps``).

Each configuration trains in ``<workdir>/runs/<name>/`` as a resumable run of
``experiments/train.py`` (``wincls.sweep``'s layout): a killed study rerun with
the same command keeps its rows (``results.jsonl`` never holds a
configuration and seed twice), resumes the interrupted run and completes the
rest; ``study.json`` records each configuration and a rerun with other
settings for an existing name is refused.

Quick check on the bundled WNUT-2016 with a vectors file::

  python experiments/vectors_study.py --dataset=wnut16 --vectors=file \
      --vectors_path=vec.txt --embed_dim=8 --hidden_size=8 --epochs=1 \
      --min_steps=0 --train_fractions=0.1,1.0 --num_seeds=1 --workdir=/tmp/vs
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import time
from pathlib import Path

from absl import flags

from wincls import cli
from wincls import config as config_lib
from wincls import presets

SETTINGS = ("random", "frozen", "fine_tuned")
STUDY_FILE = "study.json"
PLOT_FILE = "f1_vs_fraction.png"
# Fields listed as shared in results.md when every setting has the same value.
SHOWN_SHARED = ("dataset", "window", "window_size", "features", "feature_dim",
                "classifier", "hidden_size", "activation", "label_scheme", "optimizer",
                "learning_rate", "schedule", "batch_size", "dropout", "word_dropout",
                "min_count", "lowercase", "normalize_digits")

_WORKDIR = flags.DEFINE_string("workdir", None, "Directory of the study (created).")
_SETTINGS = flags.DEFINE_list("settings", list(SETTINGS),
                              "Word-vector settings: random, frozen, fine_tuned.")
_TRAIN_FRACTIONS = flags.DEFINE_list("train_fractions", ["0.01", "0.1", "1.0"],
                                     "Fractions of the training sentences.")
_LOSSES = flags.DEFINE_list("losses", ["cross_entropy"],
                            "Losses (cross_entropy, crf, ...).")
_MIN_STEPS = flags.DEFINE_integer(
    "min_steps", 3000, "Each configuration trains at least this many optimizer steps "
    "(more epochs for small fractions); 0: the setting's epochs.")
# The settings and the axes set these fields themselves.
cli.define_config_flags(defaults={"num_seeds": 3, "vectors": "glove-6b-100d"},
                        skip=("train_fraction", "freeze_vectors", "loss"))
flags.mark_flag_as_required("workdir")


# ----------------------------------------------------------------------------
# The grid.


def flag_settings(flag_values) -> tuple[dict[str, object], set[str]]:
  """``(values, given)``: the ``Config`` fields' flag values (defaults included)
  and the names of those given on the command line."""
  values = cli.config_values(flag_values)
  return values, {name for name in values if flag_values[name].present}


def setting_config(setting: str, values: dict[str, object], given=frozenset()
                   ) -> config_lib.Config:
  """The base config of a setting (fraction 1, the preset's loss and epochs).

  Args:
    setting: ``random``, ``frozen`` or ``fine_tuned``.
    values: every ``Config`` field's flag value (``vectors``/``vectors_path``
      name the pre-trained vectors).
    given: the fields given on the command line: they replace the preset's
      values; the preset replaces the other flags' defaults.
  """
  preset = presets.RANDOM_INIT if setting == "random" else presets.PRETRAINED
  merged = dict(values)
  merged.update({k: v for k, v in preset.items() if k not in given})
  if setting == "random":
    merged.update(vectors="random", vectors_path="", freeze_vectors=False)
  else:
    merged.update(vectors=values["vectors"], vectors_path=values["vectors_path"],
                  freeze_vectors=setting == "frozen")
  return config_lib.Config(**merged)


def steps_per_epoch(config: config_lib.Config, fraction: float) -> int:
  """``ceil(tokens / batch_size)`` of the ``fraction`` subset of the training data."""
  from wincls import train
  splits = train.load_splits(config)
  corpus = train.subsample(splits["train"], fraction)
  return max(1, -(-corpus.num_tokens // config.batch_size))


def epochs_for(base_epochs: int, steps: int, min_steps: int) -> int:
  """``max(base_epochs, ceil(min_steps / steps))``."""
  return max(base_epochs, -(-min_steps // max(steps, 1)))


def make_runs(settings, fractions, losses, values, given=frozenset(), *, min_steps):
  """The study's ``sweep.Run``s: loss (slowest), fraction, setting (fastest).

  Raises:
    ValueError: an unknown setting, a bad fraction or a config that
      ``Config.validate`` rejects (naming the run).
  """
  from wincls import sweep
  for setting in settings:
    if setting not in SETTINGS:
      raise ValueError(f"--settings: {setting!r} is not one of {', '.join(SETTINGS)}")
  if len(set(settings)) != len(settings) or not settings:
    raise ValueError(f"--settings={','.join(settings)}: expected distinct settings")
  try:
    fractions = [float(f) for f in fractions]
  except ValueError:
    raise ValueError(f"--train_fractions={','.join(fractions)}: expected numbers "
                     "in (0, 1]") from None
  if not fractions or len(set(fractions)) != len(fractions):
    raise ValueError("--train_fractions: expected distinct fractions")
  if not losses or len(set(losses)) != len(losses):
    raise ValueError("--losses: expected distinct losses")
  if values["vectors"] == "random":
    raise ValueError("--vectors names the pre-trained vectors of the frozen and "
                     "fine_tuned settings (glove-6b-100d, or file with "
                     "--vectors_path); the random setting is in --settings")
  bases = {}
  for setting in settings:  # paths and vectors checked before reading the data
    config = setting_config(setting, values, given)
    try:
      config.validate()
    except ValueError as e:
      raise ValueError(f"setting {setting}: {e}") from None
    cli.check_paths(config)
    check_vectors(config)
    bases[setting] = config
  steps_cache = {}
  runs = []
  for loss in losses:
    for fraction in sorted(fractions):
      for setting in settings:
        overrides = (("loss", loss), ("train_fraction", fraction), ("setting", setting))
        name = sweep.run_name(overrides)
        config = dataclasses.replace(bases[setting], loss=loss, train_fraction=fraction)
        try:
          config.validate()
        except ValueError as e:
          raise ValueError(f"run {name}: {e}") from None
        key = (config.dataset, config.data_dir, config.train_path, config.batch_size,
               fraction)
        if key not in steps_cache:
          steps_cache[key] = steps_per_epoch(config, fraction)
        config = dataclasses.replace(
            config, epochs=epochs_for(config.epochs, steps_cache[key], min_steps))
        runs.append(sweep.Run(index=len(runs), name=name, overrides=overrides,
                              config=config))
  return runs


def check_vectors(config: config_lib.Config) -> None:
  """Fails early (before any training) on vectors of the wrong dimension."""
  if config.vectors == "random":
    return
  from wincls.data import vectors as vectors_lib
  _, matrix = vectors_lib.load_vectors(config.vectors_path or config.vectors)
  if matrix.shape[1] != config.embed_dim:
    flag = (f"--vectors_path={config.vectors_path}" if config.vectors_path
            else f"--vectors={config.vectors}")
    raise ValueError(f"{flag} has vectors of dimension {matrix.shape[1]}, but the "
                     f"pre-trained settings use --embed_dim={config.embed_dim}; pass "
                     f"--embed_dim={matrix.shape[1]}")


def check_study_file(workdir: Path, runs) -> None:
  """Records each run's config in ``study.json``; refuses a changed one."""
  from wincls import checkpoint
  path = workdir / STUDY_FILE
  stored = checkpoint.read_json(path) if path.exists() else {}
  for run in runs:
    wanted = checkpoint.config_dict(run.config)
    old = stored.get(run.name)
    if old is not None and old != wanted:
      fields = sorted(k for k in set(old) | set(wanted) if old.get(k) != wanted.get(k))
      diffs = "; ".join(f"--{k}: stored {old.get(k)!r}, now {wanted.get(k)!r}"
                        for k in fields)
      raise checkpoint.ConfigMismatchError(
          f"{path}: run {run.name} was trained with another config ({diffs}); use "
          "a new --workdir, or delete this one to start over")
    stored[run.name] = wanted
  checkpoint.write_json(path, stored)


# ----------------------------------------------------------------------------
# Running.


def _extra_fields(run, results, run_dir: Path) -> dict[str, object]:
  from wincls import checkpoint
  config = run.config
  extra = {"setting": dict(run.overrides)["setting"], "vectors": config.vectors,
           "freeze_vectors": config.freeze_vectors, "embed_dim": config.embed_dim,
           "epochs": config.epochs, "num_train_sentences": results["num_train_sentences"],
           "num_train_windows": results["num_train_windows"],
           "vocab_size": results["vocab_size"]}
  coverage = run_dir / "vectors_coverage.json"
  if coverage.exists():
    report = checkpoint.read_json(coverage)
    extra["vector_types_coverage"] = report["types"]["coverage"]
    if report.get("tokens"):
      extra["vector_tokens_coverage"] = report["tokens"]["coverage"]
  return extra


def run_study(runs, workdir: str | os.PathLike, *, train_fn=None) -> list[dict]:
  """Trains the runs that lack rows; returns the rows of ``results.jsonl``.

  Rows are keyed by (run, seed) and appended once a run finishes, so a killed
  study rerun keeps them and resumes the interrupted run (``train_fn`` is
  ``train.train_and_evaluate``, which resumes from the run's checkpoint).
  """
  from absl import logging
  from wincls import checkpoint
  from wincls import sweep
  if train_fn is None:
    from wincls import train
    train_fn = train.train_and_evaluate
  workdir = Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  check_study_file(workdir, runs)
  path = workdir / sweep.RESULTS_FILE
  rows = checkpoint.read_jsonl(path)
  done = {(r["run"], int(r["seed"])) for r in rows}
  for run in runs:
    seeds = [run.config.seed + i for i in range(run.config.num_seeds)]
    if all((run.name, s) in done for s in seeds):
      continue
    logging.info("Run %d/%d: %s (%d epochs)", run.index + 1, len(runs), run.name,
                 run.config.epochs)
    run_dir = workdir / sweep.RUNS_DIR / run.name
    results = train_fn(run.config, run_dir)
    extra = _extra_fields(run, results, run_dir)
    new = [{**row, **extra} for row in sweep.result_rows(run, results)
           if (row["run"], int(row["seed"])) not in done]
    checkpoint.append_jsonl(path, new)
    rows.extend(new)
    done.update((r["run"], int(r["seed"])) for r in new)
    logging.info("Run %s: dev F1 %s", run.name, [round(r["dev_f1"], 4) for r in new])
  return rows


# ----------------------------------------------------------------------------
# Reports.


def _pct(x) -> str:
  return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.2f}"


def summarize(runs, rows):
  """Per run with rows: its axes, ``mean_interval`` of dev F1 and averages."""
  from wincls import sweep
  return {s["run"]: s for s in sweep.summarize(runs, rows)}


def differences(runs, rows) -> list[dict]:
  """Paired (by seed) differences b − a of dev F1 per loss and fraction.

  Pairs: fine_tuned − frozen, fine_tuned − random, frozen − random (those
  whose two settings are in the study).
  """
  from wincls import sweep
  f1 = {}
  for row in rows:
    f1.setdefault(row["run"], {})[int(row["seed"])] = row["dev_f1"]
  by_axes = {tuple(v for _, v in run.overrides): run for run in runs}
  losses = list(dict.fromkeys(dict(r.overrides)["loss"] for r in runs))
  fractions = sorted({dict(r.overrides)["train_fraction"] for r in runs})
  out = []
  for loss in losses:
    for fraction in fractions:
      for b, a in (("fine_tuned", "frozen"), ("fine_tuned", "random"),
                   ("frozen", "random")):
        run_a, run_b = by_axes.get((loss, fraction, a)), by_axes.get((loss, fraction, b))
        if run_a is None or run_b is None:
          continue
        fa, fb = f1.get(run_a.name, {}), f1.get(run_b.name, {})
        seeds = sorted(set(fa) & set(fb))
        if not seeds:
          continue
        out.append({"loss": loss, "train_fraction": fraction, "a": a, "b": b,
                    **sweep.mean_interval([fb[s] - fa[s] for s in seeds])})
  return out


def settings_table(runs) -> list[str]:
  """Markdown lines: the config fields that differ between the settings."""
  from wincls import checkpoint
  by_setting = {}
  for run in runs:
    by_setting.setdefault(dict(run.overrides)["setting"],
                          checkpoint.config_dict(run.config))
  names = list(by_setting)
  skip = {"train_fraction", "epochs", "loss"}
  fields = [f.name for f in dataclasses.fields(config_lib.Config)
            if f.name not in skip and
            len({json.dumps(by_setting[s][f.name]) for s in names}) > 1]
  if not fields:
    return []

  def cell(value):
    if isinstance(value, list):
      return ",".join(value) or "–"
    return "–" if value == "" else str(value).lower() if isinstance(value, bool) else str(value)

  lines = ["| field | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
  for field in fields:
    lines.append(f"| `{field}` | " + " | ".join(cell(by_setting[s][field])
                                                 for s in names) + " |")
  return lines


def markdown_report(runs, rows, *, total_wall_time: float | None = None) -> str:
  summary = summarize(runs, rows)
  diffs = differences(runs, rows)
  first = runs[0].config
  lines = ["# Word vectors: random vs pre-trained (frozen, fine-tuned) by training "
           "fraction", ""]
  data = first.dataset + (f" ({first.data_dir})" if first.data_dir else "")
  lines += [f"Dataset {data}; dev entity F1 (%, conlleval) of each seed's best epoch, "
            "over seeds: mean ± sample std and the 95% t-interval of the mean.", ""]
  lines += ["Settings (fields that differ; everything else is shared):", ""]
  lines += settings_table(runs) + [""]
  configs = [checkpoint_dict(r.config) for r in runs]
  shared = {k: v for k, v in configs[0].items() if k in SHOWN_SHARED
            and all(c[k] == v for c in configs)}
  lines += ["Shared by every setting: " + ", ".join(
      f"`{k}={','.join(v) if isinstance(v, list) else v}`" for k, v in shared.items())
      + ". Epochs: `max(E, ceil(min_steps / steps_per_epoch))` (the table's "
      "column).", ""]
  header = ["loss", "fraction", "setting", "train sentences", "vocab", "epochs",
            "seeds", "dev F1", "95% CI", "P", "R", "best epoch", "wall s"]
  lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  first_rows = {}
  for row in rows:
    first_rows.setdefault(row["run"], row)
  for run in runs:
    s = summary.get(run.name)
    if s is None:
      continue
    axes = dict(run.overrides)
    row = first_rows[run.name]
    cells = [axes["loss"], f"{axes['train_fraction']:g}", axes["setting"],
             str(row.get("num_train_sentences", "")), str(row.get("vocab_size", "")),
             str(run.config.epochs), str(s["n"]),
             f"{_pct(s['mean'])} ± {_pct(s['std'])}",
             f"[{_pct(s['low'])}, {_pct(s['high'])}]", _pct(s["dev_precision"]),
             _pct(s["dev_recall"]), f"{s['best_epoch']:.1f}", f"{s['wall_time']:.0f}"]
    lines.append("| " + " | ".join(cells) + " |")
  if diffs:
    lines += ["", "Differences of dev F1 (percentage points; b − a at the same loss "
              "and fraction, paired by seed; 95% t-interval):", ""]
    lines += ["| loss | fraction | b − a | seeds | mean ± std | 95% CI |",
              "|---|---|---|---|---|---|"]
    for d in diffs:
      lines.append(f"| {d['loss']} | {d['train_fraction']:g} | {d['b']} − {d['a']} | "
                   f"{d['n']} | {_pct(d['mean'])} ± {_pct(d['std'])} | "
                   f"[{_pct(d['low'])}, {_pct(d['high'])}] |")
  wall = sum(summary[r.name]["wall_time"] for r in runs if r.name in summary)
  lines += ["", f"Training wall time, all configurations: {wall:.0f} s "
            f"({wall / 60:.1f} min; each run's seeds together)."]
  if total_wall_time is not None:
    lines.append(f"This invocation of the study: {total_wall_time:.0f} s.")
  return "\n".join(lines) + "\n"


def checkpoint_dict(config: config_lib.Config) -> dict:
  from wincls import checkpoint
  return checkpoint.config_dict(config)


def plot(path: str | os.PathLike, runs, rows) -> None:
  """Dev F1 against the fraction (log x), one line per setting (and loss)."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  import numpy as np
  from wincls import checkpoint

  summary = summarize(runs, rows)
  losses = list(dict.fromkeys(dict(r.overrides)["loss"] for r in runs))
  settings = list(dict.fromkeys(dict(r.overrides)["setting"] for r in runs))
  styles = ["-", "--", ":", "-."]
  fig, ax = plt.subplots(figsize=(6.0, 4.2))
  for li, loss in enumerate(losses):
    for si, setting in enumerate(settings):
      points = []
      for run in runs:
        axes = dict(run.overrides)
        if axes["loss"] == loss and axes["setting"] == setting and run.name in summary:
          points.append((axes["train_fraction"], summary[run.name], run.name))
      if not points:
        continue
      points.sort(key=lambda p: p[0])
      x = np.array([p[0] for p in points])
      y = np.array([100 * p[1]["mean"] for p in points])
      err = np.array([0.0 if math.isnan(p[1]["half_width"]) else 100 * p[1]["half_width"]
                      for p in points])
      label = setting if len(losses) == 1 else f"{setting}, {loss}"
      # Offsets on the log axis keep the error bars apart.
      shift = 1.0 + 0.04 * (si - (len(settings) - 1) / 2)
      ax.errorbar(x * shift, y, yerr=err, fmt="o" + styles[li % len(styles)],
                  color=f"C{si}", capsize=4, markersize=4, label=label)
      for fraction, _, name in points:
        seeds = [100 * r["dev_f1"] for r in rows if r["run"] == name]
        ax.plot(np.full(len(seeds), fraction * shift), seeds, ".", color=f"C{si}",
                alpha=0.35, markersize=3)
  ax.set_xscale("log")
  fractions = sorted({dict(r.overrides)["train_fraction"] for r in runs})
  ax.set_xticks(fractions)
  ax.set_xticklabels([f"{f:g}" for f in fractions])
  ax.set_xlabel("fraction of the training sentences (log scale)")
  ax.set_ylabel("dev entity F1 (%)")
  ax.set_title("mean over seeds, 95% t-intervals; dots: seeds", fontsize=9)
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  fig.tight_layout()
  buffer = io.BytesIO()
  fig.savefig(buffer, format="png", dpi=120)
  plt.close(fig)
  checkpoint.atomic_write_bytes(path, buffer.getvalue())


def write_reports(workdir: str | os.PathLike, runs, rows, *,
                  total_wall_time: float | None = None) -> str:
  """``results.csv``, ``results.md`` and ``f1_vs_fraction.png``; returns the markdown."""
  from wincls import checkpoint
  from wincls import sweep
  workdir = Path(workdir)
  names = {r.name for r in runs}
  rows = sweep.order_rows([r for r in rows if r["run"] in names], runs)
  sweep.write_csv(workdir / "results.csv", rows, ["setting", "train_fraction", "loss"])
  text = markdown_report(runs, rows, total_wall_time=total_wall_time)
  checkpoint.atomic_write_text(workdir / "results.md", text)
  plot(workdir / PLOT_FILE, runs, rows)
  return text


def main(argv):
  if len(argv) > 1:
    raise cli.app.UsageError(f"unexpected arguments {argv[1:]}")
  start = time.perf_counter()
  cli.use_stdout_for_logging()
  values, given = flag_settings(flags.FLAGS)
  if _MIN_STEPS.value < 0:
    raise cli.app.UsageError(f"--min_steps={_MIN_STEPS.value} must be >= 0")
  try:
    runs = make_runs(_SETTINGS.value, _TRAIN_FRACTIONS.value, _LOSSES.value, values,
                     given, min_steps=_MIN_STEPS.value)
  except ValueError as e:
    raise cli.app.UsageError(str(e)) from None
  print(f"{len(runs)} configurations: " + ", ".join(
      f"{r.name} ({r.config.epochs} epochs)" for r in runs), flush=True)
  rows = run_study(runs, _WORKDIR.value)
  elapsed = time.perf_counter() - start
  text = write_reports(_WORKDIR.value, runs, rows, total_wall_time=elapsed)
  print(f"{len(rows)} result rows in {_WORKDIR.value}; this invocation took "
        f"{elapsed:.0f} s", flush=True)
  print(text, flush=True)


if __name__ == "__main__":
  cli.run(main)
