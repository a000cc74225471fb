"""The error tree: one status table for every provider, provider messages, Retry-After, pickling."""

from __future__ import annotations

import email.utils
import pickle
from typing import Any

import httpx
import pytest
from pixmux import (
    APIConnectionError,
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
    UnprocessableEntityError,
)
from pixmux.exceptions import error_class_for_status, error_from_response, parse_retry_after, provider_message
from pixmux.testing import make_engine

STATUS_CLASSES = [
    (400, BadRequestError),
    (401, AuthenticationError),
    (403, PermissionDeniedError),
    (404, NotFoundError),
    (408, Timeout),
    (409, BadRequestError),
    (413, BadRequestError),
    (422, UnprocessableEntityError),
    (429, RateLimitError),
    (500, InternalServerError),
    (502, InternalServerError),
    (503, ServiceUnavailableError),
    (504, Timeout),
    (520, InternalServerError),
]


@pytest.mark.parametrize(("status", "cls"), STATUS_CLASSES)
def test_error_class_for_status_maps_each_status_class(status: int, cls: type[PixmuxError]) -> None:
    """Every HTTP status maps to one class, the same for every provider."""
    assert cls is error_class_for_status(status)


@pytest.mark.parametrize(("status", "cls"), STATUS_CLASSES)
def test_error_from_response_keeps_status_message_code_and_param(status: int, cls: type[PixmuxError]) -> None:
    """A provider's error body becomes the class for its status, with its message, code and param."""
    response = httpx.Response(
        status, json={"error": {"message": f"it failed with {status}", "code": "some_code", "param": "size"}}
    )

    error = error_from_response(response, provider="acme", model="m")

    assert type(error) is cls
    assert status == error.status_code
    assert error.code == "some_code"
    assert error.param == "size"
    assert "acme/m: it failed with" in str(error)
    assert error.response is response


@pytest.mark.parametrize(("status", "cls"), STATUS_CLASSES)
def test_engine_maps_each_status_class(fake: Any, status: int, cls: type[PixmuxError]) -> None:
    """Through the engine, each status raises its class with provider and model filled in."""
    engine = make_engine(fake, handler=lambda r: httpx.Response(status, json={"error": {"message": "nope"}}))

    with pytest.raises(cls) as caught:
        engine.image_generation(prompt="otter", model="fake/m1", num_retries=0)

    assert type(caught.value) is cls
    assert caught.value.provider == "fake"
    assert caught.value.model == "m1"
    assert status == caught.value.status_code


def test_error_content_policy_is_always_400() -> None:
    """A refusal is ContentPolicyViolationError with status 400, whatever status the provider used."""
    response = httpx.Response(200, json={"error": {"message": "filtered", "code": "content_filter"}})

    error = error_from_response(response, provider="acme", cls=ContentPolicyViolationError)

    assert isinstance(error, ContentPolicyViolationError)
    assert isinstance(error, BadRequestError)
    assert error.status_code == 400
    assert error.code == "content_filter"


def test_error_rate_limit_carries_retry_after() -> None:
    """A 429 with Retry-After has ``retry_after`` in seconds."""
    response = httpx.Response(429, headers={"Retry-After": "12"}, json={"error": {"message": "slow down"}})

    error = error_from_response(response, provider="acme")

    assert isinstance(error, RateLimitError)
    assert error.retry_after == 12.0


@pytest.mark.parametrize(
    ("response", "message", "code", "param"),
    [
        (
            httpx.Response(400, json={"error": {"message": "bad size", "code": "invalid_size", "param": "size"}}),
            "bad size",
            "invalid_size",
            "size",
        ),
        (
            httpx.Response(403, json={"error": {"code": 403, "message": "denied", "status": "PERMISSION_DENIED"}}),
            "denied",
            "403",
            None,
        ),
        (
            httpx.Response(
                400,
                headers={"x-amzn-ErrorType": "ValidationException:http://internal.amazon.com/"},
                json={"message": "bad input"},
            ),
            "bad input",
            "ValidationException",
            None,
        ),
        (httpx.Response(422, json={"detail": [{"loc": ["body", "n"], "msg": "too big"}]}), "too big", None, None),
        (httpx.Response(500, json={"error": "plain string error"}), "plain string error", None, None),
        (httpx.Response(502, text="<html><body>Bad   Gateway</body></html>"), "Bad Gateway", None, None),
        (httpx.Response(503, content=b""), "HTTP 503 with an empty body", None, None),
        (httpx.Response(500, content=b"\xff\xfe\x00garbage"), "", None, None),
        (httpx.Response(429, content=b"[" * 100_000 + b"]" * 100_000), "[[[", None, None),
    ],
)
def test_provider_message_reads_the_common_shapes(
    response: httpx.Response, message: str, code: str | None, param: str | None
) -> None:
    """OpenAI, Google, AWS, FastAPI, plain text and empty bodies all give a message; never raises."""
    found_message, found_code, found_param = provider_message(response)

    assert message in found_message
    assert found_message
    assert code == found_code
    assert param == found_param


