"""Streamed generations with a virtual key: reserved before the stream, charged when it completes."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from gateway_support import MASTER_KEY, RunningGateway, auth
from keys_support import IMAGE_PRICE, keys_config
from pixmux.proxy import create_app, parse_config
from pixmux.testing import local_server

sys.path.insert(0, str(Path(__file__).parents[2] / "plugins" / "openai" / "tests"))

from stream_support import KEY, StreamingProvider


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[RunningGateway]:
    with local_server(StreamingProvider) as url:
        config = keys_config(f"sqlite:///{tmp_path / 'k.db'}", f"{url}/v1", journal=tmp_path / "journal")
        config["model_list"][0]["litellm_params"]["api_key"] = KEY
        with RunningGateway(create_app(parse_config(config, path="s.yaml", environ={}))) as running:
            yield running


def test_streams_count_against_the_budget_and_leave_spend_rows(gateway: RunningGateway) -> None:
    """A budget of one image: one stream completes and is charged; the next is refused before it starts."""
    created = httpx.post(f"{gateway.url}/key/generate", headers=auth(), json={"max_budget": IMAGE_PRICE}).json()
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=created["key"], max_retries=0)

    events = list(client.images.generate(model="img", prompt="otter", stream=True, partial_images=1))
    with pytest.raises(openai.RateLimitError) as refused:
        client.images.generate(model="img", prompt="otter", stream=True, partial_images=1)
    logs = httpx.get(f"{gateway.url}/spend/logs", headers={"Authorization": f"Bearer {MASTER_KEY}"}).json()
    info = httpx.get(f"{gateway.url}/key/info", params={"key": created["key"]}, headers=auth()).json()["info"]

    assert events[-1].type == "image_generation.completed"
    assert refused.value.type == "budget_exceeded"
    assert [("success", created["token"])] == [(row["status"], row["api_key"]) for row in logs]
    assert 0 < logs[0]["spend"] <= IMAGE_PRICE
    assert logs[0]["spend"] == pytest.approx(info["spend"])
