"""What a run was given is part of the run (wincls/train/inputs.py).

A new run's config.json records the size and sha256 of every file it read; a
rerun in its workdir (a resume, a finished run or a sweep's run asked again)
on files with other contents is refused, naming the file. The runs here are
started (data read, config.json written) but not trained: the check comes
before anything is read or compiled.
"""

import hashlib
import json
import shutil

import jax
import numpy as np
import pytest

from wincls import config as config_lib
from wincls import train
from wincls.data import datasets
from wincls.data import vocab as vocab_lib
from wincls.model import network
from wincls.train import inputs
from wincls.train import resume
from wincls.train import workdir as workdir_lib

SENTENCES = ["Peter B-PER\nlives O\nin O\nParis B-LOC\n",
             "Anna B-PER\nvisited O\nBerlin B-LOC\ntoday O\n",
             "The O\nUN B-ORG\nmet O\n"]
VECTORS = "peter 0.1 0.2 0.3 0.4\nparis 0.5 0.6 0.7 0.8\nthe 0.9 1.0 1.1 1.2\n"


@pytest.fixture
def files(tmp_path):
  paths = {name: tmp_path / f"{name}.txt" for name in ("train", "dev", "vectors")}
  paths["train"].write_text("\n".join(SENTENCES * 3))
  paths["dev"].write_text("\n".join(SENTENCES))
  paths["vectors"].write_text(VECTORS)
  return paths


def _config(files, **changes):
  return config_lib.Config(dataset="files", train_path=str(files["train"]),
                           dev_path=str(files["dev"]), embed_dim=4, hidden_size=4,
                           epochs=1, batch_size=16, **changes)


def _started(config, workdir):
  """A run killed after reading its data, before its first epoch."""
  resume.open_run(config, workdir, existed=False, lead=True)
  return workdir_lib.read_json(workdir / "config.json")


