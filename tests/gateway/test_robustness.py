"""
The gateway's HTTP surface under hypothesis-generated requests, in-process through ASGI.

Bodies: random JSON, OpenAI ``CreateImageRequest`` fields with values of every wrong type,
unknown and config-only fields, huge ``n``, unicode (lone surrogates included), invalid
UTF-8, truncated and deeply nested JSON, non-JSON content types, bodies around the size limit
sent in pieces. Headers: missing, wrong and odd ``Authorization`` / ``api-key`` values, lying
``Content-Length``.

The property: every answer is JSON (strict: no ``NaN``) that validates against OpenAI's
``ImagesResponse`` (200) or ``ErrorResponse`` (otherwise), its status is below 500 (the
upstream always succeeds here, so a 5xx is the gateway's own failure), and no traceback,
upstream key or master key ever appears in it. Whatever reaches the upstream is valid JSON.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import attrs
import httpx
import pixmux_openai.provider
import pytest
from fuzz_support import examples, fuzz
from gateway_support import MASTER_KEY, UPSTREAM_KEY, config_dict, schema_validator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pixmux.proxy import Gateway, create_app, parse_config
from pixmux.testing import TINY_PNG_B64, json_response, make_engine

FUZZ = fuzz(150, HealthCheck.data_too_large)
GEN = "/v1/images/generations"
LIMIT_MB = 0.0625
LIMIT = int(LIMIT_MB * 1024 * 1024)
MODELS = ("sd", "gpt-image-1", "demo")
FIELDS = (
    "prompt",
    "model",
    "n",
    "quality",
    "response_format",
    "size",
    "style",
    "user",
    "background",
    "moderation",
    "output_format",
    "output_compression",
    "stream",
    "partial_images",
)


@attrs.define
class Upstream:
    """The mock provider: answers every request with images; records any body that is not JSON."""

    bad: list[bytes] = attrs.Factory(list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        try:
            body = json.loads(request.content)
        except ValueError:
            self.bad.append(request.content)
            return json_response(400, {"error": {"message": "not JSON", "type": "invalid_request_error"}})
        n = body.get("n") if isinstance(body.get("n"), int) and 1 <= body.get("n") <= 10 else 1
        return json_response(200, {"created": 1713833628, "data": [{"b64_json": TINY_PNG_B64}] * n})


@attrs.frozen
class Answer:
    status: int
    headers: dict[bytes, bytes]
    body: bytes


class Client:
    """Sends raw ASGI requests to one gateway on one event loop (no HTTP client in between)."""

    def __init__(self) -> None:
        self.upstream = Upstream()
        config = config_dict()
        config["general_settings"]["max_request_size_mb"] = LIMIT_MB
        engine = make_engine(pixmux_openai.provider, handler=self.upstream)
        self.app: Gateway = create_app(parse_config(config, path="robust.yaml", environ={}), engine=engine)
        self.loop = asyncio.new_event_loop()

    def close(self) -> None:
        self.loop.run_until_complete(self.app.engine.aclose())
        self.loop.close()

    def send(
        self, body: bytes, headers: list[tuple[bytes, bytes]], *, pieces: int = 1, method: str = "POST", path: str = GEN
    ) -> Answer:
        """One request; ``body`` arrives in ``pieces`` ASGI messages."""
        size = max(1, -(-len(body) // max(pieces, 1)))
        chunks = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
        messages: Iterator[dict[str, Any]] = iter(
            [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
        )
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return next(messages, {"type": "http.disconnect"})

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode("utf-8", "surrogatepass"),
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("gateway.test", 80),
        }
        self.loop.run_until_complete(self.app(scope, receive, send))
        assert sent, "the gateway sent no response at all"
        start = sent[0]
        assert start["type"] == "http.response.start"
        return Answer(
            status=start["status"],
            headers=dict(start["headers"]),
            body=b"".join(m.get("body", b"") for m in sent[1:]),
        )


@pytest.fixture(scope="module")
def gateway_client() -> Iterator[Client]:
    client = Client()
    yield client
    client.close()


IMAGES = schema_validator("ImagesResponse")
ERRORS = schema_validator("ErrorResponse")


def check(answer: Answer, client: Client) -> dict[str, Any]:
    """OpenAI-shaped JSON, never a 5xx, never a traceback or a key; returns the parsed body."""
    assert 200 <= answer.status <= 499, f"HTTP {answer.status}: {answer.body[:300]!r}"
    assert answer.headers.get(b"content-type") == b"application/json"
    assert b"Traceback" not in answer.body
    assert b'File "' not in answer.body
    assert UPSTREAM_KEY.encode() not in answer.body
    assert MASTER_KEY.encode() not in answer.body
    assert int(answer.headers[b"content-length"]) == len(answer.body)
    found = json.loads(answer.body, parse_constant=lambda name: pytest.fail(f"{name} in the JSON"))
    validator = IMAGES if answer.status == 200 else ERRORS
    problems = sorted(validator.iter_errors(found), key=str)
    assert not problems, f"HTTP {answer.status} body is not OpenAI's shape: {problems[0].message}: {found}"
    assert client.upstream.bad == [], "the gateway sent the upstream a body that is not JSON"
    return dict(found)


def auth_ok() -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer {MASTER_KEY}".encode()), (b"content-type", b"application/json")]


# --------------------------------------------------------------------------- strategies

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**18, max_value=10**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=10,
)
weird_text = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "\ud800",
        "a\udfffb",
        "\u202egpt-image-1",
        "gpt-image-1 ",
        "openai/gpt-image-1",
        "../../etc/passwd",
        "a/b/c",
        "x" * 300,
        "é" * 50,
        "🦦",
        "${jndi:ldap://x}",
        "<script>",
    ]
)
garbage = json_values | weird_text | st.sampled_from([10**30, -(10**30), 1.5, -1, 0, [], {}, [None], {"": {}}])

FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "prompt": st.text(min_size=1, max_size=40) | weird_text,
    "model": st.sampled_from(MODELS) | weird_text | st.text(max_size=20),
    "n": st.integers(min_value=-3, max_value=12) | st.sampled_from([10**30, 2**63, True, 2.0]),
    "quality": st.sampled_from(["high", "low", "medium", "auto", "hd", "standard"]),
    "response_format": st.sampled_from(["url", "b64_json", "png"]),
    "size": st.sampled_from(["1024x1024", "1536x1024", "256x256", "auto", "1x1", "99999x99999", "big", "1024X1024"]),
    "style": st.sampled_from(["vivid", "natural"]),
    "user": st.text(max_size=20),
    "background": st.sampled_from(["transparent", "opaque", "auto"]),
    "moderation": st.sampled_from(["low", "auto"]),
    "output_format": st.sampled_from(["png", "jpeg", "webp", "gif"]),
    "output_compression": st.integers(min_value=-10, max_value=200),
    "stream": st.booleans(),
    "partial_images": st.integers(min_value=-1, max_value=4),
}
#: Keys a client must not set (the config does) and other odd names.
ODD_KEYS = st.sampled_from(
    [
        "api_key",
        "api_base",
        "base_url",
        "timeout",
        "mock_response",
        "drop_params",
        "metadata",
        "num_retries",
        "custom_llm_provider",
        "seed",
        "negative_prompt",
        "__class__",
        "\ud800",
        "",
        "prompt ",
        "N",
    ]
) | st.text(max_size=12)


@st.composite
def create_image_requests(draw: st.DrawFn) -> dict[str, Any]:
    """OpenAI CreateImageRequest-like objects: each field absent, plausible, or of a wrong type."""
    body: dict[str, Any] = {}
    for field in FIELDS:
        how = draw(st.sampled_from(["absent", "absent", "plausible", "plausible", "garbage", "null"]))
        if field in ("prompt", "model") and how == "absent" and draw(st.booleans()):
            how = "plausible"
        if how == "plausible":
            body[field] = draw(FIELD_VALUES[field])
        elif how == "garbage":
            body[field] = draw(garbage)
        elif how == "null":
            body[field] = None
    body.update(draw(st.dictionaries(ODD_KEYS, garbage, max_size=3)))
    return body


def encode(value: Any) -> bytes:
    return json.dumps(value).encode("utf-8", "surrogatepass")


raw_bodies = st.sampled_from(
    [
        b"",
        b"{",
        b"null",
        b"[]",
        b'"prompt"',
        b"\xff\xfe{}",
        b"\xef\xbb\xbf" + encode({"prompt": "bom", "model": "sd"}),
        encode({"prompt": "utf16", "model": "sd"}).decode().encode("utf-16"),
        b'{"prompt": "x", "model": "sd", "n": NaN}',
        b'{"prompt": "x", "model": "sd", "n": Infinity}',
        b'{"prompt": "x", "model": "sd", "n": 1' + b"0" * 5000 + b"}",
        b'{"prompt": "x", "model": "sd", "n": 1e400}',
        b'{"prompt": "x", "prompt": "y", "model": "sd"}',
        b'{"prompt": "\\ud800", "model": "sd"}',
        b'{"prompt": "x\xff", "model": "sd"}',
        b"[" * 30_000 + b"]" * 30_000,
        b'{"prompt": "x", "model": "sd", "a":' + b'{"a":' * 10_000 + b"1" + b"}" * 10_001,
        b"prompt=otter&model=sd",
        b"--x\r\nContent-Disposition: form-data; name=prompt\r\n\r\notter\r\n--x--",
    ]
) | st.binary(max_size=60)

content_types = st.sampled_from(
    [
        b"application/json",
        b"application/json; charset=utf-8",
        b"text/plain",
        b"application/x-www-form-urlencoded",
        b"multipart/form-data; boundary=x",
        b"",
        b"\xff\xfe",
    ]
)
header_bytes = st.binary(max_size=40).map(lambda raw: bytes(b if 0x20 <= b != 0x7F else 0x41 for b in raw))
auth_headers = st.sampled_from(
    [
        [],
        [(b"authorization", f"Bearer {MASTER_KEY}".encode())],
        [(b"authorization", f"bearer   {MASTER_KEY}  ".encode())],
        [(b"api-key", MASTER_KEY.encode())],
        [(b"authorization", b"Bearer")],
        [(b"authorization", b"Bearer ")],
        [(b"authorization", b"Basic dXNlcjpwYXNz")],
        [(b"authorization", f"Bearer {MASTER_KEY}x".encode())],
        [(b"authorization", f"Bearer {MASTER_KEY[:-1]}".encode())],
        [(b"authorization", b"Bearer \xff\xfe\x00")],
        [(b"api-key", b"")],
        [(b"api-key", b"\xc3\xa9\xff")],
        [(b"authorization", b"Bearer wrong"), (b"authorization", f"Bearer {MASTER_KEY}".encode())],
        [(b"authorization", f"Bearer {MASTER_KEY}".encode()), (b"api-key", b"wrong")],
    ]
) | st.tuples(st.sampled_from([b"authorization", b"api-key"]), header_bytes).map(lambda pair: [pair])
content_lengths = st.sampled_from([None, b"abc", b"-1", b"99999999999999999999", b"1e3", b"0", b" 12", b"\xff"])


# --------------------------------------------------------------------------- properties


@FUZZ
@given(body=json_values)
def test_robustness_random_json_bodies(gateway_client: Client, body: Any) -> None:
    """Any JSON value as the body gives OpenAI's shape, never a 5xx."""
    answer = gateway_client.send(encode(body), auth_ok())

    found = check(answer, gateway_client)
    assert answer.status == 200 or found["error"]["message"]


