"""Tests of the Ideogram provider: multipart forms per endpoint, aspect ratios, inpaint and remix, safety, prices."""

from __future__ import annotations

import base64
import email.parser
import email.policy
from pathlib import Path
from typing import Any

import httpx
import pixmux_ideogram.provider as ideogram
import pytest
from pixmux import PixmuxWarning
from pixmux._pieces import pieces_of
from pixmux.exceptions import (
    APIResponseValidationError,
    AuthenticationError,
    BadRequestError,
    ContentPolicyViolationError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    UnsupportedParamsError,
)
from pixmux.testing import TINY_PNG_B64, check_plugin, json_response, load_json, make_engine
from pixmux.types import Deployment, ImageInput, ImageRequest, ImageResponse

KEY = "ideogram-test-key-0123456789abcdef"
PNG = base64.b64decode(TINY_PNG_B64)
INPUT = ImageInput(data=PNG, media_type="image/png", filename="cat.png")
MASK = ImageInput(data=PNG, media_type="image/png")
RESPONSES = Path(__file__).parent / "responses"


def form(request: httpx.Request) -> list[tuple[str, str | None, str | None, bytes]]:
    """The multipart parts of a request: (name, filename, content type, bytes), in order."""
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    raw = b"Content-Type: " + request.headers["content-type"].encode() + b"\r\n\r\n" + request.read()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    parts = []
    for part in message.iter_parts():
        disposition = part.get("content-disposition")
        parts.append(
            (
                disposition.params["name"],
                disposition.params.get("filename"),
                part.get("content-type") if part.get("content-type") else None,
                part.get_payload(decode=True) or b"",
            )
        )
    return parts


def fields(request: httpx.Request) -> dict[str, Any]:
    """The text parts of a form (repeated names as lists)."""
    found: dict[str, Any] = {}
    for name, filename, _, payload in form(request):
        if filename is None:
            value = payload.decode()
            found[name] = (
                [*found[name], value]
                if name in found and isinstance(found[name], list)
                else ([found[name], value] if name in found else value)
            )
    return found


def _build(request: ImageRequest, **overrides: Any) -> httpx.Request:
    values: dict[str, Any] = {"provider": "ideogram", "model": request.model, "api_key": KEY}
    values.update(overrides)
    return ideogram.build_request(request=request, deployment=Deployment(**values))


def _validate(request: ImageRequest) -> ImageRequest:
    return ideogram.validate_params(request=request, model=ideogram.CATALOGUE.lookup(request.model)) or request


def _parse(status: int, body: Any, request: ImageRequest | None = None) -> ImageResponse:
    sent = httpx.Request("POST", f"{ideogram.DEFAULT_API_BASE}/v1/ideogram-v3/generate")
    response = (
        httpx.Response(status, text=body, request=sent)
        if isinstance(body, str)
        else httpx.Response(status, json=body, request=sent)
    )
    request = request or ImageRequest(prompt="a poster", model="V_3")
    return ideogram.parse_response(response=response, request=request, model=ideogram.CATALOGUE.lookup(request.model))


def _engine(body: Any = None, status: int = 200, **kwargs: Any) -> Any:
    payload = body if body is not None else load_json("generate_two.json")
    return make_engine(ideogram, handler=lambda r: json_response(status, payload), **kwargs)


def test_check_plugin_passes_the_contract():
    """The plugin meets pixmux's plugin contract on its default endpoint."""
    assert check_plugin(ideogram, name="ideogram") == []


def test_catalogue_lists_v3_with_its_edit_limits():
    """V_3 generates and edits one image (10 MB, jpeg/png/webp) with an optional mask of the same size."""
    info = ideogram.CATALOGUE.lookup("V_3")
    assert info.operations == frozenset({"generate", "edit"})
    assert info.inputs is not None
    assert (info.inputs.max_images, info.inputs.max_bytes, info.inputs.mask) == (1, 10 * 1024 * 1024, "optional")
    assert info.max_n == 8


