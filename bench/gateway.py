"""
Gateway benchmark: what `pixmux serve` adds on top of a provider, as ratios against the floor.

    uv run python bench/gateway.py            # full run, about four minutes
    uv run python bench/gateway.py --quick    # shorter runs
    uv run python bench/gateway.py --no-pin   # let the OS place the processes
    uv run python bench/gateway.py --client streams   # the earlier load generator (asyncio streams)
    uv run python bench/gateway.py --clients 16,64,256  # throughput lines at these client counts

Three processes on 127.0.0.1: a mock OpenAI-compatible provider (a minimal asyncio HTTP server
answering prebuilt bodies: URLs, or one ~1.5 MB base64 image), the gateway (`python -m
pixmux.proxy.cli`, one worker, request logging on, to a file) and the load generator (keep-alive
connections, `Accept-Encoding: gzip` as real clients send). The floor is the same load generator
straight to the mock, with the same body and headers. Prints figures; never passes or fails.

The load generator reads each answer into one preallocated buffer and drops it uncopied
(`asyncio.BufferedProtocol`). The earlier one (`--client streams`, asyncio streams) spent about
1 ms of CPU per 1.5 MB answer, on the core it shares with the mock: b64 floors near 900/s, and
gateway runs that could not go faster than that core. Figures taken with different load
generators are not comparable.

Pinning (on by default with 2 or more CPUs, Linux): the gateway runs alone on CPU 0, the load
generator and the mock share CPU 1, in the floor runs as in the gateway runs. So the gateway
gets exactly one core (it is one worker) and the floor measures the same client and provider
on the same core, whatever else the OS would schedule where. Unpinned, the floor swings
several-fold from run to run (load generator and mock on one core or on two). Throughput is
measured in rounds (floor, then gateway, interleaved; each round takes every line in turn, so
that lines compare over the same stretch of time) and reported as medians with the range.
With several client counts, the gateway's throughput at the most clients over the fewest is
printed round by round (the 256-over-64 figure of issue #13).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
B64_IMAGE_BYTES = 1_100_000  # ~1.5 MB once base64-encoded


# --------------------------------------------------------------------------- event loop


def _run(coro: Any) -> Any:
    try:
        import uvloop  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


# --------------------------------------------------------------------------- the mock provider


def _http_response(body: bytes) -> bytes:
    head = f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    return head.encode() + body


def _mock_bodies() -> tuple[bytes, bytes]:
    url = json.dumps({"created": 1713833628, "data": [{"url": "https://images.example.test/otter.png"}]}).encode()
    image = base64.b64encode(b"\x89PNG\r\n\x1a\n" + os.urandom(B64_IMAGE_BYTES)).decode()
    b64 = json.dumps({"created": 1713833628, "data": [{"b64_json": image}]}).encode()
    return _http_response(url), _http_response(b64)


class _MockProvider(asyncio.Protocol):
    """HTTP/1.1 keep-alive; any POST under /b64/ gets the base64 body, anything else the URL body."""

    url_answer = b""
    b64_answer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport  # uvloop's transports are not asyncio.Transport subclasses
        self.buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).lower()
            length = 0
            at = head.find(b"content-length:")
            if at >= 0:
                stop = head.find(b"\r\n", at)
                length = int(head[at + 15 : stop if stop > 0 else None])
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            first_line = head[: head.find(b"\r\n")]
            del self.buffer[:total]
            self.transport.write(self.b64_answer if b"/b64/" in first_line else self.url_answer)


async def _serve_mock(port: int) -> None:
    _MockProvider.url_answer, _MockProvider.b64_answer = _mock_bodies()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_MockProvider, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


# --------------------------------------------------------------------------- the load generator


def _request(path: str, body: dict[str, Any], *, key: str | None) -> bytes:
    payload = json.dumps(body).encode()
    lines = [
        f"POST {path} HTTP/1.1",
        "host: 127.0.0.1",
        "content-type: application/json",
        "accept-encoding: gzip, deflate",
        "user-agent: pixmux-bench",
        f"content-length: {len(payload)}",
    ]
    if key:
        lines.append(f"authorization: Bearer {key}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


class _Client(asyncio.BufferedProtocol):
    """
    One keep-alive connection sending ``request`` again as soon as each answer is whole.

    Reads straight into preallocated buffers (``recv_into``): the head into the connection's own
    16 KiB, where it is parsed for its status and ``Content-Length``; the body, counted and
    dropped, never copied, into one 1 MiB scratch buffer every connection shares (one event loop
    thread: each read is counted before the next one lands). The load generator shares a core
    with the mock provider, so what it spends per 1.5 MB answer lowers the floor and, in the
    gateway runs, the ceiling the gateway could be measured against; with a body buffer per
    connection, 256 connections wrote 64 MB of buffers that no cache holds, and its CPU per b64
    answer doubled from 16 to 256 clients.
    """

    #: Where every connection's body bytes land.
    scratch = memoryview(bytearray(1024 * 1024))

    def __init__(self, request: bytes, deadline: float, limit: int | None, stats: _Stats) -> None:
        self.request = request
        self.deadline = deadline
        self.limit = limit
        self.stats = stats
        self.buffer = bytearray(16 * 1024)
        self.view = memoryview(self.buffer)
        self.filled = 0  # head bytes in the buffer
        self.body_left = -1  # body bytes still to come, or -1 while reading the head
        self.status = b""
        self.started = 0.0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport
        self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)

    def _send(self) -> None:
        stats = self.stats
        if time.perf_counter() >= self.deadline or (self.limit is not None and len(stats.latencies) >= self.limit):
            self.transport.close()
            return
        self.started = time.perf_counter()
        self.transport.write(self.request)

    def get_buffer(self, sizehint: int) -> memoryview:
        if self.body_left > 0:
            return self.scratch  # body bytes land anywhere: they are counted, not kept
        return self.view[self.filled :]

    def buffer_updated(self, nbytes: int) -> None:
        if self.body_left > 0:
            if nbytes < self.body_left:
                self.body_left -= nbytes
                return
            extra = nbytes - self.body_left
            if extra:  # pipelining is never used: nothing may follow an answer
                raise RuntimeError("unexpected bytes after a response")
            self._answered()
            return
        self.filled += nbytes
        end = self.buffer.find(b"\r\n\r\n", 0, self.filled)
        if end < 0:
            if self.filled == len(self.buffer):
                raise RuntimeError("response head too long")
            return
        head = bytes(self.buffer[:end]).lower()
        at = head.find(b"content-length:")
        stop = head.find(b"\r\n", at)
        length = int(head[at + 15 : stop if stop > 0 else None]) if at >= 0 else 0
        self.status = head[9:12]
        have = self.filled - end - 4
        self.filled = 0
        if have > length:
            raise RuntimeError("unexpected bytes after a response")
        self.body_left = length - have
        if self.body_left == 0:
            self._answered()

    def _answered(self) -> None:
        self.body_left = -1
        stats = self.stats
        if self.status != b"200":
            stats.errors.append(int(self.status))
        stats.latencies.append(time.perf_counter() - self.started)
        self._send()


class _Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors: list[int] = []


async def _client(port: int, request: bytes, deadline: float, limit: int | None, stats: _Stats) -> None:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(lambda: _Client(request, deadline, limit, stats), "127.0.0.1", port)
    await protocol.done


async def _streams_client(port: int, request: bytes, deadline: float, limit: int | None, stats: _Stats) -> None:
    """The earlier load generator (``--client streams``): asyncio streams, each answer read into a new bytes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    try:
        while time.perf_counter() < deadline and (limit is None or len(stats.latencies) < limit):
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            lowered = head.lower()
            at = lowered.find(b"content-length:")
            length = int(lowered[at + 15 : lowered.find(b"\r\n", at)]) if at >= 0 else 0
            await reader.readexactly(length)
            if head[9:12] != b"200":
                stats.errors.append(int(head[9:12]))
            stats.latencies.append(time.perf_counter() - started)
    finally:
        writer.close()


