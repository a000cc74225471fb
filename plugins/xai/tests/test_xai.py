"""Tests of the xAI provider: JSON generations and edits, aspect ratios for sizes, reported cost, moderation, errors."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pixmux_xai.provider as xai
import pytest
from pixmux import PixmuxWarning
from pixmux.exceptions import (
    APIResponseValidationError,
    AuthenticationError,
    BadRequestError,
    ContentPolicyViolationError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
    UnsupportedParamsError,
)
from pixmux.testing import TINY_PNG_B64, check_plugin, json_response, load_json, make_engine
from pixmux.types import Deployment, ImageInput, ImageRequest, ImageResponse, Refusal

KEY = "xai-test-key-0123456789abcdef"
MODEL = "grok-imagine-image"
PNG = base64.b64decode(TINY_PNG_B64)
JPEG = b"\xff\xd8\xff\xe0" + bytes(16)


def _info(name: str = MODEL) -> Any:
    return xai.CATALOGUE.lookup(name)


def _build(request: ImageRequest, **overrides: Any) -> httpx.Request:
    fields: dict[str, Any] = {"provider": "xai", "model": request.model, "api_key": KEY}
    fields.update(overrides)
    return xai.build_request(request=request, deployment=Deployment(**fields))


def _validate(request: ImageRequest) -> ImageRequest:
    return xai.validate_params(request=request, model=_info(request.model)) or request


def _parse(status: int, body: Any, request: ImageRequest | None = None, path: str = "generations") -> ImageResponse:
    sent = httpx.Request("POST", f"{xai.DEFAULT_API_BASE}/images/{path}")
    response = httpx.Response(status, json=body, request=sent, headers={"x-request-id": "req-xai-1"})
    request = request or ImageRequest(prompt="a fox", model=MODEL)
    return xai.parse_response(response=response, request=request, model=_info(request.model))


def _engine(body: Any = None, status: int = 200, **kwargs: Any) -> Any:
    payload = body if body is not None else load_json("url_two.json")
    return make_engine(xai, handler=lambda r: json_response(status, payload), **kwargs)


def test_check_plugin_passes_the_contract():
    """The plugin meets pixmux's plugin contract on its default endpoint."""
    assert check_plugin(xai, name="xai") == []


def test_catalogue_lists_the_grok_imagine_models():
    """The documented models are listed, each generating and editing, on xAI's endpoint."""
    assert set(xai.CATALOGUE.models) >= {MODEL, "grok-imagine-image-quality", "grok-imagine-image-2.0"}
    assert xai.CATALOGUE.default_api_base == "https://api.x.ai/v1"
    info = _info()
    assert info.operations == frozenset({"generate", "edit"})
    assert info.max_n == 10
    assert info.inputs is not None
    assert info.inputs.max_images == 3
    assert info.inputs.mask == "none"


def test_build_request_sends_the_documented_generation_body():
    """model, prompt, n, response_format, user and the native aspect_ratio/resolution go to /v1/images/generations."""
    request = ImageRequest(
        prompt="A collage of London landmarks, stencil street art",
        model="grok-imagine-image-quality",
        n=2,
        response_format="b64_json",
        user="user-7",
        params={"aspect_ratio": "16:9", "resolution": "2k"},
    )

    http = _build(_validate(request))

    assert http.method == "POST"
    assert str(http.url) == "https://api.x.ai/v1/images/generations"
    assert http.headers["authorization"] == f"Bearer {KEY}"
    assert http.headers["content-type"] == "application/json"
    assert json.loads(http.content) == {
        "model": "grok-imagine-image-quality",
        "prompt": "A collage of London landmarks, stencil street art",
        "n": 2,
        "response_format": "b64_json",
        "user": "user-7",
        "aspect_ratio": "16:9",
        "resolution": "2k",
    }


