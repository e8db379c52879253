r"""Tags a CoNLL-format file with the best checkpoint of a finished run.

  python experiments/predict.py --workdir=/tmp/w1 --input=eng.testa --output=/tmp/pred.txt

The input has one token per line, blank lines between sentences; one column
means words only, more columns mean the last one holds gold tags. The output
has one ``word gold pred`` line per token (``word pred`` without gold) and blank
lines between sentences, so ``conlleval < OUT`` reads it; with gold tags the
entity precision/recall/F1 (conlleval semantics) is printed. With several seeds
``--seed_index`` picks the replica (default: the best on dev).
"""

import json

from absl import flags

from wincls import cli

_WORKDIR = flags.DEFINE_string("workdir", None, "Workdir of a run of train.py.")
_INPUT = flags.DEFINE_string("input", None, "CoNLL file to tag.")
_OUTPUT = flags.DEFINE_string("output", None, "Where to write the tagged file.")
_SEED_INDEX = flags.DEFINE_integer("seed_index", None,
                                   "Replica to use (default: the best on dev).")
flags.mark_flags_as_required(["workdir", "input", "output"])


def main(argv):
  from wincls import train  # here: bad flags exit before JAX loads
  if len(argv) > 1:
    raise cli.app.UsageError(f"unexpected arguments {argv[1:]}")
  out = train.predict_file(_WORKDIR.value, _INPUT.value, _OUTPUT.value,
                           seed_index=_SEED_INDEX.value)
  print(f"tagged {out['num_sentences']} sentences, {out['num_tokens']} tokens with "
        f"seed {out['seed']} (index {out['seed_index']}) -> {_OUTPUT.value}")
  scores = out["scores"]
  if scores is not None:
    print(f"precision {100 * scores['precision']:.2f}  recall "
          f"{100 * scores['recall']:.2f}  F1 {100 * scores['f1']:.2f}")
    print(json.dumps({k: scores[k] for k in ("precision", "recall", "f1")}))


if __name__ == "__main__":
  cli.run(main)
