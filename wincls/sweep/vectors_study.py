"""The word-vectors study: random vs pre-trained (frozen, fine-tuned) × data size.

``experiments/vectors_study.py`` sweeps the grid ``loss`` (slowest) ×
``train_fraction`` × ``setting`` (fastest), where ``setting`` is an arms axis
whose arms differ **only** in the word vectors (``arms``):

- ``random``: ``vectors=random`` (the table drawn by
  ``wincls.model.network.init_params``);
- ``frozen``: the pre-trained vectors, ``freeze_vectors=True``;
- ``fine_tuned``: the pre-trained vectors, trained.

Everything else is shared by every run: ``presets.VECTORS_STUDY`` (``Config``'s
recommended defaults, with ``embed_dim=100``, the vectors' size, and
``vocab_include_dev=False``: every arm's vocabulary is the training words,
so the arms see the same vocabulary) and the flags given.

**Epochs.** A fraction f of the data has about f times the steps per epoch, so
with the same epochs a 1% run would stop far from convergence. Each fraction
trains ``max(E, ceil(min_steps / steps_per_epoch(f)))`` epochs (the same for
every arm), E the base epochs and ``steps_per_epoch(f) = ceil(training
tokens / batch_size)`` (for ``loss=crf`` batches hold about ``batch_size``
token positions, so the same count is used). ``fraction_axis`` expresses
this as arms of the ``train_fraction`` axis, so ``grid.json`` records it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from wincls.train import workdir as workdir_lib
from wincls import config as config_lib
from wincls.sweep import grid as grid_lib
from wincls.sweep import report

ARMS = ("random", "frozen", "fine_tuned")
ARM_AXIS = "setting"
PLOT_FILE = "f1_vs_fraction.png"
# Fields listed in results.md as shared by every run.
SHARED_FIELDS = ("dataset", "embed_dim", "vocab_include_dev", "min_count", "lowercase",
                 "normalize_digits", "features", "feature_dim", "window",
                 "window_size", "classifier", "hidden_size", "activation",
                 "label_scheme", "dropout", "word_dropout", "optimizer",
                 "learning_rate", "schedule", "batch_size", "seed", "num_seeds")
# Fields of a run recorded in each of its rows.
ROW_FIELDS = ("vectors", "freeze_vectors", "embed_dim", "epochs")


def arms(vectors: str, vectors_path: str = "",
         names: Sequence[str] = ARMS) -> dict[str, dict[str, Any]]:
  """The arms ``names`` (in that order): ``{arm: {field: value}}``.

  Args:
    vectors: the pre-trained vectors of ``frozen`` and ``fine_tuned``
      (``glove-6b-100d``, or ``file`` with ``vectors_path``).
    vectors_path: the vectors file for ``vectors=file``.
    names: a subset of ``ARMS``.

  Raises:
    ValueError: an unknown or repeated arm, or ``vectors=random``.
  """
  unknown = [n for n in names if n not in ARMS]
  if unknown:
    raise ValueError(f"--settings: {unknown[0]!r} is not one of {', '.join(ARMS)}")
  if not names or len(set(names)) != len(names):
    raise ValueError(f"--settings={','.join(names)}: expected distinct settings")
  if vectors == "random":
    raise ValueError("--vectors names the pre-trained vectors of the frozen and "
                     "fine_tuned settings (glove-6b-100d, or file with "
                     "--vectors_path); the random setting is in --settings")
  every = {
      "random": {"vectors": "random", "vectors_path": "", "freeze_vectors": False},
      "frozen": {"vectors": vectors, "vectors_path": vectors_path,
                 "freeze_vectors": True},
      "fine_tuned": {"vectors": vectors, "vectors_path": vectors_path,
                     "freeze_vectors": False},
  }
  return {name: every[name] for name in names}


def check_vectors(config: config_lib.Config) -> None:
  """Fails early (before any training) on vectors of the wrong dimension."""
  if config.vectors == "random":
    return
  from wincls.data import vectors as vectors_lib  # pylint: disable=g-import-not-at-top
  _, matrix = vectors_lib.load_vectors(config.vectors_path or config.vectors)
  if matrix.shape[1] != config.embed_dim:
    flag = (f"--vectors_path={config.vectors_path}" if config.vectors_path
            else f"--vectors={config.vectors}")
    raise ValueError(f"{flag} has vectors of dimension {matrix.shape[1]}, but the "
                     f"pre-trained settings use --embed_dim={config.embed_dim}; pass "
                     f"--embed_dim={matrix.shape[1]}")


def steps_per_epoch(config: config_lib.Config, fraction: float) -> int:
  """``ceil(tokens / batch_size)`` of the ``fraction`` subset of the training data."""
  from wincls import train  # pylint: disable=g-import-not-at-top
  from wincls.data import datasets  # pylint: disable=g-import-not-at-top
  splits = datasets.load_splits(config.dataset, data_dir=config.data_dir or None,
                                train_path=config.train_path or None,
                                dev_path=config.dev_path or None)
  corpus = train.subsample(splits["train"], fraction)
  return max(1, -(-corpus.num_tokens // config.batch_size))


def epochs_for(base_epochs: int, steps: int, min_steps: int) -> int:
  """``max(base_epochs, ceil(min_steps / steps))``."""
  return max(base_epochs, -(-min_steps // max(steps, 1)))


def fraction_axis(base: config_lib.Config, fractions: Sequence[Any], *,
                  min_steps: int) -> tuple[str, list[grid_lib.Arm]]:
  """The ``train_fraction`` axis as arms that also set the epochs (sorted).

  Raises:
    ValueError: a fraction that is not a number, or repeated fractions.
  """
  try:
    fractions = sorted(float(f) for f in fractions)
  except ValueError:
    raise ValueError(f"--train_fractions={','.join(map(str, fractions))}: expected "
                     "numbers in (0, 1]") from None
  if not fractions or len(set(fractions)) != len(fractions):
    raise ValueError("--train_fractions: expected distinct fractions")
  values = []
  for fraction in fractions:
    if not 0.0 < fraction <= 1.0:
      raise ValueError(f"--train_fractions: {fraction} must be in (0, 1]")
    epochs = epochs_for(base.epochs, steps_per_epoch(base, fraction), min_steps)
    values.append(grid_lib.Arm(fraction, {"train_fraction": fraction, "epochs": epochs}))
  return "train_fraction", values


def make_axes(base: config_lib.Config, *, settings: Sequence[str],
              fractions: Sequence[Any], losses: Sequence[str],
              min_steps: int) -> list[tuple[str, Any]]:
  """The study's axes: loss (slowest), train_fraction, setting (fastest).

  Checks the vectors' dimension before reading the training data.

  Raises:
    ValueError: bad settings, fractions or losses, or vectors whose dimension
      is not ``base.embed_dim``.
  """
  named = arms(base.vectors, base.vectors_path, settings)
  if not losses or len(set(losses)) != len(losses):
    raise ValueError("--losses: expected distinct losses")
  if any(a["vectors"] != "random" for a in named.values()):
    check_vectors(base)
  return [("loss", list(losses)), fraction_axis(base, fractions, min_steps=min_steps),
          (ARM_AXIS, named)]


def row_fields(run: grid_lib.Run, results: dict[str, Any],
               run_dir: Path) -> dict[str, Any]:
  """What a study row adds: the vectors' settings, data sizes, coverage."""
  extra = {field: getattr(run.config, field) for field in ROW_FIELDS}
  extra.update({key: results[key] for key in
                ("num_train_sentences", "num_train_windows", "vocab_size")})
  coverage = run_dir / "vectors_coverage.json"
  if coverage.exists():
    coverage_report = workdir_lib.read_json(coverage)
    extra["vector_types_coverage"] = coverage_report["types"]["coverage"]
    if coverage_report.get("tokens"):
      extra["vector_tokens_coverage"] = coverage_report["tokens"]["coverage"]
  return extra


