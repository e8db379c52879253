"""The machine's float32 matmul FLOP/s, the roofline of ``benchmarks/throughput.py``.

Each is the fastest of several calls after a warm-up: the machine's best case,
as a roofline should be (the epochs are medians, so under load the fractions
are conservative). ``peak_matmul_flops``: a jitted ``[n, n] @ [n, n]``;
``model_matmul_flops``: the window network's three hidden-layer matmuls
(``z = x Wᵀ``, ``dW = δᵀ x``, ``dx = δ W``) at the model's shapes.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp


def best_time(fn, repeats: int = 10) -> float:
  """Seconds of the fastest of ``repeats`` calls of ``fn`` after a warm-up."""
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
  return 2.0 * n**3 / best_time(lambda: matmul(a, b))


def model_matmul_flops(input_dim: int, hidden_size: int, batch_size: int,
                       iters: int) -> float:
  """FLOP/s of the hidden layer's three matmuls at the model's shapes.

  ``z = x Wᵀ`` ([B, D]·[D, H]), ``dW = δᵀ x`` and ``dx = δ W``, chained in a
  ``fori_loop`` so nothing is hoisted; ``6·B·D·H`` FLOPs per iteration.
  """
  d, h = input_dim, hidden_size
  x0 = jax.random.normal(jax.random.key(0), (batch_size, d), jnp.float32)
  w0 = 0.01 * jax.random.normal(jax.random.key(1), (h, d), jnp.float32)

  @jax.jit
  def loop(x, w):
    def body(_, carry):
      x, w = carry
      delta = x @ w.T
      return x + 1e-6 * (delta @ w), w - 1e-6 * (delta.T @ x)
    return jax.lax.fori_loop(0, iters, body, (x, w))

  return 6.0 * batch_size * d * h * iters / best_time(lambda: loop(x0, w0), 5)
