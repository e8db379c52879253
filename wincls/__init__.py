"""wincls: word-window classification in JAX (CS224n lecture 3, Collobert & Weston 2011)."""

from wincls.config import Config
from wincls.config import ModelConfig
