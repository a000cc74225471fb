"""
Budget blocks: each gateway process reserves a share of a key's budget at once and hands it out
in memory. In process on SQLite and a real PostgreSQL, and across two gateway processes on one
PostgreSQL: budgets stay exact, budget one process holds is used by another, a lowered budget
acts at once, token-billed calls that cost more than their estimate are recorded and refused
next, and the budget gauge and JSON log lines carry the key's alias.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pixmux_openai.provider
import pytest
from gateway_support import auth, mock_handler, openai_answer
from keys_support import IMAGE_PRICE, PostgresServer, database_url, keys_config, postgres_server
from pixmux.proxy import Gateway, create_app, parse_config
from pixmux.proxy.process import JsonFormatter
from pixmux.proxy.store.blocks import IDLE, MIN_REQUESTS
from pixmux.testing import json_response, make_engine
from prometheus_client.parser import text_string_to_metric_families
from test_keys_processes import GatewayProcess, burst, new_key, processes

__all__ = ["database_url", "postgres_server", "processes"]

PROMPT = {"model": "img", "prompt": "an otter"}
#: Output tokens that make one gpt-image-1 call cost three times its per-image estimate ($40 per 1M).
OVERSHOOT_TOKENS = round(3 * IMAGE_PRICE / 40e-6)
#: What such a call costs: its output tokens and 50 text input tokens ($5 per 1M).
OVERSHOOT_COST = OVERSHOOT_TOKENS * 40e-6 + 50 * 5e-6


def build(url: str, tmp_path: Path, handler: Any = mock_handler, **general: Any) -> Gateway:
    config = parse_config(keys_config(url, journal=tmp_path / "journal", **general), path="keys.yaml", environ={})
    return create_app(config, engine=make_engine(pixmux_openai.provider, handler=handler))


@pytest.fixture
async def gw(database_url: str, tmp_path: Path) -> AsyncIterator[Gateway]:
    gateway = build(database_url, tmp_path)
    yield gateway
    assert gateway.accounting is not None
    await gateway.accounting.stop()


@pytest.fixture
async def client(gw: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gw), base_url="http://gateway.test") as c:
        yield c


async def generate_key(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    answer = await client.post("/key/generate", headers=auth(), json=body)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def key_info(client: httpx.AsyncClient, key: str) -> dict[str, Any]:
    answer = await client.get("/key/info", params={"key": key}, headers=auth())
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["info"])


async def given_back(gw: Gateway) -> None:
    """Wait until idle blocks are given back, then write every queued row."""
    assert gw.accounting is not None
    assert gw.accounting.blocks is not None
    await asyncio.sleep(IDLE + 0.1)
    await gw.accounting.blocks.tidy()
    await gw.accounting.flush()


async def test_a_block_serves_many_requests_with_few_database_steps(client: httpx.AsyncClient, gw: Gateway) -> None:
    """Fifty requests on a large budget: a handful of block resizes, spend exact, the block given back when idle."""
    assert gw.accounting is not None
    assert gw.accounting.blocks is not None
    created = await generate_key(client, max_budget=1000 * IMAGE_PRICE)

    answers = [
        await client.post("/v1/images/generations", headers=auth(created["key"]), json=PROMPT) for _ in range(50)
    ]
    await gw.accounting.flush()
    holding = await key_info(client, created["key"])
    await given_back(gw)
    after = await key_info(client, created["key"])

    assert [a.status_code for a in answers] == [200] * 50
    assert gw.accounting.blocks.resizes <= 3  # one per LIFETIME second of traffic, not one per request
    assert holding["reserved"] > 100 * IMAGE_PRICE  # the block: a quarter of what was free
    assert after["spend"] == pytest.approx(50 * IMAGE_PRICE, abs=1e-9)
    assert after["reserved"] == 0


async def test_a_budget_reset_frees_a_key_its_blocks_had_spent(client: httpx.AsyncClient, gw: Gateway) -> None:
    """Forty images every 6 s: forty served (from blocks), the next refused, and after the reset served again."""
    created = await generate_key(client, max_budget=40 * IMAGE_PRICE, budget_duration="6s")
    reset_at = time.time() + 6

    spent = [await client.post("/v1/images/generations", headers=auth(created["key"]), json=PROMPT) for _ in range(41)]
    before_reset = time.time()
    await asyncio.sleep(max(0.0, reset_at - time.time()) + 0.3)
    after = await client.post("/v1/images/generations", headers=auth(created["key"]), json=PROMPT)

    assert before_reset < reset_at  # the forty-one requests all fell in the first period
    assert [a.status_code for a in spent] == [200] * 40 + [429]
    assert after.status_code == 200


async def test_lowering_max_budget_acts_at_once_on_a_key_served_from_a_block(
    client: httpx.AsyncClient, gw: Gateway
) -> None:
    """/key/update of max_budget: the block is given back, and the new budget refuses the request after it."""
    created = await generate_key(client, max_budget=1000 * IMAGE_PRICE)
    first = await client.post("/v1/images/generations", headers=auth(created["key"]), json=PROMPT)

    updated = await client.post(
        "/key/update", headers=auth(), json={"key": created["key"], "max_budget": 3 * IMAGE_PRICE}
    )
    answers = [await client.post("/v1/images/generations", headers=auth(created["key"]), json=PROMPT) for _ in range(4)]
    await given_back(gw)
    info = await key_info(client, created["key"])

    assert first.status_code == 200
    assert updated.status_code == 200
    assert [a.status_code for a in answers] == [200, 200, 429, 429]
    assert answers[2].json()["error"]["type"] == "budget_exceeded"
    assert info["spend"] == pytest.approx(3 * IMAGE_PRICE, abs=1e-9)
    assert info["reserved"] == 0


async def test_a_team_budget_held_in_one_keys_block_is_given_to_another_key(
    client: httpx.AsyncClient, gw: Gateway
) -> None:
    """Two keys on a team of 40 images: the first key's block never makes the second key's requests fail early."""
    team = await client.post("/team/new", headers=auth(), json={"team_id": "otters", "max_budget": 40 * IMAGE_PRICE})
    assert team.status_code == 200, team.text
    first = await generate_key(client, team_id="otters")
    second = await generate_key(client, team_id="otters")

    opening = await client.post("/v1/images/generations", headers=auth(first["key"]), json=PROMPT)
    answers = [await client.post("/v1/images/generations", headers=auth(second["key"]), json=PROMPT) for _ in range(40)]
    await given_back(gw)
    info = (await client.get("/team/info", params={"team_id": "otters"}, headers=auth())).json()["team_info"]

    assert opening.status_code == 200
    assert [a.status_code for a in answers] == [200] * 39 + [429]
    assert info["spend"] == pytest.approx(40 * IMAGE_PRICE, abs=1e-9)
    assert info["reserved"] == 0


async def test_regenerated_and_deleted_keys_leave_no_budget_held(client: httpx.AsyncClient, gw: Gateway) -> None:
    """A block on a key that is regenerated goes back to the key under its new hash; a deleted key's, to its team."""
    team = await client.post("/team/new", headers=auth(), json={"team_id": "seals", "max_budget": 400 * IMAGE_PRICE})
    assert team.status_code == 200, team.text
    kept = await generate_key(client, team_id="seals", max_budget=200 * IMAGE_PRICE)
    dropped = await generate_key(client, team_id="seals")
    for created in (kept, dropped):
        answer = await client.post("/v1/images/generations", headers=auth(created["key"]), json=PROMPT)
        assert answer.status_code == 200

    renewed = await client.post("/key/regenerate", headers=auth(), json={"key": kept["key"]})
    deleted = await client.post("/key/delete", headers=auth(), json={"keys": [dropped["key"]]})
    await given_back(gw)
    info = await key_info(client, renewed.json()["key"])
    team_info = (await client.get("/team/info", params={"team_id": "seals"}, headers=auth())).json()["team_info"]

    assert renewed.status_code == 200
    assert deleted.status_code == 200
    assert info["spend"] == pytest.approx(IMAGE_PRICE, abs=1e-9)
    assert info["reserved"] == 0
    assert team_info["spend"] == pytest.approx(2 * IMAGE_PRICE, abs=1e-9)
    assert team_info["reserved"] == 0


