"""Stream events: reading OpenAI's, writing exactly OpenAI's, and the rules every stream keeps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import referencing
import yaml
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
