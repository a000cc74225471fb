"""
AWS credentials for Bedrock: resolving them through boto3 (the one blocking step, run by the
core off the event loop and cached), and signing a request with botocore's SigV4 (pure, given
the frozen credentials).

boto3 and botocore are imported inside the functions that need them, so importing this plugin
(and a call that uses a Bedrock API key) never loads them.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
from pixmux.exceptions import (
    APIConnectionError,
    AuthenticationError,
    ConfigurationError,
    PermissionDeniedError,
    PixmuxError,
)
from pixmux.types import Auth, Deployment

if TYPE_CHECKING:
    import boto3

PROVIDER = "bedrock"
SIGNING_NAME = "bedrock"
DEFAULT_SESSION_NAME = "pixmux-bedrock"
#: When a credential source refreshes itself but does not say when, resolve again this often.
UNKNOWN_EXPIRY_TTL = 900.0

#: botocore's DEBUG logging prints signatures, signed headers and STS answers; these patterns redact them.
_SECRET_PATTERNS = (
    re.compile(r"(Signature[=:]\s*)[0-9a-f]{64}"),
    re.compile(r"(<(?:SecretAccessKey|SessionToken)>)[^<]*"),
    re.compile(r"((?:x-amz-security-token|authorization):)[^\n]*", re.IGNORECASE),
    re.compile(
        r"""(['"]?(?:Authorization|X-Amz-Security-Token|SecretAccessKey|SessionToken)['"]?\s*[:=]\s*b?['"])[^'"]*"""
    ),
)
_LOGGERS = ("botocore.auth", "botocore.endpoint", "botocore.parsers", "botocore.credentials")


