"""The whole-network components: ``wincls/model/jacobians.py`` on the library's forward.

* ``network_x``, ``network_params``: ``jacobians.network_jacobians`` (the scores
  w.r.t. one window vector x, and w.r.t. the dense parameters), differentiated
  through ``network.head``, at x = the window vector ``network.forward`` computes;
* ``model_params``: ``jacobians.model_jacobians`` (the scores w.r.t. every
  parameter but the CRF's, tables and window parameters included),
  differentiated through ``network.apply`` from one window of word ids.

The CS224n model (concat window, tanh, multiclass) is the default; each
activation of ``layers.ACTIVATIONS``, each window of ``windows.WINDOWS`` and
the score output get a point of their own (``Component.settings``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.gradcheck_lib import cases
from wincls import config as config_lib
from wincls.data import vocab as vocab_lib
from wincls.model import jacobians
from wincls.model import layers
from wincls.model import network
from wincls.model import windows

AXES = ("window_size", "embed_dim", "hidden_size", "num_classes")
FIXED = ("feature_dim", "vocab_size")
# The parameters network_jacobians differentiates (the layers after x).
DENSE = network.HIDDEN + ("output",)


def model_config(s) -> config_lib.ModelConfig:
  """The model at the sizes and settings of a size point."""
  settings = {k: s.get(k, v) for k, v in cases.DEFAULT_SETTINGS.items()}
  return config_lib.ModelConfig(
      vocab_size=s["vocab_size"], feature_sizes=(cases.CASING_SIZE,),
      num_classes=s["num_classes"], window_size=s["window_size"],
      embed_dim=s["embed_dim"], feature_dim=s["feature_dim"], classifier="hidden",
      hidden_size=s["hidden_size"], **settings)


def random_params(config: config_lib.ModelConfig, rng: np.random.Generator):
  """Random float64 numpy params with ``network.init_params``'s exact structure.

  The structure and shapes come from ``jax.eval_shape(network.init_params)`` (no
  compilation); the values are Glorot-uniform for matrices (``u`` as ``[1, H]``),
  ``N(0, 0.1²)`` for tables, biases and window parameters, so none is zero.
  """
  shapes = jax.eval_shape(lambda k: network.init_params(k, config=config),
                          jax.random.key(0))

  def leaf(path, shape_dtype):
    shape, name = shape_dtype.shape, jax.tree_util.keystr(path)
    if len(shape) == 2 and "embed" not in name:
      return cases.glorot(rng, *shape)
    if name.endswith("['u']"):
      return cases.glorot(rng, 1, shape[0])[0]
    return 0.1 * rng.normal(size=shape)
  return jax.tree_util.tree_map_with_path(leaf, shapes)


def window_inputs(config: config_lib.ModelConfig, rng: np.random.Generator):
  """One window's ``(window_ids [W], feature_ids [W, 1])``, int32.

  Words are drawn from the non-reserved ids; the first position is ``<s>`` (a
  window at a sentence start: masked for ``masked_average``) and, from W = 3,
  the last repeats the second word (its table row gets both contributions).
  """
  window_len = config.window_len
  window_ids = rng.integers(len(vocab_lib.RESERVED), config.vocab_size,
                            size=window_len).astype(np.int32)
  if window_len > 1:
    window_ids[0] = vocab_lib.BOS
  if window_len > 2:
    window_ids[-1] = window_ids[1]
  feature_ids = rng.integers(0, cases.CASING_SIZE, size=(window_len, 1)).astype(np.int32)
  return jnp.asarray(window_ids), jnp.asarray(feature_ids)


def _network_case(wrt_name: str):
  """``network_x`` or ``network_params``: through ``network.head``."""
  def build(s, rng, dtype):
    config = model_config(s)
    params = cases.cast(random_params(config, rng), dtype)
    window_ids, feature_ids = window_inputs(config, rng)
    x = jax.jit(lambda p, w, f: network.forward(p, w, f, config=config)[1]["inputs"][0])(
        params, window_ids[None], feature_ids[None])[0]
    dense = {k: v for k, v in params.items() if k in DENSE}
    if wrt_name == "x":
      return cases.Case(
          fn=lambda v, c: network.head(c, v, config=config)[0],
          hand=lambda v, c: jacobians.network_jacobians(c, v, config=config)["x"],
          wrt=x, const=dense)

    def hand(v, c):
      jac = jacobians.network_jacobians(v, c["x"], config=config)
      return {k: jac[k] for k in v}
    return cases.Case(fn=lambda v, c: network.head(v, c["x"], config=config)[0],
                      hand=hand, wrt=dense, const={"x": x})
  return build


def _model_case(s, rng, dtype):
  """``model_params``: through ``network.apply`` from word ids."""
  config = model_config(s)
  params = cases.cast(random_params(config, rng), dtype)
  window_ids, feature_ids = window_inputs(config, rng)
  return cases.Case(
      fn=lambda v, c: network.apply(v, c["window_ids"][None], c["feature_ids"][None],
                                    config=config)[0],
      hand=lambda v, c: jacobians.model_jacobians(v, c["window_ids"], c["feature_ids"],
                                                  config=config),
      wrt={k: v for k, v in params.items() if k != "crf"},
      const={"window_ids": window_ids, "feature_ids": feature_ids})


def _default_first(name: str, names) -> tuple[str, ...]:
  return (name,) + tuple(n for n in names if n != name)


def components() -> dict[str, cases.Component]:
  """``network_x``, ``network_params`` and ``model_params`` with their settings."""
  outputs = _default_first(cases.DEFAULT_SETTINGS["output"], config_lib.OUTPUTS)
  activations = _default_first(cases.DEFAULT_SETTINGS["activation"], layers.ACTIVATIONS)
  window_names = _default_first(cases.DEFAULT_SETTINGS["window"], windows.WINDOWS)
  head_settings = {"output": outputs, "activation": activations}
  return {
      "network_x": cases.Component(_network_case("x"), AXES, FIXED, head_settings),
      "network_params": cases.Component(_network_case("params"), AXES, FIXED,
                                        head_settings),
      "model_params": cases.Component(_model_case, AXES, FIXED,
                                      {"output": outputs, "window": window_names}),
  }