@settings(FUZZ, max_examples=examples(400))
@given(body=create_image_requests())
def test_robustness_create_image_request_fields(gateway_client: Client, body: dict[str, Any]) -> None:
    """Each CreateImageRequest field absent, plausible or mistyped, plus unknown keys: OpenAI's shape, never a 5xx."""
    answer = gateway_client.send(encode(body), auth_ok())

    found = check(answer, gateway_client)
    if answer.status == 400 and found["error"]["param"] in FIELDS:
        assert found["error"]["param"] in body or found["error"]["param"] in ("model", "prompt")


@FUZZ
@given(body=raw_bodies, content_type=content_types, pieces=st.integers(min_value=1, max_value=4))
def test_robustness_raw_bytes(gateway_client: Client, body: bytes, content_type: bytes, pieces: int) -> None:
    """Invalid UTF-8, truncated or deeply nested JSON, forms, under any content type and in pieces: a JSON error."""
    answer = gateway_client.send(body, [auth_ok()[0], (b"content-type", content_type)], pieces=pieces)

    found = check(answer, gateway_client)
    if content_type.split(b";")[0].strip().lower() != b"application/json":
        assert answer.status == 415, found  # a JSON route takes JSON only (a cross-site form cannot drive it)
        assert found["error"]["code"] == "unsupported_media_type"
    else:
        assert answer.status in (200, 400, 404), found


