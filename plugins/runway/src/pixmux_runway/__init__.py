"""
pixmux-runway: see :mod:`pixmux_runway.provider` (the ``runway`` entry point).
"""

__version__ = "1.0.0"
