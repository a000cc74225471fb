"""
pixmux-dashscope: see :mod:`pixmux_dashscope.provider` (the ``dashscope`` entry point).
"""

__version__ = "1.0.0"
