"""OpenAI edits and variations: the multipart request, the responses and the errors (bodies as in the spec)."""

from __future__ import annotations

import io
import json
from typing import Any

import httpx
import pixmux_openai.provider as openai_provider
import pytest
from PIL import Image
from pixmux.exceptions import (
    AuthenticationError,
    BadRequestError,
    ContentPolicyViolationError,
    RateLimitError,
    UnsupportedParamsError,
)
from pixmux.testing import json_response, load_json, make_engine

KEY = "sk-test-0123456789abcdef"


def png(size: tuple[int, int] = (64, 64), mode: str = "RGBA") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size).save(buffer, "PNG")
    return buffer.getvalue()


def parts(request: httpx.Request) -> list[tuple[str, str | None, bytes]]:
    """(name, filename, bytes) of each part, in order."""
    boundary = request.headers["content-type"].split("boundary=")[1].encode()
    found = []
    for chunk in request.content.split(b"--" + boundary)[1:-1]:
        head, _, data = chunk[2:].partition(b"\r\n\r\n")
        disposition = head.split(b"\r\n")[0].decode()
        name = disposition.split('name="')[1].split('"')[0]
        filename = disposition.split('filename="')[1].split('"')[0] if "filename=" in disposition else None
        found.append((name, filename, data[:-2]))
    return found


def _engine(body: Any = None, status: int = 200, headers: dict[str, str] | None = None) -> Any:
    payload = body if body is not None else load_json("gpt_image_b64.json")
    return make_engine(openai_provider, handler=lambda r: json_response(status, payload, headers))


def test_one_image_is_sent_as_image_with_gpt_fields() -> None:
    """One image goes as `image`; GPT image edits send the GPT fields and the edit options, never style."""
    engine = _engine()

    engine.image_edit(
        png(),
        "make it winter",
        model="gpt-image-1",
        api_key=KEY,
        size="1024x1024",
        quality="high",
        n=2,
        input_fidelity="high",
        background="transparent",
        output_format="webp",
    )

    sent = engine.requests[0]
    assert str(sent.url) == "https://api.openai.com/v1/images/edits"
    assert f"Bearer {KEY}" == sent.headers["authorization"]
    fields = {name: data for name, filename, data in parts(sent) if filename is None}
    assert fields == {
        "model": b"gpt-image-1",
        "prompt": b"make it winter",
        "n": b"2",
        "size": b"1024x1024",
        "quality": b"high",
        "input_fidelity": b"high",
        "background": b"transparent",
        "output_format": b"webp",
    }
    assert [(n, f) for n, f, _ in parts(sent) if f is not None] == [("image", "image.png")]


def test_several_images_and_a_mask_keep_their_order_and_names() -> None:
    """Several images go as repeated image[] in order, with their file names, then the mask."""
    engine = _engine()
    first, second = png((64, 64)), png((64, 64), "RGB")
    named = io.BytesIO(second)
    named.name = "/photos/sofa.png"

    engine.image_edit([first, named], "sofa in room", model="gpt-image-1.5", mask=png(), api_key=KEY)

    files = [(n, f, d) for n, f, d in parts(engine.requests[0]) if f is not None]
    assert [("image[]", "image-0.png", first), ("image[]", "sofa.png", second), ("mask", "mask.png", png())] == files


def test_dalle2_edit_sends_response_format_and_needs_a_square_png() -> None:
    """dall-e-2 edits take response_format; a non-square image is refused before any request."""
    engine = _engine(load_json("dalle2_b64.json"))

    engine.image_edit(png(), "x", model="dall-e-2", api_key=KEY, response_format="b64_json", size="512x512")
    fields = {n: d for n, f, d in parts(engine.requests[0]) if f is None}
    assert fields["response_format"] == b"b64_json"

    with pytest.raises(UnsupportedParamsError, match="needs a square PNG") as caught:
        engine.image_edit(png((64, 32)), "x", model="dall-e-2", api_key=KEY)
    assert caught.value.param == "image"
    with pytest.raises(UnsupportedParamsError, match="takes at most 1"):
        engine.image_edit([png(), png()], "x", model="dall-e-2", api_key=KEY)


def test_variation_has_no_prompt_and_goes_to_variations() -> None:
    """A variation posts the image, n, size and response_format to /images/variations, no prompt."""
    engine = _engine(load_json("dalle2_b64.json"))

    resp = engine.image_variation(png(), model="dall-e-2", api_key=KEY, n=2, size="256x256")

    sent = engine.requests[0]
    assert sent.url.path == "/v1/images/variations"
    assert {"model", "n", "size", "image"} == {name for name, _, _ in parts(sent)}
    assert resp.cost == pytest.approx(0.016 * len(resp.data))


