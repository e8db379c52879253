"""Tests of wincls/model/objective.py: every loss, reductions, randomness, a real step."""

import functools
import os
from pathlib import Path

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from wincls.model import crf
from wincls.model import losses
from wincls.model import network
from wincls.model import objective
from wincls.config import ModelConfig
from wincls.model import losses as losses_lib

V, E, FEATURE_SIZE, FD, H, C, B = 20, 4, 5, 2, 3, 4, 6


def _config(**overrides):
  base = dict(vocab_size=V, features=(), feature_sizes=(FEATURE_SIZE,), num_classes=C,
              window="concat", window_size=1, embed_dim=E, feature_dim=FD,
              classifier="hidden", hidden_size=H, activation="tanh", dropout=0.0)
  base.update(overrides)
  return ModelConfig(**base)


def _token_batch(config, seed=0, num_labels=C):
  rng = np.random.default_rng(seed)
  w = config.window_len
  return {
      "window_ids": jnp.asarray(rng.integers(0, V, (B, w)), jnp.int32),
      "feature_ids": jnp.asarray(rng.integers(0, FEATURE_SIZE, (B, w, 1)), jnp.int32),
      "labels": jnp.asarray(rng.integers(0, num_labels, B), jnp.int32),
      "weights": jnp.array([1.0, 1.0, 0.0, 1.0, 0.5, 1.0]),
  }


def _sentence_batch(config, seed=0, lengths=(3, 1, 0, 4)):
  rng = np.random.default_rng(seed)
  t, w = 4, config.window_len
  n = len(lengths)
  return {
      "window_ids": jnp.asarray(rng.integers(0, V, (n, t, w)), jnp.int32),
      "feature_ids": jnp.asarray(rng.integers(0, FEATURE_SIZE, (n, t, w, 1)), jnp.int32),
      "labels": jnp.asarray(rng.integers(0, C, (n, t)), jnp.int32),
      "mask": jnp.asarray([[i < length for i in range(t)] for length in lengths]),
  }


CASES = [
    # (loss, output, window, classifier, activation, dropout)
    ("cross_entropy", "multiclass", "concat", "hidden", "tanh", 0.0),
    ("hinge_ww", "multiclass", "average", "softmax", "relu", 0.0),
    ("hinge_cs", "multiclass", "concat", "hidden", "hardtanh", 0.0),
    ("max_margin", "multiclass", "concat", "softmax", "tanh", 0.0),
    ("max_margin", "score", "concat", "hidden", "sigmoid", 0.3),
    ("max_margin_neg", "score", "average", "hidden", "relu", 0.0),
    ("logistic", "score", "average", "hidden", "tanh", 0.0),
    ("crf", "multiclass", "concat", "hidden", "relu", 0.3),
]
# Every other registered loss (a new one needs no edit here): its first output.
CASES += [(name, spec.outputs[0], "concat", "hidden", "tanh", 0.0)
          for name, spec in losses_lib.LOSSES.items()
          if name not in {case[0] for case in CASES}]


@pytest.mark.parametrize("loss,output,window,classifier,activation,dropout", CASES)
def test_loss_fn_jit_grads_and_reduction(loss, output, window, classifier,
                                         activation, dropout):
  config = _config(output=output, window=window, classifier=classifier,
                   activation=activation, dropout=dropout, use_crf=loss == "crf")
  params = network.init_params(jax.random.key(0), config=config)
  if loss == "crf":
    batch = _sentence_batch(config)
  else:
    batch = _token_batch(config, num_labels=C if output == "multiclass" else 2)
    if output == "score":  # true windows of the target type (max_margin's J needs them)
      batch["labels"] = jnp.array([1, 0, 1, 0, 1, 1])
  key = jax.random.key(1)
  kwargs = dict(config=config, loss=loss, key=key, num_corruptions=2)

  value_and_grad = jax.jit(jax.value_and_grad(
      lambda p, b: objective.loss_fn(p, b, **kwargs), has_aux=True))
  (mean, aux), grads = value_and_grad(params, batch)
  chex.assert_shape([mean, aux["loss_sum"], aux["weight_sum"]], ())
  assert np.isfinite(mean) and mean > 0
  np.testing.assert_allclose(mean, aux["loss_sum"] / max(float(aux["weight_sum"]), 1.0),
                             rtol=1e-6)
  expected_weight = 8.0 if loss == "crf" else 4.5  # real tokens / Σ weights
  np.testing.assert_allclose(aux["weight_sum"], expected_weight)
  assert jax.tree.structure(grads) == jax.tree.structure(params)
  chex.assert_tree_all_finite(grads)
  assert any(np.any(np.asarray(g) != 0) for g in jax.tree.leaves(grads))

  # Padding (weight 0 rows / masked tokens and sentences) changes neither the
  # loss nor the gradients (same shapes: the compiled function is reused).
  padded = dict(batch)
  if loss == "crf":
    padded["labels"] = jnp.where(batch["mask"], batch["labels"], C - 1 - batch["labels"])
    padded["window_ids"] = batch["window_ids"].at[2].set(7)  # the empty sentence
  else:
    padded["labels"] = batch["labels"].at[2].set(1 - batch["labels"][2] % 2)
    padded["window_ids"] = batch["window_ids"].at[2].set(7)
  (padded_mean, _), padded_grads = value_and_grad(params, padded)
  np.testing.assert_allclose(padded_mean, mean, rtol=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7),
               padded_grads, grads)


