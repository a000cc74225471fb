"""
pixmux provider for Alibaba Cloud Model Studio (DashScope): ``dashscope/<model>``
(``dashscope/qwen-image-2.0``, ``dashscope/qwen-image-edit-plus``, ``dashscope/wan2.5-t2i-preview`` ...).

Each model speaks one of DashScope's two protocols (the catalogue says which):

- **sync**: ``POST /services/aigc/multimodal-generation/generation`` with a chat-like
  ``input.messages``; the answer holds the image URLs.
- **async**: ``POST /services/aigc/text2image/image-synthesis`` with ``X-DashScope-Async: enable``;
  ``parse_response`` turns the answer's ``task_id`` into a :class:`~pixmux.types.FollowUp`
  polling ``GET /tasks/{task_id}`` (``POST /tasks/{task_id}/cancel`` cancels it while queued)
  until it ``SUCCEEDED`` or ``FAILED``.

Sizes are sent as ``W*H`` (an asterisk), mapped onto each model's rule with a warning where
changed. Refusals (``DataInspectionFailed``, ``IPInfringementSuspect``) are
``ContentPolicyViolationError`` whether they come as HTTP 400, a failed task, or per-image
failures inside a ``SUCCEEDED`` task (those images are listed in ``refused``). Result URLs last 24 hours.
"""

from __future__ import annotations

import base64
import contextlib
import math
import time
import warnings
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import attrs
import httpx
from pixmux import PixmuxWarning, hookimpl
from pixmux.catalogue import Catalogue, ModelInfo, check_request, nearest_aspect_ratio, parse_size
from pixmux.converters import read_json
from pixmux.exceptions import (
    APIResponseValidationError,
    AuthenticationError,
    ContentPolicyViolationError,
    NotFoundError,
    PixmuxError,
    Timeout,
    UnsupportedParamsError,
    error_class_for_status,
    parse_retry_after,
)
from pixmux.types import Deployment, FollowUp, ImageInput, ImageObject, ImageRequest, ImageResponse, Refusal

from pixmux_dashscope._catalogue import CATALOGUE, DEFAULT_API_BASE, PROVIDER

__all__ = ["CATALOGUE", "DEFAULT_API_BASE", "model_catalogue", "validate_params", "build_request", "parse_response"]

#: Seconds before the first poll and between polls (tasks take 10 s to 3 min; the core backs off further).
POLL_INTERVAL = 2.0
#: Seconds DashScope keeps result URLs (and tasks).
URL_LIFETIME = 24 * 3600.0
SYNC_PATH = "/services/aigc/multimodal-generation/generation"
ASYNC_PATH = "/services/aigc/text2image/image-synthesis"
#: Codes that mean DashScope's moderation refused the input or the output.
REFUSAL_CODES = frozenset({"DataInspectionFailed", "IPInfringementSuspect"})
_PENDING = frozenset({"PENDING", "RUNNING"})
_CODE_CLASSES: Mapping[str, int] = {
    "InvalidParameter": 400,
    "InvalidApiKey": 401,
    "AccessDenied": 403,
    "Workspace.AccessDenied": 403,
    "Model.AccessDenied": 403,
    "Throttling": 429,
    "Throttling.RateQuota": 429,
    "Throttling.AllocationQuota": 429,
    "InternalError": 500,
    "InternalError.Algo": 500,
}


@hookimpl
def model_catalogue() -> Catalogue:
    """DashScope's Qwen-Image and Wan models with their protocol, size rule, limits and prices."""
    return CATALOGUE


def _bad(message: str, model: str, param: str) -> UnsupportedParamsError:
    return UnsupportedParamsError(message, provider=PROVIDER, model=model, param=param)


