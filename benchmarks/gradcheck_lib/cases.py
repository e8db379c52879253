"""What a gradient-check component is, the sizes it is measured at, and input helpers.

A **component** is one hand Jacobian: ``Component.build(sizes, rng, dtype)``
returns a ``Case`` (the forward function, its hand Jacobian, the point).
It is measured at the CS224n configuration of the throughput benchmark and
along each of its size ``axes`` one at a time (the other axes held there), plus
one CS224n point per non-default value of each of its ``settings`` (e.g. each
activation of the registry for the whole network).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from wincls.data import vocab as vocab_lib

Array = jax.Array

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
# The model settings a component may vary (the first value of its
# ``settings`` is the default, recorded in every row; the CS224n model).
DEFAULT_SETTINGS = {"output": "multiclass", "activation": "tanh", "window": "concat"}
MARGIN = 1.0
# The casing feature table of wincls/data/vocab.py: the one feature of every input.
CASING_SIZE = vocab_lib.FEATURE_SIZES["casing"]
DTYPES = {"float32": np.float32, "float64": np.float64}


@dataclasses.dataclass(frozen=True)
class Case:
  """One Jacobian to check: ``fn(wrt, const)`` and its hand Jacobian w.r.t. ``wrt``.

  ``hand(wrt, const)`` returns a pytree shaped like ``wrt`` whose leaves are
  ``output shape + leaf shape``, as ``jax.jacfwd(fn)(wrt, const)`` does.
  ``sizes``: size fields the case really has where its part sets them itself
  (a feature's ``dim(config)`` is its ``feature_dim``, whatever the point
  asked); the row records these, so its label reads the true size.
  """

  fn: Callable[[Any, Any], Array]
  hand: Callable[[Any, Any], Any]
  wrt: Any
  const: Any
  sizes: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Component:
  """A hand Jacobian and the sizes to measure it at.

  Attributes:
    build: ``(sizes, rng, dtype) -> Case``; ``sizes`` is one of ``size_points``.
    axes: the size axes swept (keys of ``AXES``).
    fixed: further size fields the builder reads, held at the CS224n values.
    settings: ``{field: (default, other values...)}``: one extra point per
      other value (fields of ``DEFAULT_SETTINGS``).
  """

  build: Callable[[Mapping[str, Any], np.random.Generator, Any], Case]
  axes: tuple[str, ...]
  fixed: tuple[str, ...] = ()
  settings: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)


def word_dim(s) -> int:
  """d = E + Fd: one position's vector (word vector and one casing feature)."""
  return s["embed_dim"] + s["feature_dim"]


def window_len(s) -> int:
  return 2 * s["window_size"] + 1


def size_points(component: Component, smoke: bool) -> list[dict[str, Any]]:
  """The sizes of one component: the CS224n point, each axis swept, each setting.

  ``smoke``: only the ``SMOKE`` point, with the default settings.
  """
  point = {k: (SMOKE if smoke else CS224N)[k] for k in component.axes + component.fixed}
  point.update({field: values[0] for field, values in component.settings.items()})
  if smoke:
    points = [dict(point, swept="smoke", cs224n=False)]
  else:
    points = [dict(point, swept="cs224n", cs224n=True)]
    for axis in component.axes:
      points += [dict(point, **{axis: value}, swept=axis, cs224n=False)
                 for value in AXES[axis] if value != CS224N[axis]]
    for field, values in component.settings.items():
      points += [dict(point, **{field: value}, swept=field, cs224n=True)
                 for value in values[1:]]
  for p in points:
    if "window_size" in p:
      p["window_len"] = window_len(p)
    if "embed_dim" in p:
      p["word_dim"] = word_dim(p)
      if "window_size" in p:
        p["window_dim"] = p["window_len"] * p["word_dim"]
  return points


def cast(tree, dtype):
  """Float numpy/jax leaves to ``dtype`` (jnp arrays); other leaves as jnp arrays."""
  def leaf(a):
    a = np.asarray(a)
    if np.issubdtype(a.dtype, np.floating):
      return jnp.asarray(a.astype(dtype))
    return jnp.asarray(a)
  return jax.tree.map(leaf, tree)


def block_diagonal(g: Array) -> Array:
  """``[B, ...] -> [B, B, ...]``: the Jacobian of a per-example map from its blocks."""
  batch = g.shape[0]
  eye = jnp.eye(batch, dtype=g.dtype).reshape((batch, batch) + (1,) * (g.ndim - 1))
  return eye * g[None]


def glorot(rng: np.random.Generator, out_dim: int, in_dim: int) -> np.ndarray:
  limit = math.sqrt(6.0 / (out_dim + in_dim))
  return rng.uniform(-limit, limit, size=(out_dim, in_dim))


def spaced_scores(rng: np.random.Generator, rows: int, cols: int | None = None
                  ) -> np.ndarray:
  """Scores on a 0.3 grid plus noise below 0.02, so that no hinge sits on its kink.

  ``[rows, cols]``: each row a random order of ``0.3 (k - cols/2)``, k < cols,
  so no two scores of a row tie and every hinge term ``Δ + s_a - s_b`` (Δ = 1)
  is ``1 + 0.3 j + noise``, at least 0.06 from 0. ``cols=None``: ``[rows]``
  scores ``0.3 (k - 4)``, k < 8, whose terms ``Δ ± s`` are at least 0.08 from 0.
  Either way the subgradients are the gradients and central differences see no
  kink.
  """
  if cols is None:
    return 0.3 * (rng.integers(0, 8, size=rows) - 4) + rng.uniform(-0.02, 0.02, rows)
  grid = np.stack([rng.permutation(cols) for _ in range(rows)]).astype(np.float64)
  return 0.3 * (grid - cols / 2) + rng.uniform(-0.02, 0.02, size=(rows, cols))


def smooth_points(forward: Callable[[Array], Array], derivative: Callable[[Array], Array],
                  draw: Callable[[int], np.ndarray], size: int, *, gap: float = 0.1,
                  tries: int = 100) -> np.ndarray:
  """``size`` points at which the elementwise ``forward`` has no kink within ~``gap``.

  An entry is redrawn while ``derivative`` disagrees by more than ``gap / 10``
  with the central difference of ``forward`` over ``±gap`` (a smooth function's
  difference is off by ``|f'''| gap² / 6``; a kink at distance δ < gap with a
  unit slope jump puts it off by ``(gap - δ) / (2 gap)``). Works for any
  activation of the registry without knowing where its kinks are.
  """
  z = draw(size)
  for _ in range(tries):
    zj = jnp.asarray(z)
    diff = (forward(zj + gap) - forward(zj - gap)) / (2 * gap)
    bad = np.abs(np.asarray(diff) - np.asarray(derivative(zj))) > gap / 10
    if not bad.any():
      return z
    z = np.where(bad, draw(size), z)
  raise ValueError(f"benchmarks/gradcheck_lib/cases.py: no smooth points after {tries} "
                   "draws (is the derivative wrong everywhere?)")
