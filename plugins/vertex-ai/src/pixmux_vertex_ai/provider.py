"""
pixmux provider for Google Vertex AI: Imagen through ``:predict``, Gemini image models through ``:generateContent``.

URL: ``https://{location}-aiplatform.googleapis.com/v1/projects/{project}/locations/{location}/
publishers/google/models/{model}:{method}`` (``aiplatform.googleapis.com`` for ``global``,
``aiplatform.{us|eu}.rep.googleapis.com`` for the multi-regions). ``api_base`` replaces the host
(a Private Service Connect endpoint, a proxy, a test server) and the bearer token is still sent.

Project: ``vertex_ai_project`` (or ``VERTEXAI_PROJECT`` / ``GOOGLE_CLOUD_PROJECT``), then
``vertexai.init()``'s project if the SDK is loaded, then the credentials' own project.
Location: ``vertex_ai_location`` (or ``VERTEXAI_LOCATION`` / ``GOOGLE_CLOUD_LOCATION`` /
``GOOGLE_CLOUD_REGION``), then ``vertexai.init()``'s, then the model's home (``global`` for the
Gemini 3 image models), then ``us-central1``. These settings are never sent in a body.

Credentials: ``resolve_auth`` loads application-default credentials or ``vertex_credentials``
and fetches a token (see :mod:`pixmux_vertex_ai.credentials`). An ``api_key`` without
``vertex_credentials`` selects Vertex AI express mode (``x-goog-api-key``, no project in the URL).
"""

from __future__ import annotations

import re
from typing import Final

import httpx
from pixmux import hookimpl
from pixmux.catalogue import Catalogue, ModelInfo
from pixmux.exceptions import AuthenticationError, ConfigurationError
from pixmux.types import Auth, Deployment, ImageRequest, ImageResponse
from pixmux_google_common.models import catalogue_models, unknown_model
from pixmux_google_common.service import read_response, wire_call
from pixmux_google_common.validation import validate_request

from pixmux_vertex_ai.credentials import VertexToken, fetch_token, load_credentials, sdk_defaults

__all__ = [
    "CATALOGUE",
    "DEFAULT_LOCATION",
    "model_catalogue",
    "validate_params",
    "resolve_auth",
    "build_request",
    "parse_response",
    "endpoint",
]

PROVIDER: Final = "vertex_ai"
DEFAULT_LOCATION = "us-central1"
DEFAULT_API_VERSION = "v1"
EXPRESS_HOST = "https://aiplatform.googleapis.com"
_MULTI_REGIONS = frozenset({"us", "eu"})
_LOCATION = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_PROJECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.:_-]*$")
_VERSIONED = re.compile(r"/v1(beta1)?$")
#: Settings this provider reads; ``vertex_project`` / ``vertex_location`` are accepted spellings.
SETTINGS = frozenset(
    {"vertex_ai_project", "vertex_ai_location", "vertex_credentials", "vertex_project", "vertex_location"}
)


def _unknown(name: str) -> ModelInfo:
    return unknown_model(name, PROVIDER)


def _normalize(name: str) -> str:
    return name.removeprefix("publishers/google/models/")


CATALOGUE = Catalogue(
    provider=PROVIDER,
    models=catalogue_models(PROVIDER),
    env={
        "vertex_ai_project": ("VERTEXAI_PROJECT", "VERTEX_PROJECT", "GOOGLE_CLOUD_PROJECT"),
        "vertex_ai_location": (
            "VERTEXAI_LOCATION",
            "VERTEX_LOCATION",
            "GOOGLE_CLOUD_LOCATION",
            "GOOGLE_CLOUD_REGION",
            "CLOUD_ML_REGION",
        ),
        "vertex_credentials": ("VERTEXAI_CREDENTIALS", "VERTEX_CREDENTIALS"),
    },
    settings=SETTINGS,
    default_api_base=f"https://{DEFAULT_LOCATION}-aiplatform.googleapis.com/{DEFAULT_API_VERSION}",
    normalize=_normalize,
    unknown=_unknown,
)


@hookimpl
def model_catalogue() -> Catalogue:
    """Vertex AI's image models: which API each uses, what it accepts and costs, and the settings it reads."""
    return CATALOGUE


@hookimpl
def validate_params(request: ImageRequest, model: ModelInfo) -> ImageRequest | None:
    """Check the request against the model; rename snake_case native parameters to Google's names."""
    return validate_request(request, model, provider=PROVIDER)


