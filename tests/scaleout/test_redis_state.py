"""RedisState against a real redis-server: atomic windows, shared cooldowns, fail open and closed, what is stored."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from pixmux import ServiceUnavailableError
from pixmux.state import Member
from pixmux.state.redis_store import RedisState
from scaleout_support import REDIS_PASSWORD, RedisServer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def store(server: RedisServer, **options: Any) -> RedisState:
    """A store on ``server``; a generous timeout, so that a loaded test machine never reads as Redis being down."""
    return RedisState(server.url, **{"timeout": 2.0, **options})


MEMBERS = [Member("a", 5, True), Member("b", None, False)]


async def test_take_counts_exactly_up_to_the_limit_across_stores(redis_server: RedisServer) -> None:
    """Two stores (two gateways) taking at once on a deployment with rpm 5: exactly 5 are accepted."""
    first, second = store(redis_server), store(redis_server)

    answers = await asyncio.gather(
        *(s.atake("img", MEMBERS, 0, units=1, force=False) for _ in range(10) for s in (first, second))
    )

    accepted = [a for a in answers if a is not None and a.accepted]
    assert len(accepted) == 5
    refused = [a for a in answers if a is not None and not a.accepted]
    assert len(refused) == 15
    assert all(not a.cooled and a.facts["a"].used == 5 for a in refused)
    assert refused[0].facts["a"].frees_in is not None
    assert 0 < refused[0].facts["a"].frees_in <= 60
    await first.aclose()
    await second.aclose()


async def test_window_lets_images_through_again_once_they_leave_it(redis_server: RedisServer) -> None:
    """With a 0.3 s window, the limit frees up after the window: the window slides on Redis's own clock."""
    state = store(redis_server, window=0.3)
    members = [Member("a", 2, True)]

    assert (await state.atake("img", members, 0, units=2, force=False)).accepted  # type: ignore[union-attr]
    assert not (await state.atake("img", members, 0, units=1, force=False)).accepted  # type: ignore[union-attr]
    await asyncio.sleep(0.4)
    again = await state.atake("img", members, 0, units=1, force=False)

    assert again is not None
    assert again.accepted
    assert again.facts["a"].used == 1
    await state.aclose()


async def test_a_cooldown_recorded_by_one_store_refuses_takes_on_another(redis_server: RedisServer) -> None:
    """allowed 0: one failure cools the deployment; the other store's next take is refused as cooling down."""
    first, second = store(redis_server), store(redis_server)

    facts = await first.afailed("img", MEMBERS[1], counter="any", allowed=0, cooldown=30, hinted=None)
    refused = await second.atake("img", MEMBERS, 1, units=1, force=False)
    forced = await second.atake("img", MEMBERS, 1, units=1, force=True)

    assert facts is not None
    assert facts.cooled
    assert 29 < facts.cooldown_left <= 30
    assert facts.probation
    assert refused is not None
    assert not refused.accepted
    assert refused.cooled
    assert 29 < refused.facts["b"].cooldown_left <= 30
    assert forced is not None
    assert forced.accepted
    await first.aclose()
    await second.aclose()


async def test_failures_count_within_the_window_then_a_success_clears_them(redis_server: RedisServer) -> None:
    """allowed 2: the third failure cools down; a success in between clears the count."""
    state = store(redis_server)
    member = Member("a", None, False)

    async def fail() -> Any:
        return await state.afailed("img", member, counter="any", allowed=2, cooldown=5, hinted=None)

    assert not (await fail()).cooled
    assert not (await fail()).cooled
    await state.asucceeded("img", member)
    assert not (await fail()).cooled
    assert not (await fail()).cooled
    third = await fail()

    assert third.cooled
    assert third.cooldown_left > 4
    await state.aclose()


async def test_a_hinted_retry_after_cools_down_for_that_long(redis_server: RedisServer) -> None:
    """A 429 with Retry-After: 12 cools the deployment for 12 s at once, whatever the count."""
    state = store(redis_server)

    facts = await state.afailed("img", MEMBERS[0], counter="any", allowed=10, cooldown=5, hinted=12)

    assert facts is not None
    assert facts.cooled
    assert 11 < facts.cooldown_left <= 12
    await state.aclose()


async def test_key_prefixes_keep_gateways_apart_and_keys_carry_a_hash_tag(redis_server: RedisServer) -> None:
    """Two prefixes do not share windows; every key is '<prefix>:{<group>}:...' (one Cluster slot per group)."""
    blue, green = store(redis_server, key_prefix="blue"), store(redis_server, key_prefix="green")
    members = [Member("a", 1, True)]

    assert (await blue.atake("img", members, 0, units=1, force=False)).accepted  # type: ignore[union-attr]
    assert (await green.atake("img", members, 0, units=1, force=False)).accepted  # type: ignore[union-attr]

    keys = sorted(redis_server.dump())
    assert keys == [b"blue:{img}:a:n", b"blue:{img}:a:w", b"green:{img}:a:n", b"green:{img}:a:w"]
    await blue.aclose()
    await green.aclose()


