"""The vertex_ai provider: credentials and token refresh, URLs, settings, bodies and round trips."""

from __future__ import annotations

import contextlib
import datetime
import json
import subprocess
import sys
import types
import urllib.parse
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pixmux_vertex_ai.provider as vertex
import pytest
from google.auth.credentials import Credentials
from pixmux import PixmuxWarning
from pixmux.exceptions import (
    APIConnectionError,
    AuthenticationError,
    ConfigurationError,
    PermissionDeniedError,
)
from pixmux.testing import check_plugin, json_response, load_json, make_engine
from pixmux.types import Auth, Deployment, ImageRequest
from pixmux_vertex_ai.credentials import HttpxRequest, VertexToken, fetch_token, load_credentials, sdk_defaults


class FakeCredentials(Credentials):  # type: ignore[misc]
    """google-auth credentials whose refresh mints a numbered token living ``lifetime`` seconds; no network."""

    def __init__(self, lifetime: float, *, quota_project: str | None = None, fail: Exception | None = None) -> None:
        super().__init__()
        self.lifetime = lifetime
        self.refreshes = 0
        self.fail = fail
        self._quota_project_id = quota_project

    def refresh(self, request: Any) -> None:
        assert isinstance(request, HttpxRequest)
        if self.fail is not None:
            raise self.fail
        self.refreshes += 1
        self.token = f"ya29.fake-token-{self.refreshes}"
        now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        self.expiry = now + datetime.timedelta(seconds=self.lifetime)


def _engine(*names: tuple[int, str]):
    queue = list(names)

    def handler(request: httpx.Request) -> httpx.Response:
        status, name = queue.pop(0) if len(queue) > 1 else queue[0]
        return json_response(status, load_json(name))

    return make_engine(vertex, handler=handler)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PixmuxWarning)
        yield


def _token(**fields: Any) -> Auth:
    return Auth(value=VertexToken(token="ya29.abc", **fields), expires_at=None)


def _build(model: str, *, auth: Auth | None = None, **deployment: Any) -> list[httpx.Request]:
    request = ImageRequest(prompt="fox", model=model)
    settings = deployment.pop("settings", {})
    dep = Deployment(provider="vertex_ai", model=model, settings=settings, **deployment)
    return vertex.build_request(request=request, deployment=dep, model=vertex.CATALOGUE.lookup(model), auth=auth)


# ---------------------------------------------------------------- contract and URLs


def test_plugin_meets_the_contract():
    """check_plugin finds no problem with the vertex_ai provider."""
    assert check_plugin(vertex, name="vertex_ai") == []


@pytest.mark.parametrize(
    ("model", "settings", "api_base", "url"),
    [
        (
            "imagen-4.0-generate-001",
            {"vertex_ai_project": "p1", "vertex_ai_location": "europe-west4"},
            None,
            "https://europe-west4-aiplatform.googleapis.com/v1/projects/p1/locations/europe-west4/"
            "publishers/google/models/imagen-4.0-generate-001:predict",
        ),
        (
            "imagegeneration@006",
            {"vertex_ai_project": "p1"},
            None,
            "https://us-central1-aiplatform.googleapis.com/v1/projects/p1/locations/us-central1/"
            "publishers/google/models/imagegeneration@006:predict",
        ),
        (
            "gemini-3-pro-image",
            {"vertex_ai_project": "p1"},
            None,
            "https://aiplatform.googleapis.com/v1/projects/p1/locations/global/"
            "publishers/google/models/gemini-3-pro-image:generateContent",
        ),
        (
            "gemini-2.5-flash-image",
            {"vertex_project": "p2", "vertex_location": "eu", "vertex_ai_project": "from-env"},
            None,
            "https://aiplatform.eu.rep.googleapis.com/v1/projects/p2/locations/eu/"
            "publishers/google/models/gemini-2.5-flash-image:generateContent",
        ),
        (
            "imagen-3.0-generate-002",
            {"vertex_ai_project": "p1"},
            "https://psc.example.internal/",
            "https://psc.example.internal/v1/projects/p1/locations/us-central1/"
            "publishers/google/models/imagen-3.0-generate-002:predict",
        ),
        (
            "imagen-3.0-generate-002",
            {"vertex_ai_project": "p1", "vertex_ai_location": "asia-northeast1"},
            "http://127.0.0.1:8080/v1beta1",
            "http://127.0.0.1:8080/v1beta1/projects/p1/locations/asia-northeast1/"
            "publishers/google/models/imagen-3.0-generate-002:predict",
        ),
    ],
)
def test_build_request_urls(model, settings, api_base, url):
    """Each model goes to its method on the location's host; api_base replaces the host and keeps the token."""
    [built] = _build(model, auth=_token(), settings=settings, api_base=api_base)

    assert url == str(built.url)
    assert built.headers["Authorization"] == "Bearer ya29.abc"


