"""
Streaming benchmark: what the gateway adds to a stream of partial images.

    uv run python bench/streaming.py                  # 60 rounds
    uv run python bench/streaming.py --quick          # 20
    uv run python bench/streaming.py --instructions   # instructions per partial image (valgrind; minutes)

Three processes besides this one, on 127.0.0.1:

- a mock provider streaming OpenAI's events as soon as the request arrives: as many partial
  images as the request's ``partial_images`` (about 1.5 MB each in base64), then the completed
  event with ``usage``, each event one HTTP chunk on a connection kept open, as OpenAI's API
  answers (so the gateway reuses its pooled connection to the provider, as it would there);
- the gateway (``python -m pixmux.proxy.cli``, one worker, logging to a file) in front of it;
- a bare relay: a few lines of asyncio protocols (uvloop when installed, as the gateway) that
  write what arrives from one side to the other without reading it. It is the floor for any
  Python process in the path: what the kernel and the event loop cost to move the same bytes.

This process is the client (httpx, one stream at a time, a fresh connection each, the client
made before the clock starts), timing the moment the first partial image has arrived whole.

Figures (printed, never asserted):

- time to first partial image, p50 and p90: straight to the mock (the floor), through the
  relay, through the gateway; what the gateway adds at p50 (target: at most 1 ms); and the
  same at p50 with 1 kB images, where moving the bytes costs next to nothing, so that what is
  left is the gateway's request path (parsing, routing, the upstream request);
- CPU, from each server process's own counters (``/proc/<pid>/task/*/schedstat``: nanoseconds
  on a CPU, user and kernel, every thread), read before and after each stream, so other load on
  the machine does not enter it: the gateway's CPU per stream and per event, and per 1.5 MB
  partial image (the difference between streams with 3 partial images and with none, divided
  by 3: the per-request work of routing, logging and opening the upstream connection is left
  out), next to the relay's figures for the same bytes (target: under 0.2 ms per 1.5 MB
  partial image). The gateway's split between user and kernel time comes from
  ``/proc/<pid>/stat`` over the whole run (clock ticks, coarse);
- memory: the gateway's and the relay's resident size after the warm-up and after the run, and
  their minor page faults per stream (a stream's events kept alive past its end show as a
  resident size that grows with every stream, and fresh pages faulted for each new event).
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
from collections.abc import Callable
from pathlib import Path
from typing import cast

import callgrind
import httpx

ROOT = Path(__file__).resolve().parents[1]
PARTIALS = 3
IMAGE_BYTES = 1_100_000  # about 1.5 MB once base64-encoded
SMALL_IMAGE_BYTES = 1_000  # streams of small images: what the gateway adds besides moving the bytes
SMALL_PROMPT = "small otter"
PARTIAL_EVENT = b"event: image_generation.partial_image"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _events(partials: int, b64: str) -> bytes:
    blocks = []
    for index in range(partials):
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


def _use_uvloop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


async def _mock(port: int) -> None:
    """
    A provider that answers every POST with an event stream of ``partial_images`` partials, at once.

    As OpenAI's API does, it keeps the connection open (each event one HTTP chunk), so the
    gateway's pool reuses its connection to the provider from one stream to the next.
    """
    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    streams = {}
    for small, size in ((False, IMAGE_BYTES), (True, SMALL_IMAGE_BYTES)):
        b64 = base64.b64encode(b"\x89PNG\r\n\x1a\n" + os.urandom(size)).decode()
        for count in range(4):
            blocks = _events(count, b64).split(b"\n\n")[:-1]
            chunks = [b"%x\r\n%s\n\n\r\n" % (len(block) + 2, block) for block in blocks]
            streams[small, count] = head + b"".join(chunks) + b"0\r\n\r\n"

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                headers = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in headers.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ),
                    0,
                )
                body = json.loads(await reader.readexactly(length))
                small = SMALL_PROMPT in str(body.get("prompt"))
                writer.write(streams[small, int(body.get("partial_images") or 0)])
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client closed the connection
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


class _Pipe(asyncio.Protocol):
    """One side of the bare relay: what arrives is written to the other side's transport as it is."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.peer: asyncio.Transport | None = None
        self.early: list[bytes] = []  # what the client sent before the upstream connection was up

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.Transport", transport)  # uvloop's transports do not subclass asyncio's

    def data_received(self, data: bytes) -> None:
        if self.peer is None:
            self.early.append(data)
        else:
            self.peer.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None:
            self.peer.close()

    def pause_writing(self) -> None:  # the other side reads slowly: stop reading this side's peer
        if self.peer is not None:
            self.peer.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None:
            self.peer.resume_reading()


