"""
The only module that does network I/O: it sends the ``httpx.Request`` a plugin built, exactly.

Three transports, one rule set:

- :class:`SyncTransport`: httpx's own connection pool.
- :class:`AsyncTransport` on aiohttp (``pixmux[fast]`` installed), or on httpx's own async pool
  (without it, with ``PIXMUX_ASYNC_TRANSPORT=httpx``, or whenever a proxy is set in the
  environment: httpx honours ``HTTPS_PROXY``/``ALL_PROXY``/``NO_PROXY``, and a call never
  bypasses a proxy its user configured).

The rules, the same on every transport (``core/tests/test_transport.py`` runs each over all three):

- **The bytes a plugin built.** Method, raw path with its percent-encoding (``%3A`` stays
  ``%3A``), query, headers (names, case, order) and body go out as the request holds them; a
  streamed body (``httpx.Request(files=...)``, multipart) is read first and sent with its
  ``Content-Length``, except one kept in pieces (``pixmux._pieces``), which the async
  transports send piece by piece, uncopied, with its ``Content-Length``. Nothing is added:
  no ``User-Agent``, ``Accept`` or cookie. The one exception: a URL carrying
  ``user:password@`` is sent without it, as HTTP basic auth (unless the request already has
  an ``Authorization`` header, which then wins).
- **The whole body by the deadline.** ``deadline`` is a :func:`time.monotonic` value. Slow
  headers, a body trickled a few bytes at a time and a silent server all end in
  ``httpx.TimeoutException`` at the deadline. The async transports bound the whole exchange
  with one timer; httpx's sync pool has per-read timeouts only, so on the sync transport a
  watchdog thread shuts down the connection of a body still arriving at its deadline
  (:class:`_Watchdog`).
- **Typed failures.** Refused, reset and unresolvable connections raise
  ``httpx.TransportError`` subclasses (``ConnectError``, ``ReadError``,
  ``RemoteProtocolError``); time running out raises ``httpx.TimeoutException``. The exchange
  turns them into ``pixmux.APIConnectionError`` and ``pixmux.Timeout``.
- **Decoded bodies.** A body sent with a ``Content-Encoding`` (gzip, deflate, and br or zstd
  when their packages are installed) is decoded by httpx's own decoders on every transport;
  a body that does not decode raises ``httpx.DecodingError``.
- **No cookies kept**: one engine serves many keys, and a cookie one provider response sets
  must not ride along on another caller's request.
- **Pools sized for a gateway**: ``max_connections`` (default :data:`DEFAULT_MAX_CONNECTIONS`)
  bounds open connections per transport, and every one of them may be kept alive.

Whole responses::

    response = transport.send(request, deadline)              # httpx.Response, body read
    response = await atransport.send(request, deadline)       # the same, async
    response = transport.send(request, deadline, max_bytes=20 * 2**20)   # bounded downloads

Streaming (server-sent events, partial images): status and headers first, then the body as
decoded byte chunks. Every chunk must arrive by ``deadline``; with ``idle``, also within
``idle`` seconds of the previous one. Time running out ends the iteration with
``httpx.TimeoutException``; leaving the ``with`` block closes the connection::

    with transport.stream(request, deadline, idle=30.0) as streamed:
        streamed.response.status_code, streamed.response.headers   # no body read yet
        for chunk in streamed:                                     # bytes, decoded
            ...

    async with atransport.stream(request, deadline, idle=30.0) as streamed:
        async for chunk in streamed:
            ...

``streamed.response`` is an ``httpx.Response`` whose body has not been read; read an error
body whole with ``streamed.read()`` (``await streamed.aread()``), bounded the same way.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import itertools
import logging
import math
import os
import socket
import sys
import threading
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from http.cookiejar import CookieJar
from typing import TYPE_CHECKING, Any, Literal

import httpx

from pixmux._pieces import pieces_of

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "DEFAULT_MAX_CONNECTIONS",
    "SyncTransport",
    "AsyncTransport",
    "Streamed",
    "AsyncStreamed",
    "BodyTooLarge",
    "proxies_in_environment",
    "fetch",
    "json_request",
    "redirect_target",
    "MAX_REDIRECTS",
]

#: Connections each transport may hold open (and keep alive) at once. A gateway serving
#: hundreds of clients needs hundreds of upstream connections: a cap of 100 made a gateway at
#: 256 clients slower than at 64 (``bench/README.md``).
DEFAULT_MAX_CONNECTIONS = 1000
#: Seconds an idle pooled connection is kept.
KEEPALIVE_EXPIRY = 30.0
#: aiohttp stops reading a connection once twice this much body is buffered unread; 1 MiB reads
#: a typical base64 image (1.5 MB) without a trip through the event loop per 64 KiB.
READ_BUFSIZE = 1024 * 1024

#: Redirects followed when downloading an image (provider calls never follow redirects).
MAX_REDIRECTS = 5

AsyncKind = Literal["aiohttp", "httpx"]

logger = logging.getLogger("pixmux")


class BodyTooLarge(httpx.TransportError):
    """A response body grew past the ``max_bytes`` its caller allowed."""


def proxies_in_environment() -> bool:
    """Whether any proxy is set in the environment (``HTTPS_PROXY``, ``ALL_PROXY``, ...), as httpx reads them."""
    return any(scheme != "no" for scheme in urllib.request.getproxies())


def _outgoing(request: httpx.Request) -> httpx.Request:
    """
    The request as it goes on the wire: userinfo in the URL becomes basic auth.

    httpx's transports send the path alone, so a ``user:password@`` in the URL would be
    dropped silently (and aiohttp refuses it).
    """
    url = request.url
    if not url.userinfo:
        return request
    headers = httpx.Headers(request.headers)
    if "authorization" not in headers:
        pair = f"{url.username}:{url.password}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
    stripped = url.copy_with(username=None, password=None)
    return httpx.Request(
        request.method, stripped, headers=headers, stream=request.stream, extensions=request.extensions
    )


def _left(request: httpx.Request, deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise httpx.PoolTimeout("the deadline passed before the request was sent", request=request)
    return left


def _timed(request: httpx.Request, seconds: float) -> None:
    request.extensions["timeout"] = {"connect": seconds, "read": seconds, "write": seconds, "pool": seconds}


def _whole(opened: httpx.Response, raw: bytes, request: httpx.Request) -> httpx.Response:
    """A read response holding ``raw`` (the body as sent), decoded by its ``Content-Encoding``."""
    return _response(opened.status_code, opened.headers.raw, raw, request, opened.extensions)


def _response(
    status: int,
    raw_headers: Sequence[tuple[bytes, bytes]],
    body: bytes,
    request: httpx.Request,
    extensions: dict[str, Any],
) -> httpx.Response:
    """
    ``httpx.Response(status, headers=raw_headers, stream=ByteStream(body), ...)``, read: the response a plugin parses.

    A body without a ``Content-Encoding`` is its own content: then, while :func:`_assembly_fits`
    holds, the response is assembled field by field (see :func:`_assembled`), which skips the
    constructor's type checks and the decoder machinery of ``read()``, the largest cost of a
    call's own work (``bench/core_bench.py layers``).
    """
    if _assembly_fits() and not any(name.lower() == b"content-encoding" for name, _ in raw_headers):
        return _assembled(status, raw_headers, body, request, extensions)
    response = httpx.Response(
        status, headers=raw_headers, stream=httpx.ByteStream(body), request=request, extensions=extensions
    )
    response.read()
    return response


def _assembled(
    status: int,
    raw_headers: Sequence[tuple[bytes, bytes]],
    body: bytes,
    request: httpx.Request,
    extensions: dict[str, Any],
) -> httpx.Response:
    """What the public constructor and ``read()`` give for a plain body, set field by field (httpx internals)."""
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
    response._num_bytes_downloaded = len(body)
    response._content = body
    response.is_stream_consumed = True
    response.is_closed = True
    return response


def json_request(url: httpx.URL, pairs: list[tuple[bytes, bytes]], content: bytes) -> httpx.Request:
    """
    A read ``httpx.Request("POST", url, headers=..., stream=ByteStream(content))`` of a JSON body.

    Its headers are ``Host``, ``pairs``, ``Content-Length``, ``Content-Type: application/json``.

    ``pairs`` are the caller's headers as ASCII bytes (none of ``Host``, ``Content-Length``,
    ``Content-Type``); ``url`` has a host. While :func:`_assembly_fits` holds, the request is
    assembled field by field (httpx internals), skipping the constructor's type checks and
    header normalisation; otherwise the public constructor builds it.
    """
    length = str(len(content)).encode("ascii")
    host = url.netloc
    if not _assembly_fits():
        headers = [(b"Host", host), *pairs, (b"Content-Length", length), (b"Content-Type", b"application/json")]
        request = httpx.Request("POST", url, headers=headers, stream=httpx.ByteStream(content))
        request.read()
        return request
    return _assembled_request(url, pairs, content, length, host)


def _assembled_request(
    url: httpx.URL, pairs: list[tuple[bytes, bytes]], content: bytes, length: bytes, host: bytes
) -> httpx.Request:
    entries = [(b"Host", b"host", host)]
    for name, value in pairs:
        entries.append((name, name.lower(), value))
    entries.append((b"Content-Length", b"content-length", length))
    entries.append((b"Content-Type", b"content-type", b"application/json"))
    headers = httpx.Headers.__new__(httpx.Headers)
    headers._list = entries
    headers._encoding = None
    request = httpx.Request.__new__(httpx.Request)
    request.method = "POST"
    request.url = url
    request.headers = headers
    request.extensions = {}
    request.stream = httpx.ByteStream(content)
    request._content = content
    return request


@functools.cache
def _assembly_fits() -> bool:
    """
    The one self-check of this module's shortcut into httpx's internals (:func:`_assembled`).

    True when, on the installed httpx, the assembled response equals what the public
    constructor and ``read()`` build, field by field. When it does not (a newer httpx), the
    shortcut switches itself off, says so once in the log, and every response is built the
    public way. CI runs the test suite against the newest httpx release as well.
    """
    request = httpx.Request("GET", "https://images.example/v1/jobs/1")
    raw = ((b"Content-Type", b"application/json"), (b"X-Request-ID", b"req_1"))
    extensions = {"http_version": b"HTTP/1.1", "reason_phrase": b"OK"}
    built = httpx.Response(200, headers=raw, stream=httpx.ByteStream(b"{}"), request=request, extensions=extensions)
    built.read()
    url = httpx.URL("https://images.example/v1/images/generations")
    pairs = [(b"Authorization", b"Bearer k"), (b"X-A", b"1")]
    public = httpx.Request(
        "POST",
        url,
        headers=[(b"Host", url.netloc), *pairs, (b"Content-Length", b"2"), (b"Content-Type", b"application/json")],
        stream=httpx.ByteStream(b"{}"),
    )
    public.read()
    try:
        ours = _assembled(200, raw, b"{}", request, dict(extensions))
        sent = _assembled_request(url, pairs, b"{}", b"2", url.netloc)
        fits = (
            vars(sent).keys() == vars(public).keys()
            and vars(sent.headers).keys() == vars(public.headers).keys()
            and sent.headers.raw == public.headers.raw
            and sent.headers.multi_items() == public.headers.multi_items()
            and (sent.method, sent.url, sent.extensions, sent.content) == (public.method, public.url, {}, b"{}")
            and type(sent.stream) is type(public.stream)
            and sent.read() == public.read()
        ) and (
            # read() leaves its decoder behind, and headers work out their encoding on first use:
            # neither is state a read response needs
            vars(ours).keys() | {"_decoder"} == vars(built).keys() | {"_decoder"}
            and vars(ours.headers).keys() == vars(built.headers).keys()
            and ours.headers.raw == built.headers.raw
            and all(
                vars(ours)[name] == value
                for name, value in vars(built).items()
                if name not in ("headers", "stream", "_request", "_decoder")
            )
            and ours.request is built.request
            and type(ours.stream) is type(built.stream)
            and ours.json() == {}
            and ours.headers.multi_items() == built.headers.multi_items()
        )
    except Exception:  # noqa: BLE001 - any surprise in an unknown httpx means: use its constructor
        fits = False
    if not fits:
        logger.warning(
            "pixmux: httpx %s builds requests or responses differently from what pixmux's fast path "
            "expects; using httpx's public constructors instead (correct, somewhat slower)",
            httpx.__version__,
        )
    return fits


def _checked(response: httpx.Response, request: httpx.Request, max_bytes: int | None) -> httpx.Response:
    if max_bytes is not None and len(response.content) > max_bytes:
        raise _too_large(request, max_bytes)
    return response


def _too_large(request: httpx.Request, max_bytes: int) -> BodyTooLarge:
    return BodyTooLarge(f"the response body is larger than {max_bytes} bytes", request=request)


class _NoCookies(CookieJar):
    """A cookie jar that keeps nothing."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None

    def set_cookie(self, cookie: Any) -> None:
        return None


