"""
Google credentials for Vertex AI, through google-auth: the one part of the plugin that does I/O.

Called only from the ``resolve_auth`` hook, which the core runs in a worker thread on the async
path and whose result it caches until the token's expiry (less five minutes), then calls again.

Sources, by the ``vertex_credentials`` setting:

- unset: application-default credentials (``GOOGLE_APPLICATION_CREDENTIALS``, ``gcloud auth
  application-default login``, the metadata server on Google Cloud);
- a path to a credentials file (service account, authorized user, external account);
- that file's JSON text, or the same as a dict;
- a ``google.auth.credentials.Credentials`` object (impersonated or custom credentials).

The token is fetched through google-auth with an ``httpx`` transport (no ``requests`` needed).
Error messages name the source's kind and Google's reason, never a key, a token or the JSON.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
import urllib.parse
import warnings
from collections.abc import Mapping
from typing import Any, cast

import attrs
import httpx
from pixmux.exceptions import APIConnectionError, AuthenticationError, ConfigurationError, PixmuxError, redact

__all__ = ["SCOPES", "VertexToken", "load_credentials", "fetch_token", "sdk_defaults", "HttpxRequest"]

#: The OAuth scope Vertex AI needs.
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
_PROVIDER = "vertex_ai"
#: Fields of a token request whose values are credentials (OAuth 2.0, RFC 7523, STS token exchange).
_SECRET_FIELDS = frozenset(
    {"assertion", "client_secret", "refresh_token", "subject_token", "actor_token", "code", "password"}
)
_Loaded = tuple[Any, "str | None"]


@attrs.frozen(kw_only=True)
class VertexToken:
    """
    What ``resolve_auth`` hands to ``build_request``: the bearer token and the projects it implies.

    Attributes:
        token: the OAuth2 access token (never shown in ``repr``).
        project: the project the credentials name (service-account ``project_id``, ADC's project).
        quota_project: the project to bill quota to (``x-goog-user-project``), for user credentials.
        sdk_project, sdk_location: what ``vertexai.init()`` set, when the Vertex AI SDK is loaded.
    """

    token: str = attrs.field(repr=False)
    project: str | None = None
    quota_project: str | None = None
    sdk_project: str | None = None
    sdk_location: str | None = None


def _google_auth() -> Any:
    try:
        import google.auth
        import google.auth.exceptions
        import google.auth.transport
    except ImportError as exc:  # pragma: no cover - google-auth is a dependency of this distribution
        raise ConfigurationError(
            "google-auth is not installed: pip install pixmux-vertex-ai", provider=_PROVIDER
        ) from exc
    return google.auth


def _scrub(message: str, info: Mapping[str, Any] | None) -> str:
    """``message`` with every long string value of ``info`` (a private key, a client secret) removed."""
    values = (value for value in (info or {}).values() if isinstance(value, str))
    message = redact(message, values, min_length=8)
    return message.splitlines()[0] if message else message


def _describe(exc: BaseException, info: Mapping[str, Any] | None = None) -> str:
    first = exc.args[0] if exc.args else ""
    return _scrub(str(first), info) or type(exc).__name__


def load_credentials(source: Any) -> tuple[Any, str | None]:
    """
    ``(credentials, project)`` for a ``vertex_credentials`` value (``None`` for application-default credentials).

    Raises:
        AuthenticationError: no credentials were found, or the ones given cannot be read.
        ConfigurationError: ``vertex_credentials`` is of a type that cannot hold credentials.
    """
    google_auth = _google_auth()
    from google.auth.credentials import Credentials
    from google.auth.exceptions import GoogleAuthError

    if isinstance(source, Credentials):
        credentials: Any = source
        if getattr(credentials, "requires_scopes", False):
            credentials = credentials.with_scopes(list(SCOPES))
        return credentials, getattr(source, "project_id", None)
    info: Mapping[str, Any] | None = None
    if isinstance(source, str) and source.strip().startswith("{"):
        try:
            parsed = json.loads(source)
        except ValueError as exc:
            raise AuthenticationError(
                f"vertex_credentials looks like JSON but does not parse (line {getattr(exc, 'lineno', '?')})",
                provider=_PROVIDER,
                param="vertex_credentials",
            ) from None
        source = parsed
    try:
        if source is None:
            return cast(_Loaded, google_auth.default(scopes=list(SCOPES)))
        if isinstance(source, str | os.PathLike):
            info = _read_file(os.fspath(source))
        elif isinstance(source, Mapping):
            info = source
        else:
            info = None
        if info is not None:
            return _from_info(info)
    except GoogleAuthError as exc:
        where = "application-default credentials" if source is None else "vertex_credentials"
        hint = (
            "; run `gcloud auth application-default login`, set GOOGLE_APPLICATION_CREDENTIALS, "
            "or pass vertex_credentials="
            if source is None
            else ""
        )
        raise AuthenticationError(
            f"could not load Google {where}: {_describe(exc, info)}{hint}",
            provider=_PROVIDER,
            param="vertex_credentials",
        ) from None
    except (ValueError, KeyError, TypeError) as exc:  # malformed key material or missing fields
        raise AuthenticationError(
            f"could not load Google vertex_credentials: {type(exc).__name__}: {_describe(exc, info)}",
            provider=_PROVIDER,
            param="vertex_credentials",
        ) from None
    raise ConfigurationError(
        f"vertex_credentials must be a file path, JSON text, a dict or google.auth credentials, "
        f"not {type(source).__name__}",
        provider=_PROVIDER,
        param="vertex_credentials",
    )


def _read_file(path: str) -> Mapping[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            found = json.load(handle)
    except OSError as exc:
        raise AuthenticationError(
            f"vertex_credentials file {path!r} was not found or cannot be read: {exc.strerror}",
            provider=_PROVIDER,
            param="vertex_credentials",
        ) from None
    except ValueError:
        raise AuthenticationError(
            f"vertex_credentials file {path!r} is not valid JSON", provider=_PROVIDER, param="vertex_credentials"
        ) from None
    if not isinstance(found, Mapping):
        raise AuthenticationError(
            f"vertex_credentials file {path!r} does not hold a JSON object",
            provider=_PROVIDER,
            param="vertex_credentials",
        )
    return found


def _from_info(info: Mapping[str, Any]) -> tuple[Any, str | None]:
    """Credentials from a credentials file's content, with the loader made for its ``type``."""
    kind = info.get("type")
    if kind == "service_account":
        from google.oauth2 import service_account

        credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            dict(info), scopes=list(SCOPES)
        )
        return credentials, info.get("project_id")
    if kind == "authorized_user":
        from google.oauth2 import credentials as user

        found = user.Credentials.from_authorized_user_info(dict(info), scopes=list(SCOPES))  # type: ignore[no-untyped-call]
        return found, info.get("quota_project_id")
    # Other kinds (external_account, impersonated_service_account, ...): google-auth's generic
    # loader, which warns that unvalidated configurations are risky; the caller gave this one.
    import google.auth

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        loaded = google.auth.load_credentials_from_dict(dict(info), scopes=list(SCOPES))  # type: ignore[no-untyped-call]
        return cast(_Loaded, loaded)


