"""
Odd provider responses, for EVERY installed provider plugin (entry point group ``pixmux.providers``).

Each plugin's ``parse_response`` is fed, through ``pixmux.testing.make_engine`` and the sync path,
hypothesis-generated answers: random JSON, the recorded bodies of every plugin with one value
replaced by something of the wrong type or shape, bodies that are not JSON, and every status from
200 to 599 with odd headers (``Retry-After`` garbage and the like).

The property: the call returns an ``ImageResponse`` holding at least one image whose JSON is
OpenAI's ``ImagesResponse``, or raises a ``PixmuxError`` that the plugin itself raised. The
engine turns a stray ``KeyError``/``TypeError``/``IndexError``/``AttributeError``/``ValueError``
from ``parse_response`` into "could not read the provider's response" as a last resort; that
message here means the plugin crashed, and fails the test.

Plugins and models are discovered: a plugin installed tomorrow is fuzzed by this file unchanged.
The seed bodies are every ``tests/responses/*.json`` beside an installed plugin's package.
"""

from __future__ import annotations

import itertools
import json
import math
import sys
from collections.abc import Iterator
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import yaml
from fuzz_support import examples, fuzz
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pixmux import ImageResponse, PixmuxError
from pixmux._plugins import PROVIDER_GROUP
from pixmux.testing import TINY_PNG_B64, RecordingEngine, make_engine

FUZZ = fuzz(40, HealthCheck.filter_too_much)

DUMMY_API_BASE = "http://127.0.0.1:9/robustness"
KEY = "sk-robustness-key-0123456789"
#: The engine's last-resort message for a plugin that crashed while reading a response.
CRASHED = "could not read the provider's response"
#: Requests one call may send before the handler stops answering with the fuzzed body.
MAX_REQUESTS = 16

SPEC_PATH = Path("/work/shared/reference/openai-images-openapi.yaml")
if not SPEC_PATH.exists():
    SPEC_PATH = Path(__file__).resolve().parents[1] / "core" / "tests" / "reference" / "openai-images-openapi.yaml"


@cache
def images_schema() -> Draft202012Validator:
    """OpenAI's ImagesResponse schema, which every successful result's JSON must match."""
    spec = yaml.safe_load(SPEC_PATH.read_text())
    return Draft202012Validator({"$ref": "#/components/schemas/ImagesResponse", "components": spec["components"]})


# --------------------------------------------------------------------------- discovery


@attrs.frozen
class Target:
    """One provider and model with the call arguments that build a request for it."""

    provider: str
    model: str
    kwargs: tuple[tuple[str, Any], ...]

    def __str__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.kwargs if k not in ("api_key", "api_base"))
        return f"{self.provider}/{self.model}({options})"


