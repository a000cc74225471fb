"""
Planted secrets: every credential a call uses, config-supplied or resolved at run time, stays inside.

Every installed provider is called, sync and async and through the gateway, with distinctive
planted credentials, against an upstream that echoes everything it received (headers, URL,
body) in its error body, its error code and its response headers. Runtime credentials are
real ones for their libraries: a Vertex access token minted by google-auth from an ADC
service-account file (its JWT assertion is signed with a fresh RSA key) or an authorized-user
file, both against a token endpoint on 127.0.0.1; an AWS session token read by boto3 from a
profile; an Entra ID token from a token provider. Logging is at DEBUG for every logger.

Every planted value, and every value the upstream saw in a credential header (SigV4
signatures included), is then looked for in: the exception's ``str``/``repr`` and its whole
chain (``traceback.format_exception``), the attached response (body, headers, ``repr``) and its
request (URL, headers, body), every log line, and the gateway's response bodies and headers.
Zero hits.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import traceback
import urllib.parse
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
from pixmux import PixmuxError
from pixmux._engine import Engine
from pixmux._plugins import PROVIDER_GROUP
from pixmux.proxy import Gateway, parse_config
from pixmux.testing import local_server, reply


def _planted(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(12)}"


OPENAI_KEY = _planted("sk-planted-openai-")
AZURE_KEY = _planted("azkeyplanted")
AZURE_FIXED_TOKEN = _planted("eyJplantedfixed.")
AZURE_RUNTIME_TOKEN = _planted("eyJplantedruntime.")
GEMINI_KEY = _planted("AIzaPlanted")
VERTEX_EXPRESS_KEY = _planted("AIzaVertexPlanted")
NSCALE_KEY = _planted("nscale-planted-")
RECRAFT_KEY = _planted("recraft-planted-")
XINFERENCE_KEY = _planted("xinf-planted-")
BEDROCK_BEARER = _planted("ABSKplanted")
AWS_KEY_ID = "ASIA" + secrets.token_hex(8).upper()
AWS_SECRET = _planted("awsSecretPlanted/")
AWS_SESSION_TOKEN = _planted("IQoJplantedsession+")
PROFILE_KEY_ID = "ASIA" + secrets.token_hex(8).upper()
PROFILE_SECRET = _planted("profileSecretPlanted/")
PROFILE_SESSION_TOKEN = _planted("IQoJprofilesession+")
VERTEX_ACCESS_TOKEN = _planted("ya29.planted-")
CLIENT_SECRET = _planted("GOCSPX-planted-")
REFRESH_TOKEN = _planted("1//planted-refresh-")

CONFIG_SECRETS = (
    OPENAI_KEY,
    AZURE_KEY,
    AZURE_FIXED_TOKEN,
    GEMINI_KEY,
    VERTEX_EXPRESS_KEY,
    NSCALE_KEY,
    RECRAFT_KEY,
    XINFERENCE_KEY,
    BEDROCK_BEARER,
    AWS_KEY_ID,
    AWS_SECRET,
    AWS_SESSION_TOKEN,
    CLIENT_SECRET,
    REFRESH_TOKEN,
)
RUNTIME_SECRETS = (AZURE_RUNTIME_TOKEN, PROFILE_KEY_ID, PROFILE_SECRET, PROFILE_SESSION_TOKEN, VERTEX_ACCESS_TOKEN)

UPSTREAM = "https://upstream.invalid"


# --------------------------------------------------------------------------- the echoing upstream


@attrs.define
class Echo:
    """The upstream: answers ``status`` with everything it received, in the body, the code and the headers."""

    status: int = 401
    seen: set[str] = attrs.field(factory=set)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = request.read().decode("utf-8", "replace")
        everything = {
            "url": str(request.url),
            "headers": dict(request.headers),
            "body": body,
        }
        for name, value in request.headers.items():
            lowered = name.lower()
            if lowered == "authorization" or any(word in lowered for word in ("key", "token", "secret")):
                self.seen.add(value)
                scheme, _, rest = value.partition(" ")
                if scheme.lower() == "bearer":
                    self.seen.add(rest)
                self.seen.update(  # a SigV4 signature: the secret part of a signed header
                    part.split("=", 1)[1] for part in value.replace(",", " ").split() if part.startswith("Signature=")
                )
        text = json.dumps(everything)
        echoed = [(f"x-echo-{name}", value) for name, value in request.headers.items() if value.isascii()]
        if self.status == 200:  # a success that is not an image: the parse-failure path
            return httpx.Response(200, json={"echo": everything, "message": text}, headers=echoed)
        error = {"message": f"rejected: {text}", "code": request.headers.get("authorization", "none"), "param": body}
        return httpx.Response(self.status, json={"error": error, "message": text}, headers=echoed)


# --------------------------------------------------------------------------- the token endpoint


@attrs.define
class TokenEndpoint:
    """Google's OAuth token endpoint on 127.0.0.1: mints VERTEX_ACCESS_TOKEN, or refuses echoing what it got."""

    refuse: bool = False
    seen: set[str] = attrs.field(factory=set)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0)).decode()
                fields = dict(urllib.parse.parse_qsl(raw))
                endpoint.seen.update(value for key, value in fields.items() if key != "grant_type" and len(value) > 8)
                if endpoint.refuse:
                    status = 400
                    answer = {"error": "invalid_grant", "error_description": f"refused {json.dumps(fields)}"}
                else:
                    status = 200
                    answer = {"access_token": VERTEX_ACCESS_TOKEN, "expires_in": 3600, "token_type": "Bearer"}
                reply(self, status, answer)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        return Handler


