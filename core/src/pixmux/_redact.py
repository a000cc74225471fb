"""
Redaction: every credential value a call uses is scrubbed wherever text leaves pixmux.

Keyed on values first (the API key, a resolved OAuth token, an AWS session token, the
signature of a signed request), and on names and shapes as a second line (``Bearer ...``,
``"access_token": "..."``, ``sk-...``), for values pixmux never saw (a token in a log line
written before it was returned).

The whole API, used at one call site in the engine and by the gateway:

- :func:`secrets_of`: the secret strings of one call (deployment, resolved auth, sent requests).
- :func:`scrub`: a text with those strings (and their URL- and JSON-escaped forms) removed.
- :func:`scrub_error`: an error made safe in place: its message, ``args``, ``code``, ``param``,
  ``details``, the attached ``response`` and ``request`` (replaced by scrubbed copies) and
  every exception chained to it.
- :func:`remember`: make values known to the log filter, which :func:`guard_logs` installs
  once per process (a log-record factory: it sees records of every logger at every level).
- :func:`clean_client_value`: a client-supplied value fit for a log line or an error body.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import urllib.parse
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

    from pixmux.exceptions import PixmuxError
    from pixmux.types import Auth, Deployment

__all__ = [
    "MASK",
    "secrets_of",
    "scrub",
    "scrub_error",
    "remember",
    "remember_deployment",
    "guard_logs",
    "clean_client_value",
]

#: What a secret is replaced with.
MASK = "[redacted]"
#: Shorter strings are never scrubbed by value: replacing them would mangle ordinary words.
MIN_LENGTH = 6
#: Request and response headers whose values are credentials, whatever they hold.
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "api-key",
        "x-api-key",
        "x-goog-api-key",
        "x-amz-security-token",
        "x-amz-content-sha256",
        "cookie",
        "set-cookie",
    }
)
#: Most values the log filter remembers (the oldest are forgotten first).
MAX_REMEMBERED = 4096

_NAME_WORDS = (
    r"(?:api[-_]?key|access[-_]?key(?:[-_]?id)?|secret[-_\w]*|[-_\w]*token|password|passwd"
    r"|assertion|signature|credentials?|client[-_]?secret)"
)
#: ``name: value``, ``name=value``, ``"name": "value"`` where the name says it holds a secret.
_BY_NAME = re.compile(
    r"""(?ix)
    (?P<head>["']?\b"""
    + _NAME_WORDS
    + r"""\b["']?\s*[:=]\s*b?["']?)
    (?P<value>[^\s"'&,;}\]<>)]{6,})""",
)
#: ``Bearer <token>``, ``Basic <b64>``, ``AWS4-HMAC-SHA256 Credential=...``.
_BY_SCHEME = re.compile(r"(?i)\b(?P<head>(?:bearer|basic)\s+)(?P<value>[A-Za-z0-9._~+/=-]{6,})")
#: XML elements with secrets in them (STS answers).
_BY_TAG = re.compile(r"(?P<head><(?:SecretAccessKey|SessionToken|AccessKeyId|Token)>)(?P<value>[^<]+)")
#: Shapes of well-known keys and tokens, found wherever they appear.
_BY_SHAPE = re.compile(
    r"""(?x)
    \bsk-[A-Za-z0-9_-]{16,}
    | \bAKIA[0-9A-Z]{16}\b | \bASIA[0-9A-Z]{16}\b
    | \bAIza[0-9A-Za-z_-]{30,}
    | \bya29\.[0-9A-Za-z_.-]{10,}
    | \beyJ[0-9A-Za-z_-]{8,}\.eyJ[0-9A-Za-z_-]{8,}\.[0-9A-Za-z_-]*
    | \b[0-9a-f]{64}\b
    """
)


def secrets_of(
    deployment: Deployment | None = None,
    auth: Auth | None = None,
    requests: Iterable[httpx.Request] = (),
) -> frozenset[str]:
    """
    Every secret string of one call: the deployment's key and secret-named settings, what
    ``resolve_auth`` returned (its string ``value`` and ``Auth.secrets``) and the values of
    credential headers of the requests sent (``api-key``, ``Authorization``, signatures).
    """
    from pixmux.exceptions import is_secret_name

    found: set[str] = set()
    if deployment is not None:
        if deployment.api_key:
            found.add(deployment.api_key)
        for name, value in deployment.settings.items():
            if isinstance(value, str) and is_secret_name(name):
                found.add(value)
    if auth is not None:
        if isinstance(auth.value, str):
            found.add(auth.value)
        found.update(secret for secret in auth.secrets if isinstance(secret, str))
    for request in requests:
        for name, value in request.headers.items():
            if name.lower() in SECRET_HEADERS:
                found.add(value)
                found.update(_header_parts(value))
    return frozenset(secret for secret in found if len(secret) >= MIN_LENGTH)


def _header_parts(value: str) -> list[str]:
    """The secret parts of a credential header: the token after ``Bearer``, a SigV4 ``Signature=``."""
    parts = []
    scheme, _, rest = value.partition(" ")
    if rest and scheme.lower() in ("bearer", "basic"):
        parts.append(rest.strip())
    signature = re.search(r"Signature=([0-9a-f]+)", value)
    if signature:
        parts.append(signature.group(1))
    return parts


def _forms(secret: str) -> set[str]:
    """A secret as it may appear in text: as is, URL-encoded, JSON-escaped."""
    forms = {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret, safe="")}
    forms.add(json.dumps(secret)[1:-1])
    return forms


