"""The shared Google wire code, called directly with plain values: sizes, bodies, responses, errors."""

from __future__ import annotations

import json
from typing import Any

import httpx
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
    ServiceUnavailableError,
    Timeout,
    UnsupportedParamsError,
)
from pixmux.testing import TINY_PNG_B64, load_json
from pixmux.types import ImageRequest
from pixmux_google_common.errors import google_error
from pixmux_google_common.generate_content import build_generate_content_body, parse_generate_content
from pixmux_google_common.imagen import build_predict_body, parse_predict
from pixmux_google_common.models import GENERATE_CONTENT, MODELS, PREDICT, api_of, catalogue_models, unknown_model
from pixmux_google_common.service import read_response, wire_call
from pixmux_google_common.sizes import choose_size
from pixmux_google_common.validation import validate_request

VERTEX = catalogue_models("vertex_ai")
GEMINI = catalogue_models("gemini")


def _request(model: str, **fields: Any) -> ImageRequest:
    params = fields.pop("params", {})
    return ImageRequest(prompt="a fox", model=model, params=params, **fields)


def _response(name: str, status: int = 200, url: str = "https://example.test/v1/models/m:predict") -> httpx.Response:
    return httpx.Response(status, json=load_json(name), request=httpx.Request("POST", url))


# ---------------------------------------------------------------- catalogue


def test_catalogue_routes_imagen_to_predict_and_gemini_to_generate_content():
    """Every Imagen model uses :predict and every Gemini image model :generateContent, on both services."""
    for models in (VERTEX, GEMINI):
        for name, info in models.items():
            expected = PREDICT if name.startswith(("imagen", "imagegeneration")) else GENERATE_CONTENT
            assert expected == info.extra["api"], name
    assert api_of("gemini-9-ultra-image") == GENERATE_CONTENT
    assert unknown_model("imagen-5.0-generate-001", "gemini").extra["api"] == PREDICT


def test_catalogue_services_differ_in_models_and_parameters():
    """Vertex-only models and parameters are absent from the Gemini API's catalogue."""
    assert "imagegeneration@006" in VERTEX
    assert "imagegeneration@006" not in GEMINI
    assert "negativePrompt" in (VERTEX["imagen-4.0-generate-001"].params or ())
    assert "negativePrompt" not in (GEMINI["imagen-4.0-generate-001"].params or ())
    assert "imageOutputOptions" in (VERTEX["gemini-2.5-flash-image"].params or ())
    assert "imageOutputOptions" not in (GEMINI["gemini-2.5-flash-image"].params or ())


def test_catalogue_prices_imagen_per_image_and_gemini_per_token():
    """Imagen is priced per image, Gemini image models per token with a per-image fallback."""
    imagen = VERTEX["imagen-4.0-generate-001"].pricing
    assert imagen is not None
    assert imagen.image_price(None, None) == 0.04
    flash = GEMINI["gemini-2.5-flash-image"].pricing
    assert flash is not None
    assert flash.output_token == pytest.approx(30e-6)
    assert flash.input_token == pytest.approx(0.3e-6)
    assert flash.image_price(None, None) == 0.039
    # Google publishes no price for imagen-3.0-capability-001 (editing) that pixmux could verify.
    assert all(model.pricing is not None for model in MODELS.values() if "generate" in model.operations)


def test_catalogue_marks_imagen_shutdown_on_the_gemini_api():
    """Every Imagen model on the Gemini API carries the shutdown note; Gemini GA models carry none."""
    for name, info in GEMINI.items():
        if name.startswith("imagen"):
            assert "2026-08-17" in info.extra["retired_note"]
    assert GEMINI["gemini-2.5-flash-image"].extra["retired_note"] is None


# ---------------------------------------------------------------- sizes


