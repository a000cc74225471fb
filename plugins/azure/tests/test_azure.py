"""Tests of the Azure OpenAI provider: URL routes, auth, base_model, content filters, errors, secrets."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pixmux_azure.provider as azure
import pytest
from pixmux.catalogue import ModelInfo
from pixmux.exceptions import (
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ContentPolicyViolationError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    UnsupportedParamsError,
)
from pixmux.testing import check_plugin, json_response, load_json, make_engine
from pixmux.types import Auth, Deployment, ImageRequest

BASE = "https://contoso-images.openai.azure.com"
KEY = "azure-key-0123456789abcdef"


def _jwt(exp: float) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    claims = {"aud": "https://cognitiveservices.azure.com", "exp": exp}
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2ln"


def _deployment(**overrides: Any) -> Deployment:
    fields: dict[str, Any] = {"provider": "azure", "model": "my-images", "api_base": BASE, "api_key": KEY}
    fields.update(overrides)
    return Deployment(**fields)


def _build(request: ImageRequest, deployment: Deployment, auth: Auth | None = None) -> httpx.Request:
    return azure.build_request(
        request=request, deployment=deployment, model=azure.CATALOGUE.lookup(deployment.model), auth=auth
    )


def _respond(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    sent = httpx.Request("POST", f"{BASE}/openai/deployments/img/images/generations")
    return httpx.Response(status, json=body, headers=headers, request=sent)


def _parse(response: httpx.Response, **settings: Any) -> Any:
    deployment = _deployment(model="img", settings=settings)
    request = ImageRequest(prompt="otter", model="img")
    return azure.parse_response(
        response=response, request=request, deployment=deployment, model=azure.CATALOGUE.lookup("img")
    )


def _engine(body: Any = None, status: int = 200, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
    payload = body if body is not None else load_json("gpt_image_b64.json")
    return make_engine(azure, handler=lambda r: json_response(status, payload, headers), **kwargs)


def test_check_plugin_passes_the_contract():
    """The plugin meets pixmux's plugin contract when given an endpoint."""
    assert check_plugin(azure, name="azure", api_base=BASE) == []


def test_build_request_uses_the_deployment_route_and_api_key_header():
    """The default route names the deployment in the path, sends api-version and an api-key header only."""
    http = _build(ImageRequest(prompt="otter", model="my-images"), _deployment())

    assert http.method == "POST"
    assert http.url.host == "contoso-images.openai.azure.com"
    assert http.url.path == "/openai/deployments/my-images/images/generations"
    assert http.url.params["api-version"] == azure.DEFAULT_API_VERSION
    assert http.headers["api-key"] == KEY
    assert "authorization" not in http.headers
    assert json.loads(http.content) == {"model": "my-images", "prompt": "otter"}


def test_build_request_sends_each_dalle_parameter_field_by_field():
    """With base_model dall-e-3, every OpenAI parameter goes into the body under its own name."""
    request = ImageRequest(
        prompt="otter",
        model="dalle",
        n=1,
        size="1792x1024",
        quality="hd",
        style="natural",
        response_format="b64_json",
        user="user-42",
    )

    http = _build(request, _deployment(model="dalle", settings={"base_model": "dall-e-3"}, api_version="2024-10-21"))

    assert http.url.params["api-version"] == "2024-10-21"
    assert json.loads(http.content) == {
        "model": "dalle",
        "prompt": "otter",
        "n": 1,
        "size": "1792x1024",
        "quality": "hd",
        "style": "natural",
        "response_format": "b64_json",
        "user": "user-42",
    }


def test_build_request_leaves_response_format_and_style_out_for_gpt_image():
    """GPT image deployments always answer base64: response_format is never sent; its own options are."""
    request = ImageRequest(
        prompt="otter",
        model="img",
        n=3,
        size="1536x1024",
        quality="medium",
        response_format="b64_json",
        params={"output_format": "jpeg", "output_compression": 80, "background": "opaque"},
    )

    http = _build(request, _deployment(model="img", settings={"base_model": "gpt-image-1"}))

    assert json.loads(http.content) == {
        "model": "img",
        "prompt": "otter",
        "n": 3,
        "size": "1536x1024",
        "quality": "medium",
        "output_format": "jpeg",
        "output_compression": 80,
        "background": "opaque",
    }


