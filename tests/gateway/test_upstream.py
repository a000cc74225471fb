"""The gateway's upstream side: pools sized by general_settings, warmed at start-up, downloads configured."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import pytest
from pixmux.proxy import ConfigError, create_app, parse_config

MODEL_LIST = [{"model_name": "img", "litellm_params": {"model": "openai/dall-e-3", "api_key": "sk-x-123456"}}]


def config(**general: Any) -> Any:
    return parse_config({"model_list": MODEL_LIST, "general_settings": {"master_key": "sk-m", **general}})


def test_upstream_max_connections_and_download_horizon_reach_the_engine() -> None:
    """general_settings.upstream_max_connections sizes the pools; download_horizon reaches the exchange."""
    app = create_app(config(upstream_max_connections=512, download_horizon=900))

    assert app.engine.max_connections == 512
    assert app.engine.download_horizon == 900


def test_the_default_upstream_pool_is_sized_for_a_gateway() -> None:
    """Without the setting, far more than 256 clients' worth of connections may be open and kept alive."""
    assert create_app(config()).engine.max_connections >= 512


@pytest.mark.parametrize("value", [0, -3, 1.5, "many", True])
def test_a_wrong_upstream_max_connections_is_a_config_error(value: object) -> None:
    """A wrong pool size is refused at start, naming the setting."""
    with pytest.raises(ConfigError, match=r"general_settings\.upstream_max_connections"):
        config(upstream_max_connections=value)


def test_the_transport_is_warmed_at_start_up_not_on_the_first_request() -> None:
    """Lifespan start-up builds the upstream pool (and imports aiohttp): the first request pays nothing."""
    app = create_app(config())

    async def start_and_stop() -> tuple[bool, bool]:
        messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
        sent: list[dict[str, Any]] = []
        warmed: list[bool] = []

        async def receive() -> dict[str, Any]:
            return next(messages)

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)
            if message["type"] == "lifespan.startup.complete":
                transport = app.engine.async_transport()
                warmed.append(transport._session is not None or transport._own is not None)

        await app({"type": "lifespan"}, receive, send)
        return warmed[0], "aiohttp" in sys.modules

    warmed, imported = asyncio.run(start_and_stop())
    assert warmed
    assert imported
