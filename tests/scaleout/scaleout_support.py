"""
Helpers for the scale-out tests: a real ``redis-server``, a stand-in OpenAI provider that counts
what each deployment received, and gateways run as real ``pixmux serve`` processes.

Every server binds 127.0.0.1 on a free port, in a temporary directory, and is stopped by the
test. Under ``CI=true`` a missing ``redis-server`` fails the test instead of skipping it.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import yaml
from pixmux.testing import TINY_PNG_B64, local_server, reply

MASTER_KEY = "sk-scaleout-master-0123456789"
UPSTREAM_KEY = "sk-scaleout-upstream-0123456789"
REDIS_PASSWORD = "redis-pass-0123456789-SECRET"
REDIS_BIN = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, process: subprocess.Popen[bytes], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{what} exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise AssertionError(f"{what} did not start listening on {port}")


class RedisServer:
    """A real ``redis-server`` on 127.0.0.1: no persistence, a password, its own temp directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://:{REDIS_PASSWORD}@127.0.0.1:{self.port}/0"

    def start(self) -> None:
        options = {
            "port": str(self.port),
            "bind": "127.0.0.1",
            "dir": str(self.directory),
            "save": "",
            "appendonly": "no",
            "requirepass": REDIS_PASSWORD,
        }
        self.process = subprocess.Popen(
            [REDIS_BIN, *(part for name, value in options.items() for part in (f"--{name}", value))],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_port(self.port, self.process, "redis-server")

    def kill(self) -> None:
        """Stop it hard, as a crash would (SIGKILL)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, password=REDIS_PASSWORD, socket_timeout=5)

    def dump(self) -> dict[bytes, Any]:
        """Every key and its value (strings, sorted sets and hashes), to check what is stored."""
        client = self.client()
        out: dict[bytes, Any] = {}
        for key in client.scan_iter(count=1000):
            kind = client.type(key)
            if kind == b"string":
                out[key] = client.get(key)
            elif kind == b"zset":
                out[key] = client.zrange(key, 0, -1, withscores=True)
            elif kind == b"hash":
                out[key] = client.hgetall(key)
            else:
                out[key] = kind
        client.close()
        return out


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh ``redis-server`` for one test."""
    if not os.path.exists(REDIS_BIN):
        message = f"redis-server is not installed ({REDIS_BIN}); apt-get install redis-server"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    directory = tmp_path / "redis"
    directory.mkdir()
    server = RedisServer(directory)
    server.start()
    try:
        yield server
    finally:
        server.kill()


class _Upstream(BaseHTTPRequestHandler):
    """OpenAI's Images API as a stand-in at ``/<name>/v1/images/generations``; ``fail*`` names answer 500."""

    hits: Counter[str]
    lock: threading.Lock
    bodies: list[dict[str, Any]]

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        name = self.path.strip("/").split("/", 1)[0]
        with self.lock:
            self.hits[name] += 1
            self.bodies.append(body)
        if name.startswith("fail"):
            status = 500
            answer: dict[str, Any] = {
                "error": {
                    "message": "The server had an error while processing your request.",
                    "type": "server_error",
                    "param": None,
                    "code": None,
                }
            }
        else:
            status = 200
            n = int(body.get("n") or 1)
            answer = {"created": 1713833628, "data": [{"b64_json": TINY_PNG_B64} for _ in range(n)]}
        reply(self, status, answer)

    def log_message(self, format: str, *args: Any) -> None:
        return


class Upstream:
    """The stand-in provider while the ``with`` block runs: ``url(name)`` is a deployment's api_base."""

    def __enter__(self) -> Upstream:
        self.handler: type[_Upstream] = type(
            "Upstream", (_Upstream,), {"hits": Counter(), "lock": threading.Lock(), "bodies": []}
        )
        self._context = local_server(self.handler)
        self.base = self._context.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._context.__exit__(None, None, None)

    def url(self, name: str) -> str:
        return f"{self.base}/{name}/v1"

    @property
    def hits(self) -> Counter[str]:
        return self.handler.hits


def deployment(name: str, upstream: Upstream, deployment_id: str, **params: Any) -> dict[str, Any]:
    return {
        "model_name": name,
        "litellm_params": {
            "model": "openai/gpt-image-1",
            "api_base": upstream.url(deployment_id),
            "api_key": UPSTREAM_KEY,
            **params,
        },
        "model_info": {"id": deployment_id},
    }


class GatewayProcess:
    """``pixmux serve`` as a real process (``--workers N``) on a free port."""

    def __init__(self, config: dict[str, Any], directory: Path, *, workers: int = 1, name: str = "gw") -> None:
        self.path = directory / f"{name}.yaml"
        self.path.write_text(yaml.safe_dump(config))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = directory / f"{name}.log"
        self.workers = workers
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> GatewayProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PROMETHEUS_"))}
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "pixmux.proxy.cli", "--config", str(self.path), *self._options()],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + 60  # a loaded machine starts slowly
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"the gateway exited: {self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/health/liveliness", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"the gateway did not start: {self.log.read_text()}")
            time.sleep(0.05)
        if self.workers > 1:
            self._wait_workers()
        return self

    def _options(self) -> list[str]:
        return ["--port", str(self.port), "--workers", str(self.workers), "--shutdown-timeout", "5"]

    def _wait_workers(self) -> None:
        """Every worker has started (each logs its ready line) before the test sends traffic."""
        deadline = time.monotonic() + 60  # a loaded machine starts slowly
        while self.log.read_text().count("pixmux gateway") < self.workers:
            if time.monotonic() > deadline:
                raise AssertionError(f"not every worker started: {self.log.read_text()}")
            time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def generate(self, client: httpx.Client, model: str = "img", prompt: str = "an otter") -> httpx.Response:
        return client.post(
            f"{self.url}/v1/images/generations",
            json={"model": model, "prompt": prompt},
            headers={"Authorization": f"Bearer {MASTER_KEY}"},
            timeout=30,
        )


def gateway_config(
    model_list: list[dict[str, Any]], redis_url: str | None, *, json_logs: bool = False, **general: Any
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "model_list": model_list,
        "general_settings": {"master_key": MASTER_KEY, **general},
        "router_settings": {"num_retries": 1},
    }
    if json_logs:
        config["litellm_settings"] = {"json_logs": True}
    if redis_url is not None:
        config["router_settings"]["redis_url"] = redis_url
    return config


def b64_image() -> str:
    return TINY_PNG_B64


def decoded_image() -> bytes:
    return base64.b64decode(TINY_PNG_B64)
