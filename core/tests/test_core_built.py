"""What the core builds on every call's path is what the plain ways build: values, hook calls, bodies, headers."""

from __future__ import annotations

import json
from typing import Any

import attrs
import httpx
import pluggy
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pixmux import ImageInput, ImageObject, ImageRequest, ImageResponse, Refusal, Usage, hookimpl
from pixmux._plugins import Registry
from pixmux.catalogue import Catalogue, ModelInfo, check_request
from pixmux.dialects import openai as dialect
from pixmux.exceptions import UnsupportedParamsError
from pixmux.testing import TINY_PNG_B64, make_engine
from pixmux.types import InputTokensDetails, _finished, _image_object, _image_request, _image_response

_text = st.one_of(st.none(), st.text(max_size=8))
_usage = st.one_of(
    st.none(),
    st.builds(
        Usage,
        input_tokens=st.integers(0, 10**6),
        output_tokens=st.integers(0, 10**6),
        input_tokens_details=st.builds(InputTokensDetails, text_tokens=st.integers(0, 9)),
    ),
)
_objects = st.builds(
    ImageObject,
    b64_json=_text,
    url=_text,
    revised_prompt=_text,
    expires_at=st.one_of(st.none(), st.floats(0, 2e9)),
)
_responses = st.builds(
    ImageResponse,
    created=st.integers(0, 2**40),
    data=st.lists(_objects, max_size=3).map(tuple),
    usage=_usage,
    background=_text,
    output_format=_text,
    quality=_text,
    size=_text,
    cost=st.one_of(st.none(), st.floats(0, 10)),
    metadata=st.dictionaries(st.text(max_size=4), st.integers(), max_size=3),
    refused=st.lists(st.builds(Refusal, reason=st.text(max_size=5), message=_text), max_size=2).map(tuple),
)
_inputs = st.builds(ImageInput, data=st.binary(max_size=8), media_type=st.sampled_from(["image/png", "image/jpeg"]))
_requests = st.builds(
    ImageRequest,
    prompt=st.text(max_size=10),
    model=st.text(min_size=1, max_size=8),
    n=st.one_of(st.none(), st.integers(1, 10)),
    quality=_text,
    response_format=_text,
    size=_text,
    style=_text,
    user=_text,
    params=st.dictionaries(st.text(max_size=4), st.integers(), max_size=3),
    operation=st.sampled_from(["generate", "edit", "variation"]),
    images=st.lists(_inputs, max_size=2).map(tuple),
    mask=st.one_of(st.none(), _inputs),
)


def _fields(value: Any) -> tuple[Any, ...]:
    """Every field's value, those left out of ``==`` (cost, metadata, refused, expires_at) included."""
    return tuple(getattr(value, field.name) for field in attrs.fields(type(value)))


def _frozen(value: Any) -> bool:
    try:
        setattr(value, attrs.fields(type(value))[0].name, None)
    except attrs.exceptions.FrozenInstanceError:
        return True
    return False


@given(_responses)
def test_core_built_response_is_the_constructors(response: ImageResponse) -> None:
    """The engine's constructor and copy give what ImageResponse(...) and attrs.evolve give: every field, frozen."""
    built = _image_response(*_fields(response))
    copied = _finished(response, 0.25, {"provider": "p"})

    assert type(built) is ImageResponse
    assert (built, _fields(built), hash(built), repr(built)) == (
        response,
        _fields(response),
        hash(response),
        repr(response),
    )
    assert _fields(copied) == _fields(attrs.evolve(response, cost=0.25, metadata={"provider": "p"}))
    assert _frozen(built)
    assert _frozen(copied)


@given(_objects)
def test_core_built_image_is_the_constructors(image: ImageObject) -> None:
    """The engine's ImageObject constructor gives what ImageObject(...) gives, expires_at included."""
    built = _image_object(*_fields(image))

    assert type(built) is ImageObject
    assert (built, _fields(built), repr(built)) == (image, _fields(image), repr(image))
    assert _frozen(built)


@given(_requests)
def test_core_built_request_is_the_constructors(request: ImageRequest) -> None:
    """The engine's ImageRequest constructor gives what ImageRequest(...) gives; without() and get() work on it."""
    built = _image_request(*_fields(request))

    assert type(built) is ImageRequest
    assert (built, _fields(built), hash(built), repr(built)) == (
        request,
        _fields(request),
        hash(request),
        repr(request),
    )
    assert built.without("size") == request.without("size")
    assert _frozen(built)


# --------------------------------------------------------------------------- hooks, bound once