@FUZZ
@given(
    extra=st.sampled_from([-1, 0, 1, LIMIT, 3 * LIMIT]),
    declared=st.sampled_from(["none", "true", "small", "huge"]),
    pieces=st.integers(min_value=1, max_value=8),
)
def test_robustness_body_size_limit(gateway_client: Client, extra: int, declared: str, pieces: int) -> None:
    """Bodies around the limit, in pieces, with a missing, true or lying Content-Length: 413 only past the limit."""
    head = b'{"model": "sd", "prompt": "'
    tail = b'"}'
    body = head + b"a" * max(0, LIMIT - len(head) - len(tail) + extra) + tail
    headers = auth_ok()
    lengths = {"true": str(len(body)).encode(), "small": b"10", "huge": str(10 * LIMIT).encode()}
    if declared in lengths:
        headers.append((b"content-length", lengths[declared]))

    answer = gateway_client.send(body, headers, pieces=pieces)

    check(answer, gateway_client)
    if len(body) > LIMIT or declared == "huge":
        assert answer.status == 413
    else:
        assert answer.status != 413


@settings(FUZZ, max_examples=examples(200))
@given(auth=auth_headers, content_length=content_lengths, body=create_image_requests() | json_values)
def test_robustness_auth_and_headers(
    gateway_client: Client, auth: list[tuple[bytes, bytes]], content_length: bytes | None, body: Any
) -> None:
    """Missing, wrong and odd keys are a 401 before the body matters; odd Content-Length values never a 5xx."""
    headers = [(b"content-type", b"application/json"), *auth]
    if content_length is not None:
        headers.append((b"content-length", content_length))

    answer = gateway_client.send(encode(body), headers)

    found = check(answer, gateway_client)
    keys = [value.partition(b" ")[2].strip() if name == b"authorization" else value.strip() for name, value in auth]
    good = (
        any(
            (name == b"authorization" and value.partition(b" ")[0].lower() == b"bearer") or name == b"api-key"
            for name, value in auth
        )
        and MASTER_KEY.encode() in keys
    )
    if not good:
        assert answer.status == 401, found
        assert found["error"]["code"] == "invalid_api_key"


@FUZZ
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "BREW"]),
    path=st.sampled_from(
        [
            GEN,
            "/images/generations",
            "/v1/models",
            "/openapi.json",
            "/health/readiness",
            "/health/liveliness",
            "/openai/deployments/sd/images/generations",
            "/openai/deployments//images/generations",
            "/openai/deployments/a/b/images/generations",
            "/openai/deployments/\ud800/images/generations",
            "/v1/images/edits",
            "/",
            "//",
            "/v1/images/generations/",
        ]
    )
    | st.text(max_size=30).map(lambda text: "/" + text),
    body=create_image_requests(),
)
def test_robustness_methods_and_paths(gateway_client: Client, method: str, path: str, body: dict[str, Any]) -> None:
    """Every method on every path, known or not, gets an OpenAI-shaped answer (404/405 for unknown ones)."""
    answer = gateway_client.send(encode(body), auth_ok(), method=method, path=path)

    if answer.status == 200 and path not in (GEN, "/images/generations") and "/deployments/" not in path:
        assert json.loads(answer.body)  # the models list, health and openapi answers are JSON but not images
        return
    check(answer, gateway_client)
