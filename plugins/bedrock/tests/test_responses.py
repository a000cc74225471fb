"""Responses: every family's success and refusal shapes, every AWS error, costs, and the plugin contract."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import httpx
import pixmux_bedrock.provider as provider
import pytest
from pixmux.exceptions import (
    APIResponseValidationError,
    AuthenticationError,
    BadRequestError,
    ContentPolicyViolationError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    PixmuxError,
    RateLimitError,
    ServiceUnavailableError,
    Timeout,
)
from pixmux.testing import TINY_PNG_B64, check_plugin, load_json, make_engine

ENV = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret-example", "AWS_REGION": "us-east-1"}


def engine_answering(status: int, body: Any, headers: dict[str, str] | None = None) -> Any:
    return make_engine(
        provider, handler=lambda request: httpx.Response(status, json=body, headers=headers or {}), environ=ENV
    )


@pytest.mark.parametrize(
    ("model", "body", "count"),
    [
        ("stability.stable-diffusion-xl-v1", "sdxl_success.json", 1),
        ("stability.sd3-5-large-v1:0", "stability3_success.json", 1),
        ("amazon.titan-image-generator-v2:0", "titan_success.json", 2),
        ("us.amazon.nova-canvas-v1:0", "nova_success.json", 1),
    ],
)
def test_image_generation_reads_each_family(model: str, body: str, count: int) -> None:
    """Each family's success body becomes b64 images whose OpenAI-shaped JSON validates, with the request id kept."""
    engine = engine_answering(
        200, load_json(body), {"x-amzn-RequestId": "req-9", "Date": "Mon, 01 Jan 2024 00:00:00 GMT"}
    )

    resp = engine.image_generation(prompt="a fox", model=f"bedrock/{model}")

    assert [TINY_PNG_B64] * count == [image.b64_json for image in resp.data]
    assert (resp.created, resp.metadata["request_ids"]) == (1704067200, ["req-9"])
    assert {"created", "data", "output_format"} == set(resp.to_dict())
    assert resp.data[0].bytes().startswith(b"\x89PNG")


def test_image_generation_merges_fanned_out_requests() -> None:
    """n=3 on Stable Image is three requests whose images, seeds and cost come back as one response."""
    engine = engine_answering(200, load_json("stability3_success.json"))

    resp = engine.image_generation(prompt="a fox", model="bedrock/stability.stable-image-ultra-v1:1", n=3, seed=1)

    assert (len(engine.requests), len(resp.data)) == (3, 3)
    assert resp.metadata["seeds"] == [2130420379] * 3
    assert pytest.approx(0.42) == resp.cost


@pytest.mark.parametrize(
    ("model", "kwargs", "body", "cost"),
    [
        ("stability.stable-diffusion-xl-v1", {}, "sdxl_success.json", 0.04),
        ("stability.stable-diffusion-xl-v1", {"steps": 60}, "sdxl_success.json", 0.08),
        ("stability.stable-diffusion-xl-v0", {}, "sdxl_success.json", 0.018),
        ("stability.stable-diffusion-xl-v0", {"size": "1024x1024", "steps": 51}, "sdxl_success.json", 0.072),
        ("stability.stable-image-core-v1:1", {}, "stability3_success.json", 0.04),
        ("stability.sd3-large-v1:0", {}, "stability3_success.json", 0.08),
        ("amazon.titan-image-generator-v1", {"size": "512x512"}, "titan_success.json", 2 * 0.008),
        (
            "amazon.titan-image-generator-v2:0",
            {"size": "1408x768", "quality": "premium"},
            "titan_success.json",
            2 * 0.012,
        ),
        ("amazon.nova-canvas-v1:0", {}, "nova_success.json", 0.04),
        ("amazon.nova-canvas-v1:0", {"size": "2048x2048", "quality": "hd"}, "nova_success.json", 0.08),
        ("amazon.nova-canvas-v1:0", {"size": "1280x720", "quality": "premium"}, "nova_success.json", 0.06),
    ],
)
def test_image_generation_cost_by_model_size_and_quality(
    model: str, kwargs: dict[str, Any], body: str, cost: float
) -> None:
    """The cost is the catalogue's per-image price for the size tier and quality (or steps), times the images."""
    engine = engine_answering(200, load_json(body))

    resp = engine.image_generation(prompt="a fox", model=f"bedrock/{model}", **kwargs)

    assert pytest.approx(cost) == resp.cost


