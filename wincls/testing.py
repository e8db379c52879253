"""Public checkers of hand derivatives, for the package's parts and yours alike.

``check_window(spec)``, ``check_loss(spec)``, ``check_activation(spec)`` and
``check_feature(spec)`` take one registry spec (``wincls.model.windows``,
``losses``, ``layers``, ``features``) and compare every hand Jacobian and VJP
it holds with ``jax.jacfwd``, ``jax.jacrev`` and ``jax.vjp`` in float64 on
seeded random inputs, then run ``jax.test_util.check_grads`` (central
differences) on the forward with the hand derivative as its JVP. They need no
other argument. Each first evaluates the forward pass on every input case (a
window that is all padding, an empty sentence, the padding position of a
feature, ...: docs/extending.md lists them) and reports a non-finite value as
a forward problem on that case; then it compares the derivatives case by case
and raises ``AssertionError`` naming the role, the function, the case and the
worst relative error (``‖hand − ref‖∞ / max(‖ref‖∞, 1e-6)`` per leaf), or
returns that worst error when all is well. The package's own test grids call
these same functions (tests/test_window_specs.py, tests/test_jacobians.py,
tests/test_features.py), so a part of yours passes exactly the checks ours do::

    from wincls import testing
    testing.check_window(my_plugin.MAXPOOL)

How a hand result is compared with autodiff's (tolerance, non-finite values)
is ``wincls/derivatives.py``. Inputs avoid the kinks (hinge margins, relu's 0) where a subgradient is a
convention; tests/test_jacobians.py checks the package's conventions there.
"""

from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from wincls import config as config_lib
from wincls import derivatives
from wincls.derivatives import RTOL
from wincls.derivatives import assert_close  # noqa: F401  (public: testing.assert_close)
from wincls.model import settings

# Words for check_feature: casing classes, digits, one letter, a long word, a
# non-Latin-1 one, and the empty word of window padding.
WORDS = ("Peter", "lives", "in", "EU", "1996-08-22", "F-16", "a", ".", "McDonald",
         "Bundesverfassungsgericht", "Zürich", "東京", "")



Array = jax.Array


# ---------------------------------------------------------------------------
# Windows.

# The windows every check_window batch holds, per half-width m (True: a word,
# False: padding past the sentence's edge). Each is a window training meets: a
# sentence's middle, start and end, a one-word sentence, a row of batch
# padding (no word at all), and holes anywhere.
WINDOW_CASES = ("no padding", "left padding (sentence start)",
                "right padding (sentence end)", "centre word only (one-word sentence)",
                "all padding", "random padding, centre word kept")


def _window_masks(half_width: int, rng) -> np.ndarray:
  """``[len(WINDOW_CASES), 2m + 1]`` masks, one per case."""
  q = np.arange(2 * half_width + 1)
  random = (rng.random(q.size) < 0.6) | (q == half_width)
  return np.stack([q >= 0, q >= half_width, q <= half_width, q == half_width,
                   q < 0, random])


def _window_problem(spec, half_width: int, dim: int, rng):
  window_len = 2 * half_width + 1
  params = None
  if spec.init is not None:
    shapes = jax.eval_shape(lambda: spec.init(jax.random.key(0), window_len, dim,
                                              jnp.float64))
    params = derivatives.normal_like(shapes, rng)
  masks = jnp.asarray(_window_masks(half_width, rng))
  vectors = jnp.asarray(rng.normal(size=(len(masks), window_len, dim)))
  g = jnp.asarray(rng.normal(size=(len(masks), spec.out_dim(window_len, dim))))
  return params, vectors, masks, g


