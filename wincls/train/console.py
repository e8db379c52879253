"""The training loop's console lines: one per epoch over the seeds, one per run.

``epoch_line`` summarises an epoch's ``metrics.jsonl`` rows (one per seed
still training): dev F1 mean ± sample std and min–max over the seeds (in %),
the mean loss, windows/s and the ETA of the job (the run's, or in a sweep the
sweep's). ``seed_line`` is one seed's row in full; the loop logs these on the
logger ``SEED_LOGGER`` at DEBUG level, so they show only when asked for
(``--per_seed_lines``, ``wincls.cli``). ``run_line`` closes a run from its
results.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from wincls.train import progress

# The logger of the per-seed lines (DEBUG: hidden unless this logger is enabled).
SEED_LOGGER = "wincls.seeds"


def f1_summary(f1s: Sequence[float]) -> str:
  """``45.12 ± 1.03 (43.80–46.51)`` in % over seeds (one seed: ``45.12``)."""
  values = 100 * np.asarray(f1s, np.float64)
  if len(values) == 1:
    return f"{values[0]:.2f}"
  return (f"{values.mean():.2f} ± {values.std(ddof=1):.2f} "
          f"({values.min():.2f}–{values.max():.2f})")


def epoch_line(epoch: int, epochs: int, rows: Sequence[dict[str, Any]], *,
               num_seeds: int, eta: float | None, eta_of: str = "run") -> str:
  """One epoch of a run over its seeds.

  Args:
    epoch, epochs: this epoch (1-based) and the run's number of epochs.
    rows: the epoch's ``metrics.jsonl`` rows, one per seed still training.
    num_seeds: the run's seeds (more than ``rows``: some stopped or diverged).
    eta: seconds left (``progress.Counter.eta``), None: not known yet.
    eta_of: what the ETA covers ("run", "sweep").
  """
  width = len(str(epochs))
  seeds = "" if len(rows) == num_seeds else f" ({len(rows)} of {num_seeds} seeds)"
  line = (f"epoch {epoch:{width}d}/{epochs}: dev F1 {f1_summary([r['dev_f1'] for r in rows])}"
          f"{seeds} | loss {np.mean([r['loss'] for r in rows]):.4f} | "
          f"{rows[0]['windows_per_sec']:.0f} windows/s")
  if eta is not None:
    line += f" | {eta_of} ETA {progress.format_seconds(eta)}"
  return line


def seed_line(row: dict[str, Any]) -> str:
  """One seed's epoch: loss, dev P/R/F1, accuracy, speed and norms."""
  return ("epoch %d seed %d: loss %.4f dev P/R/F1 %.4f/%.4f/%.4f acc %.4f | %.0f "
          "windows/s, %.2fs/epoch | |params| %.3g |grad| %.3g" % (
              row["epoch"], row["seed"], row["loss"], row["dev_precision"],
              row["dev_recall"], row["dev_f1"], row["dev_accuracy"],
              row["windows_per_sec"], row["epoch_time"], row["param_norm"],
              row["grad_norm"]))


def run_line(name: str, results: dict[str, Any]) -> str:
  """A finished run: dev F1 over seeds, the best seed and epoch, the seeds'
  ensemble (``predict.py --ensemble``), epochs and time."""
  seeds = results["seeds"]
  best = seeds[results["best_seed_index"]]
  line = (f"Finished {name}: dev F1 {f1_summary([s['dev_f1'] for s in seeds])} over "
          f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''}, best seed {best['seed']} "
          f"(epoch {best['best_epoch']})"
          + (f", ensemble {100 * results['dev_f1_ensemble']:.2f}"
             if len(seeds) > 1 and results.get("dev_f1_ensemble") is not None else "")
          + f"; {results['epochs_run']} epochs, "
          f"{progress.format_seconds(results['wall_time'])}")
  if results.get("diverged_seeds"):
    line += f"; diverged seeds {results['diverged_seeds']}"
  return line