@pytest.mark.parametrize(
    ("model", "body", "code"),
    [
        ("stability.stable-diffusion-xl-v1", "sdxl_filtered.json", "CONTENT_FILTERED"),
        ("stability.sd3-5-large-v1:0", "stability3_filtered_prompt.json", "Filter reason: prompt"),
        ("stability.stable-image-ultra-v1:1", "stability3_filtered_output.json", "Filter reason: output image"),
        ("stability.stable-image-core-v1:1", "stability3_no_images.json", None),
        ("amazon.nova-canvas-v1:0", "amazon_error_field.json", None),
    ],
)
def test_image_generation_refusal_in_a_200_is_content_policy(model: str, body: str, code: str | None) -> None:
    """A refusal reported with HTTP 200 (a finish reason or no image) is a ContentPolicyViolationError (400)."""
    engine = engine_answering(200, load_json(body))

    with pytest.raises(ContentPolicyViolationError) as info:
        engine.image_generation(prompt="a fox", model=f"bedrock/{model}")

    assert (400, code, "bedrock") == (info.value.status_code, info.value.code, info.value.provider)


@pytest.mark.parametrize(
    ("model", "body"),
    [
        ("stability.stable-diffusion-xl-v1", "sdxl_error.json"),
        ("stability.sd3-5-large-v1:0", "stability3_inference_error.json"),
    ],
)
def test_image_generation_model_failure_in_a_200_is_server_error(model: str, body: str) -> None:
    """SDXL's ERROR and SD3's 'Inference error' are InternalServerError, not a refusal or an empty result."""
    engine = engine_answering(200, load_json(body))

    with pytest.raises(InternalServerError):
        engine.image_generation(prompt="a fox", model=f"bedrock/{model}", num_retries=0)


@pytest.mark.parametrize(
    ("body", "text"),
    [({"unexpected": True}, "none of images"), ({"images": "abc"}, "not a list"), ([], "not a JSON object")],
)
def test_image_generation_malformed_body(body: Any, text: str) -> None:
    """A body of the wrong shape is an APIResponseValidationError saying what was wrong, never a KeyError."""
    engine = engine_answering(200, body)

    with pytest.raises(APIResponseValidationError, match=text):
        engine.image_generation(prompt="a fox", model="bedrock/stability.stable-image-core-v1:1")


@pytest.mark.parametrize("seeds", [1, "42", {"0": 42}])
def test_image_generation_keeps_the_images_when_seeds_is_not_a_list(seeds: Any) -> None:
    """Stable Image's seeds of an odd shape never cost the call its images (it was a TypeError)."""
    engine = engine_answering(200, {"seeds": seeds, "finish_reasons": [None], "images": [TINY_PNG_B64]})

    resp = engine.image_generation(prompt="a fox", model="bedrock/stability.sd3-5-large-v1:0", num_retries=0)

    assert [image.b64_json for image in resp.data] == [TINY_PNG_B64]
    assert resp.metadata["seeds"] == []


def test_image_generation_non_json_body() -> None:
    """A 200 that is not JSON is an APIResponseValidationError."""
    engine = make_engine(provider, handler=lambda request: httpx.Response(200, text="<html>"), environ=ENV)

    with pytest.raises(APIResponseValidationError, match="not JSON"):
        engine.image_generation(prompt="a fox", model="bedrock/amazon.nova-canvas-v1:0")