class Answers:
    """The mock provider: answers every request of a call with one fuzzed response."""

    def __init__(self) -> None:
        self.status = 200
        self.content = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.count = 0

    def set(self, status: int, content: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        self.status, self.content, self.headers, self.count = status, content, headers, 0

    @property
    def body(self) -> Any:
        """The answer's JSON, or ``None`` when it is not JSON."""
        try:
            return json.loads(self.content)
        except ValueError:
            return None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.count += 1
        if self.count > MAX_REQUESTS:
            return httpx.Response(500, json={"error": {"message": "the fuzz handler stops here"}})
        return httpx.Response(self.status, content=self.content, headers=self.headers)


def installed_providers() -> list[str]:
    """Every provider name registered in ``pixmux.providers``."""
    return sorted({ep.name for ep in entry_points(group=PROVIDER_GROUP)})


@cache
def plugin(name: str) -> Any:
    """The loaded plugin module of provider ``name``."""
    (entry,) = [ep for ep in entry_points(group=PROVIDER_GROUP) if ep.name == name]
    return entry.load()


@cache
def engine_for(name: str) -> tuple[RecordingEngine, Answers]:
    """An engine holding only provider ``name``, answering from a mutable ``Answers``."""
    answers = Answers()
    return make_engine(plugin(name), handler=answers, names=[name]), answers


def _settings_for(name: str) -> dict[str, Any]:
    # Region and project settings a plugin needs to build a request with no environment; no wait between polls.
    catalogue = plugin(name).model_catalogue()
    found: dict[str, Any] = {}
    for key in catalogue.settings:
        if "region" in key or "location" in key:
            found[key] = "us-east-1" if "aws" in key else "us-central1"
        elif "project" in key:
            found[key] = "robustness-project"
        elif key == "poll_interval":  # submit-then-poll plugins: every poll gets the same fuzzed answer, at once
            found[key] = 0
    return found


def _variants() -> Iterator[dict[str, Any]]:
    for response_format, n in itertools.product((None, "url", "b64_json"), (None, 2)):
        yield {key: value for key, value in (("response_format", response_format), ("n", n)) if value is not None}


@cache
def targets(name: str) -> tuple[Target, ...]:
    """
    Every (model, call arguments) of provider ``name`` that prepares and builds without error.

    A provider with no default endpoint builds only with the dummy ``api_base``; a model that
    refuses ``n=2`` or a ``response_format`` keeps the variants it accepts.
    """
    engine, _ = engine_for(name)
    catalogue = plugin(name).model_catalogue()
    found: list[Target] = []
    for model, info in sorted(catalogue.models.items()):
        if info.retired:
            continue
        for variant in _variants():
            for api_base in ({}, {"api_base": DUMMY_API_BASE}):
                kwargs = {"api_key": KEY, **_settings_for(name), **api_base, **variant}
                try:
                    call = engine.prepare(prompt="a lighthouse at dusk", model=f"{name}/{model}", **kwargs)
                    auth = engine._resolve_auth(call)
                    call.provider.call(
                        "build_request", request=call.request, deployment=call.deployment, model=call.info, auth=auth
                    )
                except PixmuxError:
                    continue
                found.append(Target(provider=name, model=model, kwargs=tuple(sorted(kwargs.items()))))
                break
    return tuple(found)


def _response_folders() -> list[Path]:
    folders: set[Path] = set()
    for name in installed_providers():
        module_file = getattr(sys.modules.get(plugin(name).__name__), "__file__", None)
        if module_file is None:
            continue
        for parent in Path(module_file).resolve().parents:
            candidate = parent / "tests" / "responses"
            if candidate.is_dir():
                folders.add(candidate)
                break
    return sorted(folders)


@cache
def seed_bodies() -> tuple[Any, ...]:
    """Every recorded provider body (JSON) beside the installed plugins: the shapes to mutate."""
    bodies = []
    for folder in _response_folders():
        for path in sorted(folder.glob("*.json")):
            try:
                bodies.append(json.loads(path.read_text(encoding="utf-8")))
            except ValueError:
                continue
    return tuple(bodies)


# --------------------------------------------------------------------------- strategies

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**18, max_value=10**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)

#: Values a provider could send in the wrong place: wrong types, empties, huge numbers, bad base64.
garbage = (
    json_scalars
    | st.sampled_from(
        [
            "",
            "not base64 !!",
            "iVBORw0KGgo",  # truncated base64 (bad padding)
            "data:image/png;base64,@@@@",
            "/tmp/image.png",
            "ftp://example.test/x.png",
            TINY_PNG_B64,
            [],
            {},
            [None],
            [{}],
            [[]],
            {"": None},
            10**400 // 10**300,
            -1,
            0,
            1.5,
            "1713833628",
        ]
    )
    | json_values
)

Path_ = tuple[Any, ...]


def _paths(value: Any, prefix: Path_ = ()) -> Iterator[Path_]:
    yield prefix
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _paths(inner, (*prefix, index))


def _replace(value: Any, path: Path_, new: Any, *, delete: bool = False) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        copy = dict(value)
        if delete and not rest:
            copy.pop(head, None)
        else:
            copy[head] = _replace(value[head], rest, new, delete=delete)
        return copy
    copy_list = list(value)
    if delete and not rest:
        del copy_list[head]
    else:
        copy_list[head] = _replace(value[head], rest, new, delete=delete)
    return copy_list


def _get(value: Any, path: Path_) -> Any:
    for part in path:
        value = value[part]
    return value


@st.composite
def mutated_bodies(draw: st.DrawFn, seeds: tuple[Any, ...]) -> Any:
    """One of ``seeds`` with one to three values replaced, wrapped, stringified or removed."""
    body = draw(st.sampled_from(seeds))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = list(_paths(body))
        path = draw(st.sampled_from(paths))
        current = _get(body, path)
        how = draw(st.sampled_from(["garbage", "garbage", "delete", "wrap", "stringify", "empty"]))
        if how == "delete" and path:
            body = _replace(body, path, None, delete=True)
        elif how == "wrap":
            body = _replace(body, path, draw(st.sampled_from([[current], {"value": current}])))
        elif how == "stringify":
            body = _replace(body, path, json.dumps(current))
        elif how == "empty":
            body = _replace(body, path, type(current)() if isinstance(current, list | dict | str) else None)
        else:
            body = _replace(body, path, draw(garbage))
    return body


