"""
A corpus of LiteLLM configs for image models (``litellm_configs/``): each starts, serves a request
against a stand-in for its providers, and honours its settings.

The stand-in answers every provider with bodies recorded from its real API (the plugins'
``tests/responses``), through ``httpx.MockTransport``; the Vertex token endpoint and STS are
local HTTP servers on 127.0.0.1, as google-auth and boto3 call them themselves. Failures are
scripted per host: a test says "the first call to this host answers 500" and checks what the
gateway did about it (retries counted, fallbacks taken, prices in ``x-pixmux-cost``).
"""

from __future__ import annotations

import asyncio
import copy
import http.server
import json
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from keys_support import PG_PASSWORD, PostgresServer, postgres_server
from pixmux._engine import Engine
from pixmux._retry import Backoff
from pixmux.proxy import Gateway, create_app, load_config
from pixmux.testing import load_json, local_server, reply

__all__ = ["postgres_server"]  # the session's PostgreSQL server, a fixture

HERE = Path(__file__).parent
CONFIGS = HERE / "litellm_configs"
PLUGINS = HERE.parents[1] / "plugins"
MASTER = "sk-corpus-master-7f3a9c1d2e"


def responses(plugin: str, name: str) -> Any:
    return load_json(name, folder=PLUGINS / plugin / "tests" / "responses")


async def _no_sleep(seconds: float) -> None:
    return None


# --------------------------------------------------------------------------- the stand-in


class StandIn:
    """
    Answers each provider as its real API does; ``fail`` scripts errors per host, ``seen`` records requests.

    ``fail[host_part]`` is a list of answers to give, in order, to requests whose host contains
    ``host_part``: an int status (the provider's recorded error body for it) or ``"timeout"``.
    """

    def __init__(self) -> None:
        self.fail: dict[str, list[int | str]] = {}
        self.seen: list[httpx.Request] = []

    def hosts(self) -> list[str]:
        return [request.url.host for request in self.seen]

    def to(self, part: str) -> list[httpx.Request]:
        return [request for request in self.seen if part in request.url.host]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.seen.append(request)
        host = request.url.host
        for part, answers in self.fail.items():
            if part in host and answers:
                answer = answers.pop(0)
                if answer == "timeout":
                    raise httpx.ReadTimeout("timed out", request=request)
                return self._error(request, int(answer))
        return self._success(request)

    @staticmethod
    def _body(request: httpx.Request) -> dict[str, Any]:
        try:
            found = json.loads(request.content or b"{}")
        except ValueError:
            return {}
        return found if isinstance(found, dict) else {}

    def _success(self, request: httpx.Request) -> httpx.Response:
        host, path = request.url.host, request.url.path
        body = self._body(request)
        n = int(body.get("n") or 1)
        if "bedrock-runtime" in host:
            return httpx.Response(
                200, json=responses("bedrock", "nova_success.json"), headers={"x-amzn-RequestId": "r1"}
            )
        if path.endswith(":generateContent"):
            return httpx.Response(200, json=responses("gemini", "gemini_image.json"))
        if path.endswith(":predict"):
            answer = copy.deepcopy(responses("vertex-ai", "imagen_two.json"))
            count = int(body.get("parameters", {}).get("sampleCount") or 1)
            answer["predictions"] = answer["predictions"][:count]
            return httpx.Response(200, json=answer)
        if "recraft" in host:
            answer = copy.deepcopy(responses("recraft", "b64_one.json"))
        elif "nscale" in host:
            answer = copy.deepcopy(responses("nscale", "b64_one.json"))
        elif "xinference" in host:
            answer = copy.deepcopy(responses("xinference", "b64_two.json"))
        elif "azure" in host:
            answer = copy.deepcopy(responses("azure", "gpt_image_b64.json"))
        elif "dall-e" in str(body.get("model")):
            answer = copy.deepcopy(responses("openai", "dalle2_b64.json"))
        else:
            answer = copy.deepcopy(responses("openai", "gpt_image_b64.json"))
        data = answer["data"]
        answer["data"] = (data * n)[:n]
        return httpx.Response(200, json=answer)

    def _error(self, request: httpx.Request, status: int) -> httpx.Response:
        host = request.url.host
        if "bedrock-runtime" in host:
            name = {500: "error_internal.json", 429: "error_throttling.json"}[status]
            kind = {500: "InternalServerException", 429: "ThrottlingException"}[status]
            return httpx.Response(status, json=responses("bedrock", name), headers={"x-amzn-ErrorType": kind})
        if "googleapis" in host:
            return httpx.Response(status, json=responses("google-common", "error_internal.json"))
        if status == 400:
            return httpx.Response(400, json=responses("openai", "error_content_policy.json"))
        return httpx.Response(status, json=responses("openai", "error_server.json"))


