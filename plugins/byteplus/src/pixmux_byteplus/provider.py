"""
pixmux provider for BytePlus ModelArk's Seedream image models: ``byteplus/<model id>``
(``byteplus/seedream-4-0-250828``).

ModelArk's ``POST /api/v3/images/generations`` is OpenAI-like JSON; what differs, and all this
module handles:

- **Size** is a tier (``1K``, ``2K``, ``4K``; per model) or ``WIDTHxHEIGHT`` within the model's
  pixel range (Seedream 4.0: 1280x720 to 4096x4096 in total) and an aspect ratio within 1:16 to 16:1.
- **No** ``n``: pixmux sends one request per image (``sequential_image_generation`` passes
  through for the model's own multi-image mode).
- **Edits** use the same endpoint: the input images go in ``image`` as ``data:`` URLs (up to 14).
- **URLs** are pre-signed and expire after 24 hours (``X-Tos-Expires``): ``expires_at`` says when.
- **Refusals** are HTTP 400 with a ``*SensitiveContentDetected`` code, or a per-image ``error``.
"""

from __future__ import annotations

import base64
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs
import httpx
from pixmux import hookimpl
from pixmux.catalogue import Catalogue, InputLimits, ModelInfo, Price, Pricing, check_request, parse_size
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

__all__ = ["CATALOGUE", "DEFAULT_API_BASE", "model_catalogue", "validate_params", "build_request", "parse_response"]

PROVIDER = "byteplus"
DEFAULT_API_BASE = "https://ark.ap-southeast.bytepluses.com/api/v3"
#: How long ModelArk's pre-signed result URLs last when the URL does not say (24 hours).
URL_LIFETIME = 86_400
#: Total pixels a ``WIDTHxHEIGHT`` size may have, per model family (ModelArk's image generation API).
_PIXELS_4_0 = (1280 * 720, 4096 * 4096)
_PIXELS_4_5 = (2560 * 1440, 4096 * 4096)
_PIXELS_5_0 = (2560 * 1440, 10_404_496)
_MAX_RATIO = 16
#: Codes (and code prefixes) ModelArk uses for a moderation refusal.
_SENSITIVE = "SensitiveContentDetected"

_SEEDREAM4 = frozenset(
    {"watermark", "sequential_image_generation", "sequential_image_generation_options", "optimize_prompt_options"}
)
_SEEDREAM5 = _SEEDREAM4 | {"output_format", "tools"}
_SEEDREAM3 = frozenset({"watermark", "seed", "guidance_scale"})


def _model(
    name: str,
    *,
    known: bool = True,
    tiers: frozenset[str] = frozenset(),
    params: frozenset[str] | None = None,
    price: float | None = None,
    operations: frozenset[str] = frozenset({"generate", "edit"}),
    max_inputs: int | None = 14,
    pixels: tuple[int, int] | None = None,
    description: str = "",
) -> ModelInfo:
    return ModelInfo(
        name=name,
        known=known,
        qualities=frozenset() if known else None,
        styles=frozenset(),
        response_formats=frozenset({"url", "b64_json"}),
        max_n=15,
        params=params if known else None,
        param_values={
            "sequential_image_generation": frozenset({"auto", "disabled"}),
            "output_format": frozenset({"jpeg", "png"}),
            "watermark": frozenset({True, False}),
        },
        param_ranges={"seed": (-1, 2147483647), "guidance_scale": (1, 10)},
        pricing=Pricing(per_image=(Price(usd=price),)) if price is not None else None,
        description=description,
        extra={"tiers": tiers, "pixels": pixels},
        operations=operations,
        inputs=InputLimits(max_images=max_inputs, mask="none") if "edit" in operations else None,
    )