@pytest.mark.parametrize(
    ("model", "size", "quality", "ratio", "tier", "approximated"),
    [
        ("imagen-4.0-generate-001", "1024x1024", None, "1:1", "1K", False),
        ("imagen-4.0-generate-001", "2048x2048", None, "1:1", "2K", False),
        ("imagen-4.0-generate-001", "1792x1024", None, "16:9", "1K", True),
        ("imagen-4.0-generate-001", "1536x1024", None, "4:3", "1K", True),
        ("imagen-4.0-generate-001", "1024x1536", None, "3:4", "1K", True),
        ("imagen-4.0-fast-generate-001", "1024x1024", None, "1:1", None, False),
        ("imagen-4.0-generate-001", None, "hd", None, "2K", False),
        ("imagen-4.0-generate-001", None, "standard", None, "1K", False),
        ("gemini-3.1-flash-image", None, "low", None, "512", False),
        ("gemini-3.1-flash-image", "512x512", None, "1:1", "512", False),
        ("gemini-3.1-flash-image", "1536x1024", None, "3:2", "1K", True),
        ("gemini-3.1-flash-image", "4096x1024", None, "4:1", "2K", False),
        ("gemini-3.1-flash-image", "3000x1300", None, "21:9", "2K", True),
        ("gemini-3-pro-image", "4096x4096", None, "1:1", "4K", False),
        ("gemini-3-pro-image", None, "low", None, "1K", False),
        ("gemini-2.5-flash-image", "1344x768", None, "16:9", None, True),
        ("gemini-2.5-flash-image", "2100x900", None, "21:9", None, True),
        ("gemini-2.5-flash-image", "auto", None, None, None, False),
    ],
)
def test_choose_size_maps_size_and_quality(model, size, quality, ratio, tier, approximated):
    """OpenAI size/quality become the nearest aspect ratio and tier; approximations carry a note."""
    choice = choose_size(_request(model, size=size, quality=quality), VERTEX[model], provider="vertex_ai")

    assert (ratio, tier) == (choice.aspect_ratio, choice.tier)
    assert approximated == (choice.note is not None)


@pytest.mark.parametrize(
    ("model", "size", "fragment"),
    [
        ("imagen-4.0-fast-generate-001", "2048x2048", "larger than"),
        ("imagen-4.0-generate-001", "4096x4096", "larger than"),
        ("imagen-4.0-generate-001", "4000x500", "too far"),
        ("gemini-2.5-flash-image", "1024x4096", "too far"),
        ("gemini-2.5-flash-image", "big", "WIDTHxHEIGHT"),
    ],
)
def test_choose_size_refuses_what_cannot_be_met(model, size, fragment):
    """A size far from every ratio, or well beyond the largest tier, is an UnsupportedParamsError on size."""
    with pytest.raises(UnsupportedParamsError) as caught:
        choose_size(_request(model, size=size), VERTEX[model], provider="vertex_ai")

    assert caught.value.param == "size"
    assert fragment in str(caught.value)


def test_choose_size_refuses_size_with_a_native_aspect_ratio():
    """size and aspectRatio both set the shape: giving both is refused, naming size."""
    request = _request("imagen-4.0-generate-001", size="1024x1024", params={"aspectRatio": "16:9"})

    with pytest.raises(UnsupportedParamsError, match="aspectRatio") as caught:
        choose_size(request, VERTEX["imagen-4.0-generate-001"], provider="vertex_ai")
    assert caught.value.param == "size"


def test_choose_size_notes_quality_ignored_when_size_sets_the_tier():
    """quality='hd' with a 1K size keeps the size's tier and says quality was ignored."""
    choice = choose_size(
        _request("imagen-4.0-generate-001", size="1024x1024", quality="hd"),
        VERTEX["imagen-4.0-generate-001"],
        provider="vertex_ai",
    )

    assert choice.tier == "1K"
    assert choice.note is not None
    assert "quality='hd' is ignored" in choice.note


def test_choose_size_is_lenient_for_unknown_models():
    """A model the catalogue does not list gets the nearest ratio and no refusal."""
    info = unknown_model("imagen-9.0-generate-001", "vertex_ai")

    choice = choose_size(_request(info.name, size="4096x512"), info, provider="vertex_ai")

    assert choice.aspect_ratio == "16:9"
    assert choice.tier is None


# ---------------------------------------------------------------- validation