# --------------------------------------------------------------------------- local token endpoints


class _TokenEndpoint(http.server.BaseHTTPRequestHandler):
    """Google's OAuth token endpoint: trades the service account's signed JWT for an access token."""

    seen: list[dict[str, list[str]]]

    def do_POST(self) -> None:
        form = urllib.parse.parse_qs(self.rfile.read(int(self.headers.get("content-length", "0"))).decode())
        self.seen.append(form)
        reply(self, 200, {"access_token": "ya29.corpus-token", "expires_in": 3599, "token_type": "Bearer"})

    def log_message(self, format: str, *args: Any) -> None:
        return


class _Sts(http.server.BaseHTTPRequestHandler):
    """AWS STS answering AssumeRoleWithWebIdentity with temporary credentials, as AWS's XML."""

    seen: list[dict[str, list[str]]]

    def do_POST(self) -> None:
        form = urllib.parse.parse_qs(self.rfile.read(int(self.headers.get("content-length", "0"))).decode())
        self.seen.append(form)
        expiry = datetime.fromtimestamp(time.time() + 3600, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        action = form["Action"][0]
        body = (
            f'<{action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><{action}Result>'
            "<Credentials><AccessKeyId>ASIACORPUS</AccessKeyId><SecretAccessKey>corpus-temp-secret</SecretAccessKey>"
            f"<SessionToken>corpus-session-token</SessionToken><Expiration>{expiry}</Expiration></Credentials>"
            "<AssumedRoleUser><AssumedRoleId>AROA:images</AssumedRoleId>"
            "<Arn>arn:aws:sts::123456789012:assumed-role/pixmux-images/images-gateway</Arn></AssumedRoleUser>"
            f"</{action}Result><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></{action}Response>"
        ).encode()
        reply(self, 200, body, content_type="text/xml")

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def token_endpoint() -> Iterator[tuple[str, list[dict[str, list[str]]]]]:
    handler = type("Token", (_TokenEndpoint,), {"seen": []})
    with local_server(handler) as url:
        yield f"{url}/token", handler.seen


@pytest.fixture(scope="module")
def sts() -> Iterator[tuple[str, list[dict[str, list[str]]]]]:
    handler = type("Sts", (_Sts,), {"seen": []})
    with local_server(handler) as url:
        yield url, handler.seen


def _service_account(token_uri: str) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "images-prod",
            "private_key_id": "k1",
            "private_key": pem,
            "client_email": "gateway@images-prod.iam.gserviceaccount.com",
            "client_id": "1",
            "token_uri": token_uri,
        }
    )


