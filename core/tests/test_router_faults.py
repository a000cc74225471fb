"""The router under failure: retries, fallbacks, cooldowns and recovery, timeouts, the final error, concurrency."""

from __future__ import annotations

import asyncio
import pickle
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import core_support
import httpx
import pixmux
import pixmux_openai.provider as openai_provider
import pytest
from core_support import BAD_KEY, KEY, RATE_LIMIT, REFUSAL, SERVER_ERROR, Clock, Hosts, Waits, entry, ok
from pixmux import (
    AllAttemptsFailedError,
    AuthenticationError,
    BadRequestError,
    ContentPolicyViolationError,
    Engine,
    InternalServerError,
    RateLimitError,
    Router,
    ServiceUnavailableError,
)
from pixmux._retry import Backoff
from pixmux.testing import TINY_PNG_B64, local_server, make_engine, reply


def router_for(hosts: Hosts, model_list: list[dict[str, Any]], waits: Waits | None = None, **settings: Any) -> Router:
    """``core_support.router_for`` on a clock that moves only by hand (cooldowns never end by themselves)."""
    settings.setdefault("clock", Clock())
    return core_support.router_for(hosts, model_list, waits, **settings)


def fails(status: int, body: dict[str, Any] | None = None, **headers: str) -> Callable[[httpx.Request], httpx.Response]:
    """A rule answering every request with ``status``."""
    payload = body if body is not None else (RATE_LIMIT if status == 429 else SERVER_ERROR)
    return lambda request: httpx.Response(status, json=payload, headers=headers)


def in_turn(*rules: Callable[[httpx.Request], httpx.Response]) -> Callable[[httpx.Request], httpx.Response]:
    """A rule that answers with each of ``rules`` in turn, then keeps to the last."""
    left = list(rules)

    def rule(request: httpx.Request) -> httpx.Response:
        return (left.pop(0) if len(left) > 1 else left[0])(request)

    return rule


def generate(router: Router, mode: str, model: str = "img", **kwargs: Any) -> pixmux.ImageResponse:
    """One routed call through the sync or the async path."""
    if mode == "sync":
        return router.image_generation("otter", model=model, **kwargs)
    return asyncio.run(router.aimage_generation("otter", model=model, **kwargs))


both = pytest.mark.parametrize("mode", ["sync", "async"])


# --------------------------------------------------------------------------- retries inside a group


@both
def test_router_retries_on_another_deployment_at_once(mode: str) -> None:
    """A 500 from one deployment is retried on the other without waiting; metadata tells the story."""
    hosts = Hosts(a=fails(500))
    waits = Waits()
    router = router_for(hosts, [entry("img", "a", order=1), entry("img", "b", order=2)], waits)

    response = generate(router, mode)

    assert response.metadata["deployment"] == "b"
    assert response.metadata["attempts"] == 2
    assert response.metadata["model_group"] == "img"
    assert response.metadata["failed_attempts"] == [
        {"deployment": "a", "model_group": "img", "error": "InternalServerError", "status_code": 500}
    ]
    assert waits.seconds == []


@both
def test_router_never_calls_more_than_num_retries_allows(mode: str) -> None:
    """When every deployment fails, a call makes exactly 1 + num_retries attempts, then raises."""
    hosts = Hosts(a=fails(503), b=fails(500))
    router = router_for(hosts, [entry("img", "a"), entry("img", "b")], num_retries=4, disable_cooldowns=True)

    with pytest.raises(AllAttemptsFailedError) as caught:
        generate(router, mode)

    assert sum(hosts.hits.values()) == 5
    assert len(caught.value.attempts) == 5


@both
def test_router_retry_on_the_same_deployment_waits_retry_after(mode: str) -> None:
    """With one deployment, a 429's Retry-After is waited before trying it again."""
    hosts = Hosts(a=fails(429, **{"Retry-After": "4"}))
    waits = Waits()
    router = router_for(hosts, [entry("img", "a")], waits, num_retries=1)

    with pytest.raises(RateLimitError):
        generate(router, mode)

    assert hosts.hits["a"] == 2
    assert len(waits.seconds) == 1
    assert 4.0 <= waits.seconds[0] <= 4.4


