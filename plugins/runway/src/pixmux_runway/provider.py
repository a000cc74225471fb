"""
pixmux provider for Runway's image API: ``runway/<model>`` (``runway/gen4_image``, ``runway/gen4_image_turbo`` ...).

Runway's API is task-based. ``build_request`` creates a task (``POST /v1/text_to_image``, with
``X-Runway-Version``); ``parse_response`` turns its ``{"id"}`` into a
:class:`~pixmux.types.FollowUp` polling ``GET /v1/tasks/{id}`` (with ``DELETE /v1/tasks/{id}`` as
the cancel request) until the task has ``SUCCEEDED`` or ``FAILED``.

- **Sizes**: ``size`` becomes Gen-4's ``ratio`` (an output size in pixels, ``1920:1080``): the
  same size when Runway has it, else the nearest in shape and area, with a warning.
- **n**: Gen-4 makes one image per task, so ``n`` creates that many tasks; GPT Image 2 takes ``outputCount``.
- **Edits**: input images are Gen-4's ``referenceImages`` (``data:`` URIs, tagged ``ref1``,
  ``ref2`` ... or with the ``reference_tags`` you give, for ``@tag`` in the prompt).
- **Refusals**: a task ``FAILED`` with a ``SAFETY.*`` failure code is a ``ContentPolicyViolationError``.
- **Expiry**: output URLs carry a signed token (``_jwt``) whose ``exp`` says when they stop
  working (Runway: 24-48 hours); ``expires_at`` is read from it.
"""

from __future__ import annotations

import base64
import binascii
import json
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
from pixmux.catalogue import Catalogue, ModelInfo, check_request, parse_size
from pixmux.converters import checked_url, make_converter, query_param, read_json, structure_json
from pixmux.exceptions import (
    APIResponseValidationError,
    AuthenticationError,
    ContentPolicyViolationError,
    InternalServerError,
    Timeout,
    UnsupportedParamsError,
    error_from_response,
)
from pixmux.types import Deployment, FollowUp, ImageInput, ImageObject, ImageRequest, ImageResponse

from pixmux_runway._catalogue import API_VERSION, CATALOGUE, DEFAULT_API_BASE, PROVIDER, TIER_720P, USD_PER_CREDIT

__all__ = [
    "CATALOGUE",
    "DEFAULT_API_BASE",
    "API_VERSION",
    "model_catalogue",
    "validate_params",
    "build_request",
    "parse_response",
]

#: Seconds before the first poll and between polls (Runway's SDKs wait seconds; the core backs off further).
POLL_INTERVAL = 2.0
#: The least Runway keeps output URLs working when a URL carries no readable expiry.
URL_LIFETIME = 24 * 3600.0
#: Gen-4's ratio when the request gives no size (Runway requires one).
DEFAULT_RATIO = "1024:1024"
_PENDING = frozenset({"PENDING", "THROTTLED", "RUNNING"})
_TAG = re.compile(r"^[A-Za-z][A-Za-z0-9_]{2,15}$")
_converter = make_converter()


@attrs.frozen
class _Created:
    id: str


@attrs.frozen
class _Task:
    id: str
    status: str
    output: list[str] | None = None
    failure: str | None = None
    failureCode: str | None = None
    createdAt: str | None = None
    progress: float | None = None


@hookimpl
def model_catalogue() -> Catalogue:
    """Runway's image models with their ratios, reference-image limits and credit prices."""
    return CATALOGUE


def _bad(message: str, model: str, param: str) -> UnsupportedParamsError:
    return UnsupportedParamsError(message, provider=PROVIDER, model=model, param=param)


def _nearest_ratio(width: int, height: int, ratios: tuple[str, ...]) -> str:
    """The listed ``W:H`` output size closest in shape, then in area, to ``width x height``."""

    def distance(ratio: str) -> tuple[float, float]:
        w, _, h = ratio.partition(":")
        shape = abs(math.log((int(w) / int(h)) / (width / height)))
        return round(shape, 2), abs(math.log((int(w) * int(h)) / (width * height)))

    return min(ratios, key=distance)


def _map_size(request: ImageRequest, info: ModelInfo) -> ImageRequest:
    size, name = request.size, info.name
    if size is None or size == "auto":
        return request if size is None else attrs.evolve(request, size=None)
    if "ratio" in request.params:
        raise _bad("give either size or ratio, not both", name, "ratio")
    width, height = parse_size(size, provider=PROVIDER, model=name)
    ratios: tuple[str, ...] = info.extra.get("ratios") or ()
    ratio = f"{width}:{height}"
    if ratios and ratio not in ratios:
        ratio = _nearest_ratio(width, height, ratios)
        warnings.warn(f"{name}: size {size!r} sent as ratio {ratio!r} (Runway's nearest output size)", PixmuxWarning, 3)
    return attrs.evolve(request, size=None, params={**request.params, "ratio": ratio})