def _costly(request: httpx.Request) -> httpx.Response:
    """OpenAI's answer with token usage that prices the call at three times its per-image estimate."""
    status, headers, body = openai_answer(json.loads(request.content))
    body["usage"] = {
        "total_tokens": 50 + OVERSHOOT_TOKENS,
        "input_tokens": 50,
        "output_tokens": OVERSHOOT_TOKENS,
        "input_tokens_details": {"text_tokens": 50, "image_tokens": 0},
    }
    return json_response(status, body, headers)


@pytest.mark.parametrize("images", [10, 100], ids=["exact", "blocks"])
async def test_token_billed_cost_over_the_estimate_is_recorded_and_refused_next(
    database_url: str, tmp_path: Path, images: int
) -> None:
    """Each call costs 3x what it reserved: all of it is charged; the key is refused once spend reaches the budget."""
    gateway = build(database_url, tmp_path, handler=_costly)
    budget = images * IMAGE_PRICE
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw.test") as client:
            created = await generate_key(client, max_budget=budget)
            statuses = []
            for _ in range(images):
                answer = await client.post("/v1/images/generations", headers=auth(created["key"]), json=PROMPT)
                statuses.append(answer.status_code)
                if answer.status_code != 200:
                    break
            await given_back(gateway)
            info = await key_info(client, created["key"])
            refused_again = await client.post("/v1/images/generations", headers=auth(created["key"]), json=PROMPT)
    finally:
        assert gateway.accounting is not None
        await gateway.accounting.stop()

    served = statuses.count(200)
    assert statuses[-1] == 429
    assert info["spend"] == pytest.approx(served * OVERSHOOT_COST, abs=1e-6)  # every call charged in full
    assert budget - IMAGE_PRICE < info["spend"] <= budget + OVERSHOOT_COST - IMAGE_PRICE  # over by one call's excess
    assert info["reserved"] == 0
    assert refused_again.status_code == 429
    assert refused_again.json()["error"]["type"] == "budget_exceeded"