async def _load(
    port: int, request: bytes, clients: int, seconds: float, limit: int | None, kind: str = "buffered"
) -> dict[str, Any]:
    stats = _Stats()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    deadline = started + seconds
    client = _streams_client if kind == "streams" else _client
    await asyncio.gather(*(client(port, request, deadline, limit, stats) for _ in range(clients)))
    elapsed = time.perf_counter() - started
    spent = resource.getrusage(resource.RUSAGE_SELF)
    cpu = spent.ru_utime + spent.ru_stime - usage.ru_utime - usage.ru_stime
    latencies, errors = stats.latencies, stats.errors
    ordered = sorted(latencies)
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "seconds": elapsed,
        "rps": len(latencies) / elapsed,
        "cpu": cpu,  # the load generator's own CPU seconds over the run
        "p50_ms": 1000 * ordered[len(ordered) // 2] if ordered else float("nan"),
        "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else float("nan"),
    }


# --------------------------------------------------------------------------- orchestration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _proc_stat(pid: int) -> tuple[float, float]:
    """(CPU seconds, user and kernel, and resident MB) of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    return cpu, rss


def _faults(pid: int) -> int:
    """Minor page faults of a process so far (pages the kernel mapped in on first touch), from /proc."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[7])


def _cpu_split(pid: int) -> tuple[float, float]:
    """(user, kernel) CPU seconds of a process, all its threads, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks


def _sched(pid: int) -> tuple[float, float]:
    """
    (seconds on a CPU, seconds runnable but waiting for one) of a process's threads, from /proc/<pid>/task/*/schedstat.

    Their sum over a round's length is how busy the process was: near 1, it always had work
    (it set the pace, or waited its turn on a shared CPU); well below 1, it waited for its peers.
    """
    run = wait = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            ran, waited, _ = (task / "schedstat").read_text().split()
        except (OSError, ValueError):
            continue  # a thread that ended meanwhile, or a kernel without schedstats
        run += int(ran)
        wait += int(waited)
    return run / 1e9, wait / 1e9


def _wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.005)
    raise RuntimeError(f"nothing listens on {port}")


def _wait_ready(port: int, timeout: float = 20.0) -> None:
    probe = b"GET /health/liveliness HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(probe)
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.005)
    raise RuntimeError("the gateway did not become ready")


#: Where each process runs when pinned: the gateway alone, the load generator beside the mock.
GATEWAY_CPU = 0
CLIENT_CPU = 1


def _can_pin() -> bool:
    return hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) >= 2


def _print_pairs(lines: list[Any], figures: dict[tuple[str, int], dict[str, list[float]]]) -> None:
    """Each mode's gateway throughput at its most clients over its fewest, round by round (the rounds interleave)."""
    modes = dict.fromkeys(mode for mode, *_ in lines)
    for mode in modes:
        counts = [clients for line_mode, _, _, clients in lines if line_mode == mode]
        few, many = min(counts), max(counts)
        pairs = [
            high / low
            for high, low in zip(figures[(mode, many)]["gateway"], figures[(mode, few)]["gateway"], strict=True)
        ]
        shown = " ".join(f"{pair:.2f}" for pair in pairs)
        print(f"\n{mode}: gateway requests/s at {many} clients over {few}, round by round: {shown}")
        print(f"  median {_median(pairs):.2f}")


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _spread(values: list[float], fmt: str = ".0f") -> str:
    if len(values) < 2:
        return ""
    return f"{min(values):{fmt}}-{max(values):{fmt}}"


