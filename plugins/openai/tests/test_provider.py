"""The OpenAI provider's hooks, called directly with plain values."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pixmux_openai.provider as provider
import pytest
from pixmux import (
    APIResponseValidationError,
    AuthenticationError,
    ContentPolicyViolationError,
    Deployment,
    ImageRequest,
    NotFoundError,
    PermissionDeniedError,
    UnsupportedParamsError,
)
from pixmux.testing import TINY_PNG_B64, check_plugin, load_json
from pixmux_openai.provider import CATALOGUE, build_request, model_catalogue, parse_response, validate_params

GPT_MODELS = ["gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5", "chatgpt-image-latest"]
ALL_GPT = [*GPT_MODELS, "gpt-image-2"]


def validate(model: str, **fields: Any) -> None:
    """Run validate_params for ``model`` with OpenAI fields and provider params mixed as a user passes them."""
    openai = {k: fields.pop(k) for k in list(fields) if k in ImageRequest.OPENAI_PARAMS}
    prompt = fields.pop("prompt", "a watercolor fox")
    request = ImageRequest(prompt=prompt, model=model, params=fields, **openai)
    validate_params(request=request, model=CATALOGUE.lookup(model))


def refused(model: str, **fields: Any) -> UnsupportedParamsError:
    """The error validate_params raises for these fields."""
    with pytest.raises(UnsupportedParamsError) as caught:
        validate(model, **fields)
    return caught.value


def built(model: str, deployment: Deployment | None = None, **fields: Any) -> httpx.Request:
    """build_request's request for ``model`` (with a key, at the default endpoint unless given)."""
    openai = {k: fields.pop(k) for k in list(fields) if k in ImageRequest.OPENAI_PARAMS}
    request = ImageRequest(prompt="a watercolor fox", model=model, params=fields, **openai)
    deployment = deployment or Deployment(provider="openai", model=model, api_key="sk-test")
    return build_request(request=request, deployment=deployment, model=CATALOGUE.lookup(model))


def sent(http_request: httpx.Request) -> dict[str, Any]:
    """The JSON body of a built request."""
    return dict(json.loads(http_request.content))


def reply(status: int, body: Any, model: str = "gpt-image-1", headers: dict[str, str] | None = None) -> Any:
    """parse_response for a response with this status and JSON body."""
    response = httpx.Response(
        status,
        json=body,
        headers=headers,
        request=httpx.Request("POST", "https://api.openai.com/v1/images/generations"),
    )
    return parse_response(response=response, model=CATALOGUE.lookup(model))


# --------------------------------------------------------------------------- catalogue


def test_model_catalogue_lists_every_openai_model() -> None:
    """The catalogue names the provider, its env variables and every model of the spec."""
    catalogue = model_catalogue()

    assert catalogue.provider == "openai"
    assert {"gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5", "gpt-image-2", "dall-e-2", "dall-e-3"} <= set(
        catalogue.models
    )
    assert catalogue.env["api_key"] == ("OPENAI_API_KEY",)
    assert catalogue.env["api_base"][0] == "OPENAI_BASE_URL"
    assert catalogue.default_api_base == "https://api.openai.com/v1"


def test_model_catalogue_unknown_name_is_lenient() -> None:
    """A name the catalogue does not list is an unknown model with nothing checked."""
    info = CATALOGUE.lookup("my-sd-model")

    assert not info.known
    assert info.sizes is None
    assert info.styles is None


def test_plugin_passes_the_contract_check() -> None:
    """pixmux.testing.check_plugin finds no problem with the OpenAI plugin."""
    assert check_plugin(provider, name="openai") == []


# --------------------------------------------------------------------------- validate_params: GPT image


@pytest.mark.parametrize("model", GPT_MODELS)
@pytest.mark.parametrize("size", ["auto", "1024x1024", "1536x1024", "1024x1536"])
def test_validate_gpt_image_accepts_its_sizes(model: str, size: str) -> None:
    """GPT image models accept auto and their three sizes."""
    validate(model, size=size)


