"""
Budget blocks: a gateway process reserves a share of a key's budget at once, then hands it
out to requests in memory, with no database round trip on the request path.

A block is a reservation like a request's: a row in ``pixmux_reservations`` (its id starts
with ``blk-`` and this process's random prefix) whose amount is also counted in the key's and
its team's ``reserved``. It is grown or shrunk in one transaction under the key's and team's
row locks (:meth:`DriverReservations.resize_block`), so the database's rule stays the one
per-request reservations follow: spend + reserved never passes a budget. In memory a block
knows its ``size`` (what its row holds, once the queued spend rows are written) and what its
requests in flight ``held``; a request fits when ``size - held`` covers its price. When a
request ends its cost moves from the block's row to spend in the batch writer's transaction
(the settlement names the block), and what it did not cost is free in the block again.

Exact, and never stranding budget:

- A block takes a quarter of what the key and team have free (:data:`SHARE`), and only while
  that covers :data:`MIN_REQUESTS` requests at the price asked; below that the process gives
  its block back and reserves each request exactly, as without blocks.
- A block is resized at least every :data:`LIFETIME` seconds while it is used (a lowered
  ``max_budget``, a reset or another process's spend is seen then), and given back after
  :data:`IDLE` seconds unused, on ``/key/update`` or ``/team/update`` (at once, on the process
  that served it; within the key cache's TTL elsewhere, as any key change) and at shutdown.
- A request refused by the database while this process's blocks hold free budget on the
  same key or team gets it back first; while *other* processes' blocks hold some, it waits
  for them (they shrink within :data:`LIFETIME`) and tries again, up to :data:`WAIT` seconds.
  With Redis (``router_settings.redis_*``), it also asks them to give it back at once: a note
  on the ``budget-recall`` channel (:meth:`Blocks.listen`), so the wait is a round trip or two.
- A killed process's blocks are given back by the next start: each block is noted in the
  spend journal (as a reservation) before its row is made, and replay frees what the row
  still holds after the dead process's queued spend rows are applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING

from pixmux._within import within

if TYPE_CHECKING:
    from pixmux.proxy.store.database import KeyRecord, OverBudget
    from pixmux.proxy.store.fast import DriverReservations
    from pixmux.proxy.store.journal import SpendJournal

__all__ = ["Block", "Blocks", "IDLE", "LIFETIME", "MIN_REQUESTS", "RECALL_TOPIC", "SHARE", "WAIT"]

logger = logging.getLogger("pixmux.proxy.spend")

#: A block takes this fraction (1/SHARE) of what the key's and team's budgets have free.
SHARE = 4
#: Blocks are used only while what is free covers this many requests at the price asked.
MIN_REQUESTS = 32
#: Seconds a block is used before it is resized against the database again.
LIFETIME = 1.0
#: Seconds unused after which a block's free part goes back to the database.
IDLE = 0.5
#: Seconds a refused request waits at most for other processes' blocks to come back: they give
#: back within LIFETIME + IDLE on an idle machine, but their requests in flight hold their share
#: until they end, and on a machine loaded far past its cores that takes seconds.
WAIT = 10.0
_POLL = 0.05
#: The channel (after the Redis key prefix) on which instances ask each other for blocks back.
RECALL_TOPIC = "budget-recall"

Reserve = Callable[["KeyRecord", int, float, str], Awaitable["OverBudget | None"]]


class Block:
    """One process's share of one key's (and its team's) budget, in nano-dollars."""

    __slots__ = ("held", "id", "lock", "resizing", "size", "sized_at", "small", "team_id", "token", "used_at")

    def __init__(self, block_id: str, token: str, team_id: str | None) -> None:
        self.id = block_id
        self.token = token
        self.team_id = team_id
        self.size = 0
        self.held = 0
        self.used_at = 0.0
        self.sized_at = -1e18
        #: The last resize found too little free for blocks: reserve exactly until the next one.
        self.small = False
        self.resizing = False
        self.lock = asyncio.Lock()

    @property
    def free(self) -> int:
        return self.size - self.held

    def settle(self, reserved: int, spend: int) -> int:
        """
        A request out of this block ended: what it held is free again, less what it cost.

        Returns what leaves the block's row for the key's spend: the cost, or as much of it
        as the block holds (a token-billed call that cost more than its estimate takes the
        excess out of the block's free part; what is still over is recorded as spend and
        refuses the key's next reservation).
        """
        self.held -= reserved
        used = max(0, min(spend, self.size - self.held))
        self.size -= used
        return used

    def __repr__(self) -> str:
        return f"Block({self.id!r}, size={self.size}, held={self.held})"


class Blocks:
    """
    The budget blocks of one gateway process.

    Args:
        driver: where blocks are resized (the database, through the raw driver).
        journal: the spend journal, which notes each block so that a crash gives it back.
        clock: monotonic seconds (tests pass a fake).
    """

    def __init__(
        self,
        driver: DriverReservations,
        journal: SpendJournal,
        *,
        share: int = SHARE,
        min_requests: int = MIN_REQUESTS,
        lifetime: float = LIFETIME,
        idle: float = IDLE,
        wait: float = WAIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.driver = driver
        self.journal = journal
        self.share = share
        self.min_requests = min_requests
        self.lifetime = lifetime
        self.idle = idle
        self.wait = wait
        self._clock = clock
        #: Every block id of this process starts with it (``blk-`` and 12 random hex digits).
        self.prefix = f"blk-{os.urandom(6).hex()}-"
        self._count = 0
        self._blocks: dict[tuple[str, str | None], Block] = {}
        #: Blocks no longer handed out (their key changed): given back once their requests end.
        self._detached: list[Block] = []
        self._keeper: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        #: Database transactions blocks made (resizes, waits): the benchmark reports them.
        self.resizes = 0
        #: Publishes a note to the other instances (``Blocks.listen``), when Redis is shared.
        self._notify: Callable[[str, str], Awaitable[None]] | None = None
        #: Blocks given back because another instance asked (the recall notes heard).
        self.recalled = 0

    # ------------------------------------------------------------------ the request path

    def take(self, key: KeyRecord, amount: int) -> Block | None:
        """Hold ``amount`` out of the key's block if it has that much free now (no I/O), else ``None``."""
        block = self._blocks.get((key.token, key.team_id if key.team is not None else None))
        if block is None or block.resizing or block.size - block.held < amount:
            return None
        now = self._clock()
        if now - block.sized_at > self.lifetime:
            return None  # due a resize: acquire() makes it
        block.held += amount
        block.used_at = now
        return block

    async def acquire(self, key: KeyRecord, amount: int, now: float, *, excess: int = 0) -> Block | None:
        """
        Resize the key's block so that it covers ``amount`` and hold it; ``None`` when what is
        free is too little for blocks (the caller reserves exactly). ``excess``: what the key's
        calls cost over their reservations and is not written yet (counted as spent).

        Raises:
            ConnectionError: the database cannot be used.
        """
        team = key.team
        if _reset_due(key, now):
            return None  # the exact path resets the budget in its transaction
        team_id = None if team is None else team.team_id
        block = self._blocks.get((key.token, team_id))
        if block is None:
            self._count += 1
            block = Block(f"{self.prefix}{self._count:x}-{key.token[:24]}", key.token, team_id)
            self.journal.reserving(block.id, key.token, team_id, 0)  # a crash gives it back at replay
            self._blocks[(key.token, team_id)] = block
            self._start_keeper()
        elif block.small and self._clock() - block.sized_at <= self.lifetime:
            return None
        async with block.lock:
            if self._blocks.get((key.token, team_id)) is not block:
                return None  # detached while this call waited: the key changed
            taken = self.take(key, amount)
            if taken is not None:  # another request resized it while this one waited
                return taken
            if block.small and self._clock() - block.sized_at <= self.lifetime:
                return None
            await self._resize(
                block, lambda free, mine: self._target(None if free is None else free - excess, mine, amount), now
            )
            block.small = block.free < amount
            if block.small:
                return None
            block.held += amount
            block.used_at = self._clock()
            return block

    def _target(self, free: int | None, mine: int, price: int) -> int:
        if free is None:  # no budget left to guard (changed since the key was read)
            return mine
        available = free + mine
        if available < self.min_requests * price:
            return 0
        return max(price, available // self.share)

    async def _resize(self, block: Block, target: Callable[[int | None, int], int], now: float) -> None:
        block.resizing = True
        try:
            self.resizes += 1
            delta, token = await self.driver.resize_block(
                block.id, block.token, block.team_id, now=now, mine=block.free, target=target
            )
        finally:
            block.resizing = False
        if token is not None:
            block.token = token  # the key was regenerated: its new hash
        block.size += delta
        block.sized_at = self._clock()

    async def reserve_exactly(
        self, key: KeyRecord, amount: int, now: float, request_id: str, reserve: Reserve
    ) -> OverBudget | None:
        """
        Reserve for one request on its own (``reserve``); when the database refuses, first get
        back what blocks hold free on the same key or team, so that no request is refused
        while a block holds budget it could have had.

        Raises:
            ConnectionError: the database cannot be used.
        """
        refused = await reserve(key, amount, now, request_id)
        if refused is None:
            return None
        team_id = key.team_id if key.team is not None else None
        if await self._give_back_on(key.token, team_id if refused.owner == "team" else None):
            refused = await reserve(key, amount, now, request_id)
            if refused is None:
                return None
        deadline = self._clock() + self.wait
        asked = False
        while True:
            # Other processes' blocks on this key or team, then the reservation again: a block given
            # back at any moment before the count is seen by the reservation after it.
            self.resizes += 1
            foreign = await self.driver.foreign_blocks(key.token, team_id, self.prefix)
            if foreign and not asked and self._notify is not None:  # ask them to give it back now
                asked = True
                team = team_id if refused.owner == "team" else ""
                await self._notify(RECALL_TOPIC, f"{self.prefix} {key.token[:32]} {team}")
            if foreign:
                await asyncio.sleep(_POLL)  # they give back within LIFETIME, or at once when asked
            refused = await reserve(key, amount, time.time(), request_id)
            if refused is None or not foreign or self._clock() >= deadline:
                return refused

    def listen(
        self,
        notify: Callable[[str, str], Awaitable[None]],
        listen: Callable[[str, Callable[[str], None]], None],
    ) -> None:
        """
        Share recalls with the other instances: ``notify(topic, message)`` publishes a note,
        ``listen(topic, handler)`` hears every instance's (:class:`pixmux.state.redis_store.RedisState`'s
        ``anotify`` and ``alisten``). A note names this process's prefix, the first 32 hex
        digits of the key's hash and the team (when the team's budget refused); nothing else.
        """
        self._notify = notify
        listen(RECALL_TOPIC, self._heard)

    def _heard(self, message: str) -> None:
        sender, _, rest = message.partition(" ")
        token, _, team = rest.partition(" ")
        if sender == self.prefix or len(token) < 16:
            return
        if any(
            b.free > 0 and (b.token.startswith(token) or (team and b.team_id == team))
            for b in [*self._blocks.values(), *self._detached]
        ):
            asyncio.get_running_loop().create_task(self._recalled(token, team or None))

    async def _recalled(self, token: str, team_id: str | None) -> None:
        try:
            if await self._give_back_on(token, team_id):
                self.recalled += 1
                logger.info("budget blocks: gave back budget this process held, for another gateway's request")
        except (ConnectionError, OSError) as exc:  # the database is lost: the block's upkeep gives it back later
            logger.debug("budget blocks: recall: %s", exc)

    async def _give_back_on(self, token: str, team_id: str | None) -> bool:
        """Give back what this process's blocks hold free on the key (its hash, or its start) and on the team."""
        found = False
        for block in [*self._blocks.values(), *self._detached]:
            if block.token.startswith(token) or (team_id is not None and block.team_id == team_id):
                async with block.lock:
                    if block.free > 0:
                        await self._resize(block, _nothing, time.time())
                        found = True
        return found

    # ------------------------------------------------------------------ upkeep

    def forget(self, tokens: Iterable[str] = ()) -> None:
        """The keys changed (or, without tokens, any key or team): stop handing out their blocks, give them back."""
        wanted = set(tokens)
        for place, block in list(self._blocks.items()):
            if not wanted or block.token in wanted:
                del self._blocks[place]
                self._detached.append(block)
        if self._detached and self._wake is not None:
            self._wake.set()

    def _start_keeper(self) -> None:
        if self._keeper is None or self._keeper.done():
            self._wake = asyncio.Event()
            self._keeper = asyncio.get_running_loop().create_task(self._keep())

    async def _keep(self) -> None:
        assert self._wake is not None
        while True:
            with contextlib.suppress(TimeoutError):
                await within(min(self.idle, self.lifetime) / 2, self._wake.wait())
            self._wake.clear()
            try:
                await self.tidy()
            except (ConnectionError, OSError) as exc:  # the database is lost: try again next tick
                logger.debug("budget blocks: %s", exc)
            except Exception:  # upkeep must not die; the next tick tries again
                logger.exception("budget blocks: upkeep failed")

    async def tidy(self) -> None:
        """Give back idle blocks' free parts and detached blocks whose requests ended; forget empty ones."""
        now = self._clock()
        for place, block in list(self._blocks.items()):
            if block.held == 0 and now - block.used_at > self.idle:
                if block.size > 0:
                    async with block.lock:
                        if block.held == 0 and block.free > 0:
                            await self._resize(block, _nothing, time.time())
                if block.size <= 0 and block.held == 0 and self._blocks.get(place) is block:
                    del self._blocks[place]
                    self.journal.refused(block.id)  # nothing held: no longer copied into new journal segments
        for block in list(self._detached):
            if block.held == 0:
                async with block.lock:
                    if block.free > 0:
                        await self._resize(block, _nothing, time.time())
                if block.size <= 0 and block.held == 0:
                    self._detached.remove(block)
                    self.journal.refused(block.id)

    async def close(self) -> None:
        """Stop the upkeep and give every block back (a lost database leaves them to the next start's replay)."""
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
            self._keeper = None
        self.forget()
        with contextlib.suppress(ConnectionError, OSError):
            await self.tidy()

    def holding(self) -> int:
        """Nano-dollars this process's blocks hold in all (in flight and free)."""
        return sum(block.size for block in [*self._blocks.values(), *self._detached])


def _nothing(free: int | None, mine: int) -> int:
    return 0


def _reset_due(key: KeyRecord, now: float) -> bool:
    team = key.team
    return (key.budget_reset_at is not None and key.budget_reset_at <= now) or (
        team is not None and team.budget_reset_at is not None and team.budget_reset_at <= now
    )
