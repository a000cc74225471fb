"""The OpenAI plugin's cached endpoints and big-body reading behave like the plain ways."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import httpx
import pytest
from pixmux.exceptions import APIResponseValidationError
from pixmux.testing import make_engine
from pixmux_openai import provider
from pixmux_openai.wire import parse_images, post_json

BIG_BYTES = 64 * 1024
BIG = base64.b64encode(os.urandom(BIG_BYTES)).decode()


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


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer sk-test-key"},
        {"Authorization": "Bearer sk-test-key", "OpenAI-Organization": "org-1"},
        {},
        {"content-type": "application/json; charset=utf-8", "Authorization": "Bearer k"},
    ],
)
@pytest.mark.parametrize("url", ["https://api.openai.com/v1/images/generations", "http://127.0.0.1:8080/v1/x"])
def test_post_json_is_the_request_httpx_builds(headers: dict[str, str], url: str) -> None:
    """Method, URL, headers in order, and body bytes equal httpx.Request(..., json=...)'s."""
    body = {"model": "gpt-image-1", "prompt": "une loutre « mignonne » 🦦", "n": 2, "extra": {"a": [1, None]}}
    endpoint = httpx.URL(url)

    ours = post_json(endpoint, headers, body)
    theirs = httpx.Request("POST", endpoint, headers=headers, json=body)

    assert (ours.method, ours.url) == (theirs.method, theirs.url)
    assert json.loads(ours.content) == body
    if tuple(int(part) for part in httpx.__version__.split(".")[:2]) >= (0, 28):  # 0.27 wrote spaced JSON
        assert ours.headers.raw == theirs.headers.raw
        assert ours.content == theirs.content


@pytest.mark.parametrize(
    "body",
    [
        {"model": "dall-e-3", "prompt": "an otter", "n": 1, "size": "1024x1024", "user": None, "hd": True},
        {"prompt": 'control \x00\x1f\x7f, quotes " \\, line\u2028, emoji 🦦, ß'},
        {"seed": 2**64 + 1, "neg": -(2**63) - 1},
        {"guidance": 7.5, "tiny": 1e-7, "big": 1e16, "whole": 2.0},
        {1: "integer key", None: "null key"},
        {"nested": {"x": [1, 2.5, None]}, "tuple": (1, 2)},
        ["not", "an", "object"],
    ],
)
def test_post_json_body_bytes_are_httpx_bytes(body: Any) -> None:
    """Every JSON body (floats, big integers, odd keys and characters included) is byte for byte httpx's."""
    endpoint = httpx.URL("https://api.openai.com/v1/images/generations")

    ours = post_json(endpoint, {"Authorization": "Bearer k"}, body)
    theirs = httpx.Request("POST", endpoint, headers={"Authorization": "Bearer k"}, json=body)

    assert ours.content == theirs.content
    assert ours.headers.raw == theirs.headers.raw


def test_post_json_refuses_what_httpx_refuses() -> None:
    """A body JSON cannot hold raises as httpx does (NaN, objects)."""
    endpoint = httpx.URL("https://api.openai.com/v1/images/generations")

    with pytest.raises(ValueError, match="Out of range float values"):
        post_json(endpoint, {}, {"x": float("nan")})
    with pytest.raises(TypeError, match="not JSON serializable"):
        post_json(endpoint, {}, {"x": object()})


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-request-id": "req_123"}, "req_123"),
        ({"X-Request-ID": "req_ABC", "content-type": "application/json"}, "req_ABC"),
        ({"x-request-idx": "no"}, None),
        ({}, None),
        ([("x-request-id", "caf\xe9".encode("latin-1"))], "caf\xe9"),
    ],
)
def test_parse_images_request_id_reads_the_header(headers: Any, expected: str | None) -> None:
    """The provider's x-request-id lands in metadata, found case-insensitively, decoded as httpx does."""
    response = httpx.Response(200, headers=headers, json={"created": 1, "data": [{"url": "https://img.test/a.png"}]})

    parsed = parse_images(response, provider="openai", model="dall-e-3")

    assert parsed.metadata.get("request_id") == expected
    assert (expected is None) == ("request_id" not in parsed.metadata)
