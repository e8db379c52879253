"""The components of the gradient check, read from the registries of ``wincls/model``.

``components()`` returns ``{name: cases.Component}``:

* ``affine_x``, ``affine_W``, ``affine_b``: ``layers.affine`` and its Jacobians;
* one per ``layers.ACTIVATIONS`` entry, named after it (``activation_jacobian``);
* ``softmax``, ``log_softmax``;
* per ``windows.WINDOWS`` entry ``window_<name>`` (``spec.jacobian``, w.r.t. the
  position vectors) and, for a window with parameters (``spec.init``),
  ``window_<name>_params`` (``spec.jacobian_params``);
* per ``features.FEATURES`` entry ``feature_<name>`` (``spec.jacobian`` w.r.t.
  its parameters, one word; ``chars``: the character CNN);
* ``embed`` (``windows.embed_jacobian_words``/``_features``);
* one per ``losses.LOSSES`` entry, named after it: a ``token`` or ``corrupted``
  loss against ``spec.gradient``, the ``sentence`` loss (the CRF NLL) w.r.t.
  the emissions and the CRF parameters;
* ``crf_log_partition`` (``crf.crf_log_partition_jacobian``);
* ``network_x``, ``network_params`` (``jacobians.network_jacobians`` w.r.t. the
  window vector and the dense parameters, on ``network.head``) with a point per
  activation and for the score output, and ``model_params``
  (``jacobians.model_jacobians`` on ``network.apply``, from word ids) with a
  point per window and for the score output.

So a new activation, window, loss or feature is checked with no edit here. Every forward
differentiated is the library's own; nothing here re-implements one.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.gradcheck_lib import cases
from benchmarks.gradcheck_lib import network_cases
from wincls.model import crf
from wincls import config as config_lib
from wincls.model import features
from wincls.model import layers
from wincls.model import losses
from wincls.model import settings
from wincls.model import windows

Component = cases.Component
_AFFINE_AXES = ("window_size", "embed_dim", "hidden_size")
_WINDOW_AXES = ("window_size", "embed_dim")


def _affine_case(which: str):
  hand_fns = {"x": layers.affine_jacobian_x, "W": layers.affine_jacobian_W,
              "b": layers.affine_jacobian_b}

  def build(s, rng, dtype):
    in_dim, out_dim = cases.window_len(s) * cases.word_dim(s), s["hidden_size"]
    args = {"x": rng.normal(size=in_dim), "W": cases.glorot(rng, out_dim, in_dim),
            "b": 0.1 * rng.normal(size=out_dim)}
    const = {k: v for k, v in args.items() if k != which}
    return cases.Case(fn=lambda v, c: layers.affine(**{which: v}, **c),
                      hand=lambda v, c: hand_fns[which](**{which: v}, **c),
                      wrt=cases.cast(args[which], dtype), const=cases.cast(const, dtype))
  return build


def _activation_case(name: str):
  """``z`` spread as 1.5·N(0, 1), about half beyond ±1, redrawn near any kink."""
  spec = layers.ACTIVATIONS[name]

  def build(s, rng, dtype):
    z = cases.smooth_points(spec.forward, spec.derivative,
                            lambda n: 1.5 * rng.normal(size=n), s["hidden_size"])
    return cases.Case(fn=lambda v, c: spec.forward(v),
                      hand=lambda v, c: layers.activation_jacobian(name, v),
                      wrt=cases.cast(z, dtype), const={})
  return build


def _softmax_case(log: bool):
  fn = layers.log_softmax if log else layers.softmax
  hand = layers.log_softmax_jacobian if log else layers.softmax_jacobian

  def build(s, rng, dtype):
    z = 2.0 * rng.normal(size=s["num_classes"])
    return cases.Case(fn=lambda v, c: fn(v), hand=lambda v, c: hand(v),
                      wrt=cases.cast(z, dtype), const={})
  return build


def _window_params(spec: windows.WindowSpec, window_len: int, d: int, rng):
  """The spec's initial parameters plus N(0, 0.1²), or None without parameters.

  The noise makes entries that ``init`` sets equal (``weighted``: all 1/W)
  differ, so that a Jacobian with its indices swapped does not pass.
  """
  if spec.init is None:
    return None
  key = jax.random.key(int(rng.integers(2**31)))
  p = spec.init(key, window_len, d, jnp.float32)
  return jax.tree.map(lambda a: np.asarray(a, np.float64)
                      + 0.1 * rng.normal(size=np.shape(a)), p)


def _window_case(name: str, wrt: str):
  """``window_<name>`` (``wrt="vectors"``) or ``window_<name>_params``.

  One window ``[W, d]``; its first position is masked (a window at a sentence
  start, ``<s>`` on the left) when W > 1.
  """
  spec = windows.WINDOWS[name]

  def build(s, rng, dtype):
    window_len, d = cases.window_len(s), cases.word_dim(s)
    vectors = rng.normal(size=(window_len, d))
    mask = np.ones(window_len, bool)
    if window_len > 1:
      mask[0] = False
    p = _window_params(spec, window_len, d, rng)
    if wrt == "vectors":
      return cases.Case(fn=lambda v, c: spec.forward(c["p"], v, c["mask"]),
                        hand=lambda v, c: spec.jacobian(c["p"], v, c["mask"]),
                        wrt=cases.cast(vectors, dtype),
                        const={"p": cases.cast(p, dtype), "mask": jnp.asarray(mask)})
    return cases.Case(fn=lambda v, c: spec.forward(v, c["vectors"], c["mask"]),
                      hand=lambda v, c: spec.jacobian_params(v, c["vectors"], c["mask"]),
                      wrt=cases.cast(p, dtype),
                      const={"vectors": cases.cast(vectors, dtype),
                             "mask": jnp.asarray(mask)})
  return build


def _embed_case(s, rng, dtype):
  window_len = cases.window_len(s)
  tables = {"words": 0.1 * rng.normal(size=(s["vocab_size"], s["embed_dim"])),
            "features": [0.1 * rng.normal(size=(cases.CASING_SIZE, s["feature_dim"]))]}
  window_ids = rng.integers(0, s["vocab_size"], size=window_len).astype(np.int32)
  window_ids[0] = window_ids[-1]  # a repeated word (its rows add up in the VJP)
  feature_ids = rng.integers(0, cases.CASING_SIZE, size=(window_len, 1)).astype(np.int32)
  const = {"window_ids": jnp.asarray(window_ids), "feature_ids": jnp.asarray(feature_ids)}

  def hand(v, c):
    ids, fids = c["window_ids"], c["feature_ids"]
    return {"words": windows.embed_jacobian_words(v, ids, fids),
            "features": [windows.embed_jacobian_features(v, ids, fids, 0)]}
  return cases.Case(fn=lambda v, c: windows.embed(v, c["window_ids"], c["feature_ids"]),
                    hand=hand, wrt=cases.cast(tables, dtype), const=const)


# A word per casing class, a long one and a non-Latin-1 one: each feature's
# inputs are its own spec's (``spec.inputs``), as in training.
_FEATURE_WORDS = ("Bundesverfassungsgericht", "Peter", "EU", "1996-08-22", "Zürich")


def _feature_case(name: str):
  """``feature_<name>``: ``spec.jacobian`` w.r.t. its parameters, one word."""
  spec = features.FEATURES[name]

  def build(s, rng, dtype):
    # Small character settings: jacfwd's identity basis grows with the square of
    # the parameter count (the [512, c] character table).
    config = settings.ModelConfig(vocab_size=8, features=(), feature_dim=s["feature_dim"],
                                  char_dim=3, char_filters=4, char_max_len=8)
    inputs = np.asarray(spec.inputs(list(_FEATURE_WORDS),
                                    config_lib.inputs_config(config)))
    word = jnp.asarray(inputs[rng.integers(0, len(inputs))])
    shapes = jax.eval_shape(lambda: spec.init(jax.random.key(0), spec.size, config,
                                              jnp.float32))
    p = jax.tree.map(lambda x: 0.5 * rng.normal(size=x.shape), shapes)
    return cases.Case(fn=lambda v, c: spec.forward(v, c["inputs"], config),
                      hand=lambda v, c: spec.jacobian(v, c["inputs"], config),
                      wrt=cases.cast(p, dtype), const={"inputs": word},
                      sizes={"feature_dim": spec.dim(config)})
  return build


def _crf_params(rng, num_tags: int) -> dict[str, np.ndarray]:
  return {"transitions": 0.5 * rng.normal(size=(num_tags, num_tags)),
          "start": 0.5 * rng.normal(size=num_tags),
          "end": 0.5 * rng.normal(size=num_tags)}


def _crf_log_partition_case(s, rng, dtype):
  seq_len, num_tags = s["seq_len"], s["num_classes"]
  length = max(1, seq_len - seq_len // 4)  # some padding, to exercise the mask
  mask = (np.arange(seq_len) < length).astype(np.int32)
  emissions = 2.0 * rng.normal(size=(seq_len, num_tags))
  return cases.Case(
      fn=lambda v, c: crf.crf_log_partition(v, c["mask"], c["crf"]),
      hand=lambda v, c: crf.crf_log_partition_jacobian(v, c["mask"], c["crf"])[
          "emissions"],
      wrt=cases.cast(emissions, dtype),
      const={"mask": jnp.asarray(mask), "crf": cases.cast(_crf_params(rng, num_tags),
                                                           dtype)})


def _labels(rng, batch: int, high: int) -> Any:
  """int32 ``[batch]`` in ``[0, high)``."""
  return jnp.asarray(rng.integers(0, high, size=batch).astype(np.int32))


def _token_loss_case(spec: losses.LossSpec):
  """``spec.forward(scores, labels)`` per example; scores ``[B, C]`` or ``[B]``.

  The output is the spec's first (``outputs[0]``); scores are spaced so that no
  hinge sits on its kink (``cases.spaced_scores``).
  """
  output = spec.outputs[0]

  def build(s, rng, dtype):
    num_classes = s["num_classes"] if output == "multiclass" else None
    scores = cases.spaced_scores(rng, s["batch"], num_classes)
    const = {"labels": _labels(rng, s["batch"], num_classes or 2)}
    kwargs = lambda v, c: dict(scores=v, labels=c["labels"], margin=cases.MARGIN)
    return cases.Case(fn=lambda v, c: spec.forward(**kwargs(v, c)),
                      hand=lambda v, c: cases.block_diagonal(
                          spec.gradient(**kwargs(v, c))),
                      wrt=cases.cast(scores, dtype), const=const)
  return build


def _corrupted_loss_case(spec: losses.LossSpec):
  """``spec.forward(scores [B], labels {0, 1}, corrupted_scores [B, k])``."""
  def build(s, rng, dtype):
    both = cases.spaced_scores(rng, s["batch"], 1 + s["num_corruptions"])
    wrt = {"scores": both[:, 0], "corrupted_scores": both[:, 1:]}
    const = {"labels": _labels(rng, s["batch"], 2)}

    def hand(v, c):
      d_scores, d_corrupted = spec.gradient(**v, labels=c["labels"], margin=cases.MARGIN)
      return {"scores": cases.block_diagonal(d_scores),
              "corrupted_scores": cases.block_diagonal(d_corrupted)}
    return cases.Case(
        fn=lambda v, c: spec.forward(**v, labels=c["labels"], margin=cases.MARGIN),
        hand=hand, wrt=cases.cast(wrt, dtype), const=const)
  return build


def _sentence_loss_case(spec: losses.LossSpec):
  """The CRF NLL ``[B]`` w.r.t. the emissions ``[B, T, C]`` and the CRF parameters.

  Sentence lengths are drawn in ``[1, T]`` (the first full, to exercise the
  mask); with B >= 3 the last is a padding sentence (an all-zero mask: loss 0).
  """
  def build(s, rng, dtype):
    batch, seq_len, num_tags = s["batch"], s["seq_len"], s["num_classes"]
    lengths = rng.integers(1, seq_len + 1, size=batch)
    lengths[0] = seq_len
    if batch >= 3:
      lengths[-1] = 0
    const = {"mask": jnp.asarray(np.arange(seq_len) < lengths[:, None]),
             "labels": jnp.asarray(rng.integers(0, num_tags, size=(batch, seq_len))
                                   .astype(np.int32))}
    wrt = {"emissions": 2.0 * rng.normal(size=(batch, seq_len, num_tags)),
           "crf_params": _crf_params(rng, num_tags)}

    def hand(v, c):
      g = spec.gradient(emissions=v["emissions"], labels=c["labels"], mask=c["mask"],
                        crf_params=v["crf_params"])
      return {"emissions": cases.block_diagonal(g["emissions"]),
              "crf_params": {k: g[k] for k in v["crf_params"]}}
    return cases.Case(
        fn=lambda v, c: spec.forward(emissions=v["emissions"], labels=c["labels"],
                                     mask=c["mask"], crf_params=v["crf_params"]),
        hand=hand, wrt=cases.cast(wrt, dtype), const=const)
  return build


def _unknown_kind(name: str, kind: str):
  def build(s, rng, dtype):
    raise NotImplementedError(f"loss {name!r} has kind {kind!r}, for which "
                              "benchmarks/gradcheck_lib/components.py builds no case")
  return build


def loss_component(name: str, spec: losses.LossSpec) -> Component:
  """The component of one ``losses.LOSSES`` entry, by its kind."""
  if spec.kind == "token":
    axes = ("batch", "num_classes") if spec.outputs[0] == "multiclass" else ("batch",)
    return Component(_token_loss_case(spec), axes)
  if spec.kind == "corrupted":
    return Component(_corrupted_loss_case(spec), ("batch", "num_corruptions"))
  if spec.kind == "sentence":
    # Per sentence, so the batch is held (at B=512 the dense Jacobian would be
    # 512² T C entries of zeros off the diagonal).
    return Component(_sentence_loss_case(spec), ("seq_len", "num_classes"), ("batch",))
  return Component(_unknown_kind(name, spec.kind), ("batch",))


def window_components(name: str, spec: windows.WindowSpec) -> dict[str, Component]:
  """``window_<name>`` and, for a window with parameters, ``window_<name>_params``."""
  out = {f"window_{name}": Component(_window_case(name, "vectors"), _WINDOW_AXES,
                                     ("feature_dim",))}
  if spec.init is not None:
    out[f"window_{name}_params"] = Component(_window_case(name, "params"), _WINDOW_AXES,
                                             ("feature_dim",))
  return out


def components() -> dict[str, Component]:
  """Every component, in the order of the report (module docstring).

  Raises:
    ValueError: two components got the same name (say a loss named like an
      activation).
  """
  parts = [
      {"affine_x": Component(_affine_case("x"), _AFFINE_AXES, ("feature_dim",)),
       "affine_W": Component(_affine_case("W"), _AFFINE_AXES, ("feature_dim",)),
       "affine_b": Component(_affine_case("b"), ("hidden_size",),
                             ("window_size", "embed_dim", "feature_dim"))},
      {name: Component(_activation_case(name), ("hidden_size",))
       for name in layers.ACTIVATIONS},
      {"softmax": Component(_softmax_case(False), ("num_classes",)),
       "log_softmax": Component(_softmax_case(True), ("num_classes",))},
      {name: loss_component(name, spec) for name, spec in losses.LOSSES.items()},
      *(window_components(name, spec) for name, spec in windows.WINDOWS.items()),
      {f"feature_{name}": Component(_feature_case(name), ("feature_dim",))
       for name in features.choices()},
      {"embed": Component(_embed_case, _WINDOW_AXES, ("feature_dim", "vocab_size")),
       "crf_log_partition": Component(_crf_log_partition_case,
                                      ("seq_len", "num_classes"))},
      network_cases.components(),
  ]
  out: dict[str, Component] = {}
  for part in parts:
    clash = sorted(set(out) & set(part))
    if clash:
      raise ValueError(f"benchmarks/gradcheck_lib/components.py: component names "
                       f"{clash} are taken twice")
    out.update(part)
  return out