def _limits(max_connections: int) -> httpx.Limits:
    return httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=KEEPALIVE_EXPIRY,
    )


# --------------------------------------------------------------------------------------------- sync


class _Watchdog:
    """
    Cuts sync reads at their deadline: one daemon thread shuts down the socket of a response still being read.

    httpx's sync pool knows only per-read timeouts, so a body trickled one byte a little under
    the timeout apart would run to about twice the deadline, and longer. Once the status and
    headers are in, the sending thread registers the connection's socket (httpcore's public
    ``network_stream`` response extension) with its deadline; past it, the watchdog shuts the
    socket down, the blocked read ends at once, and the sender turns the broken read into
    ``httpx.ReadTimeout``. Registering costs a lock and a dict entry; the thread sleeps until
    the earliest deadline registered, so with no late answers it wakes about once per timeout.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._watched: dict[int, tuple[float, socket.socket]] = {}
        self._cut: set[int] = set()
        self._next = math.inf  # when the thread wakes next
        self._tokens = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, response: httpx.Response, deadline: float) -> int | None:
        """Watch the socket ``response`` is read from until :meth:`release`; ``None`` when there is none (a mock)."""
        stream = response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if not isinstance(sock, socket.socket):
            return None
        token = next(self._tokens)
        with self._lock:
            self._watched[token] = (deadline, sock)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="pixmux-deadlines", daemon=True)
                self._thread.start()
            if deadline < self._next:
                self._wake.notify()
        return token

    def release(self, token: int | None) -> bool:
        """Stop watching; whether the deadline passed and the socket was cut."""
        if token is None:
            return False
        with self._lock:
            if self._watched.pop(token, None) is not None:
                return False
            if token in self._cut:
                self._cut.remove(token)
                return True
            return False

    def _run(self) -> None:
        with self._lock:
            while True:
                now = time.monotonic()
                due = [token for token, (deadline, _) in self._watched.items() if deadline <= now]
                for token in due:
                    _, sock = self._watched.pop(token)
                    self._cut.add(token)
                    with contextlib.suppress(OSError):  # closed meanwhile: nothing left to cut
                        # the socket's own shutdown, also under an SSL socket: a syscall on the
                        # descriptor, which ends a read blocked in another thread
                        socket.socket.shutdown(sock, socket.SHUT_RDWR)
                self._next = min((deadline for deadline, _ in self._watched.values()), default=math.inf)
                self._wake.wait(None if self._next == math.inf else self._next - now)

    def _forget(self) -> None:
        """In a forked child: the thread did not come along, nor do the parent's sockets."""
        self.__init__()  # type: ignore[misc]


