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

import functools
import os
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
    this version does not know). An event that is already exactly OpenAI's keeps the
    provider's bytes, so that a gateway relays it as it came (``ImageStreamEvent.to_sse``);
    a big image is read only where the JSON around it is (see :func:`_read_big`).

    Raises:
        PixmuxError: the typed error an ``error`` event (or a ``data`` with a top-level
            ``error``) stands for.
        APIResponseValidationError: the event's JSON is not of the documented shape.
    """
    buffer, start, end = event._span()
    if end - start >= BIG_EVENT_BYTES and event.event != "error":
        found = _read_big(event, buffer, start, end)
        if found is not None:
            return found
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
    found = ImageStreamEvent(b64_json=image, **_fields(kind, body))
    frame = event._frame()
    if frame is not None and event.event == kind and _exact(found, body, image):
        return found._relayed(frame)
    return found


#: Events at least this big are read with their image cut out (a partial image is 0.1 to 3 MB).
BIG_EVENT_BYTES = 64 * 1024
#: A string at least this long (in bytes) is the image.
_BIG_STRING_BYTES = 16 * 1024
#: More small strings than this and the event is read whole (no OpenAI event has so many).
_MAX_STRINGS = 64


def _read_big(event: ServerSentEvent, buffer: bytes, start: int, end: int) -> ImageStreamEvent | None:
    """
    A big event read without reading its image, or ``None`` to read it whole instead.

    The JSON strings of ``buffer[start:end]`` are found by their quotes (a quote ends a string
    unless an odd number of backslashes precede it), each one memchr. Exactly one may be big,
    the ``b64_json`` value. The rest, with a stand-in for that string, is read as JSON: every
    field but the image is checked as for any event. The image's bytes stay where they
    arrived, passed over once (by the search for their closing quote), and become text only
    if someone reads ``b64_json``: then escapes are undone and a string JSON does not allow is
    an ``APIResponseValidationError`` (see ``ImageStreamEvent``). A gateway relays them as the
    provider sent them, the way a client of the provider itself would have received them.
    """
    big: tuple[int, int] | None = None
    strings = 0
    at = buffer.find(b'"', start, end)
    while at >= 0:
        close = _string_end(buffer, at + 1, end)
        if close < 0:
            return None
        if close - at - 1 >= _BIG_STRING_BYTES:
            if big is not None:
                return None
            big = (at + 1, close)
        else:
            strings += 1
            if strings > _MAX_STRINGS:
                return None
        at = buffer.find(b'"', close + 1, end)
    if big is None:
        return None
    hole = _hole()
    try:
        body = loads_json(b"".join((memoryview(buffer)[start : big[0]], hole, memoryview(buffer)[big[1] : end])))
    except ValueError:
        return None
    if not isinstance(body, dict) or "error" in body or body.get("b64_json") != hole.decode():
        return None
    kind = body.get("type") if isinstance(body.get("type"), str) else event.event
    if kind not in _KNOWN_TYPES:
        return None
    fields = _fields(kind, body)
    frame = event._frame()
    relay = None
    if (
        frame is not None
        and event.event == kind
        and _exact(ImageStreamEvent(b64_json="", **fields), body, hole.decode())
    ):
        relay = frame
    return ImageStreamEvent._read(b64_source=(buffer, *big), relay=relay, **fields)


def _string_end(buffer: bytes, start: int, end: int) -> int:
    """Where the JSON string whose first byte is at ``start`` ends (its closing quote), or -1."""
    close = buffer.find(b'"', start, end)
    while close > start and buffer[close - 1] == _BACKSLASH:
        run = 1
        while close - run - 1 >= start and buffer[close - run - 1] == _BACKSLASH:
            run += 1
        if run % 2 == 0:  # the backslashes escape each other, not the quote
            break
        close = buffer.find(b'"', close + 1, end)
    return close


_BACKSLASH = 0x5C


@functools.cache
def _hole() -> bytes:
    """What stands in for the image while the rest is read: random per process, so no event holds it."""
    return f"pixmux-image-{os.urandom(8).hex()}".encode()


def _fields(kind: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """An event's fields but the image, as read from its JSON (odd values left out, never trusted)."""
    created = body.get("created_at")
    index = body.get("partial_image_index")
    return {
        "type": kind,
        "created_at": created if isinstance(created, int) and not isinstance(created, bool) else 0,
        "partial_image_index": index if isinstance(index, int) and not isinstance(index, bool) else None,
        "size": _text(body.get("size")),
        "quality": _text(body.get("quality")),
        "background": _text(body.get("background")),
        "output_format": _text(body.get("output_format")),
        "usage": _usage(body.get("usage")),
    }


def _exact(found: ImageStreamEvent, body: Mapping[str, Any], image: str) -> bool:
    """Whether the provider's JSON already is exactly ``found.to_dict()`` (the same keys, the same values)."""
    shape = found.to_dict()
    if shape.keys() != body.keys() or body.get("b64_json") != image:
        return False
    return all(body[key] == value for key, value in shape.items() if key != "b64_json")


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
        return event._with_extras(metadata={**self.metadata, **event.metadata})

    def finish(self) -> None:
        """The stream ended: fine only if every final image arrived."""
        if self.completed == 0:
            raise APIResponseValidationError(
                "the stream ended before the final image (no completed event)",
                provider=self.provider,
                model=self.model,
            )
