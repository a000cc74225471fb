"""Virtual keys, budgets and spend through the gateway, in process, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pixmux_openai.provider
import pytest
import sqlalchemy as sa
from gateway_support import MASTER_KEY, auth, mock_handler
from keys_support import IMAGE_PRICE, database_url, keys_config, postgres_server
from pixmux.proxy import Gateway, create_app, parse_config
from pixmux.proxy.store.database import Database
from pixmux.testing import make_engine

__all__ = ["database_url", "postgres_server"]

PROMPT = {"model": "img", "prompt": "an otter"}


def build(url: str, tmp_path: Path, **general: Any) -> Gateway:
    config = parse_config(keys_config(url, journal=tmp_path / "journal", **general), path="keys.yaml", environ={})
    return create_app(config, engine=make_engine(pixmux_openai.provider, handler=mock_handler))


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


async def settled(gw: Gateway) -> None:
    assert gw.accounting is not None
    await gw.accounting.flush()


async def test_generated_key_generates_and_is_charged(client: httpx.AsyncClient, gw: Gateway) -> None:
    """A new key works at once; its spend and its spend row carry the call's catalogue price."""
    created = await generate_key(client, models=["img"], user_id="ana", metadata={"app": "web"})

    answer = await client.post("/v1/images/generations", headers=auth(created["key"]), json=PROMPT)
    await settled(gw)

    assert answer.status_code == 200
    info = (await client.get("/key/info", params={"key": created["key"]}, headers=auth())).json()["info"]
    assert pytest.approx(info["spend"]) == IMAGE_PRICE
    logs = (await client.get("/spend/logs", headers=auth(), params={"api_key": created["key"]})).json()
    assert len(logs) == 1
    row = logs[0]
    assert answer.headers["x-request-id"] == row["request_id"]
    assert (created["token"], "ana", "img", "openai", "generate", 1, "success", 200) == (
        row["api_key"],
        row["user_id"],
        row["model"],
        row["provider"],
        row["operation"],
        row["n"],
        row["status"],
        row["status_code"],
    )
    assert pytest.approx(row["spend"]) == IMAGE_PRICE
    assert row["prompt"] is None  # store_prompts is off


async def test_key_is_stored_hashed_and_shown_once(client: httpx.AsyncClient, gw: Gateway) -> None:
    """The key appears in /key/generate's answer only: not in the database, /key/info or /key/list."""
    created = await generate_key(client, key_alias="shown-once")
    key = created["key"]

    listed = await client.get("/key/list", headers=auth(), params={"return_full_object": "true"})
    info = await client.get("/key/info", headers=auth(), params={"key": created["token"]})
    assert gw.accounting is not None
    async with gw.accounting.db.engine.connect() as conn:
        stored = [json.dumps(list(row)) for row in await conn.execute(sa.text("SELECT * FROM pixmux_keys"))]

    assert key not in listed.text
    assert key not in info.text
    assert all(key not in row for row in stored)
    assert created["token"] in stored[0]


async def test_budget_is_never_overspent(client: httpx.AsyncClient, gw: Gateway, error_schema: Any) -> None:
    """A budget of three images: three calls succeed, the fourth is a 429 budget_exceeded in OpenAI's shape."""
    created = await generate_key(client, max_budget=3 * IMAGE_PRICE)

    statuses = [
        (await client.post("/v1/images/generations", headers=auth(created["key"]), json=PROMPT)).status_code
        for _ in range(3)
    ]
    refused = await client.post("/v1/images/generations", headers=auth(created["key"]), json=PROMPT)

    assert statuses == [200, 200, 200]
    assert refused.status_code == 429
    error_schema.validate(refused.json())
    assert refused.json()["error"]["type"] == "budget_exceeded"


async def test_concurrent_requests_stop_at_the_budget(client: httpx.AsyncClient, gw: Gateway) -> None:
    """40 requests at once on a budget of five images: exactly five succeed, and the spend is the budget."""
    created = await generate_key(client, max_budget=5 * IMAGE_PRICE)

    answers = await asyncio.gather(
        *(client.post("/v1/images/generations", headers=auth(created["key"]), json=PROMPT) for _ in range(40))
    )
    await settled(gw)

    assert sum(a.status_code == 200 for a in answers) == 5
    assert {200, 429} == {a.status_code for a in answers}
    info = (await client.get("/key/info", params={"key": created["key"]}, headers=auth())).json()["info"]
    assert pytest.approx(info["spend"], abs=1e-9) == 5 * IMAGE_PRICE
    assert info["reserved"] == 0


