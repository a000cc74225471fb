"""Tests of the BytePlus ModelArk (Seedream) provider: body, sizes, one request per image, edits, expiry, refusals."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pixmux_byteplus.provider as byteplus
import pytest
from pixmux.exceptions import (
    APIResponseValidationError,
    AuthenticationError,
    BadRequestError,
    ContentPolicyViolationError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    UnsupportedParamsError,
)
from pixmux.testing import TINY_PNG_B64, check_plugin, json_response, load_json, make_engine
from pixmux.types import Deployment, ImageInput, ImageRequest, ImageResponse, Refusal

KEY = "ark-test-key-0123456789abcdef"
SEEDREAM4 = "seedream-4-0-250828"
SEEDREAM45 = "seedream-4-5-251128"
SEEDREAM5 = "seedream-5-0-260128"
SEEDEDIT = "seededit-3-0-i2i-250628"
PNG = base64.b64decode(TINY_PNG_B64)
INPUT = ImageInput(data=PNG, media_type="image/png")


def _info(name: str) -> Any:
    return byteplus.CATALOGUE.lookup(name)


def _build(request: ImageRequest, **overrides: Any) -> list[httpx.Request]:
    fields: dict[str, Any] = {"provider": "byteplus", "model": request.model, "api_key": KEY}
    fields.update(overrides)
    return byteplus.build_request(request=request, deployment=Deployment(**fields))


def _validate(request: ImageRequest) -> None:
    byteplus.validate_params(request=request, model=_info(request.model))


def _parse(status: int, body: Any, request: ImageRequest | None = None) -> ImageResponse:
    sent = httpx.Request("POST", f"{byteplus.DEFAULT_API_BASE}/images/generations")
    response = httpx.Response(status, json=body, request=sent)
    request = request or ImageRequest(prompt="a poster", model=SEEDREAM4)
    return byteplus.parse_response(response=response, request=request, model=_info(request.model))


def _engine(handler: Any = None, **kwargs: Any) -> Any:
    handler = handler or (lambda r: json_response(200, load_json("url_one.json")))
    return make_engine(byteplus, handler=handler, **kwargs)


def test_check_plugin_passes_the_contract():
    """The plugin meets pixmux's plugin contract on its default endpoint."""
    assert check_plugin(byteplus, name="byteplus") == []


def test_catalogue_lists_the_seedream_models():
    """Seedream 4.0/4.5/5.0 generate and edit; SeedEdit 3.0 only edits; 4.0 and 4.5 are priced."""
    assert {SEEDREAM4, SEEDREAM45, SEEDREAM5, SEEDEDIT} <= set(byteplus.CATALOGUE.models)
    assert byteplus.CATALOGUE.default_api_base == "https://ark.ap-southeast.bytepluses.com/api/v3"
    assert _info(SEEDREAM4).operations == frozenset({"generate", "edit"})
    assert _info(SEEDEDIT).operations == frozenset({"edit"})
    assert _info(SEEDREAM4).pricing.image_price(None, None) == 0.03
    assert _info(SEEDREAM45).pricing.image_price(None, None) == 0.04
    assert _info(SEEDREAM5).pricing is None


def test_build_request_sends_the_documented_body():
    """model, prompt, size, response_format and the native options go to /api/v3/images/generations."""
    request = ImageRequest(
        prompt="A poster with the words 'Spring sale'",
        model=SEEDREAM4,
        size="2K",
        response_format="url",
        params={"watermark": False, "optimize_prompt_options": {"mode": "fast"}},
    )
    _validate(request)

    (http,) = _build(request)

    assert http.method == "POST"
    assert str(http.url) == "https://ark.ap-southeast.bytepluses.com/api/v3/images/generations"
    assert http.headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(http.content) == {
        "model": SEEDREAM4,
        "prompt": "A poster with the words 'Spring sale'",
        "size": "2K",
        "response_format": "url",
        "watermark": False,
        "optimize_prompt_options": {"mode": "fast"},
    }


def test_n_is_sent_as_one_request_per_image():
    """ModelArk has no n: n=3 builds three identical requests without n."""
    request = ImageRequest(prompt="a cat", model=SEEDREAM4, n=3, user="u-1")

    built = _build(request)

    assert len(built) == 3
    assert all(json.loads(r.content) == {"model": SEEDREAM4, "prompt": "a cat"} for r in built)


