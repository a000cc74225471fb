"""
pixmux provider for Azure OpenAI (Microsoft Foundry) image deployments: ``azure/<deployment>``.

The body, the response and most errors are OpenAI's, so this plugin reuses
:mod:`pixmux.dialects.openai`. What differs from the ``openai`` provider, and all this module adds:

- **URL**: ``{api_base}/openai/deployments/{deployment}/images/generations?api-version=...``
  (the default), or the v1 route ``{api_base}/openai/v1/images/generations`` with
  ``api_version="v1"`` (``"preview"`` adds ``?api-version=preview``), or an ``api_base`` ending in ``/openai/v1``.
- **Auth**: an ``api-key`` header, not ``Authorization``; or a Microsoft Entra ID bearer token
  (``azure_ad_token``, ``azure_ad_token_provider`` or ``azure_credential``), resolved in ``resolve_auth``.
- **Model**: ``azure/<deployment>`` names a deployment, which says nothing about the model behind it.
  ``base_model="gpt-image-1"`` states it, so validation and cost use that model; without it the
  request is forwarded as given (lenient) and no cost is computed.
- **Models**: GPT image models take ``png``/``jpeg`` only (no ``webp``) and default to quality ``high``.
- **Errors**: content-filter refusals (``contentFilter``, ``content_filter``,
  ``content_policy_violation``, inner ``ResponsibleAIPolicyViolation``) become
  ``ContentPolicyViolationError`` with Azure's filter results in ``details``.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import attrs
import httpx
from pixmux import hookimpl
from pixmux.catalogue import Catalogue, ModelInfo, Price, Pricing, check_request
from pixmux.dialects.openai import build_body, error_for, parse_images
from pixmux.dialects.openai_edits import edit_path, file_parts, form_fields, multipart_request
from pixmux.exceptions import (
    AuthenticationError,
    ConfigurationError,
    ContentPolicyViolationError,
    PixmuxError,
    UnsupportedParamsError,
    error_from_response,
)
from pixmux.inputs import check_inputs
from pixmux.streaming import read_openai_event
from pixmux.types import Auth, Deployment, ImageRequest, ImageResponse, ImageStreamEvent, ServerSentEvent
from pixmux_openai.models import GPT_INPUTS, STREAM_PARAMS
from pixmux_openai.models import MODELS as OPENAI_MODELS

__all__ = [
    "CATALOGUE",
    "DEFAULT_API_VERSION",
    "ENTRA_SCOPE",
    "model_catalogue",
    "validate_params",
    "resolve_auth",
    "build_request",
    "parse_response",
    "parse_event",
]

PROVIDER = "azure"
#: The api-version sent on the deployment route when none is given: the one Azure's docs use for GPT image models.
DEFAULT_API_VERSION = "2025-04-01-preview"
#: ``api_version`` values that select the v1 route instead of the deployment route.
V1_VERSIONS = frozenset({"v1", "latest", "preview"})
#: The Entra ID scope (audience) of Azure OpenAI tokens.
ENTRA_SCOPE = "https://cognitiveservices.azure.com/.default"

#: Error codes Azure uses for content-filter refusals (documented and observed in the wild).
CONTENT_FILTER_CODES = frozenset({"contentFilter", "content_filter", "content_policy_violation", "moderation_blocked"})
RAI_INNER_CODE = "ResponsibleAIPolicyViolation"

#: Fields of OpenAI's body each family takes on Azure; the rest are never sent.
_GPT_FIELDS = ("n", "size", "quality", "user")
_ALL_FIELDS = ("n", "size", "quality", "style", "response_format", "user")


#: Edits on Azure: as OpenAI's GPT image models, but PNG or JPEG inputs only (Azure's how-to).
_EDIT_INPUTS = attrs.evolve(GPT_INPUTS, media_types=frozenset({"image/png", "image/jpeg"}))


def _on_azure(name: str, description: str, *, default_quality: str = "high") -> ModelInfo:
    """OpenAI's entry for a GPT image model, less what Azure does not take."""
    info = OPENAI_MODELS[name]
    assert info.pricing is not None
    return attrs.evolve(
        info,
        sizes=frozenset({"1024x1024", "1024x1536", "1536x1024"}),  # no "auto"
        qualities=frozenset({"low", "medium", "high"}),  # no "auto"
        params=frozenset(
            {"background", "output_format", "output_compression", "input_fidelity", *STREAM_PARAMS}
        ),  # no "moderation"
        param_values={**info.param_values, "output_format": frozenset({"png", "jpeg"})},  # no "webp"
        pricing=attrs.evolve(info.pricing, default_quality=default_quality),
        description=description,
        inputs=_EDIT_INPUTS,
    )