def _window_results(spec, params, vectors, masks, g):
  """Per window (leading axis): jacobian(s) and their references; the batch VJP."""
  def per_window(v, mask):
    f_v = lambda v: spec.forward(params, v, mask)
    out = {derivatives.role_of("jacobian", spec.jacobian): (spec.jacobian(params, v, mask),
                                  [jax.jacfwd(f_v)(v), jax.jacrev(f_v)(v)])}
    if spec.init is not None:
      f_p = lambda p: spec.forward(p, v, mask)
      out[derivatives.role_of("jacobian_params", spec.jacobian_params)] = (
          spec.jacobian_params(params, v, mask),
          [jax.jacfwd(f_p)(params), jax.jacrev(f_p)(params)])
    return out
  _, pullback = jax.vjp(lambda p, v: spec.forward(p, v, masks), params, vectors)
  return (jax.vmap(per_window)(vectors, masks),
          {derivatives.role_of("vjp", spec.vjp): (spec.vjp(params, vectors, masks, g), [pullback(g)])})


def _window_vjp_per_window(spec, params, vectors, masks, g):
  """The VJP of each window alone (batch of one): locates a batch VJP's failure."""
  def one(v, mask, g):
    _, pullback = jax.vjp(lambda p, v: spec.forward(p, v, mask[None]), params, v[None])
    return spec.vjp(params, v[None], mask[None], g[None]), pullback(g[None])
  return jax.vmap(one)(vectors, masks, g)


def _check_window_forward(spec, params, vectors, masks, labels: list[str]) -> None:
  """``forward``'s shape and finiteness on every window, before any derivative."""
  window_len, dim = vectors.shape[1:]
  out = spec.forward(params, vectors, masks)
  expected = (len(masks), spec.out_dim(window_len, dim))
  if out.shape != expected:
    raise AssertionError(f"{derivatives.name_of(spec.out_dim)}: forward gives {out.shape[1:]} at "
                         f"m={(window_len - 1) // 2}, d={dim}; out_dim says "
                         f"{expected[1]}")
  derivatives.assert_finite(f"{derivatives.name_of(spec.forward)} forward", out, labels)


def check_window(spec, *, half_widths: Sequence[int] = (0, 1, 2), dim: int = 3,
                 seed: int = 0, rtol: float = RTOL) -> float:
  """Checks a ``windows.WindowSpec`` on the windows of ``WINDOW_CASES`` at each
  half-width: ``forward`` finite and ``out_dim`` wide, then ``jacobian`` and
  ``jacobian_params`` per window against jacfwd/jacrev, the batch ``vjp``
  against ``jax.vjp``, and ``check_grads`` of ``forward`` with the hand
  Jacobians. A failure names the window (``window 4: all padding, m = 1``)."""
  if (spec.init is None) != (spec.jacobian_params is None):
    raise AssertionError(f"{derivatives.name_of(spec.forward)}: a window with parameters needs both "
                         "init and jacobian_params (and one without, neither)")
  with jax.enable_x64(True):
    rng = np.random.default_rng(seed)
    problems = [_window_problem(spec, m, dim, rng) for m in half_widths]
    labels = {m: [f"window {i}: {case}, m = {m}" for i, case in enumerate(WINDOW_CASES)]
              for m in half_widths}
    for m, (params, vectors, masks, _) in zip(half_widths, problems):
      _check_window_forward(spec, params, vectors, masks, labels[m])
    results = derivatives.jit(lambda ps: [_window_results(spec, *p) for p in ps])(problems)
    worst = 0.0
    for m, problem, (per_window, batch) in zip(half_widths, problems, results):
      worst = max(worst, derivatives.compare(per_window, rtol, labels[m]))
      try:
        worst = max(worst, derivatives.compare(batch, rtol))
      except AssertionError as e:
        hand, ref = derivatives.jit(functools.partial(_window_vjp_per_window, spec))(*problem)
        derivatives.compare({derivatives.role_of("vjp", spec.vjp): (hand, [ref])}, rtol, labels[m])
        raise AssertionError(f"{e} (on the batch of windows {labels[m][0]} ... "
                             f"{labels[m][-1]}; each alone agrees)") from None
    params, vectors, masks, _ = problems[min(1, len(problems) - 1)]
    vectors, mask = vectors[-1], masks[-1]  # random padding

    def jvp(primals, tangents):
      p, v = primals
      t = jnp.tensordot(spec.jacobian(p, v, mask), tangents[1], axes=2)
      if p is not None:
        t = t + derivatives.contract(spec.jacobian_params(p, v, mask), tangents[0])
      return t

    if params is None:
      derivatives.check_jvp(lambda v: spec.forward(None, v, mask),
                 lambda primals, tangents: jvp((None,) + primals, (None,) + tangents),
                 (vectors,))
    else:
      derivatives.check_jvp(lambda p, v: spec.forward(p, v, mask), jvp, (params, vectors))
  return worst


