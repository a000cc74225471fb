"""
Streamed edits through the router, sync and async, against a stand-in on 127.0.0.1 that answers
``/v1/images/edits`` with OpenAI's ``image_edit.*`` events, a chunk at a time.
"""

from __future__ import annotations

import base64
import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pixmux_openai.provider
import pytest
from PIL import Image
from pixmux import Engine, RateLimitError, Router
from pixmux.exceptions import BadRequestError, PixmuxError
from pixmux.testing import TINY_PNG_B64, local_server

sys.path.insert(0, str(Path(__file__).parent))

from stream_support import KEY, StreamingProvider, completed, partial

ROOM = base64.b64decode(TINY_PNG_B64)


def mask_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", (1, 1), (0, 0, 0, 0)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with local_server(StreamingProvider) as url:
        yield f"{url}/v1"


def router(upstream: str, **settings: Any) -> Router:
    """``painter`` on the stand-in; ``broken`` nowhere, falling back to ``painter``."""
    engine = Engine(plugins={"openai": pixmux_openai.provider}, discover=False, environ={})
    params = {"model": "openai/gpt-image-1", "api_key": KEY, "quality": "low", "size": "1024x1024"}
    model_list = [
        {"model_name": "painter", "litellm_params": {**params, "api_base": upstream}},
        {"model_name": "broken", "litellm_params": {**params, "api_base": "http://127.0.0.1:9/v1"}},
    ]
    settings = {"num_retries": 0, "fallbacks": [{"broken": ["painter"]}], **settings}
    return Router(model_list, engine=engine, **settings)


def test_stream_image_edit_gives_openais_edit_events_and_says_where_it_was_served(upstream: str) -> None:
    events = list(
        router(upstream).stream_image_edit(ROOM, "add snow sync", "painter", mask=mask_png(), partial_images=2)
    )

    expected = [partial(0, "image_edit"), partial(1, "image_edit"), completed("image_edit")]
    assert [e.to_dict() for e in events] == expected
    assert events[-1].metadata["deployment"] == "painter-0"
    assert events[-1].metadata["model_group"] == "painter"
    assert (events[-1].cost or 0) > 0
    sent = StreamingProvider.seen[-1]
    assert (sent["stream"], sent["partial_images"], sent["prompt"]) == (True, 2, "add snow sync")
    assert [(name, kind) for name, kind, _ in sent["files"]] == [("image", "image/png"), ("mask", "image/png")]
    assert sent["files"][0][2] == ROOM


async def test_astream_image_edit_gives_the_same_events(upstream: str) -> None:
    stream = router(upstream).astream_image_edit([ROOM, ROOM], "add snow async", "painter", partial_images=1)
    events = [event async for event in stream]

    assert [e.type for e in events] == ["image_edit.partial_image", "image_edit.completed"]
    assert events[-1].metadata["deployment"] == "painter-0"
    assert [name for name, _, _ in StreamingProvider.seen[-1]["files"]] == ["image[]", "image[]"]


def test_a_failure_before_the_first_event_is_retried(upstream: str) -> None:
    events = list(
        router(upstream, num_retries=1).stream_image_edit(ROOM, "snow busy-once sync", "painter", partial_images=1)
    )

    assert [e.type for e in events] == ["image_edit.partial_image", "image_edit.completed"]
    assert events[-1].metadata["attempts"] == 2
    assert StreamingProvider.attempts["snow busy-once sync"] == 2


async def test_a_dead_deployment_falls_back_before_the_first_event(upstream: str) -> None:
    events = [e async for e in router(upstream).astream_image_edit(ROOM, "snow fallback", "broken", partial_images=1)]

    assert events[-1].type == "image_edit.completed"
    assert events[-1].metadata["deployment"] == "painter-0"
    assert [f["model_group"] for f in events[-1].metadata["failed_attempts"]] == ["broken"]


def test_without_retries_the_providers_error_is_raised(upstream: str) -> None:
    with pytest.raises(RateLimitError, match="busy"):
        list(router(upstream).stream_image_edit(ROOM, "snow busy-once again", "painter"))


def test_a_mid_stream_failure_is_not_retried(upstream: str) -> None:
    seen: list[str] = []
    stream = router(upstream, num_retries=3).stream_image_edit(ROOM, "snow fail-midway", "painter", partial_images=2)
    with pytest.raises(PixmuxError, match="could not be finished"):
        seen.extend(event.type for event in stream)

    assert seen == ["image_edit.partial_image"]
    assert StreamingProvider.attempts["snow fail-midway"] == 1


def test_an_unreadable_image_is_named_before_any_request(upstream: str) -> None:
    before = len(StreamingProvider.seen)
    with pytest.raises(BadRequestError):
        list(router(upstream).stream_image_edit(b"not an image", "snow", "painter"))
    assert len(StreamingProvider.seen) == before
