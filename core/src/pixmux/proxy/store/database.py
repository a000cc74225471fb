"""
The accounting database: connection, migrations and every statement the gateway runs.

One class, :class:`Database`, over SQLAlchemy's async engine: ``aiosqlite`` for SQLite (one
connection, so one writer per process; SQLite's own lock orders writers across processes) and
``asyncpg`` for PostgreSQL. Budget reservations are single conditional ``UPDATE`` statements,
so two gateways on one database can never both take the last of a budget.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import attrs
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from pixmux._within import within
from pixmux.proxy.store.schema import keys, reservations, spend_logs, teams
from pixmux.proxy.store.settings import database_host, parse_duration, safe_url

__all__ = [
    "Database",
    "DatabaseUnavailable",
    "Conflict",
    "KeyRecord",
    "TeamRecord",
    "Settlement",
    "OverBudget",
    "engine_url",
]

#: Errors that mean "the database cannot be used right now" (as opposed to a bad statement).
_UNAVAILABLE = (OperationalError, InterfaceError, OSError, ConnectionError, asyncio.TimeoutError)
CONNECT_TIMEOUT = 5.0


class DatabaseUnavailable(Exception):
    """The database cannot be reached; the message names the host, never the password."""


class Conflict(Exception):
    """A row with that unique value (key alias, team id, key) exists already."""


@attrs.frozen(kw_only=True)
class OverBudget:
    """Why a reservation was refused: whose budget, what is spent and reserved, the limit (nano-dollars)."""

    owner: str  # "key" or "team"
    spend: int
    reserved: int
    max_budget: int


@attrs.frozen(kw_only=True)
class TeamRecord:
    """A team as stored (money in nano-dollars, times in Unix seconds)."""

    team_id: str
    team_alias: str | None = None
    models: tuple[str, ...] = ()
    max_budget: int | None = None
    budget_duration: str | None = None
    budget_reset_at: float | None = None
    spend: int = 0
    reserved: int = 0
    rpm_limit: int | None = None
    ipm_limit: int | None = None
    metadata: Mapping[str, Any] = attrs.field(factory=dict, hash=False)
    blocked: bool = False
    created_at: float = 0.0
    updated_at: float = 0.0


@attrs.frozen(kw_only=True)
class KeyRecord:
    """A virtual key as stored: its hash (``token``), never the key itself."""

    token: str = attrs.field(repr=False)
    key_name: str
    key_alias: str | None = None
    models: tuple[str, ...] = ()
    max_budget: int | None = None
    budget_duration: str | None = None
    budget_reset_at: float | None = None
    spend: int = 0
    reserved: int = 0
    rpm_limit: int | None = None
    ipm_limit: int | None = None
    expires: float | None = None
    metadata: Mapping[str, Any] = attrs.field(factory=dict, hash=False)
    user_id: str | None = None
    team_id: str | None = None
    blocked: bool = False
    created_at: float = 0.0
    updated_at: float = 0.0
    team: TeamRecord | None = None


@attrs.frozen(kw_only=True)
class Settlement:
    """
    One finished request, as the batch writer stores it: its spend row and what it settles.

    ``spend`` is what the call cost and ``reserved`` what was reserved for it (both
    nano-dollars): settling adds the one to the key's and team's spend and takes the other
    off their reservations. A request served from a process's budget *block*
    (:mod:`pixmux.proxy.store.blocks`) names it in ``block``: its ``reserved`` is then what
    the block gives up (the cost, as far as the block holds it), taken off the block's row.
    """

    request_id: str
    api_key: str | None
    team_id: str | None
    user_id: str | None
    model: str
    deployment: str | None
    provider: str | None
    provider_model: str | None
    operation: str
    n: int
    size: str | None
    quality: str | None
    spend: int
    reserved: int
    status: str
    status_code: int
    latency_ms: float
    start_time: float
    prompt: str | None = None
    block: str | None = None

    def row(self) -> dict[str, Any]:
        """The spend-log row (without ``reserved`` and ``block``, bookkeeping rather than facts about the call)."""
        row = attrs.asdict(self)
        del row["reserved"], row["block"]
        return row


def engine_url(url: str) -> tuple[str, dict[str, Any]]:
    """
    The SQLAlchemy async URL for a LiteLLM-style one, and the driver's connect arguments.

    ``postgresql://`` and ``postgres://`` become ``postgresql+asyncpg://`` (``sslmode=`` becomes
    asyncpg's ``ssl``); ``sqlite:///file`` becomes ``sqlite+aiosqlite:///file``.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    connect: dict[str, Any] = {}
    if scheme in ("postgresql", "postgres"):
        query = dict(parse_qsl(parts.query))
        sslmode = query.pop("sslmode", None)
        if sslmode is not None and sslmode not in ("disable", "allow"):
            connect["ssl"] = sslmode
        connect["timeout"] = CONNECT_TIMEOUT
        return parts._replace(scheme="postgresql+asyncpg", query=urlencode(query)).geturl(), connect
    if scheme == "sqlite":
        connect["timeout"] = 30.0
        return "sqlite+aiosqlite:" + url.split(":", 1)[1], connect
    raise ValueError(f"unsupported database URL scheme {parts.scheme!r}")


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _loads(text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def next_reset(start: float, duration: str | None, now: float) -> float | None:
    """The first reset time after ``now`` on the grid ``start + k x duration``."""
    if duration is None:
        return None
    step = parse_duration(duration)
    if start > now:
        return start
    return start + (math.floor((now - start) / step) + 1) * step


class Database:
    """
    The accounting database behind one gateway process.

    Args:
        url: ``postgresql://user:password@host:5432/db`` or ``sqlite:///path/file.db``.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.host = database_host(url)
        target, connect = engine_url(url)
        self.is_sqlite = target.startswith("sqlite")
        if self.is_sqlite:
            path = urlsplit(url).path[1:]
            if path and path != ":memory:":
                Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
            self.engine: AsyncEngine = create_async_engine(
                target, connect_args=connect, pool_size=1, max_overflow=0, pool_timeout=60
            )
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_async_engine(
                target, connect_args=connect, pool_size=10, max_overflow=10, pool_pre_ping=True, pool_timeout=10
            )

    def __repr__(self) -> str:
        return f"Database({safe_url(self.url)!r})"

    def unavailable(self, exc: BaseException) -> DatabaseUnavailable:
        """A :class:`DatabaseUnavailable` for ``exc``, naming the host; the password never appears."""
        reason = str(getattr(exc, "orig", None) or exc) or type(exc).__name__
        password = urlsplit(self.url).password
        if password:
            reason = reason.replace(password, "***")
        reason = " ".join(reason.split())[:300]
        return DatabaseUnavailable(f"cannot reach the database at {self.host}: {reason}")

    async def close(self) -> None:
        await self.engine.dispose()

    # ------------------------------------------------------------------ start

    async def check(self) -> None:
        """
        Connect once.

        Raises:
            DatabaseUnavailable: naming the host.
        """
        try:
            await within(CONNECT_TIMEOUT * 2, self._ping())
        except (*_UNAVAILABLE, DBAPIError) as exc:
            raise self.unavailable(exc) from None

    async def _ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def upgrade(self) -> None:
        """
        Bring the schema to the newest migration (Alembic); safe to run on every start.

        Several processes may start at once on one database (``--workers N``, several
        gateways): on PostgreSQL one takes an advisory lock and migrates while the others wait;
        on a SQLite file they take turns through a lock file beside it (SQLite's own locking
        does not cover DDL run outside a transaction the driver has begun).
        """
        lock_path = self._sqlite_lock_path()
        if lock_path is None:
            await self._upgrade()
            return
        lock = await asyncio.to_thread(_lock_file, lock_path)
        try:
            await self._upgrade()
        finally:
            lock.close()  # closing the descriptor releases the lock

    def _sqlite_lock_path(self) -> str | None:
        if not self.is_sqlite:
            return None
        database = self.engine.url.database
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        return database + ".migrate-lock"

    async def _upgrade(self) -> None:
        try:
            async with self.engine.begin() as conn:
                if not self.is_sqlite:  # two gateways starting at once: one migrates, the other waits
                    await conn.execute(sa.text("SELECT pg_advisory_xact_lock(7406191)"))
                await conn.run_sync(_upgrade)
        except (*_UNAVAILABLE, DBAPIError) as exc:
            raise self.unavailable(exc) from None

    # ------------------------------------------------------------------ keys and teams

    async def insert_key(self, values: Mapping[str, Any]) -> None:
        row = _new_row(values)
        try:
            async with self.engine.begin() as conn:
                await conn.execute(keys.insert().values(**row))
        except IntegrityError as exc:
            raise Conflict("a key with that alias exists already") from exc

    async def update_key(self, token: str, values: Mapping[str, Any]) -> bool:
        row = _changed_row(values)
        try:
            async with self.engine.begin() as conn:
                result = await conn.execute(keys.update().where(keys.c.token == token).values(**row))
        except IntegrityError as exc:
            raise Conflict("a key with that alias exists already") from exc
        return bool(result.rowcount)

    async def replace_token(self, old: str, new: str, key_name: str, values: Mapping[str, Any]) -> bool:
        """A key's new hash; its reservations (budget blocks included) follow it."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                keys.update()
                .where(keys.c.token == old)
                .values(token=new, key_name=key_name, updated_at=time.time(), **values)
            )
            if result.rowcount:
                await conn.execute(reservations.update().where(reservations.c.token == old).values(token=new))
        return bool(result.rowcount)

    async def delete_keys(self, tokens: Sequence[str] = (), aliases: Sequence[str] = ()) -> list[str]:
        """Delete keys by hash or alias; returns the hashes deleted."""
        async with self.engine.begin() as conn:
            found = await conn.execute(
                sa.select(keys.c.token).where(
                    sa.or_(keys.c.token.in_(list(tokens)), keys.c.key_alias.in_(list(aliases)))
                )
            )
            deleted = [row[0] for row in found]
            if deleted:
                await conn.execute(keys.delete().where(keys.c.token.in_(deleted)))
        return deleted

    async def key(self, token: str) -> KeyRecord | None:
        """The key with this hash, with its team, or ``None``."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(keys).where(keys.c.token == token))).mappings().first()
            if row is None:
                return None
            team = None
            if row["team_id"] is not None:
                found = (await conn.execute(sa.select(teams).where(teams.c.team_id == row["team_id"]))).mappings()
                team_row = found.first()
                team = None if team_row is None else _team(team_row)
        return _key(row, team)

    async def key_by_alias(self, alias: str) -> KeyRecord | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(keys.c.token).where(keys.c.key_alias == alias))).first()
        return None if row is None else await self.key(row[0])

    async def list_keys(
        self, *, page: int, size: int, user_id: str | None, team_id: str | None, key_alias: str | None
    ) -> tuple[list[KeyRecord], int]:
        where = []
        if user_id is not None:
            where.append(keys.c.user_id == user_id)
        if team_id is not None:
            where.append(keys.c.team_id == team_id)
        if key_alias is not None:
            where.append(keys.c.key_alias == key_alias)
        async with self.engine.connect() as conn:
            total = (await conn.execute(sa.select(sa.func.count()).select_from(keys).where(*where))).scalar_one()
            rows = (
                await conn.execute(
                    sa.select(keys)
                    .where(*where)
                    .order_by(keys.c.created_at, keys.c.token)
                    .limit(size)
                    .offset((page - 1) * size)
                )
            ).mappings()
            return [_key(row, None) for row in rows], int(total)

    async def insert_team(self, values: Mapping[str, Any]) -> None:
        row = _new_row(values)
        try:
            async with self.engine.begin() as conn:
                await conn.execute(teams.insert().values(**row))
        except IntegrityError as exc:
            raise Conflict("a team with that team_id exists already") from exc

    async def update_team(self, team_id: str, values: Mapping[str, Any]) -> bool:
        row = _changed_row(values)
        async with self.engine.begin() as conn:
            result = await conn.execute(teams.update().where(teams.c.team_id == team_id).values(**row))
        return bool(result.rowcount)

    async def team(self, team_id: str) -> TeamRecord | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(teams).where(teams.c.team_id == team_id))).mappings().first()
        return None if row is None else _team(row)

    async def list_teams(self) -> list[TeamRecord]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(sa.select(teams).order_by(teams.c.created_at))).mappings()
            return [_team(row) for row in rows]

    async def delete_teams(self, team_ids: Sequence[str]) -> list[str]:
        async with self.engine.begin() as conn:
            found = [r[0] for r in await conn.execute(sa.select(teams.c.team_id).where(teams.c.team_id.in_(team_ids)))]
            if found:
                await conn.execute(teams.delete().where(teams.c.team_id.in_(found)))
        return found

    async def budgets(self, *, limit: int) -> list[tuple[str, int, int]]:
        """``(alias, max_budget, spend)`` of keys with a budget (the alias, else the key's ``sk-...abcd`` name)."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(sa.func.coalesce(keys.c.key_alias, keys.c.key_name), keys.c.max_budget, keys.c.spend)
                .where(keys.c.max_budget.is_not(None))
                .order_by(keys.c.updated_at.desc())
                .limit(limit)
            )
            return [(str(row[0]), int(row[1]), int(row[2])) for row in rows]

    # ------------------------------------------------------------------ budgets

    async def reserve(
        self, key: KeyRecord, amount: int, now: float, request_id: str, *, excess: int = 0
    ) -> OverBudget | None:
        """
        Reserve ``amount`` nano-dollars against the key's budget and its team's, atomically.

        Each is one conditional ``UPDATE``: it succeeds only if spend + reserved + amount stays
        within the budget, re-checked by the database under the row's lock. Due budget resets
        happen first. A row in ``pixmux_reservations`` records the reservation in the same
        transaction, so that one left by a killed gateway can be told apart from one never made.
        Returns ``None`` on success, else whose budget refused.
        """
        async with self.engine.begin() as conn:
            if key.budget_reset_at is not None and key.budget_reset_at <= now:
                await _reset(
                    conn,
                    keys,
                    keys.c.token == key.token,
                    reset_at=key.budget_reset_at,
                    duration=key.budget_duration,
                    now=now,
                )
            refused = await _take(conn, keys, keys.c.token == key.token, amount, excess)
            if refused is not None:
                return OverBudget(owner="key", **refused)
            team = key.team
            if team is not None:  # reserved on the team whenever on the key: settling frees both
                where = teams.c.team_id == team.team_id
                if team.budget_reset_at is not None and team.budget_reset_at <= now:
                    await _reset(
                        conn, teams, where, reset_at=team.budget_reset_at, duration=team.budget_duration, now=now
                    )
                refused = await _take(conn, teams, where, amount, excess)
                if refused is not None:
                    await conn.rollback()
                    return OverBudget(owner="team", **refused)
            await conn.execute(
                reservations.insert().values(
                    request_id=request_id,
                    token=key.token,
                    team_id=None if team is None else team.team_id,
                    amount=amount,
                    created_at=now,
                )
            )
        return None

    async def settle(
        self,
        settlements: Sequence[Settlement],
        *,
        logs: bool,
        replay: bool = False,
        releases: Iterable[str] = (),
    ) -> int:
        """
        Write a batch in one transaction: the spend rows, then each key's and team's totals.

        With ``replay`` (rows read back from a journal after a crash), rows already stored are
        skipped, so nothing is counted twice; ``releases`` (request ids) give back the
        reservations those requests hold, if the database has them, in the same transaction.
        Returns how many rows were settled.
        """
        todo = list(settlements)
        intents = list(releases)
        if not todo and not intents:
            return 0
        async with self.engine.begin() as conn:
            if replay and todo:
                ids = [s.request_id for s in todo]
                present: set[str] = set()
                for start in range(0, len(ids), 500):
                    chunk = ids[start : start + 500]
                    found = await conn.execute(
                        sa.select(spend_logs.c.request_id).where(spend_logs.c.request_id.in_(chunk))
                    )
                    present.update(row[0] for row in found)
                todo = [s for s in todo if s.request_id not in present]
            if logs and todo:
                await conn.execute(spend_logs.insert(), [s.row() for s in todo])
            held_ids = [s.request_id for s in todo if s.reserved and s.block is None]
            for start in range(0, len(held_ids), 500):
                await conn.execute(
                    reservations.delete().where(reservations.c.request_id.in_(held_ids[start : start + 500]))
                )
            await _move(conn, [(s.api_key, s.team_id, s.spend, s.reserved) for s in todo])
            # block rows after the key and team rows, in the order a block's resize locks them
            await _shrink_blocks(conn, todo)
            freed: list[tuple[str, str | None, int]] = []
            for start in range(0, len(intents), 500):  # what dead processes held, blocks net of the rows above
                chunk = intents[start : start + 500]
                held = await conn.execute(
                    sa.select(reservations.c.token, reservations.c.team_id, reservations.c.amount).where(
                        reservations.c.request_id.in_(chunk)
                    )
                )
                freed.extend((row[0], row[1], int(row[2])) for row in held)
                await conn.execute(reservations.delete().where(reservations.c.request_id.in_(chunk)))
            await _move(conn, [(token, team, 0, amount) for token, team, amount in freed])
        return len(todo)

    # ------------------------------------------------------------------ spend

    async def spend_logs(
        self,
        *,
        api_key: str | None = None,
        user_id: str | None = None,
        team_id: str | None = None,
        request_id: str | None = None,
        model: str | None = None,
        start: float | None = None,
        end: float | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        where = _spend_where(
            api_key=api_key, user_id=user_id, team_id=team_id, request_id=request_id, model=model, start=start, end=end
        )
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(spend_logs).where(*where).order_by(spend_logs.c.start_time.desc()).limit(limit)
                )
            ).mappings()
            return [dict(row) for row in rows]

    async def spend_report(
        self, *, group_by: Sequence[str], start: float | None, end: float | None, api_key: str | None = None
    ) -> list[dict[str, Any]]:
        """Sums of spend, requests and images, grouped by day, api_key, model, team_id, user_id ..."""
        columns: list[Any] = []
        for name in group_by:
            if name == "day":
                columns.append(_day(self.is_sqlite).label("day"))
            else:
                columns.append(spend_logs.c[name])
        where = _spend_where(
            api_key=api_key, user_id=None, team_id=None, request_id=None, model=None, start=start, end=end
        )
        statement = (
            sa.select(
                *columns,
                sa.func.sum(spend_logs.c.spend).label("spend"),
                sa.func.count().label("requests"),
                sa.func.sum(sa.case((spend_logs.c.status == "success", spend_logs.c.n), else_=0)).label("images"),
            )
            .where(*where)
            .group_by(*columns)
            .order_by(*columns)
        )
        async with self.engine.connect() as conn:
            return [dict(row) for row in (await conn.execute(statement)).mappings()]

    async def delete_spend_before(self, cutoff: float) -> int:
        async with self.engine.begin() as conn:
            result = await conn.execute(spend_logs.delete().where(spend_logs.c.start_time < cutoff))
        return int(result.rowcount or 0)


