"""
A local OpenAI-compatible image server for driving the ``pixmux`` command as a user would.

It answers ``POST /v1/images/generations`` with bodies shaped exactly like OpenAI's
``ImagesResponse`` (and OpenAI's error body on failures), and serves the images it hands out
as URLs under ``GET /files/``. Images are real files made with Pillow, in the format the
request asked for. What it does depends on the prompt, so each test picks its case in words:

- ``refuse``: 400 ``content_policy_violation``, as OpenAI refuses a prompt;
- ``busy``: 429 ``rate_limit_exceeded`` with ``Retry-After: 7``;
- ``garbage``: 200 with an HTML body (a broken proxy in front of the provider);
- an ``Authorization`` of ``Bearer sk-wrong...``: 401 that echoes the key back in full.
"""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import attrs
import pytest
from PIL import Image
from pixmux.testing import local_server, reply

_CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


def make_image(fmt: str, size: tuple[int, int] = (8, 8)) -> bytes:
    """A real image of ``size`` in ``fmt`` (png, jpeg or webp)."""
    buffer = io.BytesIO()
    Image.new("RGB", size, (23, 140, 200)).save(buffer, format=fmt.upper())
    return buffer.getvalue()


@attrs.define
class Seen:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


@attrs.define
class MockOpenAI:
    """The running server: its base URL (``…/v1``, as ``--api-base`` takes it) and what it received."""

    url: str
    origin: str
    seen: list[Seen] = attrs.field(factory=list)
    images: dict[str, bytes] = attrs.field(factory=dict)

    def generations(self) -> list[Seen]:
        """The image-generation requests received, in order."""
        return [item for item in self.seen if item.path == "/v1/images/generations"]


def _error(code: str, message: str, *, kind: str = "invalid_request_error", param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


class _Handler(BaseHTTPRequestHandler):
    server_version = "mock-openai/1.0"
    state: MockOpenAI  # set on the class built per server

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: pytest shows failures, not access logs."""

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        reply(
            self, status, body, content_type=content_type, headers={"x-request-id": "req_mock_123", **(headers or {})}
        )

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers)

    def do_GET(self) -> None:
        """Serve an image handed out as a URL."""
        self.state.seen.append(Seen("GET", self.path, dict(self.headers.items()), None))
        data = self.state.images.get(self.path)
        if data is None:
            self._json(404, _error("not_found", f"no file at {self.path}"))
            return
        self._send(200, data, _CONTENT_TYPES[self.path.rsplit(".", 1)[-1]])

    def do_POST(self) -> None:
        """Answer an image generation the way OpenAI does."""
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw.decode(errors="replace")
        self.state.seen.append(Seen("POST", self.path, dict(self.headers.items()), body))
        if self.path in ("/v1/images/edits", "/v1/images/variations"):  # multipart: the raw body is kept
            self.state.seen[-1].body = raw
            self._json(
                200, {"created": int(time.time()), "data": [{"b64_json": base64.b64encode(make_image("png")).decode()}]}
            )
            return
        if self.path != "/v1/images/generations":
            self._json(404, _error("unknown_url", f"Invalid URL (POST {self.path})"))
            return
        if not isinstance(body, dict) or "prompt" not in body:
            self._json(
                400, _error("missing_required_parameter", "Missing required parameter: 'prompt'.", param="prompt")
            )
            return
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer sk-wrong"):
            key = auth.removeprefix("Bearer ")
            self._json(
                401, _error("invalid_api_key", f"Incorrect API key provided: {key}.", kind="invalid_request_error")
            )
            return
        prompt = str(body["prompt"])
        if "refuse" in prompt:
            self._json(
                400,
                _error(
                    "content_policy_violation",
                    "Your request was rejected as a result of our safety system. Your prompt may contain text "
                    "that is not allowed by our safety system.",
                ),
            )
            return
        if "busy" in prompt:
            self._json(
                429,
                _error("rate_limit_exceeded", "Rate limit reached for images per minute.", kind="requests"),
                {"Retry-After": "7"},
            )
            return
        if "garbage" in prompt:
            self._send(200, b"<html><body>upstream proxy error</body></html>", "text/html")
            return
        self._json(200, self._images(body))

    def _images(self, body: dict[str, Any]) -> dict[str, Any]:
        model = str(body.get("model", ""))
        fmt = str(body.get("output_format", "png"))
        count = int(body.get("n") or 1)
        data: list[dict[str, Any]] = []
        for index in range(count):
            image = make_image(fmt)
            if body.get("response_format") == "url":
                path = f"/files/{len(self.state.images)}-{index}.{fmt}"
                self.state.images[path] = image
                item: dict[str, Any] = {"url": f"{self.state.origin}{path}"}
            else:
                item = {"b64_json": base64.b64encode(image).decode()}
            if model == "dall-e-3":
                item["revised_prompt"] = f"A detailed rendering of {body['prompt']}"
            data.append(item)
        payload: dict[str, Any] = {"created": int(time.time()), "data": data}
        if model.startswith("gpt-image"):
            payload.update(
                background=body.get("background", "opaque"),
                output_format=fmt,
                quality=body.get("quality", "medium"),
                size=body.get("size", "1024x1024"),
                usage={
                    "input_tokens": 12,
                    "input_tokens_details": {"text_tokens": 12, "image_tokens": 0},
                    "output_tokens": 1056 * count,
                    "total_tokens": 12 + 1056 * count,
                },
            )
        return payload


@pytest.fixture(scope="session")
def _server() -> Iterator[MockOpenAI]:
    handler: type[_Handler] = type("Handler", (_Handler,), {})
    with local_server(handler) as origin:
        handler.state = MockOpenAI(url=f"{origin}/v1", origin=origin)
        yield handler.state


@pytest.fixture
def openai_server(_server: MockOpenAI) -> MockOpenAI:
    """The local OpenAI-compatible server, with its record of requests cleared for this test."""
    _server.seen.clear()
    return _server


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Any:
    """No real credentials in the environment, and the working directory is a fresh folder."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_BASE", "OPENAI_ORG_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path
