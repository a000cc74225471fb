"""
A third-party plugin with only the DESIGN.md contract (validate_params, build_request,
parse_response) and no model_catalogue works: installed as a real distribution into a fresh
virtual environment, found through its entry point, called through pixmux.image_generation.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from pixmux.testing import TINY_PNG_B64, local_server, reply

CORE = Path(__file__).resolve().parents[1] / "core"

PYPROJECT = """
[project]
name = "pixmux-minimal"
version = "0.1.0"
dependencies = ["pixmux"]

[project.entry-points."pixmux.providers"]
minimal = "pixmux_minimal"

[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[tool.hatch.build.targets.wheel]
packages = ["src/pixmux_minimal"]
"""

PLUGIN = '''
"""A provider with the three-hook contract only."""
import httpx
from pixmux import hookimpl
from pixmux.exceptions import UnsupportedParamsError, error_from_response
from pixmux.types import ImageObject, ImageResponse


@hookimpl
def validate_params(request):
    """Refuses one thing, so validation is seen to run."""
    if request.params.get("forbidden") is not None:
        raise UnsupportedParamsError("forbidden is not supported", provider="minimal", param="forbidden")


@hookimpl
def build_request(request, deployment):
    """POST the prompt."""
    body = {"model": deployment.model, "prompt": request.prompt, "n": request.n}
    return httpx.Request("POST", f"{deployment.api_base}/make", json=body)


@hookimpl
def parse_response(response):
    """The body's images."""
    if response.is_error:
        raise error_from_response(response, provider="minimal")
    body = response.json()
    return ImageResponse(created=body["created"], data=tuple(ImageObject(b64_json=b) for b in body["images"]))
'''

SCRIPT = """
import json, sys, warnings
import pixmux
warnings.simplefilter("error")
resp = pixmux.image_generation(prompt="otter", model="minimal/anything-v2", n=2, size="999x1", api_base=sys.argv[1])
try:
    pixmux.image_generation(prompt="otter", model="minimal/m", api_base=sys.argv[1], forbidden=1)
    refused = None
except pixmux.UnsupportedParamsError as exc:
    refused = exc.param
facts = {"images": len(resp.data), "cost": resp.cost, "provider": resp.metadata["provider"], "refused": refused}
print(json.dumps(facts))
"""


def test_a_plugin_without_model_catalogue_works_when_installed(tmp_path: Path) -> None:
    """Unknown models, permissive validation (any size), the plugin's own checks, cost None."""
    uv = shutil.which("uv")
    if uv is None:
        if os.environ.get("CI") == "true":
            pytest.fail("uv is needed to build the temporary environment")
        pytest.skip("uv is not installed")
    source = tmp_path / "pixmux-minimal"
    (source / "src" / "pixmux_minimal").mkdir(parents=True)
    (source / "pyproject.toml").write_text(PYPROJECT)
    (source / "src" / "pixmux_minimal" / "__init__.py").write_text(textwrap.dedent(PLUGIN))
    venv = tmp_path / "venv"

    def sh(*command: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "VIRTUAL_ENV": str(venv)}
        return subprocess.run(list(command), capture_output=True, text=True, timeout=300, check=False, env=env)

    made = sh(uv, "venv", "--offline", "--python", sys.executable, str(venv))
    assert made.returncode == 0, made.stderr
    python = str(venv / "bin" / "python")
    installed = sh(uv, "pip", "install", "--offline", "--python", python, str(CORE), str(source))
    assert installed.returncode == 0, installed.stderr

    class Images(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            reply(self, 200, {"created": 1, "images": [TINY_PNG_B64, TINY_PNG_B64]})

        def log_message(self, *args: object) -> None:
            return None

    with local_server(Images) as base:
        result = sh(python, "-c", SCRIPT, base)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"images": 2, "cost": None, "provider": "minimal", "refused": "forbidden"}
