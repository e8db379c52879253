"""The ``gazetteer`` word feature: which typed lists a token's words are matched by.

``--features=casing,gazetteer`` (``--gazetteers=LOC=cities.txt,PER=names.txt``;
none given: the default lists, ``wincls.data.gazetteers.defaults``). Each
sentence is matched against the lists, each type on its own, longest entry
first (``wincls.data.gazetteers.lists``); a token's id is ``1 +`` the bit set
of the types whose matches cover it, one of ``SIZE = 17`` ids (0: window
padding), looked up in a ``[17, feature_dim]`` table as casing is: the table
functions of ``wincls.model.features``, so its hand derivatives are casing's.
Collobert & Weston (JMLR 2011, section 4.6) give SENNA such a feature.

It is built as a plugin would build it, from the public registration API alone
(``features.FeatureSpec``, ``features.register``), and imported by
``wincls/model/__init__.py`` so that ``--features=gazetteer`` needs no
``--plugins``. What it reads besides the word it says through the spec's
optional fields: ``per_sentence`` (a sentence a call: entries span words),
``files`` (the lists, fingerprinted in ``config.json``) and ``coverage`` (the
share of dev entities matched per type, logged and saved as
``gazetteer_coverage.json``).
"""

from __future__ import annotations

import numpy as np

from wincls.data import gazetteers
from wincls.model import features

NAME = "gazetteer"


def gazetteer_inputs(words, config) -> np.ndarray:
  """int32 ``[len(words), 1]``: one sentence's ids in ``[1, SIZE)``.

  Raises:
    features.InputError: a bad ``--gazetteers`` entry or list (naming the flag
      or ``file:line``), or the default lists' packages are missing.
  """
  try:
    gazetteer = gazetteers.for_config(config)
  except (ValueError, gazetteers.InstallError) as e:  # DataError is a ValueError
    raise features.InputError(str(e)) from None
  return gazetteer.ids(list(words)).reshape(len(words), 1)


def gazetteer_files(config) -> dict:
  """``{role: path}`` of the run's lists (``gazetteers.list_files``)."""
  return gazetteers.list_files(config)


def gazetteer_coverage(corpus, config) -> tuple[dict, str]:
  """The lists' coverage of ``corpus``: the JSON report and its text."""
  report = gazetteers.coverage_of(config, corpus)
  return report, gazetteers.format_coverage(report, title=f"dev ({corpus.path})")


GAZETTEER = features.FeatureSpec(
    inputs=gazetteer_inputs, width=lambda config: 1, size=gazetteers.SIZE,
    dim=lambda config: config.feature_dim, init=features.table_init,
    forward=features.table_forward, vjp=features.table_vjp,
    jacobian=features.table_jacobian,
    help="membership of the word in --gazetteers lists (LOC, PER, ORG, MISC; "
         "default: LOC, PER, MISC lists from PyPI), matched over the sentence "
         "longest entry first, as a looked-up vector (C&W's gazetteer feature)",
    per_sentence=True, files=gazetteer_files, coverage=gazetteer_coverage)

features.register(NAME, GAZETTEER)
