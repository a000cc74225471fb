"""
pixmux provider for Stability AI's v2beta Stable Image API: ``stability/<service>``
(``stability/stable-image-ultra``, ``stability/sd3.5-large``, ``stability/edit/inpaint``).

Each model name is one of Stability's services (:data:`pixmux_stability._catalogue.SERVICES`).
What this module handles:

- **Multipart** requests (every field a form part, images as file parts), built by httpx.
- ``Accept: application/json``: the image comes back as base64 with its ``finish_reason`` and
  ``seed``; a raw image body (``Accept: image/*`` through a proxy) is read too.
- **One image per request**: ``n`` sends that many requests.
- **Sizes** become the nearest of the nine aspect ratios (warned when the shape changes).
- **Edits**: ``edit/...`` and ``upscale/...`` services take the input image (and a mask for
  inpaint and erase); Ultra and SD3.5 do image-to-image with ``strength``.
- **Async** services (``edit/replace-background-and-relight``, ``upscale/creative``) answer an id:
  pixmux polls ``/v2beta/results/{id}`` (202 while running) through follow-ups.
- **Refusals**: HTTP 403 ``content_moderation`` (input refused, not charged), 422
  ``public_figure``, or HTTP 200 with ``finish_reason: CONTENT_FILTERED`` (a blurred image).
"""

from __future__ import annotations

import base64
import binascii
import math
import time
import warnings
from typing import Any

import attrs
import httpx
from pixmux import PixmuxWarning, hookimpl
from pixmux.catalogue import Catalogue, ModelInfo, check_request, nearest_aspect_ratio, parse_size
from pixmux.converters import read_json
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
from pixmux.types import Deployment, FollowUp, ImageObject, ImageRequest, ImageResponse, Refusal, image_extension

from pixmux_stability._catalogue import (
    ASPECT_RATIOS,
    CATALOGUE,
    DEFAULT_API_BASE,
    POLL_INTERVAL,
    PROVIDER,
    SERVICES,
    Service,
)

__all__ = [
    "CATALOGUE",
    "DEFAULT_API_BASE",
    "SERVICES",
    "model_catalogue",
    "validate_params",
    "build_request",
    "parse_response",
]

_APPROX_LIMIT = math.log(1.25)
_FILTERED = "CONTENT_FILTERED"
#: Error names that are a moderation refusal.
_POLICY_NAMES = frozenset({"content_moderation", "public_figure"})
_MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
_Part = tuple[str, "tuple[str | None, str] | tuple[str, bytes, str]"]


@hookimpl
def model_catalogue() -> Catalogue:
    """Stability's generate, edit and upscale services, one model name each."""
    return CATALOGUE


def _refuse(message: str, model: str, param: str) -> UnsupportedParamsError:
    return UnsupportedParamsError(message, provider=PROVIDER, model=model, param=param)


def _service(model: ModelInfo) -> Service:
    found = model.extra.get("service")
    if not isinstance(found, Service):
        raise _refuse(
            f"{model.name!r} is not a Stability service; services: {', '.join(sorted(SERVICES))}", model.name, "model"
        )
    return found


def _check_inputs(request: ImageRequest, model: ModelInfo, service: Service) -> None:
    if request.operation not in model.operations:
        if request.operation == "generate":
            hint = f"{model.name} works on an input image: call it as an edit"
        else:
            hint = f"{model.name} does not do {request.operation!r}; it does: {', '.join(sorted(model.operations))}"
        raise _refuse(hint, model.name, "model")
    if request.operation == "generate":
        return
    limit = 2 if service.second_image_field else 1
    if not 1 <= len(request.images) <= limit:
        raise _refuse(
            f"{model.name} takes {'one or two input images' if limit == 2 else 'one input image'}, "
            f"not {len(request.images)}",
            model.name,
            "image",
        )
    limits = model.inputs
    for name, image in [*(("image", image) for image in request.images), ("mask", request.mask)]:
        if image is None or limits is None:
            continue
        if limits.media_types and image.media_type not in limits.media_types:
            raise _refuse(
                f"{name} is {image.media_type}; Stability takes image/jpeg, image/png or image/webp", model.name, name
            )
        if limits.max_bytes and image.size > limits.max_bytes:
            raise _refuse(f"{name} is {image.size} bytes; a Stability request holds at most 10 MiB", model.name, name)
    if request.mask is not None and not service.mask:
        raise _refuse(f"{model.name} takes no mask (edit/inpaint and edit/erase do)", model.name, "mask")
    if service.image_field is None and "strength" not in request.params:
        raise _refuse(
            f"an image-to-image edit with {model.name} needs strength (0 to 1: how much of the input to change)",
            model.name,
            "strength",
        )


