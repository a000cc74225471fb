"""The engine's I/O: timeouts, follow-ups, fan-out, auth caching, unreadable bodies, clients per loop."""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import attrs
import httpx
import pytest
from pixmux import (
    APIConnectionError,
    APIResponseValidationError,
    AuthenticationError,
    Engine,
    InternalServerError,
    Timeout,
    hookimpl,
    testing,
)
from pixmux._engine import AUTH_MARGIN
from pixmux._exchange import MAX_FOLLOW_UPS
from pixmux.testing import TINY_PNG_B64, make_engine

# --------------------------------------------------------------------------- timeouts


def test_timeout_reaches_the_transport(fake: Any, body: Any) -> None:
    """The call's timeout is set on the request the transport sees, and never more than it."""
    seen: list[dict[str, float]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(200, json=body())

    engine = make_engine(fake, handler=handler)

    engine.image_generation(prompt="otter", model="fake/m1", timeout=7)

    assert len(seen) == 1
    assert all(0 < value <= 7 for value in seen[0].values())


def test_timeout_from_the_transport_is_a_timeout_error(fake: Any) -> None:
    """An httpx timeout becomes pixmux.Timeout (status 408) naming the provider."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("read timed out", request=request)

    engine = make_engine(fake, handler=handler)

    with pytest.raises(Timeout) as caught:
        engine.image_generation(prompt="otter", model="fake/m1", timeout=3, num_retries=0)

    assert caught.value.status_code == 408
    assert caught.value.provider == "fake"
    assert "3s" in str(caught.value)


def test_timeout_connection_failure_is_an_api_connection_error(fake: Any) -> None:
    """A refused connection becomes APIConnectionError, not a raw httpx error."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    engine = make_engine(fake, handler=handler)

    with pytest.raises(APIConnectionError) as caught:
        engine.image_generation(prompt="otter", model="fake/m1", num_retries=0)

    assert not isinstance(caught.value, Timeout)
    assert "connection refused" in str(caught.value)


def job_handler(
    body: Callable[..., dict[str, Any]], polls_before_done: int
) -> Callable[[httpx.Request], httpx.Response]:
    """A submit-then-poll server: the job is done after ``polls_before_done`` polls."""
    polls = {"count": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(202, json={"id": "job-1", "status": "queued"})
        polls["count"] += 1
        if polls["count"] < polls_before_done:
            return httpx.Response(200, json={"id": "job-1", "status": "running"})
        return httpx.Response(200, json=body(1, status="done", seed=11))

    return handler


def test_timeout_covers_follow_ups(make_fake: Any, body: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A follow-up that would wait past the deadline raises Timeout at once instead of sleeping."""
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    engine = make_engine(make_fake(jobs=True, poll_after=30.0), handler=job_handler(body, 5))

    with pytest.raises(Timeout, match="ran out"):
        engine.image_generation(prompt="otter", model="fake/m1", timeout=1, num_retries=0)

    assert slept == []
    assert len(engine.requests) == 1


def test_timeout_deadline_shrinks_across_follow_ups(make_fake: Any, body: Any) -> None:
    """Each follow-up is sent with what is left of the one deadline, not a fresh timeout."""
    seen: list[float] = []
    inner = job_handler(body, 3)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"]["read"])
        return inner(request)

    engine = make_engine(make_fake(jobs=True, poll_after=0.01), handler=handler)

    engine.image_generation(prompt="otter", model="fake/m1", timeout=5)

    assert len(seen) == 4
    assert seen == sorted(seen, reverse=True)
    assert seen[-1] < seen[0] <= 5


async def test_timeout_covers_follow_ups_async(make_fake: Any, body: Any) -> None:
    """The async path keeps one deadline across follow-ups too."""
    engine = make_engine(make_fake(jobs=True, poll_after=30.0), handler=job_handler(body, 5))

    with pytest.raises(Timeout):
        await engine.aimage_generation(prompt="otter", model="fake/m1", timeout=1, num_retries=0)


# --------------------------------------------------------------------------- follow-ups


def test_follow_up_polls_until_done(make_fake: Any, body: Any) -> None:
    """A FollowUp is sent, and parse_response runs again until it returns images."""
    engine = make_engine(make_fake(jobs=True), handler=job_handler(body, 3))

    resp = engine.image_generation(prompt="otter", model="fake/m1")

    assert [r.method for r in engine.requests] == ["POST", "GET", "GET", "GET"]
    assert engine.requests[-1].url.path == "/v1/jobs/job-1"
    assert len(resp.data) == 1


async def test_follow_up_polls_until_done_async(make_fake: Any, body: Any) -> None:
    """The async path follows the same steps."""
    engine = make_engine(make_fake(jobs=True), handler=job_handler(body, 2))

    resp = await engine.aimage_generation(prompt="otter", model="fake/m1")

    assert [r.method for r in engine.requests] == ["POST", "GET", "GET"]
    assert resp.metadata["seeds"] == [11]


def test_follow_up_loop_without_end_is_a_typed_error(make_fake: Any) -> None:
    """A provider that never finishes is stopped after MAX_FOLLOW_UPS round trips with a typed error."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"id": "job-1", "status": "running"})

    engine = make_engine(make_fake(jobs=True), handler=handler)

    with pytest.raises(APIResponseValidationError, match="follow-up"):
        engine.image_generation(prompt="otter", model="fake/m1")

    assert len(engine.requests) == MAX_FOLLOW_UPS


# --------------------------------------------------------------------------- fan-out


def test_fan_out_requests_are_merged(make_fake: Any, body: Any) -> None:
    """Several requests from build_request become one response holding every image, usage summed."""

    def handler(request: httpx.Request) -> httpx.Response:
        index = json.loads(request.content)["index"]
        return httpx.Response(200, json=body(1, seed=index, usage={"in": 3, "out": 10}))

    engine = make_engine(make_fake(fan_out=True), handler=handler)

    resp = engine.image_generation(prompt="otter", model="fake/m1", n=3, size="512x512")

    assert len(engine.requests) == 3
    assert len(resp.data) == 3
    assert resp.usage is not None
    assert resp.usage.input_tokens == 9
    assert resp.usage.output_tokens == 30
    assert sorted(resp.metadata["seeds"]) == [0, 1, 2]
    assert pytest.approx(0.15) == resp.cost


async def test_fan_out_requests_are_sent_concurrently_async(make_fake: Any, body: Any) -> None:
    """On the async path the fan-out requests are in flight together, then merged."""
    in_flight = {"now": 0, "most": 0}

    async def handler(request: httpx.Request) -> httpx.Response:
        in_flight["now"] += 1
        in_flight["most"] = max(in_flight["most"], in_flight["now"])
        await asyncio.sleep(0.01)
        in_flight["now"] -= 1
        return httpx.Response(200, json=body(1))

    engine = make_engine(make_fake(fan_out=True), handler=handler)

    resp = await engine.aimage_generation(prompt="otter", model="fake/m1", n=4)

    assert len(resp.data) == 4
    assert in_flight["most"] == 4


def test_fan_out_one_failure_fails_the_call(make_fake: Any, body: Any) -> None:
    """If one of the fanned-out requests fails, the call raises that error."""

    def handler(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content)["index"] == 1:
            return httpx.Response(500, json={"error": {"message": "boom"}})
        return httpx.Response(200, json=body(1))

    engine = make_engine(make_fake(fan_out=True), handler=handler)

    with pytest.raises(InternalServerError, match="boom") as caught:
        engine.image_generation(prompt="otter", model="fake/m1", n=2, num_retries=0)

    assert caught.value.status_code == 500


# --------------------------------------------------------------------------- cost and metadata


def test_cost_comes_from_catalogue_pricing(fake: Any, ok_handler: Any) -> None:
    """The response's cost is the catalogue's per-image price times the images, beside the JSON."""
    engine = make_engine(fake, handler=ok_handler)

    resp = engine.image_generation(prompt="otter", model="fake/m1", n=2, size="512x512")

    assert pytest.approx(0.10) == resp.cost
    assert "cost" not in resp.to_dict()


def test_cost_default_size_prices_an_unsized_call(fake: Any, ok_handler: Any) -> None:
    """A call without a size is priced at the catalogue's default size."""
    engine = make_engine(fake, handler=ok_handler)

    resp = engine.image_generation(prompt="otter", model="fake/m1")

    assert pytest.approx(0.02) == resp.cost


@pytest.mark.parametrize("odd", [-0.04, float("nan"), float("inf")])
def test_a_plugins_negative_or_non_finite_cost_gives_way_to_the_catalogue_price(
    make_fake: Any, ok_handler: Any, odd: float
) -> None:
    """A plugin that reads a cost from an odd answer (a negative charge, NaN) does not make the call's cost."""

    class OddCost(type(make_fake())):  # type: ignore[misc]
        @hookimpl
        def parse_response(self, response: httpx.Response, request: Any) -> Any:
            return attrs.evolve(super().parse_response(response, request), cost=odd)

    engine = make_engine(OddCost(), handler=ok_handler)

    resp = engine.image_generation(prompt="otter", model="fake/m1")

    assert pytest.approx(0.02) == resp.cost


def test_cost_unknown_model_is_none(fake: Any, ok_handler: Any) -> None:
    """A model without a price has ``cost`` None, never a made-up number."""
    engine = make_engine(fake, handler=ok_handler)

    assert engine.image_generation(prompt="otter", model="fake/unlisted").cost is None


def test_metadata_names_provider_and_model(fake: Any, ok_handler: Any) -> None:
    """Metadata says who served the call and keeps the plugin's own facts; none of it is in the JSON."""
    engine = make_engine(fake, handler=ok_handler)

    resp = engine.image_generation(prompt="otter", model="fake/m1")

    assert resp.metadata["provider"] == "fake"
    assert resp.metadata["model"] == "m1"
    assert resp.metadata["elapsed"] >= 0
    assert resp.metadata["seeds"] == [0]
    assert {"created", "data"} == set(resp.to_dict())


# --------------------------------------------------------------------------- auth


def test_auth_is_cached_until_it_nears_expiry(make_fake: Any, ok_handler: Any) -> None:
    """A token valid for an hour is resolved once for many calls and sent on each."""
    plugin = make_fake(tokens_expire_in=3600)
    engine = make_engine(plugin, handler=ok_handler)

    for _ in range(3):
        engine.image_generation(prompt="otter", model="fake/m1")

    assert plugin.calls.count("resolve_auth") == 1
    assert {"Bearer tok-1-SECRET"} == {r.headers["Authorization"] for r in engine.requests}


def test_auth_is_refreshed_inside_the_margin(make_fake: Any, ok_handler: Any) -> None:
    """A token expiring within the safety margin is resolved again on the next call."""
    plugin = make_fake(tokens_expire_in=AUTH_MARGIN - 1)
    engine = make_engine(plugin, handler=ok_handler)

    engine.image_generation(prompt="otter", model="fake/m1")
    engine.image_generation(prompt="otter", model="fake/m1")

    assert plugin.calls.count("resolve_auth") == 2
    assert [r.headers["Authorization"] for r in engine.requests] == ["Bearer tok-1-SECRET", "Bearer tok-2-SECRET"]


def test_auth_is_cached_per_deployment(make_fake: Any, ok_handler: Any) -> None:
    """Two deployments (different keys) get their own credentials."""
    plugin = make_fake(tokens_expire_in=3600)
    engine = make_engine(plugin, handler=ok_handler)

    engine.image_generation(prompt="otter", model="fake/m1", api_key="key-a")
    engine.image_generation(prompt="otter", model="fake/m1", api_key="key-b")
    engine.image_generation(prompt="otter", model="fake/m1", api_key="key-a")

    assert plugin.calls.count("resolve_auth") == 2


def test_auth_none_is_cached_too(fake: Any, ok_handler: Any) -> None:
    """A plugin answering ``None`` (plain key) is not asked again on every call."""
    engine = make_engine(fake, handler=ok_handler)

    engine.image_generation(prompt="otter", model="fake/m1")
    engine.image_generation(prompt="otter", model="fake/m1")

    assert fake.calls.count("resolve_auth") == 1


def test_auth_refused_credentials_are_resolved_again(make_fake: Any, body: Any) -> None:
    """After a 401 the cached token is dropped, so the next call resolves a fresh one."""
    statuses = iter([401, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(statuses)
        if status == 401:
            return httpx.Response(401, json={"error": {"message": "token expired"}})
        return httpx.Response(200, json=body())

    plugin = make_fake(tokens_expire_in=3600)
    engine = make_engine(plugin, handler=handler)

    with pytest.raises(AuthenticationError):
        engine.image_generation(prompt="otter", model="fake/m1")
    engine.image_generation(prompt="otter", model="fake/m1")

    assert plugin.calls.count("resolve_auth") == 2
    assert engine.requests[-1].headers["Authorization"] == "Bearer tok-2-SECRET"


async def test_auth_async_runs_off_the_event_loop(make_fake: Any, ok_handler: Any) -> None:
    """On the async path resolve_auth runs in a worker thread, with no event loop running there."""
    plugin = make_fake(tokens_expire_in=3600)
    engine = make_engine(plugin, handler=ok_handler)

    await engine.aimage_generation(prompt="otter", model="fake/m1")
    await engine.aimage_generation(prompt="otter", model="fake/m1")

    assert len(plugin.auth_threads) == 1
    thread, on_loop = plugin.auth_threads[0]
    assert threading.current_thread().name != thread
    assert on_loop is False
    assert {"Bearer tok-1-SECRET"} == {r.headers["Authorization"] for r in engine.requests}


async def test_auth_async_refresh_inside_the_margin(make_fake: Any, ok_handler: Any) -> None:
    """The async path refreshes a token near expiry as the sync one does."""
    plugin = make_fake(tokens_expire_in=10)
    engine = make_engine(plugin, handler=ok_handler)

    await engine.aimage_generation(prompt="otter", model="fake/m1")
    await engine.aimage_generation(prompt="otter", model="fake/m1")

    assert plugin.calls.count("resolve_auth") == 2


async def test_auth_async_concurrent_calls_resolve_once(make_fake: Any, ok_handler: Any) -> None:
    """Many concurrent first calls share one credential resolution."""
    plugin = make_fake(tokens_expire_in=3600)
    engine = make_engine(plugin, handler=ok_handler)

    await asyncio.gather(*(engine.aimage_generation(prompt="otter", model="fake/m1") for _ in range(8)))

    assert plugin.calls.count("resolve_auth") == 1


# --------------------------------------------------------------------------- environment


def test_engine_reads_keys_set_after_its_first_call(fake: Any, body: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A key exported after an earlier call (or removed) is what the next call uses: nothing is remembered."""
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Authorization"))
        return httpx.Response(200, json=body())

    engine = Engine(plugins={"fake": fake}, discover=False, transport=httpx.MockTransport(handler))
    monkeypatch.delenv("FAKE_API_KEY", raising=False)
    engine.image_generation(prompt="otter", model="fake/m1")
    monkeypatch.setenv("FAKE_API_KEY", "key-exported-later")
    engine.image_generation(prompt="otter", model="fake/m1")
    monkeypatch.delenv("FAKE_API_KEY")
    engine.image_generation(prompt="otter", model="fake/m1")
    engine.close()

    assert seen == [None, "Bearer key-exported-later", None]


# --------------------------------------------------------------------------- unreadable bodies


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, json={"created": 1}),
        httpx.Response(200, json={"created": 1, "images": "nope"}),
        httpx.Response(200, json=["not", "an", "object"]),
        httpx.Response(200, text="<html>gateway hiccup</html>"),
        httpx.Response(200, content=b""),
    ],
)
def test_unparseable_body_is_a_typed_error(fake: Any, response: httpx.Response) -> None:
    """A body the plugin cannot read becomes APIResponseValidationError (502), never a KeyError."""
    engine = make_engine(fake, handler=lambda request: response)

    with pytest.raises(APIResponseValidationError) as caught:
        engine.image_generation(prompt="otter", model="fake/m1")

    assert caught.value.status_code == 502
    assert caught.value.provider == "fake"
    assert "HTTP 200" in str(caught.value)
    assert caught.value.response is response


def test_unparseable_body_nested_too_deeply_is_a_typed_error(fake: Any) -> None:
    """JSON nested past the parser's stack is APIResponseValidationError saying so, never a RecursionError."""
    response = httpx.Response(200, content=b"[" * 100_000 + b"]" * 100_000)
    engine = make_engine(fake, handler=lambda request: response)

    with pytest.raises(APIResponseValidationError, match="nests JSON too deeply") as caught:
        engine.image_generation(prompt="otter", model="fake/m1")

    assert caught.value.status_code == 502
    assert caught.value.provider == "fake"


async def test_unparseable_body_is_a_typed_error_async(fake: Any) -> None:
    """The async path turns plugin parse failures into the same typed error."""
    engine = make_engine(fake, handler=lambda request: httpx.Response(200, json={"created": 1}))

    with pytest.raises(APIResponseValidationError):
        await engine.aimage_generation(prompt="otter", model="fake/m1")


# --------------------------------------------------------------------------- clients


class _ImagesHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    payload = json.dumps({"created": 1, "images": [{"b64": TINY_PNG_B64}]}).encode()

    cookies: list[str | None] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        _ImagesHandler.cookies.append(self.headers.get("Cookie"))
        payload = self.payload
        if self.path.startswith("/slow/"):
            time.sleep(2)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Set-Cookie", "lb_session=tenant-a; Path=/")
        if self.path.startswith("/gzip/"):
            payload = gzip.compress(payload)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.path.startswith("/trickle/"):  # every byte in time for a per-read timeout, the whole far too late
            try:
                for index in range(0, len(payload), 8):
                    self.wfile.write(payload[index : index + 8])
                    self.wfile.flush()
                    time.sleep(0.05)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up, as it should
                pass
            return
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def local_server() -> Iterator[str]:
    """A keep-alive HTTP server on 127.0.0.1 answering in the fake provider's shape."""
    _ImagesHandler.cookies = []
    with testing.local_server(_ImagesHandler) as url:
        yield f"{url}/v1"


def test_client_async_works_across_event_loops(fake: Any, local_server: str) -> None:
    """Two ``asyncio.run`` calls in a row on one engine both succeed (one pooled client per loop)."""
    engine = Engine(plugins={"fake": fake}, discover=False, environ={})

    async def one() -> int:
        resp = await engine.aimage_generation(prompt="otter", model="fake/m1", api_base=local_server)
        return len(resp.data)

    assert asyncio.run(one()) == 1
    assert asyncio.run(one()) == 1
    engine.close()


def test_client_sync_is_pooled_and_reused(fake: Any, local_server: str) -> None:
    """The sync client is created once and reused by every call."""
    engine = Engine(plugins={"fake": fake}, discover=False, environ={})

    engine.image_generation(prompt="otter", model="fake/m1", api_base=local_server)
    transport = engine.transport
    engine.image_generation(prompt="otter", model="fake/m1", api_base=local_server)

    assert transport is engine.transport
    engine.close()


async def test_client_async_is_reused_within_a_loop(fake: Any, local_server: str) -> None:
    """Within one event loop every call shares one async client."""
    engine = Engine(plugins={"fake": fake}, discover=False, environ={})

    await engine.aimage_generation(prompt="otter", model="fake/m1", api_base=local_server)
    transport = engine.async_transport()
    await asyncio.gather(
        *(engine.aimage_generation(prompt="otter", model="fake/m1", api_base=local_server) for _ in range(4))
    )

    assert transport is engine.async_transport()
    await engine.aclose()


def test_client_connection_refused_on_a_real_socket(fake: Any) -> None:
    """Nothing listening on the port is an APIConnectionError naming the provider."""
    engine = Engine(plugins={"fake": fake}, discover=False, environ={})

    with pytest.raises(APIConnectionError) as caught:
        engine.image_generation(
            prompt="otter", model="fake/m1", api_base="http://127.0.0.1:9/v1", timeout=5, num_retries=0
        )

    assert caught.value.provider == "fake"
    engine.close()


def test_client_keeps_no_cookies_between_calls(fake: Any, local_server: str) -> None:
    """A cookie a provider sets is never sent back on the next call (one engine serves many keys)."""
    engine = Engine(plugins={"fake": fake}, discover=False, environ={})

    engine.image_generation(prompt="otter", model="fake/m1", api_base=local_server, api_key="key-tenant-a")
    engine.image_generation(prompt="otter", model="fake/m1", api_base=local_server, api_key="key-tenant-b")

    assert _ImagesHandler.cookies == [None, None]
    engine.close()


def test_client_async_keeps_no_cookies_between_calls(fake: Any, local_server: str) -> None:
    """The async path keeps no cookies either."""
    engine = Engine(plugins={"fake": fake}, discover=False, environ={})

    async def two() -> None:
        for key in ("key-tenant-a", "key-tenant-b"):
            await engine.aimage_generation(prompt="otter", model="fake/m1", api_base=local_server, api_key=key)

    asyncio.run(two())

    assert _ImagesHandler.cookies == [None, None]


def test_client_async_is_closed_when_its_loop_ends(fake: Any, local_server: str) -> None:
    """``asyncio.run`` ending closes that loop's pooled client: no connection outlives its loop."""
    engine = Engine(plugins={"fake": fake}, discover=False, environ={})

    async def one() -> Any:
        await engine.aimage_generation(prompt="otter", model="fake/m1", api_base=local_server)
        return engine.async_transport()

    first = asyncio.run(one())
    second = asyncio.run(one())

    assert first is not second
    assert first.closed
    assert second.closed


def test_client_async_reads_compressed_bodies(fake: Any, local_server: str) -> None:
    """A gzip-encoded answer is decoded before the plugin reads it, on the default async transport."""
    engine = Engine(plugins={"fake": fake}, discover=False, environ={})
    api_base = local_server.replace("/v1", "/gzip/v1")

    resp = asyncio.run(engine.aimage_generation(prompt="otter", model="fake/m1", api_base=api_base))

    assert resp.data[0].bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_client_slow_provider_is_a_timeout(fake: Any, local_server: str, mode: str) -> None:
    """A real socket that answers too late raises pixmux.Timeout, sync and async."""
    engine = Engine(plugins={"fake": fake}, discover=False, environ={})
    kwargs: dict[str, Any] = {
        "prompt": "otter",
        "model": "fake/m1",
        "api_base": local_server.replace("/v1", "/slow/v1"),
        "timeout": 0.3,
        "num_retries": 0,
    }

    def sync_call() -> object:
        return engine.image_generation(**kwargs)

    def async_call() -> object:
        return asyncio.run(engine.aimage_generation(**kwargs))

    with pytest.raises(Timeout) as caught:
        (sync_call if mode == "sync" else async_call)()

    assert caught.value.provider == "fake"
    engine.close()


def test_client_async_cuts_a_trickling_provider_at_the_timeout(fake: Any, local_server: str) -> None:
    """A provider sending its body a few bytes at a time is cut at the call's timeout, not served late."""
    engine = Engine(plugins={"fake": fake}, discover=False, environ={})
    api_base = local_server.replace("/v1", "/trickle/v1")

    with pytest.raises(Timeout) as caught:
        asyncio.run(engine.aimage_generation(prompt="otter", model="fake/m1", api_base=api_base, timeout=0.5))

    assert caught.value.provider == "fake"
    assert caught.value.details["attempts"] == 1  # the deadline was spent: no retry after it


def test_client_sync_cuts_a_trickling_provider_at_the_timeout(fake: Any, local_server: str) -> None:
    """On the sync path too, a body still arriving at the call's timeout ends the call there."""
    engine = Engine(plugins={"fake": fake}, discover=False, environ={})
    api_base = local_server.replace("/v1", "/trickle/v1")

    with pytest.raises(Timeout) as caught:  # each read is in time (every 50 ms), so only a total cut raises
        engine.image_generation(prompt="otter", model="fake/m1", api_base=api_base, timeout=0.3)
    engine.close()

    assert caught.value.provider == "fake"
    assert caught.value.details["attempts"] == 1  # the deadline was spent: no retry after it


def test_client_async_connection_refused(fake: Any) -> None:
    """Nothing listening is an APIConnectionError on the async path too."""
    engine = Engine(plugins={"fake": fake}, discover=False, environ={})

    with pytest.raises(APIConnectionError) as caught:
        asyncio.run(
            engine.aimage_generation(prompt="otter", model="fake/m1", api_base="http://127.0.0.1:9/v1", num_retries=0)
        )

    assert caught.value.provider == "fake"


def test_default_async_transport_is_aiohttp_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """With pixmux[fast] installed the async path uses aiohttp; PIXMUX_ASYNC_TRANSPORT=httpx opts out."""
    from pixmux._transport import choose_async_kind

    assert choose_async_kind() == "aiohttp"
    monkeypatch.setenv("PIXMUX_ASYNC_TRANSPORT", "httpx")
    assert choose_async_kind() == "httpx"
    monkeypatch.delenv("PIXMUX_ASYNC_TRANSPORT")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    assert choose_async_kind() == "httpx"


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_client_corrupt_compressed_body_is_a_response_error(fake: Any, mode: str) -> None:
    """A body that does not decode by its Content-Encoding is an APIResponseValidationError saying so."""
    from pixmux import APIResponseValidationError

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"not gzip at all", headers={"Content-Encoding": "gzip"})

    engine = make_engine(fake, handler=handler)

    def call() -> object:
        if mode == "async":
            return asyncio.run(engine.aimage_generation(prompt="otter", model="fake/m1", num_retries=0))
        return engine.image_generation(prompt="otter", model="fake/m1", num_retries=0)

    with pytest.raises(APIResponseValidationError, match="could not be decoded"):
        call()


def test_client_async_honours_a_proxy_from_the_environment(fake: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """With HTTP_PROXY set, the async path sends through that proxy, as the sync path does (never bypasses it)."""
    from pixmux.testing import local_server

    seen: list[str] = []

    class _Proxy(_ImagesHandler):
        def do_POST(self) -> None:
            seen.append(self.path)
            super().do_POST()

    with local_server(_Proxy) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        engine = Engine(plugins={"fake": fake}, discover=False, environ={})
        kwargs: dict[str, Any] = {"api_base": "http://upstream.invalid/v1", "num_retries": 0, "timeout": 10}
        engine.image_generation(prompt="otter", model="fake/m1", **kwargs)
        asyncio.run(engine.aimage_generation(prompt="otter", model="fake/m1", **kwargs))

    assert len(seen) == 2
    assert seen[0] == seen[1]
    assert seen[0].startswith("http://upstream.invalid/v1")
