"""Round trips through the engine on MockTransport, with bodies shaped exactly like OpenAI's."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pixmux_openai.provider as provider
import pytest
from pixmux import (
    AuthenticationError,
    BadRequestError,
    ContentPolicyViolationError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    PixmuxError,
    PixmuxWarning,
    RateLimitError,
    ServiceUnavailableError,
    UnsupportedParamsError,
)
from pixmux.testing import TINY_PNG_B64, json_response, load_json, make_engine

KEY = "sk-proj-test-0123456789abcdef"


def answer(name: str, status: int = 200, headers: dict[str, str] | None = None) -> Callable[[httpx.Request], Any]:
    """A handler answering every request with the recorded body ``name``."""
    body = load_json(name)
    return lambda request: json_response(status, body, headers)


def body_of(request: httpx.Request) -> dict[str, Any]:
    """A sent request's JSON body."""
    return dict(json.loads(request.content))


# --------------------------------------------------------------------------- success, sync and async


def test_roundtrip_gpt_image_sync() -> None:
    """A GPT image call sends OpenAI's body and returns its image, echo fields, usage and cost."""
    engine = make_engine(provider, handler=answer("gpt_image_b64.json"), environ={"OPENAI_API_KEY": KEY})

    resp = engine.image_generation(prompt="A cute baby sea otter", model="gpt-image-1", size="1024x1024", n=1)

    sent = engine.requests[0]
    assert str(sent.url) == "https://api.openai.com/v1/images/generations"
    assert f"Bearer {KEY}" == sent.headers["Authorization"]
    assert body_of(sent) == {"model": "gpt-image-1", "prompt": "A cute baby sea otter", "n": 1, "size": "1024x1024"}
    assert resp.data[0].b64_json == TINY_PNG_B64
    assert resp.data[0].bytes().startswith(b"\x89PNG")
    assert resp.quality == "high"
    assert {"provider": "openai", "model": "gpt-image-1"}.items() <= dict(resp.metadata).items()
    # 10 text tokens at $5/M, 40 image input tokens at $10/M, 4160 output tokens at $40/M
    assert pytest.approx(10 * 5e-6 + 40 * 10e-6 + 4160 * 40e-6) == resp.cost


async def test_roundtrip_gpt_image_async() -> None:
    """The async path sends the same request and reads the same response."""
    engine = make_engine(provider, handler=answer("gpt_image_b64.json"), environ={"OPENAI_API_KEY": KEY})

    resp = await engine.aimage_generation(prompt="A cute baby sea otter", model="openai/gpt-image-1")

    assert body_of(engine.requests[0]) == {"model": "gpt-image-1", "prompt": "A cute baby sea otter"}
    assert len(resp.data) == 1
    assert resp.usage is not None
    assert resp.usage.total_tokens == 4210


def test_roundtrip_gpt_image_never_sends_response_format() -> None:
    """``response_format="b64_json"`` to a GPT image model is accepted and left out of the body."""
    engine = make_engine(provider, handler=answer("gpt_image_b64.json"), environ={"OPENAI_API_KEY": KEY})

    engine.image_generation(prompt="otter", model="gpt-image-1", response_format="b64_json")

    assert "response_format" not in body_of(engine.requests[0])


def test_roundtrip_gpt_image_options_reach_the_body() -> None:
    """GPT image options given as keyword arguments are sent as OpenAI's fields."""
    engine = make_engine(provider, handler=answer("gpt_image_two.json"), environ={"OPENAI_API_KEY": KEY})

    resp = engine.image_generation(
        prompt="otter",
        model="gpt-image-1-mini",
        n=2,
        size="1536x1024",
        quality="low",
        background="opaque",
        output_format="webp",
        output_compression=60,
        moderation="low",
    )

    body = body_of(engine.requests[0])
    assert (
        body["background"],
        body["output_format"],
        body["output_compression"],
        body["moderation"],
    ) == ("opaque", "webp", 60, "low")
    assert len(resp.data) == 2
    assert pytest.approx(12 * 2e-6 + 544 * 8e-6) == resp.cost