@hookimpl
def validate_params(request: ImageRequest, model: ModelInfo, deployment: Deployment) -> ImageRequest | None:
    """Check the request against its service; a ``WIDTHxHEIGHT`` size becomes the nearest ``aspect_ratio``."""
    service = _service(model)
    _interval(deployment)  # before anything is submitted: a bad setting must not strand a paid job
    _check_inputs(request, model, service)
    needs_prompt = service.prompt not in ("optional", "none")
    check_request(
        request if needs_prompt or request.prompt.strip() else attrs.evolve(request, prompt="-"),
        model,
        provider=PROVIDER,
    )
    if "strength" in request.params and request.operation == "generate":
        raise _refuse("strength is for an image-to-image edit: give an input image", model.name, "strength")
    for name in sorted(service.required - set(request.params)):
        raise _refuse(f"{model.name} needs {name}", model.name, name)
    if service.path.endswith("outpaint") and not any(
        request.params.get(side) for side in ("left", "right", "up", "down")
    ):
        raise _refuse("edit/outpaint needs at least one of left, right, up, down (pixels to add)", model.name, "left")
    if request.size is None or request.size == "auto":
        return None if request.size is None else attrs.evolve(request, size=None)
    if request.operation != "generate":
        raise _refuse(f"{model.name} keeps the input's size: size is not taken", model.name, "size")
    if "aspect_ratio" in request.params:
        raise _refuse("give size or aspect_ratio, not both", model.name, "size")
    accepted = "WIDTHxHEIGHT near one of the aspect ratios " + ", ".join(ASPECT_RATIOS)
    try:
        width, height = parse_size(request.size, provider=PROVIDER, model=model.name)
    except UnsupportedParamsError as exc:
        raise _refuse(f"size={request.size!r} is not supported; accepted: {accepted}", model.name, "size") from exc
    ratio, off = nearest_aspect_ratio(width, height, ASPECT_RATIOS)
    if off > _APPROX_LIMIT:
        raise _refuse(
            f"size={request.size!r} is too far from every aspect ratio; accepted: {accepted}", model.name, "size"
        )
    if off > 1e-9:
        warnings.warn(
            f"size {request.size!r} sent as aspect_ratio {ratio!r}: the nearest shape {model.name} makes",
            PixmuxWarning,
            stacklevel=2,
        )
    return attrs.evolve(request, size=None, params={**request.params, "aspect_ratio": ratio})


def _api_base(deployment: Deployment) -> str:
    return (deployment.api_base or DEFAULT_API_BASE).rstrip("/")


def _headers(deployment: Deployment) -> dict[str, str]:
    headers = {"Accept": "application/json"}
    if deployment.api_key:
        headers["Authorization"] = f"Bearer {deployment.api_key}"
    return headers


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _file(image: Any, stem: str) -> tuple[str, Any, str]:
    ext = {"image/jpeg": "jpg", "image/webp": "webp"}.get(image.media_type, "png")
    return (image.filename or f"{stem}.{ext}", file_content(image), image.media_type)


@hookimpl
def build_request(request: ImageRequest, deployment: Deployment, model: ModelInfo) -> list[httpx.Request]:
    """POST a multipart form to ``{api_base}/v2beta/<service path>``, once per image asked for."""
    service = _service(model)
    api_base = _api_base(deployment)
    if not deployment.api_key and api_base == DEFAULT_API_BASE:
        raise AuthenticationError(
            "no Stability API key: set STABILITY_API_KEY or pass api_key=", provider=PROVIDER, model=request.model
        )
    parts: list[Any] = []
    if request.prompt and service.prompt != "none":
        field = "prompt" if service.prompt in ("required", "optional") else service.prompt
        parts.append((field, (None, request.prompt)))
    if service.sd3_model:
        parts.append(("model", (None, service.sd3_model)))
        if request.operation == "edit":
            parts.append(("mode", (None, "image-to-image")))
    parts.extend((name, (None, _text(value))) for name, value in request.params.items())
    if request.operation != "generate":
        parts.append((service.image_field or "image", _file(request.images[0], "image")))
        if len(request.images) > 1 and service.second_image_field:
            parts.append((service.second_image_field, _file(request.images[1], "reference")))
        if request.mask is not None:  # OpenAI's alpha mask as Stability's own: white = edit
            mask = provider_mask(request.mask, edit="white", provider="stability", model=request.model)
            parts.append(("mask", _file(mask, "mask")))
    url = f"{api_base}/v2beta/{service.path}"
    headers = _headers(deployment)
    # built now, each with the image's own bytes (or an upload's pieces) uncopied: n requests share them
    return [multipart_request(url, headers, {}, parts) for _ in range(request.n or 1)]