def _check_inputs(request: ImageRequest, info: ModelInfo) -> None:
    name = info.name
    if request.operation == "variation":
        raise _bad("Runway has no variations; give reference images to an edit", name, "operation")
    if info.known and request.operation not in info.operations:
        raise _bad(f"{name} needs 1-3 reference images: call it as an edit with images", name, "operation")
    if request.operation == "edit" and not request.images:
        raise _bad(f"an edit on {name} needs at least one reference image", name, "image")
    if request.mask is not None:
        raise _bad(f"{name} takes no mask (reference images only)", name, "mask")
    limits = info.inputs
    if limits is not None and limits.max_images is not None and len(request.images) > limits.max_images:
        raise _bad(
            f"{name} takes at most {limits.max_images} reference images, not {len(request.images)}", name, "image"
        )
    if limits is not None and limits.max_bytes is not None:
        for index, image in enumerate(request.images):
            if image.size > limits.max_bytes:
                raise _bad(
                    f"reference image {index + 1} is {image.size} bytes; Runway takes data URIs up to 5 MB "
                    f"(about {limits.max_bytes} bytes of image)",
                    name,
                    "image",
                )
    tags = request.params.get("reference_tags")
    if tags is not None:
        if not isinstance(tags, list | tuple) or len(tags) != len(request.images):
            raise _bad("reference_tags must list one tag per reference image", name, "reference_tags")
        for tag in tags:
            if not isinstance(tag, str) or not _TAG.match(tag):
                raise _bad(
                    f"reference tag {tag!r} must be 3-16 letters, digits or _, starting with a letter",
                    name,
                    "reference_tags",
                )


@hookimpl
def validate_params(request: ImageRequest, model: ModelInfo) -> ImageRequest | None:
    """Check operation, reference images and parameters; map ``size`` to Runway's ``ratio``."""
    _check_inputs(request, model)
    mapped = _map_size(request, model)
    check_request(mapped, model, provider=PROVIDER)
    seed = mapped.params.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= 4294967295):
        raise _bad(f"seed={seed!r} must be a whole number from 0 to 4294967295", model.name, "seed")
    moderation = mapped.params.get("contentModeration")
    if moderation is not None and (
        not isinstance(moderation, Mapping)
        or set(moderation) != {"publicFigureThreshold"}
        or moderation["publicFigureThreshold"] not in ("auto", "low")
    ):
        raise _bad(
            "contentModeration must be {'publicFigureThreshold': 'auto' or 'low'}", model.name, "contentModeration"
        )
    return None if mapped == request else mapped


def _data_uri(image: ImageInput) -> str:
    return f"data:{image.media_type};base64,{base64.b64encode(image.data).decode('ascii')}"


def _body(request: ImageRequest, info: ModelInfo, index: int, count: int) -> dict[str, Any]:
    params = dict(request.params)
    tags = params.pop("reference_tags", None) or [f"ref{number}" for number in range(1, len(request.images) + 1)]
    body: dict[str, Any] = {"model": info.name, "promptText": request.prompt}
    if "ratio" not in params and info.extra.get("ratios"):
        params["ratio"] = DEFAULT_RATIO
    body.update(params)
    if count > 1 and isinstance(body.get("seed"), int):
        body["seed"] = (body["seed"] + index) % 4294967296  # one task per image: the same seed, the same image
    count_field = info.extra.get("count_field")
    if count_field and request.n:
        body[count_field] = request.n
    if request.quality is not None:
        body["quality"] = request.quality
    if request.images:
        body["referenceImages"] = [
            {"uri": _data_uri(image), "tag": tag} for image, tag in zip(request.images, tags, strict=True)
        ]
    return body


def _headers(deployment: Deployment) -> dict[str, str]:
    headers = {"X-Runway-Version": deployment.api_version or API_VERSION}
    if deployment.api_key:
        headers["Authorization"] = f"Bearer {deployment.api_key}"
    return headers


@hookimpl
def build_request(request: ImageRequest, deployment: Deployment, model: ModelInfo) -> list[httpx.Request]:
    """Create the task(s): ``POST {api_base}/v1/text_to_image`` with Runway's camelCase body and version header."""
    api_base = (deployment.api_base or DEFAULT_API_BASE).rstrip("/")
    if not deployment.api_key and api_base == DEFAULT_API_BASE:
        raise AuthenticationError(
            "no Runway API secret: set RUNWAYML_API_SECRET or pass api_key=", provider=PROVIDER, model=model.name
        )
    count = 1 if model.extra.get("count_field") else (request.n or 1)
    headers = _headers(deployment)
    return [
        httpx.Request("POST", f"{api_base}/v1/text_to_image", headers=headers, json=_body(request, model, i, count))
        for i in range(count)
    ]


