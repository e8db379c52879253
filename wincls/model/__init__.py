"""The pure model: layers, window representations, losses, CRF, network, Jacobians.

Import the modules directly (``from wincls.model import network``); this
package imports nothing so that ``wincls.config`` can read the registries.
"""
