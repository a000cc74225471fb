"""Retries in every library call: what is retried, how long it waits, and the call's deadline."""

from __future__ import annotations

import asyncio
import email.utils
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import attrs
import httpx
import pixmux
import pixmux_openai.provider as openai_provider
import pytest
from core_support import BAD_KEY, OK, RATE_LIMIT, REFUSAL, SERVER_ERROR, Waits
from pixmux import (
    APIConnectionError,
    APIResponseValidationError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ContentPolicyViolationError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    PixmuxError,
    RateLimitError,
    ServiceUnavailableError,
    Timeout,
    UnprocessableEntityError,
    UnsupportedParamsError,
)
from pixmux._retry import DEFAULT_NUM_RETRIES, Backoff, call_with_retries, is_retryable, pop_num_retries
from pixmux.testing import RecordingEngine, make_engine

KEY = "sk-retry-test-0123456789-SECRET"
MODEL = "openai/gpt-image-1"


@pytest.fixture
def waits() -> Waits:
    """Waits recorded instead of slept."""
    return Waits()


def scripted(*answers: httpx.Response | type[Exception]) -> Callable[[httpx.Request], httpx.Response]:
    """A handler answering with ``answers`` in order, then repeating the last one."""
    queue = list(answers)
    lock = threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        with lock:
            answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, type):
            raise answer("injected", request=request)  # type: ignore[call-arg]
        return answer

    return handler


def engine_for(handler: Callable[[httpx.Request], httpx.Response], waits: Waits, **backoff: Any) -> RecordingEngine:
    engine = make_engine(openai_provider, handler=handler)
    engine.retry = Backoff(sleep=waits.sleep, asleep=waits.asleep, **backoff)
    return engine


def generate(engine: RecordingEngine, mode: str, **kwargs: Any) -> pixmux.ImageResponse:
    """One call through the sync or the async path."""
    kwargs.setdefault("api_key", KEY)
    if mode == "sync":
        return engine.image_generation(prompt="otter", model=MODEL, **kwargs)
    return asyncio.run(engine.aimage_generation(prompt="otter", model=MODEL, **kwargs))


both = pytest.mark.parametrize("mode", ["sync", "async"])


# --------------------------------------------------------------------------- what is retried


@pytest.mark.parametrize(
    "error",
    [
        RateLimitError("slow down"),
        Timeout("too slow"),
        APIConnectionError("refused"),
        InternalServerError("boom"),
        ServiceUnavailableError("down"),
        InternalServerError("bad gateway", status_code=502),
        PixmuxError("gateway timeout", status_code=504),
        PixmuxError("request timeout", status_code=408),
    ],
)
def test_is_retryable_accepts_transient_failures(error: PixmuxError) -> None:
    """429, 408, 5xx, connection errors and timeouts are worth another attempt."""
    assert is_retryable(error)


@pytest.mark.parametrize(
    "error",
    [
        BadRequestError("bad"),
        AuthenticationError("who are you"),
        PermissionDeniedError("not yours"),
        NotFoundError("no such model"),
        UnprocessableEntityError("cannot"),
        ContentPolicyViolationError("refused"),
        UnsupportedParamsError("size", param="size"),
        ConfigurationError("no key"),
        ConfigurationError("plugin clash", status_code=500),
        APIResponseValidationError("unreadable"),
        ValueError("not ours"),
    ],
)
def test_is_retryable_refuses_client_errors_and_refusals(error: Exception) -> None:
    """4xx, content-policy refusals, local setting errors and unreadable answers are never retried."""
    assert not is_retryable(error)


# --------------------------------------------------------------------------- how long to wait