@cache
def good_seeds(provider: str, model: str) -> tuple[Any, ...]:
    """The recorded bodies ``provider``'s ``model`` reads as a success: mutating them reaches the parser's depths."""
    engine, answers = engine_for(provider)
    (target, *_) = [t for t in targets(provider) if t.model == model]
    found = []
    for body in seed_bodies():
        if not isinstance(body, dict) or {"error", "message", "Message", "detail"} & set(body):
            continue
        answers.set(200, _encode(body), [])
        if isinstance(outcome(target, engine), ImageResponse):
            found.append(body)
    return tuple(found)


def bodies_for(target: Target) -> st.SearchStrategy[Any]:
    """Mutations of the bodies ``target`` reads as a success (when there are some), else of any recorded body."""
    good = good_seeds(target.provider, target.model)
    if not good:
        return mutated_bodies(seed_bodies())
    return mutated_bodies(good) | mutated_bodies(seed_bodies())


def _encode(body: Any) -> bytes:
    # json.dumps writes NaN/Infinity, which Python's json (and so httpx) reads back: odd, but possible.
    return json.dumps(body).encode()


def _not_json(seed: Any, cut: int) -> bytes:
    text = json.dumps(seed).encode()
    return text[: cut % max(len(text), 1)]


non_json_bodies = (
    st.binary(max_size=64)
    | st.text(max_size=40).map(lambda s: s.encode("utf-8", "surrogatepass"))
    | st.builds(_not_json, st.sampled_from(seed_bodies()), st.integers(min_value=0, max_value=10_000))
    | st.sampled_from(
        [
            b"",
            b"<html><body>502 Bad Gateway</body></html>",
            b"\xff\xfe\x00{",
            b"null",
            b"\x00" * 8,
            b"[" * 5000 + b"]" * 5000,  # valid JSON nested past the parser's stack
            b'{"data": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        ]
    )
)

header_values = st.binary(max_size=30).map(lambda raw: bytes(b if 0x20 <= b != 0x7F else 0x41 for b in raw)) | (
    st.sampled_from(
        [
            b"",
            b"-5",
            b"nan",
            b"inf",
            b"-inf",
            b"1e400",
            b"99999999999999999999999",
            b"Wed, 21 Oct 2015 07:28:00 GMT",
            b"Wed, 21 Oct 99999 07:28:00 GMT",
            b"Mon, 32 Foo 2024 25:61:61 +9999",
            b"0x10",
            b"\xff\xfe",
            b"gzip",
            b"br, deflate",
        ]
    )
)
header_names = st.sampled_from(
    [
        b"retry-after",
        b"retry-after-ms",
        b"x-amzn-errortype",
        b"content-type",
        b"x-request-id",
        b"x-ms-error-code",
        b"apim-request-id",
        b"content-encoding",
    ]
)
headers = st.lists(st.tuples(header_names, header_values), max_size=4)

statuses = st.integers(min_value=200, max_value=599)


def _strategy_targets(name: str) -> st.SearchStrategy[Target]:
    found = targets(name)
    assert found, f"provider {name!r}: no catalogue model builds a request, so nothing can be fuzzed"
    return st.sampled_from(found)


# --------------------------------------------------------------------------- the property


def _strings(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set().union(*(_strings(inner) for inner in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_strings(inner) for inner in value)) if value else set()
    return set()


def outcome(target: Target, engine: RecordingEngine) -> ImageResponse | PixmuxError:
    """What one call to ``target`` gave: the response, or the pixmux error it raised (anything else propagates)."""
    try:
        return engine.image_generation(
            prompt="a lighthouse at dusk",
            model=f"{target.provider}/{target.model}",
            num_retries=0,
            **dict(target.kwargs),
        )
    except PixmuxError as exc:
        return exc


def check_error(target: Target, answers: Answers, error: PixmuxError) -> None:
    """A typed error the plugin raised itself, with an error status for an error answer, and no secret in it."""
    assert CRASHED not in error.message, f"{target}: parse_response crashed: {error!r} from {error.__cause__!r}"
    assert isinstance(error.status_code, int), f"{target}: {error!r} has no status"
    if answers.status >= 400:
        assert 400 <= error.status_code <= 599, f"{target}: HTTP {answers.status} became {error!r}"
    assert KEY not in str(error), f"{target}: the key leaked into {error!r}"
    assert repr(error)


def check_answer(target: Target, answers: Answers, engine: RecordingEngine) -> None:
    """The call returns at least one image as OpenAI's ImagesResponse, or raises a PixmuxError the plugin raised."""
    response = outcome(target, engine)
    if isinstance(response, PixmuxError):
        check_error(target, answers, response)
        return
    assert answers.status < 400, f"{target}: HTTP {answers.status} was read as a success: {response!r}"
    assert isinstance(response, ImageResponse), f"{target}: returned {type(response).__name__}"
    assert response.data, f"{target}: an empty success {response!r}"
    leaves = _strings(answers.body)
    for image in response.data:
        assert image.b64_json or image.url, f"{target}: an image with neither b64_json nor url: {image!r}"
        for value in (image.b64_json, image.url):
            assert value is None or isinstance(value, str), f"{target}: {value!r} is not text"
        # Image data comes verbatim from a string in the body: never a number, list or object turned into text.
        # (Or downloaded from a URL the body gave, when b64_json was asked for: then the URL is checked.)
        found = (image.url if image.url and image.b64_json else image.b64_json or image.url) or ""
        payload = found.partition(";base64,")[2] if found.startswith("data:") and found not in leaves else found
        assert payload in leaves, f"{target}: image {found[:60]!r} is not a string the provider sent"
    out = response.to_dict()
    text = json.dumps(out, allow_nan=False)  # the gateway writes strict JSON
    errors = sorted(images_schema().iter_errors(json.loads(text)), key=str)
    assert not errors, f"{target}: to_dict() is not an ImagesResponse: {errors[0].message}"
    if response.cost is not None:
        assert isinstance(response.cost, float | int), f"{target}: cost {response.cost!r}"
        assert math.isfinite(response.cost), f"{target}: cost {response.cost!r}"
        assert response.cost >= 0, f"{target}: cost {response.cost!r}"


PROVIDERS = installed_providers()
pytestmark = pytest.mark.filterwarnings("ignore::pixmux.PixmuxWarning")


def test_robustness_every_provider_has_fuzz_targets() -> None:
    """Every installed provider builds a request for at least one catalogue model, so it is fuzzed below."""
    assert "openai" in PROVIDERS
    assert {name: len(targets(name)) for name in PROVIDERS if not targets(name)} == {}


@pytest.mark.parametrize("name", PROVIDERS)
def test_robustness_parse_response_random_json(name: str) -> None:
    """Any JSON value, with any status, gives images or a typed error."""
    engine, answers = engine_for(name)

    @FUZZ
    @given(target=_strategy_targets(name), status=statuses | st.just(200), body=json_values)
    def run(target: Target, status: int, body: Any) -> None:
        answers.set(status, _encode(body), [(b"content-type", b"application/json")])
        check_answer(target, answers, engine)

    run()


@pytest.mark.parametrize("name", PROVIDERS)
def test_robustness_parse_response_wrong_shapes(name: str) -> None:
    """Recorded bodies with fields of the wrong type or shape (nulls, strings for lists, bad base64, huge numbers)."""
    engine, answers = engine_for(name)

    @settings(FUZZ, max_examples=examples(120))
    @given(
        target=_strategy_targets(name),
        status=st.sampled_from([200, 200, 200, 200, 201, 400, 403, 429, 500, 503]),
        data=st.data(),
    )
    def run(target: Target, status: int, data: st.DataObject) -> None:
        body = data.draw(bodies_for(target), label="body")
        answers.set(status, _encode(body), [(b"content-type", b"application/json")])
        check_answer(target, answers, engine)

    run()


@pytest.mark.parametrize("name", PROVIDERS)
def test_robustness_parse_response_not_json(name: str) -> None:
    """Bytes that are not JSON (truncated JSON, HTML, binary, invalid UTF-8) give a typed error."""
    engine, answers = engine_for(name)

    @FUZZ
    @given(target=_strategy_targets(name), status=statuses | st.just(200), content=non_json_bodies, extra=headers)
    def run(target: Target, status: int, content: bytes, extra: list[tuple[bytes, bytes]]) -> None:
        answers.set(status, content, extra)
        check_answer(target, answers, engine)

    run()


@pytest.mark.parametrize("name", PROVIDERS)
def test_robustness_parse_response_statuses_and_headers(name: str) -> None:
    """Every status 200-599 with recorded, mutated or random bodies and odd headers (Retry-After garbage)."""
    engine, answers = engine_for(name)

    @FUZZ
    @given(
        target=_strategy_targets(name),
        status=statuses,
        body=st.sampled_from(seed_bodies()) | mutated_bodies(seed_bodies()) | json_values,
        extra=headers,
    )
    def run(target: Target, status: int, body: Any, extra: list[tuple[bytes, bytes]]) -> None:
        answers.set(status, _encode(body), [(b"content-type", b"application/json"), *extra])
        check_answer(target, answers, engine)

    run()
