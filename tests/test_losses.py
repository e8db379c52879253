"""Tests of wincls/model/losses.py against numbers worked out by hand, and its registry.

The hand gradients are checked against autodiff in tests/test_jacobians.py.
"""

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from wincls.model import losses


def test_softmax_cross_entropy_hand_case():
  logits = jnp.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
  labels = jnp.array([2, 1])
  out = losses.softmax_cross_entropy(scores=logits, labels=labels)
  chex.assert_shape(out, (2,))
  # -log(e^3 / (e + e^2 + e^3)) = log(1 + e^-1 + e^-2); uniform over 3 -> log 3.
  expected = [math.log(1 + math.exp(-1) + math.exp(-2)), math.log(3)]
  np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_binary_logistic_hand_case():
  scores = jnp.array([0.0, 2.0, 2.0, -30.0])
  labels = jnp.array([1, 1, 0, 1])
  out = losses.binary_logistic(scores=scores, labels=labels)
  expected = [math.log(2), math.log(1 + math.exp(-2)), math.log(1 + math.exp(2)), 30.0]
  np.testing.assert_allclose(out, expected, rtol=1e-6)


ONE = jnp.array([1])


def test_max_margin_zero_beyond_margin_and_slope_minus_one():
  corrupted = jnp.array([[0.5]])
  # s >= s_c + 1 -> 0 (including exactly on the margin).
  for s in (1.5, 2.0, 10.0):
    assert losses.max_margin(scores=jnp.array([s]), labels=ONE, corrupted_scores=corrupted)[0] == 0.0
  # Otherwise J = 1 - s + s_c, slope -1 in s and +1 in s_c.
  for s in (-2.0, 0.0, 1.0):
    value = losses.max_margin(scores=jnp.array([s]), labels=ONE, corrupted_scores=corrupted)[0]
    np.testing.assert_allclose(value, 1.0 - s + 0.5, rtol=1e-6)
    ds = jax.grad(lambda t: losses.max_margin(
        scores=t[None], labels=ONE, corrupted_scores=corrupted)[0])(jnp.float32(s))
    assert ds == -1.0
  # Exactly on the margin the (sub)gradient is 0, as for relu.
  on_margin = jax.grad(lambda t: losses.max_margin(
      scores=t[None], labels=ONE, corrupted_scores=corrupted)[0])(jnp.float32(1.5))
  assert on_margin == 0.0


def test_max_margin_sums_over_corruptions_with_margin():
  scores = jnp.array([1.0, 3.0])
  corrupted = jnp.array([[0.0, 1.5, -5.0], [2.0, 2.5, 0.0]])
  out = losses.max_margin(scores=scores, labels=jnp.array([1, 1]),
                          corrupted_scores=corrupted, margin=2.0)
  # Row 0: max(0, 2-1+0)=1, max(0, 2-1+1.5)=2.5, 0 -> 3.5.
  # Row 1: max(0, 2-3+2)=1, max(0, 2-3+2.5)=1.5, 0 -> 2.5.
  np.testing.assert_allclose(out, [3.5, 2.5], rtol=1e-6)


SCORES = jnp.array([[1.0, 3.0, 2.5], [1.0, 3.0, 2.5], [1.0, 3.0, 2.5]])
LABELS = jnp.array([0, 1, 2])


def test_hinge_weston_watkins_hand_case():
  out = losses.hinge_weston_watkins(scores=SCORES, labels=LABELS)
  # y=0: (1+3-1) + (1+2.5-1) = 5.5; y=1: max(0,1+1-3) + (1+2.5-3) = 0.5;
  # y=2: max(0, 1+1-2.5) + (1+3-2.5) = 1.5.
  np.testing.assert_allclose(out, [5.5, 0.5, 1.5], rtol=1e-6)
  out = losses.hinge_weston_watkins(scores=SCORES, labels=LABELS, margin=0.25)
  # y=0: 2.25 + 1.75 = 4; y=1: 0 + 0 = 0; y=2: 0 + 0.75 = 0.75.
  np.testing.assert_allclose(out, [4.0, 0.0, 0.75], rtol=1e-6)


