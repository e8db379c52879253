"""Per-example losses of the window classifier; the caller reduces.

All take keyword-only arguments and return one value per example ``[batch]``.

* ``softmax_cross_entropy``: maximum likelihood of a softmax over C classes.
* ``binary_logistic``: the logistic loss of one score s against a 0/1 label.
* ``max_margin``: CS224n lecture 3's ``J = max(0, Δ - s + s_c)`` for a true window
  with score s and corrupted windows with scores s_c (summed over corruptions).
* ``hinge_weston_watkins`` / ``hinge_crammer_singer``: the two multi-class
  hinges; Crammer-Singer is the max-margin J with the corruption in label space.

Hinge kinks: every ``max(0, ·)`` is ``jax.nn.relu``, whose derivative at 0 is 0
(so a loss sitting exactly on the margin has zero gradient), and the "best wrong
class" of Crammer-Singer is the lowest-index argmax, which alone gets the
gradient when wrong classes tie. ``wincls/jacobians.py`` follows the same rules.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

Array = jax.Array

# The first word id that is not reserved (<pad>, <unk>, <s>, </s>).
FIRST_WORD_ID = 4


def softmax_cross_entropy(*, logits: Array, labels: Array) -> Array:
  """``-log softmax(logits)[label]``.

  Args:
    logits: ``[batch, num_classes]``.
    labels: int ``[batch]``.

  Returns:
    ``[batch]``.
  """
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels)


def binary_logistic(*, scores: Array, labels: Array) -> Array:
  """``-y log σ(s) - (1 - y) log(1 - σ(s))``, computed stably.

  Args:
    scores: ``[batch]`` real scores s.
    labels: ``[batch]`` in {0, 1} (int or float).

  Returns:
    ``[batch]``.
  """
  return optax.sigmoid_binary_cross_entropy(scores, labels.astype(scores.dtype))


def max_margin(*, scores: Array, corrupted_scores: Array, margin: float = 1.0) -> Array:
  """The lecture's ``J = Σ_k max(0, Δ - s + s_c_k)``.

  Args:
    scores: ``[batch]`` scores s of the true windows.
    corrupted_scores: ``[batch, k]`` scores s_c of k corrupted windows each.
    margin: Δ.

  Returns:
    ``[batch]``; zero when ``s >= s_c + Δ`` for every corruption.
  """
  return jnp.sum(jax.nn.relu(margin - scores[..., None] + corrupted_scores), axis=-1)


def hinge_weston_watkins(*, scores: Array, labels: Array, margin: float = 1.0) -> Array:
  """Weston-Watkins hinge ``Σ_{c ≠ y} max(0, Δ + s_c - s_y)``.

  Args:
    scores: ``[batch, num_classes]``.
    labels: int ``[batch]``.
    margin: Δ.

  Returns:
    ``[batch]``.
  """
  true_scores = jnp.take_along_axis(scores, labels[..., None], axis=-1)
  wrong = 1.0 - jax.nn.one_hot(labels, scores.shape[-1], dtype=scores.dtype)
  return jnp.sum(wrong * jax.nn.relu(margin + scores - true_scores), axis=-1)


def best_wrong_class(scores: Array, labels: Array) -> Array:
  """The lowest-index argmax over ``c ≠ y`` of ``scores``; int ``[batch]``."""
  is_true = jax.nn.one_hot(labels, scores.shape[-1], dtype=jnp.bool_)
  lowest = jnp.finfo(scores.dtype).min
  return jnp.argmax(jnp.where(is_true, lowest, scores), axis=-1)


def hinge_crammer_singer(*, scores: Array, labels: Array, margin: float = 1.0) -> Array:
  """Crammer-Singer hinge ``max(0, Δ + max_{c ≠ y} s_c - s_y)``.

  Equals ``optax.losses.multiclass_hinge_loss`` when ``margin == 1`` (a test checks it);
  that function has no margin argument, hence this one.

  Args:
    scores: ``[batch, num_classes]`` with ``num_classes >= 2``.
    labels: int ``[batch]``.
    margin: Δ.

  Returns:
    ``[batch]``.
  """
  if scores.shape[-1] < 2:
    raise ValueError("wincls/losses.py hinge_crammer_singer: needs num_classes >= 2, "
                     f"got scores of shape {tuple(scores.shape)}")
  wrong = best_wrong_class(scores, labels)
  wrong_scores = jnp.take_along_axis(scores, wrong[..., None], axis=-1)[..., 0]
  true_scores = jnp.take_along_axis(scores, labels[..., None], axis=-1)[..., 0]
  return jax.nn.relu(margin + wrong_scores - true_scores)


def corrupt_centre(key: Array, window_ids: Array, *, num_corruptions: int,
                   low: int = FIRST_WORD_ID, high: int) -> Array:
  """Corrupted windows: the centre word replaced by a random vocabulary word.

  The replacement is uniform over ``[low, high)`` (it may, with probability
  ``1 / (high - low)``, equal the original word, as in the lecture's sampling).

  Args:
    key: a ``jax.random.key``.
    window_ids: int ``[batch, window_len]``.
    num_corruptions: k, corrupted copies per window.
    low: first id to sample (the first non-reserved id, 4).
    high: one past the last id (the vocabulary size).

  Returns:
    int ``[batch, k, window_len]``; equal to ``window_ids`` but at the centre
    position ``window_len // 2``.
  """
  if high <= low:
    raise ValueError(f"wincls/losses.py corrupt_centre: need high > low, got "
                     f"low={low}, high={high} (vocabulary too small?)")
  if num_corruptions < 1:
    raise ValueError(f"wincls/losses.py corrupt_centre: num_corruptions="
                     f"{num_corruptions} must be >= 1")
  batch, window_len = window_ids.shape
  centre = window_len // 2
  words = jax.random.randint(key, (batch, num_corruptions), low, high,
                             dtype=window_ids.dtype)
  corrupted = jnp.broadcast_to(window_ids[:, None, :], (batch, num_corruptions, window_len))
  return corrupted.at[:, :, centre].set(words)
