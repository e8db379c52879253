"""What each window position contributes: per-position Jacobian norms.

For a trained model and a dataset, the mean over windows of
``‖∂s/∂e_pos‖₂`` for each window position ``pos = -m..m``, where ``s`` is the
score of the class the model predicts (the single score for output="score")
and ``e_pos`` is the position's input vector (word vector and casing vector).
Computed with the hand calculus: ``jacobians.network_jacobians`` gives
``∂s/∂x`` (``uᵀ diag(f'(z)) W`` and its multi-layer/multi-class forms) and the
window representation's VJP splits it onto positions. For ``concat`` each
position has its own block of ``W``, so the norms show what the model learnt
to look at; for ``average`` ``∂s/∂e_pos = (1/(2m+1)) ∂s/∂x`` for every position,
so the norms are equal by construction: the representation cannot weigh
positions differently.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from wincls import config as config_lib
from wincls import jacobians
from wincls import layers


def _position_norms(params: Any, window_ids, feature_ids, *,
                    config: config_lib.ModelConfig) -> jax.Array:
  """``[N, window_len]`` norms ``‖∂s_pred/∂e_pos‖`` for a batch of windows."""
  vectors = layers.embed(params["embed"], window_ids, feature_ids)  # [N, W, d]
  x = layers.WINDOWS[config.window](vectors)  # [N, D]

  def one(x_row):
    jac_x = jacobians.network_jacobians(params, x_row, config=config)["x"]
    if config.output == "multiclass":
      scores = _scores_from_x(params, x_row, config=config)
      jac_x = jac_x[jnp.argmax(scores)]  # [D]: the predicted class's row
    return jac_x

  grad_x = jax.vmap(one)(x)  # [N, D]
  vjp = jacobians.WINDOW_VJPS[config.window]
  grad_positions = vjp(grad_x, config.window_len)  # [N, W, d]
  return jnp.linalg.norm(grad_positions, axis=-1)


def _scores_from_x(params: Any, x, *, config: config_lib.ModelConfig):
  h = x
  for name in ("hidden", "hidden2")[:_num_hidden(config)]:
    h = layers.ACTIVATIONS[config.activation](
        layers.affine(h, params[name]["W"], params[name]["b"]))
  return layers.affine(h, params["output"]["W"], params["output"]["b"])


def _num_hidden(config: config_lib.ModelConfig) -> int:
  if config.classifier != "hidden":
    return 0
  return 2 if config.hidden2_size > 0 else 1


def position_norms(params: Any, window_ids: np.ndarray, feature_ids: np.ndarray, *,
                   config: config_lib.ModelConfig, batch_size: int = 2048) -> np.ndarray:
  """Mean over windows of ``‖∂s/∂e_pos‖₂`` per position.

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