def test_validate_renames_snake_case_to_google_names():
    """negative_prompt / add_watermark / person_generation become Google's field names (and case)."""
    request = _request(
        "imagen-4.0-generate-001",
        params={"negative_prompt": "text", "add_watermark": False, "seed": 7, "person_generation": "ALLOW_ADULT"},
    )

    with pytest.warns(PixmuxWarning, match="shutdown"):
        changed = validate_request(request, VERTEX["imagen-4.0-generate-001"], provider="vertex_ai")

    assert changed is not None
    assert dict(changed.params) == {
        "negativePrompt": "text",
        "addWatermark": False,
        "seed": 7,
        "personGeneration": "allow_adult",
    }


def test_validate_returns_none_when_nothing_changes():
    """A request already in Google's spelling is accepted as it is."""
    request = _request("gemini-2.5-flash-image", params={"aspectRatio": "16:9"})

    assert validate_request(request, GEMINI["gemini-2.5-flash-image"], provider="gemini") is None


@pytest.mark.parametrize(
    ("service", "model", "fields", "param"),
    [
        ("gemini", "imagen-4.0-generate-001", {"params": {"negativePrompt": "x"}}, "negativePrompt"),
        ("gemini", "imagen-4.0-generate-001", {"params": {"safetySetting": "block_none"}}, "safetySetting"),
        ("vertex_ai", "imagen-4.0-generate-001", {"params": {"seed": 1}}, "seed"),
        ("vertex_ai", "imagen-4.0-generate-001", {"params": {"seed": "1", "addWatermark": False}}, "seed"),
        ("vertex_ai", "imagen-4.0-generate-001", {"params": {"addWatermark": "no"}}, "addWatermark"),
        (
            "vertex_ai",
            "imagen-4.0-generate-001",
            {"params": {"outputOptions": {"mimeType": "image/gif"}}},
            "outputOptions",
        ),
        (
            "vertex_ai",
            "imagen-4.0-generate-001",
            {"params": {"outputOptions": {"mimeType": "image/png", "compressionQuality": 80}}},
            "outputOptions",
        ),
        ("vertex_ai", "imagen-4.0-generate-001", {"params": {"storageUri": "s3://bucket"}}, "storageUri"),
        ("vertex_ai", "imagen-4.0-generate-001", {"params": {"sampleImageSize": "4K"}}, "sampleImageSize"),
        ("vertex_ai", "imagen-4.0-fast-generate-001", {"params": {"sampleImageSize": "2K"}}, "sampleImageSize"),
        ("vertex_ai", "imagen-4.0-generate-001", {"params": {"aspectRatio": "21:9"}}, "aspectRatio"),
        ("vertex_ai", "imagen-4.0-generate-001", {"n": 5}, "n"),
        ("vertex_ai", "imagen-4.0-generate-001", {"style": "vivid"}, "style"),
        ("vertex_ai", "imagen-4.0-fast-generate-001", {"quality": "hd"}, "quality"),
        ("gemini", "gemini-2.5-flash-image", {"params": {"personGeneration": "ALLOW_ADULT"}}, "personGeneration"),
        ("gemini", "gemini-2.5-flash-image", {"params": {"imageSize": "2K"}}, "imageSize"),
        ("gemini", "gemini-2.5-flash-image", {"params": {"safetySettings": [{"category": "X"}]}}, "safetySettings"),
        ("gemini", "gemini-2.5-flash-image", {"params": {"responseModalities": ["TEXT"]}}, "responseModalities"),
        ("gemini", "gemini-2.5-flash-image", {"params": {"temperature": 3}}, "temperature"),
        ("gemini", "gemini-3-pro-image", {"params": {"thinkingConfig": "high"}}, "thinkingConfig"),
        ("vertex_ai", "gemini-3-pro-image", {"params": {"imageOutputOptions": []}}, "imageOutputOptions"),
    ],
)
def test_validate_refuses_bad_parameters_naming_them(service, model, fields, param):
    """Each unsupported parameter or value is an UnsupportedParamsError naming that parameter."""
    info = (VERTEX if service == "vertex_ai" else GEMINI)[model]

    with pytest.raises(UnsupportedParamsError) as caught:
        validate_request(_request(model, **fields), info, provider=service)

    assert param == caught.value.param


