"""
Every error pixmux raises, in one tree.

::

    PixmuxError
    ├── ConfigurationError            a setting is missing or wrong (no request was sent)
    │   ├── ProviderNotFoundError     no installed plugin serves the model string
    │   └── PluginConflictError       two distributions claim one provider name
    ├── BadRequestError               400
    │   ├── UnsupportedParamsError    a parameter or value the model does not accept (raised before any I/O)
    │   └── ContentPolicyViolationError  the provider refused the prompt or the image (always 400)
    ├── AuthenticationError           401
    ├── PermissionDeniedError         403
    ├── NotFoundError                 404 (unknown or retired model)
    ├── RateLimitError                429
    ├── UnprocessableEntityError      422
    ├── APIResponseValidationError    the provider answered, but not in the shape we expected (502)
    ├── APIConnectionError            the request never got an answer
    │   └── Timeout                   ... because the time ran out (408)
    ├── InternalServerError           500 and other 5xx
    │   └── ServiceUnavailableError   503
    └── AllAttemptsFailedError        a router tried every deployment and fallback; wraps the last real error

Every error carries keyword-only context: ``provider`` (the entry-point name), ``model``,
``param`` where one parameter is to blame, ``status_code`` (the HTTP status pixmux reports),
``retry_after`` (seconds) where the provider said, ``code`` (the provider's own error code)
and ``response`` (the provider's ``httpx.Response``, or ``None`` before any I/O).
The provider's own message is part of ``str(exc)``; a secret never is.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import httpx

__all__ = [
    "PixmuxError",
    "ConfigurationError",
    "ProviderNotFoundError",
    "PluginConflictError",
    "BadRequestError",
    "UnsupportedParamsError",
    "ContentPolicyViolationError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "RateLimitError",
    "UnprocessableEntityError",
    "APIResponseValidationError",
    "APIConnectionError",
    "Timeout",
    "InternalServerError",
    "ServiceUnavailableError",
    "AllAttemptsFailedError",
    "error_from_response",
    "error_class_for_status",
    "parse_retry_after",
    "provider_message",
    "redact",
    "is_secret_name",
]


class PixmuxError(Exception):
    """
    Base of every pixmux error.

    Args:
        message: what went wrong, in words; the provider's own message where there is one.
        provider: the provider's entry-point name (``"openai"``, ``"bedrock"``, ...).
        model: the model the call was for.
        param: the request parameter to blame, where one is.
        status_code: the HTTP status pixmux reports for this error.
        retry_after: seconds the provider asked us to wait, where it said.
        code: the provider's own error code (``"content_policy_violation"``, ``"ThrottlingException"``).
        response: the provider's response, or ``None`` when no request was sent.
        details: extra structured facts (content-filter results, attempts made).
    """

    default_status: ClassVar[int | None] = None
    openai_type: ClassVar[str] = "api_error"

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        param: str | None = None,
        status_code: int | None = None,
        retry_after: float | None = None,
        code: str | None = None,
        response: httpx.Response | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.model = model
        self.param = param
        self.status_code = status_code if status_code is not None else self.default_status
        self.retry_after = retry_after
        self.code = code
        self.response = response
        self.details: Mapping[str, Any] = dict(details or {})

    def __str__(self) -> str:
        where = "/".join(part for part in (self.provider, self.model) if part)
        prefix = f"{where}: " if where else ""
        return f"{prefix}{self.message}"

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{name}={value!r}"
            for name, value in (
                ("provider", self.provider),
                ("model", self.model),
                ("param", self.param),
                ("status_code", self.status_code),
                ("code", self.code),
            )
            if value is not None
        )
        return f"{type(self).__name__}({self.message!r}{', ' if fields else ''}{fields})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Picklable (multiprocessing, caches) without the response object.
        return (_rebuild, (type(self), self.message, self._context()))

    def _context(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "model": self.model,
            "param": self.param,
            "status_code": self.status_code,
            "retry_after": self.retry_after,
            "code": self.code,
            "details": dict(self.details),
        }

    def with_context(self, *, provider: str | None = None, model: str | None = None) -> PixmuxError:
        """Fill in ``provider`` and ``model`` where the raiser left them out; returns ``self``."""
        if self.provider is None:
            self.provider = provider
        if self.model is None:
            self.model = model
        return self


def _rebuild(cls: type[PixmuxError], message: str, context: dict[str, Any]) -> PixmuxError:
    return cls(message, **context)


class ConfigurationError(PixmuxError):
    """A setting is missing or wrong: no request was sent."""

    default_status = 400
    openai_type = "invalid_request_error"


class ProviderNotFoundError(ConfigurationError):
    """No installed plugin serves the model string; the message lists what is installed."""

    default_status = 404


class PluginConflictError(ConfigurationError):
    """Two installed distributions register the same provider name."""

    default_status = 500
    openai_type = "api_error"


class BadRequestError(PixmuxError):
    """The request was refused as malformed or invalid (HTTP 400)."""

    default_status = 400
    openai_type = "invalid_request_error"


class UnsupportedParamsError(BadRequestError):
    """A parameter or value the chosen model does not accept; raised before any request is sent."""


class ContentPolicyViolationError(BadRequestError):
    """
    The provider refused the prompt or the generated image on safety grounds.

    Always ``status_code`` 400, as OpenAI reports its own, whether the provider said so with an
    HTTP error or with a 200 carrying a finish reason or no image. ``details`` keeps the
    provider's filter results where it gave them.
    """

    default_status = 400


class AuthenticationError(PixmuxError):
    """The credentials are missing, wrong or expired (HTTP 401)."""

    default_status = 401
    openai_type = "authentication_error"


class PermissionDeniedError(PixmuxError):
    """The credentials are valid but may not use this model or region (HTTP 403)."""

    default_status = 403
    openai_type = "permission_error"


class NotFoundError(PixmuxError):
    """The model or deployment does not exist, or was retired (HTTP 404)."""

    default_status = 404
    openai_type = "invalid_request_error"


class RateLimitError(PixmuxError):
    """Too many requests or out of quota (HTTP 429); ``retry_after`` says how long to wait, where known."""

    default_status = 429
    openai_type = "rate_limit_error"


class UnprocessableEntityError(PixmuxError):
    """The provider understood the request but could not process it (HTTP 422)."""

    default_status = 422
    openai_type = "invalid_request_error"


class APIResponseValidationError(PixmuxError):
    """The provider answered with a body pixmux could not read; reported as a bad gateway (502)."""

    default_status = 502


class APIConnectionError(PixmuxError):
    """The request got no answer: connection refused, reset, DNS failure."""

    default_status = 502


class Timeout(APIConnectionError):
    """The call ran out of time before the provider answered (HTTP 408)."""

    default_status = 408
    openai_type = "timeout_error"


class InternalServerError(PixmuxError):
    """The provider failed (HTTP 500 and other 5xx)."""

    default_status = 500


class ServiceUnavailableError(InternalServerError):
    """The provider is overloaded or down (HTTP 503)."""

    default_status = 503


class AllAttemptsFailedError(PixmuxError):
    """
    A router tried every deployment and fallback and all failed.

    ``last`` is the last real provider error; ``attempts`` lists each attempt as
    ``(deployment id, error)``. Status, provider, model, code and retry_after are the last error's.

    The instance is also of the last error's class: ``AllAttemptsFailedError(RateLimitError(...), ...)``
    is a ``RateLimitError`` too, so ``except RateLimitError`` still catches it and a gateway answers
    with the last error's status and OpenAI error type.
    """

    last: PixmuxError
    attempts: tuple[tuple[str, PixmuxError], ...]

    def __new__(cls, last: PixmuxError, attempts: Sequence[tuple[str, PixmuxError]] = ()) -> AllAttemptsFailedError:
        made = _all_failed_class(type(last)) if cls is AllAttemptsFailedError and isinstance(last, PixmuxError) else cls
        return super().__new__(made)

    def __init__(self, last: PixmuxError, attempts: Sequence[tuple[str, PixmuxError]] = ()) -> None:
        tried = "; ".join(f"{name}: {type(err).__name__} ({err.status_code})" for name, err in attempts)
        super().__init__(
            f"{last.message} (after {len(attempts)} attempt(s): {tried})",
            provider=last.provider,
            model=last.model,
            param=last.param,
            status_code=last.status_code,
            retry_after=last.retry_after,
            code=last.code,
            response=last.response,
            details=last.details,
        )
        self.last = last
        self.attempts = tuple(attempts)
        self.openai_type = last.openai_type  # type: ignore[misc]

    def __reduce__(self) -> tuple[Any, ...]:
        return (AllAttemptsFailedError, (self.last, self.attempts))


_ALL_FAILED_CLASSES: dict[type[PixmuxError], type[AllAttemptsFailedError]] = {}


def _all_failed_class(last: type[PixmuxError]) -> type[AllAttemptsFailedError]:
    # One subclass of (AllAttemptsFailedError, the last error's class) per class, made on first use.
    if issubclass(last, AllAttemptsFailedError) or last is PixmuxError:
        return AllAttemptsFailedError
    found = _ALL_FAILED_CLASSES.get(last)
    if found is None:
        made = type(
            "AllAttemptsFailedError",
            (AllAttemptsFailedError, last),
            {
                "__module__": __name__,
                "__qualname__": "AllAttemptsFailedError",
                "__doc__": AllAttemptsFailedError.__doc__,
            },
        )
        found = _ALL_FAILED_CLASSES.setdefault(last, made)
    return found


_STATUS_CLASSES: dict[int, type[PixmuxError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: Timeout,
    413: BadRequestError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    503: ServiceUnavailableError,
    504: Timeout,
}


def error_class_for_status(status: int) -> type[PixmuxError]:
    """The pixmux error class for an HTTP status; the same table serves every provider."""
    if status in _STATUS_CLASSES:
        return _STATUS_CLASSES[status]
    if status >= 500:
        return InternalServerError
    return BadRequestError


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """
    Seconds to wait from ``Retry-After`` (seconds or HTTP-date) or ``retry-after-ms``; ``None`` if absent or unreadable.
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def provider_message(response: httpx.Response) -> tuple[str, str | None, str | None]:
    """
    Pull ``(message, code, param)`` out of an error body in any of the common shapes.

    Reads OpenAI's ``{"error": {"message", "code", "param"}}``, Google's
    ``{"error": {"message", "status"}}``, AWS's ``{"message"}`` / ``{"Message"}`` with the
    ``x-amzn-ErrorType`` header, ``{"detail": ...}`` and plain text. Never raises.
    """
    code = response.headers.get("x-amzn-errortype")
    if code:
        code = code.split(":", 1)[0]
    text = ""
    try:
        text = response.text
        body: Any = json.loads(text) if text else None
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested too deeply to read
        body = None
    message: str | None = None
    param: str | None = None
    if isinstance(body, dict):
        inner = body.get("error")
        if isinstance(inner, dict):
            message = _as_text(inner.get("message"))
            code = _as_text(inner.get("code")) or _as_text(inner.get("status")) or _as_text(inner.get("type")) or code
            param = _as_text(inner.get("param"))
        elif isinstance(inner, str):
            message = inner
        if message is None:
            for key in ("message", "Message", "detail", "error_description", "msg"):
                found = body.get(key)
                if found is not None:
                    message = found if isinstance(found, str) else json.dumps(found)
                    break
        code = code or _as_text(body.get("code")) or _as_text(body.get("__type"))
    if not message:
        snippet = " ".join(text.split())[:500]
        message = snippet or f"HTTP {response.status_code} with an empty body"
    return message, code, param


