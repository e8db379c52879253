"""Each hand Jacobian of wincls/model/ against jacfwd and jacrev.

Every check has a hand-written side (a ``*_jacobian``/``*_vjp``/``*_gradient``
function written beside its forward function in ``wincls/model/``, or the
chained ``wincls/model/jacobians.py``) and an independent side
(``jax.jacfwd``/``jax.jacrev``/``jax.vjp`` of the forward function, or central
differences in ``check_grads``). The loss grids are built from
``losses.LOSSES``; the window grid is tests/test_window_specs.py.
All in float64 at 1e-10 relative (normwise per leaf), tiny shapes; each test
computes both sides in one jitted function (one compile rather than one per
primitive in eager mode).
"""

import itertools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from wincls import config as config_lib
from wincls import testing
from wincls.model import crf
from wincls.model import jacobians
from wincls.model import layers
from wincls.model import losses
from wincls.model import network
from wincls.model import windows

pytestmark = pytest.mark.heavy  # started first (tests/conftest.py)

RTOL = 1e-10



@pytest.fixture(autouse=True)
def _x64():
  with jax.enable_x64(True):
    yield


def assert_close(hand, ref, rtol=RTOL):
  """Same structure and shapes; ``‖hand - ref‖∞ <= rtol · max(‖ref‖∞, 1e-6)`` per leaf."""
  chex.assert_trees_all_equal_structs(hand, ref)
  for a, b in zip(jax.tree.leaves(hand), jax.tree.leaves(ref)):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    assert a.dtype == np.float64 and b.dtype == np.float64, (a.dtype, b.dtype)
    scale = max(float(np.max(np.abs(b), initial=0.0)), 1e-6)
    err = float(np.max(np.abs(a - b), initial=0.0))
    assert err <= rtol * scale, f"max abs error {err:.3g} > {rtol} * {scale:.3g}"


def assert_results(results):
  """``results``: name -> (hand, [reference, ...])."""
  for name, (hand, refs) in results.items():
    assert isinstance(refs, list), name
    for ref in refs:
      try:
        assert_close(hand, ref)
      except AssertionError as e:
        raise AssertionError(f"{name}: {e}") from None


def fwd_rev(f, *args, argnums=0):
  """``[jax.jacfwd, jax.jacrev]`` of ``f`` at ``args`` (called inside a jitted check)."""
  return [jax.jacfwd(f, argnums)(*args), jax.jacrev(f, argnums)(*args)]


def vjp(f, g, *args, argnums=(0,)):
  """``[gᵀ ∂f/∂args[argnums]]`` by ``jax.vjp`` (a one-reference list)."""
  def partial_f(*diff_args):
    full = list(args)
    for i, a in zip(argnums, diff_args):
      full[i] = a
    return f(*full)
  grads = jax.vjp(partial_f, *[args[i] for i in argnums])[1](g)
  return [grads if len(argnums) > 1 else grads[0]]


def jit_map(check):
  """``check`` over a list of argument tuples, as one compiled program.

  Each test builds its hand and autodiff values in one such program: one XLA
  compile per test rather than one per shape, or one per primitive in eager mode.
  """
  return jax.jit(lambda arg_tuples: [check(*args) for args in arg_tuples])


def _normal(rng, *shape):
  return jnp.asarray(rng.normal(size=shape), jnp.float64)


# --- affine --------------------------------------------------------------------


def test_affine_jacobians():
  def check(x, W, b, xs, delta):
    return {
        "jacobians": ((layers.affine_jacobian_x(x, W, b),
                       layers.affine_jacobian_W(x, W, b),
                       layers.affine_jacobian_b(x, W, b)),
                      fwd_rev(layers.affine, x, W, b, argnums=(0, 1, 2))),
        "vjp": (layers.affine_vjp(xs, W, delta),
                vjp(layers.affine, delta, xs, W, b, argnums=(0, 1, 2))),
    }

  shapes = [(1, 3), (4, 2), (3, 3)]  # out 1; out > in; square
  args = []
  for out_dim, in_dim in shapes:
    rng = np.random.default_rng(out_dim * 10 + in_dim)
    args.append((_normal(rng, in_dim), _normal(rng, out_dim, in_dim), _normal(rng, out_dim),
                 _normal(rng, 5, in_dim), _normal(rng, 5, out_dim)))
  for (out_dim, in_dim), results in zip(shapes, jit_map(check)(args)):
    chex.assert_shape(results["jacobians"][0], [(out_dim, in_dim), (out_dim, out_dim, in_dim),
                                                (out_dim, out_dim)])
    assert_results(results)