# ---------------------------------------------------------------------------
# Activations.


def check_activation(spec, *, size: int = 7, seed: int = 0, rtol: float = RTOL) -> float:
  """Checks a ``layers.Activation``: ``derivative`` as ``diag(f′(z))`` against
  jacfwd/jacrev and as the JVP of ``forward`` under ``check_grads``, on ``z``
  drawn away from 0 and ±1 (where relu and hardtanh have kinks)."""
  with jax.enable_x64(True):
    rng = np.random.default_rng(seed)
    z = rng.uniform(0.1, 2.0, size) * rng.choice([-1.0, 1.0], size)
    z = jnp.asarray(np.where(np.abs(np.abs(z) - 1.0) < 0.1, z * 1.3, z))
    labels = [f"z = {v:.4g}" for v in np.asarray(z)]
    derivatives.assert_finite(f"{derivatives.name_of(spec.forward)} forward", spec.forward(z), labels)
    hand, fwd, rev = derivatives.jit(lambda z: (jnp.diag(spec.derivative(z)),
                                     jax.jacfwd(spec.forward)(z),
                                     jax.jacrev(spec.forward)(z)))(z)
    worst = derivatives.compare({derivatives.role_of("derivative", spec.derivative): (hand, [fwd, rev])}, rtol,
                     labels)
    derivatives.check_jvp(spec.forward, lambda p, t: spec.derivative(p[0]) * t[0], (z,))
  return worst


# ---------------------------------------------------------------------------
# Losses.


def _loss_inputs(spec, output: str, batch: int, num_classes: int, rng):
  """Keyword arguments of ``spec.forward``; scores on a 1/8 grid plus k/64 offsets,
  so every hinge argument is at least 1/64 from its kink and no classes tie."""
  scores = np.round(rng.uniform(-2, 2, size=(batch, num_classes)) * 8) / 8
  scores = scores + np.arange(1, num_classes + 1) / 64
  labels = rng.integers(0, num_classes, batch).astype(np.int32)
  if spec.kind == "sentence":
    length = 4
    emissions = rng.normal(size=(batch, length, num_classes))
    mask = np.arange(length)[None, :] < rng.integers(0, length + 1, batch)[:, None]
    mask[0], mask[1] = True, False  # a full sentence; an empty one (batch padding)
    crf_params = {"transitions": rng.normal(size=(num_classes, num_classes)),
                  "start": rng.normal(size=num_classes), "end": rng.normal(size=num_classes)}
    return ({"emissions": jnp.asarray(emissions), "crf_params": derivatives.normal_like(
                 crf_params, rng)},
            {"labels": jnp.asarray(rng.integers(0, num_classes, (batch, length)),
                                   jnp.int32), "mask": jnp.asarray(mask, jnp.float64)})
  if output == "score":
    differentiable = {"scores": jnp.asarray(scores[:, 0])}
    fixed = {"labels": jnp.asarray(labels % 2), "margin": 0.5}
    if spec.kind == "corrupted":
      differentiable["corrupted_scores"] = jnp.asarray(scores[:, 1:])
    return differentiable, fixed
  return {"scores": jnp.asarray(scores)}, {"labels": jnp.asarray(labels), "margin": 0.5}


