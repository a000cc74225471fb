"""
Streaming through the gateway: the official ``openai`` client, unchanged, against a real
``uvicorn`` gateway in front of a stand-in that streams OpenAI's exact events.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from gateway_support import MASTER_KEY, RunningGateway, free_port, schema_validator
from pixmux._sse import SSEDecoder
from pixmux.proxy import create_app, parse_config
from pixmux.proxy.sse import EventStream
from pixmux.testing import local_server

sys.path.insert(0, str(Path(__file__).parents[2] / "plugins" / "openai" / "tests"))

from stream_support import BIG_B64, COMPLETED, KEY, StreamingProvider, block, partial


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with local_server(StreamingProvider) as url:
        yield f"{url}/v1"


@pytest.fixture(scope="module")
def streaming_gateway(upstream: str) -> Iterator[RunningGateway]:
    config = {
        "model_list": [
            {
                "model_name": "gpt-image-1",
                "litellm_params": {"model": "openai/gpt-image-1", "api_base": upstream, "api_key": KEY},
            },
            {
                "model_name": "plain",
                "litellm_params": {"model": "openai/my-sd-model", "api_base": upstream, "api_key": KEY},
            },
        ],
        "general_settings": {"master_key": MASTER_KEY},
        "router_settings": {"num_retries": 0, "fallbacks": [{"broken": ["gpt-image-1"]}]},
    }
    config["model_list"].append(  # type: ignore[attr-defined]
        {
            "model_name": "broken",
            "litellm_params": {
                "model": "openai/gpt-image-1",
                "api_base": f"http://127.0.0.1:{free_port()}/v1",
                "api_key": KEY,
            },
        }
    )
    with RunningGateway(create_app(parse_config(config, path="stream.yaml", environ={}))) as running:
        yield running


def client(gateway: RunningGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=MASTER_KEY, max_retries=0)


def test_the_official_client_streams_the_same_events_as_straight_from_the_provider(
    streaming_gateway: RunningGateway, upstream: str
) -> None:
    direct = openai.OpenAI(base_url=upstream, api_key=KEY, max_retries=0)
    kwargs: dict[str, Any] = {"model": "gpt-image-1", "prompt": "otter", "stream": True, "partial_images": 2}
    straight = [event.model_dump(exclude_none=True) for event in direct.images.generate(**kwargs)]
    through = [event.model_dump(exclude_none=True) for event in client(streaming_gateway).images.generate(**kwargs)]

    assert through == straight
    assert [e["type"] for e in through] == [
        "image_generation.partial_image",
        "image_generation.partial_image",
        "image_generation.completed",
    ]
    assert through[-1]["usage"]["total_tokens"] == COMPLETED["usage"]["total_tokens"]


def test_the_raw_stream_is_event_stream_and_every_event_validates(streaming_gateway: RunningGateway) -> None:
    validator = schema_validator("ImageGenStreamEvent")
    body = {"model": "gpt-image-1", "prompt": "otter raw", "stream": True, "partial_images": 1}
    with httpx.stream(
        "POST",
        f"{streaming_gateway.url}/v1/images/generations",
        json=body,
        headers={"Authorization": f"Bearer {MASTER_KEY}"},
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = b"".join(response.iter_bytes())
    decoder = SSEDecoder()
    events = decoder.feed(raw)
    assert decoder.close()
    assert [e.event for e in events] == ["image_generation.partial_image", "image_generation.completed"]
    for event in events:
        validator.validate(json.loads(event.data))
    assert json.loads(events[0].data) == partial(0)
    assert b": pixmux {" in raw  # cost and deployment, as a comment every client ignores
    note = raw.split(b": pixmux ", 1)[1].split(b"\n", 1)[0]
    assert json.loads(note)["deployment"] == "gpt-image-1-0"
    assert json.loads(note)["cost"] > 0


def test_a_mid_stream_failure_is_an_error_event_the_client_raises(streaming_gateway: RunningGateway) -> None:
    seen: list[str] = []

    def consume() -> None:
        for event in client(streaming_gateway).images.generate(
            model="gpt-image-1", prompt="otter fail-midway gw", stream=True, partial_images=2
        ):
            seen.append(event.type)

    with pytest.raises(openai.APIError, match="could not be finished"):
        consume()
    assert seen == ["image_generation.partial_image"]


def test_a_failure_before_any_event_is_an_ordinary_error_status(streaming_gateway: RunningGateway) -> None:
    with pytest.raises(openai.RateLimitError, match="busy"):
        list(client(streaming_gateway).images.generate(model="gpt-image-1", prompt="otter busy-once gw", stream=True))


def test_bad_stream_parameters_are_a_400_naming_them(streaming_gateway: RunningGateway) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        list(
            client(streaming_gateway).images.generate(
                model="gpt-image-1", prompt="otter", stream=True, partial_images=9
            )
        )
    assert caught.value.body["param"] == "partial_images"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError, match="partial_images needs stream"):
        client(streaming_gateway).images.generate(model="gpt-image-1", prompt="otter", partial_images=1)


def test_a_model_without_native_streaming_gives_one_completed_event(streaming_gateway: RunningGateway) -> None:
    events = list(
        client(streaming_gateway).images.generate(model="plain", prompt="otter", stream=True, partial_images=2)
    )
    assert [e.type for e in events] == ["image_generation.completed"]


def test_a_client_that_disconnects_cancels_the_upstream_call(streaming_gateway: RunningGateway) -> None:
    StreamingProvider.closed.clear()
    body = {"model": "gpt-image-1", "prompt": "otter slowly gw", "stream": True, "partial_images": 3}
    with httpx.stream(
        "POST",
        f"{streaming_gateway.url}/v1/images/generations",
        json=body,
        headers={"Authorization": f"Bearer {MASTER_KEY}"},
    ) as response:
        for chunk in response.iter_bytes():
            if b"partial_image" in chunk:
                break
        gone = time.monotonic()
    deadline = time.monotonic() + 3
    while not StreamingProvider.closed and time.monotonic() < deadline:
        time.sleep(0.05)
    assert StreamingProvider.closed, "the provider never saw the call end"
    assert StreamingProvider.closed[0] - gone < 1.0


def test_a_refused_connection_before_the_first_event_falls_back(streaming_gateway: RunningGateway) -> None:
    body = {"model": "broken", "prompt": "otter fallback", "stream": True, "partial_images": 1}
    with httpx.stream(
        "POST",
        f"{streaming_gateway.url}/v1/images/generations",
        json=body,
        headers={"Authorization": f"Bearer {MASTER_KEY}"},
    ) as response:
        raw = b"".join(response.iter_bytes())
    events = SSEDecoder().feed(raw)
    assert [e.event for e in events] == ["image_generation.partial_image", "image_generation.completed"]
    note = json.loads(raw.split(b": pixmux ", 1)[1].split(b"\n", 1)[0])
    assert (note["deployment"], note["model_group"]) == ("gpt-image-1-0", "gpt-image-1")


@pytest.mark.parametrize("prompt", ["otter big relay", "otter big escaped relay", "otter big whole relay"])
def test_a_big_openai_event_is_relayed_as_the_provider_sent_it(streaming_gateway: RunningGateway, prompt: str) -> None:
    """The provider's bytes of each event reach the client unchanged: no decoding, no re-encoding of the image."""
    body = {"model": "gpt-image-1", "prompt": prompt, "stream": True, "partial_images": 2}
    with httpx.stream(
        "POST",
        f"{streaming_gateway.url}/v1/images/generations",
        json=body,
        headers={"Authorization": f"Bearer {MASTER_KEY}"},
    ) as response:
        assert response.status_code == 200
        raw = b"".join(response.iter_bytes())
    escaped = "escaped" in prompt
    for index in range(2):  # exactly the upstream's blocks: json.dumps's spacing, its "\/" escapes
        assert block({**partial(index), "b64_json": BIG_B64}, escaped=escaped) in raw
    assert block(COMPLETED) in raw
    validator = schema_validator("ImageGenStreamEvent")
    events = SSEDecoder().feed(raw)
    assert [json.loads(e.data)["b64_json"] for e in events] == [BIG_B64, BIG_B64, COMPLETED["b64_json"]]
    for event in events:
        validator.validate(json.loads(event.data))


