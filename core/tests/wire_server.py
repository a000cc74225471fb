"""
A raw HTTP/1.1 server on 127.0.0.1 for transport tests: it records every request's bytes as
they arrived and answers by the path's first segment, misbehaving on request.

- ``/ok...``: 200 with a JSON body (``{"ok": true}``), echoing nothing.
- ``/gzip``: the JSON body gzip-compressed, with ``Content-Encoding: gzip``.
- ``/slow-headers``: waits ``SLOW`` seconds before the status line.
- ``/trickle``: a chunked body, one byte every 0.1 s for ``SLOW`` seconds.
- ``/drip``: the same, one byte every ``DRIP`` seconds: each read ends within a read timeout as
  long as a 1 s deadline, and the body runs past it.
- ``/stall``: half a body, then silence.
- ``/hang``: reads the request and never answers.
- ``/reset``: reads the request and resets the connection (RST).
- ``/big``: a 64 KiB body.
- ``/events``: three chunks 0.05 s apart (a stream).
"""

from __future__ import annotations

import gzip
import json
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

SLOW = 3.0
DRIP = 0.8
BODY = json.dumps({"ok": True}).encode()


def _read_request(conn: socket.socket) -> bytes | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        rest += chunk
    return head + b"\r\n\r\n" + rest


def _answer(body: bytes, extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        + extra
        + b"Content-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


class WireServer:
    """The server; ``requests`` holds each request's raw bytes, in arrival order."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []
        self.lock = threading.Lock()
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                owner._serve(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _serve(self, conn: socket.socket) -> None:
        while True:
            try:
                raw = _read_request(conn)
            except OSError:
                return
            if raw is None:
                return
            with self.lock:
                self.requests.append(raw)
            path = raw.split(b" ", 2)[1].decode()
            name = path.lstrip("/").split("/", 1)[0].split("?", 1)[0]
            try:
                if not self._respond(conn, name):
                    return
            except OSError:
                return

    def _respond(self, conn: socket.socket, name: str) -> bool:
        if name == "gzip":
            conn.sendall(_answer(gzip.compress(BODY), b"Content-Encoding: gzip\r\n"))
        elif name == "slow-headers":
            time.sleep(SLOW)
            conn.sendall(_answer(BODY))
        elif name in ("trickle", "drip"):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
            end = time.monotonic() + SLOW
            while time.monotonic() < end:
                conn.sendall(b"1\r\n \r\n")
                time.sleep(0.1 if name == "trickle" else DRIP)
            conn.sendall(b"0\r\n\r\n")
        elif name == "stall":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 50)
            time.sleep(SLOW)
            return False
        elif name == "hang":
            time.sleep(SLOW)
            return False
        elif name == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
            return False
        elif name == "big":
            conn.sendall(_answer(b"x" * 65536))
        elif name == "events":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
            for index in range(3):
                part = f"data: {index}\n\n".encode()
                conn.sendall(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                time.sleep(0.05)
            conn.sendall(b"0\r\n\r\n")
        else:
            conn.sendall(_answer(BODY))
        return True

    def take(self) -> list[bytes]:
        """The requests recorded so far, forgetting them."""
        with self.lock:
            taken, self.requests = self.requests, []
        return taken


@contextmanager
def wire_server() -> Iterator[WireServer]:
    """A running :class:`WireServer`, shut down on exit."""
    server = WireServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()


def free_port() -> int:
    """A port on 127.0.0.1 with nothing listening on it (for refused connections)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
