"""
pixmux provider for Black Forest Labs' FLUX API: ``bfl/<endpoint>`` (``bfl/flux-2-pro``, ``bfl/flux-kontext-pro`` ...).

BFL's API is asynchronous. ``build_request`` submits a task (``POST /v1/<endpoint>``, key in
``x-key``); ``parse_response`` reads the answer's ``polling_url`` and returns a
:class:`~pixmux.types.FollowUp` that polls it until the task is ``Ready``. The result is a signed
URL that expires about ten minutes later; the image's ``expires_at`` says when.

- **One task per image**: BFL has no ``n``; ``n`` submits that many tasks (a given ``seed`` is
  incremented per image, or every image would be the same).
- **Sizes**: ``size`` becomes ``width``/``height`` (rounded to the model's step, with a warning)
  on FLUX.2 and FLUX.1, and the nearest ``aspect_ratio`` on Kontext and Ultra.
- **Edits**: FLUX.2 takes up to 8 reference images (``input_image`` … ``input_image_8``),
  Kontext one; Fill (``flux-pro-1.0-fill``) takes an image and a mask, Expand
  (``flux-pro-1.0-expand``) an image and ``top``/``bottom``/``left``/``right``. Images go as base64.
- **Refusals**: a poll answering ``Request Moderated`` or ``Content Moderated`` is a
  ``ContentPolicyViolationError``.
- **Cost**: the submit answer's ``cost`` (credits, US$0.01 each), carried to the final answer.
- **No cancel**: BFL documents no way to cancel a task.
"""

from __future__ import annotations

import base64
import math
import time
import warnings
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import attrs
import httpx
from pixmux import PixmuxWarning, hookimpl
from pixmux.catalogue import Catalogue, ModelInfo, check_request, nearest_aspect_ratio, parse_size
from pixmux.converters import make_converter, read_json, structure_json
from pixmux.exceptions import (
    APIResponseValidationError,
    AuthenticationError,
    ContentPolicyViolationError,
    InternalServerError,
    NotFoundError,
    PixmuxError,
    UnprocessableEntityError,
    UnsupportedParamsError,
    error_from_response,
    provider_message,
)
from pixmux.masks import provider_mask
from pixmux.types import Deployment, FollowUp, ImageObject, ImageRequest, ImageResponse, Refusal

from pixmux_bfl._catalogue import (
    ASPECT_RATIOS,
    CATALOGUE,
    DEFAULT_API_BASE,
    PROVIDER,
    USD_PER_CREDIT,
)

__all__ = [
    "CATALOGUE",
    "DEFAULT_API_BASE",
    "URL_LIFETIME",
    "model_catalogue",
    "validate_params",
    "build_request",
    "parse_response",
]

#: Seconds a result URL works after the task is done (BFL: "expires after about 10 minutes").
URL_LIFETIME = 600.0
#: Seconds before the first poll and between polls (BFL's examples poll every 0.5 s; the core backs off).
POLL_INTERVAL = 0.5
#: Where the submit answer's ``cost`` rides from the submit to the poll that ends the task.
_COST_KEY = "pixmux_bfl_cost"
_MODERATED = frozenset({"Request Moderated", "Content Moderated"})
_PENDING = frozenset({"Pending", "Queued", "Processing"})
_FAILED = frozenset({"Error", "Failed"})
_SIDES = ("top", "bottom", "left", "right")
_converter = make_converter()


@attrs.frozen
class _Submitted:
    id: str
    polling_url: str | None = None
    cost: float | None = None


@hookimpl
def model_catalogue() -> Catalogue:
    """BFL's hosted FLUX endpoints with their sizes, parameters, edit inputs and prices."""
    return CATALOGUE


def _bad(message: str, model: str, param: str) -> UnsupportedParamsError:
    return UnsupportedParamsError(message, provider=PROVIDER, model=model, param=param)


def _snap(value: int, low: int, high: int, step: int) -> int:
    return max(low, min(high, int(value / step + 0.5) * step))  # half up: 1000 -> 1008 in steps of 16


