"""
Connection limits: what a client may cost the gateway before it is answered and dropped.

uvicorn's own knobs are used where they exist (``timeout_keep_alive``,
``h11_max_incomplete_event_size``); what it does not bound (header read time, header size
and count with httptools, open connections with an OpenAI-shaped answer) is done in
:class:`GuardedHttpToolsProtocol`, a small subclass of uvicorn's httptools protocol. The body
read timeout and the body size per route are the ASGI app's (``Gateway._read_body``).

Every refusal is an OpenAI ``ErrorResponse`` with ``connection: close``:

========================  ======  ==============================  ================================
limit                     status  code                            setting (``general_settings``)
========================  ======  ==============================  ================================
header bytes              431     ``request_headers_too_large``   ``max_header_size_kb``
header count              431     ``too_many_headers``            ``max_headers``
header read time          408     ``request_timeout``             ``header_timeout``
body read time            408     ``request_timeout``             ``body_timeout``
body size (per route)     413     ``request_too_large``           ``max_request_size_mb``
open connections          503     ``too_many_connections``        ``max_connections``
========================  ======  ==============================  ================================
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["Limits", "LIMIT_KEYS", "parse_limits", "uvicorn_options", "GuardedHttpToolsProtocol", "error_response"]

logger = logging.getLogger("pixmux.proxy")

#: Seconds a refused connection is still read (and its bytes dropped) before it is closed.
LINGER = 1.0

#: The ``general_settings`` keys read here.
LIMIT_KEYS = (
    "max_header_size_kb",
    "max_headers",
    "header_timeout",
    "body_timeout",
    "keep_alive_timeout",
    "max_connections",
)


@attrs.frozen(kw_only=True)
class Limits:
    """
    What one client may cost the gateway.

    Attributes:
        max_header_bytes: request line and headers, in bytes (``max_header_size_kb``, default 16).
        max_headers: header lines per request (``max_headers``, default 100).
        header_timeout: seconds from a connection's (or a request's) first byte to its last
            header (``header_timeout``, default 10).
        body_timeout: seconds to receive a whole request body (``body_timeout``, default 60).
        keep_alive_timeout: seconds an idle keep-alive connection stays open
            (``keep_alive_timeout``, default 5).
        max_connections: open connections per worker process (``max_connections``, default
            1000). Past it, the connection waiting longest without a request in flight is
            answered 503 and closed; when every connection has one, the new one is.
    """

    max_header_bytes: int = 16 * 1024
    max_headers: int = 100
    header_timeout: float = 10.0
    body_timeout: float = 60.0
    keep_alive_timeout: float = 5.0
    max_connections: int = 1000


class LimitProblem(ValueError):
    """A limit setting is wrong: ``(where, what)``."""


def _positive(general: Mapping[str, Any], key: str, *, whole: bool = False) -> float | None:
    value = general.get(key)
    if value is None:
        return None
    where = f"general_settings.{key}"
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise LimitProblem(where, f"expected a number above 0, got {value!r}")
    if whole and value != int(value):
        raise LimitProblem(where, f"expected a whole number, got {value!r}")
    return float(value)


def parse_limits(general: Mapping[str, Any]) -> Limits:
    """
    The limits ``general_settings`` sets, defaults for the rest.

    Raises:
        LimitProblem: ``(where, what)`` for a value that is not a positive number.
    """
    found: dict[str, Any] = {}
    size = _positive(general, "max_header_size_kb")
    if size is not None:
        found["max_header_bytes"] = int(size * 1024)
    for key in ("max_headers", "max_connections"):
        value = _positive(general, key, whole=True)
        if value is not None:
            found[key] = int(value)
    for key in ("header_timeout", "body_timeout", "keep_alive_timeout"):
        value = _positive(general, key)
        if value is not None:
            found[key] = value
    return Limits(**found)


def uvicorn_options(limits: Limits) -> dict[str, Any]:
    """uvicorn's own knobs for these limits, and the protocol that adds the rest (httptools, else h11)."""
    options: dict[str, Any] = {
        "timeout_keep_alive": limits.keep_alive_timeout,
        "h11_max_incomplete_event_size": limits.max_header_bytes,
    }
    try:
        import httptools  # noqa: F401 - only whether it is installed
    except ImportError:  # pragma: no cover - httptools is part of pixmux[proxy]
        options["http"] = "h11"
        options["limit_concurrency"] = limits.max_connections
    else:
        options["http"] = GuardedHttpToolsProtocol
    return options