def test_a_stream_holds_its_global_max_parallel_requests_slot_until_its_last_event(upstream: str) -> None:
    """With global_max_parallel_requests: 1, a stream being sent counts as in flight to its end, not to its headers."""
    config = {
        "model_list": [
            {
                "model_name": "gpt-image-1",
                "litellm_params": {"model": "openai/gpt-image-1", "api_base": upstream, "api_key": KEY},
            }
        ],
        "general_settings": {"master_key": MASTER_KEY, "global_max_parallel_requests": 1},
        "router_settings": {"num_retries": 0},
    }
    auth = {"Authorization": f"Bearer {MASTER_KEY}"}
    plain = {"model": "gpt-image-1", "prompt": "otter plain"}
    with RunningGateway(create_app(parse_config(config, path="limit.yaml", environ={}))) as gateway:
        url = f"{gateway.url}/v1/images/generations"
        body = {"model": "gpt-image-1", "prompt": "otter slowly", "stream": True, "partial_images": 2}
        with httpx.stream("POST", url, json=body, headers=auth, timeout=10) as response:
            assert response.status_code == 200
            chunks = response.iter_bytes()
            next(chunks)  # the stream has begun: its first event is here, more are coming
            during = httpx.post(url, json=plain, headers=auth, timeout=10)
            rest = b"".join(chunks)
        after = httpx.post(url, json=plain, headers=auth, timeout=10)

    assert during.status_code == 429, during.text
    assert during.json()["error"]["type"] == "rate_limit_error"
    assert b"image_generation.completed" in rest
    assert after.status_code == 200, after.text


@pytest.mark.parametrize("prompt", ["otter big freed", "otter big fail-midway freed"])
def test_a_streams_events_are_freed_as_it_ends_not_at_the_next_cyclic_collection(
    streaming_gateway: RunningGateway, prompt: str
) -> None:
    """
    Nothing of a finished stream is left in reference cycles: the gateway runs Python's cyclic
    collector rarely (``proxy._collector``), and events caught in a cycle (megabytes each) piled
    up, 4 MB a stream, until one ran.
    """
    from pixmux.types import ImageStreamEvent

    body = {"model": "gpt-image-1", "prompt": prompt, "stream": True, "partial_images": 2}
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)  # what a collection finds unreachable stays in gc.garbage, to be looked at
    try:
        with httpx.stream(
            "POST",
            f"{streaming_gateway.url}/v1/images/generations",
            json=body,
            headers={"Authorization": f"Bearer {MASTER_KEY}"},
            timeout=30,
        ) as response:
            raw = b"".join(response.iter_bytes())
        time.sleep(0.2)  # the gateway's side of the stream finishes just after the last byte
        gc.collect()
        left = [type(o).__name__ for o in gc.garbage if isinstance(o, ImageStreamEvent | EventStream | asyncio.Task)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()

    assert b"event: image_generation.partial_image" in raw
    assert left == []