async def test_roundtrip_dalle3_url_async() -> None:
    """DALL-E 3 on a server that still serves it: url, revised prompt and the per-image price."""
    engine = make_engine(provider, handler=answer("dalle3_url.json"), environ={"OPENAI_API_KEY": KEY})

    resp = await engine.aimage_generation(
        prompt="A lighthouse at dusk", model="dall-e-3", size="1792x1024", quality="hd", style="natural"
    )

    assert {"style": "natural", "quality": "hd", "size": "1792x1024"}.items() <= body_of(engine.requests[0]).items()
    assert resp.data[0].revised_prompt is not None
    assert pytest.approx(0.12) == resp.cost


def test_roundtrip_dalle2_prices_per_image() -> None:
    """DALL-E 2's cost is its per-image price times the images returned."""
    engine = make_engine(provider, handler=answer("dalle2_b64.json"), environ={"OPENAI_API_KEY": KEY})

    resp = engine.image_generation(prompt="otter", model="dall-e-2", n=2, size="512x512", response_format="b64_json")

    assert body_of(engine.requests[0])["response_format"] == "b64_json"
    assert pytest.approx(2 * 0.018) == resp.cost


def test_roundtrip_per_image_cost_when_usage_is_missing() -> None:
    """A GPT image answer without usage is priced per image at the defaults (1024x1024, high)."""
    body = {"created": 1, "data": [{"b64_json": TINY_PNG_B64}]}
    engine = make_engine(provider, handler=lambda r: json_response(200, body), environ={"OPENAI_API_KEY": KEY})

    resp = engine.image_generation(prompt="otter", model="gpt-image-1")

    assert pytest.approx(0.167) == resp.cost


def test_roundtrip_to_dict_is_openais_body() -> None:
    """What OpenAI sent is what ``to_dict()`` gives back."""
    engine = make_engine(provider, handler=answer("gpt_image_b64.json"), environ={"OPENAI_API_KEY": KEY})

    resp = engine.image_generation(prompt="otter", model="gpt-image-1")

    assert load_json("gpt_image_b64.json") == resp.to_dict()


# --------------------------------------------------------------------------- compatible servers


async def test_roundtrip_compatible_server_forwards_everything() -> None:
    """``openai/<name>`` with api_base reaches the server with the caller's parameters, no key needed."""
    engine = make_engine(provider, handler=answer("compatible_server.json"))

    resp = await engine.aimage_generation(
        prompt="otter",
        model="openai/my-sd-model",
        api_base="http://localhost:8000/v1",
        response_format="url",
        style="anime",
        size="768x768",
        negative_prompt="blur",
    )

    sent = engine.requests[0]
    assert str(sent.url) == "http://localhost:8000/v1/images/generations"
    assert "Authorization" not in sent.headers
    assert body_of(sent) == {
        "model": "my-sd-model",
        "prompt": "otter",
        "response_format": "url",
        "style": "anime",
        "size": "768x768",
        "negative_prompt": "blur",
    }
    assert resp.data[0].url == "http://localhost:8000/files/out-0.png"
    assert resp.cost is None


def test_roundtrip_custom_llm_provider_openai() -> None:
    """``custom_llm_provider="openai"`` sends a bare unknown name to an OpenAI-compatible server."""
    engine = make_engine(provider, handler=answer("compatible_server.json"))

    engine.image_generation(
        prompt="otter", model="flux-schnell", custom_llm_provider="openai", api_base="http://127.0.0.1:9997/v1"
    )

    assert body_of(engine.requests[0])["model"] == "flux-schnell"


# --------------------------------------------------------------------------- credentials and endpoint


