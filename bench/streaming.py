"""
Streaming benchmark: what the gateway adds to a stream of partial images.

    uv run python bench/streaming.py            # 60 streams each way
    uv run python bench/streaming.py --quick    # 20

Two processes besides this one, on 127.0.0.1: a mock provider streaming OpenAI's events (one
partial image of about 1.5 MB in base64 as soon as the request arrives, then more, then the
completed event) and the gateway (``python -m pixmux.proxy.cli``, one worker, logging to a file).
This process is the client: one stream at a time, over a fresh connection, timing the moment
the first partial image has arrived whole.

Figures (printed, never asserted):

- time to first partial image, p50 and p90, straight to the mock (the floor) and through the
  gateway; the difference is what the gateway adds (target: at most 1 ms at p50);
- the gateway's CPU per event (its process's user + system time over the run, divided by the
  events it relayed), next to the mock's own CPU per event for the same bytes as the floor
  (target: under 0.2 ms for a 1.5 MB partial image).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PARTIALS = 3
IMAGE_BYTES = 1_100_000  # about 1.5 MB once base64-encoded


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _events() -> bytes:
    b64 = base64.b64encode(b"\x89PNG\r\n\x1a\n" + os.urandom(IMAGE_BYTES)).decode()
    blocks = []
    for index in range(PARTIALS):
        event = {
            "type": "image_generation.partial_image",
            "b64_json": b64,
            "partial_image_index": index,
            "created_at": 1,
            "size": "1024x1024",
            "quality": "low",
            "background": "opaque",
            "output_format": "png",
        }
        blocks.append(f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode())
    done = {
        "type": "image_generation.completed",
        "b64_json": b64,
        "created_at": 2,
        "size": "1024x1024",
        "quality": "low",
        "background": "opaque",
        "output_format": "png",
        "usage": {
            "total_tokens": 3,
            "input_tokens": 1,
            "output_tokens": 2,
            "input_tokens_details": {"text_tokens": 1, "image_tokens": 0},
        },
    }
    blocks.append(f"event: {done['type']}\ndata: {json.dumps(done)}\n\n".encode())
    return b"".join(blocks)


async def _mock(port: int) -> None:
    """A provider that answers every POST with the same event stream, at once."""
    stream = _events()
    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n"

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        headers = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (int(line.split(b":")[1]) for line in headers.split(b"\r\n") if line.lower().startswith(b"content-length")),
            0,
        )
        await reader.readexactly(length)
        writer.write(head + stream)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _first_partial(url: str, headers: dict[str, str]) -> float:
    """Seconds from sending the request to having the first partial image whole."""
    body = {"model": "gpt-image-1", "prompt": "otter", "stream": True, "partial_images": PARTIALS}
    started = time.perf_counter()
    first = None
    with httpx.Client(timeout=30) as client, client.stream("POST", url, json=body, headers=headers) as response:
        tail = b""
        begun = False
        for chunk in response.iter_raw():
            if first is None:
                window = tail + chunk  # only the new bytes (and a few before them) are searched
                if not begun:
                    begun = b"event: image_generation.partial_image" in window
                if begun and b"\n\n" in window.split(b"image_generation.partial_image", 1)[-1]:
                    first = time.perf_counter() - started
                tail = chunk[-64:]
    assert first is not None, "no partial image came"
    return first


def _wait_ready(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"not ready: {url}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--mock", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mock:
        asyncio.run(_mock(args.mock))
        return
    rounds = 20 if args.quick else 60
    mock_port, gateway_port = _free_port(), _free_port()
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "config.yaml"
        config.write_text(
            "model_list:\n"
            "  - model_name: gpt-image-1\n"
            "    litellm_params:\n"
            "      model: openai/gpt-image-1\n"
            f"      api_base: http://127.0.0.1:{mock_port}/v1\n"
            "      api_key: sk-bench\n"
            "router_settings: {num_retries: 0}\n"
        )
        log = (Path(folder) / "gateway.log").open("wb")
        mock = subprocess.Popen([sys.executable, __file__, "--mock", str(mock_port)], cwd=ROOT)
        gateway = subprocess.Popen(
            [sys.executable, "-m", "pixmux.proxy.cli", "--config", str(config), "--port", str(gateway_port)],
            cwd=ROOT,
            stdout=log,
            stderr=log,
        )
        try:
            _wait_ready(f"http://127.0.0.1:{gateway_port}/health/readiness")
            direct_url = f"http://127.0.0.1:{mock_port}/v1/images/generations"
            gateway_url = f"http://127.0.0.1:{gateway_port}/v1/images/generations"
            for _ in range(5):  # warm both paths
                _first_partial(direct_url, {})
                _first_partial(gateway_url, {})
            direct: list[float] = []
            through: list[float] = []
            mock_cpu = gateway_cpu = 0.0
            for _ in range(rounds):  # interleaved, so both see the same machine
                before = _cpu_seconds(mock.pid)
                direct.append(_first_partial(direct_url, {}))
                mock_cpu += _cpu_seconds(mock.pid) - before
                before = _cpu_seconds(gateway.pid)
                through.append(_first_partial(gateway_url, {}))
                gateway_cpu += _cpu_seconds(gateway.pid) - before
        finally:
            for proc in (gateway, mock):
                proc.terminate()
                proc.wait(10)
            log.close()

    def ms(values: list[float], q: float) -> float:
        return statistics.quantiles(values, n=100)[int(q * 100) - 1] * 1000

    events = rounds * (PARTIALS + 1)
    print(f"streams: {rounds} each way, {PARTIALS} partial images + 1 final per stream, each ~1.5 MB base64")
    for label, values in (("straight to the mock (floor)", direct), ("through the gateway", through)):
        print(f"time to first partial, {label}: p50 {ms(values, 0.5):.2f} ms  p90 {ms(values, 0.9):.2f} ms")
    added = ms(through, 0.5) - ms(direct, 0.5)
    ratio = ms(through, 0.5) / ms(direct, 0.5)
    print(f"added by the gateway at p50: {added:.2f} ms ({ratio:.2f}x the floor; target <= 1 ms)")
    per_event = gateway_cpu / events * 1000
    floor = mock_cpu / events * 1000
    print(
        f"gateway CPU per event: {per_event:.3f} ms (the mock's own CPU per event, the floor: {floor:.3f} ms; "
        f"{per_event / floor if floor else float('nan'):.1f}x; target < 0.2 ms)"
    )


if __name__ == "__main__":
    main()
