"""
Edit and variation requests at the gateway: multipart uploads and OpenAI's JSON form.

Multipart bodies are parsed as they arrive by ``python-multipart`` into memory, never to
disk, bounded by ``general_settings.max_upload_size_mb`` for the whole body (413 beyond it).
Parts are read as the official ``openai`` client sends them: ``image`` (one file) or
``image[]`` (several), ``mask``, and text fields whose types come from the parameter table
(``pixmux._params``). A bad part gets a 400 that names it: not an image, a content type that
is not an image, too many files, a field sent twice, a body that ends early.

The JSON form (``application/json``) is OpenAI's ``EditImageBodyJsonParam``: ``images`` (and
``mask``) as ``{"image_url": ...}`` references; data URLs are always read, ``http(s)`` URLs
only when the model name allows it (:func:`image_urls_allowed`: every deployment's
``model_info.allow_image_urls``, by default ``general_settings.allow_image_urls``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

import attrs

from pixmux._params import client_fields, convert_text, field_types
from pixmux.inputs import DEFAULT_URL_TIMEOUT, Send, aread_image, image_from_pieces
from pixmux.types import ImageInput

__all__ = ["Upload", "read_upload", "image_urls_allowed", "MAX_IMAGE_PARTS", "MAX_TEXT_BYTES"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
#: Whether ``http(s)`` image URLs may be fetched: one answer, or one per model name (``None``: none named).
AllowUrls = bool | Callable[[str | None], bool]

#: Most image parts one request may carry (OpenAI's limit for GPT image models).
MAX_IMAGE_PARTS = 16
#: Largest text field (a 32,000-character prompt is at most 128 kB of UTF-8).
MAX_TEXT_BYTES = 256 * 1024
#: Most parts of any kind.
MAX_PARTS = 64
#: Names the core uses for the inputs themselves: never a client's field.
_RESERVED = frozenset({"operation", "images", "allow_urls"})
#: Content types a file part may declare (clients without a guess send octet-stream).
_FILE_TYPES = frozenset({"application/octet-stream", ""})


class UploadError(Exception):
    """A bad upload: the gateway answers ``status`` in OpenAI's error shape, naming ``param``."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code


class ClientGone(Exception):
    """The client disconnected while sending its upload."""


@attrs.frozen(kw_only=True)
class Upload:
    """An edit or variation request as the gateway read it."""

    prompt: str
    model: str | None
    params: dict[str, Any]
    images: tuple[ImageInput, ...]
    mask: ImageInput | None


@attrs.define
class _Part:
    name: str = ""
    filename: str | None = None
    content_type: str = ""
    #: The part's bytes as views into the received chunks (a file part's are never joined here).
    pieces: list[memoryview | bytes] = attrs.field(factory=list)
    size: int = 0

    @property
    def data(self) -> bytes:
        return b"".join(self.pieces)


def _a(operation: str) -> str:
    return f"an {operation}" if operation[0] in "aeiou" else f"a {operation}"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _too_large(size: int | str, limit: int) -> UploadError:
    return UploadError(
        413,
        f"the upload is {size} bytes or more; this gateway accepts at most {limit} "
        "(general_settings.max_upload_size_mb)",
        code="request_too_large",
    )


def image_urls_allowed(deployments: Iterable[Any], default: bool) -> bool:
    """
    Whether a JSON edit for a model name may have its ``http(s)`` image URLs fetched.

    Each deployment says so in ``model_info.allow_image_urls`` (``litellm_params`` is read into
    it), ``default`` (``general_settings.allow_image_urls``) when it does not. The URL is
    fetched once, before the router picks a deployment, so it is fetched only when every
    deployment of the name allows it.
    """
    return all(bool(getattr(d, "model_info", {}).get("allow_image_urls", default)) for d in deployments)