def test_credentials_from_environment() -> None:
    """OPENAI_API_KEY, OPENAI_BASE_URL and OPENAI_ORG_ID are read by the core and used."""
    environ = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": "https://proxy.example/v1/", "OPENAI_ORG_ID": "org-env"}
    engine = make_engine(provider, handler=answer("gpt_image_b64.json"), environ=environ)

    engine.image_generation(prompt="otter", model="gpt-image-1")

    sent = engine.requests[0]
    assert str(sent.url) == "https://proxy.example/v1/images/generations"
    assert f"Bearer {KEY}" == sent.headers["Authorization"]
    assert sent.headers["OpenAI-Organization"] == "org-env"


def test_credentials_legacy_openai_api_base_variable() -> None:
    """OPENAI_API_BASE is read when OPENAI_BASE_URL is not set."""
    environ = {"OPENAI_API_KEY": KEY, "OPENAI_API_BASE": "https://legacy.example/v1"}
    engine = make_engine(provider, handler=answer("gpt_image_b64.json"), environ=environ)

    engine.image_generation(prompt="otter", model="gpt-image-1")

    assert engine.requests[0].url.host == "legacy.example"


def test_credentials_arguments_beat_the_environment() -> None:
    """api_key, api_base and organization arguments win over the environment."""
    environ = {"OPENAI_API_KEY": "sk-env", "OPENAI_BASE_URL": "https://env.example/v1", "OPENAI_ORG_ID": "org-env"}
    engine = make_engine(provider, handler=answer("gpt_image_b64.json"), environ=environ)

    engine.image_generation(
        prompt="otter", model="gpt-image-1", api_key=KEY, api_base="https://arg.example/v1", organization="org-arg"
    )

    sent = engine.requests[0]
    assert sent.url.host == "arg.example"
    assert f"Bearer {KEY}" == sent.headers["Authorization"]
    assert sent.headers["OpenAI-Organization"] == "org-arg"
    assert "organization" not in body_of(sent)


def test_credentials_missing_key_fails_before_sending() -> None:
    """No key for api.openai.com is an AuthenticationError with nothing sent."""
    engine = make_engine(provider, handler=answer("gpt_image_b64.json"))

    with pytest.raises(AuthenticationError, match="OPENAI_API_KEY") as caught:
        engine.image_generation(prompt="otter", model="gpt-image-1")

    assert caught.value.provider == "openai"
    assert engine.requests == []


def test_validation_happens_before_sending() -> None:
    """An unsupported value is refused by the engine before any request."""
    engine = make_engine(provider, handler=answer("gpt_image_b64.json"), environ={"OPENAI_API_KEY": KEY})

    with pytest.raises(UnsupportedParamsError) as caught:
        engine.image_generation(prompt="otter", model="gpt-image-1", size="1792x1024")

    assert caught.value.param == "size"
    assert engine.requests == []


def test_drop_params_removes_what_gpt_image_refuses() -> None:
    """With drop_params, a DALL-E style and size sent to gpt-image-1 are dropped with warnings."""
    engine = make_engine(provider, handler=answer("gpt_image_b64.json"), environ={"OPENAI_API_KEY": KEY})

    with pytest.warns(PixmuxWarning) as record:
        resp = engine.image_generation(
            prompt="otter", model="gpt-image-1", size="1792x1024", style="vivid", quality="hd", drop_params=True
        )

    assert len(record) == 3
    assert body_of(engine.requests[0]) == {"model": "gpt-image-1", "prompt": "otter"}
    assert len(resp.metadata["warnings"]) == 3


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("name", "status", "model", "cls", "code"),
    [
        ("error_content_policy.json", 400, "dall-e-3", ContentPolicyViolationError, "content_policy_violation"),
        ("error_moderation_blocked.json", 400, "gpt-image-1", ContentPolicyViolationError, "moderation_blocked"),
        ("error_unknown_parameter.json", 400, "gpt-image-1", BadRequestError, "unknown_parameter"),
        ("error_invalid_api_key.json", 401, "gpt-image-1", AuthenticationError, "invalid_api_key"),
        ("error_org_verification.json", 403, "gpt-image-1", PermissionDeniedError, "invalid_request_error"),
        ("error_model_not_found.json", 404, "dall-e-3", NotFoundError, "model_not_found"),
        ("error_rate_limit.json", 429, "gpt-image-1", RateLimitError, "rate_limit_exceeded"),
        ("error_insufficient_quota.json", 429, "gpt-image-1", RateLimitError, "insufficient_quota"),
        ("error_server.json", 500, "gpt-image-1", InternalServerError, "server_error"),
        ("error_overloaded.json", 503, "gpt-image-1", ServiceUnavailableError, "server_error"),
    ],
)
def test_errors_each_status_class(name: str, status: int, model: str, cls: type[PixmuxError], code: str) -> None:
    """Each of OpenAI's error answers becomes the matching pixmux error with OpenAI's message and code."""
    engine = make_engine(provider, handler=answer(name, status), environ={"OPENAI_API_KEY": KEY})

    with pytest.raises(cls) as caught:
        engine.image_generation(prompt="otter", model=model, num_retries=0)

    error = caught.value
    assert type(error) is cls
    assert ("openai", model) == (error.provider, error.model)
    assert (400 if cls is ContentPolicyViolationError else status) == error.status_code
    assert code == error.code
    assert load_json(name)["error"]["message"][:40] in str(error)
    assert KEY not in str(error)
    assert KEY not in repr(error)


