"""
pixmux-openai: the provider for OpenAI's Images API and any OpenAI-compatible image server.

The provider's hooks live in :mod:`pixmux_openai.provider` (the ``openai`` entry point);
:mod:`pixmux_openai.wire` holds the wire format that OpenAI-shaped plugins (Azure,
Xinference, Nscale, Recraft) reuse without loading this provider.
"""

__version__ = "1.0.0"
