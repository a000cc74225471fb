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
from pixmux.testing import TINY_PNG_B64, local_server, make_engine
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

    async def clients() -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
        first = engine.async_client()
        await engine.aimage_generation("otter", model="fake/m1", api_key="k")
        return first, engine.async_client()

    first, again = asyncio.run(clients())
    later, _ = asyncio.run(clients())

    assert first is again
    assert later is not first
    assert first.is_closed  # closed when its loop shut down
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
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("set-cookie", "session=from-provider; Path=/")
        self.send_header("x-provider-header", "kept")
        if self.path.endswith("/gz/generate"):
            raw = gzip.compress(raw)
            self.send_header("content-encoding", "gzip")
        self.send_header("content-length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: Any) -> None:
        return None


@pytest.mark.parametrize("path", ["/v1", "/gz/v1"])
def test_aiohttp_transport_reads_whole_bodies_and_keeps_no_cookies(path: str, make_fake: Any) -> None:
    """Plain and gzip bodies arrive decoded, headers kept; a cookie one response sets is never sent back."""
    pytest.importorskip("httpx_aiohttp")
    from pixmux._aiohttp import WholeBodyAiohttpTransport
    from pixmux._engine import Engine

    provider = make_fake()
    seen: list[httpx.Response] = []

    class Spy(make_fake):  # type: ignore[misc]
        @hookimpl
        def parse_response(self, response: httpx.Response, request: ImageRequest) -> Any:
            seen.append(response)
            return provider.parse_response(response, request)

    async def main(base: str) -> list[Any]:
        api_base = base.replace("127.0.0.1", "localhost") + path  # aiohttp's jar would ignore cookies of an IP
        engine = Engine(plugins={"fake": Spy()}, async_transport=WholeBodyAiohttpTransport(), environ={})
        try:
            return [
                await engine.aimage_generation(prompt, model="fake/m1", api_key="k", api_base=api_base)
                for prompt in ("first", "second")
            ]
        finally:
            await engine.aclose()

    with local_server(_ImagesHandler) as base:
        results = asyncio.run(main(base))

    assert [r.data[0].b64_json for r in results] == [TINY_PNG_B64, TINY_PNG_B64]
    assert [response.json()["echo"] for response in seen] == [
        {"cookie": None, "prompt": "first"},
        {"cookie": None, "prompt": "second"},
    ]
    assert all(response.headers["x-provider-header"] == "kept" for response in seen)
    assert seen[0].content == json.dumps(seen[0].json()).encode()


def test_aiohttp_transport_refused_connection_is_a_pixmux_error(fake: Any) -> None:
    """A provider that is not listening gives APIConnectionError, not an aiohttp exception."""
    pytest.importorskip("httpx_aiohttp")
    from pixmux._aiohttp import WholeBodyAiohttpTransport
    from pixmux._engine import Engine
    from pixmux.exceptions import APIConnectionError

    with local_server(_ImagesHandler) as base:
        pass  # the server is gone: its port refuses connections

    async def main() -> None:
        engine = Engine(plugins={"fake": fake}, async_transport=WholeBodyAiohttpTransport(), environ={})
        try:
            await engine.aimage_generation("otter", model="fake/m1", api_key="k", api_base=base, num_retries=0)
        finally:
            await engine.aclose()

    with pytest.raises(APIConnectionError):
        asyncio.run(main())


def test_aiohttp_transport_builds_responses_like_httpx() -> None:
    """The field-by-field response is what httpx's constructor gives: status, headers, body, request, errors."""
    from pixmux._aiohttp import _assembly_fits, _whole_response

    assert _assembly_fits()  # the locked httpx takes the fast path
    request = httpx.Request("POST", "https://images.example/v1/images/generations")
    raw = ((b"Content-Type", b"application/json"), (b"Retry-After", b"7"), (b"x-request-id", b"req_9"))
    body = b'{"error": {"message": "slow down", "type": "rate_limit"}}'

    ours = _whole_response(429, raw, body, request, {"http_version": b"HTTP/1.1", "reason_phrase": b"Too Many"})
    theirs = httpx.Response(429, headers=raw, stream=httpx.ByteStream(body), request=request)
    theirs.read()

    assert (ours.status_code, ours.headers.raw, ours.content, ours.json()) == (
        theirs.status_code,
        theirs.headers.raw,
        theirs.content,
        theirs.json(),
    )
    assert ours.headers["retry-after"] == "7"
    assert ours.reason_phrase == "Too Many"
    assert ours.is_error
    assert ours.request is request
    assert ours.is_closed
    with pytest.raises(httpx.HTTPStatusError):
        ours.raise_for_status()


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer k", "Content-Type": "application/json"},
        [("X-Twice", "a"), ("x-twice", "b"), ("Host", "images.example")],
        [("X-Latin", "caf\u00e9".encode("latin-1"))],
        [("X-Utf8", "\u043a\u043b\u044e\u0447".encode())],
        {},
    ],
)
def test_aiohttp_transport_sends_the_headers_httpx_lists(headers: Any) -> None:
    """The transport hands aiohttp exactly ``multi_items()``: repeats, order, case and non-ASCII values kept."""
    from pixmux._aiohttp import _header_pairs

    request = httpx.Request("POST", "https://images.example/v1/images/generations", headers=headers)

    assert _header_pairs(request.headers) == request.headers.multi_items()


def test_engine_response_copy_keeps_every_field() -> None:
    """The engine's copy of a plugin's response (cost and metadata added) keeps every other field."""
    import attrs
    from pixmux._engine import _with_cost
    from pixmux.types import ImageObject, ImageResponse, Usage

    full = ImageResponse(
        created=5,
        data=(ImageObject(url="https://img.test/a.png"),),
        usage=Usage(input_tokens=1, output_tokens=2, total_tokens=3),
        background="opaque",
        output_format="png",
        quality="high",
        size="1024x1024",
        cost=0.25,
        metadata={"request_id": "req_1"},
    )
    # Every field is set away from its default, so a field added later and not copied shows here.
    assert all(getattr(full, field.name) != field.default for field in attrs.fields(ImageResponse))

    ours = _with_cost(full, 0.5, {"provider": "openai"})

    assert attrs.asdict(ours) == attrs.asdict(attrs.evolve(full, cost=0.5, metadata={"provider": "openai"}))
