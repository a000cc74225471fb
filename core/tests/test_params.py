"""Parameters: validation before any I/O, drop_params, provider parameters, settings and the environment."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest
from pixmux import ConfigurationError, PixmuxWarning, UnsupportedParamsError
from pixmux.testing import make_engine


def sent_body(engine: Any, index: int = 0) -> dict[str, Any]:
    """The JSON body of the ``index``-th request the engine sent."""
    return dict(json.loads(engine.requests[index].content))


@pytest.mark.parametrize(
    ("kwargs", "param", "accepted"),
    [
        ({"size": "1024x1024"}, "size", "256x256, 512x512"),
        ({"quality": "hd"}, "quality", "standard"),
        ({"style": "vivid"}, "style", "none"),
        ({"response_format": "png"}, "response_format", "b64_json, url"),
        ({"n": 5}, "n", "1 to 4"),
        ({"seed": 5000}, "seed", "0 to 1000"),
        ({"guidance": 7}, "guidance", "negative_prompt, seed"),
    ],
)
def test_validate_unsupported_raises_before_any_request(
    fake: Any, no_network: Any, kwargs: dict[str, Any], param: str, accepted: str
) -> None:
    """An unsupported parameter raises UnsupportedParamsError naming it, its value and what is accepted; no I/O."""
    engine = make_engine(fake, handler=no_network)

    with pytest.raises(UnsupportedParamsError) as caught:
        engine.image_generation(prompt="otter", model="fake/m1", **kwargs)

    error = caught.value
    assert param == error.param
    assert error.provider == "fake"
    assert error.model == "m1"
    assert error.status_code == 400
    assert error.response is None
    assert repr(next(iter(kwargs.values())))[:4] in str(error)
    assert accepted in str(error)
    assert engine.requests == []


@pytest.mark.parametrize("prompt", ["", "   ", "x" * 101])
def test_validate_bad_prompt_raises(fake: Any, no_network: Any, prompt: str) -> None:
    """An empty prompt or one longer than the model takes is refused naming ``prompt``."""
    engine = make_engine(fake, handler=no_network)

    with pytest.raises(UnsupportedParamsError) as caught:
        engine.image_generation(prompt=prompt, model="fake/m1")

    assert caught.value.param == "prompt"


@pytest.mark.parametrize("n", [0, -1, True, 1.5, "2"])
def test_validate_n_must_be_a_positive_whole_number(fake: Any, no_network: Any, n: Any) -> None:
    """``n`` that is not a whole number of at least 1 is refused naming ``n``."""
    engine = make_engine(fake, handler=no_network)

    with pytest.raises(UnsupportedParamsError) as caught:
        engine.image_generation(prompt="otter", model="fake/m1", n=n)

    assert caught.value.param == "n"


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"prompt": None}, "prompt"),
        ({"prompt": b"otter"}, "prompt"),
        ({"prompt": "otter \ud800"}, "prompt"),
        ({"size": 1024}, "size"),
        ({"size": ["1024x1024"]}, "size"),
        ({"quality": "hd\udfff"}, "quality"),
        ({"user": 42}, "user"),
        ({"guidance": b"\x00\x01"}, "guidance"),
        ({"guidance": float("nan")}, "guidance"),
        ({"guidance": {"deep": [object()]}}, "guidance"),
        ({"guidance": {1: "a"}}, "guidance"),
        ({"guidance": "\ud800"}, "guidance"),
    ],
)
def test_validate_values_that_cannot_be_sent_name_the_param(
    fake: Any, no_network: Any, kwargs: dict[str, Any], param: str
) -> None:
    """Wrong types, lone surrogates, NaN and non-JSON values are refused naming the parameter, for any model."""
    engine = make_engine(fake, handler=no_network)
    call = {"prompt": "otter", **kwargs}

    with pytest.raises(UnsupportedParamsError) as caught:
        engine.image_generation(model="fake/brand-new", **call)

    assert caught.value.param == param
    assert len(str(caught.value)) < 300
    str(caught.value).encode("utf-8")  # the message itself can always be written out
    assert engine.requests == []


@pytest.mark.parametrize("n", [1001, 10**20])
def test_validate_n_is_bounded_for_unlisted_models(fake: Any, no_network: Any, n: int) -> None:
    """A model the catalogue does not list still takes at most 1000 images a call (a huge n ran out of memory)."""
    engine = make_engine(fake, handler=no_network)

    with pytest.raises(UnsupportedParamsError, match="1 to 1000") as caught:
        engine.image_generation(prompt="otter", model="fake/brand-new", n=n, mock_response=True)

    assert caught.value.param == "n"


def test_validate_nesting_too_deep_is_refused(fake: Any, no_network: Any) -> None:
    """A parameter nesting lists past any sane depth (or holding itself) is refused, not a RecursionError."""
    engine = make_engine(fake, handler=no_network)
    loop: list[Any] = []
    loop.append(loop)

    with pytest.raises(UnsupportedParamsError, match="deep") as caught:
        engine.image_generation(prompt="otter", model="fake/brand-new", guidance=loop)

    assert caught.value.param == "guidance"


def test_validate_retired_model_says_so(fake: Any, no_network: Any) -> None:
    """A retired model is refused with the catalogue's sentence, naming ``model``."""
    engine = make_engine(fake, handler=no_network)

    with pytest.raises(UnsupportedParamsError, match=r"shut down on 2020-01-01; use m1") as caught:
        engine.image_generation(prompt="otter", model="fake/old")

    assert caught.value.param == "model"


