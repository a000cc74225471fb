"""
A stream that fails after its first event counts as any failed attempt: in the shared state
(a cooldown another instance sees), and in the metrics (an upstream error, a cooldown, the
request's status). The stand-in streams OpenAI's events and fails mid-stream with OpenAI's
``error`` event.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pixmux
import pytest
from pixmux.router import Router
from pixmux.state.redis_store import RedisState
from pixmux.testing import local_server
from prometheus_client.parser import text_string_to_metric_families
from scaleout_support import MASTER_KEY, GatewayProcess, RedisServer

sys.path.insert(0, str(Path(__file__).parents[2] / "plugins" / "openai" / "tests"))

from stream_support import KEY, StreamingProvider

FAILING = "an otter fail-midway"


@pytest.fixture
def upstream() -> Iterator[str]:
    handler: type[StreamingProvider] = type("Provider", (StreamingProvider,), {"seen": [], "attempts": {}})
    with local_server(handler) as url:
        yield f"{url}/v1"


def _model_list(api_base: str) -> list[dict[str, Any]]:
    """Two deployments of ``img``: ``flaky`` first, ``ok`` second (the prompt decides whether a stream fails)."""
    return [
        {
            "model_name": "img",
            "litellm_params": {"model": "openai/gpt-image-1", "api_base": api_base, "api_key": KEY, "order": order},
            "model_info": {"id": name},
        }
        for order, name in ((1, "flaky"), (2, "ok"))
    ]


def _stream(gateway: GatewayProcess, prompt: str) -> tuple[list[str], str | None]:
    """The event types of one streamed generation, and the deployment its ``: pixmux`` note names."""
    body = {"model": "img", "prompt": prompt, "stream": True, "partial_images": 1}
    headers = {"Authorization": f"Bearer {MASTER_KEY}"}
    with httpx.stream("POST", f"{gateway.url}/v1/images/generations", json=body, headers=headers, timeout=30) as r:
        assert r.status_code == 200
        raw = r.read().decode()
    kinds = [line.split(":", 1)[1].strip() for line in raw.splitlines() if line.startswith("event:")]
    served = None
    for line in raw.splitlines():
        if line.startswith(": pixmux "):
            served = json.loads(line[len(": pixmux ") :]).get("deployment")
    return kinds, served


def _value(text: str, name: str, **labels: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def test_a_mid_stream_failure_cools_the_deployment_for_every_instance_and_is_counted(
    redis_server: RedisServer, upstream: str, tmp_path: Path
) -> None:
    """A fails mid-stream on `flaky` (allowed_fails 0): B's next stream goes to `ok`; A's /metrics count it."""
    config: dict[str, Any] = {
        "model_list": _model_list(upstream),
        "general_settings": {"master_key": MASTER_KEY, "metrics": True},
        "router_settings": {
            "num_retries": 0,
            "allowed_fails": 0,
            "cooldown_time": 60,
            "redis_url": redis_server.url,
        },
    }
    with GatewayProcess(config, tmp_path, name="a") as first, GatewayProcess(config, tmp_path, name="b") as second:
        failed, _ = _stream(first, FAILING)
        time.sleep(0.1)  # B reads cooldowns at least every 50 ms
        kinds, served = _stream(second, "an otter")
        metrics = httpx.get(f"{first.url}/metrics", headers={"Authorization": f"Bearer {MASTER_KEY}"}).text

    assert failed == ["image_generation.partial_image", "error"]
    assert kinds[-1] == "image_generation.completed"
    assert served == "ok"  # without the shared failure, B would have tried `flaky` first
    assert b"pixmux:{img}:flaky:c" in redis_server.dump()
    assert _value(metrics, "pixmux_upstream_errors_total", provider="openai") == 1
    assert _value(metrics, "pixmux_cooldowns_total", deployment="flaky") == 1
    assert _value(metrics, "pixmux_requests_total", route="/v1/images/generations", status="500") == 1


def test_the_sync_router_records_a_mid_stream_failure_in_the_shared_state(
    redis_server: RedisServer, upstream: str
) -> None:
    """The library's blocking stream: the failure after the first event cools `flaky` in Redis."""
    state = RedisState(redis_server.url, timeout=2.0)
    router = Router(
        _model_list(upstream),
        engine=pixmux.Engine(),
        state=state,
        num_retries=0,
        allowed_fails=0,
        cooldown_time=60,
    )
    seen: list[str] = []

    def consume() -> None:
        seen.extend(event.type for event in router.stream_image_generation(FAILING, "img", partial_images=1))

    with pytest.raises(pixmux.PixmuxError):
        consume()
    after = list(router.stream_image_generation("an otter", "img", partial_images=1))

    assert seen == ["image_generation.partial_image"]
    assert b"pixmux:{img}:flaky:c" in redis_server.dump()
    assert after[-1].metadata["deployment"] == "ok"