# ModelArk's Seedream models (docs: image generation API). Prices are BytePlus's per-image list
# prices for 4.0 ($0.03) and 4.5 ($0.04); 5.0's and 3.0's could not be verified, so they have none.
_MODELS = (
    _model(
        "seedream-4-0-250828", tiers=frozenset({"1K", "2K", "4K"}), params=_SEEDREAM4, price=0.03, pixels=_PIXELS_4_0,
        description="Seedream 4.0: generation, editing, up to 14 references",
    ),
    _model(
        "seedream-4-5-251128", tiers=frozenset({"2K", "4K"}), params=_SEEDREAM4, price=0.04, pixels=_PIXELS_4_5,
        description="Seedream 4.5",
    ),
    _model(
        "seedream-5-0-260128", tiers=frozenset({"2K", "3K"}), params=_SEEDREAM5, pixels=_PIXELS_5_0,
        description="Seedream 5.0 (png output, web search)",
    ),
    _model(
        "seedream-3-0-t2i-250415", params=_SEEDREAM3, operations=frozenset({"generate"}),
        description="Seedream 3.0 text-to-image (seed, guidance_scale)",
    ),
    _model(
        "seededit-3-0-i2i-250628", params=_SEEDREAM3, operations=frozenset({"edit"}), max_inputs=1,
        description="SeedEdit 3.0: edits one image (seed, guidance_scale)",
    ),
)  # fmt: skip

CATALOGUE = Catalogue(
    provider=PROVIDER,
    models={info.name: info for info in _MODELS},
    env={"api_key": ("BYTEPLUS_API_KEY", "ARK_API_KEY"), "api_base": ("BYTEPLUS_API_BASE",)},
    default_api_base=DEFAULT_API_BASE,
    unknown=lambda name: _model(name, known=False, description="a ModelArk model or endpoint id (ep-...) added since"),
)

_converter = make_converter()


@attrs.frozen
class _Failure:
    code: str | None = None
    message: str | None = None


@attrs.frozen
class _Datum:
    url: str | None = None
    b64_json: str | None = None
    size: str | None = None
    error: _Failure | None = None


@attrs.frozen
class _Usage:
    generated_images: int | None = None


@attrs.frozen
class _Payload:
    data: list[_Datum] = attrs.field(factory=list)
    created: int | None = None
    created_at: int | None = None
    usage: _Usage | None = None
    error: _Failure | None = None


@hookimpl
def model_catalogue() -> Catalogue:
    """ModelArk's Seedream models; other model ids (and ``ep-...`` endpoint ids) are forwarded as given."""
    return CATALOGUE


def _refuse(message: str, model: str, param: str) -> UnsupportedParamsError:
    return UnsupportedParamsError(message, provider=PROVIDER, model=model, param=param)


def _check_inputs(request: ImageRequest, model: ModelInfo) -> None:
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
    limit = model.inputs.max_images if model.inputs else None
    if limit is not None and len(request.images) > limit:
        raise _refuse(
            f"{len(request.images)} input images given; {model.name} takes at most {limit}", model.name, "image"
        )
    if request.mask is not None:
        raise _refuse("Seedream edits take no mask: describe the change in the prompt", model.name, "mask")


def _check_size(size: str, model: ModelInfo) -> None:
    tiers: frozenset[str] = model.extra.get("tiers", frozenset())
    pixels: tuple[int, int] | None = model.extra.get("pixels")
    if size in tiers or pixels is None:
        return
    low, high = pixels
    accepted = (
        f"{', '.join(sorted(tiers))}, or " if tiers else ""
    ) + f"WIDTHxHEIGHT with {low} to {high} pixels in total and an aspect ratio from 1:16 to 16:1"
    try:
        width, height = parse_size(size, provider=PROVIDER, model=model.name)
    except UnsupportedParamsError as exc:
        raise _refuse(
            f"size={size!r} is not supported by {model.name}; accepted: {accepted}", model.name, "size"
        ) from exc
    if not (low <= width * height <= high and max(width, height) <= _MAX_RATIO * min(width, height)):
        raise _refuse(f"size={size!r} is out of range for {model.name}; accepted: {accepted}", model.name, "size")


@hookimpl
def validate_params(request: ImageRequest, model: ModelInfo) -> None:
    """Check the request: the operation and inputs, ``size`` as a tier or within ModelArk's pixel rules."""
    _check_inputs(request, model)
    if "stream" in request.params:
        raise _refuse("stream is not supported: pixmux reads ModelArk's complete answer", model.name, "stream")
    check_request(request, model, provider=PROVIDER)
    if request.size is not None:
        _check_size(request.size, model)
    if (request.n or 1) > 1 and request.params.get("sequential_image_generation") == "auto":
        raise _refuse(
            "give n (one request per image) or sequential_image_generation='auto' with "
            "sequential_image_generation_options.max_images, not both",
            model.name,
            "n",
        )


def _data_url(data: bytes, media_type: str) -> str:
    """An image's bytes as a ``data:`` URL."""
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