@pytest.mark.parametrize(
    ("api_version", "api_base", "path", "query"),
    [
        ("v1", BASE, "/openai/v1/images/generations", {}),
        ("latest", BASE + "/", "/openai/v1/images/generations", {}),
        ("preview", BASE, "/openai/v1/images/generations", {"api-version": "preview"}),
        (None, BASE + "/openai/v1/", "/openai/v1/images/generations", {}),
        (
            None,
            BASE + "/openai",
            "/openai/deployments/my-images/images/generations",
            {"api-version": "2025-04-01-preview"},
        ),
        ("2024-10-21", BASE + "/", "/openai/deployments/my-images/images/generations", {"api-version": "2024-10-21"}),
    ],
)
def test_build_request_chooses_the_route(api_version: str | None, api_base: str, path: str, query: dict[str, str]):
    """api_version v1/latest/preview or a /openai/v1 base selects the v1 route; anything else the deployment route."""
    http = _build(
        ImageRequest(prompt="otter", model="my-images"), _deployment(api_base=api_base, api_version=api_version)
    )

    assert path == http.url.path
    assert query == dict(http.url.params)
    assert json.loads(http.content)["model"] == "my-images"


def test_build_request_quotes_the_deployment_name():
    """A deployment name with unusual characters cannot change the URL's path."""
    http = _build(ImageRequest(prompt="otter", model="a b/c"), _deployment(model="a b/c"))

    assert http.url.raw_path.decode().split("?")[0] == "/openai/deployments/a%20b%2Fc/images/generations"


def test_build_request_needs_an_endpoint():
    """Azure has no public default host: without api_base the error says how to set one."""
    with pytest.raises(ConfigurationError, match="AZURE_API_BASE") as caught:
        _build(ImageRequest(prompt="otter", model="my-images"), _deployment(api_base=None))

    assert caught.value.param == "api_base"


def test_build_request_needs_credentials():
    """With neither a key nor an Entra token, the error names every way to give one."""
    with pytest.raises(AuthenticationError, match=r"AZURE_API_KEY.*azure_ad_token_provider"):
        _build(ImageRequest(prompt="otter", model="my-images"), _deployment(api_key=None))


def test_build_request_prefers_an_entra_token_to_the_key():
    """A fixed azure_ad_token is sent as a bearer token, and the api-key header is left out."""
    http = _build(ImageRequest(prompt="otter", model="my-images"), _deployment(settings={"azure_ad_token": "tok-1"}))

    assert http.headers["authorization"] == "Bearer tok-1"
    assert "api-key" not in http.headers


def test_build_request_uses_the_resolved_auth():
    """What resolve_auth returned becomes the bearer token."""
    http = _build(ImageRequest(prompt="otter", model="my-images"), _deployment(), Auth(value="tok-2", expires_at=None))

    assert http.headers["authorization"] == "Bearer tok-2"
    assert "api-key" not in http.headers


def test_catalogue_never_guesses_the_model_from_the_deployment_name():
    """A deployment named like a model is still validated leniently: its name says nothing about its model."""
    info = azure.CATALOGUE.lookup("dall-e-3")

    assert not info.known
    assert info.pricing is None
    assert azure.CATALOGUE.models["dall-e-3"].known


def test_validate_params_is_lenient_without_base_model():
    """Without base_model any value is forwarded; Azure itself will judge it."""
    engine = _engine()
    engine.image_generation(
        prompt="otter",
        model="azure/dall-e-3",
        n=4,
        quality="ultra",
        moderation="low",
        api_base=BASE,
        api_key=KEY,
    )

    body = json.loads(engine.requests[0].content)
    assert (body["n"], body["quality"], body["moderation"]) == (4, "ultra", "low")