@pytest.mark.parametrize("model", GPT_MODELS)
@pytest.mark.parametrize("size", ["256x256", "512x512", "1792x1024", "1024x1792", "2048x2048"])
def test_validate_gpt_image_refuses_other_sizes(model: str, size: str) -> None:
    """Any other size is refused, naming what is accepted."""
    error = refused(model, size=size)

    assert error.param == "size"
    assert "1024x1536, 1536x1024, auto" in str(error)


@pytest.mark.parametrize("model", ALL_GPT)
@pytest.mark.parametrize("quality", ["auto", "low", "medium", "high"])
def test_validate_gpt_image_accepts_its_qualities(model: str, quality: str) -> None:
    """GPT image qualities are auto, low, medium and high."""
    validate(model, quality=quality)


@pytest.mark.parametrize("model", ALL_GPT)
@pytest.mark.parametrize("quality", ["hd", "standard", "ultra"])
def test_validate_gpt_image_refuses_dalle_qualities(model: str, quality: str) -> None:
    """DALL-E's qualities are refused for GPT image models."""
    assert refused(model, quality=quality).param == "quality"


@pytest.mark.parametrize("model", ALL_GPT)
def test_validate_gpt_image_n_from_1_to_10(model: str) -> None:
    """``n`` goes from 1 to 10."""
    validate(model, n=1)
    validate(model, n=10)
    assert refused(model, n=11).param == "n"
    assert refused(model, n=0).param == "n"


@pytest.mark.parametrize("model", ALL_GPT)
@pytest.mark.parametrize("style", ["vivid", "natural"])
def test_validate_gpt_image_refuses_style(model: str, style: str) -> None:
    """``style`` is DALL-E 3's alone."""
    error = refused(model, style=style)

    assert error.param == "style"
    assert "no such option" in str(error)


@pytest.mark.parametrize("model", ALL_GPT)
def test_validate_gpt_image_response_format(model: str) -> None:
    """GPT image models always answer base64: ``b64_json`` is accepted (and not sent), ``url`` refused."""
    validate(model, response_format="b64_json")
    assert refused(model, response_format="url").param == "response_format"


@pytest.mark.parametrize("model", ALL_GPT)
def test_validate_gpt_image_options(model: str) -> None:
    """background, moderation, output_format and output_compression take their documented values."""
    validate(model, background="opaque", moderation="low", output_format="jpeg", output_compression=80)
    validate(model, background="auto", moderation="auto", output_format="webp", output_compression=0)
    validate(model, output_format="png")
    assert refused(model, background="blue").param == "background"
    assert refused(model, moderation="high").param == "moderation"
    assert refused(model, output_format="gif").param == "output_format"
    assert refused(model, output_format="jpeg", output_compression=101).param == "output_compression"
    assert refused(model, output_format="jpeg", output_compression=-1).param == "output_compression"
    assert refused(model, output_format="webp", output_compression="80").param == "output_compression"


@pytest.mark.parametrize("model", ALL_GPT)
def test_validate_gpt_image_compression_needs_jpeg_or_webp(model: str) -> None:
    """output_compression with png (or no format, which means png) is refused."""
    assert refused(model, output_compression=50).param == "output_compression"
    assert refused(model, output_format="png", output_compression=50).param == "output_compression"


@pytest.mark.parametrize("model", GPT_MODELS)
def test_validate_transparent_background_needs_png_or_webp(model: str) -> None:
    """A transparent background works with png and webp, not jpeg."""
    validate(model, background="transparent")
    validate(model, background="transparent", output_format="webp")
    error = refused(model, background="transparent", output_format="jpeg")

    assert error.param == "background"
    assert "'jpeg'" in str(error)


def test_validate_gpt_image_2_refuses_transparent_background() -> None:
    """gpt-image-2 has no transparent background."""
    error = refused("gpt-image-2", background="transparent")

    assert error.param == "background"
    assert "gpt-image-2" in str(error)


@pytest.mark.parametrize("model", ALL_GPT)
def test_validate_gpt_image_refuses_unknown_params(model: str) -> None:
    """A parameter no GPT image model takes is refused by name."""
    error = refused(model, negative_prompt="blur")

    assert error.param == "negative_prompt"


@pytest.mark.parametrize("model", ALL_GPT)
def test_validate_gpt_image_prompt_up_to_32000(model: str) -> None:
    """GPT image prompts may be 32000 characters, not one more."""
    validate(model, prompt="x" * 32000)
    error = refused(model, prompt="x" * 32001)

    assert error.param == "prompt"
    assert "32000" in str(error)


