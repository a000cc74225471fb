"""The official openai client, unchanged, against the real server (uvicorn) in front of a mock provider."""

from __future__ import annotations

import base64
from typing import Any

import openai
import pytest
from gateway_support import MASTER_KEY, UPSTREAM_KEY


def client(live: Any, key: str = MASTER_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{live.url}/v1", api_key=key, max_retries=0)


def test_openai_client_generates_in_url_mode(live_gateway: Any, provider_server: Any) -> None:
    """images.generate(response_format="url") returns the provider's URLs."""
    result = client(live_gateway).images.generate(model="sd", prompt="an otter", n=2, response_format="url")

    assert [d.url for d in result.data] == ["https://images.example.test/0.png", "https://images.example.test/1.png"]
    assert f"Bearer {UPSTREAM_KEY}" == provider_server.seen[-1]["auth"]


def test_openai_client_generates_in_b64_mode(live_gateway: Any) -> None:
    """images.generate(response_format="b64_json") returns decodable image bytes."""
    result = client(live_gateway).images.generate(model="sd", prompt="an otter", response_format="b64_json")

    assert base64.b64decode(result.data[0].b64_json or "").startswith(b"\x89PNG")


def test_openai_client_sees_gateway_headers(live_gateway: Any) -> None:
    """The raw response exposes the request id and the deployment that served it."""
    raw = client(live_gateway).images.with_raw_response.generate(model="sd", prompt="an otter")

    assert raw.headers["x-pixmux-deployment"] == "sd-local"
    assert raw.headers["x-request-id"]


def test_openai_client_lists_models(live_gateway: Any) -> None:
    """models.list() returns the configured model names."""
    assert [m.id for m in client(live_gateway).models.list()] == ["sd", "gpt-image-1", "demo"]


def test_azure_openai_client_uses_the_deployment_route(live_gateway: Any) -> None:
    """AzureOpenAI(azure_endpoint=...) reaches the Azure route with its api-key header."""
    azure = openai.AzureOpenAI(
        azure_endpoint=live_gateway.url, api_key=MASTER_KEY, api_version="2025-04-01-preview", max_retries=0
    )

    result = azure.images.generate(model="sd", prompt="an otter", response_format="url")

    assert result.data[0].url == "https://images.example.test/0.png"


def test_openai_client_raises_authentication_error(live_gateway: Any) -> None:
    """A wrong gateway key raises openai.AuthenticationError."""
    with pytest.raises(openai.AuthenticationError):
        client(live_gateway, key="wrong").images.generate(model="sd", prompt="an otter")


def test_openai_client_raises_bad_request_error_naming_the_param(live_gateway: Any) -> None:
    """A size the model refuses raises openai.BadRequestError with its param."""
    with pytest.raises(openai.BadRequestError) as caught:
        client(live_gateway).images.generate(model="gpt-image-1", prompt="an otter", size="256x256")

    assert caught.value.body["param"] == "size"  # type: ignore[index]


def test_openai_client_raises_not_found_error(live_gateway: Any) -> None:
    """An unknown model name raises openai.NotFoundError."""
    with pytest.raises(openai.NotFoundError):
        client(live_gateway).images.generate(model="no-such-model", prompt="an otter")


def test_openai_client_raises_rate_limit_error_with_retry_after(live_gateway: Any) -> None:
    """A provider 429 raises openai.RateLimitError carrying Retry-After."""
    with pytest.raises(openai.RateLimitError) as caught:
        client(live_gateway).images.generate(model="sd", prompt="rate-limit please")

    assert caught.value.response.headers["retry-after"] == "7"
    assert "Rate limit reached" in caught.value.message


def test_openai_client_content_policy_is_bad_request(live_gateway: Any) -> None:
    """A provider safety refusal raises openai.BadRequestError with code content_policy_violation."""
    with pytest.raises(openai.BadRequestError) as caught:
        client(live_gateway).images.generate(model="sd", prompt="forbidden-words")

    assert caught.value.code == "content_policy_violation"
