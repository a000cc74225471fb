"""The OpenAI dialect in core: what OpenAI-shaped plugins build and read with."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
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


#: The DALL-E url body and the GPT-image body (usage with both kinds of details), as OpenAI sends them.
DALL_E_BODY = {
    "created": 1_698_116_662,
    "data": [{"url": "https://images.example/img-1.png?se=2025", "revised_prompt": "an otter pup"}],
}
GPT_IMAGE_BODY = {
    "created": 1_713_833_628,
    "data": [{"b64_json": TINY_PNG_B64}],
    "background": "opaque",
    "output_format": "png",
    "quality": "high",
    "size": "1024x1024",
    "usage": {
        "input_tokens": 50,
        "input_tokens_details": {"text_tokens": 40, "image_tokens": 10},
        "output_tokens": 4160,
        "output_tokens_details": {"image_tokens": 4100, "text_tokens": 60},
        "total_tokens": 4210,
    },
}


def _by_converter(body: Any, response: httpx.Response) -> Any:
    """What the converter alone makes of ``body``: the response, or the error it raises."""
    try:
        payload = dialect.structure_json(
            body, dialect._Payload, converter=dialect._converter, provider="p", model="m", what="an ImagesResponse"
        )
        return dialect._from_payload(payload, {"request_id": "req_1"}, response=response, provider="p", model="m")
    except APIResponseValidationError as exc:
        return exc


@pytest.mark.parametrize("body", [DALL_E_BODY, GPT_IMAGE_BODY], ids=["dall-e url", "gpt-image b64 with usage"])
def test_parse_images_reads_openai_bodies_without_the_converter(body: dict[str, Any]) -> None:
    """OpenAI's own bodies, usage and its details included, are read straight into what the converter gives."""
    response = httpx.Response(200, json=body, headers={"x-request-id": "req_1"})

    straight = dialect._read_plain(body, {"request_id": "req_1"})

    assert straight is not None
    assert straight == dialect.parse_images(response, provider="p", model="m") == _by_converter(body, response)
    assert straight.metadata == {"request_id": "req_1"}


def test_parse_images_usage_details_as_openai_gives_them() -> None:
    """Input details default to the input tokens as text; total is the sum when OpenAI leaves it out."""
    body = {"created": 1, "data": [{"url": "https://img.test/a.png"}], "usage": {"input_tokens": 3, "output_tokens": 4}}

    parsed = dialect.parse_images(httpx.Response(200, json=body), provider="p", model="m")

    assert parsed.usage is not None
    assert (parsed.usage.total_tokens, parsed.usage.input_tokens_details.text_tokens) == (7, 3)
    assert parsed.usage.output_tokens_details is None


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"created": 1, "data": [{"url": 5}]}, "$.data[0].url"),
        ({"created": 1, "data": [{"url": "x"}], "usage": {"input_tokens": "many"}}, "$.usage.input_tokens"),
        ({"created": 1, "data": [{"b64_json": TINY_PNG_B64}], "size": ["1024x1024"]}, "$.size"),
        ({"created": None, "data": [{"b64_json": TINY_PNG_B64}]}, "$.created"),
        ({"created": 1, "data": {"url": "https://img.test/a.png"}}, "$.data"),
        (
            {"created": 1, "data": [{"url": "x"}], "usage": {"input_tokens_details": {"text_tokens": True}}},
            "$.usage.input_tokens_details.text_tokens",
        ),
    ],
)
def test_parse_images_names_the_field_of_a_body_it_refuses(body: dict[str, Any], where: str) -> None:
    """A field of the wrong type is an APIResponseValidationError that says which field."""
    with pytest.raises(APIResponseValidationError, match="not an ImagesResponse") as caught:
        dialect.parse_images(httpx.Response(200, json=body), provider="p", model="m")

    assert where in caught.value.message


def test_parse_images_reads_numbers_sent_as_strings() -> None:
    """A body the straight read leaves (``created`` as a string) is still read, by the converter."""
    body = {"created": "1713833628", "data": [{"url": "https://img.test/a.png"}]}

    parsed = dialect.parse_images(httpx.Response(200, json=body), provider="p", model="m")

    assert dialect._read_plain(body, {}) is None
    assert parsed.created == 1_713_833_628


_values = st.one_of(st.none(), st.text(max_size=6), st.integers(-3, 3), st.booleans(), st.floats(allow_nan=False))
_odd = st.one_of(_values, st.text(alphabet="0123456789", min_size=1, max_size=3), st.lists(_values, max_size=2))


def _mostly(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``valid`` about nine times in ten, else a value of another type (hypothesis favours the ends of a range)."""
    return st.integers(0, 9).flatmap(lambda pick: _odd if pick == 5 else valid)


def _object(fields: dict[str, st.SearchStrategy[Any]], *, required: tuple[str, ...] = ()) -> st.SearchStrategy[Any]:
    """An object of ``fields`` (``required`` ones always there), each mostly valid; sometimes not an object."""
    return _mostly(
        st.fixed_dictionaries(
            {name: _mostly(fields[name]) for name in required},
            optional={name: _mostly(value) for name, value in fields.items() if name not in required},
        )
    )


_count = st.integers(0, 5000)
_text = st.one_of(st.none(), st.just(""), st.text(max_size=8))
_details = {"text_tokens": _count, "image_tokens": _count}
_usage_fields = {
    "input_tokens": _count,
    "output_tokens": _count,
    "total_tokens": _count,
    "input_tokens_details": st.one_of(_object(_details), st.none()),
    "output_tokens_details": st.one_of(_object(_details), st.none()),
}
_usage = st.one_of(
    _object(_usage_fields),
    _object(_usage_fields, required=("input_tokens", "output_tokens", "input_tokens_details", "output_tokens_details")),
)
_image = {
    "url": st.one_of(st.just("https://img.test/a.png"), _text),
    "b64_json": st.one_of(st.just(TINY_PNG_B64), _text),
    "revised_prompt": _text,
    "extra": _values,
}
_datum = st.one_of(_object(_image, required=("url",)), _object(_image, required=("b64_json",)), _object(_image))
_body = {
    "created": st.one_of(st.integers(0, 2**40), st.floats(0, 2**31), st.text(alphabet="0123456789", min_size=1)),
    "data": st.lists(_datum, min_size=1, max_size=3),
    "size": st.one_of(_text, st.sampled_from(["1024x1024", "auto"])),
    "quality": _text,
    "background": _text,
    "output_format": _text,
    "usage": _usage,
}
_bodies = st.one_of(_object(_body, required=("created", "data")), _object(_body, required=("created", "data", "usage")))


@settings(max_examples=1000, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=_bodies)
def test_parse_images_is_the_converters_reading(body: Any) -> None:
    """On any body, parse_images gives exactly the converter's response, or the converter's error."""
    response = httpx.Response(200, content=json.dumps(body).encode(), headers={"x-request-id": "req_1"})
    expected = _by_converter(body, response)

    if isinstance(expected, APIResponseValidationError):
        with pytest.raises(APIResponseValidationError) as caught:
            dialect.parse_images(response, provider="p", model="m")
        assert caught.value.message == expected.message
    else:
        parsed = dialect.parse_images(response, provider="p", model="m")
        assert parsed == expected
        assert parsed.metadata == expected.metadata


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