def test_token_losses_reduce_as_weighted_mean():
  config = _config()
  params = network.init_params(jax.random.key(2), config=config)
  batch = _token_batch(config)
  scores = network.apply(params, batch["window_ids"], batch["feature_ids"], config=config)
  weights = np.asarray(batch["weights"])
  for loss, fn in [("cross_entropy", lambda: losses.softmax_cross_entropy(
                        scores=scores, labels=batch["labels"])),
                   ("hinge_ww", lambda: losses.hinge_weston_watkins(
                       scores=scores, labels=batch["labels"], margin=0.5)),
                   ("hinge_cs", lambda: losses.hinge_crammer_singer(
                       scores=scores, labels=batch["labels"], margin=0.5)),
                   ("max_margin", lambda: losses.hinge_crammer_singer(
                       scores=scores, labels=batch["labels"], margin=0.5))]:
    mean, _ = objective.loss_fn(params, batch, config=config, loss=loss, key=None,
                                 margin=0.5)
    per_example = np.asarray(fn())
    np.testing.assert_allclose(mean, (weights * per_example).sum() / weights.sum(),
                               rtol=1e-5, err_msg=loss)
  # A batch of padding only has mean 0 (not 0/0).
  empty = dict(batch, weights=jnp.zeros(B))
  mean, aux = objective.loss_fn(params, empty, config=config, loss="cross_entropy",
                                 key=None)
  assert float(mean) == 0.0 and float(aux["weight_sum"]) == 0.0


