"""
pixmux provider for a self-hosted Xinference (Xorbits Inference) server: ``xinference/<model uid>``.

The route, body envelope and response are OpenAI's, so this plugin reuses
:mod:`pixmux.dialects.openai`. What differs from the ``openai`` provider, and all this module adds:

- **Endpoint**: no public default host. ``XINFERENCE_API_BASE`` or ``api_base`` is required
  (``http://host:9997`` or ``http://host:9997/v1``); without it the call fails before any request,
  so a key can never be sent to some other provider's host. The key is optional.
- **Model**: ``xinference/<model uid>``: the UID given at launch (by default the model's name).
- **Diffusion settings** (``num_inference_steps``, ``guidance_scale``, ``negative_prompt``, ``seed``,
  ``sampler_name`` ...) are ordinary keyword arguments; they travel in the body's ``kwargs`` field,
  a *string* holding JSON, because Xinference forwards no other field to the pipeline.
- **Output**: always asks for ``b64_json`` (Xinference's ``url`` is a file path on the server);
  ``response_format="url"`` gets ``data:`` URLs.
- **No** ``quality`` or ``style``; errors are FastAPI's ``{"detail": ...}``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

import httpx
from pixmux import hookimpl
from pixmux.catalogue import Catalogue, ModelInfo, check_request
from pixmux.dialects.openai import as_data_urls, build_body, error_for, parse_images
from pixmux.exceptions import APIResponseValidationError, ConfigurationError, UnsupportedParamsError
from pixmux.types import Deployment, ImageRequest, ImageResponse

__all__ = ["CATALOGUE", "ALIASES", "model_catalogue", "validate_params", "build_request", "parse_response"]

PROVIDER = "xinference"
#: Other names accepted for diffusers' keywords (SD-WebUI habits): sent under the diffusers name.
ALIASES: Mapping[str, str] = {
    "steps": "num_inference_steps",
    "cfg_scale": "guidance_scale",
    "guidance": "guidance_scale",
}
#: Fields of OpenAI's body Xinference reads; every other setting goes into ``kwargs``.
_BODY_FIELDS = ("n", "size", "user")
#: ``WIDTHxHEIGHT``; Xinference splits on any non-digit, so ``1024*1024`` works too.
_SIZE = re.compile(r"^\s*([1-9]\d*)\s*[x*X]\s*([1-9]\d*)\s*$")
_SEED_MAX = 2**64 - 1


def _model(name: str, known: bool = True, description: str = "") -> ModelInfo:
    # What holds for every Xinference image model: no quality or style, url or b64_json, any pipeline keyword.
    return ModelInfo(
        name=name,
        known=known,
        qualities=frozenset(),
        styles=frozenset(),
        response_formats=frozenset({"url", "b64_json"}),
        description=description or "a model launched on your Xinference server (by its model UID)",
    )


# Xinference's built-in text-to-image models, as launched with their default UID (the model name).
_BUILTIN = (
    ("sd-turbo", "Stable Diffusion Turbo (few steps)"),
    ("sdxl-turbo", "SDXL Turbo (few steps)"),
    ("stable-diffusion-v1.5", "Stable Diffusion 1.5"),
    ("stable-diffusion-xl-base-1.0", "Stable Diffusion XL base 1.0"),
    ("sd3-medium", "Stable Diffusion 3 Medium"),
    ("sd3.5-medium", "Stable Diffusion 3.5 Medium"),
    ("sd3.5-large", "Stable Diffusion 3.5 Large"),
    ("sd3.5-large-turbo", "Stable Diffusion 3.5 Large Turbo"),
    ("FLUX.1-schnell", "FLUX.1 [schnell]"),
    ("FLUX.1-dev", "FLUX.1 [dev]"),
)

CATALOGUE = Catalogue(
    provider=PROVIDER,
    models={name: _model(name, description=description) for name, description in _BUILTIN},
    env={"api_base": ("XINFERENCE_API_BASE",), "api_key": ("XINFERENCE_API_KEY",)},
    default_api_base=None,  # self-hosted: there is no public host
    unknown=lambda name: _model(name, known=False),
)


@hookimpl
def model_catalogue() -> Catalogue:
    """Xinference's built-in image models; any other model UID is accepted with the same rules."""
    return CATALOGUE


def _require_api_base(deployment: Deployment) -> str:
    if not deployment.api_base:
        raise ConfigurationError(
            "Xinference is self-hosted and has no default endpoint: set XINFERENCE_API_BASE or pass "
            "api_base='http://<host>:9997'",
            provider=PROVIDER,
            model=deployment.model,
            param="api_base",
        )
    return deployment.api_base


def _unsupported(message: str, model: str, param: str) -> UnsupportedParamsError:
    return UnsupportedParamsError(message, provider=PROVIDER, model=model, param=param)


