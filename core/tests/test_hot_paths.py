"""The engine's fast paths give the same results as the long ways round."""

from __future__ import annotations

import asyncio
import base64
import gzip
import http.server
import json
import os
from typing import Any

import httpx
import pytest
from pixmux import hookimpl
from pixmux.converters import loads_json
from pixmux.router import Router
from pixmux.testing import TINY_PNG_B64, make_engine, reply
from pixmux.types import ImageRequest

BIG_BYTES = 64 * 1024
BIG = base64.b64encode(os.urandom(BIG_BYTES)).decode()


def test_engine_auth_cache_ignores_the_call_timeout(make_fake: Any, ok_handler: Any) -> None:
    """Calls that differ only in their timeout share one cached credential."""
    provider = make_fake(tokens_expire_in=3600)
    engine = make_engine(provider, handler=ok_handler)

    tokens = set()
    for timeout in (30, 31.5, 600):
        engine.image_generation("otter", model="fake/m1", api_key="k", timeout=timeout)
        tokens.add(engine.requests[-1].headers["authorization"])

    assert provider.calls.count("resolve_auth") == 1
    assert tokens == {"Bearer tok-1-SECRET"}


def test_router_routed_calls_resolve_auth_once(make_fake: Any, ok_handler: Any) -> None:
    """The router gives each attempt the time left as its timeout; credentials are still resolved once."""
    provider = make_fake(tokens_expire_in=3600)
    engine = make_engine(provider, handler=ok_handler)
    router = Router([{"model_name": "m", "litellm_params": {"model": "fake/m1", "api_key": "k"}}], engine=engine)

    async def main() -> None:
        for _ in range(5):
            await router.aimage_generation("otter", model="m")

    asyncio.run(main())

    assert provider.calls.count("resolve_auth") == 1


def test_engine_forget_auth_drops_the_credential_whatever_the_timeout(make_fake: Any, ok_handler: Any) -> None:
    """forget_auth with a deployment of any timeout drops its cached credential."""
    provider = make_fake(tokens_expire_in=3600)
    engine = make_engine(provider, handler=ok_handler)
    engine.image_generation("otter", model="fake/m1", api_key="k", timeout=30)
    call = engine.prepare(prompt="otter", model="fake/m1", api_key="k", timeout=99)

    engine.forget_auth(call.deployment)
    engine.image_generation("otter", model="fake/m1", api_key="k", timeout=30)

    assert provider.calls.count("resolve_auth") == 2


def test_engine_single_hook_gets_only_the_arguments_it_requires(make_fake: Any, ok_handler: Any) -> None:
    """A lone hookimpl is called as pluggy would: parameters with defaults keep them."""

    class Defaults(make_fake):  # type: ignore[misc]
        @hookimpl
        def build_request(
            self, request: ImageRequest, deployment: Any, auth: Any, model: Any = "not given"
        ) -> httpx.Request:
            """Records whether a parameter with a default is passed (pluggy passes only required ones)."""
            self.calls.append(f"build_request model={model}")
            return httpx.Request("POST", "https://fake.invalid/v1/generate", json={"n": request.n or 1})

    provider = Defaults()
    engine = make_engine(provider, handler=ok_handler)

    engine.image_generation("otter", model="fake/m1", api_key="k")

    assert "build_request model=not given" in provider.calls


class _Override:
    """An extension that answers build_request itself for one prompt (a second, plain implementation)."""

    @hookimpl(tryfirst=True)
    def build_request(self, request: ImageRequest) -> httpx.Request | None:
        if request.prompt != "divert":
            return None
        return httpx.Request("POST", "https://elsewhere.invalid/generate", json={"n": 1})


def test_engine_extension_implementation_still_runs(fake: Any, ok_handler: Any) -> None:
    """With a second implementation of a hook, pluggy decides (first non-None result wins)."""
    engine = make_engine(fake, handler=ok_handler, extensions=[_Override()])

    engine.image_generation("divert", model="fake/m1", api_key="k")
    engine.image_generation("otter", model="fake/m1", api_key="k")

    assert [request.url.host for request in engine.requests] == ["elsewhere.invalid", "fake.invalid"]


def test_engine_async_client_is_per_event_loop(fake: Any, ok_handler: Any) -> None:
    """Calls on one loop share its client; a later loop gets a new, working one."""
    engine = make_engine(fake, handler=ok_handler)

    async def clients() -> tuple[Any, Any]:
        first = engine.async_transport()
        await engine.aimage_generation("otter", model="fake/m1", api_key="k")
        return first, engine.async_transport()

    first, again = asyncio.run(clients())
    later, _ = asyncio.run(clients())

    assert first is again
    assert later is not first
    assert first.closed  # closed when its loop shut down
    assert len(engine.requests) == 2


@pytest.mark.parametrize(
    "text",
    [
        json.dumps({"a": BIG, "big": 2**70, "neg": -(2**64), "f": 1.5}),
        json.dumps({"a": BIG, "x": [1, 2.25, None, True, False], "s": "é\u2028"}, ensure_ascii=False),
        json.dumps({"a": BIG, "lone": "\ud800"}),
        json.dumps({"a": BIG, "dup": 1, "dup ": 2}).replace('"dup "', '"dup"'),
        json.dumps({"a": BIG})[:-1] + ', "nan": NaN, "inf": Infinity}',
        json.dumps({"a": BIG, "huge": 1e300, "tiny": 5e-324}),
    ],
)
def test_loads_json_is_the_json_module(text: str) -> None:
    """Big and small bodies read to exactly what json.loads gives, exotic numbers and strings included."""
    for body in (text, text.replace(BIG, "otter")):
        for encoding in ("utf-8", "utf-16"):
            content = body.encode(encoding)

            assert repr(loads_json(content)) == repr(json.loads(content))


@pytest.mark.parametrize(
    "content",
    [
        b'{"a": "' + b"x" * BIG_BYTES + b'\x01"}',
        b'{"a": "' + b"x" * BIG_BYTES,
        b"\xff" * BIG_BYTES,
        b'{"a": "x\x01"}',
        b'{"a": [1, 2',
        b"\xff",
        b"",
    ],
)
def test_loads_json_refuses_what_json_refuses(content: bytes) -> None:
    """A body that is not JSON, big or small, raises the json module's error."""
    try:
        json.loads(content)
    except ValueError as exc:
        theirs = exc
    with pytest.raises(type(theirs)) as ours:
        loads_json(content)

    assert str(ours.value) == str(theirs)


class _ImagesHandler(http.server.BaseHTTPRequestHandler):
    """Answers POST /generate with images; gzip when asked by path; sets a cookie; echoes what it got."""

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        sent = json.loads(self.rfile.read(length))
        body = {
            "created": 1_700_000_000,
            "images": [{"b64": TINY_PNG_B64}],
            "echo": {"cookie": self.headers.get("cookie"), "prompt": sent.get("prompt")},
        }
        raw = json.dumps(body).encode()
        headers = {"set-cookie": "session=from-provider; Path=/", "x-provider-header": "kept"}
        if self.path.endswith("/gz/generate"):
            raw = gzip.compress(raw)
            headers["content-encoding"] = "gzip"
        reply(self, 200, raw, headers=headers)

    def log_message(self, *args: Any) -> None:
        return None
