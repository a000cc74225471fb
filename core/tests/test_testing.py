"""pixmux.testing.local_server: a real HTTP server on 127.0.0.1 for the length of a ``with`` block."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx
import pytest
from pixmux.testing import local_server, reply


class _Echo(BaseHTTPRequestHandler):
    """Answers every GET with its own path."""

    def do_GET(self) -> None:
        reply(self, 200, self.path.encode(), content_type="text/plain")

    def log_message(self, *args: Any) -> None:
        pass


def test_local_server_serves_the_handler_on_loopback() -> None:
    """Inside the block the yielded base URL is 127.0.0.1 on a free port and the handler answers there."""
    with local_server(_Echo) as url:
        assert url.startswith("http://127.0.0.1:")
        assert int(url.rsplit(":", 1)[1]) > 0
        first = httpx.get(f"{url}/one", timeout=5)
        second = httpx.get(f"{url}/two?x=1", timeout=5)

    assert (first.status_code, first.text) == (200, "/one")
    assert (second.status_code, second.text) == (200, "/two?x=1")


def test_local_server_stops_when_the_block_ends() -> None:
    """After the block the server is shut down and its socket closed: a request cannot connect."""
    with local_server(_Echo) as url:
        assert httpx.get(f"{url}/alive", timeout=5).status_code == 200

    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/alive", timeout=5)


def test_local_server_stops_when_the_block_raises() -> None:
    """An exception in the block still stops the server, and propagates unchanged."""
    with pytest.raises(RuntimeError, match="boom"), local_server(_Echo) as url:
        raise RuntimeError("boom")

    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/alive", timeout=5)


class _Replies(BaseHTTPRequestHandler):
    """``/json``: a JSON value; ``/raw``: bytes with the type given in ``headers`` only."""

    def do_GET(self) -> None:
        if self.path == "/json":
            reply(self, 201, {"created": 1, "data": []}, headers={"x-request-id": "req_1"})
        else:
            reply(self, 404, b"<gone/>", content_type=None, headers={"content-type": "text/xml"})

    def log_message(self, *args: Any) -> None:
        pass


def test_reply_sends_a_json_value_or_bytes_with_its_length() -> None:
    """A value goes as JSON, bytes as they are; the status, Content-Length and given headers come with them."""
    with local_server(_Replies) as url:
        value = httpx.get(f"{url}/json", timeout=5)
        raw = httpx.get(f"{url}/raw", timeout=5)

    assert (value.status_code, value.json(), value.headers["content-type"]) == (
        201,
        {"created": 1, "data": []},
        "application/json",
    )
    assert (value.headers["x-request-id"], value.headers["content-length"]) == ("req_1", str(len(value.content)))
    assert (raw.status_code, raw.content, raw.headers.get_list("content-type")) == (404, b"<gone/>", ["text/xml"])
