"""Loading the gateway's config: LiteLLM's shape, environment references and one clear message per mistake."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pixmux_openai.provider
import pytest
import yaml
from gateway_support import config_dict
from pixmux.proxy import ConfigError, create_app, load_config, parse_config
from pixmux.testing import make_engine

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "config.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_load_config_reads_litellm_shape(tmp_path: Path) -> None:
    """model_list with litellm_params or params, model_info, master_key and router_settings are read."""
    path = write(
        tmp_path,
        """
model_list:
  - model_name: gpt-image-1
    litellm_params: {model: azure/gpt-image-1, api_key: os.environ/AZURE_KEY, rpm: 60}
    model_info: {id: eu}
  - model_name: gpt-image-1
    params: {model: openai/gpt-image-1}
general_settings: {master_key: os.environ/MASTER}
router_settings: {num_retries: 1}
litellm_settings: {drop_params: true, request_timeout: 30}
""",
    )

    config = load_config(path, environ={"AZURE_KEY": "az-secret-1", "MASTER": "sk-master"})

    assert config.model_names == ["gpt-image-1"]
    first, second = config.model_list
    assert first["litellm_params"]["api_key"] == "az-secret-1"
    assert first["model_info"] == {"id": "eu"}
    assert second["litellm_params"] == {"model": "openai/gpt-image-1", "drop_params": True, "timeout": 30.0}
    assert config.master_key == "sk-master"
    assert config.router_settings == {"num_retries": 1}
    assert {"az-secret-1", "sk-master"} <= config.secrets


def test_load_config_keeps_secrets_out_of_repr(tmp_path: Path) -> None:
    """The config's repr never shows the master key or resolved credentials."""
    path = write(
        tmp_path,
        "model_list: [{model_name: a, params: {model: openai/x, api_key: os.environ/K}}]\n"
        "general_settings: {master_key: sk-very-secret}\n",
    )

    config = load_config(path, environ={"K": "sk-upstream-secret"})

    assert "sk-very-secret" not in repr(config)
    assert "sk-upstream-secret" not in repr(config)


@pytest.mark.parametrize(
    ("text", "where", "expected"),
    [
        (
            "model_list: [{model_name: a, params: {model: openai/x, api_key: os.environ/NOPE}}]",
            "model_list[0].params.api_key",
            "NOPE is not set",
        ),
        (
            "model_list: [{model_name: a, params: {model: openai/x}}]\nrouter_setings: {}",
            "router_setings",
            "unknown key",
        ),
        (
            "model_list: [{model_name: a, litellm_params: {model: openai/x}, modelinfo: {}}]",
            "model_list[0].modelinfo",
            "unknown key",
        ),
        (
            "model_list: [{model_name: a, params: {model: openai/x, timeout: fast}}]",
            "model_list[0].params.timeout",
            "expected a number",
        ),
        (
            "model_list: [{model_name: a, params: {model: openai/x, drop_params: 'yes'}}]",
            "model_list[0].params.drop_params",
            "true or false",
        ),
        ("model_list: [{model_name: 3, params: {model: openai/x}}]", "model_list[0].model_name", "non-empty string"),
        ("model_list: [{model_name: a, params: {api_key: k}}]", "model_list[0].params.model", "missing"),
        ("model_list: [{model_name: a}]", "model_list[0].litellm_params", "missing"),
        ("model_list: [{model_name: a, params: {model: x}, litellm_params: {model: y}}]", "model_list[0]", "not both"),
        ("model_list: {a: b}", "model_list", "non-empty list"),
        ("model_list: []", "model_list", "non-empty list"),
        ("general_settings: {}", "model_list", "missing"),
        (
            "model_list: [{model_name: a, params: {model: openai/x}}]\ngeneral_settings: {master_key: 5}",
            "general_settings.master_key",
            "non-empty string",
        ),
        (
            "model_list: [{model_name: a, params: {model: openai/x}}]\ngeneral_settings: {max_request_size_mb: -1}",
            "general_settings.max_request_size_mb",
            "above 0",
        ),
        (
            "model_list: [{model_name: a, params: {model: openai/x}}]\nlitellm_settings: {dropparams: true}",
            "litellm_settings.dropparams",
            "unknown key",
        ),
        (
            "model_list:\n - {model_name: a, params: {model: openai/x}, model_info: {id: same}}\n"
            " - {model_name: b, params: {model: openai/y}, model_info: {id: same}}",
            "model_list[1].model_info.id",
            "already used by model_list[0]",
        ),
        ("- just\n- a list", "", "expected a mapping"),
        ("", "", "the file is empty"),
    ],
)
def test_load_config_names_file_place_and_expectation(tmp_path: Path, text: str, where: str, expected: str) -> None:
    """Each mistake is one ConfigError naming the file, the place in it and what was expected."""
    path = write(tmp_path, text)

    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})

    message = str(caught.value)
    assert message.startswith(f"{path}: {where}")
    assert expected in message


