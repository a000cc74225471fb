"""
Request bodies kept as the pieces they are made of: a multipart upload without copying its images.

``httpx.Request(data=..., files=...)`` renders a multipart body as a stream of pieces: small
ones (boundaries, part headers, text fields) and each file's own ``bytes`` object. Reading
the request (``request.read()``) joins them, a copy of every image; a transport writing the
joined body may copy it again. :func:`pieces_request` keeps the pieces instead: runs of small
ones are joined (so that a body is a few writes, not dozens), a big one stays the object the
caller gave. The body on the wire is byte for byte the one httpx renders.

The request works wherever an ``httpx.Request`` does: its stream can be sent again (a
retry) by any transport, sync or async, and ``request.content`` joins the pieces on first
use (tests and error reports read it). ``pixmux._transport``'s aiohttp path writes the
pieces one by one (:func:`pieces_of`).
"""

from __future__ import annotations

import functools
import io
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from typing import Any

import httpx

from pixmux.types import ImageInput

__all__ = ["Pieces", "PiecesRequest", "pieces_request", "pieces_of", "file_content", "SMALL_PIECE"]

#: Pieces shorter than this are joined with their neighbours; longer ones are sent as they are.
SMALL_PIECE = 64 * 1024


def file_content(image: ImageInput) -> bytes | io.RawIOBase:
    """
    What ``httpx``'s ``files=`` takes for ``image``: its ``bytes``, or, for an image held in
    pieces (a gateway upload), a file over those pieces, so that the image is never joined.
    """
    chunks = image.chunks()
    if len(chunks) == 1 and isinstance(chunks[0], bytes):
        return chunks[0]
    return _PiecesFile(chunks, image.size)


class _PiecesFile(io.RawIOBase):
    """
    A read-only binary file over pieces, for httpx's multipart writer.

    ``read(size)`` gives the next piece whole, never a copy (a ``memoryview`` piece as it is):
    httpx's multipart writer reads 64 kB at a time and sends each read as one piece of the
    body, and an upload's pieces are about 256 kB, so splitting them would quadruple the writes
    to the socket. The bytes, in order, are the image's; the multipart body is byte for byte
    the one httpx writes for the joined image (``tests`` compare the two).
    """

    def __init__(self, pieces: tuple[bytes | memoryview, ...], size: int) -> None:
        super().__init__()
        self._pieces = pieces
        self._size = size
        self._at = 0  # the next piece to read
        self._offset = 0  # bytes before it

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._offset

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        # Only the two moves httpx makes: to the start (before writing) and to the end (to size the file).
        if whence == io.SEEK_SET and offset == 0:
            self._at = self._offset = 0
        elif whence == io.SEEK_END and offset == 0:
            self._at, self._offset = len(self._pieces), self._size
        elif not (whence == io.SEEK_SET and offset == self._offset):
            raise io.UnsupportedOperation("only seek(0), seek(0, SEEK_END) and back to tell()")
        return self._offset

    def read(self, size: int = -1) -> Any:
        if size is None or size < 0:
            rest = b"".join(self._pieces[self._at :])
            self._at, self._offset = len(self._pieces), self._size
            return rest
        if size == 0 or self._at >= len(self._pieces):
            return b""
        piece = self._pieces[self._at]
        self._at += 1
        self._offset += len(piece)
        return piece


class Pieces(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A body as a tuple of ``bytes`` pieces, iterated as many times as it is sent."""

    def __init__(self, pieces: Iterable[bytes]) -> None:
        self.pieces = tuple(_coalesce(pieces))

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.pieces)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            yield piece


def _coalesce(pieces: Iterable[bytes]) -> Iterator[bytes]:
    """The pieces with each run of small ones joined into one."""
    small: list[bytes] = []
    for piece in pieces:
        if len(piece) < SMALL_PIECE:
            small.append(piece)
            continue
        if small:
            yield b"".join(small)
            small = []
        yield piece
    if small:
        yield b"".join(small)


class PiecesRequest(httpx.Request):
    """
    An ``httpx.Request`` whose body is :class:`Pieces`.

    ``content`` (and ``read()``, ``aread()``) join the pieces when first asked, once, and keep
    the stream as it is: it can be sent again as it stands.
    """

    stream: Pieces

    @property
    def content(self) -> bytes:
        if not hasattr(self, "_content"):
            self._content = b"".join(self.stream.pieces)
        return self._content

    def read(self) -> bytes:
        return self.content

    async def aread(self) -> bytes:
        return self.content


def pieces_request(
    method: str,
    url: httpx.URL | str,
    *,
    headers: Mapping[str, str],
    data: Mapping[str, Any] | None = None,
    files: Any = None,
) -> httpx.Request:
    """
    ``httpx.Request(method, url, headers=headers, data=data, files=files)``, its body kept in pieces.

    The headers (``Content-Type`` with httpx's boundary, ``Content-Length``) are httpx's own;
    a body httpx cannot size up front (a file object without a length) is read whole instead.
    A URL given as text is parsed once and kept (``httpx.URL`` is immutable): a deployment's
    endpoint is the same text on every call.
    """
    built = httpx.Request(
        method, _parsed(url) if isinstance(url, str) else url, headers=headers, data=data, files=files
    )
    stream = built.stream
    if "content-length" not in built.headers or not isinstance(stream, Iterable):
        built.read()
        return built
    # The request httpx built, as a PiecesRequest: its URL, headers and extensions as they are
    # (a second Request would copy them all), its body the pieces of httpx's multipart stream.
    built.__class__ = PiecesRequest
    built.stream = Pieces(stream)
    return built


@functools.lru_cache(maxsize=256)
def _parsed(url: str) -> httpx.URL:
    return httpx.URL(url)


def pieces_of(request: httpx.Request) -> tuple[bytes, ...] | None:
    """The body's pieces when ``request`` holds its body as :class:`Pieces`; else ``None`` (read ``content``)."""
    stream = request.stream
    return stream.pieces if isinstance(stream, Pieces) else None