@pytest.fixture(scope="module")
def rsa_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture
def token_endpoint() -> Iterator[tuple[TokenEndpoint, str]]:
    endpoint = TokenEndpoint()
    with local_server(endpoint.handler()) as url:
        yield endpoint, f"{url}/token"


# --------------------------------------------------------------------------- scenarios


@attrs.frozen
class Scenario:
    """One provider with one way of holding credentials."""

    id: str
    provider: str
    model: str
    kwargs: Callable[[dict[str, Any]], dict[str, Any]]
    in_gateway: bool = True


def _aws_files(tmp: Path) -> dict[str, str]:
    credentials = tmp / "aws-credentials"
    credentials.write_text(
        "[planted]\n"
        f"aws_access_key_id = {PROFILE_KEY_ID}\n"
        f"aws_secret_access_key = {PROFILE_SECRET}\n"
        f"aws_session_token = {PROFILE_SESSION_TOKEN}\n"
    )
    config = tmp / "aws-config"
    config.write_text("[profile planted]\nregion = us-east-1\n")
    return {"AWS_SHARED_CREDENTIALS_FILE": str(credentials), "AWS_CONFIG_FILE": str(config)}


def _user_credentials(token_uri: str) -> Any:
    """User credentials (a refresh token and a client secret) whose token endpoint is ``token_uri``."""
    from google.oauth2.credentials import Credentials

    return Credentials(  # type: ignore[no-untyped-call]
        token=None,
        refresh_token=REFRESH_TOKEN,
        client_id="planted-client.apps.googleusercontent.com",
        client_secret=CLIENT_SECRET,
        token_uri=token_uri,
        scopes=["https://www.googleapis.com/auth/cloud-platform"],
    )


