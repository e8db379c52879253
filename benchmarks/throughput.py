"""Training throughput (windows/s of one epoch) of wincls's trainer against its peers.

  pip install -e ".[bench]"   # torch==2.13.0 (CPU wheel); optional
  python benchmarks/throughput.py --threads=1 --batch_sizes=256 --repeats=3 \\
      --num_seeds=5 --output=results/throughput_default_run.json
  python benchmarks/throughput.py --smoke --output=/tmp/throughput.json

The run researchers actually make: CoNLL-2003 train (203,621 windows) encoded
as ``experiments/train.py --dataset=conll2003`` encodes it with the default
``Config`` (IOBES labels: 17 classes; lowercased words with digits mapped to 0,
V = 17,496; 50-d word vectors + 5-d casing vectors; relu hidden layer;
dropout 0.3 on the window vector and the hidden layer; word dropout 0.1; mean
softmax cross-entropy; Adam lr 1e-3; float32). Shapes (``CONFIGS``):
``cs224n`` (half-width m = 1, H = 200), ``cw`` (Collobert & Weston, m = 2,
H = 300: the default ``Config``) and ``cw_chars`` (``cw`` with
``--features=casing,chars``: each position also gets the character CNN of
``wincls.model.chars``, 16-d char vectors, 32 width-3 filters, max over the
first 16 chars; ``numpy_hand`` has no char CNN and its row says so). Every peer trains the same configuration
(``peers.Spec`` carries the activation, dropout, word dropout and label count).

Impls (``--impls``); ``optimizer_semantics`` in each row says whether Adam
updates every row of the word table each step (``dense``) or only the rows the
batch touches (``lazy``); compare rows of equal semantics only
(``vs_fastest_torch``: the ratio to the fastest torch row of the same
semantics, configuration and batch size):

* ``wincls_train`` (dense), ``wincls_train_sparse`` (lazy): the very compiled
  epoch ``train_and_evaluate`` runs (``benchmarks/peers/wincls_train.py``:
  ``Static.from_config`` → ``init_state`` → ``compiled_epoch``): a jitted
  ``lax.scan`` over ``train_step`` with the optimizer of ``wincls.train.optim``
  (dense: optax Adam on every row of the word table; sparse:
  lazy Adam on the word table's touched rows), the windows on the device, the
  permutation drawn on the device, the state donated. It visits all N windows
  (the last batch padded with weight-0 rows).
* ``torch_eager``, ``torch_eager_fused``, ``torch_compile`` (dense) and
  ``torch_sparse`` (lazy: ``nn.Embedding(sparse=True)`` + ``SparseAdam``):
  ``benchmarks/peers/torch_window.py`` (skipped with a note without torch).
* ``numpy_hand`` (dense): ``benchmarks/peers/numpy_hand.py``.

  The peers implement the activations ``tanh`` and ``relu``
  (``peers.ACTIVATIONS``); with another (``--model_overrides=activation=NAME``,
  one of yours with ``--plugins``) only the ``wincls`` rows are timed and each
  peer's row holds the error.

  The peers drop the ragged last batch and time at most
  ``--peer_max_windows`` windows of each epoch (whole batches; their cost per
  step is constant). ``windows`` in each row says how many windows were timed.
* ``wincls_seeds`` / ``wincls_vmap_seeds`` / ``wincls_sequential_seeds``
  (dense, the default settings): ``--num_seeds`` models (seeds ``seed,
  seed+1, ...``) trained as ``--num_seeds`` trains them (the seed loop
  ``programs.Static.from_config`` picks for this backend: on the CPU,
  ``calls``, the one-seed executable called per seed with the stacked
  state sliced and restacked), by one program that ``vmap``s the seeds, or by
  the single-seed epoch run once per seed on separate states (the executable
  of ``wincls_train``, so its ``compile_s`` is only its states' init);
  ``windows_per_s`` counts every seed's windows and
  ``vs_wincls_sequential_seeds`` is the speed-up over the sequential runs.

Threads: every impl gets ``--threads`` (default ``os.cpu_count()``;
``peers.limit_threads``). On a machine shared with other work, use
``--threads=1``: with more threads than free cores, every OpenMP parallel region
of torch waits for a descheduled thread (torch ran 10-30× slower).

Timing: for each configuration and batch size every impl is built (its compile
time is ``compile_s``), then ``--repeats + 1`` rounds run each impl's epoch in
turn (interleaved, so load drifts hit all of them alike); round 0 is a warm-up
and is dropped; the median of the others is reported.

Roofline (``benchmarks/roofline.py``): ``roofline_fraction = windows_per_s ·
flops_per_window / peak_flops_per_s`` with ``flops_per_window = 6·(D·H + H·C)``
(forward + backward matmuls, ``D = (2m+1)(E + Fd)``; with chars ``D``
adds ``(2m+1)·Fc`` and the convolution adds ``6·(2m+1)·L·k·c·Fc``) and the best measured
float32 FLOP/s of a jitted 2048² matmul; ``model_matmul_fraction`` the same
against the model's own hidden-layer matmuls at the batch size.

``--output=F`` writes ``{"rows": [...]}``; every row has ``config``,
``batch_size``, ``impl``, ``optimizer_semantics``, ``windows_per_s``,
``roofline_fraction``, ``compile_s`` and ``threads`` (None where an impl
failed or was skipped, with ``error``), and the load average at its start and
end.
"""

