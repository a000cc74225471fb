"""Azure OpenAI edits: OpenAI's multipart on both route styles, checked against base_model."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pixmux_azure.provider as azure
import pytest
from PIL import Image
from pixmux.exceptions import ContentPolicyViolationError, UnsupportedParamsError
from pixmux.testing import json_response, load_json, make_engine

BASE = "https://contoso-images.openai.azure.com"
KEY = "azure-key-0123456789abcdef"


def png(size: tuple[int, int] = (64, 64), mode: str = "RGBA") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size).save(buffer, "PNG")
    return buffer.getvalue()


def _engine(body: Any = None, status: int = 200) -> Any:
    payload = body if body is not None else load_json("gpt_image_b64.json")
    return make_engine(azure, handler=lambda r: json_response(status, payload))


@pytest.mark.parametrize(
    ("api_version", "path", "query"),
    [
        (None, "/openai/deployments/my-images/images/edits", "api-version=2025-04-01-preview"),
        ("preview", "/openai/v1/images/edits", "api-version=preview"),
        ("v1", "/openai/v1/images/edits", ""),
    ],
)
def test_edit_goes_as_multipart_on_either_route(api_version: str | None, path: str, query: str) -> None:
    """An edit is OpenAI's multipart to .../images/edits, with the api-key header and the deployment as model."""
    engine = _engine()

    resp = engine.image_edit(
        [png(), png()],
        "a gift basket",
        model="azure/my-images",
        mask=png(),
        api_base=BASE,
        api_key=KEY,
        api_version=api_version,
        input_fidelity="high",
    )

    sent = engine.requests[0]
    assert (path, query) == (sent.url.path, sent.url.query.decode())
    assert sent.headers["api-key"] == KEY
    assert sent.headers["content-type"].startswith("multipart/form-data; boundary=")
    body = sent.content
    assert body.count(b'name="image[]"') == 2
    assert b'name="mask"; filename="mask.png"' in body
    assert b'name="model"\r\n\r\nmy-images' in body
    assert b'name="input_fidelity"\r\n\r\nhigh' in body
    assert resp.data


def test_edit_is_checked_against_base_model() -> None:
    """With base_model a DALL-E 3 deployment cannot edit (naming the models that can); WebP input is refused."""
    engine = _engine()
    with pytest.raises(UnsupportedParamsError, match="dall-e-3 cannot edit images; azure models that can: gpt-image-1"):
        engine.image_edit(png(), "x", model="azure/old", api_base=BASE, api_key=KEY, base_model="dall-e-3")
    webp = io.BytesIO()
    Image.new("RGB", (8, 8)).save(webp, "WEBP")
    with pytest.raises(UnsupportedParamsError, match="image is image/webp; gpt-image-1 accepts image/jpeg, image/png"):
        engine.image_edit(webp.getvalue(), "x", model="azure/new", api_base=BASE, api_key=KEY, base_model="gpt-image-1")
    assert engine.requests == []


def test_input_fidelity_is_for_edits_only() -> None:
    """A generation with input_fidelity is refused, naming it."""
    with pytest.raises(UnsupportedParamsError) as caught:
        _engine().image_generation("x", model="azure/d", api_base=BASE, api_key=KEY, input_fidelity="high")
    assert caught.value.param == "input_fidelity"


def test_edit_content_filter_is_a_refusal() -> None:
    """Azure's content-filter 400 on an edit is a ContentPolicyViolationError."""
    engine = _engine(load_json("error_content_filter_documented.json"), status=400)
    with pytest.raises(ContentPolicyViolationError):
        engine.image_edit(png(), "x", model="azure/d", api_base=BASE, api_key=KEY, num_retries=0)


def test_edit_cost_prices_image_input_tokens() -> None:
    """With base_model, an edit's cost prices input image tokens at the image-token rate."""
    body = load_json("gpt_image_b64.json")
    resp = _engine(body).image_edit(png(), "x", model="azure/d", api_base=BASE, api_key=KEY, base_model="gpt-image-1")

    usage = body["usage"]
    text, image = usage["input_tokens_details"]["text_tokens"], usage["input_tokens_details"]["image_tokens"]
    assert pytest.approx(text * 5e-6 + image * 10e-6 + usage["output_tokens"] * 40e-6) == resp.cost


def test_secret_never_in_the_multipart_body() -> None:
    """The key rides in the header, never in the body."""
    engine = _engine()
    engine.image_edit(png(), "x", model="azure/d", api_base=BASE, api_key=KEY)
    assert KEY.encode() not in engine.requests[0].content
    assert isinstance(engine.requests[0], httpx.Request)
