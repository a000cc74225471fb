"""
Streamed partial images: reading providers' events, and the rules every stream keeps.

Plugins whose provider streams OpenAI's image events (OpenAI, Azure, OpenAI-compatible
servers) implement ``parse_event`` with :func:`read_openai_event`. The core keeps the rules
in :class:`StreamCheck`: partial images first, one completed event per final image, an error
event or a stream that ends without a completed event is a typed error, and cost rides on the
last completed event. A model that cannot stream natively gets :func:`completed_events` of its
whole response, so that clients stream uniformly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from pixmux.converters import loads_json
from pixmux.exceptions import (
    APIResponseValidationError,
    ContentPolicyViolationError,
    PixmuxError,
    error_class_for_status,
)
from pixmux.types import (
    STREAM_EVENT_TYPES,
    ImageResponse,
    ImageStreamEvent,
    InputTokensDetails,
    OutputTokensDetails,
    ServerSentEvent,
    Usage,
)

__all__ = ["read_openai_event", "error_from_event", "completed_events", "StreamCheck"]

#: OpenAI error codes that mean a safety refusal.
_POLICY_CODES = frozenset({"content_policy_violation", "moderation_blocked", "content_filter"})
#: OpenAI error types, by the status they stand for.
_TYPE_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "rate_limit_error": 429,
    "rate_limit_exceeded": 429,
    "server_error": 500,
    "service_unavailable": 503,
}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def error_from_event(body: Mapping[str, Any], *, provider: str, model: str | None) -> PixmuxError:
    """The typed error for an ``error`` event's JSON (``{"error": {"message", "type", "code"}}``)."""
    inner = body.get("error", body)
    if not isinstance(inner, Mapping):
        inner = {"message": str(inner)}
    message = _text(inner.get("message")) or "the provider ended the stream with an error"
    code = _text(inner.get("code"))
    kind = _text(inner.get("type"))
    param = _text(inner.get("param"))
    if code in _POLICY_CODES or kind in _POLICY_CODES:
        return ContentPolicyViolationError(message, provider=provider, model=model, code=code, param=param)
    status = _TYPE_STATUS.get(kind or "", 500)
    cls = error_class_for_status(status)
    return cls(message, provider=provider, model=model, code=code or kind, param=param, status_code=status)


def _usage(value: Any) -> Usage | None:
    if not isinstance(value, Mapping):
        return None

    def count(mapping: Mapping[str, Any], name: str) -> int:
        found = mapping.get(name)
        return found if isinstance(found, int) and not isinstance(found, bool) and found >= 0 else 0

    details = value.get("input_tokens_details")
    details = details if isinstance(details, Mapping) else {}
    out = value.get("output_tokens_details")
    return Usage(
        input_tokens=count(value, "input_tokens"),
        output_tokens=count(value, "output_tokens"),
        total_tokens=count(value, "total_tokens"),
        input_tokens_details=InputTokensDetails(
            text_tokens=count(details, "text_tokens"), image_tokens=count(details, "image_tokens")
        ),
        output_tokens_details=OutputTokensDetails(
            image_tokens=count(out, "image_tokens"), text_tokens=count(out, "text_tokens")
        )
        if isinstance(out, Mapping)
        else None,
    )


_KNOWN_TYPES = frozenset(name for pair in STREAM_EVENT_TYPES.values() for name in pair)


