"""The OpenAI dialect in core: what OpenAI-shaped plugins build and read with."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest
from pixmux.catalogue import ModelInfo
from pixmux.dialects import openai as dialect
from pixmux.exceptions import APIResponseValidationError, ContentPolicyViolationError
from pixmux.testing import TINY_PNG_B64
from pixmux.types import ImageRequest


def test_build_body_sends_model_prompt_and_the_set_fields() -> None:
    """Only the fields the model takes and the caller set go in the body, then the provider's own."""
    request = ImageRequest(prompt="otter", model="m", n=2, size=None, quality="high", params={"seed": 7})

    body = dialect.build_body(request, "m", openai_params=("n", "size"))

    assert body == {"model": "m", "prompt": "otter", "n": 2, "seed": 7}


def test_post_json_is_httpx_request_json() -> None:
    """post_json is the request httpx builds for json=, byte for byte."""
    url = "https://api.example/v1/images/generations"
    ours = dialect.post_json(httpx.URL(url), {"Authorization": "Bearer k"}, {"prompt": "ünï", "n": 1})
    theirs = httpx.Request("POST", url, headers={"Authorization": "Bearer k"}, json={"prompt": "ünï", "n": 1})

    assert ours.headers.raw == theirs.headers.raw
    assert ours.read() == theirs.read()


def test_parse_images_reads_an_images_response() -> None:
    """An ImagesResponse body becomes an ImageResponse, with the request id beside it."""
    body = {"created": 1, "data": [{"b64_json": TINY_PNG_B64}], "usage": {"input_tokens": 3, "output_tokens": 4}}
    response = httpx.Response(200, json=body, headers={"x-request-id": "req_1"})

    parsed = dialect.parse_images(response, provider="p", model="m")

    assert parsed.data[0].b64_json == TINY_PNG_B64
    assert parsed.usage is not None
    assert parsed.usage.total_tokens == 7
    assert parsed.metadata == {"request_id": "req_1"}


def test_parse_images_without_an_image_is_a_validation_error() -> None:
    """A 200 with no image in it is not a success."""
    with pytest.raises(APIResponseValidationError, match="no image"):
        dialect.parse_images(httpx.Response(200, json={"created": 1, "data": []}), provider="p", model="m")


def test_error_for_a_moderation_block_is_a_content_policy_violation() -> None:
    """OpenAI's moderation codes become ContentPolicyViolationError."""
    body = {"error": {"message": "blocked", "code": "moderation_blocked", "moderation_details": {"x": 1}}}
    error = dialect.error_for(httpx.Response(400, json=body), provider="p", info=ModelInfo(name="m"))

    assert isinstance(error, ContentPolicyViolationError)
    assert error.details["moderation_details"] == {"x": 1}


def test_the_old_module_re_exports_the_dialect() -> None:
    """pixmux_openai.wire keeps working for third-party plugins: the same functions."""
    from pixmux_openai import wire

    for name in wire.__all__:
        assert getattr(wire, name) is getattr(dialect, name)


def test_openai_shaped_plugins_no_longer_import_the_openai_provider() -> None:
    """Nscale, Recraft and Xinference depend on pixmux alone: importing them loads no pixmux_openai."""
    code = (
        "import sys, json, pixmux_nscale.provider, pixmux_recraft.provider, pixmux_xinference.provider;"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('pixmux_openai'))))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(loaded) == []


@pytest.mark.parametrize(
    ("url", "headers", "body"),
    [
        ("https://api.example/v1/images/generations", {"Authorization": "Bearer k"}, {"prompt": "otter", "n": 1}),
        ("http://127.0.0.1:8080/v1/images/generations", {}, {"prompt": "ünï 🦦", "x": [1.5, None, True]}),
        ("https://u:p@api.example:8443/a%3Ab?q=1", {"X-Key": "v", "api-key": "k"}, {"nested": {"a": [1]}}),
        ("https://api.example/v1", {"Content-Type": "application/json; charset=utf-8"}, {"p": 1}),
    ],
)
def test_post_json_builds_what_httpx_builds(url: str, headers: dict[str, str], body: object) -> None:
    """post_json's request equals httpx.Request(json=...): method, URL, headers in order, body bytes."""
    ours = dialect.post_json(httpx.URL(url), headers, body)
    theirs = httpx.Request("POST", url, headers=headers, json=body)

    assert (ours.method, ours.url) == (theirs.method, theirs.url)
    assert ours.headers.raw == theirs.headers.raw
    assert ours.read() == theirs.read()


def test_post_json_refuses_what_httpx_refuses() -> None:
    """A body JSON cannot write is the same error httpx raises."""
    with pytest.raises(ValueError, match="Out of range float"):
        dialect.post_json("https://api.example/v1", {}, {"x": float("nan")})
    with pytest.raises(TypeError):
        dialect.post_json("https://api.example/v1", {}, {"x": object()})
