"""Tests of the Recraft provider: body field by field, styles and extras against the catalogue, SVG output, errors."""

from __future__ import annotations

import base64
import http.server
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pixmux_recraft.provider as recraft
import pytest
from pixmux.exceptions import (
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    UnsupportedParamsError,
)
from pixmux.testing import check_plugin, json_response, load_json, local_server, make_engine, reply
from pixmux.types import Deployment, ImageObject, ImageRequest, ImageResponse, image_extension

KEY = "recraft-token-0123456789abcdef"
RESPONSES = Path(__file__).parent / "responses"
SVG = (RESPONSES / "recraft_logo.svg").read_bytes()

#: The request example of Recraft's endpoint reference (two race cars), as pixmux keyword arguments.
SPEC_EXAMPLE: dict[str, Any] = {
    "prompt": "two race cars on a track",
    "style": "digital_illustration",
    "substyle": "hand_drawn",
    "size": "1365x1024",
    "n": 2,
    "response_format": "url",
    "negative_prompt": "text",
    "controls": {"colors": [{"rgb": [255, 87, 34]}], "background_color": {"rgb": [255, 255, 255]}, "no_text": True},
    "text_layout": [{"text": "GO", "bbox": [[0.1, 0.1], [0.4, 0.1], [0.4, 0.3], [0.1, 0.3]]}],
}


def _request(model: str = "recraftv3", **kwargs: Any) -> ImageRequest:
    fields = {name: kwargs.pop(name) for name in ImageRequest.OPENAI_PARAMS if name in kwargs}
    return ImageRequest(prompt=kwargs.pop("prompt", "a fox logo"), model=model, params=kwargs, **fields)


def _validate(request: ImageRequest) -> None:
    recraft.validate_params(request=request, model=recraft.CATALOGUE.lookup(request.model))


def _engine(body: Any = None, status: int = 200, **kwargs: Any) -> Any:
    payload = body if body is not None else load_json("url_two.json")
    return make_engine(recraft, handler=lambda r: json_response(status, payload), **kwargs)


def _parse(response: httpx.Response, request: ImageRequest | None = None) -> ImageResponse:
    request = request or _request()
    response.request = httpx.Request("POST", f"{recraft.DEFAULT_API_BASE}/images/generations")
    return recraft.parse_response(response=response, request=request, model=recraft.CATALOGUE.lookup(request.model))


def test_check_plugin_passes_the_contract():
    """The plugin meets pixmux's plugin contract on its default endpoint."""
    assert check_plugin(recraft, name="recraft") == []


def test_build_request_sends_recrafts_example_field_by_field():
    """Recraft's documented example, given as keyword arguments, is sent exactly as Recraft shows it."""
    engine = _engine()

    engine.image_generation(model="recraft/recraftv3", api_key=KEY, **SPEC_EXAMPLE)

    sent = engine.requests[0]
    assert str(sent.url) == "https://external.api.recraft.ai/v1/images/generations"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(sent.content) == {"model": "recraftv3", **SPEC_EXAMPLE}


def test_build_request_sends_the_remaining_extras():
    """random_seed, image_format, style_id and the flags travel under their own names; user never does."""
    request = _request(
        user="u-1",
        random_seed=42,
        image_format="webp",
        style_id="229b2a75-05e4-4580-85f9-b47ee521a00d",
        block_nsfw=True,
        controls={"artistic_level": 3},
    )
    deployment = Deployment(provider="recraft", model="recraftv3", api_key=KEY)

    body = json.loads(recraft.build_request(request=request, deployment=deployment).content)

    assert body == {
        "model": "recraftv3",
        "prompt": "a fox logo",
        "random_seed": 42,
        "image_format": "webp",
        "style_id": "229b2a75-05e4-4580-85f9-b47ee521a00d",
        "block_nsfw": True,
        "controls": {"artistic_level": 3},
    }


def test_build_request_sends_v4_options():
    """A V4 model takes an aspect-ratio size and style_match / creativity / upscale."""
    engine = _engine()

    engine.image_generation(
        prompt="poster",
        model="recraft/recraftv4",
        size="16:9",
        style_match="precise",
        creativity="eccentric",
        upscale="upscale4mp",
        api_key=KEY,
    )

    body = json.loads(engine.requests[0].content)
    assert (body["size"], body["style_match"], body["creativity"], body["upscale"]) == (
        "16:9",
        "precise",
        "eccentric",
        "upscale4mp",
    )


