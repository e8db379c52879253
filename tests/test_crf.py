"""Tests of wincls/model/crf.py against brute-force enumeration of all tag paths."""

import itertools
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
from jax.test_util import check_grads

from wincls.model import crf

NUM_TAGS = 3
MAX_LEN = 4
LENGTHS = (1, 2, 3, 4)


def _problem(seed, scale=1.0):
  """Emissions [len(LENGTHS), MAX_LEN, C], masks of lengths 1..4 and CRF params."""
  rng = np.random.default_rng(seed)
  emissions = scale * rng.normal(size=(len(LENGTHS), MAX_LEN, NUM_TAGS))
  mask = np.array([[t < n for t in range(MAX_LEN)] for n in LENGTHS])
  params = {"transitions": rng.normal(size=(NUM_TAGS, NUM_TAGS)),
            "start": rng.normal(size=(NUM_TAGS,)),
            "end": rng.normal(size=(NUM_TAGS,))}
  return emissions, mask, params


def _path_score(emissions, path, params):
  """S(y) written out as in C&W, in plain Python."""
  score = params["start"][path[0]] + params["end"][path[-1]]
  for t, tag in enumerate(path):
    score += emissions[t, tag]
    if t > 0:
      score += params["transitions"][path[t - 1], tag]
  return score


def _brute_force(emissions, length, params):
  paths = list(itertools.product(range(NUM_TAGS), repeat=length))
  scores = np.array([_path_score(emissions, p, params) for p in paths])
  top = scores.max()
  log_z = top + math.log(np.exp(scores - top).sum())
  return paths, scores, log_z


def test_log_partition_and_scores_match_enumeration():
  with jax.enable_x64(True):
    emissions, mask, params = _problem(0)
    jparams = jax.tree.map(jnp.asarray, params)
    rng = np.random.default_rng(1)
    log_partition = jax.jit(crf.crf_log_partition)
    sequence_score = jax.jit(crf.crf_sequence_score)
    for i, n in enumerate(LENGTHS):
      # Garbage beyond the mask must not matter.
      padded = emissions[i].copy()
      padded[n:] = 100.0
      paths, scores, log_z = _brute_force(padded, n, params)
      got = log_partition(jnp.asarray(padded), jnp.asarray(mask[i]), jparams)
      np.testing.assert_allclose(got, log_z, rtol=1e-12)
      for j in rng.choice(len(paths), size=min(5, len(paths)), replace=False):
        tags = np.array(list(paths[j]) + [2] * (MAX_LEN - n), np.int32)
        got = sequence_score(jnp.asarray(padded), jnp.asarray(tags),
                             jnp.asarray(mask[i]), jparams)
        np.testing.assert_allclose(got, scores[j], rtol=1e-12)


def test_marginals_are_gradient_of_log_partition():
  # d log Z / d e[t, j] = p(y_t = j): compare with enumerated marginals.
  with jax.enable_x64(True):
    emissions, mask, params = _problem(2)
    jparams = jax.tree.map(jnp.asarray, params)
    i, n = 2, 3
    paths, scores, log_z = _brute_force(emissions[i], n, params)
    probs = np.exp(scores - log_z)
    marginals = np.zeros((MAX_LEN, NUM_TAGS))
    for p, path in zip(probs, paths):
      for t, tag in enumerate(path):
        marginals[t, tag] += p
    grad = jax.grad(crf.crf_log_partition)(jnp.asarray(emissions[i]),
                                           jnp.asarray(mask[i]), jparams)
    np.testing.assert_allclose(grad, marginals, rtol=1e-10, atol=1e-12)


