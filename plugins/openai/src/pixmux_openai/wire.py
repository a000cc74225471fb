"""
OpenAI's Images API wire format: the request body, the response and the errors.

Public so that plugins for OpenAI-shaped providers (Azure, Xinference, Nscale, Recraft)
reuse it instead of copying it.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs
import httpx
from pixmux.catalogue import ModelInfo
from pixmux.converters import make_converter, orjson_dumps, per_object, read_json, structure_json
from pixmux.exceptions import (
    APIResponseValidationError,
    ContentPolicyViolationError,
    NotFoundError,
    PixmuxError,
    error_from_response,
    provider_message,
)
from pixmux.types import (
    ImageObject,
    ImageRequest,
    ImageResponse,
    InputTokensDetails,
    OutputTokensDetails,
    Usage,
    image_extension,
)

__all__ = ["build_body", "post_json", "parse_images", "error_for", "as_data_urls", "CONTENT_POLICY_CODES"]

#: Error codes OpenAI (and Azure) use for safety refusals.
CONTENT_POLICY_CODES = frozenset({"content_policy_violation", "moderation_blocked", "content_filter"})

#: MIME types for the extensions :func:`pixmux.types.image_extension` reports.
_MIME_TYPES = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
    "avif": "image/avif",
    "svg": "image/svg+xml",
}

_converter = make_converter()
#: httpx's own JSON body encoding (compact, UTF-8, no NaN).
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
#: Headers httpx fills in itself; a caller setting one gets httpx's own request building.
_AUTO_HEADERS = frozenset({"host", "content-length", "content-type", "transfer-encoding"})


@attrs.frozen
class _Datum:
    b64_json: str | None = None
    url: str | None = None
    revised_prompt: str | None = None


@attrs.frozen
class _InputDetails:
    text_tokens: int = 0
    image_tokens: int = 0


@attrs.frozen
class _OutputDetails:
    image_tokens: int = 0
    text_tokens: int = 0


@attrs.frozen
class _Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    input_tokens_details: _InputDetails | None = None
    output_tokens_details: _OutputDetails | None = None


@attrs.frozen
class _Payload:
    created: int
    data: list[_Datum] | None = None
    background: str | None = None
    output_format: str | None = None
    quality: str | None = None
    size: str | None = None
    usage: _Usage | None = None


def build_body(
    request: ImageRequest, model: str, *, openai_params: Iterable[str], extra: bool = True
) -> dict[str, Any]:
    """
    The JSON body for ``/images/generations``: ``model``, ``prompt`` and every set parameter.

    Args:
        request: the validated request.
        model: the value of the body's ``model`` field.
        openai_params: which of OpenAI's optional fields (``n``, ``size``, ...) this model takes;
            the others are left out even if set (``response_format`` is never sent to GPT image models).
        extra: also send the provider-specific parameters in ``request.params``.
    """
    body: dict[str, Any] = {"model": model, "prompt": request.prompt}
    for name in openai_params:
        value = getattr(request, name) if name in ImageRequest.OPENAI_PARAMS else request.params.get(name)
        if value is not None:
            body[name] = value
    if extra:
        body.update(request.params)
    return body


def post_json(url: httpx.URL, headers: Mapping[str, str], body: Any) -> httpx.Request:
    """
    ``httpx.Request("POST", url, headers=headers, json=body)``, built in a fraction of the time.

    The request is the one httpx (0.28) builds: the same headers in the same order (``Host``, the
    given ones, ``Content-Length``, ``Content-Type: application/json``), the same body bytes
    (compact UTF-8 JSON), already read. httpx gets there through general-purpose preparation
    (header merging, content sniffing, type checks) that costs more than the rest of a plugin's
    ``build_request``; pass a parsed ``httpx.URL`` (parse it once per endpoint) for the full gain.

    Raises:
        TypeError, ValueError: ``body`` is not JSON-serializable (as with httpx).
    """
    host = _host_entry(url)
    if host is None:
        return httpx.Request("POST", url, headers=headers, json=body)
    for name, value in headers.items():
        if type(value) is not str or name.lower() in _AUTO_HEADERS:
            return httpx.Request("POST", url, headers=headers, json=body)
    content = _encode_body(body)
    if _assembly_fits():
        return _assemble(url, host, headers, content)
    pairs = [("Host", host[2].decode("ascii")), *headers.items()]
    pairs.append(("Content-Length", str(len(content))))
    pairs.append(("Content-Type", "application/json"))
    request = httpx.Request("POST", url, headers=pairs, stream=httpx.ByteStream(content))
    request.read()
    return request


#: The ``Host`` header as httpx keeps it (raw name, lower-cased name, value), remembered per
#: endpoint URL object (``url.netloc`` is built anew on each use); ``None`` for a URL without a host.
_host_entry: Callable[[httpx.URL], tuple[bytes, bytes, bytes] | None] = per_object(
    lambda url: (b"Host", b"host", url.netloc) if url.host else None
)
#: The ``Content-Type`` header of every JSON body, as httpx keeps it.
_CONTENT_TYPE = (b"Content-Type", b"content-type", b"application/json")


#: Body values orjson writes byte for byte as httpx's JSON encoding does (floats it spells differently).
_ORJSON_SAME = frozenset({str, int, bool, type(None)})


def _encode_body(body: Any) -> bytes:
    """httpx's JSON body bytes; by orjson when the body is a flat object of strings, integers, booleans and nulls."""
    dumps = orjson_dumps()
    if dumps is not None and type(body) is dict:
        for value in body.values():
            if type(value) not in _ORJSON_SAME:
                break
        else:
            try:
                return dumps(body)
            except TypeError:  # orjson.JSONEncodeError: an integer beyond 64 bits, a key that is not a string...
                pass
    return _dumps(body).encode("utf-8")


