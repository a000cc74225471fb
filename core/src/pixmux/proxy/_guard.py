"""
The gateway's request guards: which bodies a route takes, cross-origin rules, and who may start it where.

- :func:`takes_body` declares on a route handler the media types (and the size setting) of
  its body; a request with another ``Content-Type`` is answered 415 before the body is read.
  A browser can send ``text/plain`` or a form across sites without asking first; it must
  ask (a CORS preflight) before it sends ``application/json``. So JSON-only routes cannot be
  driven by another site's page.
- :class:`Cors`: off unless ``general_settings.cors_allow_origins`` lists origins.
- :func:`exposure_problem`: a gateway on a non-loopback address needs a master key (unless
  ``general_settings.allow_unauthenticated: true``), and never a well-known example key.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import attrs

__all__ = [
    "BodyRule",
    "takes_body",
    "body_rule",
    "media_type",
    "Cors",
    "EXAMPLE_KEYS",
    "MIN_MASTER_KEY_LENGTH",
    "is_loopback",
    "exposure_problem",
]

_F = TypeVar("_F", bound=Callable[..., Any])


@attrs.frozen
class BodyRule:
    """What a route's body may be: its media types, and the config attribute holding its size limit in bytes."""

    media_types: tuple[str, ...]
    limit: str = "max_request_bytes"


def takes_body(*media_types: str, limit: str = "max_request_bytes") -> Callable[[_F], _F]:
    """
    Declare on a route handler the media types its body may have (``"application/json"``,
    ``"multipart/form-data"``) and the ``GatewayConfig`` attribute that bounds its size.
    """
    rule = BodyRule(tuple(kind.lower() for kind in media_types), limit)

    def mark(handler: _F) -> _F:
        handler.__pixmux_body__ = rule  # type: ignore[attr-defined]
        return handler

    return mark


def body_rule(handler: object) -> BodyRule | None:
    """The rule :func:`takes_body` put on ``handler`` (or on the function of a bound method)."""
    found = getattr(handler, "__pixmux_body__", None)
    return found if isinstance(found, BodyRule) else None


def media_type(content_type: str | None) -> str | None:
    """The bare media type of a ``Content-Type`` value, lowercased: ``"application/json"``."""
    if content_type is None:
        return None
    return content_type.split(";", 1)[0].strip().lower() or None


def accepts(rule: BodyRule, content_type: str | None) -> bool:
    """Whether a body of ``content_type`` is one the rule allows (``application/*+json`` counts as JSON)."""
    kind = media_type(content_type)
    if kind is None:
        return False
    if kind in rule.media_types:
        return True
    return "application/json" in rule.media_types and kind.startswith("application/") and kind.endswith("+json")


@attrs.frozen
class Cors:
    """
    Cross-origin rules: which origins' pages may call the gateway from a browser.

    Off (no ``Access-Control-*`` header on any answer) when ``origins`` is empty; ``"*"``
    allows every origin.
    """

    origins: frozenset[str] = frozenset()
    max_age: int = 600

    @property
    def enabled(self) -> bool:
        """Whether any origin is allowed."""
        return bool(self.origins)

    def allows(self, origin: str | None) -> bool:
        """Whether a page from ``origin`` may read the gateway's answers."""
        return origin is not None and ("*" in self.origins or origin in self.origins)

    def headers(self, origin: str) -> list[tuple[bytes, bytes]]:
        """The headers of an answer to an allowed origin."""
        return [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"vary", b"origin"),
            (b"access-control-expose-headers", b"x-request-id, x-pixmux-cost, retry-after"),
        ]

    def preflight(self, origin: str, methods: Iterable[str]) -> list[tuple[bytes, bytes]]:
        """The headers a preflight (``OPTIONS``) answer adds to :meth:`headers` for an allowed origin."""
        return [
            (b"access-control-allow-methods", ", ".join(sorted(methods)).encode()),
            (b"access-control-allow-headers", b"authorization, api-key, content-type"),
            (b"access-control-max-age", str(self.max_age).encode()),
        ]


#: Keys from documentation and examples (LiteLLM's ``sk-1234`` and the like): never a real gateway's key.
EXAMPLE_KEYS = frozenset(
    {
        "sk-1234",
        "sk-12345",
        "sk-123456",
        "sk-1234567890",
        "sk-test",
        "sk-master",
        "sk-my-master-key",
        "sk-xxxx",
        "sk-xxxxxxxx",
        "1234",
        "12345678",
        "changeme",
        "change-me",
        "password",
        "secret",
        "master-key",
        "master_key",
        "my-master-key",
        "your-master-key",
        "pixmux",
        "test",
    }
)
#: Shortest master key a gateway on a non-loopback address accepts.
MIN_MASTER_KEY_LENGTH = 16


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) only reaches this machine."""
    name = host.strip().strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def exposure_problem(hosts: Sequence[str], master_key: str | None, *, allow_unauthenticated: bool) -> str | None:
    """
    Why the gateway must not start listening on ``hosts``, or ``None`` when it may.

    On loopback anything goes (the README's example). Elsewhere a master key is required,
    unless ``allow_unauthenticated``; a key given must not be a known example key nor shorter
    than :data:`MIN_MASTER_KEY_LENGTH` characters.
    """
    exposed = [host for host in hosts if not is_loopback(host)]
    if not exposed:
        return None
    where = ", ".join(exposed)
    if master_key is None:
        if allow_unauthenticated:
            return None
        return (
            f"refusing to serve on {where} without general_settings.master_key: anyone who reaches the address "
            "could spend the providers' credit. Set a master key, listen on 127.0.0.1, or set "
            "general_settings.allow_unauthenticated: true (an authenticating proxy in front)"
        )
    if master_key.strip().lower() in EXAMPLE_KEYS:
        return (
            f"refusing to serve on {where} with an example master key from documentation; "
            "generate one (for example `python -c 'import secrets; print(\"sk-\" + secrets.token_urlsafe(32))'`)"
        )
    if len(master_key) < MIN_MASTER_KEY_LENGTH:
        return (
            f"refusing to serve on {where} with a master key of {len(master_key)} characters; "
            f"use at least {MIN_MASTER_KEY_LENGTH}"
        )
    return None
