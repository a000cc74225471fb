"""
pixmux provider for fal.ai: ``fal/<model id>`` (``fal/fal-ai/flux/schnell``, ``fal/fal-ai/flux-2-pro/edit`` ...).

By default a call goes through fal's queue: ``build_request`` submits to
``https://queue.fal.run/<model id>``; ``parse_response`` returns a
:class:`~pixmux.types.FollowUp` polling the answer's ``status_url`` (with ``cancel_url`` as the
cancel request) until the request is ``COMPLETED``, then one fetching ``response_url``, whose body
is the model's output. With ``mode="sync"`` the call posts to ``https://fal.run/<model id>``
instead and the answer is the output at once.

- **Inputs per model**: each listed model's own fields; other model ids get the keyword arguments as given.
- **Sizes**: ``size`` becomes ``image_size: {"width", "height"}``, the nearest ``aspect_ratio``
  (Ultra, Kontext) or GPT Image's own size strings.
- **n** is ``num_images``; ``quality`` only on GPT Image models.
- **b64_json** is asked of fal with ``sync_mode: true`` (images come back as ``data:`` URIs).
- **Edits** use the ``.../edit`` model ids; images go as ``data:`` URIs in ``image_url(s)``.
- **Refusals**: a 422 of type ``content_policy_violation``, and images flagged in
  ``has_nsfw_concepts`` / ``nsfw_content_detected`` (fal blacks them out), are refusals.
"""

from __future__ import annotations

import base64
import math
import time
import warnings
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import attrs
import httpx
from pixmux import PixmuxWarning, hookimpl
from pixmux.catalogue import Catalogue, ModelInfo, check_request, choose_one, nearest_aspect_ratio, parse_size
from pixmux.converters import make_converter, read_json, structure_json
from pixmux.exceptions import (
    APIResponseValidationError,
    AuthenticationError,
    ContentPolicyViolationError,
    PixmuxError,
    Timeout,
    UnprocessableEntityError,
    UnsupportedParamsError,
    error_class_for_status,
    parse_retry_after,
    provider_message,
)
from pixmux.types import Deployment, FollowUp, ImageInput, ImageObject, ImageRequest, ImageResponse, Refusal

from pixmux_fal._catalogue import CATALOGUE, GPT_SIZES, PROVIDER, QUEUE_API_BASE, RATIOS, SYNC_API_BASE

__all__ = [
    "CATALOGUE",
    "QUEUE_API_BASE",
    "SYNC_API_BASE",
    "model_catalogue",
    "validate_params",
    "build_request",
    "parse_response",
]

#: Seconds before the first status check and between checks (the core backs off on repeated polls).
POLL_INTERVAL = 0.5
_PENDING = frozenset({"IN_QUEUE", "IN_PROGRESS"})
_NSFW_FLAGS = ("has_nsfw_concepts", "nsfw_content_detected")
_converter = make_converter()


@attrs.frozen
class _Queued:
    request_id: str
    status_url: str | None = None
    response_url: str | None = None
    cancel_url: str | None = None


@attrs.frozen
class _Image:
    url: str
    width: int | None = None
    height: int | None = None
    content_type: str | None = None


@attrs.frozen
class _Output:
    images: list[_Image] | None = None
    image: _Image | None = None
    seed: int | None = None
    prompt: str | None = None
    revised_prompt: str | None = None


@hookimpl
def model_catalogue() -> Catalogue:
    """fal's image models with their input fields, edit inputs and prices; any other model id is forwarded."""
    return CATALOGUE


def _bad(message: str, model: str, param: str) -> UnsupportedParamsError:
    return UnsupportedParamsError(message, provider=PROVIDER, model=model, param=param)