def test_nll_is_normalised_and_batched():
  with jax.enable_x64(True):
    emissions, mask, params = _problem(3)
    jparams = jax.tree.map(jnp.asarray, params)
    i, n = 1, 2
    total = 0.0
    nll_fn = jax.jit(crf.crf_nll)
    for path in itertools.product(range(NUM_TAGS), repeat=n):
      labels = np.zeros((len(LENGTHS), MAX_LEN), np.int32)
      labels[i, :n] = path
      nll = nll_fn(emissions=jnp.asarray(emissions), labels=jnp.asarray(labels),
                   mask=jnp.asarray(mask), crf_params=jparams)
      chex.assert_shape(nll, (len(LENGTHS),))
      assert np.all(np.asarray(nll) >= 0)
      total += math.exp(-float(nll[i]))
    np.testing.assert_allclose(total, 1.0, rtol=1e-12)


def test_viterbi_matches_brute_force_argmax():
  decode = jax.jit(crf.viterbi_decode)
  for seed in range(4):
    emissions, mask, params = _problem(4 + 10 * seed, scale=2.0)
    params["transitions"] *= 3.0  # strong transitions: the path matters
    jparams = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), params)
    tags, best = decode(jnp.asarray(emissions, jnp.float32), jnp.asarray(mask), jparams)
    chex.assert_shape(tags, (len(LENGTHS), MAX_LEN))
    assert tags.dtype == jnp.int32
    for i, n in enumerate(LENGTHS):
      paths, scores, _ = _brute_force(emissions[i], n, params)
      np.testing.assert_array_equal(tags[i, :n], paths[int(np.argmax(scores))])
      np.testing.assert_array_equal(tags[i, n:], 0)
      np.testing.assert_allclose(best[i], scores.max(), rtol=1e-5)


def test_jit_vmap_grad_and_stability():
  emissions, mask, params = _problem(5)
  jparams = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), params)
  emissions = jnp.asarray(emissions, jnp.float32)
  labels = jnp.zeros(mask.shape, jnp.int32)

  def mean_nll(e, p):
    return jnp.mean(crf.crf_nll(emissions=e, labels=labels, mask=jnp.asarray(mask),
                                crf_params=p))

  # vmap over a stack of 2 parameter sets = each set on its own.
  stacked = jax.tree.map(lambda x: jnp.stack([x, 2 * x]), jparams)
  doubled = jax.tree.map(lambda x: 2 * x, jparams)

  @jax.jit
  def run(emissions, stacked):
    both = jax.vmap(mean_nll, in_axes=(None, 0))(emissions, stacked)
    return both, mean_nll(emissions, jparams), mean_nll(emissions, doubled)

  both, first, second = run(emissions, stacked)
  np.testing.assert_allclose(both, [first, second], rtol=1e-5)
  assert abs(float(first - second)) > 1e-3
  # Huge scores stay finite (logsumexp), and so do the gradients.
  big = 1e4 * emissions
  value, grads = jax.jit(jax.value_and_grad(mean_nll, argnums=(0, 1)))(big, jparams)
  assert np.isfinite(value)
  assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))


def test_check_grads_float64():
  with jax.enable_x64(True):
    emissions, mask, params = _problem(6)
    labels = jnp.asarray(np.random.default_rng(0).integers(0, NUM_TAGS, mask.shape))

    def total(e, p):
      return jnp.sum(crf.crf_nll(emissions=e, labels=labels, mask=jnp.asarray(mask),
                                 crf_params=p))

    check_grads(jax.jit(total), (jnp.asarray(emissions), jax.tree.map(jnp.asarray, params)),
                order=1, modes=("rev",), atol=1e-7, rtol=1e-7)


def test_padding_sentence_has_zero_nll():
  emissions, mask, params = _problem(7)
  mask = mask.copy()
  mask[0] = False
  nll = jax.jit(crf.crf_nll)(
      emissions=jnp.asarray(emissions), labels=jnp.zeros(mask.shape, jnp.int32),
      mask=jnp.asarray(mask), crf_params=jax.tree.map(jnp.asarray, params))
  assert nll[0] == 0.0
  assert np.all(np.asarray(nll[1:]) > 0)
