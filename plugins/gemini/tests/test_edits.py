"""Google AI Studio edits: Gemini image models with reference images as inline parts."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import pixmux_gemini.provider as gemini
import pytest
from PIL import Image
from pixmux.exceptions import ContentPolicyViolationError, UnsupportedParamsError
from pixmux.testing import json_response, load_json, make_engine

KEY = "AIzaSy-test-key-0123456789"


def image(fmt: str = "PNG", size: tuple[int, int] = (40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size).save(buffer, fmt)
    return buffer.getvalue()


def _engine(status: int, name: str) -> Any:
    return make_engine(gemini, handler=lambda r: json_response(status, load_json(name)))


def test_edit_sends_the_instruction_then_each_image_inline() -> None:
    """aimage_edit-style call: text first, then PNG and JPEG parts with their MIME types; the key in the header."""
    engine = _engine(200, "gemini_image.json")
    png, jpeg = image(), image("JPEG")

    resp = engine.image_edit([png, jpeg], "make it winter", model="gemini/gemini-2.5-flash-image", api_key=KEY, n=2)

    assert len(engine.requests) == 2  # n images are n requests
    sent = engine.requests[0]
    assert sent.url.path == "/v1beta/models/gemini-2.5-flash-image:generateContent"
    assert sent.headers["x-goog-api-key"] == KEY
    parts = json.loads(sent.content)["contents"][0]["parts"]
    assert [p.get("text") for p in parts] == ["make it winter", None, None]
    assert [p["inlineData"]["mimeType"] for p in parts[1:]] == ["image/png", "image/jpeg"]
    assert base64.b64decode(parts[2]["inlineData"]["data"]) == jpeg
    assert resp.cost is not None


def test_edit_limits_are_named() -> None:
    """Fifteen images, a GIF and a mask are each refused before any request."""
    engine = _engine(200, "gemini_image.json")
    with pytest.raises(UnsupportedParamsError, match="at most 14"):
        engine.image_edit([image()] * 15, "x", model="gemini/gemini-3-pro-image", api_key=KEY)
    with pytest.raises(UnsupportedParamsError, match="image/gif") as caught:
        engine.image_edit(image("GIF"), "x", model="gemini/gemini-2.5-flash-image", api_key=KEY)
    assert caught.value.param == "image"
    with pytest.raises(UnsupportedParamsError, match="takes no mask"):
        engine.image_edit(image(), "x", model="gemini/gemini-2.5-flash-image", api_key=KEY, mask=image())
    assert engine.requests == []


def test_imagen_cannot_edit_on_the_gemini_api() -> None:
    """Imagen editing is Vertex-only: the Gemini API names its models that can edit."""
    with pytest.raises(UnsupportedParamsError, match="cannot edit images; gemini models that can"):
        _engine(200, "gemini_image.json").image_edit(image(), "x", model="gemini/imagen-4.0-generate-001", api_key=KEY)


def test_refused_input_is_a_content_policy_error() -> None:
    """An edit whose input Google blocks (promptFeedback) is a ContentPolicyViolationError."""
    with pytest.raises(ContentPolicyViolationError):
        _engine(200, "gemini_prompt_blocked.json").image_edit(
            image(), "x", model="gemini/gemini-2.5-flash-image", api_key=KEY
        )