def test_validate_refuses_a_parameter_given_twice():
    """negative_prompt and negativePrompt together are one parameter given twice."""
    request = _request("imagen-3.0-generate-002", params={"negative_prompt": "a", "negativePrompt": "b"})

    with pytest.raises(UnsupportedParamsError, match="give it once"):
        validate_request(request, VERTEX["imagen-3.0-generate-002"], provider="vertex_ai")


def test_validate_warns_on_approximated_size():
    """A size that is only approximated is accepted with a PixmuxWarning saying what the model makes."""
    with pytest.warns(PixmuxWarning, match="aspect ratio 16:9"):
        validate_request(
            _request("gemini-2.5-flash-image", size="1792x1024"), GEMINI["gemini-2.5-flash-image"], provider="gemini"
        )


# ---------------------------------------------------------------- imagen body


def test_predict_body_maps_every_field():
    """n → sampleCount, size → aspectRatio + sampleImageSize, native parameters copied, RAI reasons asked for."""
    request = _request(
        "imagen-4.0-generate-001",
        n=3,
        size="2048x1152",
        params={
            "negativePrompt": "text, watermark",
            "seed": 1234,
            "addWatermark": False,
            "enhancePrompt": False,
            "safetySetting": "block_only_high",
            "personGeneration": "allow_all",
            "language": "en",
            "includeSafetyAttributes": True,
            "outputOptions": {"mimeType": "image/jpeg", "compressionQuality": 85},
        },
    )
    info = VERTEX["imagen-4.0-generate-001"]

    body = build_predict_body(request, info, choose_size(request, info, provider="vertex_ai"))

    assert body["instances"] == [{"prompt": "a fox"}]
    assert body["parameters"] == {
        "sampleCount": 3,
        "aspectRatio": "16:9",
        "sampleImageSize": "2K",
        "negativePrompt": "text, watermark",
        "seed": 1234,
        "addWatermark": False,
        "enhancePrompt": False,
        "safetySetting": "block_only_high",
        "personGeneration": "allow_all",
        "language": "en",
        "includeRaiReason": True,
        "includeSafetyAttributes": True,
        "outputOptions": {"mimeType": "image/jpeg", "compressionQuality": 85},
    }


def test_predict_body_defaults_to_one_sample_and_keeps_callers_rai_choice():
    """sampleCount is always sent (1 by default); includeRaiReason=False from the caller is kept."""
    request = _request("imagen-3.0-generate-002", params={"includeRaiReason": False})
    info = VERTEX["imagen-3.0-generate-002"]

    body = build_predict_body(request, info, choose_size(request, info, provider="vertex_ai"))

    assert body["parameters"] == {"sampleCount": 1, "includeRaiReason": False}


def test_predict_body_passes_native_aspect_ratio_and_tier():
    """aspectRatio and sampleImageSize given directly go on the wire as given."""
    request = _request("imagen-4.0-ultra-generate-001", params={"aspectRatio": "9:16", "sampleImageSize": "2K"})
    info = GEMINI["imagen-4.0-ultra-generate-001"]

    body = build_predict_body(request, info, choose_size(request, info, provider="gemini"))

    assert body["parameters"] == {
        "sampleCount": 1,
        "aspectRatio": "9:16",
        "sampleImageSize": "2K",
        "includeRaiReason": True,
    }


# ---------------------------------------------------------------- imagen response


def test_parse_predict_reads_images_and_enhanced_prompt():
    """Each prediction's bytes become b64_json; the enhanced prompt is revised_prompt."""
    parsed = parse_predict(_response("imagen_two.json"), _request("m", n=2), provider="vertex_ai", model="m")

    assert len(parsed.data) == 2
    assert parsed.data[0].b64_json == TINY_PNG_B64
    assert parsed.data[0].revised_prompt.startswith("A watercolor fox")
    assert parsed.output_format == "png"
    assert parsed.refused == ()


def test_parse_predict_returns_the_rest_when_some_are_filtered():
    """One image filtered out of two: the other is returned and the filtering is reported beside it."""
    parsed = parse_predict(_response("imagen_mixed.json"), _request("m", n=2), provider="vertex_ai", model="m")

    assert len(parsed.data) == 1
    assert len(parsed.refused) == 1
    assert "Support codes: 56562880" in parsed.refused[0].reason


