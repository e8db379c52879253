"""Divergence: a seed whose loss or parameters stop being finite stops; the others go on.

The epoch is one compiled program vmapped over seeds, so a seed cannot leave
it; instead ``wincls.train.loop`` checks each seed after every epoch, on the
host, from the epoch's sums (``step.train_epoch``): a seed diverged when its
loss sum, its gradient-norm sum or the norm of its parameters is not finite
(``nonfinite_seeds``). ``first_nonfinite_step`` (the first step of the epoch
whose loss or gradient norm was not finite) says where.

A diverged seed is **frozen at its last finite state**: the loop copies the
state before each epoch and, for a diverged seed, keeps the copy (the state
after the previous epoch, which ``checkpoints/latest`` already holds) instead
of what the epoch made of it. Its lane of the vmapped epoch still computes in
later epochs (dropping it would recompile), but what it computes is thrown
away. It stops like a seed stopped early: no more ``metrics.jsonl`` rows (not
even for the epoch it diverged in: its dev scores would be those of the
previous epoch's parameters) and no more best-parameter updates, so
``checkpoints/best`` and ``checkpoints/latest`` only ever hold finite
parameters. ``results.json`` records it per seed (``diverged``,
``diverged_epoch``, ``diverged_step``: 1-based, within the epoch) and lists
``diverged_seeds``; a diverged seed's scores are those of its best epoch
before it diverged, and they count in ``dev_f1_mean`` like any other seed's.
When every seed diverged the run ends (``results.json`` is written: a rerun
gives the same) and ``experiments/train.py`` exits with status 3 and one line
(``all_diverged_message``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# Exit status of experiments/train.py when every seed diverged.
EXIT_ALL_DIVERGED = 3


def nonfinite_seeds(sums: dict[str, np.ndarray]) -> np.ndarray:
  """bool ``[S]``: the seeds whose epoch sums hold a non-finite number."""
  return ~(np.isfinite(sums["loss_sum"]) & np.isfinite(sums["grad_norm_sum"])
           & np.isfinite(sums["param_norm"]))


def diverged_step(first_nonfinite_step: int, steps_per_epoch: int) -> int:
  """The 1-based step of the epoch where a seed diverged.

  Args:
    first_nonfinite_step: the epoch's 0-based first step with a non-finite
      loss or gradient norm, -1 if none (then only the last update made the
      parameters non-finite: the last step).
    steps_per_epoch: steps in the epoch.
  """
  return first_nonfinite_step + 1 if first_nonfinite_step >= 0 else steps_per_epoch


def _number(value: float) -> str:
  return f"{value:.4g}" if math.isfinite(value) else str(value)


def message(*, seed: int, epoch: int, step: int, steps_per_epoch: int,
            sums: dict[str, np.ndarray], index: int, best_epoch: int,
            best_f1: float) -> str:
  """The log line of seed ``seed`` (at ``index`` of the sums) diverging."""
  loss = sums["loss_sum"][index] / max(float(sums["weight_sum"][index]), 1.0)
  grad = sums["grad_norm_sum"][index] / max(float(sums["num_steps"][index]), 1.0)
  kept = f"parameters of epoch {epoch - 1}" if epoch > 1 else "initial parameters"
  best = (f"its best epoch {best_epoch} (dev F1 {best_f1:.4f}) stays in checkpoints/best"
          if best_epoch > 0 else "it has no best epoch yet")
  return (f"seed {seed} diverged in epoch {epoch} at step {step} of {steps_per_epoch}: "
          f"loss {_number(float(loss))}, mean |grad| {_number(float(grad))}, "
          f"|params| {_number(float(sums['param_norm'][index]))} (not all finite). "
          f"It stops here with its {kept} (checkpoints/latest); "
          f"{best}. Lower --learning_rate or set --grad_clip.")


def finite_or_none(row: dict[str, Any]) -> dict[str, Any]:
  """``row`` with every non-finite float replaced by None (strict JSON: null)."""
  return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
          for k, v in row.items()}


def seed_fields(diverged_epoch: np.ndarray, diverged_step: np.ndarray
                ) -> list[dict[str, Any]]:
  """Per seed, ``results.json``'s ``diverged``, ``diverged_epoch``, ``diverged_step``.

  Args:
    diverged_epoch: int ``[S]``, the epoch each seed diverged in (0: never).
    diverged_step: int ``[S]``, the 1-based step within that epoch.
  """
  return [{"diverged": bool(e > 0), "diverged_epoch": int(e) if e > 0 else None,
           "diverged_step": int(s) if e > 0 else None}
          for e, s in zip(np.asarray(diverged_epoch), np.asarray(diverged_step))]


def all_diverged_message(results: dict[str, Any], workdir: str) -> str | None:
  """The one line ``experiments/train.py`` ends with when every seed diverged, or None."""
  seeds = results.get("seeds", [])
  if not seeds or not all(s.get("diverged") for s in seeds):
    return None
  where = ", ".join(f"seed {s['seed']} in epoch {s['diverged_epoch']} step "
                    f"{s['diverged_step']}" for s in seeds)
  return (f"{workdir}: every seed diverged ({where}): the loss or the parameters "
          "became non-finite; results.json holds each seed's last finite best epoch. "
          "Lower --learning_rate or set --grad_clip.")
