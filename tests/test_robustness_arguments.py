"""
Library arguments under hypothesis: ``pixmux.image_generation(..., mock_response=True)`` with values of
the wrong type for every argument, for models of several providers.

``n`` as text, float, bool or negative; ``size`` as a number or a list; ``prompt`` as ``None``,
bytes or huge; ``timeout`` negative, text or NaN; ``model`` as garbage with slashes and unicode;
deployment fields and provider settings of the wrong type; unknown keyword arguments.

The property: the call returns at least one image, or raises a ``PixmuxError`` whose ``param``
names the argument to blame; never a ``TypeError``, ``AttributeError`` or any other exception.
The mock path runs every check a real call runs before sending (``Engine.prepare``: model
resolution, settings, the environment, the plugin's ``validate_params``).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pixmux
import pytest
from fuzz_support import fuzz
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pixmux import ImageResponse, PixmuxError
from pixmux._engine import Engine

FUZZ = fuzz(60)
pytestmark = pytest.mark.filterwarnings("ignore::pixmux.PixmuxWarning")

#: (model string, the arguments that make a mock call to it valid).
TARGETS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("openai/gpt-image-1", {}),
    ("openai/my-sd-server-model", {"api_base": "http://127.0.0.1:9/v1"}),
    ("bedrock/amazon.nova-canvas-v1:0", {"aws_region_name": "us-east-1"}),
    ("bedrock/stability.sd3-5-large-v1:0", {"aws_region_name": "us-west-2"}),
    ("vertex_ai/imagen-4.0-generate-001", {"vertex_ai_project": "p", "vertex_ai_location": "us-central1"}),
    ("vertex_ai/gemini-2.5-flash-image", {"vertex_ai_project": "p"}),
    ("gemini/gemini-2.5-flash-image", {}),
    ("gemini/imagen-4.0-generate-001", {}),
    ("recraft/recraftv3", {}),
    ("azure/my-images", {"base_model": "gpt-image-1", "api_base": "https://contoso.openai.azure.com"}),
    ("azure/my-dalle", {"base_model": "dall-e-3", "api_base": "https://contoso.openai.azure.com"}),
    ("nscale/black-forest-labs/FLUX.1-schnell", {}),
    ("xinference/sd3-medium", {"api_base": "http://127.0.0.1:9997"}),
    ("xai/grok-imagine-image", {}),
    ("together/black-forest-labs/FLUX.1-schnell", {}),
    ("byteplus/seedream-4-0-250828", {}),
    ("ideogram/V_3", {}),
    ("stability/stable-image-ultra", {}),
)

garbage = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(),
    st.text(max_size=12),
    st.binary(max_size=8),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
    st.tuples(st.integers(), st.integers()),
    st.sampled_from(["", " ", "\x00", "\ud800", "1024x1024", "1024X1024", "auto", "url", "b64_json", "-1", "2"]),
    st.builds(object),
)
weird_models = st.sampled_from(
    [
        "",
        "/",
        "//",
        "openai/",
        "/gpt-image-1",
        "openai//gpt-image-1",
        "a/b/c/d",
        "openai/gpt-image-1/extra",
        "nope/model",
        "OpenAI/gpt-image-1",
        "openai/gpt-image-1 ",
        " openai/gpt-image-1",
        "openai/\ud800",
        "\ud800/x",
        "🦦/otter",
        "openai/🦦",
        "openai/" + "x" * 500,
        "../../etc/passwd",
        "gpt-image-1",
        "dall-e-3",
    ]
) | st.text(max_size=20)
prompts = st.one_of(
    st.text(min_size=1, max_size=30),
    st.sampled_from([None, b"an otter", 42, ["an", "otter"], "", "   ", "\ud800", "x" * 200_000, "\x00otter"]),
)
#: Keyword arguments that are not OpenAI's, some of which the providers or the core take.
extra_names = st.sampled_from(
    [
        "api_key",
        "api_base",
        "api_version",
        "organization",
        "custom_llm_provider",
        "drop_params",
        "num_retries",
        "max_retries",
        "base_model",
        "aws_region_name",
        "aws_access_key_id",
        "vertex_ai_project",
        "vertex_ai_location",
        "vertex_credentials",
        "seed",
        "negative_prompt",
        "background",
        "output_format",
        "output_compression",
        "style_id",
        "substyle",
        "aspectRatio",
        "personGeneration",
        "safetySettings",
        "cfg_scale",
    ]
)


@st.composite
def calls(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A model and keyword arguments, some of them of the wrong type."""
    model, kwargs = draw(st.sampled_from(TARGETS))
    kwargs = dict(kwargs)
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        model = draw(weird_models)
    kwargs["prompt"] = draw(prompts)
    for name, values in (
        ("n", st.integers(min_value=-3, max_value=12) | st.sampled_from(["2", 2.0, True, 10**30])),
        ("size", st.sampled_from(["1024x1024", "1536x1024", "512x512", "auto", 1024, [1024, 1024], "1024"])),
        ("quality", st.sampled_from(["high", "low", "hd", "standard", 5])),
        ("style", st.sampled_from(["vivid", "natural", "digital_illustration", 0])),
        ("response_format", st.sampled_from(["url", "b64_json", "png", 1])),
        ("user", st.text(max_size=8) | st.just(["u"])),
        ("timeout", st.sampled_from([30, 0.5, 0, -1, "30", "soon", float("nan"), float("inf"), True, [1]])),
    ):
        how = draw(st.sampled_from(["absent", "absent", "value", "garbage"]))
        if how == "value":
            kwargs[name] = draw(values)
        elif how == "garbage":
            kwargs[name] = draw(garbage)
    for name in draw(st.lists(extra_names, max_size=3, unique=True)):
        kwargs[name] = draw(garbage)
    return model, kwargs


