"""
Helpers for the virtual-key tests: a real PostgreSQL server for the session, a fresh database
(SQLite file or PostgreSQL database) per test, and gateway configs with accounting on.

The server is Debian's ``postgresql`` (binaries under ``/usr/lib/postgresql/*/bin``), started
with ``initdb`` in a temp dir on a free 127.0.0.1 port, password authentication (scram), and
stopped at the end. Run as root, it runs as the ``postgres`` user. Under ``CI=true`` a missing
server fails the test instead of skipping it.
"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gateway_support import UPSTREAM_KEY, free_port

PG_USER = "pixmux"
PG_PASSWORD = "pg-secret-password-4711"


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is needed under CI=true: {reason}")
    pytest.skip(reason)


class PostgresServer:
    """A throwaway PostgreSQL server: ``url(name)`` for a database on it, ``create()`` for a new one."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="pixmux-pg-"))
        self.data = self.root / "data"
        self.sock = self.root / "sock"
        self.sock.mkdir()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            # root's PATH may lack /usr/sbin (a minimal shell): find runuser where Debian puts it
            runuser = shutil.which("runuser") or next(
                (path for path in ("/usr/sbin/runuser", "/sbin/runuser") if os.path.exists(path)), "runuser"
            )
            self.as_user = [runuser, "-u", "postgres", "--"]
            shutil.chown(self.root, "postgres")
            shutil.chown(self.sock, "postgres")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        pwfile = self.root / "pw"
        pwfile.write_text(PG_PASSWORD)
        if self.as_user:
            shutil.chown(pwfile, "postgres")
        subprocess.run(
            [
                *self.as_user,
                str(self.bindir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                PG_USER,
                f"--pwfile={pwfile}",
                "-A",
                "scram-sha-256",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
        )
        self.start_again()

    def start_again(self) -> None:
        """Start the server on its data folder and port (after :meth:`start`, and a stop)."""
        self.process = subprocess.Popen(
            [
                *self.as_user,
                str(self.bindir / "postgres"),
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-k",
                str(self.sock),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "max_connections=200",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready = subprocess.run(
                [str(self.bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
                check=False,
            )
            if ready.returncode == 0:
                return
            if self.process.poll() is not None:
                raise RuntimeError("postgres exited at start")
            time.sleep(0.1)
        raise RuntimeError("postgres did not become ready")

    def halt(self) -> None:
        """Stop the server now (fast shutdown: clients are disconnected), keeping its data."""
        subprocess.run(
            [*self.as_user, str(self.bindir / "pg_ctl"), "-D", str(self.data), "stop", "-m", "fast", "-w"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        if self.process is not None:
            self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.halt()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres", *, password: str = PG_PASSWORD) -> str:
        return f"postgresql://{PG_USER}:{password}@127.0.0.1:{self.port}/{database}"

    def create(self) -> str:
        """A new, empty database; returns its URL."""
        import asyncpg

        name = "t_" + uuid.uuid4().hex[:12]

        async def run() -> None:
            conn = await asyncpg.connect(self.url())
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        asyncio.run(run())
        return self.url(name)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bindir = _pg_bin()
    if bindir is None:
        _missing("Debian's postgresql is not installed (no /usr/lib/postgresql/*/bin/initdb)")
    assert bindir is not None
    server = PostgresServer(bindir)
    try:
        server.start()
    except (OSError, subprocess.CalledProcessError, RuntimeError) as exc:
        server.stop()
        _missing(f"could not start PostgreSQL: {exc}")
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database for one test: a SQLite file, or a new database on the session's PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'pixmux.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create()


def keys_config(
    database_url: str,
    api_base: str = "http://upstream.test/v1",
    *,
    master_key: str = "sk-gateway-master-key",
    journal: Path | None = None,
    **general: Any,
) -> dict[str, Any]:
    """A config with accounting on: ``img`` is gpt-image-1 ($0.167 an image at its defaults), ``sd`` has no price."""
    settings: dict[str, Any] = {
        "master_key": master_key,
        "database_url": database_url,
        "proxy_batch_write_at": 0.05,
        **general,
    }
    if journal is not None:
        settings["spend_journal_dir"] = str(journal)
    return {
        "model_list": [
            {
                "model_name": "img",
                "litellm_params": {"model": "openai/gpt-image-1", "api_base": api_base, "api_key": UPSTREAM_KEY},
                "model_info": {"id": "img-1"},
            },
            {
                "model_name": "sd",
                "litellm_params": {"model": "openai/sd-xl", "api_base": api_base, "api_key": UPSTREAM_KEY},
            },
        ],
        "router_settings": {"num_retries": 0},
        "general_settings": settings,
    }


#: What one default gpt-image-1 image costs (1024x1024, high), in dollars.
IMAGE_PRICE = 0.167