_WATCHDOG = _Watchdog()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_WATCHDOG._forget)


def _late(exc: httpx.TransportError, request: httpx.Request) -> httpx.ReadTimeout:
    return httpx.ReadTimeout(f"the body was still arriving at the deadline ({exc})", request=request)


class Streamed:
    """A response being streamed: ``response`` (status, headers), then its body as decoded chunks."""

    def __init__(self, response: httpx.Response, deadline: float) -> None:
        self.response = response
        self.deadline = deadline
        self._watch = _WATCHDOG.watch(response, deadline)

    def __iter__(self) -> Iterator[bytes]:
        request = self.response.request
        try:
            for chunk in self.response.iter_bytes():
                if time.monotonic() > self.deadline:
                    raise httpx.ReadTimeout("the body was still arriving at the deadline", request=request)
                yield chunk
        except httpx.TransportError as exc:
            if self._release():
                raise _late(exc, request) from exc
            raise

    def _release(self) -> bool:
        """Stop watching the deadline; whether it passed and the connection was cut."""
        watch, self._watch = self._watch, None
        return _WATCHDOG.release(watch)

    def read(self, max_bytes: int | None = None) -> bytes:
        """The rest of the body, whole, by the deadline."""
        chunks = []
        size = 0
        for chunk in self:
            size += len(chunk)
            if max_bytes is not None and size > max_bytes:
                raise _too_large(self.response.request, max_bytes)
            chunks.append(chunk)
        return b"".join(chunks)


