"""The transfer matrix: settings, culling, the backends that build it, the cache.

Modules, in the order of the data flow: :mod:`~twin.engine.settings` (how a matrix is traced),
:mod:`~twin.engine.culling` (the tests every backend runs before a ray),
:mod:`~twin.engine.backends` (the protocol, the CPU and cuda backends, which can run here),
:mod:`~twin.engine.transfer` (the front end, :func:`~twin.engine.transfer.transfer_matrix`),
:mod:`~twin.engine.extended` (LEDs with extended apertures) and :mod:`~twin.engine.cache`.
"""