def test_load_config_bad_yaml_names_the_line(tmp_path: Path) -> None:
    """Broken YAML is reported with its line and column."""
    path = write(tmp_path, "model_list:\n  - model_name: a\n    params: {model: [unclosed\n")

    with pytest.raises(ConfigError, match=rf"^{path}: line \d+, column \d+: not valid YAML"):
        load_config(path, environ={})


def test_load_config_refuses_a_key_given_twice(tmp_path: Path) -> None:
    """A key repeated in one mapping is an error, not a silent override."""
    path = write(tmp_path, "model_list: [{model_name: a, params: {model: openai/x}}]\nmodel_list: []\n")

    with pytest.raises(ConfigError, match="given twice"):
        load_config(path, environ={})


def test_load_config_missing_file_is_a_config_error(tmp_path: Path) -> None:
    """A config path that does not exist is reported as such."""
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_config(tmp_path / "nope.yaml")


def test_load_config_ignores_litellm_only_settings_with_a_warning(tmp_path: Path) -> None:
    """A LiteLLM config carrying settings pixmux does not use still loads, and says what it ignored."""
    path = write(
        tmp_path,
        "model_list: [{model_name: a, params: {model: openai/x}}]\n"
        "litellm_settings: {set_verbose: true, success_callback: [langfuse]}\n"
        "general_settings: {master_key: sk-1234, store_model_in_db: true}\n",
    )

    config = load_config(path, environ={})

    assert any("litellm_settings.success_callback" in note for note in config.warnings)
    assert any("general_settings.store_model_in_db" in note for note in config.warnings)
    assert config.verbose  # set_verbose is honoured: debug logging


def test_load_config_missing_env_message_shows_no_value(tmp_path: Path) -> None:
    """Environment references resolve only at start, and the error names the variable, never a value."""
    path = write(
        tmp_path,
        "model_list: [{model_name: a, params: {model: openai/x, api_key: os.environ/KEY_A, api_base: os.environ/B}}]",
    )

    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={"KEY_A": "sk-present-value"})

    assert "B is not set" in str(caught.value)
    assert "sk-present-value" not in str(caught.value)


def gateway_for(config: dict[str, Any]) -> Any:
    return create_app(
        parse_config(config, path="g.yaml", environ={}),
        engine=make_engine(pixmux_openai.provider, handler=lambda r: None),
    )  # type: ignore[arg-type,return-value]


def test_create_app_unknown_provider_names_the_place() -> None:
    """A model string whose provider is not installed stops the start, naming the entry."""
    config = {"model_list": [{"model_name": "a", "params": {"model": "nosuch/model-x"}}]}

    with pytest.raises(
        ConfigError, match=r"^g\.yaml: model_list\[0\]\.litellm_params\.model: no provider plugin named 'nosuch'"
    ):
        gateway_for(config)


def test_create_app_refuses_deployment_params_the_model_rejects() -> None:
    """A deployment default the model cannot take is found at start, not on the first request."""
    config = {"model_list": [{"model_name": "a", "params": {"model": "openai/gpt-image-1", "size": "640x480"}}]}

    with pytest.raises(ConfigError, match=r"model_list\[0\]\.litellm_params\.size: .*640x480"):
        gateway_for(config)


