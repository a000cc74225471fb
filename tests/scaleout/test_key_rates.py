"""
Per-key rpm and images-per-minute windows (a virtual key's and its team's): in this process
(:class:`pixmux.state.LocalRates`, a fake clock) and shared through a real redis-server
(:meth:`RedisState.arates`): exact across stores, images counted by ``n``, key and team counted
together, windows that slide, Redis down failing open or closed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pixmux import ServiceUnavailableError
from pixmux.state import LocalRates, LocalState, Rate
from pixmux.state.redis_store import RedisState
from scaleout_support import REDIS_PASSWORD, RedisServer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


KEY_RPM = Rate(owner="key:a", rpm=3, ipm=None)
KEY_IPM = Rate(owner="key:b", rpm=None, ipm=5)


# --------------------------------------------------------------------------- in this process


def test_local_rpm_lets_exactly_the_limit_through_then_frees_as_the_window_slides() -> None:
    """rpm 3: three pass, the fourth waits for the oldest to leave (its retry_after), then passes."""
    clock = Clock()
    rates = LocalRates(window=60, clock=clock)

    first = [rates.take([KEY_RPM], 1) for _ in range(2)]
    clock.now += 10
    third = rates.take([KEY_RPM], 1)
    refused = rates.take([KEY_RPM], 1)
    clock.now += 50  # the first two leave the window now
    after = [rates.take([KEY_RPM], 1) for _ in range(3)]

    assert first == [None, None]
    assert third is None
    assert refused is not None
    assert (refused.limit, refused.value, refused.index) == ("rpm", 3, 0)
    assert refused.retry_after == pytest.approx(50)
    assert after[:2] == [None, None]
    assert after[2] is not None  # the third of the first minute is still in the window
    assert after[2].retry_after == pytest.approx(10)


def test_local_images_per_minute_counts_n() -> None:
    """ipm 5: n=2, n=2 pass, n=2 is refused (6 > 5), n=1 passes; n=6 alone can never pass."""
    clock = Clock()
    rates = LocalRates(window=60, clock=clock)

    answers = [rates.take([KEY_IPM], n) for n in (2, 2, 2, 1)]
    never = rates.take([KEY_IPM], 6)

    assert answers[0] is None
    assert answers[1] is None
    assert answers[2] is not None
    assert (answers[2].limit, answers[2].value) == ("ipm", 5)
    assert answers[2].retry_after == pytest.approx(60)  # the first request's two images must leave
    assert answers[3] is None
    assert never is not None
    assert never.retry_after is None


def test_local_key_and_team_are_counted_together_or_not_at_all() -> None:
    """A team at its limit refuses: nothing is counted on the key, whose own limit is still free."""
    clock = Clock()
    rates = LocalRates(window=60, clock=clock)
    team = Rate(owner="team:t", rpm=2, ipm=None)
    one, other = Rate(owner="key:one", rpm=2, ipm=None), Rate(owner="key:two", rpm=2, ipm=None)

    assert rates.take([one, team], 1) is None
    assert rates.take([other, team], 1) is None
    refused = rates.take([one, team], 1)
    alone = [rates.take([one], 1), rates.take([one], 1)]

    assert refused is not None
    assert refused.index == 1  # the team refused
    assert alone[0] is None  # the refused request left no count on the key: it has one left
    assert alone[1] is not None


def test_local_windows_of_idle_owners_are_forgotten() -> None:
    """10,000 keys once each, then a minute later a few calls: the table holds what is in the window only."""
    clock = Clock()
    rates = LocalRates(window=60, clock=clock)
    for index in range(10_000):
        rates.take([Rate(owner=f"key:{index}", rpm=5, ipm=None)], 1)
    clock.now += 61
    for _ in range(6000):
        rates.take([KEY_RPM], 1)
        clock.now += 0.01

    assert len(rates) < 100


async def test_the_default_state_keeps_key_windows_in_process() -> None:
    """LocalState (no Redis) answers arates from its own windows."""
    state = LocalState(clock=Clock())

    answers = [await state.arates("k:a", [KEY_RPM], images=1) for _ in range(4)]

    assert answers[:3] == [None] * 3
    assert answers[3] is not None


# --------------------------------------------------------------------------- Redis


def store(server: RedisServer, **options: Any) -> RedisState:
    return RedisState(server.url, **{"timeout": 2.0, **options})


async def test_rpm_10_is_exact_across_stores_taking_at_once(redis_server: RedisServer) -> None:
    """Three stores (three gateway processes), 30 requests at once on a key with rpm 10: exactly 10 pass."""
    stores = [store(redis_server) for _ in range(3)]
    rate = Rate(owner="key:shared", rpm=10, ipm=None)

    answers = await asyncio.gather(*(s.arates("k:shared", [rate], images=1) for _ in range(10) for s in stores))

    assert sum(answer is None for answer in answers) == 10
    refused = [answer for answer in answers if answer is not None]
    assert {(r.limit, r.value) for r in refused} == {("rpm", 10)}
    assert all(r.retry_after is not None and 0 < r.retry_after <= 60 for r in refused)
    assert all(s.round_trips == 10 for s in stores)  # one round trip per request
    for s in stores:
        await s.aclose()


async def test_images_per_minute_counts_n_across_stores(redis_server: RedisServer) -> None:
    """ipm 5 over two stores: n=2 on each passes, the next n=2 is refused, n=1 passes; n=6 never does."""
    first, second = store(redis_server), store(redis_server)

    answers = [
        await first.arates("k:b", [KEY_IPM], images=2),
        await second.arates("k:b", [KEY_IPM], images=2),
        await first.arates("k:b", [KEY_IPM], images=2),
        await second.arates("k:b", [KEY_IPM], images=1),
    ]
    never = await first.arates("k:b", [KEY_IPM], images=6)

    assert answers[0] is None
    assert answers[1] is None
    assert answers[2] is not None
    assert (answers[2].limit, answers[2].value) == ("ipm", 5)
    assert answers[2].retry_after is not None
    assert 59 < answers[2].retry_after <= 60
    assert answers[3] is None
    assert never is not None
    assert never.retry_after is None
    for s in (first, second):
        await s.aclose()


async def test_key_and_team_in_one_step_in_one_slot(redis_server: RedisServer) -> None:
    """A team's refusal counts nothing on the key; every key the step writes has the same hash tag."""
    first, second = store(redis_server), store(redis_server)
    team = Rate(owner="team:t", rpm=2, ipm=None)
    one, other = Rate(owner="key:one", rpm=2, ipm=None), Rate(owner="key:two", rpm=5, ipm=None)

    assert await first.arates("t:t", [one, team], images=1) is None
    assert await second.arates("t:t", [other, team], images=1) is None
    refused = await first.arates("t:t", [one, team], images=1)
    alone = [await second.arates("t:t", [one], images=1), await first.arates("t:t", [one], images=1)]

    assert refused is not None
    assert refused.index == 1
    assert alone[0] is None
    assert alone[1] is not None
    keys = sorted(redis_server.dump())
    assert keys == [
        b"pixmux:{rl:t:t}:key:one:n",
        b"pixmux:{rl:t:t}:key:one:w",
        b"pixmux:{rl:t:t}:key:two:n",
        b"pixmux:{rl:t:t}:key:two:w",
        b"pixmux:{rl:t:t}:team:t:n",
        b"pixmux:{rl:t:t}:team:t:w",
    ]
    for s in (first, second):
        await s.aclose()