def test_backoff_delay_grows_exponentially_with_jitter() -> None:
    """Each retry waits twice as long as the one before, of which jitter takes up to half off."""
    low = Backoff(initial=1.0, maximum=100.0, random=lambda: 0.0)
    high = Backoff(initial=1.0, maximum=100.0, random=lambda: 0.999999)

    assert [low.delay(k) for k in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert [round(high.delay(k), 3) for k in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]


def test_backoff_delay_is_capped_at_maximum() -> None:
    """However many retries, no computed wait exceeds ``maximum``."""
    backoff = Backoff(initial=1.0, maximum=5.0, random=lambda: 0.999999)

    assert round(backoff.delay(30), 3) == 5.0


def test_backoff_delay_honours_retry_after() -> None:
    """A provider's Retry-After replaces the computed wait; jitter only ever adds to it."""
    backoff = Backoff(initial=0.1, random=lambda: 0.5)

    assert backoff.delay(1, RateLimitError("slow", retry_after=12.0)) == pytest.approx(12.6)
    assert backoff.delay(1, RateLimitError("slow", retry_after=0.0)) == 0.0


def test_backoff_delay_respects_minimum() -> None:
    """No wait is shorter than ``minimum``, Retry-After included."""
    backoff = Backoff(initial=0.01, minimum=2.0, random=lambda: 0.0)

    assert backoff.delay(1) == 2.0
    assert backoff.delay(1, RateLimitError("slow", retry_after=0.5)) == 2.0


# --------------------------------------------------------------------------- the loop in every call


@both
def test_image_generation_retries_a_server_error_then_succeeds(mode: str, waits: Waits) -> None:
    """Two 500s then an image: the call succeeds after three attempts and says so in its metadata."""
    engine = engine_for(
        scripted(
            httpx.Response(500, json=SERVER_ERROR), httpx.Response(500, json=SERVER_ERROR), httpx.Response(200, json=OK)
        ),
        waits,
    )

    response = generate(engine, mode)

    assert len(response.data) == 1
    assert response.metadata["attempts"] == 3
    assert len(engine.requests) == 3
    assert len(waits.seconds) == 2


@both
def test_image_generation_retries_each_transient_kind(mode: str, waits: Waits) -> None:
    """429, 408, 502, 503, 504, connection errors and transport timeouts are each retried."""
    engine = engine_for(
        scripted(
            httpx.Response(429, json=RATE_LIMIT),
            httpx.Response(408, text="Request Timeout"),
            httpx.Response(502, text="Bad Gateway"),
            httpx.Response(503, json=SERVER_ERROR),
            httpx.Response(504, text="Gateway Timeout"),
            httpx.ConnectError,
            httpx.ReadTimeout,
            httpx.Response(200, json=OK),
        ),
        waits,
    )

    response = generate(engine, mode, num_retries=7)

    assert response.metadata["attempts"] == 8
    assert len(engine.requests) == 8


@both
def test_image_generation_gives_up_after_num_retries(mode: str, waits: Waits) -> None:
    """A provider that keeps failing is called 1 + num_retries times, then its last error is raised."""
    engine = engine_for(scripted(httpx.Response(503, json=SERVER_ERROR)), waits)

    with pytest.raises(ServiceUnavailableError) as caught:
        generate(engine, mode, num_retries=3)

    assert len(engine.requests) == 4
    assert caught.value.details["attempts"] == 4
    assert "overloaded" in str(caught.value) or "server had an error" in str(caught.value)


def test_image_generation_retries_twice_by_default(waits: Waits) -> None:
    """Without num_retries a call makes 1 + DEFAULT_NUM_RETRIES attempts."""
    engine = engine_for(scripted(httpx.Response(500, json=SERVER_ERROR)), waits)

    with pytest.raises(InternalServerError):
        generate(engine, "sync")

    assert DEFAULT_NUM_RETRIES == 2
    assert len(engine.requests) == 3


@both
def test_image_generation_num_retries_zero_makes_one_attempt(mode: str, waits: Waits) -> None:
    """num_retries=0 turns retries off."""
    engine = engine_for(scripted(httpx.Response(429, json=RATE_LIMIT)), waits)

    with pytest.raises(RateLimitError):
        generate(engine, mode, num_retries=0)

    assert len(engine.requests) == 1
    assert waits.seconds == []


@both
@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (
            400,
            {"error": {"message": "Invalid size", "type": "invalid_request_error", "param": "size", "code": None}},
            BadRequestError,
        ),
        (401, BAD_KEY, AuthenticationError),
        (
            403,
            {
                "error": {
                    "message": "Your organization must be verified",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
            },
            PermissionDeniedError,
        ),
        (
            404,
            {
                "error": {
                    "message": "The model does not exist",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "model_not_found",
                }
            },
            NotFoundError,
        ),
        (400, REFUSAL, ContentPolicyViolationError),
    ],
)
def test_image_generation_never_retries_client_errors(
    mode: str, waits: Waits, status: int, body: dict[str, Any], error: type[PixmuxError]
) -> None:
    """400, 401, 403, 404 and content-policy refusals are raised after one request."""
    engine = engine_for(scripted(httpx.Response(status, json=body)), waits)

    with pytest.raises(error):
        generate(engine, mode, num_retries=5)

    assert len(engine.requests) == 1
    assert waits.seconds == []


@both
def test_image_generation_waits_retry_after_seconds(mode: str, waits: Waits) -> None:
    """A 429 with ``Retry-After: 7`` waits at least 7 seconds before the retry."""
    engine = engine_for(
        scripted(httpx.Response(429, json=RATE_LIMIT, headers={"Retry-After": "7"}), httpx.Response(200, json=OK)),
        waits,
    )

    generate(engine, mode)

    assert len(waits.seconds) == 1
    assert 7.0 <= waits.seconds[0] <= 7.7