class HttpxRequest:
    """google-auth's transport interface (``google.auth.transport.Request``) over an ``httpx.Client``."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client
        #: Every credential this transport sent (a JWT assertion, a client secret, a refresh token):
        #: a token endpoint may echo them in its error, which must not reach a message.
        self.sent_secrets: set[str] = set()

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Any:
        from google.auth.exceptions import TransportError

        self._remember(body, headers)
        try:
            response = self._client.request(
                method, url, content=body, headers=dict(headers or {}), timeout=timeout or 120.0
            )
        except httpx.HTTPError as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from exc  # type: ignore[no-untyped-call]
        return _HttpxResponse(response)

    def _remember(self, body: bytes | None, headers: Mapping[str, str] | None) -> None:
        for name, value in (headers or {}).items():
            if name.lower() == "authorization":
                self.sent_secrets.add(value.partition(" ")[2] or value)
        if not body:
            return
        text = body.decode("utf-8", "replace")
        try:
            fields: Mapping[str, Any] = json.loads(text) if text.lstrip().startswith("{") else {}
        except ValueError:
            fields = {}
        if not fields:
            fields = dict(urllib.parse.parse_qsl(text))
        for name, value in fields.items():
            if isinstance(value, str) and name in _SECRET_FIELDS:
                self.sent_secrets.add(value)


class _HttpxResponse:
    """google-auth's ``Response`` interface: ``status``, ``headers``, ``data``."""

    def __init__(self, response: httpx.Response) -> None:
        self.status = response.status_code
        self.headers = dict(response.headers)
        self.data = response.content


def _expiry(credentials: Any) -> float | None:
    expiry = getattr(credentials, "expiry", None)
    if not isinstance(expiry, datetime.datetime):
        return None
    if expiry.tzinfo is None:  # google-auth keeps naive UTC datetimes
        expiry = expiry.replace(tzinfo=datetime.timezone.utc)
    return expiry.timestamp()


def fetch_token(credentials: Any, *, client: httpx.Client) -> tuple[str, float | None]:
    """
    A freshly minted access token for ``credentials`` and when it expires (Unix seconds).

    Always refreshes: the core calls this only when it holds no usable token (none yet, one
    about to expire, or one Google just refused with a 401).

    Raises:
        AuthenticationError: Google refused the credentials.
        APIConnectionError: the token endpoint could not be reached.
    """
    from google.auth.exceptions import RefreshError, TransportError

    transport = HttpxRequest(client)
    # Google's error may echo what was sent (the JWT assertion, a client secret): the error raised
    # is built from a scrubbed reason, outside the except block, so that it keeps no link
    # (``__context__``) to the original.
    failure: PixmuxError | None = None
    try:
        credentials.refresh(transport)
    except RefreshError as exc:
        reason = redact(_describe(exc), transport.sent_secrets, min_length=6)
        failure = AuthenticationError(f"Google refused the Vertex AI credentials: {reason}", provider=_PROVIDER)
    except TransportError as exc:
        reason = redact(_describe(exc), transport.sent_secrets, min_length=6)
        failure = APIConnectionError(f"could not reach Google's token endpoint: {reason}", provider=_PROVIDER)
    if failure is not None:
        raise failure
    token = getattr(credentials, "token", None)
    if not isinstance(token, str) or not token:
        raise AuthenticationError("the Google credentials produced no access token", provider=_PROVIDER)
    return token, _expiry(credentials)


def sdk_defaults() -> tuple[str | None, str | None]:
    """
    ``(project, location)`` set with ``vertexai.init()``, when the Vertex AI SDK is already imported.

    The SDK is never imported here (it takes seconds and is not a requirement); if the caller
    loaded it and called ``vertexai.init(project=..., location=...)``, those values are used.
    """
    initializer = sys.modules.get("google.cloud.aiplatform.initializer")
    config = getattr(initializer, "global_config", None)
    if config is None:
        return None, None
    project = getattr(config, "_project", None)
    location = getattr(config, "_location", None)
    return (project if isinstance(project, str) else None), (location if isinstance(location, str) else None)