class _RedactSecrets(logging.Filter):
    """Rewrites botocore's log records so that no signature, token or secret key reaches a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        redacted = text
        for pattern in _SECRET_PATTERNS:
            redacted = pattern.sub(r"\1<redacted>", redacted)
        if redacted != text:
            record.msg, record.args = redacted, ()
        return True


_FILTER = _RedactSecrets()


def _guard_logs() -> None:
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


_HOST_REGION = re.compile(r"bedrock-runtime(?:-fips)?\.([a-z]{2}(?:-gov)?-[a-z]+-\d)\.")


@attrs.frozen(kw_only=True)
class AwsIdentity:
    """Frozen AWS credentials and the region they resolved with; secrets never appear in ``repr``."""

    access_key: str = attrs.field(repr=False)
    secret_key: str = attrs.field(repr=False)
    token: str | None = attrs.field(default=None, repr=False)
    region: str | None = None
    source: str = "explicit"
    expires_at: float | None = None


def _text(settings: Mapping[str, Any], name: str) -> str | None:
    value = settings.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigurationError(f"{name} must be a string", provider=PROVIDER, param=name)
    return value


def resolve(deployment: Deployment) -> Auth | None:
    """
    Resolve the deployment's AWS credentials into an :class:`~pixmux.types.Auth` holding an
    :class:`AwsIdentity`; ``None`` when a Bedrock API key (bearer token) is used instead.

    Order: explicit ``aws_access_key_id`` / ``aws_secret_access_key`` (/ ``aws_session_token``),
    else ``aws_profile_name``, else boto3's default chain; then, if ``aws_role_name`` is set,
    that role is assumed through STS with those credentials (or, given ``aws_web_identity_token``,
    with that OIDC token through ``AssumeRoleWithWebIdentity``, which needs no credentials).

    Raises:
        AuthenticationError: no credentials were found, or STS refused them.
        ConfigurationError: the settings are incomplete or name a profile that does not exist.
    """
    if deployment.api_key:
        return None
    _guard_logs()
    settings = deployment.settings
    key = _text(settings, "aws_access_key_id")
    secret = _text(settings, "aws_secret_access_key")
    token = _text(settings, "aws_session_token")
    profile = _text(settings, "aws_profile_name")
    region = _text(settings, "aws_region_name")
    role = _text(settings, "aws_role_name")
    if bool(key) != bool(secret):
        missing = "aws_secret_access_key" if key else "aws_access_key_id"
        raise ConfigurationError(
            f"{missing} is missing: give aws_access_key_id and aws_secret_access_key together",
            provider=PROVIDER,
            param=missing,
        )
    if key and secret and not role:
        if region is None:
            region = _default_region()
        return _as_auth(AwsIdentity(access_key=key, secret_key=secret, token=token, region=region))

    import boto3
    from botocore.exceptions import BotoCoreError, ClientError, ProfileNotFound

    try:
        if key and secret:
            session = boto3.Session(
                aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token, region_name=region
            )
        else:
            session = boto3.Session(profile_name=profile, region_name=region)
        region = region or session.region_name
        identity = _assume_role(session, role, settings, region) if role else _from_session(session, region, profile)
    except ProfileNotFound as exc:
        raise ConfigurationError(
            f"AWS profile {profile!r} was not found in the AWS config or credentials files",
            provider=PROVIDER,
            param="aws_profile_name",
        ) from exc
    except ClientError as exc:
        raise _sts_error(exc, role) from exc
    except BotoCoreError as exc:
        raise _botocore_error(exc) from exc
    return _as_auth(identity)


def _as_auth(identity: AwsIdentity) -> Auth:
    """The identity as ``Auth``, listing its secret strings so that the core scrubs them from errors and logs."""
    secrets = tuple(value for value in (identity.secret_key, identity.token, identity.access_key) if value)
    return Auth(value=identity, expires_at=identity.expires_at, secrets=secrets)


def _default_region() -> str | None:
    # Only the AWS config file (or its env vars, read by botocore) can still name a region here.
    import botocore.session
    from botocore.exceptions import BotoCoreError

    try:
        found = botocore.session.get_session().get_config_variable("region")
    except BotoCoreError:
        return None
    return found if isinstance(found, str) and found else None


def _from_session(session: boto3.Session, region: str | None, profile: str | None) -> AwsIdentity:
    credentials = session.get_credentials()
    if credentials is None:
        where = f"profile {profile!r}" if profile else "the environment, the AWS config files or an instance role"
        raise AuthenticationError(
            f"no AWS credentials found in {where}: set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, "
            "AWS_PROFILE or AWS_BEARER_TOKEN_BEDROCK, or pass aws_access_key_id= / aws_profile_name= / api_key=",
            provider=PROVIDER,
        )
    frozen = credentials.get_frozen_credentials()  # refreshes first if the source needs it
    expiry: float | None = None
    found = getattr(credentials, "_expiry_time", None)  # set on RefreshableCredentials once fetched
    if found is not None and hasattr(found, "timestamp"):
        expiry = float(found.timestamp())
    elif hasattr(credentials, "refresh_needed"):
        expiry = time.time() + UNKNOWN_EXPIRY_TTL
    method = str(getattr(credentials, "method", "") or "default-chain")
    if not frozen.access_key or not frozen.secret_key:
        raise AuthenticationError("the AWS credentials found are incomplete (no key id or secret)", provider=PROVIDER)
    return AwsIdentity(
        access_key=frozen.access_key,
        secret_key=frozen.secret_key,
        token=frozen.token,
        region=region,
        source=method,
        expires_at=expiry,
    )


def _assume_role(session: boto3.Session, role: str, settings: Mapping[str, Any], region: str | None) -> AwsIdentity:
    if not role.startswith("arn:"):
        raise ConfigurationError(
            f"aws_role_name must be a role ARN (arn:aws:iam::<account>:role/<name>), not {role!r}",
            provider=PROVIDER,
            param="aws_role_name",
        )
    arguments: dict[str, Any] = {
        "RoleArn": role,
        "RoleSessionName": _text(settings, "aws_session_name") or DEFAULT_SESSION_NAME,
    }
    external_id = _text(settings, "aws_external_id")
    if external_id:
        arguments["ExternalId"] = external_id
    duration = settings.get("aws_session_duration")
    if duration is not None:
        if isinstance(duration, bool) or not isinstance(duration, int) or duration < 900:
            raise ConfigurationError(
                f"aws_session_duration={duration!r} must be whole seconds, at least 900",
                provider=PROVIDER,
                param="aws_session_duration",
            )
        arguments["DurationSeconds"] = duration
    web_identity = _text(settings, "aws_web_identity_token")
    if web_identity:  # an OIDC token (Kubernetes, CI) exchanged for the role's credentials: an unsigned call
        from botocore import UNSIGNED
        from botocore.config import Config

        arguments.pop("ExternalId", None)  # AssumeRoleWithWebIdentity takes no external id
        sts = session.client(
            "sts",
            region_name=region or "us-east-1",
            endpoint_url=_text(settings, "aws_sts_endpoint"),
            config=Config(signature_version=UNSIGNED),
        )
        found = sts.assume_role_with_web_identity(WebIdentityToken=web_identity, **arguments)["Credentials"]
    else:
        sts = session.client("sts", region_name=region or "us-east-1", endpoint_url=_text(settings, "aws_sts_endpoint"))
        found = sts.assume_role(**arguments)["Credentials"]
    return AwsIdentity(
        access_key=found["AccessKeyId"],
        secret_key=found["SecretAccessKey"],
        token=found["SessionToken"],
        region=region,
        source="assume-role",
        expires_at=found["Expiration"].timestamp(),
    )


def _sts_error(exc: Any, role: str | None) -> PixmuxError:
    error = exc.response.get("Error", {}) if isinstance(getattr(exc, "response", None), dict) else {}
    code = str(error.get("Code") or "ClientError")
    message = str(error.get("Message") or "no message")
    cls: type[PixmuxError] = PermissionDeniedError if code == "AccessDenied" else AuthenticationError
    return cls(
        f"STS refused to assume role {role!r}: {code}: {message}", provider=PROVIDER, code=code, param="aws_role_name"
    )


def _botocore_error(exc: Exception) -> PixmuxError:
    from botocore.exceptions import EndpointConnectionError, NoCredentialsError, PartialCredentialsError

    if isinstance(exc, EndpointConnectionError):
        return APIConnectionError(f"could not reach AWS to resolve credentials: {exc}", provider=PROVIDER)
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return AuthenticationError(f"AWS credentials are missing or incomplete: {exc}", provider=PROVIDER)
    return AuthenticationError(f"could not resolve AWS credentials: {type(exc).__name__}: {exc}", provider=PROVIDER)


def region_for(deployment: Deployment, identity: AwsIdentity | None, model: str) -> str:
    """
    The region to call and sign for: ``aws_region_name``, else the one the credentials resolved
    with (profile config), else the one in an ``api_base`` host (``bedrock-runtime.<region>.…``).

    Raises:
        ConfigurationError: no region is known.
    """
    region = _text(deployment.settings, "aws_region_name") or (identity.region if identity else None)
    if region is None and deployment.api_base:
        match = _HOST_REGION.search(deployment.api_base)
        region = match.group(1) if match else None
    if region is None:
        raise ConfigurationError(
            "no AWS region: set AWS_REGION (or AWS_REGION_NAME / AWS_DEFAULT_REGION) or pass aws_region_name=",
            provider=PROVIDER,
            model=model,
            param="aws_region_name",
        )
    return region


def sign(
    *, method: str, url: str, headers: Mapping[str, str], body: bytes, identity: AwsIdentity, region: str
) -> dict[str, str]:
    """
    SigV4-sign a request for service ``bedrock`` with botocore; returns the headers to send.

    The signature covers exactly ``url`` (its percent-encoded path, which SigV4 encodes once
    more in the canonical request), the given headers, ``host`` and the body's SHA-256.
    """
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import ReadOnlyCredentials

    _guard_logs()
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    credentials = ReadOnlyCredentials(identity.access_key, identity.secret_key, identity.token)
    SigV4Auth(credentials, SIGNING_NAME, region).add_auth(request)
    return {str(name): str(value) for name, value in request.headers.items()}