def _map_size(request: ImageRequest, info: ModelInfo) -> ImageRequest:
    """``size`` as the model's own fields (width/height or aspect_ratio), with a warning where approximated."""
    size, rule, name = request.size, info.extra.get("size_rule"), info.name
    if size is None or size == "auto" or rule == "none":
        return request if size != "auto" else attrs.evolve(request, size=None)
    owned = ("width", "height") if rule == "pixels" else ("aspect_ratio",)
    for field in owned:
        if field in request.params:
            raise _bad(f"give either size or {field}, not both", name, field)
    width, height = parse_size(size, provider=PROVIDER, model=name)
    if rule == "ratio":
        ratio, off = nearest_aspect_ratio(width, height, ASPECT_RATIOS)
        if off > 0.01:
            warnings.warn(f"{name}: size {size!r} sent as aspect_ratio {ratio!r}", PixmuxWarning, stacklevel=3)
        return attrs.evolve(request, size=None, params={**request.params, "aspect_ratio": ratio})
    low, high, step = info.extra.get("side") or (64, 2048, 16)
    sent = (_snap(width, low, high, step), _snap(height, low, high, step))
    if sent != (width, height):
        warnings.warn(
            f"{name}: size {size!r} sent as {sent[0]}x{sent[1]} (sides {low}-{high}, multiples of {step})",
            PixmuxWarning,
            stacklevel=3,
        )
    return attrs.evolve(request, size=None, params={**request.params, "width": sent[0], "height": sent[1]})


def _check_inputs(request: ImageRequest, info: ModelInfo) -> None:
    name = info.name
    if info.known and request.operation not in info.operations:
        raise _bad(
            f"{name} does not do {request.operation!r}; it does: {', '.join(sorted(info.operations))}",
            name,
            "operation",
        )
    if request.operation == "variation":
        raise _bad("BFL has no variations endpoint; use an edit with a prompt", name, "operation")
    if request.operation == "edit" and not request.images:
        raise _bad(f"an edit on {name} needs an input image", name, "image")
    limits = info.inputs
    if limits is not None and limits.max_images is not None and len(request.images) > limits.max_images:
        raise _bad(f"{name} takes at most {limits.max_images} input image(s), not {len(request.images)}", name, "image")
    if request.mask is not None and info.extra.get("family") != "fill":
        raise _bad(f"{name} takes no mask (inpainting is flux-pro-1.0-fill)", name, "mask")


@hookimpl
def validate_params(request: ImageRequest, model: ModelInfo) -> ImageRequest | None:
    """Check operation, inputs, parameters and ranges; map ``size`` to width/height or an aspect ratio."""
    _check_inputs(request, model)
    mapped = _map_size(request, model)
    check_request(mapped, model, provider=PROVIDER)
    params, name = mapped.params, model.name
    for field in ("seed", "width", "height", "steps", "top", "bottom", "left", "right", "safety_tolerance"):
        value = params.get(field)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise _bad(f"{field}={value!r} must be a whole number", name, field)
    for field in ("prompt_upsampling", "raw"):
        if field in params and not isinstance(params[field], bool):
            raise _bad(f"{field}={params[field]!r} must be true or false", name, field)
    tolerance = params.get("safety_tolerance")
    if model.extra.get("family") == "kontext" and mapped.images and tolerance is not None and tolerance > 2:
        raise _bad(f"safety_tolerance={tolerance} is capped at 2 when {name} edits an image", name, "safety_tolerance")
    return None if mapped == request else mapped


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _body(request: ImageRequest, info: ModelInfo, index: int) -> dict[str, Any]:
    family = info.extra.get("family")
    body: dict[str, Any] = {"prompt": request.prompt}
    body.update(request.params)
    if index and isinstance(body.get("seed"), int):
        body["seed"] += index  # the same seed would make the same image n times
    images = [_b64(image.data) for image in request.images]
    if family in ("fill", "expand"):
        if images:
            body["image"] = images[0]
        if request.mask is not None:  # OpenAI's alpha mask as Fill's own: white = inpaint
            body["mask"] = _b64(provider_mask(request.mask, edit="white", provider="bfl", model=request.model).data)
    else:
        for number, image in enumerate(images, start=1):
            body["input_image" if number == 1 else f"input_image_{number}"] = image
    return body


