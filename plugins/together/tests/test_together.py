"""Tests of the Together AI provider: width/height and native knobs, base64 naming, edits by URL field, errors."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pixmux_together.provider as together
import pytest
from pixmux import PixmuxWarning
from pixmux.exceptions import (
    APIResponseValidationError,
    AuthenticationError,
    BadRequestError,
    ContentPolicyViolationError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    ServiceUnavailableError,
    UnprocessableEntityError,
    UnsupportedParamsError,
)
from pixmux.testing import TINY_PNG_B64, check_plugin, json_response, load_json, make_engine
from pixmux.types import Deployment, ImageInput, ImageRequest, ImageResponse

KEY = "together-test-key-0123456789abcdef"
SCHNELL = "black-forest-labs/FLUX.1-schnell"
KONTEXT = "black-forest-labs/FLUX.1-kontext-pro"
FLUX2 = "black-forest-labs/FLUX.2-pro"
PNG = base64.b64decode(TINY_PNG_B64)
INPUT = ImageInput(data=PNG, media_type="image/png")


def _info(name: str) -> Any:
    return together.CATALOGUE.lookup(name)


def _build(request: ImageRequest, **overrides: Any) -> httpx.Request:
    fields: dict[str, Any] = {"provider": "together", "model": request.model, "api_key": KEY}
    fields.update(overrides)
    return together.build_request(request=request, deployment=Deployment(**fields), model=_info(request.model))


def _validate(request: ImageRequest) -> None:
    together.validate_params(request=request, model=_info(request.model))


def _parse(status: int, body: Any, request: ImageRequest | None = None) -> ImageResponse:
    sent = httpx.Request("POST", f"{together.DEFAULT_API_BASE}/images/generations")
    response = httpx.Response(status, json=body, request=sent)
    request = request or ImageRequest(prompt="a cat", model=SCHNELL)
    return together.parse_response(response=response, request=request, model=_info(request.model))


def _engine(body: Any = None, status: int = 200, **kwargs: Any) -> Any:
    payload = body if body is not None else load_json("b64_one.json")
    return make_engine(together, handler=lambda r: json_response(status, payload), **kwargs)


def test_check_plugin_passes_the_contract():
    """The plugin meets pixmux's plugin contract on its default endpoint."""
    assert check_plugin(together, name="together") == []


def test_catalogue_lists_the_flux_models_and_which_edit():
    """FLUX.1 and FLUX.2 are listed; Kontext edits one image, FLUX.2 pro/flex/dev take references."""
    assert {SCHNELL, KONTEXT, FLUX2, "black-forest-labs/FLUX.1.1-pro"} <= set(together.CATALOGUE.models)
    assert together.CATALOGUE.default_api_base == "https://api.together.xyz/v1"
    assert _info(SCHNELL).operations == frozenset({"generate"})
    assert _info(KONTEXT).operations == frozenset({"generate", "edit"})
    assert _info(KONTEXT).inputs is not None
    assert _info(KONTEXT).inputs.max_images == 1
    assert _info(FLUX2).extra["edit_field"] == "reference_images"
    assert all(info.pricing is None for info in together.CATALOGUE.models.values())


def test_build_request_sends_the_documented_body():
    """size becomes width/height; b64_json is sent as 'base64'; native knobs pass through."""
    request = ImageRequest(
        prompt="a cat in a hat",
        model=SCHNELL,
        n=2,
        size="1024x768",
        response_format="b64_json",
        params={"steps": 4, "seed": 42, "negative_prompt": "blurry", "guidance_scale": 3.5, "output_format": "png"},
    )
    _validate(request)

    http = _build(request)

    assert http.method == "POST"
    assert str(http.url) == "https://api.together.xyz/v1/images/generations"
    assert http.headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(http.content) == {
        "model": SCHNELL,
        "prompt": "a cat in a hat",
        "width": 1024,
        "height": 768,
        "n": 2,
        "response_format": "base64",
        "steps": 4,
        "seed": 42,
        "negative_prompt": "blurry",
        "guidance_scale": 3.5,
        "output_format": "png",
    }


def test_url_format_and_unset_fields():
    """response_format url is sent as url; user is not in Together's schema and is not sent."""
    request = ImageRequest(prompt="a cat", model=SCHNELL, response_format="url", user="u-1")

    assert json.loads(_build(request).content) == {"model": SCHNELL, "prompt": "a cat", "response_format": "url"}


