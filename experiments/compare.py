r"""The main job: window representations × losses × seeds, with intervals.

  python experiments/compare.py --dataset=conll2003 --workdir=/tmp/compare

trains the grid ``--windows`` (average, concat) × ``--losses`` (cross_entropy,
max_margin), each configuration with ``--num_seeds`` (5) replicas trained
together (``wincls.train.programs.Static.seed_loop``: on the CPU N calls of
the one-seed program, vmapped on an accelerator), and writes ``results.jsonl``
(one row per configuration and seed), ``results.csv``, ``results.md`` (mean ±
std and 95% t-intervals over seeds, and paired differences such as concat −
average and max_margin − cross_entropy) and the plots ``f1_by_config.png`` and
``dev_f1_per_epoch.png`` into ``--workdir``. Each configuration trains in ``<workdir>/runs/<name>/`` as a
resumable run of ``experiments/train.py``: a killed sweep rerun with the same
command keeps its rows and completes the rest. On a terminal one progress bar
counts the whole grid's epochs; the output has one line per epoch of each
configuration summarising its seeds (dev F1 mean ± std and min–max, loss,
windows/s, the sweep's ETA; ``--per_seed_lines``: every seed's line too) and
one line closing each configuration and the sweep; each row also holds its configuration's ``compile_s``, ``train_s`` and
``eval_s`` (seconds, all seeds together).

More axes: ``--activations=tanh,relu``, ``--window_sizes=1,2,3``,
``--hidden_sizes=...``, ``--train_fractions=0.1,1.0``, ``--learning_rates=...``,
and ``--axis=FIELD=v1,v2`` for any ``Config`` field (repeatable; it replaces the
built-in axis of that field), e.g. ``--axis=window=average,weighted,concat`` or
``--axis=vectors=random,glove-6b-100d --axis=freeze_vectors=false,true``. Every
``Config`` field is also a flag setting the base of all runs (quick runs:
``--epochs=2 --train_fraction=0.1``); a field that an axis sweeps cannot be
one too: ``--loss=hinge_ww`` drops the default ``--losses`` axis (a line says
so; ``results.md`` lists the base fields that differ from the defaults), and
with ``--losses=...`` or ``--axis=loss=...`` it is an error naming both.

Every run of the grid is checked (its flags, paths, sparse support, named
vectors) before the first trains; an impossible one stops the sweep with one
line naming it. One sweep at a time per ``--workdir``: a second one (or a
train.py run there) is refused with a line naming the holder, except shards of
the same grid (a different grid is refused by ``grid.json``).

Splitting over machines: ``--num_shards=3 --shard_index=i`` runs every third
configuration from i (rows to ``results.shard-i-of-3.jsonl``); then the same
command with ``--collect`` (and ``--num_shards=3``) merges them and writes the
reports, exactly as the unsplit sweep would. A rerun shard skips the runs it
has rows for (and a finished run's ``results.json`` is read, not retrained),
so a SLURM array job (``--shard_index=$SLURM_ARRAY_TASK_ID``) can be
resubmitted; see docs/scaling.md. ``--num_devices=N`` trains each
configuration data-parallel over N devices of this machine.
"""

# First, before the heavy imports: a signal from here on ends the script in one line.
from wincls import interrupts  # pylint: disable=g-bad-import-order
interrupts.exit_on_signals()

from absl import flags

from wincls import cli
from wincls import device_flags

_WORKDIR = flags.DEFINE_string("workdir", None, "Directory of the sweep (created).")
_WINDOWS = flags.DEFINE_list("windows", ["average", "concat"], "Window representations.")
_LOSSES = flags.DEFINE_list("losses", ["cross_entropy", "max_margin"], "Losses.")
_ACTIVATIONS = flags.DEFINE_list("activations", [], "Activations axis (empty: base).")
_WINDOW_SIZES = flags.DEFINE_list("window_sizes", [], "Window half-widths axis.")
_HIDDEN_SIZES = flags.DEFINE_list("hidden_sizes", [], "Hidden sizes axis.")
_TRAIN_FRACTIONS = flags.DEFINE_list("train_fractions", [], "Training fractions axis.")
_LEARNING_RATES = flags.DEFINE_list("learning_rates", [], "Learning rates axis.")
_AXIS = flags.DEFINE_multi_string(
    "axis", [], "FIELD=v1,v2: an axis over any Config field (repeatable).")
