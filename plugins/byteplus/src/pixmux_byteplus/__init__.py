"""
pixmux-byteplus: see :mod:`pixmux_byteplus.provider` (the ``byteplus`` entry point).
"""

__version__ = "1.0.0"