def _interval(deployment: Deployment) -> float:
    value = deployment.setting("poll_interval")
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0:
        return float(value)
    return POLL_INTERVAL


def _checked_url(text: str, model: str, what: str) -> str:
    return checked_url(text, provider=PROVIDER, model=model, what=what)


_query = query_param


def _task_requests(task_url: str, deployment: Deployment) -> FollowUp:
    headers = _headers(deployment)
    return FollowUp(
        request=httpx.Request("GET", task_url, headers=headers),
        after=_interval(deployment),
        cancel=httpx.Request("DELETE", task_url, headers=headers),
    )


def _created_at(task: _Task) -> float | None:
    if not task.createdAt:
        return None
    try:
        return datetime.fromisoformat(task.createdAt.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _expires(url: str, task: _Task) -> float:
    """The URL's signed ``_jwt`` ``exp`` where it has one, else 24 hours after the task was created."""
    token = _query(url, "_jwt")
    if token and token.count(".") == 2:
        payload = token.split(".")[1]
        try:
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (binascii.Error, ValueError, UnicodeDecodeError):
            claims = None
        exp = claims.get("exp") if isinstance(claims, dict) else None
        if isinstance(exp, int | float) and not isinstance(exp, bool) and math.isfinite(exp):
            return float(exp)
    return (_created_at(task) or time.time()) + URL_LIFETIME


def _cost(request: ImageRequest, info: ModelInfo, images: int) -> float | None:
    ratio = request.params.get("ratio", DEFAULT_RATIO)
    credits = info.extra.get("credits_720p" if ratio in TIER_720P else "credits_1080p")
    return None if credits is None else round(credits * images * USD_PER_CREDIT, 10)


def _failed(task: _Task, request: ImageRequest, response: httpx.Response) -> Exception:
    code = task.failureCode or ""
    # Runway asks that its failure text not be shown raw: the code leads, the text rides in details.
    details = {"failure": task.failure} if task.failure else {}
    if code.startswith("SAFETY."):
        what = "an input (prompt or reference image)" if code.startswith("SAFETY.INPUT") else "the generated image"
        return ContentPolicyViolationError(
            f"Runway's moderation refused {what} ({code})",
            provider=PROVIDER,
            model=request.model,
            code=code,
            response=response,
            details=details,
        )
    return InternalServerError(
        f"the Runway task failed ({code or 'no failure code'})",
        provider=PROVIDER,
        model=request.model,
        code=code or None,
        response=response,
        details=details,
    )


def _polled(
    response: httpx.Response, request: ImageRequest, deployment: Deployment, model: ModelInfo
) -> ImageResponse | FollowUp:
    body = read_json(response, provider=PROVIDER, model=model.name)
    task = structure_json(
        body, _Task, converter=_converter, provider=PROVIDER, model=model.name, what="a Runway task", response=response
    )
    if task.status in _PENDING:
        return _task_requests(str(response.request.url), deployment)
    if task.status == "FAILED":
        raise _failed(task, request, response)
    if task.status == "CANCELLED":
        raise Timeout("the Runway task was cancelled", provider=PROVIDER, model=model.name, code="CANCELLED")
    urls = [url for url in task.output or () if url]
    if task.status != "SUCCEEDED" or not urls:
        raise APIResponseValidationError(
            f"the Runway task has status {task.status!r} and no output URL", provider=PROVIDER, model=model.name
        )
    images = tuple(
        ImageObject(url=_checked_url(url, model.name, "output URL"), expires_at=_expires(url, task)) for url in urls
    )
    cost = _cost(request, model, len(images)) if model.known else None
    created = _created_at(task)
    metadata = {"task_ids": [task.id]}
    return ImageResponse(created=int(created or time.time()), data=images, cost=cost, metadata=metadata)


@hookimpl
def parse_response(
    response: httpx.Response, request: ImageRequest, deployment: Deployment, model: ModelInfo
) -> ImageResponse | FollowUp:
    """A created task becomes a poll of ``/v1/tasks/{id}``; a polled task is pending, succeeded, failed or cancelled."""
    if response.is_error:
        raise error_from_response(response, provider=PROVIDER, model=model.name)
    if response.request.method == "POST":
        body = read_json(response, provider=PROVIDER, model=model.name)
        created = structure_json(
            body,
            _Created,
            converter=_converter,
            provider=PROVIDER,
            model=model.name,
            what="a task id",
            response=response,
        )
        base = str(response.request.url).rsplit("/v1/", 1)[0]
        return _task_requests(f"{base}/v1/tasks/{quote(created.id, safe='')}", deployment)
    return _polled(response, request, deployment, model)
