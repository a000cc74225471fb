"""
pixmux provider for Replicate: ``replicate/<owner>/<name>``, ``replicate/<owner>/<name>:<version>``,
``replicate/<version id>`` or ``replicate/deployments/<owner>/<name>``.

Every Replicate model is a *prediction*: ``build_request`` creates one (``Prefer: wait``, so a
fast model answers in the same round trip, and ``Cancel-After`` set to the call's timeout);
``parse_response`` returns the images when the prediction has finished, or a
:class:`~pixmux.types.FollowUp` that polls ``urls.get`` (with ``urls.cancel`` as its cancel
request) until it has.

- **Inputs per model**: each listed model's own fields (``num_outputs``, ``aspect_ratio``,
  ``input_image``, ``image_input`` ...); other models get the keyword arguments as given.
- **Sizes**: ``size`` becomes the nearest ``aspect_ratio`` the model takes (with a warning where
  approximated), or ``width``/``height`` for models without one.
- **n**: ``num_outputs`` where the model has it, else one prediction per image.
- **Edits**: input images go inside ``input`` as ``data:`` URIs in the model's own field.
- **Refusals**: a ``failed`` prediction whose error speaks of NSFW / safety / moderation, and a
  ``succeeded`` one with no image, are ``ContentPolicyViolationError``.
- **Expiry**: Replicate deletes API predictions' files an hour after they finish; ``expires_at`` says when.
"""

from __future__ import annotations

import base64
import math
import re
import time
import warnings
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

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
    Timeout,
    UnsupportedParamsError,
    error_class_for_status,
    parse_retry_after,
)
from pixmux.masks import provider_mask
from pixmux.types import Deployment, FollowUp, ImageInput, ImageObject, ImageRequest, ImageResponse, Refusal

from pixmux_replicate._catalogue import CATALOGUE, DEFAULT_API_BASE, PROVIDER

__all__ = [
    "CATALOGUE",
    "DEFAULT_API_BASE",
    "FILE_LIFETIME",
    "model_catalogue",
    "validate_params",
    "build_request",
    "parse_response",
]

#: Seconds Replicate keeps an API prediction's output files after it finishes.
FILE_LIFETIME = 3600.0
#: Seconds before the first poll and between polls (the core backs off on repeated polls).
POLL_INTERVAL = 0.5
#: Longest ``Prefer: wait`` Replicate honours.
MAX_WAIT = 60
_VERSION_ID = re.compile(r"^[0-9a-f]{64}$")
_PENDING = frozenset({"starting", "processing"})
#: Words in a failed prediction's error that mean a safety checker or moderation refused it.
_REFUSAL = re.compile(r"nsfw|safety|moderat|sensitive|content policy|inappropriate|flagged", re.IGNORECASE)
_THROTTLE = re.compile(r"resets in ~?(\d+(?:\.\d+)?)\s*s", re.IGNORECASE)
_INPUT_FIELD = re.compile(r"input\.([A-Za-z0-9_]+)")
_converter = make_converter()


@attrs.frozen
class _Urls:
    get: str | None = None
    cancel: str | None = None


@attrs.frozen
class _Prediction:
    id: str
    status: str
    output: Any = None
    error: Any = None
    urls: _Urls = attrs.field(factory=_Urls)
    completed_at: str | None = None
    data_removed: bool = False
    input: Any = None
    metrics: Any = None


@hookimpl
def model_catalogue() -> Catalogue:
    """Replicate's official image models with their input fields and prices; any other model is forwarded."""
    return CATALOGUE


def _bad(message: str, model: str, param: str) -> UnsupportedParamsError:
    return UnsupportedParamsError(message, provider=PROVIDER, model=model, param=param)


