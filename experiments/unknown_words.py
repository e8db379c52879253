r"""Dev entity recall of entities with and without words outside the training vocabulary.

  python experiments/unknown_words.py --workdirs=W1 --workdirs=W2

For each finished run of train.py, reads each seed's ``predictions/dev.seed<s>.txt``
(word, gold, predicted; a one-seed run writes ``predictions/dev.txt`` only, which
is read then) and the run's ``vocab.json``, and prints, per run, the
recall (mean ± std over seeds) of the gold entities whose words are all training
words (after the vocabulary's normalisation) and of those with at least one that
is not (``wincls.metrics.recall_by_known``). With ``--json`` it prints one JSON
object per run instead. With several runs, each after the first is compared
with the first, paired by seed: the mean difference of dev F1 (``results.json``)
and of both recalls, with its 95% t-interval (a line, or a JSON object with
``"minus"``), which is how the presets were chosen (docs/results.md).

``--predictions=FILE`` (repeatable) scores other predictions of dev the same
way, against the one run's vocabulary, a line (or JSON object) each: for
example the seeds' ensemble::

  python experiments/predict.py --workdir=W --ensemble --input=.../eng.testa \
      --output=/tmp/ensemble.txt
  python experiments/unknown_words.py --workdirs=W --predictions=/tmp/ensemble.txt

It reads no ``config.json`` and builds no model, so a run trained with parts of
your own (``--plugins``) needs neither them nor the flag; ``--plugins`` is
accepted all the same, so that the command line of ``predict.py`` and
``saliency.py`` serves here too.
"""

# First, before the heavy imports: a signal from here on ends the script in one line.
from wincls import interrupts  # pylint: disable=g-bad-import-order
interrupts.exit_on_signals()

import json
from pathlib import Path

from absl import app
from absl import flags

from wincls import cli

_WORKDIRS = flags.DEFINE_multi_string(
    "workdirs", None, "Workdirs of finished train.py runs (repeat the flag).")
_JSON = flags.DEFINE_bool("json", False, "One JSON object per run.")
_PREDICTIONS = flags.DEFINE_multi_string(
    "predictions", [], "Other predictions files of dev (word ... gold predicted, as "
    "predict.py writes them, e.g. with --ensemble), each scored against the "
    "vocabulary of the one --workdirs run.")
cli.define_plugins_flag("this script reads no config.json and builds no model, so "
                        "no run needs them here (accepted as predict.py's is).")
flags.mark_flags_as_required(["workdirs"])


def _recall(path, known) -> dict:
  """Known/unknown-word recall of one predictions file (gold, predicted last)."""
  from wincls import metrics
  from wincls.data import conll
  gold = conll.read_conll(path, tag_column=-2)
  pred = conll.read_conll(path, tag_column=-1)
  return metrics.recall_by_known(gold.words, gold.tags, pred.tags, known)


def _report(name: str, per_file: list[dict], what: str) -> str:
  """One line (or JSON object) of recalls, mean ± std over the files."""
  import numpy as np
  summary = {side: {"num_gold": per_file[0][side]["num_gold"],
                    "recall": [r[side]["recall"] for r in per_file]}
             for side in ("known", "unknown")}
  if _JSON.value:
    return json.dumps({"workdir" if what == "seeds" else "predictions": name, **summary})
  parts = [f"{side} words: {100 * np.mean(s['recall']):.1f}"
           + (f" ± {100 * np.std(s['recall'], ddof=1):.1f}" if len(per_file) > 1 else "")
           + f" ({s['num_gold']} entities)" for side, s in summary.items()]
  count = f"{len(per_file)} seed{'s' if len(per_file) > 1 else ''}" if what == "seeds" else what
  return f"{name}: recall, {count}: " + "; ".join(parts)


def _seed_files(workdir: str) -> dict[int, Path]:
  """Seed -> its dev predictions file (a one-seed run's ``dev.txt``: its seed)."""
  predictions = Path(workdir) / "predictions"
  files = {int(p.name[len("dev.seed"):-len(".txt")]): p
           for p in predictions.glob("dev.seed*.txt")
           if p.name[len("dev.seed"):-len(".txt")].isdigit()}
  if not files and (predictions / "dev.txt").is_file():
    results = Path(workdir) / "results.json"
    seed = json.loads(results.read_text())["seeds"][0]["seed"] if results.is_file() else 0
    files = {seed: predictions / "dev.txt"}
  if not files:
    raise app.UsageError(f"--workdirs={workdir}: no predictions/dev.seed*.txt or "
                         "predictions/dev.txt (not a finished run of train.py?)")
  return dict(sorted(files.items()))


def _by_seed(workdir: str, recalls: dict[int, dict]) -> dict[int, dict[str, float]]:
  """Per seed: dev F1 (``results.json``) and the known/unknown-word recalls."""
  results = Path(workdir) / "results.json"
  f1 = ({s["seed"]: s["dev_f1"] for s in json.loads(results.read_text())["seeds"]}
        if results.is_file() else {})
  return {seed: {"dev_f1": f1.get(seed), "known": r["known"]["recall"],
                 "unknown": r["unknown"]["recall"]} for seed, r in recalls.items()}


def _paired(base: dict[int, dict], other: dict[int, dict]) -> dict[str, dict]:
  """``other − base`` per metric over their common seeds: mean and 95% t-interval."""
  from wincls.sweep import stats
  seeds = sorted(set(base) & set(other))
  out = {"seeds": seeds}
  for metric in ("dev_f1", "unknown", "known"):
    pairs = [(base[s][metric], other[s][metric]) for s in seeds]
    if pairs and None not in {x for pair in pairs for x in pair}:
      interval = stats.mean_interval([b - a for a, b in pairs])  # NaN for one seed:
      out[metric] = {k: None if v != v else v for k, v in interval.items()}  # JSON null
  return out


def _paired_line(name: str, base: str, paired: dict) -> str:
  parts = [f"{label} {100 * d['mean']:+.2f}" + (
               f" [{100 * d['low']:+.2f}, {100 * d['high']:+.2f}]" if d["n"] > 1 else "")
           for metric, label in (("dev_f1", "dev F1"), ("unknown", "unknown-word recall"),
                                 ("known", "known-word recall"))
           if (d := paired.get(metric))]
  return (f"{name} - {base}, paired by seed ({len(paired['seeds'])} seeds, 95% CI): "
          + "; ".join(parts))


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments {argv[1:]}")
  from wincls.data import vocab as vocab_lib

  if _PREDICTIONS.value and len(_WORKDIRS.value) != 1:
    raise app.UsageError("--predictions needs exactly one --workdirs (whose vocabulary "
                         "says which words are known)")
  runs = {}
  for workdir in _WORKDIRS.value:
    vocab = vocab_lib.Vocab.load(Path(workdir) / "vocab.json")
    known = vocab.__contains__  # after the vocabulary's normalisation
    recalls = {seed: _recall(path, known) for seed, path in _seed_files(workdir).items()}
    runs[workdir] = _by_seed(workdir, recalls)
    print(_report(workdir, list(recalls.values()), "seeds"))
    for path in _PREDICTIONS.value:
      print(_report(path, [_recall(path, known)], "one file"))
  base, *others = runs
  for workdir in others:
    paired = _paired(runs[base], runs[workdir])
    print(json.dumps({"workdir": workdir, "minus": base, **paired}) if _JSON.value
          else _paired_line(workdir, base, paired))


if __name__ == "__main__":
  cli.run(main)
