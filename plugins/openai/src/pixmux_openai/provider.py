"""
pixmux provider for OpenAI's Images API, and for any OpenAI-compatible image server.

Known models are validated against what each really accepts; any other name
(``openai/my-sd-model`` with ``api_base``) is forwarded with the caller's parameters as given.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from pixmux import hookimpl
from pixmux.catalogue import Catalogue, ModelInfo, Price, Pricing, check_request, parse_size
from pixmux.exceptions import AuthenticationError, UnsupportedParamsError
from pixmux.types import Deployment, ImageRequest, ImageResponse

from pixmux_openai.wire import build_body, error_for, parse_images

__all__ = ["CATALOGUE", "DEFAULT_API_BASE", "validate_params", "build_request", "parse_response", "model_catalogue"]

PROVIDER = "openai"
DEFAULT_API_BASE = "https://api.openai.com/v1"
_RETIRED_DALLE = (
    "OpenAI shut down DALL-E in its API on 2026-05-12; use gpt-image-1 or gpt-image-1-mini "
    "(an OpenAI-compatible server given with api_base may still serve it)"
)
_GPT_SIZES = frozenset({"auto", "1024x1024", "1536x1024", "1024x1536"})
_GPT_QUALITIES = frozenset({"auto", "low", "medium", "high"})
_GPT_PARAMS = frozenset({"background", "moderation", "output_format", "output_compression"})
_GPT_VALUES: Mapping[str, frozenset[Any]] = {
    "background": frozenset({"transparent", "opaque", "auto"}),
    "moderation": frozenset({"low", "auto"}),
    "output_format": frozenset({"png", "jpeg", "webp"}),
}
_GPT_RANGES = {"output_compression": (0.0, 100.0)}
#: Fields of OpenAI's body each family takes; the rest are never sent.
_GPT_FIELDS = ("n", "size", "quality", "user")
_DALLE_FIELDS = ("n", "size", "quality", "style", "response_format", "user")
_ANY_FIELDS = ("n", "size", "quality", "style", "response_format", "user")


def _per_image(table: Mapping[str, tuple[float, float]], square: str = "1024x1024") -> tuple[Price, ...]:
    # {quality: (square price, portrait/landscape price)} for the three GPT image sizes
    rules = []
    for quality, (square_usd, wide_usd) in table.items():
        rules.append(Price(usd=square_usd, size=square, quality=quality))
        rules.append(Price(usd=wide_usd, size="1536x1024", quality=quality))
        rules.append(Price(usd=wide_usd, size="1024x1536", quality=quality))
    return tuple(rules)


def _gpt(name: str, pricing: Pricing | None, description: str, **extra: Any) -> ModelInfo:
    return ModelInfo(
        name=name,
        sizes=None if extra.get("custom_sizes") else _GPT_SIZES,
        qualities=_GPT_QUALITIES,
        styles=frozenset(),
        response_formats=frozenset({"b64_json"}),
        max_n=10,
        max_prompt_chars=32000,
        params=_GPT_PARAMS,
        param_values=_GPT_VALUES,
        param_ranges=_GPT_RANGES,
        pricing=pricing,
        description=description,
        extra={"family": "gpt-image", **extra},
    )


# Prices from OpenAI's pricing and model pages (US$): token prices per token, per-image prices
# for calls whose usage is not reported.
_MODELS = (
    _gpt(
        "gpt-image-1",
        Pricing(
            input_token=5.00e-6,
            output_token=40.00e-6,
            per_image=_per_image({"low": (0.011, 0.016), "medium": (0.042, 0.063), "high": (0.167, 0.25)}),
            default_size="1024x1024",
            default_quality="high",
        ),
        "GPT Image 1: token-billed; needs a verified organization",
    ),
    _gpt(
        "gpt-image-1-mini",
        Pricing(
            input_token=2.00e-6,
            output_token=8.00e-6,
            per_image=_per_image({"low": (0.005, 0.006), "medium": (0.011, 0.015), "high": (0.036, 0.052)}),
            default_size="1024x1024",
            default_quality="high",
        ),
        "GPT Image 1 mini: the low-cost GPT image model",
    ),
    _gpt(
        "gpt-image-1.5",
        Pricing(
            input_token=5.00e-6,
            output_token=32.00e-6,
            per_image=_per_image({"low": (0.009, 0.013), "medium": (0.034, 0.05), "high": (0.133, 0.2)}),
            default_size="1024x1024",
            default_quality="high",
        ),
        "GPT Image 1.5",
    ),
    _gpt("gpt-image-2", None, "GPT Image 2: any WxH size (multiples of 16, up to 3840x2160)", custom_sizes=True),
    _gpt("chatgpt-image-latest", None, "The GPT image model behind ChatGPT"),
    ModelInfo(
        name="dall-e-3",
        sizes=frozenset({"1024x1024", "1792x1024", "1024x1792"}),
        qualities=frozenset({"standard", "hd"}),
        styles=frozenset({"vivid", "natural"}),
        response_formats=frozenset({"url", "b64_json"}),
        max_n=1,
        max_prompt_chars=4000,
        params=frozenset(),
        pricing=Pricing(
            per_image=(
                Price(usd=0.04, size="1024x1024", quality="standard"),
                Price(usd=0.08, quality="standard"),
                Price(usd=0.08, size="1024x1024", quality="hd"),
                Price(usd=0.12, quality="hd"),
            ),
            default_size="1024x1024",
            default_quality="standard",
        ),
        description="DALL-E 3 (shut down by OpenAI on 2026-05-12)",
        extra={"family": "dall-e", "retired_note": _RETIRED_DALLE},
    ),
    ModelInfo(
        name="dall-e-2",
        sizes=frozenset({"256x256", "512x512", "1024x1024"}),
        qualities=frozenset({"standard"}),
        styles=frozenset(),
        response_formats=frozenset({"url", "b64_json"}),
        max_n=10,
        max_prompt_chars=1000,
        params=frozenset(),
        pricing=Pricing(
            per_image=(
                Price(usd=0.016, size="256x256"),
                Price(usd=0.018, size="512x512"),
                Price(usd=0.02, size="1024x1024"),
            ),
            default_size="1024x1024",
        ),
        description="DALL-E 2 (shut down by OpenAI on 2026-05-12)",
        extra={"family": "dall-e", "retired_note": _RETIRED_DALLE},
    ),
)

CATALOGUE = Catalogue(
    provider=PROVIDER,
    models={info.name: info for info in _MODELS},
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
    return httpx.Request("POST", f"{api_base}/images/generations", headers=headers, json=body)


@hookimpl
def parse_response(response: httpx.Response, model: ModelInfo) -> ImageResponse:
    """Read OpenAI's ``ImagesResponse``, or raise the error its status and code mean."""
    if response.is_error:
        raise error_for(response, provider=PROVIDER, info=model)
    return parse_images(response, provider=PROVIDER, model=model.name)
