"""
pixmux-gemini: the provider for Google AI Studio (the Gemini Developer API).

The provider's hooks live in :mod:`pixmux_gemini.provider` (the ``gemini`` entry point); the
wire code it shares with ``vertex_ai`` lives in :mod:`pixmux_google_common`.
"""

__version__ = "1.0.0"
