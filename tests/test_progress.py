"""The epoch bar: tqdm.auto's bar class, so a notebook shows progress."""

import io
import sys

from tqdm import auto as tqdm_auto
from tqdm import notebook as tqdm_notebook
from tqdm import std as tqdm_std

from wincls.train import progress


def test_bar_is_tqdm_auto_s_and_shows_in_a_notebook(monkeypatch):
  monkeypatch.setattr(sys, "stderr", io.StringIO())  # not a terminal
  outside_a_notebook = tqdm_auto.tqdm  # what tqdm.auto picked here (asyncio's class)

  class NotebookBar(tqdm_std.tqdm):
    """Stands for tqdm.notebook's widget bar, which tqdm.auto picks in Jupyter."""

  monkeypatch.setattr(tqdm_notebook, "tqdm_notebook", NotebookBar)
  monkeypatch.setattr(tqdm_auto, "tqdm", NotebookBar)
  counter = progress.Counter(total=3)
  assert isinstance(counter.bar, NotebookBar)
  assert not counter.bar.disable
  counter.close()
  # tqdm.auto's own class outside a notebook, stderr not a terminal: off, as before
  # (a bar drawn into a log file or a test's pipe).
  monkeypatch.setattr(tqdm_auto, "tqdm", outside_a_notebook)
  counter = progress.Counter(total=3)
  assert counter.bar.disable
  counter.close()
