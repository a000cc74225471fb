"""
Writing gateway responses: OpenAI's JSON shapes as bytes, with as few copies of big images as possible.

With orjson installed (the ``proxy`` extra) an ``ImagesResponse`` is written by orjson in one
piece (about 0.04 ms for a 1.5 MB image): orjson writes strings, integers, booleans and ``null``
exactly as ``json.dumps`` does (every code point was compared), so only documents holding a
float (spelled differently) or something orjson refuses (a lone surrogate, an integer beyond
64 bits) take the general path. There, a multi-megabyte ``b64_json`` string is encoded once and
handed to the server as its own chunk, instead of passing through ``json.dumps`` (which scans
and copies it) and a final ``join`` (which copies it again): by orjson when it is installed;
without, it is checked (ASCII, nothing JSON must escape, about 0.4 ms) and encoded as ASCII.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pixmux.converters import orjson_dumps

__all__ = [
    "encode_json",
    "encode_images",
    "accepts_gzip",
    "gzip_chunks",
    "error_body",
    "RAW_MIN_CHARS",
    "GZIP_MIN_BYTES",
]

#: Strings at least this long are written raw (after a check) rather than through ``json.dumps``.
RAW_MIN_CHARS = 1024
#: Bodies smaller than this are sent uncompressed even when the client accepts gzip.
GZIP_MIN_BYTES = 1400
#: Bodies at least this big are compressed with Huffman coding only: base64 text (6 bits per byte)
#: shrinks as much as with full deflate (to about 75 %), five times faster.
HUFFMAN_MIN_BYTES = 64 * 1024

#: Printable ASCII less ``"`` and ``\``: a string made only of these needs no JSON escaping.
_PLAIN = bytes(c for c in range(0x20, 0x7F) if c not in (0x22, 0x5C))
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def encode_json(value: Any) -> bytes:
    """Compact JSON as UTF-8 bytes."""
    return _dumps(value).encode("utf-8")


#: orjson's ``dumps`` or ``None`` (tests replace it to check the path without orjson).
_orjson_dumps = orjson_dumps


def _raw(value: object) -> tuple[bytes, bool] | None:
    """
    A long string's JSON bytes when nothing in it needs escaping, and whether they include the quotes; else ``None``.

    With the quotes, the bytes are exactly ``_dumps(value)`` encoded as UTF-8. orjson escapes
    only what JSON requires (as ``_dumps`` does, though sometimes spelled differently): when its
    output holds no backslash, nothing was escaped and the bytes are the string between quotes.
    """
    if not isinstance(value, str) or len(value) < RAW_MIN_CHARS:
        return None
    dumps = _orjson_dumps()
    if dumps is not None:
        try:
            encoded = dumps(value)
        except TypeError:  # orjson.JSONEncodeError (a TypeError): a lone surrogate; _dumps decides
            return None
        return None if b"\\" in encoded else (encoded, True)
    if not value.isascii():
        return None
    raw = value.encode("ascii")
    if raw.translate(None, _PLAIN):
        return None
    return raw, False


def _has_float(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, float):
            return True
    return False


def encode_images(out: Mapping[str, Any]) -> list[bytes]:
    """
    An ``ImagesResponse`` dict (from ``ImageResponse.to_dict()``) as JSON body chunks.

    Joined, the chunks are exactly ``json.dumps(out)`` in compact form (same keys, same order,
    same values): one chunk when orjson wrote it all, else each long image string is a chunk of
    its own, never copied into a bigger buffer.
    """
    dumps = _orjson_dumps()
    if dumps is not None and not _has_float(out):
        try:
            return [dumps(out)]
        except TypeError:  # orjson.JSONEncodeError: a lone surrogate, a huge integer; the general path decides
            pass
    chunks: list[bytes] = []
    text: list[str] = ["{"]
    for index, (key, value) in enumerate(out.items()):
        if index:
            text.append(",")
        text.append(_dumps(key))
        text.append(":")
        if key != "data" or not isinstance(value, list):
            text.append(_dumps(value))
            continue
        text.append("[")
        for position, item in enumerate(value):
            if position:
                text.append(",")
            if not isinstance(item, Mapping):
                text.append(_dumps(item))
                continue
            text.append("{")
            for field_index, (name, field) in enumerate(item.items()):
                if field_index:
                    text.append(",")
                text.append(_dumps(name))
                text.append(":")
                found = _raw(field)
                if found is None:
                    text.append(_dumps(field))
                    continue
                raw, quoted = found
                if not quoted:
                    text.append('"')
                chunks.append("".join(text).encode("utf-8"))
                chunks.append(raw)
                text = [] if quoted else ['"']
            text.append("}")
        text.append("]")
    text.append("}")
    chunks.append("".join(text).encode("utf-8"))
    return chunks


def error_body(message: str, *, type: str, param: str | None = None, code: str | None = None) -> bytes:
    """OpenAI's ``ErrorResponse`` as JSON bytes."""
    return encode_json({"error": {"message": message, "type": type, "param": param, "code": code}})


def accepts_gzip(header: str | None) -> bool:
    """Whether an ``Accept-Encoding`` value accepts gzip (``gzip``, ``*``; not with ``q=0``)."""
    if not header:
        return False
    for part in header.split(","):
        name, _, rest = part.strip().partition(";")
        if name.strip().lower() not in ("gzip", "*"):
            continue
        quality = rest.strip().lower()
        if quality.startswith("q="):
            try:
                return float(quality[2:]) > 0
            except ValueError:
                return False
        return True
    return False


def gzip_chunks(chunks: Sequence[bytes] | Iterable[bytes], size: int) -> bytes:
    """Compress body chunks as one gzip member (Huffman only for big bodies, see ``HUFFMAN_MIN_BYTES``)."""
    strategy = zlib.Z_HUFFMAN_ONLY if size >= HUFFMAN_MIN_BYTES else zlib.Z_DEFAULT_STRATEGY
    level = 1 if size >= HUFFMAN_MIN_BYTES else 6
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31, 8, strategy)
    parts = [compressor.compress(chunk) for chunk in chunks]
    parts.append(compressor.flush())
    return b"".join(parts)