def scrub(text: str, secrets: Iterable[str]) -> str:
    """
    ``text`` without any of ``secrets`` (as is, URL-encoded or JSON-escaped), each replaced by ``[redacted]``.

    Strings shorter than :data:`MIN_LENGTH` are left alone. Longest first, so that a secret
    containing another is removed whole.
    """
    wanted = {form for secret in secrets if secret and len(secret) >= MIN_LENGTH for form in _forms(secret)}
    for secret in sorted(wanted, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


#: Words one of the patterns above needs (lowercase): a text holding none of them, and no long hex run, is clean.
_CLUES: tuple[str, ...] = ("key", "secret", "token", "passw", "assertion", "signature", "credential", "bearer")
_CLUES += ("basic", "sk-", "akia", "asia", "aiza", "ya29", "eyj")
_HEX_RUN = re.compile(r"[0-9a-f]{64}")


def _scrub_by_name(text: str) -> str:
    """``text`` with values that look like credentials, by the name before them or their shape, masked."""
    lowered = text.lower()
    if not any(clue in lowered for clue in _CLUES) and _HEX_RUN.search(text) is None:
        return text  # the common case, about ten times cheaper than the patterns
    text = _BY_SCHEME.sub(lambda m: m.group("head") + MASK, text)
    text = _BY_NAME.sub(lambda m: m.group("head") + MASK, text)
    text = _BY_TAG.sub(lambda m: m.group("head") + MASK, text)
    return _BY_SHAPE.sub(MASK, text)


def _scrub_bytes(data: bytes, secrets: Iterable[str]) -> bytes:
    for secret in sorted({f for s in secrets if len(s) >= MIN_LENGTH for f in _forms(s)}, key=len, reverse=True):
        encoded = secret.encode("utf-8", "surrogatepass")
        if encoded in data:
            data = data.replace(encoded, MASK.encode())
    return data


def _scrub_value(value: Any, secrets: frozenset[str], depth: int = 0) -> Any:
    if isinstance(value, str):
        return scrub(value, secrets)
    if depth > 8:
        return value
    if isinstance(value, Mapping):
        return {key: _scrub_value(item, secrets, depth + 1) for key, item in value.items()}
    if type(value) in (list, tuple):  # exactly: a named tuple or a subclass is rebuilt differently
        return type(value)(_scrub_value(item, secrets, depth + 1) for item in value)
    return value


def _headers(headers: httpx.Headers, secrets: frozenset[str], *, drop: Iterable[str] = ()) -> list[tuple[bytes, bytes]]:
    skipped = set(drop)
    out = []
    for name, value in headers.raw:
        lowered = name.decode("latin-1").lower()
        if lowered in skipped:
            continue
        text = value.decode("latin-1")
        cleaned = MASK if lowered in SECRET_HEADERS else scrub(text, secrets)
        out.append((name, cleaned.encode("latin-1")))
    return out


def _request_copy(request: httpx.Request, secrets: frozenset[str]) -> httpx.Request:
    import httpx

    try:
        content = request.content
    except httpx.RequestNotRead:  # a streamed body was never kept: nothing to show
        content = b""
    return httpx.Request(
        request.method,
        scrub(str(request.url), secrets),
        headers=_headers(request.headers, secrets, drop=("content-length",)),
        content=_scrub_bytes(content, secrets),
    )


def _response_copy(response: httpx.Response, secrets: frozenset[str]) -> httpx.Response:
    import httpx

    try:
        content = response.content
    except httpx.ResponseNotRead:
        content = b""
    try:
        request: httpx.Request | None = _request_copy(response.request, secrets)
    except RuntimeError:  # a response built without a request
        request = None
    # The copy holds decoded bytes: the encoding headers of the original would not fit them.
    drop = ("content-encoding", "content-length", "transfer-encoding")
    return httpx.Response(
        response.status_code,
        headers=_headers(response.headers, secrets, drop=drop),
        content=_scrub_bytes(content, secrets),
        request=request,
    )


def _holds_secrets(response: httpx.Response, known: frozenset[str]) -> bool:
    """Whether the response or its request shows a credential header or any of ``known`` (else it is kept as is)."""
    import httpx

    parts: list[httpx.Headers] = [response.headers]
    texts = [str(v) for v in response.headers.values()]
    try:
        request = response.request
    except RuntimeError:
        request = None
    if request is not None:
        parts.append(request.headers)
        texts.append(str(request.url))
        texts.extend(request.headers.values())
    if any(name.lower() in SECRET_HEADERS for headers in parts for name in headers):
        return True
    if not known:
        return False
    bodies: list[bytes] = []
    for owner in (response, request):
        with contextlib.suppress(httpx.ResponseNotRead, httpx.RequestNotRead):
            bodies.append(owner.content if owner is not None else b"")
    text = "\n".join(texts)
    return scrub(text, known) != text or any(_scrub_bytes(body, known) != body for body in bodies)


def scrub_error(error: PixmuxError, secrets: Iterable[str]) -> PixmuxError:
    """
    ``error``, made safe in place, and returned.

    Its message (and so ``str``/``repr``), ``args``, ``code``, ``param`` and ``details`` lose
    every secret; its ``response`` becomes a copy whose headers, body and request (URL,
    headers, body) hold none, and credential headers read ``[redacted]`` whatever they held.
    Exceptions chained to it (``__cause__``, ``__context__``) are treated the same way.
    """
    known = set(secrets)
    response = error.response
    if response is not None:  # what was sent: signed headers, a key in a header the plugin chose
        with contextlib.suppress(RuntimeError):  # a response built without a request has none
            known |= secrets_of(requests=[response.request])
    return _scrub_chain(error, frozenset(known))


def _scrub_chain(error: PixmuxError, known: frozenset[str]) -> PixmuxError:
    from pixmux.exceptions import PixmuxError

    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, PixmuxError):
            _scrub_pixmux(current, known)
        else:
            _scrub_foreign(current, known)
        current = current.__cause__ or current.__context__
    return error


