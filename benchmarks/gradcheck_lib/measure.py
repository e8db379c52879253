"""One row of the gradient check: a hand Jacobian against jacfwd, jacrev and FD, timed.

Errors. Jacobians are pytrees shaped like the differentiated input, each leaf
``output shape + leaf shape`` (numerator layout). Over all leaves,
``max_abs_err = max|J_hand - J_ref|`` and
``max_rel_err = max|J_hand - J_ref| / max(max|J_ref|, tiny)``
with ``tiny`` the smallest normal float64 (a normwise relative error: one scale
per Jacobian, so an entry that should be 0 is not divided by itself).

Timing. Hand, jacfwd and jacrev are each jitted with every array (differentiated
or not) passed as an argument (nothing is constant-folded), compiled ahead of
time and called twice to warm up; then ``repeats`` rounds call each once, in an
order rotated per round so that load from other processes hits all three alike,
each call ended by ``block_until_ready``.
"""

from __future__ import annotations

import json
import statistics
import time
import zlib
from typing import Any, Callable

import jax
from jax.flatten_util import ravel_pytree
import jax.numpy as jnp
import numpy as np

from benchmarks.gradcheck_lib import cases

METHODS = ("hand", "jacfwd", "jacrev")


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


def time_jitted(fns: dict[str, Callable], args, repeats: int,
                compiler_options: dict | None = None) -> dict[str, dict]:
  """Times ``jit(fn)(*args)`` for each fn, interleaved so load drifts hit all alike.

  Each is compiled ahead of time and called once (warm-up, whose output is
  returned); one untimed round calls each again (the first call after the
  others' warm-ups measured 2-4x slow on a CPU); then ``repeats`` rounds call
  every fn once, in an order rotated each round, each call ended by
  ``block_until_ready``.

  ``compiler_options``: XLA options of every compile (``--smoke``: less
  optimisation, faster compiles).

  Returns:
    ``{name: {"median_s", "samples_s", "out" (numpy pytree), "flops"}}``.
  """
  compiled = {name: jax.jit(fn).lower(*args).compile(compiler_options)
              for name, fn in fns.items()}
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
  """(max abs error, max rel error) of two Jacobian pytrees (module docstring)."""
  if jax.tree.structure(hand) != jax.tree.structure(ref):
    raise ValueError(f"benchmarks/gradcheck: Jacobian structures differ: "
                     f"{jax.tree.structure(hand)} vs {jax.tree.structure(ref)}")
  err, scale = 0.0, 0.0
  for a, b in zip(jax.tree.leaves(hand), jax.tree.leaves(ref)):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
      raise ValueError(f"benchmarks/gradcheck: Jacobian shapes differ: "
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

  The denominator is the step actually taken after rounding.

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


def _describe(case: cases.Case) -> dict[str, Any]:
  """The Jacobian's shape fields of a row (no compilation)."""
  out = jax.eval_shape(case.fn, case.wrt, case.const)
  out_size = int(np.prod(out.shape, dtype=np.int64))
  leaves = jax.tree.leaves(case.wrt)
  in_size = sum(int(np.size(leaf)) for leaf in leaves)
  shape = (list(out.shape) + list(leaves[0].shape) if len(leaves) == 1
           else [list(out.shape) + list(leaf.shape) for leaf in leaves])
  return {"jacobian_shape": shape, "out_size": out_size, "in_size": in_size,
          "jacobian_entries": out_size * in_size,
          "shape_class": ("tall" if out_size > in_size else
                          "wide" if out_size < in_size else "square")}


def _time_and_compare(name: str, case: cases.Case, row: dict, *, repeats: int,
                      max_basis: int, compiler_options: dict | None = None
                      ) -> tuple[Any, dict[str, Any]]:
  """Times hand/jacfwd/jacrev into ``row`` and their errors; returns (hand, refs)."""
  basis = {"jacfwd": row["in_size"] ** 2, "jacrev": row["out_size"] ** 2}
  fns = {"hand": case.hand}
  for method, transform in (("jacfwd", jax.jacfwd), ("jacrev", jax.jacrev)):
    row.update(dict.fromkeys((f"max_abs_err_{method}", f"max_rel_err_{method}",
                              f"max_rel_err_fd_{method}")))
    if basis[method] > max_basis:
      row[f"skipped_{method}"] = (f"identity basis of {basis[method]} entries > "
                                  f"--max_basis_entries={max_basis}")
    else:
      fns[method] = transform(case.fn)
  timed = time_jitted(fns, (case.wrt, case.const), repeats, compiler_options)
  for method in METHODS:
    entry = timed.get(method, {})
    row[f"time_{method}_s"] = entry.get("median_s")
    row[f"samples_{method}_s"] = entry.get("samples_s")
    row[f"flops_{method}"] = entry.get("flops")
  hand = timed["hand"]["out"]
  if jax.tree.structure(hand) != jax.tree.structure(case.wrt):
    raise ValueError(f"benchmarks/gradcheck: the hand Jacobian of {name} has "
                     f"structure {jax.tree.structure(hand)}, expected that of the "
                     f"input {jax.tree.structure(case.wrt)}")
  refs = {m: timed[m]["out"] for m in ("jacfwd", "jacrev") if m in timed}
  for method, ref in refs.items():
    row[f"max_abs_err_{method}"], row[f"max_rel_err_{method}"] = compare(hand, ref)
  return hand, refs


def _fd_errors(case: cases.Case, hand, refs, row: dict, rng, *, fd_in: str,
               eps: float, fd_max_columns: int) -> None:
  """FD at a sample of the input coordinates, against hand and the AD Jacobians."""
  in_size, out_size = row["in_size"], row["out_size"]
  columns = np.arange(in_size)
  if in_size > fd_max_columns:
    columns = np.sort(rng.choice(in_size, size=fd_max_columns, replace=False))
  with jax.enable_x64(fd_in == "float64"):
    dtype = cases.DTYPES[fd_in]
    fd = finite_differences(case.fn, cases.cast(case.wrt, dtype),
                            cases.cast(case.const, dtype), eps=eps, columns=columns)
  abs_err, rel_err = compare(jacobian_columns(hand, out_size, columns), fd)
  row.update(max_abs_err_fd=abs_err, max_rel_err_fd=rel_err, fd_dtype=fd_in, fd_eps=eps,
             fd_columns=int(len(columns)))
  # The AD Jacobians against the same differences: how much of the hand
  # Jacobian's error vs FD is the dtype's rather than the hand form's.
  for method, ref in refs.items():
    row[f"max_rel_err_fd_{method}"] = compare(
        jacobian_columns(ref, out_size, columns), fd)[1]


def measure(name: str, component: cases.Component, point: dict[str, Any],
            dtype_name: str, *, repeats: int, fd_dtype: str, fd_eps: dict[str, float],
            fd_max_columns: int, max_basis: int, seed: int,
            compiler_options: dict | None = None) -> dict[str, Any]:
  """One row: errors and times of one component at one size in one dtype.

  The inputs are drawn from a generator seeded by ``seed``, the component's
  name and the point, so adding a component changes no other row's inputs.
  """
  row: dict[str, Any] = {"component": name, "dtype": dtype_name, **point}
  rng = np.random.default_rng(
      [seed, zlib.crc32(name.encode()),
       zlib.crc32(json.dumps(point, sort_keys=True).encode())])
  start = time.perf_counter()
  with jax.enable_x64(dtype_name == "float64"):
    case = component.build(point, rng, cases.DTYPES[dtype_name])
    row.update(case.sizes)
    row.update(_describe(case))
    hand, refs = _time_and_compare(name, case, row, repeats=repeats,
                                   max_basis=max_basis, compiler_options=compiler_options)
  fd_in = "float64" if fd_dtype == "float64" else dtype_name
  _fd_errors(case, hand, refs, row, rng, fd_in=fd_in, eps=fd_eps[fd_in],
             fd_max_columns=fd_max_columns)
  row["seconds"] = time.perf_counter() - start
  return row