@pytest.mark.parametrize("size", ["auto", "1024x1024", "2048x1152", "3840x2160", "2160x3840", "1536x512", "512x1536"])
def test_validate_gpt_image_2_accepts_custom_sizes(size: str) -> None:
    """gpt-image-2 takes any WxH in multiples of 16, aspect 1:3 to 3:1, up to 3840x2160."""
    validate("gpt-image-2", size=size)


@pytest.mark.parametrize(
    ("size", "why"),
    [
        ("1000x1000", "multiples of 16"),
        ("1024x1000", "multiples of 16"),
        ("1600x512", "aspect ratio"),
        ("512x1600", "aspect ratio"),
        ("4096x2304", "3840x2160"),
        ("3840x3840", "3840x2160"),
        ("big", "WIDTHxHEIGHT"),
        ("0x1024", "WIDTHxHEIGHT"),
    ],
)
def test_validate_gpt_image_2_refuses_bad_custom_sizes(size: str, why: str) -> None:
    """Custom sizes off the rules are refused, saying which rule."""
    error = refused("gpt-image-2", size=size)

    assert error.param == "size"
    assert why in str(error)


# --------------------------------------------------------------------------- validate_params: DALL-E


@pytest.mark.parametrize("size", ["1024x1024", "1792x1024", "1024x1792"])
def test_validate_dalle3_accepts_its_sizes(size: str) -> None:
    """DALL-E 3 takes its three sizes."""
    validate("dall-e-3", size=size, quality="hd", style="natural", response_format="url")


@pytest.mark.parametrize("size", ["256x256", "512x512", "1536x1024", "auto"])
def test_validate_dalle3_refuses_other_sizes(size: str) -> None:
    """DALL-E 3 refuses DALL-E 2's and GPT image's sizes."""
    assert refused("dall-e-3", size=size).param == "size"


def test_validate_dalle3_rules() -> None:
    """DALL-E 3: one image, standard or hd, vivid or natural, 4000-character prompts, no GPT options."""
    validate("dall-e-3", quality="standard", style="vivid", response_format="b64_json", n=1, prompt="x" * 4000)
    assert refused("dall-e-3", n=2).param == "n"
    assert refused("dall-e-3", quality="high").param == "quality"
    assert refused("dall-e-3", style="photographic").param == "style"
    assert refused("dall-e-3", response_format="png").param == "response_format"
    assert refused("dall-e-3", prompt="x" * 4001).param == "prompt"
    assert refused("dall-e-3", background="opaque").param == "background"


@pytest.mark.parametrize("size", ["256x256", "512x512", "1024x1024"])
def test_validate_dalle2_accepts_its_sizes(size: str) -> None:
    """DALL-E 2 takes 256, 512 and 1024 squares."""
    validate("dall-e-2", size=size, n=10, quality="standard", response_format="b64_json")


def test_validate_dalle2_rules() -> None:
    """DALL-E 2: up to 10 images, standard quality only, no style, 1000-character prompts."""
    assert refused("dall-e-2", size="1792x1024").param == "size"
    assert refused("dall-e-2", n=11).param == "n"
    assert refused("dall-e-2", quality="hd").param == "quality"
    assert refused("dall-e-2", style="vivid").param == "style"
    assert refused("dall-e-2", prompt="x" * 1001).param == "prompt"
    assert refused("dall-e-2", output_format="png").param == "output_format"


# --------------------------------------------------------------------------- validate_params: compatible servers


def test_validate_unknown_model_forwards_anything() -> None:
    """An ``openai/<name>`` model the catalogue does not know gets no invented rules."""
    validate(
        "my-sd-model",
        size="768x768",
        quality="hd",
        style="anime",
        response_format="url",
        n=25,
        negative_prompt="blur",
        steps=30,
    )


def test_validate_unknown_model_still_needs_a_prompt() -> None:
    """The rules that hold for every model still hold: a prompt is required."""
    assert refused("my-sd-model", prompt="").param == "prompt"


# --------------------------------------------------------------------------- build_request