# --- activations ---------------------------------------------------------------


def _away_from_kinks(rng, n):
  """Values with |z| in [0.1, 0.9] ∪ [1.1, 2]: off relu's 0 and hardtanh's ±1."""
  magnitude = np.where(rng.random(n) < 0.5, rng.uniform(0.1, 0.9, n),
                       rng.uniform(1.1, 2.0, n))
  return jnp.asarray(np.where(rng.random(n) < 0.5, -1, 1) * magnitude, jnp.float64)


def _activation_check(z):
  results = {}
  for name, spec in layers.ACTIVATIONS.items():
    results[name] = (layers.activation_jacobian(name, z), fwd_rev(spec.forward, z))
    results[f"{name} vjp"] = (layers.activation_vjp(name, z, 2 * z),
                              vjp(spec.forward, 2 * z, z))
  return results


KINKS = np.array([0.0, -1.0, 1.0, 0.5, -2.0, 2.0])


@pytest.fixture(scope="module")
def activation_results():
  """Results of _activation_check for z of sizes 1 and 6 off the kinks, and KINKS."""
  with jax.enable_x64(True):
    zs = [_away_from_kinks(np.random.default_rng(n), n) for n in (1, 6)] + [KINKS]
    return jit_map(_activation_check)([(z,) for z in zs])


@pytest.mark.parametrize("name", list(layers.ACTIVATIONS))
def test_activation_jacobians(name):
  """``wincls.testing.check_activation``: diag(f′(z)) vs jacfwd/jacrev, check_grads."""
  assert testing.check_activation(layers.activation(name)) <= testing.RTOL


def test_activation_kinks_follow_jax(activation_results):
  """At relu's 0 and hardtanh's ±1 the hand derivative is JAX's (0 and 1)."""
  results = activation_results[2]
  np.testing.assert_array_equal(np.diag(results["relu"][0]), [0, 0, 1, 1, 0, 1])
  np.testing.assert_array_equal(np.diag(results["hardtanh"][0]), [1, 1, 1, 1, 0, 0])
  for name in ("relu", "hardtanh"):
    hand, (ref_fwd, ref_rev) = results[name]
    np.testing.assert_array_equal(hand, ref_fwd, err_msg=name)  # exact at the kinks
    np.testing.assert_array_equal(hand, ref_rev, err_msg=name)
  assert_results(results)
  with pytest.raises(ValueError, match="activation 'not,an,activation' is not one of"):
    layers.activation_jacobian("not,an,activation", KINKS)


# --- softmax -------------------------------------------------------------------


def test_softmax_jacobians():
  def check(z, zs, g):
    return {"softmax": (layers.softmax_jacobian(z), fwd_rev(layers.softmax, z)),
            "log_softmax": (layers.log_softmax_jacobian(z),
                            fwd_rev(layers.log_softmax, z)),
            "vjp": (layers.softmax_vjp(zs, g), vjp(layers.softmax, g, zs))}

  args = []
  for num_classes in (1, 2, 5):
    rng = np.random.default_rng(num_classes)
    args.append((3.0 * _normal(rng, num_classes), _normal(rng, 4, num_classes),
                 _normal(rng, 4, num_classes)))
  for results in jit_map(check)(args):
    assert_results(results)


# --- losses: per-example gradients = the blocks of a block-diagonal Jacobian ------


def _block_diagonal(g):
  """``[B, ...]`` per-example gradients -> the ``[B, B, ...]`` Jacobian of ``[B]`` losses."""
  eye = jnp.eye(g.shape[0], dtype=g.dtype)
  return eye.reshape(eye.shape + (1,) * (g.ndim - 1)) * g[:, None]


def _specs(kind, output=None):
  """``{name: spec}`` of the registry's losses of one kind (and output)."""
  return {name: spec for name, spec in losses.LOSSES.items()
          if spec.kind == kind and (output is None or output in spec.outputs)}


MULTICLASS = _specs("token", "multiclass")  # every multiclass token loss
SCORE = _specs("token", "score")  # every single-score token loss
CORRUPTED = _specs("corrupted")  # losses over corrupted windows


def _hinge_args(seed, batch=6, num_classes=4):
  """Scores on a 1/8 grid plus class offsets k/64 (k = 1..4), labels (NumPy).

  Every hinge argument ``Δ + s_c - s_y`` (Δ a multiple of 1/8) is then at least
  1/64 from its kink, and no two classes of a row tie.
  """
  rng = np.random.default_rng(seed)
  scores = np.round(rng.uniform(-2, 2, size=(batch, num_classes)) * 8) / 8
  scores = scores + np.arange(1, num_classes + 1) / 64
  labels = rng.integers(0, num_classes, batch).astype(np.int32)
  return scores, labels


