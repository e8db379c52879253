"""The window network written plainly in PyTorch, trained on the CPU.

Impls (``VARIANTS``), each training the configuration of ``peers.Spec`` (the
activation, dropout and word dropout of the wincls row it is compared with):

* ``torch_eager``: eager autograd, ``torch.optim.Adam`` with its defaults (on
  CPU tensors that is the per-parameter for-loop implementation),
* ``torch_eager_fused``: the same with ``Adam(fused=True)``,
* ``torch_compile``: the model (word dropout, forward and, through
  AOTAutograd, backward) under ``torch.compile`` (inductor, C++ on the CPU;
  ``COMPILE_MODE``), ``Adam(fused=True)`` eager; ``compile_s`` is the time of
  the first training step. Of the two forms tried (C&W shape, one thread, a
  shared 2-core CPU at load ~6, 32,768 windows, CPU seconds) this one was
  the faster: 1.22 s, against 1.30 s for the whole step (Adam included)
  under one ``torch.compile``, which also compiled for 80 s instead of ~10 s.
  Neither beat eager fused Adam there (0.76 s).
* ``torch_sparse``: ``nn.Embedding(sparse=True)``: the word table's gradient is
  a sparse tensor of the batch's rows, updated by ``torch.optim.SparseAdam``
  (lazy Adam: only touched rows and their moments change, as wincls's
  ``--embedding_update=sparse``); the other parameters by ``Adam(fused=True)``.

With ``spec.chars`` (``cw_chars``) each position also gets ``CharCNN``:
``nn.Embedding`` of the chars (padding chars masked to 0), ``nn.Conv1d``
over them zero-padded ``(k-1)//2`` on the left and ``k-1-(k-1)//2`` on the
right (zeros beyond the word), the max over the word's real chars (padding
chars at -inf) and 0 for a position with no chars (window padding).

The dense variants' ``nn.Embedding`` gives a dense ``[V, E]`` gradient
(``sparse=False``, the default), so Adam updates the whole table every step,
as optax does on the dense wincls path. torch is an optional dependency
(``pip install -e ".[bench]"``); importing this module raises ImportError
without it.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from benchmarks import peers

VARIANTS = ("torch_eager", "torch_eager_fused", "torch_compile", "torch_sparse")
COMPILE_MODE = "default"


class CharCNN(nn.Module):
  """``[..., L]`` char ids -> ``[..., Fc]``: ``wincls.model.chars.pool``, per position."""

  def __init__(self, spec: peers.Spec, init: dict[str, np.ndarray]):
    super().__init__()
    self.width = spec.char_width
    self.embed = nn.Embedding(peers.NUM_CHARS, spec.char_dim)
    self.conv = nn.Conv1d(spec.char_dim, spec.char_filters, spec.char_width)
    with torch.no_grad():
      self.embed.weight.copy_(torch.from_numpy(init["char_embed"]))
      # wincls's W [Fc, k·c] reads X_t = [c_{t-left}; ...]: block s is tap s.
      w = init["char_W"].reshape(spec.char_filters, spec.char_width, spec.char_dim)
      self.conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.transpose(0, 2, 1))))
      self.conv.bias.copy_(torch.from_numpy(init["char_b"]))

  def forward(self, char_ids: torch.Tensor) -> torch.Tensor:
    lead, length = char_ids.shape[:-1], char_ids.shape[-1]
    ids = char_ids.reshape(-1, length)
    mask = ids > 0  # [N, L]
    vectors = self.embed(ids) * mask[..., None]  # [N, L, c]
    left = (self.width - 1) // 2
    padded = F.pad(vectors.transpose(1, 2), (left, self.width - 1 - left))  # [N, c, L+k-1]
    z = self.conv(padded)  # [N, Fc, L]
    pooled = z.masked_fill(~mask[:, None, :], float("-inf")).max(dim=-1).values
    pooled = torch.where(mask.any(dim=-1, keepdim=True), pooled, 0.0)
    return pooled.reshape(*lead, -1)


class WindowNet(nn.Module):
  """Word dropout, embeddings, concat window, dropout, hidden layer, linear scores."""

  def __init__(self, spec: peers.Spec, init: dict[str, np.ndarray], *,
               sparse: bool = False):
    super().__init__()
    if spec.activation not in peers.ACTIVATIONS:
      raise ValueError(f"torch_window: activation {spec.activation!r} is not one of "
                       f"{peers.ACTIVATIONS}")
    self.spec = spec
    self.words = nn.Embedding(spec.vocab_size, spec.embed_dim, sparse=sparse)
    self.features = nn.Embedding(spec.feature_size, spec.feature_dim)
    self.hidden = nn.Linear(spec.input_dim, spec.hidden_size)
    self.output = nn.Linear(spec.hidden_size, spec.num_classes)
    self.chars = CharCNN(spec, init) if spec.chars else None
    with torch.no_grad():
      self.words.weight.copy_(torch.from_numpy(init["words"]))
      self.features.weight.copy_(torch.from_numpy(init["features"]))
      self.hidden.weight.copy_(torch.from_numpy(init["W"]))
      self.hidden.bias.copy_(torch.from_numpy(init["b"]))
      self.output.weight.copy_(torch.from_numpy(init["U"]))
      self.output.bias.copy_(torch.from_numpy(init["c"]))

  def forward(self, window_ids: torch.Tensor, feature_ids: torch.Tensor,
              char_ids: torch.Tensor | None = None) -> torch.Tensor:
    """``[B, W]`` word ids, ``[B, W]`` casing ids (``[B, W, L]`` char ids with
    ``spec.chars``) -> ``[B, C]`` scores.

    In training mode (``self.training``) with word dropout and dropout.
    """
    spec = self.spec
    if self.training and spec.word_dropout > 0:
      drop = ((torch.rand(window_ids.shape) < spec.word_dropout)
              & (window_ids >= peers.NUM_RESERVED))
      window_ids = torch.where(drop, peers.UNK_ID, window_ids)
    parts = [self.words(window_ids), self.features(feature_ids)]
    if self.chars is not None:
      parts.append(self.chars(char_ids))
    e = torch.cat(parts, dim=-1)
    x = F.dropout(e.reshape(e.shape[0], -1), spec.dropout, self.training)
    z = self.hidden(x)
    h = torch.relu(z) if spec.activation == "relu" else torch.tanh(z)
    return self.output(F.dropout(h, spec.dropout, self.training))


def _char_tensor(data: peers.Data, spec: peers.Spec) -> torch.Tensor | None:
  if not spec.chars:
    return None
  if data.char_ids is None:
    raise ValueError("torch_window: spec.chars needs Data.char_ids")
  return torch.from_numpy(data.char_ids.astype(np.int64))


def _optimizers(model: WindowNet, variant: str) -> list[torch.optim.Optimizer]:
  kwargs = dict(lr=peers.LEARNING_RATE, betas=(peers.B1, peers.B2), eps=peers.EPS)
  if variant == "torch_sparse":
    rest = [p for name, p in model.named_parameters() if name != "words.weight"]
    return [torch.optim.SparseAdam([model.words.weight], **kwargs),
            torch.optim.Adam(rest, fused=True, **kwargs)]
  return [torch.optim.Adam(model.parameters(), fused=True if variant != "torch_eager"
                           else None, **kwargs)]


class _Runner:

  def __init__(self, data: peers.Data, spec: peers.Spec, *, batch_size: int,
               seed: int, variant: str, max_windows: int | None):
    torch.manual_seed(seed)
    self.batch_size = batch_size
    self.num_batches = peers.num_batches(data, batch_size)
    if max_windows is not None:
      self.num_batches = max(1, min(self.num_batches, max_windows // batch_size))
    self.window_ids = torch.from_numpy(data.window_ids.astype(np.int64))
    self.feature_ids = torch.from_numpy(data.feature_ids.astype(np.int64))
    self.labels = torch.from_numpy(data.labels.astype(np.int64))
    self.char_ids = _char_tensor(data, spec)
    self.num_windows = data.num_windows
    self.generator = torch.Generator().manual_seed(seed + 1)
    self.model = WindowNet(spec, peers.init_numpy_params(spec, seed),
                           sparse=variant == "torch_sparse")
    self.model.train()
    self.optimizers = _optimizers(self.model, variant)
    self.forward = self.model
    self.compile_s = 0.0
    if variant == "torch_compile":
      self.forward = torch.compile(self.model, mode=COMPILE_MODE, dynamic=False)
      start = time.perf_counter()
      self._step(torch.arange(batch_size))  # compiles forward and backward
      self.compile_s = time.perf_counter() - start

  def _step(self, idx: torch.Tensor) -> None:
    scores = self.forward(self.window_ids[idx], self.feature_ids[idx],
                          None if self.char_ids is None else self.char_ids[idx])
    loss = F.cross_entropy(scores, self.labels[idx])
    for optimizer in self.optimizers:
      optimizer.zero_grad(set_to_none=True)
    loss.backward()
    for optimizer in self.optimizers:
      optimizer.step()

  def run_epoch(self) -> int:
    perm = torch.randperm(self.num_windows, generator=self.generator)
    b = self.batch_size
    for i in range(self.num_batches):
      self._step(perm[i * b:(i + 1) * b])
    return self.num_batches * b


def make_runner(data: peers.Data, spec: peers.Spec, *, batch_size: int, seed: int,
                variant: str, max_windows: int | None = None):
  """A PyTorch runner for one of ``VARIANTS``; ``max_windows`` caps the windows
  (whole batches) of one timed epoch."""
  if variant not in VARIANTS:
    raise ValueError(f"torch_window: variant {variant!r} is not one of {VARIANTS}")
  return _Runner(data, spec, batch_size=batch_size, seed=seed, variant=variant,
                 max_windows=max_windows)


def batch_loss(data: peers.Data, spec: peers.Spec, init: dict[str, np.ndarray], *,
               sparse: bool = False) -> float:
  """The mean cross-entropy of ``data`` under ``init`` (eval mode: no dropout)."""
  model = WindowNet(spec, init, sparse=sparse)
  model.eval()
  with torch.no_grad():
    scores = model(torch.from_numpy(data.window_ids.astype(np.int64)),
                   torch.from_numpy(data.feature_ids.astype(np.int64)),
                   _char_tensor(data, spec))
    return float(F.cross_entropy(scores, torch.from_numpy(data.labels.astype(np.int64))))
