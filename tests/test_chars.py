"""The character CNN's batch paths (``wincls.model.chars``): each tier of distinct
rows, the per-row path and the vmapped tier give ``pool``'s values and gradients,
and the sparse backward equals jax.grad of the dense formulation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wincls import testing
from wincls.model import chars

CONFIG = testing.FEATURE_CONFIG  # 6 characters read; short rows have at most 3
ROWS = 160  # >= chars.MIN_ROWS


def _words(n_short: int, n_long: int, seed: int) -> list[str]:
  """``n_short`` distinct words of 1-3 letters and ``n_long`` of 4-6."""
  rng = np.random.default_rng(seed)
  out: set[str] = set()
  for count, lengths, start in ((n_short, (1, 4), 0), (n_long, (4, 7), n_short)):
    while len(out) < start + count:
      out.add("".join(rng.choice(list("abcdefghijklmnopqrstuvwxyzABCDE"),
                                 rng.integers(*lengths))))
  return sorted(out)


def _rows(words: list[str], seed: int) -> jnp.ndarray:
  """``[ROWS, 6]`` ids: every word at least once, the rest repeats, shuffled."""
  rng = np.random.default_rng(seed)
  chosen = words + list(rng.choice(words, ROWS - len(words)))
  return jnp.asarray(chars.char_ids(list(rng.permutation(chosen)), CONFIG.char_max_len))


def _params(seed=0):
  p = chars.init(jax.random.key(seed), chars.NUM_CHARS, CONFIG, jnp.float64)
  return jax.tree.map(lambda x: x + 0.3 * jax.random.normal(jax.random.key(seed + 1),
                                                            x.shape, x.dtype), p)


def _dense_pool(p, inputs):
  """The CNN as first written: Z at every character, the value read at the argmax.
  jax.grad of this forms δZ densely: the reference for the sparse backward."""
  X, mask = chars._char_windows(p, inputs, CONFIG.char_width)
  Z = X @ p["W"].T + p["b"]
  best = jnp.argmax(jnp.where(mask[..., None], Z, -jnp.inf), axis=-2)
  value = jnp.take_along_axis(Z, best[..., None, :], axis=-2)[..., 0, :]
  return jnp.where(jnp.any(mask, -1)[..., None], value, 0.0)


@jax.jit
def _every_path(p, inputs, g):
  """One program for every case (same shapes): the branch taken, forward and
  pool, and the gradients: autodiff, hand, and autodiff of ``_dense_pool``."""
  rows = inputs.reshape(-1, inputs.shape[-1])
  out, pullback = jax.vjp(lambda q: chars.forward(q, inputs, CONFIG), p)
  _, dense_pullback = jax.vjp(lambda q: _dense_pool(q, inputs), p)
  return (chars._groups(rows).index, out,
          chars.pool(p, inputs, CONFIG), pullback(g)[0],
          chars.vjp(p, inputs, g, CONFIG), dense_pullback(g)[0])


# (short words, long words) -> the branch that holds them: slots of ROWS = 160
# are (40, 10), (104, 20), (120, 30) for the three tiers.
CASES = {"in_order": ((25, 5), 0), "shuffled": ((75, 15), 1), "small_batch": ((90, 25), 2),
         "all_distinct": ((130, 30), 3), "many_long": ((5, 25), 2)}


@pytest.mark.parametrize("case", CASES)
def test_each_branch_equals_pool_and_the_dense_gradient(case):
  (n_short, n_long), branch = CASES[case]
  with jax.enable_x64(True):
    inputs = _rows(_words(n_short, n_long, seed=1), seed=2).reshape(32, 5, -1)
    p = _params()
    g = jax.random.normal(jax.random.key(3), inputs.shape[:-1] + (CONFIG.char_filters,),
                          jnp.float64)

    index, out, want, auto, hand, dense = _every_path(p, inputs, g)
    assert int(index) == branch
    testing.assert_close("forward", out, want, rtol=1e-12)
    testing.assert_close("jax.vjp(forward)", auto, dense, rtol=1e-10)
    testing.assert_close("vjp", hand, dense, rtol=1e-10)


def test_under_vmap_every_member_runs_the_largest_tier_any_needs():
  small = _rows(_words(25, 5, seed=1), seed=2)  # tier 0 alone
  large = _rows(_words(90, 25, seed=4), seed=5)  # tier 2
  index = lambda r: chars._groups(r).index
  assert (int(jax.jit(index)(small)), int(jax.jit(index)(large))) == (0, 2)
  assert jax.jit(jax.vmap(index))(jnp.stack([small, large])).tolist() == [2, 2]
  with jax.enable_x64(True):
    p = _params()
    both = jax.jit(jax.vmap(lambda r: chars.forward(p, r, CONFIG)))(
        jnp.stack([small, large]))
    testing.assert_close("vmapped forward", both,
                         jnp.stack([chars.pool(p, small, CONFIG),
                                    chars.pool(p, large, CONFIG)]), rtol=1e-12)


def test_equal_hashes_cost_slots_not_correctness(monkeypatch):
  monkeypatch.setattr(chars, "FNV_PRIME", 0)  # every row hashes to 0: index order
  words = _words(25, 5, seed=1)
  # Runs of equal rows, then a tail where rows interleave (a b a b ...): with
  # one hash the sort keeps index order, so an interleaved word opens a group
  # at each of its runs.
  order = sorted(words * 4) + words[:4] * 5
  inputs = jnp.asarray(chars.char_ids(order + words[:1] * (ROWS - len(order)),
                                      CONFIG.char_max_len))
  groups = jax.jit(chars._groups)(inputs)
  assert len(words) < int(groups.count) and int(groups.index) < 3
  with jax.enable_x64(True):
    p = _params()
    g = jax.random.normal(jax.random.key(3), (ROWS, CONFIG.char_filters), jnp.float64)
    out, hand = jax.jit(lambda p, x, g: (chars.forward(p, x, CONFIG),
                                         chars.vjp(p, x, g, CONFIG)))(p, inputs, g)
    testing.assert_close("forward", out, chars.pool(p, inputs, CONFIG), rtol=1e-12)
    testing.assert_close("vjp", hand, chars.pool_vjp(p, inputs, g, CONFIG), rtol=1e-10)


def test_char_ids_are_code_points_cut_and_padded():
  ids = chars.char_ids(["Paris", "", "日本", "Paris", "🙂" * 5, "caf\u00e9!"], 4)
  np.testing.assert_array_equal(ids, [
      [80, 97, 114, 105],  # the first 4 characters' code points
      [0, 0, 0, 0],  # 0 after the word
      [256 + ord("日") % 256, 256 + ord("本") % 256, 0, 0],  # >= 256: 256 + ord % 256
      [80, 97, 114, 105],
      [256 + ord("🙂") % 256] * 4,  # one id per code point, beyond the BMP too
      [99, 97, 102, 0xE9]])
  assert ids.dtype == np.int32 and ids.max() < chars.NUM_CHARS
  assert chars.char_ids([], 3).shape == (0, 3)
