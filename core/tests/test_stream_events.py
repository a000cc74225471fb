"""Stream events: reading OpenAI's, writing exactly OpenAI's, and the rules every stream keeps."""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import referencing
import yaml
from pixmux._sse import SSEDecoder
from pixmux.exceptions import (
    APIResponseValidationError,
    ContentPolicyViolationError,
    RateLimitError,
)
from pixmux.streaming import StreamCheck, completed_events, read_openai_event
from pixmux.testing import TINY_PNG_B64
from pixmux.types import ImageObject, ImageResponse, ImageStreamEvent, ServerSentEvent
from referencing.jsonschema import DRAFT202012

OPENAPI = Path(__file__).parent / "reference" / "openai-images-openapi.yaml"


def validator(name: str) -> jsonschema.protocols.Validator:
    document = yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))
    resource = referencing.Resource.from_contents(document, default_specification=DRAFT202012)
    registry: referencing.Registry[Any] = referencing.Registry().with_resource("urn:openai-images", resource)
    schema = {"$ref": f"urn:openai-images#/components/schemas/{name}"}
    cls = jsonschema.validators.validator_for({"$schema": "https://json-schema.org/draft/2020-12/schema"})
    return cls(schema, registry=registry)


GEN = validator("ImageGenStreamEvent")
EDIT = validator("ImageEditStreamEvent")

PARTIAL = {
    "type": "image_generation.partial_image",
    "b64_json": TINY_PNG_B64,
    "partial_image_index": 1,
    "created_at": 1720000000,
    "size": "1024x1024",
    "quality": "medium",
    "background": "opaque",
    "output_format": "png",
}
COMPLETED = {
    "type": "image_generation.completed",
    "b64_json": TINY_PNG_B64,
    "created_at": 1720000005,
    "size": "1024x1024",
    "quality": "medium",
    "background": "opaque",
    "output_format": "png",
    "usage": {
        "total_tokens": 1068,
        "input_tokens": 12,
        "output_tokens": 1056,
        "input_tokens_details": {"text_tokens": 12, "image_tokens": 0},
    },
}


def sse(body: dict[str, Any], event: str | None = None) -> ServerSentEvent:
    return ServerSentEvent(event=event or str(body.get("type", "message")), data=json.dumps(body))


@pytest.mark.parametrize("body", [PARTIAL, COMPLETED])
def test_openai_events_read_and_write_back_unchanged(body: dict[str, Any]) -> None:
    event = read_openai_event(sse(body), provider="openai", model="gpt-image-1")
    assert event is not None
    assert event.to_dict() == body
    GEN.validate(event.to_dict())


def test_usage_is_read_from_the_completed_event() -> None:
    event = read_openai_event(sse(COMPLETED), provider="openai", model="gpt-image-1")
    assert event is not None
    assert event.completed
    assert event.usage is not None
    assert (event.usage.input_tokens, event.usage.output_tokens, event.usage.total_tokens) == (12, 1056, 1068)
    assert event.usage.input_tokens_details.text_tokens == 12


def test_sparse_events_still_validate_against_the_schema() -> None:
    """The edits reference's own example carries only type, b64_json and the index: fill what the schema needs."""
    sparse = {"type": "image_edit.partial_image", "b64_json": TINY_PNG_B64, "partial_image_index": 0}
    event = read_openai_event(sse(sparse), provider="azure", model="gpt-image-1")
    assert event is not None
    out = event.to_dict()
    EDIT.validate(out)
    assert out["output_format"] == "png"  # judged from the bytes
    assert out["size"] == out["quality"] == out["background"] == "auto"


@pytest.mark.parametrize("data", ["[DONE]", "", '{"type":"image_generation.something_new","b64_json":"x"}'])
def test_events_without_an_image_are_skipped(data: str) -> None:
    assert read_openai_event(ServerSentEvent(data=data), provider="openai", model="m") is None


def test_error_event_is_the_typed_error() -> None:
    body = {"error": {"message": "slow down", "type": "rate_limit_error", "code": "rate_limit_exceeded"}}
    with pytest.raises(RateLimitError, match="slow down") as info:
        read_openai_event(sse(body, "error"), provider="openai", model="gpt-image-1")
    assert info.value.status_code == 429


