"""``python -m wincls.vectors install|verify|coverage``: word vectors from the command line.

  python -m wincls.vectors install glove-6b-100d [--cache_dir=DIR] [--tarball=TGZ] [--force]
  python -m wincls.vectors verify glove-6b-100d [--cache_dir=DIR]
  python -m wincls.vectors coverage --vectors=glove-6b-100d|PATH [--dataset=conll2003] [--json]

The command lives in ``wincls/data/vectors/cli.py`` (flags and details there).
"""

from absl import app

if __name__ == "__main__":
  from wincls.data.vectors import cli  # defines the flags
  app.run(cli.main)
