"""pixmux-nscale."""

__version__ = "1.0.0"