def test_validate_params_checks_against_base_model():
    """With base_model dall-e-3, n=2 is refused before any request, naming the parameter."""
    engine = _engine()

    with pytest.raises(UnsupportedParamsError, match="n=2") as caught:
        engine.image_generation(
            prompt="otter", model="azure/my-images", n=2, base_model="dall-e-3", api_base=BASE, api_key=KEY
        )

    assert caught.value.param == "n"
    assert engine.requests == []


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"output_format": "webp"}, "output_format"),
        ({"background": "transparent", "output_format": "jpeg"}, "background"),
        ({"output_compression": 50}, "output_compression"),
        ({"moderation": "low"}, "moderation"),
    ],
)
def test_validate_params_applies_azure_gpt_image_rules(params: dict[str, Any], param: str):
    """GPT image options Azure does not take (webp, undocumented moderation) are refused by name."""
    request = ImageRequest(prompt="otter", model="img", params=params)
    deployment = _deployment(model="img", settings={"base_model": "gpt-image-1"})

    with pytest.raises(UnsupportedParamsError) as caught:
        azure.validate_params(request=request, model=azure.CATALOGUE.lookup("img"), deployment=deployment)

    assert param == caught.value.param


def test_validate_params_lower_cases_output_format():
    """Azure's docs write PNG/JPEG; the request is sent lower-case."""
    request = ImageRequest(prompt="otter", model="img", params={"output_format": "JPEG"})
    deployment = _deployment(model="img", settings={"base_model": "gpt-image-1"})

    changed = azure.validate_params(request=request, model=azure.CATALOGUE.lookup("img"), deployment=deployment)

    assert changed is not None
    assert changed.params["output_format"] == "jpeg"


def test_validate_params_rejects_an_unknown_base_model():
    """A base_model the catalogue does not list is a configuration error naming the known ones."""
    request = ImageRequest(prompt="otter", model="img")

    with pytest.raises(ConfigurationError, match="gpt-image-1") as caught:
        azure.validate_params(
            request=request,
            model=azure.CATALOGUE.lookup("img"),
            deployment=_deployment(settings={"base_model": "sdxl"}),
        )

    assert caught.value.param == "base_model"


def test_drop_params_drops_what_the_base_model_refuses():
    """With drop_params, style is dropped for a GPT image deployment and the call goes through."""
    engine = _engine()

    with pytest.warns(UserWarning, match="style"):
        engine.image_generation(
            prompt="otter",
            model="azure/img",
            style="vivid",
            base_model="azure/gpt-image-1",
            drop_params=True,
            api_base=BASE,
            api_key=KEY,
        )

    assert "style" not in json.loads(engine.requests[0].content)


def test_environment_supplies_key_endpoint_and_version():
    """AZURE_API_KEY, AZURE_API_BASE and AZURE_API_VERSION configure the call; settings are never sent in the body."""
    environ = {"AZURE_API_KEY": KEY, "AZURE_API_BASE": BASE, "AZURE_API_VERSION": "2024-10-21"}
    engine = _engine(load_json("dalle3_url.json"), environ=environ)

    engine.image_generation(prompt="otter", model="azure/dalle", base_model="dall-e-3")

    sent = engine.requests[0]
    assert (sent.headers["api-key"], sent.url.params["api-version"]) == (KEY, "2024-10-21")
    assert "base_model" not in json.loads(sent.content)


def test_api_base_argument_overrides_the_environment():
    """api_base= wins over AZURE_API_BASE."""
    engine = _engine(environ={"AZURE_API_KEY": KEY, "AZURE_API_BASE": "https://other.openai.azure.com"})

    engine.image_generation(prompt="otter", model="azure/img", api_base="https://mine.cognitiveservices.azure.com/")

    assert engine.requests[0].url.host == "mine.cognitiveservices.azure.com"


def test_token_provider_is_called_and_cached_until_expiry():
    """A token provider is called once (its JWT expiry is an hour away) and its token sent as a bearer."""
    calls: list[int] = []
    token = _jwt(time.time() + 3600)

    def provider() -> str:
        calls.append(1)
        return token

    engine = _engine()
    for _ in range(2):
        engine.image_generation(prompt="otter", model="azure/img", azure_ad_token_provider=provider, api_base=BASE)

    assert len(calls) == 1
    assert f"Bearer {token}" == engine.requests[1].headers["authorization"]
    assert "api-key" not in engine.requests[1].headers


