"""twin: a digital twin for LED photobiomodulation devices."""

__version__ = "0.1.0"
