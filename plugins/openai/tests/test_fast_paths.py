"""The OpenAI plugin's cached endpoints and big-body reading behave like the plain ways."""

from __future__ import annotations

import base64
import json
import os

import httpx
import pytest
from pixmux.converters import ORJSON_MIN_BYTES
from pixmux.exceptions import APIResponseValidationError
from pixmux.testing import make_engine
from pixmux_openai import provider
from pixmux_openai.wire import parse_images

BIG = base64.b64encode(os.urandom(ORJSON_MIN_BYTES)).decode()


def _ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"created": 1, "data": [{"url": "https://img.test/a.png"}]})


def test_build_request_endpoint_follows_each_api_base() -> None:
    """Calls with different api_base values (cached endpoints) each go to their own server."""
    engine = make_engine(provider, handler=_ok)

    for base in ("https://a.test/v1", "https://b.test/v1/", "https://a.test/v1"):
        engine.image_generation("otter", model="dall-e-3", api_key="sk-test-key", api_base=base)

    assert [str(request.url) for request in engine.requests] == [
        "https://a.test/v1/images/generations",
        "https://b.test/v1/images/generations",
        "https://a.test/v1/images/generations",
    ]


def test_parse_images_big_body_reads_every_field() -> None:
    """A ~100 KB base64 body gives the image and the usage exactly."""
    body = {
        "created": 1_713_833_628,
        "data": [{"b64_json": BIG, "revised_prompt": 'an otter, "quoted"\n'}],
        "usage": {"input_tokens": 50, "output_tokens": 4160, "total_tokens": 4210},
        "size": "1024x1024",
    }
    response = httpx.Response(200, content=json.dumps(body).encode(), request=httpx.Request("POST", "https://x.test"))

    parsed = parse_images(response, provider="openai", model="gpt-image-1")

    assert parsed.data[0].b64_json == BIG
    assert parsed.data[0].revised_prompt == 'an otter, "quoted"\n'
    assert parsed.usage is not None
    assert parsed.usage.total_tokens == 4210
    assert parsed.size == "1024x1024"


def test_parse_images_big_body_not_json_is_a_validation_error() -> None:
    """A big body with a raw control character in a string is refused, as the json module refuses it."""
    content = b'{"created": 1, "data": [{"b64_json": "' + BIG.encode() + b'\x01"}]}'
    response = httpx.Response(200, content=content, request=httpx.Request("POST", "https://x.test"))

    with pytest.raises(APIResponseValidationError, match="not JSON"):
        parse_images(response, provider="openai", model="gpt-image-1")
