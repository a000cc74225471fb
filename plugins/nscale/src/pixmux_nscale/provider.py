"""
pixmux provider for Nscale's serverless image generation: ``nscale/<model id>``.

Nscale's endpoint is a thin subset of OpenAI's Images API, so this plugin reuses
:mod:`pixmux.dialects.openai`. What differs from the ``openai`` provider, and all this module adds:

- **Endpoint and key**: ``https://inference.api.nscale.com/v1``, ``NSCALE_API_KEY`` (a service token).
- **Models**: Hugging Face-style ids (``black-forest-labs/FLUX.1-schnell``,
  ``stabilityai/stable-diffusion-xl-base-1.0``); the default size is ``512x512``.
- **Body**: only ``model``, ``prompt``, ``size`` and ``n``; no ``quality``, ``style`` or ``response_format``.
- **Output**: always base64 (JPEG in practice); ``response_format="url"`` gets ``data:`` URLs.
- **Errors**: OpenAI's envelope; a 429 also means "insufficient credit".
"""

from __future__ import annotations

import httpx
from pixmux import hookimpl
from pixmux.catalogue import Catalogue, ModelInfo, check_request, parse_size
from pixmux.dialects.openai import as_data_urls, build_body, error_for, parse_images
from pixmux.exceptions import AuthenticationError
from pixmux.types import Deployment, ImageRequest, ImageResponse

__all__ = ["CATALOGUE", "DEFAULT_API_BASE", "model_catalogue", "validate_params", "build_request", "parse_response"]

PROVIDER = "nscale"
DEFAULT_API_BASE = "https://inference.api.nscale.com/v1"
#: The fields of OpenAI's body Nscale documents (besides model and prompt).
_FIELDS = ("n", "size")


def _model(name: str, *, known: bool = True, description: str = "") -> ModelInfo:
    return ModelInfo(
        name=name,
        known=known,
        qualities=frozenset(),
        styles=frozenset(),
        response_formats=frozenset({"b64_json", "url"}),  # url: answered as data: URLs
        # Nscale documents no extra parameter for its models; an unlisted model may take any.
        params=frozenset() if known else None,
        description=description,
        extra={"default_size": "512x512"},
    )


# Nscale's current image models (docs: serverless models, image models). Prices are billed per
# megapixel and diffusion step; Nscale's per-model rates could not be verified, so none are listed.
_MODELS = (
    _model("black-forest-labs/FLUX.1-schnell", description="FLUX.1 [schnell] on Nscale serverless"),
    _model("stabilityai/stable-diffusion-xl-base-1.0", description="Stable Diffusion XL base 1.0 on Nscale serverless"),
)

CATALOGUE = Catalogue(
    provider=PROVIDER,
    models={info.name: info for info in _MODELS},
    env={"api_key": ("NSCALE_API_KEY",), "api_base": ("NSCALE_API_BASE",)},
    default_api_base=DEFAULT_API_BASE,
    unknown=lambda name: _model(name, known=False, description="a model Nscale may have added since"),
)


@hookimpl
def model_catalogue() -> Catalogue:
    """Nscale's serverless image models; other model ids are forwarded as given."""
    return CATALOGUE


@hookimpl
def validate_params(request: ImageRequest, model: ModelInfo) -> None:
    """Check the request (no quality or style; ``size`` as ``WIDTHxHEIGHT``) against the model."""
    check_request(request, model, provider=PROVIDER)
    if request.size is not None:
        parse_size(request.size, provider=PROVIDER, model=model.name)


@hookimpl
def build_request(request: ImageRequest, deployment: Deployment, model: ModelInfo) -> httpx.Request:
    """POST ``model``, ``prompt``, ``size`` and ``n`` to ``{api_base}/images/generations`` with a bearer token."""
    api_base = (deployment.api_base or DEFAULT_API_BASE).rstrip("/")
    if not deployment.api_key and api_base == DEFAULT_API_BASE:
        raise AuthenticationError(
            "no Nscale service token: set NSCALE_API_KEY or pass api_key=", provider=PROVIDER, model=request.model
        )
    headers = {"Authorization": f"Bearer {deployment.api_key}"} if deployment.api_key else {}
    body = build_body(request, deployment.model, openai_params=_FIELDS, extra=not model.known)
    return httpx.Request("POST", f"{api_base}/images/generations", headers=headers, json=body)


@hookimpl
def parse_response(response: httpx.Response, request: ImageRequest, model: ModelInfo) -> ImageResponse:
    """Read the base64 images; give ``data:`` URLs when the caller asked for ``url``; raise on errors."""
    if response.is_error:
        raise error_for(response, provider=PROVIDER, info=model)
    parsed = parse_images(response, provider=PROVIDER, model=model.name)
    if request.response_format == "url":
        return as_data_urls(parsed, provider=PROVIDER, model=model.name)
    return parsed