def test_api_base_overrides_the_endpoint():
    """api_base sends the same body elsewhere."""
    engine = _engine()

    engine.image_generation(prompt="fox", model="recraft/recraftv3", api_key=KEY, api_base="http://127.0.0.1:9/v1/")

    assert str(engine.requests[0].url) == "http://127.0.0.1:9/v1/images/generations"


def test_environment_supplies_the_token():
    """RECRAFT_API_KEY (or Recraft's own RECRAFT_API_TOKEN) is sent as the bearer token."""
    for name in ("RECRAFT_API_KEY", "RECRAFT_API_TOKEN"):
        engine = _engine(environ={name: KEY})
        engine.image_generation(prompt="fox", model="recraft/recraftv3")
        assert engine.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_missing_token_sends_nothing():
    """Without a token the call fails before any request, saying how to give one."""
    engine = _engine()

    with pytest.raises(AuthenticationError, match="RECRAFT_API_KEY"):
        engine.image_generation(prompt="fox", model="recraft/recraftv3")

    assert engine.requests == []


@pytest.mark.parametrize(
    ("model", "kwargs", "param", "fragment"),
    [
        ("recraftv3", {"quality": "hd"}, "quality", "quality='hd'"),
        ("recraftv3", {"n": 7}, "n", "1 to 6"),
        ("recraftv3", {"size": "1792x1024"}, "size", "1365x1024"),
        ("recraftv3", {"size": "16:9"}, "size", "1365x1024"),
        ("recraftv4", {"size": "1365x1024"}, "size", "16:9"),
        ("recraftv4_pro", {"size": "1024x1024"}, "size", "2048x2048"),
        ("recraftv3", {"style": "vivid"}, "style", "realistic_image"),
        ("recraftv3", {"style": "icon"}, "style", "digital_illustration"),
        ("recraftv4", {"style": "realistic_image"}, "style", "none"),
        ("recraftv3", {"style": "realistic_image", "substyle": "pixel_art"}, "substyle", "hard_flash"),
        ("recraftv3", {"substyle": "hand_drawn"}, "substyle", "needs one of the styles"),
        ("recraftv3", {"style": "digital_illustration", "substyle": "voxel"}, "substyle", "voxel"),
        ("recraftv2", {"style": "logo_raster"}, "style", "icon"),
        ("recraftv3_vector", {"style": "realistic_image"}, "style", "vector_illustration"),
        ("recraftv4", {"substyle": "hand_drawn"}, "substyle", "not a parameter"),
        (
            "recraftv4",
            {"text_layout": [{"text": "GO", "bbox": [[0, 0], [1, 0], [1, 1], [0, 1]]}]},
            "text_layout",
            "not",
        ),
        ("recraftv3", {"style": "Recraft V3 Raw", "substyle": "hdr"}, "substyle", "named style"),
        ("recraftv3", {"style_id": "my-style"}, "style_id", "UUID"),
        (
            "recraftv3",
            {"style": "any", "style_id": "229b2a75-05e4-4580-85f9-b47ee521a00d"},
            "style_id",
            "either style or style_id",
        ),
        ("recraftv3", {"controls": {"artistic_level": 6}}, "controls", "0 to 5"),
        ("recraftv3", {"controls": {"colors": [{"rgb": [256, 0, 0]}]}}, "controls", "0 to 255"),
        ("recraftv3", {"controls": {"colors": {"rgb": [1, 2, 3]}}}, "controls", "list of colors"),
        ("recraftv3", {"controls": {"background_color": [255, 255, 255]}}, "controls", "'rgb'"),
        ("recraftv3", {"controls": {"no_text": "yes"}}, "controls", "true or false"),
        ("recraftv3", {"controls": {"artistic": 1}}, "controls", "unknown keys"),
        (
            "recraftv3",
            {"text_layout": [{"text": "GO", "bbox": [[0, 0], [2, 0], [1, 1], [0, 1]]}]},
            "text_layout",
            "0 to 1",
        ),
        ("recraftv3", {"text_layout": [{"text": "GO"}]}, "text_layout", "'bbox'"),
        ("recraftv3", {"text_layout": []}, "text_layout", "non-empty"),
        ("recraftv3", {"random_seed": 1.5}, "random_seed", "whole number"),
        ("recraftv3", {"random_seed": 2**32}, "random_seed", "out of range"),
        ("recraftv3", {"image_format": "gif"}, "image_format", "png, webp"),
        ("recraftv3_vector", {"image_format": "png"}, "image_format", "not a parameter"),
        ("recraftv4", {"creativity": "wild"}, "creativity", "eccentric"),
        ("recraftv3", {"negative_prompt": ["text"]}, "negative_prompt", "string"),
        ("recraftv3", {"block_nsfw": "true"}, "block_nsfw", "true or false"),
        ("recraftv3", {"guidance_scale": 7}, "guidance_scale", "not a parameter"),
        ("recraftv3", {"prompt": "x" * 1001}, "prompt", "1000"),
    ],
)
def test_validate_params_refuses_what_the_catalogue_does_not_allow(
    model: str, kwargs: dict[str, Any], param: str, fragment: str
):
    """Each bad style, substyle, size or extra is refused by name before any request, saying what is accepted."""
    with pytest.raises(UnsupportedParamsError) as caught:
        _validate(_request(model, **kwargs))

    assert caught.value.param == param
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("model", "kwargs"),
    [
        ("recraftv3", SPEC_EXAMPLE),
        ("recraftv3", {"style": "Recraft V3 Raw"}),
        ("recraftv3", {"style": "logo_raster", "substyle": "emblem_stamp"}),
        ("recraftv2", {"style": "icon", "substyle": "pictogram"}),
        ("recraft20b", {"style": "vector_illustration", "substyle": "flat_2"}),
        ("recraftv3_vector", {"style": "vector_illustration", "substyle": "bold_stroke"}),
        ("recraftv4", {"size": "1344x768", "prompt": "x" * 5000}),
        ("recraftv4_pro_raster", {"size": "2688x1536"}),
        ("recraftv4_1", {"size": "2:1"}),
        ("flux1_1pro", {"size": "1024x768", "anything": 1}),
    ],
)
def test_validate_params_accepts_what_recraft_documents(model: str, kwargs: dict[str, Any]):
    """Documented combinations pass: families with their substyles, named styles, aliases, V4 sizes, proxied models."""
    assert _validate(_request(model, **dict(kwargs))) is None


