"""
pixmux provider for xAI's Grok Imagine image API: ``xai/<model>`` (``xai/grok-imagine-image``).

xAI's endpoints look like OpenAI's Images API, with these differences, which are all this module handles:

- **Sizes**: no ``size``; xAI takes an ``aspect_ratio`` (``16:9`` ...) and a ``resolution``
  (``1k``, ``2k``). A ``WIDTHxHEIGHT`` size is sent as the nearest of those, with a warning.
- **No** ``style``, and ``quality`` only on ``grok-imagine-image-2.0`` (``low``, ``medium``): refused by name.
- **Edits** are JSON, not multipart: ``POST /images/edits`` with ``image: {"url": ...}`` (one
  input) or ``images: [{"url": ...}, ...]`` (up to three); pixmux sends the inputs as ``data:`` URLs.
- **Cost**: the answer carries the exact charge, ``usage.cost_in_usd_ticks`` (10^10 ticks = 1 USD).
- **Moderation**: an item without image (or with ``respect_moderation: false``) was withheld: it is
  an :class:`~pixmux.types.Refusal` in ``ImageResponse.refused``.
"""

from __future__ import annotations

import base64
import math
import time
import warnings
from typing import Any

import attrs
import httpx
from pixmux import PixmuxWarning, hookimpl
from pixmux.catalogue import Catalogue, InputLimits, ModelInfo, Price, Pricing, check_request, nearest_aspect_ratio
from pixmux.catalogue import parse_size as _parse_size
from pixmux.converters import make_converter, read_json, structure_json
from pixmux.exceptions import (
    APIResponseValidationError,
    AuthenticationError,
    ContentPolicyViolationError,
    PixmuxError,
    UnsupportedParamsError,
    error_from_response,
    provider_message,
)
from pixmux.types import Deployment, ImageObject, ImageRequest, ImageResponse, Refusal

__all__ = [
    "CATALOGUE",
    "DEFAULT_API_BASE",
    "ASPECT_RATIOS",
    "TICKS_PER_USD",
    "model_catalogue",
    "validate_params",
    "build_request",
    "parse_response",
]

PROVIDER = "xai"
DEFAULT_API_BASE = "https://api.x.ai/v1"
#: The aspect ratios xAI documents (besides ``auto``).
ASPECT_RATIOS = (
    "1:1", "3:4", "4:3", "9:16", "16:9", "2:3", "3:2", "9:19.5", "19.5:9", "9:20", "20:9", "1:2", "2:1",
)  # fmt: skip
_RESOLUTIONS = frozenset({"1k", "2k"})
#: ``usage.cost_in_usd_ticks`` per US dollar.
TICKS_PER_USD = 10_000_000_000
#: How far (in log space) a size's shape may be from the nearest aspect ratio before it is refused.
_APPROX_LIMIT = math.log(1.25)
#: A size whose longer side is above this many pixels asks for the ``2k`` resolution.
_TWO_K_FROM = 1536
#: At most this many input images in one edit (xAI's multi-reference limit).
_MAX_INPUTS = 3
_CONTENT_POLICY_WORDS = ("moderation", "content policy", "safety", "not allowed by our", "violat")


def _model(
    name: str,
    *,
    known: bool = True,
    price: float | None = None,
    qualities: frozenset[str] = frozenset(),
    description: str = "",
) -> ModelInfo:
    return ModelInfo(
        name=name,
        known=known,
        qualities=qualities if known else None,
        styles=frozenset(),
        response_formats=frozenset({"url", "b64_json"}),
        max_n=10,
        params=frozenset({"aspect_ratio", "resolution"}) if known else None,
        param_values={"aspect_ratio": frozenset({*ASPECT_RATIOS, "auto"}), "resolution": _RESOLUTIONS},
        pricing=Pricing(per_image=(Price(usd=price),)) if price is not None else None,
        description=description,
        operations=frozenset({"generate", "edit"}),
        inputs=InputLimits(max_images=_MAX_INPUTS, mask="none"),
    )


