"""
Gateway edit benchmark: a 4 MB multipart edit upload and a ~1.5 MB base64 answer, as ratios against the floor.

    uv run python bench/gateway_edits.py            # five rounds of 4 s per line
    uv run python bench/gateway_edits.py --quick    # one round of 2 s
    uv run python bench/gateway_edits.py --no-pin   # let the OS place the processes
    uv run python bench/gateway_edits.py --profile edits.prof   # where the gateway's CPU goes (cProfile)
    uv run python bench/gateway_edits.py --instructions 10      # instructions per edit (valgrind; ~4 min)
    uv run python bench/gateway_edits.py --instructions 20 --upload-kb 4 --answer url   # the fixed part
    uv run python bench/gateway_edits.py --copied-bodies all ...        # A/B: bodies through uvicorn's bytearray again

The processes and the load generator are those of ``bench/gateway.py``: a mock OpenAI-compatible
provider on 127.0.0.1 (answering any POST under ``/b64/`` with one ~1.5 MB base64 image), the
gateway (``python -m pixmux.proxy.cli``, one worker, request logging on) and the buffered load
generator on keep-alive connections. Each request is the multipart body the ``openai`` client
sends for ``images.edit(model="gpt-image-1", image=<4 MB PNG>, prompt=...)``, built by httpx.
The floor is the same load generator sending the same body straight to the mock's edit route.
The gateway parses the upload (python-multipart), checks the image against the model, builds
the upstream multipart (httpx) and sends it, then answers the b64 body. Prints figures; never
passes or fails. Target: gateway requests per second at least 0.5 of the floor.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import resource
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import callgrind
import gateway as base  # bench/gateway.py: the mock, the load generator, process helpers

ROOT = Path(__file__).resolve().parents[1]
UPLOAD_BYTES = 4 * 1024 * 1024


def big_png(size: int = UPLOAD_BYTES) -> bytes:
    """A PNG of about ``size`` bytes: a real 1024x1024 RGBA header, then one large IDAT chunk of noise."""
    ihdr = struct.pack(">IIBBBBB", 1024, 1024, 8, 6, 0, 0, 0)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    head = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
    return head + chunk(b"IDAT", os.urandom(size - len(head) - 24)) + chunk(b"IEND", b"")


def raw_request(path: str, model: str, image: bytes, *, key: str | None) -> bytes:
    """The HTTP/1.1 request bytes of a multipart edit, as the openai client's httpx builds them."""
    headers = {"accept-encoding": "gzip, deflate", "user-agent": "pixmux-bench"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    request = httpx.Request(
        "POST",
        f"http://127.0.0.1{path}",
        headers=headers,
        data={"model": model, "prompt": "put a sofa by the window"},
        files={"image": ("room.png", image, "image/png")},
    )
    body = request.read()
    lines = [f"POST {path} HTTP/1.1", "host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in request.headers.items() if name.lower() != "host"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _copied_gateway(copied: str, argv: list[str]) -> None:
    """
    Run the gateway (``pixmux.proxy.cli``) with request bodies copied again: the before of an A/B on one machine.

    ``all``: the hand-over (``_limits._hand_over``) is off, and uvicorn gathers and copies each
    chunk as it does alone, switched off as it switches itself off when uvicorn changed.
    """
    from pixmux.proxy import _limits
    from pixmux.proxy.cli import main as serve

    _limits._HandOverState.off = copied == "all"
    sys.exit(serve(argv))


def _gateway_command(profile: Path | None, copied: str | None) -> tuple[str, ...]:
    """The arguments of ``python`` that start the gateway: plain, under cProfile, or with copied bodies."""
    if profile is not None:
        return (__file__, "--profiled-gateway", str(profile), *(("--copied-bodies", copied) if copied else ()))
    return (__file__, "--copied-gateway", copied) if copied else ("-m", "pixmux.proxy.cli")


def _profiled_gateway(out: str, argv: list[str]) -> None:
    """
    Run the gateway (``pixmux.proxy.cli``) with cProfile switched on by SIGUSR1 and written to ``out`` on SIGUSR2.

    The switch is a signal so that start-up and warm-up stay out of the profile: the bench
    profiles only the requests of one measured run. Times are the event loop thread's CPU
    time, so that other processes on a busy machine do not show up as the gateway's cost.
    """
    profiler = cProfile.Profile(time.thread_time)

    def start(signum: int, frame: object) -> None:
        profiler.enable()

    def stop(signum: int, frame: object) -> None:
        profiler.disable()
        profiler.dump_stats(out)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    if argv[:1] == ["--copied-bodies"]:
        _copied_gateway(argv[1], argv[2:])
    from pixmux.proxy.cli import main as serve

    sys.exit(serve(argv))


class _EditBench(base._Bench):
    profile: Path | None = None
    copied: str | None = None
    clients: tuple[int, ...] = (1, 4, 16)

    def load_raw(self, port: int, request: bytes, clients: int) -> dict[str, Any]:
        """Run the load generator in its own process on ``request`` (kept in a file: it is too big for argv)."""
        spec_file = self.tmp / f"request-{port}.bin"
        spec_file.write_bytes(request)
        spec = json.dumps({"port": port, "file": str(spec_file), "clients": clients, "seconds": self.seconds})
        with subprocess.Popen([sys.executable, __file__, "--load", spec], stdout=subprocess.PIPE, cwd=ROOT) as proc:
            self._place(proc, base.CLIENT_CPU)
            out, _ = proc.communicate()
        if proc.returncode:
            raise RuntimeError(f"the load generator failed (exit {proc.returncode})")
        result: dict[str, Any] = json.loads(out)
        return result

    def run(self) -> None:
        placement = (
            f"pinned: gateway on CPU {base.GATEWAY_CPU}, load generator and mock on CPU {base.CLIENT_CPU}"
            if self.pin
            else "not pinned"
        )
        print(
            f"pixmux gateway edit benchmark on {os.cpu_count()} CPU(s), Python {sys.version.split()[0]}; "
            f"{placement}; {UPLOAD_BYTES / 2**20:.0f} MB upload, ~1.5 MB b64 answer"
            + (f"; request bodies copied again (--copied-bodies {self.copied})" if self.copied else "")
        )
        mock = self.spawn(str(Path(base.__file__)), "--mock", str(self.mock_port))
        base._wait_port(self.mock_port)
        config = self.tmp / "config.yaml"
        upstream = f"http://127.0.0.1:{self.mock_port}/b64/v1"
        config.write_text(
            json.dumps(
                {
                    "model_list": [
                        {
                            "model_name": "gpt-image-1",
                            "litellm_params": {"model": "openai/gpt-image-1", "api_base": upstream, "api_key": "sk-up"},
                        }
                    ],
                    "general_settings": {"master_key": self.key},
                }
            )
        )
        serve = _gateway_command(self.profile, self.copied)
        gateway = self.spawn(
            *serve,
            "--config",
            str(config),
            "--port",
            str(self.gateway_port),
            log=self.tmp / "gateway.log",
            cpu=base.GATEWAY_CPU,
        )
        base._wait_ready(self.gateway_port)
        image = big_png()
        through_request = raw_request("/v1/images/edits", "gpt-image-1", image, key=self.key)
        floor_request = raw_request("/b64/v1/images/edits", "gpt-image-1", image, key=None)
        print(f"request body: {len(through_request) / 2**20:.2f} MB")
        self.load_raw(self.gateway_port, through_request, 2)  # warm-up
        self.load_raw(self.mock_port, floor_request, 2)
        if self.profile is not None:
            self._profile(gateway, through_request)
            return

        rounds = f"median of {self.rounds} rounds (range)" if self.rounds > 1 else "one round"
        print(f"\nthroughput (requests/s) and CPU per request (ms, from /proc/<pid>/stat), {rounds}:")
        print(
            f"  {'':8}{'floor':>21}{'gateway':>21}{'ratio':>19}"
            f"{'gateway CPU':>21}{'floor CPU':>11}{'CPU ratio':>11}{'mock floor/gw':>16}{'errors':>8}"
        )
        for clients in self.clients:
            lines: dict[str, list[float]] = {
                key: []
                for key in ("floor", "gateway", "ratio", "cpu", "floor_cpu", "cpu_ratio", "mock_floor", "mock_gw")
            }
            errors = 0
            for _ in range(self.rounds):
                mock_before, _ = base._proc_stat(mock.pid)
                floor = self.load_raw(self.mock_port, floor_request, clients)
                mock_mid, _ = base._proc_stat(mock.pid)
                cpu_before, _ = base._proc_stat(gateway.pid)
                through = self.load_raw(self.gateway_port, through_request, clients)
                cpu_after, _ = base._proc_stat(gateway.pid)
                mock_after, _ = base._proc_stat(mock.pid)
                floor_requests, through_requests = max(1, floor["requests"]), max(1, through["requests"])
                gateway_cpu = 1000 * (cpu_after - cpu_before) / through_requests
                # the floor's work per request: the load generator's and the mock's, on their shared CPU
                floor_cpu = 1000 * (floor["cpu"] + mock_mid - mock_before) / floor_requests
                lines["floor"].append(floor["rps"])
                lines["gateway"].append(through["rps"])
                lines["ratio"].append(through["rps"] / floor["rps"])
                lines["cpu"].append(gateway_cpu)
                lines["floor_cpu"].append(floor_cpu)
                lines["cpu_ratio"].append(floor_cpu / gateway_cpu if gateway_cpu else float("nan"))
                lines["mock_floor"].append(1000 * (mock_mid - mock_before) / floor_requests)
                lines["mock_gw"].append(1000 * (mock_after - mock_mid) / through_requests)
                errors += through["errors"] + floor["errors"]
            median = {key: statistics.median(values) for key, values in lines.items()}
            print(
                f"  edit x{clients:<2} {median['floor']:8.1f} {base._spread(lines['floor'], '.1f'):>11}"
                f" {median['gateway']:8.1f} {base._spread(lines['gateway'], '.1f'):>11}"
                f" {median['ratio']:6.2f} {base._spread(lines['ratio'], '.2f'):>11}"
                f" {median['cpu']:7.2f} {base._spread(lines['cpu'], '.2f'):>11}"
                f" {median['floor_cpu']:10.2f} {median['cpu_ratio']:10.2f}"
                f" {median['mock_floor']:7.2f} / {median['mock_gw']:5.2f}"
                f" {errors:7d}"
            )
        print(
            "\nratio: gateway req/s over floor req/s (target >= 0.5). gateway CPU: the gateway process's "
            "CPU time per request.\nfloor CPU: the load generator's and the mock's CPU time per floor request "
            "(they share one CPU). CPU ratio: floor CPU\nover gateway CPU, what the ratio becomes when the "
            "gateway's CPU is the limit; it moves little when other\nprocesses load the machine, unlike req/s."
        )
        _, rss = base._proc_stat(gateway.pid)
        print(f"\ngateway resident memory after the runs: {rss:.1f} MB")
        self.stop(mock)

    def _profile(self, gateway: subprocess.Popen[bytes], request: bytes) -> None:
        """One run of 4 clients under cProfile; prints the functions that took the most time, per request."""
        assert self.profile is not None
        gateway.send_signal(signal.SIGUSR1)
        cpu_before, _ = base._proc_stat(gateway.pid)
        through = self.load_raw(self.gateway_port, request, 4)
        cpu_after, _ = base._proc_stat(gateway.pid)
        gateway.send_signal(signal.SIGUSR2)
        for _ in range(200):
            if self.profile.exists() and self.profile.stat().st_size:
                break
            time.sleep(0.05)
        requests = max(1, through["requests"])
        print(
            f"\nprofiled run, 4 clients: {through['requests']} requests, {through['rps']:.1f}/s, "
            f"gateway CPU {1000 * (cpu_after - cpu_before) / requests:.2f} ms/req (with cProfile's own cost)"
        )
        stats = pstats.Stats(str(self.profile))
        rows = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)  # type: ignore[attr-defined]
        print(f"\n{'own ms/req':>10} {'total ms/req':>12} {'calls/req':>9}  function")
        for (filename, line, name), (_, calls, own, total, _) in rows[:35]:
            where = name if filename == "~" else f"{name} ({_short(filename)}:{line})"
            print(f"{1000 * own / requests:10.3f} {1000 * total / requests:12.3f} {calls / requests:9.1f}  {where}")
        print(f"\nthe whole profile: {self.profile} (python -m pstats {self.profile})")


def instructions(
    requests: int, *, upload_bytes: int = UPLOAD_BYTES, answer: str = "b64", copied: str | None = None
) -> None:
    """
    The gateway's instructions per edit, counted by ``valgrind --tool=callgrind``: stable on a busy machine.

    ``upload_bytes`` and ``answer`` (``b64``, or ``url`` for the mock's short url body) split the
    figure: a 4 kB upload with a url answer is the cost every edit pays whatever its size, the
    4 MB upload with a url answer adds the upload's path, the b64 answer adds the answer's.

    The gateway runs under callgrind (the mock does not); after three warm-up edits the counters
    are zeroed (``callgrind_control --zero``), ``requests`` edits follow one after another on one
    keep-alive connection, and the counters are dumped. Instructions leave out the kernel's work
    (the socket copies, about a third of the gateway's CPU time here) and cache misses, so they
    compare versions of the gateway's own code, not seconds.
    """
    import re
    import socket

    tmp = Path(tempfile.mkdtemp(prefix="pixmux-bench-edits-ir-"))
    mock_port, gateway_port = base._free_port(), base._free_port()
    procs = [subprocess.Popen([sys.executable, str(Path(base.__file__)), "--mock", str(mock_port)])]
    try:
        base._wait_port(mock_port)
        config = tmp / "config.yaml"
        upstream = f"http://127.0.0.1:{mock_port}/{'b64/v1' if answer == 'b64' else 'v1'}"
        params = {"model": "openai/gpt-image-1", "api_base": upstream, "api_key": "sk-up"}
        entry = {"model_name": "gpt-image-1", "litellm_params": params}
        config.write_text(json.dumps({"model_list": [entry], "general_settings": {"master_key": "sk-bench-master"}}))
        out = tmp / "callgrind.out"
        serve = [*_gateway_command(None, copied), "--config", str(config), "--port", str(gateway_port)]
        serve += ["--log-level", "warning"]
        gateway = subprocess.Popen(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, *serve],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(gateway)
        base._wait_ready(gateway_port, timeout=900)
        request = raw_request("/v1/images/edits", "gpt-image-1", big_png(upload_bytes), key="sk-bench-master")
        with socket.create_connection(("127.0.0.1", gateway_port)) as sock:

            def edit() -> None:
                sock.sendall(request)
                data = b""
                while b"\r\n\r\n" not in data:
                    data += sock.recv(1 << 20)
                head, _, rest = data.partition(b"\r\n\r\n")
                if not head.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(f"the gateway answered {head[:200]!r}")
                found = re.search(rb"content-length: (\d+)", head.lower())
                length = int(found.group(1)) if found else 0
                while len(rest) < length:
                    rest += sock.recv(1 << 20)

            for _ in range(3):
                edit()
            callgrind.control(gateway.pid, "--zero")
            for _ in range(requests):
                edit()
            callgrind.control(gateway.pid, "--dump")
        total = callgrind.wait_for_dump(Path(f"{out}.1"))
        size = f"{upload_bytes / 2**20:g} MB" if upload_bytes >= 2**20 else f"{upload_bytes / 1024:g} kB"
        variant = f" (--copied-bodies {copied})" if copied else ""
        print(
            f"gateway instructions per {size} edit with a {answer} answer{variant} "
            f"(callgrind, {requests} edits after 3 warm-up ones): {total / requests / 1e6:.1f} million"
        )
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/src/", "/lib/python"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter runs, one round unless --rounds")
    parser.add_argument("--rounds", type=int, help="rounds per line (default 5, or 1 with --quick)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the processes to CPUs")
    parser.add_argument("--profile", metavar="FILE", help="profile the gateway (cProfile) over one run of 4 clients")
    parser.add_argument(
        "--instructions", type=int, metavar="N", help="count the gateway's instructions over N edits (valgrind)"
    )
    parser.add_argument(
        "--upload-kb", type=int, metavar="K", help="with --instructions: upload a K kB image instead of 4 MB"
    )
    parser.add_argument(
        "--answer", choices=("b64", "url"), default="b64", help="with --instructions: the mock's answer (default b64)"
    )
    parser.add_argument(
        "--copied-bodies",
        choices=("all",),
        help="run the gateway with request bodies copied again (pixmux.proxy._limits): all, through uvicorn's "
        "bytearray; the before of an A/B",
    )
    parser.add_argument("--clients", default="1,4,16", help="client counts, one line each (default 1,4,16)")
    parser.add_argument("--load", help=argparse.SUPPRESS)
    parser.add_argument("--copied-gateway", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    parser.add_argument("--profiled-gateway", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.copied_gateway is not None:
        _copied_gateway(args.copied_gateway[0], args.copied_gateway[1:])
        return
    if args.profiled_gateway:
        _profiled_gateway(args.profiled_gateway[0], args.profiled_gateway[1:])
        return
    if args.load:
        spec = json.loads(args.load)
        request = Path(spec["file"]).read_bytes()
        before = resource.getrusage(resource.RUSAGE_SELF)
        result = base._run(base._load(spec["port"], request, spec["clients"], spec["seconds"], None))
        after = resource.getrusage(resource.RUSAGE_SELF)
        result["cpu"] = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        print(json.dumps(result))
        return
    if args.instructions:
        size = UPLOAD_BYTES if args.upload_kb is None else max(1, args.upload_kb) * 1024
        instructions(args.instructions, upload_bytes=size, answer=args.answer, copied=args.copied_bodies)
        return
    rounds = args.rounds if args.rounds else (1 if args.quick else 5)
    bench = _EditBench(args.quick, pin=not args.no_pin, rounds=max(1, rounds))
    bench.tmp = Path(tempfile.mkdtemp(prefix="pixmux-bench-edits-"))
    bench.copied = args.copied_bodies
    bench.clients = tuple(int(count) for count in args.clients.split(",") if count.strip())
    if args.profile:
        bench.profile = Path(args.profile).resolve()
        bench.profile.unlink(missing_ok=True)
    try:
        bench.run()
    finally:
        bench.stop()


if __name__ == "__main__":
    main()