def _map_size(request: ImageRequest, info: ModelInfo) -> ImageRequest:
    """``size`` onto the model's fields: nearest ``aspect_ratio``, Seedream's ``size``, or ``width``/``height``."""
    size, name, rule = request.size, info.name, info.extra.get("size_rule")
    if size is None or size == "auto":
        return request if size is None else attrs.evolve(request, size=None)
    params = dict(request.params)
    if rule == "seedream" and size in ("1K", "2K", "4K"):
        params["size"] = size
        return attrs.evolve(request, size=None, params=params)
    width, height = parse_size(size, provider=PROVIDER, model=name)
    ratios: tuple[str, ...] = tuple(r for r in info.extra.get("ratios", ()) if ":" in r)
    if rule == "seedream":
        sent = (max(1024, min(4096, width)), max(1024, min(4096, height)))
        if sent != (width, height):
            warnings.warn(f"{name}: size {size!r} sent as {sent[0]}x{sent[1]} (sides 1024-4096)", PixmuxWarning, 3)
        params.update(size="custom", width=sent[0], height=sent[1])
    elif ratios:
        if "aspect_ratio" in params:
            raise _bad("give either size or aspect_ratio, not both", name, "aspect_ratio")
        ratio, off = nearest_aspect_ratio(width, height, ratios)
        if off > 0.01:
            warnings.warn(f"{name}: size {size!r} sent as aspect_ratio {ratio!r}", PixmuxWarning, stacklevel=3)
        params["aspect_ratio"] = ratio
    else:
        for field in ("width", "height"):
            if field in params:
                raise _bad(f"give either size or {field}, not both", name, field)
        params.update(width=width, height=height)
    return attrs.evolve(request, size=None, params=params)


def _check_inputs(request: ImageRequest, info: ModelInfo) -> None:
    name, field = info.name, info.extra.get("image_field")
    if request.operation == "variation":
        raise _bad("Replicate has no variations endpoint; use an edit with a prompt", name, "operation")
    if request.operation == "edit":
        if not field:
            raise _bad(f"{name} does not edit images; it only generates", name, "operation")
        if not request.images:
            raise _bad(f"an edit on {name} needs an input image", name, "image")
        if field in request.params:
            raise _bad(f"give the image either as an input image or as {field}, not both", name, field)
    limits = info.inputs
    if limits is not None and limits.max_images is not None and len(request.images) > limits.max_images:
        raise _bad(f"{name} takes at most {limits.max_images} input image(s), not {len(request.images)}", name, "image")
    if not info.known and len(request.images) > 1:
        raise _bad(f"{name} is not listed: pixmux sends one input image, as 'image'", name, "image")
    if request.mask is not None and not info.extra.get("mask_field"):
        raise _bad(f"{name} takes no mask", name, "mask")
    if limits is not None and limits.mask == "required" and request.images and request.mask is None:
        raise _bad(f"an edit on {name} needs a mask (black is repainted, white is kept)", name, "mask")


@hookimpl
def validate_params(request: ImageRequest, model: ModelInfo) -> ImageRequest | None:
    """Check operation, inputs and each listed model's fields; map ``size`` onto the model's own fields."""
    _check_inputs(request, model)
    mapped = _map_size(request, model)
    check_request(mapped, model, provider=PROVIDER)
    n_field = model.extra.get("n_field")
    if n_field and n_field in mapped.params:
        raise _bad(f"give n, not {n_field}", model.name, n_field)
    seed = mapped.params.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise _bad(f"seed={seed!r} must be a whole number", model.name, "seed")
    tolerance = mapped.params.get("safety_tolerance")
    if (
        model.extra.get("image_field") == "input_image"
        and mapped.images
        and isinstance(tolerance, int)
        and tolerance > 2
    ):
        raise _bad(
            f"safety_tolerance={tolerance} is capped at 2 when {model.name} edits an image",
            model.name,
            "safety_tolerance",
        )
    return None if mapped == request else mapped


def _data_uri(image: ImageInput) -> str:
    return f"data:{image.media_type};base64,{base64.b64encode(image.data).decode('ascii')}"


def _input(request: ImageRequest, info: ModelInfo, index: int, count: int) -> dict[str, Any]:
    body: dict[str, Any] = {"prompt": request.prompt}
    body.update(request.params)
    n_field = info.extra.get("n_field")
    if n_field and request.n:
        body[n_field] = request.n
    elif count > 1 and isinstance(body.get("seed"), int):
        body["seed"] += index  # one prediction per image: the same seed would make the same image
    field = info.extra.get("image_field")
    if field and request.images:
        uris = [_data_uri(image) for image in request.images]
        body[field] = uris if info.extra.get("image_list") else uris[0]
    mask_field = info.extra.get("mask_field")
    if mask_field and request.mask is not None:
        mask = request.mask
        if info.extra.get("mask_edit") in ("black", "white"):  # Ideogram: black is repainted
            mask = provider_mask(mask, edit=info.extra["mask_edit"], provider="replicate", model=request.model)
        body[mask_field] = _data_uri(mask)
    return body


