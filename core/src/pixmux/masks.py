"""
Edit masks between conventions: OpenAI's alpha mask to a provider's black-and-white one.

pixmux takes masks as OpenAI does: a PNG whose **transparent** pixels mark the area to edit.
Other providers want an opaque black-and-white image instead, and disagree on which colour
means "edit": Stability, Recraft and Vertex AI Imagen edit the white area, Bedrock's Titan and
Nova Canvas ``INPAINTING`` the black one. :func:`provider_mask` turns one into the other, so a
mask drawn once works everywhere.

Pure Python (``zlib`` and ``struct``): every PNG colour type, bit depths 1 to 16, both
interlace methods. Only the alpha channel is unfiltered, so a 1024x1024 RGBA mask costs about
a quarter of the image's bytes of Python work (``bench/bench_masks.py`` measures it).
"""

from __future__ import annotations

import itertools
import struct
import zlib
from typing import Literal

import attrs

from pixmux.exceptions import UnsupportedParamsError
from pixmux.types import ImageInput

__all__ = ["AlphaPlane", "alpha_plane", "encode_png", "provider_mask", "MaskError"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Samples per pixel, by PNG colour type.
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
#: Adam7: (x start, y start, x step, y step) of each pass.
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
#: Largest mask decoded (pixels): 64 megapixels, far above any provider's limit.
MAX_PIXELS = 64 * 1024 * 1024
#: An alpha below this marks a pixel to edit (OpenAI: transparent = edit; half-transparent counts).
EDIT_BELOW = 128


class MaskError(UnsupportedParamsError):
    """A mask PNG that cannot be read: what is wrong with it is in the message."""


@attrs.frozen
class AlphaPlane:
    """A PNG's opacity: ``alpha`` holds one byte (0 transparent to 255 opaque) per pixel, row by row."""

    width: int
    height: int
    alpha: bytes = attrs.field(repr=lambda v: f"<{len(v)} bytes>")


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    if not data.startswith(_SIGNATURE):
        raise MaskError("the mask is not a PNG", param="mask")
    found = []
    offset = len(_SIGNATURE)
    while offset + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, offset)
        body = data[offset + 8 : offset + 8 + length]
        if len(body) != length or offset + 12 + length > len(data):
            raise MaskError(f"the mask PNG is cut short inside its {kind.decode('latin-1')!r} chunk", param="mask")
        found.append((kind, body))
        offset += 12 + length
        if kind == b"IEND":
            break
    return found


def alpha_plane(data: bytes) -> AlphaPlane | None:
    """
    The opacity of each pixel of a PNG, or ``None`` when it has no alpha (no alpha channel, no ``tRNS``).

    Raises:
        MaskError: the bytes are not a PNG, or a broken one (the message says how).
    """
    chunks = _chunks(data)
    if not chunks or chunks[0][0] != b"IHDR" or len(chunks[0][1]) != 13:
        raise MaskError("the mask PNG has no valid IHDR header", param="mask")
    width, height, depth, color, compression, filtering, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    if color not in _CHANNELS or depth not in _DEPTHS[color] or compression or filtering or interlace > 1:
        raise MaskError(
            f"the mask PNG's header is invalid (colour type {color}, bit depth {depth}, interlace {interlace})",
            param="mask",
        )
    if width == 0 or height == 0 or width * height > MAX_PIXELS:
        raise MaskError(f"the mask is {width}x{height} pixels; at most {MAX_PIXELS} pixels are read", param="mask")
    trns = next((body for kind, body in chunks if kind == b"tRNS"), None)
    if color not in (4, 6) and trns is None:
        return None
    try:
        raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    except zlib.error as exc:
        raise MaskError(f"the mask PNG's image data is corrupt ({exc})", param="mask") from None
    decoder = _Decoder(width, height, depth, color, trns)
    passes = [(0, 0, 1, 1)] if interlace == 0 else list(_ADAM7)
    plane = bytearray(width * height) if interlace else None
    offset = 0
    rows_out: list[bytes] = []
    for x0, y0, dx, dy in passes:
        pass_width = (width - x0 + dx - 1) // dx
        pass_height = (height - y0 + dy - 1) // dy
        if pass_width == 0 or pass_height == 0:
            continue
        stride = (pass_width * decoder.bits + 7) // 8
        end = offset + pass_height * (stride + 1)
        if len(raw) < end:
            raise MaskError("the mask PNG's image data is shorter than its size says", param="mask")
        for y, row in zip(range(y0, height, dy), decoder.rows(raw, offset, pass_width, pass_height), strict=True):
            if plane is None:
                rows_out.append(row)
            else:
                plane[y * width + x0 : (y + 1) * width : dx] = row
        offset = end
    alpha = bytes(plane) if plane is not None else b"".join(rows_out)
    return AlphaPlane(width, height, alpha)