def _map_size(request: ImageRequest, info: ModelInfo) -> ImageRequest:
    """``size`` onto the model's field: ``image_size`` (named, or width/height), ``aspect_ratio`` or GPT's sizes."""
    size, name, rule = request.size, info.name, info.extra.get("size_rule")
    if size is None:
        return request
    params = dict(request.params)
    field = "aspect_ratio" if rule == "ratio" else "image_size"
    if field in params:
        raise _bad(f"give either size or {field}, not both", name, field)
    if rule == "gpt":
        allowed = frozenset(GPT_SIZES) | ({"auto"} if "edit" in info.operations else frozenset())
        choose_one(size, allowed, param="size", provider=PROVIDER, model=name)
        params["image_size"] = size
    elif size in info.extra.get("named_sizes", ()):
        if rule == "ratio":
            raise _bad(f"size={size!r}: {name} takes an aspect ratio, not a named size", name, "size")
        params["image_size"] = size  # fal's own named sizes pass as they are
    elif size == "auto":
        pass
    else:
        width, height = parse_size(size, provider=PROVIDER, model=name)
        if rule == "ratio":
            ratio, off = nearest_aspect_ratio(width, height, RATIOS)
            if off > 0.01:
                warnings.warn(f"{name}: size {size!r} sent as aspect_ratio {ratio!r}", PixmuxWarning, stacklevel=3)
            params["aspect_ratio"] = ratio
        else:
            params["image_size"] = {"width": width, "height": height}
    return attrs.evolve(request, size=None, params=params)


def _check_inputs(request: ImageRequest, info: ModelInfo) -> None:
    name, field = info.name, info.extra.get("image_field")
    if request.operation == "variation":
        raise _bad("fal has no variations endpoint; use an edit model with a prompt", name, "operation")
    if info.known and request.operation not in info.operations:
        hint = f"; its editing twin is {name}/edit" if f"{name}/edit" in CATALOGUE.models else ""
        raise _bad(f"{name} does not do {request.operation!r}{hint}", name, "operation")
    if request.operation == "edit" and not request.images:
        raise _bad(f"an edit on {name} needs an input image", name, "image")
    if field and field in request.params:
        raise _bad(f"give the images either as input images or as {field}, not both", name, field)
    limits = info.inputs
    if limits is not None and limits.max_images is not None and len(request.images) > limits.max_images:
        raise _bad(f"{name} takes at most {limits.max_images} input image(s), not {len(request.images)}", name, "image")
    if request.mask is not None and not info.extra.get("mask_field"):
        raise _bad(f"{name} takes no mask", name, "mask")


@hookimpl
def validate_params(request: ImageRequest, model: ModelInfo) -> ImageRequest | None:
    """Check operation, inputs and the listed model's fields; map ``size`` onto the model's own field."""
    _check_inputs(request, model)
    mapped = _map_size(request, model)
    check_request(mapped, model, provider=PROVIDER)
    if "num_images" in mapped.params:
        raise _bad("give n, not num_images", model.name, "num_images")
    if "sync_mode" in mapped.params:
        raise _bad("give response_format='b64_json', not sync_mode", model.name, "sync_mode")
    seed = mapped.params.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise _bad(f"seed={seed!r} must be a whole number", model.name, "seed")
    return None if mapped == request else mapped


def _data_uri(image: ImageInput) -> str:
    return f"data:{image.media_type};base64,{base64.b64encode(image.data).decode('ascii')}"


def _input(request: ImageRequest, info: ModelInfo) -> dict[str, Any]:
    body: dict[str, Any] = {"prompt": request.prompt}
    body.update(request.params)
    if request.n is not None:
        body["num_images"] = request.n
    if request.quality is not None:
        body["quality"] = request.quality
    if request.response_format == "b64_json":
        body["sync_mode"] = True  # fal answers data: URIs: the bytes come in this answer
    field = info.extra.get("image_field")
    if field and request.images:
        uris = [_data_uri(image) for image in request.images]
        body[field] = uris if field.endswith("s") else uris[0]
    mask_field = info.extra.get("mask_field")
    if mask_field and request.mask is not None:
        body[mask_field] = _data_uri(request.mask)
    return body


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0:
        return float(value)
    return None


def _sync(deployment: Deployment) -> bool:
    return bool(deployment.setting("mode", "queue") == "sync")


def _headers(deployment: Deployment) -> dict[str, str]:
    return {"Authorization": f"Key {deployment.api_key}"} if deployment.api_key else {}