def _endpoint(model: str, api_base: str) -> tuple[str, dict[str, Any]]:
    """The create URL and the body's envelope for a model string (official model, version or deployment)."""
    if model.startswith("deployments/"):
        return f"{api_base}/{model}/predictions", {}
    if _VERSION_ID.match(model):
        return f"{api_base}/predictions", {"version": model}
    name, sep, version = model.partition(":")
    if sep:
        return f"{api_base}/predictions", {"version": version}
    return f"{api_base}/models/{name}/predictions", {}


def _headers(deployment: Deployment) -> dict[str, str]:
    return {"Authorization": f"Bearer {deployment.api_key}"} if deployment.api_key else {}


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0:
        return float(value)
    return None


@hookimpl
def build_request(request: ImageRequest, deployment: Deployment, model: ModelInfo) -> list[httpx.Request]:
    """Create the prediction(s): ``POST .../predictions`` with ``{"input"}``, ``Prefer: wait``, ``Cancel-After``."""
    api_base = (deployment.api_base or DEFAULT_API_BASE).rstrip("/")
    if not deployment.api_key and api_base == DEFAULT_API_BASE:
        raise AuthenticationError(
            "no Replicate API token: set REPLICATE_API_TOKEN or pass api_key=", provider=PROVIDER, model=model.name
        )
    url, envelope = _endpoint(deployment.model, api_base)
    headers = _headers(deployment)
    timeout = _number(deployment.timeout)
    wait = _number(deployment.setting("prefer_wait"))
    if wait is None:  # hold the create open for at most half the call's time, so a slow model is still polled
        wait = min(MAX_WAIT, int(timeout / 2)) if timeout is not None else MAX_WAIT
    if wait >= 1:
        headers["Prefer"] = f"wait={min(MAX_WAIT, int(wait))}"
    if timeout is not None:  # nobody waits for the prediction after the call's timeout: let Replicate stop it
        headers["Cancel-After"] = f"{max(5, math.ceil(timeout))}s"
    count = 1 if model.extra.get("n_field") else (request.n or 1)
    return [
        httpx.Request("POST", url, headers=headers, json={**envelope, "input": _input(request, model, index, count)})
        for index in range(count)
    ]


def _problem(response: httpx.Response) -> tuple[str, str | None]:
    """RFC 7807 problem details: ``detail`` ?? ``error`` ?? ``title``, and the ``title`` as a code."""
    try:
        body = read_json(response, provider=PROVIDER, model=None)
    except APIResponseValidationError:
        body = None
    if isinstance(body, Mapping):
        for key in ("detail", "error", "title"):
            value = body.get(key)
            if isinstance(value, str) and value:
                title = body.get("title")
                return value, title if isinstance(title, str) and title != value else None
    text = " ".join(response.text.split())[:500]
    return text or f"HTTP {response.status_code} with an empty body", None


def _error(response: httpx.Response, model: str) -> PixmuxError:
    message, code = _problem(response)
    param = None
    if response.status_code == 422:
        found = _INPUT_FIELD.search(message)
        param = found.group(1) if found else None
    retry_after = parse_retry_after(response.headers)
    if retry_after is None and response.status_code == 429:
        found = _THROTTLE.search(message)
        retry_after = float(found.group(1)) if found else None
    cls = error_class_for_status(response.status_code)
    return cls(
        message,
        provider=PROVIDER,
        model=model,
        param=param,
        status_code=response.status_code,
        retry_after=retry_after,
        code=code,
        response=response,
    )


def _interval(deployment: Deployment) -> float:
    value = _number(deployment.setting("poll_interval"))
    return POLL_INTERVAL if value is None else value


