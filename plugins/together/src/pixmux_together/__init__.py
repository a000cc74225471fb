"""
pixmux-together: see :mod:`pixmux_together.provider` (the ``together`` entry point).
"""

__version__ = "1.0.0"