def _assemble(
    url: httpx.URL, host: tuple[bytes, bytes, bytes], headers: Mapping[str, str], content: bytes
) -> httpx.Request:
    """
    What ``httpx.Request("POST", url, headers=..., stream=ByteStream(content))``, once read, is.

    Its headers are ``Host``, ``headers``, ``Content-Length`` and ``Content-Type``, in that
    order, as :func:`post_json` promises. Set field by field: httpx's constructor spends most
    of its time on type checks these values have already passed. Used only when
    :func:`_assembly_fits` found that it gives exactly what the constructor gives with the
    installed httpx.
    """
    entries = [host]
    for name, value in headers.items():
        raw = name.encode("ascii")
        entries.append((raw, raw.lower(), value.encode("ascii")))
    entries.append((b"Content-Length", b"content-length", str(len(content)).encode("ascii")))
    entries.append(_CONTENT_TYPE)
    assembled = httpx.Headers.__new__(httpx.Headers)
    assembled._list = entries
    assembled._encoding = "ascii"  # what httpx works out on first use: every name and value was encoded as ASCII
    request = httpx.Request.__new__(httpx.Request)
    request.method = "POST"
    request.url = url
    request.headers = assembled
    request.extensions = {}
    request.stream = httpx.ByteStream(content)
    request._content = content
    return request


@functools.cache
def _assembly_fits() -> bool:
    """Whether :func:`_assemble` builds what the installed httpx's constructor builds (same fields, same values)."""
    url = httpx.URL("https://images.example/v1/images/generations")
    pairs = [
        ("Host", "images.example"),
        ("Authorization", "Bearer k"),
        ("Content-Length", "2"),
        ("Content-Type", "application/json"),
    ]
    built = httpx.Request("POST", url, headers=pairs, stream=httpx.ByteStream(b"{}"))
    built.read()
    try:
        host = _host_entry(url)
        ours = _assemble(url, host, {"Authorization": "Bearer k"}, b"{}") if host is not None else None
        return (
            ours is not None
            and vars(ours).keys() == vars(built).keys()
            and vars(ours.headers).keys() == vars(built.headers).keys()
            and ours.headers._list == built.headers._list
            and ours.headers.encoding == built.headers.encoding == "ascii"
            and (ours.method, ours.url, ours.extensions, ours.content) == (built.method, built.url, {}, b"{}")
            and type(ours.stream) is type(built.stream)
            and isinstance(ours.stream, httpx.ByteStream)
            and list(ours.stream) == [b"{}"]
        )
    except Exception:  # noqa: BLE001 - any surprise in an unknown httpx means: use its constructor
        return False


def _usage(found: _Usage | None) -> Usage | None:
    if found is None:
        return None
    inputs = found.input_tokens_details or _InputDetails(text_tokens=found.input_tokens)
    outputs = found.output_tokens_details
    return Usage(
        input_tokens=found.input_tokens,
        output_tokens=found.output_tokens,
        total_tokens=found.total_tokens or found.input_tokens + found.output_tokens,
        input_tokens_details=InputTokensDetails(text_tokens=inputs.text_tokens, image_tokens=inputs.image_tokens),
        output_tokens_details=(
            OutputTokensDetails(image_tokens=outputs.image_tokens, text_tokens=outputs.text_tokens) if outputs else None
        ),
    )


def _read_plain(body: Any, metadata: dict[str, Any]) -> ImageResponse | None:
    """
    The usual ``ImagesResponse`` body read straight into an ``ImageResponse``, or ``None``.

    Reads only the plain shape (``created`` an integer, ``data`` a list of objects whose fields
    are strings or null, at least one image, the echo fields strings or null, no ``usage``) into
    exactly what the converter's way gives, at a fraction of the cost: a url body's call spent
    more on the converter than on anything else the plugin does. Any other body, right or
    wrong, returns ``None`` and goes the converter's way, which reads it or says what is wrong.
    """
    if type(body) is not dict or "usage" in body:
        return None
    created = body.get("created")
    data = body.get("data")
    if type(created) is not int or type(data) is not list:
        return None
    images = []
    for item in data:
        if type(item) is not dict:
            return None
        b64_json = item.get("b64_json")
        url = item.get("url")
        revised_prompt = item.get("revised_prompt")
        if (
            (b64_json is not None and type(b64_json) is not str)
            or (url is not None and type(url) is not str)
            or (revised_prompt is not None and type(revised_prompt) is not str)
        ):
            return None
        if b64_json or url:
            images.append(ImageObject(b64_json=b64_json, url=url, revised_prompt=revised_prompt))
    background = body.get("background")
    output_format = body.get("output_format")
    quality = body.get("quality")
    size = body.get("size")
    for echo in (background, output_format, quality, size):
        if echo is not None and type(echo) is not str:
            return None
    if not images:
        return None
    return ImageResponse(
        created=created,
        data=tuple(images),
        background=background,
        output_format=output_format,
        quality=quality,
        size=size,
        metadata=metadata,
    )


