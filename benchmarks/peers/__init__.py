"""Peer implementations of the window network's training epoch, for throughput.

Every peer trains the same model on the same arrays (``Spec``, ``Data``) as
the wincls row it is compared with: per position the word vector (``[V, E]``
table), the casing vector (``[F, Fd]`` table) and, with ``spec.chars``, the
character CNN of ``wincls.model.chars`` (``chars``: ``[512, c]`` char
vectors, 0 at padding chars; a width-k convolution over each char's window,
zero vectors beyond the word, left padding ``(k-1)//2``; ``Fc`` filters plus
bias; max over the word's real chars; 0 for a position with no chars)
concatenated, the 2m+1 positions concatenated into ``x [B, D]``, ``h = f(W x + b)`` (``spec.activation``),
``scores = U h + c``, mean softmax cross-entropy over ``spec.num_classes``
labels, Adam (lr 1e-3, b1 0.9, b2 0.999, eps 1e-8), float32. In training, as
in ``wincls.train.step``: word dropout (each word id that is not a reserved id
becomes ``UNK_ID`` with probability ``spec.word_dropout``), then inverted
dropout with rate ``spec.dropout`` on ``x`` and on ``h``. An epoch visits
``(N // B) * B`` windows in a fresh random order (the ragged last batch is
dropped so every step has the same shape, in every peer).

A peer module exposes ``make_runner(data, spec, *, batch_size, seed, variant)
-> Runner``; a ``Runner`` has ``compile_s`` (seconds spent compiling before the
first epoch, 0 for eager code) and ``run_epoch() -> windows`` which returns
once the epoch's updates are done (synchronously), with the number of windows
it trained on (the Python-loop peers can be capped to the first
``max_windows`` of an epoch's order).

``limit_threads`` and ``torch_or_none`` set up the peers' thread pools and
import the optional torch peer.
"""

from __future__ import annotations

import os
from typing import NamedTuple, Protocol

import numpy as np

LEARNING_RATE = 1e-3
B1 = 0.9
B2 = 0.999
EPS = 1e-8
EMBED_INIT_STDDEV = 0.1
# wincls.data.vocab: ids 0-3 are <pad>, <unk>, <s>, </s>; word dropout maps
# the other ids to <unk>.
UNK_ID = 1
NUM_RESERVED = 4
NUM_CHARS = 512  # wincls.model.chars.NUM_CHARS: 0 padding
ACTIVATIONS = ("tanh", "relu")


class Spec(NamedTuple):
  """The model's sizes.

  Attributes:
    vocab_size: V, rows of the word table.
    feature_size: F, rows of the casing table.
    embed_dim: E.
    feature_dim: Fd.
    window_len: W = 2m + 1.
    hidden_size: H.
    num_classes: C.
    activation: ``"tanh"`` or ``"relu"``.
    dropout: inverted-dropout rate on x and h in training.
    word_dropout: probability that a (non-reserved) word id becomes ``UNK_ID``
      in training.
    chars: whether positions carry the character CNN (``Data.char_ids``).
    char_dim: c, the char vectors' size.
    char_filters: Fc, the CNN's filters (its output size).
    char_width: k, the convolution's width.
    char_max_len: L, chars per word.
  """

  vocab_size: int
  feature_size: int
  embed_dim: int
  feature_dim: int
  window_len: int
  hidden_size: int
  num_classes: int
  activation: str = "tanh"
  dropout: float = 0.0
  word_dropout: float = 0.0
  chars: bool = False
  char_dim: int = 16
  char_filters: int = 32
  char_width: int = 3
  char_max_len: int = 16

  @property
  def position_dim(self) -> int:
    """E + Fd (+ Fc with chars)."""
    return self.embed_dim + self.feature_dim + (self.char_filters if self.chars else 0)

  @property
  def input_dim(self) -> int:
    """D = W (E + Fd (+ Fc))."""
    return self.window_len * self.position_dim


class Data(NamedTuple):
  """A training set as windows (host NumPy arrays).

  Attributes:
    window_ids: int32 ``[N, W]`` word ids.
    feature_ids: int32 ``[N, W]`` casing ids.
    labels: int32 ``[N]`` class ids.
    char_ids: int32 ``[N, W, L]`` char ids (``wincls.model.chars.char_ids``; 0 padding),
      or None (``spec.chars`` off).
  """

  window_ids: np.ndarray
  feature_ids: np.ndarray
  labels: np.ndarray
  char_ids: np.ndarray | None = None

  @property
  def num_windows(self) -> int:
    return int(self.labels.shape[0])


class Runner(Protocol):
  compile_s: float

  def run_epoch(self) -> int:
    ...


def num_batches(data: Data, batch_size: int) -> int:
  """Full batches per epoch (the ragged last batch is dropped)."""
  n = data.num_windows // batch_size
  if n < 1:
    raise ValueError(f"batch_size={batch_size} exceeds the {data.num_windows} "
                     "training windows (--batch_sizes)")
  return n


def init_numpy_params(spec: Spec, seed: int) -> dict[str, np.ndarray]:
  """float32 parameters with wincls's scheme (models.py): N(0, 0.1²) tables with
  a zero padding row, Glorot-uniform weights ``[out, in]``, zero biases; with
  ``spec.chars`` also ``char_embed [512, c]``, ``char_W [Fc, k·c]`` (the blocks
  of X_t in window order, as ``wincls.model.chars.init``) and ``char_b [Fc]``."""
  rng = np.random.default_rng(seed)

  def table(rows, cols):
    t = (EMBED_INIT_STDDEV * rng.standard_normal((rows, cols))).astype(np.float32)
    t[0] = 0.0
    return t

  def glorot(out_dim, in_dim):
    limit = np.sqrt(6.0 / (in_dim + out_dim))
    return rng.uniform(-limit, limit, (out_dim, in_dim)).astype(np.float32)

  params = {
      "words": table(spec.vocab_size, spec.embed_dim),
      "features": table(spec.feature_size, spec.feature_dim),
      "W": glorot(spec.hidden_size, spec.input_dim),
      "b": np.zeros(spec.hidden_size, np.float32),
      "U": glorot(spec.num_classes, spec.hidden_size),
      "c": np.zeros(spec.num_classes, np.float32),
  }
  if spec.chars:
    params.update(char_embed=table(NUM_CHARS, spec.char_dim),
                  char_W=glorot(spec.char_filters, spec.char_width * spec.char_dim),
                  char_b=np.zeros(spec.char_filters, np.float32))
  return params


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


def torch_or_none():
  """``(torch_window module, None)``, or ``(None, why)`` without torch."""
  try:
    from benchmarks.peers import torch_window  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    return None, f"torch not installed ({e}); pip install torch==2.13.0"
  return torch_window, None