def _headers(deployment: Deployment) -> dict[str, str]:
    headers = {"accept": "application/json"}
    if deployment.api_key:
        headers["x-key"] = deployment.api_key
    return headers


@hookimpl
def build_request(request: ImageRequest, deployment: Deployment, model: ModelInfo) -> list[httpx.Request]:
    """Submit one task per image: ``POST {api_base}/v1/{endpoint}`` with the model's JSON body."""
    api_base = (deployment.api_base or DEFAULT_API_BASE).rstrip("/")
    if not deployment.api_key and api_base == DEFAULT_API_BASE:
        raise AuthenticationError(
            "no BFL API key: set BFL_API_KEY or pass api_key=", provider=PROVIDER, model=model.name
        )
    url = f"{api_base}/v1/{deployment.model}"
    headers = _headers(deployment)
    return [
        httpx.Request("POST", url, headers=headers, json=_body(request, model, index))
        for index in range(request.n or 1)
    ]


def _validation_error(response: httpx.Response, model: str) -> PixmuxError:
    """BFL's FastAPI 422: ``{"detail": [{"loc": [...], "msg": ..., "type": ...}]}``, every problem named."""
    try:
        detail = read_json(response, provider=PROVIDER, model=model).get("detail")
    except (APIResponseValidationError, AttributeError):
        detail = None
    if not isinstance(detail, list) or not detail:
        return error_from_response(response, provider=PROVIDER, model=model)
    parts, param = [], None
    for item in detail:
        if not isinstance(item, Mapping):
            continue
        found = item.get("loc")
        loc = [str(part) for part in (found if isinstance(found, list) else ()) if part != "body"]
        param = param or (loc[-1] if loc else None)
        parts.append(f"{'.'.join(loc) or 'body'}: {item.get('msg')}")
    return UnprocessableEntityError(
        "; ".join(parts) or provider_message(response)[0],
        provider=PROVIDER,
        model=model,
        param=param,
        response=response,
    )


def _error(response: httpx.Response, model: str) -> PixmuxError:
    if response.status_code == 422:
        return _validation_error(response, model)
    error = error_from_response(response, provider=PROVIDER, model=model)
    if response.status_code == 402:
        error.code = error.code or "insufficient_credits"
    return error


def _poll(url: str, deployment: Deployment, cost: float | None) -> httpx.Request:
    extensions = {_COST_KEY: cost} if cost is not None else {}
    return httpx.Request("GET", url, headers=_headers(deployment), extensions=extensions)


def _interval(deployment: Deployment) -> float:
    value = deployment.setting("poll_interval", POLL_INTERVAL)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0 else 0.5


def _checked_url(text: str, model: str, what: str) -> str:
    """A URL the provider gave (a poll, a result), checked: absolute http(s), else APIResponseValidationError."""
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL as exc:
        raise APIResponseValidationError(
            f"the provider's {what} is not a usable URL: {exc}", provider=PROVIDER, model=model
        ) from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise APIResponseValidationError(
            f"the provider's {what} is not an absolute http(s) URL: {text[:100]!r}", provider=PROVIDER, model=model
        )
    return text


def _query(text: str, name: str) -> str | None:
    """One query parameter of a URL, or ``None`` (also when the URL cannot be read)."""
    try:
        found = httpx.URL(text).params.get(name)
    except httpx.InvalidURL:
        return None
    return found if isinstance(found, str) else None


def _submitted(response: httpx.Response, deployment: Deployment, model: str) -> FollowUp:
    body = read_json(response, provider=PROVIDER, model=model)
    task = structure_json(
        body, _Submitted, converter=_converter, provider=PROVIDER, model=model, what="a BFL task", response=response
    )
    url = _checked_url(task.polling_url, model, "polling_url") if task.polling_url else None
    if not url:  # a webhook answer, or an older API: the legacy poll endpoint takes the task id
        base = str(response.request.url.copy_with(path="/v1/get_result", query=None))
        url = str(httpx.URL(base, params={"id": task.id}))
    return FollowUp(request=_poll(url, deployment, task.cost), after=_interval(deployment))


