"""The devices JAX sees, and one epoch of the default run timed on them.

  python benchmarks/devices.py                       # WNUT-2016: runs anywhere
  python benchmarks/devices.py --dataset=conll2003 --num_seeds=5

Prints the backend and ``jax.devices()``, then builds the trainer's compiled
epoch (``programs.compiled_epoch`` through ``benchmarks/peers/wincls_train.py``'s
``TrainRunner``) on the train split of ``--dataset`` in the default
``Config``'s shapes (``benchmarks/workload.py``: ``--config=cw`` is the
default m=2, H=300 model; ``cs224n`` is m=1, H=200) and times ``--repeats``
epochs on the default device after compiling it and one warm-up epoch. With ``--num_seeds=N`` the N
seeds run as ``--num_seeds`` trains them: the ``seed_loop`` printed is
``Static.from_config``'s choice for this backend (``calls`` on the CPU, one
call of the compiled one-seed epoch per seed; ``vmap`` on an accelerator, the
seeds in one program).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from absl import app
from absl import flags
import jax

_REPO = Path(__file__).resolve().parents[1]
if str(_REPO) not in sys.path:
  sys.path.insert(0, str(_REPO))

from benchmarks import workload  # pylint: disable=g-import-not-at-top
from benchmarks.peers import wincls_train  # pylint: disable=g-import-not-at-top

_DATASET = flags.DEFINE_enum("dataset", "wnut16", ["wnut16", "conll2003"],
                             "training data (wnut16 ships with the package; conll2003 "
                             "reads --data_dir)")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "CoNLL-2003 directory (default: "
                                "$WINCLS_CONLL2003_DIR or ../shared/data/conll2003)")
_CONFIG = flags.DEFINE_enum("config", "cw", list(workload.CONFIGS), "model shape")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 256, "batch size", lower_bound=1)
_NUM_SEEDS = flags.DEFINE_integer("num_seeds", 1, "seeds trained together", lower_bound=1)
_REPEATS = flags.DEFINE_integer("repeats", 3, "timed epochs (the median is reported)",
                                lower_bound=1)
_MAX_WINDOWS = flags.DEFINE_integer("max_windows", None, "train on the first N windows "
                                    "only (for a quick check)", lower_bound=1)


def describe_devices() -> list[str]:
  """Lines naming the backend and every device JAX sees."""
  lines = [f"jax {jax.__version__}, backend {jax.default_backend()}, "
           f"{jax.device_count()} device(s), {jax.process_count()} process(es)"]
  for device in jax.devices():
    kind = getattr(device, "device_kind", "")
    lines.append(f"  {device.id}: {device.platform} {kind} ({device})")
  return lines


def time_epoch(*, dataset: str, data_dir: str | None, config_name: str, batch_size: int,
               num_seeds: int, repeats: int, max_windows: int | None = None) -> dict:
  """Compiles the default run's epoch and times ``repeats`` epochs after a warm-up one."""
  data, spec = workload.load_data(config_name, data_dir=data_dir, max_windows=max_windows,
                                  dataset=dataset)
  runner = wincls_train.TrainRunner(
      data, spec, batch_size=batch_size, seed=0, embedding_update="dense",
      num_seeds=num_seeds, mode="program" if num_seeds > 1 else "single")
  runner.run_epoch()  # a warm-up epoch, not timed (first-call costs)
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    windows = runner.run_epoch()
    times.append(time.perf_counter() - start)
  epoch_s = statistics.median(times)
  return {"dataset": dataset, "config": config_name, "windows": data.num_windows,
          "num_seeds": num_seeds, "seed_loop": runner.seed_loop or "single",
          "compile_s": runner.compile_s, "epoch_s": epoch_s,
          "windows_per_s": windows / epoch_s, "device": str(jax.devices()[0])}


def format_timing(row: dict) -> str:
  return (f"{row['dataset']} train, {row['config']} shape, {row['windows']:,} windows, "
          f"{row['num_seeds']} seed(s) (seed_loop {row['seed_loop']}) on {row['device']}: "
          f"compile {row['compile_s']:.1f} s, epoch {row['epoch_s']:.3f} s "
          f"(median), {row['windows_per_s']:,.0f} windows/s")


def main(argv):
  del argv
  print("\n".join(describe_devices()), flush=True)
  row = time_epoch(dataset=_DATASET.value, data_dir=_DATA_DIR.value, config_name=_CONFIG.value,
                   batch_size=_BATCH_SIZE.value, num_seeds=_NUM_SEEDS.value,
                   repeats=_REPEATS.value, max_windows=_MAX_WINDOWS.value)
  print(format_timing(row))


if __name__ == "__main__":
  app.run(main)