_SHARD_INDEX = flags.DEFINE_integer("shard_index", 0, "This shard (0-based).")
_NUM_SHARDS = flags.DEFINE_integer("num_shards", 1, "Number of shards of the grid.")
_COLLECT = flags.DEFINE_bool("collect", False, "Merge the shards' results and report.")
cli.define_config_flags(defaults={"num_seeds": 5})
# One machine per shard: a sweep's runs do not span processes.
device_flags.define_device_flags(multi_process=False)
cli.define_preset_flag()
cli.define_console_flags()
flags.mark_flag_as_required("workdir")


def axes_from_flags():
  """The sweep's axes; a base flag that an axis would replace is settled
  (``sweep.grid.settle_axes``: a default axis gives way, a given one is an error)."""
  axes = [("window", _WINDOWS.value, "--windows", _WINDOWS.present),
          ("loss", _LOSSES.value, "--losses", _LOSSES.present)]
  named = [("activation", _ACTIVATIONS), ("window_size", _WINDOW_SIZES),
           ("hidden_size", _HIDDEN_SIZES), ("train_fraction", _TRAIN_FRACTIONS),
           ("learning_rate", _LEARNING_RATES)]
  axes += [(name, flag.value, f"--{flag.name}", True) for name, flag in named
           if flag.value]
  for spec in _AXIS.value:
    name, sep, values = spec.partition("=")
    if not sep or not values:
      raise cli.app.UsageError(f"--axis={spec!r}: expected FIELD=v1,v2")
    axis = (name.strip(), [v for v in values.split(",") if v], f"--axis={name.strip()}",
            True)
    # --axis=window=... replaces the --windows axis (likewise every named axis).
    same = [i for i, a in enumerate(axes) if a[0] == axis[0]]
    if same:
      axes[same[0]] = axis
    else:
      axes.append(axis)
  for name, values, _, _ in axes:
    if not values:
      raise cli.app.UsageError(f"the {name} axis is empty")
  given = {name: value for name, value in cli.config_values(flags.FLAGS).items()
           if flags.FLAGS[name].present}
  if not any(axis[0] in given for axis in axes):
    return [(name, values) for name, values, _, _ in axes]
  from wincls.sweep import grid  # pylint: disable=g-import-not-at-top
  try:
    axes, notes = grid.settle_axes([grid.AxisFlag(*axis) for axis in axes], given)
  except ValueError as e:
    raise cli.app.UsageError(str(e)) from None
  for note in notes:
    print(note, flush=True)
  return axes


def main(argv):
  if len(argv) > 1:
    raise cli.app.UsageError(f"unexpected arguments {argv[1:]}")
  cli.use_stdout_for_logging()
  axes = axes_from_flags()
  try:
    base = cli.config_from_flags(flags.FLAGS, workdir=_WORKDIR.value)
  except cli.app.UsageError:
    # The defaults may not fit the grid (--output=score with the default
    # --loss=cross_entropy): then the base takes each axis's first value.
    from wincls.sweep import grid  # pylint: disable=g-import-not-at-top
    firsts = {name: grid.parse_value(name, values[0]) for name, values in axes
              if name in cli.config_values(flags.FLAGS)}
    base = cli.config_from_flags(flags.FLAGS, workdir=_WORKDIR.value, **firsts)
  settings = device_flags.device_settings(flags.FLAGS)
  from wincls import sweep  # here: bad flags exit before JAX loads
  try:
    runs = sweep.make_grid(base, axes)
    # A bad shard is a usage error before anything runs.
    sweep.shard(runs, shard_index=_SHARD_INDEX.value, num_shards=_NUM_SHARDS.value)
  except ValueError as e:
    raise cli.app.UsageError(str(e)) from None
  if _COLLECT.value:
    rows = sweep.collect(base, axes, _WORKDIR.value, num_shards=_NUM_SHARDS.value)
    print(f"{len(rows)} result rows in {_WORKDIR.value}", flush=True)
  else:
    from wincls.train import distributed
    layout = distributed.setup(**settings)
    rows = sweep.run_sweep(base, axes, _WORKDIR.value, shard_index=_SHARD_INDEX.value,
                           num_shards=_NUM_SHARDS.value, layout=layout)
  if _NUM_SHARDS.value == 1 or _COLLECT.value:
    print(sweep.markdown_report(runs, axes, rows, base), flush=True)


if __name__ == "__main__":
  cli.run(main)
