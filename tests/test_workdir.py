"""Tests of wincls/train/workdir.py: atomic files, pytree round trips, config checks."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from wincls import config as config_lib
from wincls.model import network
from wincls import train
from wincls.train import workdir


@jax.jit
def _state():
  model_config = config_lib.ModelConfig(features=(), vocab_size=10, feature_sizes=(3,), num_classes=4,
                                        embed_dim=4, feature_dim=2, hidden_size=5,
                                        freeze_vectors=True)
  params = network.init_params(jax.random.key(0), config=model_config)
  tx = train.make_optimizer(optimizer="adam", schedule="cosine", total_steps=10,
                            trainable=network.trainable_mask(params, model_config),
                            learning_rate=0.1, weight_decay=0.01, grad_clip=1.0)
  opt_state = tx.init(params)
  grads = jax.tree.map(jnp.ones_like, params)
  updates, opt_state = tx.update(grads, opt_state, params)
  params = optax.apply_updates(params, updates)
  return {"state": {"params": params, "opt_state": opt_state}, "epoch": 3,
          "best_f1": jnp.array([0.5, 0.25]), "wall_time": 1.5}


def test_save_restore_round_trip(tmp_path):
  tree = _state()
  path = tmp_path / "ckpt"
  workdir.save(path, tree)
  target = jax.tree.map(jnp.zeros_like, tree)
  restored = workdir.restore(path, target)
  assert jax.tree.structure(restored) == jax.tree.structure(tree)
  for a, b in zip(jax.tree.leaves(tree), jax.tree.leaves(restored)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert restored["state"]["opt_state"].hyperparams["learning_rate"] == pytest.approx(0.1)
  assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]  # no temporary files left


def test_restore_names_a_shape_mismatch(tmp_path):
  path = tmp_path / "ckpt"
  workdir.save(path, {"w": np.zeros((2, 3)), "b": np.zeros(3)})
  with pytest.raises(ValueError, match=r"\['w'\] has shape \(2, 3\), the run expects \(4, 3\)"):
    workdir.restore(path, {"w": np.zeros((4, 3)), "b": np.zeros(3)})
  with pytest.raises(ValueError, match="ckpt"):
    workdir.restore(path, {"w": np.zeros((2, 3)), "other": np.zeros(3)})


def test_jsonl_append_read_and_torn_last_line(tmp_path):
  path = tmp_path / "m.jsonl"
  assert workdir.read_jsonl(path) == []
  workdir.append_jsonl(path, [{"epoch": 1}, {"epoch": 2}])
  with open(path, "a") as f:
    f.write('{"epoch": 3, "lo')  # a write cut short by a kill
  assert workdir.read_jsonl(path) == [{"epoch": 1}, {"epoch": 2}]
  workdir.append_jsonl(path, [{"epoch": 3}])
  assert [r["epoch"] for r in workdir.read_jsonl(path)] == [1, 2, 3]
  assert workdir.rewrite_jsonl(path, lambda r: r["epoch"] <= 2) == 2
  assert path.read_text() == '{"epoch": 1}\n{"epoch": 2}\n'
  path.write_text('{"epoch": 1}\nnot json\n')
  with pytest.raises(ValueError, match=r"m.jsonl:2: not a JSON object"):
    workdir.read_jsonl(path)


def test_workdir_config_written_then_checked(tmp_path):
  config = config_lib.Config(epochs=2)
  assert workdir.check_workdir_config(tmp_path, config) is False
  stored = json.loads((tmp_path / "config.json").read_text())
  assert stored["epochs"] == 2 and stored["features"] == ["casing"]
  assert config_lib.Config.from_dict(stored) == config
  assert workdir.check_workdir_config(tmp_path, config) is True
  with pytest.raises(workdir.ConfigMismatchError,
                     match=r"--epochs: stored 2, now 3; --window: stored 'concat', "
                           r"now 'average'"):
    workdir.check_workdir_config(tmp_path, config_lib.Config(epochs=3, window="average"))


def test_a_run_from_before_the_vocab_include_dev_default_changed_resumes(tmp_path):
  """vocab_include_dev changes nothing with random vectors: not a mismatch there."""
  old = dataclasses.replace(config_lib.Config(), vocab_include_dev=True)
  workdir.check_workdir_config(tmp_path, old)
  assert workdir.check_workdir_config(tmp_path, config_lib.Config()) is True
  glove = tmp_path / "glove"
  workdir.check_workdir_config(glove, dataclasses.replace(old, vectors="glove-6b-100d"))
  with pytest.raises(workdir.ConfigMismatchError, match="--vocab_include_dev: stored True"):
    workdir.check_workdir_config(glove, config_lib.Config(vectors="glove-6b-100d"))


def test_config_json_holds_the_inputs_beside_the_flags_and_old_ones_load(tmp_path):
  """``"inputs"`` (the fingerprints of the files read) is a record, not a flag:
  it is no config difference, and a config.json without it (older runs) loads."""
  config = config_lib.Config(epochs=2)
  recorded = {"train": {"path": "t.txt", "size": 1, "sha256": "0" * 64}}
  assert workdir.check_workdir_config(tmp_path, config, inputs=recorded) is False
  stored = json.loads((tmp_path / "config.json").read_text())
  assert stored["inputs"] == recorded
  assert config_lib.Config.from_dict(stored) == config
  del stored["inputs"]
  assert config_lib.Config.from_dict(stored) == config
  (tmp_path / "config.json").write_text(json.dumps(stored))
  assert workdir.check_workdir_config(tmp_path, config) is True


def test_a_config_json_from_before_a_field_existed_resumes_at_its_default(tmp_path):
  """A field added since a run was saved is absent from its config.json: that
  run ran as the default does, so it resumes; a stored non-default still differs."""
  config = config_lib.Config(epochs=2)
  workdir.check_workdir_config(tmp_path, config)
  stored = json.loads((tmp_path / "config.json").read_text())
  del stored["gazetteers"], stored["char_width"]
  (tmp_path / "config.json").write_text(json.dumps(stored))
  assert workdir.check_workdir_config(tmp_path, config) is True
  with pytest.raises(workdir.ConfigMismatchError, match=r"--char_width: stored 3, now 5"):
    workdir.check_workdir_config(tmp_path, dataclasses.replace(config, char_width=5))


def test_a_run_is_not_trained_in_a_sweeps_workdir(tmp_path):
  """train.py on a sweep's directory (it holds grid.json) is refused, naming it;
  before, the run trained there beside the sweep's files."""
  (tmp_path / workdir.SWEEP_GRID_FILE).write_text("{}")
  with pytest.raises(workdir.ConfigMismatchError, match=r"holds a sweep \(grid.json\)"):
    workdir.inspect_run(tmp_path, config_lib.Config())
  assert not (tmp_path / workdir.CONFIG_FILE).exists()