async def _move(conn: AsyncConnection, moves: Sequence[tuple[str | None, str | None, int, int]]) -> None:
    """Add spend to, and take reservations off, each key and team: ``(token, team_id, spend, freed)``."""
    for index, (table, column) in enumerate(((keys, keys.c.token), (teams, teams.c.team_id))):
        totals: dict[str, list[int]] = {}
        for move in moves:
            owner = move[index]
            if not isinstance(owner, str) or (move[2] == 0 and move[3] == 0):
                continue
            total = totals.setdefault(owner, [0, 0])
            total[0] += move[2]
            total[1] += move[3]
        if totals:
            statement = (
                table.update()
                .where(column == sa.bindparam("owner"))
                .values(
                    spend=table.c.spend + sa.bindparam("add_spend", type_=sa.BigInteger),
                    reserved=table.c.reserved - sa.bindparam("free", type_=sa.BigInteger),
                )
            )
            await conn.execute(
                statement, [{"owner": owner, "add_spend": s, "free": r} for owner, (s, r) in sorted(totals.items())]
            )


def _new_row(values: Mapping[str, Any]) -> dict[str, Any]:
    """A new key's or team's row: nothing spent or reserved, ``models`` and ``metadata`` as JSON text."""
    now = time.time()
    row = {"spend": 0, "reserved": 0, "blocked": False, "created_at": now, "updated_at": now, **values}
    row["models"] = _dumps(list(row.get("models") or []))
    row["metadata"] = _dumps(dict(row.get("metadata") or {}))
    return row


