"""
pixmux-replicate: see :mod:`pixmux_replicate.provider` (the ``replicate`` entry point).
"""

__version__ = "1.0.0"