def test_moderation_error_event_is_a_content_policy_violation() -> None:
    body = {"error": {"message": "blocked", "type": "image_generation_user_error", "code": "moderation_blocked"}}
    with pytest.raises(ContentPolicyViolationError):
        read_openai_event(sse(body), provider="openai", model="gpt-image-1")


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"type":"image_generation.completed"}', "no b64_json"),
    ],
)
def test_odd_events_are_typed_errors(data: str, match: str) -> None:
    with pytest.raises(APIResponseValidationError, match=match):
        read_openai_event(ServerSentEvent(data=data), provider="openai", model="gpt-image-1")


def test_a_whole_response_becomes_completed_events_with_cost_on_the_last() -> None:
    response = ImageResponse(
        created=5,
        data=(ImageObject(b64_json=TINY_PNG_B64), ImageObject(b64_json=TINY_PNG_B64)),
        cost=0.08,
        metadata={"provider": "bedrock"},
    )
    events = completed_events(response, operation="edit")
    assert [e.type for e in events] == ["image_edit.completed", "image_edit.completed"]
    assert [e.cost for e in events] == [None, 0.08]
    for event in events:
        EDIT.validate(event.to_dict())
        assert "cost" not in event.to_dict()


def test_a_url_only_image_cannot_be_streamed() -> None:
    response = ImageResponse(created=5, data=(ImageObject(url="https://example.com/x.png"),))
    with pytest.raises(APIResponseValidationError, match="only a URL"):
        completed_events(response)


def test_stream_check_refuses_the_wrong_operation_and_an_unfinished_stream() -> None:
    check = StreamCheck(provider="openai", model="gpt-image-1", operation="edit")
    partial = ImageStreamEvent(type="image_edit.partial_image", b64_json="AA", created_at=1, partial_image_index=0)
    assert check.accept(partial).type == "image_edit.partial_image"
    assert check.started
    with pytest.raises(APIResponseValidationError, match="no completed event"):
        check.finish()
    with pytest.raises(APIResponseValidationError, match=r"edit stream sent a image_generation\.completed"):
        check.accept(ImageStreamEvent(type="image_generation.completed", b64_json="AA", created_at=1))


# --------------------------------------------------------------------------------------------- big events, relayed

BIG_B64 = base64.b64encode(random.Random(3).randbytes(150_000)).decode()


def framed(body: dict[str, Any], *, escaped: bool = False, event: str | None = None) -> tuple[ServerSentEvent, bytes]:
    """An event as the core frames it from the wire, and the provider's block it came from."""
    data = json.dumps(body)
    if escaped:
        data = data.replace("/", "\\/")
    raw = f"event: {event or body['type']}\ndata: {data}\n\n".encode()
    decoder = SSEDecoder()
    events = [e for start in range(0, len(raw), 4096) for e in decoder.feed(raw[start : start + 4096])]
    assert len(events) == 1
    return events[0], raw


def test_a_big_openai_event_keeps_the_providers_bytes_and_reads_the_image_only_when_asked() -> None:
    body = {**PARTIAL, "b64_json": BIG_B64}
    sse_event, raw = framed(body)
    event = read_openai_event(sse_event, provider="openai", model="gpt-image-1")
    assert event is not None
    assert event.to_sse() == raw
    frame = sse_event._frame()
    assert frame is not None
    assert event.to_sse() is frame[0]  # the frame itself: no copy
    checked = StreamCheck(provider="openai", model="gpt-image-1", metadata={"provider": "openai"}).accept(event)
    with pytest.raises(AttributeError):
        object.__getattribute__(checked, "b64_json")  # not read on the way through
    assert checked.to_sse() is event.to_sse()
    assert checked.metadata["provider"] == "openai"
    assert checked.b64_json == BIG_B64
    assert checked.to_dict() == body
    GEN.validate(json.loads(checked.to_json()))


