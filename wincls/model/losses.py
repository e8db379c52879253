"""Per-example losses, each followed by its hand gradient, and the loss registry.

All take keyword-only arguments and return one value per example ``[batch]``;
the caller reduces. Each ``*_gradient`` returns the per-example gradient with
respect to the scores (one row per example: a per-example loss of a batch has
a block-diagonal Jacobian); no gradient here calls JAX's autodiff.

Kinks: every ``max(0, ·)`` is ``jax.nn.relu``, whose derivative at 0 is 0 (a
loss sitting exactly on the margin has zero gradient); Crammer–Singer's "best
wrong class" is ``best_wrong_class`` (the lowest-index argmax), the one tie rule
the loss and its gradient share.

**The registry.** ``LOSSES`` holds one ``LossSpec`` per ``--loss``: its help,
the outputs it works with, its kind, its forward/gradient pair and how a seed
ensemble combines its scores (``ensemble``: ``wincls/train/ensemble.py``). Kinds:

* ``token``: ``forward(*, scores, labels, margin) -> [B]``,
  ``gradient(...) -> ∂loss/∂scores`` (``[B, C]`` or ``[B]``);
* ``corrupted``: also takes ``corrupted_scores [B, k]`` (scores of windows whose
  centre word was replaced, ``corrupt_centre``); the gradient returns
  ``(∂/∂scores [B], ∂/∂corrupted_scores [B, k])``;
* ``sentence``: the C&W sentence-level likelihood (``wincls/model/crf.py``).

``get(name, output)`` resolves a flag value: ``max_margin`` with the multiclass
output is the lecture's ``J`` with the corruption in label space, i.e. exactly
the Crammer–Singer hinge ``hinge_cs``. How to add a loss: its functions, given to
``register`` (here, or from any module named with ``--plugins``;
docs/extending.md). The test grids read ``LOSSES``, so nothing else is edited;
``wincls.testing.check_loss`` checks a spec's gradient.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import optax

from wincls.model import crf
from wincls.model import registry

Array = jax.Array

# The first word id that is not reserved (<pad>, <unk>, <s>, </s>).
FIRST_WORD_ID = 4


def _one_hot(labels: Array, num_classes: int, dtype) -> Array:
  return (labels[..., None] == jnp.arange(num_classes)).astype(dtype)


def _step(a: Array) -> Array:
  """``relu'(a) = 1[a > 0]``: the hinges' derivative (0 exactly on the margin)."""
  return (a > 0).astype(a.dtype)


def softmax_cross_entropy(*, scores: Array, labels: Array, margin: float = 1.0) -> Array:
  """``-log softmax(scores)[y]``; scores ``[B, C]``, labels int ``[B]``."""
  del margin
  return optax.softmax_cross_entropy_with_integer_labels(scores, labels)


def softmax_cross_entropy_gradient(*, scores: Array, labels: Array,
                                   margin: float = 1.0) -> Array:
  """``p - y`` (y one-hot): ``[B, C]``."""
  del margin
  return jax.nn.softmax(scores, axis=-1) - _one_hot(labels, scores.shape[-1], scores.dtype)


def binary_logistic(*, scores: Array, labels: Array, margin: float = 1.0) -> Array:
  """``-y log σ(s) - (1 - y) log(1 - σ(s))``; scores ``[B]``, labels ``[B]`` in {0, 1}."""
  del margin
  return optax.sigmoid_binary_cross_entropy(scores, labels.astype(scores.dtype))


def binary_logistic_gradient(*, scores: Array, labels: Array,
                             margin: float = 1.0) -> Array:
  """``σ(s) - y``: ``[B]``."""
  del margin
  return jax.nn.sigmoid(scores) - labels.astype(scores.dtype)


def hinge_weston_watkins(*, scores: Array, labels: Array, margin: float = 1.0) -> Array:
  """Weston–Watkins ``Σ_{c ≠ y} max(0, Δ + s_c - s_y)``; scores ``[B, C]``."""
  y = _one_hot(labels, scores.shape[-1], scores.dtype)
  true_scores = jnp.sum(y * scores, axis=-1, keepdims=True)
  return jnp.sum((1.0 - y) * jax.nn.relu(margin + scores - true_scores), axis=-1)


def hinge_weston_watkins_gradient(*, scores: Array, labels: Array,
                                  margin: float = 1.0) -> Array:
  """With ``a_c = 1[c ≠ y] 1[Δ + s_c - s_y > 0]``: ``a_c`` at c ≠ y, ``-Σ a`` at y."""
  y = _one_hot(labels, scores.shape[-1], scores.dtype)
  true_scores = jnp.sum(y * scores, axis=-1, keepdims=True)
  active = (1.0 - y) * _step(margin + scores - true_scores)
  return active - y * jnp.sum(active, axis=-1, keepdims=True)


def best_wrong_class(scores: Array, labels: Array) -> Array:
  """The lowest-index argmax over ``c ≠ y`` of ``scores``; int ``[B]``."""
  is_true = _one_hot(labels, scores.shape[-1], jnp.bool_)
  return jnp.argmax(jnp.where(is_true, -jnp.inf, scores), axis=-1)


def _crammer_singer_margin(scores: Array, labels: Array, margin: float):
  """``(Δ + s_c* - s_y [B], c* [B])`` with c* the best wrong class."""
  if scores.shape[-1] < 2:
    raise ValueError("wincls/model/losses.py hinge_cs: needs num_classes >= 2, "
                     f"got scores of shape {tuple(scores.shape)}")
  wrong = best_wrong_class(scores, labels)
  wrong_scores = jnp.take_along_axis(scores, wrong[..., None], axis=-1)[..., 0]
  true_scores = jnp.take_along_axis(scores, labels[..., None], axis=-1)[..., 0]
  return margin + wrong_scores - true_scores, wrong


def hinge_crammer_singer(*, scores: Array, labels: Array, margin: float = 1.0) -> Array:
  """Crammer–Singer ``max(0, Δ + max_{c ≠ y} s_c - s_y)``; scores ``[B, C]``, C >= 2.

  Equals ``optax.losses.multiclass_hinge_loss`` at ``margin == 1`` (a test checks it).
  """
  return jax.nn.relu(_crammer_singer_margin(scores, labels, margin)[0])


def hinge_crammer_singer_gradient(*, scores: Array, labels: Array,
                                  margin: float = 1.0) -> Array:
  """``1[Δ + s_c* - s_y > 0] (e_c* - e_y)``, c* = ``best_wrong_class``: ``[B, C]``."""
  violation, wrong = _crammer_singer_margin(scores, labels, margin)
  num_classes = scores.shape[-1]
  direction = (_one_hot(wrong, num_classes, scores.dtype)
               - _one_hot(labels, num_classes, scores.dtype))
  return _step(violation)[..., None] * direction


def max_margin(*, scores: Array, labels: Array, corrupted_scores: Array,
               margin: float = 1.0) -> Array:
  """The lecture's ``J = Σ_k max(0, Δ - s + s_c_k)`` for a single score.

  A true window of the target type (label 1) with score s against k corrupted
  windows (its centre word replaced) with scores ``s_c_k``. A window of label 0
  adds nothing: the lecture's objective has only true and corrupted windows
  (``max_margin_neg`` adds a term for them).

  Args:
    scores: ``[B]``.
    labels: ``[B]`` in {0, 1}.
    corrupted_scores: ``[B, k]``.
    margin: Δ.

  Returns:
    ``[B]``.
  """
  positive = jnp.sum(jax.nn.relu(margin - scores[..., None] + corrupted_scores), axis=-1)
  return jnp.where(labels == 1, positive, jnp.zeros_like(positive))


def max_margin_gradient(*, scores: Array, labels: Array, corrupted_scores: Array,
                        margin: float = 1.0) -> tuple[Array, Array]:
  """With ``a_k = 1[Δ - s + s_c_k > 0]``: label 1 ``(-Σ_k a_k, a)``; label 0 zeros."""
  active = _step(margin - scores[..., None] + corrupted_scores)
  is_positive = labels == 1
  g = jnp.where(is_positive, -jnp.sum(active, axis=-1), 0.0)
  return g, jnp.where(is_positive[..., None], active, 0.0)


def max_margin_neg(*, scores: Array, labels: Array, corrupted_scores: Array,
                   margin: float = 1.0) -> Array:
  """``max_margin``, plus ``max(0, Δ + s)`` for each window of label 0."""
  return (max_margin(scores=scores, labels=labels, corrupted_scores=corrupted_scores,
                     margin=margin)
          + jnp.where(labels == 1, 0.0, jax.nn.relu(margin + scores)))


def max_margin_neg_gradient(*, scores: Array, labels: Array, corrupted_scores: Array,
                            margin: float = 1.0) -> tuple[Array, Array]:
  """``max_margin_gradient`` plus ``1[Δ + s > 0]`` on ``∂/∂s`` of label-0 windows."""
  g, g_corrupted = max_margin_gradient(scores=scores, labels=labels,
                                       corrupted_scores=corrupted_scores, margin=margin)
  return g + jnp.where(labels == 1, 0.0, _step(margin + scores)), g_corrupted


def corruption_words(key: Array, window_ids: Array, *, num_corruptions: int,
                     low: int = FIRST_WORD_ID, high: int) -> Array:
  """The corrupted windows' centre words: uniform word ids in ``[low, high)``.

  ``corrupt_centre`` draws exactly these (same key, same shape); a caller that
  must know the ids before the loss runs (sparse updates gather their rows)
  draws them here and passes them on.

  Args:
    key: a ``jax.random.key``.
    window_ids: int ``[B, W]`` (only its shape and dtype are read).
    num_corruptions: k, corrupted copies per window.
    low: first id to sample (the first non-reserved id, 4).
    high: one past the last id (the vocabulary size).

  Returns:
    int ``[B, k]``, of ``window_ids``'s dtype.
  """
  if high <= low:
    raise ValueError(f"wincls/model/losses.py corrupt_centre: need high > low, got "
                     f"low={low}, high={high} (vocabulary too small?)")
  if num_corruptions < 1:
    raise ValueError(f"wincls/model/losses.py corrupt_centre: num_corruptions="
                     f"{num_corruptions} must be >= 1")
  return jax.random.randint(key, (window_ids.shape[0], num_corruptions), low, high,
                            dtype=window_ids.dtype)


def replace_centre(window_ids: Array, words: Array) -> Array:
  """``[B, k, W]``: ``window_ids [B, W]`` k times, their centres ``words [B, k]``."""
  batch, window_len = window_ids.shape
  corrupted = jnp.broadcast_to(window_ids[:, None, :],
                               (batch, words.shape[1], window_len))
  return corrupted.at[:, :, window_len // 2].set(words.astype(window_ids.dtype))


def corrupt_centre(key: Array, window_ids: Array, *, num_corruptions: int,
                   low: int = FIRST_WORD_ID, high: int) -> Array:
  """Corrupted windows: the centre word replaced by a uniform word id in ``[low, high)``.

  (It may, with probability ``1 / (high - low)``, equal the original word, as in
  the lecture's sampling.) ``replace_centre(window_ids, corruption_words(...))``.

  Args:
    key: a ``jax.random.key``.
    window_ids: int ``[B, W]``.
    num_corruptions: k, corrupted copies per window.
    low: first id to sample (the first non-reserved id, 4).
    high: one past the last id (the vocabulary size).

  Returns:
    int ``[B, k, W]``; equal to ``window_ids`` but at the centre ``W // 2``.
  """
  return replace_centre(window_ids, corruption_words(
      key, window_ids, num_corruptions=num_corruptions, low=low, high=high))


# ---------------------------------------------------------------------------
# The registry.


KINDS = ("token", "corrupted", "sentence")
# The outputs each kind can serve (whatever a spec's ``outputs`` say): a
# corrupted window has one score to compare; a sentence loss reads the C
# emissions of every position.
KIND_OUTPUTS = {"token": ("multiclass", "score"), "corrupted": ("score",),
                "sentence": ("multiclass",)}
ENSEMBLE_RULES = ("scores", "probabilities")  # LossSpec.ensemble


@dataclasses.dataclass(frozen=True)
class LossSpec:
  """A ``--loss`` (the module docstring says what each part does)."""

  forward: Callable[..., Array]
  gradient: Callable[..., Array]
  outputs: tuple[str, ...]
  help: str
  kind: str = "token"  # "token" | "corrupted" | "sentence"
  uses_margin: bool = False  # reads --margin (Δ)
  # How a seed ensemble combines multiclass token scores (wincls/train/ensemble.py):
  # "probabilities" (softmax, averaged: scores are logits) or "scores" (averaged).
  ensemble: str = "scores"


LOSSES: registry.Registry[LossSpec] = registry.Registry("loss", {
    "cross_entropy": LossSpec(
        softmax_cross_entropy, softmax_cross_entropy_gradient, ("multiclass",),
        "softmax cross-entropy (maximum likelihood)", ensemble="probabilities"),
    "max_margin": LossSpec(
        max_margin, max_margin_gradient, ("score", "multiclass"),
        "the lecture's J = Σ_k max(0, Δ - s + s_c_k), s_c_k: corrupted windows "
        "(centre word replaced), true windows only (multiclass: hinge_cs)",
        kind="corrupted", uses_margin=True),
    "max_margin_neg": LossSpec(
        max_margin_neg, max_margin_neg_gradient, ("score",),
        "max_margin plus max(0, Δ + s) for each window not of the target type",
        kind="corrupted", uses_margin=True),
    "hinge_ww": LossSpec(
        hinge_weston_watkins, hinge_weston_watkins_gradient, ("multiclass",),
        "Weston–Watkins hinge Σ_{c≠y} max(0, Δ + s_c - s_y)", uses_margin=True),
    "hinge_cs": LossSpec(
        hinge_crammer_singer, hinge_crammer_singer_gradient, ("multiclass",),
        "Crammer–Singer hinge max(0, Δ + max_{c≠y} s_c - s_y)", uses_margin=True),
    "logistic": LossSpec(
        binary_logistic, binary_logistic_gradient, ("score",),
        "binary logistic loss of the single score (detector)"),
    "crf": LossSpec(
        crf.crf_nll, crf.crf_nll_gradient, ("multiclass",),
        "Collobert & Weston's sentence-level log-likelihood (linear-chain CRF)",
        kind="sentence"),
}, check=lambda name, spec: check_spec(name, spec))
register = LOSSES.register
# A multiclass max_margin is the lecture's J with the corruption in label space.
_MULTICLASS_ALIASES = {"max_margin": "hinge_cs"}


def _probe(spec: LossSpec, output: str) -> dict[str, Array]:
  """Small finite arguments of ``spec.forward`` for ``output`` (B = 4, C = 3, k = 2)."""
  key = jax.random.key(0)
  if output == "multiclass":
    args = {"scores": jax.random.normal(key, (4, 3)), "labels": jnp.array([0, 1, 2, 1])}
  else:
    args = {"scores": jax.random.normal(key, (4,)), "labels": jnp.array([1, 0, 1, 0])}
  if spec.kind == "corrupted":
    args["corrupted_scores"] = jax.random.normal(jax.random.key(1), (4, 2))
  return {**args, "margin": 1.0}


def check_spec(name: str, spec: LossSpec) -> None:
  """``LOSSES``' check of a registered loss, naming the part: a ``LossSpec`` of a
  known kind; a token or corrupted loss's forward gives finite ``[B]`` losses and
  its gradient finite values of the scores' shapes on small finite scores for each
  output it serves (a sentence loss reads the CRF's parameters: ``check_loss`` of
  ``wincls.testing``). Else a NaN loss would read as a divergence."""
  if not isinstance(spec, LossSpec):
    raise TypeError(f"loss {name!r}: expected a LossSpec, got a {type(spec).__name__}")
  for field, allowed in (("kind", KINDS), ("ensemble", ENSEMBLE_RULES)):
    if getattr(spec, field) not in allowed:
      raise ValueError(f"loss {name!r}: {field}={getattr(spec, field)!r}; expected one "
                       f"of {', '.join(allowed)}")
  if spec.kind == "sentence":
    return
  # An output the kind does not serve is refused by ``get`` when a run asks for it.
  for output in set(spec.outputs) & set(KIND_OUTPUTS[spec.kind]):
    args = _probe(spec, output)
    try:
      per_example = jnp.asarray(spec.forward(**args))
      grads = spec.gradient(**args)
    except Exception as e:  # a plugin's function can fail any way: name the part
      raise ValueError(f"loss {name!r} (--output={output}): failed on scores "
                       f"{list(args['scores'].shape)}: {type(e).__name__}: {e}") from None
    grads = grads if isinstance(grads, tuple) else (grads,)
    shapes = [args["scores"].shape] + ([args["corrupted_scores"].shape]
                                       if spec.kind == "corrupted" else [])
    for what, value, shape in [("forward", per_example, (4,)),
                               *[("gradient", jnp.asarray(g), s)
                                 for g, s in zip(grads, shapes)]]:
      if value.shape != shape or (what == "gradient" and len(grads) != len(shapes)):
        raise ValueError(f"loss {name!r} (--output={output}): {what} gives shape "
                         f"{tuple(value.shape)} ({len(grads)} gradient(s)); expected "
                         f"{shape}, one gradient per score array")
      if not bool(jnp.all(jnp.isfinite(value))):
        raise ValueError(f"loss {name!r} (--output={output}): {what} gives non-finite "
                         f"values on finite scores {list(args['scores'].shape)}")


def get(name: str, output: str) -> LossSpec:
  """The spec that computes ``--loss=name`` with ``--output=output``."""
  if name not in LOSSES:
    raise ValueError(f"--loss={name!r} is not one of {', '.join(LOSSES)}")
  if output not in LOSSES[name].outputs:
    allowed = outputs_of(output)
    raise ValueError(f"--loss={name} does not work with --output={output}; expected "
                     f"one of {', '.join(allowed)}")
  spec = _resolve(name, output)
  if output not in KIND_OUTPUTS[spec.kind]:
    raise ValueError(f"--loss={name} is a {spec.kind} loss, which works with --output="
                     f"{' or '.join(KIND_OUTPUTS[spec.kind])} only, not --output={output} "
                     f"(its LossSpec lists outputs={spec.outputs})")
  return spec


def _resolve(name: str, output: str) -> LossSpec:
  if output == "multiclass":
    name = _MULTICLASS_ALIASES.get(name, name)
  return LOSSES[name]


def is_sentence(name: str) -> bool:
  """Whether ``--loss=name`` is a ``sentence`` loss (crf, or a plugin's of that kind).

  Such a loss trains on sentence batches, has the CRF's transition parameters
  (``ModelConfig.use_crf``) and is decoded by Viterbi; everything that decides
  so reads this, never the name ``crf``. An unknown name: False (``get`` and
  ``Config.validate`` name the choices).
  """
  spec = LOSSES.get(name)
  return spec is not None and spec.kind == "sentence"


def describe(name: str, output: str, margin: float = 1.0) -> str:
  """What ``--loss=name`` computes with ``--output=output``, for tables.

  E.g. ``describe("max_margin", "multiclass")`` is ``"hinge_cs: Crammer–Singer
  hinge max(0, Δ + max_{c≠y} s_c - s_y), Δ=1"``.
  """
  spec = get(name, output)
  resolved = next(n for n, s in LOSSES.items() if s is spec)
  text = f"{resolved}: {spec.help}"
  return text + (f", Δ={margin:g}" if spec.uses_margin else "")


def outputs_of(output: str) -> tuple[str, ...]:
  """The ``--loss`` values that work with ``--output=output`` (``get`` accepts)."""
  return tuple(n for n, spec in LOSSES.items()
               if output in spec.outputs and spec.kind in KINDS
               and output in KIND_OUTPUTS[_resolve(n, output).kind])
