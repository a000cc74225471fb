"""
pixmux-stability: see :mod:`pixmux_stability.provider` (the ``stability`` entry point).
"""

__version__ = "1.0.0"
