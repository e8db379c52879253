"""The pure model: layers, window representations, losses, CRF, network, Jacobians.

Import the modules directly (``from wincls.model import network``). The
package imports one module, ``gazetteer``, a word feature built as a plugin is
(it registers itself with ``features``), so that ``--features=gazetteer``
needs no ``--plugins``; nothing here imports ``wincls.config``, which reads the
registries.
"""

from wincls.model import gazetteer  # noqa: F401  (registers --features=gazetteer)