async def test_budget_gauge_and_json_log_line_carry_the_key_alias(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """/metrics reports each budgeted key's USD left under its alias; the request's JSON log line names the alias."""
    config = keys_config(f"sqlite:///{tmp_path / 'gauge.db'}", journal=tmp_path / "journal", metrics=True)
    config["litellm_settings"] = {"json_logs": True}
    gateway = create_app(
        parse_config(config, path="gauge.yaml", environ={}),
        engine=make_engine(pixmux_openai.provider, handler=mock_handler),
    )
    formatter = JsonFormatter()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw.test") as client:
            created = await generate_key(client, key_alias="otter-app", max_budget=10.0)
            with caplog.at_level(logging.INFO, logger="pixmux.proxy"):
                answer = await client.post("/v1/images/generations", headers=auth(created["key"]), json=PROMPT)
            assert gateway.accounting is not None
            await gateway.accounting.flush()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # the batch writer reads the budgets after each write
                metrics = await client.get("/metrics", headers=auth())
                left = [
                    sample.value
                    for family in text_string_to_metric_families(metrics.text)
                    for sample in family.samples
                    if sample.name == "pixmux_key_budget_remaining_usd"
                    and sample.labels.get("key_alias") == "otter-app"
                ]
                if left and left[0] < 10.0:
                    break
                await asyncio.sleep(0.05)
    finally:
        assert gateway.accounting is not None
        await gateway.accounting.stop()

    lines = [json.loads(formatter.format(r)) for r in caplog.records if getattr(r, "pixmux", None)]
    request_lines = [line for line in lines if line.get("request_id") == answer.headers["x-request-id"]]
    assert answer.status_code == 200
    assert left == [pytest.approx(10.0 - IMAGE_PRICE, abs=1e-9)]
    assert len(request_lines) == 1
    assert request_lines[0]["key_alias"] == "otter-app"
    assert created["key"] not in metrics.text


# ---------------------------------------------------------------------- two processes, one PostgreSQL


def _two(url: str, api_base: str, tmp_path: Path, processes: list[GatewayProcess]) -> list[GatewayProcess]:
    for name in ("a", "b"):
        config = keys_config(url, api_base, journal=tmp_path / f"journal-{name}")
        processes.append(GatewayProcess(config, tmp_path, name).start())
    return processes


def _settled_info(url: str, key: str) -> dict[str, Any]:
    """The key's info once every block is back (idle) and every row written."""
    deadline = time.monotonic() + 15
    while True:
        info: dict[str, Any] = httpx.get(f"{url}/key/info", params={"key": key}, headers=auth()).json()["info"]
        if info["reserved"] == 0 or time.monotonic() > deadline:
            return info
        time.sleep(0.1)


def test_two_gateways_with_blocks_never_overspend(
    postgres_server: PostgresServer, provider_server: Any, tmp_path: Path, processes: list[GatewayProcess]
) -> None:
    """A budget large enough for blocks (40 images): 200 concurrent requests over two gateways, exactly 40 succeed."""
    assert MIN_REQUESTS <= 40
    gateways = _two(postgres_server.create(), provider_server.url, tmp_path, processes)
    key = new_key(gateways[0].url, max_budget=40 * IMAGE_PRICE)

    answers = asyncio.run(burst([g.url for g in gateways], key["key"], 200))
    info = _settled_info(gateways[1].url, key["key"])

    assert sum(a.status_code == 200 for a in answers) == 40
    assert {200, 429} == {a.status_code for a in answers}
    assert info["spend"] == pytest.approx(40 * IMAGE_PRICE, abs=1e-9)
    assert info["reserved"] == 0


def test_budget_held_by_one_gateway_is_used_by_the_other(
    postgres_server: PostgresServer, provider_server: Any, tmp_path: Path, processes: list[GatewayProcess]
) -> None:
    """Gateway a takes a block with one request; gateway b then gets every image left, a's free part included."""
    first, second = _two(postgres_server.create(), provider_server.url, tmp_path, processes)
    key = new_key(first.url, max_budget=40 * IMAGE_PRICE)

    with httpx.Client(timeout=60, headers=auth(key["key"])) as client:
        opening = client.post(f"{first.url}/v1/images/generations", json=PROMPT)
        holding = httpx.get(f"{first.url}/key/info", params={"key": key["key"]}, headers=auth()).json()["info"]
        answers = [client.post(f"{second.url}/v1/images/generations", json=PROMPT) for _ in range(40)]
    info = _settled_info(first.url, key["key"])

    assert opening.status_code == 200
    assert holding["reserved"] >= 5 * IMAGE_PRICE  # a's block: a quarter of the budget, less the request it served
    assert [a.status_code for a in answers] == [200] * 39 + [429]
    assert info["spend"] == pytest.approx(40 * IMAGE_PRICE, abs=1e-9)
    assert info["reserved"] == 0


# ---------------------------------------------------------------------- with Redis: blocks recalled at once


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A real redis-server for one test (the scale-out tests' helper)."""
    sys.path.append(str(Path(__file__).parents[1] / "scaleout"))
    from scaleout_support import redis_server

    fixture = redis_server.__wrapped__(tmp_path)  # type: ignore[attr-defined]
    server = next(fixture)
    try:
        yield server.url
    finally:
        with contextlib.suppress(StopIteration):
            next(fixture)


async def test_with_redis_a_refused_request_recalls_another_gateways_block(
    database_url: str, tmp_path: Path, redis_url: str
) -> None:
    """Gateway a keeps a block (no idle return here); b's requests past the rest get it back through Redis at once."""
    gateways = []
    for name in ("a", "b"):
        config = keys_config(database_url, journal=tmp_path / f"journal-{name}")
        config["router_settings"]["redis_url"] = redis_url
        gateway = create_app(
            parse_config(config, path=f"{name}.yaml", environ={}),
            engine=make_engine(pixmux_openai.provider, handler=mock_handler),
        )
        assert gateway.accounting is not None
        blocks = gateway.accounting.blocks
        assert blocks is not None
        blocks.idle = blocks.lifetime = 600.0  # only a recall can give a's block back within the test
        blocks.wait = 60.0
        gateways.append(gateway)
    first, second = gateways
    try:
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=first), base_url="http://a.test") as a,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=second), base_url="http://b.test") as b,
        ):
            created = await generate_key(a, max_budget=40 * IMAGE_PRICE)
            opening = await a.post("/v1/images/generations", headers=auth(created["key"]), json=PROMPT)
            holding = await key_info(a, created["key"])
            answers = [
                await b.post("/v1/images/generations", headers=auth(created["key"]), json=PROMPT) for _ in range(39)
            ]
            await first.accounting.flush()  # type: ignore[union-attr]
            last = await b.post("/v1/images/generations", headers=auth(created["key"]), json=PROMPT)
            for gateway in gateways:
                assert gateway.accounting is not None
                await gateway.accounting.flush()
            info = await key_info(b, created["key"])
    finally:
        for gateway in gateways:
            assert gateway.accounting is not None
            await gateway.accounting.stop()
            await gateway.router.state.aclose()

    assert opening.status_code == 200
    assert holding["reserved"] > 8 * IMAGE_PRICE  # a's block: a quarter of the budget, less the request it served
    assert [a.status_code for a in answers] == [200] * 39
    assert last.status_code == 429
    assert first.accounting.blocks.recalled >= 1  # type: ignore[union-attr]
    assert info["spend"] == pytest.approx(40 * IMAGE_PRICE, abs=1e-9)


def test_a_journal_written_before_blocks_is_still_replayed(tmp_path: Path) -> None:
    """A spend line from before the ``block`` field (one value fewer) reads back, with no block."""
    from pixmux.proxy.store.journal import SpendJournal

    values = {
        "request_id": "r1",
        "api_key": "a" * 64,
        "team_id": None,
        "user_id": None,
        "model": "img",
        "deployment": "img-1",
        "provider": "openai",
        "provider_model": "gpt-image-1",
        "operation": "generate",
        "n": 1,
        "size": None,
        "quality": None,
        "spend": 167_000_000,
        "reserved": 167_000_000,
        "status": "success",
        "status_code": 200,
        "latency_ms": 12.5,
        "start_time": 1.0,
        "prompt": None,
    }
    (tmp_path / "spend-1-1-1.jsonl").write_text(
        json.dumps({"r": ["r1", "a" * 64, None, 167_000_000]}) + "\n" + json.dumps({"s": list(values.values())}) + "\n"
    )

    leftovers = SpendJournal(tmp_path).leftovers()
    leftovers.release_locks()

    assert [(s.request_id, s.spend, s.block) for s in leftovers.settlements] == [("r1", 167_000_000, None)]
    assert leftovers.releases == []
