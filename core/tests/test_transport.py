"""
The transport rules, as a matrix over the three transports (sync httpx, async aiohttp, async httpx pool).

A raw server on 127.0.0.1 records the bytes each request arrives as, so "the same request"
means byte for byte, and misbehaves on request (slow headers, trickle, stall, hang, reset).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from pixmux._pieces import pieces_of, pieces_request
from pixmux._transport import AsyncTransport, BodyTooLarge, SyncTransport
from wire_server import DRIP, SLOW, WireServer, free_port, wire_server

KINDS = ("sync", "aiohttp", "httpx")
#: Seconds a cut may come after the deadline (a loaded, shared machine), on every transport.
MARGIN = 0.4
#: The deadline of the late-answer cases: a ``/drip`` byte (every ``DRIP`` seconds) comes within a
#: read timeout this long, so only a deadline on the whole body cuts it in time.
DEADLINE = 1.0


@pytest.fixture(scope="module")
def server() -> Iterator[WireServer]:
    with wire_server() as running:
        yield running


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    if request.param == "aiohttp":
        pytest.importorskip("aiohttp")
    return str(request.param)


def send(kind: str, request: httpx.Request, seconds: float = 5.0, **options: Any) -> httpx.Response:
    """Send ``request`` on the ``kind`` transport, whole, within ``seconds``."""
    deadline = time.monotonic() + seconds
    if kind == "sync":
        transport = SyncTransport()
        try:
            return transport.send(request, deadline, **options)
        finally:
            transport.close()

    async def run() -> httpx.Response:
        atransport = AsyncTransport(kind="aiohttp" if kind == "aiohttp" else "httpx")
        try:
            return await atransport.send(request, deadline, **options)
        finally:
            await atransport.aclose()

    return asyncio.run(run())


def stream(
    kind: str, request: httpx.Request, seconds: float = 5.0, idle: float | None = None
) -> tuple[int, list[bytes]]:
    """Stream ``request`` on the ``kind`` transport: its status and chunks."""
    deadline = time.monotonic() + seconds
    if kind == "sync":
        transport = SyncTransport()
        try:
            with transport.stream(request, deadline, idle=idle) as streamed:
                return streamed.response.status_code, list(streamed)
        finally:
            transport.close()

    async def run() -> tuple[int, list[bytes]]:
        atransport = AsyncTransport(kind="aiohttp" if kind == "aiohttp" else "httpx")
        try:
            async with atransport.stream(request, deadline, idle=idle) as streamed:
                return streamed.response.status_code, [chunk async for chunk in streamed]
        finally:
            await atransport.aclose()

    return asyncio.run(run())


def on_the_wire(request: httpx.Request) -> bytes:
    """What ``request`` is byte for byte: request line, headers as listed, body."""
    request.read()
    head = f"{request.method} ".encode() + request.url.raw_path + b" HTTP/1.1\r\n"
    for name, value in request.headers.raw:
        head += name + b": " + value + b"\r\n"
    return head + b"\r\n" + request.content


REQUESTS: dict[str, Callable[[str], httpx.Request]] = {
    "json": lambda base: httpx.Request(
        "POST",
        f"{base}/ok/v1/images/generations",
        headers={"Authorization": "Bearer sk-x", "X-Custom-Case": "Keep"},
        json={"prompt": "otter", "n": 2},
    ),
    "bedrock colon": lambda base: httpx.Request(
        "POST",
        httpx.URL(f"{base}/ok/model/amazon.nova-canvas-v1%3A0/invoke"),
        headers={"Content-Type": "application/json", "X-Amz-Date": "20261206T000000Z"},
        content=b'{"taskType":"TEXT_IMAGE"}',
    ),
    "arn slash": lambda base: httpx.Request(
        "POST",
        httpx.URL(f"{base}/ok/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Acustom-model%2Fm%2Fx/invoke"),
        content=b"{}",
    ),
    "vertex at": lambda base: httpx.Request(
        "POST", f"{base}/ok/v1/publishers/google/models/imagegeneration@006:predict?x=1&y=a%2Fb", content=b"{}"
    ),
    "azure dots": lambda base: httpx.Request(
        "POST",
        f"{base}/ok/openai/deployments/gpt-image-1.5.eu/images/generations?api-version=2025-04-01-preview",
        headers={"api-key": "k"},
        json={"prompt": "p"},
    ),
    "multipart": lambda base: httpx.Request(
        "POST",
        f"{base}/ok/v1/images/edits",
        headers={"Authorization": "Bearer sk-x", "Content-Type": "multipart/form-data; boundary=pixmux-test"},
        data={"prompt": "add a hat", "model": "gpt-image-1"},
        files={"image": ("otter.png", base64.b64decode(b"iVBORw0KGgo="), "image/png")},
    ),
    "get": lambda base: httpx.Request("GET", f"{base}/ok/v1/jobs/abc?poll=1"),
}


@pytest.mark.parametrize("case", sorted(REQUESTS))
def test_every_transport_sends_the_bytes_the_plugin_built(server: WireServer, case: str) -> None:
    """Method, raw path with its percent-encoding, query, headers and body arrive exactly as built, on all three."""
    seen = {}
    for kind in KINDS:
        server.take()
        request = REQUESTS[case](server.base)
        expected = on_the_wire(REQUESTS[case](server.base))
        response = send(kind, request)
        assert response.status_code == 200
        (arrived,) = server.take()
        assert expected == arrived, kind
        seen[kind] = arrived
    assert seen["sync"] == seen["aiohttp"] == seen["httpx"]
    if case == "multipart":
        body = seen["sync"].partition(b"\r\n\r\n")[2]
        assert b'name="image"; filename="otter.png"' in body
        assert b"add a hat" in body


def test_a_body_in_pieces_arrives_as_httpx_renders_it(server: WireServer, kind: str) -> None:
    """A multipart body kept in pieces (a 300 kB image uncopied) arrives byte for byte as httpx's own, twice over."""
    image = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 1200
    options: dict[str, Any] = {
        "headers": {"Authorization": "Bearer sk-x", "Content-Type": "multipart/form-data; boundary=pixmux-test"},
        "data": {"prompt": "add a hat", "model": "gpt-image-1"},
        "files": [
            ("image", ("otter.png", image, "image/png")),
            ("mask", ("mask.png", b"\x89PNG\r\n\x1a\n", "image/png")),
        ],
    }
    url = f"{server.base}/ok/v1/images/edits"
    expected = on_the_wire(httpx.Request("POST", url, **options))
    request = pieces_request("POST", url, **options)
    assert pieces_of(request) is not None
    server.take()
    for _ in range(2):  # the same request again, as a retry sends it
        assert send(kind, request).status_code == 200
    assert [expected, expected] == server.take()