def test_project_and_location_fall_back_to_sdk_then_credentials():
    """Without settings: vertexai.init() values, then the credentials' project; then the model's home location."""
    sdk = _token(project="cred-p", sdk_project="sdk-p", sdk_location="asia-east1")
    [from_sdk] = _build("imagen-4.0-generate-001", auth=sdk)
    [from_creds] = _build("gemini-3.1-flash-image", auth=_token(project="cred-p", quota_project="bill-p"))

    assert "/projects/sdk-p/locations/asia-east1/" in from_sdk.url.path
    assert "/projects/cred-p/locations/global/" in from_creds.url.path
    assert from_creds.headers["x-goog-user-project"] == "bill-p"


def test_missing_project_is_a_configuration_error():
    """No project anywhere: ConfigurationError naming vertex_ai_project and how to set it."""
    with pytest.raises(ConfigurationError, match="VERTEXAI_PROJECT") as caught:
        _build("imagen-4.0-generate-001", auth=_token())

    assert caught.value.param == "vertex_ai_project"


@pytest.mark.parametrize(
    "settings", [{"vertex_ai_project": "p/../x"}, {"vertex_ai_project": "p", "vertex_ai_location": "us central"}]
)
def test_bad_project_or_location_cannot_reshape_the_url(settings):
    """A project or location with URL characters is refused."""
    with pytest.raises(ConfigurationError):
        _build("imagen-4.0-generate-001", auth=_token(), settings=settings)


def test_express_mode_uses_the_key_header_and_no_project():
    """An api_key without vertex_credentials: express mode, key in x-goog-api-key, never in the URL."""
    assert vertex.resolve_auth(deployment=Deployment(provider="vertex_ai", model="m", api_key="AQ.express")) is None

    [built] = _build("gemini-2.5-flash-image", api_key="AQ.express")

    assert (
        str(built.url)
        == "https://aiplatform.googleapis.com/v1/publishers/google/models/gemini-2.5-flash-image:generateContent"
    )
    assert built.headers["x-goog-api-key"] == "AQ.express"
    assert "Authorization" not in built.headers


def test_no_credentials_at_all_is_an_authentication_error():
    """Neither a token nor a key: AuthenticationError before anything is sent."""
    with pytest.raises(AuthenticationError):
        _build("imagen-4.0-generate-001", settings={"vertex_ai_project": "p"})


# ---------------------------------------------------------------- credentials


def test_resolve_auth_refreshes_a_credentials_object():
    """A google-auth credentials object is refreshed; the token, expiry and quota project come back."""
    credentials = FakeCredentials(3600, quota_project="bill-p")
    deployment = Deployment(provider="vertex_ai", model="m", settings={"vertex_credentials": credentials})

    auth = vertex.resolve_auth(deployment=deployment)

    assert auth is not None
    assert auth.value.token == "ya29.fake-token-1"
    assert auth.value.quota_project == "bill-p"
    assert auth.expires_at is not None
    assert "ya29" not in repr(auth)