def _scrub_pixmux(error: PixmuxError, known: frozenset[str]) -> None:
    from pixmux.exceptions import PixmuxError

    message = scrub(error.message, known)
    if message != error.message:
        error.message = message
    error.args = (message, *(_scrub_value(arg, known) for arg in error.args[1:]))
    if error.code is not None:
        error.code = scrub(error.code, known)
    if error.param is not None:
        error.param = scrub(error.param, known)
    if error.details:
        error.details = _scrub_value(dict(error.details), known)
    if error.response is not None and _holds_secrets(error.response, known):
        error.response = _response_copy(error.response, known)
    last = getattr(error, "last", None)
    if isinstance(last, PixmuxError) and last is not error:
        _scrub_pixmux(last, known)


def _scrub_foreign(error: BaseException, known: frozenset[str]) -> None:
    import httpx

    if known and any(isinstance(arg, str) and scrub(arg, known) != arg for arg in error.args):
        error.args = tuple(scrub(arg, known) if isinstance(arg, str) else arg for arg in error.args)
    if isinstance(error, httpx.RequestError) and getattr(error, "_request", None) is not None:
        error._request = _request_copy(error.request, known)
    if isinstance(error, httpx.HTTPStatusError):
        error.response = _response_copy(error.response, known)
        error.request = error.response.request


# --------------------------------------------------------------------------- logs