def _changed_row(values: Mapping[str, Any]) -> dict[str, Any]:
    """The columns an update of a key or team sets, ``models`` and ``metadata`` as JSON text."""
    row = dict(values, updated_at=time.time())
    if "models" in row:
        row["models"] = _dumps(list(row["models"] or []))
    if "metadata" in row:
        row["metadata"] = _dumps(dict(row["metadata"] or {}))
    return row


def _lock_file(path: str) -> IO[bytes]:
    """Open ``path`` and hold an exclusive lock on it until the file is closed (waits for it)."""
    handle = open(path, "ab")  # noqa: SIM115 - held open as the lock, closed by the caller
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX: SQLite's own locking only
        return handle
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
    return handle


def block_moves(settlements: Iterable[Settlement]) -> list[tuple[int, str]]:
    """What each budget block gives up in a batch: ``(amount, block id)``, sorted by block."""
    moves: dict[str, int] = {}
    for s in settlements:
        if s.block is not None and s.reserved:
            moves[s.block] = moves.get(s.block, 0) + s.reserved
    return [(amount, block) for block, amount in sorted(moves.items())]


async def _shrink_blocks(conn: AsyncConnection, settled: Sequence[Settlement]) -> None:
    moves = block_moves(settled)
    if not moves:
        return
    await conn.execute(
        reservations.update()
        .where(reservations.c.request_id == sa.bindparam("block"))
        .values(amount=reservations.c.amount - sa.bindparam("used", type_=sa.BigInteger)),
        [{"block": block, "used": amount} for amount, block in moves],
    )
    await conn.execute(
        reservations.delete().where(
            reservations.c.request_id.in_([block for _, block in moves]), reservations.c.amount <= 0
        )
    )