def test_drop_params_drops_quality():
    """With drop_params an OpenAI quality is dropped (Recraft has none) and the call goes through."""
    engine = _engine()

    with pytest.warns(UserWarning, match="quality"):
        engine.image_generation(prompt="fox", model="recraft/recraftv3", quality="hd", drop_params=True, api_key=KEY)

    assert "quality" not in json.loads(engine.requests[0].content)


def test_parse_response_reads_urls_credits_and_ids():
    """Two URL images come back with Recraft's image ids and the credits charged; the cost is credits / 1000."""
    resp = _parse(httpx.Response(200, json=load_json("url_two.json")))

    assert [image.url is not None and image.url.startswith("https://img.recraft.ai/") for image in resp.data] == [
        True,
        True,
    ]
    assert resp.metadata["credits"] == 80
    assert resp.metadata["image_ids"][0] == "7b2c1c1e-3f4a-4b8e-9d2a-1c5e6f7a8b9c"
    assert resp.metadata["vector"] is False
    assert resp.cost == 0.08
    assert set(resp.to_dict()) == {"created", "data"}


def test_parse_response_reads_base64_and_features():
    """A b64_json answer keeps its image and nsfw score."""
    resp = _parse(httpx.Response(200, json=load_json("b64_one.json")), _request(response_format="b64_json"))

    assert resp.data[0].bytes().startswith(b"\x89PNG")
    assert resp.metadata["features"] == [{"nsfw_score": 0.0021}]
    assert resp.cost == 0.04


def test_parse_response_keeps_a_style_made_from_references():
    """A style created from reference images is reported by its style_id."""
    resp = _parse(httpx.Response(200, json=load_json("style_reference.json")))

    assert resp.metadata["style_id"] == "229b2a75-05e4-4580-85f9-b47ee521a00d"


def test_cost_without_credits_uses_the_catalogue():
    """Without credits in the answer, a raster image is priced from the catalogue (V3: US$0.04)."""
    engine = _engine(load_json("b64_no_credits.json"))

    resp = engine.image_generation(prompt="fox", model="recraft/recraftv3", api_key=KEY)

    assert resp.cost == 0.04


def test_cost_without_credits_uses_the_vector_price_for_a_vector_style():
    """A V3 raster model asked for vector_illustration makes SVG and is priced as a vector (US$0.08)."""
    request = _request(style="vector_illustration")

    resp = _parse(httpx.Response(200, json=load_json("vector_b64_no_credits.json")), request)

    assert resp.metadata["vector"] is True
    assert resp.cost == 0.08


