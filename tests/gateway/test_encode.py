"""The gateway's response writer: exactly OpenAI's JSON, big images written without extra copies."""

from __future__ import annotations

import base64
import gzip
import json
import os
from typing import Any

import pytest
from pixmux.proxy import encode
from pixmux.proxy.encode import accepts_gzip, encode_images, gzip_chunks
from pixmux.types import ImageObject, ImageResponse, Usage

BIG = base64.b64encode(os.urandom(30_000)).decode()


@pytest.mark.parametrize(
    "out",
    [
        {"created": 1, "data": [{"b64_json": BIG}, {"b64_json": BIG, "revised_prompt": 'a "quoted" otter\n'}]},
        {"created": 1, "data": [{"url": "https://x.test/a.png"}], "size": "1024x1024"},
        {"created": 1, "data": [{"b64_json": "ü" * 2000}, {"b64_json": 'needs "escaping" ' * 200}]},
        {"created": 1, "data": [], "usage": {"input_tokens": 1, "output_tokens": 2}},
        {"created": 1},
    ],
)
def test_encode_images_is_exactly_the_json(out: dict[str, Any]) -> None:
    """The chunks join to the same JSON document as json.dumps, whatever the strings hold."""
    chunks = encode_images(out)

    assert out == json.loads(b"".join(chunks))
    assert json.dumps(out, separators=(",", ":"), ensure_ascii=False).encode() == b"".join(chunks)


def test_encode_images_gives_each_big_image_its_own_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    """On the general path a big base64 string is a chunk of its own (with or without its quotes), not copied again."""
    out = {"created": 1, "data": [{"b64_json": BIG}, {"b64_json": BIG}], "cost": 0.5}  # a float: the general path

    for orjson in (encode._orjson_dumps(), None):
        monkeypatch.setattr(encode, "_orjson_dumps", lambda orjson=orjson: orjson)
        chunks = encode_images(out)

        assert sum(1 for chunk in chunks if chunk in (BIG.encode(), f'"{BIG}"'.encode())) == 2


def test_encode_images_one_chunk_when_orjson_writes_it_all() -> None:
    """With orjson, a document of strings, integers, booleans and nulls is one chunk, exactly json.dumps's bytes."""
    pytest.importorskip("orjson")
    prompt = 'a "quoted" \\ otter\n\x01\u2028'
    out = {"created": 1, "data": [{"b64_json": BIG, "revised_prompt": prompt}], "n": 2**64 - 1}

    chunks = encode_images(out)

    assert len(chunks) == 1
    assert json.dumps(out, separators=(",", ":"), ensure_ascii=False).encode() == chunks[0]


@pytest.mark.parametrize(
    "out",
    [
        {"created": 1, "data": [{"b64_json": BIG}], "cost": 1e16},
        {"created": 1, "data": [{"b64_json": BIG}], "n": 2**64},
        {"created": 1, "data": [{"b64_json": BIG, "revised_prompt": "\ud800"}]},
        {"created": 1, "data": [{"b64_json": BIG}], "sizes": [1.5, 2]},
    ],
)
def test_encode_images_what_orjson_spells_differently_takes_the_general_path(out: dict[str, Any]) -> None:
    """Floats, integers beyond 64 bits and lone surrogates give json.dumps's bytes (or its error) all the same."""
    try:
        expected: bytes | type[Exception] = json.dumps(out, separators=(",", ":"), ensure_ascii=False).encode()
    except UnicodeEncodeError:
        expected = UnicodeEncodeError
    if isinstance(expected, bytes):
        assert b"".join(encode_images(out)) == expected
    else:
        with pytest.raises(UnicodeEncodeError):
            encode_images(out)


def test_encode_images_from_image_response() -> None:
    """An ImageResponse's to_dict() encodes to OpenAI's ImagesResponse JSON."""
    response = ImageResponse(created=5, data=(ImageObject(b64_json=BIG),), usage=Usage(input_tokens=1, total_tokens=1))

    assert response.to_dict() == json.loads(b"".join(encode_images(response.to_dict())))


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip, deflate, br", True),
        ("br;q=1.0, gzip;q=0.5", True),
        ("gzip;q=0", False),
        ("identity", False),
        ("*", True),
        (None, False),
    ],
)
def test_accepts_gzip_reads_accept_encoding(header: str | None, expected: bool) -> None:
    """Accept-Encoding is read with its q-values."""
    assert expected == accepts_gzip(header)


@pytest.mark.parametrize("size", [2_000, 2_000_000])
def test_gzip_chunks_round_trips(size: int) -> None:
    """Small and big bodies (Huffman-only) decompress to the original bytes."""
    chunks = [b'{"data":"', base64.b64encode(os.urandom(size)), b'"}']

    assert b"".join(chunks) == gzip.decompress(gzip_chunks(chunks, sum(map(len, chunks))))
