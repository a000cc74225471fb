"""Tests of the Xinference provider: endpoint rules, the kwargs JSON string, output formats, FastAPI errors."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pixmux_xinference.provider as xinference
import pytest
from pixmux.exceptions import (
    APIResponseValidationError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    UnprocessableEntityError,
    UnsupportedParamsError,
)
from pixmux.testing import TINY_PNG_B64, check_plugin, json_response, load_json, make_engine
from pixmux.types import Deployment, ImageObject, ImageRequest, ImageResponse
from pixmux_openai.wire import as_data_urls

BASE = "http://gpu-box.internal:9997"
KEY = "sk-xinference-0123456789"


def _deployment(**overrides: Any) -> Deployment:
    fields: dict[str, Any] = {"provider": "xinference", "model": "sdxl-uid", "api_base": BASE}
    fields.update(overrides)
    return Deployment(**fields)


def _build(request: ImageRequest, deployment: Deployment | None = None) -> httpx.Request:
    return xinference.build_request(request=request, deployment=deployment or _deployment())


def _validate(request: ImageRequest, deployment: Deployment | None = None) -> None:
    xinference.validate_params(
        request=request, model=xinference.CATALOGUE.lookup(request.model), deployment=deployment or _deployment()
    )


def _engine(body: Any = None, status: int = 200, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
    payload = body if body is not None else load_json("b64_jpeg.json")
    return make_engine(xinference, handler=lambda r: json_response(status, payload, headers), **kwargs)


def _parse(status: int, body: Any, request: ImageRequest | None = None, **headers: str) -> ImageResponse:
    sent = httpx.Request("POST", f"{BASE}/v1/images/generations")
    response = httpx.Response(status, json=body, headers=headers, request=sent)
    request = request or ImageRequest(prompt="apple", model="sdxl-uid")
    return xinference.parse_response(response=response, request=request, model=xinference.CATALOGUE.lookup("sdxl-uid"))


def test_check_plugin_passes_the_contract():
    """The plugin meets pixmux's plugin contract when given an endpoint."""
    assert check_plugin(xinference, name="xinference", api_base=BASE) == []


def test_no_endpoint_is_a_clear_error_before_any_request():
    """With neither XINFERENCE_API_BASE nor api_base, the call fails naming both, and nothing is sent."""
    environ = {"XINFERENCE_API_KEY": KEY, "OPENAI_API_KEY": "sk-openai", "OPENAI_BASE_URL": "https://api.openai.com/v1"}
    engine = _engine(environ=environ)

    with pytest.raises(ConfigurationError, match="XINFERENCE_API_BASE") as caught:
        engine.image_generation(prompt="apple", model="xinference/sdxl-uid")

    assert engine.requests == []
    assert caught.value.param == "api_base"
    assert KEY not in str(caught.value)


def test_build_request_without_endpoint_refuses():
    """build_request never falls back to some other host."""
    with pytest.raises(ConfigurationError, match="no default endpoint"):
        _build(ImageRequest(prompt="apple", model="sdxl-uid"), _deployment(api_base=None, api_key=KEY))


def test_build_request_sends_each_field_as_xinference_expects():
    """OpenAI's fields at the top level, b64_json always, and every diffusion setting inside the kwargs JSON string."""
    request = ImageRequest(
        prompt="an apple on a wooden table",
        model="sdxl-uid",
        n=2,
        size="1024x768",
        response_format="url",
        user="u-7",
        params={
            "num_inference_steps": 30,
            "guidance_scale": 6.5,
            "negative_prompt": "lowres",
            "seed": 7,
            "sampler_name": "DPM++ 2M Karras",
        },
    )

    http = _build(request, _deployment(api_key=KEY))

    body = json.loads(http.content)
    assert http.method == "POST"
    assert f"{BASE}/v1/images/generations" == str(http.url)
    assert f"Bearer {KEY}" == http.headers["authorization"]
    assert {"model", "prompt", "n", "size", "user", "response_format", "kwargs"} == set(body)
    assert (
        body["model"],
        body["prompt"],
        body["n"],
        body["size"],
        body["user"],
    ) == ("sdxl-uid", "an apple on a wooden table", 2, "1024x768", "u-7")
    assert body["response_format"] == "b64_json"
    assert isinstance(body["kwargs"], str)
    assert json.loads(body["kwargs"]) == {
        "num_inference_steps": 30,
        "guidance_scale": 6.5,
        "negative_prompt": "lowres",
        "seed": 7,
        "sampler_name": "DPM++ 2M Karras",
    }


def test_build_request_leaves_kwargs_out_when_there_are_no_settings():
    """A plain request has no kwargs field and no Authorization header without a key."""
    http = _build(ImageRequest(prompt="apple", model="sdxl-uid"))

    assert json.loads(http.content) == {"model": "sdxl-uid", "prompt": "apple", "response_format": "b64_json"}
    assert "authorization" not in http.headers