def test_config_json_records_each_file_read(files, tmp_path):
  config = _config(files, vectors="file", vectors_path=str(files["vectors"]))
  stored = _started(config, tmp_path / "W")
  assert set(stored["inputs"]) == {"train", "dev", "vectors"}
  for role, path in files.items():
    assert stored["inputs"][role] == {
        "path": str(path), "size": path.stat().st_size,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
  # The bundled WNUT-2016 file (train and dev) counts too.
  bundled = inputs.fingerprints(config_lib.Config())
  assert bundled["train"]["path"] == bundled["dev"]["path"] == str(datasets.wnut16_path())


def test_a_rerun_on_a_changed_data_file_is_refused_naming_it(files, tmp_path):
  config, workdir = _config(files), tmp_path / "W"
  _started(config, workdir)
  original = files["train"].read_text()
  source = workdir / "config.json"
  files["train"].write_text("\n".join(SENTENCES[:2]))  # fewer sentences
  with pytest.raises(inputs.InputsChangedError, match=(
      rf"^{source}: data file {files['train']} changed since the run started "
      r"\(size \d+ -> \d+ bytes, sha256 \w+ -> \w+\); start a new --workdir or "
      r"restore the file$")):
    train.train_and_evaluate(config, workdir)
  files["train"].write_text(original.replace("B-LOC", "B-ORG"))  # same size
  with pytest.raises(inputs.InputsChangedError, match="data file .*train.txt changed"):
    train.train_and_evaluate(config, workdir)
  files["train"].write_text(original)  # restored: the run goes on
  assert workdir_lib.inspect_run(workdir, config)["existed"]
  # A finished run (or a sweep's) asked again on other data is refused too.
  (workdir / "results.json").write_text(json.dumps({"seeds": []}))
  files["dev"].write_text(SENTENCES[0])
  with pytest.raises(inputs.InputsChangedError, match="data file .*dev.txt changed"):
    train.train_and_evaluate(config, workdir)


def test_a_rerun_on_a_changed_vectors_file_is_refused_naming_it(files, tmp_path):
  config = _config(files, vectors="file", vectors_path=str(files["vectors"]))
  _started(config, tmp_path / "W")
  files["vectors"].write_text(VECTORS.replace("0.1", "0.2"))
  with pytest.raises(inputs.InputsChangedError,
                     match=f"vectors file {files['vectors']} changed since the run"):
    train.train_and_evaluate(config, tmp_path / "W")


def _with_best(config, workdir):
  """A best checkpoint of zeros, as ``saved_run.load_run`` reads it (no training)."""
  model_config = config.model_config(
      vocab_size=len(vocab_lib.Vocab.load(workdir / "vocab.json")),
      num_classes=len(vocab_lib.LabelVocab.load(workdir / "labels.json")))
  params = jax.eval_shape(lambda: network.init_params(jax.random.key(0),
                                                      config=model_config))
  seeds = config.num_seeds
  params = jax.tree.map(lambda x: np.zeros((seeds,) + x.shape, x.dtype), params)
  workdir_lib.save(workdir_lib.checkpoint_path(workdir, workdir_lib.BEST),
                   {"params": params, "epoch": np.zeros(seeds, np.int64),
                    "f1": np.zeros(seeds)})


def test_tagging_with_a_changed_vectors_file_is_refused(files, tmp_path):
  """Words beyond the vocabulary get the vectors file's rows: other contents
  would tag them with rows dev was not scored with."""
  config = _config(files, vectors="file", vectors_path=str(files["vectors"]))
  workdir = tmp_path / "W"
  _started(config, workdir)
  _with_best(config, workdir)
  assert train.Tagger.load(workdir).extender is not None
  files["vectors"].write_text(VECTORS.replace("0.1", "0.2"))
  with pytest.raises(inputs.InputsChangedError,
                     match="vectors file .*vectors.txt changed"):
    train.Tagger.load(workdir)
  assert train.load_tagger(workdir, open_vocab=False).extender is None  # reads no vectors


def test_a_config_json_without_fingerprints_is_not_checked(files, tmp_path):
  """Runs from before the fingerprints were recorded resume as before."""
  config, workdir = _config(files), tmp_path / "W"
  stored = _started(config, workdir)
  del stored["inputs"]
  (workdir / "config.json").write_text(json.dumps(stored))
  files["train"].write_text("\n".join(SENTENCES[:2]))
  assert workdir_lib.inspect_run(workdir, config)["existed"]
  assert config_lib.Config.from_dict(stored) == config


def test_a_sweep_rerun_on_a_changed_data_file_is_refused_before_any_run(files, tmp_path):
  """Finished runs are answered from results.jsonl: their files are checked too,
  before a run that is not finished trains on the new contents."""
  from wincls import sweep  # pylint: disable=g-import-not-at-top
  calls = []

  def started(config, workdir):  # a run that reads its data and "finishes"
    calls.append(workdir.name)
    _started(config, workdir)
    return {"seeds": [{"seed": config.seed, "best_epoch": 1, "dev_f1": 0.5,
                       "dev_precision": 0.5, "dev_recall": 0.5, "dev_accuracy": 0.9}],
            "epochs_run": 1, "wall_time": 1.0}

  axes = [("learning_rate", ["0.01", "0.1"])]
  sweep.run_sweep(_config(files), axes, tmp_path / "S", train_fn=started, reports=False)
  assert len(calls) == 2
  files["train"].write_text("\n".join(SENTENCES[:2]))
  # The sweep killed before its second run started: that run would train anew.
  (tmp_path / "S" / "results.jsonl").write_text(
      (tmp_path / "S" / "results.jsonl").read_text().splitlines()[0] + "\n")
  shutil.rmtree(tmp_path / "S" / "runs" / "learning_rate=0.1")
  with pytest.raises(inputs.InputsChangedError, match=r"S/runs/learning_rate=0.01/"
                     r"config.json: data file .*train.txt changed"):
    sweep.run_sweep(_config(files), axes, tmp_path / "S", train_fn=started, reports=False)
  assert len(calls) == 2