async def read_upload(
    scope: Scope, receive: Receive, *, operation: str, limit: int, allow_urls: AllowUrls, send: Send | None = None
) -> Upload:
    """
    Read an edit or variation request (multipart or JSON) within ``limit`` bytes.

    ``allow_urls`` says whether ``http(s)`` image URLs of the JSON form are fetched: a flag, or
    a function of the model name the body gives (``None`` when it names none).

    Raises:
        UploadError: the body is too large (413), not multipart or JSON, or a part is bad (400).
        ClientGone: the client went away mid-upload.
        PixmuxError: an image is not an image (``UnsupportedParamsError`` naming the part).
    """
    content_type = _header(scope, b"content-type") or ""
    declared = _header(scope, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    kind, options = _options(content_type)
    if kind == "multipart/form-data":
        boundary = options.get("boundary")
        if not boundary:
            raise UploadError(400, "the multipart Content-Type has no boundary")
        parts = await _parse_multipart(receive, boundary, limit)
        return _from_parts(parts, operation=operation, limit=limit)
    if kind == "application/json":
        if operation != "edit":
            raise UploadError(400, "variations take a multipart body (image=@file), not JSON")
        raw = await _read_all(receive, limit)
        return await _from_json(raw, limit=limit, allow_urls=allow_urls, send=send)
    raise UploadError(
        400,
        f"Content-Type {content_type[:80]!r} is not accepted here; send multipart/form-data "
        "(as the openai client does)" + (" or application/json" if operation == "edit" else ""),
    )


def _options(header: str) -> tuple[str, dict[str, str]]:
    kind, _, rest = header.partition(";")
    options = {}
    for item in rest.split(";"):
        key, eq, value = item.strip().partition("=")
        if eq:
            options[key.strip().lower()] = value.strip().strip('"')
    return kind.strip().lower(), options


async def _read_all(receive: Receive, limit: int) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _parse_multipart(receive: Receive, boundary: str, limit: int) -> list[_Part]:  # noqa: PLR0915
    from python_multipart.exceptions import MultipartParseError
    from python_multipart.multipart import MultipartParser

    parts: list[_Part] = []
    state: dict[str, Any] = {"field": b"", "value": b"", "headers": {}, "ended": False, "error": None}

    def part_begin() -> None:
        if len(parts) >= MAX_PARTS:
            state["error"] = UploadError(400, f"the upload has more than {MAX_PARTS} parts")
            raise MultipartParseError("too many parts")
        parts.append(_Part())
        state["headers"] = {}

    def part_data(data: bytes, start: int, end: int) -> None:
        part = parts[-1]
        part.size += end - start
        if part.filename is None and part.size > MAX_TEXT_BYTES:
            state["error"] = UploadError(
                400, f"field {part.name!r} is longer than {MAX_TEXT_BYTES} bytes", param=part.name or None
            )
            raise MultipartParseError("field too long")
        # A view of an immutable chunk is kept as it is; anything else (an ASGI server handing over
        # a buffer it reuses) is copied, so that a kept image cannot change under the request.
        part.pieces.append(memoryview(data)[start:end] if type(data) is bytes else bytes(data[start:end]))

    def header_field(data: bytes, start: int, end: int) -> None:
        state["field"] += data[start:end]

    def header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]

    def header_end() -> None:
        state["headers"][state["field"].decode("latin-1").lower()] = state["value"].decode("utf-8", "replace")
        state["field"], state["value"] = b"", b""

    def headers_finished() -> None:
        part = parts[-1]
        disposition, options = _options(state["headers"].get("content-disposition", ""))
        if disposition != "form-data" or "name" not in options:
            state["error"] = UploadError(400, "a multipart part has no Content-Disposition: form-data; name=...")
            raise MultipartParseError("no name")
        part.name = options["name"]
        part.filename = options.get("filename")
        part.content_type = _options(state["headers"].get("content-type", ""))[0]

    def ended() -> None:
        state["ended"] = True

    callbacks: Any = {
        "on_part_begin": part_begin,
        "on_part_data": part_data,
        "on_header_field": header_field,
        "on_header_value": header_value,
        "on_header_end": header_end,
        "on_headers_finished": headers_finished,
        "on_end": ended,
    }
    parser = MultipartParser(boundary, callbacks, max_size=limit)
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
        if chunk:
            try:
                parser.write(chunk)
            except MultipartParseError as exc:
                error = state["error"]
                if isinstance(error, UploadError):
                    raise error from None
                raise UploadError(400, f"the multipart body is malformed: {exc}") from None
        if not message.get("more_body", False):
            break
    if not state["ended"]:
        raise UploadError(400, "the multipart body ended early (no closing boundary): the upload was cut short")
    return parts


