"""Seed ensembles (wincls/train/ensemble.py) against plain NumPy references.

Random parameters of S seeds on a few synthetic sentences, no training: each
rule's compiled program must equal the same rule computed seed by seed in
NumPy (softmax probabilities averaged; scores averaged; emissions and CRF
parameters averaged, then a NumPy Viterbi), and an ensemble of one seed must
decode exactly what the per-seed program (training's dev evaluation) gives.
Trained runs tagged with ``--ensemble``: tests/test_predict.py.
"""

import jax
import numpy as np
import pytest

from wincls import config as config_lib
from wincls.data import text as text_lib
from wincls.data import vocab as vocab_lib
from wincls.model import network
from wincls.train import ensemble
from wincls.train import evaluate

NUM_SEEDS = 3
WORDS = "Peter lives in Paris and London , the 1999 cup of Spain was won by Ajax".split()


def _tagger(**settings):
  """A Tagger, its encoded synthetic corpus and ``[NUM_SEEDS, ...]`` parameters,
  perturbed so that the seeds disagree and their scores are far from flat."""
  rng = np.random.default_rng(0)
  sentences = [[WORDS[i] for i in rng.integers(0, len(WORDS), n)]
               for n in (1, 2, 5, 9, 12, 3, 7, 11)]  # CRF buckets of T = 8, 12
  config = config_lib.Config(window_size=1, embed_dim=4, feature_dim=2, hidden_size=6,
                             **settings)
  vocab = vocab_lib.Vocab.build(sentences[:4])  # later words: <unk> too
  label_vocab = vocab_lib.LabelVocab.for_types(["LOC", "PER"], scheme="iobes")
  model_config = config.model_config(vocab_size=len(vocab), num_classes=len(label_vocab))
  tagger = evaluate.Tagger(model_config, config, label_vocab, vocab=vocab)
  data = tagger.encode(text_lib.corpus_of_words(sentences))
  seeds = []
  for s in range(NUM_SEEDS):
    noise = np.random.default_rng(s)
    seeds.append(jax.tree.map(  # scores of order 1: soft probabilities, no ties
        lambda x: np.asarray(x) + 0.5 * noise.normal(size=x.shape).astype(x.dtype),
        network.init_params(jax.random.key(s), config=model_config)))
  params = jax.tree.map(lambda *xs: np.stack(xs).astype(xs[0].dtype), *seeds)
  return tagger, data, params, seeds


def _scores(tagger, seed_params, data):
  """One seed's scores of every token, ``network.apply`` on all windows at once."""
  return np.asarray(network.apply(seed_params, data.window_ids, data.feature_ids,
                                  config=tagger.model_config), np.float64)


def _softmax(s):
  e = np.exp(s - s.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def _viterbi(emissions, crf_params):
  """The best path of one sentence, in NumPy (``crf.py``'s score S(y))."""
  delta = crf_params["start"] + emissions[0]
  pointers = []
  for e in emissions[1:]:
    candidates = delta[:, None] + crf_params["transitions"]
    pointers.append(candidates.argmax(0))
    delta = candidates.max(0) + e
  path = [int((delta + crf_params["end"]).argmax())]
  for p in reversed(pointers):
    path.append(int(p[path[-1]]))
  return path[::-1]


def test_mean_probabilities_is_the_mean_of_each_seeds_softmax():
  tagger, data, params, seeds = _tagger(loss="cross_entropy")
  assert ensemble.rule_of("cross_entropy", "multiclass") == ensemble.MEAN_PROBABILITIES
  got = tagger.predict_ensemble(params, data)
  scores = [_scores(tagger, p, data) for p in seeds]
  expected = np.mean([_softmax(s) for s in scores], axis=0).argmax(-1)
  np.testing.assert_array_equal(got, expected)
  # Not the mean of the scores (the rule matters on these tokens) nor one seed.
  assert (np.mean(scores, axis=0).argmax(-1) != expected).any()
  assert all((s.argmax(-1) != expected).any() for s in scores)


@pytest.mark.parametrize("loss,output", [("hinge_cs", "multiclass"),
                                         ("logistic", "score")])
def test_mean_scores_for_hinges_and_detectors(loss, output):
  settings = dict(loss=loss, output=output)
  if output == "score":
    settings["target_type"] = "LOC"
  tagger, data, params, seeds = _tagger(**settings)
  assert ensemble.rule_of(loss, output) == ensemble.MEAN_SCORES
  got = tagger.predict_ensemble(params, data)
  mean = np.mean([_scores(tagger, p, data) for p in seeds], axis=0)
  if output == "score":
    np.testing.assert_allclose(got, mean, rtol=1e-5, atol=1e-5)
    assert ((got > 0) == (mean > 0)).all() and 0 < (mean > 0).sum() < len(mean)
  else:
    np.testing.assert_array_equal(got, mean.argmax(-1))


def test_mean_crf_scores_is_viterbi_of_the_averaged_emissions_and_transitions():
  tagger, data, params, seeds = _tagger(loss="crf")
  assert ensemble.rule_of("crf", "multiclass") == ensemble.MEAN_CRF_SCORES
  got = tagger.predict_ensemble(params, data)
  emissions = np.mean([_scores(tagger, p, data) for p in seeds], axis=0)
  crf_params = {k: np.mean([np.asarray(p["crf"][k], np.float64) for p in seeds], axis=0)
                for k in ("transitions", "start", "end")}
  starts = np.cumsum(data.lengths) - data.lengths
  expected = np.concatenate([_viterbi(emissions[a:a + n], crf_params)
                             for a, n in zip(starts, data.lengths)])
  np.testing.assert_array_equal(got, expected)
  seed_0 = np.concatenate([_viterbi(_scores(tagger, seeds[0], data)[a:a + n],
                                    {k: np.asarray(v) for k, v in seeds[0]["crf"].items()})
                           for a, n in zip(starts, data.lengths)])
  assert (seed_0 != expected).any()  # the ensemble is not seed 0 alone


@pytest.mark.parametrize("loss", ["cross_entropy", "crf"])
def test_an_ensemble_of_one_seed_is_that_seed(loss):
  """What ``Tagger.load(W)`` tags with: bit for bit the per-seed program's."""
  tagger, data, params, _ = _tagger(loss=loss)
  per_seed = tagger.predict(params, data)  # [S, N], training's dev evaluation
  for i in range(NUM_SEEDS):
    one = ensemble.select_seeds(params, [i])
    np.testing.assert_array_equal(tagger.predict_ensemble(one, data), per_seed[i])


def test_ensemble_seeds_leave_out_seeds_that_never_finished_an_epoch():
  assert ensemble.ensemble_seeds(np.array([3, 0, 1])) == [0, 2]
  assert ensemble.ensemble_seeds(np.array([0])) == []
  with pytest.raises(ValueError, match="ensemble rule 'vote'"):
    ensemble.ensemble_step({"w": np.zeros((1, 2))}, {}, config=None, rule="vote")