_remembered: OrderedDict[str, None] = OrderedDict()
#: Re-entrant: a log record can be made while the lock is held on the same thread (a garbage
#: collection inside ``remember`` finalizes a connection, whose ``close`` logs).
_remembered_lock = threading.RLock()
_installed = False
_pattern: re.Pattern[str] | None = None
#: Loggers whose records are also scrubbed by name and shape (not only by value).
_OWN_LOGGERS = (
    "pixmux",
    "httpx",
    "httpcore",
    "h11",
    "h2",
    "hpack",
    "aiohttp",
    "google",
    "botocore",
    "boto3",
    "urllib3",
    "uvicorn",
    "azure",
)


def remember_deployment(deployment: Deployment) -> None:
    """:func:`remember` the deployment's key and secret-named settings (cheap when they are known already)."""
    if not deployment.settings and (not deployment.api_key or deployment.api_key in _remembered):
        return
    remember(secrets_of(deployment))


def remember(secrets: Iterable[str | None]) -> None:
    """Make ``secrets`` known to the log filter (bounded: the oldest are forgotten past :data:`MAX_REMEMBERED`)."""
    global _pattern  # noqa: PLW0603 - rebuilt from _remembered when it changes
    for secret in secrets:
        if not secret or len(secret) < MIN_LENGTH or secret in _remembered:
            continue
        with _remembered_lock:
            _remembered[secret] = None
            while len(_remembered) > MAX_REMEMBERED:
                _remembered.popitem(last=False)
            _pattern = None


def _remembered_pattern() -> re.Pattern[str] | None:
    """One alternation of every remembered secret's forms, longest first; rebuilt after :func:`remember`."""
    global _pattern  # noqa: PLW0603
    found = _pattern
    if found is None and _remembered:
        with _remembered_lock:
            forms = {form for secret in _remembered for form in _forms(secret)}
            found = _pattern = re.compile("|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)))
    return found


def scrub_log_text(text: str, *, by_name: bool = True) -> str:
    """A log line without any remembered secret and (``by_name``) without values that look like credentials."""
    pattern = _remembered_pattern()
    if pattern is not None:
        text = pattern.sub(MASK, text)
    return _scrub_by_name(text) if by_name else text


def guard_logs() -> None:
    """
    Install the log filter once per process: a log-record factory around the current one.

    Every record, of every logger and level, loses the values :func:`remember` was given;
    records of the libraries pixmux drives (httpx, httpcore, botocore, google-auth, uvicorn...)
    and its own also lose values that look like credentials by name or shape. The factory
    runs only for records a logger actually emits.
    """
    global _installed  # noqa: PLW0603 - one factory per process is the point
    with _remembered_lock:
        if _installed:
            return
        _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _clean_record(record)
        return record

    logging.setLogRecordFactory(factory)


def _clean_record(record: logging.LogRecord) -> None:
    root = record.name.split(".", 1)[0]
    own = root in _OWN_LOGGERS
    if not own and not _remembered:
        return
    try:
        text = record.getMessage()
    except (TypeError, ValueError):  # a badly formatted call: logging reports it itself
        return
    # pixmux writes its own lines from cleaned values (clean_client_value): by value is enough
    # there, which keeps the gateway's per-request line cheap; a traceback is scrubbed by name too.
    cleaned = scrub_log_text(text, by_name=own and root != "pixmux")
    if record.exc_info and record.exc_info[1] is not None:
        import traceback

        rendered = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        safe = scrub_log_text(rendered, by_name=own)
        if safe != rendered:  # the traceback shows a secret: it becomes part of the message, scrubbed
            cleaned = f"{cleaned}\n{safe}"
            record.exc_info = None
            record.exc_text = None
    # A record is rewritten only when something was masked: handlers that read ``msg`` and
    # ``args`` (structured logs, error trackers grouping by template) see the caller's record.
    if cleaned != text:
        record.msg, record.args = cleaned, None


# --------------------------------------------------------------------------- client values

#: Longest client-supplied value shown in a log line or an error body.
CLIENT_VALUE_LIMIT = 120


def clean_client_value(value: object, limit: int = CLIENT_VALUE_LIMIT) -> str:
    """
    A client-supplied value (a model name, a parameter name) fit for a log line or an error body.

    Control characters (CR, LF, escape...) are written as ``\\r``-style escapes, a value longer
    than ``limit`` is cut with ``…``, and anything shaped like a credential is masked.
    """
    text = value if isinstance(value, str) else str(value)
    cut = len(text) > limit
    text = text[:limit]
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)
    text = _scrub_by_name(text)
    return text + ("…" if cut else "")