@jax.jit
def _loss_check(scores, labels, margin, s, y, c):
  """name -> (hand Jacobian of the [B] losses, [jacfwd, jacrev]) for every loss spec."""
  results = {}
  for name, spec in MULTICLASS.items():
    f = lambda t, spec=spec: spec.forward(scores=t, labels=labels, margin=margin)
    results[name] = (_block_diagonal(spec.gradient(scores=scores, labels=labels,
                                                   margin=margin)), fwd_rev(f, scores))
  for name, spec in SCORE.items():
    f = lambda t, spec=spec: spec.forward(scores=t, labels=y, margin=margin)
    results[name] = (jnp.diag(spec.gradient(scores=s, labels=y, margin=margin)),
                     fwd_rev(f, s))
  for name, spec in CORRUPTED.items():
    f = lambda t, u, spec=spec: spec.forward(scores=t, labels=y, corrupted_scores=u,
                                             margin=margin)
    g_s, g_c = spec.gradient(scores=s, labels=y, corrupted_scores=c, margin=margin)
    results[name] = ((jnp.diag(g_s), _block_diagonal(g_c)),
                     fwd_rev(f, s, c, argnums=(0, 1)))
  return results


@pytest.mark.parametrize("name", list(losses.LOSSES))
def test_loss_gradients(name):
  """``wincls.testing.check_loss``: each output's per-example gradient vs the
  diagonal blocks of jacfwd/jacrev, and check_grads with it as the JVP."""
  assert testing.check_loss(losses.LOSSES[name]) <= testing.RTOL


def test_hinge_kinks_follow_jax():
  """On the margin the subgradient is 0; Crammer-Singer ties go to the lowest index.

  Same shapes as test_loss_gradients (one compile of _loss_check).
  """
  scores = np.array([[2.0, 1.0, 1.0, 0.0],     # CS: 1, 2 tie on the margin -> 0
                     [0.0, 1.5, 1.5, 1.0],     # CS: 1, 2 tie above it -> class 1
                     [1.0, 0.0, 3.0, 3.0],     # the true class 2 ties with class 3
                     [0.0, 0.0, 0.0, 0.0],     # CS: 0, 2, 3 tie -> class 0
                     [1.0, 2.0, 3.0, 4.0],     # CS on the margin -> 0
                     [0.5, -0.5, 0.25, 0.25]])  # CS: 2, 3 tie -> class 2
  labels = np.array([0, 3, 2, 1, 3, 0], np.int32)
  # max_margin: Δ - s + s_c is exactly 0 in rows 0-1 column 0 and in row 2.
  s = np.array([1.5, 0.5, 0.0, 0.0, 0.0, 0.0])
  c = np.array([[0.5, 1.0, -2.0], [-0.5, 0.0, 0.5], [-1.0, -1.0, -1.0]] + [[0.0] * 3] * 3)
  results = _loss_check(scores, labels, 1.0, s, np.ones(6, np.int32), c)
  for name in ("hinge_ww", "hinge_cs", "max_margin"):
    hand, (ref_fwd, ref_rev) = results[name]
    chex.assert_trees_all_equal(hand, ref_fwd)  # exact: the same subgradient
    chex.assert_trees_all_equal(hand, ref_rev)
  np.testing.assert_array_equal(np.einsum("bbc->bc", results["hinge_cs"][0]), [
      [0, 0, 0, 0], [0, 1, 0, -1], [0, 0, -1, 1], [1, -1, 0, 0], [0, 0, 0, 0],
      [-1, 0, 1, 0]])
  np.testing.assert_array_equal(np.einsum("bbc->bc", results["hinge_ww"][0])[[0, 3]],
                                [[0, 0, 0, 0], [1, -3, 1, 1]])
  np.testing.assert_array_equal(np.einsum("bbk->bk", results["max_margin"][0][1])[:3],
                                [[0, 1, 0], [0, 1, 1], [0, 0, 0]])


