"""wincls: word-window classification in JAX (CS224n lecture 3, Collobert & Weston 2011).

``wincls.Config`` and ``wincls.ModelConfig`` load ``wincls.config`` (and JAX)
when first asked for: ``import wincls.interrupts``, a script's first line,
loads nothing else.
"""

__all__ = ["Config", "ModelConfig"]


def __getattr__(name: str):
  if name in __all__:
    from wincls import config  # pylint: disable=g-import-not-at-top
    return getattr(config, name)
  raise AttributeError(f"module 'wincls' has no attribute {name!r}")
