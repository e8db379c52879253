"""Whole-network Jacobians by the chain rule, and per-position saliency norms.

The Jacobian of each piece sits beside the piece (``layers``, ``windows``,
``losses``, ``crf``); this module chains them over ``network.head``'s cache
(the one forward pass), in numerator layout with full matrices, e.g.
``∂s/∂x = uᵀ diag(f'(z)) W`` for one hidden layer and a score output, and then
through the window spec's Jacobians and the embedding lookup. No function here
calls JAX's autodiff; ``tests/test_jacobians.py`` checks each against
``jax.jacfwd``/``jax.jacrev`` in float64.
"""

from __future__ import annotations

from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from wincls.model import settings as config_lib
from wincls.model import layers
from wincls.model import network
from wincls.model import windows

Array = jax.Array


def network_jacobians(params: Mapping[str, Any], x: Array, *,
                      config: config_lib.ModelConfig) -> dict[str, Any]:
  """Jacobians of the scores w.r.t. one window vector ``x [D]`` and the dense parameters.

  Going backwards from ``s = U h_L + c`` (or ``uᵀ h_L``):
  ``∂s/∂z_l = ∂s/∂h_l · diag(f'(z_l))``, ``∂s/∂W_l = ∂s/∂z_l · ∂z_l/∂W_l``,
  ``∂s/∂b_l = ∂s/∂z_l``, ``∂s/∂h_{l-1} = ∂s/∂z_l · W_l``. The diagonal of
  ``diag(f'(z))`` and the outer-product structure of ``∂z/∂W``
  (``∂z_i/∂W_jk = δ_ij x_k``) are used rather than multiplied out (equal to
  ``upstream @ layers.activation_jacobian`` and ``tensordot(dz,
  layers.affine_jacobian_W, 1)``, without their O(H²) and O(H²D) work).

  Returns:
    ``{"x": J_x, "hidden": {"W", "b"}, "hidden2": ..., "output": {"W", "b"} |
    {"u"}}`` (the parts the config has); each leaf ``lead + variable shape`` with
    ``lead = [C]`` for output="multiclass" and ``[]`` for "score".
  """
  _, cache = network.head(params, x, config=config)
  hs, zs = cache["inputs"], cache["zs"]
  h_last = hs[-1]
  jac: dict[str, Any] = {}
  if config.output == "multiclass":
    W, b = params["output"]["W"], params["output"]["b"]
    jac["output"] = {"W": layers.affine_jacobian_W(h_last, W, b),
                     "b": layers.affine_jacobian_b(h_last, W, b)}
    upstream = layers.affine_jacobian_x(h_last, W, b)  # [C, H_L]
  else:
    u = params["output"]["u"][None, :]  # s = uᵀ h: affine with a [1, H] matrix
    jac["output"] = {"u": layers.affine_jacobian_W(h_last, u, None)[0, 0]}
    upstream = layers.affine_jacobian_x(h_last, u, None)  # [1, H_L]
  derivative = layers.activation(config.activation).derivative
  for layer in reversed(range(len(zs))):
    dz = upstream * derivative(zs[layer])  # [C, H]
    jac[network.HIDDEN[layer]] = {"W": dz[:, :, None] * hs[layer][None, None, :],
                                  "b": dz}
    upstream = dz @ params[network.HIDDEN[layer]]["W"]
  jac["x"] = upstream
  if config.output == "score":
    jac = jax.tree.map(lambda leaf: leaf[0], {k: v for k, v in jac.items()
                                             if k != "output"}) | {"output": jac["output"]}
  return jac