async def test_n_images_reserve_n_prices(client: httpx.AsyncClient) -> None:
    """n=3 on a budget of two images is refused before the call; n=2 fits."""
    created = await generate_key(client, max_budget=2 * IMAGE_PRICE)

    too_many = await client.post("/v1/images/generations", headers=auth(created["key"]), json={**PROMPT, "n": 3})
    fits = await client.post("/v1/images/generations", headers=auth(created["key"]), json={**PROMPT, "n": 2})

    assert (too_many.status_code, fits.status_code) == (429, 200)
    assert len(fits.json()["data"]) == 2


async def test_failed_call_gives_the_reservation_back(client: httpx.AsyncClient, gw: Gateway) -> None:
    """A provider error charges nothing: the budget is whole again and the row says failure."""
    created = await generate_key(client, max_budget=IMAGE_PRICE)

    failed = await client.post(
        "/v1/images/generations", headers=auth(created["key"]), json={"model": "img", "prompt": "explode"}
    )
    await settled(gw)  # the writer gives reservations back with the next batch (woken at once by a failure)
    works = await client.post("/v1/images/generations", headers=auth(created["key"]), json=PROMPT)
    await settled(gw)

    assert (failed.status_code, works.status_code) == (500, 200)
    logs = (await client.get("/spend/logs", headers=auth())).json()
    assert {("failure", 0.0), ("success", IMAGE_PRICE)} == {(r["status"], r["spend"]) for r in logs}


async def test_team_budget_covers_all_its_keys(client: httpx.AsyncClient) -> None:
    """Two keys of a team with a budget of two images: two calls in all succeed."""
    team = await client.post("/team/new", headers=auth(), json={"team_alias": "design", "max_budget": 2 * IMAGE_PRICE})
    assert team.status_code == 200, team.text
    team_id = team.json()["team_id"]
    first = await generate_key(client, team_id=team_id)
    second = await generate_key(client, team_id=team_id)

    statuses = [
        (await client.post("/v1/images/generations", headers=auth(key["key"]), json=PROMPT)).status_code
        for key in (first, second, first, second)
    ]

    assert statuses == [200, 200, 429, 429]


async def test_model_outside_the_key_models_is_refused(client: httpx.AsyncClient) -> None:
    """A key limited to `img` gets a 403 for `sd`."""
    created = await generate_key(client, models=["img"])

    answer = await client.post(
        "/v1/images/generations", headers=auth(created["key"]), json={"model": "sd", "prompt": "x"}
    )

    assert answer.status_code == 403
    assert answer.json()["error"]["type"] == "key_model_access_denied"


async def test_deleted_expired_and_blocked_keys_are_refused(client: httpx.AsyncClient) -> None:
    """Deleted: 401; expired: 401; blocked: 403; deleting takes effect at once on this gateway."""
    deleted = await generate_key(client)
    expired = await generate_key(client, expires="2020-01-01T00:00:00Z")
    blocked = await generate_key(client, blocked=True)
    assert (await client.post("/v1/images/generations", headers=auth(deleted["key"]), json=PROMPT)).status_code == 200
    await client.post("/key/delete", headers=auth(), json={"keys": [deleted["key"]]})

    answers = [
        await client.post("/v1/images/generations", headers=auth(k["key"]), json=PROMPT)
        for k in (deleted, expired, blocked)
    ]

    assert [a.status_code for a in answers] == [401, 401, 403]
    assert "expired" in answers[1].json()["error"]["message"]


async def test_update_takes_effect_at_once(client: httpx.AsyncClient) -> None:
    """/key/update blocking a cached key refuses its next request on this gateway."""
    created = await generate_key(client)
    assert (await client.post("/v1/images/generations", headers=auth(created["key"]), json=PROMPT)).status_code == 200

    await client.post("/key/update", headers=auth(), json={"key": created["key"], "blocked": True})
    answer = await client.post("/v1/images/generations", headers=auth(created["key"]), json=PROMPT)

    assert answer.status_code == 403