def test_a_big_event_with_escapes_is_relayed_as_sent_and_read_unescaped() -> None:
    """Some servers write every "/" as "\\/": valid JSON, relayed unchanged, and the library gets the real base64."""
    sse_event, raw = framed({**PARTIAL, "b64_json": BIG_B64}, escaped=True)
    event = read_openai_event(sse_event, provider="openai", model="gpt-image-1")
    assert event is not None
    assert event.to_sse() == raw
    assert "/" in BIG_B64
    assert event.b64_json == BIG_B64


def test_a_big_image_that_is_not_a_json_string_is_a_typed_error_when_read() -> None:
    body = {**PARTIAL, "b64_json": BIG_B64}
    raw = json.dumps(body).replace(BIG_B64[:10], BIG_B64[:5] + "\\q" + BIG_B64[7:10])
    sse_event = SSEDecoder().feed(f"event: {PARTIAL['type']}\ndata: {raw}\n\n".encode())[0]
    event = read_openai_event(sse_event, provider="openai", model="gpt-image-1")
    assert event is not None
    with pytest.raises(APIResponseValidationError, match="not a JSON string"):
        _ = event.b64_json


@pytest.mark.parametrize(
    "extra",
    [
        {"revised_prompt": "x" * 40_000},  # a second big string: read whole
        {"note": "é" * 20_000},  # beyond ASCII
    ],
)
def test_big_events_the_fast_reading_does_not_take_are_read_whole_and_alike(extra: dict[str, str]) -> None:
    body = {**PARTIAL, "b64_json": BIG_B64, **extra}
    event = read_openai_event(framed(body)[0], provider="openai", model="gpt-image-1")
    assert event is not None
    assert event.b64_json == BIG_B64
    assert event.partial_image_index == PARTIAL["partial_image_index"]
    assert json.loads(event.to_json()) == PARTIAL | {"b64_json": BIG_B64}  # written as OpenAI's, extras left out


def test_a_big_image_in_another_field_is_not_taken_for_the_image() -> None:
    body = {**PARTIAL, "b64_json": "", "other": BIG_B64}
    with pytest.raises(APIResponseValidationError, match="no b64_json"):
        read_openai_event(framed(body)[0], provider="openai", model="gpt-image-1")


def test_a_big_event_missing_what_the_schema_requires_is_written_as_openais() -> None:
    sparse = {"type": "image_generation.partial_image", "b64_json": BIG_B64, "partial_image_index": 0}
    sse_event, raw = framed(sparse)
    event = read_openai_event(sse_event, provider="openai", model="gpt-image-1")
    assert event is not None
    assert event.to_sse() != raw
    out = json.loads(SSEDecoder().feed(event.to_sse())[0].data)
    GEN.validate(out)
    assert out["b64_json"] == BIG_B64
    assert out["size"] == "auto"


def test_a_big_event_named_otherwise_than_its_type_is_written_under_its_type() -> None:
    sse_event, raw = framed({**PARTIAL, "b64_json": BIG_B64}, event="message")
    event = read_openai_event(sse_event, provider="openai", model="gpt-image-1")
    assert event is not None
    assert event.to_sse().startswith(b"event: image_generation.partial_image\ndata: ")
    assert event.to_sse() != raw


def test_a_big_error_event_is_the_typed_error() -> None:
    body = {"error": {"message": "x" * 70_000, "type": "rate_limit_error", "code": "rate_limit_exceeded"}}
    with pytest.raises(RateLimitError):
        read_openai_event(framed(body, event="error")[0], provider="openai", model="gpt-image-1")


def test_a_big_completed_event_is_relayed_only_when_its_usage_is_openais_too() -> None:
    exact, raw = framed({**COMPLETED, "b64_json": BIG_B64})
    relayed = read_openai_event(exact, provider="openai", model="gpt-image-1")
    assert relayed is not None
    assert relayed.to_sse() == raw
    odd_usage = {**COMPLETED["usage"], "input_tokens_details": "lots"}
    odd, raw = framed({**COMPLETED, "b64_json": BIG_B64, "usage": odd_usage})
    rewritten = read_openai_event(odd, provider="openai", model="gpt-image-1")
    assert rewritten is not None
    assert rewritten.to_sse() != raw
    GEN.validate(json.loads(rewritten.to_json()))
