"""Tests of benchmarks/throughput.py and its peers (benchmarks/peers/)."""

import dataclasses
import importlib.util
import json
import os
from pathlib import Path
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wincls import config as config_lib
from wincls.model import chars
from wincls.model import objective

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
  sys.path.insert(0, str(REPO))

from benchmarks import peers  # pylint: disable=g-import-not-at-top
from benchmarks.peers import numpy_hand  # pylint: disable=g-import-not-at-top
from benchmarks.peers import wincls_train  # pylint: disable=g-import-not-at-top
from benchmarks import throughput  # pylint: disable=g-import-not-at-top
from benchmarks import workload  # pylint: disable=g-import-not-at-top

HAVE_TORCH = importlib.util.find_spec("torch") is not None
SPEC = peers.Spec(vocab_size=30, feature_size=9, embed_dim=4, feature_dim=2,
                  window_len=3, hidden_size=6, num_classes=5)


def _conll_dir():
  candidates = [os.environ.get("WINCLS_CONLL2003_DIR"),
                str(REPO.parent / "shared" / "data" / "conll2003")]
  for candidate in candidates:
    if candidate and (Path(candidate) / "eng.train").is_file():
      return candidate
  pytest.skip("CoNLL-2003 not found (set WINCLS_CONLL2003_DIR or put eng.train in "
              "../shared/data/conll2003)")


def _tiny_data(n=16, seed=0):
  rng = np.random.default_rng(seed)
  return peers.Data(
      window_ids=rng.integers(0, SPEC.vocab_size, (n, SPEC.window_len)).astype(np.int32),
      feature_ids=rng.integers(0, SPEC.feature_size, (n, SPEC.window_len)).astype(np.int32),
      labels=rng.integers(0, SPEC.num_classes, n).astype(np.int32))


CHAR_SPEC = SPEC._replace(chars=True, char_dim=3, char_filters=4, char_width=3,
                          char_max_len=5)


def _tiny_char_data(n=16, seed=0):
  """Words of 0..L chars (ids over the whole alphabet); window padding has none."""
  data = _tiny_data(n, seed)
  rng = np.random.default_rng(seed + 7)
  shape = (n, CHAR_SPEC.window_len, CHAR_SPEC.char_max_len)
  ids = rng.integers(1, peers.NUM_CHARS, shape).astype(np.int32)
  lengths = rng.integers(0, CHAR_SPEC.char_max_len + 1, shape[:2])
  ids[np.arange(CHAR_SPEC.char_max_len) >= lengths[..., None]] = 0
  ids[0, 0] = 0  # a position with no chars
  ids[1, 1, :2] = 7  # a repeated char
  return data._replace(char_ids=ids)


def _wincls_params(p):
  features = [p["features"]]
  if "char_embed" in p:
    features.append({"embed": p["char_embed"], "W": p["char_W"], "b": p["char_b"]})
  return {"embed": {"words": p["words"], "features": features},
          "hidden": {"W": p["W"], "b": p["b"]},
          "output": {"W": p["U"], "b": p["c"]}}


def _wincls_batch(data):
  return {"window_ids": jnp.asarray(data.window_ids),
          "feature_ids": jnp.asarray(wincls_train.feature_ids(data)),
          "labels": jnp.asarray(data.labels)}


def test_numpy_peer_gradient_equals_wincls_autodiff():
  data = _tiny_data()
  data.window_ids[0, 0] = data.window_ids[3, 2]  # a repeated word
  runner = numpy_hand.make_runner(data, SPEC, batch_size=16, seed=0)
  runner.params = {k: v.astype(np.float64) for k, v in runner.params.items()}
  loss, grads = runner.grads(data.window_ids, data.feature_ids, data.labels)
  with jax.enable_x64(True):
    config = wincls_train.model_config(SPEC)
    params = jax.tree.map(jnp.asarray, _wincls_params(runner.params))
    (ref_loss, _), ref = jax.value_and_grad(objective.loss_fn, has_aux=True)(
        params, _wincls_batch(data), config=config, loss="cross_entropy", key=None)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-12)
    for got, want in zip(jax.tree.leaves(_wincls_params(grads)), jax.tree.leaves(ref)):
      np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-14)


def test_numpy_peer_epoch_lowers_loss_and_caps_windows():
  data = _tiny_data(n=64)
  runner = numpy_hand.make_runner(data, SPEC, batch_size=8, seed=0, max_windows=40)
  before, _ = runner.grads(data.window_ids, data.feature_ids, data.labels)
  assert runner.run_epoch() == 40  # 5 full batches of 8
  for _ in range(20):
    runner.run_epoch()
  after, _ = runner.grads(data.window_ids, data.feature_ids, data.labels)
  assert after < before
  assert runner.step == 21 * 5