from __future__ import annotations

import json
import os
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

from benchmarks import peers  # pylint: disable=g-import-not-at-top
from benchmarks import roofline  # pylint: disable=g-import-not-at-top
from benchmarks import throughput_report  # pylint: disable=g-import-not-at-top
from benchmarks import workload  # pylint: disable=g-import-not-at-top
from benchmarks.peers import numpy_hand  # pylint: disable=g-import-not-at-top
from benchmarks.peers import wincls_train  # pylint: disable=g-import-not-at-top
from wincls import cli  # pylint: disable=g-import-not-at-top

CONFIGS = workload.CONFIGS
TRAIN_IMPLS = ("wincls_train", "wincls_train_sparse")
TORCH_IMPLS = throughput_report.TORCH_IMPLS
SEED_IMPLS = throughput_report.SEED_IMPLS
IMPLS = TRAIN_IMPLS + TORCH_IMPLS + ("numpy_hand",) + SEED_IMPLS
LAZY_IMPLS = ("wincls_train_sparse", "torch_sparse")  # the others: dense Adam

_DATA_DIR = flags.DEFINE_string("data_dir", None, "CoNLL-2003 directory (default: "
                                "$WINCLS_CONLL2003_DIR or ../shared/data/conll2003)")
_OUTPUT = flags.DEFINE_string("output", "results/throughput_default_run.json",
                              'JSON file: {"rows": [...]}')
_SMOKE = flags.DEFINE_bool("smoke", False, "tiny run: --smoke_windows windows, one "
                           "repeat, one batch size (64), 2 seeds, small roofline")
_SMOKE_WINDOWS = flags.DEFINE_integer("smoke_windows", 512, "windows in --smoke",
                                      lower_bound=1)
_BATCH_SIZES = flags.DEFINE_list("batch_sizes", ["32", "256", "1024"], "batch sizes")
_IMPLS = flags.DEFINE_list("impls", list(IMPLS), f"impls, of {', '.join(IMPLS)}")
_CONFIGS = flags.DEFINE_list("configs", list(CONFIGS), f"of {', '.join(CONFIGS)}")
_NUM_SEEDS = flags.DEFINE_integer("num_seeds", 8, "seeds of the vmap/sequential rows",
                                  lower_bound=1)
_REPEATS = flags.DEFINE_integer("repeats", 3, "timed rounds after the warm-up round",
                                lower_bound=1)
_PEER_MAX_WINDOWS = flags.DEFINE_integer(
    "peer_max_windows", 65536, "windows timed per epoch of the torch/numpy peers",
    lower_bound=1)
_SEED = flags.DEFINE_integer("seed", 0, "seed of every impl")
_THREADS = flags.DEFINE_integer(
    "threads", None, "threads of every impl (default: os.cpu_count()): "
    "torch.set_num_threads, NumPy's BLAS (threadpoolctl) and, when 1, XLA's "
    "(--xla_cpu_multi_thread_eigen=false)", lower_bound=1)
_MODEL_OVERRIDES = flags.DEFINE_list(
    "model_overrides", [], "FIELD=VALUE settings of every impl's model, e.g. "
    "dropout=0,word_dropout=0 (what the dropouts cost); FIELD of: dropout, "
    "word_dropout, activation")


def make_runner(impl: str, data: peers.Data, spec: peers.Spec, *, batch_size: int,
                seed: int, num_seeds: int, peer_max_windows: int, torch_window):
  """The runner of ``impl``: ``compile_s`` and ``run_epoch() -> windows``."""
  if impl in TRAIN_IMPLS + SEED_IMPLS:
    return wincls_train.make_runner(impl, data, spec, batch_size=batch_size, seed=seed,
                                    num_seeds=num_seeds)
  if impl in TORCH_IMPLS:
    return torch_window.make_runner(data, spec, batch_size=batch_size, seed=seed,
                                    variant=impl, max_windows=peer_max_windows)
  if impl == "numpy_hand":
    return numpy_hand.make_runner(data, spec, batch_size=batch_size, seed=seed,
                                  max_windows=peer_max_windows)
  raise ValueError(f"--impls: {impl!r} is not one of {', '.join(IMPLS)}")