def test_parse_retry_after_seconds() -> None:
    """``Retry-After: 30`` is 30 seconds; fractions are kept."""
    assert parse_retry_after({"Retry-After": "30"}) == 30.0
    assert parse_retry_after({"retry-after": "1.5"}) == 1.5


def test_parse_retry_after_http_date() -> None:
    """An HTTP-date is the seconds from now until then."""
    now = 1_700_000_000.0
    header = email.utils.formatdate(now + 90, usegmt=True)

    assert pytest.approx(90.0) == parse_retry_after({"Retry-After": header}, now=now)


def test_parse_retry_after_date_in_the_past_is_zero() -> None:
    """A date already gone means retry now, never a negative wait."""
    header = email.utils.formatdate(1_000, usegmt=True)

    assert parse_retry_after({"Retry-After": header}, now=1_700_000_000.0) == 0.0


def test_parse_retry_after_milliseconds_header_wins() -> None:
    """``retry-after-ms`` (OpenAI, Azure) is read in milliseconds and preferred."""
    assert parse_retry_after({"retry-after-ms": "250", "Retry-After": "3"}) == 0.25


@pytest.mark.parametrize("headers", [{}, {"Retry-After": "soon"}, {"Retry-After": ""}, {"retry-after-ms": "x"}])
def test_parse_retry_after_absent_or_unreadable_is_none(headers: dict[str, str]) -> None:
    """No header, or one that is neither seconds nor a date, gives ``None``."""
    assert parse_retry_after(headers) is None


def test_parse_retry_after_negative_is_zero() -> None:
    """A negative number of seconds is clamped to zero."""
    assert parse_retry_after({"Retry-After": "-5"}) == 0.0


def test_error_pickles_without_the_response() -> None:
    """Errors survive pickling (multiprocessing, caches) with their context, minus the response."""
    error = RateLimitError(
        "slow down", provider="acme", model="m", retry_after=3.0, code="rate_limited", response=httpx.Response(429)
    )

    copy = pickle.loads(pickle.dumps(error))

    assert type(copy) is RateLimitError
    assert (
        copy.provider,
        copy.model,
        copy.retry_after,
        copy.code,
        copy.status_code,
    ) == ("acme", "m", 3.0, "rate_limited", 429)
    assert copy.response is None


def test_error_tree_matches_openai_names() -> None:
    """Timeout is a connection error, 503 is a server error, refusals are bad requests."""
    assert issubclass(Timeout, APIConnectionError)
    assert issubclass(ServiceUnavailableError, InternalServerError)
    assert issubclass(ContentPolicyViolationError, BadRequestError)
    assert all(issubclass(cls, PixmuxError) for _, cls in STATUS_CLASSES)


def test_error_with_context_fills_only_what_is_missing() -> None:
    """``with_context`` adds provider and model where the raiser left them out, and keeps the rest."""
    error = BadRequestError("bad", model="given-model")

    error.with_context(provider="acme", model="other")

    assert error.provider == "acme"
    assert error.model == "given-model"


def test_redact_replaces_each_secret_longest_first() -> None:
    """Every secret is replaced, a longer one before a shorter one it contains, and short strings are left."""
    from pixmux.exceptions import redact

    text = "key sk-abcdef123456 and its prefix sk-abcdef; id abc"

    out = redact(text, ["sk-abcdef", "sk-abcdef123456", "abc", None, ""])

    assert out == "key [redacted] and its prefix [redacted]; id abc"
    short = redact(text, ["abc"], min_length=3)
    assert short == "key sk-[redacted]def123456 and its prefix sk-[redacted]def; id [redacted]"


def test_is_secret_name_spots_credential_settings() -> None:
    """Settings named like keys, secrets, tokens, passwords or credentials are secret; others are not."""
    from pixmux.exceptions import is_secret_name

    assert all(map(is_secret_name, ["api_key", "aws_secret_access_key", "azure_ad_token", "vertex_credentials"]))
    assert not any(map(is_secret_name, ["aws_region_name", "vertex_ai_project", "base_model"]))