def test_build_request_posts_to_images_generations_with_a_bearer_key() -> None:
    """The request is a POST to OpenAI's endpoint with the key as a bearer token."""
    http_request = built("gpt-image-1")

    assert http_request.method == "POST"
    assert str(http_request.url) == "https://api.openai.com/v1/images/generations"
    assert http_request.headers["Authorization"] == "Bearer sk-test"
    assert http_request.headers["Content-Type"] == "application/json"
    assert sent(http_request) == {"model": "gpt-image-1", "prompt": "a watercolor fox"}


def test_build_request_gpt_image_never_sends_response_format_or_style() -> None:
    """GPT image models reject response_format: it is left out of the body even when set."""
    body = sent(
        built(
            "gpt-image-1",
            response_format="b64_json",
            style="vivid",
            n=2,
            size="1024x1536",
            quality="medium",
            user="u-1",
            background="opaque",
            output_format="webp",
            output_compression=80,
            moderation="low",
        )
    )

    assert "response_format" not in body
    assert "style" not in body
    assert body == {
        "model": "gpt-image-1",
        "prompt": "a watercolor fox",
        "n": 2,
        "size": "1024x1536",
        "quality": "medium",
        "user": "u-1",
        "background": "opaque",
        "output_format": "webp",
        "output_compression": 80,
        "moderation": "low",
    }


def test_build_request_dalle_sends_style_and_response_format() -> None:
    """DALL-E 3's body carries style and response_format."""
    body = sent(built("dall-e-3", size="1792x1024", quality="hd", style="natural", response_format="b64_json", n=1))

    assert body == {
        "model": "dall-e-3",
        "prompt": "a watercolor fox",
        "n": 1,
        "size": "1792x1024",
        "quality": "hd",
        "style": "natural",
        "response_format": "b64_json",
    }


def test_build_request_unknown_model_forwards_every_field() -> None:
    """An OpenAI-compatible server gets the caller's fields untouched, response_format and style included."""
    deployment = Deployment(provider="openai", model="my-sd-model", api_base="http://localhost:8000/v1/")

    http_request = built(
        "my-sd-model", deployment, response_format="url", style="anime", size="768x768", negative_prompt="blur"
    )

    assert str(http_request.url) == "http://localhost:8000/v1/images/generations"
    assert sent(http_request) == {
        "model": "my-sd-model",
        "prompt": "a watercolor fox",
        "response_format": "url",
        "style": "anime",
        "size": "768x768",
        "negative_prompt": "blur",
    }


def test_build_request_without_key_on_a_custom_base_sends_no_authorization() -> None:
    """A keyless local server gets no Authorization header at all."""
    deployment = Deployment(provider="openai", model="my-sd-model", api_base="http://127.0.0.1:9997/v1")

    assert "Authorization" not in built("my-sd-model", deployment).headers


def test_build_request_without_key_for_openai_is_an_authentication_error() -> None:
    """Calling api.openai.com with no key fails before sending, saying which variable to set."""
    deployment = Deployment(provider="openai", model="gpt-image-1")

    with pytest.raises(AuthenticationError, match="OPENAI_API_KEY") as caught:
        built("gpt-image-1", deployment)

    assert caught.value.response is None


def test_build_request_organization_header() -> None:
    """``organization`` is sent as OpenAI-Organization."""
    deployment = Deployment(provider="openai", model="gpt-image-1", api_key="sk-test", organization="org-123")

    assert built("gpt-image-1", deployment).headers["OpenAI-Organization"] == "org-123"


def test_build_request_body_model_is_the_deployment_model() -> None:
    """The body names the deployment's model (the prefix-free name)."""
    deployment = Deployment(provider="openai", model="gpt-image-1.5", api_key="sk-test")

    assert sent(built("gpt-image-1.5", deployment))["model"] == "gpt-image-1.5"


# --------------------------------------------------------------------------- parse_response


def test_parse_response_gpt_image_body() -> None:
    """A GPT image body gives its image, echo fields and usage."""
    resp = reply(200, load_json("gpt_image_b64.json"), headers={"x-request-id": "req_abc"})

    assert [image.b64_json for image in resp.data] == [TINY_PNG_B64]
    assert (resp.background, resp.output_format, resp.quality, resp.size) == ("opaque", "png", "high", "1024x1024")
    assert resp.usage is not None
    assert (resp.usage.input_tokens, resp.usage.output_tokens, resp.usage.total_tokens) == (50, 4160, 4210)
    assert resp.usage.input_tokens_details.image_tokens == 40
    assert resp.metadata["request_id"] == "req_abc"


