"""
Streamed partial images from the library, sync and async (aiohttp and httpx's pool), against a
stand-in on 127.0.0.1 that streams OpenAI's exact events, a chunk at a time.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pixmux
import pixmux_openai.provider
import pytest
from pixmux import Engine
from pixmux.exceptions import APIResponseValidationError, RateLimitError, UnsupportedParamsError
from pixmux.testing import TINY_PNG_B64, local_server, make_engine

sys.path.insert(0, str(Path(__file__).parent))


from stream_support import BIG_B64, COMPLETED, KEY, StreamingProvider, block, partial


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with local_server(StreamingProvider) as url:
        yield f"{url}/v1"


@pytest.fixture(params=["aiohttp", "httpx"])
def async_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("PIXMUX_ASYNC_TRANSPORT", request.param)
    return str(request.param)


def engine() -> Engine:
    return Engine(plugins={"openai": pixmux_openai.provider}, discover=False, environ={})


def call(upstream: str, prompt: str, **extra: Any) -> dict[str, Any]:
    return {
        "prompt": prompt,
        "model": "gpt-image-1",
        "api_key": KEY,
        "api_base": upstream,
        "quality": "low",
        "size": "1024x1024",
        "num_retries": 0,
        **extra,
    }


def test_sync_stream_gives_every_event_in_order_with_cost_on_the_last(upstream: str) -> None:
    events = list(engine().stream_image_generation(**call(upstream, "otter sync", partial_images=2)))

    assert [e.type for e in events] == [
        "image_generation.partial_image",
        "image_generation.partial_image",
        "image_generation.completed",
    ]
    assert [e.partial_image_index for e in events[:2]] == [0, 1]
    assert [e.to_dict() for e in events] == [partial(0), partial(1), COMPLETED]  # exactly OpenAI's events
    last = events[-1]
    assert last.cost == pytest.approx(100 * 5e-06 + 200 * 4e-05)  # gpt-image-1's token prices
    assert last.metadata["provider"] == "openai"
    assert events[0].cost is None
    sent = StreamingProvider.seen[-1]
    assert (sent["stream"], sent["partial_images"]) == (True, 2)  # top-level fields


async def test_async_stream_gives_the_same_events_on_both_transports(upstream: str, async_kind: str) -> None:
    stream = engine().astream_image_generation(**call(upstream, f"otter async {async_kind}", partial_images=3))
    events = [event async for event in stream]

    assert [e.to_dict() for e in events] == [partial(0), partial(1), partial(2), COMPLETED]
    assert events[-1].cost is not None


def test_the_public_function_streams_too(upstream: str, monkeypatch: pytest.MonkeyPatch) -> None:
    previous = pixmux.set_default_engine(engine())
    try:
        events = list(pixmux.image_generation(**call(upstream, "otter public"), stream=True, partial_images=1))
    finally:
        pixmux.set_default_engine(previous)
    assert [e.type for e in events] == ["image_generation.partial_image", "image_generation.completed"]


async def test_the_public_async_function_returns_an_async_iterator(upstream: str) -> None:
    previous = pixmux.set_default_engine(engine())
    try:
        stream = await pixmux.aimage_generation(**call(upstream, "otter apublic"), stream=True, partial_images=1)
        events = [event async for event in stream]
    finally:
        pixmux.set_default_engine(previous)
    assert events[-1].completed


def test_a_failure_mid_stream_is_the_typed_error_after_the_first_event_and_never_retried(upstream: str) -> None:
    prompt = "otter fail-midway"
    seen: list[str] = []

    def consume() -> None:
        for event in engine().stream_image_generation(**call(upstream, prompt, partial_images=2, num_retries=3)):
            seen.append(event.type)

    with pytest.raises(pixmux.InternalServerError, match="could not be finished"):
        consume()
    assert seen == ["image_generation.partial_image"]
    assert StreamingProvider.attempts[prompt] == 1


def test_a_failure_before_the_first_event_is_retried(upstream: str) -> None:
    prompt = "otter busy-once"
    events = list(engine().stream_image_generation(**call(upstream, prompt, partial_images=1, num_retries=1)))
    assert events[-1].completed
    assert StreamingProvider.attempts[prompt] == 2


def test_a_failure_before_the_first_event_without_retries_is_the_providers_error(upstream: str) -> None:
    with pytest.raises(RateLimitError, match="busy"):
        list(engine().stream_image_generation(**call(upstream, "otter busy-once again")))


async def test_a_stream_cut_before_the_final_image_is_an_error(upstream: str, async_kind: str) -> None:
    stream = engine().astream_image_generation(**call(upstream, f"otter cut-off {async_kind}", partial_images=2))
    types: list[str] = []

    async def consume() -> None:
        async for event in stream:
            types.append(event.type)

    with pytest.raises(APIResponseValidationError, match="before the final image"):
        await consume()
    assert types == ["image_generation.partial_image"]


def test_a_model_without_native_streaming_gives_one_completed_event(upstream: str) -> None:
    events = list(
        engine().stream_image_generation(
            prompt="otter plain", model="openai/my-sd-model", api_key=KEY, api_base=upstream, partial_images=2
        )
    )
    assert [e.type for e in events] == ["image_generation.completed"]
    assert events[0].b64_json == TINY_PNG_B64
    sent = StreamingProvider.seen[-1]
    assert "stream" not in sent
    assert "partial_images" not in sent  # meaningless without native streaming: dropped


def test_mock_response_streams_as_completed_events() -> None:
    events = list(engine().stream_image_generation(prompt="otter", model="gpt-image-1", mock_response=True, n=2))
    assert [e.type for e in events] == ["image_generation.completed"] * 2


def test_partial_images_without_stream_names_the_parameter(upstream: str) -> None:
    with pytest.raises(UnsupportedParamsError, match="partial_images needs stream=True") as caught:
        engine().image_generation(**call(upstream, "otter"), partial_images=2)
    assert caught.value.param == "partial_images"


def test_out_of_range_partial_images_is_refused_before_any_request(upstream: str) -> None:
    before = len(StreamingProvider.seen)
    with pytest.raises(UnsupportedParamsError) as caught:
        list(engine().stream_image_generation(**call(upstream, "otter"), partial_images=7))
    assert caught.value.param == "partial_images"
    assert len(StreamingProvider.seen) == before


async def test_closing_the_stream_closes_the_providers_connection(upstream: str, async_kind: str) -> None:
    """A consumer that stops (a gateway client gone) ends the upstream call: the provider sees it."""
    StreamingProvider.closed.clear()
    stream = engine().astream_image_generation(**call(upstream, f"otter slowly {async_kind}", partial_images=3))
    first = await stream.__anext__()
    assert first.type == "image_generation.partial_image"
    stopped = time.monotonic()
    await stream.aclose()  # type: ignore[attr-defined]
    deadline = time.monotonic() + 3
    while not StreamingProvider.closed and time.monotonic() < deadline:
        await _sleep(0.05)
    assert StreamingProvider.closed, "the provider never saw the connection close"
    assert StreamingProvider.closed[0] - stopped < 1.0


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


def test_azure_sends_stream_fields_top_level_on_both_route_styles() -> None:
    import pixmux_azure.provider

    sse = block(partial(0)) + block(COMPLETED)
    engine_ = make_engine(
        pixmux_azure.provider,
        handler=lambda request: httpx.Response(200, headers={"content-type": "text/event-stream"}, content=sse),
    )
    for base in ("https://eu.openai.azure.com", "https://eu.openai.azure.com/openai/v1"):
        events = list(
            engine_.stream_image_generation(
                prompt="otter",
                model="azure/my-images",
                base_model="gpt-image-1",
                api_key="azure-key-0123456789",
                api_base=base,
                api_version="2025-04-01-preview",
                partial_images=1,
            )
        )
        assert [e.type for e in events] == ["image_generation.partial_image", "image_generation.completed"]
        body = json.loads(engine_.requests[-1].content)
        assert (body["stream"], body["partial_images"]) == (True, 1)
        assert "extra_body" not in body


def test_threads_do_not_share_streams(upstream: str) -> None:
    """One engine streams to several threads at once; each gets its own events."""
    shared = engine()
    results: dict[int, list[str]] = {}

    def run(index: int) -> None:
        events = shared.stream_image_generation(**call(upstream, f"t{index}", partial_images=1))
        results[index] = [e.type for e in events]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert all(types == ["image_generation.partial_image", "image_generation.completed"] for types in results.values())
    assert len(results) == 4


@pytest.mark.parametrize("prompt", ["otter big", "otter big escaped"])
def test_big_partial_images_reach_the_library_whole_sync(upstream: str, prompt: str) -> None:
    """300 kB images split into 8 kB writes, plain or with "\\/" escapes: the exact base64 each time."""
    events = list(engine().stream_image_generation(**call(upstream, prompt, partial_images=2)))
    assert [e.b64_json for e in events] == [BIG_B64, BIG_B64, TINY_PNG_B64]
    assert [e.partial_image_index for e in events[:2]] == [0, 1]
    assert events[-1].cost is not None


@pytest.mark.parametrize("prompt", ["otter big", "otter big escaped"])
async def test_big_partial_images_reach_the_library_whole_async(upstream: str, async_kind: str, prompt: str) -> None:
    events = [e async for e in engine().astream_image_generation(**call(upstream, prompt, partial_images=2))]
    assert [e.b64_json for e in events] == [BIG_B64, BIG_B64, TINY_PNG_B64]
    assert events[0].image().bytes().startswith(b"\x89PNG")
