"""
pixmux-nscale: see :mod:`pixmux_nscale.provider` (the ``nscale`` entry point).
"""

__version__ = "1.0.0"
