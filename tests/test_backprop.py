"""The hand δ-form backward pass (``objective.hand_grad``) against jax.grad.

The hand side is ``objective.hand_grad`` (loss specs' gradients, then
``network.backward``); the other side is ``jax.value_and_grad`` of
``objective.loss_fn`` (or training with it). The grid is
every window of ``windows.WINDOWS`` × every (loss, output) of
``losses.LOSSES``, each pair with one classifier, chosen so that every loss and
every window meets every classifier (the hand pass composes the loss's
gradient, the classifier's backward and the window's VJP: pairs cover each
junction). Float64,
1e-10 relative (normwise per leaf). Every comparison case is computed in one
jitted program (the ``results`` fixture): one compile instead of one per case, or
one per primitive and shape in eager mode.
"""

import concurrent.futures
import dataclasses
import functools
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from wincls import config as config_lib
from wincls.model import layers
from wincls.model import losses
from wincls.model import network
from wincls.model import objective
from wincls.model import windows

pytestmark = pytest.mark.heavy  # started first (tests/conftest.py)

RTOL = 1e-10
VOCAB = 9
FEATURE_SIZES = (3,)
NUM_CLASSES = 3
CLASSIFIERS = {"softmax": ("softmax", 0), "hidden1": ("hidden", 0), "hidden2": ("hidden", 3)}
LOSS_CASES = [(output, name) for name, spec in losses.LOSSES.items()
              for output in spec.outputs]
# A degenerate random draw (a dead relu unit, windows of padding only, ...) can
# leave a parameter without gradient; such a case is redrawn this many times.
REDRAWS = 3


@pytest.fixture(autouse=True)
def _x64():
  with jax.enable_x64(True):
    yield


def assert_close(hand, ref, rtol=RTOL):
  """Same structure, shapes, dtypes; ``‖hand - ref‖∞ <= rtol · max(‖ref‖∞, 1e-6)`` per leaf."""
  chex.assert_trees_all_equal_structs(hand, ref)
  paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_leaves_with_path(ref)]
  for path, a, b in zip(paths, jax.tree.leaves(hand), jax.tree.leaves(ref)):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype == np.float64, (path, a.shape, b.shape)
    scale = max(float(np.max(np.abs(b), initial=0.0)), 1e-6)
    err = float(np.max(np.abs(a - b), initial=0.0))
    assert err <= rtol * scale, f"{path}: max abs error {err:.3g} > {rtol} * {scale:.3g}"


def _config(classifier="hidden1", output="multiclass", loss="cross_entropy",
            window="concat", activation="tanh", half_width=1, hidden=4, dropout=0.0,
            freeze_vectors=False):
  kind, hidden2 = CLASSIFIERS[classifier]
  return config_lib.ModelConfig(features=(), 
      vocab_size=VOCAB, feature_sizes=FEATURE_SIZES, num_classes=NUM_CLASSES,
      window=window, window_size=half_width, embed_dim=3, feature_dim=2, classifier=kind,
      hidden_size=hidden, hidden2_size=hidden2, activation=activation, output=output,
      dropout=dropout, freeze_vectors=freeze_vectors, use_crf=loss == "crf")


def _params(config, seed=0):
  """Normal leaves in ``init_params``' structure: matrices and tables N(0, 0.5²),
  vectors (biases, u, CRF start/end) N(0, 0.2²), so that the pre-activations
  mostly stay off the flat parts of relu, hardtanh and sigmoid.

  Built with NumPy from ``jax.eval_shape`` (no eager compiles of the initialiser).
  """
  shapes = jax.eval_shape(lambda: network.init_params(jax.random.key(0), config=config))
  rng = np.random.default_rng(seed)
  return jax.tree.map(lambda s: (0.5 if len(s.shape) == 2 else 0.2) * rng.normal(size=s.shape),
                      shapes)


def _batch(config, loss, seed=0, batch_size=5, length=3):
  """A token batch (weights 1, 1, 0.5, 0 = padding, 2) or a sentence batch for CRF."""
  rng = np.random.default_rng(seed)
  window_len = config.window_len
  shape = (batch_size, length, window_len) if loss == "crf" else (batch_size, window_len)
  batch = {"window_ids": rng.integers(0, VOCAB, shape).astype(np.int32),
           "feature_ids": np.stack([rng.integers(0, f, shape) for f in FEATURE_SIZES],
                                   -1).astype(np.int32)}
  if loss == "crf":
    lengths = np.array([length, 1, 2, 0, length])[:batch_size]  # row 3: padding
    batch["mask"] = (np.arange(length)[None] < lengths[:, None]).astype(np.int32)
    batch["labels"] = rng.integers(0, NUM_CLASSES, (batch_size, length)).astype(np.int32)
  else:
    num_labels = NUM_CLASSES if config.output == "multiclass" else 2
    batch["labels"] = rng.integers(0, num_labels, batch_size).astype(np.int32)
    batch["weights"] = np.array([1.0, 1.0, 0.5, 0.0, 2.0])[:batch_size]
  return batch