def _new_row(base: dict, impl: str, num_seeds: int) -> dict:
  """A row with every required key (the measured ones None until measured)."""
  wincls = impl.startswith("wincls")
  return dict(base, impl=impl, num_seeds=num_seeds if impl in SEED_IMPLS else 1,
              optimizer_semantics="lazy" if impl in LAZY_IMPLS else "dense",
              embedding_update=(None if not wincls else
                                "sparse" if impl == "wincls_train_sparse" else "dense"),
              compile_s=None, windows_per_s=None, roofline_fraction=None)


def _time_block(runners: dict, rows: dict, *, repeats: int, label: str, log) -> dict:
  """``repeats + 1`` interleaved rounds; round 0 (warm-up) dropped.

  Returns ``impl -> [(wall s, process CPU s)]``. The CPU seconds (all of this
  process's threads) are steadier than the wall time on a shared machine.
  """
  times = {impl: [] for impl in runners}
  for round_ in range(repeats + 1):
    for impl, runner in list(runners.items()):
      try:
        start, cpu = time.perf_counter(), time.process_time()
        n = runner.run_epoch()
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
      except Exception as e:  # pylint: disable=broad-except
        rows[impl]["error"] = f"{type(e).__name__}: {e}"[:2000]
        log(f"  {impl}: failed: {rows[impl]['error'][:300]}")
        del runners[impl]
        times[impl] = []
        continue
      if round_ > 0:
        times[impl].append((seconds, cpu))
        rows[impl]["windows"] = n
      log(f"  {label} round {round_} {impl}: {seconds:.3f} s ({cpu:.3f} s CPU), "
          f"{n / seconds:,.0f} windows/s, load {os.getloadavg()[0]:.1f}"
          + (" (warm-up)" if round_ == 0 else ""))
  return times


def _run_block(data, spec, base: dict, *, impls, batch_size, seed, num_seeds, repeats,
               peer_max_windows, torch_window, torch_note, log) -> list[dict]:
  """Builds and times every impl at one (configuration, batch size)."""
  rows, runners = {}, {}
  base = dict(base, load_avg_block_start=os.getloadavg()[0])
  for impl in impls:
    rows[impl] = row = _new_row(base, impl, num_seeds)
    if impl in TORCH_IMPLS and torch_window is None:
      row["error"] = f"skipped: {torch_note}"
      continue
    try:
      runners[impl] = make_runner(
          impl, data, spec, batch_size=batch_size, seed=seed, num_seeds=num_seeds,
          peer_max_windows=peer_max_windows, torch_window=torch_window)
      row["compile_s"] = runners[impl].compile_s
      if getattr(runners[impl], "seed_loop", None):
        row["seed_loop"] = runners[impl].seed_loop
    except Exception as e:  # pylint: disable=broad-except
      row["error"] = f"{type(e).__name__}: {e}"[:2000]
      log(f"  {impl}: failed to build: {row['error'][:300]}")
  times = _time_block(runners, rows, repeats=repeats,
                      label=f"{base['config']} B={batch_size}", log=log)
  load = os.getloadavg()[0]
  for impl, row in rows.items():
    row["load_avg_end"] = load
    if times.get(impl):
      walls, cpus = zip(*times[impl])
      epoch_s = statistics.median(walls)
      row.update(epoch_s=epoch_s, epoch_s_all=list(walls),
                 epoch_cpu_s=statistics.median(cpus), epoch_cpu_s_all=list(cpus),
                 windows_per_s=row["windows"] / epoch_s)
      row["model_matmul_fraction"] = (row["windows_per_s"] * row["flops_per_window"]
                                      / row["model_matmul_flops_per_s"])
  throughput_report.add_ratios(list(rows.values()))
  return list(rows.values())


