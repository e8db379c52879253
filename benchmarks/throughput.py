"""Training throughput (windows/s of one epoch) of wincls against its peers.

  pip install -e ".[bench]"   # torch==2.13.0 (CPU wheel); optional
  python benchmarks/throughput.py --data_dir=../shared/data/conll2003 \\
      --output=results/throughput.json
  python benchmarks/throughput.py --smoke --output=/tmp/throughput.json

CoNLL-2003 train (203,621 windows), IO labels (5 classes), lowercased words
with digits mapped to 0 (V = 17,496), 50-d word vectors + 5-d casing vectors, tanh
hidden layer, mean softmax cross-entropy, Adam (lr 1e-3), float32. Two
configurations (``CONFIGS``): ``cs224n`` (half-width m = 1, H = 200) and ``cw``
(Collobert & Weston: m = 2, H = 300). An epoch visits ``(N // B) * B`` windows in
a fresh random order (every impl drops the ragged last batch).

Impls (``--impls``):

* ``wincls_jit``: ``models.apply`` + ``objectives.loss_fn`` + ``jax.grad`` +
  dense ``optax.adam``; one jitted epoch: ``lax.scan`` over a ``[N // B, B]``
  permutation (drawn on the host, see ``make_epoch``), each step gathering its
  batch from the device-resident windows, state donated.
* ``wincls_jit_sparse``: the same epoch with the word table updated by
  ``wincls.sparse`` (lazy Adam on the rows the batch touches; optax Adam on
  the rest).
* ``wincls_train``, ``wincls_train_sparse``: the library trainer's own epoch
  (``wincls.train.train_epoch`` over ``train_step``, ``make_optimizer``'s
  injected-hyperparameter Adam, ``jax.vmap``-ed over one seed, jitted, state
  donated, as ``train_and_evaluate`` runs it), dense or sparse word table. It
  visits all N windows (the last batch padded with weight-0 rows) and draws
  its permutation on the device; its ``windows`` is N.
* ``torch_eager``, ``torch_eager_fused``, ``torch_compile``:
  ``benchmarks/peers/torch_window.py`` (skipped with a note without torch).
* ``numpy_hand``: ``benchmarks/peers/numpy_hand.py``.

  The Python-loop peers (torch, NumPy) time at most ``--peer_max_windows``
  windows of each epoch (whole batches of one permutation): their cost per
  step is constant, so windows/s is that of a whole epoch, and small batches
  (6,363 steps per epoch at B=32) stay affordable. ``windows`` in each row says
  how many windows were timed.
* ``wincls_vmap_seeds`` / ``wincls_sequential_seeds``: ``--num_seeds`` models
  (different init and order) trained by one ``jax.vmap``-ed sparse epoch, or by
  the single-seed sparse epoch run ``num_seeds`` times; their ``windows_per_s``
  counts every seed's windows.

Threads: every impl gets ``--threads`` (default ``os.cpu_count()``):
``torch.set_num_threads``, NumPy's BLAS pool (``threadpoolctl``) and, for 1,
XLA's Eigen pool (``--xla_cpu_multi_thread_eigen=false``). On a machine shared
with other work, use ``--threads=1``: with more threads than free cores, every
OpenMP parallel region of torch waits for a descheduled thread, and torch ran
10-30× slower than on one thread (e.g. 45 ms instead of 4.8 ms per step at
B=256 under a load average of 5.6 on 2 cores).

Timing: for each configuration and batch size every impl is built (its compile
time is the ``compile_s`` column), then ``--repeats + 1`` rounds run each impl's
epoch in turn (interleaved, so load drifts hit all of them alike); round 0 is a
warm-up and is dropped; the median of the others is reported.

Roofline: FLOPs per window, forward + backward, counted from the shapes
(``flops_per_window``): the hidden layer's three matmuls (``x Wᵀ``, ``dW = δᵀ x``,
``dx = δ W``) cost ``2·D·H`` each and the output layer's three ``2·H·C`` each,
so ``6·(D·H + H·C)`` with ``D = (2m+1)(E + Fd)``; the elementwise terms
(``O(H + C)``) and the optimizer (per step, not per window) are left out. That
is set against the machine's measured float32 matmul FLOP/s: a jitted
2048×2048 matmul (``peak_flops_per_s``) and the model's own three hidden-layer
matmuls at the batch size, in a ``fori_loop`` (``model_matmul_flops_per_s``),
each the fastest of several calls; the 2048² one is measured before and after
every (configuration, batch size) block and the best is kept, as the machine
may be shared.
``roofline_fraction = windows_per_s · flops_per_window / peak_flops_per_s``,
``model_matmul_fraction`` the same against ``model_matmul_flops_per_s``.
"""