def test_router_retry_after_setting_is_the_shortest_wait() -> None:
    """retry_after (a router setting) is the least a retry on the same deployment waits."""
    waits = Waits()
    router = router_for(Hosts(a=fails(500)), [entry("img", "a")], waits, num_retries=2, retry_after=3)

    with pytest.raises(InternalServerError):
        generate(router, "sync")

    assert len(waits.seconds) == 2
    assert all(wait >= 3 for wait in waits.seconds)


@both
@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (400, SERVER_ERROR, BadRequestError),
        (401, BAD_KEY, AuthenticationError),
        (400, REFUSAL, ContentPolicyViolationError),
    ],
)
def test_router_never_retries_client_errors(
    mode: str, status: int, body: dict[str, Any], error: type[Exception]
) -> None:
    """400, 401 and refusals are not retried, on this deployment or another: one request, that error."""
    hosts = Hosts(a=fails(status, body), b=fails(status, body))
    router = router_for(hosts, [entry("img", "a"), entry("img", "b")], num_retries=5)

    with pytest.raises(error) as caught:
        generate(router, mode)

    assert sum(hosts.hits.values()) == 1
    assert caught.value.status_code == status


def test_router_retry_policy_sets_retries_per_error_kind() -> None:
    """retry_policy: no retry for 429s, three for server errors."""
    limited = Hosts(a=fails(429))
    broken = Hosts(a=fails(500))
    policy = {"RateLimitErrorRetries": 0, "InternalServerErrorRetries": 3}

    with pytest.raises(RateLimitError):
        generate(router_for(limited, [entry("img", "a")], retry_policy=policy, disable_cooldowns=True), "sync")
    with pytest.raises(InternalServerError):
        generate(router_for(broken, [entry("img", "a")], retry_policy=policy, disable_cooldowns=True), "sync")

    assert limited.hits["a"] == 1
    assert broken.hits["a"] == 4


def test_router_call_num_retries_overrides_the_router() -> None:
    """A call's own num_retries wins over the router's."""
    hosts = Hosts(a=fails(500))
    router = router_for(hosts, [entry("img", "a")], num_retries=5, disable_cooldowns=True)

    with pytest.raises(InternalServerError):
        generate(router, "sync", num_retries=1)

    assert hosts.hits["a"] == 2


@both
def test_router_deployment_max_retries_retries_on_that_deployment(mode: str) -> None:
    """litellm_params.max_retries retries on the deployment itself; attempts counts every request."""
    hosts = Hosts(a=in_turn(fails(503), fails(503), ok))
    router = router_for(hosts, [entry("img", "a", max_retries=2)], num_retries=0)

    response = generate(router, mode)

    assert response.metadata["deployment"] == "a"
    assert response.metadata["attempts"] == 3


# --------------------------------------------------------------------------- fallbacks and the final error


@both
def test_router_falls_back_to_the_next_group(mode: str) -> None:
    """When a group is exhausted the call moves to its fallbacks, in order."""
    hosts = Hosts(a=fails(500), b=fails(503))
    router = router_for(
        hosts,
        [entry("img", "a"), entry("second", "b"), entry("third", "c")],
        num_retries=1,
        fallbacks=[{"img": ["second", "third"]}],
    )

    response = generate(router, mode)

    assert response.metadata["deployment"] == "c"
    assert response.metadata["model_group"] == "third"
    assert response.metadata["attempts"] == 5
    assert [f["model_group"] for f in response.metadata["failed_attempts"]] == ["img", "img", "second", "second"]