def test_token_provider_with_an_opaque_token_is_asked_every_call():
    """A token whose lifetime cannot be read is not cached: the provider (which caches itself) is asked each time."""
    calls: list[int] = []

    def provider() -> str:
        calls.append(1)
        return f"opaque-{len(calls)}"

    engine = _engine()
    for _ in range(2):
        engine.image_generation(prompt="otter", model="azure/img", azure_ad_token_provider=provider, api_base=BASE)

    assert len(calls) == 2
    assert engine.requests[1].headers["authorization"] == "Bearer opaque-2"


def test_resolve_auth_reads_an_access_token_object():
    """An azure-identity credential is asked for the Cognitive Services scope; its expiry is kept."""

    class AccessToken:
        def __init__(self, token: str, expires_on: int) -> None:
            self.token, self.expires_on = token, expires_on

    class Credential:
        scopes: list[str] = []

        def get_token(self, *scopes: str) -> AccessToken:
            self.scopes.extend(scopes)
            return AccessToken("cred-token", 2_000_000_000)

    credential = Credential()
    auth = azure.resolve_auth(deployment=_deployment(settings={"azure_credential": credential}))

    assert auth is not None
    assert (auth.value, auth.expires_at) == ("cred-token", 2_000_000_000.0)
    assert credential.scopes == [azure.ENTRA_SCOPE]


def test_resolve_auth_returns_none_for_a_key():
    """With only an api key nothing needs resolving."""
    assert azure.resolve_auth(deployment=_deployment()) is None


def test_resolve_auth_reports_a_failing_provider():
    """A token provider that raises becomes an AuthenticationError naming the provider and its failure."""

    def provider() -> str:
        raise RuntimeError("no managed identity endpoint")

    with pytest.raises(AuthenticationError, match="azure_ad_token_provider failed: RuntimeError: no managed identity"):
        azure.resolve_auth(deployment=_deployment(settings={"azure_ad_token_provider": provider}))


@pytest.mark.parametrize("returned", [None, "", 42])
def test_resolve_auth_refuses_a_non_token(returned: object):
    """A provider that returns no usable token is an AuthenticationError, not a bad header."""
    with pytest.raises(AuthenticationError, match="not a non-empty token"):
        azure.resolve_auth(deployment=_deployment(settings={"azure_ad_token_provider": lambda: returned}))


def test_resolve_auth_refuses_a_non_callable_provider():
    """A token string passed as the provider is a configuration error that points at azure_ad_token."""
    with pytest.raises(ConfigurationError, match="callable") as caught:
        azure.resolve_auth(deployment=_deployment(settings={"azure_ad_token_provider": "a-token"}))

    assert caught.value.param == "azure_ad_token_provider"


async def test_async_call_resolves_the_token_off_the_event_loop():
    """The async path calls the token provider too and sends the same request."""
    engine = _engine()

    resp = await engine.aimage_generation(
        prompt="otter", model="azure/img", azure_ad_token_provider=lambda: _jwt(time.time() + 3600), api_base=BASE
    )

    assert len(resp.data) == 2
    assert engine.requests[0].headers["authorization"].startswith("Bearer ")


def test_parse_response_reads_dalle3_and_keeps_filter_results():
    """A DALL-E 3 answer gives its URL and revised prompt; Azure's filter annotations ride in metadata."""
    engine = _engine(load_json("dalle3_url.json"))

    resp = engine.image_generation(
        prompt="clippy", model="azure/dalle", base_model="dall-e-3", api_base=BASE, api_key=KEY
    )

    image = resp.data[0]
    assert image.url is not None
    assert image.url.startswith("https://dalletipusw2.blob.core.windows.net/")
    assert image.revised_prompt is not None
    assert resp.metadata["content_filter_results"][0]["content_filter_results"]["violence"]["severity"] == "safe"
    assert (resp.metadata["deployment"], resp.metadata["base_model"]) == ("dalle", "dall-e-3")
    assert "content_filter_results" not in resp.to_dict()["data"][0]


