r"""Trains one configuration (all of its seeds together) and evaluates it on dev.

The seeds share one compiled program: on the CPU it is called once per seed
and epoch, on an accelerator it is vmapped over the seeds
(``wincls.train.programs.Static.seed_loop``).

Launch (CoNLL-2003 from ../shared/data/conll2003 or $WINCLS_CONLL2003_DIR)::

  python experiments/train.py --dataset=conll2003 --workdir=/tmp/w1 --epochs=3

Every field of ``wincls.config.Config`` is a flag of the same name with the same
default (``--helpfull`` lists them), e.g. ``--window=average --loss=max_margin
--num_seeds=5 --vectors=glove-6b-100d --freeze_vectors``. The config is printed
and saved as ``<workdir>/config.json``; per epoch one line over the seeds goes
to stdout (``--per_seed_lines``: each seed's too) and every seed's metrics to
``<workdir>/metrics.jsonl`` and to TensorBoard events (``<workdir>/tensorboard/
seed_<s>/``), the final ones to ``<workdir>/results.json``.
Rerunning the same command after a kill resumes from the last epoch; rerunning
it after the end prints the stored results. Exit status: 0 done; 2 bad flags
or input, a damaged file of the workdir, an OS error (read-only, disk full) or
another run holding the workdir (one ``error:`` line naming the file); 3 every
seed diverged (``wincls.train.divergence``).

Several devices, data-parallel (each takes an equal slice of every batch; the
results are those of one device up to float rounding; docs/scaling.md)::

  python experiments/train.py --dataset=conll2003 --workdir=/tmp/w1 --num_devices=4

Several hosts: one process per host (or per GPU), the same command with
``--coordinator_address=HOST0:PORT --num_processes=N --process_id=i`` (or
``--distributed`` under SLURM: ``srun python experiments/train.py --distributed
...``); process 0 writes the workdir. These flags are not ``Config`` fields: a
run can resume on other devices.
"""

# First, before the heavy imports: a signal from here on ends the script in one line.
from wincls import interrupts  # pylint: disable=g-bad-import-order
interrupts.exit_on_signals()

import json

from absl import flags

from wincls import cli
from wincls import device_flags

_WORKDIR = flags.DEFINE_string("workdir", None, "Directory of the run (created).")
cli.define_config_flags()
device_flags.define_device_flags()
cli.define_preset_flag()
cli.define_console_flags()
flags.mark_flag_as_required("workdir")


def main(argv):
  if len(argv) > 1:
    raise cli.app.UsageError(f"unexpected arguments {argv[1:]}")
  if not _WORKDIR.value:  # "" would train in the current directory
    raise cli.app.UsageError("--workdir is empty; expected the directory of the run")
  cli.use_stdout_for_logging()
  config = cli.config_from_flags(flags.FLAGS, workdir=_WORKDIR.value)
  settings = device_flags.device_settings(flags.FLAGS)
  from wincls.train import distributed  # here: bad flags exit before JAX loads
  from wincls import train
  layout = distributed.setup(**settings)
  print(config.to_json(), flush=True)
  results = train.train_and_evaluate(config, _WORKDIR.value, layout=layout)
  summary = {k: results[k] for k in ("dev_f1_mean", "dev_f1_std", "best_seed_index",
                                     "epochs_run", "wall_time")}
  summary["dev_f1"] = [s["dev_f1"] for s in results["seeds"]]
  summary["diverged_seeds"] = results.get("diverged_seeds", [])
  print(json.dumps(summary, indent=2, allow_nan=False), flush=True)
  from wincls.train import divergence
  message = divergence.all_diverged_message(results, _WORKDIR.value)
  if message is not None:
    cli.fail(message, status=divergence.EXIT_ALL_DIVERGED)


if __name__ == "__main__":
  cli.run(main)
