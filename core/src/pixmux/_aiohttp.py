"""
The async path's fast transport, when ``pixmux[fast]`` (httpx-aiohttp) is installed.

Imported on the first async call only, so ``import pixmux`` never loads aiohttp.
"""

from __future__ import annotations

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from httpx_aiohttp.transport import map_aiohttp_exceptions
from multidict import CIMultiDict

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
        content = await request.aread()
        proxy = self.proxy
        with map_aiohttp_exceptions():
            async with client.request(
                request.method,
                str(request.url),
                headers=CIMultiDict(request.headers.multi_items()),
                data=content or None,
                allow_redirects=False,
                auto_decompress=False,  # httpx decodes by Content-Encoding, as it does for its own pool
                compress=False,
                timeout=aiohttp.ClientTimeout(
                    sock_connect=timeout.get("connect"), sock_read=timeout.get("read"), connect=timeout.get("pool")
                ),
                proxy=str(proxy.url) if proxy else None,
                proxy_auth=aiohttp.BasicAuth(*proxy.auth) if proxy and proxy.auth else None,
                proxy_headers=proxy.headers if proxy else None,
            ) as response:
                body = await response.read()
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
        return result