def test_router_falls_back_at_once_after_an_error_not_worth_retrying() -> None:
    """A 401 is not retried, but the call still falls back to another group."""
    hosts = Hosts(a=fails(401, BAD_KEY))
    router = router_for(hosts, [entry("img", "a"), entry("spare", "b")], fallbacks=[{"img": ["spare"]}])

    response = generate(router, "sync")

    assert hosts.hits == Counter({"a": 1, "b": 1})
    assert response.metadata["deployment"] == "b"


@both
def test_router_content_policy_fallbacks_take_refusals(mode: str) -> None:
    """A refusal goes to content_policy_fallbacks, never to fallbacks."""
    hosts = Hosts(a=fails(400, REFUSAL))
    router = router_for(
        hosts,
        [entry("img", "a"), entry("general", "b"), entry("lenient", "c")],
        fallbacks=[{"img": ["general"]}],
        content_policy_fallbacks=[{"img": ["lenient"]}],
    )

    response = generate(router, mode)

    assert response.metadata["deployment"] == "c"
    assert hosts.hits == Counter({"a": 1, "c": 1})


def test_router_refusal_without_content_policy_fallbacks_is_raised() -> None:
    """With only general fallbacks, a refusal is raised as the provider's refusal, status 400."""
    hosts = Hosts(a=fails(400, REFUSAL))
    router = router_for(hosts, [entry("img", "a"), entry("general", "b")], fallbacks=[{"img": ["general"]}])

    with pytest.raises(ContentPolicyViolationError) as caught:
        generate(router, "sync")

    assert hosts.hits == Counter({"a": 1})
    assert caught.value.status_code == 400
    assert caught.value.code == "content_policy_violation"


@both
def test_router_final_error_is_the_last_real_error_with_attempts_listed(mode: str) -> None:
    """Everything failed: the error is the last provider error (class, status, message), listing each attempt."""
    hosts = Hosts(a=fails(500), b=fails(429, **{"Retry-After": "30"}))
    router = router_for(
        hosts, [entry("img", "a"), entry("spare", "b")], num_retries=1, fallbacks=[{"img": ["spare"]}], timeout=10
    )

    with pytest.raises(RateLimitError) as caught:
        generate(router, mode)

    error = caught.value
    assert isinstance(error, AllAttemptsFailedError)
    assert error.status_code == 429
    assert error.openai_type == "rate_limit_error"
    assert error.retry_after == 30
    assert "Rate limit reached" in str(error)
    assert [name for name, _ in error.attempts] == ["a", "a", "b"]
    assert isinstance(error.last, RateLimitError)
    assert "a: InternalServerError (500)" in str(error)
    assert KEY not in str(error)
    assert KEY not in repr(error)


def test_router_final_error_survives_pickling() -> None:
    """The final error pickles (multiprocessing, caches) and stays the last error's class."""
    router = router_for(Hosts(a=fails(503)), [entry("img", "a")], num_retries=0)

    with pytest.raises(AllAttemptsFailedError) as caught:
        generate(router, "sync")
    copy = pickle.loads(pickle.dumps(caught.value))

    assert isinstance(copy, ServiceUnavailableError)
    assert isinstance(copy, AllAttemptsFailedError)
    assert copy.status_code == 503
    assert [name for name, _ in copy.attempts] == ["a"]


def test_router_default_fallbacks_and_max_fallbacks() -> None:
    """default_fallbacks serve groups without their own; max_fallbacks caps how many are tried."""
    hosts = Hosts(a=fails(500), b=fails(500), c=fails(500))
    router = router_for(
        hosts,
        [entry("img", "a"), entry("f1", "b"), entry("f2", "c"), entry("f3", "d")],
        num_retries=0,
        default_fallbacks=["f1", "f2", "f3"],
        max_fallbacks=2,
    )

    with pytest.raises(InternalServerError):
        generate(router, "sync")

    assert hosts.hits == Counter({"a": 1, "b": 1, "c": 1})


# --------------------------------------------------------------------------- cooldowns


