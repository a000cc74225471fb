"""
pixmux-recraft: see :mod:`pixmux_recraft.provider` (the ``recraft`` entry point).
"""

__version__ = "1.0.0"
