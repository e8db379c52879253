"""``wincls.testing``'s own messages: a failure names the input case and the
function, and a forward pass that is undefined on a case is reported as a
forward problem before any derivative is compared (issue 28)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wincls import testing
from wincls.model import features
from wincls.model import windows


def _attention(p, vectors, mask):
  """A plugin-style attention: plain softmax over the words' scores, padding at -inf.

  On a window that is all padding every score is -inf, and softmax gives nan.
  """
  del p
  scores = jnp.where(mask > 0, jnp.sum(vectors, axis=-1), -jnp.inf)
  weights = jax.nn.softmax(scores, axis=-1)
  return jnp.sum(weights[..., None] * vectors, axis=-2)


def _attention_jacobian(p, vectors, mask):
  return jax.jacrev(lambda v: _attention(p, v, mask))(vectors)


def _attention_vjp(p, vectors, mask, g):
  _, pullback = jax.vjp(lambda v: _attention(p, v, mask), vectors)
  return None, pullback(g)[0]


ATTENTION = windows.WindowSpec(_attention, lambda w, d: d, _attention_jacobian,
                               _attention_vjp, "softmax attention, no guard")


def test_nan_forward_on_all_padding_is_named_as_a_forward_problem():
  with pytest.raises(AssertionError) as info:
    testing.check_window(ATTENTION)
  message = str(info.value)
  assert "_attention forward gives nan on window 4: all padding, m = 0" in message
  assert "vjp" not in message and "relative error" not in message


def test_a_wrong_jacobian_names_the_window_it_is_wrong_on():
  def guarded(p, vectors, mask):  # all padding gives 0: finite everywhere
    del p
    words = jnp.any(mask > 0, axis=-1, keepdims=True)
    scores = jnp.where(mask > 0, jnp.sum(vectors, axis=-1), -jnp.inf)
    weights = jax.nn.softmax(jnp.where(words, scores, 0.0), axis=-1)
    return jnp.where(words, jnp.sum(weights[..., None] * vectors, axis=-2), 0.0)

  def jacobian(p, vectors, mask):  # wrong only where the sentence starts
    j = jax.jacrev(lambda v: guarded(p, v, mask))(vectors)
    return j * jnp.where(mask[0] > 0, 1.0, 1.01)

  spec = windows.WindowSpec(
      guarded, lambda w, d: d, jacobian,
      lambda p, v, mask, g: (None, jax.vjp(lambda v: guarded(p, v, mask), v)[1](g)[0]),
      "guarded softmax attention")
  with pytest.raises(AssertionError, match=r"jacobian on window 1: left padding "
                     r"\(sentence start\), m = 1: worst relative error"):
    testing.check_window(spec, half_widths=(1,))


def test_feature_inputs_get_the_config_training_gives_them():
  """Training calls inputs() with the run's Config; a feature reading a field only
  the ModelConfig has passed the checker and failed in training."""
  casing = features.get("casing")
  spec = dataclasses.replace(casing, inputs=lambda words, config: np.ones(
      (len(words), 1), np.int32) * (config.vocab_size > 0))
  with pytest.raises(AssertionError, match=r"failed with the run's Config .*"
                     r"AttributeError: 'Config' object has no attribute 'vocab_size'"):
    testing.check_feature(spec)