def check(model: str, kwargs: dict[str, Any], mock: object = True) -> None:
    """Images, or a PixmuxError whose param names an argument of the call."""
    error: PixmuxError | None = None
    try:
        response = pixmux.image_generation(model=model, mock_response=mock, **kwargs)
    except PixmuxError as exc:
        error = exc
    if error is None:
        assert isinstance(response, ImageResponse)
        assert response.data, f"an empty success for {model} {kwargs}"
        return
    assert error.param is not None, f"{model} {kwargs!r}: {error!r} does not name the argument to blame"
    named = {*kwargs, "model", "prompt", "mock_response"}
    assert error.param in named or error.param.strip("'") in named or error.param.startswith("vertex"), (
        f"{model}: {error!r} names {error.param!r}, not an argument of the call"
    )
    assert repr(error)


@FUZZ
@given(call=calls())
def test_robustness_arguments_of_the_wrong_type(call: tuple[str, dict[str, Any]]) -> None:
    """Any argument of the wrong type, for models of every kind: images or a PixmuxError naming the argument."""
    model, kwargs = call

    check(model, kwargs)


@FUZZ
@given(mock=garbage | st.sampled_from(["not base64!", "data:,", {"created": "x"}, {"data": 5}, {"created": 1}]))
def test_robustness_odd_mock_responses(mock: Any) -> None:
    """An odd mock_response value gives images or a ConfigurationError naming mock_response."""
    if mock is None or mock is False:
        mock = True
    check("openai/gpt-image-1", {"prompt": "an otter"}, mock)


def _refuse(request: httpx.Request) -> httpx.Response:
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        json.loads(request.content or b"{}")  # whatever is sent is JSON (or a multipart form: Ideogram, Stability)
    return httpx.Response(400, json={"error": {"message": "refused by the test provider", "code": "invalid"}})


@pytest.fixture(scope="module")
def sending_engine() -> Engine:
    """Every installed plugin on a transport that refuses every request (so build_request runs, nothing succeeds)."""
    return Engine(environ={}, transport=httpx.MockTransport(_refuse))


@settings(FUZZ, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(call=calls())
def test_robustness_arguments_reach_build_request(sending_engine: Engine, call: tuple[str, dict[str, Any]]) -> None:
    """Without a mock, build_request sees every argument that passed validation: a PixmuxError, never a TypeError."""
    model, kwargs = call
    kwargs.setdefault("api_key", "sk-robustness-0123456789")

    with pytest.raises(PixmuxError) as caught:
        sending_engine.image_generation(
            model=model, num_retries=0, **{k: v for k, v in kwargs.items() if k not in ("num_retries", "max_retries")}
        )

    if caught.value.response is None:
        assert caught.value.param is not None or caught.value.status_code in (401, 403), repr(caught.value)
