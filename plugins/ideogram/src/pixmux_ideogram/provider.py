"""
pixmux provider for Ideogram 3.0: ``ideogram/V_3``.

Ideogram's v3 endpoints take ``multipart/form-data`` (every field a form part, images as file
parts) and answer JSON with temporary URLs. What this module handles:

- **Endpoints** by operation: ``/v1/ideogram-v3/generate`` (``generate-transparent`` with
  ``background="transparent"``), ``/inpaint`` for an edit with a mask, ``/remix`` for an edit
  without one.
- **Size**: an ``aspect_ratio`` written ``16x9``; a ``WIDTHxHEIGHT`` size is sent as the nearest
  one (warned when the shape changes). ``n`` is ``num_images``.
- **Moderation**: HTTP 422, or HTTP 200 with ``is_image_safe: false`` and no URL.
- **Cost**: Ideogram's per-image price for the ``rendering_speed`` tier, times the images made.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs
import httpx
from pixmux import PixmuxWarning, hookimpl
from pixmux.catalogue import Catalogue, InputLimits, ModelInfo, check_request, nearest_aspect_ratio, parse_size
from pixmux.converters import make_converter, read_json, structure_json
from pixmux.dialects.openai_edits import multipart_request
from pixmux.exceptions import (
    APIResponseValidationError,
    AuthenticationError,
    ContentPolicyViolationError,
    PixmuxError,
    UnsupportedParamsError,
    error_from_response,
)
from pixmux.inputs import file_content
from pixmux.masks import provider_mask
from pixmux.types import Deployment, ImageObject, ImageRequest, ImageResponse, Refusal

__all__ = [
    "CATALOGUE",
    "DEFAULT_API_BASE",
    "ASPECT_RATIOS",
    "PRICES",
    "model_catalogue",
    "validate_params",
    "build_request",
    "parse_response",
]

PROVIDER = "ideogram"
MODEL = "V_3"
DEFAULT_API_BASE = "https://api.ideogram.ai"
#: Ideogram's aspect ratios (``W x H``, written with an ``x``).
ASPECT_RATIOS = (
    "1x3", "3x1", "1x2", "2x1", "9x16", "16x9", "10x16", "16x10", "2x3", "3x2", "3x4", "4x3", "4x5", "5x4", "1x1",
)  # fmt: skip
#: US dollars per image by ``rendering_speed``: plain, and with a transparent background (ideogram.ai API pricing).
PRICES: Mapping[str, Mapping[str, float]] = {
    "plain": {"FLASH": 0.03, "TURBO": 0.03, "DEFAULT": 0.06, "QUALITY": 0.09},
    "transparent": {"TURBO": 0.04, "DEFAULT": 0.07, "QUALITY": 0.10},
}
_MAX_INPUT_BYTES = 10 * 1024 * 1024
_APPROX_LIMIT = math.log(1.25)
_COMMON = frozenset(
    {"rendering_speed", "magic_prompt", "seed", "style_type", "style_preset", "style_codes", "color_palette"}
)
#: The form fields each endpoint takes besides prompt, num_images and the files.
_FIELDS: Mapping[str, frozenset[str]] = {
    "generate": _COMMON | {"aspect_ratio", "resolution", "negative_prompt", "custom_model_uri", "background"},
    "generate-transparent": frozenset(
        {"rendering_speed", "magic_prompt", "seed", "aspect_ratio", "negative_prompt", "upscale_factor", "background"}
    ),
    "inpaint": _COMMON,
    "remix": _COMMON | {"aspect_ratio", "resolution", "negative_prompt", "image_weight"},
}
_ALL_PARAMS = frozenset().union(*_FIELDS.values())
_INFO = ModelInfo(
    name=MODEL,
    qualities=frozenset(),
    styles=frozenset(),
    response_formats=frozenset({"url", "b64_json"}),  # b64_json: the core downloads the URL
    max_n=8,
    params=_ALL_PARAMS,
    param_values={
        "aspect_ratio": frozenset(ASPECT_RATIOS),
        "rendering_speed": frozenset({"FLASH", "TURBO", "DEFAULT", "QUALITY"}),
        "magic_prompt": frozenset({"AUTO", "ON", "OFF"}),
        "style_type": frozenset({"AUTO", "GENERAL", "REALISTIC", "DESIGN", "FICTION"}),
        "upscale_factor": frozenset({"X1", "X2", "X4"}),
        "background": frozenset({"transparent", "opaque", "auto"}),
    },
    param_ranges={"image_weight": (1, 100), "seed": (0, 2147483647)},
    description="Ideogram 3.0: text rendering, styles; inpaint (mask) and remix edits",
    operations=frozenset({"generate", "edit"}),
    inputs=InputLimits(
        max_images=1,
        max_bytes=_MAX_INPUT_BYTES,
        media_types=frozenset({"image/png", "image/jpeg", "image/webp"}),
        mask="optional",
        mask_same_size=True,
    ),
)


def _unknown(name: str) -> ModelInfo:
    return ModelInfo(
        name=name,
        known=False,
        retired=(
            f"{name!r} is not an Ideogram model this plugin serves: it calls Ideogram 3.0's endpoints "
            f"(model {MODEL!r}); the legacy V_1/V_2 JSON API is not supported"
        ),
    )


CATALOGUE = Catalogue(
    provider=PROVIDER,
    models={MODEL: _INFO},
    env={"api_key": ("IDEOGRAM_API_KEY",), "api_base": ("IDEOGRAM_API_BASE",)},
    default_api_base=DEFAULT_API_BASE,
    unknown=_unknown,
)

_converter = make_converter()


@attrs.frozen
class _Datum:
    url: str | None = None
    prompt: str | None = None
    is_image_safe: bool | None = None
    seed: int | None = None


@attrs.frozen
class _Payload:
    data: list[_Datum]
    created: str | None = None


@hookimpl
def model_catalogue() -> Catalogue:
    """Ideogram 3.0 (``V_3``); the legacy V_1/V_2 models are refused."""
    return CATALOGUE


def _refuse(message: str, param: str) -> UnsupportedParamsError:
    return UnsupportedParamsError(message, provider=PROVIDER, model=MODEL, param=param)


def endpoint(request: ImageRequest) -> str:
    """The v3 endpoint for a request: ``generate``, ``generate-transparent``, ``inpaint`` or ``remix``."""
    if request.operation == "edit":
        return "inpaint" if request.mask is not None else "remix"
    return "generate-transparent" if request.params.get("background") == "transparent" else "generate"


def _check_inputs(request: ImageRequest) -> None:
    if request.operation not in _INFO.operations:
        raise _refuse(f"Ideogram does not do {request.operation!r}; it does: edit, generate", "model")
    if request.operation == "generate":
        return
    if len(request.images) != 1:
        raise _refuse(f"an Ideogram edit takes exactly one input image, not {len(request.images)}", "image")
    for name, image in (("image", request.images[0]), ("mask", request.mask)):
        if image is None:
            continue
        if _INFO.inputs and _INFO.inputs.media_types and image.media_type not in _INFO.inputs.media_types:
            raise _refuse(f"{name} is {image.media_type}; Ideogram takes image/jpeg, image/png or image/webp", name)
        if image.size > _MAX_INPUT_BYTES:
            raise _refuse(f"{name} is {image.size} bytes; Ideogram takes at most 10 MB", name)


@hookimpl
def validate_params(request: ImageRequest, model: ModelInfo) -> ImageRequest | None:
    """Check the request against the endpoint it goes to; a ``WIDTHxHEIGHT`` size becomes ``aspect_ratio``."""
    check_request(request, model, provider=PROVIDER)
    _check_inputs(request)
    where = endpoint(request)
    for name in request.params:
        if name not in _FIELDS[where]:
            raise _refuse(
                f"{name} is not taken by Ideogram's {where} endpoint; it takes: {', '.join(sorted(_FIELDS[where]))}",
                name,
            )
    if request.size is None or request.size == "auto":
        return None if request.size is None else attrs.evolve(request, size=None)
    if where == "inpaint":
        raise _refuse("an inpaint keeps the input's size: size is not taken", "size")
    if "aspect_ratio" in request.params or "resolution" in request.params:
        raise _refuse("give size, aspect_ratio or resolution, not two of them", "size")
    accepted = "WIDTHxHEIGHT near one of the aspect ratios " + ", ".join(ASPECT_RATIOS)
    try:
        width, height = parse_size(request.size, provider=PROVIDER, model=MODEL)
    except UnsupportedParamsError as exc:
        raise _refuse(f"size={request.size!r} is not supported; accepted: {accepted}", "size") from exc
    ratio, off = nearest_aspect_ratio(width, height, [r.replace("x", ":") for r in ASPECT_RATIOS])
    if off > _APPROX_LIMIT:
        raise _refuse(f"size={request.size!r} is too far from every aspect ratio; accepted: {accepted}", "size")
    wire = ratio.replace(":", "x")
    if off > 1e-9:
        warnings.warn(
            f"size {request.size!r} sent as aspect_ratio {wire!r}: the nearest shape Ideogram makes",
            PixmuxWarning,
            stacklevel=2,
        )
    return attrs.evolve(request, size=None, params={**request.params, "aspect_ratio": wire})


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping | list):
        return json.dumps(value)
    return str(value)


@hookimpl
def build_request(request: ImageRequest, deployment: Deployment) -> httpx.Request:
    """POST a multipart form to the operation's v3 endpoint with the ``Api-Key`` header."""
    api_base = (deployment.api_base or DEFAULT_API_BASE).rstrip("/")
    if not deployment.api_key and api_base == DEFAULT_API_BASE:
        raise AuthenticationError(
            "no Ideogram API key: set IDEOGRAM_API_KEY or pass api_key=", provider=PROVIDER, model=request.model
        )
    headers = {"Api-Key": deployment.api_key} if deployment.api_key else {}
    where = endpoint(request)
    parts: list[tuple[str, tuple[Any, ...]]] = [("prompt", (None, request.prompt))]
    if request.n is not None:
        parts.append(("num_images", (None, str(request.n))))
    for name, value in request.params.items():
        if name == "background":
            continue  # it chose the endpoint; Ideogram has no such field
        if name == "style_codes" and isinstance(value, list):
            parts.extend((name, (None, str(code))) for code in value)
        else:
            parts.append((name, (None, _text(value))))
    if request.operation == "edit":
        image = request.images[0]
        parts.append(
            ("image", (image.filename or f"image.{_ext(image.media_type)}", file_content(image), image.media_type))
        )
        if request.mask is not None:  # OpenAI's alpha mask as Ideogram's own: black = edit
            mask = provider_mask(request.mask, edit="black", provider=PROVIDER, model=request.model)
            parts.append(("mask", (mask.filename or f"mask.{_ext(mask.media_type)}", mask.data, mask.media_type)))
    return multipart_request(f"{api_base}/v1/ideogram-v3/{where}", headers, {}, parts)