from __future__ import annotations

import functools
import json
import os
import statistics
import sys
import time
from pathlib import Path

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np
import optax

_REPO = Path(__file__).resolve().parents[1]
if str(_REPO) not in sys.path:
  sys.path.insert(0, str(_REPO))

from benchmarks import peers  # pylint: disable=g-import-not-at-top
from benchmarks.peers import numpy_hand  # pylint: disable=g-import-not-at-top
from wincls import config as config_lib  # pylint: disable=g-import-not-at-top
from wincls import models  # pylint: disable=g-import-not-at-top
from wincls import objectives  # pylint: disable=g-import-not-at-top
from wincls.train import sparse  # pylint: disable=g-import-not-at-top
from wincls.data import datasets  # pylint: disable=g-import-not-at-top
from wincls.data import vocab as vocab_lib  # pylint: disable=g-import-not-at-top
from wincls.data import windows  # pylint: disable=g-import-not-at-top

CONFIGS = {
    "cs224n": {"window_size": 1, "hidden_size": 200},
    "cw": {"window_size": 2, "hidden_size": 300},
}
EMBED_DIM = 50
FEATURE_DIM = 5
WINCLS_IMPLS = ("wincls_jit", "wincls_jit_sparse")
TRAIN_IMPLS = ("wincls_train", "wincls_train_sparse")
TORCH_IMPLS = ("torch_eager", "torch_eager_fused", "torch_compile")
SEED_IMPLS = ("wincls_vmap_seeds", "wincls_sequential_seeds")
IMPLS = WINCLS_IMPLS + TRAIN_IMPLS + TORCH_IMPLS + ("numpy_hand",) + SEED_IMPLS

_DATA_DIR = flags.DEFINE_string("data_dir", None, "CoNLL-2003 directory (default: "
                                "$WINCLS_CONLL2003_DIR or ../shared/data/conll2003)")
_OUTPUT = flags.DEFINE_string("output", "results/throughput.json", "JSON rows file")
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


# ----------------------------------------------------------------------------
# Data.

def load_data(config_name: str, *, data_dir: str | None,
              max_windows: int | None = None) -> tuple[peers.Data, peers.Spec]:
  """CoNLL-2003 train as windows for ``config_name``, and the model's sizes."""
  corpus = datasets.load_splits("conll2003", data_dir=data_dir)["train"]
  vocab = vocab_lib.Vocab.build(corpus.words, lowercase=True, normalize_digits=True)
  labels = vocab_lib.LabelVocab.from_tags(corpus.tags, scheme="io")
  m = CONFIGS[config_name]["window_size"]
  encoded = windows.encode_corpus(corpus, vocab, window_size=m, features=("casing",),
                                  label_vocab=labels, label_scheme="io")
  n = encoded.labels.shape[0] if max_windows is None else max_windows
  data = peers.Data(window_ids=np.ascontiguousarray(encoded.window_ids[:n]),
                    feature_ids=np.ascontiguousarray(encoded.feature_ids[:n, :, 0]),
                    labels=np.ascontiguousarray(encoded.labels[:n]))
  spec = peers.Spec(vocab_size=len(vocab), feature_size=vocab_lib.FEATURE_SIZES["casing"],
                    embed_dim=EMBED_DIM, feature_dim=FEATURE_DIM, window_len=2 * m + 1,
                    hidden_size=CONFIGS[config_name]["hidden_size"],
                    num_classes=len(labels))
  return data, spec


