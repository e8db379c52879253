r"""Dev entity recall of entities with and without words outside the training vocabulary.

  python experiments/unknown_words.py --workdirs=W1 --workdirs=W2

For each finished run of train.py, reads each seed's ``predictions/dev.seed<s>.txt``
(word, gold, predicted; a one-seed run writes ``predictions/dev.txt`` only, which
is read then) and the run's ``vocab.json``, and prints, per run, the
recall (mean ± std over seeds) of the gold entities whose words are all training
words (after the vocabulary's normalisation) and of those with at least one that
is not (``wincls.metrics.recall_by_known``). With ``--json`` it prints one JSON
object per run instead.

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
cli.define_plugins_flag("this script reads no config.json and builds no model, so "
                        "no run needs them here (accepted as predict.py's is).")
flags.mark_flags_as_required(["workdirs"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments {argv[1:]}")
  import numpy as np
  from wincls import metrics
  from wincls.data import conll
  from wincls.data import vocab as vocab_lib

  for workdir in _WORKDIRS.value:
    vocab = vocab_lib.Vocab.load(Path(workdir) / "vocab.json")
    known = lambda word, words=frozenset(vocab.words): vocab.normalize(word) in words
    predictions = Path(workdir) / "predictions"
    files = (sorted(predictions.glob("dev.seed*.txt"))
             or [p for p in [predictions / "dev.txt"] if p.is_file()])  # one seed
    if not files:
      raise app.UsageError(f"--workdirs={workdir}: no predictions/dev.seed*.txt or "
                           "predictions/dev.txt (not a finished run of train.py?)")
    per_seed = []
    for path in files:
      gold = conll.read_conll(path, tag_column=-2)
      pred = conll.read_conll(path, tag_column=-1)
      per_seed.append(metrics.recall_by_known(gold.words, gold.tags, pred.tags, known))
    summary = {side: {"num_gold": per_seed[0][side]["num_gold"],
                      "recall": [r[side]["recall"] for r in per_seed]}
               for side in ("known", "unknown")}
    if _JSON.value:
      print(json.dumps({"workdir": workdir, **summary}))
      continue
    parts = [f"{side} words: {100 * np.mean(s['recall']):.1f} ± "
             f"{100 * np.std(s['recall'], ddof=1 if len(files) > 1 else 0):.1f} "
             f"({s['num_gold']} entities)" for side, s in summary.items()]
    print(f"{workdir}: recall, {len(files)} seeds: " + "; ".join(parts))


if __name__ == "__main__":
  cli.run(main)