@pytest.mark.parametrize(
    ("size", "ratio", "resolution"),
    [
        ("1024x1024", "1:1", "1k"),
        ("1536x1024", "3:2", "1k"),
        ("1024x1536", "2:3", "1k"),
        ("1920x1080", "16:9", "2k"),
        ("2048x2048", "1:1", "2k"),
        ("1000x2000", "1:2", "2k"),
    ],
)
def test_size_is_sent_as_the_nearest_aspect_ratio_with_a_warning(size: str, ratio: str, resolution: str):
    """xAI takes no size: WxH becomes aspect_ratio + resolution, and the caller is told."""
    with pytest.warns(PixmuxWarning, match="aspect_ratio"):
        validated = _validate(ImageRequest(prompt="a fox", model=MODEL, size=size))

    body = json.loads(_build(validated).content)
    assert "size" not in body
    assert (body["aspect_ratio"], body["resolution"]) == (ratio, resolution)


def test_size_does_not_override_an_explicit_aspect_ratio():
    """A caller's own aspect_ratio wins over the one a size would give."""
    with pytest.warns(PixmuxWarning):
        validated = _validate(
            ImageRequest(prompt="a fox", model=MODEL, size="1024x1024", params={"aspect_ratio": "9:16"})
        )

    assert json.loads(_build(validated).content)["aspect_ratio"] == "9:16"


def test_quality_is_sent_for_grok_imagine_2():
    """grok-imagine-image-2.0 takes quality low or medium; high and the other models' quality are refused."""
    request = ImageRequest(prompt="a fox", model="grok-imagine-image-2.0", quality="medium")

    assert json.loads(_build(_validate(request)).content)["quality"] == "medium"
    with pytest.raises(UnsupportedParamsError):
        _validate(ImageRequest(prompt="a fox", model="grok-imagine-image-2.0", quality="high"))


def test_size_auto_is_left_to_the_model():
    """size='auto' sends neither size nor aspect ratio."""
    validated = _validate(ImageRequest(prompt="a fox", model=MODEL, size="auto"))

    assert json.loads(_build(validated).content) == {"model": MODEL, "prompt": "a fox"}


@pytest.mark.parametrize(
    ("fields", "params", "param"),
    [
        ({"quality": "hd"}, {}, "quality"),
        ({"style": "vivid"}, {}, "style"),
        ({"size": "big"}, {}, "size"),
        ({"size": "4000x1000"}, {}, "size"),
        ({"n": 11}, {}, "n"),
        ({"response_format": "png"}, {}, "response_format"),
        ({}, {"aspect_ratio": "5:7"}, "aspect_ratio"),
        ({}, {"resolution": "4k"}, "resolution"),
        ({}, {"seed": 3}, "seed"),
    ],
)
def test_validate_params_refuses_what_xai_does_not_take(fields: dict[str, Any], params: dict[str, Any], param: str):
    """Options xAI does not document are refused by name before any request."""
    request = ImageRequest(prompt="a fox", model=MODEL, params=params, **fields)

    with pytest.raises(UnsupportedParamsError) as caught:
        xai.validate_params(request=request, model=_info())

    assert caught.value.param == param


def test_edit_with_one_image_sends_it_as_a_data_url():
    """An edit goes to /v1/images/edits as JSON with image: {url: data:...}, never multipart."""
    request = ImageRequest(
        prompt="make it night",
        model=MODEL,
        operation="edit",
        images=(ImageInput(data=PNG, media_type="image/png"),),
        response_format="b64_json",
    )

    http = _build(_validate(request))

    assert str(http.url) == "https://api.x.ai/v1/images/edits"
    assert http.headers["content-type"] == "application/json"
    body = json.loads(http.content)
    assert body == {
        "model": MODEL,
        "prompt": "make it night",
        "response_format": "b64_json",
        "image": {"url": f"data:image/png;base64,{TINY_PNG_B64}"},
    }


def test_edit_with_several_images_sends_them_in_order():
    """Two references go as images: [...], in the order given (the prompt names them <IMAGE_0>, <IMAGE_1>)."""
    request = ImageRequest(
        prompt="put <IMAGE_1> on <IMAGE_0>",
        model=MODEL,
        operation="edit",
        images=(ImageInput(data=PNG, media_type="image/png"), ImageInput(data=JPEG, media_type="image/jpeg")),
    )

    body = json.loads(_build(_validate(request)).content)

    assert "image" not in body
    assert [ref["url"].split(",")[0] for ref in body["images"]] == ["data:image/png;base64", "data:image/jpeg;base64"]
    assert base64.b64decode(body["images"][1]["url"].split(",")[1]) == JPEG


