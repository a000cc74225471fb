"""
pixmux provider for Together AI's image generation: ``together/<model id>``
(``together/black-forest-labs/FLUX.1-schnell``).

Together's ``/v1/images/generations`` looks like OpenAI's but differs in detail; this module
handles the differences:

- **Size** is ``width`` and ``height`` in pixels (multiples of 8): a ``WIDTHxHEIGHT`` size is
  split, and rounded to multiples of 8 with a warning.
- ``response_format`` is ``url`` or **``base64``** (not ``b64_json``).
- **Native knobs**: ``steps``, ``seed``, ``negative_prompt``, ``guidance_scale``,
  ``output_format``, ``aspect_ratio``, ``image_loras``, ``disable_safety_checker``.
- **Edits** use the same endpoint: the input image goes in ``image_url`` (FLUX.1 Kontext) or
  ``reference_images`` (FLUX.2), as a ``data:`` URL.
- **Answer**: ``{"id", "model", "object": "list", "data": [{"index", "type", "b64_json" | "url"}]}``,
  without ``created`` (pixmux fills in the time it read the answer) and without any cost.
"""

from __future__ import annotations

import base64
import time
import warnings
from typing import Any

import attrs
import httpx
from pixmux import PixmuxWarning, hookimpl
from pixmux.catalogue import Catalogue, InputLimits, ModelInfo, check_request, parse_size
from pixmux.converters import make_converter, read_json, structure_json
from pixmux.exceptions import (
    AuthenticationError,
    ContentPolicyViolationError,
    PixmuxError,
    UnsupportedParamsError,
    error_from_response,
    provider_message,
)
from pixmux.types import Deployment, ImageObject, ImageRequest, ImageResponse, Refusal

__all__ = ["CATALOGUE", "DEFAULT_API_BASE", "model_catalogue", "validate_params", "build_request", "parse_response"]

PROVIDER = "together"
DEFAULT_API_BASE = "https://api.together.xyz/v1"
#: Width and height must be multiples of this.
_STEP = 8
_MIN_SIDE = 64
_MAX_SIDE = 2048
#: Together's ``response_format`` names for OpenAI's.
_FORMATS = {"url": "url", "b64_json": "base64"}
#: The native parameters every listed model takes (Together's request schema).
_NATIVE = frozenset(
    {"steps", "seed", "negative_prompt", "guidance_scale", "output_format", "aspect_ratio", "image_loras",
     "disable_safety_checker"}
)  # fmt: skip
_CONTENT_POLICY_WORDS = ("nsfw", "safety", "content policy", "moderation", "inappropriate")


def _model(
    name: str,
    *,
    known: bool = True,
    edit_field: str | None = None,
    max_inputs: int | None = None,
    description: str = "",
) -> ModelInfo:
    """One model; ``edit_field`` names the body field its input images go in (``None``: it does not edit)."""
    return ModelInfo(
        name=name,
        known=known,
        qualities=frozenset() if known else None,
        styles=frozenset(),
        response_formats=frozenset(_FORMATS),
        max_n=4,
        params=_NATIVE if known else None,
        param_values={"output_format": frozenset({"jpeg", "png"})},
        param_ranges={"steps": (1, 50)},
        description=description,
        extra={"edit_field": edit_field},
        operations=frozenset({"generate", "edit"}) if edit_field else frozenset({"generate"}),
        inputs=InputLimits(max_images=max_inputs, mask="none") if edit_field else None,
    )


# Together's serverless image models (docs: images overview and reference images). Together bills
# per megapixel (times steps for some models); its per-model rates could not be verified on its
# pricing page, and the answer reports no cost, so none is listed: resp.cost is None.
_MODELS = (
    _model("black-forest-labs/FLUX.1-schnell", description="FLUX.1 [schnell] (4 steps by default)"),
    _model("black-forest-labs/FLUX.1.1-pro", description="FLUX1.1 [pro]"),
    _model("black-forest-labs/FLUX.1-kontext-pro", edit_field="image_url", max_inputs=1, description="Kontext [pro]"),
    _model("black-forest-labs/FLUX.1-kontext-max", edit_field="image_url", max_inputs=1, description="Kontext [max]"),
    _model("black-forest-labs/FLUX.2-pro", edit_field="reference_images", description="FLUX.2 [pro]"),
    _model("black-forest-labs/FLUX.2-flex", edit_field="reference_images", description="FLUX.2 [flex]"),
    _model("black-forest-labs/FLUX.2-dev", edit_field="reference_images", description="FLUX.2 [dev]"),
    _model("black-forest-labs/FLUX.2-max", description="FLUX.2 [max]"),
)  # fmt: skip

CATALOGUE = Catalogue(
    provider=PROVIDER,
    models={info.name: info for info in _MODELS},
    env={"api_key": ("TOGETHER_API_KEY",), "api_base": ("TOGETHER_API_BASE",)},
    default_api_base=DEFAULT_API_BASE,
    unknown=lambda name: _model(
        name, known=False, edit_field="reference_images", description="a model Together may have added since"
    ),
)

_converter = make_converter()


@attrs.frozen
class _Datum:
    type: str | None = None
    b64_json: str | None = None
    url: str | None = None


@attrs.frozen
class _Payload:
    data: list[_Datum]
    id: str | None = None


@hookimpl
def model_catalogue() -> Catalogue:
    """Together's serverless FLUX models; other model ids are forwarded as given."""
    return CATALOGUE


def _refuse(message: str, model: str, param: str) -> UnsupportedParamsError:
    return UnsupportedParamsError(message, provider=PROVIDER, model=model, param=param)