def _fit(width: int, height: int, rule: Mapping[str, Any]) -> tuple[int, int]:
    """``width x height`` brought within the model's rule (area range, side range, aspect limit), shape kept."""
    kind = rule.get("kind")
    if kind == "area":
        limit = float(rule.get("max_aspect", 0) or 0)
        if limit and max(width / height, height / width) > limit:  # narrow it to the aspect limit
            if width > height:
                width = int(height * limit)
            else:
                height = int(width * limit)
        area, low, high = width * height, rule["min_pixels"], rule["max_pixels"]
        scale = math.sqrt(low / area) if area < low else math.sqrt(high / area) if area > high else 1.0
        if scale != 1.0:
            width, height = int(width * scale), int(height * scale)
            width, height = (width + 1, height + 1) if width * height < low else (width, height)
    elif kind == "sides":
        low, high = rule["min_side"], rule["max_side"]
        width, height = max(low, min(high, width)), max(low, min(high, height))
    return width, height


def _map_size(request: ImageRequest, info: ModelInfo) -> ImageRequest:
    size, name = request.size, info.name
    if size is None or size == "auto":
        return request if size is None else attrs.evolve(request, size=None)
    rule: Mapping[str, Any] = info.extra.get("size") or {"kind": "any"}
    width, height = parse_size(size.replace("*", "x"), provider=PROVIDER, model=name)
    if rule.get("kind") == "fixed":
        sizes: tuple[str, ...] = rule["sizes"]
        ratios = [s.replace("*", ":") for s in sizes]
        ratio, _ = nearest_aspect_ratio(width, height, ratios)
        sent = ratio.replace(":", "*")
    else:
        fitted = _fit(width, height, rule)
        sent = f"{fitted[0]}*{fitted[1]}"
    if sent != f"{width}*{height}":
        warnings.warn(f"{name}: size {size!r} sent as {sent!r}", PixmuxWarning, stacklevel=3)
    return attrs.evolve(request, size=None, params={**request.params, "size": sent})


def _check_inputs(request: ImageRequest, info: ModelInfo) -> None:
    name = info.name
    if request.operation == "variation":
        raise _bad("DashScope has no variations; use an edit model with a prompt", name, "operation")
    if request.operation not in info.operations:
        hint = "an edit model (qwen-image-edit, qwen-image-edit-plus)" if request.operation == "edit" else "a prompt"
        raise _bad(f"{name} does not do {request.operation!r}; use {hint}", name, "operation")
    if request.operation == "edit" and not request.images:
        raise _bad(f"an edit on {name} needs an input image", name, "image")
    if request.mask is not None:
        raise _bad(f"{name} takes no mask: describe the change in the prompt", name, "mask")
    limits = info.inputs
    if limits is not None and limits.max_images is not None and len(request.images) > limits.max_images:
        raise _bad(f"{name} takes at most {limits.max_images} input image(s), not {len(request.images)}", name, "image")


@hookimpl
def validate_params(request: ImageRequest, model: ModelInfo) -> ImageRequest | None:
    """Check operation, inputs and parameters; map ``size`` to ``W*H`` within the model's rule."""
    _check_inputs(request, model)
    if "size" in request.params:
        raise _bad("give the size as size= (WIDTHxHEIGHT or W*H)", model.name, "size")
    mapped = _map_size(request, model)
    check_request(mapped, model, provider=PROVIDER)
    params, name = mapped.params, model.name
    negative = params.get("negative_prompt")
    if negative is not None and (not isinstance(negative, str) or len(negative) > 500):
        raise _bad("negative_prompt must be text of at most 500 characters", name, "negative_prompt")
    for flag in ("prompt_extend", "watermark"):
        if flag in params and not isinstance(params[flag], bool):
            raise _bad(f"{flag}={params[flag]!r} must be true or false", name, flag)
    seed = params.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise _bad(f"seed={seed!r} must be a whole number from 0 to 2147483647", name, "seed")
    return None if mapped == request else mapped


def _data_uri(image: ImageInput) -> str:
    return f"data:{image.media_type};base64,{base64.b64encode(image.data).decode('ascii')}"


def _parameters(request: ImageRequest, sync: bool) -> dict[str, Any]:
    parameters = {k: v for k, v in request.params.items() if not (k == "negative_prompt" and not sync)}
    if request.n is not None:
        parameters["n"] = request.n
    return parameters