def test_userinfo_in_the_url_becomes_basic_auth(server: WireServer, kind: str) -> None:
    """``user:password@`` in the URL is sent as an Authorization header, not dropped and not a crash."""
    server.take()
    send(kind, httpx.Request("GET", f"http://alice:s3cret@127.0.0.1:{server.port}/ok"))
    (arrived,) = server.take()
    assert b"Authorization: Basic " + base64.b64encode(b"alice:s3cret") + b"\r\n" in arrived
    assert b"alice" not in arrived.split(b"\r\n", 1)[0]


def test_compressed_bodies_are_decoded(server: WireServer, kind: str) -> None:
    """A gzip body comes back decoded, as httpx decodes it."""
    response = send(kind, httpx.Request("GET", f"{server.base}/gzip"))
    assert response.json() == {"ok": True}
    assert response.headers["content-encoding"] == "gzip"


def test_the_response_is_read_whole(server: WireServer, kind: str) -> None:
    """The response comes back read, with its request, status and headers."""
    request = httpx.Request("GET", f"{server.base}/big")
    response = send(kind, request)
    assert len(response.content) == 65536
    assert response.request is not None
    assert response.request.url.path == "/big"
    assert response.headers["content-type"] == "application/json"


def test_a_body_past_max_bytes_is_refused(server: WireServer, kind: str) -> None:
    """``max_bytes`` bounds a download."""
    with pytest.raises(BodyTooLarge):
        send(kind, httpx.Request("GET", f"{server.base}/big"), max_bytes=1000)


@pytest.mark.parametrize("path", ["slow-headers", "trickle", "drip", "hang", "stall"])
def test_a_late_answer_is_cut_at_the_deadline(server: WireServer, kind: str, path: str) -> None:
    """Slow headers, a trickling body, a silent server and a stalled body all end in a timeout, at the deadline."""
    started = time.monotonic()
    with pytest.raises(httpx.TimeoutException):
        send(kind, httpx.Request("GET", f"{server.base}/{path}"), seconds=DEADLINE)
    assert time.monotonic() - started < DEADLINE + MARGIN < SLOW
    assert DRIP < DEADLINE < 2 * DRIP  # per-read timeouts alone would let /drip run to 2 * DRIP


def test_a_sync_cut_leaves_nothing_behind(server: WireServer) -> None:
    """After the sync transport cuts a late body, the deadline watch is gone and the next request works."""
    from pixmux._transport import _WATCHDOG

    transport = SyncTransport()
    try:
        with pytest.raises(httpx.ReadTimeout, match="deadline"):
            transport.send(httpx.Request("GET", f"{server.base}/drip"), time.monotonic() + DEADLINE)
        response = transport.send(httpx.Request("GET", f"{server.base}/ok"), time.monotonic() + 5)
        assert response.json() == {"ok": True}
        for _ in range(50):
            transport.send(httpx.Request("GET", f"{server.base}/ok"), time.monotonic() + 600)
    finally:
        transport.close()
    assert _WATCHDOG._watched == {}
    assert _WATCHDOG._cut == set()


