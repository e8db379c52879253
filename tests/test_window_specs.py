"""Every window representation of ``windows.WINDOWS``, and the embedding lookup.

The grid is the registry: a new spec is checked here without a new test (its
hand Jacobians w.r.t. the vectors and its parameters against jacfwd/jacrev,
its batched VJP against ``jax.vjp``, ``check_grads`` of the forward with the
hand Jacobians as its JVP, ``out_dim`` against the forward's output). Values
of each known representation are checked against NumPy below. float64.
"""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from wincls import config as config_lib
from wincls.model import windows

RTOL = 1e-10
jit = functools.partial(jax.jit, compiler_options={
    "xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True})
HALF_WIDTHS = (0, 1, 2)
D = 3


@pytest.fixture(autouse=True)
def _x64():
  with jax.enable_x64(True):
    yield


def _problem(name, half_width, batch=4):
  """Params, one window's vectors and mask, a batch of them, an upstream g."""
  spec = windows.get(name)
  window_len = 2 * half_width + 1
  rng = np.random.default_rng(10 * half_width + len(name))
  params = None
  if spec.init is not None:  # random values in init's structure
    shapes = jax.eval_shape(lambda: spec.init(jax.random.key(0), window_len, D, jnp.float64))
    params = jax.tree.map(lambda s: jnp.asarray(rng.normal(size=s.shape)), shapes)
  vectors = jnp.asarray(rng.normal(size=(window_len, D)))
  mask = jnp.asarray(rng.random(window_len) < 0.6).at[half_width].set(True)
  batch_vectors = jnp.asarray(rng.normal(size=(batch, window_len, D)))
  batch_mask = jnp.asarray(rng.random((batch, window_len)) < 0.6).at[0].set(False)
  g = jnp.asarray(rng.normal(size=(batch, spec.out_dim(window_len, D))))
  return params, vectors, mask, batch_vectors, batch_mask, g


def _check(name, params, vectors, mask, batch_vectors, batch_mask, g):
  spec = windows.get(name)
  f_v = lambda v: spec.forward(params, v, mask)
  out = {"jacobian": (spec.jacobian(params, vectors, mask),
                      [jax.jacfwd(f_v)(vectors), jax.jacrev(f_v)(vectors)])}
  _, pullback = jax.vjp(lambda p, v: spec.forward(p, v, batch_mask), params, batch_vectors)
  out["vjp"] = (spec.vjp(params, batch_vectors, batch_mask, g), [pullback(g)])
  if spec.init is not None:
    f_p = lambda p: spec.forward(p, vectors, mask)
    out["jacobian_params"] = (spec.jacobian_params(params, vectors, mask),
                              [jax.jacfwd(f_p)(params), jax.jacrev(f_p)(params)])
  return out


GRID = [(name, m) for name in windows.WINDOWS for m in HALF_WIDTHS]


@pytest.fixture(scope="module")
def results():
  with jax.enable_x64(True):
    problems = [_problem(name, m) for name, m in GRID]
    fn = jit(lambda problems: [_check(name, *p) for (name, _), p in zip(GRID, problems)])
    return dict(zip(GRID, fn(problems)))


def _assert_close(hand, ref):
  chex.assert_trees_all_equal_structs(hand, ref)
  for a, b in zip(jax.tree.leaves(hand), jax.tree.leaves(ref)):
    assert a.shape == b.shape and a.dtype == np.float64, (a.shape, b.shape, a.dtype)
    scale = max(float(np.max(np.abs(b), initial=0.0)), 1e-6)
    assert float(np.max(np.abs(a - b), initial=0.0)) <= RTOL * scale


def test_config_choices_and_params_come_from_the_registry():
  assert config_lib.WINDOWS == tuple(windows.WINDOWS)
  for name, spec in windows.WINDOWS.items():
    assert spec.help, name
    assert (spec.init is None) == (spec.jacobian_params is None), name
  with pytest.raises(ValueError, match="window 'sum' is not one of"):
    windows.get("sum")


@pytest.mark.parametrize("name,half_width", GRID)
def test_hand_jacobians_and_vjp_match_autodiff(results, name, half_width):
  window_len = 2 * half_width + 1
  out_dim = windows.get(name).out_dim(window_len, D)
  hand_jacobian = results[(name, half_width)]["jacobian"][0]
  chex.assert_shape(hand_jacobian, (out_dim, window_len, D))
  for part, (hand, refs) in results[(name, half_width)].items():
    for ref in refs:
      try:
        _assert_close(hand, ref)
      except AssertionError as e:
        raise AssertionError(f"{name} m={half_width} {part}: {e}") from None


@pytest.mark.parametrize("name", list(windows.WINDOWS))
def test_check_grads_with_the_hand_jacobians(name):
  """The forward with its hand Jacobians as JVP, against central differences."""
  spec = windows.get(name)
  params, vectors, mask, *_ = _problem(name, 1)
  has_params = spec.init is not None

  @jax.custom_jvp
  def f(p, v):
    return spec.forward(p, v, mask)

  @f.defjvp
  def _jvp(primals, tangents):
    p, v = primals
    t = jnp.tensordot(spec.jacobian(p, v, mask), tangents[1], axes=2)
    if has_params:
      jp = spec.jacobian_params(p, v, mask)
      t = t + sum(jnp.tensordot(j, tp, axes=tp.ndim) for j, tp in
                  zip(jax.tree.leaves(jp), jax.tree.leaves(tangents[0])))
    return f(p, v), t

  if has_params:
    check_grads(jax.jit(f), (params, vectors), order=2, modes=("fwd", "rev"), eps=1e-4)
  else:
    check_grads(jax.jit(lambda v: f(None, v)), (vectors,), order=2, modes=("fwd", "rev"),
                eps=1e-4)


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