def _from_parts(parts: list[_Part], *, operation: str, limit: int) -> Upload:
    files: list[_Part] = []
    mask: _Part | None = None
    fields: dict[str, Any] = {}
    allowed, generation_fields = _names(operation)
    for part in parts:
        name = part.name
        if name in ("image", "image[]"):
            if part.filename is None:
                raise UploadError(400, f"{name} must be a file part (with a filename), not a text field", param="image")
            files.append(part)
            if len(files) > MAX_IMAGE_PARTS:
                raise UploadError(400, f"too many files: more than {MAX_IMAGE_PARTS} image parts", param="image")
            continue
        if name == "mask":
            if operation != "edit":
                raise UploadError(400, f"a {operation} takes no mask", param="mask")
            if part.filename is None:
                raise UploadError(400, "mask must be a file part (with a filename), not a text field", param="mask")
            if mask is not None:
                raise UploadError(400, "mask was sent twice", param="mask")
            mask = part
            continue
        if name in _RESERVED:
            raise UploadError(400, f"{name!r} is not a field of {_a(operation)}", param=name)
        if part.filename is not None:
            raise UploadError(400, f"{name!r} is a file part; only image, image[] and mask carry files", param=name)
        if name in fields:
            raise UploadError(400, f"field {name!r} was sent twice", param=name)
        try:
            text = part.data.decode("utf-8")
        except UnicodeDecodeError:
            raise UploadError(400, f"field {name!r} is not UTF-8 text", param=name) from None
        if name not in allowed and name in generation_fields:
            raise UploadError(400, f"{name} is not a field of {_a(operation)}", param=name)
        try:
            fields[name] = convert_text(name, text)
        except ValueError as exc:
            raise UploadError(400, str(exc), param=name) from None
    if not files:
        raise UploadError(400, "image is required: send it as a file part named image (or image[])", param="image")
    names = ["image"] if len(files) == 1 else [f"image[{index}]" for index in range(len(files))]
    images = tuple(_image(part, param, limit) for part, param in zip(files, names, strict=True))
    return _upload(fields, images, None if mask is None else _image(mask, "mask", limit), operation)


@functools.cache
def _names(operation: str) -> tuple[frozenset[str], frozenset[str]]:
    """The fields a client may send for ``operation``, and a generation's: the parameter table, read once."""
    return frozenset(client_fields(operation)), frozenset(field_types("generate"))


def _image(part: _Part, param: str, limit: int) -> ImageInput:
    declared = part.content_type
    if declared not in _FILE_TYPES and not declared.startswith("image/"):
        raise UploadError(
            400,
            f"{param} ({part.filename}) has Content-Type {declared}; "
            "expected an image (image/png, image/jpeg, image/webp)",
            param=param,
        )
    # the image stays the views of the received chunks: sent on as they are, joined only if a provider needs bytes
    return image_from_pieces(part.pieces, param=param, filename=part.filename or None, max_bytes=limit)


