"""Big provider bodies: the cut-out reading of big plain strings gives json.loads's value, or steps aside."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import httpx
import pytest
from gateway_support import auth, make_gateway
from pixmux import converters
from pixmux.converters import BIG_STRING_BYTES, CUT_MIN_BYTES, loads_json

orjson = pytest.importorskip("orjson")

IMAGE = base64.b64encode(b"\x89PNG\r\n\x1a\n" + os.urandom(max(CUT_MIN_BYTES, BIG_STRING_BYTES))).decode()
OTHER = base64.b64encode(os.urandom(BIG_STRING_BYTES)).decode()


def _cut(content: bytes) -> Any:
    """What the fast path alone gives (``None``: it stepped aside)."""
    return converters._loads_cut(content, orjson.loads, orjson.dumps)


def _outcome(read: Any, content: bytes) -> str:
    """The value's repr, or the error's type and message."""
    try:
        return repr(read(content))
    except ValueError as exc:
        return f"{type(exc).__name__}: {exc}"


def _body(value: Any) -> bytes:
    return json.dumps(value).encode()


TAKEN = {
    "one image": _body({"created": 1, "data": [{"b64_json": IMAGE}]}),
    "compact": json.dumps({"created": 1, "data": [{"b64_json": IMAGE}]}, separators=(",", ":")).encode(),
    "several images": _body({"created": 1, "data": [{"b64_json": IMAGE}, {"b64_json": OTHER}, {"b64_json": IMAGE}]}),
    "escapes elsewhere": _body(
        {"created": 1, "data": [{"b64_json": IMAGE, "revised_prompt": 'an "otter"\\ \n\t \u00e9 \ud83e\udda6'}]}
    ),
    "escaped quote and backslash runs before": (
        b'{"a": "x\\"", "b": "\\\\", "c": "\\\\\\"\\\\", "data": [{"b64_json": "' + IMAGE.encode() + b'"}]}'
    ),
    "key inside another string": _body({"note": '"b64_json": "', "data": [{"b64_json": IMAGE}]}),
    "null beside": _body({"data": [{"b64_json": None, "url": "https://x.test/a.png"}, {"b64_json": IMAGE}]}),
    "not base64 but plain": _body({"data": [{"b64_json": "not base64 - but plain ASCII! " * 1000}]}),
    "list at the top": _body([IMAGE, {"a": [IMAGE]}]),
    "big float elsewhere is small": _body({"data": [{"b64_json": IMAGE}], "n": 1.5, "m": 12345678901234}),
    "whitespace": b'{ "data" : [ { "b64_json" :\n "' + IMAGE.encode() + b'" } ] }',
}

STEPS_ASIDE = {
    "escape inside the image": _body({"data": [{"b64_json": IMAGE[:100] + "\n" + IMAGE[100:]}]}),
    "quote escaped inside the image": b'{"data": [{"b64_json": "' + IMAGE.encode() + b'\\"x"}]}',
    "backslash escaped inside the image": b'{"data": [{"b64_json": "' + IMAGE.encode() + b'\\\\x"}]}',
    "slash escaped inside the image": b'{"data": [{"b64_json": "' + IMAGE.encode().replace(b"/", b"\\/") + b'"}]}',
    "non-ASCII inside the image": _body({"data": [{"b64_json": IMAGE + "\u00e9"}]}).replace(b"\\u00e9", "é".encode()),
    "raw control character inside": b'{"data": [{"b64_json": "' + IMAGE.encode() + b'\x01"}]}',
    "raw tab inside": b'{"data": [{"b64_json": "' + IMAGE.encode() + b'\t"}]}',
    "truncated inside the image": b'{"data": [{"b64_json": "' + IMAGE.encode(),
    "truncated after the image": b'{"data": [{"b64_json": "' + IMAGE.encode() + b'"}',
    "trailing garbage": _body({"data": [{"b64_json": IMAGE}]}) + b" x",
    "bad JSON elsewhere": b'{"data": [{"b64_json": "' + IMAGE.encode() + b'"}], "n": 01}',
    "NaN elsewhere": b'{"data": [{"b64_json": "' + IMAGE.encode() + b'"}], "n": NaN}',
    "huge integer elsewhere": b'{"data": [{"b64_json": "' + IMAGE.encode() + b'"}], "n": 1234567890123456789012}',
    "big string as a key": b'{"' + IMAGE.encode() + b'": 1}',
    "one big string": _body(IMAGE),
    "duplicate key drops the image": b'{"data": [{"b64_json": "' + IMAGE.encode() + b'", "b64_json": null}]}',
    "no big string": _body({"data": [{"url": "https://x.test/a.png"}], "pad": ["x" * 100] * 1000}),
    "many small strings first": _body({"pad": ["x"] * 300, "data": [{"b64_json": IMAGE}]}),
    "many small strings after": _body({"data": [{"b64_json": IMAGE}], "pad": ["x"] * 300}),
    "UTF-16": json.dumps({"data": [{"b64_json": IMAGE}]}).encode("utf-16"),
}


@pytest.mark.parametrize("content", TAKEN.values(), ids=TAKEN.keys())
def test_loads_cut_reads_plain_big_strings_as_json_does(content: bytes) -> None:
    """Bodies whose big strings are plain take the fast path and read to exactly json.loads's value."""
    value = _cut(content)

    assert value is not None
    assert repr(value) == repr(json.loads(content))
    assert repr(loads_json(content)) == repr(json.loads(content))