SCENARIOS = (
    Scenario("openai-key", "openai", "gpt-image-1", lambda ctx: {"api_key": OPENAI_KEY, "api_base": UPSTREAM}),
    Scenario(
        "azure-key",
        "azure",
        "gpt-image-1",
        lambda ctx: {"api_key": AZURE_KEY, "api_base": UPSTREAM, "api_version": "2025-04-01-preview"},
    ),
    Scenario(
        "azure-fixed-token",
        "azure",
        "gpt-image-1",
        lambda ctx: {"azure_ad_token": AZURE_FIXED_TOKEN, "api_base": UPSTREAM, "api_version": "2025-04-01-preview"},
    ),
    Scenario(
        "azure-runtime-token",
        "azure",
        "gpt-image-1",
        lambda ctx: {
            "azure_ad_token_provider": lambda: AZURE_RUNTIME_TOKEN,
            "api_base": UPSTREAM,
            "api_version": "2025-04-01-preview",
        },
        in_gateway=False,  # a callable cannot be written in YAML
    ),
    Scenario(
        "bedrock-keys",
        "bedrock",
        "amazon.nova-canvas-v1:0",
        lambda ctx: {
            "aws_access_key_id": AWS_KEY_ID,
            "aws_secret_access_key": AWS_SECRET,
            "aws_session_token": AWS_SESSION_TOKEN,
            "aws_region_name": "us-east-1",
            "api_base": UPSTREAM,
        },
    ),
    Scenario(
        "bedrock-profile-session-token",
        "bedrock",
        "amazon.nova-canvas-v1:0",
        lambda ctx: {"aws_profile_name": "planted", "aws_region_name": "us-east-1", "api_base": UPSTREAM},
    ),
    Scenario(
        "bedrock-api-key",
        "bedrock",
        "amazon.nova-canvas-v1:0",
        lambda ctx: {"api_key": BEDROCK_BEARER, "aws_region_name": "us-east-1", "api_base": UPSTREAM},
    ),
    Scenario(
        "gemini-key", "gemini", "gemini-2.5-flash-image", lambda ctx: {"api_key": GEMINI_KEY, "api_base": UPSTREAM}
    ),
    Scenario(
        "vertex-adc-service-account",
        "vertex_ai",
        "gemini-2.5-flash-image",
        lambda ctx: {"vertex_project": "planted-project", "vertex_location": "us-central1", "api_base": UPSTREAM},
    ),
    Scenario(
        "vertex-authorized-user",
        "vertex_ai",
        "gemini-2.5-flash-image",
        lambda ctx: {
            "vertex_credentials": _user_credentials(ctx["token_uri"]),
            "vertex_project": "planted-project",
            "vertex_location": "us-central1",
            "api_base": UPSTREAM,
        },
        in_gateway=False,  # google-auth reads an authorized-user file's token_uri as Google's own: an object here
    ),
    Scenario(
        "vertex-express-key",
        "vertex_ai",
        "gemini-2.5-flash-image",
        lambda ctx: {"api_key": VERTEX_EXPRESS_KEY, "vertex_project": "planted-project", "api_base": UPSTREAM},
    ),
    Scenario(
        "nscale-key",
        "nscale",
        "black-forest-labs/FLUX.1-schnell",
        lambda ctx: {"api_key": NSCALE_KEY, "api_base": UPSTREAM},
    ),
    Scenario("recraft-key", "recraft", "recraftv3", lambda ctx: {"api_key": RECRAFT_KEY, "api_base": UPSTREAM}),
    Scenario("xinference-key", "xinference", "sd-turbo", lambda ctx: {"api_key": XINFERENCE_KEY, "api_base": UPSTREAM}),
)


#: Keys planted for the providers without a scenario of their own (see ``_key_scenarios``).
AUTO_KEYS: list[str] = []


