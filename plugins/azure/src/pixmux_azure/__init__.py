"""
pixmux-azure: see :mod:`pixmux_azure.provider` (the ``azure`` entry point).
"""

__version__ = "1.0.0"
