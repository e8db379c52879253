"""The CPU lowering of the Threefry hash (wincls/train/threefry.py) gives jax's bits."""

import jax
import jax.numpy as jnp
from jax.extend import random as jex_random
import numpy as np
import pytest

from wincls.train import threefry

# Random123's known-answer vectors for Threefry-2x32, 20 rounds (kat_vectors):
# (key, counter) -> output, the same triples jax's own tests check.
KAT = [
    ((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6b200159, 0x99ba4efe)),
    ((0xffffffff, 0xffffffff), (0xffffffff, 0xffffffff), (0x1cb996fc, 0xbb002be7)),
    ((0x13198a2e, 0x03707344), (0x243f6a88, 0x85a308d3), (0xc4923a9c, 0x483df7a0)),
]


@pytest.fixture(scope="module", autouse=True)
def _installed():
  threefry.use_unrolled_cpu_lowering()


@pytest.mark.parametrize("repeat", [1, threefry.SMALL + 3],
                         ids=["rolled_small", "unrolled_large"])
def test_the_registered_hash_gives_the_known_answers(repeat):
  # Through jax's primitive, so the lowering registered for this backend runs
  # (small arrays: the loop form; large ones: the straight-line form).
  keys = np.asarray([k for k, _, _ in KAT], np.uint32)
  counts = np.asarray([c for _, c, _ in KAT], np.uint32)
  expected = np.asarray([e for _, _, e in KAT], np.uint32)
  x1 = np.tile(counts[:, 0], repeat)
  x2 = np.tile(counts[:, 1], repeat)
  k1 = np.tile(keys[:, 0], repeat)
  k2 = np.tile(keys[:, 1], repeat)
  y1, y2 = jax.jit(lambda *a: jex_random.threefry2x32_p.bind(*a))(k1, k2, x1, x2)
  np.testing.assert_array_equal(np.asarray(y1), np.tile(expected[:, 0], repeat))
  np.testing.assert_array_equal(np.asarray(y2), np.tile(expected[:, 1], repeat))


def test_both_forms_agree_on_random_inputs():
  rng = np.random.default_rng(0)
  k1, k2, x1, x2 = (rng.integers(0, 2**32, size=257, dtype=np.uint32) for _ in range(4))
  straight = jax.jit(threefry.threefry2x32)(k1, k2, x1, x2)
  rolled = jax.jit(threefry._rolled)(k1, k2, x1, x2)  # pylint: disable=protected-access
  for a, b in zip(straight, rolled):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="the CPU lowering")
def test_large_draws_compile_without_a_loop():
  # What makes it fast: jax's CPU form is a while loop XLA cannot fuse.
  draw = jax.jit(lambda key: jax.random.bernoulli(key, 0.3, (64, 64)))
  assert "while" not in draw.lower(jax.random.key(0)).compile().as_text()
  assert np.asarray(draw(jax.random.key(0))).mean() == pytest.approx(0.3, abs=0.03)
