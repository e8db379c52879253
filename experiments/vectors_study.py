r"""Random vs pre-trained word vectors, frozen vs fine-tuned, by amount of training data.

Launch (CoNLL-2003; the vectors installed once with
``python -m wincls.vectors install glove-6b-100d``)::

  python experiments/vectors_study.py --dataset=conll2003 --workdir=/tmp/vectors_study

sweeps ``--losses`` (cross_entropy; add ``crf`` for the sentence-level
likelihood) × ``--train_fractions`` (0.01, 0.1, 1.0) × ``--settings``, the
arms random, frozen, fine_tuned, which differ only in the word vectors:
``random`` draws them, ``frozen`` and ``fine_tuned`` start from ``--vectors``
(glove-6b-100d by default, or ``--vectors=file --vectors_path=F``) and keep
them fixed or train them. Every other setting is shared: ``presets.VECTORS_STUDY``
(``Config``'s recommended defaults with ``--embed_dim=100`` and
``--novocab_include_dev``, so every arm has the training words as its
vocabulary), replaced by any ``Config`` flag given. Each configuration trains
``--num_seeds`` (3) replicas together (``Static.seed_loop``: N calls of the
one-seed program on the CPU, vmapped on an accelerator), for ``max(--epochs,
ceil(--min_steps / steps per epoch))`` epochs (small fractions train longer;
the same for every arm; ``wincls/sweep/vectors_study.py``).

Writes into ``--workdir``: ``results.jsonl`` (one row per configuration and
seed), ``results.csv``, ``results.md`` (the arms and the shared settings; mean ±
std and 95% t-interval of dev entity F1 per configuration; paired differences
frozen − random, fine_tuned − random, fine_tuned − frozen per loss and
fraction) and ``f1_vs_fraction.png`` (dev F1 against the training fraction,
log x axis, one line per arm). Each configuration trains in
``<workdir>/runs/<name>/`` as a resumable run (``wincls.sweep``): a killed
study rerun with the same command keeps its rows and completes the rest;
``grid.json`` records the grid, and a rerun with other settings is refused.

Quick check on the bundled WNUT-2016 with a vectors file::

  python experiments/vectors_study.py --dataset=wnut16 --vectors=file \
      --vectors_path=vec.txt --embed_dim=8 --hidden_size=8 --epochs=1 \
      --min_steps=0 --train_fractions=0.1,1.0 --num_seeds=1 --workdir=/tmp/vs
"""

# First, before the heavy imports: a signal from here on ends the script in one line.
from wincls import interrupts  # pylint: disable=g-bad-import-order
interrupts.exit_on_signals()

import time

from absl import flags

from wincls import cli
from wincls import config as config_lib
from wincls import presets

_WORKDIR = flags.DEFINE_string("workdir", None, "Directory of the study (created).")
_SETTINGS = flags.DEFINE_list("settings", ["random", "frozen", "fine_tuned"],
                              "Arms (word vectors): random, frozen, fine_tuned.")
_TRAIN_FRACTIONS = flags.DEFINE_list("train_fractions", ["0.01", "0.1", "1.0"],
                                     "Fractions of the training sentences.")
_LOSSES = flags.DEFINE_list("losses", ["cross_entropy"],
                            "Losses (cross_entropy, crf, ...).")
_MIN_STEPS = flags.DEFINE_integer(
    "min_steps", 3000, "Each configuration trains at least this many optimizer steps "
    "(more epochs for small fractions); 0: --epochs.")
# The arms and the axes set these fields themselves.
cli.define_config_flags(
    defaults={**presets.VECTORS_STUDY, "num_seeds": 3, "vectors": "glove-6b-100d"},
    skip=("train_fraction", "freeze_vectors", "loss"))
cli.define_console_flags()
flags.mark_flag_as_required("workdir")


def main(argv):
  if len(argv) > 1:
    raise cli.app.UsageError(f"unexpected arguments {argv[1:]}")
  start = time.perf_counter()
  cli.use_stdout_for_logging()
  if _MIN_STEPS.value < 0:
    raise cli.app.UsageError(f"--min_steps={_MIN_STEPS.value} must be >= 0")
  # Not cli.config_from_flags: --vectors must not bring presets.PRETRAINED.
  base = config_lib.Config(**cli.config_values(flags.FLAGS)).validate()
  cli.check_paths(base)
  from wincls import sweep  # here: bad flags exit before JAX loads
  from wincls.sweep import vectors_study
  axes = vectors_study.make_axes(
      base, settings=_SETTINGS.value, fractions=_TRAIN_FRACTIONS.value,
      losses=_LOSSES.value, min_steps=_MIN_STEPS.value)
  runs = sweep.make_grid(base, axes)
  print(f"{len(runs)} configurations: " + ", ".join(
      f"{r.name} ({r.config.epochs} epochs)" for r in runs), flush=True)
  rows = sweep.run_sweep(base, axes, _WORKDIR.value, row_fields=vectors_study.row_fields,
                         reports=False)
  elapsed = time.perf_counter() - start
  text = vectors_study.write_reports(_WORKDIR.value, base, runs, axes, rows,
                                     min_steps=_MIN_STEPS.value, total_wall_time=elapsed)
  print(f"{len(rows)} result rows in {_WORKDIR.value}; this invocation took "
        f"{elapsed:.0f} s", flush=True)
  print(text, flush=True)


if __name__ == "__main__":
  cli.run(main)