def _ext(media_type: str) -> str:
    return {"image/jpeg": "jpg", "image/webp": "webp"}.get(media_type, "png")


def _unix(created: str | None) -> int:
    if created:
        try:
            return int(datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp())
        except ValueError:
            pass
    return int(datetime.now().timestamp())


def expiry(url: str) -> float | None:
    """When an image URL stops working, where the URL says (an ``exp`` query parameter in Unix seconds)."""
    found = parse_qs(urlsplit(url).query).get("exp")
    if found and found[0].isdigit():
        return float(found[0])
    return None


def price(request: ImageRequest) -> float | None:
    """Ideogram's price for one image of this request (``None`` where it publishes none)."""
    speed = str(request.params.get("rendering_speed", "DEFAULT"))
    table = PRICES["transparent" if endpoint(request) == "generate-transparent" else "plain"]
    return table.get(speed)


@hookimpl
def parse_response(response: httpx.Response, request: ImageRequest, model: ModelInfo) -> ImageResponse:
    """Read the URLs and the prompts used; images withheld as unsafe are reported, all withheld is a refusal."""
    if response.is_error:
        raise error_for(response)
    body = read_json(response, provider=PROVIDER, model=model.name)
    payload = structure_json(
        body, _Payload, converter=_converter, provider=PROVIDER, model=model.name, what="an Ideogram answer",
        response=response,
    )  # fmt: skip
    images = []
    refused = []
    for item in payload.data:
        if item.is_image_safe is False or not item.url:
            refused.append(Refusal(reason="is_image_safe: false", message="Ideogram withheld the image as unsafe"))
            continue
        images.append(ImageObject(url=item.url, revised_prompt=item.prompt or None, expires_at=expiry(item.url)))
    metadata: dict[str, Any] = {}
    seeds = [item.seed for item in payload.data if item.seed is not None]
    if seeds:
        metadata["seeds"] = seeds
    if not images:
        if refused:
            raise ContentPolicyViolationError(
                "Ideogram withheld every image as unsafe (is_image_safe: false)",
                provider=PROVIDER,
                model=model.name,
                code="content_policy_violation",
                response=response,
                details={"refused": len(refused)},
            )
        raise APIResponseValidationError(
            "Ideogram answered 200 but returned no image", provider=PROVIDER, model=model.name, response=response
        )
    each = price(request)
    cost = None if each is None else round(each * len(images), 10)
    return ImageResponse(
        created=_unix(payload.created), data=tuple(images), cost=cost, metadata=metadata, refused=tuple(refused)
    )


def error_for(response: httpx.Response) -> PixmuxError:
    """The typed error for an Ideogram error answer; 422 (the safety check failed) is a content-policy refusal."""
    if response.status_code == 422:
        return error_from_response(response, provider=PROVIDER, model=MODEL, cls=ContentPolicyViolationError)
    return error_from_response(response, provider=PROVIDER, model=MODEL)
