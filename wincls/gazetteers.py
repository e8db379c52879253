"""``python -m wincls.gazetteers install|verify|coverage``: gazetteer lists from the command line.

  python -m wincls.gazetteers install [--cache_dir=DIR] [--force]
  python -m wincls.gazetteers verify [--cache_dir=DIR]
  python -m wincls.gazetteers coverage [--gazetteers=TYPE=PATH,...] [--dataset=conll2003] [--json]

The command lives in ``wincls/data/gazetteers/cli.py`` (flags and details there).
"""

from absl import app

if __name__ == "__main__":
  from wincls.data.gazetteers import cli  # defines the flags
  app.run(cli.main)