def _headers(deployment: Deployment) -> dict[str, str]:
    return {"Authorization": f"Bearer {deployment.api_key}"} if deployment.api_key else {}


@hookimpl
def build_request(request: ImageRequest, deployment: Deployment, model: ModelInfo) -> httpx.Request:
    """POST the sync ``multimodal-generation`` call, or submit the async ``image-synthesis`` task."""
    api_base = (deployment.api_base or DEFAULT_API_BASE).rstrip("/")
    if not deployment.api_key and api_base == DEFAULT_API_BASE:
        raise AuthenticationError(
            "no DashScope API key: set DASHSCOPE_API_KEY or pass api_key=", provider=PROVIDER, model=model.name
        )
    headers = _headers(deployment)
    sync = model.extra.get("protocol") == "sync"
    if sync:
        content: list[dict[str, str]] = [{"image": _data_uri(image)} for image in request.images]
        content.append({"text": request.prompt})
        body = {
            "model": deployment.model,
            "input": {"messages": [{"role": "user", "content": content}]},
            "parameters": _parameters(request, sync=True),
        }
        return httpx.Request("POST", f"{api_base}{SYNC_PATH}", headers=headers, json=body)
    headers["X-DashScope-Async"] = "enable"
    prompt: dict[str, Any] = {"prompt": request.prompt}
    if "negative_prompt" in request.params:
        prompt["negative_prompt"] = request.params["negative_prompt"]
    body = {"model": deployment.model, "input": prompt, "parameters": _parameters(request, sync=False)}
    return httpx.Request("POST", f"{api_base}{ASYNC_PATH}", headers=headers, json=body)


def _error(
    code: str | None, message: str, model: str, response: httpx.Response, *, status: int | None = None
) -> PixmuxError:
    """The error for DashScope's ``code`` (refusals typed), else for the HTTP status."""
    if code in REFUSAL_CODES:
        return ContentPolicyViolationError(message, provider=PROVIDER, model=model, code=code, response=response)
    if code == "Arrearage":
        status = 402
    http = status or _CODE_CLASSES.get(code or "", response.status_code if response.is_error else 500)
    param = "size" if code == "InvalidParameter" and "size" in message.lower() else None
    return error_class_for_status(http)(
        message,
        provider=PROVIDER,
        model=model,
        param=param,
        status_code=http,
        retry_after=parse_retry_after(response.headers),
        code=code,
        response=response,
    )


def _body(response: httpx.Response, model: str) -> Mapping[str, Any]:
    body = read_json(response, provider=PROVIDER, model=model)
    if not isinstance(body, Mapping):
        raise APIResponseValidationError("DashScope's answer is not a JSON object", provider=PROVIDER, model=model)
    return body


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


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


def _expires(url: str) -> float:
    """An OSS signed URL's ``Expires`` (Unix seconds) where it has one, else 24 hours from now."""
    found = _query(url, "Expires")
    if found and found.isdigit():
        return float(found)
    return time.time() + URL_LIFETIME


def _interval(deployment: Deployment) -> float:
    value = deployment.setting("poll_interval")
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0:
        return float(value)
    return POLL_INTERVAL


def _sync_result(body: Mapping[str, Any], request: ImageRequest, response: httpx.Response) -> ImageResponse:
    output = body.get("output")
    choices = output.get("choices") if isinstance(output, Mapping) else None
    if not isinstance(choices, list):
        raise APIResponseValidationError(
            "DashScope's answer has no output.choices", provider=PROVIDER, model=request.model, response=response
        )
    urls = []
    for choice in choices:
        message = choice.get("message") if isinstance(choice, Mapping) else None
        content = message.get("content") if isinstance(message, Mapping) else None
        for part in content if isinstance(content, list) else ():
            url = part.get("image") if isinstance(part, Mapping) else None
            if isinstance(url, str) and url:
                urls.append(url)
    if not urls:
        raise APIResponseValidationError(
            "DashScope's answer holds no image", provider=PROVIDER, model=request.model, response=response
        )
    return _images(urls, [], body, request)