async def test_regenerate_replaces_the_key_and_keeps_its_spend(client: httpx.AsyncClient, gw: Gateway) -> None:
    """After /key/{key}/regenerate the old value is refused, the new one works, the spend carries over."""
    created = await generate_key(client, max_budget=10.0)
    await client.post("/v1/images/generations", headers=auth(created["key"]), json=PROMPT)
    await settled(gw)

    fresh = await client.post(f"/key/{created['key']}/regenerate", headers=auth(), json={})
    new_key = fresh.json()["key"]

    old = await client.post("/v1/images/generations", headers=auth(created["key"]), json=PROMPT)
    new = await client.post("/v1/images/generations", headers=auth(new_key), json=PROMPT)
    assert (old.status_code, new.status_code) == (401, 200)
    assert pytest.approx(fresh.json()["spend"]) == IMAGE_PRICE


async def test_rpm_and_images_per_minute_limits(client: httpx.AsyncClient) -> None:
    """rpm_limit 2: the third request in a minute is a 429; ipm_limit 3: n=2 twice passes it."""
    by_requests = await generate_key(client, rpm_limit=2)
    by_images = await generate_key(client, ipm_limit=3)

    requests = [
        (await client.post("/v1/images/generations", headers=auth(by_requests["key"]), json=PROMPT)).status_code
        for _ in range(3)
    ]
    images = [
        (await client.post("/v1/images/generations", headers=auth(by_images["key"]), json={**PROMPT, "n": 2}))
        for _ in range(2)
    ]

    assert requests == [200, 200, 429]  # a sliding window: no minute boundary to fall between the calls
    assert [a.status_code for a in images] == [200, 429]
    assert images[1].json()["error"]["type"] == "rate_limit_error"
    assert "ipm_limit 3" in images[1].json()["error"]["message"]
    assert 58 <= int(images[1].headers["retry-after"]) <= 60  # when the first request's images leave the window


async def test_budget_duration_resets_the_spend(client: httpx.AsyncClient, gw: Gateway) -> None:
    """A one-image budget that resets every second allows one call now and one after the reset."""
    created = await generate_key(client, max_budget=IMAGE_PRICE, budget_duration="1s")
    first = await client.post("/v1/images/generations", headers=auth(created["key"]), json=PROMPT)
    second = await client.post("/v1/images/generations", headers=auth(created["key"]), json=PROMPT)
    await settled(gw)
    await asyncio.sleep(1.2)
    assert gw.accounting is not None
    gw.accounting.invalidate()

    third = await client.post("/v1/images/generations", headers=auth(created["key"]), json=PROMPT)

    assert (first.status_code, second.status_code, third.status_code) == (200, 429, 200)


async def test_model_without_a_price_is_refused_for_a_budgeted_key(client: httpx.AsyncClient) -> None:
    """A budget cannot be reserved for a model with no known price: 403 naming the model, no call made."""
    created = await generate_key(client, max_budget=5.0)

    answer = await client.post(
        "/v1/images/generations", headers=auth(created["key"]), json={"model": "sd", "prompt": "x"}
    )

    assert answer.status_code == 403
    assert "no known price" in answer.json()["error"]["message"]


@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        ("/key/generate", {"max_budget": "ten"}, "max_budget"),
        ("/key/generate", {"max_budget": -1}, "max_budget"),
        ("/key/generate", {"models": "img"}, "models"),
        ("/key/generate", {"budget_duration": "monthly"}, "budget_duration"),
        ("/key/generate", {"duration": 5}, "duration"),
        ("/key/generate", {"rpm_limit": 1.5}, "rpm_limit"),
        ("/key/generate", {"metadata": [1]}, "metadata"),
        ("/key/generate", {"team_id": "no-such-team"}, "team_id"),
        ("/key/generate", {"max_budjet": 1}, "max_budjet"),
        ("/key/update", {"blocked": True}, "key"),
        ("/key/delete", {"keys": "sk-1"}, "keys"),
        ("/team/new", {"max_budget": True}, "max_budget"),
    ],
)
async def test_malformed_admin_request_is_a_400_naming_the_field(
    client: httpx.AsyncClient, route: str, body: dict[str, Any], field: str, error_schema: Any
) -> None:
    """Each wrong field gets a 400 whose param and message name it."""
    answer = await client.post(route, headers=auth(), json=body)

    assert answer.status_code == 400
    error_schema.validate(answer.json())
    assert field == answer.json()["error"]["param"]
    assert field in answer.json()["error"]["message"]


