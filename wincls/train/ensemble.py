"""Seed ensembles: a run's seeds tag together, in one compiled program.

A run trains its seeds stacked ``[S, ...]`` (``checkpoints/best`` holds each
seed's best epoch); ``ensemble_step`` runs the one forward pass
(``network.apply``) vmapped over that seed axis and combines the seeds' scores
of each batch before decoding, so an ensemble of S seeds costs S forward
passes and one decode. The rule is read from the run's loss spec
(``losses.get``: its ``kind`` and ``ensemble``) and ``--output``, never from
the loss's name, so a plugin's loss gets the rule its spec declares:

* ``mean_probabilities`` (multiclass, ``LossSpec.ensemble == "probabilities"``:
  ``cross_entropy``, whose scores are softmax logits): each token's class
  probabilities ``softmax(s)`` averaged over the seeds, then the argmax.
* ``mean_scores`` (multiclass, ``ensemble == "scores"``: the hinges
  ``hinge_ww``, ``hinge_cs`` and multiclass ``max_margin``, whose scores are
  margins, not logits; a plugin's default): the scores averaged, then the
  argmax. Also every ``--output=score`` detector (``logistic``,
  ``max_margin``, ``max_margin_neg``): the single scores averaged, decided
  ``s̄ > 0``, and ``s̄`` ranks the tokens for average precision.
* ``mean_crf_scores`` (kind ``sentence``: ``crf``): the emissions and the CRF's
  parameters (transitions, start, end) averaged, then one Viterbi decode. A
  path's score ``S(y)`` is linear in them, so this is the path of the highest
  mean score ``mean_s S_s(y)``, which is also the highest mean log-probability
  ``mean_s log p_s(y)`` (``log Z_s`` does not depend on ``y``): the product of
  the seeds' sentence distributions, decoded exactly.

One seed is the same program over a ``[1, ...]`` slice: the mean over one seed
is its value and the softmax is skipped (it keeps the argmax), so a
single-seed tagger (``Tagger.load(W)``) decodes exactly what training scored on
dev. Measured cost and dev F1: docs/usage.md ("Seed ensembles").
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from wincls import config as config_lib
from wincls.model import losses
from wincls.model import network
from wincls.train import distributed
from wincls.train import step

Array = jax.Array

MEAN_PROBABILITIES = "mean_probabilities"
MEAN_SCORES = "mean_scores"
MEAN_CRF_SCORES = "mean_crf_scores"
RULES = (MEAN_PROBABILITIES, MEAN_SCORES, MEAN_CRF_SCORES)


def rule_of(loss: str, output: str) -> str:
  """The combination rule of ``--loss=loss --output=output`` (module docstring)."""
  spec = losses.get(loss, output)
  if spec.kind == "sentence":
    return MEAN_CRF_SCORES
  if output == "multiclass" and spec.ensemble == "probabilities":
    return MEAN_PROBABILITIES
  return MEAN_SCORES


def ensemble_step(params: Any, batch: dict[str, Array], *,
                  config: config_lib.ModelConfig, rule: str) -> Array:
  """The seeds' combined predictions of one batch (no dropout).

  Args:
    params: parameters with a leading seed axis ``[S, ...]``.
    batch: a token batch ``{"window_ids": [B, W], "feature_ids": [B, W, K]}``
      or, for ``mean_crf_scores``, a sentence batch (``[B, T, ...]`` and
      ``"mask": [B, T]``).
    config: the model's settings.
    rule: one of ``RULES`` (``rule_of``).

  Returns:
    ``step.eval_step``'s format: int32 ``[B]`` class ids; ``[B]`` mean scores
    for output="score"; int32 ``[B, T]`` Viterbi tags for ``mean_crf_scores``.
  """
  if rule not in RULES:
    raise ValueError(f"ensemble rule {rule!r} is not one of {', '.join(RULES)}")
  num_seeds = jax.tree.leaves(params)[0].shape[0]
  sentence = rule == MEAN_CRF_SCORES
  window_ids, feature_ids = step.flat_windows(batch, sentence)
  scores = jax.vmap(lambda p: network.apply(p, window_ids, feature_ids, config=config)
                    )(params)  # [S, B, C], [S, B] (score) or [S, B*T, C]
  if rule == MEAN_PROBABILITIES and num_seeds > 1:
    scores = jax.nn.softmax(scores, axis=-1)
  crf_params = (jax.tree.map(lambda x: jnp.mean(x, axis=0), params["crf"])
                if sentence else None)
  return step.decode(jnp.mean(scores, axis=0), batch, crf_params, config=config,
                     sentence=sentence)


@functools.lru_cache(maxsize=32)
def tag_fn(model_config: config_lib.ModelConfig, rule: str, batch_size: int,
           layout: distributed.Layout | None = None) -> Callable:
  """The jitted ``(params [S, ...], data) -> [N, ...]`` combined predictions (cached).

  ``ensemble_step`` over ``data`` in chunks of ``batch_size`` rows
  (``step.eval_dataset``), replicated over ``layout``'s devices.
  """
  step_fn = functools.partial(ensemble_step, config=model_config, rule=rule)
  fn = functools.partial(step.eval_dataset, step_fn=step_fn, batch_size=batch_size,
                         layout=layout)
  return jax.jit(lambda params, data: distributed.replicate(fn(params, data), layout))


def ensemble_seeds(best_epoch: np.ndarray) -> list[int]:
  """The seed indices an ensemble takes: every seed whose best epoch is >= 1.

  A seed that diverged in its first epoch has only its initial parameters in
  ``checkpoints/best`` (best epoch 0), never scored on dev: it is left out.
  Seeds that diverged later keep their last finite best epoch, as in
  ``dev_f1_mean`` (``wincls.train.divergence``).
  """
  return [int(i) for i in np.flatnonzero(np.asarray(best_epoch) >= 1)]


def select_seeds(params: Any, seed_indices: Sequence[int]) -> Any:
  """``params [S, ...]`` restricted to ``seed_indices`` (all of them, in order:
  ``params`` itself)."""
  num_seeds = jax.tree.leaves(params)[0].shape[0]
  if list(seed_indices) == list(range(num_seeds)):
    return params
  index = np.asarray(seed_indices, np.int32)
  return jax.tree.map(lambda x: x[index], params)
