"""
The async path's fast transport, when ``pixmux[fast]`` (httpx-aiohttp) is installed.

Imported on the first async call only, so ``import pixmux`` never loads aiohttp.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from httpx_aiohttp.transport import map_aiohttp_exceptions

__all__ = ["WholeBodyAiohttpTransport"]

_HTTP_11 = b"HTTP/1.1"


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
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())

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
        options: dict[str, Any] = {}
        proxy = self.proxy
        if proxy is not None:
            options["proxy"] = str(proxy.url)
            options["proxy_headers"] = proxy.headers
            if proxy.auth:
                options["proxy_auth"] = aiohttp.BasicAuth(*proxy.auth)
        try:
            async with client.request(
                request.method,
                str(request.url),
                headers=request.headers.multi_items(),
                data=content or None,
                allow_redirects=False,
                auto_decompress=False,  # httpx decodes by Content-Encoding, as it does for its own pool
                compress=False,
                timeout=aiohttp.ClientTimeout(
                    sock_connect=timeout.get("connect"), sock_read=timeout.get("read"), connect=timeout.get("pool")
                ),
                **options,
            ) as response:
                body = await response.read()
        except Exception:
            # httpx-aiohttp's mapping to httpx's exceptions, entered only when something failed
            # (a context manager around every call costs more than the rest of this function).
            with map_aiohttp_exceptions():
                raise
        extensions = {"http_version": _HTTP_11}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode()
        result = httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=httpx.ByteStream(body),
            request=request,
            extensions=extensions,
        )
        if "content-encoding" not in response.headers:
            # Nothing to decode: the body is the content. (httpx would reach the same bytes
            # through its decoder and chunker machinery, which costs more than the rest of
            # building the response.) Encoded bodies are decoded by httpx on read, as before.
            result._content = body
            result.is_stream_consumed = True
            result.is_closed = True  # aiohttp's response is released: nothing is left to read or close
        return result
