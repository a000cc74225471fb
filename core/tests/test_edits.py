"""Edits and variations in the core: reading inputs, header facts, checks before I/O, the library and router calls."""

from __future__ import annotations

import asyncio
import base64
import io
from pathlib import Path
from typing import Any

import httpx
import pixmux
import pytest
from PIL import Image
from pixmux import hookimpl
from pixmux.catalogue import Catalogue, InputLimits, ModelInfo, check_request
from pixmux.exceptions import APIConnectionError, BadRequestError, UnsupportedParamsError
from pixmux.inputs import check_inputs, facts_of, image_facts, image_from_pieces, read_image, read_images
from pixmux.testing import TINY_PNG_B64, json_response, make_engine
from pixmux.types import ImageInput, ImageRequest


def encode(mode: str, size: tuple[int, int], fmt: str, **save: Any) -> bytes:
    buffer = io.BytesIO()
    color: Any = (1, 2, 3, 0)[: len(mode)] if mode in ("RGB", "RGBA") else 0
    Image.new(mode, size, color).save(buffer, fmt, **save)
    return buffer.getvalue()


PNG = encode("RGBA", (64, 48), "PNG")


# --------------------------------------------------------------------------- header facts


@pytest.mark.parametrize(
    ("mode", "fmt", "save", "alpha"),
    [
        ("RGBA", "PNG", {}, True),
        ("RGB", "PNG", {}, False),
        ("LA", "PNG", {}, True),
        ("L", "PNG", {}, False),
        ("P", "PNG", {"transparency": 0}, True),
        ("RGB", "JPEG", {}, False),
        ("RGB", "JPEG", {"progressive": True}, False),
        ("RGB", "WEBP", {"lossless": False}, False),
        ("RGBA", "WEBP", {"lossless": True}, True),
        ("RGBA", "WEBP", {"lossless": False}, True),
        ("RGB", "GIF", {}, False),
    ],
)
@pytest.mark.parametrize("size", [(1, 1), (300, 17), (1025, 2049)])
def test_image_facts_match_pillow(
    mode: str, fmt: str, save: dict[str, Any], alpha: bool, size: tuple[int, int]
) -> None:
    """Width, height and alpha read from headers agree with what Pillow wrote."""
    data = encode(mode, size, fmt, **save)

    facts = image_facts(data)

    assert facts is not None
    assert (facts.format, facts.width, facts.height, facts.alpha) == (fmt.lower(), size[0], size[1], alpha)


def test_image_facts_of_non_images_and_cut_headers() -> None:
    """Text is no image; a PNG cut inside its header has a format but no size."""
    assert image_facts(b"hello") is None
    cut = image_facts(PNG[:20])
    assert cut is not None
    assert (cut.format, cut.width) == ("png", None)


def _in_pieces(data: bytes, size: int = 1000) -> ImageInput:
    """``data`` as an upload holds it: views of the chunks it arrived in."""
    view = memoryview(data)
    return image_from_pieces([view[at : at + size] for at in range(0, len(data), size)], max_bytes=len(data))


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    import zlib

    return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")


def test_facts_of_an_image_in_pieces_agree_with_its_bytes() -> None:
    """
    Headers that run past the first 64 kB are still read.

    A tRNS chunk after a big text chunk; a JPEG's frame header after two big APP segments.
    """
    rgb = encode("RGB", (33, 21), "PNG")
    late_trns = (
        rgb[:33]
        + _png_chunk(b"tEXt", b"c\x00" + b"x" * 200_000)
        + _png_chunk(b"tRNS", b"\x00\x00\x00\x00\x00\x00")
        + rgb[33:]
    )
    jpeg = encode("RGB", (40, 30), "JPEG")
    late_frame = (
        jpeg[:2]
        + b"\xff\xe1"
        + (65_000).to_bytes(2, "big")
        + b"\x00" * 64_998
        + b"\xff\xe2"
        + (65_000).to_bytes(2, "big")
        + b"\x00" * 64_998
        + jpeg[2:]
    )
    cases = [PNG, rgb, late_trns, jpeg, late_frame, encode("RGBA", (7, 9), "WEBP", lossless=True), PNG[:20]]

    for data in cases:
        image = _in_pieces(data)
        assert facts_of(image) == image_facts(data)
        assert image.size == len(data)
    assert facts_of(_in_pieces(late_trns)).alpha is True  # type: ignore[union-attr]
    assert (facts_of(_in_pieces(late_frame)).width, facts_of(_in_pieces(late_frame)).height) == (40, 30)  # type: ignore[union-attr]


