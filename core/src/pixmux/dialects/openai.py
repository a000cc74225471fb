"""
OpenAI's Images API wire format: the request, the response and the errors.

Many providers speak it (OpenAI, Azure OpenAI, Xinference, Nscale, Recraft, xAI, Together...),
so it lives in the core, public: a plugin for an OpenAI-shaped provider depends on ``pixmux``
alone. Everything here is a pure function of plain values, built on httpx's public API.

- :func:`build_body`: the JSON body of ``/images/generations`` from an ``ImageRequest``.
- :func:`post_json`: the ``httpx.Request`` that POSTs it.
- :func:`parse_images`: a successful ``ImagesResponse`` body as an ``ImageResponse``.
- :func:`error_for`: the typed error for an OpenAI-shaped error body.
- :func:`as_data_urls`: base64 images as ``data:`` URLs (``response_format="url"`` on a
  provider that only answers base64).

.. versionadded:: 1.1 (moved here from ``pixmux_openai.wire``, which re-exports it)
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import httpx

from pixmux._transport import json_request
from pixmux.catalogue import ModelInfo
from pixmux.converters import CUT_MIN_BYTES, _orjson_loads, make_converter, orjson_dumps, read_json, structure_json
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
    _image_object,
    _image_response,
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
#: httpx's JSON body encoding (compact, UTF-8, no NaN), as ``httpx.Request(json=...)`` writes it.
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
#: Headers httpx fills in itself; a caller setting one gets httpx's own request building.
_AUTO_HEADERS = frozenset({"host", "content-length", "content-type", "transfer-encoding"})
#: orjson's ``loads`` and ``dumps`` (``pixmux[fast]``), or ``None``: looked up once, when a plugin loads this module.
_orjson_read = _orjson_loads()
_orjson_write = orjson_dumps()
#: The OpenAI parameters that are fields of ``ImageRequest`` (the rest of a body's fields are in ``params``).
_REQUEST_FIELDS = frozenset(ImageRequest.OPENAI_PARAMS)


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
    params = request.params
    for name in openai_params:
        value = getattr(request, name) if name in _REQUEST_FIELDS else params.get(name)
        if value is not None:
            body[name] = value
    if extra and params:
        body.update(params)
    return body


#: Body values orjson writes byte for byte as httpx's JSON encoding does (it spells floats differently).
_ORJSON_SAME = frozenset({str, int, bool, type(None)})


def _encode_body(body: Any) -> bytes:
    """httpx's JSON body bytes; by orjson (when installed) for a flat object of strings, integers, booleans, nulls."""
    if _orjson_write is not None and type(body) is dict:
        for value in body.values():
            if type(value) not in _ORJSON_SAME:
                break
        else:
            try:
                return _orjson_write(body)
            except TypeError:  # orjson.JSONEncodeError: an integer beyond 64 bits, a key that is not a string
                pass
    return _dumps(body).encode("utf-8")


def post_json(url: httpx.URL | str, headers: Mapping[str, str], body: Any) -> httpx.Request:
    """
    The request ``httpx.Request("POST", url, headers=headers, json=body)`` builds, byte for byte.

    The same headers in the same order (``Host``, the given ones, ``Content-Length``,
    ``Content-Type: application/json``) and the same compact UTF-8 JSON body, already read.
    The core builds it without httpx's general-purpose preparation when it can (see
    ``pixmux._transport.json_request``). Pass a parsed ``httpx.URL`` (parse it once per
    endpoint) for the full gain.

    Raises:
        TypeError, ValueError: ``body`` is not JSON-serializable (as with httpx).
    """
    target = url if isinstance(url, httpx.URL) else httpx.URL(url)
    content = _encode_body(body)
    try:
        pairs = []
        for name, value in headers.items():
            if name.lower() in _AUTO_HEADERS:
                raise ValueError(name)  # httpx's own rules for the headers it fills in
            pairs.append((name.encode("ascii"), value.encode("ascii")))
    except (AttributeError, UnicodeEncodeError, ValueError):
        return httpx.Request("POST", target, headers=headers, json=body)
    if not target.host:
        return httpx.Request("POST", target, headers=headers, json=body)
    return json_request(target, pairs, content)


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


def _request_id(response: httpx.Response) -> str | None:
    """The ``x-request-id`` header, read from the raw pairs (no decoded header view is built)."""
    for name, value in response.headers.raw:
        if len(name) == 12 and name.lower() == b"x-request-id":
            try:
                return value.decode("ascii")
            except UnicodeDecodeError:  # decoded as httpx decodes the whole header block
                found: str | None = response.headers.get("x-request-id")
                return found
    return None