async def _relay(port: int, target: int) -> None:
    """Copy bytes both ways between each client and the mock, reading nothing (protocols, no stream buffers)."""
    loop = asyncio.get_running_loop()

    async def connect(client: _Pipe) -> None:
        transport, upstream = await loop.create_connection(_Pipe, "127.0.0.1", target)
        assert client.transport is not None
        upstream.peer, client.peer = client.transport, transport
        for data in client.early:
            transport.write(data)
        client.early.clear()

    def accepted() -> _Pipe:
        client = _Pipe()
        loop.call_soon(lambda: loop.create_task(connect(client)))
        return client

    server = await loop.create_server(accepted, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def _cpu_ns(pid: int) -> int:
    """Nanoseconds the process has spent on a CPU (user and kernel, every thread)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError):  # a thread that just ended
            continue
    return total


def _config(folder: Path, mock_port: int) -> Path:
    """The gateway's config file in ``folder``: ``gpt-image-1`` served by the mock on ``mock_port``, no retries."""
    config = folder / "config.yaml"
    config.write_text(
        "model_list:\n"
        "  - model_name: gpt-image-1\n"
        "    litellm_params:\n"
        "      model: openai/gpt-image-1\n"
        f"      api_base: http://127.0.0.1:{mock_port}/v1\n"
        "      api_key: sk-bench\n"
        "router_settings: {num_retries: 0}\n"
    )
    return config


def _memory(pid: int) -> tuple[float, int]:
    """A process's resident size in MB and its minor page faults so far (``/proc/<pid>/status`` and ``stat``)."""
    resident = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            resident = int(line.split()[1]) / 1024
    faults = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[7])
    return resident, faults


def _ticks(pid: int) -> tuple[int, int]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]), int(fields[12])


def _stream(client: httpx.Client, url: str, partials: int, prompt: str = "otter") -> float | None:
    """Seconds from sending the request to having the first partial image whole (``None`` without one)."""
    body = {"model": "gpt-image-1", "prompt": prompt, "stream": True, "partial_images": partials}
    started = time.perf_counter()
    first = None
    with client.stream("POST", url, json=body) as response:
        seen = b""  # from the first partial image's event line on, until its blank line
        for chunk in response.iter_raw():
            if first is None and partials:
                if not seen:
                    at = chunk.find(PARTIAL_EVENT)
                    if at >= 0:
                        seen = chunk[at:]
                else:
                    seen = seen[-2:] + chunk
                if seen and b"\n\n" in seen:
                    first = time.perf_counter() - started
    if partials and first is None:
        raise SystemExit("no partial image came")
    return first


def _wait_ready(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"not ready: {url}")