@hookimpl
def build_request(request: ImageRequest, deployment: Deployment) -> list[httpx.Request]:
    """POST the JSON body to ``{api_base}/images/generations``, once per image asked for (ModelArk has no ``n``)."""
    api_base = (deployment.api_base or DEFAULT_API_BASE).rstrip("/")
    if not deployment.api_key and api_base == DEFAULT_API_BASE:
        raise AuthenticationError(
            "no ModelArk API key: set BYTEPLUS_API_KEY (or ARK_API_KEY) or pass api_key=",
            provider=PROVIDER,
            model=request.model,
        )
    headers = {"Authorization": f"Bearer {deployment.api_key}"} if deployment.api_key else {}
    body: dict[str, Any] = {"model": deployment.model, "prompt": request.prompt}
    if request.operation != "generate":
        urls = [_data_url(image.data, image.media_type) for image in request.images]
        body["image"] = urls[0] if len(urls) == 1 else urls
    for name in ("size", "quality", "response_format"):  # quality: only an unlisted model gets this far
        value = getattr(request, name)
        if value is not None:
            body[name] = value
    body.update(request.params)
    url = f"{api_base}/images/generations"
    return [httpx.Request("POST", url, headers=headers, json=body) for _ in range(request.n or 1)]


def expiry(url: str, created: int) -> float:
    """When a pre-signed result URL stops working: ``created`` plus its ``X-Tos-Expires`` (24 hours if absent)."""
    query = parse_qs(urlsplit(url).query)
    for key in ("X-Tos-Expires", "x-tos-expires"):
        found = query.get(key)
        if found and found[0].isdigit():
            return float(created + int(found[0]))
    return float(created + URL_LIFETIME)


def _sensitive(code: str | None) -> bool:
    return code is not None and _SENSITIVE in code


@hookimpl
def parse_response(response: httpx.Response, request: ImageRequest, model: ModelInfo) -> ImageResponse:
    """Read the images (URLs with their expiry, or base64); per-image moderation failures are reported or raised."""
    if response.is_error:
        raise error_for(response, model=model.name)
    body = read_json(response, provider=PROVIDER, model=model.name)
    payload = structure_json(
        body, _Payload, converter=_converter, provider=PROVIDER, model=model.name, what="a ModelArk images answer",
        response=response,
    )  # fmt: skip
    created = payload.created or payload.created_at or int(time.time())
    images = []
    failures: list[_Failure] = []
    for item in payload.data:
        if item.error is not None or not (item.url or item.b64_json):
            failures.append(item.error or _Failure(code="missing", message="no image"))
            continue
        expires = expiry(item.url, created) if item.url and not item.b64_json else None
        images.append(ImageObject(b64_json=item.b64_json or None, url=item.url or None, expires_at=expires))
    if payload.error is not None and not images:
        failures.append(payload.error)
    refused = tuple(Refusal(reason=f.code or "", message=f.message) for f in failures if _sensitive(f.code))
    metadata: dict[str, Any] = {}
    failed = [{"code": f.code, "message": f.message} for f in failures if not _sensitive(f.code)]
    if failed:
        metadata["failed_images"] = failed
    if payload.usage is not None and payload.usage.generated_images is not None:
        metadata["generated_images"] = payload.usage.generated_images
    if not images:
        if refused and (request.n or 1) > 1:  # one of several requests: the others' images survive
            return ImageResponse(created=created, metadata=metadata, refused=refused)
        message = "; ".join(f"{f.code}: {f.message}" for f in failures) or "no image"
        cls = ContentPolicyViolationError if refused else APIResponseValidationError
        raise cls(
            f"ModelArk returned no image: {message}",
            provider=PROVIDER,
            model=model.name,
            code=failures[0].code if failures else None,
            response=response,
            details=metadata,
        )
    return ImageResponse(created=created, data=tuple(images), metadata=metadata, refused=refused)


def error_for(response: httpx.Response, *, model: str) -> PixmuxError:
    """
    The typed error for ModelArk's ``{"error": {"code", "message", "param", "type"}}``.

    A ``*SensitiveContentDetected`` code (prompt, input image or output blocked) is a
    ``ContentPolicyViolationError``.
    """
    _, code, _ = provider_message(response)
    if _sensitive(code):
        return error_from_response(response, provider=PROVIDER, model=model, cls=ContentPolicyViolationError)
    return error_from_response(response, provider=PROVIDER, model=model)