@pytest.fixture(scope="module")
def environ(
    token_endpoint: tuple[str, list[dict[str, list[str]]]], sts: tuple[str, list[dict[str, list[str]]]]
) -> dict[str, str]:
    """The environment the corpus's ``os.environ/`` references name (fake keys, local endpoints)."""
    return {
        "LITELLM_MASTER_KEY": MASTER,
        "AZURE_API_BASE": "https://azure-eastus.openai.azure.com",
        "AZURE_API_KEY": "azure-key-0123456789abcdef",
        "OPENAI_API_KEY": "sk-openai-corpus-0123456789",
        "SD_API_KEY": "sd-key-0123456789",
        "AWS_ACCESS_KEY_ID": "AKIACORPUSEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "corpus-aws-secret-0123456789",
        "REDIS_HOST": "redis.internal",
        "REDIS_PORT": "6379",
        "REDIS_PASSWORD": "redis-password-0123",
        "VERTEX_SA_JSON": _service_account(token_endpoint[0]),
        "RECRAFT_API_KEY": "recraft-key-0123456789",
        "NSCALE_API_KEY": "nscale-key-0123456789",
        "INTERNAL_IMAGES_KEY": "internal-images-key-0123",
        "AWS_WEB_IDENTITY_TOKEN": "eyJhbGciOiJSUzI1NiJ9.corpus-oidc.sig",
        "STS_ENDPOINT": sts[0],
    }


def start(name: str, environ: Mapping[str, str]) -> tuple[Gateway, StandIn]:
    """The gateway for one corpus config, its providers answered by a fresh stand-in."""
    stand_in = StandIn()
    engine = Engine(
        discover=True,
        transport=httpx.MockTransport(stand_in),
        async_transport=httpx.MockTransport(stand_in),
        environ=dict(environ),
        retry=Backoff(sleep=lambda seconds: None, asleep=_no_sleep),
    )
    config = load_config(CONFIGS / name, environ=environ)
    return create_app(config, engine=engine), stand_in


async def post(gateway: Gateway, body: Mapping[str, Any]) -> httpx.Response:
    transport = httpx.ASGITransport(app=gateway)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        return await client.post(
            "/v1/images/generations", json=dict(body), headers={"Authorization": f"Bearer {MASTER}"}
        )


def cost(response: httpx.Response) -> float:
    return float(response.headers["x-pixmux-cost"])


# --------------------------------------------------------------------------- the corpus


def test_corpus_has_at_least_twelve_configs() -> None:
    """The corpus holds at least twelve LiteLLM configs, and every one starts."""
    names = sorted(path.name for path in CONFIGS.glob("*.yaml"))
    assert len(names) >= 12
    assert {name for name in names} == set(CASES), "every corpus config has its own test below"


async def test_01_azure_and_openai_behind_one_name(environ: dict[str, str]) -> None:
    """Azure (order 1) fails once: the retry goes to OpenAI at once; OpenAI's own model_info price is the cost."""
    gateway, stand_in = start("01_azure_and_openai_one_name.yaml", environ)
    stand_in.fail["azure"] = [500]

    answer = await post(gateway, {"model": "gpt-image-1", "prompt": "an otter", "size": "1024x1024"})

    assert answer.status_code == 200, answer.text
    assert answer.headers["x-pixmux-deployment"] == "openai-direct"
    assert answer.headers["x-pixmux-attempts"] == "2"
    assert stand_in.hosts() == ["azure-eastus.openai.azure.com", "api.openai.com"]
    assert stand_in.seen[0].headers["api-key"] == environ["AZURE_API_KEY"]
    assert cost(answer) == pytest.approx(0.04)
    assert any("success_callback" in line for line in gateway.config.warnings)


async def test_02_litellm_num_retries_gives_that_many_retries(environ: dict[str, str]) -> None:
    """litellm_settings.num_retries: 5 makes 6 attempts on a server that keeps failing (it made 3 before)."""
    gateway, stand_in = start("02_num_retries.yaml", environ)
    stand_in.fail["sd.internal"] = [500] * 20

    answer = await post(gateway, {"model": "sdxl", "prompt": "an otter"})

    assert answer.status_code == 500
    assert len(stand_in.to("sd.internal")) == 6
    assert gateway.config.json_logs