def _autodiff(params, batch, **kwargs):
  (mean, _), grads = jax.value_and_grad(objective.loss_fn, has_aux=True)(
      params, batch, **kwargs)
  return mean, grads


class Case(NamedTuple):
  """One hand-vs-autodiff comparison: static settings and arrays."""
  config: config_lib.ModelConfig
  loss: str
  margin: float = 1.0
  num_corruptions: int = 2
  train: bool = True
  params: Any = None  # None: _params(config, seed)
  seed: int = 0


def _static(case):
  return (case.config, case.loss, case.margin, case.num_corruptions, case.train)


@functools.partial(jax.jit, static_argnames="static")
def _evaluate(params, batches, keys, static):
  """``(hand_grad, value_and_grad(loss_fn))`` of every case, in one compiled program.

  One program for all cases compiles several times faster than one per case
  (or eager mode, which compiles every primitive of every new shape).
  """
  results = []
  for p, batch, key, (config, loss, margin, num_corruptions, train) in zip(
      params, batches, keys, static):
    kwargs = dict(config=config, loss=loss, key=key, margin=margin,
                  num_corruptions=num_corruptions, train=train)
    results.append((objective.hand_grad(p, batch, **kwargs), _autodiff(p, batch, **kwargs)))
  return results


def _cycle(values, i):
  return values[i % len(values)]


