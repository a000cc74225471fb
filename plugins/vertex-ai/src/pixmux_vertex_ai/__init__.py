"""
pixmux-vertex-ai: the provider for Google Vertex AI.

The provider's hooks live in :mod:`pixmux_vertex_ai.provider` (the ``vertex_ai`` entry point);
credentials in :mod:`pixmux_vertex_ai.credentials`; the wire code it shares with ``gemini``
lives in :mod:`pixmux_google_common`.
"""

__version__ = "1.0.0"