def test_numpy_peer_relu_gradient_equals_wincls_autodiff():
  spec = SPEC._replace(activation="relu", dropout=0.3, word_dropout=0.1)
  data = _tiny_data()
  runner = numpy_hand.make_runner(data, spec, batch_size=16, seed=0)
  runner.train = False  # no dropout: the gradient is deterministic
  runner.params = {k: v.astype(np.float64) for k, v in runner.params.items()}
  loss, grads = runner.grads(data.window_ids, data.feature_ids, data.labels)
  with jax.enable_x64(True):
    params = jax.tree.map(jnp.asarray, _wincls_params(runner.params))
    (ref_loss, _), ref = jax.value_and_grad(objective.loss_fn, has_aux=True)(
        params, _wincls_batch(data), config=wincls_train.model_config(spec),
        loss="cross_entropy", key=None, train=False)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-12)
    for got, want in zip(jax.tree.leaves(_wincls_params(grads)), jax.tree.leaves(ref)):
      np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-14)


def _assert_torch_losses(data, spec, init, ref):
  """The dense and the sparse torch models give ``ref`` from the same parameters."""
  from benchmarks.peers import torch_window  # pylint: disable=g-import-not-at-top
  for sparse in (False, True):
    loss = torch_window.batch_loss(data, spec, init, sparse=sparse)
    np.testing.assert_allclose(loss, ref, rtol=1e-5)


@pytest.mark.skipif(not HAVE_TORCH, reason="torch not installed (pip install torch==2.13.0)")
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_torch_peers_are_the_same_model(activation):
  """Dense and sparse torch models: wincls's loss from the same parameters."""
  spec = SPEC._replace(activation=activation, dropout=0.3, word_dropout=0.1)
  data = _tiny_data()
  init = peers.init_numpy_params(spec, seed=3)
  ref, _ = objective.loss_fn(jax.tree.map(jnp.asarray, _wincls_params(init)),
                              _wincls_batch(data), config=wincls_train.model_config(spec),
                              loss="cross_entropy", key=None, train=False)
  _assert_torch_losses(data, spec, init, ref)


@pytest.mark.skipif(not HAVE_TORCH, reason="torch not installed (pip install torch==2.13.0)")
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_torch_char_peer_is_the_same_model(activation):
  """cw_chars: nn.Embedding + nn.Conv1d + max give wincls's loss and gradients."""
  import torch  # pylint: disable=g-import-not-at-top
  from benchmarks.peers import torch_window  # pylint: disable=g-import-not-at-top
  spec = CHAR_SPEC._replace(activation=activation, dropout=0.3, word_dropout=0.1)
  data = _tiny_char_data()
  init = peers.init_numpy_params(spec, seed=3)
  init["char_b"] = np.linspace(-0.2, 0.2, spec.char_filters).astype(np.float32)
  params = jax.tree.map(jnp.asarray, _wincls_params(init))
  config = wincls_train.model_config(spec)
  assert config.features == ("casing", "chars") and config.char_filters == 4
  (ref, _), ref_grads = jax.value_and_grad(objective.loss_fn, has_aux=True)(
      params, _wincls_batch(data), config=config, loss="cross_entropy", key=None,
      train=False)
  _assert_torch_losses(data, spec, init, ref)
  # The char CNN's gradients (masking, zero padding, max over real chars).
  model = torch_window.WindowNet(spec, init)
  model.eval()
  scores = model(*(torch.from_numpy(a.astype(np.int64)) for a in
                   (data.window_ids, data.feature_ids, data.char_ids)))
  torch.nn.functional.cross_entropy(
      scores, torch.from_numpy(data.labels.astype(np.int64))).backward()
  want = ref_grads["embed"]["features"][1]
  np.testing.assert_allclose(model.chars.embed.weight.grad.numpy(), want["embed"],
                             rtol=1e-4, atol=1e-7)
  w = model.chars.conv.weight.grad.numpy().transpose(0, 2, 1).reshape(spec.char_filters, -1)
  np.testing.assert_allclose(w, want["W"], rtol=1e-4, atol=1e-7)
  np.testing.assert_allclose(model.chars.conv.bias.grad.numpy(), want["b"],
                             rtol=1e-4, atol=1e-7)
  # Training runs (dropouts on) and counts whole batches.
  runner = torch_window.make_runner(data, spec, batch_size=8, seed=0,
                                    variant="torch_eager_fused")
  assert runner.run_epoch() == 16


