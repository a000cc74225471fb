"""
pixmux provider for Google AI Studio, the Gemini Developer API (``generativelanguage.googleapis.com``).

Gemini image models go to ``models/{model}:generateContent``; Imagen models to
``models/{model}:predict`` (Google shut Imagen down on this API on 2026-08-17: calls warn, and
a 404 says so). The API key travels in the ``x-goog-api-key`` header, never in the URL.
"""

from __future__ import annotations

from typing import Final

import httpx
from pixmux import hookimpl
from pixmux.catalogue import Catalogue, ModelInfo
from pixmux.exceptions import AuthenticationError
from pixmux.types import Deployment, ImageRequest, ImageResponse
from pixmux_google_common.models import catalogue_models, unknown_model
from pixmux_google_common.service import read_response, wire_call
from pixmux_google_common.validation import validate_request

__all__ = ["CATALOGUE", "DEFAULT_API_BASE", "model_catalogue", "validate_params", "build_request", "parse_response"]

PROVIDER: Final = "gemini"
DEFAULT_HOST = "https://generativelanguage.googleapis.com"
DEFAULT_API_VERSION = "v1beta"
DEFAULT_API_BASE = f"{DEFAULT_HOST}/{DEFAULT_API_VERSION}"


def _unknown(name: str) -> ModelInfo:
    return unknown_model(name, PROVIDER)


def _normalize(name: str) -> str:
    return name.removeprefix("models/")


CATALOGUE = Catalogue(
    provider=PROVIDER,
    models=catalogue_models(PROVIDER),
    env={"api_key": ("GEMINI_API_KEY", "GOOGLE_API_KEY"), "api_base": ("GEMINI_API_BASE",)},
    default_api_base=DEFAULT_API_BASE,
    normalize=_normalize,
    unknown=_unknown,
)


@hookimpl
def model_catalogue() -> Catalogue:
    """Google AI Studio's image models: which API each uses, what it accepts and costs."""
    return CATALOGUE


@hookimpl
def validate_params(request: ImageRequest, model: ModelInfo) -> ImageRequest | None:
    """Check the request against the model; rename snake_case native parameters to Google's names."""
    return validate_request(request, model, provider=PROVIDER)


def _base(deployment: Deployment) -> str:
    if deployment.api_base:
        return deployment.api_base.rstrip("/")
    return f"{DEFAULT_HOST}/{deployment.api_version or DEFAULT_API_VERSION}"


@hookimpl
def build_request(request: ImageRequest, deployment: Deployment, model: ModelInfo) -> list[httpx.Request]:
    """POST to ``{api_base}/models/{model}:predict`` or ``:generateContent`` with the key in ``x-goog-api-key``."""
    if not deployment.api_key and not deployment.api_base:
        raise AuthenticationError(
            "no Gemini API key: set GEMINI_API_KEY (or GOOGLE_API_KEY) or pass api_key=",
            provider=PROVIDER,
            model=request.model,
        )
    call = wire_call(request, model, provider=PROVIDER)
    url = f"{_base(deployment)}/models/{_normalize(deployment.model)}:{call.method}"
    headers = {"x-goog-api-key": deployment.api_key} if deployment.api_key else {}
    return [httpx.Request("POST", url, headers=headers, json=body) for body in call.bodies]


@hookimpl
def parse_response(response: httpx.Response, request: ImageRequest, model: ModelInfo) -> ImageResponse:
    """Read images, text, usage and filtering from either API's answer, or raise the error Google's body means."""
    return read_response(response, request, model, provider=PROVIDER)
