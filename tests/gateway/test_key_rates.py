"""A virtual key's and its team's rpm and images-per-minute limits through the gateway, in process (SQLite)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pixmux_openai.provider
import pytest
from gateway_support import auth, mock_handler
from keys_support import keys_config
from pixmux.proxy import Gateway, create_app, parse_config
from pixmux.testing import make_engine

PROMPT = {"model": "img", "prompt": "an otter"}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    config = keys_config(f"sqlite:///{tmp_path / 'keys.db'}", journal=tmp_path / "journal")
    gateway: Gateway = create_app(
        parse_config(config, path="keys.yaml", environ={}),
        engine=make_engine(pixmux_openai.provider, handler=mock_handler),
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gateway.test") as c:
        yield c
    assert gateway.accounting is not None
    await gateway.accounting.stop()


async def _post(client: httpx.AsyncClient, path: str, **body: object) -> dict[str, object]:
    answer = await client.post(path, headers=auth(), json=body)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def test_a_teams_rpm_is_shared_by_its_keys(client: httpx.AsyncClient) -> None:
    """Team rpm 2, two keys (one with its own rpm 2): the team's third request is refused, naming the team's limit."""
    await _post(client, "/team/new", team_id="studio", rpm_limit=2)
    first = await _post(client, "/key/generate", team_id="studio", rpm_limit=2)
    second = await _post(client, "/key/generate", team_id="studio")

    async def send(key: object) -> httpx.Response:
        return await client.post("/v1/images/generations", headers=auth(str(key)), json=PROMPT)

    answers = [await send(first["key"]), await send(second["key"]), await send(first["key"])]

    assert [a.status_code for a in answers] == [200, 200, 429]
    refused = answers[2].json()["error"]
    assert refused["type"] == "rate_limit_error"
    assert "this key's team" in refused["message"]
    assert "rpm_limit 2" in refused["message"]
    assert 58 <= int(answers[2].headers["retry-after"]) <= 60


async def test_more_images_than_the_ipm_in_one_request_is_refused_without_retry_after(
    client: httpx.AsyncClient,
) -> None:
    """ipm_limit 2 and n=3: a 429 naming n, without retry-after (it never fits); n=2 still passes after it."""
    key = await _post(client, "/key/generate", ipm_limit=2)

    too_many = await client.post("/v1/images/generations", headers=auth(str(key["key"])), json={**PROMPT, "n": 3})
    fits = await client.post("/v1/images/generations", headers=auth(str(key["key"])), json={**PROMPT, "n": 2})

    assert too_many.status_code == 429
    assert too_many.json()["error"]["param"] == "n"
    assert "retry-after" not in too_many.headers
    assert fits.status_code == 200
