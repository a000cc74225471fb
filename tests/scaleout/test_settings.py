"""The scale-out settings in a gateway config: how Redis is named, what is refused, what stays secret."""

from __future__ import annotations

from typing import Any

import pytest
from pixmux.proxy import create_app, parse_config
from pixmux.proxy.config import ConfigError
from pixmux.state import LocalState
from pixmux.state.redis_store import RedisState

PASSWORD = "redis-secret-password-0123456789"


def _config(router: dict[str, Any] | None = None, **general: Any) -> dict[str, Any]:
    return {
        "model_list": [{"model_name": "m", "litellm_params": {"model": "openai/gpt-image-1", "mock_response": True}}],
        "general_settings": general,
        "router_settings": {"num_retries": 1, **(router or {})},
    }


def _gateway(config: dict[str, Any], environ: dict[str, str] | None = None) -> Any:
    return create_app(parse_config(config, path="scaleout.yaml", environ=environ or {}))


def test_litellm_redis_keys_switch_sharing_on_and_never_reach_the_router() -> None:
    """router_settings.redis_host/port/password (from the environment) make a RedisState; the router gets the rest."""
    config = _config(
        {
            "redis_host": "redis.internal",
            "redis_port": "os.environ/REDIS_PORT",
            "redis_password": "os.environ/REDIS_PASSWORD",
        }
    )

    gateway = _gateway(config, {"REDIS_PORT": "6380", "REDIS_PASSWORD": PASSWORD})

    state = gateway.router.state
    assert isinstance(state, RedisState)
    assert state._server["port"] == 6380
    assert gateway.router.num_retries == 1
    assert PASSWORD not in repr(state)
    assert PASSWORD not in repr(gateway.config)
    assert PASSWORD not in repr(gateway.scaleout)
    assert PASSWORD in gateway._secrets  # scrubbed from every error message


def test_general_redis_url_wins_and_its_password_is_a_secret() -> None:
    """general_settings.redis_url is used over router_settings.redis_host; shared_state options apply."""
    config = _config(
        {"redis_host": "ignored.internal"},
        redis_url=f"redis://:{PASSWORD}@127.0.0.1:6399/2",
        shared_state={"on_redis_error": "closed", "redis_timeout": 0.25, "key_prefix": "blue", "cooldown_refresh": 0},
    )

    gateway = _gateway(config)

    state = gateway.router.state
    assert isinstance(state, RedisState)
    assert (state.on_error, state.timeout, state.prefix, state.refresh) == ("closed", 0.25, "blue", 0.0)
    assert "ignored.internal" not in repr(state)
    assert PASSWORD not in repr(state)
    assert PASSWORD in gateway._secrets


def test_without_redis_the_router_keeps_its_state_in_process() -> None:
    """No Redis named: LocalState, and no Redis client is ever made."""
    gateway = _gateway(_config())

    assert isinstance(gateway.router.state, LocalState)


@pytest.mark.parametrize(
    ("router", "general", "where"),
    [
        ({"redis_port": 6379, "redis_host": "h", "redis_password": 5}, {}, "router_settings.redis_password"),
        ({"redis_host": "h", "redis_port": "http"}, {}, "router_settings.redis_port"),
        ({"redis_url": "http://example.test"}, {}, "router_settings.redis_url"),
        ({}, {"shared_state": {"on_redis_error": "closed"}}, "general_settings.shared_state"),
        ({}, {"redis_url": "redis://h", "shared_state": {"on_redis_error": "maybe"}}, "on_redis_error"),
        ({}, {"redis_url": "redis://h", "shared_state": {"redis_timeout": -1}}, "redis_timeout"),
        ({}, {"redis_url": "redis://h", "shared_state": {"key_prefix": "{x}"}}, "key_prefix"),
        ({}, {"redis_url": "redis://h", "shared_state": {"colour": "red"}}, "shared_state.colour"),
        ({}, {"redis_url": "redis://h", "shared_state": "yes"}, "general_settings.shared_state"),
        ({}, {"tracing": 1}, "general_settings.tracing"),
    ],
)
def test_bad_scaleout_settings_are_config_errors_naming_the_place(
    router: dict[str, Any], general: dict[str, Any], where: str
) -> None:
    """Each wrong setting stops the start with a ConfigError naming the file and the place."""
    with pytest.raises(ConfigError) as caught:
        _gateway(_config(router, **general))

    assert "scaleout.yaml" in str(caught.value)
    assert where in str(caught.value)