# Prices: Azure's Global Standard list prices in US$. For the GPT image models they are OpenAI's
# (taken from pixmux_openai.models); DALL-E 3 costs more on Azure. Unverified here (Azure's pricing
# page renders them per region and currency); regional and data-zone deployments cost more.
_MODELS = (
    _on_azure("gpt-image-1", "GPT Image 1 (limited access): base64 only, png or jpeg"),
    _on_azure("gpt-image-1-mini", "GPT Image 1 mini: default quality medium on Azure", default_quality="medium"),
    _on_azure("gpt-image-1.5", "GPT Image 1.5 (limited access)"),
    attrs.evolve(
        OPENAI_MODELS["dall-e-3"],
        pricing=Pricing(
            per_image=(
                Price(usd=0.044, size="1024x1024", quality="standard"),
                Price(usd=0.088, quality="standard"),
                Price(usd=0.088, size="1024x1024", quality="hd"),
                Price(usd=0.132, quality="hd"),
            ),
            default_size="1024x1024",
            default_quality="standard",
        ),
        description="DALL-E 3 on Azure: URLs stay valid 24 hours; own retirement schedule",
        extra={"family": "dall-e"},  # not retired on Azure
    ),
)


@attrs.frozen(kw_only=True)
class AzureCatalogue(Catalogue):
    """
    Azure's catalogue: the base models it hosts, looked up by ``base_model``, never by deployment name.

    A deployment is named by its owner (``my-images``, or even ``dall-e-3`` for a GPT image
    deployment), so :meth:`lookup` gives every deployment name a lenient entry; the plugin finds
    the real model from the ``base_model`` setting with :meth:`base_model`.
    """

    def lookup(self, name: str) -> ModelInfo:
        """A lenient entry named after the deployment: its name says nothing about its model."""
        return ModelInfo(
            name=name,
            known=False,
            description="Azure deployment (set base_model to validate)",
            operations=frozenset({"generate", "edit"}),  # base_model, where set, says which
        )

    def base_model(self, name: str) -> ModelInfo:
        """
        The entry for a ``base_model`` setting (``"gpt-image-1"``; an ``azure/`` prefix is allowed).

        Raises:
            ConfigurationError: the catalogue does not list that model.
        """
        key = name.strip().lower().removeprefix("azure/")
        found = self.models.get(key)
        if found is None:
            raise ConfigurationError(
                f"base_model={name!r} is not a model pixmux knows on Azure; known: {', '.join(sorted(self.models))} "
                "(leave base_model unset to forward the request without checks)",
                provider=PROVIDER,
                param="base_model",
            )
        return found


CATALOGUE = AzureCatalogue(
    provider=PROVIDER,
    models={info.name: info for info in _MODELS},
    env={
        "api_key": ("AZURE_API_KEY", "AZURE_OPENAI_API_KEY"),
        "api_base": ("AZURE_API_BASE", "AZURE_OPENAI_ENDPOINT"),
        "api_version": ("AZURE_API_VERSION",),
        "azure_ad_token": ("AZURE_AD_TOKEN",),
    },
    settings=frozenset({"base_model", "azure_ad_token", "azure_ad_token_provider", "azure_credential"}),
    default_api_base=None,  # every Azure resource has its own endpoint
)


@hookimpl
def model_catalogue() -> Catalogue:
    """The models Azure hosts, reached through ``base_model``; deployment names are validated leniently."""
    return CATALOGUE


def _model_of(deployment: Deployment, fallback: ModelInfo) -> ModelInfo:
    base = deployment.setting("base_model")
    if base is None:
        return fallback
    if not isinstance(base, str):
        raise ConfigurationError(
            f"base_model must be a model name such as 'gpt-image-1', not {type(base).__name__}",
            provider=PROVIDER,
            param="base_model",
        )
    return CATALOGUE.base_model(base)


@hookimpl
def validate_params(request: ImageRequest, model: ModelInfo, deployment: Deployment) -> ImageRequest | None:
    """Check the request against ``base_model`` where set (otherwise only generic checks); lower-case output_format."""
    changed = None
    output_format = request.params.get("output_format")
    if isinstance(output_format, str) and output_format != output_format.lower():
        # Azure's docs write PNG / JPEG; the wire takes lower-case, as OpenAI's does.
        changed = attrs.evolve(request, params={**request.params, "output_format": output_format.lower()})
        request = changed
    info = _model_of(deployment, model)
    if info is not model and request.operation != "generate":  # what the base model edits, now it is known
        check_inputs(request, info, CATALOGUE, provider=PROVIDER)
    if info.known and info.extra.get("family") == "gpt-image" and request.params.get("output_format") == "webp":
        raise UnsupportedParamsError(
            f"output_format='webp' is not supported by {info.name} on Azure; accepted: jpeg, png",
            provider=PROVIDER,
            model=info.name,
            param="output_format",
        )
    check_request(request, info, provider=PROVIDER)
    if request.operation == "generate" and request.params.get("input_fidelity") is not None:
        raise UnsupportedParamsError(
            "input_fidelity applies only to edits (image_edit), not to a generation",
            provider=PROVIDER,
            model=info.name,
            param="input_fidelity",
        )
    if info.known and info.extra.get("family") == "gpt-image":
        output_format = request.params.get("output_format", "png")
        if request.params.get("background") == "transparent" and output_format != "png":
            raise UnsupportedParamsError(
                f"background='transparent' needs output_format png on Azure, not {output_format!r}",
                provider=PROVIDER,
                model=info.name,
                param="background",
            )
        if request.params.get("output_compression") is not None and output_format != "jpeg":
            raise UnsupportedParamsError(
                f"output_compression applies only to output_format jpeg on Azure, not {output_format!r}",
                provider=PROVIDER,
                model=info.name,
                param="output_compression",
            )
    return changed


