"""
Checks of the call arguments that configure where and how a call is made, before any plugin sees them.

A wrong type here would otherwise surface deep inside a plugin or httpx as a ``TypeError``,
``AttributeError``, ``UnicodeEncodeError`` or ``httpx.InvalidURL``; each check raises a
``ConfigurationError`` naming the argument instead. Credentials are never shown in a message.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any

import httpx

from pixmux.exceptions import ConfigurationError

__all__ = ["timeout_seconds", "check_deployment_fields"]

#: Deployment fields sent in HTTP headers or query strings: printable ASCII only.
_HEADER_FIELDS = ("api_key", "api_version", "organization")
_SECRET_FIELDS = frozenset({"api_key"})


def timeout_seconds(timeout: Any, default: float) -> float:
    """``timeout`` as seconds: a finite number above 0 (``None`` is ``default``)."""
    if timeout is None:
        return default
    kind = type(timeout)
    if kind is int or kind is float:  # the usual case, checked without building the union below
        seconds = float(timeout)
    elif isinstance(timeout, bool) or not isinstance(timeout, int | float | str):
        raise ConfigurationError(f"timeout={timeout!r} must be a number of seconds", param="timeout")
    else:
        try:
            seconds = float(timeout)
        except ValueError as exc:
            raise ConfigurationError(f"timeout={timeout!r} must be a number of seconds", param="timeout") from exc
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigurationError(f"timeout={timeout!r} must be a finite number of seconds above 0", param="timeout")
    return seconds


def check_deployment_fields(fields: Mapping[str, Any]) -> None:
    """
    ``api_key``, ``api_base``, ``api_version`` and ``organization``: text, ``api_base`` an http(s) URL.

    Raises:
        ConfigurationError: naming the field (never showing an ``api_key``).
    """
    for name, value in fields.items():
        if value is None:
            continue
        if not isinstance(value, str):
            raise ConfigurationError(f"{name} must be a string, not {type(value).__name__}", param=name)
        if name in _HEADER_FIELDS and not (value.isascii() and value.isprintable()):
            shown = "" if name in _SECRET_FIELDS else f"={value!r}"
            raise ConfigurationError(
                f"{name}{shown} must be printable ASCII text (it is sent in an HTTP header or query)", param=name
            )
        if name == "api_base":
            problem = _url_problem(value)
            if problem is not None:
                raise ConfigurationError(
                    f"api_base is not an http(s) URL such as 'https://host/v1': {problem}", param="api_base"
                )


@functools.lru_cache(maxsize=256)
def _url_problem(value: str) -> str | None:
    # Parsing a URL costs microseconds; a process uses a handful of api_base values, so each is checked once.
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, ValueError) as exc:  # ValueError: UnicodeEncodeError for a lone surrogate
        return str(exc) if isinstance(exc, httpx.InvalidURL) else "it is not valid text"
    if url.scheme not in ("http", "https"):
        return f"the scheme is {url.scheme or 'missing'!r}, not http or https"
    if not url.host:
        return "it has no host"
    return None