def model_config(spec: peers.Spec) -> config_lib.ModelConfig:
  return config_lib.ModelConfig(
      vocab_size=spec.vocab_size, feature_sizes=(spec.feature_size,),
      num_classes=spec.num_classes, window="concat",
      window_size=spec.window_len // 2, embed_dim=spec.embed_dim,
      feature_dim=spec.feature_dim, classifier="hidden",
      hidden_size=spec.hidden_size, activation="tanh", output="multiclass")


def flops_per_window(spec: peers.Spec) -> int:
  """Forward + backward matmul FLOPs of one window: ``6·(D·H + H·C)``."""
  return 6 * (spec.input_dim * spec.hidden_size + spec.hidden_size * spec.num_classes)


# ----------------------------------------------------------------------------
# wincls epochs.

def make_epoch(config: config_lib.ModelConfig, *, batch_size: int, num_windows: int,
               embedding_update: str):
  """``(init, epoch)`` of a jitted-able Adam epoch.

  ``init(key) -> state``; ``epoch(state, data, perm) -> (state, mean_loss)``
  with ``data`` the device arrays ``{"window_ids": [N, W], "feature_ids": [N, W,
  1], "labels": [N]}`` and ``perm`` int32 ``[N // B, B]`` (the first ``(N // B)
  * B`` entries of a permutation of N): a ``lax.scan`` over the rows of ``perm``,
  each step gathering its batch.

  The permutation is drawn on the host (``np.random.Generator.permutation``,
  ~2 ms for 203,621) and passed in: ``jax.random.permutation`` of 203,621 took
  ~88 ms on the benchmark's 2-core CPU (two rounds of an XLA sort), about 20%
  of a batch-256 epoch. PyTorch's ``randperm`` is host-side too.
  """
  tx = optax.adam(peers.LEARNING_RATE, b1=peers.B1, b2=peers.B2, eps=peers.EPS)
  grad_fn = functools.partial(jax.value_and_grad(objectives.loss_fn, has_aux=True),
                              config=config, loss="cross_entropy", key=None)
  steps = num_windows // batch_size

  def init(key):
    params = models.init_params(key, config=config)
    if embedding_update == "dense":
      return params, tx.init(params)
    words, rest = sparse.split_words(params)
    return words, rest, sparse.init_rows_state(words, optimizer="adam"), tx.init(rest)

  def dense_step(state, batch):
    params, opt_state = state
    (loss, _), grads = grad_fn(params, batch)
    updates, opt_state = tx.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), loss

  def sparse_step(state, batch):
    words, rest, row_state, opt_state = state
    (loss, _), rest_grads, unique_ids, row_grads = sparse.value_and_row_grads(
        grad_fn, sparse.merge_words(words, rest), batch)
    updates, opt_state = tx.update(rest_grads, opt_state, rest)
    rest = optax.apply_updates(rest, updates)
    words, row_state = sparse.apply_row_update(
        words, row_state, unique_ids, row_grads, optimizer="adam",
        learning_rate=peers.LEARNING_RATE, b1=peers.B1, b2=peers.B2, eps=peers.EPS)
    return (words, rest, row_state, opt_state), loss

  step = dense_step if embedding_update == "dense" else sparse_step

  def epoch(state, data, perm):
    if perm.shape != (steps, batch_size):
      raise ValueError(f"epoch: perm has shape {perm.shape}, expected "
                       f"[N // B, B] = [{steps}, {batch_size}]")

    def body(state, idx):
      batch = {name: jnp.take(value, idx, axis=0) for name, value in data.items()}
      return step(state, batch)

    state, losses = jax.lax.scan(body, state, perm)
    return state, jnp.mean(losses)

  return init, epoch


_EXECUTABLES: dict = {}  # compiled epochs, shared by runners of the same shapes