def test_size_not_a_multiple_of_8_is_rounded_with_a_warning():
    """1000x750 is sent as 1000x752, and the caller is told."""
    request = ImageRequest(prompt="a cat", model=SCHNELL, size="1000x750")
    with pytest.warns(PixmuxWarning, match="1000x752"):
        _validate(request)

    body = json.loads(_build(request).content)
    assert (body["width"], body["height"]) == (1000, 752)


def test_aspect_ratio_passes_through():
    """Kontext and Schnell take aspect_ratio instead of pixels; it is sent as given."""
    request = ImageRequest(prompt="a cat", model=KONTEXT, params={"aspect_ratio": "16:9"})
    _validate(request)

    assert json.loads(_build(request).content)["aspect_ratio"] == "16:9"


@pytest.mark.parametrize(
    ("fields", "params", "param"),
    [
        ({"quality": "hd"}, {}, "quality"),
        ({"style": "vivid"}, {}, "style"),
        ({"size": "big"}, {}, "size"),
        ({"size": "32x32"}, {}, "size"),
        ({"size": "4096x4096"}, {}, "size"),
        ({"size": "1024x1024"}, {"aspect_ratio": "1:1"}, "size"),
        ({"n": 5}, {}, "n"),
        ({"response_format": "base64"}, {}, "response_format"),
        ({}, {"steps": 80}, "steps"),
        ({}, {"output_format": "webp"}, "output_format"),
        ({}, {"cfg": 3}, "cfg"),
    ],
)
def test_validate_params_refuses_what_together_does_not_take(
    fields: dict[str, Any], params: dict[str, Any], param: str
):
    """Undocumented options and out-of-range values are refused by name before any request."""
    request = ImageRequest(prompt="a cat", model=SCHNELL, params=params, **fields)

    with pytest.raises(UnsupportedParamsError) as caught:
        _validate(request)

    assert caught.value.param == param


def test_kontext_edit_sends_the_image_as_image_url():
    """A Kontext edit goes to the same endpoint with the input as a data: URL in image_url."""
    request = ImageRequest(
        prompt="Turn this into a watercolor painting", model=KONTEXT, operation="edit", images=(INPUT,)
    )
    _validate(request)

    body = json.loads(_build(request).content)

    assert body == {
        "model": KONTEXT,
        "prompt": "Turn this into a watercolor painting",
        "image_url": f"data:image/png;base64,{TINY_PNG_B64}",
    }


def test_flux2_edit_sends_reference_images_in_order():
    """A FLUX.2 edit sends every input in reference_images, in order."""
    jpeg = ImageInput(data=b"\xff\xd8\xff" + bytes(8), media_type="image/jpeg")
    request = ImageRequest(prompt="combine", model=FLUX2, operation="edit", images=(INPUT, jpeg))
    _validate(request)

    body = json.loads(_build(request).content)

    assert [url.split(",")[0] for url in body["reference_images"]] == [
        "data:image/png;base64",
        "data:image/jpeg;base64",
    ]
    assert "image_url" not in body


@pytest.mark.parametrize(
    ("model", "images", "mask", "param"),
    [
        (SCHNELL, (INPUT,), None, "model"),
        (KONTEXT, (), None, "image"),
        (KONTEXT, (INPUT, INPUT), None, "image"),
        (KONTEXT, (INPUT,), INPUT, "mask"),
    ],
)
def test_edit_inputs_are_checked(model: str, images: tuple[ImageInput, ...], mask: ImageInput | None, param: str):
    """Editing with a generate-only model, without input, with too many inputs or with a mask is refused."""
    request = ImageRequest(prompt="edit", model=model, operation="edit", images=images, mask=mask)

    with pytest.raises(UnsupportedParamsError) as caught:
        _validate(request)

    assert caught.value.param == param


def test_build_request_needs_a_key_on_the_public_host():
    """Without TOGETHER_API_KEY nothing is sent and the error says how to give one."""
    with pytest.raises(AuthenticationError, match="TOGETHER_API_KEY"):
        _build(ImageRequest(prompt="a cat", model=SCHNELL), api_key=None)


