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
from pixmux.dialects.openai_edits import edit_path, file_parts, form_fields, multipart_request
from pixmux.exceptions import AuthenticationError, UnsupportedParamsError
from pixmux.inputs import facts_of
from pixmux.streaming import read_openai_event
from pixmux.types import Deployment, ImageRequest, ImageResponse, ImageStreamEvent, ServerSentEvent

from pixmux_openai.models import EDIT_ONLY_PARAMS, MODELS

__all__ = [
    "CATALOGUE",
    "DEFAULT_API_BASE",
    "validate_params",
    "build_request",
    "parse_response",
    "parse_event",
    "model_catalogue",
]

PROVIDER = "openai"
DEFAULT_API_BASE = "https://api.openai.com/v1"
#: Fields of OpenAI's body each family takes; the rest are never sent.
_GPT_FIELDS = ("n", "size", "quality", "user")
_DALLE_FIELDS = ("n", "size", "quality", "style", "response_format", "user")
_ANY_FIELDS = ("n", "size", "quality", "style", "response_format", "user")
#: The fields of an edit (no ``style``) and of a variation (no ``prompt``, ``quality`` or ``style``).
_GPT_EDIT_FIELDS = ("n", "size", "quality", "user")
_DALLE_EDIT_FIELDS = ("n", "size", "response_format", "user")
_ANY_EDIT_FIELDS = ("n", "size", "quality", "response_format", "user")
_VARIATION_FIELDS = ("n", "size", "response_format", "user")


def _unknown(name: str) -> ModelInfo:
    """A model the catalogue does not list (``openai/<name>`` on a compatible server): forwarded as given."""
    return ModelInfo(name=name, known=False, operations=frozenset({"generate", "edit", "variation"}))


CATALOGUE = Catalogue(
    provider=PROVIDER,
    models=MODELS,
    env={
        "api_key": ("OPENAI_API_KEY",),
        "api_base": ("OPENAI_BASE_URL", "OPENAI_API_BASE"),
        "organization": ("OPENAI_ORG_ID",),
    },
    default_api_base=DEFAULT_API_BASE,
    unknown=_unknown,
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
    _check_operation(request, model)
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


def _check_operation(request: ImageRequest, model: ModelInfo) -> None:
    """What differs between a generation and an edit of a known model."""
    if request.operation == "generate":
        for name in EDIT_ONLY_PARAMS.intersection(request.params) if request.params else ():
            raise UnsupportedParamsError(
                f"{name} applies only to edits (image_edit), not to a generation",
                provider=PROVIDER,
                model=model.name,
                param=name,
            )
        return
    family = model.extra.get("family")
    if request.params.get("input_fidelity") is not None and model.name.startswith("gpt-image-1-mini"):
        raise UnsupportedParamsError(
            f"input_fidelity is not supported by {model.name}; use gpt-image-1 or gpt-image-1.5",
            provider=PROVIDER,
            model=model.name,
            param="input_fidelity",
        )
    if request.style is not None:
        raise UnsupportedParamsError(
            f"style applies only to generations, not to an {request.operation}",
            provider=PROVIDER,
            model=model.name,
            param="style",
        )
    if family == "gpt-image" and request.params.get("moderation") is not None:
        raise UnsupportedParamsError(
            "moderation is not a field of OpenAI's multipart edit",
            provider=PROVIDER,
            model=model.name,
            param="moderation",
        )
    if family == "dall-e":  # dall-e-2: one square PNG
        facts = facts_of(request.images[0])
        if facts is not None and facts.width is not None and facts.width != facts.height:
            raise UnsupportedParamsError(
                f"image is {facts.width}x{facts.height}; {model.name} needs a square PNG",
                provider=PROVIDER,
                model=model.name,
                param="image",
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
    """
    POST the OpenAI body to ``{api_base}/images/generations`` with a bearer key; an edit or a
    variation as multipart to ``/images/edits`` or ``/images/variations``.
    """
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
    if request.operation != "generate":
        fields = form_fields(request, deployment.model, openai_params=_edit_fields(request, model))
        return multipart_request(f"{api_base}{edit_path(request)}", headers, fields, file_parts(request))
    body = build_body(request, deployment.model, openai_params=_fields(model))
    return post_json(_endpoint(api_base), headers, body)


def _edit_fields(request: ImageRequest, model: ModelInfo) -> tuple[str, ...]:
    if request.operation == "variation":
        return _VARIATION_FIELDS
    family = model.extra.get("family")
    if family == "gpt-image":
        return _GPT_EDIT_FIELDS
    if family == "dall-e":
        return _DALLE_EDIT_FIELDS
    return _ANY_EDIT_FIELDS


@functools.lru_cache(maxsize=256)
def _endpoint(api_base: str) -> httpx.URL:
    """``{api_base}/images/generations``, parsed once per ``api_base`` (``httpx.URL`` is immutable)."""
    return httpx.URL(f"{api_base}/images/generations")


@hookimpl
def parse_response(response: httpx.Response, model: ModelInfo) -> ImageResponse:
    """Read OpenAI's ``ImagesResponse``, or raise the error its status and code mean."""
    if 400 <= response.status_code <= 599:  # response.is_error, without its enum lookup
        raise error_for(response, provider=PROVIDER, info=model)
    return parse_images(response, provider=PROVIDER, model=model.name)


@hookimpl
def parse_event(event: ServerSentEvent, model: ModelInfo) -> ImageStreamEvent | None:
    """Read one of OpenAI's image stream events (``stream=True`` on the GPT image models)."""
    return read_openai_event(event, provider=PROVIDER, model=model.name)
