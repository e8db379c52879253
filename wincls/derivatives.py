"""How a hand derivative is compared with autodiff's, for ``wincls.testing``'s checkers.

Float64, per leaf the worst relative error ``‖hand − ref‖∞ / max(‖ref‖∞, 1e-6)``
against ``RTOL``; a non-finite value is named as such, and whose it is (the
forward on a case, the hand derivative, or autodiff's reference), before any
error is computed, so a part that is undefined somewhere is not read as a wrong
derivative. ``assert_close`` is public (``wincls.testing.assert_close``); the
rest serves the checkers.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.test_util import check_grads

Array = jax.Array

RTOL = 1e-10
# The programs here run once: LLVM's cheap pipeline halves their compile time.
FAST = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


def jit(f: Callable) -> Callable:
  return jax.jit(f, compiler_options=FAST)


def name_of(fn: Callable) -> str:
  return getattr(fn, "__qualname__", None) or repr(fn)


def role_of(role: str, fn: Callable) -> str:
  """``"jacobian maxpool_jacobian"``: what a part's function is and its name (two
  lambdas have one name)."""
  return f"{role} {name_of(fn)}"


def nonfinite(a: np.ndarray) -> str:
  """What the first non-finite entry of ``a`` is: ``nan``, ``inf`` or ``-inf``."""
  bad = a[~np.isfinite(a)]
  return str(bad.flat[0]) if bad.size else ""


def assert_finite(what: str, values: Any, labels: Sequence[str]) -> None:
  """Each case's values (leaves with a leading axis, one row per ``labels``)
  finite; otherwise ``AssertionError``: ``<what> gives nan on <case>``."""
  for i, label in enumerate(labels):
    for leaf in jax.tree.leaves(values):
      bad = nonfinite(np.asarray(leaf[i]))
      if bad:
        raise AssertionError(f"{what} gives {bad} on {label} (before any derivative is "
                             "compared: the forward pass itself is undefined there)")


def assert_close(label: str, hand: Any, ref: Any, rtol: float = RTOL) -> float:
  """Per leaf ``max|hand − ref| <= rtol · max(max|ref|, 1e-6)``; the worst ratio.

  Raises:
    AssertionError: naming ``label``, the leaf and the worst relative error; a
      non-finite hand value, or autodiff's, is named as such.
  """
  hand_leaves, hand_def = jax.tree.flatten(hand)
  ref_with_path, ref_def = jax.tree_util.tree_flatten_with_path(ref)
  if hand_def != ref_def:
    raise AssertionError(f"{label}: the hand result's structure {hand_def} is not "
                         f"autodiff's {ref_def}")
  worst, where = 0.0, ""
  for (path, b), a in zip(ref_with_path, hand_leaves):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
      raise AssertionError(f"{label}{jax.tree_util.keystr(path)}: hand shape "
                           f"{a.shape}, autodiff's {b.shape}")
    for whose, values in (("the hand derivative", a), ("autodiff's reference", b)):
      if nonfinite(values):
        hint = ""
        if whose.startswith("autodiff"):
          hint = (" (the forward is finite there, its derivative is not: a "
                  "jnp.where whose other branch is nan or inf?)")
        raise AssertionError(f"{label}{jax.tree_util.keystr(path)}: {whose} gives "
                             f"{nonfinite(values)}{hint}")
    scale = max(float(np.max(np.abs(b), initial=0.0)), 1e-6)
    err = float(np.max(np.abs(a - b), initial=0.0)) / scale
    if not err <= worst:
      worst, where = err, jax.tree_util.keystr(path)
  if not worst <= rtol:
    raise AssertionError(f"{label}{where}: worst relative error {worst:.3g} > {rtol:g}")
  return worst


def compare(results: dict[str, tuple[Any, list[Any]]], rtol: float,
             labels: Sequence[str] | None = None) -> float:
  """The worst error of every (hand, reference) pair. ``labels``: the leaves'
  leading axis holds one case each, and a failure names the first failing case."""
  worst = 0.0
  for name, (hand, refs) in results.items():
    for ref in refs:
      if labels is None:
        worst = max(worst, assert_close(name, hand, ref, rtol))
        continue
      for i, label in enumerate(labels):
        pick = lambda t, i=i: jax.tree.map(lambda x: x[i], t)
        worst = max(worst, assert_close(f"{name} on {label}", pick(hand), pick(ref),
                                        rtol))
  return worst


def normal_like(tree: Any, rng: np.random.Generator, scale: float = 1.0) -> Any:
  return jax.tree.map(lambda s: jnp.asarray(scale * rng.normal(size=s.shape)), tree)


def check_jvp(f: Callable, jvp: Callable, args: tuple, eps: float = 1e-4) -> None:
  """``check_grads`` of ``f`` with ``jvp(primals, tangents)`` as its derivative."""
  g = jax.custom_jvp(f)
  g.defjvp(lambda primals, tangents: (f(*primals), jvp(primals, tangents)))
  check_grads(jax.jit(g), args, order=1, modes=("fwd", "rev"), eps=eps)


def contract(jacobian: Any, tangent: Any) -> Array:
  """``Σ_leaves J·t`` for leaves ``[out...] + leaf shape``."""
  return sum(jnp.tensordot(j, t, axes=t.ndim) for j, t in
             zip(jax.tree.leaves(jacobian), jax.tree.leaves(tangent)))