def test_parse_predict_counts_images_missing_without_a_reason():
    """Four asked, one returned, no reasons: three are reported as withheld."""
    body = {"predictions": [{"bytesBase64Encoded": TINY_PNG_B64, "mimeType": "image/png"}]}
    response = httpx.Response(200, json=body, request=httpx.Request("POST", "https://x.test/m:predict"))

    parsed = parse_predict(response, _request("m", n=4), provider="gemini", model="m")

    assert len(parsed.data) == 1
    assert len(parsed.refused) == 3


@pytest.mark.parametrize("name", ["imagen_all_filtered.json", "imagen_empty.json"])
def test_parse_predict_without_images_is_a_content_policy_violation(name):
    """All filtered, or an empty {} answer, is a ContentPolicyViolationError (400) with Google's reason."""
    with pytest.raises(ContentPolicyViolationError) as caught:
        parse_predict(_response(name), _request("m", n=2), provider="vertex_ai", model="m")

    assert caught.value.status_code == 400
    assert caught.value.details["refused"]
    if name == "imagen_all_filtered.json":
        assert "Support codes: 58061214" in str(caught.value)


def test_parse_predict_url_format_gives_data_urls():
    """response_format='url' returns data: URLs carrying the image's MIME type."""
    parsed = parse_predict(
        _response("imagen_two.json"), _request("m", n=2, response_format="url"), provider="vertex_ai", model="m"
    )

    assert parsed.data[0].url == f"data:image/png;base64,{TINY_PNG_B64}"
    assert parsed.data[0].b64_json is None
    assert parsed.data[0].bytes().startswith(b"\x89PNG")


def test_parse_predict_keeps_gcs_uris_and_safety_attributes():
    """storageUri answers become gs:// URLs; safety scores of images and prompt are kept in metadata."""
    gcs = parse_predict(_response("imagen_gcs.json"), _request("m"), provider="vertex_ai", model="m")
    scored = parse_predict(_response("imagen_safety_attributes.json"), _request("m"), provider="vertex_ai", model="m")

    assert gcs.data[0].url == "gs://my-bucket/out/sample_0.png"
    assert len(scored.data) == 1
    assert scored.output_format == "jpeg"
    assert scored.metadata["safety_attributes"] == [{"categories": ["Animal"], "scores": [0.1]}]
    assert scored.metadata["prompt_safety_attributes"] == {"categories": ["Animal"], "scores": [0.2]}


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"predictions": "nope"}', b'{"predictions": [5]}'])
def test_parse_predict_refuses_unreadable_bodies(body):
    """A body that is not a :predict response is an APIResponseValidationError."""
    response = httpx.Response(200, content=body, request=httpx.Request("POST", "https://x.test/m:predict"))

    with pytest.raises(APIResponseValidationError):
        parse_predict(response, _request("m"), provider="vertex_ai", model="m")


# ---------------------------------------------------------------- gemini body


def test_generate_content_body_maps_every_field():
    """Prompt → contents, size → imageConfig, native parameters to generationConfig / imageConfig / top level."""
    request = _request(
        "gemini-3-pro-image",
        size="2048x1152",
        params={
            "temperature": 0.4,
            "topP": 0.9,
            "topK": 32,
            "seed": 42,
            "thinkingConfig": {"thinkingLevel": "LOW"},
            "personGeneration": "ALLOW_ADULT",
            "prominentPeople": "BLOCK_PROMINENT_PEOPLE",
            "imageOutputOptions": {"mimeType": "image/jpeg", "compressionQuality": 90},
            "responseModalities": ["IMAGE"],
            "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}],
        },
    )
    info = VERTEX["gemini-3-pro-image"]

    body = build_generate_content_body(request, info, choose_size(request, info, provider="vertex_ai"))

    assert body["contents"] == [{"role": "user", "parts": [{"text": "a fox"}]}]
    assert body["generationConfig"] == {
        "responseModalities": ["IMAGE"],
        "imageConfig": {
            "aspectRatio": "16:9",
            "imageSize": "2K",
            "personGeneration": "ALLOW_ADULT",
            "prominentPeople": "BLOCK_PROMINENT_PEOPLE",
            "imageOutputOptions": {"mimeType": "image/jpeg", "compressionQuality": 90},
        },
        "temperature": 0.4,
        "topP": 0.9,
        "topK": 32,
        "seed": 42,
        "thinkingConfig": {"thinkingLevel": "LOW"},
    }
    assert body["safetySettings"] == [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}]