def _key_scenarios() -> tuple[Scenario, ...]:
    """
    An API-key scenario for every installed provider without an explicit one: its first model
    that makes images and prepares with a key and an ``api_base`` (a provider installed
    tomorrow is tested unchanged; one that needs more fails the coverage test below).
    """
    engine = Engine(discover=True, environ={})
    explicit = {scenario.provider for scenario in SCENARIOS}
    found = []
    for name in sorted({entry.name for entry in entry_points(group=PROVIDER_GROUP)} - explicit):
        key = _planted(f"{name}-planted-key-")
        for model, info in sorted(engine.registry.get(name).catalogue.models.items()):
            if info.retired or "generate" not in info.operations:
                continue
            try:
                engine.prepare(prompt="a lighthouse", model=f"{name}/{model}", api_key=key, api_base=UPSTREAM)
            except PixmuxError:
                continue
            AUTO_KEYS.append(key)
            found.append(
                Scenario(f"{name}-key", name, model, lambda ctx, key=key: {"api_key": key, "api_base": UPSTREAM})
            )
            break
    return tuple(found)


SCENARIOS = SCENARIOS + _key_scenarios()


def test_scenarios_cover_every_installed_provider() -> None:
    """A provider installed tomorrow fails here until it has a planted-secret scenario."""
    installed = {entry.name for entry in entry_points(group=PROVIDER_GROUP)}

    assert installed <= {scenario.provider for scenario in SCENARIOS}


# --------------------------------------------------------------------------- capture and search


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def debug_logs() -> Iterator[_Lines]:
    """Every log record of every logger, at DEBUG, formatted with its traceback."""
    root = logging.getLogger()
    handler = _Lines()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def _exception_texts(exc: BaseException) -> list[str]:
    texts = ["".join(traceback.format_exception(exc))]
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts += [str(current), repr(current), repr(current.args)]
        if isinstance(current, PixmuxError):
            texts += [repr(current.code), repr(current.param), repr(dict(current.details))]
            response = current.response
            if response is not None:
                texts += [response.text, repr(response.headers), repr(list(response.headers.raw))]
                request = response.request
                texts += [
                    str(request.url),
                    repr(request.headers),
                    repr(list(request.headers.raw)),
                    request.content.decode("utf-8", "replace"),
                ]
        if isinstance(current, httpx.RequestError):
            try:
                request = current.request
            except RuntimeError:
                pass
            else:
                texts += [str(request.url), repr(list(request.headers.raw))]
        current = current.__cause__ or current.__context__
    return texts


def _hits(planted: set[str], texts: list[str]) -> list[str]:
    return sorted({secret for secret in planted if len(secret) >= 6 for text in texts if secret in text})


@pytest.fixture
def world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rsa_pem: str, token_endpoint: tuple[TokenEndpoint, str]
) -> dict[str, Any]:
    """The environment: AWS profile files, an ADC service-account file whose token endpoint is local."""
    endpoint, token_uri = token_endpoint
    for name, value in _aws_files(tmp_path).items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    adc = tmp_path / "adc.json"
    adc.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "planted-project",
                "private_key_id": secrets.token_hex(20),
                "private_key": rsa_pem,
                "client_email": "planted@planted-project.iam.gserviceaccount.com",
                "client_id": "1234567890",
                "token_uri": token_uri,
            }
        )
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
    monkeypatch.delenv("GCE_METADATA_HOST", raising=False)
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    return {"token_uri": token_uri, "endpoint": endpoint, "rsa_pem": rsa_pem}


def _engine(echo: Echo) -> Engine:
    return Engine(
        discover=True, transport=httpx.MockTransport(echo), async_transport=httpx.MockTransport(echo), environ={}
    )


def _planted_now(echo: Echo, world: dict[str, Any]) -> set[str]:
    private_key_lines = {line for line in world["rsa_pem"].splitlines() if len(line) > 40}
    return {*CONFIG_SECRETS, *AUTO_KEYS, *RUNTIME_SECRETS, *echo.seen, *world["endpoint"].seen, *private_key_lines}


# --------------------------------------------------------------------------- the library, both paths