def _measured(
    pid: int | None,
    client: httpx.Client,
    url: str,
    partials: int,
    times: list[float],
    cpu: list[float],
    prompt: str = "otter",
) -> None:
    before = _cpu_ns(pid) if pid else 0
    first = _stream(client, url, partials, prompt)
    if pid:
        time.sleep(0.002)  # the server's last writes and its log line, after the client's last byte
        cpu.append((_cpu_ns(pid) - before) / 1e6)
    if first is not None:
        times.append(first)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--mock", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--relay", type=int, nargs=2, help=argparse.SUPPRESS)
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count the gateway's and the relay's instructions per partial image under callgrind (needs valgrind)",
    )
    args = parser.parse_args()
    if args.mock:
        asyncio.run(_mock(args.mock))
        return
    if args.relay:
        _use_uvloop()
        asyncio.run(_relay(*args.relay))
        return
    if args.instructions:
        _instructions(5 if args.quick else 15)
        return
    rounds = 20 if args.quick else 60
    mock_port, relay_port, gateway_port = _free_port(), _free_port(), _free_port()
    with tempfile.TemporaryDirectory() as folder:
        config = _config(Path(folder), mock_port)
        log = (Path(folder) / "gateway.log").open("wb")
        mock = subprocess.Popen([sys.executable, __file__, "--mock", str(mock_port)], cwd=ROOT)
        relay = subprocess.Popen([sys.executable, __file__, "--relay", str(relay_port), str(mock_port)], cwd=ROOT)
        gateway = subprocess.Popen(
            [sys.executable, "-m", "pixmux.proxy.cli", "--config", str(config), "--port", str(gateway_port)],
            cwd=ROOT,
            stdout=log,
            stderr=log,
        )
        path = "/v1/images/generations"
        direct_url = f"http://127.0.0.1:{mock_port}{path}"
        relay_url = f"http://127.0.0.1:{relay_port}{path}"
        gateway_url = f"http://127.0.0.1:{gateway_port}{path}"
        ways = ("direct", "relay", "gateway")
        times: dict[str, list[float]] = {key: [] for way in ways for key in (way, f"{way} s")}
        cpu: dict[str, list[float]] = {"relay 3": [], "relay 0": [], "gateway 3": [], "gateway 0": [], "mock 3": []}
        try:
            _wait_ready(f"http://127.0.0.1:{gateway_port}/health/readiness")
            # keep-alive off: every stream opens its own connection, as the first call of a client does
            client = httpx.Client(timeout=30, limits=httpx.Limits(max_keepalive_connections=0))
            plan: list[tuple[int | None, str, int, list[float], list[float], str]] = [
                (mock.pid, direct_url, PARTIALS, times["direct"], cpu["mock 3"], "otter"),
                (relay.pid, relay_url, PARTIALS, times["relay"], cpu["relay 3"], "otter"),
                (gateway.pid, gateway_url, PARTIALS, times["gateway"], cpu["gateway 3"], "otter"),
                (relay.pid, relay_url, 0, [], cpu["relay 0"], "otter"),
                (gateway.pid, gateway_url, 0, [], cpu["gateway 0"], "otter"),
                (None, direct_url, PARTIALS, times["direct s"], [], SMALL_PROMPT),
                (None, relay_url, PARTIALS, times["relay s"], [], SMALL_PROMPT),
                (None, gateway_url, PARTIALS, times["gateway s"], [], SMALL_PROMPT),
            ]
            for pid, url, partials, _, _, prompt in plan:  # warm every path
                for _ in range(3):
                    _measured(pid, client, url, partials, [], [], prompt)
            ticks = _ticks(gateway.pid)
            memory = {name: [_memory(proc.pid)] for name, proc in (("gateway", gateway), ("relay", relay))}
            for _ in range(rounds):  # interleaved, so all see the same machine
                for pid, url, partials, found, used, prompt in plan:
                    _measured(pid, client, url, partials, found, used, prompt)
            user, system = (after - before for after, before in zip(_ticks(gateway.pid), ticks, strict=True))
            for name, proc in (("gateway", gateway), ("relay", relay)):
                memory[name].append(_memory(proc.pid))
            client.close()
        finally:
            for proc in (gateway, relay, mock):
                proc.terminate()
                proc.wait(10)
            log.close()
    _report(rounds, times, cpu, user, system)
    streams = rounds * 3  # each round sends the gateway and the relay three streams each
    for name, ((start, faults), (end, faults_after)) in memory.items():
        print(
            f"{name} resident size: {start:.0f} MB after the warm-up, {end:.0f} MB after the run; "
            f"{(faults_after - faults) / streams:.0f} minor page faults per stream"
        )


def _instructions(rounds: int) -> None:
    """
    User-space instructions per 1.5 MB partial image, for the gateway and the bare relay: figures
    that, unlike times, do not move when other processes share the machine (the kernel's work,
    about a fifth of the gateway's CPU time, is not in them).

    Each server runs under ``valgrind --tool=callgrind`` with counting switched on after start-up
    and a warm-up; its counters are zeroed, ``rounds`` streams of 3 partial images + final run
    and are dumped, then the same for streams of the final image alone; the difference over the
    partial images is what one costs.
    """
    if not callgrind.available():
        raise SystemExit("--instructions needs valgrind (callgrind_control)")
    mock_port, relay_port, gateway_port = _free_port(), _free_port(), _free_port()
    with tempfile.TemporaryDirectory() as folder:
        config = _config(Path(folder), mock_port)
        log = (Path(folder) / "servers.log").open("wb")

        def counted(name: str, *command: str) -> subprocess.Popen[bytes]:
            out = Path(folder) / f"{name}.out"
            valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]
            return subprocess.Popen([*valgrind, sys.executable, *command], cwd=ROOT, stdout=log, stderr=log)

        mock = subprocess.Popen([sys.executable, __file__, "--mock", str(mock_port)], cwd=ROOT)
        relay = counted("relay", __file__, "--relay", str(relay_port), str(mock_port))
        gateway = counted("gateway", "-m", "pixmux.proxy.cli", "--config", str(config), "--port", str(gateway_port))
        figures: dict[str, int] = {}
        try:
            _wait_ready(f"http://127.0.0.1:{gateway_port}/health/readiness", seconds=600)
            client = httpx.Client(timeout=300, limits=httpx.Limits(max_keepalive_connections=0))
            for name, proc, port in (("relay", relay, relay_port), ("gateway", gateway, gateway_port)):
                url = f"http://127.0.0.1:{port}/v1/images/generations"
                callgrind.control(proc.pid, "-i", "on")
                for partials in (PARTIALS, 0):
                    for _ in range(2):  # warm-up
                        _stream(client, url, partials)
                for partials in (PARTIALS, 0):
                    callgrind.control(proc.pid, "-z")
                    for _ in range(rounds):
                        _stream(client, url, partials)
                    time.sleep(0.5)
                    callgrind.control(proc.pid, "-d")
                dumps = sorted(Path(folder).glob(f"{name}.out.*"), key=lambda path: int(path.suffix[1:]))
                if len(dumps) < 2:
                    raise SystemExit(f"callgrind wrote {len(dumps)} dumps for the {name}")
                figures[f"{name} 3"], figures[f"{name} 0"] = (
                    callgrind.dump_total(dumps[-2]),
                    callgrind.dump_total(dumps[-1]),
                )
            client.close()
        finally:
            for proc in (gateway, relay, mock):
                proc.terminate()
                proc.wait(120)
            log.close()
    print(f"instructions (user space, callgrind), {rounds} streams each way:")
    for name in ("gateway", "relay"):
        full, alone = figures[f"{name} 3"] / rounds, figures[f"{name} 0"] / rounds
        print(
            f"{name}: {full / 1e6:.2f} M per stream of {PARTIALS} partial images + final, {alone / 1e6:.2f} M with the "
            f"final alone; per 1.5 MB partial image {(full - alone) / PARTIALS / 1e6:.3f} M"
        )
    extra = (figures["gateway 3"] - figures["gateway 0"]) / rounds / PARTIALS
    bare = (figures["relay 3"] - figures["relay 0"]) / rounds / PARTIALS
    print(f"gateway per partial image: {extra / bare:.2f}x the bare relay's instructions")


