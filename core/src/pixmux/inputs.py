"""
Input images for edits and variations: reading them, what their headers say, and the checks.

The core reads every input image (a path, bytes, a file object, a ``data:`` URL or, when
allowed, an ``http(s)`` URL) into a :class:`pixmux.types.ImageInput` before any plugin sees
the request, bounded in size (and, for URLs, in time). :func:`image_facts` reads a PNG, JPEG,
WebP or GIF header for the format, the pixel size and whether the image has an alpha channel;
nothing here decodes pixels. :func:`check_inputs` holds a request's images and mask against
what the model's catalogue entry says (``ModelInfo.operations`` and ``ModelInfo.inputs``).
"""

from __future__ import annotations

import base64
import binascii
import os
import struct
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Union

import attrs

from pixmux._pieces import file_content
from pixmux.exceptions import APIConnectionError, BadRequestError, PixmuxError, Timeout, UnsupportedParamsError
from pixmux.types import ImageInput

if TYPE_CHECKING:
    import httpx

    from pixmux.catalogue import Catalogue, ModelInfo
    from pixmux.types import ImageRequest

__all__ = [
    "ImageSource",
    "Send",
    "ImageFacts",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_URL_TIMEOUT",
    "read_image",
    "aread_image",
    "image_from_pieces",
    "facts_of",
    "file_content",
    "read_images",
    "aread_images",
    "image_facts",
    "media_type_of",
    "check_inputs",
]

#: What a caller may give as an input image.
ImageSource = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes], ImageInput]
#: The largest input image read when neither the caller nor the model says otherwise (OpenAI's limit).
DEFAULT_MAX_BYTES = 50 * 1024 * 1024
#: Seconds for fetching one image URL, connection to last byte.
DEFAULT_URL_TIMEOUT = 30.0
#: Most redirects followed when fetching an image URL.
_MAX_REDIRECTS = 5

_MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "gif": "image/gif"}


@attrs.frozen(kw_only=True)
class ImageFacts:
    """
    What an image's header says.

    Attributes:
        format: ``"png"``, ``"jpeg"``, ``"webp"`` or ``"gif"``.
        width, height: pixels; ``None`` when the header is cut short.
        alpha: whether the image carries an alpha channel (or, for PNG, a transparency chunk).
    """

    format: str
    width: int | None
    height: int | None
    alpha: bool

    @property
    def media_type(self) -> str:
        """``"image/png"`` and so on."""
        return _MEDIA_TYPES[self.format]