def test_router_cools_a_down_deployment_within_a_few_failures_and_it_comes_back() -> None:
    """A deployment answering only 503s gets allowed_fails + 1 requests, then none until it recovers."""
    clock = Clock()
    hosts = Hosts(a=fails(503))
    router = router_for(
        hosts, [entry("img", "a"), entry("img", "b")], clock=clock, allowed_fails=2, cooldown_time=30, num_retries=3
    )

    for _ in range(40):
        assert generate(router, "sync").metadata["deployment"] == "b"
    assert hosts.hits["a"] == 3
    assert router.health()["a"].cooling_down

    hosts.rules["a"] = ok  # it recovers
    clock.now += 31
    served = Counter(generate(router, "sync").metadata["deployment"] for _ in range(40))

    assert served["a"] > 0
    assert not router.health()["a"].cooling_down
    assert router.health()["a"].cooldowns == 1


def test_router_a_deployment_still_down_after_cooldown_goes_back_at_once() -> None:
    """Back from a cooldown and still failing: one failure cools it down again."""
    clock = Clock()
    hosts = Hosts(a=fails(500))
    router = router_for(
        hosts, [entry("img", "a"), entry("img", "b")], clock=clock, allowed_fails=1, cooldown_time=10, num_retries=2
    )

    for _ in range(20):
        generate(router, "sync")
    before = hosts.hits["a"]
    clock.now += 11
    for _ in range(20):
        generate(router, "sync")

    assert before == 2
    assert hosts.hits["a"] - before == 1
    assert router.health()["a"].cooldowns == 2


def test_router_429_with_retry_after_cools_down_for_that_long() -> None:
    """A 429 carrying Retry-After cools its deployment at once, for as long as it says."""
    clock = Clock()
    hosts = Hosts(a=fails(429, **{"Retry-After": "20"}))
    router = router_for(hosts, [entry("img", "a", order=1), entry("img", "b", order=2)], clock=clock, cooldown_time=1)

    generate(router, "sync")
    clock.now += 10
    generate(router, "sync")
    health = router.health()["a"]

    assert hosts.hits["a"] == 1
    assert health.cooling_down
    assert 9 <= health.cooldown_left <= 10


def test_router_refusals_and_bad_requests_do_not_cool_down() -> None:
    """The prompt's fault is not the deployment's: refusals and 400s never cool it down."""
    hosts = Hosts(a=fails(400, REFUSAL))
    router = router_for(hosts, [entry("img", "a")], allowed_fails=0)

    for _ in range(5):
        with pytest.raises(ContentPolicyViolationError):
            generate(router, "sync")

    assert not router.health()["a"].cooling_down
    assert router.health()["a"].failures == 5


def test_router_allowed_fails_policy_counts_a_kind_on_its_own() -> None:
    """allowed_fails_policy gives one error kind its own threshold."""
    hosts = Hosts(a=fails(429))
    router = router_for(
        hosts,
        [entry("img", "a"), entry("img", "b")],
        allowed_fails=0,
        allowed_fails_policy={"RateLimitErrorAllowedFails": 4},
        num_retries=3,
    )

    for _ in range(30):
        generate(router, "sync")

    assert hosts.hits["a"] == 5


def test_router_disable_cooldowns_keeps_every_deployment_in() -> None:
    """With disable_cooldowns a failing deployment keeps getting its share."""
    hosts = Hosts(a=fails(500))
    router = router_for(hosts, [entry("img", "a"), entry("img", "b")], disable_cooldowns=True, allowed_fails=0)

    for _ in range(40):
        generate(router, "sync")

    assert hosts.hits["a"] > 5
    assert not router.health()["a"].cooling_down


def test_router_skips_a_cooled_group_for_its_fallback() -> None:
    """A group whose every deployment cools down sends calls straight to the fallback, no request wasted."""
    clock = Clock()
    hosts = Hosts(a=fails(503))
    router = router_for(
        hosts,
        [entry("img", "a"), entry("spare", "b")],
        clock=clock,
        allowed_fails=0,
        num_retries=0,
        fallbacks=[{"img": ["spare"]}],
    )

    for _ in range(10):
        assert generate(router, "sync").metadata["deployment"] == "b"

    assert hosts.hits["a"] == 1


