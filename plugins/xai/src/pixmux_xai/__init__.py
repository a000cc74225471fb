"""
pixmux-xai: see :mod:`pixmux_xai.provider` (the ``xai`` entry point).
"""

__version__ = "1.0.0"
