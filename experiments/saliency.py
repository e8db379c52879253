r"""Per-position Jacobian norms of trained window models (what each position contributes).

  python experiments/saliency.py \
      --workdirs=runs/compare_conll2003/runs/window=concat,loss=cross_entropy \
      --workdirs=runs/compare_conll2003/runs/window=average,loss=cross_entropy \
      --output_dir=results/saliency

For each finished run of train.py (best checkpoint of its best seed), averages
``‖∂s/∂e_pos‖₂`` over the dev windows (``s``: the predicted class's score;
``e_pos``: the input vector at window position pos), computed with the hand
calculus (``wincls/model/jacobians.py`` ``position_norms``). Writes ``saliency.md`` (a table: one row per
run, one column per position), ``saliency.json`` and one PNG bar chart per run
(``<run name>.png``) into ``--output_dir``.
"""

# First, before the heavy imports: a signal from here on ends the script in one line.
from wincls import interrupts  # pylint: disable=g-bad-import-order
interrupts.exit_on_signals()

import json
import os
from pathlib import Path

from absl import app
from absl import flags

from wincls import cli

_WORKDIRS = flags.DEFINE_multi_string(
    "workdirs", None, "Workdirs of finished train.py runs (repeat the flag).")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Where to write the table and plots.")
_MAX_WINDOWS = flags.DEFINE_integer("max_windows", 20000,
                                    "Dev windows to average over (the first ones).")
cli.define_plugins_flag("yours import from the current directory too; those "
                        "a run's config.json names, from your installed packages "
                        "and PYTHONPATH only.")
flags.mark_flags_as_required(["workdirs", "output_dir"])


def _run_names(workdirs: list[str]) -> list[str]:
  """Each run's name for its row and ``<name>.png``: the workdir's last part, or,
  when two share it, the path below their common parent with ``/`` as ``_`` (a
  second run's chart would replace the first's)."""
  paths = [Path(os.path.realpath(w)) for w in workdirs]
  if len(set(paths)) < len(paths):
    raise app.UsageError("--workdirs names the same workdir twice")
  names = [p.name for p in paths]
  if len(set(names)) < len(names):
    common = Path(os.path.commonpath(paths))
    names = [str(p.relative_to(common)).replace(os.sep, "_") for p in paths]
  return names


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments {argv[1:]}")
  if _MAX_WINDOWS.value < 1:
    raise app.UsageError(f"--max_windows={_MAX_WINDOWS.value} must be >= 1")
  import jax
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  from wincls.model import jacobians as saliency
  from wincls import train
  from wincls.train import prepare

  out = Path(_OUTPUT_DIR.value)
  out.mkdir(parents=True, exist_ok=True)
  rows = []
  for workdir, name in zip(_WORKDIRS.value, _run_names(_WORKDIRS.value)):
    config, vocab, label_vocab, model_config, best, results = train.load_run(workdir)
    seed_index = int((results or {}).get("best_seed_index", 0))
    params = jax.tree.map(lambda x: x[seed_index], best["params"])
    dev = train.load_splits(config)["dev"]
    data = prepare.encode(dev, config, vocab=vocab, label_vocab=label_vocab)
    n = min(_MAX_WINDOWS.value, len(data.window_ids))
    norms = saliency.position_norms(params, data.window_ids[:n], data.feature_ids[:n],
                                    config=model_config)
    m = config.window_size
    row = {"run": name, "workdir": str(workdir), "window": config.window,
           "window_size": m, "seed_index": seed_index, "num_windows": n,
           "positions": list(range(-m, m + 1)), "norms": [float(v) for v in norms]}
    rows.append(row)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.bar(row["positions"], norms, color="tab:blue")
    ax.set_xlabel("window position (0 = centre word)")
    ax.set_ylabel("mean ‖∂s/∂e_pos‖")
    ax.set_title(f"{row['run']} ({config.window})", fontsize=9)
    ax.set_xticks(row["positions"])
    fig.tight_layout()
    fig.savefig(out / f"{row['run']}.png", dpi=120)
    plt.close(fig)
    print(f"{row['run']}: " + "  ".join(f"{p:+d}: {v:.4f}" for p, v in
                                         zip(row["positions"], norms)))

  width = max(r["window_size"] for r in rows)
  positions = list(range(-width, width + 1))
  lines = ["# Per-position Jacobian norms (mean ‖∂s/∂e_pos‖₂ over dev windows)", "",
           "| run | window | windows | " + " | ".join(f"{p:+d}" for p in positions) + " |",
           "|---|---|---|" + "---|" * len(positions)]
  for r in rows:
    by_pos = dict(zip(r["positions"], r["norms"]))
    cells = [f"{by_pos[p]:.4f}" if p in by_pos else "" for p in positions]
    lines.append(f"| {r['run']} | {r['window']} | {r['num_windows']} | " +
                 " | ".join(cells) + " |")
  (out / "saliency.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
  tmp = out / "saliency.json.tmp"
  tmp.write_text(json.dumps(rows, indent=1), encoding="utf-8")
  os.replace(tmp, out / "saliency.json")
  print("\n".join(lines))


if __name__ == "__main__":
  cli.run(main)