def test_vector_b64_is_saved_as_svg(tmp_path: Path):
    """A vector model's base64 answer is SVG text, saved with the .svg extension."""
    resp = _parse(httpx.Response(200, json=load_json("vector_b64.json")), _request("recraftv4_vector"))

    saved = resp.data[0].save(tmp_path / "logo")
    paths = resp.save_all(tmp_path / "all")

    assert saved.suffix == ".svg"
    assert saved.read_bytes() == SVG
    assert [path.suffix for path in paths] == [".svg"]
    assert resp.metadata["vector"] is True


@pytest.fixture
def svg_server() -> Iterator[str]:
    """A server on 127.0.0.1 serving Recraft's SVG at any path (as img.recraft.ai would)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            reply(self, 200, SVG, content_type="image/svg+xml")

        def log_message(self, *args: Any) -> None:
            pass

    with local_server(Handler) as url:
        yield url


def test_vector_url_is_downloaded_and_saved_as_svg(tmp_path: Path, svg_server: str):
    """A vector answer's URL is downloaded on save and written as .svg, judged from the bytes."""
    body = load_json("vector_url.json")
    body["data"][0]["url"] = f"{svg_server}/external/images/0e1d2c3b.svg"
    resp = _parse(httpx.Response(200, json=body), _request("recraftv3_vector"))

    saved = resp.data[0].save(tmp_path)

    assert saved.name == "image.svg"
    assert saved.read_bytes() == SVG


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b'<?xml version="1.0" encoding="UTF-8"?>\n',
        b"\xef\xbb\xbf",
        b"\n  <!-- Generator: Recraft -->\n",
        b'<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n',
    ],
)
def test_image_extension_recognises_recraft_svg(head: bytes):
    """SVG is recognised with or without an XML declaration, a BOM, a comment or a doctype in front."""
    assert image_extension(head + SVG) == "svg"
    image = ImageObject(b64_json=base64.b64encode(head + SVG).decode())
    assert image.extension() == "svg"


@pytest.mark.parametrize(
    ("status", "body", "cls", "fragment"),
    [
        (401, "request unauthorized", AuthenticationError, "request unauthorized"),
        (404, "404 page not found", NotFoundError, "404 page not found"),
        (500, "internal server error", InternalServerError, "internal server error"),
    ],
)
def test_parse_response_reads_plain_text_errors(status: int, body: str, cls: type[Exception], fragment: str):
    """Recraft's text/plain errors become their pixmux class with Recraft's text as the message."""
    response = httpx.Response(status, text=body, headers={"Content-Type": "text/plain; charset=utf-8"})

    with pytest.raises(cls) as caught:
        _parse(response)

    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("status", "name", "cls"),
    [(400, "error_400.json", BadRequestError), (429, "error_429.json", RateLimitError)],
)
def test_parse_response_reads_json_errors(status: int, name: str, cls: type[Exception]):
    """JSON errors ({code, message}) keep Recraft's message and code."""
    body = load_json(name)

    with pytest.raises(cls) as caught:
        _parse(httpx.Response(status, json=body))

    assert body["message"] in str(caught.value)
    assert caught.value.code == body["code"]  # type: ignore[attr-defined]


def test_secrets_never_appear_in_errors_or_reprs():
    """The token shows in no error, no deployment repr and no response."""
    engine = make_engine(recraft, handler=lambda r: httpx.Response(401, text="request unauthorized"))
    with pytest.raises(AuthenticationError) as caught:
        engine.image_generation(prompt="fox", model="recraft/recraftv3", api_key=KEY)
    assert KEY not in str(caught.value) + repr(caught.value)
    assert KEY not in repr(Deployment(provider="recraft", model="recraftv3", api_key=KEY))

    resp = _engine().image_generation(prompt="fox", model="recraft/recraftv3", api_key=KEY)
    assert KEY not in resp.to_json() + repr(resp) + repr(resp.metadata)


async def test_async_call_sends_the_same_request():
    """The async path sends the same body and reads the same answer."""
    engine = _engine(load_json("vector_b64.json"))

    resp = await engine.aimage_generation(
        prompt="fox", model="recraft/recraftv3_vector", style="vector_illustration", api_key=KEY
    )

    assert json.loads(engine.requests[0].content)["style"] == "vector_illustration"
    assert resp.data[0].extension() == "svg"


def test_a_negative_credits_figure_is_no_price():
    """An odd answer charging -1 credits gives no cost from it (the catalogue's price, or None), never below 0."""
    body = load_json("b64_one.json") | {"credits": -1}
    resp = _parse(httpx.Response(200, json=body), _request(response_format="b64_json"))

    assert "credits" not in resp.metadata
    assert resp.cost is None or resp.cost >= 0