def _given_kwargs(value: Any, model: str) -> dict[str, Any]:
    # A caller may also pass Xinference's own ``kwargs`` (a dict, or the JSON string itself).
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise _unsupported(f"kwargs is not valid JSON: {exc}", model, "kwargs") from exc
    if not isinstance(value, dict):
        raise _unsupported(
            f"kwargs must be a mapping of pipeline settings (or its JSON text), not {type(value).__name__}",
            model,
            "kwargs",
        )
    return dict(value)


def diffusion_kwargs(request: ImageRequest) -> dict[str, Any]:
    """
    The pipeline settings for the body's ``kwargs``: every provider-specific parameter, aliases resolved.

    A ``kwargs`` the caller passed (a dict or its JSON text) is merged first; named keyword
    arguments win over its keys.

    Raises:
        UnsupportedParamsError: an alias and its target are both given, or ``kwargs`` is unreadable.
    """
    found = _given_kwargs(request.params["kwargs"], request.model) if "kwargs" in request.params else {}
    for name, value in request.params.items():
        if name == "kwargs":
            continue
        target = ALIASES.get(name, name)
        if target != name and target in request.params:
            raise _unsupported(f"give either {name} or {target}, not both", request.model, name)
        found[target] = value
    return found


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _problem(name: str, value: Any) -> str | None:
    # What is wrong with one pipeline setting (by its diffusers name), or None.
    if name in ("width", "height"):
        return f"{name} is set from size on Xinference: pass size='WIDTHxHEIGHT' instead"
    if name == "num_inference_steps" and not (_is_int(value) and value >= 1):
        return f"num_inference_steps={value!r} must be a whole number of at least 1"
    if name in ("guidance_scale", "true_cfg_scale") and not (
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0
    ):
        return f"{name}={value!r} must be a number of at least 0"
    if name == "seed" and not (_is_int(value) and -1 <= value <= _SEED_MAX):
        return f"seed={value!r} must be a whole number from 0 to 2**64-1, or -1 for random"
    if name in ("negative_prompt", "sampler_name") and not isinstance(value, str):
        return f"{name} must be a string, not {type(value).__name__}"
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return f"{name}={value!r} cannot be sent as JSON: {exc}"
    return None


@hookimpl
def validate_params(request: ImageRequest, model: ModelInfo, deployment: Deployment) -> None:
    """Require an endpoint, check size as ``WxH``, and type-check the diffusion settings bound for ``kwargs``."""
    _require_api_base(deployment)
    check_request(request, model, provider=PROVIDER)
    if request.size is not None and not _SIZE.match(request.size):
        raise _unsupported(
            f"size={request.size!r} is not WIDTHxHEIGHT (for example '1024x1024')", request.model, "size"
        )
    diffusion_kwargs(request)  # alias clashes, unreadable kwargs
    for name, value in request.params.items():
        inner = _given_kwargs(value, request.model) if name == "kwargs" else {ALIASES.get(name, name): value}
        for setting, setting_value in inner.items():
            problem = _problem(setting, setting_value)
            if problem:
                # Blame the name the caller used, so that drop_params can drop it.
                raise _unsupported(problem, request.model, name)


@hookimpl
def build_request(request: ImageRequest, deployment: Deployment) -> httpx.Request:
    """POST to ``{api_base}/v1/images/generations`` for ``b64_json``, the diffusion settings in a ``kwargs`` string."""
    base = _require_api_base(deployment).rstrip("/")
    if not base.endswith("/v1"):
        base += "/v1"
    headers = {"Authorization": f"Bearer {deployment.api_key}"} if deployment.api_key else {}
    body = build_body(request, deployment.model, openai_params=_BODY_FIELDS, extra=False)
    body["response_format"] = "b64_json"  # Xinference's "url" is a path on the server's disk
    settings = diffusion_kwargs(request)
    if settings:
        body["kwargs"] = json.dumps(settings)
    return httpx.Request("POST", f"{base}/images/generations", headers=headers, json=body)


@hookimpl
def parse_response(response: httpx.Response, request: ImageRequest, model: ModelInfo) -> ImageResponse:
    """Read the ``ImageList``; give ``data:`` URLs when the caller asked for ``url``; raise on ``{"detail"}`` errors."""
    if response.is_error:
        raise error_for(response, provider=PROVIDER, info=model)
    parsed = parse_images(response, provider=PROVIDER, model=model.name)
    for image in parsed.data:
        if (
            image.b64_json is None
            and image.url is not None
            and not image.url.startswith(("http://", "https://", "data:"))
        ):
            raise APIResponseValidationError(
                "Xinference answered with a file path on its own disk instead of image data; "
                "pixmux asks for b64_json, so the server may be too old to honour it",
                provider=PROVIDER,
                model=model.name,
                response=response,
            )
    if request.response_format == "url":
        return as_data_urls(parsed, provider=PROVIDER, model=model.name)
    return parsed
