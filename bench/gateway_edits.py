"""
Gateway edit benchmark: a 4 MB multipart edit upload and a ~1.5 MB base64 answer, as ratios against the floor.

    uv run python bench/gateway_edits.py            # five rounds of 4 s per line
    uv run python bench/gateway_edits.py --quick    # one round of 2 s
    uv run python bench/gateway_edits.py --no-pin   # let the OS place the processes

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
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
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


class _EditBench(base._Bench):
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
        gateway = self.spawn(
            "-m",
            "pixmux.proxy.cli",
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

        rounds = f"median of {self.rounds} rounds (range)" if self.rounds > 1 else "one round"
        print(f"\nthroughput (requests/s), {rounds}:")
        print(
            f"  {'':8}{'floor':>21}{'gateway':>21}{'ratio':>19}{'gateway CPU ms/req':>25}"
            f"{'mock CPU ms/req floor/gw':>28}{'errors':>8}"
        )
        for clients in (4, 16):
            floors: list[float] = []
            gateways: list[float] = []
            ratios: list[float] = []
            cpus: list[float] = []
            mock_floor: list[float] = []
            mock_gw: list[float] = []
            errors = 0
            for _ in range(self.rounds):
                mock_before, _ = base._proc_stat(mock.pid)
                floor = self.load_raw(self.mock_port, floor_request, clients)
                mock_mid, _ = base._proc_stat(mock.pid)
                cpu_before, _ = base._proc_stat(gateway.pid)
                through = self.load_raw(self.gateway_port, through_request, clients)
                cpu_after, _ = base._proc_stat(gateway.pid)
                mock_after, _ = base._proc_stat(mock.pid)
                floors.append(floor["rps"])
                gateways.append(through["rps"])
                ratios.append(through["rps"] / floor["rps"])
                cpus.append(1000 * (cpu_after - cpu_before) / max(1, through["requests"]))
                mock_floor.append(1000 * (mock_mid - mock_before) / max(1, floor["requests"]))
                mock_gw.append(1000 * (mock_after - mock_mid) / max(1, through["requests"]))
                errors += through["errors"] + floor["errors"]
            print(
                f"  edit x{clients:<2} {statistics.median(floors):8.1f} {base._spread(floors, '.1f'):>11}"
                f" {statistics.median(gateways):8.1f} {base._spread(gateways, '.1f'):>11}"
                f" {statistics.median(ratios):6.2f} {base._spread(ratios, '.2f'):>11}"
                f" {statistics.median(cpus):8.2f} {base._spread(cpus, '.2f'):>15}"
                f" {statistics.median(mock_floor):12.2f} / {statistics.median(mock_gw):6.2f}"
                f" {errors:7d}"
            )
        _, rss = base._proc_stat(gateway.pid)
        print(f"\ngateway resident memory after the runs: {rss:.1f} MB")
        self.stop(mock)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter runs, one round unless --rounds")
    parser.add_argument("--rounds", type=int, help="rounds per line (default 5, or 1 with --quick)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the processes to CPUs")
    parser.add_argument("--load", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        spec = json.loads(args.load)
        request = Path(spec["file"]).read_bytes()
        result = base._run(base._load(spec["port"], request, spec["clients"], spec["seconds"], None))
        print(json.dumps(result))
        return
    rounds = args.rounds if args.rounds else (1 if args.quick else 5)
    bench = _EditBench(args.quick, pin=not args.no_pin, rounds=max(1, rounds))
    bench.tmp = Path(tempfile.mkdtemp(prefix="pixmux-bench-edits-"))
    try:
        bench.run()
    finally:
        bench.stop()


if __name__ == "__main__":
    main()
