"""Recraft edits: each tool's endpoint, multipart files (JSON with data URLs for nested objects), responses, checks."""

from __future__ import annotations

import io
import json
from typing import Any

import httpx
import pixmux_recraft.provider as recraft
import pytest
from PIL import Image
from pixmux._pieces import pieces_of
from pixmux.exceptions import RateLimitError, UnsupportedParamsError
from pixmux.testing import json_response, load_json, make_engine
from pixmux.types import ImageInput

KEY = "recraft-key-0123456789"


def png(size: tuple[int, int] = (256, 256), mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size).save(buffer, "PNG")
    return buffer.getvalue()


def _engine(body: Any = None, status: int = 200) -> Any:
    payload = body if body is not None else load_json("url_two.json")
    return make_engine(recraft, handler=lambda r: json_response(status, payload))


def _fields(request: httpx.Request) -> dict[str, bytes]:
    boundary = request.headers["content-type"].split("boundary=")[1].encode()
    found = {}
    for chunk in request.content.split(b"--" + boundary)[1:-1]:
        head, _, data = chunk[2:].partition(b"\r\n\r\n")
        name = head.split(b'name="')[1].split(b'"')[0].decode()
        found[name] = data[:-2]
    return found


def test_inpaint_is_the_default_with_a_mask() -> None:
    """A mask sends image and mask files to /images/inpaint with the prompt and model; cost from credits."""
    engine = _engine()
    image, mask = png(), png(mode="L")

    resp = engine.image_edit(image, "a red door", model="recraft/recraftv3", mask=mask, api_key=KEY, n=2)

    sent = engine.requests[0]
    assert str(sent.url) == "https://external.api.recraft.ai/v1/images/inpaint"
    assert f"Bearer {KEY}" == sent.headers["authorization"]
    fields = _fields(sent)
    assert (image, mask) == (fields["image"], fields["mask"])
    assert (fields["prompt"], fields["model"], fields["n"]) == (b"a red door", b"recraftv3", b"2")
    assert pytest.approx(0.08) == resp.cost


@pytest.mark.parametrize(
    ("kwargs", "path", "field", "value"),
    [
        ({"strength": 0.4}, "/v1/images/imageToImage", "strength", b"0.4"),
        ({"tool": "replaceBackground"}, "/v1/images/replaceBackground", "prompt", b"on a beach"),
        ({"tool": "outpaint", "expand_left": 128}, "/v1/images/outpaint", "expand_left", b"128"),
    ],
)
def test_each_tool_has_its_endpoint(kwargs: dict[str, Any], path: str, field: str, value: bytes) -> None:
    """image-to-image, replace background and outpaint go to their own endpoints with their fields."""
    engine = _engine()

    engine.image_edit(png(), "on a beach", model="recraft/recraftv3", api_key=KEY, **kwargs)

    assert path == engine.requests[0].url.path
    fields = _fields(engine.requests[0])
    assert value == fields[field]
    assert "tool" not in fields


def test_nested_controls_go_as_json_with_data_urls() -> None:
    """controls (a nested object) make the body JSON, with the image as a data URL."""
    engine = _engine()

    engine.image_edit(
        png(), "x", model="recraft/recraftv3", api_key=KEY, strength=0.5, controls={"colors": [{"rgb": [255, 0, 0]}]}
    )

    body = json.loads(engine.requests[0].content)
    assert body["image_url"].startswith("data:image/png;base64,")
    assert body["controls"] == {"colors": [{"rgb": [255, 0, 0]}]}


def test_erase_region_reads_the_process_image_response() -> None:
    """eraseRegion takes no prompt and answers one image object."""
    answer = {"created": 1731000000, "credits": 10, "image": {"image_id": "a9", "url": "https://img.recraft.ai/x.png"}}
    engine = _engine(answer)

    resp = engine.image_edit(png(), "", model="recraft/recraftv3", mask=png(mode="L"), tool="eraseRegion", api_key=KEY)

    assert [image.url for image in resp.data] == ["https://img.recraft.ai/x.png"]
    assert pytest.approx(0.01) == resp.cost


