"""
Gateway cost per request in instructions, at several client counts: steady on a busy machine.

    uv run python bench/gateway_instructions.py                      # 16, 64, 256 clients, url mode
    uv run python bench/gateway_instructions.py --clients 64,256 --requests 3000 --mode b64

The gateway (one worker, ``python -m pixmux.proxy.cli``, as bench/gateway.py starts it) runs
under ``valgrind --tool=callgrind`` against bench/gateway.py's mock provider and load generator.
For each client count the counters are zeroed (``callgrind_control -z``), the load generator
sends ``--requests`` requests over that many keep-alive connections, and the counters are
dumped (``callgrind_control -d``): instructions in the gateway process divided by requests
answered. Under valgrind the gateway runs some fifty times slower, so every client count keeps
all its requests in flight at once: what grows with the client count is what the gateway does
per request in flight (its collector, its timers, its pools), not how busy the machine was.
Kernel time and cache misses are not instructions: bench/gateway.py's CPU per request gives
those. Needs valgrind; about two minutes per client count. Prints figures; never passes or fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import callgrind
from gateway import ROOT, _Bench, _wait_port, _wait_ready

GATEWAY_SCRIPT = str(Path(__file__).with_name("gateway.py"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="16,64,256", help="client counts, comma-separated")
    parser.add_argument("--requests", type=int, default=1500, help="requests counted per client count")
    parser.add_argument("--mode", choices=["url", "b64"], default="url")
    args = parser.parse_args()
    counts = [int(count) for count in args.clients.split(",") if count.strip()]

    bench = _Bench(True, pin=False, rounds=1)
    try:
        mock = bench.spawn(GATEWAY_SCRIPT, "--mock", str(bench.mock_port))
        _wait_port(bench.mock_port)
        base = f"http://127.0.0.1:{bench.mock_port}"
        config = bench.tmp / "config.yaml"
        config.write_text(
            json.dumps(
                {
                    "model_list": [
                        {
                            "model_name": mode,
                            "litellm_params": {
                                "model": "openai/bench",
                                "api_base": f"{base}/{mode}/v1",
                                "api_key": "k",
                            },
                        }
                        for mode in ("url", "b64")
                    ],
                    "general_settings": {"master_key": bench.key},
                }
            )
        )
        out = bench.tmp / "callgrind"
        log = open(bench.tmp / "gateway.log", "wb")  # noqa: SIM115 - closed with the process
        gateway = subprocess.Popen(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}.%p",
                sys.executable,
                "-m",
                "pixmux.proxy.cli",
                "--config",
                str(config),
                "--port",
                str(bench.gateway_port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        bench.procs.append(gateway)
        print(f"gateway under callgrind, {args.mode} mode, {args.requests} requests per line; starting...", flush=True)
        _wait_ready(bench.gateway_port, timeout=900)
        body = {
            "model": args.mode,
            "prompt": "a cute baby sea otter",
            "response_format": args.mode.replace("b64", "b64_json"),
        }
        path = "/v1/images/generations"
        bench.load(bench.gateway_port, path, body, 16, limit=300)  # warm-up
        print(f"  {'clients':>8}{'requests':>10}{'errors':>8}{'instructions per request':>27}")
        for count in counts:
            callgrind.control(gateway.pid, "-z")
            result = bench.load(bench.gateway_port, path, body, count, limit=args.requests)
            callgrind.control(gateway.pid, "-d")
            time.sleep(1.0)
            dumps = sorted(bench.tmp.glob(f"callgrind.{gateway.pid}.*"), key=os.path.getmtime)
            per_request = callgrind.dump_total(dumps[-1]) / max(1, result["requests"])
            print(f"  {count:>8}{result['requests']:>10}{result['errors']:>8}{per_request:>27,.0f}", flush=True)
        bench.stop(mock)
    finally:
        bench.stop()


if __name__ == "__main__":
    main()