def _sqlite_pragmas(dbapi_connection: Any, record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _upgrade(connection: Any) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def _take(
    conn: AsyncConnection, table: sa.Table, where: Any, amount: int, excess: int = 0
) -> dict[str, int] | None:
    statement = (
        table.update()
        .where(where)
        .where(
            sa.or_(
                table.c.max_budget.is_(None), table.c.spend + table.c.reserved + amount + excess <= table.c.max_budget
            )
        )
        .values(reserved=table.c.reserved + amount)
    )
    result = await conn.execute(statement)
    if result.rowcount:
        return None
    row = (await conn.execute(sa.select(table.c.spend, table.c.reserved, table.c.max_budget).where(where))).first()
    if row is None:
        return {"spend": 0, "reserved": 0, "max_budget": 0}
    return {"spend": int(row[0]), "reserved": int(row[1]), "max_budget": int(row[2] or 0)}


async def _reset(
    conn: AsyncConnection, table: sa.Table, where: Any, *, reset_at: float, duration: str | None, now: float
) -> None:
    following = next_reset(reset_at, duration, now)
    await conn.execute(
        table.update()
        .where(where)
        .where(table.c.budget_reset_at.is_not(None), table.c.budget_reset_at <= now)
        .values(spend=0, budget_reset_at=following)
    )


def _day(is_sqlite: bool) -> Any:
    if is_sqlite:
        return sa.func.date(spend_logs.c.start_time, "unixepoch")
    return sa.func.to_char(sa.func.to_timestamp(spend_logs.c.start_time).op("AT TIME ZONE")("UTC"), "YYYY-MM-DD")


def _spend_where(
    *,
    api_key: str | None,
    user_id: str | None,
    team_id: str | None,
    request_id: str | None,
    model: str | None,
    start: float | None,
    end: float | None,
) -> list[Any]:
    where: list[Any] = []
    for column, value in (
        (spend_logs.c.api_key, api_key),
        (spend_logs.c.user_id, user_id),
        (spend_logs.c.team_id, team_id),
        (spend_logs.c.request_id, request_id),
        (spend_logs.c.model, model),
    ):
        if value is not None:
            where.append(column == value)
    if start is not None:
        where.append(spend_logs.c.start_time >= start)
    if end is not None:
        where.append(spend_logs.c.start_time < end)
    return where


def _team(row: Any) -> TeamRecord:
    return TeamRecord(
        team_id=row["team_id"],
        team_alias=row["team_alias"],
        models=tuple(_loads(row["models"], [])),
        max_budget=row["max_budget"],
        budget_duration=row["budget_duration"],
        budget_reset_at=row["budget_reset_at"],
        spend=int(row["spend"]),
        reserved=int(row["reserved"]),
        rpm_limit=row["rpm_limit"],
        ipm_limit=row["ipm_limit"],
        metadata=_loads(row["metadata"], {}),
        blocked=bool(row["blocked"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _key(row: Any, team: TeamRecord | None) -> KeyRecord:
    return KeyRecord(
        token=row["token"],
        key_name=row["key_name"],
        key_alias=row["key_alias"],
        models=tuple(_loads(row["models"], [])),
        max_budget=row["max_budget"],
        budget_duration=row["budget_duration"],
        budget_reset_at=row["budget_reset_at"],
        spend=int(row["spend"]),
        reserved=int(row["reserved"]),
        rpm_limit=row["rpm_limit"],
        ipm_limit=row["ipm_limit"],
        expires=row["expires"],
        metadata=_loads(row["metadata"], {}),
        user_id=row["user_id"],
        team_id=row["team_id"],
        blocked=bool(row["blocked"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        team=team,
    )