def test_variation_needs_a_size() -> None:
    """variateImage needs size; with it the image goes to /images/variateImage."""
    engine = _engine()
    with pytest.raises(UnsupportedParamsError) as caught:
        engine.image_variation(png(), model="recraft/recraftv3", api_key=KEY)
    assert caught.value.param == "size"

    engine.image_variation(png(), model="recraft/recraftv3", api_key=KEY, size="1024x1024")
    assert engine.requests[0].url.path == "/v1/images/variateImage"


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({}, "strength"),
        ({"strength": 2}, "strength"),
        ({"tool": "inpaint"}, "mask"),
        ({"tool": "replaceBackground", "mask": "M"}, "mask"),
        ({"tool": "paint"}, "tool"),
        ({"tool": "outpaint"}, "expand_top"),
        ({"mask": "SMALL"}, "mask"),
    ],
)
def test_tool_refusals_name_the_parameter(kwargs: dict[str, Any], param: str) -> None:
    """Each tool's needs are checked before any request."""
    given = dict(kwargs)
    if given.get("mask") == "M":
        given["mask"] = png(mode="L")
    elif given.get("mask") == "SMALL":
        given["mask"] = png((128, 128), mode="L")
    engine = _engine()
    with pytest.raises(UnsupportedParamsError) as caught:
        engine.image_edit(png(), "x", model="recraft/recraftv3", api_key=KEY, **given)
    assert param == caught.value.param
    assert engine.requests == []


def test_generation_refuses_edit_parameters() -> None:
    """strength on a generation is named."""
    with pytest.raises(UnsupportedParamsError, match="applies to edits"):
        _engine().image_generation("x", model="recraft/recraftv3", api_key=KEY, strength=0.5)


def test_edit_errors_are_typed() -> None:
    """A 429 on an edit is a RateLimitError."""
    with pytest.raises(RateLimitError):
        _engine(load_json("error_429.json"), 429).image_edit(
            png(), "x", model="recraft/recraftv3", api_key=KEY, strength=0.5, num_retries=0
        )


def openai_mask(size: tuple[int, int] = (256, 256)) -> bytes:
    """OpenAI's convention: opaque everywhere but a transparent square, the area to edit."""
    image = Image.new("RGBA", size, (0, 0, 0, 255))
    image.paste((0, 0, 0, 0), (64, 64, 128, 128))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _white_square(data: bytes) -> None:
    """The mask Recraft gets: greyscale, white (change) in the square only, no alpha."""
    sent = Image.open(io.BytesIO(data))
    assert sent.mode == "L"
    assert sent.size == (256, 256)
    assert sent.getpixel((64, 64)) == sent.getpixel((127, 127)) == 255
    assert sent.getpixel((63, 64)) == sent.getpixel((128, 128)) == sent.getpixel((0, 0)) == 0


def test_an_openai_alpha_mask_reaches_recraft_white_for_change() -> None:
    engine = _engine()
    engine.image_edit(png(), "a red door", model="recraft/recraftv3", mask=openai_mask(), api_key=KEY)
    _white_square(_fields(engine.requests[0])["mask"])


def test_an_openai_alpha_mask_in_a_json_body_is_converted_too() -> None:
    """Nested parameters send JSON with data URLs: the mask there is converted as in multipart."""
    import base64

    engine = _engine()
    engine.image_edit(
        png(), "a red door", model="recraft/recraftv3", mask=openai_mask(), api_key=KEY, controls={"colors": []}
    )
    body = json.loads(engine.requests[0].content)
    prefix, _, encoded = body["mask_url"].partition(",")
    assert prefix == "data:image/png;base64"
    _white_square(base64.b64decode(encoded))


def test_a_broken_png_mask_is_named_before_any_request() -> None:
    engine = _engine()
    broken = openai_mask()[:80]
    with pytest.raises(UnsupportedParamsError) as caught:
        engine.image_edit(png(), "a red door", model="recraft/recraftv3", mask=broken, api_key=KEY)
    assert caught.value.param == "mask"
    assert not engine.requests


def test_an_upload_held_in_pieces_is_sent_uncopied() -> None:
    """An image held in pieces, as the gateway holds an upload, reaches Recraft whole, its views sent as they are."""
    engine = _engine()
    big = png() + bytes(300_000)
    views = tuple(memoryview(big)[at : at + 100_000] for at in range(0, len(big), 100_000))
    pieced = ImageInput(pieces=views, media_type="image/png", filename="cat.png")

    engine.image_edit(pieced, "on a beach", model="recraft/recraftv3", api_key=KEY, strength=0.4)

    sent = engine.requests[0]
    assert _fields(sent)["image"] == big
    assert [piece for piece in pieces_of(sent) or () if isinstance(piece, memoryview)] == list(views[:-1])
    assert all(held is view for held, view in zip(pieced.chunks(), views, strict=True))  # never joined