def test_validate_unknown_model_is_forwarded(fake: Any, ok_handler: Any) -> None:
    """A model the catalogue does not list is sent with the caller's parameters unchecked."""
    engine = make_engine(fake, handler=ok_handler)

    engine.image_generation(prompt="otter", model="fake/brand-new", size="999x999", quality="ultra", guidance=3)

    assert {k: v for k, v in sent_body(engine).items() if k in ("size", "quality", "guidance")} == {
        "size": "999x999",
        "quality": "ultra",
        "guidance": 3,
    }


def test_drop_params_drops_each_unsupported_param_with_a_warning(fake: Any, ok_handler: Any) -> None:
    """``drop_params=True`` drops what the model refuses, warns naming each, and records it in metadata."""
    engine = make_engine(fake, handler=ok_handler)

    with pytest.warns(PixmuxWarning) as record:
        resp = engine.image_generation(
            prompt="otter", model="fake/m1", size="1024x1024", quality="hd", seed=7, guidance=3, drop_params=True
        )

    messages = [str(w.message) for w in record]
    assert len(messages) == 3
    assert any("size='1024x1024'" in m for m in messages)
    assert any("quality='hd'" in m for m in messages)
    assert any("guidance=3" in m for m in messages)
    body = sent_body(engine)
    assert "size" not in body
    assert "quality" not in body
    assert "guidance" not in body
    assert body["seed"] == 7
    assert len(resp.metadata["warnings"]) == 3
    assert all(note.startswith("dropped ") for note in resp.metadata["warnings"])


def test_drop_params_never_drops_the_prompt(fake: Any, no_network: Any) -> None:
    """A prompt the model refuses still raises with ``drop_params=True``."""
    engine = make_engine(fake, handler=no_network)

    with pytest.raises(UnsupportedParamsError) as caught:
        engine.image_generation(prompt="x" * 500, model="fake/m1", drop_params=True)

    assert caught.value.param == "prompt"


def test_drop_params_never_drops_a_retired_model(fake: Any, no_network: Any) -> None:
    """A retired model still raises with ``drop_params=True``: there is no parameter to drop."""
    engine = make_engine(fake, handler=no_network)

    with pytest.raises(UnsupportedParamsError):
        engine.image_generation(prompt="otter", model="fake/old", drop_params=True)


def test_drop_params_off_warns_nothing(fake: Any, ok_handler: Any) -> None:
    """A valid call with ``drop_params=True`` sends everything and warns nothing."""
    engine = make_engine(fake, handler=ok_handler)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resp = engine.image_generation(prompt="otter", model="fake/m1", size="512x512", drop_params=True)

    assert sent_body(engine)["size"] == "512x512"
    assert "warnings" not in resp.metadata


def test_params_provider_specific_kwargs_reach_the_body(fake: Any, ok_handler: Any) -> None:
    """Keyword arguments pixmux does not know are passed to the plugin and sent."""
    engine = make_engine(fake, handler=ok_handler)

    engine.image_generation(prompt="otter", model="fake/m1", seed=42, negative_prompt="blur")

    body = sent_body(engine)
    assert body["seed"] == 42
    assert body["negative_prompt"] == "blur"


def test_params_none_valued_kwargs_are_not_sent(fake: Any, ok_handler: Any) -> None:
    """A provider parameter given as ``None`` counts as unset."""
    engine = make_engine(fake, handler=ok_handler)

    engine.image_generation(prompt="otter", model="fake/m1", seed=None)

    assert "seed" not in sent_body(engine)


