"""companion: a terminal music-therapy listening companion."""

__version__ = "0.1.0"
