"""
Streamed edits through the gateway: the official ``openai`` client's ``images.edit(stream=True)``
against a real ``uvicorn`` gateway in front of a stand-in that streams OpenAI's ``image_edit.*`` events.
"""

from __future__ import annotations

import base64
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from gateway_support import MASTER_KEY, RunningGateway, free_port, schema_validator
from PIL import Image
from pixmux._sse import SSEDecoder
from pixmux.proxy import create_app, parse_config
from pixmux.testing import TINY_PNG_B64, local_server

sys.path.insert(0, str(Path(__file__).parents[2] / "plugins" / "openai" / "tests"))

from stream_support import KEY, StreamingProvider, completed, partial

ROOM = base64.b64decode(TINY_PNG_B64)


def _mask() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", (1, 1), (0, 0, 0, 0)).save(buffer, "PNG")
    return buffer.getvalue()


MASK = _mask()


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with local_server(StreamingProvider) as url:
        yield f"{url}/v1"


@pytest.fixture(scope="module")
def gateway(upstream: str) -> Iterator[RunningGateway]:
    params = {"model": "openai/gpt-image-1", "api_key": KEY}
    config = {
        "model_list": [
            {"model_name": "gpt-image-1", "litellm_params": {**params, "api_base": upstream}},
            {
                "model_name": "broken",
                "litellm_params": {**params, "api_base": f"http://127.0.0.1:{free_port()}/v1"},
            },
        ],
        "general_settings": {"master_key": MASTER_KEY},
        "router_settings": {"num_retries": 0, "fallbacks": [{"broken": ["gpt-image-1"]}]},
    }
    with RunningGateway(create_app(parse_config(config, path="edits-stream.yaml", environ={}))) as running:
        yield running


def edit(client: openai.OpenAI, prompt: str, model: str = "gpt-image-1") -> list[dict[str, Any]]:
    stream = client.images.edit(
        model=model,
        image=("room.png", ROOM, "image/png"),
        mask=("mask.png", MASK, "image/png"),
        prompt=prompt,
        stream=True,
        partial_images=2,
    )
    return [event.model_dump(exclude_none=True) for event in stream]


def test_the_official_client_streams_an_edit_exactly_as_straight_from_the_provider(
    gateway: RunningGateway, upstream: str
) -> None:
    straight = edit(openai.OpenAI(base_url=upstream, api_key=KEY, max_retries=0), "winter direct")
    through = edit(openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=MASTER_KEY, max_retries=0), "winter gw")

    assert through == straight == [partial(0, "image_edit"), partial(1, "image_edit"), completed("image_edit")]
    sent = StreamingProvider.seen[-1]
    assert (sent["prompt"], sent["stream"], sent["partial_images"]) == ("winter gw", True, 2)
    assert [(name, data) for name, _, data in sent["files"]] == [("image", ROOM), ("mask", MASK)]


def test_a_fallback_before_the_first_event_serves_the_stream(gateway: RunningGateway) -> None:
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=MASTER_KEY, max_retries=0)
    events = edit(client, "winter fallback", model="broken")
    assert [e["type"] for e in events] == ["image_edit.partial_image"] * 2 + ["image_edit.completed"]


def test_every_raw_event_validates_against_openais_edit_stream_schema(gateway: RunningGateway) -> None:
    validator = schema_validator("ImageEditStreamEvent")
    with httpx.stream(
        "POST",
        f"{gateway.url}/v1/images/edits",
        data={"model": "gpt-image-1", "prompt": "winter raw", "stream": "true", "partial_images": "2"},
        files={"image": ("room.png", ROOM, "image/png")},
        headers={"Authorization": f"Bearer {MASTER_KEY}"},
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = b"".join(response.iter_bytes())
    decoder = SSEDecoder()
    events = decoder.feed(raw)
    assert decoder.close()
    assert [e.event for e in events] == ["image_edit.partial_image"] * 2 + ["image_edit.completed"]
    for event in events:
        validator.validate(json.loads(event.data))
    note = raw.split(b": pixmux ", 1)[1].split(b"\n", 1)[0]
    assert json.loads(note)["deployment"] == "gpt-image-1-0"


def test_a_mid_stream_failure_is_an_error_event_the_client_raises(gateway: RunningGateway) -> None:
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=MASTER_KEY, max_retries=0)
    with pytest.raises(openai.APIError, match="could not be finished"):
        edit(client, "winter fail-midway")