def test_params_settings_go_to_the_deployment_never_the_body(fake: Any, ok_handler: Any) -> None:
    """Catalogue settings (region, credentials) land in ``deployment.settings``, not in the request."""
    engine = make_engine(fake, handler=ok_handler)

    call = engine.prepare(prompt="otter", model="fake/m1", fake_region="eu-west-1", fake_credentials={"k": "v"})
    engine.send(call)

    assert call.deployment.setting("fake_region") == "eu-west-1"
    assert dict(call.request.params) == {}
    assert "fake_region" not in sent_body(engine)
    assert engine.requests[0].headers["X-Region"] == "eu-west-1"


def test_params_environment_fills_fields_and_settings(fake: Any, ok_handler: Any) -> None:
    """The core reads the catalogue's env variables: first one found wins, arguments beat the environment."""
    environ = {"FAKE_API_KEY": "env-key", "FAKE_API_BASE": "https://env.invalid/v2", "FAKE_DEFAULT_REGION": "r2"}
    engine = make_engine(fake, handler=ok_handler, environ=environ)

    from_env = engine.prepare(prompt="otter", model="fake/m1")
    given = engine.prepare(prompt="otter", model="fake/m1", api_key="arg-key", fake_region="r1")

    assert from_env.deployment.api_key == "env-key"
    assert from_env.deployment.api_base == "https://env.invalid/v2"
    assert from_env.deployment.setting("fake_region") == "r2"
    assert given.deployment.api_key == "arg-key"
    assert given.deployment.setting("fake_region") == "r1"


def test_params_empty_environment_values_count_as_unset(fake: Any, ok_handler: Any) -> None:
    """An env variable set to the empty string does not become an empty key."""
    engine = make_engine(fake, handler=ok_handler, environ={"FAKE_API_KEY": ""})

    assert engine.prepare(prompt="otter", model="fake/m1").deployment.api_key is None


def test_params_make_engine_never_reads_the_real_environment(
    fake: Any, ok_handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A developer's real keys never leak into an engine built by make_engine."""
    monkeypatch.setenv("FAKE_API_KEY", "real-key-from-shell")
    engine = make_engine(fake, handler=ok_handler)

    assert engine.prepare(prompt="otter", model="fake/m1").deployment.api_key is None


@pytest.mark.parametrize("timeout", [0, -1, "soon", float("nan"), float("inf"), True, [30], b"30"])
def test_params_bad_timeout_is_a_configuration_error(fake: Any, no_network: Any, timeout: Any) -> None:
    """A timeout that is not a positive number is refused naming ``timeout``."""
    engine = make_engine(fake, handler=no_network)

    with pytest.raises(ConfigurationError) as caught:
        engine.image_generation(prompt="otter", model="fake/m1", timeout=timeout)

    assert caught.value.param == "timeout"


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"api_key": 12345678}, "api_key"),
        ({"api_key": "sk-caf\u00e9-secret"}, "api_key"),
        ({"api_key": "sk-line\nX-Injected: 1"}, "api_key"),
        ({"api_base": ["https://a.test"]}, "api_base"),
        ({"api_base": "not a url"}, "api_base"),
        ({"api_base": "ftp://files.test/v1"}, "api_base"),
        ({"api_base": "https://a.test/v1\nHost: evil"}, "api_base"),
        ({"api_base": "https://\ud800.test/v1"}, "api_base"),
        ({"api_version": 2024}, "api_version"),
        ({"organization": {"id": "org"}}, "organization"),
        ({"custom_llm_provider": 5}, "custom_llm_provider"),
    ],
)
def test_params_bad_deployment_fields_name_the_field(
    fake: Any, no_network: Any, kwargs: dict[str, Any], param: str
) -> None:
    """Wrong-typed or unsendable keys, endpoints and versions are refused naming the field; a key is never shown."""
    engine = make_engine(fake, handler=no_network)

    with pytest.raises(ConfigurationError) as caught:
        engine.image_generation(prompt="otter", model="fake/m1", **kwargs)

    assert caught.value.param == param
    assert "secret" not in str(caught.value)
    assert engine.requests == []


def test_params_environment_api_base_is_checked_too(fake: Any, no_network: Any) -> None:
    """An endpoint read from the environment that is not a URL is refused naming ``api_base``."""
    engine = make_engine(fake, handler=no_network, environ={"FAKE_API_BASE": "localhost:8000"})

    with pytest.raises(ConfigurationError) as caught:
        engine.image_generation(prompt="otter", model="fake/m1")

    assert caught.value.param == "api_base"