def test_hinge_crammer_singer_hand_case():
  out = losses.hinge_crammer_singer(scores=SCORES, labels=LABELS)
  # y=0: 1+3-1 = 3; y=1: 1+2.5-3 = 0.5; y=2: 1+3-2.5 = 1.5.
  np.testing.assert_allclose(out, [3.0, 0.5, 1.5], rtol=1e-6)
  out = losses.hinge_crammer_singer(scores=SCORES, labels=LABELS, margin=0.25)
  np.testing.assert_allclose(out, [2.25, 0.0, 0.75], rtol=1e-6)


def test_hinge_crammer_singer_equals_optax_at_margin_one():
  rng = np.random.default_rng(0)
  scores = jnp.asarray(rng.normal(size=(50, 4)), jnp.float32)
  labels = jnp.asarray(rng.integers(0, 4, size=50), jnp.int32)
  np.testing.assert_allclose(
      losses.hinge_crammer_singer(scores=scores, labels=labels),
      optax.losses.multiclass_hinge_loss(scores, labels), rtol=1e-6, atol=1e-6)


def test_crammer_singer_tie_gradient_goes_to_lowest_wrong_class():
  scores = jnp.array([[0.0, 2.0, 2.0, 1.0]])
  grad = jax.grad(lambda s: losses.hinge_crammer_singer(
      scores=s, labels=jnp.array([3]))[0])(scores)
  np.testing.assert_array_equal(grad, [[0.0, 1.0, 0.0, -1.0]])


def test_corrupt_centre():
  rng = np.random.default_rng(0)
  window_ids = jnp.asarray(rng.integers(0, 4, size=(6, 5)), jnp.int32)  # reserved ids only
  key = jax.random.key(3)
  out = losses.corrupt_centre(key, window_ids, num_corruptions=7, low=4, high=20)
  chex.assert_shape(out, (6, 7, 5))
  assert out.dtype == jnp.int32
  others = np.delete(np.asarray(out), 2, axis=-1)
  np.testing.assert_array_equal(
      others, np.broadcast_to(np.delete(np.asarray(window_ids), 2, axis=-1)[:, None],
                              (6, 7, 4)))
  centre = np.asarray(out[:, :, 2])
  assert centre.min() >= 4 and centre.max() < 20
  assert len(np.unique(centre)) > 5  # 42 draws from 16 ids
  np.testing.assert_array_equal(
      out, losses.corrupt_centre(key, window_ids, num_corruptions=7, low=4, high=20))
  assert not np.array_equal(out, losses.corrupt_centre(
      jax.random.key(4), window_ids, num_corruptions=7, low=4, high=20))
  with pytest.raises(ValueError, match="need high > low"):
    losses.corrupt_centre(key, window_ids, num_corruptions=1, low=4, high=4)


def test_max_margin_ignores_negatives_and_max_margin_neg_pushes_them_down():
  scores = jnp.array([-2.0, 0.5, 0.5])
  labels = jnp.array([0, 0, 1])
  corrupted = jnp.zeros((3, 2))
  # The lecture's J: only true windows (label 1) against their corruptions.
  out = losses.max_margin(scores=scores, labels=labels, corrupted_scores=corrupted)
  np.testing.assert_allclose(out, [0.0, 0.0, 1.0], rtol=1e-6)
  out = losses.max_margin_neg(scores=scores, labels=labels, corrupted_scores=corrupted)
  np.testing.assert_allclose(out, [0.0, 1.5, 1.0], rtol=1e-6)


def test_registry_resolves_flags_and_outputs():
  # max_margin with the multiclass output is Crammer–Singer (label-space corruption).
  assert losses.get("max_margin", "multiclass") is losses.LOSSES["hinge_cs"]
  assert losses.get("max_margin", "score").kind == "corrupted"
  assert losses.get("crf", "multiclass").kind == "sentence"
  assert set(losses.outputs_of("score")) == {"max_margin", "max_margin_neg", "logistic"}
  with pytest.raises(ValueError, match="--loss='nce' is not one of"):
    losses.get("nce", "multiclass")
  with pytest.raises(ValueError, match="--loss=logistic does not work with --output=multiclass"):
    losses.get("logistic", "multiclass")
  for name, spec in losses.LOSSES.items():
    assert spec.kind in ("token", "corrupted", "sentence"), name
    assert spec.help and spec.outputs, name