def test_parse_response_output_token_details() -> None:
    """The newer output_tokens_details is read when present."""
    resp = reply(200, load_json("gpt_image_two.json"), model="gpt-image-1-mini")

    assert len(resp.data) == 2
    assert resp.usage is not None
    assert resp.usage.output_tokens_details is not None
    assert resp.usage.output_tokens_details.image_tokens == 544


def test_parse_response_dalle3_url_and_revised_prompt() -> None:
    """A DALL-E 3 body gives a URL and the revised prompt, and no usage."""
    resp = reply(200, load_json("dalle3_url.json"), model="dall-e-3")

    assert resp.data[0].url is not None
    assert resp.data[0].url.startswith("https://")
    assert resp.data[0].revised_prompt is not None
    assert resp.data[0].revised_prompt.startswith("A lighthouse")
    assert resp.usage is None


@pytest.mark.parametrize(
    "body",
    [{"data": [{"b64_json": TINY_PNG_B64}]}, {"created": "yesterday", "data": []}, {"created": 1, "data": "x"}, []],
)
def test_parse_response_malformed_body_is_a_typed_error(body: Any) -> None:
    """A 200 body that is not an ImagesResponse raises APIResponseValidationError naming where."""
    with pytest.raises(APIResponseValidationError) as caught:
        reply(200, body)

    assert caught.value.provider == "openai"


def test_parse_response_no_image_is_a_typed_error() -> None:
    """A 200 with an empty ``data`` is an error, never an empty result."""
    with pytest.raises(APIResponseValidationError, match="no image"):
        reply(200, {"created": 1, "data": []})


def test_parse_response_not_json_is_a_typed_error() -> None:
    """An HTML page with status 200 is APIResponseValidationError."""
    response = httpx.Response(200, text="<html>proxy error</html>")

    with pytest.raises(APIResponseValidationError, match="not JSON"):
        parse_response(response=response, model=CATALOGUE.lookup("gpt-image-1"))


def test_parse_response_content_policy_violation() -> None:
    """DALL-E's 400 content_policy_violation is ContentPolicyViolationError."""
    with pytest.raises(ContentPolicyViolationError) as caught:
        reply(400, load_json("error_content_policy.json"), model="dall-e-3")

    assert caught.value.status_code == 400
    assert caught.value.code == "content_policy_violation"
    assert "safety system" in str(caught.value)


def test_parse_response_moderation_blocked_keeps_details() -> None:
    """GPT image's moderation_blocked is ContentPolicyViolationError with the moderation details kept."""
    with pytest.raises(ContentPolicyViolationError) as caught:
        reply(400, load_json("error_moderation_blocked.json"))

    assert caught.value.code == "moderation_blocked"
    assert caught.value.details["moderation_details"] == {"moderation_stage": "input", "categories": ["sexual"]}


def test_parse_response_404_for_retired_dalle_says_it_was_shut_down() -> None:
    """A 404 for a DALL-E model says OpenAI shut it down and what to use instead."""
    with pytest.raises(NotFoundError) as caught:
        reply(404, load_json("error_model_not_found.json"), model="dall-e-3")

    message = str(caught.value)
    assert "does not exist" in message
    assert "shut down" in message
    assert "gpt-image-1" in message
    assert caught.value.param == "model"
    assert caught.value.code == "model_not_found"


def test_parse_response_404_for_a_current_model_has_no_retirement_note() -> None:
    """A 404 for a model that was not retired does not claim it was."""
    body = {"error": {"message": "The model `gpt-image-9` does not exist.", "code": "model_not_found"}}

    with pytest.raises(NotFoundError) as caught:
        reply(404, body, model="gpt-image-1")

    assert "shut down" not in str(caught.value)


def test_parse_response_403_organization_not_verified() -> None:
    """The 403 for an unverified organization is PermissionDeniedError with OpenAI's explanation."""
    with pytest.raises(PermissionDeniedError, match="must be verified"):
        reply(403, load_json("error_org_verification.json"))