class SyncTransport:
    """
    Sends requests on httpx's sync connection pool.

    Args:
        transport: an ``httpx.BaseTransport`` to send through instead (tests pass
            ``httpx.MockTransport``); the pool and proxies are then its business.
        max_connections: connections open at once (all of them may be kept alive).
    """

    def __init__(
        self, *, transport: httpx.BaseTransport | None = None, max_connections: int = DEFAULT_MAX_CONNECTIONS
    ) -> None:
        self._given = transport
        self._max_connections = max_connections
        self._client: httpx.Client | None = None
        self._own: httpx.BaseTransport | None = None
        self._lock = threading.Lock()

    def _open(self, request: httpx.Request) -> httpx.Response:
        transport = self._given if self._given is not None else self._own
        if transport is None:
            if proxies_in_environment():
                return self._proxied(request)
            with self._lock:  # one pool, whichever thread asks first
                if self._own is None:
                    self._own = httpx.HTTPTransport(limits=_limits(self._max_connections), trust_env=True)
                transport = self._own
        response = transport.handle_request(request)
        response.request = request
        return response

    def _proxied(self, request: httpx.Request) -> httpx.Response:
        """Through an ``httpx.Client``, which routes each URL to the proxy the environment names for it."""
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(limits=_limits(self._max_connections), trust_env=True, cookies=_NoCookies())
            client = self._client
        return client.send(request, stream=True)

    def send(self, request: httpx.Request, deadline: float, *, max_bytes: int | None = None) -> httpx.Response:
        """Send ``request`` and return its response with the whole body read, by ``deadline``."""
        request = _outgoing(request)
        _timed(request, _left(request, deadline))
        request.read()
        opened = self._open(request)
        if opened.is_stream_consumed:  # read already (a test's MockTransport builds responses whole)
            return _checked(opened, request, max_bytes)
        watch = _WATCHDOG.watch(opened, deadline)  # cuts the body at the deadline, not at a read's timeout
        try:
            chunks = []
            size = 0
            for chunk in opened.iter_raw():
                if time.monotonic() > deadline:  # a transport given without a socket to watch
                    raise httpx.ReadTimeout("the body was still arriving at the deadline", request=request)
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise _too_large(request, max_bytes)
                chunks.append(chunk)
        except httpx.TransportError as exc:
            watched, watch = watch, None
            if _WATCHDOG.release(watched):
                raise _late(exc, request) from exc
            raise
        finally:
            _WATCHDOG.release(watch)
            opened.close()
        return _whole(opened, b"".join(chunks), request)

    @contextlib.contextmanager
    def stream(self, request: httpx.Request, deadline: float, *, idle: float | None = None) -> Iterator[Streamed]:
        """Send ``request`` and give its status and headers, then its body chunk by chunk (see the module docs)."""
        request = _outgoing(request)
        left = _left(request, deadline)
        _timed(request, left if idle is None else min(left, idle))
        request.read()
        opened = self._open(request)
        streamed = None
        try:
            streamed = Streamed(opened, deadline)
            yield streamed
        finally:
            if streamed is not None:
                streamed._release()
            opened.close()

    def close(self) -> None:
        """Close the pooled connections."""
        if self._own is not None:
            self._own.close()
            self._own = None
        if self._client is not None:
            self._client.close()
            self._client = None