def _jwt_expiry(token: str) -> float | None:
    # An Entra access token is a JWT: read its "exp" claim (no signature check: we only schedule a refresh).
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


def _as_auth(found: object, source: str) -> Auth:
    # A token string, or an azure.core AccessToken-like object (token, expires_on).
    token = getattr(found, "token", found)
    expires_on = getattr(found, "expires_on", None)
    if not isinstance(token, str) or not token.strip():
        raise AuthenticationError(
            f"{source} returned {type(found).__name__}, not a non-empty token string", provider=PROVIDER
        )
    if isinstance(expires_on, int | float) and not isinstance(expires_on, bool):
        return Auth(value=token, expires_at=float(expires_on))
    # Unknown lifetime: cache until the JWT's exp, or ask the provider again on the next call
    # (azure-identity's token providers cache and refresh on their own).
    return Auth(value=token, expires_at=_jwt_expiry(token) or time.time())


@hookimpl
def resolve_auth(deployment: Deployment) -> Auth | None:
    """Get an Entra ID token from ``azure_ad_token_provider`` or ``azure_credential``; may block."""
    provider = deployment.setting("azure_ad_token_provider")
    credential = deployment.setting("azure_credential")
    if provider is None and credential is None:
        return None  # an api-key or a fixed azure_ad_token: build_request reads them
    if provider is not None:
        if not callable(provider):
            raise ConfigurationError(
                f"azure_ad_token_provider must be a callable returning a token, not {type(provider).__name__}",
                provider=PROVIDER,
                param="azure_ad_token_provider",
            )
        source, call = "azure_ad_token_provider", provider
    else:
        get_token = getattr(credential, "get_token", None)
        if not callable(get_token):
            raise ConfigurationError(
                "azure_credential must be an azure-identity credential (an object with get_token(scope))",
                provider=PROVIDER,
                param="azure_credential",
            )
        source = "azure_credential.get_token"

        def call() -> object:
            return get_token(ENTRA_SCOPE)

    try:
        found = call()
    except Exception as exc:
        raise AuthenticationError(
            f"{source} failed: {type(exc).__name__}: {exc}", provider=PROVIDER, model=deployment.model
        ) from exc
    return _as_auth(found, source)


def _url(deployment: Deployment, path: str = "/images/generations") -> tuple[str, dict[str, str]]:
    if not deployment.api_base:
        raise ConfigurationError(
            "no Azure endpoint: set AZURE_API_BASE or pass api_base='https://<resource>.openai.azure.com'",
            provider=PROVIDER,
            model=deployment.model,
            param="api_base",
        )
    root = deployment.api_base.rstrip("/")
    version = deployment.api_version or DEFAULT_API_VERSION
    v1 = version in V1_VERSIONS
    if root.endswith("/openai/v1"):
        root, v1 = root.removesuffix("/openai/v1"), True
    root = root.removesuffix("/openai")
    if v1:
        return f"{root}/openai/v1{path}", ({"api-version": "preview"} if version == "preview" else {})
    return (
        f"{root}/openai/deployments/{quote(deployment.model, safe='')}{path}",
        {"api-version": version},
    )


def _auth_headers(deployment: Deployment, auth: Auth | None) -> dict[str, str]:
    if auth is not None:
        return {"Authorization": f"Bearer {auth.value}"}
    token = deployment.setting("azure_ad_token")
    if token:
        return {"Authorization": f"Bearer {token}"}
    if deployment.api_key:
        return {"api-key": deployment.api_key}
    raise AuthenticationError(
        "no Azure credentials: set AZURE_API_KEY or pass api_key=, or use Entra ID with "
        "azure_ad_token=, azure_ad_token_provider= or azure_credential=",
        provider=PROVIDER,
        model=deployment.model,
    )