async def test_03_bedrock_full_router_settings(environ: dict[str, str]) -> None:
    """A full router_settings block starts; usage-based routing spreads two calls over both regions (region_name)."""
    gateway, stand_in = start("03_bedrock_full_router.yaml", environ)

    first = await post(gateway, {"model": "nova-canvas", "prompt": "an otter"})
    second = await post(gateway, {"model": "nova-canvas", "prompt": "an otter"})

    assert (first.status_code, second.status_code) == (200, 200), first.text
    served = {first.headers["x-pixmux-deployment"], second.headers["x-pixmux-deployment"]}
    assert served == {"nova-us-east-1", "nova-us-west-2"}
    assert sorted(stand_in.hosts()) == [
        "bedrock-runtime.us-east-1.amazonaws.com",
        "bedrock-runtime.us-west-2.amazonaws.com",
    ]
    assert all(r.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIACORPUS") for r in stand_in.seen)
    assert cost(first) > 0  # the catalogue's Nova Canvas price
    lines = "\n".join(gateway.config.warnings)
    assert type(gateway.router.state).__name__ == "RedisState"  # redis_host: shared (unreachable here: fails open)
    assert "router_settings.client_ttl" in lines
    assert "redis-password-0123" not in lines
    deployments = {d.id: d for d in gateway.router.deployments}
    assert deployments["nova-us-east-1"].rpm == 100  # min(rpm, tpm)
    assert deployments["nova-us-east-1"].max_parallel_requests == 10  # default_max_parallel_requests
    assert deployments["nova-us-west-2"].max_parallel_requests == 4  # its own wins
    assert deployments["nova-us-east-1"].stream_timeout == 60


async def test_03_bedrock_fallback_after_retry_policy(environ: dict[str, str]) -> None:
    """Nova failing with 500 everywhere: InternalServerErrorRetries (2) retries, then the fallback to Titan."""
    gateway, stand_in = start("03_bedrock_full_router.yaml", environ)
    stand_in.fail["bedrock-runtime"] = [500, 500, 500]

    answer = await post(gateway, {"model": "nova-canvas", "prompt": "an otter"})

    assert answer.status_code == 200, answer.text
    assert answer.headers["x-pixmux-deployment"] == "titan-us-east-1"
    assert answer.headers["x-pixmux-attempts"] == "4"
    assert "amazon.titan-image-generator-v2" in stand_in.seen[-1].url.path


async def test_04_vertex_and_gemini_with_environment_variables(
    environ: dict[str, str],
    token_endpoint: tuple[str, list[dict[str, list[str]]]],
    postgres_server: PostgresServer,
) -> None:
    """Vertex (a service-account JSON from os.environ) fails; the fallback uses a key from environment_variables."""
    database = await asyncio.to_thread(postgres_server.create)  # the config's database_url: a real PostgreSQL
    gateway, stand_in = start("04_vertex_gemini_general.yaml", {**environ, "DATABASE_URL": database})
    stand_in.fail["aiplatform"] = [500]

    answer = await post(gateway, {"model": "nano-banana", "prompt": "an otter"})

    assert answer.status_code == 200, answer.text
    assert answer.headers["x-pixmux-deployment"] == "studio-flash-image"
    vertex, studio = stand_in.seen
    assert vertex.url.host == "us-central1-aiplatform.googleapis.com"
    assert "/projects/images-prod/locations/us-central1/" in vertex.url.path
    assert vertex.headers["authorization"] == "Bearer ya29.corpus-token"
    assert token_endpoint[1][-1]["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    assert studio.headers["x-goog-api-key"] == "AIza-gemini-studio-key-0001"
    lines = "\n".join(gateway.config.warnings)
    assert gateway.config.accounting is not None  # virtual keys and spend on that database
    assert "general_settings.alerting" in lines
    assert PG_PASSWORD not in lines
    assert gateway.config.global_max_parallel_requests == 100
    assert {d.max_parallel_requests for d in gateway.router.deployments} == {20}
    assert gateway.accounting is not None
    await gateway.accounting.stop()


async def test_05_recraft_price_from_model_info(environ: dict[str, str]) -> None:
    """model_info.output_cost_per_image replaces the catalogue's price (0.04); each callback key is one line."""
    gateway, stand_in = start("05_recraft_prices_callbacks.yaml", environ)

    answer = await post(gateway, {"model": "recraft-v3", "prompt": "an otter", "n": 1})

    assert answer.status_code == 200, answer.text
    assert cost(answer) == pytest.approx(0.05)
    assert stand_in.seen[0].url.host == "external.api.recraft.ai"
    lines = gateway.config.warnings
    assert sum("success_callback" in line for line in lines) == 1
    assert any("failure_callback" in line for line in lines)


async def test_06_nscale_priced_per_pixel(environ: dict[str, str]) -> None:
    """input_cost_per_pixel in litellm_params prices each image by its size."""
    gateway, stand_in = start("06_nscale_pixel_prices.yaml", environ)

    answer = await post(gateway, {"model": "flux-schnell", "prompt": "an otter", "size": "1024x1024"})

    assert answer.status_code == 200, answer.text
    assert cost(answer) == pytest.approx(1024 * 1024 * 0.000000013)
    assert stand_in.seen[0].headers["authorization"] == f"Bearer {environ['NSCALE_API_KEY']}"
    assert "input_cost_per_pixel" not in json.loads(stand_in.seen[0].content)


async def test_07_xinference_beside_a_chat_model(environ: dict[str, str]) -> None:
    """The chat entry is skipped with one line; the self-hosted image model serves, priced per pixel."""
    gateway, stand_in = start("07_xinference_self_hosted.yaml", environ)

    answer = await post(gateway, {"model": "sd-turbo", "prompt": "an otter", "size": "512x512"})

    assert answer.status_code == 200, answer.text
    assert gateway.router.model_names == ["sd-turbo"]
    assert any("'gpt-4o'" in line and "skipped" in line for line in gateway.config.warnings)
    assert stand_in.seen[0].url.host == "xinference.internal"
    assert cost(answer) == pytest.approx(512 * 512 * 0.000000002 * len(answer.json()["data"]))


async def test_08_credential_list_and_extra_headers(environ: dict[str, str]) -> None:
    """The credential's key and endpoint are used; extra_headers are headers; no setting reaches the body."""
    gateway, stand_in = start("08_self_hosted_credentials_headers.yaml", environ)

    answer = await post(gateway, {"model": "house-style", "prompt": "an otter"})

    assert answer.status_code == 200, answer.text
    sent = stand_in.seen[0]
    assert str(sent.url) == "http://images.internal:8080/v1/images/generations"
    assert sent.headers["authorization"] == f"Bearer {environ['INTERNAL_IMAGES_KEY']}"
    assert sent.headers["x-tenant"] == "marketing"
    body = json.loads(sent.content)
    assert body["guidance_scale"] == 6.5
    assert not {"litellm_credential_name", "extra_headers", "rpm", "tpm", "timeout", "api_key"} & set(body)
    assert cost(answer) == pytest.approx(0.003)


async def test_09_content_policy_fallback(environ: dict[str, str]) -> None:
    """OpenAI refuses the prompt: content_policy_fallbacks from litellm_settings moves the call to Recraft."""
    gateway, stand_in = start("09_content_policy_fallbacks.yaml", environ)
    stand_in.fail["api.openai.com"] = [400]

    answer = await post(gateway, {"model": "dall-e-3", "prompt": "an otter"})

    assert answer.status_code == 200, answer.text
    assert answer.headers["x-pixmux-deployment"] == "recraft-fallback"
    assert stand_in.hosts() == ["api.openai.com", "external.api.recraft.ai"]


async def test_10_cost_based_routing_picks_the_cheaper_pool(environ: dict[str, str]) -> None:
    """cost-based-routing sends every call to the deployment whose model_info price is lower."""
    gateway, stand_in = start("10_cost_based_routing.yaml", environ)

    answers = [await post(gateway, {"model": "sdxl", "prompt": "an otter"}) for _ in range(6)]

    assert {a.headers["x-pixmux-deployment"] for a in answers} == {"pool-b"}
    assert set(stand_in.hosts()) == {"gpu-b.internal"}
    assert all(cost(a) == pytest.approx(0.0015) for a in answers)


async def test_10_cost_based_routing_moves_on_when_the_cheaper_fails(environ: dict[str, str]) -> None:
    """The cheaper pool cooling down or failing does not stop the group: the dearer one serves."""
    gateway, stand_in = start("10_cost_based_routing.yaml", environ)
    gateway.router.num_retries = 1
    stand_in.fail["gpu-b"] = [503]

    answer = await post(gateway, {"model": "sdxl", "prompt": "an otter"})

    assert answer.status_code == 200, answer.text
    assert answer.headers["x-pixmux-deployment"] == "pool-a"
    assert cost(answer) == pytest.approx(0.004)


async def test_11_azure_base_model_from_a_credential(environ: dict[str, str]) -> None:
    """A custom Azure deployment name with base_model validates as gpt-image-1; drop_params drops what it refuses."""
    gateway, stand_in = start("11_azure_base_model_credentials.yaml", environ)

    answer = await post(gateway, {"model": "images", "prompt": "an otter", "style": "vivid"})

    assert answer.status_code == 200, answer.text
    sent = stand_in.seen[0]
    assert sent.url.host == "azure-eastus.openai.azure.com"
    assert sent.url.path == "/openai/deployments/company-images-prod/images/generations"
    assert sent.url.params["api-version"] == "2025-04-01-preview"
    assert sent.headers["api-key"] == environ["AZURE_API_KEY"]
    assert "style" not in json.loads(sent.content)
    deployment = gateway.router.deployments[0]
    assert (deployment.stream_timeout, deployment.timeout) == (30, 100)


async def test_12_default_fallbacks_after_a_timeout(environ: dict[str, str]) -> None:
    """A group that times out falls back to litellm_settings.default_fallbacks."""
    gateway, stand_in = start("12_default_fallbacks_timeout.yaml", environ)
    stand_in.fail["flux.internal"] = ["timeout"]

    answer = await post(gateway, {"model": "flux-pro", "prompt": "an otter"})

    assert answer.status_code == 200, answer.text
    assert answer.headers["x-pixmux-deployment"] == "openai-default"
    assert stand_in.hosts() == ["flux.internal", "api.openai.com"]
    assert gateway.config.verbose


async def test_13_bedrock_web_identity_and_runtime_endpoint(
    environ: dict[str, str], sts: tuple[str, list[dict[str, list[str]]]]
) -> None:
    """aws_web_identity_token assumes the role at the local STS; aws_bedrock_runtime_endpoint is the endpoint."""
    gateway, stand_in = start("13_bedrock_web_identity.yaml", environ)

    answer = await post(gateway, {"model": "nova-canvas", "prompt": "an otter"})

    assert answer.status_code == 200, answer.text
    sent = stand_in.seen[0]
    assert sent.url.host == "vpce-0abc.bedrock-runtime.us-east-1.vpce.amazonaws.com"
    assert sent.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=ASIACORPUS/")
    assert sent.headers["x-amz-security-token"] == "corpus-session-token"
    form = sts[1][-1]
    assert form["Action"] == ["AssumeRoleWithWebIdentity"]
    assert form["WebIdentityToken"] == [environ["AWS_WEB_IDENTITY_TOKEN"]]
    assert form["RoleSessionName"] == ["images-gateway"]
    assert cost(answer) == pytest.approx(0.04)


CASES = {
    "01_azure_and_openai_one_name.yaml",
    "02_num_retries.yaml",
    "03_bedrock_full_router.yaml",
    "04_vertex_gemini_general.yaml",
    "05_recraft_prices_callbacks.yaml",
    "06_nscale_pixel_prices.yaml",
    "07_xinference_self_hosted.yaml",
    "08_self_hosted_credentials_headers.yaml",
    "09_content_policy_fallbacks.yaml",
    "10_cost_based_routing.yaml",
    "11_azure_base_model_credentials.yaml",
    "12_default_fallbacks_timeout.yaml",
    "13_bedrock_web_identity.yaml",
}