def _upload(fields: dict[str, Any], images: tuple[ImageInput, ...], mask: ImageInput | None, operation: str) -> Upload:
    prompt = fields.pop("prompt", "")
    if operation == "edit" and (not isinstance(prompt, str) or not prompt.strip()):
        raise UploadError(400, "prompt is required: a non-empty string", param="prompt")
    if operation == "variation" and prompt:
        raise UploadError(400, "a variation takes no prompt", param="prompt")
    model = fields.pop("model", None)
    if operation == "variation":
        for name in ("stream", "partial_images"):
            if fields.get(name):
                raise UploadError(400, f"a variation does not stream: {name} is not a field of it", param=name)
            fields.pop(name, None)
    elif fields.get("partial_images") is not None and not fields.get("stream"):
        raise UploadError(400, "partial_images needs stream=true", param="partial_images")
    if not fields.get("stream"):
        fields.pop("stream", None)
    return Upload(prompt=prompt, model=model, params=fields, images=images, mask=mask)


async def _from_json(raw: bytes, *, limit: int, allow_urls: AllowUrls, send: Send | None) -> Upload:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UploadError(400, f"the request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise UploadError(400, "the request body is not valid JSON: it nests too deeply") from None
    if not isinstance(body, dict):
        raise UploadError(400, "the request body must be a JSON object (OpenAI's EditImageBodyJsonParam)")
    if callable(allow_urls):
        model = body.get("model")
        allow_urls = allow_urls(model if isinstance(model, str) else None)
    refs = body.pop("images", None)
    if "image" in body:
        raise UploadError(400, "the JSON form names its inputs images: [{image_url: ...}]", param="image")
    if not isinstance(refs, list) or not refs:
        raise UploadError(400, "images is required: a list of {image_url: ...} references", param="images")
    if len(refs) > MAX_IMAGE_PARTS:
        raise UploadError(400, f"too many images: {len(refs)}; at most {MAX_IMAGE_PARTS}", param="images")
    names = ["images[0]"] if len(refs) == 1 else [f"images[{index}]" for index in range(len(refs))]
    images = tuple(
        [await _reference(ref, name, limit, allow_urls, send) for ref, name in zip(refs, names, strict=True)]
    )
    mask_ref = body.pop("mask", None)
    mask = None if mask_ref is None else await _reference(mask_ref, "mask", limit, allow_urls, send)
    for key in _RESERVED & body.keys():
        raise UploadError(400, f"{key!r} is not a field of an edit", param=key)
    types = field_types("edit")
    for key, value in body.items():
        expected = types.get(key)
        if expected is None or value is None:
            continue
        if not isinstance(value, expected) or (bool not in expected and isinstance(value, bool)):
            wanted = expected[0].__name__
            raise UploadError(400, f"{key} must be of type {wanted}, not {type(value).__name__}", param=key)
    fields = {key: value for key, value in body.items() if value is not None}
    return _upload(fields, images, mask, "edit")


async def _reference(ref: Any, param: str, limit: int, allow_urls: bool, send: Send | None) -> ImageInput:
    if not isinstance(ref, dict) or len(ref) != 1 or not ({"image_url", "file_id"} & ref.keys()):
        raise UploadError(400, f"{param} must be exactly one of {{image_url: ...}} or {{file_id: ...}}", param=param)
    if "file_id" in ref:
        raise UploadError(
            400,
            f"{param}: file_id references need OpenAI's Files API, which this gateway does not serve; "
            "send image_url (a data: URL) or a multipart upload",
            param=param,
        )
    url = ref["image_url"]
    if not isinstance(url, str):
        raise UploadError(400, f"{param}.image_url must be a string", param=param)
    if url.startswith(("http://", "https://")) and not allow_urls:
        raise UploadError(
            400,
            f"{param}: this gateway does not fetch image URLs for this model (model_info.allow_image_urls, "
            "general_settings.allow_image_urls); send a data: URL",
            param=param,
        )
    return await aread_image(
        url, param=param, allow_urls=allow_urls, max_bytes=limit, timeout=DEFAULT_URL_TIMEOUT, send=send
    )
