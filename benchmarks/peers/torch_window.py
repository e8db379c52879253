"""The window network written plainly in PyTorch, trained on the CPU.

Impls (``VARIANTS``):

* ``torch_eager``: eager autograd, ``torch.optim.Adam`` with its defaults (on
  CPU tensors that is the per-parameter for-loop implementation),
* ``torch_eager_fused``: the same with ``Adam(fused=True)``,
* ``torch_compile``: the model (forward and, through AOTAutograd, backward)
  under ``torch.compile`` (inductor, C++ on the CPU), ``Adam(fused=True)``
  eager; ``compile_s`` is the time of the first training step.

``nn.Embedding`` gives a dense ``[V, E]`` gradient (``sparse=False``, the
default), so Adam updates the whole table every step, as optax does on the dense
wincls path. torch is an optional dependency (``pip install -e ".[bench]"``);
importing this module raises ImportError without it.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from benchmarks import peers

VARIANTS = ("torch_eager", "torch_eager_fused", "torch_compile")


class WindowNet(nn.Module):
  """Embeddings, concat window, tanh hidden layer, linear scores."""

  def __init__(self, spec: peers.Spec, init: dict[str, np.ndarray]):
    super().__init__()
    self.words = nn.Embedding(spec.vocab_size, spec.embed_dim)
    self.features = nn.Embedding(spec.feature_size, spec.feature_dim)
    self.hidden = nn.Linear(spec.input_dim, spec.hidden_size)
    self.output = nn.Linear(spec.hidden_size, spec.num_classes)
    with torch.no_grad():
      self.words.weight.copy_(torch.from_numpy(init["words"]))
      self.features.weight.copy_(torch.from_numpy(init["features"]))
      self.hidden.weight.copy_(torch.from_numpy(init["W"]))
      self.hidden.bias.copy_(torch.from_numpy(init["b"]))
      self.output.weight.copy_(torch.from_numpy(init["U"]))
      self.output.bias.copy_(torch.from_numpy(init["c"]))

  def forward(self, window_ids: torch.Tensor, feature_ids: torch.Tensor) -> torch.Tensor:
    """``[B, W]`` word ids, ``[B, W]`` casing ids -> ``[B, C]`` scores."""
    e = torch.cat([self.words(window_ids), self.features(feature_ids)], dim=-1)
    x = e.reshape(e.shape[0], -1)
    return self.output(torch.tanh(self.hidden(x)))


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
    self.num_windows = data.num_windows
    self.generator = torch.Generator().manual_seed(seed + 1)
    self.model = WindowNet(spec, peers.init_numpy_params(spec, seed))
    self.optimizer = torch.optim.Adam(
        self.model.parameters(), lr=peers.LEARNING_RATE, betas=(peers.B1, peers.B2),
        eps=peers.EPS, fused=True if variant != "torch_eager" else None)
    self.forward = self.model
    self.compile_s = 0.0
    if variant == "torch_compile":
      self.forward = torch.compile(self.model, dynamic=False)
      start = time.perf_counter()
      self._step(torch.arange(batch_size))  # compiles forward and backward
      self.compile_s = time.perf_counter() - start

  def _step(self, idx: torch.Tensor) -> None:
    scores = self.forward(self.window_ids[idx], self.feature_ids[idx])
    loss = F.cross_entropy(scores, self.labels[idx])
    self.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    self.optimizer.step()

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


def batch_loss(data: peers.Data, spec: peers.Spec, init: dict[str, np.ndarray]) -> float:
  """The mean cross-entropy of ``data`` under the parameters ``init`` (for tests)."""
  model = WindowNet(spec, init)
  with torch.no_grad():
    scores = model(torch.from_numpy(data.window_ids.astype(np.int64)),
                   torch.from_numpy(data.feature_ids.astype(np.int64)))
    return float(F.cross_entropy(scores, torch.from_numpy(data.labels.astype(np.int64))))