def test_char_config_rows_build():
  """cw_chars: wincls_train trains on the char columns; numpy_hand refuses."""
  data = _tiny_char_data(n=20)
  runner = throughput.make_runner("wincls_train", data, CHAR_SPEC, batch_size=8, seed=0,
                                  num_seeds=1, peer_max_windows=0, torch_window=None)
  assert runner.data["feature_ids"].shape == (20, 3, 1 + CHAR_SPEC.char_max_len)
  assert runner.run_epoch() == 20
  with pytest.raises(ValueError, match="numpy_hand: no character CNN"):
    numpy_hand.make_runner(data, CHAR_SPEC, batch_size=8, seed=0)


@pytest.mark.skipif(not HAVE_TORCH, reason="torch not installed (pip install torch==2.13.0)")
def test_torch_word_dropout_keeps_reserved_ids():
  import torch  # pylint: disable=g-import-not-at-top
  from benchmarks.peers import torch_window  # pylint: disable=g-import-not-at-top
  spec = SPEC._replace(word_dropout=0.5)
  model = torch_window.WindowNet(spec, peers.init_numpy_params(spec, seed=0))
  seen = []
  model.words.register_forward_hook(lambda module, args, out: seen.append(args[0]))
  ids = torch.arange(spec.vocab_size).reshape(-1, spec.window_len).repeat(100, 1)
  model.train()
  model(ids, torch.zeros_like(ids))
  dropped = seen[0] != ids
  assert not dropped[ids < peers.NUM_RESERVED].any()
  assert (seen[0][dropped] == peers.UNK_ID).all()
  assert abs(dropped[ids >= peers.NUM_RESERVED].float().mean().item() - 0.5) < 0.05


def test_benchmark_config_is_the_default_run():
  """The rows train what ``experiments/train.py --dataset=conll2003`` trains."""
  default = config_lib.Config(dataset="conll2003")
  for name, shape in workload.CONFIGS.items():
    base = workload.base_config(name)
    spec = peers.Spec(vocab_size=30, feature_size=9, embed_dim=base.embed_dim,
                      feature_dim=base.feature_dim, window_len=2 * base.window_size + 1,
                      hidden_size=base.hidden_size, num_classes=17,
                      activation=base.activation, dropout=base.dropout,
                      word_dropout=base.word_dropout, chars="chars" in base.features,
                      char_dim=base.char_dim, char_filters=base.char_filters,
                      char_width=base.char_width, char_max_len=base.char_max_len)
    config = wincls_train.train_config(spec)
    differ = {f.name for f in dataclasses.fields(config)
              if getattr(config, f.name) != getattr(default, f.name)}
    assert differ <= set(shape), (name, differ)
    assert config.features == base.features, name
  assert workload.base_config("cw") == default
  assert workload.base_config("cw_chars") == dataclasses.replace(
      default, features=("casing", "chars"))


def test_model_overrides_change_every_impls_model_alike():
  overrides = workload.parse_overrides(["dropout=0", "word_dropout=0.05"])
  assert overrides == {"dropout": 0.0, "word_dropout": 0.05}
  base = workload.base_config("cs224n", overrides)
  assert (base.dropout, base.word_dropout, base.hidden_size) == (0.0, 0.05, 200)
  for bad in (["dropout"], ["learning_rate=1"]):
    with pytest.raises(ValueError, match="--model_overrides"):
      workload.parse_overrides(bad)


def test_flops_per_window_formula():
  # D = 3 * (4 + 2) = 18: 6 * (18 * 6 + 6 * 5).
  assert workload.flops_per_window(SPEC) == 6 * (18 * 6 + 6 * 5)
  # D = 3 * (4 + 2 + 4) = 30; the char convolution 6 * W * L * k * c * Fc.
  assert workload.flops_per_window(CHAR_SPEC) == (6 * (30 * 6 + 6 * 5)
                                                  + 6 * 3 * 5 * 3 * 3 * 4)