def _with_hand_gradient(f, grad_f, shared=()):
  """``f`` whose derivative is computed by ``grad_f`` (per-example gradients).

  ``f(*args)`` returns per-example values ``[B]``; ``grad_f(*args)`` returns, for
  each argument, ``∂f_b/∂arg`` with a leading ``[B]`` axis: for a batched
  argument that is ``∂f_b/∂arg[b]``, for an argument in ``shared`` (one array
  used by every example, like the CRF transitions) ``∂f_b/∂arg``. The JVP is the
  contraction with the tangents. ``check_grads`` on the result compares the hand
  gradient (fwd and rev) and its own derivative (order 2) with central differences.
  """
  f_hand = jax.custom_jvp(f)

  @f_hand.defjvp
  def _jvp(primals, tangents):
    grads = grad_f(*primals)
    out = f(*primals)
    tangent = jnp.zeros_like(out)
    for i, (g, t) in enumerate(zip(grads, tangents)):
      product = g * (t[None] if i in shared else t)
      tangent = tangent + jnp.sum(product.reshape(out.shape + (-1,)), axis=-1)
    return out, tangent

  return f_hand


def test_check_grads_of_the_hand_loss_gradients():
  """The token losses, with their hand gradients as JVPs, against central differences.

  All of them go into one jitted function (one set of compiles for check_grads'
  transformations); the inputs are away from every kink by ≥ 1/64 ≫ eps.
  """
  scores, labels = _hinge_args(4)
  y = labels % 2

  def hand(spec, labels, *names):  # a closure per loss (custom_jvp rejects defaults)
    def f(*args):
      return spec.forward(labels=labels, margin=1.0, **dict(zip(names, args)))

    def grad_f(*args):
      g = spec.gradient(labels=labels, margin=1.0, **dict(zip(names, args)))
      return g if isinstance(g, tuple) else (g,)
    return _with_hand_gradient(f, grad_f)

  multiclass = [hand(spec, labels, "scores") for spec in MULTICLASS.values()]
  single = [hand(spec, y, "scores") for spec in SCORE.values()]
  corrupted = [hand(spec, y, "scores", "corrupted_scores") for spec in CORRUPTED.values()]

  @jax.jit
  def all_losses(scores, s, c):
    return jnp.concatenate([f(scores) for f in multiclass] + [f(s) for f in single]
                           + [f(s, c) for f in corrupted])

  args = tuple(jnp.asarray(a) for a in (scores, scores[:, 0], scores[:, 1:]))
  check_grads(all_losses, args, order=2, modes=("fwd", "rev"), eps=1e-4)


def test_check_grads_of_the_hand_crf_gradient():
  """crf_nll with crf_nll_gradient as its JVP, against central differences.

  Second order in reverse mode only: forward-over-forward through three scans
  compiles for ~4 s more and checks the same hand gradient (first order in both
  modes is checked).
  """
  emissions, mask, _, tags = _crf_problem(5)

  def nll(e, a, start, end):
    params = {"transitions": a, "start": start, "end": end}
    return crf.crf_nll(emissions=e, labels=tags, mask=mask, crf_params=params)

  def nll_grads(e, a, start, end):
    params = {"transitions": a, "start": start, "end": end}
    g = crf.crf_nll_gradient(emissions=e, labels=tags, mask=mask, crf_params=params)
    return g["emissions"], g["transitions"], g["start"], g["end"]

  f = jax.jit(_with_hand_gradient(nll, nll_grads, shared=(1, 2, 3)))
  rng = np.random.default_rng(6)
  args = tuple(jnp.asarray(a) for a in (emissions, rng.normal(size=(3, 3)),
                                        rng.normal(size=3), rng.normal(size=3)))
  check_grads(f, args, order=1, modes=("fwd",), eps=1e-4)
  check_grads(f, args, order=2, modes=("rev",), eps=1e-4)


# --- embedding -----------------------------------------------------


def _embed_check(tables, window_ids, feature_ids, batch_ids, batch_features, g):
  hand = {"words": windows.embed_jacobian_words(tables, window_ids, feature_ids),
          "features": [windows.embed_jacobian_features(tables, window_ids, feature_ids, k)
                       for k in range(len(tables["features"]))]}
  return {"jacobians": (hand, fwd_rev(windows.embed, tables, window_ids, feature_ids)),
          "vjp": (windows.embed_vjp(tables, batch_ids, batch_features, g),
                  vjp(windows.embed, g, tables, batch_ids, batch_features))}