def error_response(status: int, reason: str, message: str, code: str) -> bytes:
    """A whole HTTP/1.1 response holding an OpenAI ``ErrorResponse``, closing the connection."""
    kind = "api_error" if status >= 500 else "invalid_request_error"
    body = json.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def _limits_of(config: Any) -> Limits:
    """The gateway's limits, found once per uvicorn config by unwrapping uvicorn's middlewares down to the app."""
    found = getattr(config, "_pixmux_limits", None)
    if isinstance(found, Limits):
        return found
    app = getattr(config, "loaded_app", None)
    for _ in range(16):
        settings = getattr(getattr(app, "config", None), "limits", None)
        if isinstance(settings, Limits):
            found = settings
            break
        app = getattr(app, "app", None)
    limits = found if isinstance(found, Limits) else Limits()
    config._pixmux_limits = limits
    return limits


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - without httptools, uvicorn_options picks h11 and its knobs
    HttpToolsProtocol = object  # type: ignore[assignment,misc]


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """
    uvicorn's httptools protocol, bounded: header bytes, header count, header read time, open connections.

    httptools keeps a header's bytes until the header ends, so the size limit counts every
    byte received while headers are incomplete and refuses the request as soon as they pass
    the limit, without feeding the rest to the parser.
    """

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any], _loop: Any = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = _limits_of(config)
        self._in_headers = True
        self._header_bytes = 0
        self._header_count = 0
        self._header_timer: asyncio.TimerHandle | None = None
        self._refusal: tuple[int, str, str, str] | None = None
        #: When the connection opened, or its current request (or idle spell) began.
        self._phase_started = 0.0

    # ------------------------------------------------------------ connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._phase_started = self.loop.time()
        if len(self.connections) > self.limits.max_connections and self._over_limit():
            victim = self._longest_waiting()
            if victim is None:  # every connection is serving a request: this one waits its turn elsewhere
                logger.warning(
                    "refused a connection: %d open (general_settings.max_connections)", len(self.connections)
                )
                self._refuse(503, "Service Unavailable", self._full_message(), "too_many_connections")
                return
            # A connection that has not finished sending a request (a slow or idle client) makes
            # room: hostile clients holding connections cannot lock normal ones out.
            victim._refuse(503, "Service Unavailable", self._full_message(), "too_many_connections")
        self._arm_header_timer()

    def _full_message(self) -> str:
        return f"the gateway holds its limit of {self.limits.max_connections} open connections; retry shortly"

    def _over_limit(self) -> bool:
        """Whether the open connections, less those already refused (closing), pass ``max_connections``."""
        live = sum(1 for other in self.connections if getattr(other, "_refusal", None) is None)
        return live > self.limits.max_connections

    def _longest_waiting(self) -> GuardedHttpToolsProtocol | None:
        """The connection waiting longest for a request to arrive (none in flight on it), if any."""
        oldest: GuardedHttpToolsProtocol | None = None
        for other in self.connections:
            if other is self or not isinstance(other, GuardedHttpToolsProtocol):
                continue
            if other._refusal is not None or not other._in_headers:
                continue
            if other.cycle is not None and not other.cycle.response_complete:
                continue
            if oldest is None or other._phase_started < oldest._phase_started:
                oldest = other
        return oldest

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        self._disarm_header_timer()
        self._header_timer = self.loop.call_later(self.limits.header_timeout, self._headers_too_slow)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self._in_headers and not self.transport.is_closing():
            self._refuse(
                408,
                "Request Timeout",
                f"the request headers did not arrive within {self.limits.header_timeout:g}s "
                "(general_settings.header_timeout)",
                "request_timeout",
            )

    def _refuse(self, status: int, reason: str, message: str, code: str) -> None:
        """Answer with an OpenAI-shaped error and close, unless a response is already being written."""
        self._refusal = (status, reason, message, code)
        self._disarm_header_timer()
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self.transport.close()  # a response is being written: no room for another
            return
        self.transport.write(error_response(status, reason, message, code))
        # Closing with unread bytes in the socket makes the kernel send a reset, which can
        # destroy the answer before the client reads it: stop writing, discard what still
        # arrives for a moment (data_received drops it), then close.
        if self.transport.can_write_eof():
            self.transport.write_eof()
        if self.flow is not None:
            self.flow.resume_reading()  # uvicorn may have paused reading: keep draining
        self.loop.call_later(LINGER, self._close)

    def _close(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()

    # ------------------------------------------------------------ data

    def data_received(self, data: bytes) -> None:
        if self._refusal is not None:
            return
        if self._in_headers:
            self._header_bytes += len(data)
        super().data_received(data)
        if self._refusal is None and self._in_headers and self._header_bytes > self.limits.max_header_bytes:
            self._too_large()

    def _too_large(self) -> None:
        self._refuse(
            431,
            "Request Header Fields Too Large",
            f"the request line and headers exceed {self.limits.max_header_bytes} bytes "
            "(general_settings.max_header_size_kb)",
            "request_headers_too_large",
        )

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._phase_started = self.loop.time()
        self._in_headers = True
        self._header_count = 0
        if self._header_timer is None:
            self._arm_header_timer()

    def on_url(self, url: bytes) -> None:
        if self._refusal is None:
            super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._refusal is not None:
            return
        self._header_count += 1
        if self._header_count > self.limits.max_headers:
            self._refuse(
                431,
                "Request Header Fields Too Large",
                f"the request has more than {self.limits.max_headers} headers (general_settings.max_headers)",
                "too_many_headers",
            )
            return
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._refusal is not None:
            return
        self._in_headers = False
        self._disarm_header_timer()
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self.limits.max_header_bytes:
            self._too_large()
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self._refusal is None:
            _hand_over(self.cycle)
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refusal is not None:
            return
        super().on_message_complete()
        self._phase_started = self.loop.time()
        self._in_headers = True  # what follows on this connection is the next request's headers
        self._header_bytes = 0


class _HandOverState:
    """Whether :func:`_hand_over` is off: uvicorn's body handling was not what it expects."""

    off = False


def _uvicorn_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("uvicorn")
    except PackageNotFoundError:  # pragma: no cover - installed without metadata
        return "?"


def _hand_over(cycle: Any) -> None:
    """
    Let uvicorn pass the next body chunk to the app as the very ``bytes`` httptools made.

    uvicorn gathers a request's body chunks in a ``bytearray`` (``cycle.body += chunk``) and
    hands them to the app as ``bytes(cycle.body)``: two copies of every uploaded byte, 8 MB
    for a 4 MB edit. When nothing is waiting, the empty ``bytearray`` is swapped for ``b""``:
    ``b"" + chunk`` is ``chunk`` itself, and so is ``bytes(chunk)``. When a chunk is already
    waiting (two arrived before the app asked), it goes back into a ``bytearray``, so that many
    small chunks are gathered in linear time, as uvicorn gathers them.
    """
    if cycle is None or _HandOverState.off:
        return
    waiting = getattr(cycle, "body", None)
    if type(waiting) is bytearray and not waiting:
        cycle.body = b""
    elif type(waiting) is bytes and waiting:
        cycle.body = bytearray(waiting)
    elif type(waiting) not in (bytes, bytearray):
        # uvicorn keeps a waiting body some other way now: leave it to uvicorn, and say so once
        _HandOverState.off = True
        logger.warning(
            "uvicorn %s no longer gathers request bodies in cycle.body; uploads are copied as uvicorn copies "
            "them (pixmux's uncopied hand-over is off)",
            _uvicorn_version(),
        )