def test_build_request_resolves_aliases_and_merges_given_kwargs():
    """steps and cfg_scale go under diffusers' names; a given kwargs (text or dict) is merged, named ones win."""
    request = ImageRequest(
        prompt="apple",
        model="sdxl-uid",
        params={"steps": 12, "cfg_scale": 4, "kwargs": '{"max_sequence_length": 256, "num_inference_steps": 50}'},
    )

    kwargs = json.loads(json.loads(_build(request).content)["kwargs"])

    assert kwargs == {"num_inference_steps": 12, "guidance_scale": 4, "max_sequence_length": 256}


@pytest.mark.parametrize("api_base", [BASE, BASE + "/", BASE + "/v1", BASE + "/v1/"])
def test_build_request_accepts_the_base_with_or_without_v1(api_base: str):
    """http://host:9997 and http://host:9997/v1 reach the same route."""
    http = _build(ImageRequest(prompt="apple", model="sdxl-uid"), _deployment(api_base=api_base))

    assert f"{BASE}/v1/images/generations" == str(http.url)


def test_environment_supplies_endpoint_and_key():
    """XINFERENCE_API_BASE and XINFERENCE_API_KEY configure the call."""
    engine = _engine(environ={"XINFERENCE_API_BASE": "http://10.0.0.5:9997", "XINFERENCE_API_KEY": KEY})

    engine.image_generation(prompt="apple", model="xinference/sdxl-uid")

    sent = engine.requests[0]
    assert str(sent.url) == "http://10.0.0.5:9997/v1/images/generations"
    assert f"Bearer {KEY}" == sent.headers["authorization"]


def test_api_base_argument_overrides_the_environment():
    """api_base= wins over XINFERENCE_API_BASE."""
    engine = _engine(environ={"XINFERENCE_API_BASE": "http://10.0.0.5:9997"})

    engine.image_generation(prompt="apple", model="xinference/sdxl-uid", api_base="http://127.0.0.1:9998")

    assert engine.requests[0].url.host == "127.0.0.1"


def test_keyword_arguments_reach_the_kwargs_string_end_to_end():
    """Diffusion settings given to image_generation arrive in kwargs; none leaks to the top level."""
    engine = _engine()

    engine.image_generation(
        prompt="apple", model="xinference/FLUX.1-schnell", api_base=BASE, num_inference_steps=4, seed=-1, n=1
    )

    body = json.loads(engine.requests[0].content)
    assert "num_inference_steps" not in body
    assert json.loads(body["kwargs"]) == {"num_inference_steps": 4, "seed": -1}


@pytest.mark.parametrize(
    ("fields", "params", "param"),
    [
        ({"quality": "hd"}, {}, "quality"),
        ({"style": "vivid"}, {}, "style"),
        ({"size": "large"}, {}, "size"),
        ({"response_format": "png"}, {}, "response_format"),
        ({}, {"num_inference_steps": 0}, "num_inference_steps"),
        ({}, {"steps": 2.5}, "steps"),
        ({}, {"guidance_scale": "high"}, "guidance_scale"),
        ({}, {"seed": -2}, "seed"),
        ({}, {"negative_prompt": ["blurry"]}, "negative_prompt"),
        ({}, {"width": 512}, "width"),
        ({}, {"kwargs": "{not json"}, "kwargs"),
        ({}, {"kwargs": ["steps"]}, "kwargs"),
        ({}, {"kwargs": {"seed": "seven"}}, "kwargs"),
        ({}, {"steps": 10, "num_inference_steps": 20}, "steps"),
        ({}, {"scheduler": object()}, "scheduler"),
    ],
)
def test_validate_params_refuses_bad_values_by_name(fields: dict[str, Any], params: dict[str, Any], param: str):
    """Each bad value is an UnsupportedParamsError naming the parameter the caller gave."""
    request = ImageRequest(prompt="apple", model="sdxl-uid", params=params, **fields)

    with pytest.raises(UnsupportedParamsError) as caught:
        _validate(request)

    assert param == caught.value.param


def test_validate_params_accepts_xinference_sizes_and_any_pipeline_keyword():
    """1024*1024 is a size Xinference reads; keywords it does not know are left to the pipeline."""
    request = ImageRequest(
        prompt="apple", model="any-uid", size="1024*1024", params={"true_cfg_scale": 4.0, "max_sequence_length": 512}
    )

    assert _validate(request) is None


def test_drop_params_drops_quality_and_sends_the_rest():
    """With drop_params, an OpenAI quality is dropped (Xinference has none) and the call goes through."""
    engine = _engine()

    with pytest.warns(UserWarning, match="quality"):
        engine.image_generation(
            prompt="apple", model="xinference/sdxl-uid", quality="hd", drop_params=True, api_base=BASE
        )

    assert "quality" not in json.loads(engine.requests[0].content)


