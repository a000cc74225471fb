"""
pixmux provider for OpenAI's Images API, and for any OpenAI-compatible image server.

Known models are validated against what each really accepts; any other name
(``openai/my-sd-model`` with ``api_base``) is forwarded with the caller's parameters as given.
"""

from __future__ import annotations

import functools

import httpx
from pixmux import hookimpl
from pixmux.catalogue import Catalogue, ModelInfo, check_request, parse_size
from pixmux.dialects.openai import build_body, error_for, parse_images, post_json
from pixmux.exceptions import AuthenticationError, UnsupportedParamsError
from pixmux.types import Deployment, ImageRequest, ImageResponse

from pixmux_openai.models import MODELS

__all__ = ["CATALOGUE", "DEFAULT_API_BASE", "validate_params", "build_request", "parse_response", "model_catalogue"]

PROVIDER = "openai"
DEFAULT_API_BASE = "https://api.openai.com/v1"
#: Fields of OpenAI's body each family takes; the rest are never sent.
_GPT_FIELDS = ("n", "size", "quality", "user")
_DALLE_FIELDS = ("n", "size", "quality", "style", "response_format", "user")
_ANY_FIELDS = ("n", "size", "quality", "style", "response_format", "user")


CATALOGUE = Catalogue(
    provider=PROVIDER,
    models=MODELS,
    env={
        "api_key": ("OPENAI_API_KEY",),
        "api_base": ("OPENAI_BASE_URL", "OPENAI_API_BASE"),
        "organization": ("OPENAI_ORG_ID",),
    },
    default_api_base=DEFAULT_API_BASE,
)


@hookimpl
def model_catalogue() -> Catalogue:
    """OpenAI's image models, what each accepts and what each costs."""
    return CATALOGUE


def _check_custom_size(size: str, model: str) -> None:
    if size == "auto":
        return
    width, height = parse_size(size, provider=PROVIDER, model=model)
    problem = None
    if width % 16 or height % 16:
        problem = "both sides must be multiples of 16"
    elif max(width, height) > 3 * min(width, height):
        problem = "the aspect ratio must be between 1:3 and 3:1"
    elif max(width, height) > 3840 or width * height > 3840 * 2160:
        problem = "the largest size is 3840x2160"
    if problem:
        raise UnsupportedParamsError(
            f"size={size!r} is not supported by {model}: {problem}; accepted: auto or WIDTHxHEIGHT",
            provider=PROVIDER,
            model=model,
            param="size",
        )


@hookimpl
def validate_params(request: ImageRequest, model: ModelInfo) -> None:
    """Check sizes, qualities, styles, n, formats and the GPT-image options against the model."""
    check_request(request, model, provider=PROVIDER)
    if not model.known:
        return
    if model.extra.get("custom_sizes") and request.size is not None:
        _check_custom_size(request.size, model.name)
    params = request.params
    if model.extra.get("family") == "gpt-image":
        if model.name.startswith("gpt-image-2") and params.get("background") == "transparent":
            raise UnsupportedParamsError(
                f"background='transparent' is not supported by {model.name}; accepted: opaque, auto",
                provider=PROVIDER,
                model=model.name,
                param="background",
            )
        output_format = params.get("output_format", "png")
        if params.get("background") == "transparent" and output_format not in ("png", "webp"):
            raise UnsupportedParamsError(
                f"background='transparent' needs output_format png or webp, not {output_format!r}",
                provider=PROVIDER,
                model=model.name,
                param="background",
            )
        if params.get("output_compression") is not None and output_format not in ("jpeg", "webp"):
            raise UnsupportedParamsError(
                f"output_compression applies only to output_format jpeg or webp, not {output_format!r}",
                provider=PROVIDER,
                model=model.name,
                param="output_compression",
            )


def _fields(model: ModelInfo) -> tuple[str, ...]:
    family = model.extra.get("family")
    if family == "gpt-image":
        return _GPT_FIELDS
    if family == "dall-e":
        return _DALLE_FIELDS
    return _ANY_FIELDS


@hookimpl
def build_request(request: ImageRequest, deployment: Deployment, model: ModelInfo) -> httpx.Request:
    """POST the OpenAI body to ``{api_base}/images/generations`` with a bearer key."""
    api_base = (deployment.api_base or DEFAULT_API_BASE).rstrip("/")
    if deployment.api_key is None and api_base == DEFAULT_API_BASE:
        raise AuthenticationError(
            "no OpenAI API key: set OPENAI_API_KEY or pass api_key=", provider=PROVIDER, model=request.model
        )
    headers = {}
    if deployment.api_key:
        headers["Authorization"] = f"Bearer {deployment.api_key}"
    if deployment.organization:
        headers["OpenAI-Organization"] = deployment.organization
    body = build_body(request, deployment.model, openai_params=_fields(model))
    return post_json(_endpoint(api_base), headers, body)


@functools.lru_cache(maxsize=256)
def _endpoint(api_base: str) -> httpx.URL:
    """``{api_base}/images/generations``, parsed once per ``api_base`` (``httpx.URL`` is immutable)."""
    return httpx.URL(f"{api_base}/images/generations")


@hookimpl
def parse_response(response: httpx.Response, model: ModelInfo) -> ImageResponse:
    """Read OpenAI's ``ImagesResponse``, or raise the error its status and code mean."""
    if response.is_error:
        raise error_for(response, provider=PROVIDER, info=model)
    return parse_images(response, provider=PROVIDER, model=model.name)
