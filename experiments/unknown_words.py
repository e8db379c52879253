r"""Dev entity recall of entities with and without words outside the training vocabulary.

  python experiments/unknown_words.py --workdirs=W1 --workdirs=W2

For each finished run of train.py, reads each seed's ``predictions/dev.seed<s>.txt``
(word, gold, predicted; a one-seed run writes ``predictions/dev.txt`` only, which
is read then) and the run's ``vocab.json``, and prints, per run, the
recall (mean ± std over seeds) of the gold entities whose words are all training
words (after the vocabulary's normalisation) and of those with at least one that
is not (``wincls.metrics.recall_by_known``). With ``--json`` it prints one JSON
object per run instead.

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


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments {argv[1:]}")
  from wincls.data import vocab as vocab_lib

  if _PREDICTIONS.value and len(_WORKDIRS.value) != 1:
    raise app.UsageError("--predictions needs exactly one --workdirs (whose vocabulary "
                         "says which words are known)")
  for workdir in _WORKDIRS.value:
    vocab = vocab_lib.Vocab.load(Path(workdir) / "vocab.json")
    known = lambda word, words=frozenset(vocab.words): vocab.normalize(word) in words
    predictions = Path(workdir) / "predictions"
    files = (sorted(predictions.glob("dev.seed*.txt"))
             or [p for p in [predictions / "dev.txt"] if p.is_file()])  # one seed
    if not files:
      raise app.UsageError(f"--workdirs={workdir}: no predictions/dev.seed*.txt or "
                           "predictions/dev.txt (not a finished run of train.py?)")
    print(_report(workdir, [_recall(path, known) for path in files], "seeds"))
    for path in _PREDICTIONS.value:
      print(_report(path, [_recall(path, known)], "one file"))


if __name__ == "__main__":
  cli.run(main)