# xAI's image models (docs.x.ai, models and image generation). The answer reports the exact
# charge; the catalogue's price is only used when an answer has no usage.
_MODELS = (
    _model("grok-imagine-image", price=0.02, description="Grok Imagine, base tier ($0.02 an image)"),
    _model("grok-imagine-image-quality", description="Grok Imagine, higher-quality tier"),
    _model("grok-imagine-image-2.0", qualities=frozenset({"low", "medium"}), description="Grok Imagine 2.0"),
    _model("grok-imagine-image-pro", description="Grok Imagine pro (deprecated by xAI on 2026-05-15)"),
)

CATALOGUE = Catalogue(
    provider=PROVIDER,
    models={info.name: info for info in _MODELS},
    env={"api_key": ("XAI_API_KEY",), "api_base": ("XAI_API_BASE",)},
    default_api_base=DEFAULT_API_BASE,
    unknown=lambda name: _model(name, known=False, description="a model xAI may have added since"),
)

_converter = make_converter()


@attrs.frozen
class _Datum:
    url: str | None = None
    b64_json: str | None = None
    revised_prompt: str | None = None
    respect_moderation: bool | None = None


@attrs.frozen
class _Usage:
    cost_in_usd_ticks: int | None = None


@attrs.frozen
class _Payload:
    data: list[_Datum]
    created: int | None = None
    usage: _Usage | None = None


@hookimpl
def model_catalogue() -> Catalogue:
    """xAI's Grok Imagine models; other model ids are forwarded as given."""
    return CATALOGUE


def _refuse(message: str, model: str, param: str) -> UnsupportedParamsError:
    return UnsupportedParamsError(message, provider=PROVIDER, model=model, param=param)


def _check_inputs(request: ImageRequest, model: ModelInfo) -> None:
    """
    Check the operation and the input images against the model.

    Raises:
        UnsupportedParamsError: the model does not do this operation, or gets too many inputs or a mask.
    """
    if request.operation not in model.operations:
        raise _refuse(
            f"{model.name} does not do {request.operation!r}; it does: {', '.join(sorted(model.operations))}",
            model.name,
            "model",
        )
    if request.operation == "generate":
        return
    if not request.images:
        raise _refuse(f"an {request.operation} needs at least one input image", model.name, "image")
    if len(request.images) > _MAX_INPUTS:
        raise _refuse(f"{len(request.images)} input images given; xAI takes at most {_MAX_INPUTS}", model.name, "image")
    if request.mask is not None:
        raise _refuse("xAI edits take no mask: describe the change in the prompt instead", model.name, "mask")


@hookimpl
def validate_params(request: ImageRequest, model: ModelInfo) -> ImageRequest | None:
    """Check the request; a ``WIDTHxHEIGHT`` size becomes the nearest ``aspect_ratio`` and ``resolution`` (warned)."""
    _check_inputs(request, model)
    check_request(request, model, provider=PROVIDER)
    if request.size is None or request.size == "auto":
        return None if request.size is None else attrs.evolve(request, size=None)
    accepted = "WIDTHxHEIGHT (sent as the nearest aspect ratio: " + ", ".join(ASPECT_RATIOS) + ")"
    try:
        width, height = _parse_size(request.size, provider=PROVIDER, model=model.name)
    except UnsupportedParamsError as exc:
        raise _refuse(f"size={request.size!r} is not supported; accepted: {accepted}", model.name, "size") from exc
    ratio, off = nearest_aspect_ratio(width, height, ASPECT_RATIOS)
    if off > _APPROX_LIMIT:
        raise _refuse(
            f"size={request.size!r} is too far from any aspect ratio {model.name} makes; accepted: {accepted}",
            model.name,
            "size",
        )
    params = dict(request.params)
    params.setdefault("aspect_ratio", ratio)
    params.setdefault("resolution", "2k" if max(width, height) > _TWO_K_FROM else "1k")
    warnings.warn(
        f"size {request.size!r} sent as aspect_ratio {params['aspect_ratio']!r}, resolution "
        f"{params['resolution']!r}: xAI takes no pixel size and picks it itself",
        PixmuxWarning,
        stacklevel=2,
    )
    return attrs.evolve(request, size=None, params=params)


