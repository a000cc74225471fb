"""
Deployment settings and provider parameters, kept apart.

A call's keyword arguments mix three things: the deployment's settings (credentials,
endpoints, routing, pricing, limits: every ``litellm_params`` key LiteLLM or pixmux defines),
headers (``extra_headers``) and provider parameters. Only the last travel in a provider's
body. The engine sorts them here:

- a setting the provider declares (its catalogue's ``settings``) goes to the deployment;
- ``extra_headers`` become headers of every request the call sends;
- LiteLLM's other name for a setting the provider reads (``vertex_ai_credentials``,
  ``aws_bedrock_runtime_endpoint``, ``region_name``) is read as that setting;
- any other known setting is dropped: it configures pixmux, not the provider;
- a key whose name says it holds a secret and that the model does not take is refused, so a
  credential given under a name pixmux does not know never travels in a body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pixmux.catalogue import ModelInfo
from pixmux.exceptions import ConfigurationError, is_secret_name
from pixmux.litellm_keys import DEPLOYMENT_SETTINGS

__all__ = ["DEPLOYMENT_SETTINGS", "SETTING_ALIASES", "check_extra_headers", "is_secret_header", "refuse_secret_params"]

#: LiteLLM's other names for settings pixmux's plugins read: the first target the provider takes wins.
SETTING_ALIASES: Mapping[str, tuple[str, ...]] = {
    "vertex_ai_credentials": ("vertex_credentials",),
    "aws_bedrock_runtime_endpoint": ("api_base",),
    "region_name": ("aws_region_name", "vertex_ai_location"),
}

_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


def is_secret_header(name: str) -> bool:
    """Whether a header of this name carries a credential (``Authorization``, ``x-api-key``...)."""
    return name.lower() in _SECRET_HEADERS or is_secret_name(name)


def check_extra_headers(value: Any) -> Mapping[str, str]:
    """``extra_headers`` checked: a mapping of header names to string values."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            f"extra_headers must be a mapping of header names to values, not {type(value).__name__}",
            param="extra_headers",
        )
    for name, item in value.items():
        if not isinstance(name, str) or not name or not isinstance(item, str):
            raise ConfigurationError(
                f"extra_headers: each header needs a name and a string value (got {name!r})", param="extra_headers"
            )
        if "\r" in item or "\n" in item or "\r" in name or "\n" in name or ":" in name:
            raise ConfigurationError(
                f"extra_headers: header {name!r} holds a line break or a colon", param="extra_headers"
            )
    return dict(value)


def refuse_secret_params(params: Mapping[str, Any], info: ModelInfo, provider: str) -> None:
    """
    Refuse a provider parameter whose name says it holds a secret, unless the model takes it.

    Raises:
        ConfigurationError: naming the parameter (never its value).
    """
    for name in params:
        if is_secret_name(name) and (info.params is None or name not in info.params):
            raise ConfigurationError(
                f"{name} looks like a credential, and provider {provider!r} does not take it as a setting: "
                "it would be sent to the provider in the request body, so it is refused. "
                "Pass credentials under the provider's own names (api_key, ...) or as extra_headers",
                provider=provider,
                param=name,
            )