def test_parse_response_reads_base64_and_keeps_the_id():
    """The b64_json item decodes to the image; Together's id is kept; created is filled in."""
    resp = _parse(200, load_json("b64_one.json"))

    assert resp.data[0].bytes() == PNG
    assert resp.metadata["request_id"] == "oFuwv7Y-2kFHot-99170ebf9e84e0ce-SJC"
    assert resp.created > 1_700_000_000
    assert resp.cost is None


def test_parse_response_reads_urls():
    """type 'url' items come back as URLs."""
    resp = _parse(200, load_json("url_two.json"), ImageRequest(prompt="a cat", model=KONTEXT, n=2))

    assert [d.url for d in resp.data] == [
        "https://api.together.ai/shrt/2kqFv7Y0a1",
        "https://api.together.ai/shrt/2kqFv7Y0a2",
    ]
    assert resp.refused == ()


def test_fewer_images_than_asked_are_reported():
    """One image for n=2: the one is kept and the shortfall is one refusal in resp.refused."""
    resp = _parse(200, load_json("one_of_two.json"), ImageRequest(prompt="a cat", model=SCHNELL, n=2))

    assert len(resp.data) == 1
    assert [r.reason for r in resp.refused] == ["missing"]


def test_no_image_at_all_is_a_content_policy_violation():
    """HTTP 200 with an empty data list is a refusal, never an empty success."""
    with pytest.raises(ContentPolicyViolationError) as caught:
        _parse(200, load_json("none.json"))

    assert caught.value.code == "content_policy_violation"


def test_a_malformed_answer_is_a_validation_error():
    """A body without data says what is wrong."""
    with pytest.raises(APIResponseValidationError, match="data"):
        _parse(200, {"id": "x", "object": "list"})


@pytest.mark.parametrize(
    ("status", "name", "cls", "fragment"),
    [
        (400, "error_400.json", BadRequestError, "multiple of 8"),
        (400, "error_400_image_url.json", BadRequestError, "image_url is not supported"),
        (401, "error_401.json", AuthenticationError, "Invalid API key"),
        (402, "error_402.json", BadRequestError, "Credit limit exceeded"),
        (404, "error_404.json", NotFoundError, "Unable to access model"),
        (422, "error_422.json", UnprocessableEntityError, "steps must be"),
        (422, "error_422_nsfw.json", ContentPolicyViolationError, "NSFW content detected"),
        (429, "error_429.json", RateLimitError, "rate limit"),
        (500, "error_500.json", InternalServerError, "Internal server error"),
        (503, "error_503.json", ServiceUnavailableError, "overloaded"),
    ],
)
def test_parse_response_maps_each_status(status: int, name: str, cls: type[Exception], fragment: str):
    """Each documented status becomes its pixmux class with Together's message."""
    with pytest.raises(cls) as caught:
        _parse(status, load_json(name))

    assert fragment in str(caught.value)


def test_end_to_end_through_the_engine():
    """TOGETHER_API_KEY is read by the core; the answer is an OpenAI-shaped response without cost."""
    engine = _engine(environ={"TOGETHER_API_KEY": KEY})

    resp = engine.image_generation(prompt="a cat", model=f"together/{SCHNELL}", response_format="b64_json")

    assert engine.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert resp.cost is None
    assert set(resp.to_dict()) == {"created", "data"}


def test_secrets_never_appear_in_errors_or_reprs():
    """The key shows in no error, no deployment repr and no response."""
    engine = _engine(load_json("error_401.json"), status=401)
    with pytest.raises(AuthenticationError) as caught:
        engine.image_generation(prompt="a cat", model=f"together/{SCHNELL}", api_key=KEY)
    assert KEY not in str(caught.value) + repr(caught.value)

    resp = _engine().image_generation(prompt="a cat", model=f"together/{SCHNELL}", api_key=KEY)
    assert KEY not in resp.to_json() + repr(resp) + repr(resp.metadata)


async def test_async_call_sends_the_same_request():
    """The async path sends the same body."""
    engine = _engine()

    await engine.aimage_generation(prompt="a cat", model=f"together/{SCHNELL}", size="512x512", api_key=KEY)

    assert json.loads(engine.requests[0].content) == {"model": SCHNELL, "prompt": "a cat", "width": 512, "height": 512}
