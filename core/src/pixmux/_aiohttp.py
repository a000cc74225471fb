"""
The async path's fast transport, when ``pixmux[fast]`` (httpx-aiohttp) is installed.

Imported on the first async call only, so ``import pixmux`` never loads aiohttp.
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from httpx_aiohttp.transport import map_aiohttp_exceptions

from pixmux.converters import per_object

__all__ = ["WholeBodyAiohttpTransport"]

_HTTP_11 = b"HTTP/1.1"
#: aiohttp stops reading a connection once twice this much of a body is buffered unread. Its
#: default (64 KiB) paused a 1.5 MB base64 body at every 256 KiB socket read, each pause costing
#: a trip through the event loop. At 1 MiB a body of up to 2 MiB is read in one go, and no
#: connection buffers much more than that ahead of its reader.
READ_BUFSIZE = 1024 * 1024


class WholeBodyAiohttpTransport(AiohttpTransport):
    """
    httpx-aiohttp's transport, reading each body in one piece, keeping no cookies.

    pixmux never streams a response: it reads every body whole before a plugin sees it. The
    stock transport hands httpx a stream of 16 KiB chunks, which costs a quarter of the call
    for a 1.5 MB base64 image; reading it at once with aiohttp's own ``read()`` does not.
    The session keeps no cookies (like the engine's httpx clients): one engine serves many
    keys, so a cookie one provider response sets must not ride along on another caller's
    request. Everything else (connection limits, TLS, proxies, error mapping) is httpx-aiohttp's.
    """

    def get_client(self) -> aiohttp.ClientSession:
        """A session like httpx-aiohttp's own, with a cookie jar that keeps nothing."""
        if self.client is not None or self.uds:
            return super().get_client()
        limits = self.limits
        connector = aiohttp.TCPConnector(
            keepalive_timeout=limits.keepalive_expiry,
            ssl=self.ssl_context,
            local_addr=(self.local_address, 0) if self.local_address else None,
            limit=limits.max_connections or 0,
        )
        return aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar(), read_bufsize=READ_BUFSIZE
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` with aiohttp and return the whole response."""
        client = self.client
        if not isinstance(client, aiohttp.ClientSession):
            client = self.client = self.get_client()
        timeout = request.extensions.get("timeout", {})
        try:
            content = request.content
        except httpx.RequestNotRead:
            content = await request.aread()
        fits = _assembly_fits()
        proxy = self.proxy
        try:
            async with client.request(
                request.method,
                _url_text(request.url),
                headers=_header_pairs(request.headers) if fits else request.headers.multi_items(),
                data=content or None,
                allow_redirects=False,
                auto_decompress=False,  # httpx decodes by Content-Encoding, as it does for its own pool
                compress=False,
                timeout=_timeout(timeout),
                # Always passed, None without a proxy: a call spelled out is cheaper than one built from **options.
                proxy=None if proxy is None else str(proxy.url),
                proxy_headers=None if proxy is None else proxy.headers,
                proxy_auth=aiohttp.BasicAuth(*proxy.auth) if proxy is not None and proxy.auth else None,
            ) as response:
                body = await response.read()
        except (asyncio.TimeoutError, TimeoutError) as exc:  # the total timeout ran out (distinct classes on 3.10)
            raise httpx.TimeoutException(f"no complete answer within {timeout.get('read')}s", request=request) from exc
        except Exception:
            # httpx-aiohttp's mapping to httpx's exceptions, entered only when something failed
            # (a context manager around every call costs more than the rest of this function).
            with map_aiohttp_exceptions():
                raise
        extensions = {"http_version": _HTTP_11}
        if response.reason:
            extensions["reason_phrase"] = _reason_bytes(response.reason)
        # Without a Content-Encoding the body is the content: no need for httpx's decoder and
        # chunker machinery, which costs more than the rest of building the response. Encoded
        # bodies are decoded by httpx on read.
        plain = "content-encoding" not in response.headers
        if plain and fits:
            return _whole_response(response.status, response.raw_headers, body, request, extensions)
        result = httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=httpx.ByteStream(body),
            request=request,
            extensions=extensions,
        )
        if plain:
            _mark_read(result, body)
        return result


def _header_pairs(headers: httpx.Headers) -> list[tuple[str, str]]:
    """``headers.multi_items()``, working out the headers' encoding once instead of twice per header."""
    encoding = headers.encoding
    return [(name.decode(encoding), value.decode(encoding)) for _, name, value in headers._list]


#: ``str(url)``, remembered per URL object (httpx rebuilds the text from its parts each time).
_url_text: Callable[[httpx.URL], str] = per_object(str)


def _timeout(phases: dict[str, float | None]) -> aiohttp.ClientTimeout:
    """
    aiohttp's timeout for httpx's per-phase ones.

    The engine gives every phase the time left to the call's deadline: that is one total
    timeout for the whole exchange (one timer, where per-phase timeouts reset a timer on every
    read), and it also cuts a provider that trickles bytes. Other values map phase by phase.
    """
    connect, read, pool = phases.get("connect"), phases.get("read"), phases.get("pool")
    if connect is not None and connect == read == pool == phases.get("write"):
        # Whole milliseconds, rounded down: calls made within the same millisecond share one
        # timeout value instead of building one each (a deadline a fraction of a ms early).
        return _total_timeout(math.floor(connect * 1000) / 1000)
    return aiohttp.ClientTimeout(sock_connect=connect, sock_read=read, connect=pool)


@functools.lru_cache(maxsize=4)
def _total_timeout(total: float) -> aiohttp.ClientTimeout:
    """A total timeout, shared by the calls that ask for the same one (aiohttp's timeouts are immutable)."""
    return aiohttp.ClientTimeout(total=max(total, 0.001))


@functools.lru_cache(maxsize=64)
def _reason_bytes(reason: str) -> bytes:
    """A reason phrase (``OK``, ``Too Many Requests``) as httpx keeps it; a handful recur."""
    return reason.encode()


def _mark_read(response: httpx.Response, body: bytes) -> None:
    """``response`` with ``body`` as its content, read and closed (aiohttp's response is already released)."""
    response._content = body
    response.is_stream_consumed = True
    response.is_closed = True


def _whole_response(
    status: int,
    raw_headers: Sequence[tuple[bytes, bytes]],
    body: bytes,
    request: httpx.Request,
    extensions: dict[str, Any],
) -> httpx.Response:
    """
    ``httpx.Response(status, headers=raw_headers, stream=ByteStream(body), ...)`` already read, set field by field.

    httpx's constructor spends most of its time checking what kind of headers and stream it
    was given; here they are always raw byte pairs and whole bytes. Used only when
    :func:`_assembly_fits` found that it gives exactly what the constructor gives.
    """
    headers = httpx.Headers.__new__(httpx.Headers)
    headers._list = [(name, name.lower(), value) for name, value in raw_headers]
    headers._encoding = None
    response = httpx.Response.__new__(httpx.Response)
    response.status_code = status
    response.headers = headers
    response._request = request
    response.next_request = None
    response.extensions = extensions
    response.history = []
    response.default_encoding = "utf-8"
    response.stream = httpx.ByteStream(body)
    response._num_bytes_downloaded = 0
    _mark_read(response, body)
    return response


@functools.cache
def _assembly_fits() -> bool:
    """
    Whether this httpx keeps what :func:`_whole_response` and :func:`_header_pairs` rely on.

    That is: ``_whole_response`` builds what the installed httpx's constructor builds, and
    ``_header_pairs`` reads a request's headers as ``multi_items()`` does.
    """
    request = httpx.Request(
        "POST", "https://images.example/v1/images/generations", headers={"Authorization": "Bearer k", "X-A": "1"}
    )
    raw = ((b"Content-Type", b"application/json"), (b"X-Request-ID", b"req_1"))
    extensions = {"http_version": _HTTP_11}
    built = httpx.Response(
        status_code=200, headers=raw, stream=httpx.ByteStream(b"{}"), request=request, extensions=extensions
    )
    _mark_read(built, b"{}")
    ours = _whole_response(200, raw, b"{}", request, dict(extensions))
    try:
        fields = vars(ours)
        return (
            fields.keys() == vars(built).keys()
            and vars(ours.headers) == vars(built.headers)
            and all(
                fields[name] == value
                for name, value in vars(built).items()
                if name not in ("headers", "stream", "_request")
            )
            and ours.request is built.request
            and _header_pairs(request.headers) == request.headers.multi_items()
            and type(ours.stream) is type(built.stream)
            and ours.json() == {}
        )
    except Exception:  # noqa: BLE001 - any surprise in an unknown httpx means: use its constructor
        return False