def test_cost_uses_base_model_prices():
    """With base_model the call is priced as that model (DALL-E 3 standard square: US$0.044)."""
    engine = _engine(load_json("dalle3_url.json"))

    resp = engine.image_generation(
        prompt="clippy", model="azure/dalle", base_model="dall-e-3", api_base=BASE, api_key=KEY
    )

    assert resp.cost == 0.044


def test_cost_uses_token_usage_for_gpt_image():
    """A GPT image answer with usage is priced by tokens at the base model's rates."""
    engine = _engine(load_json("gpt_image_b64.json"))

    resp = engine.image_generation(
        prompt="otter", model="azure/img", base_model="gpt-image-1", api_base=BASE, api_key=KEY
    )

    assert pytest.approx(12 * 5e-6 + 544 * 40e-6) == resp.cost
    assert resp.usage.output_tokens == 544


def test_cost_falls_back_to_per_image_prices_without_usage():
    """Without usage in the answer, a GPT image call is priced per image at Azure's default quality (high)."""
    engine = _engine(load_json("gpt_image_b64_no_usage.json"))

    resp = engine.image_generation(
        prompt="otter", model="azure/img", base_model="gpt-image-1", api_base=BASE, api_key=KEY
    )

    assert resp.cost == 0.167


def test_cost_is_unknown_without_base_model():
    """A deployment whose model was not stated is not priced (even when named like a model)."""
    engine = _engine(load_json("dalle3_url.json"))

    resp = engine.image_generation(prompt="clippy", model="azure/dall-e-3", api_base=BASE, api_key=KEY)

    assert resp.cost is None


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("error_content_policy_observed.json", "Your request was rejected as a result of our safety system."),
        ("error_content_filter_documented.json", "Your task failed as a result of our safety system."),
        ("error_content_filter_output.json", "Generated image was filtered as a result of our safety system."),
        ("error_content_filter_chat_style.json", "content management policy"),
    ],
)
def test_parse_response_turns_content_filter_refusals_into_content_policy_errors(name: str, message: str):
    """Documented and observed content-filter refusals are ContentPolicyViolationError with Azure's message."""
    engine = _engine(load_json(name), status=400)

    with pytest.raises(ContentPolicyViolationError) as caught:
        engine.image_generation(prompt="battle", model="azure/img", api_base=BASE, api_key=KEY)

    assert caught.value.status_code == 400
    assert message in str(caught.value)
    assert caught.value.provider == "azure"


def test_content_policy_error_keeps_the_filter_details():
    """The observed body's inner error (code, filter results, revised prompt) is kept in details."""
    engine = _engine(load_json("error_content_policy_observed.json"), status=400)

    with pytest.raises(ContentPolicyViolationError) as caught:
        engine.image_generation(prompt="battle", model="azure/img", api_base=BASE, api_key=KEY)

    details = caught.value.details
    assert details["inner_code"] == "ResponsibleAIPolicyViolation"
    assert details["content_filter_results"] == {"jailbreak": {"detected": False, "filtered": False}}
    assert details["revised_prompt"].startswith("A dramatic scene")
    assert caught.value.code == "content_policy_violation"


def test_parse_response_treats_a_filtered_image_as_a_refusal():
    """An answer with no image and a filter that fired is a ContentPolicyViolationError keeping the results."""
    engine = _engine(load_json("dalle3_output_filtered.json"))

    with pytest.raises(ContentPolicyViolationError) as caught:
        engine.image_generation(prompt="battle", model="azure/dalle", api_base=BASE, api_key=KEY)

    assert caught.value.details["content_filter_results"][0]["violence"] == {"severity": "high", "filtered": True}