def _as_text(value: object) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def error_from_response(
    response: httpx.Response,
    *,
    provider: str,
    model: str | None = None,
    message: str | None = None,
    cls: type[PixmuxError] | None = None,
    details: Mapping[str, Any] | None = None,
) -> PixmuxError:
    """
    The typed error for a provider's error response: class by status, the provider's message, code and param.

    Plugins call this from ``parse_response`` for every status they have no finer rule for,
    so that statuses map the same way for every provider.

    Args:
        response: the provider's error response.
        provider: the entry-point name.
        model: the model asked for.
        message: a message to use instead of the one in the body.
        cls: a class to use instead of the status table's (for example ``ContentPolicyViolationError``).
        details: extra structured facts to keep on the error.
    """
    found, code, param = provider_message(response)
    klass = cls or error_class_for_status(response.status_code)
    status = response.status_code if cls is None or cls.default_status is None else cls.default_status
    if klass is ContentPolicyViolationError:
        status = 400
    return klass(
        message or found,
        provider=provider,
        model=model,
        param=param,
        status_code=status,
        retry_after=parse_retry_after(response.headers),
        code=code,
        response=response,
        details=details,
    )


#: A setting or parameter whose name contains one of these holds a secret.
_SECRET_WORDS = ("key", "secret", "token", "password", "credential")


def is_secret_name(name: str) -> bool:
    """Whether a setting or parameter of this name holds a secret (``aws_secret_access_key``, ``azure_ad_token``)."""
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def redact(text: str, secrets: Iterable[str | None], *, min_length: int = 6) -> str:
    """
    ``text`` with every secret in it replaced by ``[redacted]``, longest first.

    Strings shorter than ``min_length`` are left alone: replacing them would mangle ordinary
    words of the message. Providers echo keys back in error bodies, so every message pixmux
    shows (errors, CLI lines, gateway answers) goes through this.
    """
    for secret in sorted({s for s in secrets if s and len(s) >= min_length}, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "[redacted]")
    return text