def read_openai_event(event: ServerSentEvent, *, provider: str, model: str | None) -> ImageStreamEvent | None:
    """
    Read one of OpenAI's image stream events (the ``parse_event`` of OpenAI-shaped providers).

    Returns ``None`` for what carries no image (``[DONE]``, an empty ``data``, an event type
    this version does not know).

    Raises:
        PixmuxError: the typed error an ``error`` event (or a ``data`` with a top-level
            ``error``) stands for.
        APIResponseValidationError: the event's JSON is not of the documented shape.
    """
    data = event.data.strip()
    if not data or data == "[DONE]":
        return None
    try:
        body = loads_json(data.encode())
    except ValueError:
        raise APIResponseValidationError(
            f"a stream event is not JSON: {data[:80]!r}", provider=provider, model=model
        ) from None
    if not isinstance(body, dict):
        raise APIResponseValidationError("a stream event is not a JSON object", provider=provider, model=model)
    if event.event == "error" or "error" in body:
        raise error_from_event(body, provider=provider, model=model)
    kind = body.get("type") if isinstance(body.get("type"), str) else event.event
    if kind not in _KNOWN_TYPES:
        return None
    image = body.get("b64_json")
    if not isinstance(image, str) or not image:
        raise APIResponseValidationError(f"the {kind} event carries no b64_json image", provider=provider, model=model)
    created = body.get("created_at")
    index = body.get("partial_image_index")
    found = ImageStreamEvent(
        type=kind,
        b64_json=image,
        created_at=created if isinstance(created, int) and not isinstance(created, bool) else 0,
        partial_image_index=index if isinstance(index, int) and not isinstance(index, bool) else None,
        size=_text(body.get("size")),
        quality=_text(body.get("quality")),
        background=_text(body.get("background")),
        output_format=_text(body.get("output_format")),
        usage=_usage(body.get("usage")),
    )
    shape = found.to_dict()
    if shape.keys() == body.keys() and all(  # already exactly OpenAI's: keep its text
        body[key] == value for key, value in shape.items() if key not in ("b64_json", "usage")
    ):
        return attrs.evolve(found, raw=data)
    return found


def completed_events(response: ImageResponse, *, operation: str = "generate") -> list[ImageStreamEvent]:
    """
    A whole response as a stream: one completed event per image, cost and usage on the last.

    Images that came as URLs only have no place in OpenAI's events (they carry ``b64_json``):
    the caller downloads them first (``response_format="b64_json"``).
    """
    _, done = STREAM_EVENT_TYPES.get(operation, STREAM_EVENT_TYPES["generate"])
    events = []
    last = len(response.data) - 1
    for index, image in enumerate(response.data):
        if image.b64_json is None:
            raise APIResponseValidationError(
                "a streamed image needs base64 data; this image has only a URL",
                provider=response.metadata.get("provider"),
                model=response.metadata.get("model"),
            )
        events.append(
            ImageStreamEvent(
                type=done,
                b64_json=image.b64_json,
                created_at=response.created,
                size=response.size,
                quality=response.quality,
                background=response.background,
                output_format=response.output_format,
                usage=response.usage if index == last else None,
                cost=response.cost if index == last else None,
                metadata=response.metadata,
            )
        )
    return events


@attrs.define
class StreamCheck:
    """
    The rules of one stream, as a pure state machine the drivers feed with each parsed event.

    ``accept`` returns the event to hand on (with metadata, and cost on the last completed
    event once ``finish`` knows it); ``finish`` raises when the stream ended without a final
    image. ``started`` says whether any event went out: retries and fallbacks stop there.
    """

    provider: str
    model: str | None
    operation: str = "generate"
    metadata: Mapping[str, Any] = attrs.field(factory=dict)
    started: bool = False
    completed: int = 0

    def accept(self, event: ImageStreamEvent) -> ImageStreamEvent:
        """Check one event against the operation and the order; returns it with the call's metadata."""
        partial, done = STREAM_EVENT_TYPES.get(self.operation, STREAM_EVENT_TYPES["generate"])
        if event.type not in (partial, done):
            raise APIResponseValidationError(
                f"a {self.operation} stream sent a {event.type} event", provider=self.provider, model=self.model
            )
        self.started = True
        if event.completed:
            self.completed += 1
        return attrs.evolve(event, metadata={**self.metadata, **event.metadata})

    def finish(self) -> None:
        """The stream ended: fine only if every final image arrived."""
        if self.completed == 0:
            raise APIResponseValidationError(
                "the stream ended before the final image (no completed event)",
                provider=self.provider,
                model=self.model,
            )
