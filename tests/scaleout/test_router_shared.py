"""Two library Routers (two processes' worth of router) sharing a RedisState: sync and async paths."""

from __future__ import annotations

import httpx
import pixmux_openai.provider
import pytest
from pixmux import RateLimitError, Router
from pixmux.state.redis_store import RedisState
from pixmux.testing import TINY_PNG_B64, json_response, make_engine
from scaleout_support import RedisServer


def _handler(request: httpx.Request) -> httpx.Response:
    if "/fail/" in request.url.path:
        error = {"error": {"message": "The server had an error.", "type": "server_error", "param": None, "code": None}}
        return json_response(500, error)
    return json_response(200, {"created": 1713833628, "data": [{"b64_json": TINY_PNG_B64}]})


def _router(server: RedisServer, model_list: list[dict[str, object]], **settings: object) -> Router:
    engine = make_engine(pixmux_openai.provider, handler=_handler)
    state = RedisState(server.url, timeout=2.0)
    return Router(model_list, engine=engine, state=state, **settings)  # type: ignore[arg-type]


def _deployment(name: str, **params: object) -> dict[str, object]:
    return {
        "model_name": "img",
        "litellm_params": {
            "model": "openai/gpt-image-1",
            "api_base": f"http://upstream.test/{name}/v1",
            "api_key": "sk-shared-0123456789",
            **params,
        },
        "model_info": {"id": name},
    }


def test_sync_routers_share_one_rpm_window(redis_server: RedisServer) -> None:
    """rpm 3 across two routers on the sync path: three calls go through, the fourth is a RateLimitError."""
    first, second = (_router(redis_server, [_deployment("ok", rpm=3)]) for _ in range(2))

    served = [router.image_generation("an otter", "img") for router in (first, second, first)]
    with pytest.raises(RateLimitError) as caught:
        second.image_generation("an otter", "img")

    assert [response.metadata["deployment"] for response in served] == ["ok"] * 3
    assert caught.value.retry_after is not None
    assert 0 < caught.value.retry_after <= 60


async def test_async_routers_share_cooldowns(redis_server: RedisServer) -> None:
    """Router A's failure cools `fail` down (allowed_fails 0); router B's first call goes straight to `ok`."""
    model_list = [_deployment("fail", order=1), _deployment("ok", order=2)]
    first = _router(redis_server, model_list, allowed_fails=0, cooldown_time=30, num_retries=1)
    second = _router(redis_server, model_list, allowed_fails=0, cooldown_time=30, num_retries=1)

    cooled = await first.aimage_generation("an otter", "img")
    after = await second.aimage_generation("an otter", "img")

    assert cooled.metadata["attempts"] == 2
    assert after.metadata["deployment"] == "ok"
    assert after.metadata["attempts"] == 1
    assert second.health()["fail"].cooling_down  # learned from Redis's refusal
    sent = [request.url.path for request in second.engine.requests]  # type: ignore[attr-defined]
    assert sent == ["/ok/v1/images/generations"]
    await first.state.aclose()
    await second.state.aclose()