class _JaxRunner:
  """One (or ``num_seeds`` vmapped / sequential) jitted epochs.

  ``wincls_sequential_seeds`` reuses ``wincls_jit_sparse``'s executable (same
  program and shapes), so its ``compile_s`` is only its states' init.
  """

  def __init__(self, data: peers.Data, spec: peers.Spec, *, batch_size: int, seed: int,
               embedding_update: str, num_seeds: int = 1, mode: str = "single"):
    peers.num_batches(data, batch_size)
    config = model_config(spec)
    self.data = {"window_ids": jnp.asarray(data.window_ids),
                 "feature_ids": jnp.asarray(data.feature_ids[..., None]),
                 "labels": jnp.asarray(data.labels)}
    self.num_windows = data.num_windows
    self.steps = data.num_windows // batch_size
    self.batch_size = batch_size
    self.mode, self.num_seeds = mode, num_seeds
    self.rng = np.random.default_rng(seed + 1)
    keys = jax.random.split(jax.random.key(seed), num_seeds)
    start = time.perf_counter()
    vmapped = mode == "vmap"
    cache_key = (config, batch_size, data.num_windows, embedding_update,
                 num_seeds if vmapped else 0)
    if cache_key not in _EXECUTABLES:
      init, epoch = make_epoch(config, batch_size=batch_size,
                               num_windows=data.num_windows,
                               embedding_update=embedding_update)
      if vmapped:
        init, epoch = jax.vmap(init), jax.vmap(epoch, in_axes=(0, None, 0))
      init = jax.jit(init)
      state = init(keys if vmapped else keys[0])
      compiled = jax.jit(epoch, donate_argnums=0).lower(
          state, self.data, self._perm()).compile()
      _EXECUTABLES[cache_key] = (init, compiled)
    init, self.compiled = _EXECUTABLES[cache_key]
    self.states = [init(keys)] if vmapped else [init(k) for k in keys]
    jax.block_until_ready(self.states)
    self.compile_s = time.perf_counter() - start

  def _perm(self) -> np.ndarray:
    """This epoch's order(s): int32 ``[N // B, B]`` (``[seeds, N // B, B]`` vmapped)."""
    n = self.steps * self.batch_size
    count = self.num_seeds if self.mode == "vmap" else 1
    perms = [self.rng.permutation(self.num_windows)[:n].astype(np.int32)
             for _ in range(count)]
    perm = np.stack(perms).reshape(count, self.steps, self.batch_size)
    return perm if self.mode == "vmap" else perm[0]

  def run_epoch(self) -> int:
    for i, state in enumerate(self.states):
      self.states[i], loss = self.compiled(state, self.data, self._perm())
    jax.block_until_ready((self.states, loss))
    return self.steps * self.batch_size * self.num_seeds


class _TrainRunner:
  """``wincls.train``'s epoch for one seed, as ``train_and_evaluate`` compiles it."""

  def __init__(self, data: peers.Data, spec: peers.Spec, *, batch_size: int, seed: int,
               embedding_update: str):
    from wincls import train  # pylint: disable=g-import-not-at-top
    config = model_config(spec)
    steps = -(-data.num_windows // batch_size)
    shapes = jax.eval_shape(functools.partial(models.init_params, config=config),
                            jax.random.key(0))
    trainable = models.trainable_mask(shapes, config)
    if embedding_update == "sparse":
      trainable = sparse.split_words(trainable)[1]
    tx = train.make_optimizer(optimizer="adam", schedule="constant",
                              total_steps=steps, trainable=trainable,
                              learning_rate=peers.LEARNING_RATE)
    step_fn = functools.partial(
        train.train_step, tx=tx, config=config, loss="cross_entropy", grad="autodiff",
        margin=1.0, num_corruptions=1, embedding_update=embedding_update,
        optimizer="adam", schedule=train.schedule_factor("constant", steps))
    epoch_fn = functools.partial(train.train_epoch, step_fn=step_fn,
                                 batch_size=batch_size)

    def init(key):
      params = models.init_params(key, config=config)
      if embedding_update == "sparse":
        words, rest = sparse.split_words(params)
        return {"params": params, "opt_state": tx.init(rest),
                "rows": sparse.init_rows_state(words, optimizer="adam")}
      return {"params": params, "opt_state": tx.init(params)}

    self.data = {"window_ids": jnp.asarray(data.window_ids),
                 "feature_ids": jnp.asarray(data.feature_ids[..., None]),
                 "labels": jnp.asarray(data.labels)}
    self.seed_keys = jnp.stack([jax.random.key(seed)])
    self.num_windows = data.num_windows
    self.epoch = 0
    start = time.perf_counter()
    self.state = jax.jit(jax.vmap(init))(self.seed_keys)
    self.compiled = jax.jit(jax.vmap(epoch_fn, in_axes=(0, None, 0, None, None)),
                            donate_argnums=0).lower(
                                self.state, self.data, self.seed_keys,
                                jnp.int32(1), jnp.int32(0)).compile()
    self.compile_s = time.perf_counter() - start

  def run_epoch(self) -> int:
    self.epoch += 1
    self.state, metrics = self.compiled(self.state, self.data, self.seed_keys,
                                        jnp.int32(self.epoch), jnp.int32(0))
    jax.block_until_ready((self.state, metrics))
    return self.num_windows


# ----------------------------------------------------------------------------
# Roofline.

def _best_time(fn, repeats=10) -> float:
  """The fastest of ``repeats`` calls after a warm-up: the machine's best case,
  as a roofline should be (the epochs are medians, so under load the fractions
  are conservative)."""
  jax.block_until_ready(fn())
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - start)
  return min(times)