def test_a_refused_connection_is_a_connect_error(kind: str) -> None:
    """Nothing listening: a connection error, not a timeout."""
    with pytest.raises(httpx.ConnectError):
        send(kind, httpx.Request("GET", f"http://127.0.0.1:{free_port()}/ok"))


def test_an_unresolvable_host_is_a_connect_error(kind: str) -> None:
    """A host name that does not resolve: a connection error."""
    with pytest.raises(httpx.ConnectError):
        send(kind, httpx.Request("GET", "http://pixmux-test.invalid/ok"))


def test_a_reset_connection_is_a_transport_error(server: WireServer, kind: str) -> None:
    """The server resets the connection: a transport error that is not a timeout."""
    with pytest.raises(httpx.TransportError) as caught:
        send(kind, httpx.Request("GET", f"{server.base}/reset"))
    assert not isinstance(caught.value, httpx.TimeoutException)


def test_no_time_left_sends_nothing(server: WireServer, kind: str) -> None:
    """A deadline already passed: a timeout, and nothing reaches the server."""
    server.take()
    with pytest.raises(httpx.TimeoutException):
        send(kind, httpx.Request("GET", f"{server.base}/ok"), seconds=-1)
    assert server.take() == []


def test_a_stream_gives_chunks_as_they_come(server: WireServer, kind: str) -> None:
    """A streamed response gives its status, then its body in pieces."""
    status, chunks = stream(kind, httpx.Request("GET", f"{server.base}/events"))
    assert status == 200
    assert b"".join(chunks) == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"


@pytest.mark.parametrize("path", ["trickle", "drip"])
def test_a_stream_is_cut_at_the_deadline(server: WireServer, kind: str, path: str) -> None:
    """A stream still running at the deadline ends in a timeout."""
    started = time.monotonic()
    with pytest.raises(httpx.TimeoutException):
        stream(kind, httpx.Request("GET", f"{server.base}/{path}"), seconds=DEADLINE)
    assert time.monotonic() - started < DEADLINE + MARGIN


def test_a_stream_is_cut_when_idle(server: WireServer, kind: str) -> None:
    """``idle``: a stream silent longer than that ends in a timeout, long before the deadline."""
    started = time.monotonic()
    with pytest.raises(httpx.TimeoutException):
        stream(kind, httpx.Request("GET", f"{server.base}/stall"), seconds=10, idle=0.3)
    assert time.monotonic() - started < 0.3 + MARGIN


def test_a_streamed_gzip_body_is_decoded(server: WireServer, kind: str) -> None:
    """Streamed chunks are decoded as whole bodies are."""
    _, chunks = stream(kind, httpx.Request("GET", f"{server.base}/gzip"))
    assert json.loads(b"".join(chunks)) == {"ok": True}


