"""What a run refuses before it reads its data: ``check_run(config, layout)``.

The one list of a run's up-front checks: ``Config.validate`` (choices,
ranges, window/loss/output combinations), the inputs' paths, the dataset and
what ``--embedding_update=sparse`` supports (``cli.check_paths``, which the
scripts also run on their flags), the batch split over ``layout``'s devices,
and named vectors (installed, of the size ``--embed_dim``). ``train_and_evaluate``
calls it first; a sweep calls it for every run of its grid before the first
one trains (``wincls.sweep.run``), so that an impossible run is found before
hours of others. Each error is one line naming the flag.
"""

from __future__ import annotations

from wincls import config as config_lib
from wincls.model import losses
from wincls.train import distributed


def check_named_vectors(config: config_lib.Config) -> None:
  """Raises ValueError for named vectors (``--vectors=glove-6b-100d``) whose
  size is not ``--embed_dim`` or that are not installed (read nothing big)."""
  from wincls.data import vectors as vectors_lib  # pylint: disable=g-import-not-at-top
  spec = vectors_lib.NAMED_VECTORS.get(config.vectors)
  if config.vectors_path or spec is None:
    return
  if spec.dim != config.embed_dim:
    raise ValueError(f"--vectors={config.vectors} has dimension {spec.dim}; "
                     f"--embed_dim={config.embed_dim}")
  directory = vectors_lib.default_cache_dir() / config.vectors
  if not all((directory / name).is_file() for name in vectors_lib.CACHE_FILES):
    raise ValueError(f"--vectors={config.vectors} is not installed (in {directory}); "
                     "install it with: python -m wincls.vectors install "
                     f"{config.vectors}")


def check_run(config: config_lib.Config,
              layout: distributed.Layout | None = None) -> config_lib.Config:
  """Raises ValueError (naming the flag) for a run that would refuse to train;
  returns ``config``."""
  from wincls import cli  # pylint: disable=g-import-not-at-top
  config.validate()
  cli.check_paths(config)  # sparse support too
  if not losses.is_sentence(config.loss):  # sentence batches may split unevenly
    distributed.check_batch_size(config.batch_size, layout)
  check_named_vectors(config)
  return config