async def test_admin_routes_need_the_master_key(client: httpx.AsyncClient) -> None:
    """A virtual key cannot create keys or read spend; it may read its own /key/info."""
    created = await generate_key(client)

    generate = await client.post("/key/generate", headers=auth(created["key"]), json={})
    logs = await client.get("/spend/logs", headers=auth(created["key"]))
    own = await client.get("/key/info", headers=auth(created["key"]))

    assert (generate.status_code, logs.status_code, own.status_code) == (403, 403, 200)
    assert created["token"] == own.json()["info"]["token"]


async def test_spend_report_groups_by_day_key_and_model(client: httpx.AsyncClient, gw: Gateway) -> None:
    """Two keys, three calls: the report has one line per key with its images and dollars."""
    first = await generate_key(client)
    second = await generate_key(client)
    for key in (first, first, second):
        await client.post("/v1/images/generations", headers=auth(key["key"]), json=PROMPT)

    report = (await client.get("/spend/report", headers=auth(), params={"group_by": "day,api_key,model"})).json()

    by_key = {row["api_key"]: row for row in report}
    assert {first["token"], second["token"]} == set(by_key)
    assert (by_key[first["token"]]["images"], pytest.approx(by_key[first["token"]]["spend"])) == (2, 2 * IMAGE_PRICE)
    assert time.strftime("%Y-%m-%d", time.gmtime()) == report[0]["day"]


async def test_key_values_never_reach_the_logs(
    client: httpx.AsyncClient, gw: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    """Neither the virtual key nor the master key appears in any log line, spend row or answer."""
    caplog.set_level(logging.DEBUG)
    created = await generate_key(client)
    await client.post("/v1/images/generations", headers=auth(created["key"]), json=PROMPT)
    await client.post("/v1/images/generations", headers=auth(created["key"] + "x"), json=PROMPT)
    await settled(gw)
    logs = await client.get("/spend/logs", headers=auth())

    for text in (caplog.text, logs.text):
        assert created["key"] not in text
        assert MASTER_KEY not in text


async def test_prompts_are_kept_only_with_store_prompts(database_url: str, tmp_path: Path) -> None:
    """store_prompts: true keeps the prompt in the spend row."""
    gateway = build(database_url, tmp_path, store_prompts=True)
    assert gateway.accounting is not None
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://g") as c:
        await c.post("/v1/images/generations", headers=auth(), json={"model": "img", "prompt": "a heron at dawn"})
        await gateway.accounting.flush()
        logs = (await c.get("/spend/logs", headers=auth())).json()
    await gateway.accounting.stop()

    assert [row["prompt"] for row in logs] == ["a heron at dawn"]


async def test_retention_deletes_old_rows(database_url: str, tmp_path: Path) -> None:
    """Rows older than maximum_spend_logs_retention_period are deleted by the writer."""
    gateway = build(database_url, tmp_path, maximum_spend_logs_retention_period="1s")
    accounting = gateway.accounting
    assert accounting is not None
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://g") as c:
        await c.post("/v1/images/generations", headers=auth(), json=PROMPT)
        await accounting.flush()
        await asyncio.sleep(1.1)
        await accounting._retention()
        logs = (await c.get("/spend/logs", headers=auth())).json()
    await accounting.stop()

    assert logs == []


async def test_migrations_run_twice_and_create_the_tables(database_url: str) -> None:
    """`upgrade` on a new database creates the three tables; a second run changes nothing."""
    db = Database(database_url)
    await db.upgrade()
    await db.upgrade()
    async with db.engine.connect() as conn:
        names = await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names())
    await db.close()

    assert {"pixmux_keys", "pixmux_teams", "pixmux_spend_logs", "pixmux_alembic_version"} <= set(names)