@hookimpl
def build_request(request: ImageRequest, deployment: Deployment, model: ModelInfo, auth: Auth | None) -> httpx.Request:
    """
    POST OpenAI's body to the deployment (or v1) URL with an ``api-key`` header or an Entra bearer token;
    an edit goes as OpenAI's multipart to ``.../images/edits`` on the same route.
    """
    headers = _auth_headers(deployment, auth)
    info = _model_of(deployment, model)
    fields = _GPT_FIELDS if info.extra.get("family") == "gpt-image" else _ALL_FIELDS
    if request.operation != "generate":  # an edit: OpenAI's multipart, on either route
        url, query = _url(deployment, edit_path(request))
        form = form_fields(request, deployment.model, openai_params=_GPT_FIELDS)
        target = httpx.URL(url, params=query)
        return multipart_request(target, headers, form, file_parts(request))
    url, query = _url(deployment)
    # The body's model is the deployment name on both routes (the v1 route routes by it).
    body = build_body(request, deployment.model, openai_params=fields)
    return httpx.Request("POST", url, params=query, headers=headers, json=body)


def _error_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        return {}
    inner = body.get("error") if isinstance(body, dict) else None
    return inner if isinstance(inner, dict) else {}


def _filter_details(error: Mapping[str, Any]) -> dict[str, Any]:
    inner = error.get("inner_error") or error.get("innererror") or {}
    details: dict[str, Any] = {}
    if isinstance(inner, dict):
        for key in ("code", "content_filter_results", "prompt_filter_results", "revised_prompt"):
            if key in inner:
                details["inner_code" if key == "code" else key] = inner[key]
    for key in ("content_filter_results", "prompt_filter_results"):
        if key in error and key not in details:
            details[key] = error[key]
    return details


def azure_error(response: httpx.Response, info: ModelInfo) -> PixmuxError:
    """
    The typed error for an Azure error response: content-filter refusals first, then OpenAI's rules.

    A refusal is recognised by ``error.code`` (``contentFilter``, ``content_filter``,
    ``content_policy_violation``) or by ``inner_error.code`` / ``innererror.code`` being
    ``ResponsibleAIPolicyViolation``; Azure's message is kept and its filter results go to ``details``.
    """
    error = _error_body(response)
    inner = error.get("inner_error") or error.get("innererror")
    inner_code = inner.get("code") if isinstance(inner, dict) else None
    code = error.get("code")  # any JSON value: a list or an object is never a filter code
    if (isinstance(code, str) and code in CONTENT_FILTER_CODES) or inner_code == RAI_INNER_CODE:
        return error_from_response(
            response,
            provider=PROVIDER,
            model=info.name,
            cls=ContentPolicyViolationError,
            details=_filter_details(error),
        )
    return error_for(response, provider=PROVIDER, info=info)


def _items(response: httpx.Response) -> list[dict[str, Any]]:
    try:
        data = response.json().get("data")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return []
    return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []


def _fired(item: Mapping[str, Any]) -> bool:
    results = item.get("content_filter_results")
    return isinstance(results, dict) and any(isinstance(v, dict) and v.get("filtered") for v in results.values())


@hookimpl
def parse_response(
    response: httpx.Response, request: ImageRequest, deployment: Deployment, model: ModelInfo
) -> ImageResponse:
    """Read OpenAI's ``ImagesResponse`` (keeping Azure's filter results), price it from ``base_model``, or raise."""
    info = _model_of(deployment, model)
    if response.is_error:
        raise azure_error(response, info)
    items = _items(response)
    # DALL-E 3 answers carry per-image filter results; no image and a filter that fired is a refusal.
    filtered = [item for item in items if _fired(item)]
    if filtered and not any(item.get("url") or item.get("b64_json") for item in items):
        raise ContentPolicyViolationError(
            "Azure's content filter removed the generated image",
            provider=PROVIDER,
            model=info.name,
            code="content_filter",
            response=response,
            details={"content_filter_results": [item.get("content_filter_results") for item in filtered]},
        )
    parsed = parse_images(response, provider=PROVIDER, model=deployment.model)
    extra: dict[str, Any] = {"deployment": deployment.model}
    if info.known:
        extra["base_model"] = info.name
    results = [
        {key: item[key] for key in ("prompt_filter_results", "content_filter_results") if key in item}
        for item in items
        if "prompt_filter_results" in item or "content_filter_results" in item
    ]
    if results:
        extra["content_filter_results"] = results
    parsed = parsed.with_metadata(**extra)
    if info.known and info.pricing is not None and parsed.cost is None:
        parsed = attrs.evolve(parsed, cost=info.pricing.cost(request, parsed))
    return parsed


@hookimpl
def parse_event(event: ServerSentEvent, request: ImageRequest) -> ImageStreamEvent | None:
    """Read one of Azure's image stream events: OpenAI's, on both route styles."""
    return read_openai_event(event, provider=PROVIDER, model=request.model)