def parse_images(response: httpx.Response, *, provider: str, model: str) -> ImageResponse:
    """
    Read a successful OpenAI-shaped ``ImagesResponse`` body.

    A well-formed body (every field of the type OpenAI's schema gives it) is read straight
    into the ``ImageResponse``. Anything else goes to the converter, which reads what it can
    (``"created": "1713833628"``) and names what is wrong in a body it refuses
    (``... @ $.data[0].url``); both ways give the same result for any body the reader takes.

    Raises:
        APIResponseValidationError: the body is not JSON of that shape, or holds no image.
    """
    request_id = _request_id(response)
    metadata: dict[str, Any] = {} if request_id is None else {"request_id": request_id}
    read = _read_small(response.content, metadata)
    if read is not None:
        if not read.data:
            raise _no_image(response, provider=provider, model=model)
        return read
    body = read_json(response, provider=provider, model=model)
    read = _read_plain(body, metadata) if type(body) is dict else None
    if read is not None:
        if not read.data:
            raise _no_image(response, provider=provider, model=model)
        return read
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


def _read_small(content: bytes, metadata: dict[str, Any]) -> ImageResponse | None:
    """
    A small body (a url answer) read by orjson straight into :func:`_read_plain`, or ``None``.

    orjson reads an integer beyond 64 bits as a float, where the json module keeps it exact
    (``loads_json`` looks for such floats and reads the body again); here nothing needs the
    look: :func:`_read_plain` takes no float, so a body holding one where it reads a value is
    read again by ``read_json``, and one holding it anywhere else gives the same response.
    """
    if _orjson_read is None or len(content) >= CUT_MIN_BYTES:
        return None
    try:
        body = _orjson_read(content)
    except ValueError:  # not JSON to orjson: read_json says what the json module says
        return None
    return _read_plain(body, metadata) if type(body) is dict else None


def _read_plain(body: dict[str, Any], metadata: dict[str, Any]) -> ImageResponse | None:
    """
    ``body`` as an ``ImageResponse`` when every field is of its schema type, else ``None``.

    The same response the converter and :func:`_from_payload` make of it: ``created`` an
    integer, ``data`` a list of objects of strings or nulls, the echo fields strings or nulls,
    ``usage`` an object of integer counts. Anything else (a number as a string, a wrong type)
    is left to the converter, to be read or named.
    """
    created = body.get("created")
    if type(created) is not int:
        return None
    images = []
    data = body.get("data")
    if data is not None:
        if type(data) is not list:
            return None
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
                images.append(_image_object(b64_json, url, revised_prompt, None))
    background = body.get("background")
    output_format = body.get("output_format")
    quality = body.get("quality")
    size = body.get("size")
    if (
        (background is not None and type(background) is not str)
        or (output_format is not None and type(output_format) is not str)
        or (quality is not None and type(quality) is not str)
        or (size is not None and type(size) is not str)
    ):
        return None
    usage = None
    found = body.get("usage")
    if found is not None:
        usage = _plain_usage(found)
        if usage is None:
            return None
    return _image_response(created, tuple(images), usage, background, output_format, quality, size, None, metadata, ())


def _counts(found: Any, first: str, second: str) -> tuple[int, int] | None:
    """Two token counts of a usage object (0 when missing), or ``None`` when it is not an object of integers."""
    if type(found) is not dict:
        return None
    one = found.get(first, 0)
    two = found.get(second, 0)
    if type(one) is not int or type(two) is not int:
        return None
    return one, two


def _plain_usage(found: Any) -> Usage | None:
    """OpenAI's ``usage`` object as :func:`_usage` makes it, or ``None`` when it is not plain."""
    tokens = _counts(found, "input_tokens", "output_tokens")
    if tokens is None:
        return None
    input_tokens, output_tokens = tokens
    total_tokens = found.get("total_tokens", 0)
    if type(total_tokens) is not int:
        return None
    inputs = found.get("input_tokens_details")
    text_tokens, image_tokens = input_tokens, 0
    if inputs is not None:
        counted = _counts(inputs, "text_tokens", "image_tokens")
        if counted is None:
            return None
        text_tokens, image_tokens = counted
    outputs = found.get("output_tokens_details")
    output_details = None
    if outputs is not None:
        counted = _counts(outputs, "image_tokens", "text_tokens")
        if counted is None:
            return None
        output_details = OutputTokensDetails(image_tokens=counted[0], text_tokens=counted[1])
    return Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=total_tokens or input_tokens + output_tokens,
        input_tokens_details=InputTokensDetails(text_tokens=text_tokens, image_tokens=image_tokens),
        output_tokens_details=output_details,
    )


def _no_image(response: httpx.Response, *, provider: str, model: str) -> APIResponseValidationError:
    return APIResponseValidationError(
        "the provider answered 200 but returned no image", provider=provider, model=model, response=response
    )


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
        raise _no_image(response, provider=provider, model=model)
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