@hookimpl
def resolve_auth(deployment: Deployment) -> Auth | None:
    """
    Load Google credentials and fetch an access token (blocking; the core runs it off the event loop).

    Returns ``None`` in express mode (an ``api_key`` and no ``vertex_credentials``).
    """
    source = deployment.setting("vertex_credentials")
    if deployment.api_key and source is None:
        return None
    credentials, project = load_credentials(source)
    timeout = min(deployment.timeout or 60.0, 60.0)
    with httpx.Client(timeout=timeout) as client:
        token, expires_at = fetch_token(credentials, client=client)
    sdk_project, sdk_location = sdk_defaults()
    value = VertexToken(
        token=token,
        project=project or getattr(credentials, "project_id", None),
        quota_project=getattr(credentials, "quota_project_id", None),
        sdk_project=sdk_project,
        sdk_location=sdk_location,
    )
    return Auth(value=value, expires_at=expires_at, secrets=(token,))


def _checked(value: object, pattern: re.Pattern[str], name: str, what: str) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise ConfigurationError(f"{name}={value!r} is not a valid Google Cloud {what}", provider=PROVIDER, param=name)
    return value


def endpoint(location: str, api_base: str | None, api_version: str | None) -> str:
    """The versioned base URL for ``location`` (``https://{location}-aiplatform.googleapis.com/v1``) or ``api_base``."""
    version = api_version or DEFAULT_API_VERSION
    if api_base:
        base = api_base.rstrip("/")
        return base if _VERSIONED.search(base) else f"{base}/{version}"
    if location == "global":
        return f"https://aiplatform.googleapis.com/{version}"
    if location in _MULTI_REGIONS:
        return f"https://aiplatform.{location}.rep.googleapis.com/{version}"
    return f"https://{location}-aiplatform.googleapis.com/{version}"


def _where(deployment: Deployment, model: ModelInfo, token: VertexToken | None) -> tuple[str, str]:
    project = (
        deployment.setting("vertex_project")
        or deployment.setting("vertex_ai_project")
        or (token.sdk_project if token else None)
        or (token.project if token else None)
    )
    if not project:
        raise ConfigurationError(
            "no Google Cloud project for Vertex AI: pass vertex_ai_project=, set VERTEXAI_PROJECT or "
            "GOOGLE_CLOUD_PROJECT, or use credentials that name one",
            provider=PROVIDER,
            model=model.name,
            param="vertex_ai_project",
        )
    location = (
        deployment.setting("vertex_location")
        or deployment.setting("vertex_ai_location")
        or (token.sdk_location if token else None)
        or model.extra.get("default_location")
        or DEFAULT_LOCATION
    )
    return (
        _checked(project, _PROJECT, "vertex_ai_project", "project"),
        _checked(location, _LOCATION, "vertex_ai_location", "location"),
    )


@hookimpl
def build_request(
    request: ImageRequest, deployment: Deployment, model: ModelInfo, auth: Auth | None
) -> list[httpx.Request]:
    """POST to the model's ``:predict`` or ``:generateContent`` URL with the bearer token (or the express-mode key)."""
    call = wire_call(request, model, provider=PROVIDER)
    name = _normalize(deployment.model)
    token = auth.value if auth is not None and isinstance(auth.value, VertexToken) else None
    if token is not None:
        project, location = _where(deployment, model, token)
        base = endpoint(location, deployment.api_base, deployment.api_version)
        url = f"{base}/projects/{project}/locations/{location}/publishers/google/models/{name}:{call.method}"
        headers = {"Authorization": f"Bearer {token.token}"}
        if token.quota_project:
            headers["x-goog-user-project"] = token.quota_project
    elif deployment.api_key:
        base = endpoint("global", deployment.api_base or EXPRESS_HOST, deployment.api_version)
        url = f"{base}/publishers/google/models/{name}:{call.method}"
        headers = {"x-goog-api-key": deployment.api_key}
    else:
        raise AuthenticationError(
            "no Google credentials for Vertex AI: use application-default credentials or pass vertex_credentials=",
            provider=PROVIDER,
            model=request.model,
        )
    return [httpx.Request("POST", url, headers=headers, json=body) for body in call.bodies]


@hookimpl
def parse_response(response: httpx.Response, request: ImageRequest, model: ModelInfo) -> ImageResponse:
    """Read images, text, usage and filtering from either API's answer, or raise the error Google's body means."""
    return read_response(response, request, model, provider=PROVIDER)
