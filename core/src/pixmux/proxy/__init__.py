"""
The OpenAI-compatible image gateway (``pixmux serve``); needs the ``pixmux[proxy]`` extra.

>>> from pixmux.proxy import create_app
>>> app = create_app("examples/config.yaml")  # doctest: +SKIP

``app`` is an ASGI application: run it with ``pixmux serve --config examples/config.yaml``
or under any ASGI server.
"""

from __future__ import annotations

from pixmux.proxy.app import Gateway, GatewayError, create_app
from pixmux.proxy.config import ConfigError, GatewayConfig, load_config, parse_config

__all__ = ["Gateway", "GatewayError", "create_app", "ConfigError", "GatewayConfig", "load_config", "parse_config"]