async def test_errors_async_path_maps_the_same() -> None:
    """The async path raises the same typed errors."""
    engine = make_engine(provider, handler=answer("error_content_policy.json", 400), environ={"OPENAI_API_KEY": KEY})

    with pytest.raises(ContentPolicyViolationError):
        await engine.aimage_generation(prompt="otter", model="dall-e-3")


def test_errors_429_carries_retry_after() -> None:
    """A 429's Retry-After header is the error's ``retry_after``."""
    engine = make_engine(
        provider,
        handler=answer("error_rate_limit.json", 429, headers={"retry-after": "12"}),
        environ={"OPENAI_API_KEY": KEY},
    )

    with pytest.raises(RateLimitError) as caught:
        engine.image_generation(prompt="otter", model="gpt-image-1", num_retries=0)

    assert caught.value.retry_after == 12.0


def test_errors_unknown_parameter_names_the_param() -> None:
    """OpenAI's ``param`` field is the error's ``param``."""
    engine = make_engine(provider, handler=answer("error_unknown_parameter.json", 400), environ={"OPENAI_API_KEY": KEY})

    with pytest.raises(BadRequestError) as caught:
        engine.image_generation(prompt="otter", model="gpt-image-1")

    assert caught.value.param == "response_format"


def test_errors_retired_dalle_404_says_it_was_shut_down() -> None:
    """A 404 for DALL-E 3 from api.openai.com explains the shutdown and the replacement."""
    engine = make_engine(provider, handler=answer("error_model_not_found.json", 404), environ={"OPENAI_API_KEY": KEY})

    with pytest.raises(NotFoundError, match="shut down DALL-E") as caught:
        engine.image_generation(prompt="otter", model="dall-e-3")

    assert "gpt-image-1" in str(caught.value)


def test_errors_echoed_key_is_redacted() -> None:
    """If a server echoes the whole key back in its message, the pixmux error does not carry it."""
    body = {"error": {"message": f"Incorrect API key provided: {KEY}.", "code": "invalid_api_key"}}
    engine = make_engine(provider, handler=lambda r: json_response(401, body), environ={"OPENAI_API_KEY": KEY})

    with pytest.raises(AuthenticationError) as caught:
        engine.image_generation(prompt="otter", model="gpt-image-1")

    assert KEY not in str(caught.value)
    assert "Incorrect API key provided" in str(caught.value)


def test_errors_unreadable_success_body_is_typed() -> None:
    """A 200 whose body is not an ImagesResponse is APIResponseValidationError, not a KeyError."""
    engine = make_engine(
        provider, handler=lambda r: httpx.Response(200, text="upstream said hi"), environ={"OPENAI_API_KEY": KEY}
    )

    with pytest.raises(PixmuxError) as caught:
        engine.image_generation(prompt="otter", model="gpt-image-1")

    assert caught.value.status_code == 502