def poll_request(deployment: Deployment, generation_id: str) -> httpx.Request:
    """The ``GET /v2beta/results/{id}`` request for an async generation."""
    return httpx.Request("GET", f"{_api_base(deployment)}/v2beta/results/{generation_id}", headers=_headers(deployment))


def _interval(deployment: Deployment) -> float:
    value = deployment.setting("poll_interval", POLL_INTERVAL)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
        raise UnsupportedParamsError(
            f"poll_interval={value!r} must be a number of seconds (0 or more)", provider=PROVIDER, param="poll_interval"
        )
    return float(value)


@hookimpl
def parse_response(
    response: httpx.Response, request: ImageRequest, deployment: Deployment, model: ModelInfo
) -> ImageResponse | FollowUp:
    """Read the image (JSON base64 or raw bytes), poll async results, and type refusals and errors."""
    if response.is_error:
        raise error_for(response, model=model.name)
    polling = "/v2beta/results/" in response.request.url.path
    if polling and response.status_code == 202:
        polled = response.request.url.path.rsplit("/", 1)[-1]
        return FollowUp(request=poll_request(deployment, polled), after=_interval(deployment))
    content_type = response.headers.get("content-type", "")
    generation_id: str | None
    if content_type.startswith("image/"):
        data = response.content
        finish = response.headers.get("finish-reason")
        seed: Any = response.headers.get("seed")
        b64 = base64.b64encode(data).decode("ascii")
        generation_id = None
    else:
        body = read_json(response, provider=PROVIDER, model=model.name)
        if not isinstance(body, dict):
            raise APIResponseValidationError(
                "the response is not a Stability answer (a JSON object)",
                provider=PROVIDER,
                model=model.name,
                response=response,
            )
        image = body.get("image") or body.get("result")
        generation_id = body.get("id") if isinstance(body.get("id"), str) else None
        if image is None and generation_id and not polling:
            service = _service(model)
            if service.asynchronous:  # accepted: from here on the job is polled, never resubmitted
                return FollowUp(request=poll_request(deployment, generation_id), after=_interval(deployment))
        if not isinstance(image, str) or not image:
            raise APIResponseValidationError(
                "Stability answered 200 but returned no image", provider=PROVIDER, model=model.name, response=response
            )
        try:
            data = base64.b64decode(image, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise APIResponseValidationError(
                f"the image is not valid base64: {exc}", provider=PROVIDER, model=model.name, response=response
            ) from exc
        b64 = image
        finish = body.get("finish_reason")
        seed = body.get("seed")
    metadata: dict[str, Any] = {}
    request_id = response.headers.get("x-request-id")
    if request_id:
        metadata["request_id"] = request_id
    if generation_id:
        metadata["generation_id"] = generation_id
    if seed is not None:
        metadata["seeds"] = [int(seed) if str(seed).isdigit() else seed]
    if finish == _FILTERED:
        refusal = Refusal(reason=_FILTERED, message="Stability blurred the image: it violated its policy")
        if (request.n or 1) > 1:  # one of several requests: the others' images survive
            return ImageResponse(created=int(time.time()), metadata=metadata, refused=(refusal,))
        raise ContentPolicyViolationError(
            "Stability filtered the image (finish_reason CONTENT_FILTERED: the result was blurred)",
            provider=PROVIDER,
            model=model.name,
            code=_FILTERED,
            response=response,
            details=metadata,
        )
    if request.response_format == "url":
        mime = _MIME.get(image_extension(data), "application/octet-stream")
        picture = ImageObject(url=f"data:{mime};base64,{b64}")
    else:
        picture = ImageObject(b64_json=b64)
    return ImageResponse(created=int(time.time()), data=(picture,), metadata=metadata)


def error_for(response: httpx.Response, *, model: str) -> PixmuxError:
    """
    The typed error for Stability's ``{"id", "name", "errors": [...]}``.

    ``content_moderation`` (403) and ``public_figure`` (422) are ``ContentPolicyViolationError``.
    """
    name: str | None = None
    message: str | None = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        found = body.get("name")
        name = found if isinstance(found, str) else None
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            message = "; ".join(str(item) for item in errors)
        elif isinstance(body.get("message"), str):
            message = body["message"]
        if name and message:
            message = f"{name}: {message}"
    cls = ContentPolicyViolationError if name in _POLICY_NAMES else None
    error = error_from_response(response, provider=PROVIDER, model=model, message=message, cls=cls)
    if name:
        error.code = name
    return error