def report_options(base: config_lib.Config, rows: Sequence[dict[str, Any]], *,
                   min_steps: int, total_wall_time: float | None = None
                   ) -> report.ReportOptions:
  """The study's title, columns, comparisons (every pair of arms) and notes."""
  data = base.dataset + (f" ({base.data_dir})" if base.data_dir else "")
  description = (
      f"Dataset {data}; dev entity F1 of each seed's best epoch. The arms differ "
      "only in the word vectors (the table below); every other setting is shared "
      "by every run. `vocab_include_dev="
      f"{grid_lib.format_value(base.vocab_include_dev)}`"
      + (": each arm's vocabulary is the training words (the same for every arm "
         "at a fraction)." if not base.vocab_include_dev else
         ": the pre-trained arms' vocabulary also holds the dev words the vectors "
         "know, the random arm's only the training words."))
  wall = sum({row["run"]: row["wall_time"] for row in rows}.values())
  notes = [f"Epochs: `max(E, ceil(min_steps / steps_per_epoch))` with E = "
           f"{base.epochs} and min_steps = {min_steps}, the same for every arm "
           "(the `epochs` column).",
           f"Training wall time, all configurations: {wall:.0f} s "
           f"({wall / 60:.1f} min; each run's seeds together)."]
  if total_wall_time is not None:
    notes.append(f"This invocation of the study: {total_wall_time:.0f} s.")
  return report.ReportOptions(
      title="Word vectors: random vs pre-trained (frozen, fine-tuned) by training "
            "fraction",
      description=description, shared_fields=SHARED_FIELDS,
      columns=(("train sentences", "num_train_sentences"), ("vocab", "vocab_size"),
               ("epochs", "epochs")),
      compare=(ARM_AXIS,), all_pairs=True, notes=tuple(notes))


def write_reports(workdir: str | os.PathLike, base: config_lib.Config,
                  runs: Sequence[grid_lib.Run], axes: grid_lib.Axes,
                  rows: Sequence[dict[str, Any]], *, min_steps: int,
                  total_wall_time: float | None = None) -> str:
  """``results.csv``, ``results.md`` and ``f1_vs_fraction.png``; the markdown."""
  workdir = Path(workdir)
  names = {r.name for r in runs}
  rows = grid_lib.order_rows([r for r in rows if r["run"] in names], runs)
  report.write_csv(workdir / "results.csv", rows,
                   [a.name for a in grid_lib.make_axes(axes)])
  options = report_options(base, rows, min_steps=min_steps,
                           total_wall_time=total_wall_time)
  text = report.markdown_report(runs, axes, rows, base, options)
  workdir_lib.atomic_write_text(workdir / "results.md", text)
  report.plot_f1_vs(workdir / PLOT_FILE, runs, rows, x="train_fraction",
                    lines=ARM_AXIS, xlabel="fraction of the training sentences "
                    "(log scale)")
  return text