class _Bench:
    def __init__(
        self,
        quick: bool,
        *,
        pin: bool,
        rounds: int,
        client: str = "buffered",
        clients: tuple[int, ...] = (16, 64),
        modes: tuple[str, ...] = ("url", "b64"),
    ) -> None:
        self.client = client
        self.clients = clients
        self.modes = modes
        self.seconds = 2.0 if quick else 4.0
        self.rounds = rounds
        self.pin = pin and _can_pin()
        self.latency_requests = 500 if quick else 2000
        self.mock_port = _free_port()
        self.gateway_port = _free_port()
        self.key = "sk-bench-master"
        self.tmp = Path(tempfile.mkdtemp(prefix="pixmux-bench-"))
        self.procs: list[subprocess.Popen[bytes]] = []
        self.gateway_requests = 0

    def _place(self, proc: subprocess.Popen[bytes], cpu: int) -> None:
        if self.pin:
            os.sched_setaffinity(proc.pid, {cpu})

    def spawn(self, *args: str, log: Path | None = None, cpu: int = CLIENT_CPU) -> subprocess.Popen[bytes]:
        out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen([sys.executable, *args], stdout=out, stderr=out, cwd=ROOT)
        self._place(proc, cpu)
        self.procs.append(proc)
        return proc

    def load(
        self,
        port: int,
        path: str,
        body: dict[str, Any],
        clients: int,
        *,
        limit: int | None = None,
        authorized: bool | None = None,
    ) -> dict[str, Any]:
        """One load generator run; ``authorized``: send the master key (by default to the gateway's port only)."""
        if authorized is None:
            authorized = port == self.gateway_port
        request = _request(path, body, key=self.key if authorized else None)
        spec = json.dumps(
            {
                "port": port,
                "request": request.decode("latin-1"),
                "clients": clients,
                "seconds": self.seconds if limit is None else 600.0,
                "limit": limit,
                "client": self.client,
            }
        )
        with subprocess.Popen([sys.executable, __file__, "--load", spec], stdout=subprocess.PIPE, cwd=ROOT) as proc:
            self._place(proc, CLIENT_CPU)
            out, _ = proc.communicate()
        if proc.returncode:
            raise RuntimeError(f"the load generator failed (exit {proc.returncode})")
        result: dict[str, Any] = json.loads(out)
        if port == self.gateway_port:
            self.gateway_requests += int(result["requests"])
        return result

    def run(self) -> None:
        placement = (
            f"pinned: gateway on CPU {GATEWAY_CPU}, load generator and mock on CPU {CLIENT_CPU}"
            if self.pin
            else "not pinned"
        )
        print(
            f"pixmux gateway benchmark on {os.cpu_count()} CPU(s), Python {sys.version.split()[0]}; {placement};"
            f" {self.client} load generator"
        )
        mock = self.spawn(__file__, "--mock", str(self.mock_port))
        _wait_port(self.mock_port)
        config = self.tmp / "config.yaml"
        base = f"http://127.0.0.1:{self.mock_port}"
        config.write_text(
            json.dumps(
                {
                    "model_list": [
                        {
                            "model_name": "url",
                            "litellm_params": {
                                "model": "openai/bench",
                                "api_base": f"{base}/url/v1",
                                "api_key": "sk-up",
                            },
                        },
                        {
                            "model_name": "b64",
                            "litellm_params": {
                                "model": "openai/bench",
                                "api_base": f"{base}/b64/v1",
                                "api_key": "sk-up",
                            },
                        },
                    ],
                    "general_settings": {"master_key": self.key},
                }
            )
        )
        started = time.perf_counter()
        gateway = self.spawn(
            "-m",
            "pixmux.proxy.cli",
            "--config",
            str(config),
            "--port",
            str(self.gateway_port),
            log=self.tmp / "gateway.log",
            cpu=GATEWAY_CPU,
        )
        _wait_ready(self.gateway_port)
        startup = time.perf_counter() - started
        time.sleep(0.3)
        _, rss_idle = _proc_stat(gateway.pid)
        print(f"start-up (spawn to first 200): {startup * 1000:.0f} ms; resident idle: {rss_idle:.1f} MB")

        url = {"model": "url", "prompt": "a cute baby sea otter", "response_format": "url"}
        b64 = {"model": "b64", "prompt": "a cute baby sea otter", "response_format": "b64_json"}
        mock_url = ("/url/v1/images/generations", {**url, "model": "bench"})
        mock_b64 = ("/b64/v1/images/generations", {**b64, "model": "bench"})
        gw_path = "/v1/images/generations"

        self.load(self.gateway_port, gw_path, url, 4, limit=500)  # warm-up
        self.load(self.mock_port, *mock_url, 4, limit=500)
        floor = self.load(self.mock_port, *mock_url, 1, limit=self.latency_requests)
        through = self.load(self.gateway_port, gw_path, url, 1, limit=self.latency_requests)
        print("\nlatency at 1 client, url mode (ms)      floor    gateway   added")
        for key in ("p50_ms", "p99_ms"):
            print(f"  {key[:3]:<37}{floor[key]:8.3f} {through[key]:9.3f} {through[key] - floor[key]:8.3f}")
        _, rss_warm = _proc_stat(gateway.pid)

        rounds = f"median of {self.rounds} rounds (range)" if self.rounds > 1 else "one round"
        print(f"\nthroughput (requests/s), {rounds}:")
        print(f"  {'':9}{'floor':>21}{'gateway':>21}{'ratio':>19}{'gateway CPU ms/req':>25}{'errors':>8}")
        rss_peak = rss_warm
        costs: list[str] = []
        lines = [
            (mode, body, direct, clients)
            for mode, body, direct in (("url", url, mock_url), ("b64", b64, mock_b64))
            if mode in self.modes
            for clients in self.clients
        ]
        figures: dict[tuple[str, int], dict[str, list[float]]] = {(mode, clients): {} for mode, _, _, clients in lines}
        # Each round measures every line once, in turn, so that the lines compare (64 against 256
        # clients, say) over the same stretch of time, whatever the machine's speed does meanwhile.
        for _ in range(self.rounds):
            for mode, body, direct, clients in lines:
                taken = figures[(mode, clients)]
                floor = self.load(self.mock_port, *direct, clients)
                user_before, kernel_before = _cpu_split(gateway.pid)
                faults_before = _faults(gateway.pid)
                ran_before, waited_before = _sched(gateway.pid)
                mock_before, _ = _proc_stat(mock.pid)
                through = self.load(self.gateway_port, gw_path, body, clients)
                user_after, kernel_after = _cpu_split(gateway.pid)
                fault_count = _faults(gateway.pid) - faults_before
                ran_after, waited_after = _sched(gateway.pid)
                mock_after, _ = _proc_stat(mock.pid)
                _, rss = _proc_stat(gateway.pid)
                rss_peak = max(rss_peak, rss)
                served = max(1, through["requests"])
                spent = (user_after - user_before) + (kernel_after - kernel_before)
                for key, value in (
                    ("floor", floor["rps"]),
                    ("gateway", through["rps"]),
                    ("ratio", through["rps"] / floor["rps"]),
                    ("cpu", 1000 * spent / served),
                    ("user", 1000 * (user_after - user_before) / served),
                    ("per_cpu", served / spent if spent > 0 else float("nan")),
                    ("busy", (ran_after - ran_before) / through["seconds"]),
                    ("queued", (waited_after - waited_before) / through["seconds"]),
                    ("client", 1000 * through["cpu"] / served),
                    ("mock", 1000 * (mock_after - mock_before) / served),
                    ("faults", fault_count / served),
                    ("errors", through["errors"]),
                ):
                    taken.setdefault(key, []).append(value)
        for mode, _, _, clients in lines:
            taken = figures[(mode, clients)]
            cpus = taken["cpu"]
            print(
                f"  {mode} x{clients:<4} {_median(taken['floor']):8.0f} {_spread(taken['floor']):>11}"
                f" {_median(taken['gateway']):8.0f} {_spread(taken['gateway']):>11}"
                f" {_median(taken['ratio']):6.2f} {_spread(taken['ratio'], '.2f'):>11}"
                f" {_median(cpus):8.3f} {_spread(cpus, '.3f'):>15} {int(sum(taken['errors'])):7d}"
            )
            costs.append(
                f"  {mode} x{clients:<4} {_median(cpus):8.3f} {_median(taken['user']):7.3f}"
                f" {_median(cpus) - _median(taken['user']):7.3f}"
                f" {_median(taken['per_cpu']):9.0f} {_spread(taken['per_cpu']):>11}"
                f" {_median(taken['busy']):7.2f} {_median(taken['queued']):7.2f}"
                f" {_median(taken['client']):9.3f} {_median(taken['mock']):8.3f} {_median(taken['faults']):8.1f}"
            )
        if len(self.clients) > 1:
            _print_pairs(lines, figures)
        print(
            "\nCPU per request (ms; medians), from /proc: what does not move when other work shares the machine."
            "\n'requests per CPU-second' is what the gateway would serve with a core to itself; 'on CPU' and"
            "\n'waiting' are the shares of the round the gateway ran and was runnable but queued behind other work"
            "\n(together near 1: the gateway set the pace; well below 1: it waited for the load generator)."
            "\n'faults': the gateway's minor page faults per request (memory the kernel mapped in afresh)."
        )
        print(
            f"  {'':9}{'gateway':>9}{'user':>8}{'kernel':>8}{'requests per CPU-second':>26}"
            f"{'on CPU':>8}{'waiting':>8}{'load gen':>10}{'mock':>9}{'faults':>9}"
        )
        for line in costs:
            print(line)
        time.sleep(0.5)
        _, rss_before = _proc_stat(gateway.pid)
        before = self.gateway_requests
        self.load(self.gateway_port, gw_path, url, 16, limit=10_000)
        time.sleep(0.5)
        _, rss_end = _proc_stat(gateway.pid)
        print(
            f"\nresident memory (MB): idle {rss_idle:.1f}, after warm-up {rss_warm:.1f}, "
            f"peak sampled under load {rss_peak:.1f}; {rss_before:.1f} after {before:,} requests, "
            f"{rss_end:.1f} after 10,000 more ({rss_end - rss_before:+.1f})"
        )
        self.stop(mock)

    def stop(self, *procs: subprocess.Popen[bytes]) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter runs (and one round unless --rounds)")
    parser.add_argument("--rounds", type=int, help="throughput rounds per line (default 5, or 1 with --quick)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the processes to CPUs")
    parser.add_argument(
        "--client",
        choices=["buffered", "streams"],
        default="buffered",
        help="load generator: buffered (default; reads answers without copying them) or streams "
        "(asyncio streams, behind the earlier figures; its copies of each answer cap b64 runs near 900/s)",
    )
    parser.add_argument(
        "--clients", default="16,64", help="client counts for the throughput lines, comma-separated (e.g. 16,64,256)"
    )
    parser.add_argument("--modes", default="url,b64", help="answer kinds for the throughput lines: url, b64 or url,b64")
    parser.add_argument("--mock", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--load", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mock:
        _run(_serve_mock(args.mock))
        return
    if args.load:
        spec = json.loads(args.load)
        result = _run(
            _load(
                spec["port"],
                spec["request"].encode("latin-1"),
                spec["clients"],
                spec["seconds"],
                spec["limit"],
                spec.get("client", "buffered"),
            )
        )
        print(json.dumps(result))
        return
    rounds = args.rounds if args.rounds else (1 if args.quick else 5)
    clients = tuple(int(count) for count in args.clients.split(",") if count.strip())
    modes = tuple(mode.strip() for mode in args.modes.split(",") if mode.strip())
    if not modes or set(modes) - {"url", "b64"}:
        parser.error(f"--modes: expected url, b64 or url,b64, got {args.modes!r}")
    bench = _Bench(
        args.quick, pin=not args.no_pin, rounds=max(1, rounds), client=args.client, clients=clients, modes=modes
    )
    try:
        bench.run()
    finally:
        bench.stop()


if __name__ == "__main__":
    main()