def test_router_tries_a_cooled_deployment_when_nothing_else_is_left() -> None:
    """With no fallback left, a cooled group is still tried, so the user gets a real answer or error."""
    clock = Clock()
    hosts = Hosts(a=fails(503))
    router = router_for(hosts, [entry("img", "a")], clock=clock, allowed_fails=0, num_retries=0)

    for _ in range(3):
        with pytest.raises(ServiceUnavailableError):
            generate(router, "sync")
    hosts.rules["a"] = ok

    assert generate(router, "sync").metadata["deployment"] == "a"
    assert hosts.hits["a"] == 4


# --------------------------------------------------------------------------- timeouts


@both
def test_router_timeouts_reach_each_attempt(mode: str) -> None:
    """Each attempt is bounded by its deployment's timeout and by what is left of the call's."""
    seen: list[float] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(max(request.extensions["timeout"].values()))
        return ok(request)

    router = router_for(Hosts(a=record, b=record), [entry("img", "a", timeout=7), entry("other", "b")], timeout=50)

    generate(router, mode)
    generate(router, mode, model="other")
    generate(router, mode, model="other", timeout=3)

    assert 0 < seen[0] <= 7
    assert 7 < seen[1] <= 50
    assert 0 < seen[2] <= 3


@both
def test_router_call_timeout_bounds_retry_waits(mode: str) -> None:
    """A wait that would end after the call's timeout is not taken: the provider's error comes at once."""
    hosts = Hosts(a=fails(429, **{"Retry-After": "100"}))
    waits = Waits()
    router = router_for(hosts, [entry("img", "a")], waits, num_retries=3, timeout=5)

    with pytest.raises(RateLimitError) as caught:
        generate(router, mode)

    assert hosts.hits["a"] == 1
    assert waits.seconds == []
    assert caught.value.retry_after == 100


def test_router_async_cuts_an_attempt_the_transport_does_not() -> None:
    """On the async path the router itself cuts an attempt shortly after its timeout, then falls back."""

    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return ok(request)  # pragma: no cover - cut before

    hosts = Hosts(a=hang)
    router = router_for(
        hosts, [entry("img", "a", timeout=0.05), entry("spare", "b")], fallbacks=[{"img": ["spare"]}], num_retries=0
    )

    response = asyncio.run(router.aimage_generation("otter", model="img"))

    assert response.metadata["deployment"] == "b"
    assert response.metadata["failed_attempts"][0]["error"] == "Timeout"
    assert router.health()["a"].in_flight == 0


class _Provider(BaseHTTPRequestHandler):
    """A local OpenAI-shaped provider: ``/hang/...`` never answers in time, ``/ok/...`` answers at once."""

    release: threading.Event

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.path.startswith("/hang/"):
            self.release.wait(10)
            return
        reply(self, 200, {"created": 1713833628, "data": [{"b64_json": TINY_PNG_B64}]})

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def local_provider() -> Iterator[str]:
    """A provider on 127.0.0.1 (one path hangs); yields its base URL."""
    release = threading.Event()
    handler = type("Handler", (_Provider,), {"release": release})
    with local_server(handler) as url:
        try:
            yield url
        finally:
            release.set()