@pytest.mark.parametrize(
    ("model", "kwargs", "param"),
    [
        ("gpt-image-1-mini", {"input_fidelity": "high"}, "input_fidelity"),
        ("gpt-image-1", {"moderation": "low"}, "moderation"),
        ("gpt-image-1", {"style": "vivid"}, "style"),
        ("gpt-image-1", {"input_fidelity": "max"}, "input_fidelity"),
    ],
)
def test_edit_refuses_what_the_model_cannot_take(model: str, kwargs: dict[str, Any], param: str) -> None:
    """Each refusal names its parameter, before any request."""
    engine = _engine()
    with pytest.raises(UnsupportedParamsError) as caught:
        engine.image_edit(png(), "x", model=model, api_key=KEY, **kwargs)
    assert param == caught.value.param
    assert engine.requests == []


def test_generation_refuses_input_fidelity() -> None:
    """input_fidelity on a generation is refused, naming it."""
    with pytest.raises(UnsupportedParamsError, match="only to edits"):
        _engine().image_generation("x", model="gpt-image-1", api_key=KEY, input_fidelity="high")


def test_compatible_server_gets_everything_passed_through() -> None:
    """openai/<name> with api_base: an edit and a variation go to that server with every parameter."""
    engine = _engine(load_json("compatible_server.json"))

    engine.image_edit(png(), "x", model="openai/flux-kontext", api_base="http://127.0.0.1:9/v1", strength=0.6, steps=20)
    engine.image_variation(png(), model="openai/sd-var", api_base="http://127.0.0.1:9/v1")

    edit, variation = engine.requests
    assert str(edit.url) == "http://127.0.0.1:9/v1/images/edits"
    assert {"strength": b"0.6", "steps": b"20"}.items() <= {n: d for n, f, d in parts(edit) if f is None}.items()
    assert str(variation.url) == "http://127.0.0.1:9/v1/images/variations"
    assert "authorization" not in edit.headers


@pytest.mark.parametrize(
    ("name", "status", "error"),
    [
        ("error_content_policy.json", 400, ContentPolicyViolationError),
        ("error_moderation_blocked.json", 400, ContentPolicyViolationError),
        ("error_invalid_api_key.json", 401, AuthenticationError),
        ("error_rate_limit.json", 429, RateLimitError),
        ("error_unknown_parameter.json", 400, BadRequestError),
    ],
)
def test_edit_errors_are_typed(name: str, status: int, error: type[Exception]) -> None:
    """OpenAI's error bodies on an edit raise the matching typed error, and never show the key."""
    engine = _engine(load_json(name), status)
    with pytest.raises(error) as caught:
        engine.image_edit(png(), "x", model="gpt-image-1", api_key=KEY, num_retries=0)
    assert KEY not in str(caught.value)


def test_edit_response_keeps_usage_and_echo_fields() -> None:
    """The edit's ImagesResponse keeps usage and the echo fields, priced with image input tokens."""
    body = load_json("gpt_image_b64.json")
    resp = _engine(body).image_edit(png(), "x", model="gpt-image-1", api_key=KEY)

    details = body["usage"]["input_tokens_details"]
    assert resp.usage is not None
    assert details["image_tokens"] == resp.usage.input_tokens_details.image_tokens
    assert resp.quality == body["quality"]
    expected = details["text_tokens"] * 5e-6 + details["image_tokens"] * 10e-6 + body["usage"]["output_tokens"] * 40e-6
    assert pytest.approx(expected) == resp.cost


def _sse(*events: dict[str, Any]) -> httpx.Response:
    body = b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)
    return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})


_COMMON = {"created_at": 1720000000, "size": "1024x1024", "quality": "low", "background": "opaque"}


def test_edit_streams_image_edit_events() -> None:
    """image_edit(stream=True, partial_images=1): stream and partial_images go in the multipart; events come back."""
    from pixmux.testing import TINY_PNG_B64

    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return _sse(
            {"type": "image_edit.partial_image", "b64_json": TINY_PNG_B64, "partial_image_index": 0, **_COMMON},
            {"type": "image_edit.completed", "b64_json": TINY_PNG_B64, "output_format": "png", **_COMMON},
        )

    engine = make_engine(openai_provider, handler=handler)

    events = list(engine.image_edit(png(), "snow", model="gpt-image-1", api_key=KEY, stream=True, partial_images=1))

    assert [event.type for event in events] == ["image_edit.partial_image", "image_edit.completed"]
    fields = {name: data for name, filename, data in parts(seen[0]) if filename is None}
    assert (fields["stream"], fields["partial_images"]) == (b"true", b"1")


def test_edit_stream_of_a_model_without_native_streaming_is_one_completed_event() -> None:
    """dall-e-2 does not stream: its edit answers one completed event per image."""
    engine = _engine(load_json("dalle2_b64.json"))

    events = list(engine.image_edit(png(), "snow", model="dall-e-2", api_key=KEY, stream=True))

    assert {"image_edit.completed"} == {event.type for event in events}
    assert b'name="stream"' not in engine.requests[0].content