@hookimpl
def build_request(request: ImageRequest, deployment: Deployment, model: ModelInfo) -> httpx.Request:
    """Submit to fal's queue (``POST https://queue.fal.run/<id>``), or run it at once with ``mode="sync"``."""
    mode = deployment.setting("mode", "queue")
    if mode not in ("queue", "sync"):
        raise _bad(f"mode={mode!r} must be 'queue' or 'sync'", model.name, "mode")
    default = SYNC_API_BASE if mode == "sync" else QUEUE_API_BASE
    api_base = (deployment.api_base or default).rstrip("/")
    if not deployment.api_key and api_base in (QUEUE_API_BASE, SYNC_API_BASE):
        raise AuthenticationError("no fal key: set FAL_KEY or pass api_key=", provider=PROVIDER, model=model.name)
    headers = _headers(deployment)
    timeout = _number(deployment.timeout)
    if timeout is not None and mode == "queue":  # no runner after the call's timeout: fal drops the request (504)
        headers["X-Fal-Request-Timeout"] = str(max(1, math.ceil(timeout)))
    lifetime = _number(deployment.setting("object_lifetime"))
    if lifetime is not None:
        headers["X-Fal-Object-Lifecycle-Preference"] = f'{{"expiration_duration_seconds": {int(lifetime)}}}'
    return httpx.Request("POST", f"{api_base}/{deployment.model}", headers=headers, json=_input(request, model))


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _detail(response: httpx.Response) -> tuple[str, str | None, str | None, list[str]]:
    """fal's error body ``{"detail": [{"loc", "msg", "type", "categories"?}]}``: message, type, field, categories."""
    try:
        body = read_json(response, provider=PROVIDER, model=None)
    except APIResponseValidationError:
        body = None
    detail = body.get("detail") if isinstance(body, Mapping) else None
    if isinstance(detail, list) and detail and all(isinstance(item, Mapping) for item in detail):
        first = detail[0]
        messages = [str(item.get("msg") or item.get("type") or "") for item in detail]
        loc = [str(part) for part in _listed(first.get("loc")) if part != "body"]
        categories = [str(c) for item in detail for c in _listed(item.get("categories")) if isinstance(c, str)]
        kind = first.get("type")
        return (
            "; ".join(m for m in messages if m),
            kind if isinstance(kind, str) else None,
            loc[-1] if loc else None,
            categories,
        )
    message, code, param = provider_message(response)
    return message, code or response.headers.get("x-fal-error-type"), param, []


def _error(response: httpx.Response, model: str) -> PixmuxError:
    message, kind, param, categories = _detail(response)
    details: dict[str, Any] = {}
    if categories:
        details["categories"] = categories
    retryable = response.headers.get("x-fal-retryable")
    if retryable is not None:
        details["retryable"] = retryable.lower() == "true"
    if kind == "content_policy_violation":
        return ContentPolicyViolationError(
            message or "fal's moderation refused the request",
            provider=PROVIDER,
            model=model,
            param=param,
            code=kind,
            response=response,
            details=details,
        )
    if response.status_code == 504 and response.headers.get("x-fal-request-timeout-type") == "user":
        return Timeout(
            f"no fal runner started within the call's timeout: {message}",
            provider=PROVIDER,
            model=model,
            code="request_timeout",
            response=response,
        )
    cls = UnprocessableEntityError if response.status_code == 422 else error_class_for_status(response.status_code)
    return cls(
        message,
        provider=PROVIDER,
        model=model,
        param=param,
        status_code=response.status_code,
        retry_after=parse_retry_after(response.headers),
        code=kind,
        response=response,
        details=details,
    )


def _interval(deployment: Deployment) -> float:
    value = _number(deployment.setting("poll_interval"))
    return POLL_INTERVAL if value is None else value


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


def _queued(response: httpx.Response, deployment: Deployment, model: str) -> FollowUp:
    body = read_json(response, provider=PROVIDER, model=model)
    queued = structure_json(
        body,
        _Queued,
        converter=_converter,
        provider=PROVIDER,
        model=model,
        what="a fal queue answer",
        response=response,
    )
    # status/result/cancel URLs use only owner/app: take them from the answer rather than build them
    base = str(response.request.url).rstrip("/")
    app = "/".join(base.split("/")[:5])  # scheme://host/owner/app
    request_id = quote(queued.request_id, safe="")
    status = _checked_url(queued.status_url or f"{app}/requests/{request_id}/status", model, "status_url")
    cancel = _checked_url(queued.cancel_url or f"{app}/requests/{request_id}/cancel", model, "cancel_url")
    headers = _headers(deployment)
    return FollowUp(
        request=httpx.Request("GET", status, headers=headers),
        after=_interval(deployment),
        cancel=httpx.Request("PUT", cancel, headers=headers),
    )