def test_sequential_generation_passes_through():
    """The model's own multi-image mode is sent as given (with n unset)."""
    request = ImageRequest(
        prompt="three poses",
        model=SEEDREAM4,
        params={"sequential_image_generation": "auto", "sequential_image_generation_options": {"max_images": 3}},
    )
    _validate(request)

    (http,) = _build(request)
    assert json.loads(http.content)["sequential_image_generation_options"] == {"max_images": 3}


@pytest.mark.parametrize(
    ("model", "size"),
    [
        (SEEDREAM4, "1024x1024"),
        (SEEDREAM4, "1280x720"),
        (SEEDREAM4, "1536x1024"),
        (SEEDREAM4, "4096x4096"),
        (SEEDREAM4, "4096x256"),
        (SEEDREAM45, "2560x1440"),
        (SEEDREAM45, "4096x4096"),
        (SEEDREAM5, "3072x3072"),
    ],
)
def test_pixel_sizes_within_the_rules_are_accepted(model: str, size: str):
    """WIDTHxHEIGHT within the model's pixel range and an aspect ratio within 1:16 to 16:1 is sent as given."""
    request = ImageRequest(prompt="a cat", model=model, size=size)
    _validate(request)

    assert json.loads(_build(request)[0].content)["size"] == size


@pytest.mark.parametrize(
    ("model", "fields", "params", "param"),
    [
        (SEEDREAM4, {"size": "512x512"}, {}, "size"),
        (SEEDREAM4, {"size": "1280x700"}, {}, "size"),
        (SEEDREAM45, {"size": "1024x1024"}, {}, "size"),
        (SEEDREAM5, {"size": "4096x4096"}, {}, "size"),
        (SEEDREAM4, {"size": "8192x8192"}, {}, "size"),
        (SEEDREAM4, {"size": "4096x200"}, {}, "size"),
        (SEEDREAM4, {"size": "3K"}, {}, "size"),
        (SEEDREAM45, {"size": "1K"}, {}, "size"),
        (SEEDREAM4, {"quality": "hd"}, {}, "quality"),
        (SEEDREAM4, {"style": "vivid"}, {}, "style"),
        (SEEDREAM4, {"response_format": "png"}, {}, "response_format"),
        (SEEDREAM4, {}, {"seed": 7}, "seed"),
        (SEEDREAM4, {}, {"output_format": "png"}, "output_format"),
        (SEEDREAM5, {}, {"output_format": "webp"}, "output_format"),
        (SEEDREAM4, {}, {"stream": True}, "stream"),
        (SEEDREAM4, {}, {"sequential_image_generation": "always"}, "sequential_image_generation"),
        (SEEDREAM4, {"n": 2}, {"sequential_image_generation": "auto"}, "n"),
        (SEEDREAM4, {"n": 16}, {}, "n"),
    ],
)
def test_validate_params_refuses_what_the_model_does_not_take(
    model: str, fields: dict[str, Any], params: dict[str, Any], param: str
):
    """Sizes outside the rules, per-model options and conflicting n are refused by name."""
    request = ImageRequest(prompt="a cat", model=model, params=params, **fields)

    with pytest.raises(UnsupportedParamsError) as caught:
        _validate(request)

    assert caught.value.param == param


def test_seedream3_takes_seed_and_guidance_scale():
    """The 3.0 models keep their own knobs."""
    request = ImageRequest(
        prompt="a cat",
        model="seedream-3-0-t2i-250415",
        size="1024x1024",
        params={"seed": 12, "guidance_scale": 2.5},
    )
    _validate(request)

    assert json.loads(_build(request)[0].content)["seed"] == 12


def test_edit_sends_one_image_as_a_string_and_several_as_a_list():
    """Edits go to the same endpoint: image is a data: URL, or a list of them in order."""
    one = ImageRequest(prompt="make it night", model=SEEDREAM4, operation="edit", images=(INPUT,))
    two = ImageRequest(prompt="dress from 2 on 1", model=SEEDREAM4, operation="edit", images=(INPUT, INPUT))
    _validate(one)
    _validate(two)

    body_one = json.loads(_build(one)[0].content)
    body_two = json.loads(_build(two)[0].content)

    assert body_one["image"] == f"data:image/png;base64,{TINY_PNG_B64}"
    assert body_two["image"] == [body_one["image"]] * 2