def peak_matmul_flops(n: int) -> float:
  """FLOP/s of a jitted float32 ``[n, n] @ [n, n]``."""
  a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
  b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32)
  matmul = jax.jit(jnp.matmul)
  return 2.0 * n**3 / _best_time(lambda: matmul(a, b))


def model_matmul_flops(spec: peers.Spec, batch_size: int, iters: int) -> float:
  """FLOP/s of the hidden layer's three matmuls at the model's shapes.

  ``z = x Wᵀ`` ([B, D]·[D, H]), ``dW = δᵀ x`` and ``dx = δ W``, chained in a
  ``fori_loop`` so nothing is hoisted; ``6·B·D·H`` FLOPs per iteration.
  """
  d, h = spec.input_dim, spec.hidden_size
  x0 = jax.random.normal(jax.random.key(0), (batch_size, d), jnp.float32)
  w0 = 0.01 * jax.random.normal(jax.random.key(1), (h, d), jnp.float32)

  @jax.jit
  def loop(x, w):
    def body(_, carry):
      x, w = carry
      delta = x @ w.T
      return x + 1e-6 * (delta @ w), w - 1e-6 * (delta.T @ x)
    return jax.lax.fori_loop(0, iters, body, (x, w))

  return 6.0 * batch_size * d * h * iters / _best_time(lambda: loop(x0, w0), 5)


# ----------------------------------------------------------------------------
# The benchmark.

def _torch_or_none():
  try:
    from benchmarks.peers import torch_window  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    return None, f"torch not installed ({e}); pip install torch==2.13.0"
  return torch_window, None


def make_runner(impl: str, data: peers.Data, spec: peers.Spec, *, batch_size: int,
                seed: int, num_seeds: int, peer_max_windows: int, torch_window):
  if impl in ("wincls_jit", "wincls_jit_sparse"):
    update = "dense" if impl == "wincls_jit" else "sparse"
    return _JaxRunner(data, spec, batch_size=batch_size, seed=seed,
                      embedding_update=update)
  if impl in TRAIN_IMPLS:
    update = "dense" if impl == "wincls_train" else "sparse"
    return _TrainRunner(data, spec, batch_size=batch_size, seed=seed,
                        embedding_update=update)
  if impl in SEED_IMPLS:
    mode = "vmap" if impl == "wincls_vmap_seeds" else "sequential"
    return _JaxRunner(data, spec, batch_size=batch_size, seed=seed,
                      embedding_update="sparse", num_seeds=num_seeds, mode=mode)
  if impl in TORCH_IMPLS:
    return torch_window.make_runner(data, spec, batch_size=batch_size, seed=seed,
                                    variant=impl, max_windows=peer_max_windows)
  if impl == "numpy_hand":
    return numpy_hand.make_runner(data, spec, batch_size=batch_size, seed=seed,
                                  max_windows=peer_max_windows)
  raise ValueError(f"--impls: {impl!r} is not one of {', '.join(IMPLS)}")


