"""
pixmux-bfl: see :mod:`pixmux_bfl.provider` (the ``bfl`` entry point).
"""

__version__ = "1.0.0"
