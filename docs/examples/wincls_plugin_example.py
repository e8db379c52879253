"""A plugin: a window, a loss and an activation of my own, from outside wincls/.

Each part is a formula with its hand derivative beside it and one
``register(name, spec)``. Train and tag with it (docs/extending.md)::

    PYTHONPATH=docs/examples python experiments/train.py --plugins=wincls_plugin_example \
        --window=maxpool --loss=squared_hinge --activation=softplus --workdir=W
    python experiments/predict.py --workdir=W --input=FILE --output=OUT   # no --plugins

and check the derivatives as the package checks its own::

    from wincls import testing
    testing.check_window(wincls_plugin_example.MAXPOOL)

tests/test_plugins.py does all of this.
"""

import jax
import jax.numpy as jnp

from wincls.model import layers
from wincls.model import losses
from wincls.model import windows


# A window: x_i = max_q e[q, i], the element-wise max over the 2m+1 positions.
# The max takes the first position holding it (argmax), so its derivative is
# one-hot there, and jax.grad of this forward agrees at ties.


def _argmax_positions(vectors):
  return jnp.argmax(vectors, axis=-2)  # [..., d]


def maxpool(p, vectors, mask):
  del p, mask
  best = _argmax_positions(vectors)
  return jnp.take_along_axis(vectors, best[..., None, :], axis=-2)[..., 0, :]


def maxpool_jacobian(p, vectors, mask):
  """``∂x_i/∂e[q, j] = δ_ij 1[q = argmax_q e[q, i]]``: ``[d, W, d]``."""
  del p, mask
  window_len, d = vectors.shape
  chosen = _argmax_positions(vectors)[:, None] == jnp.arange(window_len)[None, :]
  return chosen.astype(vectors.dtype)[:, :, None] * jnp.eye(d, dtype=vectors.dtype)[:, None, :]


def maxpool_vjp(p, vectors, mask, g):
  """Each ``g_i`` goes to the position that won coordinate i."""
  del p, mask
  chosen = _argmax_positions(vectors)[..., None, :] == jnp.arange(vectors.shape[-2])[:, None]
  return None, chosen.astype(g.dtype) * g[..., None, :]


MAXPOOL = windows.WindowSpec(
    forward=maxpool, out_dim=lambda window_len, d: d, jacobian=maxpool_jacobian,
    vjp=maxpool_vjp, help="element-wise max over the positions (a plugin)")
windows.register("maxpool", MAXPOOL)


# A loss: the squared Weston–Watkins hinge Σ_{c≠y} max(0, Δ + s_c − s_y)².


def squared_hinge(*, scores, labels, margin=1.0):
  y = jax.nn.one_hot(labels, scores.shape[-1], dtype=scores.dtype)
  true = jnp.sum(y * scores, axis=-1, keepdims=True)
  return jnp.sum((1.0 - y) * jax.nn.relu(margin + scores - true) ** 2, axis=-1)


def squared_hinge_gradient(*, scores, labels, margin=1.0):
  """``a_c = 2 (1 − y_c) max(0, Δ + s_c − s_y)`` at c ≠ y and ``−Σ a`` at y."""
  y = jax.nn.one_hot(labels, scores.shape[-1], dtype=scores.dtype)
  true = jnp.sum(y * scores, axis=-1, keepdims=True)
  active = 2.0 * (1.0 - y) * jax.nn.relu(margin + scores - true)
  return active - y * jnp.sum(active, axis=-1, keepdims=True)


SQUARED_HINGE = losses.LossSpec(
    forward=squared_hinge, gradient=squared_hinge_gradient, outputs=("multiclass",),
    help="squared Weston–Watkins hinge (a plugin)", uses_margin=True)
losses.register("squared_hinge", SQUARED_HINGE)


# An activation: softplus log(1 + e^z), f' = σ(z).

SOFTPLUS = layers.Activation(forward=jax.nn.softplus, derivative=jax.nn.sigmoid,
                             help="log(1 + e^z); f' = σ(z) (a plugin)")
layers.register("softplus", SOFTPLUS)
