"""
Virtual keys, budgets and spend on the gateway's request path.

:class:`Accounting` is what the gateway calls: :meth:`~Accounting.authenticate` for every
request (master key or virtual key, through an in-process cache with a short TTL),
:meth:`~Accounting.admit` before a call (allowed models, rpm and images-per-minute limits,
then the budget reservation at the call's known price) and the returned :class:`Hold`'s
``succeeded``/``failed`` after it (one journal line; the batch writer stores the spend row and
settles the reservation off the request path).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import math
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

import attrs
from sqlalchemy.exc import DBAPIError, IntegrityError

from pixmux._within import within
from pixmux.catalogue import request_price
from pixmux.exceptions import PixmuxError
from pixmux.proxy.app import GatewayError
from pixmux.proxy.store.blocks import Block, Blocks
from pixmux.proxy.store.database import (
    _UNAVAILABLE,
    Database,
    DatabaseUnavailable,
    KeyRecord,
    OverBudget,
    Settlement,
)
from pixmux.proxy.store.fast import DriverReservations, Duplicate
from pixmux.proxy.store.journal import Segment, SpendJournal
from pixmux.proxy.store.limits import KeyLimits
from pixmux.proxy.store.schema import NANO, to_nano
from pixmux.proxy.store.settings import AccountingSettings

if TYPE_CHECKING:
    from pixmux.proxy.app import Gateway, Scope
    from pixmux.types import ImageResponse, ImageStreamEvent

__all__ = ["Accounting", "Caller", "Hold", "Reservations", "hash_key"]

logger = logging.getLogger("pixmux.proxy.spend")
#: How long an unknown key is remembered as unknown (a client retrying a wrong key costs no query).
NEGATIVE_TTL = 1.0
RETENTION_EVERY = 600.0
#: Rows in one batch write at most.
BATCH_ROWS = 2000
#: Keys the per-key budget gauge shows at most (the most recently updated with a budget).
BUDGET_GAUGE_KEYS = 1000


def hash_key(key: str | bytes) -> str:
    """The stored form of a virtual key: its SHA-256, hex (LiteLLM's ``token``)."""
    return hashlib.sha256(key.encode() if isinstance(key, str) else key).hexdigest()


@attrs.frozen
class Caller:
    """Who sent a request: the master key, a virtual key, or nobody (an open gateway)."""

    master: bool
    key: KeyRecord | None = None


_MASTER = Caller(master=True)


class Reservations(Protocol):
    """Where budget reservations are taken: the database here; Redis may take them later."""

    async def reserve(
        self, key: KeyRecord, amount: int, now: float, request_id: str, *, excess: int = 0
    ) -> OverBudget | None:
        """
        Reserve ``amount`` nano-dollars on the key and its team for one request, or say whose
        budget refused; it must fit with ``excess`` more (costs over reservations, not yet written).
        """


class Hold:
    """One admitted request: settles its reservation and writes its spend row when it ends."""

    __slots__ = (
        "_accounting",
        "_done",
        "_local",
        "block",
        "caller",
        "model",
        "params",
        "prompt",
        "request_id",
        "reserved",
        "started",
    )

    def __init__(
        self,
        accounting: Accounting,
        *,
        caller: Caller,
        request_id: str,
        model: str,
        params: Mapping[str, Any],
        prompt: str,
        reserved: int,
        local: bool,
        block: Block | None = None,
    ) -> None:
        self._accounting = accounting
        self.caller = caller
        self.request_id = request_id
        self.model = model
        self.params = params
        self.prompt = prompt
        self.reserved = reserved
        self._local = local
        self.block = block
        self._done = False
        self.started = time.time()

    def succeeded(self, response: ImageResponse) -> None:
        """The call answered: charge its cost (the reservation when the cost is unknown)."""
        cost = response.cost
        spend = to_nano(cost) if cost is not None and math.isfinite(cost) and cost >= 0 else self.reserved
        meta = response.metadata
        self._finish(
            status="success",
            status_code=200,
            spend=spend,
            n=len(response.data),
            deployment=meta.get("deployment"),
            provider=meta.get("provider"),
            provider_model=meta.get("model"),
        )

    def streamed(self, last: ImageStreamEvent) -> None:
        """A stream ended with its completed event: charge that event's cost (the reservation when unknown)."""
        cost = last.cost
        spend = to_nano(cost) if cost is not None and math.isfinite(cost) and cost >= 0 else self.reserved
        meta = last.metadata
        asked = self.params.get("n")
        self._finish(
            status="success",
            status_code=200,
            spend=spend,
            n=asked if isinstance(asked, int) and asked > 0 else 1,
            deployment=meta.get("deployment"),
            provider=meta.get("provider"),
            provider_model=meta.get("model"),
        )

    def failed(self, error: BaseException) -> None:
        """The call failed or the client left: nothing is charged, the reservation is given back."""
        code = error.status_code if isinstance(error, PixmuxError) and isinstance(error.status_code, int) else 499
        provider = error.provider if isinstance(error, PixmuxError) else None
        self._finish(
            status="failure", status_code=code, spend=0, n=0, deployment=None, provider=provider, provider_model=None
        )

    def _finish(
        self,
        *,
        status: str,
        status_code: int,
        spend: int,
        n: int,
        deployment: Any,
        provider: Any,
        provider_model: Any,
    ) -> None:
        if self._done:
            return
        self._done = True
        key = self.caller.key
        accounting = self._accounting
        n_asked = self.params.get("n")
        block = self.block
        # out of a block: what leaves the block's row (the cost); else what the request reserved
        freed = block.settle(self.reserved, spend) if block is not None else 0 if self._local else self.reserved
        settlement = Settlement(
            request_id=self.request_id,
            api_key=None if key is None else key.token,
            team_id=None if key is None else key.team_id,
            user_id=None if key is None else key.user_id,
            model=self.model,
            deployment=None if deployment is None else str(deployment),
            provider=None if provider is None else str(provider),
            provider_model=None if provider_model is None else str(provider_model),
            operation=str(self.params.get("operation", "generate")),
            n=n if n else (n_asked if isinstance(n_asked, int) and status == "success" else 0),
            size=_text(self.params.get("size")),
            quality=_text(self.params.get("quality")),
            spend=spend,
            reserved=freed,
            status=status,
            status_code=status_code,
            latency_ms=round((time.time() - self.started) * 1000, 3),
            start_time=self.started,
            prompt=self.prompt if accounting.settings.store_prompts else None,
            block=None if block is None else block.id,
        )
        if self._local and key is not None:
            accounting.local_release(key, self.reserved, spend)
        elif key is not None and spend > freed and (freed or block is not None):
            accounting.excess[key.token] = accounting.excess.get(key.token, 0) + spend - freed
        accounting.journal.finished(settlement)
        accounting.wake(urgent=status != "success" and settlement.reserved > 0 and block is None)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


class Accounting:
    """
    Keys, budgets and spend for one gateway process.

    Args:
        gateway: the gateway it serves (for its master key, engine, model groups and body reader).
        settings: ``general_settings``' accounting keys.
    """

    def __init__(self, gateway: Gateway, settings: AccountingSettings) -> None:
        self.gateway = gateway
        self.settings = settings
        self.db = Database(settings.database_url)

        self._driver = DriverReservations(self.db)
        self.reservations: Reservations = self._driver
        self.journal = SpendJournal(settings.journal_dir)
        #: Budget blocks (None: every budgeted request reserves on its own, ``budget_blocks: false``).
        self.blocks = Blocks(self._driver, self.journal) if settings.budget_blocks else None
        #: Per key: what calls cost over what they held (token-billed estimates), until the
        #: batch writer stores it; the key's next reservations must fit with it.
        self.excess: dict[str, int] = {}
        #: ``{key alias: USD left}`` for the budget gauge, read by the batch writer.
        self._remaining: dict[str, float] = {}
        master = gateway.config.master_key
        self._master = hashlib.sha256(master.encode()).digest() if master else None
        self._cache: dict[str, tuple[KeyRecord | None, float]] = {}
        self._reads: dict[str, asyncio.Future[KeyRecord | None]] = {}
        self._limits = KeyLimits(gateway.router.state)  # rpm / images-per-minute windows: Redis when shared
        self._prices: dict[tuple[Any, ...], int | None] = {}
        #: Nano-dollars reserved locally (database lost, ``allow_requests_on_db_unavailable``), per key and team.
        self._local: dict[str, int] = {}
        self._pending: list[Segment] = []
        self._writer: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._start_lock: asyncio.Lock | None = None
        self._flush_lock: asyncio.Lock | None = None
        self._started = False
        self._last_retention = 0.0
        self._db_down_since: float | None = None
        self._budgets_wanted = False
        self.written = 0

    def routes(self) -> dict[tuple[str, str], Any]:
        """The admin routes (``/key/*``, ``/team/*``, ``/spend/*``), for the gateway's route table."""
        from pixmux.proxy.store.admin import AdminRoutes

        self.admin = AdminRoutes(self)
        return self.admin.table()

    def route(self, method: str, path: str) -> Any:
        """An admin route with a value in its path (``POST /key/{key}/regenerate``), or ``None``."""
        return self.admin.match(method, path)

    # ------------------------------------------------------------------ life cycle

    async def start(self) -> None:
        """
        Connect, migrate, replay what an earlier run left in the journal, start the batch writer.

        Raises:
            DatabaseUnavailable: the database cannot be reached (the message names the host).
        """
        if self._started:
            return
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if not self._started:  # another request started it while this one waited
                await self._start()

    async def _start(self) -> None:
        await self.db.check()
        await self.db.upgrade()
        if self.journal.current is None:
            self.journal.open()
        leftovers = self.journal.leftovers()
        if leftovers.paths:
            try:
                count = await self.db.settle(
                    leftovers.settlements,
                    logs=self.settings.spend_logs,
                    replay=True,
                    releases=leftovers.releases,
                )
            except (*_UNAVAILABLE, DBAPIError) as exc:
                leftovers.release_locks()
                raise self.db.unavailable(exc) from None
            leftovers.done()
            logger.info(
                "spend journal: %d row(s) from an earlier run written, %d unfinished reservation(s) given back",
                count,
                len(leftovers.releases),
            )
        self._wake = asyncio.Event()
        state: Any = getattr(getattr(self.gateway, "scaleout", None), "state", None)
        if self.blocks is not None and hasattr(state, "anotify") and hasattr(state, "alisten"):
            self.blocks.listen(state.anotify, state.alisten)  # with Redis: recall other instances' blocks
        telemetry = getattr(self.gateway, "telemetry", None)
        if telemetry is not None and telemetry.metrics is not None:
            telemetry.budget_source = self.budget_remaining
            await self._read_budgets()
        self._writer = asyncio.get_running_loop().create_task(self._write_loop())
        self._started = True
        logger.info("accounting on: database %s", self.db.host)

    async def stop(self) -> None:
        """Write everything queued (if the database answers), then close."""
        if not self._started:
            await self.db.close()
            return
        self._started = False
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        if self.blocks is not None:
            await self.blocks.close()  # before the last flush: its rows settle what the blocks gave
        await self.flush()
        if self.journal.current is not None:
            current = self.journal.current
            if not current.settlements and not self._pending and not self.journal.open_reservations:
                current.remove()
            else:
                current.close()
            self.journal.current = None
        for segment in self._pending:
            segment.close()
        self._pending.clear()
        await self._driver.close()
        await self.db.close()

    def wake(self, *, urgent: bool = False) -> None:
        """Write now rather than at the next tick: a full batch, or a reservation to give back."""
        current = self.journal.current
        if self._wake is not None and current is not None and (urgent or len(current.settlements) >= BATCH_ROWS):
            self._wake.set()

    async def _write_loop(self) -> None:
        assert self._wake is not None
        while True:
            with contextlib.suppress(TimeoutError):
                await within(self.settings.batch_seconds, self._wake.wait())
            self._wake.clear()
            await self.flush()
            await self._retention()
            if self._budgets_wanted:
                await self._read_budgets()

    async def flush(self) -> int:
        """Write every finished segment's rows (oldest first); a lost database leaves them for the next try."""
        if self._flush_lock is None:
            self._flush_lock = asyncio.Lock()
        async with self._flush_lock:
            return await self._flush()

    async def _flush(self) -> int:
        current = self.journal.current
        if current is not None and current.settlements:
            self._pending.append(self.journal.rotate())
        written = 0
        while self._pending:
            segment = self._pending[0]
            try:
                try:
                    written += await self._driver.settle(segment.settlements, logs=self.settings.spend_logs)
                except (IntegrityError, Duplicate):  # a row already stored (a retried batch): write the rest
                    written += await self.db.settle(segment.settlements, logs=self.settings.spend_logs, replay=True)
            except (*_UNAVAILABLE, DBAPIError) as exc:
                if self._db_down_since is None:
                    self._db_down_since = time.monotonic()
                    logger.warning("spend rows queued: %s", self.db.unavailable(exc))
                break
            if self._db_down_since is not None:
                logger.info("database %s is back: queued spend rows written", self.db.host)
                self._db_down_since = None
                self._local.clear()  # local reservations are settled rows now: read totals afresh
                self.invalidate()
            segment.remove()
            self._pending.pop(0)
            self._written_excess(segment.settlements)
        self.written += written
        return written

    def budget_remaining(self) -> dict[str, float]:
        """``{key alias: USD left}`` for every key with a budget (``max_budget`` less spend), as last read."""
        return self._remaining

    async def _read_budgets(self) -> None:
        """Read each budgeted key's spend for the budget gauge (at start, then at every batch write)."""
        self._budgets_wanted = True
        try:
            rows = await self.db.budgets(limit=BUDGET_GAUGE_KEYS)
        except (*_UNAVAILABLE, DBAPIError):
            return
        self._remaining = {alias: (max_budget - spend) / NANO for alias, max_budget, spend in rows}

    def _written_excess(self, settlements: list[Settlement]) -> None:
        """Costs over reservations are in the database now: the key's spend counts them."""
        if not self.excess:
            return
        for s in settlements:
            over = s.spend - s.reserved
            if over > 0 and s.api_key is not None and (s.reserved or s.block is not None):
                left = self.excess.get(s.api_key, 0) - over
                if left > 0:
                    self.excess[s.api_key] = left
                else:
                    self.excess.pop(s.api_key, None)

    async def _retention(self) -> None:
        if self.settings.retention_seconds is None:
            return
        now = time.time()
        if now - self._last_retention < min(RETENTION_EVERY, self.settings.retention_seconds):
            return
        self._last_retention = now
        try:
            deleted = await self.db.delete_spend_before(now - self.settings.retention_seconds)
        except (*_UNAVAILABLE, DBAPIError):
            return
        if deleted:
            logger.info("spend logs: %d row(s) past maximum_spend_logs_retention_period deleted", deleted)

    # ------------------------------------------------------------------ auth

    def _token(self, scope: Scope) -> bytes | None:
        given = None
        for key, value in scope["headers"]:
            if key == b"authorization":
                scheme, _, token = value.partition(b" ")
                if scheme.lower() == b"bearer":
                    given = token.strip()
            elif key == b"api-key" and given is None:
                given = value.strip()
        return given or None

    async def authenticate(self, scope: Scope, info: dict[str, Any] | None = None) -> Caller:
        """
        Who sent this request: the master key, or a live virtual key (whose alias goes in
        ``info["key_alias"]``, for the JSON log line).

        Raises:
            GatewayError: 401 for a missing, unknown, deleted or expired key; 403 for a blocked
                key or team; 503 when the database is needed and cannot be reached.
        """
        if not self._started:
            await self._start_on_request()
        given = self._token(scope)
        if given is None:
            raise GatewayError(
                401,
                "missing API key: send `Authorization: Bearer <key>` or `api-key: <key>`",
                code="invalid_api_key",
            )
        digest = hashlib.sha256(given)
        if self._master is not None and hmac.compare_digest(digest.digest(), self._master):
            return _MASTER
        token = digest.hexdigest()
        record = await self._lookup(token)
        if record is None:
            raise GatewayError(401, "incorrect API key", code="invalid_api_key")
        now = time.time()
        if record.expires is not None and record.expires <= now:
            raise GatewayError(401, f"the API key {record.key_name} has expired", code="expired_key")
        if record.blocked:
            raise GatewayError(
                403, f"the API key {record.key_name} is blocked", type="permission_denied", code="key_blocked"
            )
        if record.team is not None and record.team.blocked:
            raise GatewayError(
                403, f"team {record.team.team_id} is blocked", type="permission_denied", code="team_blocked"
            )
        if info is not None:
            info["key_alias"] = record.key_alias or record.key_name
        return Caller(master=False, key=record)

    async def _start_on_request(self) -> None:
        try:
            await self.start()
        except DatabaseUnavailable as exc:
            raise GatewayError(503, str(exc), type="api_error", code="database_unavailable") from None

    async def _lookup(self, token: str) -> KeyRecord | None:
        cached = self._cache.get(token)
        now = time.monotonic()
        if cached is not None:
            record, fetched = cached
            if now - fetched < (self.settings.cache_ttl if record is not None else NEGATIVE_TTL):
                return record
        try:
            record = await self._read(token)
        except (*_UNAVAILABLE, DBAPIError) as exc:
            if cached is not None and cached[0] is not None and self.settings.fail_open:
                return cached[0]  # the database is lost: a key already known keeps working
            raise GatewayError(
                503, f"{self.db.unavailable(exc)}; try again shortly", type="api_error", code="database_unavailable"
            ) from None
        self._cache[token] = (record, now)
        return record

    async def _read(self, token: str) -> KeyRecord | None:
        """One database read per key at a time: concurrent misses of one key share it (no stampede)."""
        pending = self._reads.get(token)
        if pending is None:
            pending = self._reads[token] = asyncio.ensure_future(self.db.key(token))
            pending.add_done_callback(lambda _: self._reads.pop(token, None))
        return await asyncio.shield(pending)

    def invalidate(self, *tokens: str) -> None:
        """Forget cached keys (after an update, delete or regenerate on this process)."""
        if not tokens:
            self._cache.clear()
        for token in tokens:
            self._cache.pop(token, None)
        if self.blocks is not None:  # a budget may have changed: no request is served from an old block
            self.blocks.forget(tokens)

    # ------------------------------------------------------------------ before and after a call

    async def admit(self, info: Mapping[str, Any], prompt: str, model: str, params: Mapping[str, Any]) -> Hold:
        """
        Check and reserve for one call the gateway is about to send.

        Raises:
            GatewayError: 403 for a model the key or team may not use, 429 ``rate_limit_error``
                for an rpm or images-per-minute limit, 429 ``budget_exceeded`` when the
                reservation would pass a budget, 503 when the database is lost (fail closed).
        """
        caller: Caller = info.get("caller") or _MASTER
        request_id = str(info.get("request_id") or "")

        def hold(reserved: int, *, local: bool, block: Block | None = None) -> Hold:
            return Hold(
                self,
                caller=caller,
                request_id=request_id,
                model=model,
                params=params,
                prompt=prompt,
                reserved=reserved,
                local=local,
                block=block,
            )

        key = caller.key
        if key is None:
            return hold(0, local=False)
        team = key.team
        for owner, allowed in (("key", key.models), ("team", team.models if team is not None else ())):
            if allowed and model not in allowed and "*" not in allowed:
                raise GatewayError(
                    403,
                    f"this {owner} may not use model {model!r}; allowed: {', '.join(allowed)}",
                    type="key_model_access_denied" if owner == "key" else "team_model_access_denied",
                    param="model",
                    code="model_access_denied",
                )
        n = params.get("n")
        images = n if isinstance(n, int) and n > 0 else 1
        await self._limits.check(key, images)
        now = time.time()
        budgeted = key.max_budget is not None or (team is not None and team.max_budget is not None)
        if not budgeted:
            return hold(0, local=False)
        amount = self._price(prompt, model, params)
        if amount is None:
            raise GatewayError(
                403,
                f"model {model!r} has no known price for this request, and this key has a budget: "
                "it cannot be reserved, so the call is refused",
                type="budget_exceeded",
                param="model",
                code="price_unknown",
            )
        blocks = self.blocks
        if blocks is not None:
            block = blocks.take(key, amount)  # in memory: the common case
            try:
                if block is None:
                    block = await blocks.acquire(key, amount, now, excess=self.excess.get(key.token, 0))
            except (*_UNAVAILABLE, DBAPIError):
                block = None  # the exact path below meets the same error and answers for it
            if block is not None:
                return hold(amount, local=False, block=block)
        self.journal.reserving(request_id, key.token, key.team_id if team is not None else None, amount)
        try:
            if blocks is not None:
                refused = await blocks.reserve_exactly(key, amount, now, request_id, self._reserve)
            else:
                refused = await self._reserve(key, amount, now, request_id)
        except (*_UNAVAILABLE, DBAPIError) as exc:
            self.journal.refused(request_id)
            if not self.settings.fail_open:
                raise GatewayError(
                    503,
                    f"{self.db.unavailable(exc)}; budgets cannot be checked, so the request is refused",
                    type="api_error",
                    code="database_unavailable",
                ) from None
            refused = self._local_reserve(key, amount)
            if refused is not None:
                raise _over_budget(refused, amount) from None
            return hold(amount, local=True)
        if refused is not None:
            self.journal.refused(request_id)
            block = None if blocks is None else blocks.take(key, amount)  # one made meanwhile by another request
            if block is None:
                raise _over_budget(refused, amount)
            return hold(amount, local=False, block=block)
        return hold(amount, local=False)

    async def _reserve(self, key: KeyRecord, amount: int, now: float, request_id: str) -> OverBudget | None:
        """
        One request's reservation in the database, fitting with what this process's calls cost
        over their reservations and has not written yet. Refused with some of that counted, it
        writes it (a batch written while the statement ran would be counted twice) and asks again.
        """
        excess = self.excess.get(key.token, 0)
        refused = await self.reservations.reserve(key, amount, now, request_id, excess=excess)
        if refused is not None and excess:
            await self.flush()
            refused = await self.reservations.reserve(
                key, amount, now, request_id, excess=self.excess.get(key.token, 0)
            )
        return refused

    def stream_ended(
        self, info: Mapping[str, Any], last: ImageStreamEvent | None, failed: BaseException | None
    ) -> None:
        """Settle a streamed request once its stream has ended (completed, failed, or the client left)."""
        hold = info.get("hold")
        if not isinstance(hold, Hold):
            return
        if last is not None and failed is None:
            hold.streamed(last)
        else:
            hold.failed(failed if failed is not None else asyncio.CancelledError())

    def _price(self, prompt: str, model: str, params: Mapping[str, Any]) -> int | None:
        """The most this call can cost on any deployment behind ``model`` (nano-dollars), or ``None``."""
        n = params.get("n")
        cache_key = (model, n, params.get("size"), params.get("quality"), params.get("operation"))
        if cache_key in self._prices:
            return self._prices[cache_key]
        price: int | None = None
        targets = self.gateway._targets.get(model) or []
        for target in targets:
            try:
                call = self.gateway.engine.prepare(prompt=prompt, model=target.model, **{**params, **target.params})
            except (PixmuxError, TypeError):
                continue
            usd = request_price(call.info, call.request)
            if usd is None:
                price = None
                break
            price = max(price or 0, to_nano(usd))
        if len(self._prices) > 10_000:
            self._prices.clear()
        self._prices[cache_key] = price
        return price

    def _local_reserve(self, key: KeyRecord, amount: int) -> OverBudget | None:
        owners: list[tuple[str, str, int | None, int, int]] = [
            ("key", key.token, key.max_budget, key.spend, key.reserved)
        ]
        if key.team is not None:
            team = key.team
            owners.append(("team", "team:" + team.team_id, team.max_budget, team.spend, team.reserved))
        for owner, name, budget, spend, reserved in owners:
            local = self._local.get(name, 0)
            if budget is not None and spend + reserved + local + amount > budget:
                return OverBudget(owner=owner, spend=spend + local, reserved=reserved, max_budget=budget)
        for _, name, *_ in owners:
            self._local[name] = self._local.get(name, 0) + amount
        return None

    def local_release(self, key: KeyRecord, reserved: int, spend: int) -> None:
        """Settle a local reservation: what was spent stays counted until the database takes the row."""
        for name in (key.token, *(("team:" + key.team.team_id,) if key.team is not None else ())):
            self._local[name] = self._local.get(name, 0) - reserved + spend


def _over_budget(refused: OverBudget, amount: int) -> GatewayError:
    return GatewayError(
        429,
        f"Budget has been exceeded! {refused.owner} spend: {refused.spend / NANO:.6g} USD, reserved: "
        f"{refused.reserved / NANO:.6g} USD, this request: {amount / NANO:.6g} USD, "
        f"max budget: {refused.max_budget / NANO:.6g} USD",
        type="budget_exceeded",
        code="budget_exceeded",
    )