def test_embed_jacobians():
  """Without and with two feature tables; a repeated id and the padding id."""
  all_feature_sizes = [(), (3, 2)]
  args = []
  for feature_sizes in all_feature_sizes:
    rng = np.random.default_rng(len(feature_sizes))
    tables = {"words": _normal(rng, 6, 3),
              "features": [_normal(rng, f, 2) for f in feature_sizes]}
    window_ids = np.array([4, 0, 4], np.int32)
    feature_ids = (np.array([[1, 0], [2, 1], [1, 1]], np.int32) if feature_sizes
                   else np.zeros((3, 0), np.int32))
    # The batched VJP: a scatter-add of the rows, repeated rows included.
    g = _normal(rng, 2, 3, 3 + 2 * len(feature_sizes))
    batch_ids = np.stack([window_ids, window_ids[::-1]])
    batch_features = np.stack([feature_ids, feature_ids[::-1]])
    args.append((tables, window_ids, feature_ids, batch_ids, batch_features, g))
  for feature_sizes, results in zip(all_feature_sizes, jit_map(_embed_check)(args)):
    chex.assert_shape(results["jacobians"][0]["words"],
                      (3, 3 + 2 * len(feature_sizes), 6, 3))
    assert_results(results)


# --- CRF -----------------------------------------------------------------------


def _crf_problem(seed, batch=4, length=4, num_tags=3):
  """NumPy emissions, masks (full, one token, padded, empty), CRF params, tags."""
  rng = np.random.default_rng(seed)
  emissions = rng.normal(size=(batch, length, num_tags))
  lengths = np.array([length, 1, 2, 0])[:batch]
  mask = (np.arange(length)[None] < lengths[:, None]).astype(np.int32)
  crf_params = {"transitions": rng.normal(size=(num_tags, num_tags)),
                "start": rng.normal(size=num_tags), "end": rng.normal(size=num_tags)}
  tags = rng.integers(0, num_tags, (batch, length)).astype(np.int32)
  return emissions, mask, crf_params, tags


@jax.jit
def _log_partition_check(e, m, crf_params):
  f = lambda e, p: crf.crf_log_partition(e, m, p)
  hand = crf.crf_log_partition_jacobian(e, m, crf_params)
  refs = [jac(f, argnums=(0, 1))(e, crf_params) for jac in (jax.jacfwd, jax.jacrev)]
  log_z = crf.crf_forward_backward(e[None], m[None], crf_params)["log_z"][0]
  return hand, [{"emissions": d_e, **d_p} for d_e, d_p in refs], log_z, f(e, crf_params)


def test_crf_log_partition_jacobian_is_the_marginals():
  emissions, mask, crf_params, _ = _crf_problem(0)
  for row in range(3):  # full length, one token, padded
    e, m = emissions[row], mask[row]
    hand, refs, log_z, ref_log_z = _log_partition_check(e, m, crf_params)
    assert_results({f"row {row}": (hand, refs)})
    np.testing.assert_allclose(log_z, ref_log_z, rtol=1e-13)
    # Marginals: each kept position's distribution sums to 1, pairwise to n - 1.
    np.testing.assert_allclose(np.sum(hand["emissions"], axis=-1), m.astype(float))
    np.testing.assert_allclose(np.sum(hand["transitions"]), np.sum(m) - 1, atol=1e-12)


@jax.jit
def _nll_check(emissions, tags, mask, crf_params):
  f = lambda e, p: crf.crf_nll(emissions=e, labels=tags, mask=mask, crf_params=p)
  hand = crf.crf_nll_gradient(emissions=emissions, labels=tags, mask=mask,
                              crf_params=crf_params)
  refs = [jac(f, argnums=(0, 1))(emissions, crf_params) for jac in (jax.jacfwd, jax.jacrev)]
  return hand, refs


def test_crf_nll_gradient():
  emissions, mask, crf_params, tags = _crf_problem(7)
  hand, refs = _nll_check(emissions, tags, mask, crf_params)
  # d_e is [B, B, T, C] (block diagonal); d_p leaves are [B, ...] per sentence.
  assert_results({
      "emissions": (np.einsum("bi,bj...->bij...", np.eye(4), hand["emissions"]),
                    [d_e for d_e, _ in refs]),
      "crf_params": ({n: hand[n] for n in ("transitions", "start", "end")},
                     [d_p for _, d_p in refs])})
  # The empty sentence (row 3) has zero gradient.
  for value in hand.values():
    np.testing.assert_array_equal(value[3], 0.0)


# --- the whole network -----------------------------------------------------------


def _network_config(classifier, hidden, hidden2, output, activation, window="concat",
                    half_width=1, feature_sizes=()):
  return config_lib.ModelConfig(features=(), 
      vocab_size=7, feature_sizes=feature_sizes, num_classes=3, window=window,
      window_size=half_width, embed_dim=2, feature_dim=1, classifier=classifier,
      hidden_size=hidden, hidden2_size=hidden2, activation=activation, output=output)