def test_an_image_in_pieces_is_joined_only_when_its_bytes_are_asked_for() -> None:
    """Size, head and chunks leave the pieces as they are; ``data`` joins them once and equals the bytes."""
    image = _in_pieces(PNG, 100)
    pieces = image.chunks()

    assert len(pieces) == -(-len(PNG) // 100)
    assert all(isinstance(piece, memoryview) and piece.obj is pieces[0].obj for piece in pieces)  # type: ignore[union-attr]
    assert image.head(150) == PNG[:200]
    assert (image.size, image.media_type) == (len(PNG), "image/png")
    assert repr(image) == f"ImageInput(data=<{len(PNG)} bytes>, media_type='image/png', filename=None)"
    assert image == ImageInput(data=PNG, media_type="image/png")
    assert image.data is image.data == PNG
    assert image.chunks() == (PNG,)


def test_image_from_pieces_checks_what_read_image_checks() -> None:
    """Not an image (named with its file name), or too large: refused as bytes are; an image needs data or pieces."""
    with pytest.raises(UnsupportedParamsError, match=r"image\[1\] \(notes.txt\) is not an image") as refused:
        image_from_pieces([b"hello ", b"world, this is text"], param="image[1]", filename="notes.txt", max_bytes=100)
    assert refused.value.param == "image[1]"
    with pytest.raises(UnsupportedParamsError, match="mask is 40 bytes; the largest image accepted is 39 bytes"):
        image_from_pieces([PNG[:20], PNG[20:40]], param="mask", max_bytes=39)
    assert (
        image_from_pieces([PNG[:3], PNG[3:]], max_bytes=len(PNG)).media_type == "image/png"
    )  # a signature split across pieces
    with pytest.raises(TypeError, match="needs data"):
        ImageInput(media_type="image/png")
    with pytest.raises(TypeError, match="not both"):
        ImageInput(data=PNG, pieces=(PNG,), media_type="image/png")


# --------------------------------------------------------------------------- reading


def test_read_image_from_every_local_source(tmp_path: Path) -> None:
    """Path, str path, bytes, file object and data URL all give the same bytes and media type."""
    path = tmp_path / "room.png"
    path.write_bytes(PNG)
    data_url = "data:image/png;base64," + base64.b64encode(PNG).decode()

    with path.open("rb") as handle:
        read = [read_image(path), read_image(str(path)), read_image(PNG), read_image(handle), read_image(data_url)]

    assert {(image.data, image.media_type) for image in read} == {(PNG, "image/png")}
    assert read[0].filename == "room.png"
    assert read[3].filename == "room.png"


def test_read_image_refuses_what_is_not_an_image(tmp_path: Path) -> None:
    """Text bytes, a missing file, a text-mode file and an int each get a typed error naming the param."""
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(UnsupportedParamsError, match="not an image") as caught:
        read_image(text, param="image[2]")
    assert caught.value.param == "image[2]"
    with pytest.raises(BadRequestError, match="no such file"):
        read_image(tmp_path / "missing.png")
    with text.open() as handle, pytest.raises(UnsupportedParamsError, match="'rb'"):
        read_image(handle)  # type: ignore[arg-type]
    with pytest.raises(UnsupportedParamsError, match="give a path"):
        read_image(42)  # type: ignore[arg-type]


def test_read_image_bounds_the_size(tmp_path: Path) -> None:
    """A file above max_bytes is refused from its size, naming the limit; a stream is read no further."""
    path = tmp_path / "big.png"
    path.write_bytes(PNG + b"\0" * 1000)
    with pytest.raises(UnsupportedParamsError, match="largest image accepted is 500 bytes"):
        read_image(path, max_bytes=500)

    class Endless(io.RawIOBase):
        asked: list[int] = []

        def read(self, size: int = -1) -> bytes:
            self.asked.append(size)
            return PNG[:8] + b"\0" * (size - 8)

    with pytest.raises(UnsupportedParamsError, match="more than 500"):
        read_image(Endless(), max_bytes=500)
    assert Endless.asked == [501]


def test_read_image_fetches_urls_only_when_allowed() -> None:
    """An http URL is refused by default, fetched (redirects followed) with allow_urls, and bounded."""
    from pixmux._transport import SyncTransport

    served: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        served.append(request.url.path)
        if request.url.path == "/moved.png":
            return httpx.Response(302, headers={"location": "/a.png"})
        if request.url.path == "/big.png":
            return httpx.Response(200, content=PNG + b"\0" * 5000)
        if request.url.path == "/gone.png":
            return httpx.Response(404)
        return httpx.Response(200, content=PNG)

    send = SyncTransport(transport=httpx.MockTransport(handler)).send
    with pytest.raises(UnsupportedParamsError, match="allow_urls"):
        read_image("https://img.test/a.png", send=send)
    assert served == []

    image = read_image("https://img.test/moved.png", allow_urls=True, send=send)
    assert (image.data, image.filename) == (PNG, "a.png")
    assert served == ["/moved.png", "/a.png"]
    with pytest.raises(UnsupportedParamsError, match="more than 1000"):
        read_image("https://img.test/big.png", allow_urls=True, send=send, max_bytes=1000)
    with pytest.raises(BadRequestError, match="HTTP 404"):
        read_image("https://img.test/gone.png", allow_urls=True, send=send)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    refused = SyncTransport(transport=httpx.MockTransport(refuse)).send
    with pytest.raises(APIConnectionError, match="could not fetch"):
        read_image("https://img.test/a.png", allow_urls=True, send=refused)


def test_engine_edit_fetches_urls_through_its_transport() -> None:
    """Engine.image_edit(allow_urls=True) fetches with the engine's own transport (its mock here)."""
    engine, fake = _engine_answering(
        lambda r: httpx.Response(200, content=PNG) if r.method == "GET" else json_response(200, {})
    )

    engine.image_edit("https://img.test/room.png", "x", model="fake/painter", allow_urls=True)

    assert [request.method for request in engine.requests] == ["GET", "POST"]
    assert fake.seen[0].images[0].data == PNG


def test_read_images_names_each_of_a_list() -> None:
    """In a list, the bad one is named by its index."""
    with pytest.raises(UnsupportedParamsError) as caught:
        read_images([PNG, PNG, b"nope"])
    assert caught.value.param == "image[2]"
    with pytest.raises(UnsupportedParamsError, match="empty list"):
        read_images([])


# --------------------------------------------------------------------------- checks before I/O

_LIMITS = InputLimits(
    max_images=2,
    max_bytes=4000,
    media_types=frozenset({"image/png"}),
    mask_same_size=True,
    mask_alpha=True,
)
_CATALOGUE = Catalogue(
    provider="fake",
    models={
        "painter": ModelInfo(name="painter", operations=frozenset({"generate", "edit"}), inputs=_LIMITS),
        "drawer": ModelInfo(name="drawer"),
        "varier": ModelInfo(name="varier", operations=frozenset({"variation"})),
    },
)


def _edit(*images: bytes, mask: bytes | None = None, model: str = "painter", op: Any = "edit") -> None:
    request = ImageRequest(
        prompt="x",
        model=model,
        operation=op,
        images=tuple(read_image(data) for data in images),
        mask=None if mask is None else read_image(mask),
    )
    check_inputs(request, _CATALOGUE.lookup(model), _CATALOGUE, provider="fake")


def test_check_inputs_names_the_models_that_can() -> None:
    """A model that cannot edit is named with the provider's models that can."""
    with pytest.raises(UnsupportedParamsError, match="drawer cannot edit images; fake models that can: painter"):
        _edit(PNG, model="drawer")
    with pytest.raises(UnsupportedParamsError, match="cannot make variations; fake models that can: varier"):
        _edit(PNG, op="variation")


@pytest.mark.parametrize(
    ("images", "mask", "param", "words"),
    [
        ((PNG, PNG, PNG), None, "image", "at most 2"),
        ((encode("RGB", (8, 8), "JPEG"),), None, "image", "accepts image/png"),
        ((PNG, PNG + b"\0" * 5000), None, "image[1]", "at most 4000 bytes"),
        ((PNG,), encode("RGBA", (32, 32), "PNG"), "mask", "mask is 32x32 but the image is 64x48"),
        ((PNG,), encode("RGB", (64, 48), "PNG"), "mask", "no alpha"),
    ],
)
def test_check_inputs_names_the_limit(images: tuple[bytes, ...], mask: bytes | None, param: str, words: str) -> None:
    """Too many images, a format, a size, a mask's size or alpha: each is named with the limit."""
    with pytest.raises(UnsupportedParamsError, match=words) as caught:
        _edit(*images, mask=mask)
    assert param == caught.value.param


def test_check_inputs_passes_a_good_edit_and_refuses_raw_values() -> None:
    """A good edit passes; a raw value where an ImageInput belongs is refused."""
    _edit(PNG, PNG, mask=encode("RGBA", (64, 48), "PNG"))
    request = ImageRequest(prompt="x", model="painter", operation="edit", images=(PNG,))  # type: ignore[arg-type]
    with pytest.raises(UnsupportedParamsError, match="ImageInput"):
        check_inputs(request, _CATALOGUE.lookup("painter"), _CATALOGUE, provider="fake")


def test_check_request_takes_no_prompt_for_a_variation() -> None:
    """A variation without a prompt passes check_request; one with a prompt is refused."""
    info = ModelInfo(name="varier", operations=frozenset({"variation"}))
    image = ImageInput(data=PNG, media_type="image/png")
    check_request(ImageRequest(model="varier", operation="variation", images=(image,)), info, provider="fake")
    with pytest.raises(UnsupportedParamsError, match="takes no prompt"):
        check_request(
            ImageRequest(prompt="x", model="varier", operation="variation", images=(image,)), info, provider="fake"
        )


# --------------------------------------------------------------------------- library and router


class _Fake:
    """A provider that edits: it records what the hooks see."""

    seen: list[ImageRequest]

    def __init__(self) -> None:
        self.seen = []

    @hookimpl
    def model_catalogue(self) -> Catalogue:
        return _CATALOGUE

    @hookimpl
    def validate_params(self, request: ImageRequest, model: ModelInfo) -> None:
        check_request(request, model, provider="fake")

    @hookimpl
    def build_request(self, request: ImageRequest) -> httpx.Request:
        self.seen.append(request)
        return httpx.Request("POST", "https://fake.test/edit", content=request.images[0].data)

    @hookimpl
    def parse_response(self, response: httpx.Response) -> pixmux.ImageResponse:
        return pixmux.ImageResponse(created=1, data=(pixmux.ImageObject(b64_json=TINY_PNG_B64),))


def _engine() -> tuple[Any, _Fake]:
    return _engine_answering(lambda r: json_response(200, {}))


def _engine_answering(handler: Any) -> tuple[Any, _Fake]:
    fake = _Fake()
    engine = make_engine(fake, names=["fake"], handler=handler)
    return engine, fake


def test_engine_edit_carries_operation_images_and_mask(tmp_path: Path) -> None:
    """The plugin sees operation, images (in order) and mask; the bytes reach the wire."""
    engine, fake = _engine()
    other = encode("RGBA", (64, 48), "PNG", compress_level=1)
    path = tmp_path / "a.png"
    path.write_bytes(PNG)

    resp = engine.image_edit([path, other], "make it winter", model="fake/painter", mask=PNG)

    request = fake.seen[0]
    assert ("edit", [PNG, other], PNG) == (request.operation, [i.data for i in request.images], request.mask.data)
    assert request.images[0].filename == "a.png"
    assert engine.requests[0].content == PNG
    assert resp.data


def test_engine_variation_and_async_twins() -> None:
    """image_variation and the async twins carry their operation."""
    engine, fake = _engine()

    engine.image_variation(PNG, model="fake/varier")
    asyncio.run(engine.aimage_edit(PNG, "x", model="fake/painter"))
    asyncio.run(engine.aimage_variation(PNG, model="fake/varier"))

    assert [request.operation for request in fake.seen] == ["variation", "edit", "variation"]


def test_engine_edit_refused_before_any_io() -> None:
    """A model that cannot edit is refused and nothing is sent."""
    engine, _ = _engine()
    with pytest.raises(UnsupportedParamsError, match="fake models that can: painter"):
        engine.image_edit(PNG, "x", model="fake/drawer")
    assert engine.requests == []


def test_library_edit_with_mock_response() -> None:
    """pixmux.image_edit with mock_response validates and answers without network."""
    resp = pixmux.image_edit(image=PNG, prompt="winter", model="gpt-image-1", mock_response=True, api_key="sk-x")
    assert resp.data[0].bytes().startswith(b"\x89PNG")
    with pytest.raises(UnsupportedParamsError, match="cannot make variations"):
        pixmux.image_variation(PNG, model="gpt-image-1", mock_response=True, api_key="sk-x")


def test_router_edit_routes_like_a_generation() -> None:
    """Router.image_edit reads the inputs once and sends them through the group's deployment."""
    engine, fake = _engine()
    router = pixmux.Router(
        [{"model_name": "paint", "litellm_params": {"model": "fake/painter"}}], engine=engine, num_retries=0
    )

    resp = router.image_edit(PNG, "x", "paint")
    asyncio.run(router.aimage_edit([PNG, PNG], "x", "paint"))

    assert resp.metadata["model_group"] == "paint"
    assert [len(request.images) for request in fake.seen] == [1, 2]


def test_async_edits_with_a_mask_build_their_request_off_the_event_loop() -> None:
    """
    A provider may redraw the mask in build_request (pixmux.masks, up to a second for a big
    one): with a mask, the async call builds its request in a thread, so the event loop (a
    gateway's other requests) goes on; without one, on the loop as before.
    """
    on_loop: list[bool] = []

    class _Recording(_Fake):
        @hookimpl
        def build_request(self, request: ImageRequest) -> httpx.Request:
            try:
                asyncio.get_running_loop()
                on_loop.append(True)
            except RuntimeError:
                on_loop.append(False)
            return super().build_request(request)

    engine = make_engine(_Recording(), names=["fake"], handler=lambda r: json_response(200, {}))

    masked = asyncio.run(engine.aimage_edit(PNG, "x", model="fake/painter", mask=PNG))
    plain = asyncio.run(engine.aimage_edit(PNG, "x", model="fake/painter"))

    assert on_loop == [False, True]
    assert masked.data
    assert plain.data
