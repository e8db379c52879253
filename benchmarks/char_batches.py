"""Distinct words per training batch, and the tier of ``wincls.model.chars`` each takes.

  python benchmarks/char_batches.py --dataset=conll2003 --batch_sizes=64,256,1024

The character CNN runs once per distinct row of a call (``chars.TIERS``, static
slots picked by ``lax.switch``). For the ``cw_chars`` windows of the training
split, this draws ``--epochs`` shuffles into batches of each size, as the
trainer does, and prints per batch size the distinct rows and the distinct rows
longer than ``char_max_len // 2`` (mean and max, as a share of the batch's
positions) and how many batches each tier took (the last column: per position).
It runs the library's own grouping (``chars._groups``), jitted, on the CPU.
"""

import collections
from pathlib import Path
import sys

from absl import app
from absl import flags
import numpy as np

_REPO = Path(__file__).resolve().parents[1]
if str(_REPO) not in sys.path:  # run as a script: the repository, for benchmarks/
  sys.path.insert(0, str(_REPO))

_DATASET = flags.DEFINE_string("dataset", "conll2003", "conll2003 or wnut16")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "the dataset's directory (default: "
                                "the environment variable, then ../shared/data)")
_BATCH_SIZES = flags.DEFINE_list("batch_sizes", ["64", "256", "1024"], "windows per batch")
_EPOCHS = flags.DEFINE_integer("epochs", 2, "shuffles drawn", lower_bound=1)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments {argv[1:]}")
  import jax
  from benchmarks import workload
  from wincls.model import chars

  data, spec = workload.load_data("cw_chars", data_dir=_DATA_DIR.value,
                                  dataset=_DATASET.value)

  @jax.jit
  def count(rows):
    """(distinct rows, distinct long rows, branch) of one call."""
    groups = chars._groups(rows)
    return groups.count, groups.long_count, groups.index

  rng = np.random.default_rng(0)
  print(f"{_DATASET.value}: {len(data.labels)} windows of {spec.window_len}, "
        f"{spec.char_max_len} characters; tiers (distinct, long) = {chars.TIERS}")
  print("| batch | positions | distinct mean | max | long distinct mean | max | batches per branch |")
  print("|---:|---:|---:|---:|---:|---:|---|")
  for batch_size in (int(b) for b in _BATCH_SIZES.value):
    counts, longs, branches = [], [], collections.Counter()
    for _ in range(_EPOCHS.value):
      order = rng.permutation(len(data.labels))
      for start in range(0, len(order) - batch_size + 1, batch_size):
        rows = data.char_ids[order[start:start + batch_size]].reshape(-1, spec.char_max_len)
        n, n_long, index = count(rows)
        counts.append(int(n))
        longs.append(int(n_long))
        branches[int(index)] += 1
    positions = batch_size * spec.window_len
    share = lambda values: (100 * np.mean(values) / positions, 100 * np.max(values) / positions)
    per_branch = ", ".join(f"{branches[i]}" for i in range(len(chars.TIERS) + 1))
    print(f"| {batch_size} | {positions} | {share(counts)[0]:.1f}% | {share(counts)[1]:.1f}% "
          f"| {share(longs)[0]:.1f}% | {share(longs)[1]:.1f}% | {per_branch} |")


if __name__ == "__main__":
  app.run(main)
