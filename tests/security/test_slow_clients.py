"""
Slow and hostile clients against a real ``pixmux serve`` process on 127.0.0.1.

Hundreds of connections dribble headers or bodies a byte at a time while normal clients keep
asking for images: at least 99 % of the normal requests succeed, and every limit answers with
its own OpenAI-shaped error (408, 413, 431, 503) before closing the connection. Bounded: a few
hundred connections, about ten seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

MASTER = "sk-slow-client-test-master-key-0123456789"
HEADER_TIMEOUT = 1.5
BODY_TIMEOUT = 1.5
MAX_CONNECTIONS = 400
MAX_HEADER_KB = 8
MAX_HEADERS = 40
DRIBBLERS = 150
BODY_DRIBBLERS = 50
CAPPED = 100
BODY = json.dumps({"model": "demo", "prompt": "a lighthouse"}).encode()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _serve(folder: Path, general_settings: dict[str, Any]) -> Iterator[int]:
    """``pixmux serve`` with these ``general_settings`` and a mock model, on a free port; stopped afterwards."""
    config = folder / "config.yaml"
    config.write_text(
        json.dumps(
            {
                "model_list": [
                    {"model_name": "demo", "litellm_params": {"model": "openai/gpt-image-1", "mock_response": True}}
                ],
                "general_settings": {"master_key": MASTER, **general_settings},
            }
        )
    )
    port = _free_port()
    command = [sys.executable, "-m", "pixmux.proxy.cli", "--config", str(config), "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--log-level", "warning"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise AssertionError(f"pixmux serve exited: {process.stderr.read() if process.stderr else b''!r}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health/liveliness").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("pixmux serve did not start")
            time.sleep(0.05)
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A gateway with tight limits: every limit is reached within seconds."""
    settings = {
        "header_timeout": HEADER_TIMEOUT,
        "body_timeout": BODY_TIMEOUT,
        "max_connections": MAX_CONNECTIONS,
        "max_header_size_kb": MAX_HEADER_KB,
        "max_headers": MAX_HEADERS,
        "max_request_size_mb": 0.05,
    }
    with _serve(tmp_path_factory.mktemp("slow"), settings) as port:
        yield port


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A gateway with few connections and patient timeouts: the connection limit is reached before any timeout."""
    settings = {"header_timeout": 30, "body_timeout": 30, "max_connections": CAPPED}
    with _serve(tmp_path_factory.mktemp("capped"), settings) as port:
        yield port


async def _exchange(port: int, pieces: list[bytes], *, gap: float = 0.0, wait: float = 10.0) -> bytes:
    """Send ``pieces`` (``gap`` seconds apart, stopping when the server closes) and read until it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    received = bytearray()

    async def read_all() -> None:
        while chunk := await reader.read(65536):
            received.extend(chunk)

    reading = asyncio.ensure_future(read_all())
    try:
        for piece in pieces:
            if reading.done():
                break
            try:
                writer.write(piece)
                await writer.drain()
            except ConnectionError:
                break
            if gap:
                await asyncio.wait({reading}, timeout=gap)
        await asyncio.wait_for(reading, wait)
    except (asyncio.TimeoutError, ConnectionError):
        pass
    finally:
        reading.cancel()
        writer.close()
    return bytes(received)


def _answer(raw: bytes) -> tuple[int, dict[str, Any]]:
    """The status and JSON body of a raw HTTP/1.1 answer."""
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 "), raw[:200]
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)


def _request_head(extra: bytes = b"", *, length: int = len(BODY)) -> bytes:
    return (
        b"POST /v1/images/generations HTTP/1.1\r\nhost: 127.0.0.1\r\n"
        b"authorization: Bearer " + MASTER.encode() + b"\r\ncontent-type: application/json\r\n"
        b"content-length: " + str(length).encode() + b"\r\n" + extra + b"\r\n"
    )


async def _normal_traffic(port: int, seconds: float) -> list[int]:
    """Eight clients asking for images back to back for ``seconds``: the statuses they got."""
    statuses: list[int] = []
    stop = time.monotonic() + seconds

    async def one_client() -> None:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            while time.monotonic() < stop:
                try:
                    response = await client.post(
                        "/v1/images/generations",
                        content=BODY,
                        headers={"authorization": f"Bearer {MASTER}", "content-type": "application/json"},
                    )
                    statuses.append(response.status_code)
                except httpx.HTTPError:
                    statuses.append(0)

    await asyncio.gather(*(one_client() for _ in range(8)))
    return statuses