def _check_inputs(request: ImageRequest, model: ModelInfo) -> None:
    if request.operation not in model.operations:
        editors = sorted(name for name, info in CATALOGUE.models.items() if request.operation in info.operations)
        raise _refuse(
            f"{model.name} does not do {request.operation!r}"
            + (f"; models that do: {', '.join(editors)}" if editors else ""),
            model.name,
            "model",
        )
    if request.operation == "generate":
        return
    if not request.images:
        raise _refuse("an edit needs at least one input image", model.name, "image")
    limit = model.inputs.max_images if model.inputs else None
    if limit is not None and len(request.images) > limit:
        raise _refuse(f"{len(request.images)} input images given; {model.name} takes {limit}", model.name, "image")
    if request.mask is not None:
        raise _refuse(
            "Together offers no masked inpainting: describe the change in the prompt (FLUX Kontext)", model.name, "mask"
        )


@hookimpl
def validate_params(request: ImageRequest, model: ModelInfo) -> None:
    """Check the request; ``size`` must be ``WIDTHxHEIGHT`` from 64 to 2048 pixels a side."""
    _check_inputs(request, model)
    check_request(request, model, provider=PROVIDER)
    if request.size is not None and request.size != "auto":
        if "aspect_ratio" in request.params:
            raise _refuse("give size or aspect_ratio, not both", model.name, "size")
        width, height = parse_size(request.size, provider=PROVIDER, model=model.name)
        if not (_MIN_SIDE <= width <= _MAX_SIDE and _MIN_SIDE <= height <= _MAX_SIDE):
            raise _refuse(
                f"size={request.size!r} is out of range; accepted: WIDTHxHEIGHT with each side from "
                f"{_MIN_SIDE} to {_MAX_SIDE}",
                model.name,
                "size",
            )
        rounded = _rounded(width, height)
        if rounded != (width, height):
            warnings.warn(
                f"size {request.size!r} sent as {rounded[0]}x{rounded[1]}: Together's sides are multiples of {_STEP}",
                PixmuxWarning,
                stacklevel=2,
            )


def _rounded(width: int, height: int) -> tuple[int, int]:
    return _STEP * max(1, round(width / _STEP)), _STEP * max(1, round(height / _STEP))


def _data_url(data: bytes, media_type: str) -> str:
    """An image's bytes as a ``data:`` URL."""
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


@hookimpl
def build_request(request: ImageRequest, deployment: Deployment, model: ModelInfo) -> httpx.Request:
    """POST the JSON body to ``{api_base}/images/generations`` (edits too) with a bearer token."""
    api_base = (deployment.api_base or DEFAULT_API_BASE).rstrip("/")
    if not deployment.api_key and api_base == DEFAULT_API_BASE:
        raise AuthenticationError(
            "no Together API key: set TOGETHER_API_KEY or pass api_key=", provider=PROVIDER, model=request.model
        )
    headers = {"Authorization": f"Bearer {deployment.api_key}"} if deployment.api_key else {}
    body: dict[str, Any] = {"model": deployment.model, "prompt": request.prompt}
    if request.size is not None and request.size != "auto":
        width, height = parse_size(request.size, provider=PROVIDER, model=model.name)
        body["width"], body["height"] = _rounded(width, height)
    if request.n is not None:
        body["n"] = request.n
    if request.response_format is not None:
        body["response_format"] = _FORMATS.get(request.response_format, request.response_format)
    if request.quality is not None:  # only an unlisted model gets this far with one
        body["quality"] = request.quality
    body.update(request.params)
    if request.operation != "generate":
        urls = [_data_url(image.data, image.media_type) for image in request.images]
        if model.extra.get("edit_field") == "image_url":
            body["image_url"] = urls[0]
        else:
            body["reference_images"] = urls
    return httpx.Request("POST", f"{api_base}/images/generations", headers=headers, json=body)


@hookimpl
def parse_response(response: httpx.Response, request: ImageRequest, model: ModelInfo) -> ImageResponse:
    """Read the ``b64_json``/``url`` items; fewer images than asked are reported, none at all is a refusal."""
    if response.is_error:
        raise error_for(response, model=model.name)
    body = read_json(response, provider=PROVIDER, model=model.name)
    payload = structure_json(
        body, _Payload, converter=_converter, provider=PROVIDER, model=model.name, what="a Together images answer",
        response=response,
    )  # fmt: skip
    images = tuple(
        ImageObject(b64_json=item.b64_json or None, url=None if item.b64_json else item.url)
        for item in payload.data
        if item.b64_json or item.url
    )
    metadata: dict[str, Any] = {}
    if payload.id:
        metadata["request_id"] = payload.id
    asked = request.n or 1
    refused = tuple(
        Refusal(reason="missing", message="Together returned fewer images than asked (its safety checker)")
        for _ in range(max(0, asked - len(images)))
    )
    if not images:
        raise ContentPolicyViolationError(
            "Together returned no image (its safety checker withholds flagged images)",
            provider=PROVIDER,
            model=model.name,
            code="content_policy_violation",
            response=response,
            details={"refused": len(refused)},
        )
    return ImageResponse(created=int(time.time()), data=images, metadata=metadata, refused=refused)


def error_for(response: httpx.Response, *, model: str) -> PixmuxError:
    """The typed error for Together's ``{"error": {"message", "type", "param", "code"}}``; NSFW refusals are typed."""
    message, code, _ = provider_message(response)
    if 400 <= response.status_code < 500 and response.status_code not in (401, 403, 404, 429):
        text = f"{code or ''} {message}".lower()
        if any(word in text for word in _CONTENT_POLICY_WORDS):
            return error_from_response(response, provider=PROVIDER, model=model, cls=ContentPolicyViolationError)
    return error_from_response(response, provider=PROVIDER, model=model)
