"""
Virtual keys across real gateway processes: two gateways on one PostgreSQL, a gateway killed
mid-load, a database lost and found again, a database missing at start, and LiteLLM's admin
call followed by the official openai client.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml
from gateway_support import MASTER_KEY, RunningGateway, auth, free_port
from keys_support import (
    IMAGE_PRICE,
    PG_PASSWORD,
    PostgresServer,
    _pg_bin,
    database_url,
    keys_config,
    postgres_server,
)
from pixmux.proxy import create_app, parse_config
from pixmux.proxy.store.blocks import LIFETIME

__all__ = ["database_url", "postgres_server"]

PROMPT = {"model": "img", "prompt": "an otter"}


class GatewayProcess:
    """``python -m pixmux.proxy.cli`` on a free port, with its own config file."""

    def __init__(self, config: dict[str, Any], folder: Path, name: str) -> None:
        self.path = folder / f"{name}.yaml"
        self.path.write_text(yaml.safe_dump(config))
        self.log = folder / f"{name}.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, wait: bool = True) -> GatewayProcess:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pixmux.proxy.cli", "--config", str(self.path), "--port", str(self.port)],
                stdout=log,
                stderr=log,
            )
        if wait:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the gateway exited: {self.log.read_text()[-2000:]}")
                try:
                    if httpx.get(f"{self.url}/health/liveliness", timeout=1).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            raise RuntimeError("the gateway did not start")
        return self

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def processes() -> Iterator[list[GatewayProcess]]:
    started: list[GatewayProcess] = []
    yield started
    for gateway in started:
        gateway.stop()


def new_key(url: str, **body: Any) -> dict[str, Any]:
    answer = httpx.post(f"{url}/key/generate", headers=auth(), json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def burst(urls: list[str], key: str, count: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        return await asyncio.gather(
            *(
                client.post(f"{urls[i % len(urls)]}/v1/images/generations", headers=auth(key), json=PROMPT)
                for i in range(count)
            )
        )


def test_two_gateways_on_one_postgres_never_overspend(
    postgres_server: PostgresServer, provider_server: Any, tmp_path: Path, processes: list[GatewayProcess]
) -> None:
    """200 concurrent requests over two gateways on a budget of ten images: exactly ten succeed, spend = budget."""
    url = postgres_server.create()
    for name in ("a", "b"):
        config = keys_config(url, provider_server.url, journal=tmp_path / f"journal-{name}")
        processes.append(GatewayProcess(config, tmp_path, name).start())
    key = new_key(processes[0].url, max_budget=10 * IMAGE_PRICE)

    answers = asyncio.run(burst([p.url for p in processes], key["key"], 200))
    time.sleep(0.5)  # both writers settle (proxy_batch_write_at is 0.05 s)
    info = httpx.get(f"{processes[1].url}/key/info", params={"key": key["key"]}, headers=auth()).json()["info"]

    assert sum(a.status_code == 200 for a in answers) == 10
    assert {200, 429} == {a.status_code for a in answers}
    assert {"budget_exceeded"} == {a.json()["error"]["type"] for a in answers if a.status_code == 429}
    assert pytest.approx(info["spend"], abs=1e-9) == 10 * IMAGE_PRICE
    assert info["reserved"] == 0


def test_killed_gateway_loses_no_spend_row(
    database_url: str, provider_server: Any, tmp_path: Path, processes: list[GatewayProcess]
) -> None:
    """SIGKILL mid-load, then a restart: every request that was answered has its spend row, charged once."""
    config = keys_config(database_url, provider_server.url, journal=tmp_path / "journal", proxy_batch_write_at=30)
    gateway = GatewayProcess(config, tmp_path, "g").start()
    processes.append(gateway)
    key = new_key(gateway.url, max_budget=1000.0)
    answered: list[str] = []

    async def load() -> None:
        async with httpx.AsyncClient(timeout=10) as client:

            async def one() -> None:
                while True:
                    try:
                        answer = await client.post(
                            f"{gateway.url}/v1/images/generations", headers=auth(key["key"]), json=PROMPT
                        )
                    except httpx.HTTPError:
                        return
                    if answer.status_code == 200:
                        answered.append(answer.headers["x-request-id"])

            workers = [asyncio.ensure_future(one()) for _ in range(8)]
            deadline = time.monotonic() + 30
            while len(answered) < 20 and time.monotonic() < deadline:  # mid-load: requests in flight
                await asyncio.sleep(0.05)
            gateway.kill()
            await asyncio.gather(*workers)

    asyncio.run(load())
    gateway.start()  # the same journal folder: the dead process's segment is replayed
    logs = httpx.get(f"{gateway.url}/spend/logs", headers=auth(), params={"limit": 100000}, timeout=30).json()
    info = httpx.get(f"{gateway.url}/key/info", params={"key": key["key"]}, headers=auth()).json()["info"]

    assert len(answered) >= 20
    assert set(answered) <= {row["request_id"] for row in logs}
    charged = [row for row in logs if row["api_key"] == key["token"] and row["status"] == "success"]
    assert len(charged) * IMAGE_PRICE == pytest.approx(info["spend"], abs=1e-9)
    assert info["reserved"] == 0  # unfinished reservations were given back


def test_database_missing_at_start_refuses_to_start_naming_the_host(tmp_path: Path) -> None:
    """`pixmux serve` exits non-zero; its output names host:port and never the password."""
    port = free_port()
    url = f"postgresql://pixmux:{PG_PASSWORD}@127.0.0.1:{port}/pixmux"
    gateway = GatewayProcess(keys_config(url, journal=tmp_path / "journal"), tmp_path, "g").start(wait=False)
    assert gateway.process is not None

    code = gateway.process.wait(60)
    output = gateway.log.read_text()

    assert code != 0
    assert f"127.0.0.1:{port}" in output
    assert PG_PASSWORD not in output


def test_database_lost_fails_closed_then_queued_rows_are_written(tmp_path: Path, provider_server: Any) -> None:
    """Database stopped: a budgeted key gets 503 once its block is due; fail-open serves known keys; no row lost."""
    bindir = _pg_bin()
    if bindir is None:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL is needed under CI=true")
        pytest.skip("PostgreSQL is not installed")
    server = PostgresServer(bindir)
    server.start()
    try:
        url = server.create()
        closed = create_app(
            parse_config(keys_config(url, provider_server.url, journal=tmp_path / "j1"), path="a.yaml", environ={})
        )
        opened = create_app(
            parse_config(
                keys_config(url, provider_server.url, journal=tmp_path / "j2", allow_requests_on_db_unavailable=True),
                path="b.yaml",
                environ={},
            )
        )
        with RunningGateway(closed) as first, RunningGateway(opened) as second, httpx.Client(timeout=30) as client:
            created = client.post(f"{first.url}/key/generate", headers=auth(), json={"max_budget": 100.0}).json()
            for running in (first, second):  # both gateways know the key and are warm
                answer = client.post(f"{running.url}/v1/images/generations", headers=auth(created["key"]), json=PROMPT)
                assert answer.status_code == 200

            server.halt()
            # what a budget block reserved before the loss is still served; the block's next
            # resize (within LIFETIME) meets the lost database, and from then on the policy answers
            time.sleep(LIFETIME + 0.2)
            lost_closed = client.post(f"{first.url}/v1/images/generations", headers=auth(created["key"]), json=PROMPT)
            lost_open = client.post(f"{second.url}/v1/images/generations", headers=auth(created["key"]), json=PROMPT)

            server.start_again()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # the writers retry every proxy_batch_write_at
                logs = client.get(f"{first.url}/spend/logs", headers=auth())
                if logs.status_code == 200 and sum(row["status"] == "success" for row in logs.json()) == 3:
                    break
                time.sleep(0.2)
    finally:
        server.stop()

    assert lost_closed.status_code == 503
    assert "127.0.0.1" in lost_closed.json()["error"]["message"]
    assert PG_PASSWORD not in lost_closed.text
    assert lost_open.status_code == 200
    assert lost_open.headers["x-request-id"] in {row["request_id"] for row in logs.json()}
    assert sum(row["status"] == "success" for row in logs.json()) == 3


def test_litellm_key_generate_then_openai_client(
    postgres_server: PostgresServer, provider_server: Any, tmp_path: Path
) -> None:
    """LiteLLM's documented /key/generate body, unchanged, then images.generate with the key via openai."""
    config = parse_config(
        keys_config(postgres_server.create(), provider_server.url, journal=tmp_path / "j"), path="l.yaml", environ={}
    )
    with RunningGateway(create_app(config)) as running:
        created = httpx.post(
            f"{running.url}/key/generate",
            headers={"Authorization": f"Bearer {MASTER_KEY}", "Content-Type": "application/json"},
            json={
                "models": ["img"],
                "aliases": {},
                "duration": "20m",
                "metadata": {"user": "ishaan@berri.ai"},
                "team_id": None,
                "max_budget": 10,
                "tpm_limit": 1000,
                "rpm_limit": 100,
            },
        )
        assert created.status_code == 200, created.text
        key = created.json()["key"]
        client = openai.OpenAI(base_url=f"{running.url}/v1", api_key=key, max_retries=0)

        result = client.images.generate(model="img", prompt="an otter", response_format="b64_json")
        with pytest.raises(openai.PermissionDeniedError):
            client.images.generate(model="sd", prompt="an otter")

    assert created.json()["key"].startswith("sk-")
    assert created.json()["expires"] is not None
    assert len(result.data) == 1
