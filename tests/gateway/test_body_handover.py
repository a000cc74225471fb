"""
Request bodies through the gateway's HTTP protocol (``GuardedHttpToolsProtocol``): whole, in order, uncopied.

uvicorn gathers body chunks in a ``bytearray`` and hands them on as ``bytes(...)``; the
gateway's protocol hands each chunk over as the very object httptools made when nothing is
waiting (``pixmux.proxy._limits._hand_over``). These tests run uvicorn with that protocol on
127.0.0.1 and send bodies whole, trickled, pipelined, chunked and cut short: the app must read
exactly the bytes sent, the next request on the connection must be read as sent, and a big
upload must reach the app without a copy per chunk.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from gateway_support import free_port
from pixmux.proxy._limits import GuardedHttpToolsProtocol

#: Every body chunk httptools gave the protocol, and every body the app received, in order.
GIVEN: list[bytes] = []
RECEIVED: list[bytes] = []


class _Recording(GuardedHttpToolsProtocol):
    def on_body(self, body: bytes) -> None:
        GIVEN.append(body)
        super().on_body(body)


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Reads the whole body and answers its length and SHA-256; on ``/early``, answers ``0 ...`` before reading it."""
    assert scope["type"] == "http"
    parts: list[bytes] = []
    while scope["path"] != "/early":
        message = await receive()
        if message["type"] != "http.request":
            return
        parts.append(message["body"])
        if not message.get("more_body", False):
            break
    RECEIVED.extend(parts)
    body = b"".join(parts)
    answer = f"{len(body)} {hashlib.sha256(body).hexdigest()}".encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(answer))]})
    await send({"type": "http.response.body", "body": answer})


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    chosen = free_port()
    config = uvicorn.Config(
        _app, host="127.0.0.1", port=chosen, http=_Recording, lifespan="off", log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    yield chosen
    server.should_exit = True
    thread.join(10)


def _head(size: int, path: bytes = b"/upload") -> bytes:
    return b"POST %s HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: %d\r\n\r\n" % (path, size)


def _answers(sock: socket.socket, count: int) -> list[bytes]:
    """The bodies of ``count`` responses read from ``sock`` (each a short ``length sha256`` line)."""
    sock.settimeout(30)
    data = b""
    answers: list[bytes] = []
    while len(answers) < count:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        data += chunk
        while b"\r\n\r\n" in data:
            head, _, rest = data.partition(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            if len(rest) < length:
                break
            answers.append(rest[:length])
            data = rest[length:]
    return answers


def _expected(body: bytes) -> bytes:
    return f"{len(body)} {hashlib.sha256(body).hexdigest()}".encode()


def test_a_big_upload_arrives_whole_and_uncopied(port: int) -> None:
    """A 4 MB body sent at once reaches the app byte for byte, most chunks as the objects httptools made."""
    body = os.urandom(4 * 1024 * 1024)
    GIVEN.clear()
    RECEIVED.clear()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(_head(len(body)) + body)
        assert [_expected(body)] == _answers(sock, 1)
    given = {id(chunk) for chunk in GIVEN}
    handed_over = [chunk for chunk in RECEIVED if chunk and id(chunk) in given]
    assert len(handed_over) * 2 >= len([chunk for chunk in RECEIVED if chunk])


def test_a_trickled_body_arrives_whole(port: int) -> None:
    """A body sent in hundreds of small pieces, some back to back, reaches the app byte for byte."""
    body = os.urandom(300_000)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(_head(len(body)))
        offset, step = 0, 1
        while offset < len(body):
            sock.sendall(body[offset : offset + step])
            offset += step
            step = step * 3 % 4093 + 1  # 1 byte to 4 kB
            if offset % 7 == 0:
                time.sleep(0.001)  # now and then the app catches up; otherwise chunks wait together
        assert [_expected(body)] == _answers(sock, 1)


def test_pipelined_requests_keep_their_own_bodies(port: int) -> None:
    """Three requests sent back to back on one connection each get exactly their own body."""
    bodies = [os.urandom(size) for size in (70_000, 5, 1_000_000)]
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"".join(_head(len(body)) + body for body in bodies))
        assert [_expected(body) for body in bodies] == _answers(sock, 3)


def test_hand_over_switches_itself_off_and_says_so_once(caplog: Any, monkeypatch: Any) -> None:
    """If uvicorn keeps a waiting body some other way, the shortcut leaves it alone and logs one warning."""
    from pixmux.proxy import _limits

    monkeypatch.setattr(_limits._HandOverState, "off", False)

    class Cycle:
        body = ["a chunk kept some other way"]

    cycle = Cycle()
    with caplog.at_level("WARNING", logger="pixmux.proxy"):
        _limits._hand_over(cycle)
        _limits._hand_over(cycle)

    assert cycle.body == ["a chunk kept some other way"]
    assert _limits._HandOverState.off
    assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1
    assert "hand-over is off" in caplog.records[0].message


def test_a_body_ending_mid_chunk_leaves_the_next_request_whole(port: int) -> None:
    """A big body and a second request sent in one write: the chunk holding the body's end also starts the next."""
    bodies = [os.urandom(600_001), os.urandom(3)]
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(_head(len(bodies[0])) + bodies[0] + _head(len(bodies[1])) + bodies[1])
        assert [_expected(body) for body in bodies] == _answers(sock, 2)
        # the connection reads a third request as usual afterwards
        sock.sendall(_head(0))
        assert [_expected(b"")] == _answers(sock, 1)


def test_chunked_bodies_still_go_through_httptools(port: int) -> None:
    """Transfer-Encoding: chunked has no length up front: httptools reads it as before."""
    body = os.urandom(300_000)
    slices = [body[i : i + 70_000] for i in range(0, len(body), 70_000)]
    pieces = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in slices)
    head = b"POST /upload HTTP/1.1\r\nhost: 127.0.0.1\r\ntransfer-encoding: chunked\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head + pieces + b"0\r\n\r\n")
        assert [_expected(body)] == _answers(sock, 1)
        sock.sendall(_head(5) + b"hello")
        assert [_expected(b"hello")] == _answers(sock, 1)


def test_an_answer_before_the_body_leaves_the_connection_usable(port: int) -> None:
    """The app answers before reading a 2 MB body (as a 401 does); the body is dropped and the next request read."""
    body = os.urandom(2 * 1024 * 1024)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(_head(len(body), b"/early"))
        assert [_expected(b"")] == _answers(sock, 1)
        sock.sendall(body)
        sock.sendall(_head(5) + b"after")
        assert [_expected(b"after")] == _answers(sock, 1)


def test_a_body_cut_short_ends_the_request_quietly(port: int) -> None:
    """A client that sends half its body and closes: the server stays up and serves the next connection."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(_head(1_000_000) + os.urandom(500_000))
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(_head(4) + b"next")
        assert [_expected(b"next")] == _answers(sock, 1)
