"""
Google's error responses as pixmux errors.

Both services answer errors as ``{"error": {"code", "message", "status", "details": [...]}}``
(streaming endpoints wrap it in a one-element list). The class follows the HTTP status as for
every provider, with Google's own exceptions:

- an invalid, expired or missing API key, which Google reports as 400 ``INVALID_ARGUMENT``
  (reason ``API_KEY_INVALID``) or 403 "unregistered callers", is an ``AuthenticationError``;
- a prompt refused by Imagen's input filter (a 400 whose message speaks of the safety filter,
  responsible-AI rules or support codes) is a ``ContentPolicyViolationError``;
- ``RESOURCE_EXHAUSTED`` (429, and 402 for exhausted prepaid credit) is a ``RateLimitError``
  whose ``retry_after`` comes from Google's ``RetryInfo.retryDelay`` when no header gives it;
- a 404 for a model Google has shut down says so.

``code`` is Google's ``status`` (``"INVALID_ARGUMENT"``), ``details`` keeps Google's ``details``
list and the ``ErrorInfo`` reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import httpx
from pixmux.catalogue import ModelInfo
from pixmux.exceptions import (
    AuthenticationError,
    ContentPolicyViolationError,
    NotFoundError,
    PixmuxError,
    RateLimitError,
    error_from_response,
)

__all__ = ["google_error", "read_error", "AUTH_REASONS", "CONTENT_POLICY_PHRASES"]

#: ``ErrorInfo.reason`` values that mean the API key is wrong, expired or missing.
AUTH_REASONS = frozenset(
    {"API_KEY_INVALID", "API_KEY_EXPIRED", "API_KEY_NOT_FOUND", "CREDENTIALS_MISSING", "ACCESS_TOKEN_EXPIRED"}
)
_AUTH_PHRASES = ("api key not valid", "api key expired", "unregistered callers", "invalid authentication credentials")
#: Words in a 400 message that mean Imagen's input filter refused the prompt.
CONTENT_POLICY_PHRASES = (
    "responsible ai",
    "support code",
    "safety filter",
    "could not be submitted",
    "prohibited",
    "violat",
    "sensitive words",
)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def read_error(response: httpx.Response) -> Mapping[str, Any]:
    """Google's ``error`` object from an error body (unwrapping a one-element list); empty if there is none."""
    try:
        body: Any = json.loads(response.text) if response.text else None
    except (ValueError, UnicodeDecodeError):
        return {}
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        error: Mapping[str, Any] = body["error"]
        return error
    return {}


def _details(error: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = error.get("details")
    if not isinstance(found, list):
        return []
    return [item for item in found if isinstance(item, Mapping)]


def _reason(details: list[Mapping[str, Any]]) -> str | None:
    for item in details:
        if str(item.get("@type", "")).endswith("google.rpc.ErrorInfo") and isinstance(item.get("reason"), str):
            return str(item["reason"])
    return None


def _retry_delay(details: list[Mapping[str, Any]]) -> float | None:
    for item in details:
        if str(item.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = _DURATION.match(str(item.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def google_error(response: httpx.Response, *, provider: str, info: ModelInfo) -> PixmuxError:
    """
    The typed pixmux error for one of Google's error responses, with Google's message.

    Args:
        response: the error response (status 400 or more).
        provider: the entry-point name (``"vertex_ai"`` or ``"gemini"``).
        info: the catalogue entry of the model asked for (its ``retired_note`` explains a 404).
    """
    error = read_error(response)
    details = _details(error)
    reason = _reason(details)
    status = error.get("status") if isinstance(error.get("status"), str) else None
    message = error.get("message") if isinstance(error.get("message"), str) and error.get("message") else None
    facts: dict[str, Any] = {}
    if details:
        facts["google_details"] = details
    if reason:
        facts["reason"] = reason
    found = _classify(
        response, provider=provider, info=info, facts=facts, reason=reason, status=status, message=message
    )
    if status:
        found.code = status  # Google's status name ("INVALID_ARGUMENT") rather than the numeric code
    return found


def _classify(
    response: httpx.Response,
    *,
    provider: str,
    info: ModelInfo,
    facts: dict[str, Any],
    reason: str | None,
    status: str | None,
    message: str | None,
) -> PixmuxError:
    details = facts.get("google_details", [])
    lowered = (message or "").lower()
    code = response.status_code
    if reason in AUTH_REASONS or (code in (400, 401, 403) and any(p in lowered for p in _AUTH_PHRASES)):
        return error_from_response(response, provider=provider, model=info.name, cls=AuthenticationError, details=facts)
    if code == 400 and any(phrase in lowered for phrase in CONTENT_POLICY_PHRASES):
        return error_from_response(
            response, provider=provider, model=info.name, cls=ContentPolicyViolationError, details=facts
        )
    if code in (402, 429) or status == "RESOURCE_EXHAUSTED":
        limited = error_from_response(response, provider=provider, model=info.name, cls=RateLimitError, details=facts)
        if limited.retry_after is None:
            limited.retry_after = _retry_delay(details)
        return limited
    found = error_from_response(response, provider=provider, model=info.name, details=facts)
    note = info.extra.get("retired_note")
    if note and isinstance(found, NotFoundError):
        return NotFoundError(
            f"{found.message} ({note})",
            provider=provider,
            model=info.name,
            param="model",
            code=found.code,
            response=response,
            details=facts,
        )
    return found