@pytest.mark.parametrize("loss", ["max_margin", "max_margin_neg"])
def test_score_max_margin_uses_corrupted_windows_for_positives(loss):
  config = _config(output="score", window_size=2)
  params = network.init_params(jax.random.key(3), config=config)
  batch = _token_batch(config, num_labels=2)
  batch["labels"] = jnp.array([1, 0, 1, 0, 1, 1])
  key, margin, k = jax.random.key(4), 0.7, 3
  token_losses = jax.jit(lambda key: objective.token_losses(
      params, batch, config=config, loss=loss, key=key, margin=margin,
      num_corruptions=k))
  per_example = token_losses(key)
  chex.assert_shape(per_example, (B,))
  s = np.asarray(network.apply(params, batch["window_ids"], batch["feature_ids"],
                              config=config))
  # Negatives: nothing in the lecture's J; max(0, Δ + s) with max_margin_neg.
  for i in (1, 3):
    expected = max(0.0, margin + s[i]) if loss == "max_margin_neg" else 0.0
    np.testing.assert_allclose(per_example[i], expected, rtol=1e-5)
  # Positives: the documented key stream, centre words replaced, features kept.
  corrupted = losses.corrupt_centre(
      jax.random.fold_in(key, objective.CORRUPT_STREAM), batch["window_ids"],
      num_corruptions=k, low=4, high=V)
  apply = jax.jit(functools.partial(network.apply, params, config=config))
  for i in (0, 2, 4, 5):
    s_c = np.asarray(apply(corrupted[i],
                           jnp.broadcast_to(batch["feature_ids"][i], (k, 5, 1))))
    np.testing.assert_allclose(per_example[i], np.maximum(0, margin - s[i] + s_c).sum(),
                               rtol=1e-5)
  # with_corruptions draws the very centre words forward draws (what a sparse
  # step gathers rows for), and forward uses them.
  drawn = objective.with_corruptions(batch, config=config, loss=loss, key=key,
                                     num_corruptions=k)
  np.testing.assert_array_equal(drawn[objective.CORRUPTED_WORDS],
                                corrupted[:, :, config.window_len // 2])
  np.testing.assert_allclose(objective.token_losses(
      params, drawn, config=config, loss=loss, key=None, margin=margin,
      num_corruptions=k), per_example, rtol=1e-6)  # eager vs jit
  # Another key changes the positives only.
  other = token_losses(jax.random.key(5))
  np.testing.assert_allclose(other[1::2][:2], per_example[1::2][:2])
  assert not np.allclose(other[np.array([0, 2, 4, 5])], per_example[np.array([0, 2, 4, 5])])


def test_dropout_only_in_training():
  config = _config(dropout=0.5, hidden_size=20)
  params = network.init_params(jax.random.key(6), config=config)
  batch = _token_batch(config)

  @functools.partial(jax.jit, static_argnames=("train", "cfg"))
  def loss(key, train, cfg=config):
    return objective.loss_fn(params, batch, config=cfg, loss="cross_entropy",
                              key=key, train=train)[0]

  evaluation = loss(jax.random.key(0), False)
  assert evaluation == loss(jax.random.key(1), False)
  np.testing.assert_allclose(evaluation, loss(None, True, _config(hidden_size=20)),
                             rtol=1e-6)
  assert loss(jax.random.key(0), True) != loss(jax.random.key(1), True)
  assert loss(jax.random.key(0), True) != evaluation


def test_crf_loss_is_sentence_nll_per_token():
  config = _config(use_crf=True, window_size=0)
  params = network.init_params(jax.random.key(7), config=config)
  params["crf"] = jax.tree.map(
      lambda x: jax.random.normal(jax.random.key(8), x.shape), params["crf"])
  batch = _sentence_batch(config)
  mean, aux = jax.jit(lambda p, b: objective.loss_fn(p, b, config=config, loss="crf",
                                                     key=None))(params, batch)

  @jax.jit
  def sentence_nll(window_ids, feature_ids, labels, mask):
    emissions = network.apply(params, window_ids, feature_ids, config=config)
    return (crf.crf_log_partition(emissions, mask, params["crf"])
            - crf.crf_sequence_score(emissions, labels, mask, params["crf"]))

  total = 0.0
  for i in range(batch["labels"].shape[0]):
    if batch["mask"][i].any():
      total += float(sentence_nll(batch["window_ids"][i], batch["feature_ids"][i],
                                  batch["labels"][i], batch["mask"][i]))
  np.testing.assert_allclose(aux["loss_sum"], total, rtol=1e-5)
  np.testing.assert_allclose(mean, total / 8.0, rtol=1e-5)


def test_bad_combinations_raise():
  multiclass = _config()
  params = network.init_params(jax.random.key(0), config=multiclass)
  batch = _token_batch(multiclass)
  with pytest.raises(ValueError,
                     match="--loss=logistic does not work with --output=multiclass"):
    objective.loss_fn(params, batch, config=multiclass, loss="logistic", key=None)
  with pytest.raises(ValueError, match="--loss=crf needs ModelConfig.use_crf=True"):
    objective.loss_fn(params, batch, config=multiclass, loss="crf", key=None)
  with pytest.raises(ValueError, match="--loss='nce' is not one of"):
    objective.loss_fn(params, batch, config=multiclass, loss="nce", key=None)
  with pytest.raises(ValueError, match=r"lacks \['labels'\]"):
    objective.loss_fn(params, {"window_ids": batch["window_ids"]}, config=multiclass,
                       loss="cross_entropy", key=None)
  score = _config(output="score")
  with pytest.raises(ValueError, match="needs a key for the corruptions"):
    objective.loss_fn(network.init_params(jax.random.key(0), config=score),
                       _token_batch(score, num_labels=2), config=score,
                       loss="max_margin", key=None)


# --- One training step on real CoNLL-2003 sentences ------------------------------

NUM_SENTENCES = 50


def _conll_train_path():
  root = os.environ.get("WINCLS_CONLL2003_DIR") or str(
      Path(__file__).resolve().parents[1].parent / "shared" / "data" / "conll2003")
  path = Path(root) / "eng.train"
  if not path.is_file():
    pytest.skip(f"CoNLL-2003 not found at {path} (set WINCLS_CONLL2003_DIR)")
  return path


def _real_sentence_batch(m):
  """The first NUM_SENTENCES sentences of eng.train as a padded sentence batch."""
  from wincls.data.conll import read_conll
  from wincls.data.windows import make_windows

  sentences = read_conll(_conll_train_path()).sentences[:NUM_SENTENCES]
  words = sorted({w.lower() for s in sentences for w in s.words})
  word_ids = {w: i + 4 for i, w in enumerate(words)}  # 0-3 reserved
  tag_ids = {t: i for i, t in enumerate(sorted({t for s in sentences for t in s.tags}))}
  lengths = np.array([len(s.words) for s in sentences])
  ids = np.array([word_ids[w.lower()] for s in sentences for w in s.words])
  caps = np.array([[1 + w[:1].isupper()] for s in sentences for w in s.words])
  tags = np.array([tag_ids[t] for s in sentences for t in s.tags], np.int32)
  window_ids = make_windows(ids, lengths, half_width=m, pad_left=2, pad_right=3)
  feature_ids = make_windows(caps, lengths, half_width=m, pad_left=[0], pad_right=[0])
  # Pad every sentence to the longest.
  starts = np.cumsum(lengths) - lengths
  index = np.minimum(starts[:, None] + np.arange(lengths.max())[None], len(tags) - 1)
  mask = np.arange(lengths.max())[None] < lengths[:, None]
  batch = {"window_ids": window_ids[index], "feature_ids": feature_ids[index],
           "labels": np.where(mask, tags[index], 0), "mask": mask}
  return len(words) + 4, len(tag_ids), jax.tree.map(jnp.asarray, batch)


def test_one_train_step_on_conll_changes_every_trainable_leaf():
  # The sentence-level (CRF) loss: its step reaches every parameter there is.
  vocab_size, num_tags, batch = _real_sentence_batch(m=2)
  config = ModelConfig(features=(), vocab_size=vocab_size, feature_sizes=(3,), num_classes=num_tags,
                       window_size=2, embed_dim=8, feature_dim=2, hidden_size=16,
                       hidden2_size=4, use_crf=True)
  params = network.init_params(jax.random.key(0), config=config)
  tx = optax.adam(1e-2)

  @jax.jit
  def train_step(params, opt_state, batch, key):
    (value, aux), grads = jax.value_and_grad(objective.loss_fn, has_aux=True)(
        params, batch, config=config, loss="crf", key=key)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, value, aux

  new_params, _, value, aux = train_step(params, tx.init(params), batch,
                                         jax.random.key(1))
  assert np.isfinite(value) and value > 0
  assert float(aux["weight_sum"]) == float(batch["mask"].sum())
  changed = jax.tree.map(lambda a, b: bool(np.any(np.asarray(a) != np.asarray(b))),
                         new_params, params)
  assert all(jax.tree.leaves(changed)), changed


def test_a_plugin_sentence_loss_is_read_by_its_kind_not_its_name(monkeypatch):
  """What a sentence loss gets (CRF parameters, sentence batches, Viterbi) comes
  from ``kind == "sentence"``, so a plugin's gets what ``crf`` gets."""
  from wincls import config as config_lib  # pylint: disable=g-import-not-at-top
  from wincls.train import step  # pylint: disable=g-import-not-at-top
  monkeypatch.setitem(losses.LOSSES, "plugin_crf", losses.LossSpec(
      crf.crf_nll, crf.crf_nll_gradient, ("multiclass",), "test: a plugin's crf",
      kind="sentence"))
  assert losses.is_sentence("plugin_crf") and not losses.is_sentence("max_margin")
  run_config = config_lib.Config(loss="plugin_crf", features=()).validate()
  config = run_config.model_config(vocab_size=V, num_classes=C, feature_sizes=())
  assert config.use_crf
  params = network.init_params(jax.random.key(7), config=config)
  batch = _sentence_batch(config)
  batch["feature_ids"] = batch["feature_ids"][..., :0]
  tags = step.eval_step(params, batch, config=config, loss="plugin_crf")
  np.testing.assert_array_equal(tags, step.eval_step(params, batch, config=config,
                                                     loss="crf"))
  assert tags.shape == batch["labels"].shape


def test_a_loss_kind_serves_only_its_outputs(monkeypatch):
  """A corrupted loss scores single windows (--output=score), a sentence loss
  reads every class's emissions (multiclass), whatever its spec lists: checked
  by kind in Config.validate, before any data is read."""
  from wincls import config as config_lib  # pylint: disable=g-import-not-at-top
  spec = losses.LOSSES["max_margin_neg"]
  monkeypatch.setitem(losses.LOSSES, "plugin_corrupted", losses.LossSpec(
      spec.forward, spec.gradient, ("score", "multiclass"), "test", kind="corrupted"))
  config_lib.Config(loss="plugin_corrupted", output="score", target_type="LOC").validate()
  with pytest.raises(ValueError, match="--loss=plugin_corrupted is a corrupted loss, "
                     "which works with --output=score only, not --output=multiclass"):
    config_lib.Config(loss="plugin_corrupted").validate()
  assert "plugin_corrupted" not in losses.outputs_of("multiclass")
  assert "max_margin" in losses.outputs_of("multiclass")  # hinge_cs there
  with pytest.raises(ValueError, match="loss 'plugin_odd': kind='pairwise'"):
    losses.register("plugin_odd", losses.LossSpec(  # refused when registered
        spec.forward, spec.gradient, ("score",), "test", kind="pairwise"))
