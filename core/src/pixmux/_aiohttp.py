"""
The async path's fast transport, when ``pixmux[fast]`` (httpx-aiohttp) is installed.

Imported on the first async call only, so ``import pixmux`` never loads aiohttp.
"""

from __future__ import annotations

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from httpx_aiohttp.transport import map_aiohttp_exceptions

__all__ = ["WholeBodyAiohttpTransport"]


class WholeBodyAiohttpTransport(AiohttpTransport):
    """
    httpx-aiohttp's transport, reading each body in one piece.

    pixmux never streams a response: it reads every body whole before a plugin sees it. The
    stock transport hands httpx a stream of 16 KiB chunks, which costs a quarter of the call
    for a 1.5 MB base64 image; reading it at once with aiohttp's own ``read()`` does not.
    Everything else (session, connection limits, TLS, proxies, error mapping) is httpx-aiohttp's.
    """

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` with aiohttp and return the whole response."""
        if not isinstance(self.client, aiohttp.ClientSession):
            self.client = self.get_client()
        timeout = request.extensions.get("timeout", {})
        content = await request.aread()
        with map_aiohttp_exceptions():
            async with self.client.request(
                request.method,
                str(request.url),
                headers=request.headers,
                data=content or None,
                allow_redirects=False,
                auto_decompress=False,  # httpx decodes by Content-Encoding, as it does for its own pool
                compress=False,
                timeout=aiohttp.ClientTimeout(
                    sock_connect=timeout.get("connect"), sock_read=timeout.get("read"), connect=timeout.get("pool")
                ),
                proxy=str(self.proxy.url) if self.proxy else None,
                proxy_auth=aiohttp.BasicAuth(*self.proxy.auth) if self.proxy and self.proxy.auth else None,
                proxy_headers=self.proxy.headers if self.proxy else None,
            ) as response:
                body = await response.read()
        extensions = {"http_version": b"HTTP/1.1"}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode()
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            content=body,
            request=request,
            extensions=extensions,
        )
