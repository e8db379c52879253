"""Training and evaluation: ``train_and_evaluate(config, workdir) -> results``.

One job per module:

  prepare      data -> arrays and sentence buckets (reads, writes nothing)
  optim        the optax chain, schedules; dense or sparse word-table updates
  sparse       the row-sparse (lazy) word-table update behind ``optim``
  step         train_step, eval_step, the scanned epoch
  programs     the compiled programs over seeds and devices, their one cache
  evaluate     Tagger: predictions, tags, conlleval scores
  ensemble     seed ensembles: the rule per output kind, one vmapped program
  loop         train_and_evaluate: lock, epochs, early stopping, divergence
  resume       the run's fixed parts and progress; start or resume
  divergence   a seed whose loss or parameters become non-finite stops
  predict      a finished run as a tagger of new files
  saved_run    a run's saved files read back (config, vocabularies, best)
  workdir      the workdir's layout, config check, results (re-exports below)
  files        atomic writes, strict JSON, JSON lines
  checkpoints  checksummed checkpoints, latest.prev fallback
  lock         one training process per workdir
  distributed  device layouts, several processes

The names below are re-exported so that ``from wincls import train;
train.train_and_evaluate(...)`` reads as before the split.
"""

from wincls.train.evaluate import EVAL_BATCH_SIZE
from wincls.train.evaluate import Tagger
from wincls.train.evaluate import load_tagger
from wincls.train.loop import TIMING_KEYS
from wincls.train.loop import train_and_evaluate
from wincls.train.optim import make_optimizer
from wincls.train.optim import schedule_factor
from wincls.train.predict import predict_file
from wincls.train.predict import read_input
from wincls.train.prepare import Bucket
from wincls.train.prepare import RunData
from wincls.train.prepare import SUBSAMPLE_SEED
from wincls.train.prepare import bucket_lengths
from wincls.train.prepare import load_splits
from wincls.train.prepare import prepare_data
from wincls.train.prepare import sentence_buckets
from wincls.train.prepare import subsample
from wincls.train.prepare import token_arrays
from wincls.train.programs import seed_keys
from wincls.train.saved_run import load_run
from wincls.train.step import EPOCH_STREAM
from wincls.train.step import INIT_STREAM
from wincls.train.step import eval_dataset
from wincls.train.step import eval_step
from wincls.train.step import train_epoch
from wincls.train.step import train_step
from wincls.train.step import word_dropout_ids
