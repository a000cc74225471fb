"""
Virtual-key benchmark: what keys, budgets and spend recording cost the gateway, as ratios.

    uv run python bench/keys.py              # SQLite and PostgreSQL, three rounds each
    uv run python bench/keys.py --quick      # shorter runs, one round
    uv run python bench/keys.py --db sqlite  # one engine only

The same processes as bench/gateway.py (its mock provider and its load generator, 16 keep-alive
clients, url mode) against two gateways started from the same model list: one with only a
master key (the floor), and gateways with accounting on (``database_url``) called with a
virtual key. Three lines per engine: a key without a budget (auth through the key cache, one
spend row per request, written in batches); a key with a budget, reserved out of the process's
budget block (the default: a database step per block resize, about one a second, none per
request); and the same key on a gateway with ``budget_blocks: false`` (one database round trip
per request on the request path: the conditional UPDATEs and an INSERT). Rounds alternate floor
and keys runs; medians are printed with the range. Per-request CPU is the gateway process's
(``/proc``), and for PostgreSQL also the server's processes (every process of the ``postgres``
user). PostgreSQL is Debian's, started in a temp dir (tests/gateway/keys_support.py). Prints
figures; never passes or fails.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from gateway import CLIENT_CPU, GATEWAY_CPU, _Bench, _median, _proc_stat, _spread, _wait_port, _wait_ready

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "gateway"))
MASTER = "sk-bench-master"
CLIENTS = 16


def _postgres_cpu() -> float:
    """CPU seconds of every process of the ``postgres`` user (the bench's server and its backends)."""
    try:
        uid = pwd.getpwnam("postgres").pw_uid
    except KeyError:
        return 0.0
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            total += _proc_stat(int(entry.name))[0]
        except (OSError, ValueError, IndexError):
            continue
    return total


class _KeysBench(_Bench):
    def __init__(self, quick: bool, *, pin: bool, rounds: int) -> None:
        super().__init__(quick, pin=pin, rounds=rounds)
        self.ports: dict[str, int] = {}

    def gateway(self, name: str, general: dict[str, Any]) -> subprocess.Popen[bytes]:
        base = f"http://127.0.0.1:{self.mock_port}"
        config = self.tmp / f"{name}.yaml"
        config.write_text(
            json.dumps(
                {
                    "model_list": [
                        {
                            "model_name": "url",
                            "litellm_params": {
                                "model": "openai/gpt-image-1",
                                "api_base": f"{base}/url/v1",
                                "api_key": "sk-up",
                            },
                        }
                    ],
                    "general_settings": {"master_key": MASTER, **general},
                }
            )
        )
        port = self.ports[name] = _free()
        proc = self.spawn(
            "-m",
            "pixmux.proxy.cli",
            "--config",
            str(config),
            "--port",
            str(port),
            "--log-level",
            "warning",
            log=self.tmp / f"{name}.log",
            cpu=GATEWAY_CPU,
        )
        _wait_ready(port, timeout=60)
        return proc

    def measure(self, port: int, key: str, body: dict[str, Any]) -> dict[str, Any]:
        self.gateway_port = port  # the parent's load() sends self.key to the gateway port
        self.key = key
        return self.load(port, "/v1/images/generations", body, CLIENTS)

    def run_engine(self, engine: str, database_url: str) -> None:
        # gpt-image-1 takes no response_format; the mock answers URLs all the same
        body = {"model": "url", "prompt": "a cute baby sea otter"}
        floor_proc = self.gateway(f"{engine}-master", {})
        keys_proc = self.gateway(f"{engine}-keys", {"database_url": database_url, "proxy_batch_write_at": 1})
        exact_proc = self.gateway(
            f"{engine}-exact", {"database_url": database_url, "proxy_batch_write_at": 1, "budget_blocks": False}
        )
        keys_url = f"http://127.0.0.1:{self.ports[f'{engine}-keys']}"
        created = {}
        for kind, extra in (("no budget", {}), ("budget", {"max_budget": 1e8})):
            answer = httpx.post(f"{keys_url}/key/generate", headers={"Authorization": f"Bearer {MASTER}"}, json=extra)
            answer.raise_for_status()
            created[kind] = answer.json()["key"]
        floor_port = self.ports[f"{engine}-master"]
        keys_port = self.ports[f"{engine}-keys"]
        exact_port = self.ports[f"{engine}-exact"]
        for port, key in (
            (floor_port, MASTER),
            (keys_port, created["no budget"]),
            (keys_port, created["budget"]),
            (exact_port, created["budget"]),
        ):
            self.gateway_port, self.key = port, key
            self.load(port, "/v1/images/generations", body, 4, limit=300)  # warm-up
        print(f"\n{engine}: url mode, {CLIENTS} clients, requests/s ({self._rounds_text()})")
        print(
            f"  {'':22}{'master key only':>22}{'virtual key':>22}{'ratio':>18}{'CPU ms/req':>24}{'DB CPU ms/req':>16}"
        )
        lines = (
            ("no budget", keys_proc, keys_port, "no budget"),
            ("budget, blocks", keys_proc, keys_port, "budget"),
            ("budget, per request", exact_proc, exact_port, "budget"),
        )
        for kind, proc, port, which in lines:
            floors: list[float] = []
            keyed: list[float] = []
            ratios: list[float] = []
            cpu_floor: list[float] = []
            cpu_keys: list[float] = []
            cpu_db: list[float] = []
            errors = 0
            for _ in range(self.rounds):
                before, _ = _proc_stat(floor_proc.pid)
                floor = self.measure(floor_port, MASTER, body)
                after, _ = _proc_stat(floor_proc.pid)
                cpu_floor.append(1000 * (after - before) / max(1, floor["requests"]))
                before, _ = _proc_stat(proc.pid)
                db_before = _postgres_cpu()
                keys = self.measure(port, created[which], body)
                time.sleep(1.2)  # the batch writer's next tick: its work counts too
                after, _ = _proc_stat(proc.pid)
                cpu_db.append(1000 * (_postgres_cpu() - db_before) / max(1, keys["requests"]))
                cpu_keys.append(1000 * (after - before) / max(1, keys["requests"]))
                floors.append(floor["rps"])
                keyed.append(keys["rps"])
                ratios.append(keys["rps"] / floor["rps"])
                errors += floor["errors"] + keys["errors"]
            added = [k - f for k, f in zip(cpu_keys, cpu_floor, strict=True)]
            db_text = f"{_median(cpu_db):8.3f}" if engine == "postgresql" else f"{'(in process)':>14}"
            print(
                f"  {kind:<20}{_median(floors):6.0f} {_spread(floors):>11}"
                f" {_median(keyed):10.0f} {_spread(keyed):>11}"
                f" {_median(ratios):6.2f} {_spread(ratios, '.2f'):>11}"
                f"   {_median(cpu_floor):.3f} -> {_median(cpu_keys):.3f} (+{_median(added):.3f})"
                f"  {db_text}" + (f"  errors {errors}" if errors else "")
            )
        for stopping in (floor_proc, keys_proc, exact_proc):
            stopping.terminate()
            stopping.wait(30)

    def _rounds_text(self) -> str:
        return f"median of {self.rounds} rounds (range)" if self.rounds > 1 else "one round"

    def run_all(self, engines: list[str]) -> None:
        placement = f"pinned: gateways on CPU {GATEWAY_CPU}, load generator and mock on CPU {CLIENT_CPU}"
        print(
            f"pixmux virtual-key benchmark on {os.cpu_count()} CPU(s), Python {sys.version.split()[0]}; "
            f"{placement if self.pin else 'not pinned'}"
        )
        self.spawn(str(ROOT / "bench" / "gateway.py"), "--mock", str(self.mock_port))
        _wait_port(self.mock_port)
        if "sqlite" in engines:
            self.run_engine("sqlite", f"sqlite:///{self.tmp / 'bench.db'}")
        if "postgresql" in engines:
            from keys_support import PostgresServer, _pg_bin  # type: ignore[import-not-found]

            bindir = _pg_bin()
            if bindir is None:
                print("\npostgresql: not installed (Debian's postgresql); skipped")
                return
            server = PostgresServer(bindir)
            server.start()
            try:
                self.run_engine("postgresql", server.create())
            finally:
                server.stop()


def _free() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter runs, one round unless --rounds")
    parser.add_argument("--rounds", type=int, help="rounds per line (default 3, or 1 with --quick)")
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    rounds = args.rounds if args.rounds else (1 if args.quick else 3)
    bench = _KeysBench(args.quick, pin=not args.no_pin, rounds=max(1, rounds))
    try:
        bench.run_all(["sqlite", "postgresql"] if args.db == "both" else [args.db])
    finally:
        bench.stop()


if __name__ == "__main__":
    main()