def _request_id(response: httpx.Response) -> str | None:
    """The ``x-request-id`` header, found without building httpx's decoded header views."""
    for _, name, value in response.headers._list:  # (raw name, lower-cased name, value), as httpx keeps them
        if name == b"x-request-id":
            try:
                return value.decode("ascii")
            except UnicodeDecodeError:  # as httpx decodes a non-ASCII header block
                found: str | None = response.headers.get("x-request-id")
                return found
    return None


def parse_images(response: httpx.Response, *, provider: str, model: str) -> ImageResponse:
    """
    Read a successful OpenAI-shaped ``ImagesResponse`` body.

    Raises:
        APIResponseValidationError: the body is not JSON of that shape, or holds no image.
    """
    body = read_json(response, provider=provider, model=model)
    request_id = _request_id(response)
    metadata: dict[str, Any] = {} if request_id is None else {"request_id": request_id}
    plain = _read_plain(body, metadata)
    if plain is not None:
        return plain
    payload = structure_json(
        body,
        _Payload,
        converter=_converter,
        provider=provider,
        model=model,
        what="an ImagesResponse",
        response=response,
    )
    return _from_payload(payload, metadata, response=response, provider=provider, model=model)


def _from_payload(
    payload: _Payload, metadata: dict[str, Any], *, response: httpx.Response, provider: str, model: str
) -> ImageResponse:
    images = tuple(
        [
            ImageObject(b64_json=d.b64_json, url=d.url, revised_prompt=d.revised_prompt)
            for d in payload.data or ()
            if d.b64_json or d.url
        ]
    )
    if not images:
        raise APIResponseValidationError(
            "the provider answered 200 but returned no image", provider=provider, model=model, response=response
        )
    return ImageResponse(
        created=payload.created,
        data=images,
        usage=_usage(payload.usage),
        background=payload.background,
        output_format=payload.output_format,
        quality=payload.quality,
        size=payload.size,
        metadata=metadata,
    )


def error_for(response: httpx.Response, *, provider: str, info: ModelInfo) -> PixmuxError:
    """
    The typed error for an OpenAI-shaped error response.

    Safety refusals (``content_policy_violation``, ``moderation_blocked``) become
    ``ContentPolicyViolationError`` with OpenAI's ``moderation_details`` kept; a 404 for a
    model the catalogue knows was retired says so.
    """
    _, code, _ = provider_message(response)
    if code in CONTENT_POLICY_CODES:
        details: dict[str, Any] = {}
        try:
            inner = response.json().get("error", {})
            if isinstance(inner, dict) and "moderation_details" in inner:
                details["moderation_details"] = inner["moderation_details"]
        except (ValueError, AttributeError):
            pass
        return error_from_response(
            response, provider=provider, model=info.name, cls=ContentPolicyViolationError, details=details
        )
    error = error_from_response(response, provider=provider, model=info.name)
    note = info.extra.get("retired_note")
    if note and (isinstance(error, NotFoundError) or code == "model_not_found"):
        return NotFoundError(
            f"{error.message} ({note})",
            provider=provider,
            model=info.name,
            status_code=404,
            code=code,
            response=response,
            param="model",
        )
    return error


def as_data_urls(response: ImageResponse, *, provider: str, model: str) -> ImageResponse:
    """
    A copy whose base64 images are ``data:`` URLs: ``response_format="url"`` on a provider that only answers base64.

    The MIME type is judged from the image's bytes (``image/jpeg``, ``image/png``, ...);
    images that already have a URL are kept as they are.

    Raises:
        APIResponseValidationError: an image's base64 is not valid.
    """
    images = []
    for image in response.data:
        if image.b64_json is None:
            images.append(image)
            continue
        try:
            data = base64.b64decode(image.b64_json, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise APIResponseValidationError(
                f"b64_json is not valid base64: {exc}", provider=provider, model=model
            ) from exc
        mime = _MIME_TYPES.get(image_extension(data), "application/octet-stream")
        url = f"data:{mime};base64,{image.b64_json}"
        images.append(ImageObject(url=url, revised_prompt=image.revised_prompt))
    return attrs.evolve(response, data=tuple(images))