@pytest.mark.parametrize("status", [200, 400, 401, 500])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.id)
def test_planted_secrets_never_leave_the_library(
    scenario: Scenario, status: int, world: dict[str, Any], debug_logs: _Lines
) -> None:
    """Sync and async, an echoing upstream at any status: no planted or sent credential in any text."""
    echo = Echo(status=status)
    engine = _engine(echo)
    model = f"{scenario.provider}/{scenario.model}"
    kwargs = {**scenario.kwargs(world), "num_retries": 0}
    caught: list[BaseException] = []

    with pytest.raises(PixmuxError) as sync_error:
        engine.image_generation(prompt="a lighthouse", model=model, **kwargs)
    caught.append(sync_error.value)
    engine.forget_auth(engine.prepare(prompt="x", model=model, **scenario.kwargs(world)).deployment)

    async def run_async() -> None:
        with pytest.raises(PixmuxError) as async_error:
            await engine.aimage_generation(prompt="a lighthouse", model=model, **kwargs)
        caught.append(async_error.value)
        await engine.aclose()

    asyncio.run(run_async())

    assert echo.seen or scenario.provider in ("xinference",) or status == 0, "the upstream saw no credential"
    texts = [text for exc in caught for text in _exception_texts(exc)] + debug_logs.lines
    assert _hits(_planted_now(echo, world), texts) == []
    assert any("rejected" in text or "echo" in text or "HTTP" in text for text in texts)  # the echo did arrive


def test_planted_secrets_a_refusing_token_endpoint_echoes_the_assertion(
    world: dict[str, Any], debug_logs: _Lines
) -> None:
    """Google's token endpoint refusing the JWT assertion, echoing it: the error holds neither it nor the key."""
    world["endpoint"].refuse = True
    echo = Echo(status=200)
    engine = _engine(echo)

    with pytest.raises(PixmuxError) as caught:
        engine.image_generation(
            prompt="a lighthouse",
            model="vertex_ai/gemini-2.5-flash-image",
            vertex_project="planted-project",
            vertex_location="us-central1",
            num_retries=0,
        )

    assert world["endpoint"].seen, "the token endpoint saw no assertion"
    assert "refused" in str(caught.value)  # Google's words arrive; what it echoed does not
    texts = _exception_texts(caught.value) + debug_logs.lines
    assert _hits(_planted_now(echo, world), texts) == []


# --------------------------------------------------------------------------- the gateway


async def test_planted_secrets_never_leave_the_gateway(world: dict[str, Any], debug_logs: _Lines) -> None:
    """Through the gateway, every provider, an echoing upstream: no credential in a response body or header."""
    scenarios = [scenario for scenario in SCENARIOS if scenario.in_gateway]
    model_list = [
        {
            "model_name": scenario.id,
            "litellm_params": {"model": f"{scenario.provider}/{scenario.model}", **scenario.kwargs(world)},
        }
        for scenario in scenarios
    ]
    config = parse_config(
        {
            "model_list": model_list,
            "general_settings": {"master_key": "sk-planted-master-" + secrets.token_hex(16)},
            "router_settings": {"num_retries": 0},
        },
        environ={},
    )
    answers: list[str] = []
    for status in (200, 400, 401, 500):
        echo = Echo(status=status)
        gateway = Gateway(config, engine=_engine(echo))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw") as client:
            for scenario in scenarios:
                for body in (
                    {"model": scenario.id, "prompt": "a lighthouse"},
                    {"model": scenario.id, "prompt": "a lighthouse", "n": 2, "api_key": OPENAI_KEY},
                    {"model": OPENAI_KEY, "prompt": "a pasted key"},
                ):
                    response = await client.post(
                        "/v1/images/generations",
                        json=body,
                        headers={"authorization": f"Bearer {config.master_key}"},
                    )
                    assert response.status_code >= 400
                    answers += [response.text, repr(list(response.headers.raw))]
        await gateway.engine.aclose()
        planted = _planted_now(echo, world) | {config.master_key or ""}
        assert _hits(planted, answers + debug_logs.lines) == []
    assert any("rejected" in answer for answer in answers)
