"""The version of twin (one place; the package, the cache keys and the outputs read it)."""

__version__ = "0.1.0"
