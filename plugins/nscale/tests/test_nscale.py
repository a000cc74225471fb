"""Tests of the Nscale provider: the documented endpoint and body, base64 output, OpenAI-shaped errors."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pixmux_nscale.provider as nscale
import pytest
from pixmux.exceptions import (
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    UnsupportedParamsError,
)
from pixmux.testing import check_plugin, json_response, load_json, make_engine
from pixmux.types import Deployment, ImageRequest, ImageResponse

KEY = "nscale-service-token-0123456789"
FLUX = "black-forest-labs/FLUX.1-schnell"


def _build(request: ImageRequest, **overrides: Any) -> httpx.Request:
    fields: dict[str, Any] = {"provider": "nscale", "model": request.model, "api_key": KEY}
    fields.update(overrides)
    deployment = Deployment(**fields)
    return nscale.build_request(request=request, deployment=deployment, model=nscale.CATALOGUE.lookup(request.model))


def _engine(body: Any = None, status: int = 200, **kwargs: Any) -> Any:
    payload = body if body is not None else load_json("b64_one.json")
    return make_engine(nscale, handler=lambda r: json_response(status, payload), **kwargs)


def _parse(status: int, body: Any, request: ImageRequest | None = None) -> ImageResponse:
    sent = httpx.Request("POST", f"{nscale.DEFAULT_API_BASE}/images/generations")
    response = httpx.Response(status, json=body, request=sent)
    request = request or ImageRequest(prompt="mountains", model=FLUX)
    return nscale.parse_response(response=response, request=request, model=nscale.CATALOGUE.lookup(request.model))


def test_check_plugin_passes_the_contract():
    """The plugin meets pixmux's plugin contract on its default endpoint."""
    assert check_plugin(nscale, name="nscale") == []


def test_catalogue_lists_the_documented_models():
    """Both documented image models are listed, on the documented base URL."""
    assert set(nscale.CATALOGUE.models) == {FLUX, "stabilityai/stable-diffusion-xl-base-1.0"}
    assert nscale.CATALOGUE.default_api_base == "https://inference.api.nscale.com/v1"


def test_build_request_sends_the_documented_fields():
    """model, prompt, size and n go to /v1/images/generations with the service token as a bearer."""
    request = ImageRequest(prompt="A serene mountain landscape at sunset", model=FLUX, n=2, size="1024x1024")

    http = _build(request)

    assert http.method == "POST"
    assert str(http.url) == "https://inference.api.nscale.com/v1/images/generations"
    assert http.headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(http.content) == {
        "model": FLUX,
        "prompt": "A serene mountain landscape at sunset",
        "n": 2,
        "size": "1024x1024",
    }


def test_build_request_never_sends_response_format_or_user():
    """response_format (output is base64 regardless) and user are not in Nscale's schema: they are not sent."""
    request = ImageRequest(prompt="mountains", model=FLUX, response_format="url", user="u-1")

    assert json.loads(_build(request).content) == {"model": FLUX, "prompt": "mountains"}


def test_build_request_needs_a_token_on_the_public_host():
    """Without NSCALE_API_KEY the error says how to give one."""
    with pytest.raises(AuthenticationError, match="NSCALE_API_KEY"):
        _build(ImageRequest(prompt="mountains", model=FLUX), api_key=None)


def test_api_base_overrides_the_endpoint():
    """api_base sends the same body elsewhere (a private gateway needs no token)."""
    http = _build(ImageRequest(prompt="mountains", model=FLUX), api_base="http://127.0.0.1:8080/v1/", api_key=None)

    assert str(http.url) == "http://127.0.0.1:8080/v1/images/generations"
    assert "authorization" not in http.headers


def test_unlisted_model_forwards_extra_parameters():
    """A model Nscale added since is forwarded with the caller's extra parameters as given."""
    request = ImageRequest(prompt="mountains", model="Qwen/Qwen-Image", params={"num_inference_steps": 8})

    assert json.loads(_build(request).content)["num_inference_steps"] == 8