def test_legacy_models_are_refused_by_name():
    """V_2 (the legacy JSON API) is refused before any request, naming the model."""
    request = ImageRequest(prompt="a poster", model="V_2")

    with pytest.raises(UnsupportedParamsError, match="V_1/V_2") as caught:
        _validate(request)

    assert caught.value.param == "model"


def test_generate_sends_a_multipart_form_with_the_api_key_header():
    """prompt, num_images and the native fields go as form parts to /v1/ideogram-v3/generate."""
    request = ImageRequest(
        prompt='A travel poster: "Visit Lisbon"',
        model="V_3",
        n=2,
        params={
            "aspect_ratio": "16x9",
            "rendering_speed": "TURBO",
            "magic_prompt": "OFF",
            "style_type": "DESIGN",
            "negative_prompt": "blurry",
            "seed": 12345,
            "style_codes": ["AB12CD34", "0F0F0F0F"],
            "color_palette": {"name": "PASTEL"},
        },
    )

    http = _build(_validate(request))

    assert http.method == "POST"
    assert str(http.url) == "https://api.ideogram.ai/v1/ideogram-v3/generate"
    assert http.headers["api-key"] == KEY
    assert "authorization" not in http.headers
    assert fields(http) == {
        "prompt": 'A travel poster: "Visit Lisbon"',
        "num_images": "2",
        "aspect_ratio": "16x9",
        "rendering_speed": "TURBO",
        "magic_prompt": "OFF",
        "style_type": "DESIGN",
        "negative_prompt": "blurry",
        "seed": "12345",
        "style_codes": ["AB12CD34", "0F0F0F0F"],
        "color_palette": '{"name": "PASTEL"}',
    }


