"""Training: ``train_and_evaluate(config, workdir) -> results`` and its parts."""

from wincls.train.loop import *  # noqa: F401,F403  (split into modules next)
from wincls.train.loop import _COMPILED, _Static, _compiled, _eval_fn, _init_fn  # noqa: F401
from wincls.train.loop import _optimizer_for, _train_epoch_fn  # noqa: F401