def redirect_target(response: httpx.Response) -> httpx.Request | None:
    """The GET a download follows for a redirect answer (301, 302, 303, 307, 308 with a Location), or ``None``."""
    location = response.headers.get("location")
    if response.status_code not in (301, 302, 303, 307, 308) or not location:
        return None
    return httpx.Request("GET", response.request.url.join(location))


def fetch(url: str, *, timeout: float, max_bytes: int | None = None) -> bytes:
    """
    Download ``url`` whole within ``timeout`` seconds, following up to :data:`MAX_REDIRECTS` redirects.

    Raises:
        httpx.HTTPError: the download failed (``BodyTooLarge`` past ``max_bytes``; ``HTTPStatusError``
            for an error status).
    """
    deadline = time.monotonic() + timeout
    transport = SyncTransport(max_connections=1)
    try:
        request = httpx.Request("GET", url)
        for _ in range(MAX_REDIRECTS + 1):
            response = transport.send(request, deadline, max_bytes=max_bytes)
            following = redirect_target(response)
            if following is None:
                response.raise_for_status()
                return response.content
            request = following
        raise httpx.TooManyRedirects(f"more than {MAX_REDIRECTS} redirects", request=request)
    finally:
        transport.close()


# --------------------------------------------------------------------------------------------- async