class _Decoder:
    """Unfilters rows and gives each pixel's alpha; only the bytes the alpha depends on are unfiltered."""

    def __init__(self, width: int, height: int, depth: int, color: int, trns: bytes | None) -> None:
        self.depth, self.color, self.trns = depth, color, trns
        self.bits = depth * _CHANNELS[color]
        self.bpp = max(1, self.bits // 8)  # the filter's byte distance
        if color in (4, 6):  # the alpha sample's most significant byte is the one lane needed
            self.lanes = [self.bpp - (2 if depth == 16 else 1)]
        else:
            self.lanes = list(range(self.bpp))
        self.table = self._table()

    def _table(self) -> bytes | None:
        """Sample value to alpha, for palette and grey images with ``tRNS``."""
        trns = self.trns or b""
        if self.color == 3:
            return trns[:256] + b"\xff" * (256 - len(trns[:256]))
        if self.color == 0 and self.depth <= 8 and len(trns) >= 2:
            key = struct.unpack(">H", trns[:2])[0]
            return bytes(0 if value == key else 255 for value in range(256))
        return None

    def rows(self, raw: bytes, offset: int, width: int, height: int) -> list[bytes]:
        stride = (width * self.bits + 7) // 8
        step = self.bpp if self.bits >= 8 else 1
        lanes = self.lanes if self.bits >= 8 else [0]
        prior = {lane: bytes(len(range(lane, stride, step))) for lane in lanes}
        out = []
        for index in range(height):
            start = offset + index * (stride + 1)
            kind = raw[start]
            if kind > 4:
                raise MaskError(f"the mask PNG has an unknown row filter ({kind})", param="mask")
            line = raw[start + 1 : start + 1 + stride]
            current = {}
            for lane in lanes:
                current[lane] = _unfilter(kind, line[lane::step], prior[lane])
            prior = current
            out.append(self._alpha(current, width, stride, step))
        return out

    def _alpha(self, lanes: dict[int, bytes], width: int, stride: int, step: int) -> bytes:
        if self.color in (4, 6):
            return next(iter(lanes.values()))[:width]
        if step == 1 or len(lanes) == 1:
            row = lanes[0]
        else:
            joined = bytearray(stride)
            for lane, values in lanes.items():
                joined[lane::step] = values
            row = bytes(joined)
        if self.depth < 8:
            row = _unpack(row, self.depth)[:width]
        if self.table is not None:
            return row.translate(self.table)
        trns = self.trns or b""
        size = self.bits // 8
        if self.color == 0:  # 16-bit grey with a transparent value
            key = trns[:2]
        else:  # RGB with a transparent colour: three 16-bit values, whatever the depth
            if len(trns) < 6:
                return b"\xff" * width
            red, green, blue = struct.unpack(">HHH", trns[:6])
            width_bytes = size // 3
            key = b"".join((v & ((1 << 8 * width_bytes) - 1)).to_bytes(width_bytes, "big") for v in (red, green, blue))
        return bytes(0 if row[i : i + size] == key else 255 for i in range(0, width * size, size))


def _samples(byte: int, depth: int) -> bytes:
    return bytes((byte >> shift) & ((1 << depth) - 1) for shift in range(8 - depth, -1, -depth))


_UNPACKED = {depth: [_samples(byte, depth) for byte in range(256)] for depth in (1, 2, 4)}


def _unpack(row: bytes, depth: int) -> bytes:
    table = _UNPACKED[depth]
    return b"".join(table[byte] for byte in row)


_LOW7 = 0x7F
_HIGH = 0x80


def _add(a: bytes, b: bytes) -> bytes:
    """Byte-wise addition modulo 256 of two equal-length byte strings, without a Python loop per byte."""
    size = len(a)
    if size == 0:
        return b""
    low = int.from_bytes(bytes([_LOW7]) * size, "big")
    high = int.from_bytes(bytes([_HIGH]) * size, "big")
    x, y = int.from_bytes(a, "big"), int.from_bytes(b, "big")
    return (((x & low) + (y & low)) ^ ((x ^ y) & high)).to_bytes(size, "big")


def _unfilter(kind: int, line: bytes, prior: bytes) -> bytes:
    """One lane of one row unfiltered: the left neighbour is the lane's previous byte."""
    if kind == 0:
        return line
    if kind == 2:
        return _add(line, prior)
    if kind == 1:
        return bytes(value & 0xFF for value in itertools.accumulate(line))
    out = bytearray(len(line))
    left = 0
    if kind == 3:
        for i, value in enumerate(line):
            left = (value + ((left + prior[i]) >> 1)) & 0xFF
            out[i] = left
        return bytes(out)
    upper_left = 0
    for i, value in enumerate(line):
        up = prior[i]
        p = left + up - upper_left
        pa, pb, pc = abs(p - left), abs(p - up), abs(p - upper_left)
        if pa <= pb and pa <= pc:
            predicted = left
        elif pb <= pc:
            predicted = up
        else:
            predicted = upper_left
        left = (value + predicted) & 0xFF
        out[i] = left
        upper_left = up
    return bytes(out)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def encode_png(width: int, height: int, pixels: bytes, mode: Literal["L", "RGB"] = "L") -> bytes:
    """
    An 8-bit greyscale (``"L"``, one byte per pixel) or RGB (three) PNG of ``pixels``, row by row.

    Raises:
        ValueError: ``pixels`` is not ``width * height`` pixels long.
    """
    channels = 1 if mode == "L" else 3
    stride = width * channels
    if len(pixels) != stride * height:
        raise ValueError(f"{len(pixels)} bytes are not {width}x{height} {mode} pixels")
    rows = b"".join(b"\x00" + pixels[y * stride : (y + 1) * stride] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0 if mode == "L" else 2, 0, 0, 0)
    return _SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows, 6)) + _chunk(b"IEND", b"")


