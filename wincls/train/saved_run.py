"""A run's saved files read back: ``load_run(workdir)``.

A finished (or running) run is read from ``config.json``, ``vocab.json``,
``labels.json`` and ``checkpoints/best``. ``results.json`` only names the best
seed; when it is missing or damaged the caller reads the best seed from the
checkpoint's own dev F1 (``evaluate.load_tagger``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from wincls import config as config_lib
from wincls.data import vocab as vocab_lib
from wincls.model import network
from wincls.train import workdir as workdir_lib


def load_run(workdir: str | os.PathLike):
  """``(config, vocab, label_vocab, model_config, best, results)`` of a run.

  ``best`` is ``checkpoints/best``: ``{"params": [S, ...], "epoch": [S],
  "f1": [S]}``; ``results`` is ``results.json`` (None when the run is
  unfinished or the file cannot be read: prediction does not need it).

  Raises:
    FileNotFoundError: the workdir lacks a run's config, vocabularies or best
      checkpoint.
    plugins.PluginError: ``config.json`` names a plugin that is not importable
      from your own path (one line naming the file and the remedy).
  """
  workdir = Path(workdir)
  for name in (workdir_lib.CONFIG_FILE, workdir_lib.VOCAB_FILE, workdir_lib.LABELS_FILE):
    if not (workdir / name).exists():
      raise FileNotFoundError(f"{workdir / name}: missing; expected the workdir of "
                              "a run of experiments/train.py")
  best_path = workdir_lib.checkpoint_path(workdir, workdir_lib.BEST)
  if not best_path.exists():
    raise FileNotFoundError(f"{best_path}: missing; the run has not finished an "
                            "epoch yet")
  # Its plugins come from your own path only, never from the current directory
  # or the workdir (wincls/plugins.py: a workdir is data, not code).
  config_path = workdir / workdir_lib.CONFIG_FILE
  config = config_lib.Config.from_dict(workdir_lib.read_json(config_path),
                                       source=config_path)
  vocab = vocab_lib.Vocab.load(workdir / workdir_lib.VOCAB_FILE)
  label_vocab = vocab_lib.LabelVocab.load(workdir / workdir_lib.LABELS_FILE)
  model_config = config.model_config(vocab_size=len(vocab), num_classes=len(label_vocab))
  params = jax.eval_shape(lambda: network.init_params(jax.random.key(0),
                                                      config=model_config))
  params = jax.tree.map(lambda x: np.zeros((config.num_seeds,) + x.shape, x.dtype), params)
  target = {"params": params, "epoch": np.zeros(config.num_seeds, np.int64),
            "f1": np.zeros(config.num_seeds)}
  best = workdir_lib.restore(best_path, target)
  best["params"] = jax.tree.map(jnp.asarray, best["params"])
  return config, vocab, label_vocab, model_config, best, _read_results(workdir)


def _read_results(workdir: Path) -> dict[str, Any] | None:
  path = workdir / workdir_lib.RESULTS_FILE
  try:
    return workdir_lib.read_json(path) if path.exists() else None
  except (ValueError, OSError):
    return None  # only names the best seed, which the checkpoint also knows