if sys.version_info >= (3, 11):

    async def _by(deadline: float, request: httpx.Request, work: Any) -> Any:
        """Await ``work`` (a coroutine), ending it with ``httpx.ReadTimeout`` at ``deadline``."""
        try:
            async with asyncio.timeout(_left(request, deadline)):
                return await work
        except TimeoutError as exc:
            raise httpx.ReadTimeout("no complete answer by the deadline", request=request) from exc

else:  # pragma: no cover - Python 3.10

    async def _by(deadline: float, request: httpx.Request, work: Any) -> Any:
        """Await ``work`` (a coroutine), ending it with ``httpx.ReadTimeout`` at ``deadline``."""
        try:
            left = deadline - time.monotonic()
            if left <= 0:
                work.close()
                raise httpx.PoolTimeout("the deadline passed before the request was sent", request=request)
            return await asyncio.wait_for(work, left)
        except asyncio.TimeoutError as exc:
            raise httpx.ReadTimeout("no complete answer by the deadline", request=request) from exc


class AsyncStreamed:
    """The async twin of :class:`Streamed`."""

    def __init__(self, response: httpx.Response, deadline: float, idle: float | None) -> None:
        self.response = response
        self.deadline = deadline
        self.idle = idle

    async def __aiter__(self) -> AsyncIterator[bytes]:
        request = self.response.request
        raw = self.response.stream
        if isinstance(raw, _AiohttpStream) and self.idle is None and "content-encoding" not in self.response.headers:
            # aiohttp's chunks as they are (nothing to decode), each read bounded by its total timeout
            # (the deadline): no httpx layers and no timer per chunk, where a 1.5 MB event is 6 chunks.
            async for chunk in raw:
                yield chunk
            return
        chunks = self.response.aiter_bytes()
        while True:
            until = self.deadline if self.idle is None else min(self.deadline, time.monotonic() + self.idle)
            try:
                chunk = await _by(until, request, chunks.__anext__())
            except StopAsyncIteration:
                return
            yield chunk

    async def aread(self, max_bytes: int | None = None) -> bytes:
        """The rest of the body, whole, by the deadline."""
        chunks = []
        size = 0
        async for chunk in self:
            size += len(chunk)
            if max_bytes is not None and size > max_bytes:
                raise _too_large(self.response.request, max_bytes)
            chunks.append(chunk)
        return b"".join(chunks)


