"""
pixmux.masks: OpenAI's alpha masks read in pure Python and turned into providers' black-and-white masks.

Pillow is the oracle: it writes the masks (every mode it saves with transparency) and reads the
results back. PNGs Pillow does not write (16-bit alpha, Adam7 interlacing, each row filter on
purpose) are built here from their definition in the PNG specification.
"""

from __future__ import annotations

import io
import random
import struct
import zlib

import pytest
from PIL import Image
from pixmux.masks import MAX_PIXELS, MaskError, alpha_plane, encode_png, provider_mask
from pixmux.types import ImageInput


def png_bytes(image: Image.Image, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", **options)
    return buffer.getvalue()


def noisy_rgba(width: int = 61, height: int = 37, seed: int = 7) -> Image.Image:
    """Random colours and alphas: Pillow's adaptive filtering then uses every row filter."""
    rng = random.Random(seed)
    data = bytes(rng.randrange(256) for _ in range(width * height * 4))
    return Image.frombytes("RGBA", (width, height), data)


def pillow_alpha(data: bytes) -> bytes:
    return Image.open(io.BytesIO(data)).convert("RGBA").getchannel("A").tobytes()


def test_rgba_alpha_matches_pillow_on_noise() -> None:
    image = noisy_rgba()
    data = png_bytes(image)
    plane = alpha_plane(data)
    assert plane is not None
    assert (plane.width, plane.height) == image.size
    assert plane.alpha == image.getchannel("A").tobytes()


@pytest.mark.parametrize("mode", ["LA", "P", "L", "RGB"])
def test_every_mode_pillow_saves_with_transparency_reads_as_pillow_does(mode: str) -> None:
    rgba = noisy_rgba(seed=11)
    if mode == "P":
        image = rgba.convert("RGB").quantize(16)
        image.info["transparency"] = 3
        data = png_bytes(image, transparency=3)
    elif mode == "L":
        image = rgba.convert("L")
        data = png_bytes(image, transparency=image.getpixel((0, 0)))
    elif mode == "RGB":
        image = rgba.convert("RGB")
        image.paste((10, 20, 30), (0, 0, 20, 10))
        data = png_bytes(image, transparency=(10, 20, 30))
    else:
        data = png_bytes(rgba.convert(mode))
    plane = alpha_plane(data)
    assert plane is not None
    assert plane.alpha == pillow_alpha(data)
    if mode in ("P", "L", "RGB"):
        assert 0 in plane.alpha
        assert 255 in plane.alpha


@pytest.mark.parametrize("bits", [1, 2, 4])
def test_low_bit_depth_palettes_with_transparency(bits: int) -> None:
    colours = 1 << bits
    image = Image.new("P", (29, 13))
    image.putpalette([value for index in range(colours) for value in (index * 16, 0, 0)])
    image.putdata([(x + y) % colours for y in range(13) for x in range(29)])
    data = png_bytes(image, bits=bits, transparency=bytes([0] + [255] * (colours - 1)))
    assert data[24] == bits  # IHDR bit depth: Pillow packed the samples
    plane = alpha_plane(data)
    assert plane is not None
    assert plane.alpha == pillow_alpha(data)


def test_a_png_without_alpha_has_no_plane() -> None:
    assert alpha_plane(png_bytes(Image.new("RGB", (8, 8), (255, 255, 255)))) is None
    assert alpha_plane(png_bytes(Image.new("L", (8, 8), 0))) is None


# ---------------------------------------------------------------- PNGs built by hand


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def _filtered(rows: list[bytes], bpp: int) -> bytes:
    """Each row with filter ``row index % 5`` applied (the PNG specification's five filters)."""
    out = bytearray()
    prior = bytes(len(rows[0])) if rows else b""
    for index, row in enumerate(rows):
        kind = index % 5
        line = bytearray()
        for i, value in enumerate(row):
            a = row[i - bpp] if i >= bpp else 0
            b = prior[i]
            c = prior[i - bpp] if i >= bpp else 0
            predicted = (0, a, b, (a + b) // 2, _paeth(a, b, c))[kind]
            line.append((value - predicted) & 0xFF)
        out += bytes([kind]) + line
        prior = row
    return bytes(out)


def _png(width: int, height: int, depth: int, color: int, data: bytes, interlace: bool = False) -> bytes:
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color]
    bpp = max(1, depth * channels // 8)
    size = bpp
    passes = (
        [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
        if interlace
        else [(0, 0, 1, 1)]
    )
    raw = b""
    for x0, y0, dx, dy in passes:
        rows = [
            b"".join(data[(y * width + x) * size : (y * width + x + 1) * size] for x in range(x0, width, dx))
            for y in range(y0, height, dy)
        ]
        rows = [row for row in rows if row]
        if rows:
            raw += _filtered(rows, bpp)
    header = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 1 if interlace else 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b"")


@pytest.mark.parametrize("interlace", [False, True])
def test_each_row_filter_and_adam7_on_8_bit_rgba(interlace: bool) -> None:
    rng = random.Random(3)
    width, height = 23, 19
    pixels = bytes(rng.randrange(256) for _ in range(width * height * 4))
    data = _png(width, height, 8, 6, pixels, interlace=interlace)

    plane = alpha_plane(data)
    assert plane is not None
    assert plane.alpha == pixels[3::4]
    assert plane.alpha == pillow_alpha(data)


@pytest.mark.parametrize(("color", "channels"), [(6, 4), (4, 2)])
def test_16_bit_alpha_reads_its_high_byte(color: int, channels: int) -> None:
    rng = random.Random(5)
    width, height = 17, 9
    samples = bytes(rng.randrange(256) for _ in range(width * height * channels * 2))
    plane = alpha_plane(_png(width, height, 16, color, samples))
    assert plane is not None
    step = channels * 2
    assert plane.alpha == samples[step - 2 :: step]


# ---------------------------------------------------------------- provider masks


def openai_mask(width: int = 40, height: int = 30) -> tuple[bytes, set[tuple[int, int]]]:
    """An OpenAI mask: opaque black, a transparent rectangle to edit; and the pixels of that rectangle."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 255))
    image.paste((0, 0, 0, 0), (5, 4, 25, 14))
    edited = {(x, y) for x in range(5, 25) for y in range(4, 14)}
    return png_bytes(image), edited


@pytest.mark.parametrize(("edit", "mode"), [("white", "L"), ("black", "RGB"), ("white", "RGB"), ("black", "L")])
def test_an_alpha_mask_becomes_the_providers_black_and_white_mask(edit: str, mode: str) -> None:
    data, edited = openai_mask()
    out = provider_mask(ImageInput(data=data, media_type="image/png", filename="m.png"), edit=edit, mode=mode)  # type: ignore[arg-type]

    assert out.media_type == "image/png"
    assert out.filename == "m.png"
    image = Image.open(io.BytesIO(out.data))
    assert image.mode == mode
    assert image.size == (40, 30)
    grey = image.convert("L")
    edit_value, keep_value = (255, 0) if edit == "white" else (0, 255)
    for y in range(30):
        for x in range(40):
            assert grey.getpixel((x, y)) == (edit_value if (x, y) in edited else keep_value), (x, y)
    if mode == "RGB":
        assert set(image.tobytes()[0::3]) == {0, 255}
        assert image.tobytes()[0::3] == image.tobytes()[1::3] == image.tobytes()[2::3]


def test_half_transparent_pixels_are_edited_below_128() -> None:
    image = Image.new("LA", (4, 1))
    image.putdata([(0, 0), (0, 127), (0, 128), (0, 255)])
    out = provider_mask(ImageInput(data=png_bytes(image), media_type="image/png"), edit="white")
    assert Image.open(io.BytesIO(out.data)).tobytes() == bytes([255, 255, 0, 0])


def test_masks_in_the_providers_own_convention_pass_unchanged() -> None:
    black_white = png_bytes(Image.new("L", (8, 8), 255))
    opaque_rgba = png_bytes(Image.new("RGBA", (8, 8), (255, 255, 255, 255)))
    jpeg = io.BytesIO()
    Image.new("RGB", (8, 8), (255, 255, 255)).save(jpeg, "JPEG")
    for data, kind in ((black_white, "image/png"), (opaque_rgba, "image/png"), (jpeg.getvalue(), "image/jpeg")):
        given = ImageInput(data=data, media_type=kind)
        assert provider_mask(given, edit="black") is given


def test_the_encoder_writes_what_pillow_reads() -> None:
    rng = random.Random(9)
    pixels = bytes(rng.randrange(256) for _ in range(13 * 7 * 3))
    assert Image.open(io.BytesIO(encode_png(13, 7, pixels, "RGB"))).tobytes() == pixels
    with pytest.raises(ValueError, match="not 13x7 L pixels"):
        encode_png(13, 7, pixels, "L")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"GIF89a....", "not a PNG"),
        (openai_mask()[0][:60], "cut short"),
        (_png(4, 4, 8, 6, bytes(64))[:33] + _chunk(b"IDAT", b"not zlib") + _chunk(b"IEND", b""), "corrupt"),
        (_png(4, 4, 8, 6, bytes(64)).replace(b"\x08\x06\x00\x00\x00", b"\x08\x07\x00\x00\x00", 1), "header is invalid"),
        (
            b"\x89PNG\r\n\x1a\n"
            + _chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 6, 0, 0, 0))
            + _chunk(b"IDAT", zlib.compress(b"\x00" * 5))
            + _chunk(b"IEND", b""),
            "shorter than its size",
        ),
        (
            b"\x89PNG\r\n\x1a\n"
            + _chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0))
            + _chunk(b"IDAT", zlib.compress(b"\x09" + bytes(4)))
            + _chunk(b"IEND", b""),
            "unknown row filter",
        ),
        (
            b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", MAX_PIXELS, 2, 8, 6, 0, 0, 0)),
            "pixels are read",
        ),
    ],
)
def test_a_broken_png_mask_is_a_typed_error_naming_the_mask(data: bytes, message: str) -> None:
    with pytest.raises(MaskError, match=message) as caught:
        provider_mask(ImageInput(data=data, media_type="image/png"), edit="white", provider="recraft", model="m")
    assert caught.value.param == "mask"
    assert (caught.value.provider, caught.value.model) == ("recraft", "m")