def test_load_data_carries_the_char_columns():
  """cw_chars reads the windows experiments/train.py makes (features.word_inputs)."""
  from wincls.model import features  # pylint: disable=g-import-not-at-top
  data_dir = _conll_dir()
  data, spec = workload.load_data("cw_chars", data_dir=data_dir, max_windows=50)
  plain, plain_spec = workload.load_data("cw", data_dir=data_dir, max_windows=50)
  assert spec == plain_spec._replace(chars=True) and spec.char_max_len == 16
  assert plain.char_ids is None and data.char_ids.shape == (50, 5, 16)
  np.testing.assert_array_equal(data.window_ids, plain.window_ids)
  np.testing.assert_array_equal(data.feature_ids, plain.feature_ids)
  from wincls.data import datasets  # pylint: disable=g-import-not-at-top
  words = datasets.load_splits("conll2003", data_dir=data_dir)["train"].sentences[0].words
  centre = data.char_ids[:len(words), 2]
  np.testing.assert_array_equal(centre, chars.char_ids(words, 16))
  assert (data.char_ids[0, :2] == 0).all()  # the sentence start's padding


def test_smoke_run_writes_rows(tmp_path):
  data_dir = _conll_dir()
  output = tmp_path / "throughput.json"
  # The seeds rows run the dense trainer's epoch (the default settings).
  impls = ["wincls_train", "wincls_train_sparse", "numpy_hand", "wincls_seeds",
           "wincls_sequential_seeds", "torch_eager_fused", "torch_sparse"]
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  result = subprocess.run(
      [sys.executable, str(REPO / "benchmarks" / "throughput.py"), "--smoke",
       f"--data_dir={data_dir}", f"--output={output}", "--configs=cs224n",
       f"--impls={','.join(impls)}"],
      capture_output=True, text=True, timeout=300, cwd=REPO, env=env)
  assert result.returncode == 0, result.stderr[-3000:]
  rows = json.loads(output.read_text())["rows"]
  assert [row["impl"] for row in rows] == impls
  for row in rows:
    for key in ("config", "batch_size", "impl", "optimizer_semantics", "windows_per_s",
                "roofline_fraction", "compile_s", "threads"):
      assert key in row, (row["impl"], key)
    assert row["optimizer_semantics"] == ("lazy" if row["impl"] in (
        "wincls_train_sparse", "torch_sparse") else "dense")
    assert row["config"] == "cs224n" and row["batch_size"] == 64
    assert row["flops_per_window"] == 6 * (3 * 55 * 200 + 200 * 17)  # IOBES: 17
    if row["impl"].startswith("torch") and not HAVE_TORCH:
      assert row["windows_per_s"] is None and "torch not installed" in row["error"]
      continue
    for key in ("windows_per_s", "epoch_s", "compile_s", "num_seeds",
                "roofline_fraction", "peak_flops_per_s"):
      assert row[key] is not None and row[key] >= 0, (row["impl"], key)
    seeds = 2 if row["impl"] in throughput.SEED_IMPLS else 1
    assert row["num_seeds"] == seeds
    assert row["windows"] == 512 * seeds  # 8 full batches of 64 per seed
    np.testing.assert_allclose(row["windows_per_s"], row["windows"] / row["epoch_s"])
  by_impl = {row["impl"]: row for row in rows}
  assert by_impl["wincls_seeds"]["seed_loop"] == "calls"
  assert by_impl["wincls_seeds"]["vs_wincls_sequential_seeds"] > 0
  if HAVE_TORCH:  # ratios only between rows of the same semantics
    assert by_impl["wincls_train"]["fastest_torch"] == "torch_eager_fused"
    assert by_impl["wincls_train_sparse"]["fastest_torch"] == "torch_sparse"
  assert "| cs224n | 64 | wincls_train_sparse | lazy |" in result.stdout


def test_train_rows_time_the_trainers_own_epoch():
  """``wincls_train*`` run the executable ``train_and_evaluate`` compiles."""
  from wincls.train import programs  # pylint: disable=g-import-not-at-top
  data = _tiny_data(n=20)
  for update in ("dense", "sparse"):
    runner = throughput.make_runner(
        "wincls_train" if update == "dense" else "wincls_train_sparse", data, SPEC,
        batch_size=8, seed=0, num_seeds=1, peer_max_windows=0, torch_window=None)
    config = wincls_train.train_config(SPEC, batch_size=8, embedding_update=update)
    static = programs.Static.from_config(config, wincls_train.model_config(SPEC),
                                     steps_per_epoch=3)
    keys = programs.seed_keys(0, 1)
    args = programs.epoch_args(programs.init_state(static, keys, None, config),
                           runner.data, keys, 1, 0)
    assert programs.compiled_epoch(static, 8, args) is runner.compiled
    assert runner.run_epoch() == 20