def provider_mask(
    mask: ImageInput,
    *,
    edit: Literal["black", "white"],
    mode: Literal["L", "RGB"] = "L",
    provider: str | None = None,
    model: str | None = None,
) -> ImageInput:
    """
    An OpenAI-style mask (transparent = edit) as a provider's opaque mask where ``edit`` colour marks the edit.

    A pixel whose alpha is below 128 becomes ``edit`` (black or white), every other one the
    opposite colour; the result is an 8-bit PNG of the same size (``mode`` ``"L"`` greyscale or
    ``"RGB"``), with no transparency. A mask given in the provider's own convention passes
    unchanged: a JPEG or WebP, a PNG without alpha, or a PNG with alpha but no transparent
    pixel (an opaque black-and-white mask saved as RGBA).

    Raises:
        MaskError: a PNG mask that cannot be read (``param="mask"``, with ``provider`` and ``model``).
    """
    if mask.media_type != "image/png" and not mask.data.startswith(_SIGNATURE):
        return mask
    try:
        plane = alpha_plane(mask.data)
    except MaskError as exc:
        raise MaskError(exc.message, provider=provider, model=model, param="mask") from None
    if plane is None:
        return mask
    edit_value, keep_value = (0, 255) if edit == "black" else (255, 0)
    table = bytes(edit_value if alpha < EDIT_BELOW else keep_value for alpha in range(256))
    pixels = plane.alpha.translate(table)
    if edit_value not in pixels:
        return mask
    if mode == "RGB":
        rgb = bytearray(len(pixels) * 3)
        rgb[0::3] = rgb[1::3] = rgb[2::3] = pixels
        pixels = bytes(rgb)
    name = mask.filename.rsplit(".", 1)[0] + ".png" if mask.filename else None
    return ImageInput(data=encode_png(plane.width, plane.height, pixels, mode), media_type="image/png", filename=name)
