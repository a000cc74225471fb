"""
Broken gateway configs under hypothesis: a valid config with values of the wrong type at every
place, unknown keys, missing keys, missing environment variables; YAML that is not YAML, YAML
aliases that refer to themselves, binary junk.

The property: ``load_config`` then ``create_app`` either give a gateway, or raise the gateway's
``ConfigError`` whose message starts with the file name and names the place in the file (its
``param``, when set, is a place such as ``model_list[0].litellm_params.rpm`` and is in the
message); never another exception type, and never a credential in the message.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fuzz_support import fuzz
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from pixmux._engine import Engine
from pixmux.proxy import ConfigError, create_app, load_config

FUZZ = fuzz(150, HealthCheck.function_scoped_fixture)
pytestmark = pytest.mark.filterwarnings("ignore::pixmux.PixmuxWarning")  # drop_params notes on mutated params
SECRET = "sk-sd-upstream-secret-42"
MASTER = "sk-gateway-master-42"
ENVIRON = {"SD_KEY": SECRET, "MASTER": MASTER}
TOP_KEYS = ("model_list", "general_settings", "router_settings", "litellm_settings")

BASE: dict[str, Any] = {
    "model_list": [
        {
            "model_name": "demo",
            "litellm_params": {"model": "openai/gpt-image-1", "mock_response": True},
            "model_info": {"id": "demo-mock"},
        },
        {
            "model_name": "sd",
            "params": {
                "model": "openai/sd-xl",
                "api_base": "http://127.0.0.1:9/v1",
                "api_key": "os.environ/SD_KEY",
                "rpm": 60,
                "weight": 2,
                "timeout": 30,
            },
        },
        {
            "model_name": "nova",
            "litellm_params": {"model": "bedrock/amazon.nova-canvas-v1:0", "aws_region_name": "us-east-1"},
        },
    ],
    "general_settings": {"master_key": "os.environ/MASTER", "max_request_size_mb": 2, "gzip_images": False},
    "router_settings": {"num_retries": 1, "timeout": 30, "fallbacks": [{"sd": ["demo"]}]},
    "litellm_settings": {"drop_params": True, "request_timeout": 60},
}


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _paths(inner, (*prefix, index))


def _edit(value: Any, path: tuple[Any, ...], how: str, new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    copy: Any = dict(value) if isinstance(value, dict) else list(value)
    if not rest and how == "delete":
        del copy[head]
    elif not rest and how == "add" and isinstance(copy[head], dict):
        copy[head] = {**copy[head], **new}
    else:
        copy[head] = _edit(value[head], rest, how, new)
    return copy


garbage = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**20, max_value=10**30)
    | st.floats()
    | st.text(max_size=15)
    | st.sampled_from(["", " ", "os.environ/", "os.environ/NOT_SET", "os.environ/SD_KEY", "openai/", "/x", "nope/x"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
unknown_keys = st.dictionaries(
    st.sampled_from(["model", "modelname", "api_keys", "master-key", "routing", "database_url", "set_verbose"])
    | st.text(max_size=10),
    garbage,
    min_size=1,
    max_size=2,
)


@st.composite
def broken_configs(draw: st.DrawFn) -> Any:
    """The base config with one to three places changed: a wrong-typed value, a key removed, unknown keys added."""
    config: Any = BASE
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(list(_paths(config))))
        how = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if how == "delete" and path:
            config = _edit(config, path, "delete", None)
        elif how == "add" and isinstance(_get(config, path[:-1] if path else path), dict) and path:
            config = (
                _edit(config, path[:-1], "add", draw(unknown_keys)) if path[:-1] else {**config, **draw(unknown_keys)}
            )
        else:
            config = _edit(config, path, "replace", draw(garbage))
    return config


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        value = value[part]
    return value


def _dump(config: Any) -> bytes:
    return yaml.safe_dump(config, allow_unicode=True, sort_keys=False).encode("utf-8", "surrogatepass")


not_yaml = (
    st.sampled_from(
        [
            b"",
            b"   \n# only a comment\n",
            b"\xff\xfe\x00\x01",
            b"\x00" * 16,
            b"model_list: [\n",
            b"model_list:\n\t- model_name: a\n",
            b"model_list: []\nmodel_list: []\n",
            b"model_list: &a [*a]\n",
            b"model_list: [{model_name: a, params: {model: openai/x, extra: &b [*b]}}]\n",
            b"model_list: [{model_name: a, params: &p {model: openai/x, nested: *p}}]\n",
            b"model_list: !!python/object/apply:os.system [echo hi]\n",
            b"model_list: [{model_name: a, params: {model: openai/x, api_key: !!binary aGVsbG8=}}]\n",
            b"model_list: [{model_name: 2024-01-01, params: {model: openai/x}}]\n",
            b"model_list: [{? [a, b] : c}]\n",
            b"--- a\n--- b\n",
            b"- just\n- a\n- list\n",
            b"model_list: [{model_name: a, params: {model: openai/x, rpm: .inf}}]\n",
            b"model_list: [{model_name: a, params: {model: openai/x, weight: .nan}}]\n",
            json.dumps(BASE).encode()[:-7],
        ]
    )
    | st.binary(max_size=80)
    | st.text(max_size=80).map(lambda text: text.encode("utf-8", "surrogatepass"))
)


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    """Every installed plugin, an empty environment and no network."""
    made = Engine(
        environ={},
        transport=httpx.MockTransport(lambda request: pytest.fail("a config check sent a request")),
    )
    yield made
    made.close()


def check(path: Path, engine: Engine) -> None:
    """A gateway, or a ConfigError naming the file and the place; nothing else, and no secret shown."""
    error: ConfigError | None = None
    try:
        create_app(load_config(path, environ=ENVIRON), engine=engine)
    except ConfigError as exc:
        error = exc
    if error is None:
        return
    message = str(error)
    assert message.startswith(f"{path}: "), message
    assert SECRET not in message
    assert MASTER not in message
    if error.param is not None:
        top = error.param.split(".")[0].split("[")[0]
        assert top in TOP_KEYS or "unknown key" in message, f"param {error.param!r} is not a place: {message}"
        assert error.param in message, message


@FUZZ
@given(config=broken_configs())
def test_robustness_config_wrong_values_unknown_and_missing_keys(tmp_path: Path, engine: Engine, config: Any) -> None:
    """Wrong types at every place, unknown and missing keys, unset variables: a gateway or a ConfigError naming it."""
    path = tmp_path / "gateway.yaml"
    path.write_bytes(_dump(config))

    check(path, engine)


@FUZZ
@given(content=not_yaml)
def test_robustness_config_not_yaml(tmp_path: Path, engine: Engine, content: bytes) -> None:
    """Binary junk, broken or hostile YAML, self-referencing aliases: a ConfigError naming the file."""
    path = tmp_path / "gateway.yaml"
    path.write_bytes(content)

    check(path, engine)


def test_robustness_config_base_is_valid(tmp_path: Path, engine: Engine) -> None:
    """The config the mutations start from is valid, so each failure above comes from its mutation."""
    path = tmp_path / "gateway.yaml"
    path.write_bytes(_dump(BASE))

    gateway = create_app(load_config(path, environ=ENVIRON), engine=engine)

    assert gateway.router.model_names == ["demo", "sd", "nova"]