@pytest.mark.parametrize(
    ("images", "mask", "param"),
    [
        ((), None, "image"),
        ((ImageInput(data=PNG, media_type="image/png"),) * 4, None, "image"),
        ((ImageInput(data=PNG, media_type="image/png"),), ImageInput(data=PNG, media_type="image/png"), "mask"),
    ],
)
def test_edit_inputs_are_checked(images: tuple[ImageInput, ...], mask: ImageInput | None, param: str):
    """No input, more than three inputs, or a mask are refused by name."""
    request = ImageRequest(prompt="edit", model=MODEL, operation="edit", images=images, mask=mask)

    with pytest.raises(UnsupportedParamsError) as caught:
        xai.validate_params(request=request, model=_info())

    assert caught.value.param == param


def test_variation_is_refused():
    """xAI has no variations endpoint."""
    request = ImageRequest(model=MODEL, operation="variation", images=(ImageInput(data=PNG, media_type="image/png"),))

    with pytest.raises(UnsupportedParamsError, match="variation"):
        xai.validate_params(request=request, model=_info())


def test_build_request_needs_a_key_on_the_public_host():
    """Without XAI_API_KEY nothing is sent and the error says how to give one."""
    with pytest.raises(AuthenticationError, match="XAI_API_KEY"):
        _build(ImageRequest(prompt="a fox", model=MODEL), api_key=None)


def test_api_base_overrides_the_endpoint():
    """api_base sends the same body elsewhere."""
    http = _build(ImageRequest(prompt="a fox", model=MODEL), api_base="http://127.0.0.1:9000/v1/")

    assert str(http.url) == "http://127.0.0.1:9000/v1/images/generations"


def test_parse_response_reads_urls_revised_prompts_and_the_reported_cost():
    """URLs and revised prompts come back; 4e8 ticks is $0.04; an empty revised prompt is None."""
    resp = _parse(200, load_json("url_two.json"), ImageRequest(prompt="London", model=MODEL, n=2))

    assert [d.url for d in resp.data] == [
        "https://imgen.x.ai/xai-imgen/xai-tmp-imgen-1f0c.jpeg",
        "https://imgen.x.ai/xai-imgen/xai-tmp-imgen-77ab.jpeg",
    ]
    assert resp.data[0].revised_prompt == "A stencil-style street-art collage of London landmarks"
    assert resp.data[1].revised_prompt is None
    assert resp.cost == pytest.approx(0.04)
    assert resp.created == 1776527939
    assert resp.metadata["request_id"] == "req-xai-1"
    assert resp.usage is None


@pytest.mark.parametrize("name", ["b64_one.json", "b64_data_prefix.json"])
def test_parse_response_reads_base64_with_or_without_a_data_prefix(name: str):
    """b64_json decodes to the PNG whether or not xAI prefixed it with data:image/png;base64,."""
    resp = _parse(200, load_json(name))

    assert resp.data[0].bytes() == PNG
    assert resp.data[0].url is None


def test_one_withheld_image_is_reported_and_the_other_kept():
    """An item with respect_moderation false is dropped and listed in resp.refused."""
    resp = _parse(200, load_json("one_withheld.json"), ImageRequest(prompt="beach", model=MODEL, n=2))

    assert len(resp.data) == 1
    assert resp.refused == (Refusal(reason="moderation", message="the image did not pass xAI moderation"),)
    assert "refused" not in resp.to_json()


def test_every_image_withheld_is_a_content_policy_violation():
    """HTTP 200 with no image that passed moderation raises ContentPolicyViolationError (400)."""
    with pytest.raises(ContentPolicyViolationError) as caught:
        _parse(200, load_json("all_withheld.json"))

    assert caught.value.status_code == 400
    assert caught.value.code == "content_policy_violation"