def _report(rounds: int, times: dict[str, list[float]], cpu: dict[str, list[float]], user: int, system: int) -> None:
    def q(values: list[float], at: float) -> float:
        return statistics.quantiles(values, n=100)[int(at * 100) - 1]

    def ms(values: list[float], at: float) -> float:
        return q(values, at) * 1000

    print(
        f"rounds: {rounds}; each way a stream of {PARTIALS} partial images + 1 final, each ~1.5 MB base64; "
        "and streams of the final image alone"
    )
    floor = ms(times["direct"], 0.5)
    for label, key in (("straight to the mock (floor)", "direct"), ("through the bare relay", "relay")):
        values = times[key]
        print(f"time to first partial, {label}: p50 {ms(values, 0.5):.2f} ms  p90 {ms(values, 0.9):.2f} ms")
    through = times["gateway"]
    print(f"time to first partial, through the gateway: p50 {ms(through, 0.5):.2f} ms  p90 {ms(through, 0.9):.2f} ms")
    added = ms(through, 0.5) - floor
    print(
        f"added by the gateway at p50: {added:.2f} ms ({ms(through, 0.5) / floor:.2f}x the floor; "
        f"the bare relay adds {ms(times['relay'], 0.5) - floor:.2f} ms; target <= 1 ms)"
    )
    small = {key: ms(times[f"{key} s"], 0.5) for key in ("direct", "relay", "gateway")}
    print(
        f"with {SMALL_IMAGE_BYTES} B images instead, time to first partial at p50: straight {small['direct']:.2f} ms, "
        f"relay {small['relay']:.2f} ms, gateway {small['gateway']:.2f} ms: the gateway adds "
        f"{small['gateway'] - small['direct']:.2f} ms besides moving the bytes (its request path)"
    )
    median: Callable[[list[float]], float] = statistics.median
    events = PARTIALS + 1
    for name in ("gateway", "relay"):
        full, alone = median(cpu[f"{name} 3"]), median(cpu[f"{name} 0"])
        print(
            f"{name} CPU per stream (p50): {full:.3f} ms with {PARTIALS} partial images, {alone:.3f} ms with the final "
            f"alone; per event {full / events:.3f} ms; per 1.5 MB partial image {(full - alone) / PARTIALS:.3f} ms"
        )
    extra = (median(cpu["gateway 3"]) - median(cpu["gateway 0"])) / PARTIALS
    bare = (median(cpu["relay 3"]) - median(cpu["relay 0"])) / PARTIALS
    print(
        f"gateway CPU per 1.5 MB partial image: {extra:.3f} ms (target < 0.2 ms); the bare relay's, the floor: "
        f"{bare:.3f} ms; the gateway's own work beyond it: {extra - bare:.3f} ms"
    )
    print(f"mock's CPU per stream of {PARTIALS} + 1 events (p50): {median(cpu['mock 3']):.3f} ms")
    if user + system:
        share = 100 * user / (user + system)
        print(f"gateway CPU over the run: {share:.0f}% user, {100 - share:.0f}% kernel")


if __name__ == "__main__":
    main()
