"""
The gateway against LiteLLM's proxy: the same mock provider, load generator and client counts.

    uv venv -p 3.11 /tmp/litellm-venv && uv pip install -p /tmp/litellm-venv 'litellm[proxy]'
    uv run python bench/vs_litellm.py --litellm /tmp/litellm-venv/bin/litellm            # 3 rounds
    uv run python bench/vs_litellm.py --litellm /tmp/litellm-venv/bin/litellm --quick    # 1 round

LiteLLM is never a dependency of this repository: install it into a throwaway environment
outside it and name its ``litellm`` command. Both servers get the same model list (``url`` and
``b64``, ``openai/bench`` against bench/gateway.py's mock provider, which answers from memory),
one worker each, a master key, on 127.0.0.1. Pinned as bench/gateway.py pins (each server alone
on CPU 0 while it is measured, the load generator and the mock on CPU 1), rounds alternate
pixmux and LiteLLM. Besides requests per second, each line gives the servers' CPU per request
(user and kernel, from /proc): their ratio does not move when other work shares the machine,
where requests per second do. Prints figures; never passes or fails.

Targets (issue #13): pixmux at least 20x LiteLLM's url throughput and 10x its b64 throughput,
at 16 clients, one worker each.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gateway import (  # bench/gateway.py: the mock provider, the load generator, process helpers
    CLIENT_CPU,
    GATEWAY_CPU,
    ROOT,
    _Bench,
    _free_port,
    _median,
    _proc_stat,
    _spread,
    _wait_port,
    _wait_ready,
)

GATEWAY_SCRIPT = str(Path(__file__).with_name("gateway.py"))
#: What LiteLLM is told so that it starts offline and quietly: its bundled price map instead of
#: fetching one, no telemetry.
LITELLM_ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False", "LITELLM_LOG": "ERROR"}


def _config(mock_port: int, key: str) -> dict[str, Any]:
    base = f"http://127.0.0.1:{mock_port}"
    return {
        "model_list": [
            {
                "model_name": mode,
                "litellm_params": {"model": "openai/bench", "api_base": f"{base}/{mode}/v1", "api_key": "sk-up"},
            }
            for mode in ("url", "b64")
        ],
        "general_settings": {"master_key": key},
        # LiteLLM refuses response_format for a model it does not know; the mock answers by path
        "litellm_settings": {"drop_params": True},
    }


def _version(litellm: str) -> str:
    python = Path(litellm).with_name("python")
    done = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "unknown version"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--litellm", required=True, help="the litellm command of a throwaway environment")
    parser.add_argument("--quick", action="store_true", help="one round of 2 s per line (default: 3 rounds of 4 s)")
    parser.add_argument("--rounds", type=int, help="rounds per line")
    parser.add_argument("--clients", default="16", help="client counts, comma-separated (default 16)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the processes to CPUs")
    args = parser.parse_args()
    litellm = shutil.which(args.litellm) or args.litellm
    if not Path(litellm).is_file():
        parser.error(f"--litellm: no such command {args.litellm!r} (install LiteLLM into a throwaway venv first)")
    rounds = args.rounds if args.rounds else (1 if args.quick else 3)
    clients = tuple(int(count) for count in args.clients.split(",") if count.strip())

    bench = _Bench(args.quick, pin=not args.no_pin, rounds=max(1, rounds))
    try:
        _compare(bench, litellm, clients)
    finally:
        bench.stop()


def _compare(bench: _Bench, litellm: str, clients: tuple[int, ...]) -> None:
    placement = f"pinned: servers on CPU {GATEWAY_CPU}, load generator and mock on CPU {CLIENT_CPU}"
    print(
        f"pixmux gateway against LiteLLM {_version(litellm)} on {os.cpu_count()} CPU(s), "
        f"Python {sys.version.split()[0]}; {placement if bench.pin else 'not pinned'}"
    )
    mock = bench.spawn(GATEWAY_SCRIPT, "--mock", str(bench.mock_port))
    _wait_port(bench.mock_port)
    config = bench.tmp / "config.yaml"
    config.write_text(json.dumps(_config(bench.mock_port, bench.key)))

    started = time.perf_counter()
    pixmux = bench.spawn(
        "-m",
        "pixmux.proxy.cli",
        "--config",
        str(config),
        "--port",
        str(bench.gateway_port),
        log=bench.tmp / "pixmux.log",
        cpu=GATEWAY_CPU,
    )
    _wait_ready(bench.gateway_port)
    pixmux_startup = time.perf_counter() - started

    litellm_port = _free_port()
    started = time.perf_counter()
    log = open(bench.tmp / "litellm.log", "wb")  # noqa: SIM115 - closed with the process
    server = subprocess.Popen(
        [litellm, "--config", str(config), "--host", "127.0.0.1", "--port", str(litellm_port), "--num_workers", "1"],
        stdout=log,
        stderr=log,
        cwd=bench.tmp,
        env={**os.environ, **LITELLM_ENV},
    )
    bench.procs.append(server)
    bench._place(server, GATEWAY_CPU)
    _wait_ready(litellm_port, timeout=300)
    litellm_startup = time.perf_counter() - started
    _, pixmux_rss = _proc_stat(pixmux.pid)
    _, litellm_rss = _proc_stat(server.pid)
    print(
        f"start-up (spawn to first 200): pixmux {pixmux_startup:.1f} s, LiteLLM {litellm_startup:.1f} s; "
        f"resident idle: pixmux {pixmux_rss:.0f} MB, LiteLLM {litellm_rss:.0f} MB"
    )

    path = "/v1/images/generations"
    bodies = {
        "url": {"model": "url", "prompt": "a cute baby sea otter", "response_format": "url"},
        "b64": {"model": "b64", "prompt": "a cute baby sea otter", "response_format": "b64_json"},
    }
    ports = {"pixmux": (bench.gateway_port, pixmux.pid), "litellm": (litellm_port, server.pid)}
    for port, _ in ports.values():  # warm-up: both pools, both answer paths
        for body in bodies.values():
            bench.load(port, path, body, 4, limit=200, authorized=True)

    rounds = f"median of {bench.rounds} rounds (range)" if bench.rounds > 1 else "one round"
    print(f"\nrequests/s and CPU ms per request (user + kernel, /proc), {rounds}:")
    print(
        f"  {'':9}{'pixmux':>20}{'LiteLLM':>20}{'ratio':>16}"
        f"{'pixmux CPU':>12}{'LiteLLM CPU':>13}{'CPU ratio':>11}{'errors':>8}"
    )
    for mode, body in bodies.items():
        for count in clients:
            rates: dict[str, list[float]] = {"pixmux": [], "litellm": []}
            cpus: dict[str, list[float]] = {"pixmux": [], "litellm": []}
            ratios: list[float] = []
            errors = 0
            for _ in range(bench.rounds):
                for name, (port, pid) in ports.items():
                    before, _ = _proc_stat(pid)
                    result = bench.load(port, path, body, count, authorized=True)
                    after, _ = _proc_stat(pid)
                    rates[name].append(result["rps"])
                    cpus[name].append(1000 * (after - before) / max(1, result["requests"]))
                    errors += result["errors"]
                ratios.append(rates["pixmux"][-1] / rates["litellm"][-1])
            cpu_ratio = _median(cpus["litellm"]) / _median(cpus["pixmux"])
            print(
                f"  {mode} x{count:<4}"
                f" {_median(rates['pixmux']):8.0f} {_spread(rates['pixmux']):>11}"
                f" {_median(rates['litellm']):8.1f} {_spread(rates['litellm'], '.1f'):>11}"
                f" {_median(ratios):5.1f}x {_spread(ratios, '.1f'):>9}"
                f" {_median(cpus['pixmux']):11.3f} {_median(cpus['litellm']):12.3f} {cpu_ratio:9.1f}x {errors:7d}"
            )
    print(
        "\nratio: pixmux requests/s over LiteLLM's in the same round; CPU ratio: LiteLLM's CPU per request"
        "\nover pixmux's, what each would serve with a core to itself (targets: url >= 20x, b64 >= 10x)."
    )
    bench.stop(mock)


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