@pytest.mark.parametrize(
    ("status", "name", "cls", "fragment"),
    [
        (400, "error_400_size.json", BadRequestError, "Invalid value: '512x512'"),
        (401, "error_401.json", AuthenticationError, "Access denied due to invalid subscription key"),
        (403, "error_403.json", PermissionDeniedError, "lacks the required data action"),
        (404, "error_404.json", NotFoundError, "The API deployment for this resource does not exist"),
        (429, "error_429.json", RateLimitError, "exceeded call rate limit"),
        (500, "error_500.json", InternalServerError, "internal error"),
        (503, "error_500.json", ServiceUnavailableError, "internal error"),
    ],
)
def test_parse_response_maps_each_status(status: int, name: str, cls: type[Exception], fragment: str):
    """Each Azure error status becomes its pixmux class, with Azure's own message in the text."""
    with pytest.raises(cls) as caught:
        _parse(_respond(status, load_json(name)))

    assert fragment in str(caught.value)
    assert not isinstance(caught.value, ContentPolicyViolationError)


@pytest.mark.parametrize("code", [["content_filter"], {"name": "contentFilter"}, 429])
def test_parse_response_reads_an_error_code_of_any_json_type(code: Any):
    """An error code that is a list, an object or a number gives the status's typed error, not a TypeError."""
    body = {"error": {"message": "quota exceeded", "type": "insufficient_quota", "param": None, "code": code}}

    with pytest.raises(BadRequestError) as caught:
        _parse(_respond(400, body))

    assert "quota exceeded" in str(caught.value)
    assert not isinstance(caught.value, ContentPolicyViolationError)


def test_rate_limit_reads_retry_after_ms():
    """Azure's retry-after-ms header becomes retry_after in seconds."""
    response = _respond(429, load_json("error_429.json"), {"retry-after-ms": "1500", "retry-after": "2"})

    with pytest.raises(RateLimitError) as caught:
        _parse(response)

    assert caught.value.retry_after == 1.5


def test_secrets_never_appear_in_errors_reprs_or_responses():
    """Neither the api key nor an Entra token shows in an error, a deployment's repr or a response."""
    token = _jwt(time.time() + 3600)
    deployment = _deployment(settings={"azure_ad_token": token})
    assert KEY not in repr(deployment)
    assert token not in repr(deployment)

    for status, name in ((401, "error_401.json"), (400, "error_content_policy_observed.json")):
        engine = _engine(load_json(name), status=status)
        with pytest.raises((AuthenticationError, ContentPolicyViolationError)) as caught:
            engine.image_generation(prompt="otter", model="azure/img", api_base=BASE, api_key=KEY, azure_ad_token=token)
        for text in (str(caught.value), repr(caught.value), json.dumps(dict(caught.value.details))):
            assert KEY not in text
            assert token not in text

    engine = _engine()
    resp = engine.image_generation(prompt="otter", model="azure/img", api_base=BASE, api_key=KEY)
    assert KEY not in resp.to_json() + repr(resp) + repr(resp.metadata)
    assert KEY not in str(Auth(value=KEY))


def test_missing_credentials_send_nothing():
    """Without credentials the call fails before any request leaves."""
    engine = _engine()

    with pytest.raises(AuthenticationError):
        engine.image_generation(prompt="otter", model="azure/img", api_base=BASE)

    assert engine.requests == []


def test_unknown_lookup_is_lenient_for_check_request():
    """The lenient entry checks only what holds for every model (a non-empty prompt)."""
    info = azure.CATALOGUE.lookup("anything")

    assert isinstance(info, ModelInfo)
    with pytest.raises(UnsupportedParamsError, match="prompt"):
        azure.validate_params(request=ImageRequest(prompt=" ", model="anything"), model=info, deployment=_deployment())


def test_router_passes_model_info_base_model_to_azure() -> None:
    """A gateway-style model_info.base_model reaches the plugin: the model's sizes are checked and cost is known."""
    from pixmux import Router

    engine = _engine()
    entry = {"model": "azure/my-images", "api_base": BASE, "api_key": KEY}
    router = Router(
        model_list=[{"model_name": "img", "litellm_params": entry, "model_info": {"base_model": "gpt-image-1"}}],
        engine=engine,
    )

    with pytest.raises(UnsupportedParamsError) as caught:
        router.image_generation("otter", model="img", size="640x480", num_retries=0)
    resp = router.image_generation("otter", model="img", size="1024x1024", quality="low")

    assert caught.value.param == "size"
    assert len(engine.requests) == 1
    assert resp.cost is not None
    assert resp.cost > 0
