"""The gateway's response writer gives the same bytes with and without orjson."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import pytest
from pixmux.proxy import encode

BIG = base64.b64encode(os.urandom(30_000)).decode()

DOCUMENTS = [
    {"created": 1, "data": [{"b64_json": BIG}, {"b64_json": BIG, "revised_prompt": 'a "quoted" otter\n'}]},
    {"created": 1, "data": [{"b64_json": "ü" * 2000}, {"b64_json": 'needs "escaping" ' * 200}]},
    {"created": 1, "data": [{"b64_json": "\x01" * 2000}, {"b64_json": "\x7f" * 2000}, {"b64_json": "a\\b" * 900}]},
    {"created": 1, "data": [{"b64_json": "\u2028 \U0001f9a6 " * 400}], "size": "1024x1024"},
]


@pytest.mark.parametrize("orjson", [True, False])
@pytest.mark.parametrize("out", DOCUMENTS)
def test_encode_images_same_json_with_or_without_orjson(
    out: dict[str, Any], orjson: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Joined chunks are json.dumps's compact output, whichever encoder wrote the big strings."""
    if orjson:
        pytest.importorskip("orjson")
    else:
        monkeypatch.setattr(encode, "_orjson_dumps", lambda: None)

    chunks = encode.encode_images(out)

    assert json.dumps(out, separators=(",", ":"), ensure_ascii=False).encode() == b"".join(chunks)


def test_encode_images_lone_surrogate_fails_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    """A string no UTF-8 can hold raises UnicodeEncodeError with or without orjson (the gateway answers 500)."""
    out = {"created": 1, "data": [{"b64_json": "\ud800" * 2000}]}

    with pytest.raises(UnicodeEncodeError):
        encode.encode_images(out)
    monkeypatch.setattr(encode, "_orjson_dumps", lambda: None)
    with pytest.raises(UnicodeEncodeError):
        encode.encode_images(out)