def _data_url(data: bytes, media_type: str) -> str:
    """An image's bytes as a ``data:`` URL."""
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


@hookimpl
def build_request(request: ImageRequest, deployment: Deployment) -> httpx.Request:
    """POST JSON to ``{api_base}/images/generations``, or ``/images/edits`` with the inputs as ``data:`` URLs."""
    api_base = (deployment.api_base or DEFAULT_API_BASE).rstrip("/")
    if not deployment.api_key and api_base == DEFAULT_API_BASE:
        raise AuthenticationError(
            "no xAI API key: set XAI_API_KEY or pass api_key=", provider=PROVIDER, model=request.model
        )
    headers = {"Authorization": f"Bearer {deployment.api_key}"} if deployment.api_key else {}
    body: dict[str, Any] = {"model": deployment.model, "prompt": request.prompt}
    for name in ("n", "quality", "response_format", "user"):
        value = getattr(request, name)
        if value is not None:
            body[name] = value
    body.update(request.params)
    path = "generations"
    if request.operation != "generate":
        path = "edits"
        refs = [{"url": _data_url(image.data, image.media_type)} for image in request.images]
        if len(refs) == 1:
            body["image"] = refs[0]
        else:
            body["images"] = refs
    return httpx.Request("POST", f"{api_base}/images/{path}", headers=headers, json=body)


def _b64(value: str | None) -> str | None:
    """Plain base64: an old answer shape prefixed it with ``data:image/...;base64,``."""
    if value and value.startswith("data:"):
        return value.partition(",")[2] or None
    return value or None


@hookimpl
def parse_response(response: httpx.Response, request: ImageRequest, model: ModelInfo) -> ImageResponse:
    """Read the images, the revised prompts and the charge; withheld images are a content-policy refusal."""
    if response.is_error:
        raise error_for(response, model=model.name)
    body = read_json(response, provider=PROVIDER, model=model.name)
    payload = structure_json(
        body, _Payload, converter=_converter, provider=PROVIDER, model=model.name, what="an xAI images answer",
        response=response,
    )  # fmt: skip
    images = []
    refused = []
    for item in payload.data:
        b64 = _b64(item.b64_json)
        if item.respect_moderation is False or not (b64 or item.url):
            refused.append(Refusal(reason="moderation", message="the image did not pass xAI moderation"))
            continue
        images.append(ImageObject(b64_json=b64, url=item.url, revised_prompt=item.revised_prompt or None))
    metadata: dict[str, Any] = {}
    request_id = response.headers.get("x-request-id")
    if request_id:
        metadata["request_id"] = request_id
    if not images:
        if refused:
            raise ContentPolicyViolationError(
                "xAI withheld every image: it did not pass moderation",
                provider=PROVIDER,
                model=model.name,
                code="content_policy_violation",
                response=response,
                details={"refused": len(refused)},
            )
        raise APIResponseValidationError(
            "xAI answered 200 but returned no image", provider=PROVIDER, model=model.name, response=response
        )
    cost = None
    ticks = payload.usage.cost_in_usd_ticks if payload.usage is not None else None
    if ticks is not None and ticks >= 0:  # a negative charge is no price
        cost = ticks / TICKS_PER_USD
    created = payload.created if payload.created is not None else int(time.time())
    return ImageResponse(created=created, data=tuple(images), cost=cost, metadata=metadata, refused=tuple(refused))


def error_for(response: httpx.Response, *, model: str) -> PixmuxError:
    """
    The typed error for an xAI error answer (OpenAI's envelope, or a flat ``{"code", "error"}``).

    A 400 whose code or message speaks of moderation or safety is a ``ContentPolicyViolationError``.
    """
    message, code, _ = provider_message(response)
    if response.status_code == 400:
        text = f"{code or ''} {message}".lower()
        if any(word in text for word in _CONTENT_POLICY_WORDS):
            return error_from_response(response, provider=PROVIDER, model=model, cls=ContentPolicyViolationError)
    return error_from_response(response, provider=PROVIDER, model=model)