def _finished_at(prediction: _Prediction) -> float | None:
    if not prediction.completed_at:
        return None
    try:
        return datetime.fromisoformat(prediction.completed_at.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _images(prediction: _Prediction, request: ImageRequest) -> tuple[ImageObject, ...]:
    output = prediction.output
    items = output if isinstance(output, list) else [output]
    urls = [item for item in items if isinstance(item, str) and item]
    if len(urls) != len([item for item in items if item is not None]):
        raise APIResponseValidationError(
            f"the prediction's output is not image URLs: {str(output)[:200]}", provider=PROVIDER, model=request.model
        )
    expires = (_finished_at(prediction) or time.time()) + FILE_LIFETIME
    images = []
    for url in urls:
        if url.startswith("data:"):  # some models answer sync-mode calls with data URIs: those never expire
            payload = url.partition(",")[2]
            images.append(
                ImageObject(b64_json=payload) if request.response_format == "b64_json" else ImageObject(url=url)
            )
        else:
            images.append(ImageObject(url=_checked_url(url, request.model, "output URL"), expires_at=expires))
    return tuple(images)


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


def _pending(prediction: _Prediction, response: httpx.Response, deployment: Deployment, request_model: str) -> FollowUp:
    api_base = str(response.request.url).split("/predictions", 1)[0].split("/models/", 1)[0]
    api_base = api_base.split("/deployments/", 1)[0]
    model, pid = request_model, quote(prediction.id, safe="")
    get = _checked_url(prediction.urls.get or f"{api_base}/predictions/{pid}", model, "urls.get")
    cancel = _checked_url(prediction.urls.cancel or f"{api_base}/predictions/{pid}/cancel", model, "urls.cancel")
    headers = _headers(deployment)
    return FollowUp(
        request=httpx.Request("GET", get, headers=headers),
        after=_interval(deployment),
        cancel=httpx.Request("POST", cancel, headers=headers),
    )


def _failed(prediction: _Prediction, request: ImageRequest, response: httpx.Response) -> PixmuxError:
    error = prediction.error if isinstance(prediction.error, str) else str(prediction.error or "")
    model = request.model
    if prediction.status == "failed" and _REFUSAL.search(error):
        return ContentPolicyViolationError(
            f"the model refused the prompt or its output: {error}",
            provider=PROVIDER,
            model=model,
            code="failed",
            response=response,
        )
    if prediction.status in ("canceled", "aborted"):
        return Timeout(
            f"the prediction was {prediction.status} before it finished (its Cancel-After deadline, or a cancel)"
            + (f": {error}" if error else ""),
            provider=PROVIDER,
            model=model,
            code=prediction.status,
            response=response,
        )
    return InternalServerError(
        f"the prediction failed: {error or 'no error text'}",
        provider=PROVIDER,
        model=model,
        code="failed",
        response=response,
    )


@hookimpl
def parse_response(
    response: httpx.Response, request: ImageRequest, deployment: Deployment, model: ModelInfo
) -> ImageResponse | FollowUp:
    """A prediction (created or polled): poll again while it runs, then its images, or the typed failure."""
    if response.is_error:
        raise _error(response, model.name)
    body = read_json(response, provider=PROVIDER, model=model.name)
    prediction = structure_json(
        body,
        _Prediction,
        converter=_converter,
        provider=PROVIDER,
        model=model.name,
        what="a prediction",
        response=response,
    )
    if prediction.status in _PENDING:
        return _pending(prediction, response, deployment, model.name)
    if prediction.status != "succeeded":
        if prediction.status in ("failed", "canceled", "aborted"):
            raise _failed(prediction, request, response)
        raise APIResponseValidationError(
            f"the prediction has an unknown status {prediction.status!r}",
            provider=PROVIDER,
            model=model.name,
            response=response,
        )
    if prediction.data_removed and prediction.output is None:
        raise NotFoundError(
            "the prediction's output was already deleted (Replicate keeps it an hour)",
            provider=PROVIDER,
            model=model.name,
            response=response,
        )
    images = _images(prediction, request)
    wanted = (request.n or 1) if model.extra.get("n_field") else 1
    metadata: dict[str, Any] = {"prediction_ids": [prediction.id]}
    if isinstance(prediction.metrics, Mapping) and _number(prediction.metrics.get("predict_time")) is not None:
        metadata["predict_time"] = prediction.metrics["predict_time"]
    missing = max(0, wanted - len(images))
    refused = (Refusal(reason="no_output", message="the model's safety checker withheld the image"),) * missing
    # safety checkers drop flagged images and succeed with fewer: those are refused; none for one image is an error
    if missing and not images and (request.n or 1) == 1:
        raise ContentPolicyViolationError(
            "the prediction succeeded without an image: the model's safety checker withheld it",
            provider=PROVIDER,
            model=model.name,
            code="no_output",
            response=response,
        )
    created = _finished_at(prediction)
    return ImageResponse(created=int(created or time.time()), data=images, metadata=metadata, refused=refused)
