"""
Shared fixtures for the core tests: a small but real provider plugin and helpers.

``FakeProvider`` is a provider the way a third party would write one: a catalogue,
``validate_params`` through ``check_request``, an optional ``resolve_auth`` that hands out
expiring tokens, a ``build_request`` that can fan out one request per image, and a
``parse_response`` that can ask for follow-ups (submit, then poll). Its hooks record
every call so tests can see which plugin ran.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pixmux import hookimpl
from pixmux.catalogue import Catalogue, ModelInfo, Price, Pricing, check_request
from pixmux.exceptions import error_from_response
from pixmux.testing import TINY_PNG_B64
from pixmux.types import Auth, Deployment, FollowUp, ImageObject, ImageRequest, ImageResponse, Usage

# core_support.py (the retry and router tests' shared fakes) is importable by every test here.
sys.path.insert(0, str(Path(__file__).parent))

SECRET_KEY = "sk-fake-0123456789-SECRET"


class FakeProvider:
    """
    A provider plugin for tests.

    Args:
        name: the provider name (entry-point name).
        tokens_expire_in: when set, ``resolve_auth`` returns a fresh token valid this many seconds.
        fan_out: one wire request per image instead of one request with ``n``.
        jobs: submit a job, then poll it (``FollowUp``) until the body says ``done``.
        poll_after: seconds the ``FollowUp`` asks the core to wait.
    """

    def __init__(
        self,
        name: str = "fake",
        *,
        tokens_expire_in: float | None = None,
        fan_out: bool = False,
        jobs: bool = False,
        poll_after: float = 0.0,
    ) -> None:
        self.name = name
        self.tokens_expire_in = tokens_expire_in
        self.fan_out = fan_out
        self.jobs = jobs
        self.poll_after = poll_after
        self.calls: list[str] = []
        self.auth_threads: list[tuple[str, bool]] = []
        self._tokens = 0

    @hookimpl
    def model_catalogue(self) -> Catalogue:
        """Two models: ``m1`` (checked) and ``old`` (retired)."""
        self.calls.append("model_catalogue")
        m1 = ModelInfo(
            name="m1",
            sizes=frozenset({"256x256", "512x512"}),
            qualities=frozenset({"standard"}),
            styles=frozenset(),
            response_formats=frozenset({"url", "b64_json"}),
            max_n=4,
            max_prompt_chars=100,
            params=frozenset({"seed", "negative_prompt"}),
            param_ranges={"seed": (0, 1000)},
            pricing=Pricing(
                per_image=(Price(usd=0.02, size="256x256"), Price(usd=0.05, size="512x512")),
                default_size="256x256",
            ),
        )
        old = ModelInfo(name="old", retired="old was shut down on 2020-01-01; use m1")
        return Catalogue(
            provider=self.name,
            models={"m1": m1, "old": old},
            env={
                "api_key": ("FAKE_API_KEY",),
                "api_base": ("FAKE_API_BASE",),
                "fake_region": ("FAKE_REGION", "FAKE_DEFAULT_REGION"),
            },
            settings=frozenset({"fake_region", "fake_credentials"}),
            default_api_base="https://fake.invalid/v1",
        )

    @hookimpl
    def validate_params(self, request: ImageRequest, model: ModelInfo) -> None:
        """The catalogue's checks."""
        self.calls.append("validate_params")
        check_request(request, model, provider=self.name)

    @hookimpl
    def resolve_auth(self, deployment: Deployment) -> Auth | None:
        """A new token each time, when tokens are on."""
        self.calls.append("resolve_auth")
        try:
            asyncio.get_running_loop()
            on_loop = True
        except RuntimeError:
            on_loop = False
        self.auth_threads.append((threading.current_thread().name, on_loop))
        if self.tokens_expire_in is None:
            return None
        self._tokens += 1
        return Auth(value=f"tok-{self._tokens}-SECRET", expires_at=time.time() + self.tokens_expire_in)

    @hookimpl
    def build_request(
        self, request: ImageRequest, deployment: Deployment, auth: Auth | None
    ) -> httpx.Request | list[httpx.Request]:
        """POST ``{api_base}/generate`` (or ``/jobs``) with the key or token as a bearer."""
        self.calls.append("build_request")
        base = (deployment.api_base or "https://fake.invalid/v1").rstrip("/")
        secret = auth.value if auth is not None else deployment.api_key
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        body: dict[str, Any] = {"prompt": request.prompt, **request.params}
        for name in ("size", "quality", "response_format"):
            if request.get(name) is not None:
                body[name] = request.get(name)
        if deployment.setting("fake_region"):
            headers["X-Region"] = str(deployment.setting("fake_region"))
        path = "/jobs" if self.jobs else "/generate"
        if self.fan_out and (request.n or 1) > 1:
            return [
                httpx.Request("POST", f"{base}{path}", headers=headers, json={**body, "n": 1, "index": index})
                for index in range(request.n or 1)
            ]
        return httpx.Request("POST", f"{base}{path}", headers=headers, json={**body, "n": request.n or 1})

    @hookimpl
    def parse_response(self, response: httpx.Response, request: ImageRequest) -> ImageResponse | FollowUp:
        """Errors by status; a job is polled until done; the body's images become ImageObjects."""
        self.calls.append("parse_response")
        if response.is_error:
            raise error_from_response(response, provider=self.name)
        body = response.json()
        if body.get("status") in ("queued", "running"):
            poll = httpx.Request("GET", str(response.request.url.join(f"/v1/jobs/{body['id']}")))
            return FollowUp(request=poll, after=self.poll_after)
        images = tuple(ImageObject(b64_json=item.get("b64"), url=item.get("url")) for item in body["images"])
        usage = body.get("usage")
        return ImageResponse(
            created=body["created"],
            data=images,
            usage=Usage(input_tokens=usage["in"], output_tokens=usage["out"], total_tokens=usage["in"] + usage["out"])
            if usage
            else None,
            size=request.size,
            metadata={"seeds": [body.get("seed", 0)]},
        )


def images_body(count: int = 1, **extra: Any) -> dict[str, Any]:
    """A success body in the fake provider's shape."""
    return {"created": 1_700_000_000, "images": [{"b64": TINY_PNG_B64} for _ in range(count)], **extra}


@pytest.fixture
def fake() -> FakeProvider:
    """A fresh fake provider named ``fake``."""
    return FakeProvider()


@pytest.fixture
def make_fake() -> Callable[..., FakeProvider]:
    """Build a fake provider with options (``FakeProvider``'s arguments)."""
    return FakeProvider


@pytest.fixture
def body() -> Callable[..., dict[str, Any]]:
    """Build a success body in the fake provider's shape (``images_body``)."""
    return images_body


@pytest.fixture
def ok_handler() -> Callable[[httpx.Request], httpx.Response]:
    """A handler answering every request with as many images as the body's ``n``."""

    def handler(request: httpx.Request) -> httpx.Response:
        import json

        n = json.loads(request.content).get("n", 1) if request.content else 1
        return httpx.Response(200, json=images_body(n))

    return handler


def never(request: httpx.Request) -> httpx.Response:
    """A handler for calls that must not reach the network."""
    raise AssertionError(f"unexpected request to {request.url}")


@pytest.fixture
def no_network() -> Callable[[httpx.Request], httpx.Response]:
    """A handler that fails the test if any request is sent."""
    return never


@pytest.fixture
def restore_default_engine() -> Iterator[None]:
    """Put the process-wide engine back after a test that replaced it."""
    from pixmux import set_default_engine

    previous = set_default_engine(None)
    try:
        yield
    finally:
        set_default_engine(previous)