def test_image_generation_waits_retry_after_http_date(waits: Waits) -> None:
    """A 429 with ``Retry-After`` as an HTTP-date waits until about that date."""
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    engine = engine_for(
        scripted(httpx.Response(429, json=RATE_LIMIT, headers={"Retry-After": when}), httpx.Response(200, json=OK)),
        waits,
    )

    generate(engine, "sync")

    assert len(waits.seconds) == 1
    assert 27.0 <= waits.seconds[0] <= 33.0


def test_image_generation_waits_retry_after_ms(waits: Waits) -> None:
    """``retry-after-ms`` (Azure, OpenAI) is honoured in milliseconds."""
    engine = engine_for(
        scripted(
            httpx.Response(429, json=RATE_LIMIT, headers={"retry-after-ms": "1500"}), httpx.Response(200, json=OK)
        ),
        waits,
    )

    generate(engine, "sync")

    assert 1.5 <= waits.seconds[0] <= 1.65


@both
def test_image_generation_does_not_wait_past_the_deadline(mode: str, waits: Waits) -> None:
    """A Retry-After longer than the time left ends the call with the provider's own 429, at once."""
    engine = engine_for(scripted(httpx.Response(429, json=RATE_LIMIT, headers={"Retry-After": "120"})), waits)

    with pytest.raises(RateLimitError) as caught:
        generate(engine, mode, timeout=5)

    assert len(engine.requests) == 1
    assert waits.seconds == []
    assert caught.value.retry_after == 120
    assert caught.value.status_code == 429


def test_image_generation_deadline_bounds_backoff_too(waits: Waits) -> None:
    """Computed backoff that would end after the deadline is not taken either."""
    engine = engine_for(scripted(httpx.Response(500, json=SERVER_ERROR)), waits, initial=10.0, random=lambda: 0.0)

    with pytest.raises(InternalServerError):
        generate(engine, "sync", timeout=4, num_retries=5)

    assert len(engine.requests) == 1


def test_image_generation_sleeps_for_real_by_default() -> None:
    """Without an injected sleep the engine really waits (briefly) between attempts."""
    engine = make_engine(
        openai_provider,
        handler=scripted(
            httpx.Response(429, json=RATE_LIMIT, headers={"retry-after-ms": "10"}), httpx.Response(200, json=OK)
        ),
    )

    response = engine.image_generation(prompt="otter", model=MODEL, api_key=KEY)

    assert response.metadata["attempts"] == 2


def test_image_generation_accepts_max_retries_alias(waits: Waits) -> None:
    """``max_retries`` (the OpenAI client's name) works like num_retries."""
    engine = engine_for(scripted(httpx.Response(500, json=SERVER_ERROR)), waits)

    with pytest.raises(InternalServerError):
        generate(engine, "sync", max_retries=1)

    assert len(engine.requests) == 2


def test_image_generation_never_sends_retry_settings(waits: Waits) -> None:
    """num_retries and max_retries are the core's: they never reach the provider's body."""
    engine = engine_for(scripted(httpx.Response(200, json=OK)), waits)

    generate(engine, "sync", num_retries=1)
    generate(engine, "sync", max_retries=1)

    for request in engine.requests:
        sent = json.loads(request.content)
        assert "num_retries" not in sent
        assert "max_retries" not in sent


@pytest.mark.parametrize("value", [-1, 1.5, "2", True])
def test_image_generation_rejects_bad_num_retries(waits: Waits, value: Any) -> None:
    """A num_retries that is not a whole number >= 0 is a ConfigurationError naming it; nothing is sent."""
    engine = engine_for(scripted(httpx.Response(200, json=OK)), waits)

    with pytest.raises(ConfigurationError) as caught:
        generate(engine, "sync", num_retries=value)

    assert caught.value.param == "num_retries"
    assert engine.requests == []


def test_image_generation_retried_errors_keep_secrets_out(waits: Waits) -> None:
    """The error raised after retries names no key, in its message, repr or details."""
    engine = engine_for(scripted(httpx.Response(503, json=SERVER_ERROR)), waits)

    with pytest.raises(ServiceUnavailableError) as caught:
        generate(engine, "sync")

    for text in (str(caught.value), repr(caught.value), repr(caught.value.details)):
        assert KEY not in text


