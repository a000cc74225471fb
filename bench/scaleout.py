"""
Scale-out benchmark: what Redis sharing, /metrics and tracing cost the gateway, as ratios.

    uv run python bench/scaleout.py            # 5 rounds of 4 s per variant, about three minutes
    uv run python bench/scaleout.py --quick    # 2 rounds of 2 s
    uv run python bench/scaleout.py --no-pin
    uv run python bench/scaleout.py --cpu      # CPU per request in one process, steadier on a busy machine
    uv run python bench/scaleout.py --instructions  # metrics' cost in instructions (callgrind), steady

Four gateways (`python -m pixmux.proxy.cli`, one worker each, request logging on, to a file)
in front of the mock provider of bench/gateway.py, all with the same model list:

- **off**: no shared state, no metrics, no tracing (the floor of every ratio);
- **redis**: ``router_settings.redis_url`` to a local ``redis-server`` (no persistence);
- **redis + rpm**: the same, with an ``rpm`` on the deployment (a high one: nothing is refused),
  so that every request's attempt is counted in Redis;
- **metrics**: ``general_settings.metrics: true``;
- **tracing 10%**: ``general_settings.tracing: true`` with ``OTEL_TRACES_SAMPLER=parentbased_traceidratio``,
  ``OTEL_TRACES_SAMPLER_ARG=0.1``, exported over OTLP/HTTP to a stand-in collector in this process.

Load: 16 keep-alive clients in url mode (bench/gateway.py's load generator). Rounds interleave the
variants (off, redis, metrics, tracing, off, ...) so that a noisy neighbour hits every variant
alike; each line prints the median ratio to *off* in the same round, with the range. Pinned as
bench/gateway.py pins: each gateway on CPU 0, load generator, mock and Redis on CPU 1. Redis round
trips per request come from ``INFO commandstats`` before and after a fixed number of requests,
for the two Redis gateways and a sixth, with virtual keys (SQLite) and Redis sharing, loaded with
a key that has an ``rpm_limit`` and an ``ipm_limit`` (its windows are counted in Redis).
Prints figures; never passes or fails.

``--instructions`` counts what metrics cost in instructions (``valgrind --tool=callgrind``), which
do not move when other processes share the machine: the off and metrics gateways as ASGI
applications in one process each, their provider answered by ``httpx.MockTransport``, request
lines logged to a file, 16 concurrent callers; each runs twice, a short and a long batch after the
same warm-up, and the difference divided by the difference in requests is one request's cost.

``--cpu`` measures what the throughput ratios estimate, the gateway's CPU per request, without the
network: the same five gateways as ASGI applications in this process, their provider calls
answered by ``httpx.MockTransport``, 16 concurrent callers each, CPU time of this process
(``time.process_time``: every thread, the span exporter's included; Redis's own CPU not) per
request, in interleaved rounds. A busy neighbour slows every variant of a round alike.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import MutableMapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import callgrind
import redis
from gateway import (
    CLIENT_CPU,
    GATEWAY_CPU,
    ROOT,
    _can_pin,
    _free_port,
    _proc_stat,
    _request,
    _wait_port,
    _wait_ready,
)

KEY = "sk-bench-master"
GATEWAY_SCRIPT = str(Path(__file__).with_name("gateway.py"))
VARIANTS = ("off", "redis", "redis + rpm", "metrics", "tracing 10%")
#: Commands only the scripts run (INFO commandstats counts them too); the rest are round trips.
_INSIDE_SCRIPTS = frozenset(
    [
        "time",
        "pttl",
        "hexists",
        "exists",
        "zrange",
        "zrangebyscore",
        "zremrangebyscore",
        "zcard",
        "decrby",
        "get",
        "zadd",
        "incrby",
        "pexpire",
        "set",
        "hset",
        "hget",
        "incrbyfloat",
    ]
)


class _Collector(BaseHTTPRequestHandler):
    """OTLP/HTTP: takes the spans and answers 200, as a collector would."""

    spans_bytes = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        type(self).spans_bytes += len(body)
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


class _Bench:
    def __init__(self, quick: bool, *, pin: bool, rounds: int) -> None:
        self.seconds = 2.0 if quick else 4.0
        self.rounds = rounds
        self.pin = pin and _can_pin()
        self.tmp = Path(tempfile.mkdtemp(prefix="pixmux-scaleout-bench-"))
        self.procs: list[subprocess.Popen[bytes]] = []

    def _place(self, proc: subprocess.Popen[bytes], cpu: int) -> None:
        if self.pin:
            os.sched_setaffinity(proc.pid, {cpu})

    def spawn(
        self, args: list[str], *, cpu: int, log: Path | None = None, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(args, stdout=out, stderr=out, cwd=ROOT, env=env)
        self._place(proc, cpu)
        self.procs.append(proc)
        return proc

    def load(self, port: int, clients: int, *, limit: int | None = None, key: str = KEY) -> dict[str, Any]:
        body = {"model": "url", "prompt": "a cute baby sea otter", "response_format": "url"}
        request = _request("/v1/images/generations", body, key=key)
        spec = json.dumps(
            {
                "port": port,
                "request": request.decode("latin-1"),
                "clients": clients,
                "seconds": self.seconds if limit is None else 600.0,
                "limit": limit,
                "client": "buffered",
            }
        )
        with subprocess.Popen(
            [sys.executable, GATEWAY_SCRIPT, "--load", spec], stdout=subprocess.PIPE, cwd=ROOT
        ) as proc:
            self._place(proc, CLIENT_CPU)
            out, _ = proc.communicate()
        if proc.returncode:
            raise RuntimeError(f"the load generator failed (exit {proc.returncode})")
        result: dict[str, Any] = json.loads(out)
        return result

    def gateway(self, name: str, config: dict[str, Any], env: dict[str, str]) -> tuple[int, int]:
        path = self.tmp / f"{name}.json"
        path.write_text(json.dumps(config))
        port = _free_port()
        proc = self.spawn(
            [sys.executable, "-m", "pixmux.proxy.cli", "--config", str(path), "--port", str(port)],
            cpu=GATEWAY_CPU,
            log=self.tmp / f"{name}.log",
            env=env,
        )
        _wait_ready(port)
        return port, proc.pid

    def run(self) -> None:
        redis_bin = shutil.which("redis-server")
        if redis_bin is None:
            raise SystemExit("redis-server is not installed (apt-get install redis-server)")
        placement = f"pinned: gateways on CPU {GATEWAY_CPU}, the rest on CPU {CLIENT_CPU}" if self.pin else "not pinned"
        print(f"pixmux scale-out benchmark on {os.cpu_count()} CPU(s), Python {sys.version.split()[0]}; {placement}")

        mock_port = _free_port()
        self.spawn([sys.executable, GATEWAY_SCRIPT, "--mock", str(mock_port)], cpu=CLIENT_CPU)
        _wait_port(mock_port)
        redis_port = _free_port()
        redis_args = [redis_bin, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.spawn([*redis_args, "--dir", str(self.tmp)], cpu=CLIENT_CPU)
        _wait_port(redis_port)
        collector = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
        threading.Thread(target=collector.serve_forever, daemon=True).start()

        base = {
            "model_list": [
                {
                    "model_name": "url",
                    "litellm_params": {
                        "model": "openai/bench",
                        "api_base": f"http://127.0.0.1:{mock_port}/url/v1",
                        "api_key": "sk-up",
                    },
                }
            ],
            "general_settings": {"master_key": KEY},
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PROMETHEUS_"))}
        tracing_env = {
            **env,
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "0.1",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://127.0.0.1:{collector.server_address[1]}/v1/traces",
        }
        with_redis = json.loads(json.dumps(base))
        with_redis["router_settings"] = {"redis_url": f"redis://127.0.0.1:{redis_port}/0"}
        # A generous timeout: on a shared 2-CPU machine a late answer must not turn into failing
        # open (which would measure the gateway without Redis); the logs are checked below.
        with_redis["general_settings"]["shared_state"] = {"redis_timeout": 1.0}
        with_rpm = json.loads(json.dumps(with_redis))
        with_rpm["model_list"][0]["litellm_params"]["rpm"] = 10**9
        started = {
            "off": self.gateway("off", base, env),
            "redis": self.gateway("redis", with_redis, env),
            "redis + rpm": self.gateway("rpm", with_rpm, env),
            "metrics": self.gateway("metrics", {**base, "general_settings": {"master_key": KEY, "metrics": True}}, env),
            "tracing 10%": self.gateway(
                "tracing", {**base, "general_settings": {"master_key": KEY, "tracing": True}}, tracing_env
            ),
        }
        # Virtual keys on a SQLite file, Redis sharing on: one key with an rpm_limit and an
        # ipm_limit (high: nothing is refused), so every request's key windows are counted in Redis.
        with_keys = json.loads(json.dumps(with_redis))
        with_keys["general_settings"]["database_url"] = f"sqlite:///{self.tmp / 'keys.db'}"
        keys_port, _ = self.gateway("keys", with_keys, env)
        virtual_key = self._virtual_key(keys_port)
        ports = {name: port for name, (port, _) in started.items()}
        pids = {name: pid for name, (_, pid) in started.items()}
        for port in ports.values():
            self.load(port, 4, limit=500)  # warm-up
        self.load(keys_port, 4, limit=500, key=virtual_key)

        client = redis.Redis(port=redis_port)
        requests = 2000
        print(f"\nRedis round trips per request (16 clients, {requests} requests, all succeed):")
        for name in ("redis", "redis + rpm", "redis + key limits"):
            trips, inside = self._calls(client)
            if name == "redis + key limits":
                self.load(keys_port, 16, limit=requests, key=virtual_key)
            else:
                self.load(ports[name], 16, limit=requests)
            trips_after, inside_after = self._calls(client)
            print(
                f"  {name:<14}{(trips_after - trips) / requests:6.2f}"
                f"  ({(inside_after - inside) / requests:.1f} commands run inside the scripts)"
            )

        rps: dict[str, list[float]] = {name: [] for name in VARIANTS}
        cpu: dict[str, list[float]] = {name: [] for name in VARIANTS}
        errors = dict.fromkeys(VARIANTS, 0)
        for _ in range(self.rounds):
            for name in VARIANTS:
                cpu_before, _ = _proc_stat(pids[name])
                result = self.load(ports[name], 16)
                cpu_after, _ = _proc_stat(pids[name])
                rps[name].append(result["rps"])
                cpu[name].append(1000 * (cpu_after - cpu_before) / max(1, result["requests"]))
                errors[name] += int(result["errors"])
        rounds = f"median of {self.rounds} rounds (range)" if self.rounds > 1 else "one round"
        print(f"\nurl mode, 16 clients, requests/s, {rounds}; ratio to off in the same round")
        print(
            f"  {'variant':<14}{'requests/s':>12}{'range':>14}{'ratio':>8}{'range':>14}"
            f"{'CPU ms/req':>12}{'CPU ratio':>11}{'errors':>8}"
        )
        for name in VARIANTS:
            ratios = [value / floor for value, floor in zip(rps[name], rps["off"], strict=True)]
            spread = f"{min(rps[name]):.0f}-{max(rps[name]):.0f}" if self.rounds > 1 else ""
            ratio_spread = f"{min(ratios):.2f}-{max(ratios):.2f}" if self.rounds > 1 else ""
            cost = statistics.median(cpu[name])
            print(
                f"  {name:<14}{statistics.median(rps[name]):12.0f}{spread:>14}"
                f"{statistics.median(ratios):8.2f}{ratio_spread:>14}"
                f"{cost:12.3f}{statistics.median(cpu['off']) / cost:11.2f}{errors[name]:8d}"
            )
        print("  (CPU ratio: the off gateway's CPU per request over this one's; the throughput one would reach alone)")
        print(f"\nspans received by the collector: {_Collector.spans_bytes:,} bytes")
        for name in ("redis", "rpm", "keys"):
            downs = (self.tmp / f"{name}.log").read_text().count("unreachable or failing")
            print(f"Redis counted as down by the {name} gateway: {downs} time(s)")
        collector.shutdown()

    @staticmethod
    def _virtual_key(port: int) -> str:
        """A virtual key with an rpm_limit and an ipm_limit nothing reaches (made through /key/generate)."""
        import httpx

        answer = httpx.post(
            f"http://127.0.0.1:{port}/key/generate",
            headers={"Authorization": f"Bearer {KEY}"},
            json={"rpm_limit": 10**9, "ipm_limit": 10**9},
            timeout=30,
        )
        answer.raise_for_status()
        return str(answer.json()["key"])

    @staticmethod
    def _calls(client: redis.Redis) -> tuple[int, int]:
        """(commands clients sent, commands the scripts ran) so far; INFO itself not counted."""
        stats: dict[str, Any] = client.info("commandstats")
        sent = inside = 0
        for name, value in stats.items():
            command = name.removeprefix("cmdstat_")
            if command == "info":
                continue
            if command in _INSIDE_SCRIPTS:
                inside += int(value["calls"])
            else:
                sent += int(value["calls"])
        return sent, inside

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)


def _cpu_mode(rounds: int, requests: int) -> None:
    import asyncio
    import logging

    import pixmux_openai.provider
    from pixmux.proxy import create_app, parse_config
    from pixmux.testing import json_response, make_engine

    redis_bin = shutil.which("redis-server")
    if redis_bin is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    tmp = Path(tempfile.mkdtemp(prefix="pixmux-scaleout-cpu-"))
    logging.basicConfig(filename=tmp / "gateway.log", level=logging.INFO)  # request lines on, as served
    redis_port = _free_port()
    server = subprocess.Popen(
        [redis_bin, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        cwd=tmp,
    )
    collector = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    os.environ.update(
        {
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "0.1",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://127.0.0.1:{collector.server_address[1]}/v1/traces",
        }
    )
    try:
        _wait_port(redis_port)
        answer = {"created": 1713833628, "data": [{"url": "https://images.example.test/otter.png"}]}

        def config(rpm: bool = False, redis_on: bool = False, **general: Any) -> dict[str, Any]:
            params: dict[str, Any] = {"model": "openai/bench", "api_base": "http://mock.test/v1", "api_key": "sk-up"}
            if rpm:
                params["rpm"] = 10**9
            out: dict[str, Any] = {
                "model_list": [{"model_name": "url", "litellm_params": params}],
                "general_settings": {"master_key": KEY, **general},
            }
            if redis_on:
                out["router_settings"] = {"redis_url": f"redis://127.0.0.1:{redis_port}/0"}
                out["general_settings"]["shared_state"] = {"redis_timeout": 1.0}
            return out

        configs = {
            "off": config(),
            "redis": config(redis_on=True),
            "redis + rpm": config(rpm=True, redis_on=True),
            "metrics": config(metrics=True),
            "tracing 10%": config(tracing=True),
        }
        apps = {
            name: create_app(
                parse_config(cfg, path=name, environ={}),
                engine=make_engine(pixmux_openai.provider, handler=lambda request: json_response(200, answer)),
            )
            for name, cfg in configs.items()
        }
        body = json.dumps({"model": "url", "prompt": "a cute baby sea otter", "response_format": "url"}).encode()
        headers = [(b"authorization", f"Bearer {KEY}".encode()), (b"content-type", b"application/json")]
        statuses: dict[str, set[int]] = {name: set() for name in apps}

        async def caller(name: str, count: int) -> None:
            app = apps[name]

            async def receive() -> dict[str, Any]:
                return {"type": "http.request", "body": body, "more_body": False}

            async def send(message: MutableMapping[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    statuses[name].add(message["status"])

            for _ in range(count):
                scope = {"type": "http", "method": "POST", "path": "/v1/images/generations", "headers": headers}
                await app(scope, receive, send)

        async def measure(name: str, count: int) -> float:
            started = time.process_time()
            await asyncio.gather(*(caller(name, count // 16) for _ in range(16)))
            return 1e6 * (time.process_time() - started) / (count // 16 * 16)

        async def run() -> dict[str, list[float]]:
            for name in apps:
                await measure(name, 320)  # warm-up: connections, caches, scripts
            costs: dict[str, list[float]] = {name: [] for name in apps}
            for _ in range(rounds):
                for name, app in apps.items():
                    costs[name].append(await measure(name, requests))
                    app.engine.requests.clear()  # type: ignore[attr-defined]
            for app in apps.values():
                await app.router.state.aclose()
                app.telemetry.shutdown()
            return costs

        costs = asyncio.run(run())
    finally:
        server.terminate()
        server.wait(10)
        collector.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"gateway CPU per request in process (us), 16 callers, {requests} requests x {rounds} rounds; median (range)")
    floor = statistics.median(costs["off"])
    for name, values in costs.items():
        cost = statistics.median(values)
        print(
            f"  {name:<14}{cost:8.1f}  ({min(values):.1f}-{max(values):.1f})   throughput ratio if CPU-bound: "
            f"{floor / cost:.2f}   statuses {sorted(statuses[name])}"
        )


_SHORT, _LONG = 200, 600


def _instructions_side(variant: str, requests: int) -> None:
    """One counted run (under callgrind): the ``off`` or ``metrics`` gateway, a warm-up, then ``requests``."""
    import asyncio
    import logging

    import pixmux_openai.provider
    from pixmux.proxy import create_app, parse_config
    from pixmux.testing import json_response, make_engine

    scratch = Path(tempfile.mkdtemp(prefix="pixmux-scaleout-instr-"))
    logging.basicConfig(filename=scratch / "gateway.log", level=logging.INFO)  # request lines on, as served
    answer = {"created": 1713833628, "data": [{"url": "https://images.example.test/otter.png"}]}
    config = {
        "model_list": [
            {
                "model_name": "url",
                "litellm_params": {"model": "openai/bench", "api_base": "http://mock.test/v1", "api_key": "sk-up"},
            }
        ],
        "general_settings": {"master_key": KEY, "metrics": variant == "metrics"},
    }
    app = create_app(
        parse_config(config, path=variant, environ={}),
        engine=make_engine(pixmux_openai.provider, handler=lambda request: json_response(200, answer)),
    )
    body = json.dumps({"model": "url", "prompt": "a cute baby sea otter", "response_format": "url"}).encode()
    headers = [(b"authorization", f"Bearer {KEY}".encode()), (b"content-type", b"application/json")]
    statuses: set[int] = set()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.add(message["status"])

    async def caller(count: int) -> None:
        for _ in range(count):
            scope = {"type": "http", "method": "POST", "path": "/v1/images/generations", "headers": headers}
            await app(scope, receive, send)

    async def run() -> None:
        await asyncio.gather(*(caller(8) for _ in range(16)))  # warm-up: caches, children, pools
        app.engine.requests.clear()  # type: ignore[attr-defined]
        await asyncio.gather(*(caller(requests // 16) for _ in range(16)))

    asyncio.run(run())
    shutil.rmtree(scratch, ignore_errors=True)
    if statuses != {200}:
        raise SystemExit(f"unexpected statuses {sorted(statuses)}")


def _instructions_mode() -> None:
    if not callgrind.available():
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")

    def count(variant: str, requests: int) -> int:
        return callgrind.counted_run(
            [__file__, "--instructions-side", variant, str(requests)], what=f"{variant} gateway", cwd=ROOT
        )

    print(f"gateway instructions per request (callgrind, {_LONG} - {_SHORT} requests, 16 callers, in process)")
    per_request = {
        variant: (count(variant, _LONG) - count(variant, _SHORT)) / (_LONG - _SHORT) for variant in ("off", "metrics")
    }
    for variant, instructions in per_request.items():
        ratio = per_request["off"] / instructions
        print(f"  {variant:<8}{instructions:12,.0f}   throughput ratio if CPU-bound: {ratio:.3f}")
    added = per_request["metrics"] - per_request["off"]
    print(f"  metrics add {added:,.0f} instructions per request")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 rounds of 2 s per variant")
    parser.add_argument("--rounds", type=int, help="rounds (default 5, or 2 with --quick)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the processes to CPUs")
    parser.add_argument("--cpu", action="store_true", help="CPU per request of in-process gateways instead")
    parser.add_argument("--instructions", action="store_true", help="metrics' cost in instructions (callgrind)")
    parser.add_argument("--instructions-side", nargs=2, metavar=("VARIANT", "REQUESTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.instructions_side:
        _instructions_side(args.instructions_side[0], int(args.instructions_side[1]))
        return
    if args.instructions:
        _instructions_mode()
        return
    if args.cpu:
        _cpu_mode(args.rounds or (3 if args.quick else 7), 1600 if args.quick else 4000)
        return
    rounds = args.rounds if args.rounds else (2 if args.quick else 5)
    bench = _Bench(args.quick, pin=not args.no_pin, rounds=max(1, rounds))
    try:
        bench.run()
    finally:
        bench.stop()


if __name__ == "__main__":
    main()