def _status(response: httpx.Response, deployment: Deployment, model: str) -> FollowUp:
    body = read_json(response, provider=PROVIDER, model=model)
    found = body.get("status") if isinstance(body, Mapping) else None
    status = found if isinstance(found, str) else None
    headers = _headers(deployment)
    url = str(response.request.url)
    if status in _PENDING:
        cancel = url.split("?", 1)[0].removesuffix("/status") + "/cancel"
        return FollowUp(
            request=httpx.Request("GET", url, headers=headers),
            after=_interval(deployment),
            cancel=httpx.Request("PUT", cancel, headers=headers),
        )
    if status == "COMPLETED":
        result = body.get("response_url") if isinstance(body.get("response_url"), str) else None
        fetch = _checked_url(result, model, "response_url") if result else url.split("?", 1)[0].removesuffix("/status")
        return FollowUp(request=httpx.Request("GET", fetch, headers=headers))
    if status in ("CANCELED", "CANCELLED", "CANCELLATION_REQUESTED"):
        raise Timeout(
            f"the fal request was cancelled ({status})", provider=PROVIDER, model=model, code=status, response=response
        )
    raise APIResponseValidationError(
        f"the fal status answer has an unknown status {status!r}", provider=PROVIDER, model=model, response=response
    )


def _flags(body: Mapping[str, Any]) -> list[bool]:
    for name in _NSFW_FLAGS:
        found = body.get(name)
        if isinstance(found, list):
            return [flag is True for flag in found]
    return []


def _result(response: httpx.Response, request: ImageRequest, deployment: Deployment, model: ModelInfo) -> ImageResponse:
    body = read_json(response, provider=PROVIDER, model=model.name)
    output = structure_json(
        body,
        _Output,
        converter=_converter,
        provider=PROVIDER,
        model=model.name,
        what="a fal image output",
        response=response,
    )
    images = list(output.images or ([output.image] if output.image is not None else []))
    flags = _flags(body)
    kept = [image for index, image in enumerate(images) if not (index < len(flags) and flags[index])]
    filtered = len(images) - len(kept)
    if images and not kept:
        raise ContentPolicyViolationError(
            "fal's safety checker flagged every image (has_nsfw_concepts): they were blacked out",
            provider=PROVIDER,
            model=model.name,
            code="has_nsfw_concepts",
            response=response,
        )
    if not images:
        raise APIResponseValidationError(
            "the fal output holds no image", provider=PROVIDER, model=model.name, response=response
        )
    lifetime = _number(deployment.setting("object_lifetime"))
    expires = time.time() + lifetime if lifetime is not None else None
    data = []
    for image in kept:
        if image.url.startswith("data:"):
            payload = image.url.partition(",")[2]
            data.append(
                ImageObject(b64_json=payload) if request.response_format == "b64_json" else ImageObject(url=image.url)
            )
        else:
            data.append(ImageObject(url=_checked_url(image.url, model.name, "image url"), expires_at=expires))
    metadata: dict[str, Any] = {}
    refused = (Refusal(reason="has_nsfw_concepts", message="blacked out by fal's safety checker"),) * filtered
    if output.seed is not None:
        metadata["seed"] = output.seed
    cost = None
    per_mp = model.extra.get("usd_per_mp")
    if per_mp is not None and all(image.width and image.height for image in kept):
        megapixels = sum(math.ceil((image.width or 0) * (image.height or 0) / 1_000_000) for image in kept)
        cost = round(megapixels * per_mp, 10)
    return ImageResponse(created=int(time.time()), data=tuple(data), cost=cost, metadata=metadata, refused=refused)


@hookimpl
def parse_response(
    response: httpx.Response, request: ImageRequest, deployment: Deployment, model: ModelInfo
) -> ImageResponse | FollowUp:
    """A queue answer becomes a status poll, a completed status a result fetch; a result (or sync answer) images."""
    if response.is_error:
        raise _error(response, model.name)
    sent = response.request
    if sent.method == "POST" and not _sync(deployment):
        return _queued(response, deployment, model.name)
    if sent.method == "GET" and sent.url.path.endswith("/status"):
        return _status(response, deployment, model.name)
    return _result(response, request, deployment, model)