def test_fetch_token_runs_the_real_service_account_flow_over_httpx():
    """A service-account dict signs a JWT with google-auth and trades it at token_uri through our httpx transport."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "sa-project",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": "pixmux@sa-project.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    seen: list[dict[str, list[str]]] = []

    def token_endpoint(request: httpx.Request) -> httpx.Response:
        seen.append(urllib.parse.parse_qs(request.content.decode()))
        return httpx.Response(200, json={"access_token": "ya29.from-sa", "expires_in": 3599, "token_type": "Bearer"})

    credentials, project = load_credentials(json.dumps(info))
    with httpx.Client(transport=httpx.MockTransport(token_endpoint)) as client:
        token, expires_at = fetch_token(credentials, client=client)

    assert (token, project) == ("ya29.from-sa", "sa-project")
    assert expires_at is not None
    assert seen[0]["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]


def test_refused_credentials_are_an_authentication_error_without_secrets():
    """Google refusing the grant is an AuthenticationError; the private key never appears."""
    from google.auth.exceptions import RefreshError

    credentials = FakeCredentials(3600, fail=RefreshError("invalid_grant: Invalid JWT Signature."))

    with pytest.raises(AuthenticationError, match="invalid_grant"):
        fetch_token(credentials, client=httpx.Client())


def test_unreachable_token_endpoint_is_a_connection_error():
    """A token endpoint that cannot be reached is an APIConnectionError."""
    credentials, _ = load_credentials(
        {"type": "authorized_user", "client_id": "c", "client_secret": "s3cr3t-value", "refresh_token": "r-token-value"}
    )

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    with pytest.raises(APIConnectionError):
        fetch_token(credentials, client=httpx.Client(transport=httpx.MockTransport(down)))


@pytest.mark.parametrize(
    ("source", "cls", "fragment"),
    [
        ('{"type": "service_account", "private_key": "-----BEGIN', AuthenticationError, "does not parse"),
        (
            {"type": "service_account", "private_key": "not-a-real-private-key-material"},
            AuthenticationError,
            "vertex_credentials",
        ),
        ("/nonexistent/sa.json", AuthenticationError, "was not found"),
        (42, ConfigurationError, "not int"),
    ],
)
def test_bad_credentials_are_clear_and_never_echo_the_secret(source, cls, fragment):
    """Unreadable vertex_credentials give a typed error naming the problem, never the key material."""
    with pytest.raises(cls) as caught:
        load_credentials(source)

    assert fragment in str(caught.value)
    assert "not-a-real-private-key-material" not in str(caught.value)
    assert "BEGIN" not in str(caught.value)


def test_sdk_defaults_read_vertexai_init_only_when_the_sdk_is_loaded(monkeypatch):
    """vertexai.init() values are used when the SDK is imported; the SDK is never imported by us."""
    monkeypatch.delitem(sys.modules, "google.cloud.aiplatform.initializer", raising=False)
    assert sdk_defaults() == (None, None)

    fake = types.ModuleType("google.cloud.aiplatform.initializer")
    fake.global_config = types.SimpleNamespace(_project="init-p", _location="europe-west1")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "google.cloud.aiplatform.initializer", fake)

    assert sdk_defaults() == ("init-p", "europe-west1")


# ---------------------------------------------------------------- round trips


def test_round_trip_imagen_settings_never_reach_the_body():
    """Project, location and credentials configure the URL and token; the body holds only Imagen fields."""
    engine = _engine((200, "imagen_two.json"))
    credentials = FakeCredentials(3600)

    with _quiet():
        resp = engine.image_generation(
            prompt="fox",
            model="vertex_ai/imagen-4.0-generate-001",
            n=2,
            size="1024x1024",
            vertex_ai_project="p1",
            vertex_ai_location="us-east4",
            vertex_credentials=credentials,
            negative_prompt="text",
        )

    sent = engine.requests[0]
    body = json.loads(sent.content)
    assert {"instances", "parameters"} == set(body)
    assert body["parameters"] == {
        "sampleCount": 2,
        "aspectRatio": "1:1",
        "sampleImageSize": "1K",
        "negativePrompt": "text",
        "includeRaiReason": True,
    }
    assert "vertex" not in sent.content.decode()
    assert "p1" not in sent.content.decode()
    assert "/projects/p1/locations/us-east4/" in sent.url.path
    assert len(resp.data) == 2
    assert resp.cost == pytest.approx(0.08)


def test_round_trip_gemini_on_vertex_with_output_options():
    """A Gemini image model on Vertex goes to :generateContent with Vertex-only imageOutputOptions."""
    engine = _engine((200, "gemini_image.json"))

    resp = engine.image_generation(
        prompt="banana",
        model="vertex_ai/gemini-2.5-flash-image",
        vertex_ai_project="p1",
        vertex_credentials=FakeCredentials(3600),
        imageOutputOptions={"mimeType": "image/jpeg", "compressionQuality": 90},
        person_generation="allow_adult",
    )

    body = json.loads(engine.requests[0].content)
    assert engine.requests[0].url.path.endswith("gemini-2.5-flash-image:generateContent")
    assert body["generationConfig"]["imageConfig"] == {
        "personGeneration": "ALLOW_ADULT",
        "imageOutputOptions": {"mimeType": "image/jpeg", "compressionQuality": 90},
    }
    assert resp.metadata["text"] == ["Here is your banana in a tuxedo."]


def test_round_trip_mixed_imagen_result():
    """Imagen returning one image and one filtered entry gives one image and one Refusal."""
    engine = _engine((200, "imagen_mixed.json"))

    with _quiet():
        resp = engine.image_generation(
            prompt="fox",
            model="vertex_ai/imagen-3.0-generate-002",
            n=2,
            vertex_ai_project="p",
            vertex_credentials=FakeCredentials(3600),
        )

    assert len(resp.data) == 1
    assert "Support codes" in resp.refused[0].reason


def test_errors_map_and_a_401_forgets_the_cached_token():
    """403 is PermissionDeniedError; a 401 is AuthenticationError and the next call fetches a new token."""
    credentials = FakeCredentials(3600)
    engine = _engine((401, "error_unauthenticated.json"), (200, "gemini_image.json"))
    call = {
        "prompt": "x",
        "model": "vertex_ai/gemini-2.5-flash-image",
        "vertex_ai_project": "p",
        "vertex_credentials": credentials,
    }

    with pytest.raises(AuthenticationError, match="invalid authentication credentials"):
        engine.image_generation(**call)
    engine.image_generation(**call)

    assert credentials.refreshes == 2
    assert engine.requests[1].headers["Authorization"] == "Bearer ya29.fake-token-2"

    denied = _engine((403, "error_permission.json"))
    with pytest.raises(PermissionDeniedError, match=r"aiplatform\.endpoints\.predict"):
        denied.image_generation(**call)


async def test_async_path_refreshes_a_token_near_expiry():
    """A token expiring within the core's margin makes the next async call resolve credentials again."""
    engine = _engine((200, "gemini_image.json"))
    short = FakeCredentials(120)  # expires inside the core's 300 s margin: never reused
    long = FakeCredentials(3600)
    call = {"prompt": "x", "model": "vertex_ai/gemini-2.5-flash-image", "vertex_ai_project": "p"}

    await engine.aimage_generation(**call, vertex_credentials=short)
    await engine.aimage_generation(**call, vertex_credentials=short)
    await engine.aimage_generation(**call, vertex_credentials=long)
    await engine.aimage_generation(**call, vertex_credentials=long)

    assert (short.refreshes, long.refreshes) == (2, 1)
    tokens = [request.headers["Authorization"] for request in engine.requests]
    assert tokens == [
        "Bearer ya29.fake-token-1",
        "Bearer ya29.fake-token-2",
        "Bearer ya29.fake-token-1",
        "Bearer ya29.fake-token-1",
    ]


def test_token_never_appears_in_responses_or_errors():
    """The bearer token stays out of the response, its metadata and error messages."""
    engine = _engine((403, "error_permission.json"))
    call = {
        "prompt": "x",
        "model": "vertex_ai/gemini-2.5-flash-image",
        "vertex_ai_project": "p",
        "vertex_credentials": FakeCredentials(3600),
    }

    with pytest.raises(PermissionDeniedError) as caught:
        engine.image_generation(**call)

    assert "ya29" not in str(caught.value)
    assert "ya29" not in repr(caught.value)
    ok = _engine((200, "gemini_image.json")).image_generation(**call)
    assert "ya29" not in repr(ok)
    assert "ya29" not in json.dumps(ok.metadata, default=str)


def test_import_pixmux_imports_no_google_library():
    """import pixmux and loading this plugin import neither google-auth nor the Vertex SDK."""
    code = (
        "import sys, pixmux, pixmux_vertex_ai.provider;"
        "print([m for m in sys.modules if m.startswith(('google', 'vertexai', 'pixmux_gemini', 'pixmux_openai'))])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert out.stdout.strip() == "[]"