def _grid_case(j, k):
  """The grid's case of loss case j and window k: (name, Case).

  Its classifier is ``(j + 2k) mod 3``, so that each loss case (4 windows) and
  each window (8 loss cases) meets all three. Besides, each case gets a
  variation, each cycling so that the grid as a whole covers them all (see
  test_grid_covers_the_variations): activation, half-width 0/1/2, hidden
  width 1/4/30 (30 > every input D here), dropout 0.4 on the hidden
  classifiers' cases of even ``j + k``, frozen vectors, margin 0.5/1/2, 1-3
  corruptions, and unused CRF parameters for every multiclass loss but "crf".
  """
  (output, loss), window = LOSS_CASES[j], tuple(windows.WINDOWS)[k]
  classifier = tuple(CLASSIFIERS)[(j + 2 * k) % len(CLASSIFIERS)]
  i = len(windows.WINDOWS) * j + k
  config = _config(classifier, output, loss, window,
                   activation=_cycle(tuple(layers.ACTIVATIONS), j + k),
                   half_width=_cycle((0, 1, 2), i), hidden=_cycle((1, 4, 30), i // 2),
                   dropout=0.4 if classifier != "softmax" and (j + k) % 2 == 0 else 0.0,
                   freeze_vectors=i % 2 == 1)
  config = dataclasses.replace(config, use_crf=output == "multiclass")
  name = f"grid-{classifier}-{window}-{loss}-{output}"
  return name, Case(config, loss, margin=_cycle((1.0, 0.5, 2.0), i // 3),
                    num_corruptions=_cycle((1, 2, 3), j + k), seed=i)


def _cases():
  """name -> Case: the grid of every loss x window (``_grid_case``), and special cases."""
  cases = dict(_grid_case(j, k) for j in range(len(LOSS_CASES))
               for k in range(len(windows.WINDOWS)))
  # The same as a grid case with dropout, but train=False.
  with_dropout = next(c for name, c in cases.items()
                      if c.config.dropout > 0 and c.loss == "cross_entropy")
  cases["dropout-off"] = with_dropout._replace(train=False)
  for activation in ("relu", "hardtanh"):
    # Zero word and feature vectors make x = 0, so z = b: put b on the kinks.
    config = _config("hidden1", "multiclass", "cross_entropy", "concat", activation)
    params = _params(config)
    params["embed"]["words"] *= 0.0
    params["embed"]["features"][0] *= 0.0
    params["hidden"]["b"] = np.array([0.0, 1.0, -1.0, 0.5])
    cases[f"kink-{activation}"] = Case(config, "cross_entropy", params=params)
  return cases


def _may_be_zero(path: str, case) -> bool:
  """Leaves whose gradient is legitimately exactly zero in this case.

  Unused CRF parameters (as with jax.grad); a window's own parameters at
  half-width 0 (any normalised weighting of one position is that position);
  and, for a loss over corrupted
  windows, what the true and the corrupted window share (the feature tables:
  a corrupted window keeps the true window's features; the biases): their
  contributions to ``s - s_c`` cancel wherever both windows are on the same
  linear piece of the network (always, for the softmax classifier).
  """
  if path.startswith("['crf']"):
    return case.loss != "crf"
  if path.startswith("['window']") and case.config.window_size == 0:
    return True  # one position: a normalised weighting of it cannot depend on its weights
  corrupted = losses.get(case.loss, case.config.output).kind == "corrupted"
  return corrupted and (path.startswith("['embed']['features']")
                        or path.endswith("['b']"))


def _degenerate(case, output) -> bool:
  """Some parameter the loss uses got no gradient at all (a degenerate draw)."""
  _, (_, grads) = output
  return any(not np.any(np.asarray(leaf) != 0)
             for path, leaf in jax.tree_util.tree_leaves_with_path(grads)
             if not _may_be_zero(jax.tree_util.keystr(path), case))


def _run(cases):
  """Every case's outputs; two programs (alternate cases) compiled on two threads.

  XLA compiles a program on one core and releases the GIL: the two halves
  compile side by side (31 s -> 21 s for the grid on a 2-core CPU).
  """
  names = list(cases)
  halves = [names[0::2], names[1::2]] if len(names) > 1 else [names]
  lowered = []
  for half in halves:
    chosen = [cases[name] for name in half]
    args = ([case.params if case.params is not None else _params(case.config, case.seed)
             for case in chosen],
            [_batch(case.config, case.loss, case.seed) for case in chosen],
            [jax.random.key(case.seed + 10) for case in chosen])
    lowered.append((args, _evaluate.lower(*args, static=tuple(map(_static, chosen)))))
  with concurrent.futures.ThreadPoolExecutor(len(lowered)) as pool:
    compiled = list(pool.map(lambda item: item[1].compile(), lowered))
  results = {}
  for half, (args, _), program in zip(halves, lowered, compiled):
    for name, out in zip(half, program(*args)):
      results[name] = jax.tree.map(np.asarray, out)
  return results


@pytest.fixture(scope="module")
def results():
  """name -> ((hand mean, hand grads), (autodiff mean, autodiff grads)), as NumPy.

  Grid cases whose random draw is degenerate are redrawn (new seed) up to
  REDRAWS times, all of a round in one program.
  """
  with jax.enable_x64(True):
    cases = _cases()
    out = _run(cases)
    for round_ in range(1, REDRAWS + 1):
      redraw = {name: case._replace(seed=case.seed + 1000 * round_)
                for name, case in cases.items()
                if name.startswith("grid-") and _degenerate(case, out[name])}
      if not redraw:
        break
      out.update(_run(redraw))
      cases.update(redraw)
    return out


def _assert_case(results, name):
  (hand_mean, hand_grads), (ref_mean, ref_grads) = results[name]
  np.testing.assert_allclose(hand_mean, ref_mean, rtol=RTOL, err_msg=name)
  assert_close(hand_grads, ref_grads)
  return hand_mean, hand_grads


GRID = [name for name in _cases() if name.startswith("grid-")]


@pytest.mark.parametrize("name", GRID)
def test_hand_grad_matches_autodiff(results, name):
  """Every loss x window, each with a classifier and a variation (``_grid_case``)."""
  mean, grads = _assert_case(results, name)
  assert mean > 0
  case = _cases()[name]
  for path, leaf in jax.tree_util.tree_leaves_with_path(grads):
    path = jax.tree_util.keystr(path)
    if path.startswith("['crf']") and case.loss != "crf":
      np.testing.assert_array_equal(leaf, 0.0, err_msg=path)  # unused, as jax.grad
    elif not _may_be_zero(path, case):  # every other parameter reaches the loss
      assert np.any(leaf != 0), path  # (frozen word vectors included)


def _classifiers_of(cases):
  return {(c.config.classifier, c.config.hidden2_size) for c in cases}


def test_grid_covers_the_variations():
  cases = [c for name, c in _cases().items() if name.startswith("grid-")]
  every_classifier = set(CLASSIFIERS.values())
  assert _classifiers_of(cases) == every_classifier
  for loss_case in LOSS_CASES:  # each loss and each window meets every classifier
    assert _classifiers_of(c for c in cases if (c.config.output, c.loss) == loss_case
                           ) == every_classifier, loss_case
  for window in tuple(windows.WINDOWS):
    assert _classifiers_of(c for c in cases if c.config.window == window
                           ) == every_classifier, window
    assert {c.config.window_size for c in cases if c.config.window == window} == {0, 1, 2}
  for classifier in ("hidden1", "hidden2"):
    activations = {c.config.activation for c in cases
                   if _classifiers_of([c]) == {CLASSIFIERS[classifier]}}
    assert activations == set(tuple(layers.ACTIVATIONS)), classifier
  for loss in tuple(losses.LOSSES):  # each loss meets every activation
    assert {c.config.activation for c in cases if c.loss == loss} == set(
        tuple(layers.ACTIVATIONS)), loss
  hidden = [c for c in cases if c.config.classifier == "hidden"]
  assert any(c.config.hidden_size == 1 for c in hidden)
  assert any(c.config.hidden_size > network.input_dim(c.config) for c in hidden)
  assert {c.loss for c in cases if c.config.dropout > 0} == set(tuple(losses.LOSSES))
  assert {c.config.freeze_vectors for c in cases} == {True, False}
  assert {c.margin for c in cases if c.loss != "cross_entropy"} == {0.5, 1.0, 2.0}
  assert {c.num_corruptions for c in cases
          if (c.loss, c.config.output) == ("max_margin", "score")} == {1, 2, 3}


def test_train_false_turns_dropout_off(results):
  name = next(n for n, c in _cases().items() if c.config.dropout > 0
              and c.loss == "cross_entropy" and n.startswith("grid-"))
  _, with_dropout = _assert_case(results, name)
  _, without = _assert_case(results, "dropout-off")
  assert not np.allclose(with_dropout["hidden"]["W"], without["hidden"]["W"])


@pytest.mark.parametrize("activation,derivative", [("relu", [0, 1, 0, 1]),
                                                   ("hardtanh", [1, 1, 1, 1])])
def test_kinks_follow_jax(results, activation, derivative):
  """z exactly at relu's 0 and hardtanh's ±1: the hand pass uses jax.grad's derivative."""
  _, grads = _assert_case(results, f"kink-{activation}")
  np.testing.assert_array_equal(grads["hidden"]["b"] != 0, np.array(derivative) != 0)


def test_training_with_hand_gradients_matches_autodiff():
  """20 Adam steps from the same init with dropout on: the parameters agree."""
  config = _config("hidden2", "multiclass", "cross_entropy", "concat", "tanh", dropout=0.2)
  params0 = jax.tree.map(jnp.asarray, _params(config, seed=1))
  batches = [_batch(config, "cross_entropy", seed=s) for s in range(4)]
  stacked = jax.tree.map(lambda *xs: jnp.asarray(np.stack(xs)), *batches)
  tx = optax.adam(1e-2)
  key = jax.random.key(7)

  def train(grad_fn):
    def step(carry, step_index):
      params, opt_state = carry
      batch = jax.tree.map(lambda x: x[step_index % 4], stacked)
      loss, grads = grad_fn(params, batch, config=config, loss="cross_entropy",
                            key=jax.random.fold_in(key, step_index))
      updates, opt_state = tx.update(grads, opt_state, params)
      return (optax.apply_updates(params, updates), opt_state), loss

    (params, _), losses = jax.lax.scan(step, (params0, tx.init(params0)), jnp.arange(20))
    return params, losses

  run = jax.jit(lambda: (train(objective.hand_grad), train(_autodiff)))
  (hand_params, hand_losses), (ref_params, ref_losses) = run()
  np.testing.assert_allclose(hand_losses, ref_losses, rtol=1e-9)
  assert hand_losses[-1] < hand_losses[0]
  chex.assert_trees_all_close(hand_params, ref_params, rtol=1e-9, atol=1e-9)
  moved = jax.tree.map(lambda a, b: bool(np.any(np.asarray(a) != np.asarray(b))),
                       hand_params, params0)
  assert all(jax.tree.leaves(moved))


def test_errors():
  config = _config(output="score", loss="max_margin")
  params = _params(config)
  batch = _batch(config, "max_margin")
  with pytest.raises(ValueError, match="needs a key"):
    objective.hand_grad(params, batch, config=config, loss="max_margin", key=None)
  with pytest.raises(ValueError, match="--loss=cross_entropy does not work with --output=score"):
    objective.hand_grad(params, batch, config=config, loss="cross_entropy", key=None)
  crf_config = _config(loss="crf")
  crf_batch = _batch(crf_config, "crf")
  del crf_batch["mask"]
  with pytest.raises(ValueError, match=r"objective.py: batch for --loss=crf lacks \['mask'\]"):
    objective.hand_grad(_params(crf_config), crf_batch, config=crf_config, loss="crf",
                       key=None)
