"""
pixmux-fal: see :mod:`pixmux_fal.provider` (the ``fal`` entry point).
"""

__version__ = "1.0.0"