def test_mock_transports_are_used_as_given() -> None:
    """A given httpx transport (a test's MockTransport) receives the request as built."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    transport = SyncTransport(transport=httpx.MockTransport(handler))
    response = transport.send(httpx.Request("GET", "https://api.example/x%3Ay"), time.monotonic() + 5)
    assert response.json() == {"ok": True}
    assert seen[0].url.raw_path == b"/x%3Ay"

    async def run() -> httpx.Response:
        atransport = AsyncTransport(transport=httpx.MockTransport(handler))
        return await atransport.send(httpx.Request("GET", "https://api.example/a"), time.monotonic() + 5)

    assert asyncio.run(run()).json() == {"ok": True}


# --------------------------------------------------------------------------- through the engine


def call_engine(kind: str, engine: Any, **arguments: Any) -> Any:
    """``engine.image_generation`` on the sync path, or ``aimage_generation`` on the ``kind`` async transport."""
    if kind == "sync":
        return engine.image_generation(**arguments, num_retries=0)

    async def run() -> Any:
        assert engine.async_transport().kind == kind
        return await engine.aimage_generation(**arguments, num_retries=0)

    return asyncio.run(run())


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("slow-headers", "Timeout"),
        ("trickle", "Timeout"),
        ("drip", "Timeout"),
        ("hang", "Timeout"),
        ("stall", "Timeout"),
        ("reset", "APIConnectionError"),
        ("refused", "APIConnectionError"),
    ],
)
def test_the_engine_gives_the_same_typed_error_on_every_transport(
    server: WireServer, kind: str, path: str, error: str, monkeypatch: pytest.MonkeyPatch, make_fake: Any
) -> None:
    """A misbehaving provider is the same pixmux error on every transport, within the timeout and a margin."""
    import pixmux
    from pixmux import Engine

    monkeypatch.setenv("PIXMUX_ASYNC_TRANSPORT", "httpx" if kind == "httpx" else "")
    base = f"http://127.0.0.1:{free_port()}" if path == "refused" else f"{server.base}/{path}"
    engine = Engine(plugins={"fake": make_fake()}, discover=False, environ={})

    started = time.monotonic()
    with pytest.raises(getattr(pixmux, error)):
        call_engine(kind, engine, prompt="otter", model="fake/m1", api_base=base, timeout=DEADLINE)
    assert time.monotonic() - started < DEADLINE + MARGIN


def test_userinfo_in_api_base_is_basic_auth_not_a_crash(
    server: WireServer, kind: str, monkeypatch: pytest.MonkeyPatch, make_fake: Any
) -> None:
    """An api_base with user:password@ works on every transport (it used to be a 500 on aiohttp)."""
    from pixmux import APIResponseValidationError, Engine

    monkeypatch.setenv("PIXMUX_ASYNC_TRANSPORT", "httpx" if kind == "httpx" else "")
    engine = Engine(plugins={"fake": make_fake()}, discover=False, environ={})
    base = f"http://bob:pw-123@127.0.0.1:{server.port}/ok"
    server.take()
    # the stand-in's body is not the fake provider's shape: a typed parse error, after the request arrived
    with pytest.raises(APIResponseValidationError):
        call_engine(kind, engine, prompt="otter", model="fake/m1", api_base=base)
    (arrived,) = server.take()
    assert b"Authorization: Basic " + base64.b64encode(b"bob:pw-123") in arrived


# --------------------------------------------------------------------------- the one shortcut


@pytest.mark.parametrize(
    ("status", "raw", "body"),
    [
        (200, [(b"Content-Type", b"application/json"), (b"X-Request-ID", b"req_9")], b'{"created": 1}'),
        (429, [(b"Retry-After", b"3"), (b"content-type", b"application/json; charset=utf-8")], b"{}"),
        (200, [(b"Set-Cookie", b"a=1"), (b"Set-Cookie", b"b=2")], b""),
        (500, [(b"X-Latin", "caf\u00e9".encode("latin-1"))], b"\xff\xfe"),
    ],
)
def test_the_assembled_response_is_the_one_httpx_builds(
    status: int, raw: list[tuple[bytes, bytes]], body: bytes
) -> None:
    """The transport's assembled response reads exactly as httpx's constructor's, for what plugins read."""
    from pixmux._transport import _assembled, _assembly_fits

    request = httpx.Request("POST", "https://api.example/v1")
    built = httpx.Response(status, headers=raw, stream=httpx.ByteStream(body), request=request)
    built.read()
    ours = _assembled(status, raw, body, request, {})

    assert _assembly_fits()
    assert (ours.status_code, ours.content, ours.text) == (built.status_code, built.content, built.text)
    assert ours.headers.multi_items() == built.headers.multi_items()
    assert ours.headers.get_list("set-cookie") == built.headers.get_list("set-cookie")
    assert (ours.is_error, ours.reason_phrase, ours.encoding) == (built.is_error, built.reason_phrase, built.encoding)
    assert ours.request is request


def test_the_shortcut_switches_itself_off_and_says_so_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An httpx whose internals moved: one warning, and responses built by the public constructor."""
    from pixmux import _transport

    def moved(*args: Any) -> httpx.Response:
        raise AttributeError("httpx moved its internals")

    monkeypatch.setattr(_transport, "_assembled", moved)
    _transport._assembly_fits.cache_clear()
    try:
        with caplog.at_level("WARNING", logger="pixmux"):
            first = _transport._response(200, [(b"X-A", b"1")], b"{}", httpx.Request("GET", "https://a.example"), {})
            _transport._response(200, [], b"{}", httpx.Request("GET", "https://a.example"), {})
        assert first.json() == {}
        assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1
        assert "public constructor" in caplog.records[0].message
    finally:
        _transport._assembly_fits.cache_clear()


def test_image_bytes_downloads_through_the_transport_following_redirects() -> None:
    """ImageObject.bytes() fetches a URL through the transport (no client of its own), following redirects."""
    from http.server import BaseHTTPRequestHandler

    from pixmux.testing import TINY_PNG_B64, local_server, reply
    from pixmux.types import ImageObject

    png = base64.b64decode(TINY_PNG_B64)

    class Host(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/old.png":
                self.send_response(301)
                self.send_header("Location", "/new.png")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            reply(self, 200, png, content_type=None)

        def log_message(self, *args: object) -> None:
            return None

    with local_server(Host) as base:
        assert ImageObject(url=f"{base}/old.png").bytes() == png