def _images(
    urls: list[str], failed: list[dict[str, str]], body: Mapping[str, Any], request: ImageRequest
) -> ImageResponse:
    data = tuple(
        ImageObject(url=_checked_url(url, request.model, "image URL"), expires_at=_expires(url)) for url in urls
    )
    metadata: dict[str, Any] = {}
    if _text(body.get("request_id")):
        metadata["request_id"] = body["request_id"]
    refused = tuple(Refusal(reason=entry["reason"], message=entry["message"] or None) for entry in failed)
    return ImageResponse(created=int(time.time()), data=data, metadata=metadata, refused=refused)


def _task(
    body: Mapping[str, Any], request: ImageRequest, deployment: Deployment, response: httpx.Response
) -> ImageResponse | FollowUp:
    output = body.get("output")
    if not isinstance(output, Mapping) or not _text(output.get("task_id")):
        raise APIResponseValidationError(
            "DashScope's task answer has no output.task_id", provider=PROVIDER, model=request.model, response=response
        )
    status, task_id = _text(output.get("task_status")), quote(output["task_id"], safe="")
    if status in _PENDING:
        base = str(response.request.url).split("/services/", 1)[0].split("/tasks/", 1)[0]
        headers = _headers(deployment)
        return FollowUp(
            request=httpx.Request("GET", f"{base}/tasks/{task_id}", headers=headers),
            after=_interval(deployment),
            cancel=httpx.Request("POST", f"{base}/tasks/{task_id}/cancel", headers=headers),
        )
    code, message = _text(output.get("code")), _text(output.get("message")) or "no message"
    if status == "FAILED":
        raise _error(code, f"the DashScope task failed: {message}", request.model, response, status=None)
    if status in ("CANCELED", "CANCELLED"):
        raise Timeout("the DashScope task was canceled", provider=PROVIDER, model=request.model, code=str(status))
    if status == "UNKNOWN":
        raise NotFoundError(
            "DashScope does not know this task (unknown or expired after 24 hours)",
            provider=PROVIDER,
            model=request.model,
            code="UNKNOWN",
            response=response,
        )
    if status != "SUCCEEDED":
        raise APIResponseValidationError(
            f"the DashScope task has an unknown status {status!r}", provider=PROVIDER, model=request.model
        )
    urls: list[str] = []
    failed: list[dict[str, str]] = []
    results = output.get("results")
    for item in results if isinstance(results, list) else ():
        if not isinstance(item, Mapping):
            continue
        if _text(item.get("url")):
            urls.append(item["url"])
        else:  # a per-image failure inside a SUCCEEDED task (only successful images are billed)
            failed.append({"reason": str(item.get("code") or "failed"), "message": str(item.get("message") or "")})
    if not urls:
        reasons = {entry["reason"] for entry in failed}
        first = failed[0] if failed else {"reason": None, "message": "no image and no reason"}
        cls_code = next(iter(reasons & REFUSAL_CODES), first["reason"])
        raise _error(cls_code, f"no image was made: {first['message']}", request.model, response, status=None)
    return _images(urls, failed, body, request)


@hookimpl
def parse_response(
    response: httpx.Response, request: ImageRequest, deployment: Deployment, model: ModelInfo
) -> ImageResponse | FollowUp:
    """The sync answer's images; an async task's poll until it ends; every DashScope code typed."""
    if response.is_error:
        body: Mapping[str, Any] = {}
        with contextlib.suppress(APIResponseValidationError):
            body = _body(response, model.name)
        message = _text(body.get("message")) or " ".join(response.text.split())[:500] or f"HTTP {response.status_code}"
        raise _error(_text(body.get("code")), message, model.name, response, status=response.status_code)
    body = _body(response, model.name)
    if "output" not in body and _text(body.get("code")):  # a 200 carrying an error
        raise _error(body["code"], _text(body.get("message")) or body["code"], model.name, response)
    sent = response.request
    if sent.method == "GET" or sent.url.path.endswith(ASYNC_PATH):
        return _task(body, request, deployment, response)
    return _sync_result(body, request, response)
