"""The Threefry-2x32 hash unrolled on the CPU: the same random bits, no loop.

Every random number of a run (dropout masks, word dropout, shuffles, the
corruptions) comes from ``jax.random``'s default generator, whose core is the
Threefry-2x32 hash (20 rounds; Salmon et al., "Parallel random numbers: as
easy as 1, 2, 3", SC 2011). On the CPU jax lowers the hash as a 5-trip
``while`` loop (to keep compile times down); XLA runs each trip as separate
kernels with copies of the counters in between, and cannot fuse the hash
with the ``uniform``/``bernoulli`` arithmetic around it; in the default
``train.py`` epoch (two dropout masks and the word dropout) that loop was a
large share of every step (docs/benchmarks.md, "Where the epoch goes").

``use_unrolled_cpu_lowering()`` registers the straight-line form of the same
hash for the CPU on arrays of ``SMALL`` elements or more: identical bits (the
known-answer vectors of Random123 in tests/test_threefry.py; a run's results
do not change, bit for bit), which XLA fuses into one elementwise loop with its
consumers (the epoch time before and after: docs/benchmarks.md). Smaller
arrays (the scalar ``fold_in`` of every key) keep the loop form: XLA would
otherwise fuse a scalar key's straight-line hash into each consumer and
recompute it per element. ``programs.py`` calls it before it compiles
anything. Other backends keep jax's lowering, which on the GPU is already
this straight-line form (jax 0.10 uses its GPU kernel only with
``jax_threefry_gpu_kernel_lowering`` set). It changes a lowering only: keys,
``jax.random``'s API and the other generators (``rbg``) are untouched.
"""

from __future__ import annotations

import jax
from jax import lax
import jax.numpy as jnp
from jax.extend import random as jex_random
from jax.interpreters import mlir
import numpy as np

ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
KEY_PARITY = 0x1BD11BDA
SMALL = 1024

_installed = False


def _rotate_left(x: jax.Array, d: int) -> jax.Array:
  return (x << np.uint32(d)) | (x >> np.uint32(32 - d))


def threefry2x32(key1: jax.Array, key2: jax.Array, x1: jax.Array, x2: jax.Array
                 ) -> tuple[jax.Array, jax.Array]:
  """Threefry-2x32 with 20 rounds, straight-line (uint32 arrays, broadcast).

  Five groups of four rounds (mix ``x0 += x1; x1 = rotl(x1, r) ^ x0``), each
  followed by a key injection from the key schedule
  ``(k0, k1, k0 ^ k1 ^ 0x1BD11BDA)``.
  """
  keys = (key1, key2, key1 ^ key2 ^ np.uint32(KEY_PARITY))
  x1 = x1 + keys[0]
  x2 = x2 + keys[1]
  for group in range(5):
    for r in ROTATIONS[group % 2]:
      x1 = x1 + x2
      x2 = _rotate_left(x2, r) ^ x1
    x1 = x1 + keys[(group + 1) % 3]
    x2 = x2 + keys[(group + 2) % 3] + np.uint32(group + 1)
  return x1, x2


def _rolled(key1, key2, x1, x2):
  """The same hash as a 5-trip loop of four rounds (jax's CPU form), for small arrays.

  The key schedule and the two rotation sets rotate through the loop's
  carry, as in jax's loop, so this compiles like jax's own lowering.
  """
  def trip(i, carry):
    (x1, x2), keys, rotations = carry
    for r in rotations[0]:
      x1 = x1 + x2
      x2 = ((x2 << r) | (x2 >> (np.uint32(32) - r))) ^ x1
    x1 = x1 + keys[0]
    x2 = x2 + keys[1] + (i + 1).astype(np.uint32)
    return (x1, x2), keys[1:] + keys[:1], rotations[1:] + rotations[:1]

  keys = [key1, key2, key1 ^ key2 ^ np.uint32(KEY_PARITY)]
  rotations = [np.asarray(r, np.uint32) for r in ROTATIONS]
  x = (x1 + keys[0], x2 + keys[1])
  x, _, _ = lax.fori_loop(0, 5, trip, (x, keys[1:] + keys[:1], rotations))
  return x


def _lowering(key1, key2, x1, x2):
  size = np.prod(np.broadcast_shapes(key1.shape, key2.shape, x1.shape, x2.shape))
  if size < SMALL:
    return _rolled(key1, key2, x1, x2)
  return threefry2x32(key1, key2, x1, x2)


def use_unrolled_cpu_lowering() -> None:
  """Lower ``threefry2x32_p`` on the CPU with ``threefry2x32`` (idempotent).

  Programs compiled after the call use it; the bits are jax's.
  """
  global _installed
  if _installed:
    return
  mlir.register_lowering(jex_random.threefry2x32_p,
                         mlir.lower_fun(_lowering, multiple_results=True),
                         platform="cpu")
  _installed = True