def test_environment_supplies_the_token():
    """NSCALE_API_KEY is read by the core and sent as the bearer token."""
    engine = _engine(environ={"NSCALE_API_KEY": KEY})

    engine.image_generation(prompt="mountains", model=f"nscale/{FLUX}")

    assert engine.requests[0].headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize(
    ("fields", "params", "param"),
    [
        ({"quality": "hd"}, {}, "quality"),
        ({"style": "vivid"}, {}, "style"),
        ({"size": "big"}, {}, "size"),
        ({"response_format": "png"}, {}, "response_format"),
        ({"n": 0}, {}, "n"),
        ({}, {"guidance_scale": 3}, "guidance_scale"),
    ],
)
def test_validate_params_refuses_what_nscale_does_not_take(fields: dict[str, Any], params: dict[str, Any], param: str):
    """Undocumented options on a listed model are refused by name before any request."""
    request = ImageRequest(prompt="mountains", model=FLUX, params=params, **fields)

    with pytest.raises(UnsupportedParamsError) as caught:
        nscale.validate_params(request=request, model=nscale.CATALOGUE.lookup(FLUX))

    assert caught.value.param == param


def test_parse_response_keeps_base64():
    """The answer's base64 images come back as b64_json (JPEG bytes)."""
    resp = _parse(200, load_json("b64_two.json"), ImageRequest(prompt="mountains", model=FLUX, n=2))

    assert len(resp.data) == 2
    assert resp.data[0].extension() == "jpeg"
    assert resp.created == 1718000000
    assert resp.usage is None


def test_end_to_end_url_request_gets_a_data_url():
    """response_format='url' answers with a data: URL holding the same JPEG."""
    engine = _engine()

    resp = engine.image_generation(prompt="mountains", model=f"nscale/{FLUX}", response_format="url", api_key=KEY)

    assert (resp.data[0].url or "").startswith("data:image/jpeg;base64,/9j/")
    assert resp.data[0].bytes()[:3] == b"\xff\xd8\xff"
    assert resp.cost is None


@pytest.mark.parametrize(
    ("status", "name", "cls", "fragment"),
    [
        (400, "error_400.json", BadRequestError, "Invalid size"),
        (401, "error_401.json", AuthenticationError, "Invalid service token"),
        (403, "error_403.json", PermissionDeniedError, "Insufficient permissions"),
        (404, "error_404.json", NotFoundError, "not found or unavailable"),
        (429, "error_429.json", RateLimitError, "Insufficient credit"),
        (500, "error_500.json", InternalServerError, "Internal server error"),
        (503, "error_503.json", ServiceUnavailableError, "temporarily unavailable"),
    ],
)
def test_parse_response_maps_each_status(status: int, name: str, cls: type[Exception], fragment: str):
    """Each documented status becomes its pixmux class, with Nscale's message and code."""
    body = load_json(name)

    with pytest.raises(cls) as caught:
        _parse(status, body)

    assert fragment in str(caught.value)
    assert caught.value.code == body["error"]["code"]  # type: ignore[attr-defined]


def test_secrets_never_appear_in_errors_or_reprs():
    """The service token shows in no error, no deployment repr and no response."""
    engine = _engine(load_json("error_401.json"), status=401)
    with pytest.raises(AuthenticationError) as caught:
        engine.image_generation(prompt="mountains", model=f"nscale/{FLUX}", api_key=KEY)
    assert KEY not in str(caught.value) + repr(caught.value)
    assert KEY not in repr(Deployment(provider="nscale", model=FLUX, api_key=KEY))

    resp = _engine().image_generation(prompt="mountains", model=f"nscale/{FLUX}", api_key=KEY)
    assert KEY not in resp.to_json() + repr(resp) + repr(resp.metadata)


async def test_async_call_sends_the_same_request():
    """The async path sends the same body."""
    engine = _engine()

    await engine.aimage_generation(prompt="mountains", model=f"nscale/{FLUX}", size="512x512", api_key=KEY)

    assert json.loads(engine.requests[0].content) == {"model": FLUX, "prompt": "mountains", "size": "512x512"}
