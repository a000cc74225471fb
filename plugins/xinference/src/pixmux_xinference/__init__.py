"""
pixmux-xinference: see :mod:`pixmux_xinference.provider` (the ``xinference`` entry point).
"""

__version__ = "1.0.0"
