"""The window network's training epoch in NumPy, backprop by hand (impl ``numpy_hand``).

The δ form of ``wincls/model/network.py`` (``backward``; CS224n lecture 3),
specialised to one hidden layer (tanh or relu), concat window and softmax
cross-entropy averaged over the batch, with the word dropout and dropout of
``peers.Spec`` in training (``r_x``, ``r_h``: the kept-entry masks scaled by
``1/(1 - rate)``)::

    x = [L[w_1]; F[f_1]; ...; L[w_W]; F[f_W]] ∘ r_x     [B, D]
    h = f(x Wᵀ + b) ∘ r_h                              [B, H]
    p = softmax(h Uᵀ + c)                              [B, C]
    δ_out = (p - onehot(y)) / B                        [B, C]
    dU = δ_outᵀ h,  dc = Σ_b δ_out,  dh = δ_out U
    δ = dh ∘ r_h ∘ f′(z)                               [B, H]
    dW = δᵀ x,  db = Σ_b δ,  dx = δ W ∘ r_x            [B, D]
    dx → [B, W, E + Fd] → scatter-add (np.add.at) onto the rows of L and F

then dense Adam on every parameter (the word table's gradient is a dense
``[V, E]`` array, as ``nn.Embedding`` and ``jax.grad`` give), updated in place.
No character CNN: a ``spec.chars`` model (``cw_chars``) is refused
(``make_runner`` raises ValueError, so its row carries the message).
"""

from __future__ import annotations

import numpy as np

from benchmarks import peers

VARIANTS = ("numpy_hand",)


class _Runner:
  """Trains in place; ``run_epoch`` runs at most ``max_windows`` windows."""

  def __init__(self, data: peers.Data, spec: peers.Spec, *, batch_size: int,
               seed: int, max_windows: int | None):
    self.data, self.spec, self.batch_size = data, spec, batch_size
    self.params = peers.init_numpy_params(spec, seed)
    self.m = {k: np.zeros_like(v) for k, v in self.params.items()}
    self.v = {k: np.zeros_like(v) for k, v in self.params.items()}
    self.step = 0
    self.rng = np.random.default_rng(seed + 1)
    self.train = True  # dropout and word dropout on (``grads``)
    self.num_batches = peers.num_batches(data, batch_size)
    if max_windows is not None:
      self.num_batches = max(1, min(self.num_batches, max_windows // batch_size))
    self.compile_s = 0.0

  def _mask(self, shape, rate):
    """Inverted-dropout scales ``[shape]`` (None: no dropout)."""
    if not self.train or rate <= 0:
      return None
    keep = self.rng.random(shape, dtype=np.float32) >= rate
    return keep.astype(np.float32) / np.float32(1.0 - rate)

  def grads(self, window_ids, feature_ids, labels):
    """Mean loss and gradients of one batch (dense ``[V, E]`` word gradient)."""
    p, spec = self.params, self.spec
    batch = labels.shape[0]
    d = spec.embed_dim + spec.feature_dim
    if self.train and spec.word_dropout > 0:
      drop = ((self.rng.random(window_ids.shape) < spec.word_dropout)
              & (window_ids >= peers.NUM_RESERVED))
      window_ids = np.where(drop, peers.UNK_ID, window_ids)
    e = np.concatenate([p["words"][window_ids], p["features"][feature_ids]], axis=-1)
    x = e.reshape(batch, -1)  # [B, D]
    r_x = self._mask(x.shape, spec.dropout)
    if r_x is not None:
      x = x * r_x
    z = x @ p["W"].T + p["b"]
    h = np.maximum(z, 0.0) if spec.activation == "relu" else np.tanh(z)  # [B, H]
    r_h = self._mask(h.shape, spec.dropout)
    if r_h is not None:
      h = h * r_h
    s = h @ p["U"].T + p["c"]  # [B, C]
    s -= s.max(axis=1, keepdims=True)
    es = np.exp(s)
    probs = es / es.sum(axis=1, keepdims=True)
    rows = np.arange(batch)
    loss = -np.mean(np.log(probs[rows, labels]))
    delta_out = probs
    delta_out[rows, labels] -= 1.0
    delta_out /= batch
    g = {"U": delta_out.T @ h, "c": delta_out.sum(axis=0)}
    dh = delta_out @ p["U"]
    if r_h is not None:
      dh *= r_h
    if spec.activation == "relu":
      delta = dh * (z > 0)
    else:
      t = np.tanh(z)
      delta = dh * (1.0 - t * t)
    g["W"] = delta.T @ x
    g["b"] = delta.sum(axis=0)
    dx = delta @ p["W"]
    if r_x is not None:
      dx *= r_x
    dx = dx.reshape(batch, spec.window_len, d)
    g["words"] = np.zeros_like(p["words"])
    np.add.at(g["words"], window_ids, dx[..., :spec.embed_dim])
    g["features"] = np.zeros_like(p["features"])
    np.add.at(g["features"], feature_ids, dx[..., spec.embed_dim:])
    return loss, g

  def adam(self, grads):
    self.step += 1
    t = self.step
    step_size = peers.LEARNING_RATE / (1.0 - peers.B1**t)
    correction2 = 1.0 - peers.B2**t
    for name, g in grads.items():
      m, v = self.m[name], self.v[name]
      m *= peers.B1
      m += (1.0 - peers.B1) * g
      v *= peers.B2
      g *= g
      g *= 1.0 - peers.B2
      v += g
      denom = np.sqrt(v / correction2)
      denom += peers.EPS
      self.params[name] -= step_size * m / denom

  def run_epoch(self) -> int:
    perm = self.rng.permutation(self.data.num_windows)
    b = self.batch_size
    for i in range(self.num_batches):
      idx = perm[i * b:(i + 1) * b]
      _, g = self.grads(self.data.window_ids[idx], self.data.feature_ids[idx],
                        self.data.labels[idx])
      self.adam(g)
    return self.num_batches * b


def make_runner(data: peers.Data, spec: peers.Spec, *, batch_size: int, seed: int,
                variant: str = "numpy_hand", max_windows: int | None = None):
  """A NumPy runner; ``max_windows`` caps the windows of one timed epoch."""
  if variant not in VARIANTS:
    raise ValueError(f"numpy_hand: variant {variant!r} is not one of {VARIANTS}")
  if spec.activation not in peers.ACTIVATIONS:  # it would compute tanh instead
    raise ValueError(f"numpy_hand: activation {spec.activation!r} is not one of "
                     f"{peers.ACTIVATIONS}")
  if spec.chars:
    raise ValueError("numpy_hand: no character CNN by hand (the chars feature of "
                     "cw_chars); compare wincls_train with the torch rows there")
  return _Runner(data, spec, batch_size=batch_size, seed=seed, max_windows=max_windows)
