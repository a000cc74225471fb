"""
Request bodies kept in pieces (``pixmux._pieces``): the same bytes as httpx renders, without copying the images.
"""

from __future__ import annotations

import asyncio

import httpx
from pixmux._pieces import SMALL_PIECE, Pieces, PiecesRequest, pieces_of, pieces_request
from pixmux.dialects.openai_edits import file_parts, multipart_request
from pixmux.types import ImageInput, ImageRequest

IMAGE = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 1024  # 256 kB: big enough to be a piece of its own
MASK = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100  # small: joined with its neighbours
URL = "https://api.images.example/v1/images/edits"
HEADERS = {"Authorization": "Bearer sk-x", "Content-Type": "multipart/form-data; boundary=pixmux-test"}
FIELDS = {"model": "gpt-image-1", "prompt": "add a hat", "n": "2"}
FILES = [("image", ("otter.png", IMAGE, "image/png")), ("mask", ("mask.png", MASK, "image/png"))]


def _httpx_rendering() -> httpx.Request:
    request = httpx.Request("POST", URL, headers=HEADERS, data=FIELDS, files=FILES)
    request.read()
    return request


def test_pieces_request_is_what_httpx_renders() -> None:
    """Method, URL, headers (with Content-Length) and body equal httpx's own multipart request."""
    expected = _httpx_rendering()

    request = pieces_request("POST", URL, headers=HEADERS, data=FIELDS, files=FILES)

    assert (request.method, request.url) == (expected.method, expected.url)
    assert request.headers.raw == expected.headers.raw
    assert request.content == expected.content
    assert int(request.headers["content-length"]) == len(expected.content)


def test_the_image_is_kept_uncopied_and_small_parts_are_joined() -> None:
    """The image stays the caller's bytes object; boundaries, headers, fields and the small mask make two pieces."""
    request = pieces_request("POST", URL, headers=HEADERS, data=FIELDS, files=FILES)

    pieces = pieces_of(request)

    assert pieces is not None
    assert len(pieces) == 3
    assert pieces[1] is IMAGE
    assert all(len(piece) < SMALL_PIECE for piece in (pieces[0], pieces[2]))
    assert pieces[2].endswith(MASK + b"\r\n--pixmux-test--\r\n")


def test_a_request_in_pieces_can_be_sent_again() -> None:
    """Reading the content (as a test or an error report does) leaves the pieces in place, for a retry."""
    request = pieces_request("POST", URL, headers=HEADERS, data=FIELDS, files=FILES)
    first = request.read()

    again = b"".join(request.stream)  # type: ignore[arg-type]  # Pieces is iterable
    async_again = asyncio.run(_aread_stream(request))

    assert first == again == async_again == _httpx_rendering().content
    assert pieces_of(request) is not None


async def _aread_stream(request: httpx.Request) -> bytes:
    return b"".join([piece async for piece in request.stream])  # type: ignore[union-attr]


def test_a_file_object_without_a_length_is_read_whole() -> None:
    """A body httpx cannot size up front is read into one bytes object, as before (no pieces)."""

    class Unsized:
        def __init__(self) -> None:
            self.data = [IMAGE, b""]

        def read(self, size: int = -1) -> bytes:
            return self.data.pop(0)

    request = pieces_request("POST", URL, headers=HEADERS, data=FIELDS, files={"image": ("a.png", Unsized())})

    assert not isinstance(request, PiecesRequest)
    assert pieces_of(request) is None
    assert IMAGE in request.content


def test_multipart_request_keeps_the_images_in_pieces() -> None:
    """The OpenAI edit dialect builds its multipart in pieces: the request is ready to send and reads whole."""
    request = multipart_request(URL, {"Authorization": "Bearer sk-x"}, FIELDS, FILES)

    assert isinstance(request.stream, Pieces)
    assert IMAGE in request.stream.pieces
    assert b'name="image"; filename="otter.png"' in request.content


def test_an_image_held_in_pieces_goes_into_the_multipart_uncopied() -> None:
    """An upload's views are the body's own pieces, and the body is byte for byte httpx's for the joined image."""
    chunk = bytes(IMAGE)  # as the gateway receives it: views of the chunks that arrived
    views = tuple(memoryview(chunk)[at : at + 90_000] for at in range(0, len(chunk), 90_000))
    image = ImageInput(pieces=views, media_type="image/png", filename="otter.png")
    request = ImageRequest(model="gpt-image-1", prompt="add a hat", operation="edit", images=(image,))

    sent = multipart_request(URL, HEADERS, FIELDS, file_parts(request))

    pieces = pieces_of(sent)
    assert pieces is not None
    assert [piece for piece in pieces if isinstance(piece, memoryview)] == list(views)
    assert all(any(piece is view for view in views) for piece in pieces if isinstance(piece, memoryview))
    joined = [("image", ("otter.png", IMAGE, "image/png"))]
    assert sent.content == httpx.Request("POST", URL, headers=HEADERS, data=FIELDS, files=joined).read()
    assert all(held is view for held, view in zip(image.chunks(), views, strict=True))  # never joined on the way
    assert b"".join(sent.stream) == sent.content  # type: ignore[arg-type]  # sent again (a retry): the same body