@pytest.mark.parametrize("content", STEPS_ASIDE.values(), ids=STEPS_ASIDE.keys())
def test_loads_cut_steps_aside_and_loads_json_is_the_json_module(content: bytes) -> None:
    """Anything not proven plain, or not valid, is left to the full reading: same value or same error."""
    assert _cut(content) is None
    assert _outcome(loads_json, content) == _outcome(json.loads, content)


def test_loads_cut_a_body_naming_a_stand_in_steps_aside() -> None:
    """A string equal to a stand-in (were one ever guessed) is found twice: the body is read whole."""
    prefix = converters._hole_prefix()
    content = _body({"data": [{"b64_json": IMAGE}], "echo": f"{prefix}0"})

    assert _cut(content) is None
    assert loads_json(content) == json.loads(content)


def test_loads_cut_a_stand_in_as_a_key_steps_aside() -> None:
    """A key equal to a stand-in is never taken for one."""
    prefix = converters._hole_prefix()
    content = _body({"data": [{"b64_json": IMAGE}], f"{prefix}0": 1})

    assert _cut(content) is None
    assert loads_json(content) == json.loads(content)


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("control character", b'{"created": 1, "data": [{"b64_json": "' + IMAGE.encode() + b'\x00"}]}'),
        ("truncated", b'{"created": 1, "data": [{"b64_json": "' + IMAGE.encode()),
        ("escape", b'{"created": 1, "data": [{"b64_json": "' + IMAGE.encode() + b'\\x"}]}'),
    ],
)
async def test_gateway_never_passes_a_broken_big_body_through(name: str, body: bytes, error_schema: Any) -> None:
    """A provider body that is not JSON is an error in OpenAI's shape, however big its image."""
    gateway, _ = make_gateway(handler=lambda request: httpx.Response(200, content=body))

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw.test") as client:
        response = await client.post("/v1/images/generations", json={"model": "sd", "prompt": "otter"}, headers=auth())

    assert response.status_code >= 500, name
    error_schema.validate(response.json())
    assert IMAGE[:64] not in response.text


async def test_gateway_sends_several_big_images_as_they_came(images_schema: Any) -> None:
    """Images read by the fast path reach the client unchanged, in order, beside the small fields."""
    upstream = {
        "created": 7,
        "data": [{"b64_json": IMAGE, "revised_prompt": 'a "wet" otter'}, {"b64_json": OTHER}],
        "usage": {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3},
    }
    gateway, _ = make_gateway(handler=lambda request: httpx.Response(200, content=_body(upstream)))

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw.test") as client:
        response = await client.post("/v1/images/generations", json={"model": "sd", "prompt": "otter"}, headers=auth())

    assert response.status_code == 200
    out = response.json()
    images_schema.validate(out)
    assert [item.get("b64_json") for item in out["data"]] == [IMAGE, OTHER]
    assert out["data"][0]["revised_prompt"] == 'a "wet" otter'
