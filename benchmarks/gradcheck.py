"""Checks and times the hand-written Jacobians against jacfwd, jacrev and finite differences.

  python benchmarks/gradcheck.py                       # full sweep -> results/gradcheck.{json,md,png}
                                                       # (260 rows, ~4 min on 2 shared CPU cores)
  python benchmarks/gradcheck.py --smoke --output=/tmp/g.json   # one tiny size per component

Every function of ``wincls/jacobians.py`` that differentiates a piece of the
window network ("component") is compared, in float32 and in float64, against

* ``jax.jacfwd`` and ``jax.jacrev`` of the forward function (layers, losses, crf,
  models), and
* central finite differences ``(f(v + ε e_i) - f(v - ε e_i)) / (x_i⁺ - x_i⁻)``
  (the denominator is the step actually taken after rounding). By default the
  differences are evaluated **in float64 for both dtypes** (a float32 row's
  inputs are upcast exactly, so its FD reference is the same function at the
  same point, without float32 cancellation), with ε = ``--fd_eps_float64``;
  ``--fd_dtype=native`` evaluates them in the row's own dtype with ε =
  ``--fd_eps_float32`` / ``--fd_eps_float64``. When the input has more than
  ``--fd_max_columns`` entries, FD checks a seeded random sample of that many
  input coordinates (Jacobian columns); the row records how many.

Errors. Jacobians are pytrees shaped like the differentiated input, each leaf
``output shape + leaf shape`` (numerator layout). Over all leaves,
``max_abs_err = max|J_hand - J_ref|`` and
``max_rel_err = max|J_hand - J_ref| / max(max|J_ref|, tiny)``
with ``tiny`` the smallest normal float64 (a normwise relative error: one scale
per Jacobian, so an entry that should be 0 is not divided by itself).

Timing. Hand, jacfwd and jacrev are each jitted with every array (differentiated
or not) passed as an argument (nothing is constant-folded), compiled ahead of
time and called twice to warm up; then ``--repeats`` rounds call each once, in
an order rotated per round so that load from other processes hits all three
alike, each call ended by ``block_until_ready``. The median per method is
reported (the samples are in the JSON), with XLA's flop estimate of each
compiled program. The hand side of a per-example loss assembles the dense
block-diagonal ``[B, B, C]`` Jacobian from its ``[B, C]`` gradient rows so the
three methods return the same array. ``jax.jacfwd`` pushes forward an identity
basis of ``[n, n]`` for an input of n entries (``jax.jacrev`` pulls back an
``[m, m]`` one for m outputs); a method whose basis exceeds
``--max_basis_entries`` is skipped and the row says why.

Sizes. Each component is measured at the CS224n configuration of the throughput
benchmark (window half-width m=1, 50-d word vectors + one 5-d casing feature so
d=55 and D=165, hidden H=200, C=5 classes; batch 32, sentence length 15 and one
corruption where those apply) and along each of its size axes one at a time,
the other axes held there. The markdown summary is computed from the rows.
A row that raises is recorded with an ``error`` and the run goes on; the JSON is
rewritten atomically after every row, and the exit status is 1 if any row failed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
import traceback
import zlib
from typing import Any, Callable

from absl import app
from absl import flags
import jax
from jax.flatten_util import ravel_pytree
import jax.numpy as jnp
import numpy as np

from wincls import config as config_lib
from wincls import crf
from wincls import jacobians
from wincls import layers
from wincls import losses
from wincls import models
from wincls.data import vocab as vocab_lib

_OUTPUT = flags.DEFINE_string("output", "results/gradcheck.json",
                              "JSON rows; the markdown and PNG go next to it "
                              "(same name, .md and .png)")
_SMOKE = flags.DEFINE_bool("smoke", False, "one tiny size per component, one repeat")
_REPEATS = flags.DEFINE_integer("repeats", 9, "timed calls per method (median)",
                                lower_bound=1)
_DTYPES = flags.DEFINE_list("dtypes", "float32,float64", "float32 and/or float64")
_COMPONENTS = flags.DEFINE_list("components", None,
                                "only these components (default: all)")
_FD_DTYPE = flags.DEFINE_enum("fd_dtype", "float64", ["float64", "native"],
                              "evaluate finite differences in float64, or in the "
                              "row's dtype")
_FD_EPS_FLOAT32 = flags.DEFINE_float("fd_eps_float32", 1e-3,
                                     "FD step when evaluated in float32")
_FD_EPS_FLOAT64 = flags.DEFINE_float("fd_eps_float64", 1e-6,
                                     "FD step when evaluated in float64")
_FD_MAX_COLUMNS = flags.DEFINE_integer("fd_max_columns", 256,
                                       "FD checks at most this many input "
                                       "coordinates (a seeded sample)", lower_bound=1)
_MAX_BASIS = flags.DEFINE_integer("max_basis_entries", 2**26,
                                  "skip jacfwd (jacrev) when its [n, n] ([m, m]) "
                                  "identity basis has more entries", lower_bound=1)
_SEED = flags.DEFINE_integer("seed", 0, "seed of the random inputs")

Array = jax.Array

# ---------------------------------------------------------------------------
# Sizes.
# ---------------------------------------------------------------------------

# The CS224n configuration of the throughput benchmark, plus the reference
# values of the axes it does not fix (batch, sentence length, corruptions).
CS224N = {
    "window_size": 1, "embed_dim": 50, "feature_dim": 5, "hidden_size": 200,
    "num_classes": 5, "batch": 32, "seq_len": 15, "num_corruptions": 1,
    "vocab_size": 32,
}
# Points per axis (each includes the CS224n value). num_classes: binary, the
# CoNLL-2003 IO (5), IOB2 (9) and IOBES (17) tag sets.
AXES = {
    "window_size": (0, 1, 2, 4),
    "embed_dim": (25, 50, 100, 200),
    "hidden_size": (50, 100, 200, 400),
    "num_classes": (2, 5, 9, 17),
    "batch": (8, 32, 128, 512),
    "seq_len": (4, 15, 60),
    "num_corruptions": (1, 4, 16),
}
SMOKE = {
    "window_size": 1, "embed_dim": 4, "feature_dim": 2, "hidden_size": 6,
    "num_classes": 3, "batch": 4, "seq_len": 5, "num_corruptions": 2,
    "vocab_size": 10,
}
MARGIN = 1.0
# The casing feature table of wincls/data/vocab.py.
CASING_SIZE = vocab_lib.FEATURE_SIZES["casing"]
METHODS = ("hand", "jacfwd", "jacrev")
# Speed ratios within this factor count as a tie in the summary.
_CLEAR = 1.25
DTYPES = {"float32": np.float32, "float64": np.float64}


@dataclasses.dataclass
class Case:
  """One Jacobian to check: ``fn(wrt, const)`` and its hand Jacobian w.r.t. ``wrt``.

  ``hand(wrt, const)`` returns a pytree shaped like ``wrt`` whose leaves are
  ``output shape + leaf shape``, as ``jax.jacfwd(fn)(wrt, const)`` does.
  """

  fn: Callable[[Any, Any], Array]
  hand: Callable[[Any, Any], Any]
  wrt: Any
  const: Any


def _cast(tree, dtype):
  """Float numpy/jax leaves to ``dtype`` (jnp arrays); integer leaves unchanged."""
  def leaf(a):
    a = np.asarray(a)
    if np.issubdtype(a.dtype, np.floating):
      return jnp.asarray(a.astype(dtype))
    return jnp.asarray(a)
  return jax.tree.map(leaf, tree)


def _block_diagonal(g: Array) -> Array:
  """``[B, ...] -> [B, B, ...]``: the Jacobian of a per-example map from its blocks."""
  batch = g.shape[0]
  eye = jnp.eye(batch, dtype=g.dtype).reshape((batch, batch) + (1,) * (g.ndim - 1))
  return eye * g[None]


def _away_from(values: np.ndarray, kinks, gap: float = 0.1) -> np.ndarray:
  """Moves entries within ``gap`` of a kink by ``2·gap`` away from it."""
  values = np.array(values, dtype=np.float64)
  for kink in kinks:
    near = np.abs(values - kink) < gap
    side = np.where(values >= kink, 1.0, -1.0)
    values = np.where(near, values + 2 * gap * side, values)
  return values


def _spaced_scores(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
  """Scores on a 0.3 grid (random order per row) plus noise below 0.02.

  Every hinge term ``Δ + s_a - s_b`` (Δ = 1) is then ``1 + 0.3 k + noise``, at
  least 0.06 from its kink, and no two scores of a row tie, so the subgradients
  are the gradients and central differences see no kink.
  """
  grid = np.stack([rng.permutation(cols) for _ in range(rows)]).astype(np.float64)
  return 0.3 * (grid - cols / 2) + rng.uniform(-0.02, 0.02, size=(rows, cols))


def _glorot(rng, out_dim, in_dim):
  limit = math.sqrt(6.0 / (out_dim + in_dim))
  return rng.uniform(-limit, limit, size=(out_dim, in_dim))


def _word_dim(s):
  return s["embed_dim"] + s["feature_dim"]


def _window_dim(s):
  return (2 * s["window_size"] + 1) * _word_dim(s)


def _affine_case(which: str):
  hand_fns = {"x": jacobians.affine_jacobian_x, "W": jacobians.affine_jacobian_W,
              "b": jacobians.affine_jacobian_b}

  def build(s, rng, dtype):
    in_dim, out_dim = _window_dim(s), s["hidden_size"]
    args = {"x": rng.normal(size=in_dim), "W": _glorot(rng, out_dim, in_dim),
            "b": 0.1 * rng.normal(size=out_dim)}
    const = {k: v for k, v in args.items() if k != which}
    return Case(fn=lambda v, c: layers.affine(**{which: v}, **c),
                hand=lambda v, c: hand_fns[which](**{which: v}, **c),
                wrt=_cast(args[which], dtype), const=_cast(const, dtype))
  return build


def _activation_case(name: str):
  def build(s, rng, dtype):
    z = rng.normal(size=s["hidden_size"])
    if name == "relu":
      z = _away_from(z, (0.0,))
    elif name == "hardtanh":
      z = _away_from(1.5 * z, (-1.0, 1.0))
    return Case(fn=lambda v, c: layers.ACTIVATIONS[name](v),
                hand=lambda v, c: jacobians.activation_jacobian(name, v),
                wrt=_cast(z, dtype), const={})
  return build


def _softmax_case(log: bool):
  def build(s, rng, dtype):
    z = 2.0 * rng.normal(size=s["num_classes"])
    fn = layers.log_softmax if log else layers.softmax
    hand = jacobians.log_softmax_jacobian if log else jacobians.softmax_jacobian
    return Case(fn=lambda v, c: fn(v), hand=lambda v, c: hand(v), wrt=_cast(z, dtype),
                const={})
  return build


def _multiclass_loss_case(name: str):
  forward = {"cross_entropy": lambda v, y: losses.softmax_cross_entropy(
                 logits=v, labels=y),
             "hinge_ww": lambda v, y: losses.hinge_weston_watkins(
                 scores=v, labels=y, margin=MARGIN),
             "hinge_cs": lambda v, y: losses.hinge_crammer_singer(
                 scores=v, labels=y, margin=MARGIN)}[name]
  gradient = {"cross_entropy": lambda v, y: jacobians.softmax_cross_entropy_gradient(
                  logits=v, labels=y),
              "hinge_ww": lambda v, y: jacobians.hinge_weston_watkins_gradient(
                  scores=v, labels=y, margin=MARGIN),
              "hinge_cs": lambda v, y: jacobians.hinge_crammer_singer_gradient(
                  scores=v, labels=y, margin=MARGIN)}[name]

  def build(s, rng, dtype):
    batch, num_classes = s["batch"], s["num_classes"]
    if name == "cross_entropy":
      scores = 2.0 * rng.normal(size=(batch, num_classes))
    else:
      scores = _spaced_scores(rng, batch, num_classes)
    labels = rng.integers(0, num_classes, size=batch).astype(np.int32)
    return Case(fn=lambda v, c: forward(v, c["labels"]),
                hand=lambda v, c: _block_diagonal(gradient(v, c["labels"])),
                wrt=_cast(scores, dtype), const={"labels": jnp.asarray(labels)})
  return build


def _max_margin_case(s, rng, dtype):
  both = _spaced_scores(rng, s["batch"], 1 + s["num_corruptions"])
  wrt = {"scores": both[:, 0], "corrupted_scores": both[:, 1:]}

  def hand(v, c):
    del c
    d_scores, d_corrupted = jacobians.max_margin_gradient(**v, margin=MARGIN)
    return {"scores": _block_diagonal(d_scores),
            "corrupted_scores": _block_diagonal(d_corrupted)}
  return Case(fn=lambda v, c: losses.max_margin(**v, margin=MARGIN), hand=hand,
              wrt=_cast(wrt, dtype), const={})


def _window_case(name: str):
  def build(s, rng, dtype):
    vectors = rng.normal(size=(2 * s["window_size"] + 1, _word_dim(s)))
    return Case(fn=lambda v, c: layers.WINDOWS[name](v),
                hand=lambda v, c: jacobians.WINDOW_JACOBIANS[name](v),
                wrt=_cast(vectors, dtype), const={})
  return build


def _embed_case(s, rng, dtype):
  window_len = 2 * s["window_size"] + 1
  tables = {"words": 0.1 * rng.normal(size=(s["vocab_size"], s["embed_dim"])),
            "features": [0.1 * rng.normal(size=(CASING_SIZE, s["feature_dim"]))]}
  window_ids = rng.integers(0, s["vocab_size"], size=window_len).astype(np.int32)
  window_ids[0] = window_ids[-1]  # a repeated word (its rows add up in the VJP)
  feature_ids = rng.integers(0, CASING_SIZE, size=(window_len, 1)).astype(np.int32)
  const = {"window_ids": jnp.asarray(window_ids), "feature_ids": jnp.asarray(feature_ids)}

  def hand(v, c):
    ids, fids = c["window_ids"], c["feature_ids"]
    return {"words": jacobians.embed_jacobian_words(v, ids, fids),
            "features": [jacobians.embed_jacobian_features(v, ids, fids, 0)]}
  return Case(fn=lambda v, c: layers.embed(v, c["window_ids"], c["feature_ids"]),
              hand=hand, wrt=_cast(tables, dtype), const=const)


def _crf_case(s, rng, dtype):
  seq_len, num_tags = s["seq_len"], s["num_classes"]
  length = max(1, seq_len - seq_len // 4)  # some padding, to exercise the mask
  mask = (np.arange(seq_len) < length).astype(np.int32)
  crf_params = {"transitions": 0.5 * rng.normal(size=(num_tags, num_tags)),
                "start": 0.5 * rng.normal(size=num_tags),
                "end": 0.5 * rng.normal(size=num_tags)}
  emissions = 2.0 * rng.normal(size=(seq_len, num_tags))
  return Case(
      fn=lambda v, c: crf.crf_log_partition(v, c["mask"], c["crf"]),
      hand=lambda v, c: jacobians.crf_log_partition_jacobian(v, c["mask"], c["crf"])[
          "emissions"],
      wrt=_cast(emissions, dtype),
      const={"mask": jnp.asarray(mask), "crf": _cast(crf_params, dtype)})


def _model_config(s) -> config_lib.ModelConfig:
  return config_lib.ModelConfig(
      vocab_size=s["vocab_size"], feature_sizes=(CASING_SIZE,),
      num_classes=s["num_classes"], window="concat", window_size=s["window_size"],
      embed_dim=s["embed_dim"], feature_dim=s["feature_dim"], classifier="hidden",
      hidden_size=s["hidden_size"], activation="tanh", output=s.get("output", "multiclass"))


def scores_from_window_vector(params, x: Array, *, config: config_lib.ModelConfig) -> Array:
  """``models.apply`` from the window vector x on (no dropout): ``[D] -> [C]`` or ``[]``.

  ``models.apply`` starts from word ids; this is its tail, checked against it on
  every network row (``_network_case``).
  """
  h = x
  for name in ("hidden", "hidden2")[:len(models.hidden_sizes(config))]:
    h = layers.ACTIVATIONS[config.activation](
        layers.affine(h, params[name]["W"], params[name]["b"]))
  if config.output == "multiclass":
    return layers.affine(h, params["output"]["W"], params["output"]["b"])
  return h @ params["output"]["u"]


def _random_params(config: config_lib.ModelConfig, rng: np.random.Generator):
  """Random float64 numpy params with ``models.init_params``'s exact structure.

  The structure and shapes come from ``jax.eval_shape(models.init_params)`` (no
  compilation); the values are Glorot-uniform for matrices (``u`` as ``[1, H]``),
  ``N(0, 0.1²)`` for tables and biases, so every bias is non-zero.
  """
  shapes = jax.eval_shape(lambda k: models.init_params(k, config=config),
                          jax.random.key(0))

  def leaf(path, shape_dtype):
    shape, name = shape_dtype.shape, jax.tree_util.keystr(path)
    if len(shape) == 2 and "embed" not in name:
      return _glorot(rng, *shape)
    if name.endswith("['u']"):
      return _glorot(rng, 1, shape[0])[0]
    return 0.1 * rng.normal(size=shape)
  return jax.tree_util.tree_map_with_path(leaf, shapes)


def _network_case(wrt_name: str):
  def build(s, rng, dtype):
    config = _model_config(s)
    params = _cast(_random_params(config, rng), dtype)
    window_ids = jnp.asarray(rng.integers(
        0, config.vocab_size, size=(1, config.window_len)).astype(np.int32))
    feature_ids = jnp.asarray(rng.integers(
        0, CASING_SIZE, size=(1, config.window_len, 1)).astype(np.int32))

    @jax.jit
    def forward(params, window_ids, feature_ids):
      x = layers.window_concat(layers.embed(params["embed"], window_ids, feature_ids))[0]
      return x, scores_from_window_vector(params, x, config=config), models.apply(
          params, window_ids, feature_ids, config=config)[0]
    x, got, expected = forward(params, window_ids, feature_ids)
    # The forward differentiated here must be models.apply's.
    tol = 1e-5 if dtype == np.float32 else 1e-12
    if not np.allclose(got, expected, rtol=tol, atol=tol):
      raise AssertionError("benchmarks/gradcheck.py: scores_from_window_vector differs "
                           f"from models.apply: {got} vs {expected}")
    dense = {k: v for k, v in params.items() if k not in ("embed", "crf")}
    if wrt_name == "x":
      return Case(
          fn=lambda v, c: scores_from_window_vector(c, v, config=config),
          hand=lambda v, c: jacobians.network_jacobians(c, v, config=config)["x"],
          wrt=x, const=dense)

    def hand(v, c):
      jac = jacobians.network_jacobians(v, c["x"], config=config)
      return {k: jac[k] for k in v}
    return Case(fn=lambda v, c: scores_from_window_vector(v, c["x"], config=config),
                hand=hand, wrt=dense, const={"x": x})
  return build


# name -> (builder, size axes swept, fixed size fields recorded in the row)
_AFFINE_AXES = ("window_size", "embed_dim", "hidden_size")
_NETWORK_AXES = ("window_size", "embed_dim", "hidden_size", "num_classes")
COMPONENTS: dict[str, tuple[Callable, tuple[str, ...], tuple[str, ...]]] = {
    "affine_x": (_affine_case("x"), _AFFINE_AXES, ("feature_dim",)),
    "affine_W": (_affine_case("W"), _AFFINE_AXES, ("feature_dim",)),
    "affine_b": (_affine_case("b"), ("hidden_size",),
                 ("window_size", "embed_dim", "feature_dim")),
    "tanh": (_activation_case("tanh"), ("hidden_size",), ()),
    "relu": (_activation_case("relu"), ("hidden_size",), ()),
    "sigmoid": (_activation_case("sigmoid"), ("hidden_size",), ()),
    "hardtanh": (_activation_case("hardtanh"), ("hidden_size",), ()),
    "softmax": (_softmax_case(False), ("num_classes",), ()),
    "log_softmax": (_softmax_case(True), ("num_classes",), ()),
    "cross_entropy": (_multiclass_loss_case("cross_entropy"), ("batch", "num_classes"), ()),
    "max_margin": (_max_margin_case, ("batch", "num_corruptions"), ()),
    "hinge_ww": (_multiclass_loss_case("hinge_ww"), ("batch", "num_classes"), ()),
    "hinge_cs": (_multiclass_loss_case("hinge_cs"), ("batch", "num_classes"), ()),
    "window_concat": (_window_case("concat"), ("window_size", "embed_dim"),
                      ("feature_dim",)),
    "window_average": (_window_case("average"), ("window_size", "embed_dim"),
                       ("feature_dim",)),
    "embed": (_embed_case, ("window_size", "embed_dim"), ("feature_dim", "vocab_size")),
    "crf_log_partition": (_crf_case, ("seq_len", "num_classes"), ()),
    "network_x": (_network_case("x"), _NETWORK_AXES, ("feature_dim", "vocab_size")),
    "network_params": (_network_case("params"), _NETWORK_AXES,
                       ("feature_dim", "vocab_size")),
}
_NETWORKS = ("network_x", "network_params")


def size_points(component: str, smoke: bool) -> list[dict[str, Any]]:
  """The sizes of one component: the CS224n point and each axis swept from it."""
  _, axes, fixed = COMPONENTS[component]
  base = SMOKE if smoke else CS224N
  point = {k: base[k] for k in axes + fixed}
  if smoke:
    return [dict(point, swept="smoke", cs224n=False)]
  points = [dict(point, swept="cs224n", cs224n=True)]
  for axis in axes:
    for value in AXES[axis]:
      if value != base[axis]:
        points.append(dict(point, **{axis: value}, swept=axis, cs224n=False))
  if component in _NETWORKS:  # the score model s = uᵀ h: a [D] Jacobian
    points.append(dict(point, output="score", swept="output", cs224n=True))
  for p in points:
    if component in _NETWORKS:
      p.setdefault("output", "multiclass")
    if "window_size" in p:
      p["window_len"] = 2 * p["window_size"] + 1
    if "embed_dim" in p:
      p["word_dim"] = _word_dim(p)
      p["window_dim"] = _window_dim(p)
  return points


# ---------------------------------------------------------------------------
# Measuring.
# ---------------------------------------------------------------------------


def _flops(compiled) -> float | None:
  try:
    cost = compiled.cost_analysis()
  except Exception:  # pylint: disable=broad-except  # not every backend has it
    return None
  if isinstance(cost, (list, tuple)):
    cost = cost[0] if cost else None
  if not cost or "flops" not in cost:
    return None
  return float(cost["flops"])


def time_jitted(fns: dict[str, Callable], args, repeats: int) -> dict[str, dict]:
  """Times ``jit(fn)(*args)`` for each fn, interleaved so load drifts hit all alike.

  Each is compiled ahead of time and called once (warm-up, whose output is
  returned); one untimed round calls each again (the first call after the
  others' warm-ups measured 2-4x slow on a CPU); then ``repeats`` rounds call
  every fn once, in an order rotated each round, each call ended by
  ``block_until_ready``.

  Returns:
    ``{name: {"median_s", "samples_s", "out" (numpy pytree), "flops"}}``.
  """
  compiled = {name: jax.jit(fn).lower(*args).compile() for name, fn in fns.items()}
  result = {}
  for name, c in compiled.items():
    out = jax.block_until_ready(c(*args))
    result[name] = {"out": jax.tree.map(np.asarray, out), "flops": _flops(c),
                    "samples_s": []}
    del out
  names = list(compiled)
  for r in range(-1, repeats):  # round -1: a second, untimed warm-up round
    for name in names[r % len(names):] + names[:r % len(names)]:
      begin = time.perf_counter()
      jax.block_until_ready(compiled[name](*args))
      if r >= 0:
        result[name]["samples_s"].append(time.perf_counter() - begin)
  for entry in result.values():
    entry["median_s"] = statistics.median(entry["samples_s"])
  return result


def compare(hand, ref) -> tuple[float, float]:
  """(max abs error, max rel error) of two Jacobian pytrees (definition above)."""
  if jax.tree.structure(hand) != jax.tree.structure(ref):
    raise ValueError(f"benchmarks/gradcheck.py: Jacobian structures differ: "
                     f"{jax.tree.structure(hand)} vs {jax.tree.structure(ref)}")
  err, scale = 0.0, 0.0
  for a, b in zip(jax.tree.leaves(hand), jax.tree.leaves(ref)):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
      raise ValueError(f"benchmarks/gradcheck.py: Jacobian shapes differ: "
                       f"{a.shape} vs {b.shape}")
    err = max(err, float(np.max(np.abs(a - b), initial=0.0)))
    scale = max(scale, float(np.max(np.abs(b), initial=0.0)))
  return err, err / max(scale, np.finfo(np.float64).tiny)


def jacobian_columns(jac, out_size: int, columns: np.ndarray) -> np.ndarray:
  """Columns of a Jacobian pytree seen as ``[out_size, n]`` (``ravel_pytree`` order).

  Returns:
    float64 ``[out_size, len(columns)]``, without copying the whole Jacobian.
  """
  pieces, offset = [], 0
  for leaf in jax.tree.leaves(jac):
    leaf = np.asarray(leaf).reshape(out_size, -1)
    width = leaf.shape[1]
    inside = (columns >= offset) & (columns < offset + width)
    pieces.append((np.nonzero(inside)[0], leaf[:, columns[inside] - offset]))
    offset += width
  out = np.empty((out_size, len(columns)), np.float64)
  for where, values in pieces:
    out[:, where] = values
  return out


def finite_differences(fn, wrt, const, *, eps: float, columns: np.ndarray) -> np.ndarray:
  """Central differences of ``fn(·, const)`` at ``wrt`` along the given coordinates.

  Returns:
    ``[out_size, len(columns)]``.
  """
  flat, unravel = ravel_pytree(wrt)
  size = flat.shape[0]

  def column(i):
    plus, minus = flat.at[i].add(eps), flat.at[i].add(-eps)
    step = plus[i] - minus[i]  # the step taken after rounding
    diff = fn(unravel(plus), const) - fn(unravel(minus), const)
    return jnp.reshape(diff, (-1,)) / step

  chunk = int(max(1, min(len(columns), 2**22 // max(size, 1))))
  batched = jax.jit(jax.vmap(column))
  pieces = []
  for start in range(0, len(columns), chunk):
    idx = columns[start:start + chunk]
    padded = np.concatenate([idx, np.repeat(idx[-1:], chunk - len(idx))])
    pieces.append(np.asarray(batched(jnp.asarray(padded, jnp.int32)))[:len(idx)])
  return np.concatenate(pieces, axis=0).T


def measure(component: str, point: dict[str, Any], dtype_name: str, *, repeats: int,
            fd_dtype: str, fd_eps: dict[str, float], fd_max_columns: int,
            max_basis: int, seed: int) -> dict[str, Any]:
  """One row: errors and times of one component at one size in one dtype."""
  row: dict[str, Any] = {"component": component, "dtype": dtype_name, **point}
  dtype = DTYPES[dtype_name]
  build = COMPONENTS[component][0]
  rng = np.random.default_rng(
      [seed, list(COMPONENTS).index(component),
       zlib.crc32(json.dumps(point, sort_keys=True).encode())])
  start = time.perf_counter()
  with jax.enable_x64(dtype_name == "float64"):
    case = build(point, rng, dtype)
    out = jax.eval_shape(case.fn, case.wrt, case.const)
    out_size = int(np.prod(out.shape, dtype=np.int64))
    in_size = sum(int(np.size(leaf)) for leaf in jax.tree.leaves(case.wrt))
    leaves = jax.tree.leaves(case.wrt)
    shape = (list(out.shape) + list(leaves[0].shape) if len(leaves) == 1
             else [list(out.shape) + list(leaf.shape) for leaf in leaves])
    row.update(jacobian_shape=shape, out_size=out_size, in_size=in_size,
               jacobian_entries=out_size * in_size,
               shape_class=("tall" if out_size > in_size else
                            "wide" if out_size < in_size else "square"))
    args = (case.wrt, case.const)
    basis = {"jacfwd": in_size * in_size, "jacrev": out_size * out_size}
    fns = {"hand": case.hand}
    for name, transform in (("jacfwd", jax.jacfwd), ("jacrev", jax.jacrev)):
      row.update(dict.fromkeys((f"max_abs_err_{name}", f"max_rel_err_{name}",
                                f"max_rel_err_fd_{name}")))
      if basis[name] > max_basis:
        row[f"skipped_{name}"] = (f"identity basis of {basis[name]} entries > "
                                  f"--max_basis_entries={max_basis}")
      else:
        fns[name] = transform(case.fn)
    timed = time_jitted(fns, args, repeats)
    for name in METHODS:
      entry = timed.get(name, {})
      row[f"time_{name}_s"] = entry.get("median_s")
      row[f"samples_{name}_s"] = entry.get("samples_s")
      row[f"flops_{name}"] = entry.get("flops")
    hand = timed["hand"]["out"]
    if jax.tree.structure(hand) != jax.tree.structure(case.wrt):
      raise ValueError(f"benchmarks/gradcheck.py: the hand Jacobian of {component} has "
                       f"structure {jax.tree.structure(hand)}, expected that of the "
                       f"input {jax.tree.structure(case.wrt)}")
    refs = {name: timed[name]["out"] for name in ("jacfwd", "jacrev") if name in timed}
    del timed
    for name, ref in refs.items():
      row[f"max_abs_err_{name}"], row[f"max_rel_err_{name}"] = compare(hand, ref)
  # Finite differences, at a sample of the input coordinates.
  fd_in = "float64" if fd_dtype == "float64" else dtype_name
  eps = fd_eps[fd_in]
  columns = np.arange(in_size)
  if in_size > fd_max_columns:
    columns = np.sort(rng.choice(in_size, size=fd_max_columns, replace=False))
  with jax.enable_x64(fd_in == "float64"):
    wrt, const = _cast(case.wrt, DTYPES[fd_in]), _cast(case.const, DTYPES[fd_in])
    fd = finite_differences(case.fn, wrt, const, eps=eps, columns=columns)
  abs_err, rel_err = compare(jacobian_columns(hand, out_size, columns), fd)
  row.update(max_abs_err_fd=abs_err, max_rel_err_fd=rel_err, fd_dtype=fd_in, fd_eps=eps,
             fd_columns=int(len(columns)))
  # The AD Jacobians against the same differences: how much of the hand
  # Jacobian's error vs FD is the dtype's rather than the hand form's.
  for name, ref in refs.items():
    row[f"max_rel_err_fd_{name}"] = compare(jacobian_columns(ref, out_size, columns), fd)[1]
  row["seconds"] = time.perf_counter() - start
  return row


# ---------------------------------------------------------------------------
# Reporting.
# ---------------------------------------------------------------------------


def write_json_atomic(path: str, obj) -> None:
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=directory, prefix=".gradcheck-", suffix=".tmp")
  try:
    with os.fdopen(fd, "w") as f:
      json.dump(obj, f, indent=1, allow_nan=True)
      f.write("\n")
    os.chmod(tmp, 0o644)  # mkstemp makes it private
    os.replace(tmp, path)
  except BaseException:
    with contextlib.suppress(OSError):
      os.unlink(tmp)
    raise


def _ok(row) -> bool:
  return "error" not in row


def _ms(seconds) -> str:
  return "–" if seconds is None else f"{seconds * 1e3:.3g}"


def _err(value) -> str:
  return "–" if value is None else f"{value:.1e}"


def _best_ad(row) -> tuple[str | None, float | None]:
  times = {m: row.get(f"time_{m}_s") for m in ("jacfwd", "jacrev")}
  times = {m: t for m, t in times.items() if t is not None}
  if not times:
    return None, None
  name = min(times, key=times.get)
  return name, times[name]


_SIZE_LABELS = (("window_size", "m"), ("embed_dim", "E"), ("feature_dim", "Fd"),
                ("hidden_size", "H"), ("num_classes", "C"), ("batch", "B"),
                ("seq_len", "T"), ("num_corruptions", "k"), ("vocab_size", "V"),
                ("output", "out"))


def size_label(row) -> str:
  parts = [f"{short}={row[key]}" for key, short in _SIZE_LABELS
           if key in row and not (key == "output" and row[key] == "multiclass")]
  return " ".join(parts)


def _shape_label(row) -> str:
  shape = row.get("jacobian_shape")
  if shape is None:
    return "?"
  if shape and isinstance(shape[0], list):
    return " + ".join("[" + ",".join(map(str, s)) + "]" for s in shape)
  return "[" + ",".join(map(str, shape)) + "]"


def _axis_value(axis, row):
  return row["window_len"] if axis == "window_size" else row[axis]


def growth_rows(rows, dtype_name):
  """Per (component, axis): log-log slopes of time (and Jacobian entries) vs the axis.

  The window axis is measured by the window length 2m+1.
  """
  out = []
  for component, (_, axes, _) in COMPONENTS.items():
    for axis in axes:
      line = [r for r in rows if _ok(r) and r["component"] == component
              and r["dtype"] == dtype_name and r["swept"] in (axis, "cs224n")
              and r.get("output", "multiclass") == "multiclass"]
      if len(line) < 2:
        continue
      line.sort(key=lambda r: _axis_value(axis, r))
      xs = np.log([_axis_value(axis, r) for r in line])
      entry = {"component": component, "axis": axis,
               "values": [_axis_value(axis, r) for r in line],
               "entries": _slope(xs, [r["jacobian_entries"] for r in line])}
      for method in METHODS:
        entry[method] = _slope(xs, [r.get(f"time_{method}_s") for r in line])
      out.append(entry)
  return out


def _slope(xs, ys):
  pairs = [(x, math.log(y)) for x, y in zip(xs, ys) if y is not None and y > 0]
  if len(pairs) < 2 or len({p[0] for p in pairs}) < 2:
    return None
  x, y = np.array(pairs).T
  return float(np.polyfit(x, y, 1)[0])


def summary_sentences(rows) -> list[str]:
  """The findings, computed from the rows."""
  ok = [r for r in rows if _ok(r)]
  lines = []
  for dtype_name in DTYPES:
    sub = [r for r in ok if r["dtype"] == dtype_name]
    if not sub:
      continue
    parts = []
    for method in ("jacfwd", "jacrev", "fd"):
      vals = [(r[f"max_rel_err_{method}"], r) for r in sub
              if r.get(f"max_rel_err_{method}") is not None]
      if vals:
        worst, r = max(vals, key=lambda v: v[0])
        parts.append(f"{worst:.1e} vs {method} ({r['component']}, {size_label(r)})")
    fd_dtypes = sorted({r["fd_dtype"] for r in sub if "fd_dtype" in r})
    ad_fd = [(r[f"max_rel_err_fd_{m}"], m, r) for r in sub for m in ("jacfwd", "jacrev")
             if r.get(f"max_rel_err_fd_{m}") is not None]
    ad_text = ""
    if ad_fd:
      worst, m, r = max(ad_fd, key=lambda v: v[0])
      ad_text = (f" For scale, the AD Jacobians differ from the same finite "
                 f"differences by up to {worst:.1e} ({m}, {r['component']}, "
                 f"{size_label(r)}).")
    lines.append(f"**Accuracy, {dtype_name}** ({len(sub)} rows; FD evaluated in "
                 f"{'/'.join(fd_dtypes)}): the largest relative error of the hand "
                 f"Jacobian is {'; '.join(parts)}.{ad_text}")
  # Tall vs wide.
  both = [r for r in ok if r.get("time_jacfwd_s") and r.get("time_jacrev_s")]
  for shape_class in ("tall", "square", "wide"):
    sub = [r for r in both if r["shape_class"] == shape_class]
    if not sub:
      continue
    fwd_wins = sum(r["time_jacfwd_s"] < r["time_jacrev_s"] for r in sub)
    ratio = statistics.median(r["time_jacfwd_s"] / r["time_jacrev_s"] for r in sub)
    lines.append(f"**{shape_class.capitalize()} Jacobians** (outputs "
                 f"{'>' if shape_class == 'tall' else '<' if shape_class == 'wide' else '='}"
                 f" inputs, {len(sub)} rows timed both ways): jacfwd was faster in "
                 f"{fwd_wins}, jacrev in {len(sub) - fwd_wins}; median time "
                 f"jacfwd/jacrev = {ratio:.2f}.")
  skipped = [r for r in ok if r.get("skipped_jacfwd")]
  if skipped:
    comps = sorted({r["component"] for r in skipped})
    smallest = min(r["in_size"] for r in skipped)
    lines.append(f"jacfwd was not run in {len(skipped)} rows ({', '.join(comps)}): "
                 f"their inputs have ≥{smallest} entries, so its identity basis "
                 f"would have ≥{smallest ** 2:.2g} entries (> --max_basis_entries).")
  # Network Jacobian w.r.t. x: multiclass [C, D] and score [D].
  for dtype_name in DTYPES:
    for output in ("multiclass", "score"):
      r = _find(ok, "network_x", dtype_name, output=output)
      if r and r.get("time_jacfwd_s") and r.get("time_jacrev_s"):
        lines.append(
            f"network_x at CS224n sizes, {output} ({_shape_label(r)}, {dtype_name}): "
            f"jacfwd {_ms(r['time_jacfwd_s'])} ms, jacrev {_ms(r['time_jacrev_s'])} ms "
            f"(jacfwd/jacrev = {r['time_jacfwd_s'] / r['time_jacrev_s']:.2f}); "
            f"hand {_ms(r['time_hand_s'])} ms.")
  # Hand vs the better AD mode.
  for dtype_name in DTYPES:
    sub = [r for r in ok if r["dtype"] == dtype_name and _best_ad(r)[1]]
    if not sub:
      continue
    ratios = {}
    for r in sub:
      ratios.setdefault(r["component"], []).append(r["time_hand_s"] / _best_ad(r)[1])
    no_slower = sum(v <= 1 for vs in ratios.values() for v in vs)
    faster = {c: vs for c, vs in ratios.items() if statistics.median(vs) < 1 / _CLEAR}
    slower = {c: vs for c, vs in ratios.items() if statistics.median(vs) > _CLEAR}
    text = (f"**Hand vs the better AD mode, {dtype_name}**: the hand Jacobian was no "
            f"slower in {no_slower} of {len(sub)} rows. By the median over each "
            f"component's sizes of time hand / better AD, it is more than "
            f"{_CLEAR}× faster for ")
    describe = lambda d: ", ".join(
        f"{c} ({statistics.median(v):.2g}, range {min(v):.2g}–{max(v):.2g})"
        for c, v in sorted(d.items(), key=lambda kv: statistics.median(kv[1])))
    text += (describe(faster) or "none") + f"; more than {_CLEAR}× slower for "
    text += (describe(slower) or "none")
    rest = len(ratios) - len(faster) - len(slower)
    lines.append(text + f"; the other {rest} components are within {_CLEAR}× (at "
                 "these sizes mostly per-call overhead of a few µs).")
  # The verdict at CS224n sizes.
  for component in _NETWORKS:
    for dtype_name in DTYPES:
      r = _find(ok, component, dtype_name, output="multiclass")
      if not r:
        continue
      best, best_t = _best_ad(r)
      if best_t is None:
        continue
      ratio = r["time_hand_s"] / best_t
      paired = sorted(h / b for h, b in zip(r["samples_hand_s"], r[f"samples_{best}_s"]))
      q1, q3 = np.percentile(paired, [25, 75])
      if ratio <= 1:
        verdict = "no slower than"
      elif q1 <= 1:
        verdict = "within the timing noise of"
      else:
        verdict = "slower than"
      flops = ""
      if r.get("flops_hand") and r.get(f"flops_{best}"):
        flops = (f"; XLA estimates {r['flops_hand']:.3g} flops for hand vs "
                 f"{r[f'flops_{best}']:.3g} for {best}")
      lines.append(
          f"**{component} at CS224n sizes ({_shape_label(r)}, {dtype_name})**: hand "
          f"{_ms(r['time_hand_s'])} ms is {verdict} the better AD mode ({best} "
          f"{_ms(best_t)} ms; hand/{best} = {ratio:.2f}, per-round paired ratios "
          f"{q1:.2f}–{q3:.2f} (quartiles of {len(paired)})){flops}.")
  return lines


def _find(rows, component, dtype_name, **match):
  for r in rows:
    if (r["component"] == component and r["dtype"] == dtype_name and r.get("cs224n")
        and all(r.get(k) == v for k, v in match.items())):
      return r
  return None


def _table(rows) -> list[str]:
  lines = ["| component | dtype | sizes | Jacobian | rel err jacfwd | rel err jacrev | "
           "rel err FD | hand ms | jacfwd ms | jacrev ms | hand / best AD |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
  for r in rows:
    if not _ok(r):
      lines.append(f"| {r['component']} | {r['dtype']} | {size_label(r)} | "
                   f"ERROR: {r['error'].splitlines()[0][:80]} | | | | | | | |")
      continue
    best, best_t = _best_ad(r)
    ratio = f"{r['time_hand_s'] / best_t:.2f} ({best})" if best_t else "–"
    fd = _err(r.get("max_rel_err_fd"))
    if r.get("fd_columns", 0) < r.get("in_size", 0):
      fd += f" ({r['fd_columns']} cols)"
    lines.append(
        f"| {r['component']} | {r['dtype']} | {size_label(r)} | {_shape_label(r)} | "
        f"{_err(r.get('max_rel_err_jacfwd'))} | {_err(r.get('max_rel_err_jacrev'))} | "
        f"{fd} | {_ms(r.get('time_hand_s'))} | {_ms(r.get('time_jacfwd_s'))} | "
        f"{_ms(r.get('time_jacrev_s'))} | {ratio} |")
  return lines


def markdown(rows, *, command: str, meta: dict[str, Any]) -> str:
  lines = ["# Hand-written Jacobians vs jacfwd, jacrev and finite differences", "",
           f"`{command}`", "",
           ", ".join(f"{k}: {v}" for k, v in meta.items()), "",
           "Relative error = max|J_hand − J_ref| / max(max|J_ref|, tiny) over the "
           "whole Jacobian (all leaves); times are medians of jitted calls (two "
           "warm-up calls, then rounds calling hand, jacfwd and jacrev in rotated "
           "order, each call ended by `block_until_ready`); '–' = not run (see "
           "the JSON's `skipped_*`). Sizes: m window half-width, E word-vector dim, "
           "Fd casing-feature dim (d = E + Fd, D = (2m+1)·d), H hidden, C classes, "
           "B batch, T sentence length, k corruptions, V vocabulary.", "",
           "## Summary (computed from the rows)", ""]
  lines += [f"- {s}" for s in summary_sentences(rows)]
  failed = [r for r in rows if not _ok(r)]
  if failed:
    lines += ["", f"**{len(failed)} rows failed**: " + ", ".join(
        f"{r['component']} {r['dtype']} {size_label(r)}" for r in failed)]
  cs = [r for r in rows if r.get("cs224n")]
  if cs:
    lines += ["", "## At the CS224n sizes", ""] + _table(cs)
  dtype_name = "float32" if any(r["dtype"] == "float32" for r in rows) else "float64"
  growth = growth_rows(rows, dtype_name)
  if growth:
    lines += ["", f"## Growth with size ({dtype_name})", "",
              "Log-log slope of the median time against the swept axis (the "
              "window axis by its length 2m+1), the other axes at the CS224n "
              "values; 'entries' is the slope of the Jacobian's size. A slope "
              "well below 'entries' means fixed per-call costs dominate at these "
              "sizes.", "",
              "| component | axis | values | entries | hand | jacfwd | jacrev |",
              "|---|---|---|---|---|---|---|"]
    for g in growth:
      fmt = lambda v: "–" if v is None else f"{v:.2f}"
      lines.append(f"| {g['component']} | {g['axis']} | "
                   f"{', '.join(map(str, g['values']))} | {fmt(g['entries'])} | "
                   f"{fmt(g['hand'])} | {fmt(g['jacfwd'])} | {fmt(g['jacrev'])} |")
  lines += ["", "## All rows", ""] + _table(rows)
  return "\n".join(lines) + "\n"


def plot(rows, path: str) -> None:
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

  ok = [r for r in rows if _ok(r)]
  fig, axes = plt.subplots(2, 2, figsize=(13, 10))
  colors = {"hand": "tab:green", "jacfwd": "tab:blue", "jacrev": "tab:orange",
            "fd": "tab:gray"}
  dtype_name = "float32" if any(r["dtype"] == "float32" for r in ok) else "float64"

  ax = axes[0, 0]
  for method in METHODS:
    pts = [(r["jacobian_entries"], r[f"time_{method}_s"]) for r in ok
           if r["dtype"] == dtype_name and r.get(f"time_{method}_s")]
    if pts:
      x, y = zip(*pts)
      ax.scatter(x, np.array(y) * 1e3, s=12, alpha=0.6, label=method,
                 color=colors[method])
  ax.set(xscale="log", yscale="log", xlabel="Jacobian entries",
         ylabel="median time (ms)", title=f"Time per Jacobian ({dtype_name})")
  if ax.get_legend_handles_labels()[0]:
    ax.legend()

  ax = axes[0, 1]
  for shape_class, marker in (("tall", "^"), ("square", "s"), ("wide", "v")):
    pts = [(r["out_size"] / r["in_size"], r["time_jacfwd_s"] / r["time_jacrev_s"])
           for r in ok if r["dtype"] == dtype_name and r["shape_class"] == shape_class
           and r.get("time_jacfwd_s") and r.get("time_jacrev_s")]
    if pts:
      x, y = zip(*pts)
      ax.scatter(x, y, s=14, marker=marker, alpha=0.7, label=shape_class)
  ax.axhline(1.0, color="k", lw=0.8)
  ax.axvline(1.0, color="k", lw=0.8, ls=":")
  ax.set(xscale="log", yscale="log", xlabel="outputs / inputs (tall > 1 > wide)",
         ylabel="time jacfwd / time jacrev (> 1: jacrev wins)",
         title=f"Forward vs reverse mode ({dtype_name})")
  if ax.get_legend_handles_labels()[0]:
    ax.legend()

  ax = axes[1, 0]
  names = list(COMPONENTS)
  floor = 1e-17
  for offset, method in zip((-0.25, 0.0, 0.25), ("jacfwd", "jacrev", "fd")):
    for dtype_name_, marker in (("float32", "o"), ("float64", "x")):
      pts = [(names.index(r["component"]) + offset,
              max(r[f"max_rel_err_{method}"], floor)) for r in ok
             if r["dtype"] == dtype_name_ and r.get(f"max_rel_err_{method}") is not None]
      if pts:
        x, y = zip(*pts)
        ax.scatter(x, y, s=10, marker=marker, color=colors[method], alpha=0.6,
                   label=f"{method} {dtype_name_}")
  ax.set_xticks(range(len(names)), names, rotation=70, fontsize=7)
  ax.set(yscale="log", ylabel=f"max relative error (0 drawn at {floor:g})",
         title="Hand Jacobian vs references")
  if ax.get_legend_handles_labels()[0]:
    ax.legend(fontsize=6, ncol=2)

  ax = axes[1, 1]
  for offset, dtype_name_ in zip((-0.2, 0.2), DTYPES):
    xs, ys = [], []
    for i, name in enumerate(names):
      r = _find(ok, name, dtype_name_)
      if r and r.get("cs224n") and _best_ad(r)[1]:
        xs.append(i + offset)
        ys.append(r["time_hand_s"] / _best_ad(r)[1])
    if xs:
      ax.bar(xs, ys, width=0.4, label=dtype_name_)
  ax.axhline(1.0, color="k", lw=0.8)
  ax.set_xticks(range(len(names)), names, rotation=70, fontsize=7)
  ax.set(yscale="log", ylabel="time hand / better of jacfwd, jacrev",
         title="Hand vs best AD at the CS224n sizes (< 1: hand wins)")
  if ax.get_legend_handles_labels()[0]:
    ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


# ---------------------------------------------------------------------------
# Main.
# ---------------------------------------------------------------------------


def _side_path(output: str, suffix: str) -> str:
  root, ext = os.path.splitext(output)
  return (root if ext == ".json" else output) + suffix


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments {argv[1:]}")
  smoke = _SMOKE.value
  repeats = 1 if smoke else _REPEATS.value
  for name in _DTYPES.value:
    if name not in DTYPES:
      raise app.UsageError(f"--dtypes: {name!r} is not one of {', '.join(DTYPES)}")
  components = _COMPONENTS.value or list(COMPONENTS)
  for name in components:
    if name not in COMPONENTS:
      raise app.UsageError(f"--components: {name!r} is not one of "
                           f"{', '.join(COMPONENTS)}")
  output = _OUTPUT.value
  if not output.endswith(".json"):
    raise app.UsageError(f"--output={output!r}: expected a path ending in .json")
  fd_eps = {"float32": _FD_EPS_FLOAT32.value, "float64": _FD_EPS_FLOAT64.value}
  command = "python " + " ".join(sys.argv)
  meta = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
          "jax": jax.__version__, "backend": jax.default_backend(),
          "device": str(jax.devices()[0]), "cpu_count": os.cpu_count(),
          "machine": platform.machine(), "repeats": repeats,
          "fd_dtype": _FD_DTYPE.value, "fd_eps": fd_eps,
          "fd_max_columns": _FD_MAX_COLUMNS.value,
          "max_basis_entries": _MAX_BASIS.value}

  rows = []
  start = time.perf_counter()
  for component in components:
    for point in size_points(component, smoke):
      for dtype_name in _DTYPES.value:
        try:
          row = measure(component, point, dtype_name, repeats=repeats,
                        fd_dtype=_FD_DTYPE.value, fd_eps=fd_eps,
                        fd_max_columns=_FD_MAX_COLUMNS.value,
                        max_basis=_MAX_BASIS.value, seed=_SEED.value)
        except Exception as e:  # pylint: disable=broad-except  # recorded, run goes on
          row = {"component": component, "dtype": dtype_name, **point,
                 "error": f"{type(e).__name__}: {e}\n"
                          + "".join(traceback.format_exc(limit=-4))}
          print(f"FAILED {component} {dtype_name} {size_label(row)}: {row['error']}",
                file=sys.stderr)
        rows.append(row)
        write_json_atomic(output, rows)
        if _ok(row):
          print(f"[{time.perf_counter() - start:6.1f}s] {component:<17} {dtype_name} "
                f"{size_label(row):<36} rel err fwd/rev/fd "
                f"{_err(row['max_rel_err_jacfwd'])}/{_err(row['max_rel_err_jacrev'])}/"
                f"{_err(row['max_rel_err_fd'])}  ms hand/fwd/rev "
                f"{_ms(row['time_hand_s'])}/{_ms(row['time_jacfwd_s'])}/"
                f"{_ms(row['time_jacrev_s'])}", flush=True)
  meta["total_seconds"] = round(time.perf_counter() - start, 1)
  text = markdown(rows, command=command, meta=meta)
  md_path, png_path = _side_path(output, ".md"), _side_path(output, ".png")
  with open(md_path + ".tmp", "w") as f:
    f.write(text)
  os.replace(md_path + ".tmp", md_path)
  plot(rows, png_path)
  print(text)
  print(f"wrote {output}, {md_path}, {png_path}")
  failed = [r for r in rows if not _ok(r)]
  if failed:
    print(f"{len(failed)} of {len(rows)} rows failed", file=sys.stderr)
    return 1
  return 0


if __name__ == "__main__":
  app.run(main)