def test_a_size_of_an_exact_shape_becomes_its_aspect_ratio_silently():
    """1024x1024 is 1x1: no warning."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        validated = _validate(ImageRequest(prompt="a poster", model="V_3", size="1024x1024"))

    assert fields(_build(validated))["aspect_ratio"] == "1x1"


def test_a_size_of_another_shape_becomes_the_nearest_with_a_warning():
    """1536x1024 is 3:2 exactly; 1792x1024 (7:4) is sent as 16x9 with a warning."""
    assert fields(_build(_validate(ImageRequest(prompt="p", model="V_3", size="1536x1024"))))["aspect_ratio"] == "3x2"
    with pytest.warns(PixmuxWarning, match="16x9"):
        validated = _validate(ImageRequest(prompt="p", model="V_3", size="1792x1024"))

    assert fields(_build(validated))["aspect_ratio"] == "16x9"


def test_transparent_background_uses_the_transparent_endpoint():
    """background='transparent' (OpenAI's name) picks generate-transparent and is not sent as a field."""
    request = ImageRequest(
        prompt="a sticker of a fox", model="V_3", params={"background": "transparent", "upscale_factor": "X2"}
    )

    http = _build(_validate(request))

    assert str(http.url) == "https://api.ideogram.ai/v1/ideogram-v3/generate-transparent"
    assert fields(http) == {"prompt": "a sticker of a fox", "upscale_factor": "X2"}


def test_edit_with_a_mask_is_an_inpaint_with_both_files():
    """image and mask go as file parts with their media types to /inpaint."""
    request = ImageRequest(prompt="a red hat", model="V_3", operation="edit", images=(INPUT,), mask=MASK, n=1)

    http = _build(_validate(request))

    assert str(http.url) == "https://api.ideogram.ai/v1/ideogram-v3/inpaint"
    parts = form(http)
    files = [(name, filename, ctype, data) for name, filename, ctype, data in parts if filename is not None]
    assert files == [("image", "cat.png", "image/png", PNG), ("mask", "mask.png", "image/png", PNG)]
    assert fields(http) == {"prompt": "a red hat", "num_images": "1"}


def test_edit_without_a_mask_is_a_remix():
    """Without a mask the edit goes to /remix, with image_weight passed through."""
    request = ImageRequest(
        prompt="as a watercolor", model="V_3", operation="edit", images=(INPUT,), params={"image_weight": 70}
    )

    http = _build(_validate(request))

    assert str(http.url) == "https://api.ideogram.ai/v1/ideogram-v3/remix"
    assert fields(http) == {"prompt": "as a watercolor", "image_weight": "70"}
    assert [name for name, filename, _, _ in form(http) if filename] == ["image"]


@pytest.mark.parametrize(
    ("request_fields", "param"),
    [
        ({"quality": "hd"}, "quality"),
        ({"style": "vivid"}, "style"),
        ({"response_format": "png"}, "response_format"),
        ({"n": 9}, "n"),
        ({"size": "4000x1000"}, "size"),
        ({"size": "big"}, "size"),
        ({"size": "1024x1024", "params": {"aspect_ratio": "1x1"}}, "size"),
        ({"params": {"aspect_ratio": "16:9"}}, "aspect_ratio"),
        ({"params": {"rendering_speed": "FAST"}}, "rendering_speed"),
        ({"params": {"style_type": "ANIME"}}, "style_type"),
        ({"params": {"image_weight": 50}}, "image_weight"),
        ({"params": {"steps": 20}}, "steps"),
        ({"params": {"background": "transparent", "style_type": "DESIGN"}}, "style_type"),
    ],
)
def test_validate_params_refuses_what_the_endpoint_does_not_take(request_fields: dict[str, Any], param: str):
    """Options Ideogram does not take (or not on that endpoint) are refused by name."""
    request = ImageRequest(prompt="a poster", model="V_3", **request_fields)

    with pytest.raises(UnsupportedParamsError) as caught:
        _validate(request)

    assert caught.value.param == param


@pytest.mark.parametrize(
    ("images", "mask", "extra", "param"),
    [
        ((), None, {}, "image"),
        ((INPUT, INPUT), None, {}, "image"),
        ((ImageInput(data=b"GIF89a", media_type="image/gif"),), None, {}, "image"),
        ((ImageInput(data=bytes(10 * 1024 * 1024 + 1), media_type="image/png"),), None, {}, "image"),
        ((INPUT,), MASK, {"size": "1024x1024"}, "size"),
        ((INPUT,), MASK, {"params": {"negative_prompt": "x"}}, "negative_prompt"),
    ],
)
def test_edit_inputs_are_checked(
    images: tuple[ImageInput, ...], mask: ImageInput | None, extra: dict[str, Any], param: str
):
    """One jpeg/png/webp input up to 10 MB; an inpaint takes no size and only its own fields."""
    request = ImageRequest(prompt="edit", model="V_3", operation="edit", images=images, mask=mask, **extra)

    with pytest.raises(UnsupportedParamsError) as caught:
        _validate(request)

    assert caught.value.param == param


def test_variation_is_refused():
    """Ideogram has no variations through this plugin."""
    request = ImageRequest(prompt="x", model="V_3", operation="variation", images=(INPUT,))

    with pytest.raises(UnsupportedParamsError, match="variation"):
        _validate(request)


def test_build_request_needs_a_key_on_the_public_host():
    """Without IDEOGRAM_API_KEY nothing is sent."""
    with pytest.raises(AuthenticationError, match="IDEOGRAM_API_KEY"):
        _build(ImageRequest(prompt="a poster", model="V_3"), api_key=None)


def test_parse_response_reads_urls_prompts_expiry_and_seeds():
    """URLs, the prompt Ideogram used, the URL's exp time and the seeds; created is read from ISO-8601."""
    resp = _parse(200, load_json("generate_two.json"), ImageRequest(prompt="Lisbon", model="V_3", n=2))

    assert [d.url for d in resp.data] == [
        "https://ideogram.ai/api/images/ephemeral/Ew6aKq1sTFyJ3pX0bQ2m4A.png?exp=1777633200&sig=0c9a77e1b2",
        "https://ideogram.ai/api/images/ephemeral/Hq3bLr2tUGzK4qY1cR3n5B.png?exp=1777633200&sig=7d1e2f3a4b",
    ]
    assert resp.data[0].revised_prompt is not None
    assert resp.data[0].revised_prompt.startswith("A vintage travel poster")
    assert [d.expires_at for d in resp.data] == [1777633200, 1777633200]
    assert resp.created == 1777629600
    assert resp.metadata["seeds"] == [12345, 67890]


def test_cost_is_the_rendering_speed_price_times_the_images():
    """DEFAULT is $0.06 an image; QUALITY $0.09; a transparent TURBO $0.04."""
    two = load_json("generate_two.json")
    assert _parse(200, two, ImageRequest(prompt="p", model="V_3")).cost == pytest.approx(0.12)
    quality = ImageRequest(prompt="p", model="V_3", params={"rendering_speed": "QUALITY"})
    assert _parse(200, two, quality).cost == pytest.approx(0.18)
    transparent = ImageRequest(
        prompt="p", model="V_3", params={"background": "transparent", "rendering_speed": "TURBO"}
    )
    assert _parse(200, load_json("remix_one.json"), transparent).cost == pytest.approx(0.04)
    flash_transparent = ImageRequest(
        prompt="p", model="V_3", params={"background": "transparent", "rendering_speed": "FLASH"}
    )
    assert _parse(200, load_json("remix_one.json"), flash_transparent).cost is None


def test_an_unsafe_image_is_withheld_and_reported():
    """is_image_safe false with a null URL: the image is dropped, listed in resp.refused, and not charged."""
    resp = _parse(200, load_json("one_unsafe.json"), ImageRequest(prompt="beach", model="V_3", n=2))

    assert len(resp.data) == 1
    assert [r.reason for r in resp.refused] == ["is_image_safe: false"]
    assert resp.cost == pytest.approx(0.06)


def test_every_image_unsafe_is_a_content_policy_violation():
    """HTTP 200 with no safe image raises ContentPolicyViolationError."""
    with pytest.raises(ContentPolicyViolationError) as caught:
        _parse(200, load_json("all_unsafe.json"))

    assert caught.value.code == "content_policy_violation"


def test_an_empty_answer_is_a_validation_error():
    """HTTP 200 with no data is not a success."""
    with pytest.raises(APIResponseValidationError):
        _parse(200, {"created": "2026-05-01T10:00:00Z", "data": []})


@pytest.mark.parametrize(
    ("status", "name", "cls", "fragment"),
    [
        (400, "error_400.json", BadRequestError, "aspect_ratio"),
        (401, "error_401.json", AuthenticationError, "Unauthorized"),
        (402, "error_402.json", BadRequestError, "Insufficient credits"),
        (403, "error_403.json", PermissionDeniedError, "Forbidden"),
        (422, "error_422.json", ContentPolicyViolationError, "failed the safety check"),
        (429, "error_429.json", RateLimitError, "Too many requests"),
        (503, "error_503.txt", ServiceUnavailableError, "temporarily unavailable"),
    ],
)
def test_parse_response_maps_each_documented_status(status: int, name: str, cls: type[Exception], fragment: str):
    """Each documented status becomes its pixmux class; untyped bodies (JSON or text) keep their message."""
    text = (RESPONSES / name).read_text()
    body: Any = text if name.endswith(".txt") else load_json(name)

    with pytest.raises(cls) as caught:
        _parse(status, body)

    assert fragment in str(caught.value)


def test_end_to_end_through_the_engine():
    """IDEOGRAM_API_KEY is read by the core and sent as Api-Key; the cost comes back."""
    engine = _engine(environ={"IDEOGRAM_API_KEY": KEY})

    resp = engine.image_generation(prompt="Lisbon", model="ideogram/V_3", n=2, size="1024x1024")

    assert engine.requests[0].headers["api-key"] == KEY
    assert fields(engine.requests[0])["aspect_ratio"] == "1x1"
    assert resp.cost == pytest.approx(0.12)
    assert "expires_at" not in resp.to_json()


def test_secrets_never_appear_in_errors_or_reprs():
    """The key shows in no error and no response."""
    engine = _engine(load_json("error_401.json"), status=401)
    with pytest.raises(AuthenticationError) as caught:
        engine.image_generation(prompt="a poster", model="ideogram/V_3", api_key=KEY)
    assert KEY not in str(caught.value) + repr(caught.value)

    resp = _engine().image_generation(prompt="a poster", model="ideogram/V_3", api_key=KEY)
    assert KEY not in resp.to_json() + repr(resp) + repr(resp.metadata)


async def test_async_call_sends_the_same_form():
    """The async path sends the same multipart form."""
    engine = _engine()

    await engine.aimage_generation(prompt="a poster", model="ideogram/V_3", api_key=KEY, rendering_speed="FLASH")

    assert fields(engine.requests[0]) == {"prompt": "a poster", "rendering_speed": "FLASH"}


def test_b64_json_is_answered_by_downloading_the_urls():
    """Ideogram only answers URLs: for response_format='b64_json' the core downloads each image."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            assert request.url.host == "ideogram.ai"
            return httpx.Response(200, content=PNG, headers={"content-type": "image/png"})
        return json_response(200, load_json("generate_two.json"))

    engine = make_engine(ideogram, handler=handler)

    resp = engine.image_generation(prompt="Lisbon", model="ideogram/V_3", n=2, response_format="b64_json", api_key=KEY)

    assert [d.bytes() for d in resp.data] == [PNG, PNG]
    assert "response_format" not in fields(engine.requests[0])
    assert [r.method for r in engine.requests] == ["POST", "GET", "GET"]
    assert resp.metadata["url_expires_at"] == [1777633200, 1777633200]


def test_an_openai_alpha_mask_reaches_ideogram_black_for_edit():
    """OpenAI's mask (transparent = edit) becomes Ideogram's: black in the area to edit, white elsewhere."""
    import io

    from PIL import Image

    picture = Image.new("RGBA", (8, 8), (0, 0, 0, 255))
    picture.paste((0, 0, 0, 0), (0, 0, 4, 8))
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    mask = ImageInput(data=buffer.getvalue(), media_type="image/png", filename="mask.png")
    request = ImageRequest(prompt="a red hat", model="V_3", operation="edit", images=(INPUT,), mask=mask, n=1)

    (sent,) = [data for name, _, _, data in form(_build(_validate(request))) if name == "mask"]

    grey = Image.open(io.BytesIO(sent))
    assert grey.mode == "L"
    assert grey.tobytes() == (bytes(4) + b"\xff" * 4) * 8


def test_an_upload_held_in_pieces_is_sent_uncopied():
    """An image held in pieces, as the gateway holds an upload, makes the same form, its views sent as they are."""
    big = PNG + bytes(300_000)
    views = tuple(memoryview(big)[at : at + 100_000] for at in range(0, len(big), 100_000))
    pieced = ImageInput(pieces=views, media_type="image/png", filename="cat.png")

    def request(image: ImageInput) -> ImageRequest:
        return ImageRequest(prompt="a red hat", model="V_3", operation="edit", images=(image,), mask=MASK, n=1)

    http = _build(_validate(request(pieced)))

    whole = ImageInput(data=big, media_type="image/png", filename="cat.png")
    assert form(http) == form(_build(_validate(request(whole))))
    assert [piece for piece in pieces_of(http) or () if isinstance(piece, memoryview)] == list(views[:-1])
    assert all(held is view for held, view in zip(pieced.chunks(), views, strict=True))  # never joined