def _random_params(config, seed):
  """Standard-normal values in ``init_params``' structure (biases non-zero too)."""
  shapes = jax.eval_shape(lambda: network.init_params(jax.random.key(0), config=config))
  rng = np.random.default_rng(seed)
  return jax.tree.map(lambda s: jnp.asarray(rng.normal(size=s.shape)), shapes)


def _scores_from_x(params, x, config):
  """The network from the window vector on: ``network.head``, the one forward pass."""
  return network.head(params, x, config=config)[0]


def _network_check(params, x, config):
  """(hand Jacobians, [jacfwd's, jacrev's]) of the scores w.r.t. params and x."""
  hand = jacobians.network_jacobians(params, x, config=config)
  refs = [jac(_scores_from_x, argnums=(0, 1))(params, x, config)
          for jac in (jax.jacfwd, jax.jacrev)]
  return hand, [{**d_p, "x": d_x} for d_p, d_x in refs]


NETWORKS = [("softmax", 4, 0), ("hidden", 1, 0), ("hidden", 5, 0), ("hidden", 3, 2)]


def _network_configs(classifier, hidden, hidden2):
  """Every output x activation; x has D = 2, so hidden 5 is wider than the input."""
  activations = tuple(layers.ACTIVATIONS) if classifier == "hidden" else ("tanh",)
  return [_network_config(classifier, hidden, hidden2, output, activation,
                          window="average")
          for output in config_lib.OUTPUTS for activation in activations]


@pytest.fixture(scope="module")
def network_results():
  """(config, x, result of _network_check) for every network, in one program."""
  with jax.enable_x64(True):
    configs = [c for network in NETWORKS for c in _network_configs(*network)]
    args = []
    for i, config in enumerate(configs):
      params = _random_params(config, seed=i)
      params.pop("embed")
      args.append((params, _normal(np.random.default_rng(i), network.input_dim(config))))
    # The configs are static: the program closes over them.
    results = jax.jit(lambda args: [_network_check(p, x, c) for (p, x), c in zip(args, configs)])(
        args)
    return list(zip(configs, [x for _, x in args], results))


@pytest.mark.parametrize("classifier,hidden,hidden2", NETWORKS)
def test_network_jacobians(network_results, classifier, hidden, hidden2):
  configs = _network_configs(classifier, hidden, hidden2)
  for config, x, (hand, refs) in network_results:
    if config in configs:
      lead = (3,) if config.output == "multiclass" else ()
      chex.assert_shape(hand["x"], lead + x.shape)
      assert_results({f"{config.output} {config.activation}": (hand, refs)})


def _model_check(params, window_ids, feature_ids, config):
  hand = jacobians.model_jacobians(params, window_ids, feature_ids, config=config)
  f = lambda p: network.apply(p, window_ids[None], feature_ids[None], config=config)[0]
  return hand, [jax.jacfwd(f)(params), jax.jacrev(f)(params)]


MODELS = list(itertools.product(tuple(windows.WINDOWS), [0, 1, 2]))


def _model_config(window, half_width):
  output, hidden2 = ("score", 2) if half_width == 1 else ("multiclass", 0)
  return _network_config("hidden", 3, hidden2, output, "tanh", window=window,
                         half_width=half_width, feature_sizes=(3, 2))


@pytest.fixture(scope="module")
def model_results():
  """name -> result of _model_check for every (window, half-width), in one program."""
  with jax.enable_x64(True):
    configs, args = [], []
    for window, half_width in MODELS:
      config = _model_config(window, half_width)
      rng = np.random.default_rng(half_width)
      window_len = config.window_len
      window_ids = rng.integers(0, 3, window_len).astype(np.int32)  # repeats likely
      feature_ids = np.stack([rng.integers(0, 3, window_len),
                              rng.integers(0, 2, window_len)], -1).astype(np.int32)
      configs.append(config)
      args.append((_random_params(config, seed=half_width), window_ids, feature_ids))
    results = jax.jit(lambda args: [_model_check(*a, c) for a, c in zip(args, configs)])(args)
    return dict(zip(MODELS, results))


@pytest.mark.parametrize("window,half_width", MODELS)
def test_model_jacobians_of_apply(model_results, window, half_width):
  """The chained Jacobian (network · window · embedding) against network.apply itself."""
  assert_results({"apply": model_results[(window, half_width)]})