@pytest.mark.parametrize(
    ("model", "operation", "images", "mask", "param"),
    [
        ("seedream-3-0-t2i-250415", "edit", (INPUT,), None, "model"),
        (SEEDEDIT, "generate", (), None, "model"),
        (SEEDREAM4, "variation", (INPUT,), None, "model"),
        (SEEDREAM4, "edit", (), None, "image"),
        (SEEDREAM4, "edit", (INPUT,) * 15, None, "image"),
        (SEEDEDIT, "edit", (INPUT, INPUT), None, "image"),
        (SEEDREAM4, "edit", (INPUT,), INPUT, "mask"),
    ],
)
def test_operations_and_inputs_are_checked(
    model: str, operation: Any, images: tuple[ImageInput, ...], mask: ImageInput | None, param: str
):
    """What a model does not do, and inputs beyond its limits, are refused by name."""
    request = ImageRequest(prompt="edit", model=model, operation=operation, images=images, mask=mask)

    with pytest.raises(UnsupportedParamsError) as caught:
        _validate(request)

    assert caught.value.param == param


def test_build_request_needs_a_key_on_the_public_host():
    """Without a key nothing is sent and the error names both variables."""
    with pytest.raises(AuthenticationError, match="BYTEPLUS_API_KEY"):
        _build(ImageRequest(prompt="a cat", model=SEEDREAM4), api_key=None)


def test_parse_response_reads_the_url_and_when_it_expires():
    """The pre-signed URL expires X-Tos-Expires (86400 s) after created."""
    resp = _parse(200, load_json("url_one.json"))

    image = resp.data[0]
    assert image.url is not None
    assert image.url.startswith("https://ark-content-generation-v2-ap-southeast-1")
    assert image.expires_at == 1757469067 + 86400
    assert resp.created == 1757469067
    assert resp.metadata["generated_images"] == 1
    assert "expires_at" not in resp.to_json()


def test_expiry_without_the_query_parameter_is_24_hours():
    """A URL without X-Tos-Expires gets ModelArk's documented 24 hours."""
    assert byteplus.expiry("https://example.test/a.jpeg", 100) == 100 + 86400
    assert byteplus.expiry("https://example.test/a.jpeg?X-Tos-Expires=3600", 100) == 3700


def test_parse_response_reads_base64_and_created_at():
    """b64_json decodes; the SDK's created_at is read when created is absent."""
    body = load_json("b64_one.json")
    body["created_at"] = body.pop("created")

    resp = _parse(200, body, ImageRequest(prompt="a cat", model=SEEDREAM45))

    assert resp.data[0].bytes() == PNG
    assert resp.data[0].expires_at is None
    assert resp.created == 1757469100


def test_one_failed_image_of_a_sequence_is_reported():
    """Sequential mode: an image refused by moderation is listed in resp.refused; the others are kept."""
    resp = _parse(200, load_json("sequential_partial.json"))

    assert len(resp.data) == 2
    assert resp.refused == (
        Refusal(
            reason="OutputImageSensitiveContentDetected",
            message="The request failed because the output image may contain sensitive information.",
        ),
    )


def test_a_single_blocked_image_is_a_content_policy_violation():
    """HTTP 200 whose only image failed with a sensitive-content code raises ContentPolicyViolationError."""
    with pytest.raises(ContentPolicyViolationError, match="sensitive information") as caught:
        _parse(200, load_json("output_blocked.json"))

    assert caught.value.code == "OutputImageSensitiveContentDetected"


def test_an_answer_without_image_or_reason_is_a_validation_error():
    """An empty data list is not a success, and not a refusal either."""
    with pytest.raises(APIResponseValidationError):
        _parse(200, {"model": SEEDREAM4, "created": 1, "data": []})


def test_end_to_end_n_merges_the_parts_and_prices_them():
    """n=3 through the engine: three requests, three images, 3 x $0.03."""
    engine = _engine(environ={"BYTEPLUS_API_KEY": KEY})

    resp = engine.image_generation(prompt="a cat", model=f"byteplus/{SEEDREAM4}", n=3)

    assert len(engine.requests) == 3
    assert len(resp.data) == 3
    assert resp.cost == pytest.approx(0.09)
    assert engine.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_end_to_end_one_refused_part_keeps_the_others():
    """n=2 with one request blocked: one image comes back, the refusal is in metadata, the cost counts one."""
    answers = iter([load_json("url_one.json"), load_json("output_blocked.json")])
    engine = _engine(lambda r: json_response(200, next(answers)), environ={"ARK_API_KEY": KEY})

    resp = engine.image_generation(prompt="a cat", model=f"byteplus/{SEEDREAM4}", n=2)

    assert len(resp.data) == 1
    assert [r.reason for r in resp.refused] == ["OutputImageSensitiveContentDetected"]
    assert resp.cost == pytest.approx(0.03)