def _loss_labels(spec, output: str, fixed) -> list[str]:
  """One name per example: its label, or its sentence's length (0: all padding)."""
  if spec.kind == "sentence":
    lengths = np.asarray(fixed["mask"]).sum(axis=1).astype(int)
    return [f"sentence {i} of {n} words" + (" (all padding)" if n == 0 else "")
            for i, n in enumerate(lengths)]
  return [f"example {i} (label {y}, --output={output})"
          for i, y in enumerate(np.asarray(fixed["labels"]))]


_ARGUMENTS = ("scores", "corrupted_scores", "emissions", "crf_params")


def _names(differentiable) -> list[str]:
  """The differentiable arguments in the gradient's order (jit sorts dict keys)."""
  return [n for n in _ARGUMENTS if n in differentiable]


def _per_example(jacobian: Array) -> Array:
  """``[B, B, ...]`` (a per-example loss's Jacobian) -> its diagonal blocks ``[B, ...]``."""
  batch = jacobian.shape[0]
  return jacobian[jnp.arange(batch), jnp.arange(batch)]


def _loss_results(spec, differentiable, fixed):
  names = _names(differentiable)
  f = lambda *xs: spec.forward(**dict(zip(names, xs)), **fixed)
  hand = spec.gradient(**differentiable, **fixed)
  if spec.kind == "sentence":
    hand = (hand["emissions"], {k: hand[k] for k in differentiable["crf_params"]})
  elif not isinstance(hand, tuple):
    hand = (hand,)
  args = tuple(differentiable[n] for n in names)
  refs = []
  for jac in (jax.jacfwd, jax.jacrev):
    full = jac(f, argnums=tuple(range(len(names))))(*args)
    if spec.kind == "sentence":  # crf_params are shared: their rows are per-sentence
      refs.append((_per_example(full[0]), full[1]))
    else:
      refs.append(tuple(_per_example(j) for j in full))
  return {derivatives.role_of("gradient", spec.gradient): (hand, refs)}


def check_loss(spec, *, batch: int = 6, num_classes: int = 4, seed: int = 0,
               rtol: float = RTOL) -> float:
  """Checks a ``losses.LossSpec``: its per-example ``gradient`` against the
  diagonal blocks of jacfwd/jacrev of ``forward`` for each output it allows,
  and ``check_grads`` of ``forward`` with the hand gradient as its JVP."""
  worst = 0.0
  with jax.enable_x64(True):
    for output in spec.outputs:
      # Corrupted windows have one score (a multiclass max_margin is hinge_cs);
      # the sentence likelihood has class scores.
      if (spec.kind, output) in (("corrupted", "multiclass"), ("sentence", "score")):
        continue
      differentiable, fixed = _loss_inputs(spec, output, batch, num_classes,
                                           np.random.default_rng(seed))
      labels = _loss_labels(spec, output, fixed)
      names = _names(differentiable)
      derivatives.assert_finite(f"{derivatives.name_of(spec.forward)} forward (--output={output})",
                     spec.forward(**differentiable, **fixed), labels)
      results = derivatives.jit(functools.partial(_loss_results, spec))(differentiable, fixed)
      worst = max(worst, derivatives.compare(results, rtol, labels))

      def jvp(primals, tangents, names=names, fixed=fixed):
        grad = spec.gradient(**dict(zip(names, primals)), **fixed)
        if spec.kind == "sentence":
          per_sentence = jnp.sum(grad["emissions"] * tangents[0], axis=(1, 2))
          return per_sentence + sum(
              jnp.sum(grad[k] * t[None], axis=tuple(range(1, grad[k].ndim)))
              for k, t in tangents[1].items())
        grad = grad if isinstance(grad, tuple) else (grad,)
        return sum(jnp.sum((g * t).reshape(g.shape[0], -1), axis=1)
                   for g, t in zip(grad, tangents))

      derivatives.check_jvp(lambda *xs, names=names, fixed=fixed: spec.forward(
          **dict(zip(names, xs)), **fixed), jvp, tuple(differentiable[n] for n in names))
  return worst


# ---------------------------------------------------------------------------
# Word features.