async def test_per_key_windows_and_budget_reservations_are_shared(redis_server: RedisServer) -> None:
    """A key's window and its budget reservations hold across stores; released amounts free the budget."""
    first, second = store(redis_server), store(redis_server)

    windows = [await s.awindow("team-a", units=1, limit=3) for s in (first, second, first, second)]
    held = [await s.areserve("team-a", amount=0.04, limit=0.1) for s in (first, second, first)]
    await second.arelease("team-a", amount=0.04)
    after = await first.areserve("team-a", amount=0.04, limit=0.1)

    assert [w.allowed for w in windows if w is not None] == [True, True, True, False]
    assert held == [True, True, False]
    assert after is True
    await first.aclose()
    await second.aclose()


async def test_redis_down_fails_open_quickly_then_sharing_resumes(redis_server: RedisServer, caplog: Any) -> None:
    """Killed: take answers None (go on locally) and logs one line; restarted: takes are shared again."""
    clock = Clock()
    state = store(redis_server, clock=clock)
    members = [Member("a", 1, True)]
    assert (await state.atake("img", members, 0, units=1, force=False)).accepted  # type: ignore[union-attr]

    redis_server.kill()
    with caplog.at_level(logging.WARNING, logger="pixmux.state"):
        down = [await state.atake("img", members, 0, units=1, force=False) for _ in range(5)]
        clock.now += 10  # past the backoff: the next step tries Redis again (and fails again)
        down.append(await state.atake("img", members, 0, units=1, force=False))
    redis_server.start()
    clock.now += 10
    back = await state.atake("img", members, 0, units=1, force=False)

    assert down == [None] * 6
    lines = [r.getMessage() for r in caplog.records if r.name == "pixmux.state"]
    assert len([line for line in lines if "unreachable" in line]) == 1  # one line a minute at most
    assert len([line for line in lines if "sharing resumes" in line]) == 1
    assert REDIS_PASSWORD not in caplog.text
    assert back is not None
    assert back.accepted
    await state.aclose()


async def test_redis_down_fails_closed_with_a_503(redis_server: RedisServer) -> None:
    """on_error closed: a take while Redis is down raises ServiceUnavailableError (the gateway's 503)."""
    state = store(redis_server, on_error="closed")
    redis_server.kill()

    with pytest.raises(ServiceUnavailableError) as caught:
        await state.atake("img", MEMBERS, 0, units=1, force=False)

    assert caught.value.status_code == 503
    assert REDIS_PASSWORD not in str(caught.value)
    assert REDIS_PASSWORD not in repr(state)
    await state.aclose()


def test_the_blocking_twins_share_the_same_state(redis_server: RedisServer) -> None:
    """The sync path (library Router.image_generation) takes and fails through the same scripts."""
    state = store(redis_server)
    members = [Member("a", 1, True)]

    first = state.take("img", members, 0, units=1, force=False)
    second = state.take("img", members, 0, units=1, force=False)
    facts = state.failed("img", members[0], counter="any", allowed=0, cooldown=5, hinted=None)
    state.succeeded("img", members[0])

    assert first is not None
    assert first.accepted
    assert second is not None
    assert not second.accepted
    assert facts is not None
    assert facts.cooled
    assert b"pixmux:{img}:a:f" not in redis_server.dump()  # a success clears failures and probation


def test_settings_out_of_range_are_configuration_errors() -> None:
    """A prefix with braces, an unknown policy or a zero timeout is refused with the setting named."""
    from pixmux import ConfigurationError

    for options in ({"key_prefix": "a{b}"}, {"on_error": "sometimes"}, {"timeout": 0}):
        with pytest.raises(ConfigurationError):
            RedisState("redis://127.0.0.1:1", **options)


async def test_takes_without_rpm_use_cooldowns_read_within_the_refresh(redis_server: RedisServer) -> None:
    """No rpm: a take within `refresh` of the last read costs no round trip; a cooldown set elsewhere shows after it."""
    clock = Clock()
    reader, writer = store(redis_server, clock=clock, refresh=0.05), store(redis_server)
    members = [Member("a", None, False)]

    assert (await reader.atake("img", members, 0, units=1, force=False)).accepted  # type: ignore[union-attr]
    trips = reader.round_trips
    await writer.afailed("img", members[0], counter="any", allowed=0, cooldown=30, hinted=None)
    within = await reader.atake("img", members, 0, units=1, force=False)
    clock.now += 0.06
    after = await reader.atake("img", members, 0, units=1, force=False)

    assert within is not None
    assert within.accepted  # read 0 s ago: not asked again
    assert reader.round_trips == trips + 1  # only the take after the refresh asked Redis
    assert after is not None
    assert not after.accepted
    assert after.cooled
    await reader.aclose()
    await writer.aclose()
