"""
pixmux-ideogram: see :mod:`pixmux_ideogram.provider` (the ``ideogram`` entry point).
"""

__version__ = "1.0.0"