@pytest.mark.parametrize(
    ("status", "error_type", "body", "cls", "reported"),
    [
        (400, "ValidationException", "error_content_filter_titan.json", ContentPolicyViolationError, 400),
        (400, "ValidationException", "error_content_filter_nova.json", ContentPolicyViolationError, 400),
        (400, "ValidationException", "error_validation.json", BadRequestError, 400),
        (403, "AccessDeniedException", "error_access_denied.json", PermissionDeniedError, 403),
        (403, "AccessDeniedException", "error_api_key.json", AuthenticationError, 401),
        (403, "UnrecognizedClientException", "error_unrecognized_client.json", AuthenticationError, 401),
        (403, "InvalidSignatureException", "error_invalid_signature.json", AuthenticationError, 401),
        (403, "ExpiredTokenException", "error_expired_token.json", AuthenticationError, 401),
        (403, None, "error_unrecognized_client.json", AuthenticationError, 401),
        (400, None, "error_typed_in_body.json", AuthenticationError, 401),
        (404, "ResourceNotFoundException", "error_not_found.json", NotFoundError, 404),
        (408, "ModelTimeoutException", "error_model_timeout.json", Timeout, 408),
        (424, "ModelErrorException", "error_model_error.json", InternalServerError, 500),
        (429, "ThrottlingException", "error_throttling.json", RateLimitError, 429),
        (429, "ModelNotReadyException", "error_throttling.json", RateLimitError, 429),
        (400, "ServiceQuotaExceededException", "error_quota.json", RateLimitError, 429),
        (500, "InternalServerException", "error_internal.json", InternalServerError, 500),
        (503, "ServiceUnavailableException", "error_service_unavailable.json", ServiceUnavailableError, 503),
    ],
)
def test_image_generation_maps_aws_errors(
    status: int, error_type: str | None, body: str, cls: type[PixmuxError], reported: int
) -> None:
    """Each AWS exception becomes its pixmux class, with AWS's message and exception name kept."""
    headers = (
        {"x-amzn-ErrorType": f"{error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/"} if error_type else {}
    )
    engine = engine_answering(status, load_json(body), headers)

    with pytest.raises(PixmuxError) as info:
        engine.image_generation(prompt="a fox", model="bedrock/amazon.nova-canvas-v1:0", num_retries=0)

    assert type(info.value) is cls
    assert reported == info.value.status_code
    assert load_json(body)["message"] in str(info.value)
    named = error_type or ("UnrecognizedClientException" if "__type" in load_json(body) else None)
    assert named == info.value.code
    assert named is None or named in str(info.value)


def test_image_generation_throttling_keeps_retry_after() -> None:
    """A Retry-After on a throttled call is kept as retry_after seconds."""
    engine = engine_answering(
        429, load_json("error_throttling.json"), {"x-amzn-ErrorType": "ThrottlingException", "Retry-After": "7"}
    )

    with pytest.raises(RateLimitError) as info:
        engine.image_generation(prompt="a fox", model="bedrock/amazon.nova-canvas-v1:0", num_retries=0)

    assert info.value.retry_after == 7.0


def test_check_plugin_passes() -> None:
    """The plugin meets pixmux's contract check (tests/test_contract.py checks import isolation in a subprocess)."""
    assert check_plugin(provider, name="bedrock") == []


def test_import_pixmux_does_not_import_boto3() -> None:
    """`import pixmux` (and importing this plugin's provider) loads neither boto3 nor botocore."""
    code = (
        "import sys, pixmux, pixmux_bedrock.provider; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)

    assert found.stdout.strip() == "[]"


def test_bearer_call_does_not_import_boto3() -> None:
    """A whole call with a Bedrock API key never imports boto3 or botocore."""
    code = (
        "import sys, httpx, pixmux_bedrock.provider as p\n"
        "from pixmux.testing import make_engine, TINY_PNG_B64\n"
        "e = make_engine(p, handler=lambda r: httpx.Response(200, json={'images': [TINY_PNG_B64]}),"
        " environ={'AWS_BEARER_TOKEN_BEDROCK': 'k', 'AWS_REGION': 'us-east-1'})\n"
        "e.image_generation(prompt='a fox', model='bedrock/amazon.nova-canvas-v1:0')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)

    assert found.stdout.strip() == "[]"