def test_an_empty_answer_is_a_validation_error():
    """HTTP 200 with an empty data list is not a success."""
    with pytest.raises(APIResponseValidationError):
        _parse(200, {"created": 1, "data": []})


def test_a_malformed_answer_is_a_validation_error():
    """A body of the wrong shape says where it is wrong."""
    with pytest.raises(APIResponseValidationError, match="data"):
        _parse(200, {"created": 1, "data": "nope"})


@pytest.mark.parametrize(
    ("status", "name", "cls", "fragment"),
    [
        (400, "error_400.json", BadRequestError, "Argument not supported: size"),
        (400, "error_400_flat.json", BadRequestError, "Argument not supported: style"),
        (400, "error_400_moderation.json", ContentPolicyViolationError, "content moderation"),
        (401, "error_401.json", AuthenticationError, "Incorrect API key"),
        (403, "error_403.json", PermissionDeniedError, "credits or licenses"),
        (404, "error_404.json", NotFoundError, "does not exist"),
        (422, "error_422.json", UnprocessableEntityError, "mutually exclusive"),
        (429, "error_429.json", RateLimitError, "Too many requests"),
        (500, "error_500.json", InternalServerError, "Internal server error"),
    ],
)
def test_parse_response_maps_each_status(status: int, name: str, cls: type[Exception], fragment: str):
    """Each documented status (and both error shapes) becomes its pixmux class with xAI's message."""
    with pytest.raises(cls) as caught:
        _parse(status, load_json(name))

    assert fragment in str(caught.value)


def test_content_policy_error_is_not_a_plain_bad_request():
    """A plain 400 stays BadRequestError, not a refusal."""
    with pytest.raises(BadRequestError) as caught:
        _parse(400, load_json("error_400.json"))

    assert not isinstance(caught.value, ContentPolicyViolationError)


def test_end_to_end_cost_comes_from_the_answer():
    """Through the engine: the reported charge, not the catalogue price, is resp.cost."""
    engine = _engine(environ={"XAI_API_KEY": KEY})

    resp = engine.image_generation(prompt="London", model=f"xai/{MODEL}", n=2, response_format="url")

    assert resp.cost == pytest.approx(0.04)
    assert engine.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_end_to_end_without_usage_uses_the_catalogue_price():
    """An answer without usage is priced from the catalogue ($0.02 an image for the base model)."""
    engine = _engine(load_json("b64_data_prefix.json"))

    resp = engine.image_generation(prompt="a fox", model=f"xai/{MODEL}", api_key=KEY)

    assert resp.cost == pytest.approx(0.02)


def test_secrets_never_appear_in_errors_or_reprs():
    """The key shows in no error, no deployment repr and no response."""
    engine = _engine(load_json("error_401.json"), status=401)
    with pytest.raises(AuthenticationError) as caught:
        engine.image_generation(prompt="a fox", model=f"xai/{MODEL}", api_key=KEY)
    assert KEY not in str(caught.value) + repr(caught.value)
    assert KEY not in repr(Deployment(provider="xai", model=MODEL, api_key=KEY))

    resp = _engine().image_generation(prompt="a fox", model=f"xai/{MODEL}", api_key=KEY)
    assert KEY not in resp.to_json() + repr(resp) + repr(resp.metadata)


async def test_async_call_sends_the_same_request():
    """The async path sends the same body."""
    engine = _engine(load_json("b64_one.json"))

    await engine.aimage_generation(prompt="a fox", model=f"xai/{MODEL}", response_format="b64_json", api_key=KEY)

    assert json.loads(engine.requests[0].content) == {"model": MODEL, "prompt": "a fox", "response_format": "b64_json"}


def test_a_negative_charge_in_the_answer_falls_back_to_the_catalogue_price():
    """An odd usage.cost_in_usd_ticks below 0 is no price: the catalogue's is used, never a negative cost."""
    body = load_json("b64_data_prefix.json") | {"usage": {"cost_in_usd_ticks": -1}}

    resp = _engine(body).image_generation(prompt="a fox", model=f"xai/{MODEL}", api_key=KEY)

    assert resp.cost == pytest.approx(0.02)