def test_generate_content_body_minimal():
    """With nothing set: TEXT and IMAGE modalities, no imageConfig, no candidateCount."""
    request = _request("gemini-2.5-flash-image")
    info = GEMINI["gemini-2.5-flash-image"]

    body = build_generate_content_body(request, info, choose_size(request, info, provider="gemini"))

    assert body["generationConfig"] == {"responseModalities": ["TEXT", "IMAGE"]}
    assert "safetySettings" not in body


def test_wire_call_sends_one_generate_content_request_per_image():
    """Gemini image models make one image per call: n=3 is three identical bodies; Imagen is one body."""
    gemini = wire_call(_request("gemini-2.5-flash-image", n=3), GEMINI["gemini-2.5-flash-image"], provider="gemini")
    imagen = wire_call(_request("imagen-4.0-generate-001", n=3), GEMINI["imagen-4.0-generate-001"], provider="gemini")

    assert (gemini.method, len(gemini.bodies)) == ("generateContent", 3)
    assert (imagen.method, len(imagen.bodies)) == ("predict", 1)
    assert imagen.bodies[0]["parameters"]["sampleCount"] == 3


# ---------------------------------------------------------------- gemini response


def test_parse_generate_content_keeps_image_text_and_usage():
    """The inlineData part is the image; the text part goes to metadata; usage is mapped to OpenAI's shape."""
    parsed = parse_generate_content(
        _response("gemini_image.json"), _request("gemini-2.5-flash-image"), provider="gemini", model="m"
    )

    assert len(parsed.data) == 1
    assert parsed.data[0].b64_json == TINY_PNG_B64
    assert parsed.metadata["text"] == ["Here is your banana in a tuxedo."]
    assert parsed.metadata["model_version"] == "gemini-2.5-flash-image"
    assert parsed.usage is not None
    assert (parsed.usage.input_tokens, parsed.usage.output_tokens, parsed.usage.total_tokens) == (9, 1298, 1307)
    assert parsed.usage.output_tokens_details is not None
    details = parsed.usage.output_tokens_details
    assert (details.image_tokens, details.text_tokens) == (1290, 8)


def test_parse_generate_content_skips_thoughts_and_counts_them_as_text():
    """Parts marked thought are not returned; thinking tokens are text output in usage."""
    parsed = parse_generate_content(
        _response("gemini_thinking.json"), _request("gemini-3.1-flash-image"), provider="gemini", model="m"
    )

    assert len(parsed.data) == 1
    assert "text" not in parsed.metadata
    assert parsed.output_format == "jpeg"
    assert parsed.usage is not None
    assert parsed.usage.output_tokens_details is not None
    assert (
        parsed.usage.output_tokens,
        parsed.usage.output_tokens_details.image_tokens,
        parsed.usage.output_tokens_details.text_tokens,
    ) == (1300, 1120, 180)


@pytest.mark.parametrize(
    ("name", "code", "fragment"),
    [
        ("gemini_image_safety.json", "IMAGE_SAFETY", "Prohibited Use policy"),
        ("gemini_prompt_blocked.json", "PROHIBITED_CONTENT", "the prompt was blocked"),
        ("gemini_text_only.json", "STOP", "I can't create images of that person"),
    ],
)
def test_parse_generate_content_without_image_is_a_content_policy_violation(name, code, fragment):
    """A safety finish, a blocked prompt or a text-only refusal is a ContentPolicyViolationError with the reason."""
    with pytest.raises(ContentPolicyViolationError) as caught:
        parse_generate_content(_response(name), _request("m"), provider="gemini", model="m")

    assert code == caught.value.code
    assert fragment in str(caught.value)
    assert caught.value.status_code == 400


