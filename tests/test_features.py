"""Word features (``wincls.model.features``): every registered spec through
``wincls.testing.check_feature``, the character CNN's values against NumPy, its
tie convention, and the features' place in the data and the network."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wincls import config as config_lib
from wincls import testing
from wincls.data import vocab as vocab_lib
from wincls.model import chars
from wincls.model import features
from wincls.model import network
from wincls.model import objective
from wincls.model import windows


@pytest.mark.parametrize("name", features.choices())
def test_hand_jacobian_and_vjp_match_autodiff(name):
  assert testing.check_feature(features.get(name)) <= testing.RTOL


def _numpy_chars(p, ids, width):
  """The character CNN written out in NumPy loops (the reference)."""
  out = np.zeros((len(ids), p["W"].shape[0]))
  left = (width - 1) // 2
  for i, word in enumerate(ids):
    length = int((word > 0).sum())
    if length == 0:
      continue
    vectors = [p["embed"][c] for c in word[:length]]
    zero = np.zeros_like(vectors[0])
    rows = []
    for t in range(length):
      window = [vectors[t - left + s] if 0 <= t - left + s < length else zero
                for s in range(width)]
      rows.append(p["W"] @ np.concatenate(window) + p["b"])
    out[i] = np.max(rows, axis=0)
  return out


def test_chars_values_and_inputs():
  config = testing.FEATURE_CONFIG
  words = ["Peter", "EU", "", "Zürich", "東京", "Bundesverfassungsgericht"]
  ids = chars.char_ids(words, config.char_max_len)
  assert ids[0].tolist() == [ord(c) for c in "Peter"] + [0]
  assert ids[3, 1] == ord("ü") and ids[4, 0] == 256 + ord("東") % 256
  assert ids[5].tolist() == [ord(c) for c in "Bundes"]  # the first char_max_len
  assert not ids[2].any()
  with jax.enable_x64(True):
    p = chars.init(jax.random.key(0), chars.NUM_CHARS, config, jnp.float64)
    p = jax.tree.map(lambda x: x + 0.3 * jax.random.normal(jax.random.key(1), x.shape), p)
    out = chars.forward(p, jnp.asarray(ids), config)
    np.testing.assert_allclose(out, _numpy_chars(jax.tree.map(np.asarray, p), ids,
                                                 config.char_width), rtol=1e-12)
    np.testing.assert_array_equal(out[2], 0.0)  # no characters: window padding


def test_chars_ties_go_to_the_first_position_in_hand_and_autodiff():
  config = testing.FEATURE_CONFIG
  ids = jnp.asarray(chars.char_ids(["abab"], config.char_max_len))
  with jax.enable_x64(True):
    p = chars.init(jax.random.key(0), chars.NUM_CHARS, config, jnp.float64)
    p["W"] = jnp.zeros_like(p["W"]).at[:, :config.char_dim].set(1.0)  # reads c_{t-1} only
    p["embed"] = p["embed"].at[ord("a")].set(1.0).at[ord("b")].set(-1.0)
    # Z_t = Σ c_{t-1}: positions 1 and 3 (after an "a") tie at the maximum.
    g = jnp.ones((1, config.char_filters))
    hand = chars.vjp(p, ids, g, config)
    _, pullback = jax.vjp(lambda q: chars.forward(q, ids, config), p)
    auto = pullback(g)[0]
    np.testing.assert_array_equal(hand["embed"], auto["embed"])
    # All of g went to position 1's window (its left character, the first "a").
    assert float(hand["embed"][ord("a"), 0]) == config.char_filters
    assert float(hand["embed"][ord("b")].sum()) == 0.0


def test_feature_inputs_sit_side_by_side_and_every_word_gets_a_vector():
  config = config_lib.Config(features=("casing", "chars"), char_max_len=4)
  inputs = features.word_inputs(["Peter", "xqzv"], config)
  assert inputs.shape == (2, 1 + 4)
  assert inputs[:, 0].tolist() == vocab_lib.casing_ids(["Peter", "xqzv"]).tolist()
  model = config.model_config(vocab_size=6, feature_sizes=features.sizes(config.features),
                              num_classes=3)
  assert features.word_dim(model) == config.embed_dim + config.feature_dim + config.char_filters
  params = network.init_params(jax.random.key(0), config=model)
  assert set(params["embed"]["features"][1]) == {"embed", "W", "b"}
  window_ids = jnp.full((2, model.window_len), vocab_lib.UNK)  # unknown words
  feature_ids = jnp.broadcast_to(jnp.asarray(inputs)[:, None], (2, model.window_len, 5))
  vectors = jax.jit(windows.embed, static_argnums=3)(params["embed"], window_ids,
                                                     feature_ids, model)
  assert not np.allclose(vectors[0, :, -config.char_filters:],
                         vectors[1, :, -config.char_filters:])  # told apart by chars


@pytest.mark.parametrize("char_dropout", [0.0, 0.5])
def test_hand_gradient_with_chars_equals_autodiff(char_dropout):
  """With ``--char_dropout`` the mask on the character vectors is in both."""
  with jax.enable_x64(True):
    model = config_lib.Config(features=("casing", "chars"), char_max_len=5, char_dim=3,
                              char_filters=4, hidden_size=5, embed_dim=4,
                              char_dropout=char_dropout, window_size=1).model_config(
        vocab_size=9, feature_sizes=features.sizes(("casing", "chars")), num_classes=3)
    params = network.init_params(jax.random.key(0), config=model)
    words = ["Peter", "lives", "in", "Paris", "."]
    inputs = features.word_inputs(words, config_lib.Config(features=("casing", "chars"),
                                                           char_max_len=5))
    batch = {"window_ids": jnp.asarray([[2, 4, 5], [4, 5, 6], [5, 6, 7]]),
             "feature_ids": jnp.asarray(inputs[np.array([[0, 1, 2], [1, 2, 3],
                                                         [2, 3, 4]])]),
             "labels": jnp.asarray([0, 1, 2])}
    kwargs = dict(config=model, loss="cross_entropy", key=jax.random.key(1),
                  train=char_dropout > 0)
    both = jax.jit(lambda p, b: (jax.value_and_grad(objective.loss_fn, has_aux=True)(
        p, b, **kwargs), objective.hand_grad(p, b, **kwargs)))
    ((loss, _), auto), (hand_loss, hand) = both(params, batch)
    np.testing.assert_allclose(hand_loss, loss, rtol=1e-12)
    testing.assert_close("hand_grad", hand, auto, rtol=1e-10)


def test_a_features_dropout_rate_drops_its_columns_only():
  """``FeatureSpec.dropout`` (``--char_dropout`` for chars) masks that feature's
  columns of the position vectors in training, scaled by 1/(1-rate), and no other."""
  spec = dataclasses.replace(features.get("casing"), dropout=lambda config: 0.5)
  features.register("casing_dropped", spec)
  try:
    model = config_lib.Config(features=("casing", "casing_dropped"), dropout=0.0,
                              embed_dim=4, feature_dim=64).model_config(
        vocab_size=20, num_classes=3)
    assert network.uses_dropout(model)
    params = network.init_params(jax.random.key(0), config=model)
    window_ids = jnp.full((10, 5), 7)
    ids = jnp.asarray(np.random.default_rng(0).integers(1, 8, (10, 5, 2)), jnp.int32)
    _, train = network.forward(params, window_ids, ids, config=model,
                               dropout_key=jax.random.key(2))
    evaluation = windows.embed(params["embed"], window_ids, ids, model)
  finally:
    features.FEATURES.unregister("casing_dropped")
  dropped = slice(4 + 64, None)
  np.testing.assert_array_equal(train["vectors"][..., :dropped.start],
                                evaluation[..., :dropped.start])
  kept = train["vectors"][..., dropped] != 0
  assert 0.45 < float(kept.mean()) < 0.55
  np.testing.assert_allclose(train["vectors"][..., dropped][kept],
                             2 * evaluation[..., dropped][kept], rtol=1e-6)
  chars = config_lib.Config(features=("casing", "chars"), char_dropout=0.25)
  rates = features.dropout_rates(chars.model_config(vocab_size=20, num_classes=3))
  assert list(rates) == [0.0] * (chars.embed_dim + chars.feature_dim) + [0.25] * 32
  assert features.dropout_rates(config_lib.Config().model_config(
      vocab_size=20, num_classes=3)) is None
  with pytest.raises(ValueError, match="--char_dropout=0.5 is read by the chars"):
    config_lib.Config(char_dropout=0.5).validate()
  with pytest.raises(ValueError, match="--char_dropout=1.0 must be in"):
    config_lib.Config(features=("chars",), char_dropout=1.0).validate()