def model_jacobians(params: Mapping[str, Any], window_ids: Array,
                    feature_ids: Array | None, *,
                    config: config_lib.ModelConfig) -> dict[str, Any]:
  """Jacobians of ``network.apply``'s scores (one window, no dropout) w.r.t. params.

  ``∂s/∂L = ∂s/∂x · ∂x/∂e · ∂e/∂L``: ``network_jacobians`` chained with the
  window spec's ``jacobian [D, W, d]`` (and ``jacobian_params`` for a window with
  parameters) and the embedding Jacobians ``[W, d, V, E]``/``[W, d, F_k, Fd]``.

  Args:
    window_ids: int ``[W]``.
    feature_ids: int ``[W, K]`` or None.

  Returns:
    A pytree like ``params`` (without "crf"), each leaf ``lead + leaf shape``.
  """
  tables = params["embed"]
  spec = windows.get(config.window)
  vectors = windows.embed(tables, window_ids, feature_ids, config)
  mask = network.real_positions(window_ids)
  x = spec.forward(params.get("window"), vectors, mask)
  jac = network_jacobians(params, x, config=config)
  jac_x = jac.pop("x")
  if spec.jacobian_params is not None:
    jac["window"] = jax.tree.map(lambda j: jnp.tensordot(jac_x, j, axes=1),
                                 spec.jacobian_params(params["window"], vectors, mask))
  d_vectors = jnp.tensordot(jac_x, spec.jacobian(params.get("window"), vectors, mask),
                            axes=1)  # lead + [W, d]
  jac["embed"] = {
      "words": jnp.tensordot(
          d_vectors, windows.embed_jacobian_words(tables, window_ids, feature_ids,
                                                  config), axes=2),
      "features": [jax.tree.map(lambda j: jnp.tensordot(d_vectors, j, axes=2),
                                windows.embed_jacobian_features(
                                    tables, window_ids, feature_ids, k, config))
                   for k in range(len(tables.get("features", ())))]}
  return jac


def _position_norms(params: Any, window_ids, feature_ids, *,
                    config: config_lib.ModelConfig) -> Array:
  """``[N, W]`` norms ``‖∂s_pred/∂e_pos‖`` for a batch of windows."""
  spec = windows.get(config.window)
  vectors = windows.embed(params["embed"], window_ids, feature_ids, config)  # [N, W, d]
  mask = network.real_positions(window_ids)
  x = spec.forward(params.get("window"), vectors, mask)  # [N, D]

  def one(x_row):
    jac_x = network_jacobians(params, x_row, config=config)["x"]
    if config.output == "multiclass":
      scores, _ = network.head(params, x_row, config=config)
      jac_x = jac_x[jnp.argmax(scores)]  # [D]: the predicted class's row
    return jac_x

  grad_x = jax.vmap(one)(x)  # [N, D]
  _, grad_positions = jax.vmap(lambda p_v, m, g: spec.vjp(params.get("window"), p_v, m, g))(
      vectors, mask, grad_x)  # [N, W, d]
  return jnp.linalg.norm(grad_positions, axis=-1)


def position_norms(params: Any, window_ids: np.ndarray, feature_ids: np.ndarray, *,
                   config: config_lib.ModelConfig, batch_size: int = 2048) -> np.ndarray:
  """What each window position contributes: mean over windows of ``‖∂s/∂e_pos‖₂``.

  ``s`` is the score of the class the model predicts (the single score for
  output="score") and ``e_pos`` the position's input vector. For ``concat``
  each position has its own block of ``W``, so the norms show what the model
  learnt to look at; for ``average`` ``∂s/∂e_pos = ∂s/∂x / (2m+1)`` at every
  position: equal by construction; for ``weighted`` they scale with ``|a_pos|``.

  Args:
    params: one model's parameters (no seed axis).
    window_ids: int ``[N, 2m+1]``.
    feature_ids: int ``[N, 2m+1, K]``.
    config: the model's settings.
    batch_size: windows per jitted call (the last call is padded).

  Returns:
    float64 ``[2m+1]``: entry ``m + k`` is position ``k`` (0 = the centre word).
  """
  if len(window_ids) == 0:
    raise ValueError("position_norms: no windows")
  fn = jax.jit(lambda p, w, f: _position_norms(p, w, f, config=config))
  total = np.zeros(config.window_len)
  count = 0
  for start in range(0, len(window_ids), batch_size):
    w = window_ids[start:start + batch_size]
    f = feature_ids[start:start + batch_size]
    n = len(w)
    if n < batch_size:  # pad to one shape: one compile
      w = np.concatenate([w, np.repeat(w[-1:], batch_size - n, 0)])
      f = np.concatenate([f, np.repeat(f[-1:], batch_size - n, 0)])
    norms = np.asarray(fn(params, jnp.asarray(w), jnp.asarray(f)), np.float64)
    total += norms[:n].sum(0)
    count += n
  return total / count