def limit_threads(threads: int) -> str:
  """Limits torch (if present), NumPy's BLAS and, for 1, XLA to ``threads``.

  Must run before JAX's first computation (XLA reads ``XLA_FLAGS`` when its
  CPU backend starts). Returns a note saying what was set.
  """
  notes = []
  if threads == 1:
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               " --xla_cpu_multi_thread_eigen=false").strip()
    notes.append("XLA_FLAGS=--xla_cpu_multi_thread_eigen=false")
  try:
    import threadpoolctl  # pylint: disable=g-import-not-at-top
    threadpoolctl.threadpool_limits(threads)
    notes.append(f"threadpoolctl.threadpool_limits({threads})")
  except ImportError:
    notes.append("NumPy BLAS threads not limited (no threadpoolctl)")
  return "; ".join(notes)


def run(*, data_dir, config_names, batch_sizes, impls, num_seeds, repeats,
        peer_max_windows, seed, max_windows=None, peak_n=2048, model_iters=200,
        threads=None, log=print) -> list[dict]:
  """Runs the benchmark; returns the JSON rows."""
  threads = threads or os.cpu_count() or 1
  thread_note = limit_threads(threads)
  for impl in impls:
    if impl not in IMPLS:
      raise ValueError(f"--impls: {impl!r} is not one of {', '.join(IMPLS)}")
  for name in config_names:
    if name not in CONFIGS:
      raise ValueError(f"--configs: {name!r} is not one of {', '.join(CONFIGS)}")
  torch_window, torch_note = (None, None)
  if any(impl in TORCH_IMPLS for impl in impls):
    torch_window, torch_note = _torch_or_none()
  if torch_window is not None:
    torch_window.torch.set_num_threads(threads)
    thread_note += f"; torch.set_num_threads({threads})"
    log(f"torch {torch_window.torch.__version__}")
  elif torch_note:
    log(f"skipping {', '.join(i for i in impls if i in TORCH_IMPLS)}: {torch_note}")
  peaks = [peak_matmul_flops(peak_n)]
  log(f"peak float32 matmul ({peak_n}x{peak_n}, jitted): {peaks[0] / 1e9:.1f} GFLOP/s; "
      f"{os.cpu_count()} cores, load average {os.getloadavg()}")
  log(f"threads: {threads} ({thread_note})")
  common = {"device": jax.devices()[0].device_kind, "cpu_count": os.cpu_count(),
            "threads": threads, "thread_settings": thread_note,
            "load_avg_start": os.getloadavg()[0]}
  rows = []
  for config_name in config_names:
    data, spec = load_data(config_name, data_dir=data_dir, max_windows=max_windows)
    flops = flops_per_window(spec)
    log(f"{config_name}: {data.num_windows} windows, {spec}, "
        f"{flops} FLOPs/window")
    for batch_size in batch_sizes:
      model_flops = model_matmul_flops(spec, batch_size, model_iters)
      base = dict(common, config=config_name, batch_size=batch_size,
                  flops_per_window=flops, model_matmul_flops_per_s=model_flops,
                  vocab_size=spec.vocab_size, hidden_size=spec.hidden_size,
                  window_len=spec.window_len)
      runners, times, results = {}, {}, {}
      for impl in impls:
        row = dict(base, impl=impl,
                   num_seeds=num_seeds if impl in SEED_IMPLS else 1,
                   embedding_update=("dense" if impl in ("wincls_jit", "wincls_train")
                                     else "sparse" if impl.startswith("wincls")
                                     else None))
        results[impl] = row
        if impl in TORCH_IMPLS and torch_window is None:
          row["error"] = f"skipped: {torch_note}"
          continue
        try:
          runners[impl] = make_runner(
              impl, data, spec, batch_size=batch_size, seed=seed,
              num_seeds=num_seeds, peer_max_windows=peer_max_windows,
              torch_window=torch_window)
          row["compile_s"] = runners[impl].compile_s
        except Exception as e:  # pylint: disable=broad-except
          row["error"] = f"{type(e).__name__}: {e}"[:2000]
          log(f"  {impl}: failed to build: {row['error'][:300]}")
        times[impl] = []
      for round_ in range(repeats + 1):
        for impl, runner in list(runners.items()):
          try:
            start = time.perf_counter()
            n = runner.run_epoch()
            seconds = time.perf_counter() - start
          except Exception as e:  # pylint: disable=broad-except
            results[impl]["error"] = f"{type(e).__name__}: {e}"[:2000]
            log(f"  {impl}: failed: {results[impl]['error'][:300]}")
            del runners[impl]
            continue
          if round_ > 0:
            times[impl].append(seconds)
            results[impl]["windows"] = n
          log(f"  {config_name} B={batch_size} round {round_} {impl}: "
              f"{seconds:.3f} s, {n / seconds:,.0f} windows/s"
              + (" (warm-up)" if round_ == 0 else ""))
      load = os.getloadavg()[0]
      for impl, row in results.items():
        row["load_avg_end"] = load
        if times.get(impl):
          epoch_s = statistics.median(times[impl])
          row.update(epoch_s=epoch_s, epoch_s_all=times[impl],
                     windows_per_s=row["windows"] / epoch_s)
          row["model_matmul_fraction"] = row["windows_per_s"] * flops / model_flops
        else:
          row.setdefault("windows_per_s", None)
        rows.append(row)
      _EXECUTABLES.clear()
      _add_ratios(rows[-len(results):])
      peaks.append(peak_matmul_flops(peak_n))
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