class _Subsets:
    """A provider whose hooks take fewer arguments than their specs, and in another order."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    @hookimpl
    def model_catalogue(self) -> Catalogue:
        return Catalogue(provider="subsets", models={"m": ModelInfo(name="m")})

    @hookimpl
    def validate_params(self, model: ModelInfo) -> None:
        self.seen.append(("validate_params", {"model": model.name}))

    @hookimpl
    def build_request(self, deployment: Any, request: ImageRequest) -> httpx.Request:
        self.seen.append(("build_request", {"deployment": deployment.model, "prompt": request.prompt}))
        return httpx.Request("POST", "https://subsets.test/v1/images", json={"prompt": request.prompt})

    @hookimpl
    def parse_response(self, response: httpx.Response) -> ImageResponse:
        self.seen.append(("parse_response", {"status": response.status_code}))
        return ImageResponse(created=1, data=(ImageObject(b64_json=TINY_PNG_B64),))


class _Wrapper:
    """An extension wrapping build_request: pluggy's own dispatch must run it."""

    def __init__(self) -> None:
        self.calls = 0

    @pluggy.HookimplMarker("pixmux")(wrapper=True)
    def build_request(self, auth: Any) -> Any:
        self.calls += 1
        return (yield)


def test_hooks_bound_once_pass_each_implementation_only_the_arguments_it_names() -> None:
    """An implementation naming a subset of its spec, in its own order, gets exactly those, by keyword."""
    plugin = _Subsets()
    engine = make_engine(plugin, handler=lambda request: httpx.Response(200, json={}))

    engine.image_generation(prompt="otter", model="subsets/m")
    engine.image_generation(prompt="otter", model="subsets/m")

    assert plugin.seen[:3] == [
        ("validate_params", {"model": "m"}),
        ("build_request", {"deployment": "m", "prompt": "otter"}),
        ("parse_response", {"status": 200}),
    ]
    assert plugin.seen[3:] == plugin.seen[:3]


def test_hooks_wrapped_by_an_extension_go_through_pluggy() -> None:
    """With an extension wrapping a hook, the bound function is pluggy's dispatch: the wrapper runs every call."""
    wrapper = _Wrapper()
    registry = Registry(plugins={"subsets": _Subsets()}, extensions=[wrapper], discover=False)
    provider = registry.get("subsets")
    hook = provider.hook("build_request")

    built = hook(request=ImageRequest(prompt="otter", model="m"), deployment=_deployment(), model=None, auth=None)
    provider.call(
        "build_request", request=ImageRequest(prompt="o", model="m"), deployment=_deployment(), model=None, auth=None
    )

    assert isinstance(built, httpx.Request)
    assert wrapper.calls == 2
    assert provider.hook("build_request") is hook


def _deployment() -> Any:
    from pixmux import Deployment

    return Deployment(provider="subsets", model="m")


# --------------------------------------------------------------------------- the OpenAI dialect


@pytest.mark.parametrize(
    "body",
    [
        {"created": 2**64 + 1, "data": [{"url": "https://img.test/a.png"}]},
        {"created": 1, "data": [{"url": "https://img.test/a.png"}], "seed": 2**70 + 3},
        {"created": 1, "data": [{"url": "https://img.test/a.png"}], "usage": {"input_tokens": 2**65}},
        {"created": 1, "data": [{"url": "https://img.test/a.png"}], "extra": 1.5e300},
    ],
    ids=["created beyond 64 bits", "a big integer beside", "usage beyond 64 bits", "a float beside"],
)
def test_parse_images_small_bodies_read_as_the_json_module_reads_them(body: dict[str, Any]) -> None:
    """Integers orjson cannot hold exactly, where read or beside, give what the json module's value gives."""
    content = json.dumps(body).encode()
    response = httpx.Response(200, content=content, request=httpx.Request("POST", "https://x.test"))

    expected = dialect._read_plain(json.loads(content), {})
    parsed = dialect.parse_images(response, provider="p", model="m")

    assert expected is not None
    assert (parsed, parsed.created, parsed.usage) == (expected, body["created"], expected.usage)


@pytest.mark.parametrize("prompt", ["", " ", "\t\n", "\u3000\u2003", "\x1c\x1f"])
def test_check_request_refuses_a_prompt_of_whitespace_only(prompt: str) -> None:
    """A prompt that strip() would empty is refused naming prompt (Unicode spaces and separators too)."""
    assert not prompt.strip()

    with pytest.raises(UnsupportedParamsError) as caught:
        check_request(ImageRequest(prompt=prompt, model="m"), ModelInfo(name="m"), provider="p")

    assert caught.value.param == "prompt"


@pytest.mark.parametrize("prompt", ["otter", " otter ", "\u3000loutre", "\x1cotter"])
def test_check_request_takes_a_prompt_with_any_text(prompt: str) -> None:
    """A prompt with anything but whitespace in it passes the prompt check."""
    assert prompt.strip()

    check_request(ImageRequest(prompt=prompt, model="m"), ModelInfo(name="m"), provider="p")