def test_parse_generate_content_one_of_several_refused_is_an_empty_part():
    """With n > 1, a refused request is an empty part reporting the filtering (the others' images survive)."""
    parsed = parse_generate_content(
        _response("gemini_image_safety.json"), _request("m", n=2), provider="gemini", model="m"
    )

    assert parsed.data == ()
    assert parsed.refused[0].reason == "IMAGE_SAFETY"
    assert parsed.usage is not None
    assert parsed.usage.input_tokens == 11


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("name", "status", "cls", "reported"),
    [
        ("error_api_key.json", 400, AuthenticationError, 401),
        ("error_invalid_argument.json", 400, BadRequestError, 400),
        ("error_precondition.json", 400, BadRequestError, 400),
        ("error_prompt_filtered.json", 400, ContentPolicyViolationError, 400),
        ("error_unauthenticated.json", 401, AuthenticationError, 401),
        ("error_permission.json", 403, PermissionDeniedError, 403),
        ("error_unregistered.json", 403, AuthenticationError, 401),
        ("error_not_found.json", 404, NotFoundError, 404),
        ("error_quota.json", 429, RateLimitError, 429),
        ("error_internal.json", 500, InternalServerError, 500),
        ("error_unavailable.json", 503, ServiceUnavailableError, 503),
        ("error_deadline.json", 504, Timeout, 504),
    ],
)
def test_google_error_maps_each_error(name, status, cls, reported):
    """Each Google error body becomes the matching pixmux class, with Google's message and status code."""
    response = _response(name, status)

    error = google_error(response, provider="gemini", info=GEMINI["gemini-2.5-flash-image"])

    assert type(error) is cls
    assert reported == error.status_code
    assert load_json(name)["error"]["message"] in str(error)
    assert load_json(name)["error"]["status"] == error.code


def test_google_error_reads_retry_delay_and_details():
    """RESOURCE_EXHAUSTED's RetryInfo.retryDelay becomes retry_after; Google's details are kept."""
    error = google_error(_response("error_quota.json", 429), provider="gemini", info=GEMINI["gemini-2.5-flash-image"])

    assert error.retry_after == 17.0
    assert any("QuotaFailure" in item["@type"] for item in error.details["google_details"])


def test_google_error_prefers_the_retry_after_header():
    """A Retry-After header wins over the body's retryDelay."""
    response = httpx.Response(429, json=load_json("error_quota.json"), headers={"Retry-After": "3"})

    assert google_error(response, provider="gemini", info=GEMINI["gemini-2.5-flash-image"]).retry_after == 3.0


def test_google_error_explains_a_404_for_a_shut_down_model():
    """A 404 for an Imagen model on the Gemini API says Google shut it down and names the replacement."""
    response = _response("error_not_found.json", 404)

    error = google_error(response, provider="gemini", info=GEMINI["imagen-4.0-generate-001"])

    assert isinstance(error, NotFoundError)
    assert error.param == "model"
    assert "2026-08-17" in str(error)
    assert "gemini-3.1-flash-image" in str(error)


@pytest.mark.parametrize(
    ("body", "status", "cls"),
    [
        ([{"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}}], 429, RateLimitError),
        ({"error": {"code": 402, "message": "credit exhausted", "status": "RESOURCE_EXHAUSTED"}}, 402, RateLimitError),
        ("<html>Bad Gateway</html>", 502, InternalServerError),
    ],
)
def test_google_error_handles_wrapped_and_unusual_bodies(body, status, cls):
    """A list-wrapped error, a 402 and a non-JSON body still map to typed errors."""
    content = json.dumps(body).encode() if not isinstance(body, str) else body.encode()
    response = httpx.Response(status, content=content)

    error = google_error(response, provider="vertex_ai", info=VERTEX["gemini-2.5-flash-image"])

    assert isinstance(error, cls)


def test_read_response_routes_by_url_and_reports_approximation():
    """read_response parses :predict and :generateContent answers by URL and notes an approximated size."""
    info = GEMINI["gemini-2.5-flash-image"]
    request = _request("gemini-2.5-flash-image", size="1792x1024")
    response = _response("gemini_image.json", url="https://x.test/v1beta/models/gemini-2.5-flash-image:generateContent")

    parsed = read_response(response, request, info, provider="gemini")

    assert len(parsed.data) == 1
    assert "16:9" in parsed.metadata["approximation"]