def media_type_of(data: bytes) -> str | None:
    """The media type of image bytes judged by their signature (PNG, JPEG, WebP, GIF), or ``None``."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return None


def image_facts(data: bytes) -> ImageFacts | None:
    """
    Format, pixel size and alpha of a PNG, JPEG, WebP or GIF from its header; ``None`` for anything else.

    Only headers are read (IHDR and the chunks before IDAT for PNG, the frame header for JPEG,
    the first chunk for WebP), so a large image costs no more than a small one.
    """
    return _facts(data)[0]


def facts_of(image: ImageInput) -> ImageFacts | None:
    """
    :func:`image_facts` of an image, from its first bytes only when it is held in pieces.

    The head read grows (64 kB, then four times more each time) only while the headers run
    past it, so an upload's pieces are joined only for an image whose headers are that long.
    """
    size = image.size
    want = _HEAD_BYTES
    while True:
        head = image.head(want)
        if len(head) >= size:
            return image_facts(head)
        facts, short = _facts(head)
        if not short:
            return facts
        want *= 4


#: The first read of an image held in pieces, for its headers (:func:`facts_of`).
_HEAD_BYTES = 64 * 1024


def _facts(data: bytes) -> tuple[ImageFacts | None, bool]:
    """The facts, and whether the headers ran past the end of ``data`` (so that more bytes could change them)."""
    kind = media_type_of(data)
    if kind == "image/png":
        return _png(data)
    if kind == "image/jpeg":
        return _jpeg(data)
    if kind == "image/webp":
        return _webp(data), len(data) < 30
    if kind == "image/gif":
        if len(data) < 10:
            return ImageFacts(format="gif", width=None, height=None, alpha=False), True
        width, height = struct.unpack_from("<HH", data, 6)
        return ImageFacts(format="gif", width=width, height=height, alpha=False), False
    return None, len(data) < 12


def _png(data: bytes) -> tuple[ImageFacts, bool]:
    if len(data) < 26 or data[12:16] != b"IHDR":
        return ImageFacts(format="png", width=None, height=None, alpha=False), len(data) < 26
    width, height = struct.unpack_from(">II", data, 16)
    color_type = data[25]
    alpha = color_type in (4, 6)
    offset = 8
    short = not alpha
    while not alpha and offset + 8 <= len(data):  # a tRNS chunk before IDAT also makes pixels transparent
        (length,) = struct.unpack_from(">I", data, offset)
        kind = data[offset + 4 : offset + 8]
        if kind in (b"IDAT", b"IEND"):
            short = False
            break
        alpha = kind == b"tRNS"
        offset += 12 + length
    return ImageFacts(format="png", width=width, height=height, alpha=alpha), short and not alpha


#: JPEG start-of-frame markers (every SOFn but DHT C4, JPG C8 and DAC CC).
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg(data: bytes) -> tuple[ImageFacts, bool]:
    offset = 2
    unknown = ImageFacts(format="jpeg", width=None, height=None, alpha=False)
    while offset + 4 <= len(data):
        if data[offset] != 0xFF:
            return unknown, False
        marker = data[offset + 1]
        if marker == 0xFF:  # fill byte
            offset += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            offset += 2
            continue
        (length,) = struct.unpack_from(">H", data, offset + 2)
        if marker in _SOF:
            if offset + 9 > len(data):
                return unknown, True
            height, width = struct.unpack_from(">HH", data, offset + 5)
            return ImageFacts(format="jpeg", width=width, height=height, alpha=False), False
        if marker == 0xDA:  # start of scan: no frame header came first
            return unknown, False
        offset += 2 + length
    return unknown, True


def _webp(data: bytes) -> ImageFacts:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        flags = data[20]
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return ImageFacts(format="webp", width=width, height=height, alpha=bool(flags & 0x10))
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        width = (bits & 0x3FFF) + 1
        height = ((bits >> 14) & 0x3FFF) + 1
        return ImageFacts(format="webp", width=width, height=height, alpha=bool((bits >> 28) & 1))
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack_from("<HH", data, 26)
        return ImageFacts(format="webp", width=width & 0x3FFF, height=height & 0x3FFF, alpha=False)
    return ImageFacts(format="webp", width=None, height=None, alpha=False)


# ---------------------------------------------------------------------- reading


def _too_large(param: str, size: int | str, limit: int) -> UnsupportedParamsError:
    return UnsupportedParamsError(
        f"{param} is {size} bytes; the largest image accepted is {limit} bytes ({limit / 2**20:.4g} MB)",
        param=param,
    )


def _kind(head: bytes, *, param: str, filename: str | None) -> str:
    kind = media_type_of(head)
    if kind is None:
        shown = f" ({filename})" if filename else ""
        raise UnsupportedParamsError(
            f"{param}{shown} is not an image pixmux can read: expected PNG, JPEG, WebP or GIF bytes",
            param=param,
        )
    return kind


def _typed(data: bytes, *, param: str, filename: str | None) -> ImageInput:
    return ImageInput(data=data, media_type=_kind(data, param=param, filename=filename), filename=filename)


def image_from_pieces(
    pieces: Sequence[bytes | memoryview], *, param: str = "image", filename: str | None = None, max_bytes: int
) -> ImageInput:
    """
    An image received in pieces (an upload as it arrived), checked as :func:`read_image` checks bytes, not joined.

    Raises:
        UnsupportedParamsError: not an image, or larger than ``max_bytes``.
    """
    size = sum(len(piece) for piece in pieces)
    if size > max_bytes:
        raise _too_large(param, size, max_bytes)
    if not pieces:
        return _typed(b"", param=param, filename=filename)
    head = pieces[0] if len(pieces[0]) >= 16 else b"".join(pieces)
    kind = _kind(bytes(head[:16]), param=param, filename=filename)
    return ImageInput(pieces=tuple(pieces), media_type=kind, filename=filename)


def _local(source: Any, *, param: str, max_bytes: int) -> ImageInput | str:
    """The image for every source but an http(s) URL, which comes back as the URL text to fetch."""
    if isinstance(source, ImageInput):
        if source.size > max_bytes:
            raise _too_large(param, source.size, max_bytes)
        return source
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        if len(data) > max_bytes:
            raise _too_large(param, len(data), max_bytes)
        return _typed(data, param=param, filename=None)
    if isinstance(source, str) and source.startswith("data:"):
        return _data_url(source, param=param, max_bytes=max_bytes)
    if isinstance(source, str) and source.startswith(("http://", "https://")):
        return source
    if isinstance(source, str | os.PathLike):
        return _path(Path(source), param=param, max_bytes=max_bytes)
    read = getattr(source, "read", None)
    if callable(read):
        try:
            data = read(max_bytes + 1)
        except (OSError, ValueError) as exc:
            raise BadRequestError(f"{param}: the file could not be read: {exc}", param=param) from exc
        if isinstance(data, str):
            raise UnsupportedParamsError(f"{param} is a text file object; open the image with 'rb'", param=param)
        if not isinstance(data, bytes | bytearray):
            raise UnsupportedParamsError(f"{param}: read() returned {type(data).__name__}, not bytes", param=param)
        if len(data) > max_bytes:
            raise _too_large(param, f"more than {max_bytes}", max_bytes)
        name = getattr(source, "name", None)
        filename = os.path.basename(name) if isinstance(name, str) else None
        return _typed(bytes(data), param=param, filename=filename)
    raise UnsupportedParamsError(
        f"{param} is {type(source).__name__}; give a path, bytes, a binary file object, a data: URL or an http(s) URL",
        param=param,
    )


def _path(path: Path, *, param: str, max_bytes: int) -> ImageInput:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise _too_large(param, size, max_bytes)
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise BadRequestError(f"{param}: no such file: {str(path)!r}", param=param) from None
    except (IsADirectoryError, PermissionError, OSError) as exc:
        raise BadRequestError(f"{param}: cannot read {str(path)!r}: {exc.strerror or exc}", param=param) from None
    if len(data) > max_bytes:
        raise _too_large(param, f"more than {max_bytes}", max_bytes)
    return _typed(data, param=param, filename=path.name)


def _data_url(text: str, *, param: str, max_bytes: int) -> ImageInput:
    header, comma, payload = text.partition(",")
    if not comma or not header.endswith(";base64"):
        raise UnsupportedParamsError(f"{param}: a data URL must be data:image/...;base64,<data>", param=param)
    if len(payload) > (max_bytes + 2) // 3 * 4 + 4:
        raise _too_large(param, f"about {len(payload) * 3 // 4}", max_bytes)
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise UnsupportedParamsError(f"{param}: the data URL is not valid base64 ({exc})", param=param) from None
    if len(data) > max_bytes:
        raise _too_large(param, len(data), max_bytes)
    return _typed(data, param=param, filename=None)


def _url_refused(param: str) -> UnsupportedParamsError:
    return UnsupportedParamsError(
        f"{param} is an http(s) URL, and fetching image URLs is off; pass allow_urls=True "
        "(or give the image's bytes, a path or a data: URL)",
        param=param,
    )


def _url_error(param: str, url: str, exc: Exception, max_bytes: int) -> PixmuxError:
    if type(exc).__name__ == "BodyTooLarge":  # the transport's own bound (pixmux._transport)
        return _too_large(param, f"more than {max_bytes}", max_bytes)
    if isinstance(exc, TimeoutError) or type(exc).__name__.endswith("Timeout"):
        return Timeout(f"{param}: fetching the image URL timed out", param=param)
    return APIConnectionError(f"{param}: could not fetch the image URL: {type(exc).__name__}", param=param)


def _url_status(param: str, status: int) -> BadRequestError:
    return BadRequestError(f"{param}: the image URL answered HTTP {status}", param=param)


#: ``send(request, deadline, *, max_bytes=...)``: how the engine's transport sends a request (sync or async).
Send = Callable[..., Any]


def _next(response: httpx.Response, url: str, *, param: str, max_bytes: int) -> str | ImageInput:
    """The image a response holds, or the URL it redirects to."""
    if response.status_code in (301, 302, 303, 307, 308) and response.headers.get("location"):
        return str(response.request.url.join(response.headers["location"]))
    if response.status_code >= 400:
        raise _url_status(param, response.status_code)
    data = response.content
    if len(data) > max_bytes:
        raise _too_large(param, f"more than {max_bytes}", max_bytes)
    return _typed(data, param=param, filename=_url_name(url))


def _fetch(url: str, *, param: str, max_bytes: int, timeout: float, send: Send | None) -> ImageInput:
    import httpx

    from pixmux._transport import SyncTransport

    deadline = time.monotonic() + timeout
    own = SyncTransport(max_connections=1) if send is None else None
    sender = own.send if own is not None else send
    assert sender is not None
    try:
        for _ in range(_MAX_REDIRECTS + 1):
            response = sender(httpx.Request("GET", url), deadline, max_bytes=max_bytes)
            found = _next(response, url, param=param, max_bytes=max_bytes)
            if isinstance(found, ImageInput):
                return found
            url = found
    except httpx.HTTPError as exc:
        raise _url_error(param, url, exc, max_bytes) from None
    finally:
        if own is not None:
            own.close()
    raise BadRequestError(f"{param}: the image URL redirected more than {_MAX_REDIRECTS} times", param=param)


async def _afetch(url: str, *, param: str, max_bytes: int, timeout: float, send: Send | None) -> ImageInput:
    import httpx

    from pixmux._transport import AsyncTransport

    deadline = time.monotonic() + timeout
    own = AsyncTransport(max_connections=1) if send is None else None
    sender = own.send if own is not None else send
    assert sender is not None
    try:
        for _ in range(_MAX_REDIRECTS + 1):
            response = await sender(httpx.Request("GET", url), deadline, max_bytes=max_bytes)
            found = _next(response, url, param=param, max_bytes=max_bytes)
            if isinstance(found, ImageInput):
                return found
            url = found
    except httpx.HTTPError as exc:
        raise _url_error(param, url, exc, max_bytes) from None
    finally:
        if own is not None:
            await own.aclose()
    raise BadRequestError(f"{param}: the image URL redirected more than {_MAX_REDIRECTS} times", param=param)


def _url_name(url: str) -> str | None:
    tail = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return tail or None


def read_image(
    source: ImageSource,
    *,
    param: str = "image",
    allow_urls: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float = DEFAULT_URL_TIMEOUT,
    send: Send | None = None,
) -> ImageInput:
    """
    Read one input image into an :class:`~pixmux.types.ImageInput`.

    Args:
        source: a path, bytes, a binary file object (read from its current position), a
            ``data:image/...;base64,`` URL, an ``http(s)`` URL, or an ``ImageInput``.
        param: the name errors give (``"image[1]"``, ``"mask"``).
        allow_urls: fetch ``http(s)`` URLs; off by default, so a caller's text never makes
            pixmux open a connection it was not told it may.
        max_bytes: the largest image accepted; a larger one is refused without reading it all.
        timeout: seconds for fetching a URL, first byte to last.
        send: how to send the GET: the engine's transport (``Engine.transport.send``, the one
            module that touches the network, or any ``SyncTransport``'s); a one-connection
            transport of its own by default. Redirects are followed (up to 5).

    Raises:
        UnsupportedParamsError: not an image, too large, a URL when URLs are off.
        BadRequestError: a path that does not exist or cannot be read; a URL answering an error.
        APIConnectionError: a URL that cannot be fetched (``Timeout`` when it is too slow).
    """
    found = _local(source, param=param, max_bytes=max_bytes)
    if isinstance(found, ImageInput):
        return found
    if not allow_urls:
        raise _url_refused(param)
    return _fetch(found, param=param, max_bytes=max_bytes, timeout=timeout, send=send)


async def aread_image(
    source: ImageSource,
    *,
    param: str = "image",
    allow_urls: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float = DEFAULT_URL_TIMEOUT,
    send: Send | None = None,
) -> ImageInput:
    """The async twin of :func:`read_image` (a URL is fetched without blocking the event loop)."""
    found = _local(source, param=param, max_bytes=max_bytes)
    if isinstance(found, ImageInput):
        return found
    if not allow_urls:
        raise _url_refused(param)
    return await _afetch(found, param=param, max_bytes=max_bytes, timeout=timeout, send=send)


def _as_list(image: ImageSource | Sequence[ImageSource]) -> list[ImageSource]:
    if isinstance(image, list | tuple):
        if not image:
            raise UnsupportedParamsError("image is an empty list; give at least one image", param="image")
        return list(image)
    single: ImageSource = image  # type: ignore[assignment]  # a str is a Sequence too: it is one source
    return [single]


def _names(sources: list[ImageSource]) -> list[str]:
    return ["image"] if len(sources) == 1 else [f"image[{index}]" for index in range(len(sources))]


def read_images(
    image: ImageSource | Sequence[ImageSource],
    mask: ImageSource | None = None,
    **options: Any,
) -> tuple[tuple[ImageInput, ...], ImageInput | None]:
    """``image`` (one source or a list) and ``mask`` read with :func:`read_image` and the same options."""
    sources = _as_list(image)
    images = tuple(read_image(src, param=name, **options) for src, name in zip(sources, _names(sources), strict=True))
    return images, None if mask is None else read_image(mask, param="mask", **options)


async def aread_images(
    image: ImageSource | Sequence[ImageSource],
    mask: ImageSource | None = None,
    **options: Any,
) -> tuple[tuple[ImageInput, ...], ImageInput | None]:
    """The async twin of :func:`read_images`."""
    sources = _as_list(image)
    images = tuple(
        [await aread_image(src, param=name, **options) for src, name in zip(sources, _names(sources), strict=True)]
    )
    return images, None if mask is None else await aread_image(mask, param="mask", **options)


# ---------------------------------------------------------------------- checks

_VERBS = {"generate": "generate images", "edit": "edit images", "variation": "make variations"}


def _able(catalogue: Catalogue, operation: str) -> list[str]:
    return sorted(name for name, info in catalogue.models.items() if operation in info.operations and not info.retired)


def check_inputs(request: ImageRequest, info: ModelInfo, catalogue: Catalogue, *, provider: str) -> None:
    """
    Check a request's operation, images and mask against the model's catalogue entry; no I/O.

    The core calls it for every request before ``validate_params``: a model that cannot do the
    operation is named with the models of the same provider that can; too many images, a
    media type or a file size outside the model's limits, a missing or unwanted mask, and a
    mask of another pixel size or without alpha (where the model needs one) each name the limit.

    Raises:
        UnsupportedParamsError: naming the parameter (``model``, ``image``, ``image[2]``, ``mask``).
    """
    model = info.name
    operation = request.operation
    for index, given in enumerate((*request.images, request.mask)):
        if given is not None and not isinstance(given, ImageInput):
            raise UnsupportedParamsError(
                f"input images reach the core as ImageInput (read them with pixmux.inputs.read_image), "
                f"not {type(given).__name__}",
                provider=provider,
                model=model,
                param="mask" if index == len(request.images) else "image",
            )
    if operation not in _VERBS:
        raise UnsupportedParamsError(
            f"operation={operation!r} is not one of generate, edit, variation", provider=provider, model=model
        )
    if operation not in info.operations:
        able = _able(catalogue, operation)
        others = f"; {provider} models that can: {', '.join(able)}" if able else f"; no {provider} model can"
        raise UnsupportedParamsError(
            f"{model} cannot {_VERBS[operation]}{others}", provider=provider, model=model, param="model"
        )
    if operation == "generate":
        if request.images or request.mask is not None:
            raise UnsupportedParamsError(
                "a generation takes no input image; use image_edit or image_variation",
                provider=provider,
                model=model,
                param="image",
            )
        return
    if not request.images:
        raise UnsupportedParamsError(
            f"an {operation} needs at least one input image", provider=provider, model=model, param="image"
        )
    if operation == "variation" and request.mask is not None:
        raise UnsupportedParamsError("a variation takes no mask", provider=provider, model=model, param="mask")
    limits = info.inputs
    if limits is None:
        return
    count = len(request.images)
    if limits.max_images is not None and count > limits.max_images:
        raise UnsupportedParamsError(
            f"{count} images given; {model} takes at most {limits.max_images} per {operation}",
            provider=provider,
            model=model,
            param="image",
        )
    names = ["image"] if count == 1 else [f"image[{index}]" for index in range(count)]
    for name, image in zip(names, request.images, strict=True):
        _check_one(image, name, limits.media_types, limits.max_bytes, provider=provider, model=model)
    if request.mask is None:
        if limits.mask == "required" and operation == "edit":
            raise UnsupportedParamsError(
                f"{model} needs a mask for an edit", provider=provider, model=model, param="mask"
            )
        return
    if limits.mask == "none":
        raise UnsupportedParamsError(f"{model} takes no mask", provider=provider, model=model, param="mask")
    mask_types = frozenset({"image/png"}) if limits.mask_alpha else limits.media_types
    _check_one(request.mask, "mask", mask_types, limits.max_bytes, provider=provider, model=model)
    _check_mask(
        request.images[0],
        request.mask,
        same_size=limits.mask_same_size,
        alpha=limits.mask_alpha,
        provider=provider,
        model=model,
    )


def _check_one(
    image: ImageInput,
    name: str,
    media_types: Iterable[str] | None,
    max_bytes: int | None,
    *,
    provider: str,
    model: str,
) -> None:
    if media_types is not None and image.media_type not in media_types:
        accepted = ", ".join(sorted(media_types))
        raise UnsupportedParamsError(
            f"{name} is {image.media_type}; {model} accepts {accepted}", provider=provider, model=model, param=name
        )
    if max_bytes is not None and image.size > max_bytes:
        raise UnsupportedParamsError(
            f"{name} is {image.size} bytes; {model} accepts at most {max_bytes} bytes ({max_bytes / 2**20:.4g} MB)",
            provider=provider,
            model=model,
            param=name,
        )


def _check_mask(
    first: ImageInput, mask: ImageInput, *, same_size: bool, alpha: bool, provider: str, model: str
) -> None:
    facts = facts_of(mask)
    if facts is None:  # pragma: no cover - every ImageInput the core reads has a known signature
        return
    if alpha and not facts.alpha:
        raise UnsupportedParamsError(
            f"mask has no alpha channel; {model} edits where the mask is transparent, so the mask must be "
            "a PNG with alpha (RGBA)",
            provider=provider,
            model=model,
            param="mask",
        )
    if same_size:
        image = facts_of(first)
        if image is None or None in (image.width, facts.width):
            return
        if (image.width, image.height) != (facts.width, facts.height):
            raise UnsupportedParamsError(
                f"mask is {facts.width}x{facts.height} but the image is {image.width}x{image.height}; "
                f"{model} needs the mask the same size as the (first) image",
                provider=provider,
                model=model,
                param="mask",
            )