def test_image_generation_retries_from_many_threads(waits: Waits) -> None:
    """Retries are per call: eight threads, each failing once, each succeed on their second attempt."""
    failed: set[str] = set()
    lock = threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        prompt = json.loads(request.content)["prompt"]
        with lock:
            first = prompt not in failed
            failed.add(prompt)
        return httpx.Response(500, json=SERVER_ERROR) if first else httpx.Response(200, json=OK)

    engine = engine_for(handler, waits)
    results: dict[int, int] = {}

    def work(index: int) -> None:
        response = engine.image_generation(prompt=f"otter {index}", model=MODEL, api_key=KEY)
        results[index] = response.metadata["attempts"]

    threads = [threading.Thread(target=work, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results == dict.fromkeys(range(8), 2)
    assert len(engine.requests) == 16


def test_aimage_generation_retries_64_concurrent_calls(waits: Waits) -> None:
    """64 concurrent async calls, each failing once with a 429, all succeed on their second attempt."""
    failed: set[str] = set()

    def handler(request: httpx.Request) -> httpx.Response:
        prompt = json.loads(request.content)["prompt"]
        if prompt not in failed:
            failed.add(prompt)
            return httpx.Response(429, json=RATE_LIMIT)
        return httpx.Response(200, json=OK)

    engine = engine_for(handler, waits)

    async def main() -> list[pixmux.ImageResponse]:
        return await asyncio.gather(
            *(engine.aimage_generation(prompt=f"otter {i}", model=MODEL, api_key=KEY) for i in range(64))
        )

    responses = asyncio.run(main())

    assert [r.metadata["attempts"] for r in responses] == [2] * 64
    assert len(engine.requests) == 128


def test_api_image_generation_takes_num_retries(waits: Waits, restore_default_engine: None) -> None:
    """``pixmux.image_generation(num_retries=...)`` reaches the default engine's retry loop."""
    engine = engine_for(scripted(httpx.Response(500, json=SERVER_ERROR)), waits)
    pixmux.set_default_engine(engine)

    with pytest.raises(InternalServerError):
        pixmux.image_generation(prompt="otter", model=MODEL, api_key=KEY, num_retries=4)

    assert len(engine.requests) == 5


def test_api_aimage_generation_takes_num_retries(waits: Waits, restore_default_engine: None) -> None:
    """``pixmux.aimage_generation(num_retries=...)`` reaches the default engine's retry loop."""
    engine = engine_for(scripted(httpx.Response(500, json=SERVER_ERROR), httpx.Response(200, json=OK)), waits)
    pixmux.set_default_engine(engine)

    response = asyncio.run(pixmux.aimage_generation(prompt="otter", model=MODEL, api_key=KEY, num_retries=1))

    assert response.metadata["attempts"] == 2


# --------------------------------------------------------------------------- the helpers themselves


def test_pop_num_retries_takes_both_names_out() -> None:
    """Both spellings are removed from the call's keywords; num_retries wins when both are given."""
    kwargs: dict[str, Any] = {"num_retries": 4, "max_retries": 1, "seed": 3}

    assert pop_num_retries(kwargs) == 4
    assert kwargs == {"seed": 3}
    assert pop_num_retries({}) == DEFAULT_NUM_RETRIES


def test_call_with_retries_raises_non_pixmux_errors_at_once() -> None:
    """A bug (not a PixmuxError) is never retried."""
    calls: list[int] = []

    def attempt() -> None:
        calls.append(1)
        raise KeyError("bug")

    with pytest.raises(KeyError):
        call_with_retries(attempt, retries=3, deadline=time.monotonic() + 60, backoff=Backoff(sleep=lambda s: None))

    assert calls == [1]


@pytest.fixture
def no_sleep_backoff() -> Backoff:
    """A backoff that records nothing and never sleeps."""
    return attrs.evolve(Backoff(), sleep=lambda s: None)


def test_call_with_retries_returns_the_attempt_count(no_sleep_backoff: Backoff) -> None:
    """The loop reports how many attempts the success took."""
    outcomes: list[Any] = [RateLimitError("slow"), InternalServerError("boom"), "done"]

    def attempt() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return str(outcome)

    assert call_with_retries(attempt, retries=2, deadline=time.monotonic() + 60, backoff=no_sleep_backoff) == (
        "done",
        3,
    )


def test_prepare_leaves_retry_settings_out_of_the_request(waits: Waits) -> None:
    """``prepare`` (used by the gateway to check deployments) never treats num_retries as a provider parameter."""
    engine = engine_for(scripted(httpx.Response(200, json=OK)), waits)

    call = engine.prepare(prompt="otter", model=MODEL, api_key=KEY, max_retries=2, num_retries=1)

    assert "max_retries" not in call.request.params
    assert "num_retries" not in call.request.params