def _add_ratios(rows: list[dict]) -> None:
  by_impl = {row["impl"]: row.get("windows_per_s") for row in rows}
  for row in rows:
    mine = row.get("windows_per_s")
    for peer in ("torch_eager", "torch_eager_fused", "wincls_sequential_seeds"):
      theirs = by_impl.get(peer)
      if mine and theirs:
        row[f"vs_{peer}"] = mine / theirs


def markdown_table(rows: list[dict]) -> str:
  """The rows as a markdown table."""
  head = ("| config | B | impl | windows/s | epoch s | compile s | vs torch_eager | "
          "vs torch_eager_fused | roofline | of model-shape matmul |\n"
          "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
  lines = [head]

  def fmt(value, spec):
    return "" if value is None else format(value, spec)

  for row in rows:
    impl = row["impl"]
    if row.get("num_seeds", 1) > 1:
      impl += f" ×{row['num_seeds']}"
      if "vs_wincls_sequential_seeds" in row and impl.startswith("wincls_vmap"):
        impl += f" ({row['vs_wincls_sequential_seeds']:.2f}× sequential)"
    if row.get("windows_per_s") is None:
      lines.append(f"| {row['config']} | {row['batch_size']} | {impl} | "
                   f"{row.get('error', 'n/a')[:80]} | | | | | | |")
      continue
    lines.append(
        f"| {row['config']} | {row['batch_size']} | {impl} | "
        f"{row['windows_per_s']:,.0f} | {row['epoch_s']:.3f} | "
        f"{fmt(row.get('compile_s'), '.2f')} | {fmt(row.get('vs_torch_eager'), '.2f')} | "
        f"{fmt(row.get('vs_torch_eager_fused'), '.2f')} | "
        f"{100 * row['roofline_fraction']:.1f}% | "
        f"{100 * row['model_matmul_fraction']:.1f}% |")
  return "\n".join(lines)


def main(argv):
  del argv
  smoke = _SMOKE.value
  batch_sizes = [int(b) for b in _BATCH_SIZES.value]
  if any(b < 1 for b in batch_sizes):
    raise app.UsageError(f"--batch_sizes={_BATCH_SIZES.value}: expected positive "
                         "integers")
  if smoke:
    batch_sizes = [64]
  rows = run(data_dir=_DATA_DIR.value, config_names=_CONFIGS.value,
             batch_sizes=batch_sizes, impls=_IMPLS.value,
             num_seeds=2 if smoke else _NUM_SEEDS.value,
             repeats=1 if smoke else _REPEATS.value,
             peer_max_windows=_PEER_MAX_WINDOWS.value, seed=_SEED.value,
             max_windows=_SMOKE_WINDOWS.value if smoke else None,
             peak_n=256 if smoke else 2048, model_iters=5 if smoke else 200,
             threads=_THREADS.value)
  output = Path(_OUTPUT.value)
  output.parent.mkdir(parents=True, exist_ok=True)
  output.write_text(json.dumps(rows, indent=1) + "\n")
  print(f"\nwrote {len(rows)} rows to {output}\n")
  print(markdown_table(rows))


if __name__ == "__main__":
  app.run(main)
