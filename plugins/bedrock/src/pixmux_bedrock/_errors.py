"""Bedrock Runtime's error responses, mapped to pixmux's error classes with AWS's own message."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import httpx
from pixmux.exceptions import (
    AuthenticationError,
    BadRequestError,
    ContentPolicyViolationError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    PixmuxError,
    RateLimitError,
    ServiceUnavailableError,
    Timeout,
    error_from_response,
    provider_message,
)

PROVIDER = "bedrock"

#: AWS exception names and the pixmux class each one means.
ERROR_CLASSES: Mapping[str, type[PixmuxError]] = {
    "ValidationException": BadRequestError,
    "ServiceQuotaExceededException": RateLimitError,
    "AccessDeniedException": PermissionDeniedError,
    "ResourceNotFoundException": NotFoundError,
    "ModelTimeoutException": Timeout,
    "ModelErrorException": InternalServerError,
    "ModelStreamErrorException": InternalServerError,
    "ThrottlingException": RateLimitError,
    "TooManyRequestsException": RateLimitError,
    "ModelNotReadyException": RateLimitError,
    "InternalServerException": InternalServerError,
    "ServiceUnavailableException": ServiceUnavailableError,
    # Bad or expired credentials: the generic AWS front-door errors.
    "UnrecognizedClientException": AuthenticationError,
    "InvalidSignatureException": AuthenticationError,
    "SignatureDoesNotMatch": AuthenticationError,
    "IncompleteSignatureException": AuthenticationError,
    "IncompleteSignature": AuthenticationError,
    "MissingAuthenticationTokenException": AuthenticationError,
    "MissingAuthenticationToken": AuthenticationError,
    "ExpiredTokenException": AuthenticationError,
    "ExpiredToken": AuthenticationError,
    "InvalidClientTokenId": AuthenticationError,
    "UnauthorizedException": AuthenticationError,
}

#: Words in a 400 that mean the content filters refused the prompt or the image (Titan, Nova).
CONTENT_BLOCK = re.compile(r"content filter|blocked by our|responsible ai|acceptable use|\bAUP\b", re.IGNORECASE)
#: Words in a 403 that mean the credentials, not the permissions, are at fault.
_BAD_CREDENTIALS = re.compile(r"security token|signature|api key|bearer|authenticat|credential|expired", re.IGNORECASE)


def error_type(response: httpx.Response) -> str | None:
    """
    The AWS exception name: from the ``x-amzn-ErrorType`` header (``Name:namespace``), else the
    body's ``__type`` (``namespace#Name``) or ``code``.
    """
    header = response.headers.get("x-amzn-errortype")
    if header:
        return header.split(":", 1)[0].strip() or None
    try:
        body: Any = json.loads(response.text) if response.text else None
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(body, dict):
        found = body.get("__type") or body.get("code") or body.get("Code")
        if isinstance(found, str) and found:
            return found.rsplit("#", 1)[-1].split(":", 1)[0]
    return None


def error_for(response: httpx.Response, *, model: str) -> PixmuxError:
    """
    The typed error for a Bedrock error response, AWS's message kept in ``str(exc)`` and the
    exception name in ``code``.

    Content-filter refusals (a ``ValidationException`` for Titan and Nova) are
    ``ContentPolicyViolationError``; bad or expired credentials are ``AuthenticationError``
    (so the core forgets cached credentials); any other 403 is ``PermissionDeniedError``
    when AWS says ``AccessDeniedException`` and an authentication failure otherwise.
    """
    message, _, _ = provider_message(response)
    name = error_type(response)
    cls = ERROR_CLASSES.get(name or "")
    status = response.status_code
    blocked = status in (400, 403) and CONTENT_BLOCK.search(message) is not None
    bad_credentials = _BAD_CREDENTIALS.search(message) is not None and "not authorized" not in message
    if blocked and cls in (None, BadRequestError, PermissionDeniedError):
        cls = ContentPolicyViolationError
    elif (status == 403 and cls is None) or (cls is PermissionDeniedError and bad_credentials):
        cls = AuthenticationError
    text = f"{name}: {message}" if name else message
    error = error_from_response(response, provider=PROVIDER, model=model, message=text, cls=cls)
    error.code = name or error.code
    return error