def run(*, data_dir, config_names, batch_sizes, impls, num_seeds, repeats,
        peer_max_windows, seed, max_windows=None, peak_n=2048, model_iters=200,
        threads=None, overrides=None, log=print) -> list[dict]:
  """Runs the benchmark; returns the JSON rows."""
  threads = threads or os.cpu_count() or 1
  thread_note = peers.limit_threads(threads)
  for impl in impls:
    if impl not in IMPLS:
      raise ValueError(f"--impls: {impl!r} is not one of {', '.join(IMPLS)}")
  for name in config_names:
    if name not in CONFIGS:
      raise ValueError(f"--configs: {name!r} is not one of {', '.join(CONFIGS)}")
  torch_window, torch_note = (None, None)
  if any(impl in TORCH_IMPLS for impl in impls):
    torch_window, torch_note = peers.torch_or_none()
  if torch_window is not None:
    torch_window.torch.set_num_threads(threads)
    thread_note += f"; torch.set_num_threads({threads})"
    log(f"torch {torch_window.torch.__version__}")
  elif torch_note:
    log(f"skipping {', '.join(i for i in impls if i in TORCH_IMPLS)}: {torch_note}")
  peaks = [roofline.peak_matmul_flops(peak_n)]
  log(f"peak float32 matmul ({peak_n}x{peak_n}, jitted): {peaks[0] / 1e9:.1f} GFLOP/s; "
      f"{os.cpu_count()} cores, load average {os.getloadavg()}")
  log(f"threads: {threads} ({thread_note})")
  common = {"device": jax.devices()[0].device_kind, "cpu_count": os.cpu_count(),
            "threads": threads, "thread_settings": thread_note,
            "load_avg_start": os.getloadavg()[0], "model_overrides": overrides or {}}
  rows = []
  for config_name in config_names:
    data, spec = workload.load_data(config_name, data_dir=data_dir,
                                    max_windows=max_windows, overrides=overrides)
    flops = workload.flops_per_window(spec)
    log(f"{config_name}: {data.num_windows} windows, {spec}, {flops} FLOPs/window")
    for batch_size in batch_sizes:
      base = dict(common, config=config_name, batch_size=batch_size,
                  flops_per_window=flops, vocab_size=spec.vocab_size,
                  model_matmul_flops_per_s=roofline.model_matmul_flops(
                      spec.input_dim, spec.hidden_size, batch_size, model_iters),
                  hidden_size=spec.hidden_size, window_len=spec.window_len)
      rows += _run_block(data, spec, base, impls=impls, batch_size=batch_size, seed=seed,
                         num_seeds=num_seeds, repeats=repeats,
                         peer_max_windows=peer_max_windows, torch_window=torch_window,
                         torch_note=torch_note, log=log)
      peaks.append(roofline.peak_matmul_flops(peak_n))
  # The machine is shared: the best of the peak measurements (one before and
  # one after each block) is the roofline.
  peak = max(peaks)
  log(f"peak float32 matmul: {peak / 1e9:.1f} GFLOP/s (best of "
      f"{', '.join(f'{p / 1e9:.0f}' for p in peaks)})")
  for row in rows:
    row["peak_flops_per_s"] = peak
    if row.get("windows_per_s"):
      row["roofline_fraction"] = row["windows_per_s"] * row["flops_per_window"] / peak
  return rows


def main(argv):
  del argv
  smoke = _SMOKE.value
  batch_sizes = [int(b) for b in _BATCH_SIZES.value]
  if any(b < 1 for b in batch_sizes):
    raise app.UsageError(f"--batch_sizes={_BATCH_SIZES.value}: expected positive "
                         "integers")
  if smoke:
    batch_sizes = [64]
  try:
    overrides = workload.parse_overrides(_MODEL_OVERRIDES.value)
  except ValueError as e:
    raise app.UsageError(str(e)) from e
  rows = run(data_dir=_DATA_DIR.value, config_names=_CONFIGS.value,
             batch_sizes=batch_sizes, impls=_IMPLS.value,
             num_seeds=2 if smoke else _NUM_SEEDS.value,
             repeats=1 if smoke else _REPEATS.value,
             peer_max_windows=_PEER_MAX_WINDOWS.value, seed=_SEED.value,
             max_windows=_SMOKE_WINDOWS.value if smoke else None,
             peak_n=256 if smoke else 2048, model_iters=5 if smoke else 200,
             threads=_THREADS.value, overrides=overrides)
  output = Path(_OUTPUT.value)
  output.parent.mkdir(parents=True, exist_ok=True)
  output.write_text(json.dumps({"rows": rows}, indent=1) + "\n")
  print(f"\nwrote {len(rows)} rows to {output}\n")
  print(throughput_report.markdown_table(rows))


if __name__ == "__main__":
  # Defined here, not at import: the tests import this module beside others
  # that define --plugins too. cli.run reads it before the other flags.
  cli.define_plugins_flag("an activation of theirs can be timed "
                          "(--model_overrides=activation=NAME; wincls rows only).")
  cli.run(main)
