"""Helpers for the gateway tests: a mock OpenAI-compatible provider, gateways in-process and on a real port."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pixmux_openai.provider
import pytest
import uvicorn
import yaml
from jsonschema import Draft202012Validator
from pixmux.proxy import Gateway, create_app, parse_config
from pixmux.testing import TINY_PNG_B64, RecordingEngine, json_response, local_server, make_engine, reply

SPEC_PATH = Path("/work/shared/reference/openai-images-openapi.yaml")
if not SPEC_PATH.exists():  # the CI clone keeps shared/ beside the repository
    SPEC_PATH = Path(__file__).resolve().parents[3] / "shared" / "reference" / "openai-images-openapi.yaml"

#: What the mock provider's key must be; the gateway's config sends it, clients never see it.
UPSTREAM_KEY = "sk-upstream-secret-0123456789"
MASTER_KEY = "sk-gateway-master-key"


def schema_validator(name: str) -> Draft202012Validator:
    """A validator for one schema of OpenAI's reference document (``ImagesResponse``, ``ErrorResponse``)."""
    spec = yaml.safe_load(SPEC_PATH.read_text())
    schema = {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
    return Draft202012Validator(schema)


@pytest.fixture(scope="session")
def images_schema() -> Draft202012Validator:
    return schema_validator("ImagesResponse")


@pytest.fixture(scope="session")
def error_schema() -> Draft202012Validator:
    return schema_validator("ErrorResponse")


def _error(message: str, kind: str, code: str | None) -> dict[str, Any]:
    """An error body in OpenAI's shape."""
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def openai_answer(request_body: Mapping[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
    """How the mock provider answers an OpenAI images request: the prompt picks the behaviour."""
    prompt = str(request_body.get("prompt", ""))
    n = int(request_body.get("n") or 1)
    if "rate-limit" in prompt:
        return (
            429,
            {"retry-after": "7"},
            _error("Rate limit reached for images per minute", "requests", "rate_limit_exceeded"),
        )
    if "forbidden-words" in prompt:
        message = "Your request was rejected as a result of our safety system."
        return 400, {}, _error(message, "image_generation_user_error", "content_policy_violation")
    if "explode" in prompt:
        return 500, {}, _error("The server had an error while processing your request.", "server_error", None)
    if "leak-key" in prompt:
        return (
            401,
            {},
            _error(f"Incorrect API key provided: {UPSTREAM_KEY}.", "invalid_request_error", "invalid_api_key"),
        )
    if request_body.get("response_format") == "url":
        data = [{"url": f"https://images.example.test/{i}.png", "revised_prompt": prompt} for i in range(n)]
    else:
        size = int(request_body.get("x_image_bytes") or 0)
        b64 = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(size)).decode() if size else TINY_PNG_B64
        data = [{"b64_json": b64} for _ in range(n)]
    return 200, {"x-request-id": "req_upstream"}, {"created": 1713833628, "data": data}


def mock_handler(request: httpx.Request) -> httpx.Response:
    """``httpx.MockTransport`` handler answering like OpenAI's Images API."""
    status, headers, body = openai_answer(json.loads(request.content))
    return json_response(status, body, headers)


class _ProviderHandler(BaseHTTPRequestHandler):
    #: The server's ``/v1`` base URL, and every request it received (path, authorization, body).
    url: str
    seen: list[dict[str, Any]]

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        self.seen.append({"path": self.path, "auth": self.headers.get("authorization"), "body": body})
        if "slow" in str(body.get("prompt")):
            time.sleep(1.0)
        if self.headers.get("authorization") != f"Bearer {UPSTREAM_KEY}":
            status, headers, answer = 401, {}, _error("bad upstream key", "invalid_request_error", "invalid_api_key")
        else:
            status, headers, answer = openai_answer(body)
        reply(self, status, answer, headers=headers)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="session")
def provider_server() -> Iterator[type[_ProviderHandler]]:
    """A mock OpenAI-compatible image server on 127.0.0.1 (``server.url``, ``server.seen``)."""
    handler: type[_ProviderHandler] = type("Provider", (_ProviderHandler,), {"seen": []})
    with local_server(handler) as url:
        handler.url = f"{url}/v1"
        yield handler


def config_dict(api_base: str = "http://upstream.test/v1", *, master_key: str | None = MASTER_KEY) -> dict[str, Any]:
    """A gateway config with three names: an unknown model on a custom server, gpt-image-1 and a mock."""
    config: dict[str, Any] = {
        "model_list": [
            {
                "model_name": "sd",
                "litellm_params": {"model": "openai/sd-xl", "api_base": api_base, "api_key": UPSTREAM_KEY},
                "model_info": {"id": "sd-local"},
            },
            {
                "model_name": "gpt-image-1",
                "params": {"model": "openai/gpt-image-1", "api_base": api_base, "api_key": UPSTREAM_KEY},
            },
            {"model_name": "demo", "litellm_params": {"model": "openai/gpt-image-1", "mock_response": True}},
        ],
        "router_settings": {"num_retries": 0},
    }
    if master_key is not None:
        config["general_settings"] = {"master_key": master_key}
    return config


def make_gateway(
    config: Mapping[str, Any] | None = None, handler: Callable[[httpx.Request], httpx.Response] = mock_handler
) -> tuple[Gateway, RecordingEngine]:
    """A gateway on an engine whose provider traffic goes to ``handler`` (``engine.requests`` records it)."""
    engine = make_engine(pixmux_openai.provider, handler=handler)
    gateway = create_app(parse_config(config or config_dict(), path="test.yaml", environ={}), engine=engine)
    return gateway, engine


def auth(key: str = MASTER_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def gateway() -> tuple[Gateway, RecordingEngine]:
    return make_gateway()


@pytest.fixture
async def client(gateway: tuple[Gateway, RecordingEngine]) -> Any:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway[0]), base_url="http://gateway.test") as c:
        yield c


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RunningGateway:
    """A gateway served by uvicorn in a thread on a free 127.0.0.1 port."""

    def __init__(self, app: Gateway) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None, access_log=False, lifespan="on")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> RunningGateway:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the gateway did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def live_gateway(provider_server: type[_ProviderHandler]) -> Iterator[RunningGateway]:
    """The real server (uvicorn) in front of the mock provider server, with a master key."""
    config = parse_config(config_dict(provider_server.url), path="live.yaml", environ={})
    with RunningGateway(create_app(config)) as running:
        yield running