def test_create_app_unknown_router_setting_names_it() -> None:
    """An unknown router_settings key stops the start, naming it."""
    config = {**config_dict(), "router_settings": {"num_retrys": 2}}

    with pytest.raises(ConfigError, match=r"^g\.yaml: router_settings.*num_retrys"):
        gateway_for(config)


def test_example_config_starts_without_any_key() -> None:
    """examples/config.yaml, the README's first command, loads and builds with an empty environment."""
    config = load_config(EXAMPLE, environ={})
    gateway = create_app(config, engine=make_engine(pixmux_openai.provider, handler=lambda r: None))  # type: ignore[arg-type,return-value]

    assert gateway.router.model_names == ["demo"]
    assert isinstance(yaml.safe_load(EXAMPLE.read_text()), dict)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("model_list: &a [*a]\n", r"model_list\[0\]: refers to itself"),
        (
            "model_list: [{model_name: a, params: {model: openai/x, extra: &b [*b]}}]\n",
            r"model_list\[0\]\.params\.extra\[0\]: refers to itself",
        ),
        ("model_list: " + "[" * 5000 + "]" * 5000 + "\n", "nests mappings and lists too deeply"),
        (
            "model_list: [{model_name: a, params: {model: openai/x, extra: " + "[" * 40 + "]" * 40 + "}}]\n",
            r"model_list\[0\]\.params\.extra(\[0\])+: nests mappings and lists more than 32 deep",
        ),
    ],
)
def test_load_config_refuses_endless_nesting(tmp_path: Path, text: str, where: str) -> None:
    """A YAML alias used inside itself, or nesting past any real config, is a ConfigError (it was a RecursionError)."""
    path = write(tmp_path, text)

    with pytest.raises(ConfigError, match=rf"^{path}: .*{where}"):
        load_config(path, environ={})


def test_load_config_shares_an_alias_used_twice(tmp_path: Path) -> None:
    """An alias used in two places (not inside itself) is still a valid config."""
    text = (
        "model_list:\n"
        "  - {model_name: a, params: {model: openai/x, api_base: &base 'http://127.0.0.1:9/v1'}}\n"
        "  - {model_name: b, params: {model: openai/y, api_base: *base}}\n"
    )

    config = load_config(write(tmp_path, text), environ={})

    assert [entry["litellm_params"]["api_base"] for entry in config.model_list] == ["http://127.0.0.1:9/v1"] * 2


@pytest.mark.parametrize(
    "router_settings",
    [{"timeout": "os.environ/KEY"}, {"fallbacks": "os.environ/KEY"}, {"model_group_alias": {"x": "os.environ/KEY"}}],
)
def test_create_app_never_shows_a_credential_written_in_the_wrong_place(router_settings: dict[str, Any]) -> None:
    """A key read from the environment into a non-secret setting is hidden in the start-up error."""
    config = {**config_dict(), "router_settings": router_settings}
    secret = "sk-from-the-environment-123"

    with pytest.raises(ConfigError) as caught:
        create_app(
            parse_config(config, path="g.yaml", environ={"KEY": secret}),
            engine=make_engine(pixmux_openai.provider, handler=lambda r: None),
        )  # type: ignore[arg-type,return-value]

    assert secret not in str(caught.value)
    assert str(caught.value).startswith("g.yaml: router_settings")


@pytest.mark.parametrize(
    "model",
    ["stability/edit/inpaint", "stability/upscale/fast", "byteplus/seededit-3-0-i2i-250628", "runway/gen4_image_turbo"],
)
def test_a_model_that_only_edits_can_be_served(model: str) -> None:
    """An edit-only service starts (checked as an edit on a sample image), and its credentials are scrubbed."""
    secret = "sk-edit-only-secret-0123456789"
    config = parse_config(
        {"model_list": [{"model_name": "editor", "litellm_params": {"model": model, "api_key": secret}}]},
        path="edit-only.yaml",
        environ={},
    )
    gateway = create_app(config)
    assert gateway.router.model_names == ["editor"]
    assert secret not in gateway._scrub(f"echo {secret}")
