"""pixmux._redact: values scrubbed in every form, errors made safe with what hangs on them, log records cleaned."""

from __future__ import annotations

import json
import logging
import urllib.parse
from typing import Any

import httpx
import pytest
from pixmux import _redact
from pixmux.exceptions import AuthenticationError
from pixmux.types import Auth, Deployment

SECRET = "s3cr3t/with+odd=chars&more-0123456789"


@pytest.mark.parametrize(
    "form",
    [SECRET, urllib.parse.quote(SECRET, safe=""), urllib.parse.quote_plus(SECRET), json.dumps(SECRET)[1:-1]],
)
def test_redact_scrub_removes_every_form(form: str) -> None:
    """As is, URL-encoded or JSON-escaped, the value is gone."""
    text = f"before {form} after"

    assert _redact.scrub(text, [SECRET]) == "before [redacted] after"


def test_redact_scrub_leaves_short_strings() -> None:
    """A value under six characters is not scrubbed (it would mangle ordinary words)."""
    assert _redact.scrub("the key abc is", ["abc"]) == "the key abc is"


def test_redact_secrets_of_collects_every_source() -> None:
    """The key, secret-named settings, the auth's value and listed secrets, credential headers of sent requests."""
    deployment = Deployment(
        provider="p",
        model="m",
        api_key="key-value-1",
        settings={"aws_secret_access_key": "aws-secret-2", "region": "r1"},
    )
    auth = Auth(value=object(), secrets=("session-token-3",))
    request = httpx.Request("POST", "https://x", headers={"authorization": "AWS4-HMAC-SHA256 Signature=" + "a" * 64})

    found = _redact.secrets_of(deployment, auth, [request])

    assert {"key-value-1", "aws-secret-2", "session-token-3", "a" * 64} <= found
    assert "r1" not in found


def test_redact_scrub_error_replaces_the_attached_response_and_request() -> None:
    """The response and its request become copies without the value; credential headers read [redacted]."""
    request = httpx.Request(
        "POST", f"https://x/v1?key={SECRET}", headers={"api-key": "other-header-value"}, content=SECRET
    )
    response = httpx.Response(401, json={"echo": SECRET}, headers={"x-echo": SECRET}, request=request)
    error = AuthenticationError(f"bad key {SECRET}", code=SECRET, response=response)
    error.__cause__ = ValueError(f"inner {SECRET}")

    _redact.scrub_error(error, [SECRET])

    texts = [
        str(error),
        repr(error),
        str(error.code),
        error.response.text if error.response else "",
        repr(list(error.response.headers.raw)) if error.response else "",
        repr(error.response.request.headers) if error.response else "",
        str(error.response.request.url) if error.response else "",
        error.response.request.content.decode() if error.response else "",
        str(error.__cause__),
    ]
    assert not any(SECRET in text for text in texts)
    assert not any("other-header-value" in text for text in texts)
    assert error.response is not None
    assert error.response.status_code == 401


def test_redact_log_records_lose_remembered_values_at_every_level(caplog: Any) -> None:
    """A remembered value is masked in any logger's record; a credential-shaped one in the libraries' records."""
    _redact.guard_logs()
    remembered = "remembered-token-" + "9" * 20
    _redact.remember([remembered])
    caplog.set_level(logging.DEBUG)

    logging.getLogger("someapp").debug("got %s", remembered)
    logging.getLogger("httpcore.http11").debug("headers [(b'Authorization', b'Bearer abcdefghijklmnop')]")
    try:
        raise RuntimeError(f"failed with {remembered}")
    except RuntimeError:
        logging.getLogger("pixmux.proxy").exception("boom")

    text = "\n".join(caplog.text.splitlines())
    assert remembered not in text
    assert "abcdefghijklmnop" not in text
    assert "boom" in text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("demo", "demo"),
        ("a\r\nb", "a\\r\\nb"),
        ("x" * 200, "x" * 120 + "…"),
        ("sk-proj-" + "C" * 30, "[redacted]"),
    ],
)
def test_redact_clean_client_value(value: str, expected: str) -> None:
    """Control characters escaped, long values cut, credential shapes masked."""
    assert _redact.clean_client_value(value) == expected


def test_redact_a_record_made_while_the_filter_is_busy_does_not_deadlock() -> None:
    """A log record made on a thread holding the filter's lock (a finalizer that logs during a GC) completes."""
    import threading

    _redact.guard_logs()
    _redact.remember(["fresh-secret-" + "7" * 20])  # the next record rebuilds the pattern, under the lock
    done = threading.Event()

    def run() -> None:
        with _redact._remembered_lock:
            logging.getLogger("httpcore.connection").warning("close.started %s", "connection")
        done.set()

    worker = threading.Thread(target=run, daemon=True)
    worker.start()

    assert done.wait(5)