def test_parse_response_returns_b64_by_default():
    """The default answer keeps the base64 Xinference sent (a JPEG, sniffed from its bytes)."""
    resp = _parse(200, load_json("b64_jpeg.json"))

    assert resp.data[0].b64_json is not None
    assert resp.data[0].url is None
    assert resp.data[0].extension() == "jpeg"
    assert resp.created == 1697536913


def test_parse_response_gives_data_urls_when_url_was_asked():
    """response_format='url' gets data: URLs with the right MIME type for each image."""
    request = ImageRequest(prompt="apple", model="sdxl-uid", response_format="url", n=2)

    resp = _parse(200, load_json("b64_two.json"), request)

    urls = [image.url or "" for image in resp.data]
    assert urls[0].startswith("data:image/jpeg;base64,/9j/")
    assert urls[1] == f"data:image/png;base64,{TINY_PNG_B64}"
    assert all(image.b64_json is None for image in resp.data)
    assert resp.data[1].bytes().startswith(b"\x89PNG")


def test_end_to_end_url_request_still_asks_for_b64():
    """A url request sends b64_json and answers with a data: URL the caller can save."""
    engine = _engine()

    resp = engine.image_generation(prompt="apple", model="xinference/sdxl-uid", response_format="url", api_base=BASE)

    assert json.loads(engine.requests[0].content)["response_format"] == "b64_json"
    assert (resp.data[0].url or "").startswith("data:image/jpeg;base64,")
    assert "url" in resp.to_dict()["data"][0]


def test_parse_response_refuses_a_server_file_path():
    """A url that is a path on the server's disk is reported, not handed over as if it were an image."""
    with pytest.raises(APIResponseValidationError, match="file path"):
        _parse(200, load_json("url_path.json"))


def test_as_data_urls_refuses_invalid_base64():
    """Corrupt base64 is an APIResponseValidationError, not a broken data URL."""
    response = ImageResponse(created=1, data=(ImageObject(b64_json="***"),))

    with pytest.raises(APIResponseValidationError, match="base64"):
        as_data_urls(response, provider="xinference", model="sdxl-uid")


@pytest.mark.parametrize(
    ("status", "name", "cls", "fragment"),
    [
        (400, "error_400_model.json", BadRequestError, "Model not found in the model list, uid: sdxl-uid"),
        (400, "error_400_kwargs.json", BadRequestError, "Expecting value"),
        (401, "error_401.json", AuthenticationError, "Not authenticated"),
        (403, "error_403.json", PermissionDeniedError, "models:read"),
        (404, "error_404.json", NotFoundError, "Model not found"),
        (409, "error_409.json", BadRequestError, "has been cancelled"),
        (422, "error_422.json", UnprocessableEntityError, "Field required"),
        (429, "error_429.json", RateLimitError, "Rate limit reached"),
        (500, "error_500.json", InternalServerError, "CUDA out of memory"),
        (503, "error_503.json", ServiceUnavailableError, "still loading"),
    ],
)
def test_parse_response_maps_each_status(status: int, name: str, cls: type[Exception], fragment: str):
    """Each FastAPI {"detail"} error becomes its pixmux class, with Xinference's own message."""
    with pytest.raises(cls) as caught:
        _parse(status, load_json(name))

    assert fragment in str(caught.value)
    assert caught.value.status_code == status  # type: ignore[attr-defined]


def test_service_unavailable_reads_retry_after():
    """A model still loading says Retry-After: 30; the error carries it."""
    with pytest.raises(ServiceUnavailableError) as caught:
        _parse(503, load_json("error_503.json"), **{"Retry-After": "30"})

    assert caught.value.retry_after == 30.0


def test_secrets_never_appear_in_errors_or_reprs():
    """The key shows in no error, no deployment repr and no response."""
    engine = _engine(load_json("error_401.json"), status=401)
    with pytest.raises(AuthenticationError) as caught:
        engine.image_generation(prompt="apple", model="xinference/sdxl-uid", api_base=BASE, api_key=KEY)
    assert KEY not in str(caught.value) + repr(caught.value)
    assert KEY not in repr(_deployment(api_key=KEY))

    resp = _engine().image_generation(prompt="apple", model="xinference/sdxl-uid", api_base=BASE, api_key=KEY)
    assert KEY not in resp.to_json() + repr(resp) + repr(resp.metadata)


async def test_async_call_sends_the_same_request():
    """The async path builds the same body and parses the same answer."""
    engine = _engine()

    resp = await engine.aimage_generation(prompt="apple", model="xinference/sdxl-uid", api_base=BASE, seed=3)

    assert json.loads(json.loads(engine.requests[0].content)["kwargs"]) == {"seed": 3}
    assert resp.data[0].b64_json is not None
    assert resp.cost is None