def _expires(sample: str, result: Mapping[str, Any]) -> float:
    """When the signed URL stops working: its ``se`` (signed expiry) if it has one, else ten minutes after the end."""
    se = _query(sample, "se")
    if se:
        try:
            when = datetime.fromisoformat(se.replace("Z", "+00:00"))
        except ValueError:
            when = None
        if when is not None:
            return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()
    end = result.get("end_time")
    if isinstance(end, int | float) and not isinstance(end, bool) and math.isfinite(end) and end > 0:
        return float(end) + URL_LIFETIME
    return time.time() + URL_LIFETIME


def _refused(body: Mapping[str, Any], status: str, request: ImageRequest, response: httpx.Response) -> ImageResponse:
    details = body.get("details") if isinstance(body.get("details"), Mapping) else {}
    what = "the prompt or input image" if status == "Request Moderated" else "the generated image"
    message = f"BFL moderation blocked {what} ({status})"
    if (request.n or 1) > 1:  # keep the other tasks' images; the core raises if none is left
        return ImageResponse(created=int(time.time()), refused=(Refusal(reason=status, message=message),))
    raise ContentPolicyViolationError(
        message, provider=PROVIDER, model=request.model, code=status, response=response, details=dict(details or {})
    )


def _polled(
    response: httpx.Response, request: ImageRequest, deployment: Deployment, model: str
) -> ImageResponse | FollowUp:
    body = read_json(response, provider=PROVIDER, model=model)
    if not isinstance(body, Mapping):
        raise APIResponseValidationError("the poll answer is not a JSON object", provider=PROVIDER, model=model)
    found = body.get("status", body.get("state"))
    status = found if isinstance(found, str) else None
    if status in _PENDING:
        poll = _poll(str(response.request.url), deployment, response.request.extensions.get(_COST_KEY))
        return FollowUp(request=poll, after=_interval(deployment))
    if status in _MODERATED:
        return _refused(body, str(status), request, response)
    if status == "Task not found":
        raise NotFoundError(
            "BFL no longer knows this task (Task not found)", provider=PROVIDER, model=model, response=response
        )
    if status in _FAILED:
        details = body.get("details")
        raise InternalServerError(
            f"the BFL task failed ({status}){f': {details}' if details else ''}",
            provider=PROVIDER,
            model=model,
            code=str(status),
            response=response,
        )
    result = body.get("result")
    sample = result.get("sample") if isinstance(result, Mapping) else None
    if status != "Ready" or not isinstance(sample, str) or not sample:
        raise APIResponseValidationError(
            f"the poll answer has status {status!r} and no result.sample URL",
            provider=PROVIDER,
            model=model,
            response=response,
        )
    assert isinstance(result, Mapping)
    image = ImageObject(url=_checked_url(sample, model, "result.sample"), expires_at=_expires(sample, result))
    credits = response.request.extensions.get(_COST_KEY)
    cost = round(credits * USD_PER_CREDIT, 10) if isinstance(credits, int | float) else None
    facts: dict[str, Any] = {"task_ids": [body.get("id")]}
    if isinstance(result.get("seed"), int):
        facts["seeds"] = [result["seed"]]
    end = result.get("end_time")
    created = int(end) if isinstance(end, int | float) and not isinstance(end, bool) and math.isfinite(end) else None
    return ImageResponse(created=created or int(time.time()), data=(image,), cost=cost, metadata=facts)


@hookimpl
def parse_response(
    response: httpx.Response, request: ImageRequest, deployment: Deployment, model: ModelInfo
) -> ImageResponse | FollowUp:
    """A submit answer becomes a poll; a poll answer is still pending (poll again), ready, refused or failed."""
    if response.is_error:
        raise _error(response, model.name)
    if response.request.method == "POST":
        return _submitted(response, deployment, model.name)
    return _polled(response, request, deployment, model.name)