class AsyncTransport:
    """
    Sends requests without blocking the event loop: on aiohttp, or on httpx's async pool.

    One instance serves one event loop (its pool's connections belong to that loop).

    Args:
        transport: an ``httpx.AsyncBaseTransport`` to send through instead (tests pass
            ``httpx.MockTransport``).
        kind: ``"aiohttp"`` or ``"httpx"``; by default :func:`choose_async_kind` decides.
        max_connections: connections open at once (all of them may be kept alive).
    """

    def __init__(
        self,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        kind: AsyncKind | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        self._given = transport
        self.kind: AsyncKind = "httpx" if transport is not None else (kind or choose_async_kind())
        self._max_connections = max_connections
        self._own: httpx.AsyncBaseTransport | None = None
        self._client: httpx.AsyncClient | None = None
        self._session: aiohttp.ClientSession | None = None
        self._aiohttp: Any = None
        self._yarl: Any = None
        #: Whether :meth:`aclose` ran (the engine closes a loop's transport when the loop shuts down).
        self.closed = False
        if self.kind == "aiohttp":  # imported once here: an import statement costs on every call
            import aiohttp
            import yarl

            self._aiohttp = aiohttp
            self._yarl = yarl

    def warm(self) -> None:
        """Make the pool now (on a running loop), so the first request does not pay for it."""
        if self.kind == "aiohttp":
            self._aiohttp_session()
        elif self._given is None and self._own is None and self._client is None and not proxies_in_environment():
            self._own = httpx.AsyncHTTPTransport(limits=_limits(self._max_connections), trust_env=True)

    # ------------------------------------------------------------------ httpx

    async def _open(self, request: httpx.Request) -> httpx.Response:
        transport = self._given if self._given is not None else self._own
        if transport is None:
            if proxies_in_environment():
                if self._client is None:
                    self._client = httpx.AsyncClient(
                        limits=_limits(self._max_connections), trust_env=True, cookies=_NoCookies()
                    )
                return await self._client.send(request, stream=True)
            transport = self._own = httpx.AsyncHTTPTransport(limits=_limits(self._max_connections), trust_env=True)
        response = await transport.handle_async_request(request)
        response.request = request
        return response

    async def _httpx_whole(self, request: httpx.Request, max_bytes: int | None) -> httpx.Response:
        opened = await self._open(request)
        if opened.is_stream_consumed:  # read already (a test's MockTransport builds responses whole)
            return _checked(opened, request, max_bytes)
        try:
            chunks = []
            size = 0
            async for chunk in opened.aiter_raw():
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise _too_large(request, max_bytes)
                chunks.append(chunk)
        finally:
            await opened.aclose()
        return _whole(opened, b"".join(chunks), request)

    # ------------------------------------------------------------------ aiohttp

    def _aiohttp_session(self) -> aiohttp.ClientSession:
        session = self._session
        if session is None or session.closed:
            aiohttp = self._aiohttp
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, limit_per_host=0, keepalive_timeout=KEEPALIVE_EXPIRY
            )
            session = self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                read_bufsize=READ_BUFSIZE,
                auto_decompress=False,  # httpx's decoders decode, as on the other transports
                skip_auto_headers=_AIOHTTP_SKIP,
            )
        return session

    def _aiohttp_request(self, request: httpx.Request, left: float) -> Any:
        aiohttp = self._aiohttp
        return self._aiohttp_session().request(
            request.method,
            self._yarl.URL(str(request.url), encoded=True),  # the path's percent-encoding exactly as built
            headers=[(name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers.raw],
            data=_aiohttp_body(request),
            allow_redirects=False,
            compress=None,
            timeout=aiohttp.ClientTimeout(total=left),
        )

    async def _aiohttp_whole(self, request: httpx.Request, deadline: float, max_bytes: int | None) -> httpx.Response:
        # aiohttp's total timeout bounds the whole exchange, body included.
        left = _left(request, deadline)
        try:
            async with self._aiohttp_request(request, left) as answer:
                if max_bytes is not None and (answer.content_length or 0) > max_bytes:
                    raise _too_large(request, max_bytes)
                raw = await answer.read() if max_bytes is None else await _bounded(answer, request, max_bytes)
        except httpx.TransportError:
            raise
        except Exception as exc:
            raise _from_aiohttp(exc, request) from exc
        return _response(answer.status, answer.raw_headers, raw, request, _extensions(answer))

    # ------------------------------------------------------------------ public

    async def send(self, request: httpx.Request, deadline: float, *, max_bytes: int | None = None) -> httpx.Response:
        """Send ``request`` and return its response with the whole body read, by ``deadline``."""
        request = _outgoing(request)
        _timed(request, _left(request, deadline))
        if pieces_of(request) is None:  # a body kept in pieces is sent as it is (see _aiohttp_body)
            await request.aread()
        if self.kind == "aiohttp":
            return await self._aiohttp_whole(request, deadline, max_bytes)
        response: httpx.Response = await _by(deadline, request, self._httpx_whole(request, max_bytes))
        return response

    @contextlib.asynccontextmanager
    async def stream(
        self, request: httpx.Request, deadline: float, *, idle: float | None = None
    ) -> AsyncIterator[AsyncStreamed]:
        """Send ``request`` and give its status and headers, then its body chunk by chunk (see the module docs)."""
        request = _outgoing(request)
        left = _left(request, deadline)
        _timed(request, left if idle is None else min(left, idle))
        if pieces_of(request) is None:
            await request.aread()
        if self.kind == "aiohttp":
            try:
                manager = self._aiohttp_request(request, left)
                answer = await _by(deadline, request, manager.__aenter__())
            except httpx.TransportError:
                raise
            except Exception as exc:
                raise _from_aiohttp(exc, request) from exc
            opened = _opened(answer, request, stream=_AiohttpStream(answer, request))
            try:
                yield AsyncStreamed(opened, deadline, idle)
            finally:
                answer.release()
            return
        opened = await _by(deadline, request, self._open(request))
        try:
            yield AsyncStreamed(opened, deadline, idle)
        finally:
            await opened.aclose()

    async def aclose(self) -> None:
        """Close the pooled connections."""
        self.closed = True
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
        if self._own is not None:
            own, self._own = self._own, None
            await own.aclose()
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()


def _aiohttp_body(request: httpx.Request) -> Any:
    """
    What aiohttp sends as the body: the request's bytes, or its pieces one by one (``pixmux._pieces``).

    A body kept in pieces (a multipart upload) goes out without being joined: aiohttp writes
    each piece as it is (the request's ``Content-Length`` keeps it from chunking them), so a
    4 MB image is not copied into a joined body, nor again into one buffer with the headers.
    Any other body is read whole first.
    """
    pieces = pieces_of(request)
    if pieces is None:
        return request.content or None
    return _each(pieces)


async def _each(pieces: Sequence[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


#: Headers aiohttp would add on its own: a request goes out with the plugin's headers only.
_AIOHTTP_SKIP = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")


def choose_async_kind() -> AsyncKind:
    """``"aiohttp"`` when it is installed, no proxy is set and ``PIXMUX_ASYNC_TRANSPORT`` is not ``httpx``."""
    if os.environ.get("PIXMUX_ASYNC_TRANSPORT", "").strip().lower() == "httpx" or proxies_in_environment():
        return "httpx"
    try:
        import aiohttp  # noqa: F401
        import yarl  # noqa: F401
    except ImportError:
        return "httpx"
    return "aiohttp"


def _extensions(answer: Any) -> dict[str, Any]:
    extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
    if answer.reason:
        extensions["reason_phrase"] = _reason(answer.reason)
    return extensions


@functools.lru_cache(maxsize=64)
def _reason(phrase: str) -> bytes:
    return phrase.encode("latin-1", "replace")


def _opened(answer: Any, request: httpx.Request, stream: httpx.AsyncByteStream | None = None) -> httpx.Response:
    return httpx.Response(
        answer.status, headers=answer.raw_headers, stream=stream, request=request, extensions=_extensions(answer)
    )


async def _bounded(answer: Any, request: httpx.Request, max_bytes: int) -> bytes:
    chunks = []
    size = 0
    async for chunk in answer.content.iter_any():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(request, max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


class _AiohttpStream(httpx.AsyncByteStream):
    """An aiohttp response body as httpx's raw stream (httpx decodes it)."""

    def __init__(self, answer: Any, request: httpx.Request) -> None:
        self._answer = answer
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._answer.content.iter_any():
                yield chunk
        except httpx.TransportError:
            raise
        except Exception as exc:
            raise _from_aiohttp(exc, self._request) from exc

    async def aclose(self) -> None:
        self._answer.release()


def _from_aiohttp(exc: BaseException, request: httpx.Request) -> httpx.TransportError | httpx.TimeoutException:
    """httpx's exception for what aiohttp raised: the exchange sees one family on every transport."""
    import aiohttp

    # aiohttp (and aiohappyeyeballs) keep a refused connection's error in a local of a frame on
    # that error's own traceback (``_create_direct_connection``, ``start_connection``): reference
    # cycles holding the request and its body. Without their tracebacks (the errors stay, as
    # causes, with their messages) nothing holds those frames, and all of it is freed at once
    # rather than at a rare cyclic collection.
    cause: BaseException | None = exc
    for _ in range(8):  # a chain is a few links long (and could, in theory, loop)
        if cause is None:
            break
        cause.__traceback__ = None
        cause = cause.__cause__ or cause.__context__
    text = f"{type(exc).__name__}: {exc}"
    error: Callable[..., httpx.TransportError]
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        error = httpx.ReadTimeout
    elif isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ClientProxyConnectionError):
        error = httpx.ConnectError
    elif isinstance(exc, (aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError, aiohttp.ClientResponseError)):
        error = httpx.RemoteProtocolError
    elif isinstance(exc, aiohttp.ClientOSError | ConnectionError | OSError):
        error = httpx.ReadError
    elif isinstance(exc, aiohttp.InvalidURL | ValueError):
        error = httpx.UnsupportedProtocol
    else:
        error = httpx.TransportError
    return error(text, request=request)
