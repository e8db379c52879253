r"""Tags a CoNLL file or plain text with the best checkpoint of a run.

  python experiments/predict.py --workdir=/tmp/w1 --input=eng.testa --output=/tmp/pred.txt
  python experiments/predict.py --workdir=/tmp/w1 --input_format=text --tokenize \
      --input=news.txt --output=/tmp/entities.jsonl

CoNLL input has one token per line, blank lines between sentences; one column
means words only, more columns mean the last one holds gold tags. The output
has one ``word gold pred`` line per token (``word pred`` without gold), blank
lines between sentences, tags in the input's scheme (IOB1 for IOB1 input such
as CoNLL-2003, else IOB2), so the original ``conlleval < OUT`` reads it; with
gold tags the scores are printed, computed exactly as the run scored dev.

Text input (``--input_format=text``) has one sentence per line, tokens split on
spaces, or with ``--tokenize`` by a simple rule (``wincls/data/text.py``); the
output is JSON lines ``{"text", "tokens", "entities": [{"start", "end",
"type", "text"}]}`` (``end`` exclusive). In Python:
``Tagger.load(workdir).tag(["Peter", "lives", "in", "Paris"])``
(``wincls.train.Tagger``).

The plugins the run's ``config.json`` names are imported from your installed
packages and ``PYTHONPATH`` only, never from the current directory or the
workdir (docs/reliability.md, "Opening someone else's workdir");
``--plugins=MODULE`` imports one you name yourself, as train.py does.

With pre-trained vectors every input word the vectors know gets its
pre-trained row, in the training vocabulary or not (open vocabulary). With
several seeds ``--seed_index`` picks the replica (default: the best on dev), or
``--ensemble`` tags with all of them as one vmapped program (each token's class
probabilities averaged for cross-entropy, the emission and transition scores
averaged and decoded once for the CRF, the scores averaged otherwise:
``wincls/train/ensemble.py``), with the same inputs and outputs:

  python experiments/predict.py --workdir=/tmp/w1 --ensemble --input=eng.testa \
      --output=/tmp/pred.txt
"""

# First, before the heavy imports: a signal from here on ends the script in one line.
from wincls import interrupts  # pylint: disable=g-bad-import-order
interrupts.exit_on_signals()

import json

from absl import flags

from wincls import cli

_WORKDIR = flags.DEFINE_string("workdir", None, "Workdir of a run of train.py.")
_INPUT = flags.DEFINE_string("input", None, "File to tag.")
_OUTPUT = flags.DEFINE_string("output", None, "Where to write the tagged file.")
_SEED_INDEX = flags.DEFINE_integer("seed_index", None,
                                   "Replica to use (default: the best on dev).")
_ENSEMBLE = flags.DEFINE_bool("ensemble", False, "Tag with every seed of the run "
                              "together (wincls/train/ensemble.py) instead of one; "
                              "not with --seed_index.")
_INPUT_FORMAT = flags.DEFINE_enum("input_format", "conll", ["conll", "text"],
                                  "conll (one token per line) or text (one sentence "
                                  "per line; output JSON lines of entities).")
_TOKENIZE = flags.DEFINE_bool("tokenize", False, "Text input: split punctuation off "
                              "words (wincls/data/text.py) instead of splitting on "
                              "spaces only.")
_OPEN_VOCAB = flags.DEFINE_bool("open_vocab", True, "With a run's pre-trained vectors, "
                                 "give words outside the training vocabulary their "
                                 "pre-trained rows (--noopen_vocab: <unk>, to compare).")
cli.define_plugins_flag("yours import from the current directory too; those "
                        "the run's config.json names, from your installed packages "
                        "and PYTHONPATH only.")
flags.mark_flags_as_required(["workdir", "input", "output"])


def main(argv):
  from wincls import train  # here: bad flags exit before JAX loads
  if len(argv) > 1:
    raise cli.app.UsageError(f"unexpected arguments {argv[1:]}")
  out = train.predict_file(_WORKDIR.value, _INPUT.value, _OUTPUT.value,
                           seed_index=_SEED_INDEX.value, ensemble=_ENSEMBLE.value,
                           input_format=_INPUT_FORMAT.value, tokenize=_TOKENIZE.value,
                           open_vocab=_OPEN_VOCAB.value)
  if out["ensemble"]:
    tagged_with = (f"the ensemble of {len(out['seeds'])} seed"
                   f"{'s' if len(out['seeds']) > 1 else ''} {out['seeds']}")
  else:
    tagged_with = f"seed {out['seed']} (index {out['seed_index']})"
  print(f"tagged {out['num_sentences']} sentences, {out['num_tokens']} tokens "
        f"({out['num_entities']} entities) with {tagged_with} -> {_OUTPUT.value}")
  scores = out["scores"]
  if scores is not None:
    ap = scores.get("average_precision")  # detectors (--output=score)
    print(f"precision {100 * scores['precision']:.2f}  recall "
          f"{100 * scores['recall']:.2f}  F1 {100 * scores['f1']:.2f}"
          + ("" if ap is None else f"  average precision {100 * ap:.2f}"))
    print(json.dumps({k: scores[k] for k in ("precision", "recall", "f1",
                                             "average_precision") if k in scores}))


if __name__ == "__main__":
  cli.run(main)
