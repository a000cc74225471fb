"""
A third-party provider, installed as its own distribution, works with no change to pixmux.

The test writes what ``pip install pixmux-fake`` would leave in site-packages (a
``pixmux_fake-1.0.dist-info`` with METADATA and entry_points.txt, and the plugin module) into a
temporary directory, puts it on ``sys.path`` of a fresh interpreter, and calls
``model="fake/x"`` there, sync and async, against a server on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from pixmux.testing import TINY_PNG_B64, local_server, reply

PLUGIN = '''
"""pixmux-fake: a third-party provider with its own wire format."""
from __future__ import annotations

import httpx

from pixmux import hookimpl
from pixmux.catalogue import Catalogue, ModelInfo, check_request
from pixmux.exceptions import error_from_response
from pixmux.types import ImageObject, ImageResponse

CATALOGUE = Catalogue(
    provider="fake",
    models={"x": ModelInfo(name="x", sizes=frozenset({"64x64"}), max_n=2)},
    env={"api_key": ("FAKE_API_KEY",), "api_base": ("FAKE_API_BASE",)},
)


@hookimpl
def model_catalogue():
    """One model, ``x``."""
    return CATALOGUE


@hookimpl
def validate_params(request, model):
    """The catalogue's checks."""
    check_request(request, model, provider="fake")


@hookimpl
def build_request(request, deployment):
    """POST {api_base}/render with the key in X-Fake-Key."""
    return httpx.Request(
        "POST",
        f"{deployment.api_base}/render",
        headers={"X-Fake-Key": deployment.api_key or ""},
        json={"text": request.prompt, "count": request.n or 1, "dims": request.size},
    )


@hookimpl
def parse_response(response):
    """Pictures in, ImageObjects out."""
    if response.is_error:
        raise error_from_response(response, provider="fake")
    body = response.json()
    return ImageResponse(created=body["ts"], data=tuple(ImageObject(b64_json=p) for p in body["pictures"]))
'''

CALLER = """
import asyncio, json, sys
import pixmux

out = {"before": sorted(m for m in sys.modules if m.startswith("pixmux_"))}
resp = pixmux.image_generation(prompt="an otter", model="fake/x", size="64x64", n=2)
out["sync"] = resp.to_dict()
out["provider"] = resp.metadata["provider"]
aresp = asyncio.run(pixmux.aimage_generation(prompt="an otter", model="fake/x"))
out["async"] = aresp.to_dict()
try:
    pixmux.image_generation(prompt="an otter", model="fake/x", size="4096x4096")
except pixmux.UnsupportedParamsError as exc:
    out["refused"] = [exc.param, exc.provider]
try:
    pixmux.image_generation(prompt="an otter", model="nosuch/x")
except pixmux.ProviderNotFoundError as exc:
    out["not_found"] = str(exc)
out["after"] = sorted(m for m in sys.modules if m.startswith("pixmux_"))
print(json.dumps(out))
"""


class _Render(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Render.seen.append({"path": self.path, "key": self.headers.get("X-Fake-Key"), "body": body})
        reply(self, 200, {"ts": 1_700_000_000, "pictures": [TINY_PNG_B64] * body["count"]})

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def render_server() -> Iterator[str]:
    """The fake provider's API on 127.0.0.1."""
    _Render.seen = []
    with local_server(_Render) as url:
        yield url


def install_fake_distribution(site: Path) -> None:
    """Write what pip would install for ``pixmux-fake``: its dist-info and its module."""
    info = site / "pixmux_fake-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pixmux-fake\nVersion: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[pixmux.providers]\nfake = pixmux_fake\n", encoding="utf-8")
    (info / "RECORD").write_text("pixmux_fake.py,,\n", encoding="utf-8")
    (site / "pixmux_fake.py").write_text(textwrap.dedent(PLUGIN), encoding="utf-8")


def run_with_site(site: Path, code: str, env: dict[str, str]) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter with ``site`` on its path; return the JSON it prints."""
    environ = {**os.environ, **env, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environ, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def test_discovery_installed_third_party_provider_serves_its_model_strings(tmp_path: Path, render_server: str) -> None:
    """``pixmux-fake`` with an entry point makes ``model="fake/x"`` work, sync and async, with no pixmux change."""
    install_fake_distribution(tmp_path)

    out = run_with_site(tmp_path, CALLER, {"FAKE_API_KEY": "fk-123", "FAKE_API_BASE": render_server})

    assert out["before"] == []
    assert out["provider"] == "fake"
    assert len(out["sync"]["data"]) == 2
    assert out["async"]["data"] == [{"b64_json": TINY_PNG_B64}]
    assert out["refused"] == ["size", "fake"]
    assert "fake" in out["not_found"]
    assert "pip install pixmux-nosuch" in out["not_found"]
    assert out["after"] == ["pixmux_fake"]
    assert _Render.seen == [
        {"path": "/render", "key": "fk-123", "body": {"text": "an otter", "count": 2, "dims": "64x64"}},
        {"path": "/render", "key": "fk-123", "body": {"text": "an otter", "count": 1, "dims": None}},
    ]


def test_discovery_third_party_provider_is_listed_without_being_imported(tmp_path: Path) -> None:
    """The installed distribution shows in the registry (name, distribution, version) before any import."""
    install_fake_distribution(tmp_path)
    code = """
import json, sys
import pixmux
found = pixmux.Engine().registry.available()["fake"]
print(json.dumps({"dist": found.distribution, "version": found.version, "imported": "pixmux_fake" in sys.modules}))
"""

    out = run_with_site(tmp_path, code, {})

    assert out == {"dist": "pixmux-fake", "version": "1.0", "imported": False}