async def test_slow_clients_do_not_starve_normal_ones(served: int) -> None:
    """
    150 header dribblers and 50 body dribblers: >= 99 % of normal requests succeed; each dribbler
    gets a 408 (a body dribbler's headers may themselves run out of time on a loaded machine).
    """
    head = _request_head()
    header_dribblers = [
        _exchange(served, [bytes([byte]) for byte in head], gap=0.2, wait=HEADER_TIMEOUT + 5) for _ in range(DRIBBLERS)
    ]
    body_dribblers = [
        _exchange(served, [head, *(bytes([byte]) for byte in BODY)], gap=0.2, wait=BODY_TIMEOUT + 5)
        for _ in range(BODY_DRIBBLERS)
    ]

    results = await asyncio.gather(_normal_traffic(served, HEADER_TIMEOUT * 3), *header_dribblers, *body_dribblers)

    statuses = results[0]
    assert len(statuses) >= 50
    assert statuses.count(200) / len(statuses) >= 0.99, {s: statuses.count(s) for s in set(statuses)}
    for raw in results[1:]:
        status, body = _answer(raw)
        assert status == 408
        assert body["error"]["code"] == "request_timeout"
    header_messages = {_answer(raw)[1]["error"]["message"] for raw in results[1 : 1 + DRIBBLERS]}
    assert all("header" in message for message in header_messages)


async def test_slow_clients_a_dribbled_body_is_408(served: int) -> None:
    """Headers in time, then a body a byte at a time: 408 naming body_timeout, after about that long."""
    started = time.monotonic()
    raw = await _exchange(served, [_request_head(), *(bytes([byte]) for byte in BODY)], gap=0.2, wait=BODY_TIMEOUT + 5)

    status, body = _answer(raw)
    assert status == 408
    assert "body_timeout" in body["error"]["message"]
    assert time.monotonic() - started < BODY_TIMEOUT + 3


async def test_slow_clients_a_connection_sending_nothing_is_closed(served: int) -> None:
    """A connection that never sends a byte gets a 408 after header_timeout, then is closed."""
    started = time.monotonic()
    raw = await _exchange(served, [], wait=HEADER_TIMEOUT + 5)

    assert _answer(raw)[0] == 408
    assert time.monotonic() - started < HEADER_TIMEOUT + 3


@pytest.mark.parametrize("size_kb", [MAX_HEADER_KB + 1, 4 * 1024])
async def test_slow_clients_headers_too_large_are_431(served: int, size_kb: int) -> None:
    """A header past max_header_size_kb (even a 4 MB one) is refused 431 without reading it all."""
    big = b"x-padding: " + b"a" * (size_kb * 1024) + b"\r\n"
    pieces = [_request_head()[:-2], *(big[i : i + 65536] for i in range(0, len(big), 65536)), b"\r\n", BODY]

    status, body = _answer(await _exchange(served, pieces))

    assert status == 431
    assert body["error"]["code"] == "request_headers_too_large"


async def test_slow_clients_too_many_headers_are_431(served: int) -> None:
    """More header lines than max_headers: 431 naming the count."""
    extra = b"".join(b"x-h%d: 1\r\n" % index for index in range(MAX_HEADERS + 1))

    status, body = _answer(await _exchange(served, [_request_head(extra), BODY]))

    assert status == 431
    assert body["error"]["code"] == "too_many_headers"


async def test_slow_clients_body_too_large_is_413(served: int) -> None:
    """A body past the route's limit (max_request_size_mb) is a 413, whether declared or streamed."""
    status, body = _answer(await _exchange(served, [_request_head(length=200_000), b"{" * 200_000]))

    assert status == 413
    assert body["error"]["code"] == "request_too_large"


async def test_slow_clients_past_max_connections_the_longest_waiting_make_room(capped: int) -> None:
    """
    Past max_connections, the connections waiting longest without a request are answered 503
    (too_many_connections) and closed, and a normal request is still served.
    """
    holders = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", capped) for _ in range(CAPPED + 20)))

    async def answer(reader: asyncio.StreamReader) -> bytes:
        try:
            return await asyncio.wait_for(reader.read(65536), 1.0)
        except asyncio.TimeoutError:
            return b""  # still open: it was not among the longest waiting

    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{capped}") as client:
            response = await client.post(
                "/v1/images/generations",
                content=BODY,
                headers={"authorization": f"Bearer {MASTER}", "content-type": "application/json"},
            )
        answers = [raw for raw in await asyncio.gather(*(answer(reader) for reader, _ in holders)) if raw]
    finally:
        for _, writer in holders:
            writer.close()
        await asyncio.sleep(0.5)  # the gateway sees them close before the next test

    assert response.status_code == 200
    assert len(answers) >= 20  # one per connection past the limit, the normal client's own included
    for raw in answers:
        status, body = _answer(raw)
        assert status == 503
        assert body["error"]["code"] == "too_many_connections"


async def test_slow_clients_past_max_connections_with_every_request_in_flight_get_503(capped: int) -> None:
    """When every connection has a request in flight, one more is answered 503 and closed."""

    async def in_flight() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection("127.0.0.1", capped)
        writer.write(_request_head())  # the body never comes: the request stays in flight until body_timeout
        await writer.drain()
        return reader, writer

    holders = await asyncio.gather(*(in_flight() for _ in range(CAPPED)))
    try:
        await asyncio.sleep(0.2)
        status, body = _answer(await _exchange(capped, [_request_head(), BODY], wait=5))
    finally:
        for _, writer in holders:
            writer.close()

    assert status == 503
    assert body["error"]["code"] == "too_many_connections"
    assert body["error"]["type"] == "api_error"