@both
def test_router_cuts_a_hanging_provider_at_its_timeout_and_falls_back(mode: str, local_provider: str) -> None:
    """A real provider that never answers is cut at the deployment's timeout; the call falls back."""
    engine = Engine(plugins={"openai": openai_provider}, discover=False, environ={})
    engine.retry = Backoff(sleep=lambda s: None, asleep=Waits().asleep)
    model_list = [
        {
            "model_name": "img",
            "litellm_params": {
                "model": "openai/gpt-image-1",
                "api_base": f"{local_provider}/hang/v1",
                "api_key": KEY,
                "timeout": 0.2,
            },
            "model_info": {"id": "hanging"},
        },
        {
            "model_name": "spare",
            "litellm_params": {"model": "openai/gpt-image-1", "api_base": f"{local_provider}/ok/v1", "api_key": KEY},
            "model_info": {"id": "fine"},
        },
    ]
    router = Router(model_list, engine=engine, num_retries=0, fallbacks=[{"img": ["spare"]}])

    async def call_then_close() -> pixmux.ImageResponse:
        try:
            return await router.aimage_generation("otter", model="img")
        finally:
            await engine.aclose()

    if mode == "sync":
        try:
            response = router.image_generation("otter", model="img")
        finally:
            engine.close()
    else:
        response = asyncio.run(call_then_close())

    assert response.metadata["deployment"] == "fine"
    assert response.metadata["failed_attempts"] == [
        {"deployment": "hanging", "model_group": "img", "error": "Timeout", "status_code": 408}
    ]


# --------------------------------------------------------------------------- concurrency


def flaky(every: int) -> Callable[[httpx.Request], httpx.Response]:
    """Fails every ``every``-th request with a 500 or a 429, in turn."""
    count = Counter[str]()
    lock = threading.Lock()

    def rule(request: httpx.Request) -> httpx.Response:
        with lock:
            count["n"] += 1
            n = count["n"]
        if n % every == 0:
            return fails(500 if (n // every) % 2 else 429)(request)
        return ok(request)

    return rule


def test_router_is_thread_safe() -> None:
    """Eight threads share one router over a flaky deployment: every call succeeds, nothing stays in flight."""
    hosts = Hosts(a=flaky(2))
    router = router_for(hosts, [entry("img", "a"), entry("img", "b")], num_retries=2, cooldown_time=0.0)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        for call in range(25):
            try:
                router.image_generation(f"otter {worker}-{call}", model="img")
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert max(hosts.per_prompt.values()) <= 3
    health = router.health()
    assert all(h.in_flight == 0 for h in health.values())
    assert sum(h.successes for h in health.values()) == 200


def test_router_64_concurrent_async_calls_all_succeed_within_their_retries() -> None:
    """64 concurrent async calls over a flaky deployment all succeed, none sent more than 1 + num_retries times."""
    hosts = Hosts(a=flaky(3))
    router = router_for(hosts, [entry("img", "a"), entry("img", "b")], num_retries=2)

    async def main() -> list[pixmux.ImageResponse]:
        return list(await asyncio.gather(*(router.aimage_generation(f"otter {i}", model="img") for i in range(64))))

    responses = asyncio.run(main())

    assert len(responses) == 64
    assert max(hosts.per_prompt.values()) <= 3
    assert all(r.metadata["attempts"] == hosts.per_prompt[f"otter {i}"] for i, r in enumerate(responses))
    assert all(h.in_flight == 0 for h in router.health().values())


def test_router_releases_a_cancelled_call() -> None:
    """A call cancelled mid-flight leaves its deployment's in-flight count as it was."""
    started = asyncio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        started.set()
        await asyncio.sleep(30)
        return ok(request)  # pragma: no cover

    router = router_for(Hosts(a=hang), [entry("img", "a")])

    async def main() -> None:
        task = asyncio.create_task(router.aimage_generation("otter", model="img"))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())

    assert router.health()["a"].in_flight == 0


def test_router_real_backoff_sleeps_briefly_then_succeeds() -> None:
    """With the engine's real sleep, a retry on the same deployment waits and then succeeds."""
    hosts = Hosts(a=in_turn(fails(503, **{"retry-after-ms": "5"}), ok))
    engine = make_engine(openai_provider, handler=hosts)
    router = Router([entry("img", "a")], engine=engine)

    response = router.image_generation("otter", model="img")

    assert response.metadata["attempts"] == 2
