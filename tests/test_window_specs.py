"""Every window representation of ``windows.WINDOWS``, and the embedding lookup.

The grid is the registry: a new spec is checked here without a new test, by
the public checker ``wincls.testing.check_window`` (its hand Jacobians w.r.t.
the vectors and its parameters against jacfwd/jacrev, its batched VJP against
``jax.vjp``, ``check_grads`` of the forward with the hand Jacobians as its JVP,
``out_dim`` against the forward's output). Values of each known representation
are checked against NumPy below. float64.
"""


import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wincls import config as config_lib
from wincls import testing
from wincls.model import windows

@pytest.fixture(autouse=True)
def _x64():
  with jax.enable_x64(True):
    yield


def test_config_choices_and_params_come_from_the_registry():
  for name, spec in windows.WINDOWS.items():
    assert spec.help, name
  with pytest.raises(ValueError, match="window 'not,a,window' is not one of"):
    windows.get("not,a,window")
  with pytest.raises(ValueError, match="--window='not,a,window' is not one of concat"):
    config_lib.Config(window="not,a,window").validate()


@pytest.mark.parametrize("name", list(windows.WINDOWS))
def test_hand_jacobians_and_vjp_match_autodiff(name):
  """``wincls.testing.check_window``: jacobian(s) and VJP vs jacfwd/jacrev/vjp at
  m = 0, 1, 2, out_dim, and check_grads with the hand Jacobians as the JVP."""
  assert testing.check_window(windows.get(name)) <= testing.RTOL


def test_values_of_the_representations():
  rng = np.random.default_rng(1)
  vectors = rng.normal(size=(2, 5, 4))
  mask = np.array([[0, 1, 1, 1, 0], [1, 1, 1, 1, 1]], bool)
  concat = windows.get("concat").forward(None, jnp.asarray(vectors), mask)
  chex.assert_shape(concat, (2, 20))
  for p in range(5):  # position-major
    np.testing.assert_array_equal(concat[:, 4 * p:4 * (p + 1)], vectors[:, p])
  np.testing.assert_allclose(windows.get("average").forward(None, vectors, mask),
                             vectors.mean(axis=1), rtol=1e-12)
  np.testing.assert_allclose(windows.get("masked_average").forward(None, vectors, mask),
                             [vectors[0, 1:4].mean(0), vectors[1].mean(0)], rtol=1e-12)
  # weighted starts as the average and weighs positions by a.
  spec = windows.get("weighted")
  a0 = spec.init(jax.random.key(0), 5, 4, jnp.float64)
  np.testing.assert_allclose(spec.forward(a0, vectors, mask), vectors.mean(axis=1),
                             rtol=1e-12)
  a = {"weights": jnp.arange(5.0)}
  np.testing.assert_allclose(spec.forward(a, vectors, mask),
                             np.einsum("q,bqd->bd", np.arange(5.0), vectors), rtol=1e-12)
  for name, s in windows.WINDOWS.items():  # out_dim, with extra leading axes
    p = s.init(jax.random.key(0), 5, 4, jnp.float64) if s.init else None
    out = s.forward(p, jnp.zeros((3, 2, 5, 4)), jnp.ones((3, 2, 5), bool))
    assert out.shape == (3, 2, s.out_dim(5, 4)), name


def _tables(rng, vocab=20, embed_dim=4, feature_sizes=(5,), feature_dim=2):
  return {"words": jnp.asarray(rng.normal(size=(vocab, embed_dim)), jnp.float32),
          "features": [jnp.asarray(rng.normal(size=(f, feature_dim)), jnp.float32)
                       for f in feature_sizes]}


@pytest.mark.parametrize("feature_sizes", [(), (5,), (5, 3)])
def test_embed_concatenates_word_then_features(feature_sizes):
  rng = np.random.default_rng(0)
  tables = _tables(rng, feature_sizes=feature_sizes)
  window_ids = rng.integers(0, 20, size=(6, 3)).astype(np.int32)
  feature_ids = np.stack([rng.integers(0, f, size=(6, 3)) for f in feature_sizes],
                         axis=-1).astype(np.int32) if feature_sizes else (
                             np.zeros((6, 3, 0), np.int32))
  out = windows.embed(tables, window_ids, feature_ids)
  chex.assert_shape(out, (6, 3, 4 + 2 * len(feature_sizes)))
  words = np.asarray(tables["words"])
  for b in range(6):
    for p in range(3):
      expected = [words[window_ids[b, p]]]
      for k, table in enumerate(tables["features"]):
        expected.append(np.asarray(table)[feature_ids[b, p, k]])
      np.testing.assert_array_equal(out[b, p], np.concatenate(expected))


def test_embed_rejects_mismatched_feature_ids():
  rng = np.random.default_rng(0)
  tables = _tables(rng)
  with pytest.raises(ValueError, match="windows.py embed.*feature_ids"):
    windows.embed(tables, np.zeros((6, 3), np.int32), np.zeros((6, 3, 2), np.int32))
  with pytest.raises(ValueError, match="feature_ids is None"):
    windows.embed(tables, np.zeros((6, 3), np.int32), None)
  out = windows.embed({"words": tables["words"], "features": []},
                      np.zeros((2, 3), np.int32), None)
  chex.assert_shape(out, (2, 3, 4))