FEATURE_CONFIG = settings.ModelConfig(vocab_size=8, features=(), embed_dim=3, feature_dim=2,
                                      char_dim=3, char_filters=4, char_width=3,
                                      char_max_len=6)


def _feature_results(spec, config, params, inputs, g):
  """Per word (leading axis): the jacobian and its references; the batch VJP."""
  one = lambda p, x: spec.forward(p, x, config)
  per_word = {derivatives.role_of("jacobian", spec.jacobian): (
      jax.vmap(lambda x: spec.jacobian(params, x, config))(inputs),
      [jax.vmap(lambda x: jax.jacfwd(one)(params, x))(inputs),
       jax.vmap(lambda x: jax.jacrev(one)(params, x))(inputs)])}
  _, pullback = jax.vjp(lambda p: one(p, inputs), params)
  return per_word, {derivatives.role_of("vjp", spec.vjp): (spec.vjp(params, inputs, g, config),
                                            [pullback(g)[0]])}


def check_feature(spec, *, config: settings.ModelConfig = FEATURE_CONFIG,
                  words: Sequence[str] = WORDS, seed: int = 0,
                  rtol: float = RTOL) -> float:
  """Checks a ``features.FeatureSpec`` on ``words`` and a padding position (ids
  0): ``inputs``' shape and range (called with the run's ``Config``, as training
  calls it: ``wincls.config.inputs_config``), ``forward``'s shape and finiteness per
  word, the per-word ``jacobian`` and the batched ``vjp`` w.r.t. the parameters
  against jacfwd/jacrev/vjp, and ``check_grads`` of ``forward`` with the hand
  Jacobian as its JVP. A failure names the word."""
  try:
    inputs = np.asarray(spec.inputs(list(words), config_lib.inputs_config(config)))
  except Exception as e:  # a part's function can fail any way: name it and why
    raise AssertionError(f"{derivatives.name_of(spec.inputs)}: inputs(words, config) failed with "
                         "the run's Config (what training passes; docs/extending.md, "
                         f"Which config): {type(e).__name__}: {e}") from e
  width, dim = spec.width(config), spec.dim(config)
  if inputs.shape != (len(words), width) or inputs.min(initial=0) < 0 or (
      inputs.max(initial=0) >= spec.size):
    raise AssertionError(f"{derivatives.name_of(spec.inputs)}: expected int [{len(words)}, {width}] "
                         f"in [0, {spec.size}), got {inputs.shape} in "
                         f"[{inputs.min(initial=0)}, {inputs.max(initial=0)}]")
  inputs = jnp.asarray(np.concatenate([inputs, np.zeros((1, width), inputs.dtype)]))
  labels = [f"word {i} {w!r}" for i, w in enumerate(words)] + [
      f"word {len(words)}: window padding (ids 0)"]
  with jax.enable_x64(True):
    rng = np.random.default_rng(seed)
    shapes = jax.eval_shape(lambda: spec.init(jax.random.key(0), spec.size, config,
                                              jnp.float64))
    params = derivatives.normal_like(shapes, rng, scale=0.5)
    out = spec.forward(params, inputs, config)
    if out.shape != (len(inputs), dim):
      raise AssertionError(f"{derivatives.name_of(spec.forward)}: expected [{len(inputs)}, {dim}], "
                           f"got {out.shape}")
    derivatives.assert_finite(f"{derivatives.name_of(spec.forward)} forward", out, labels)
    g = jnp.asarray(rng.normal(size=(len(inputs), dim)))
    per_word, batch = derivatives.jit(functools.partial(_feature_results, spec, config))(
        params, inputs, g)
    worst = max(derivatives.compare(per_word, rtol, labels), derivatives.compare(batch, rtol))
    derivatives.check_jvp(lambda p: spec.forward(p, inputs, config),
               lambda primals, tangents: jax.vmap(lambda x: derivatives.contract(
                   spec.jacobian(primals[0], x, config), tangents[0]))(inputs),
               (params,))
  return worst