async def test_the_window_slides_on_redis_time(redis_server: RedisServer) -> None:
    """A 0.4 s window: at the limit, then free again once the window has passed; the keys expire."""
    state = store(redis_server, window=0.4)
    rate = Rate(owner="key:s", rpm=2, ipm=None)

    assert await state.arates("k:s", [rate], images=1) is None
    assert await state.arates("k:s", [rate], images=1) is None
    refused = await state.arates("k:s", [rate], images=1)
    await asyncio.sleep(0.5)
    again = await state.arates("k:s", [rate], images=1)

    assert refused is not None
    assert refused.retry_after is not None
    assert 0 < refused.retry_after <= 0.4
    assert again is None
    await asyncio.sleep(0.5)
    assert redis_server.dump() == {}  # nothing left behind
    await state.aclose()


async def test_redis_down_failing_open_counts_in_this_process(redis_server: RedisServer) -> None:
    """Killed, open: the limit still holds, counted by this process alone; back, sharing resumes."""
    clock = Clock()
    state = store(redis_server, clock=clock)
    rate = Rate(owner="key:o", rpm=2, ipm=None)
    assert await state.arates("k:o", [rate], images=1) is None

    redis_server.kill()
    down = [await state.arates("k:o", [rate], images=1) for _ in range(3)]
    redis_server.start()
    clock.now += 10  # past the backoff
    back = await state.arates("k:o", [rate], images=1)

    assert down[:2] == [None, None]  # this process's own window: 2 in it
    assert down[2] is not None
    assert back is None  # an empty Redis: its window starts again
    assert b"pixmux:{rl:k:o}:key:o:w" in redis_server.dump()
    await state.aclose()


async def test_redis_down_failing_closed_refuses_with_a_503(redis_server: RedisServer) -> None:
    """Killed, closed: the step raises ServiceUnavailableError; the password is never in it."""
    state = store(redis_server, on_error="closed", timeout=0.2)
    redis_server.kill()

    with pytest.raises(ServiceUnavailableError) as caught:
        await state.arates("k:c", [KEY_RPM], images=1)

    assert caught.value.status_code == 503
    assert REDIS_PASSWORD not in str(caught.value)
    await state.aclose()


async def test_a_flushed_redis_loads_the_script_again(redis_server: RedisServer) -> None:
    """SCRIPT FLUSH (a restarted Redis): the next step loads the script and counts as before."""
    state = store(redis_server)
    rate = Rate(owner="key:f", rpm=2, ipm=None)
    assert await state.arates("k:f", [rate], images=1) is None
    client = redis_server.client()
    client.script_flush()
    client.close()

    assert await state.arates("k:f", [rate], images=1) is None
    assert await state.arates("k:f", [rate], images=1) is not None
    await state.aclose()