def test_end_to_end_every_part_refused_is_a_content_policy_violation():
    """n=2 with both requests blocked raises ContentPolicyViolationError, never an empty success."""
    engine = _engine(lambda r: json_response(200, load_json("output_blocked.json")))

    with pytest.raises(ContentPolicyViolationError):
        engine.image_generation(prompt="a cat", model=f"byteplus/{SEEDREAM4}", n=2, api_key=KEY)


@pytest.mark.parametrize(
    ("status", "name", "cls"),
    [
        (400, "error_400.json", BadRequestError),
        (400, "error_400_missing.json", BadRequestError),
        (400, "error_400_input_text.json", ContentPolicyViolationError),
        (400, "error_400_input_image.json", ContentPolicyViolationError),
        (400, "error_400_output_image.json", ContentPolicyViolationError),
        (401, "error_401.json", AuthenticationError),
        (403, "error_403.json", PermissionDeniedError),
        (404, "error_404.json", NotFoundError),
        (429, "error_429.json", RateLimitError),
        (429, "error_429_quota.json", RateLimitError),
        (500, "error_500.json", InternalServerError),
        (503, "error_503.json", ServiceUnavailableError),
    ],
)
def test_parse_response_maps_each_documented_error(status: int, name: str, cls: type[Exception]):
    """Each documented status and code becomes its pixmux class, with ModelArk's message and code."""
    body = load_json(name)

    with pytest.raises(cls) as caught:
        _parse(status, body)

    assert body["error"]["message"] in str(caught.value)
    assert caught.value.code == body["error"]["code"]  # type: ignore[attr-defined]
    if cls is BadRequestError:
        assert not isinstance(caught.value, ContentPolicyViolationError)


def test_secrets_never_appear_in_errors_or_reprs():
    """The key shows in no error and no response."""
    engine = _engine(lambda r: json_response(401, load_json("error_401.json")))
    with pytest.raises(AuthenticationError) as caught:
        engine.image_generation(prompt="a cat", model=f"byteplus/{SEEDREAM4}", api_key=KEY)
    assert KEY not in str(caught.value) + repr(caught.value)

    resp = _engine().image_generation(prompt="a cat", model=f"byteplus/{SEEDREAM4}", api_key=KEY)
    assert KEY not in resp.to_json() + repr(resp) + repr(resp.metadata)


async def test_async_call_sends_the_same_requests():
    """The async path sends one request per image too."""
    engine = _engine()

    resp = await engine.aimage_generation(prompt="a cat", model=f"byteplus/{SEEDREAM4}", n=2, api_key=KEY)

    assert len(engine.requests) == 2
    assert len(resp.data) == 2


def _with_downloads(body: Any) -> Any:
    """A ModelArk stand-in that also serves the image behind each pre-signed URL (as object storage does)."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, content=PNG, headers={"content-type": "image/png"})
        return json_response(200, body)

    return handler


def test_url_within_the_download_horizon_is_downloaded():
    """An engine that keeps images for 25 hours downloads a URL that expires in 24; the expiry is in metadata."""
    engine = _engine(_with_downloads(load_json("url_one.json")))
    engine.download_horizon = 25 * 3600

    resp = engine.image_generation(prompt="a cat", model=f"byteplus/{SEEDREAM4}", api_key=KEY)

    assert resp.data[0].b64_json is not None
    assert resp.data[0].bytes() == PNG
    assert [r.method for r in engine.requests] == ["POST", "GET"]
    assert resp.metadata["url_expires_at"] == [1757469067 + 86400]


def test_url_beyond_the_download_horizon_is_left_as_a_url():
    """A one-hour horizon leaves a URL made just now, good for 24 hours, alone: nothing is downloaded."""
    body = load_json("url_one.json")
    body["created"] = int(time.time())
    engine = _engine(_with_downloads(body))
    engine.download_horizon = 3600

    resp = engine.image_generation(prompt="a cat", model=f"byteplus/{SEEDREAM4}", api_key=KEY)

    assert resp.data[0].b64_json is None
    assert [r.method for r in engine.requests] == ["POST"]
