"""
Budget reservations on the request path, straight on the database driver.

SQLAlchemy's async layer costs about 1.5 ms of CPU for the reservation's transaction (four
statements, each a greenlet and thread hop), and on PostgreSQL the row lock is held across four
round trips. Here the reservation is one call: on PostgreSQL one statement through ``asyncpg``
(data-modifying CTEs: take the key's budget, then the team's, then record the reservation, all
only if the one before succeeded), on SQLite one function run on the single writer thread
(``BEGIN IMMEDIATE`` ... ``COMMIT`` with the ``sqlite3`` module). Same tables, same
conditions as :meth:`pixmux.proxy.store.database.Database.reserve`, which still handles a
budget reset when one is due.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import attrs

from pixmux.proxy.store.database import Database, KeyRecord, OverBudget, Settlement, block_moves

__all__ = ["DriverReservations", "Duplicate"]

_SPEND_COLUMNS = [field.name for field in attrs.fields(Settlement) if field.name not in ("reserved", "block")]
_SQLITE_INSERT = (  # column names from Settlement itself, values as parameters
    f"INSERT INTO pixmux_spend_logs ({', '.join(_SPEND_COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join('?' for _ in _SPEND_COLUMNS)})"
)


class Duplicate(Exception):
    """A spend row of the batch is stored already (a batch retried after an unclear commit)."""


class _DriverErrors:
    """
    ``with _DriverErrors():`` turns the database drivers' errors into the store's:
    ``ConnectionError`` (the driver's error as its cause), and with ``duplicates`` a unique-key
    violation into :class:`Duplicate`. Any other error passes as it is.
    """

    def __init__(self, *, duplicates: bool = False) -> None:
        self.duplicates = duplicates

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, trace: Any) -> None:
        if isinstance(exc, sqlite3.Error):
            if self.duplicates and isinstance(exc, sqlite3.IntegrityError):
                raise Duplicate(str(exc)) from exc
            raise ConnectionError(f"SQLite: {exc}") from exc
        if isinstance(exc, Exception) and type(exc).__module__.startswith("asyncpg"):
            if self.duplicates and type(exc).__name__ == "UniqueViolationError":
                raise Duplicate(str(exc)) from exc
            raise ConnectionError(f"PostgreSQL: {type(exc).__name__}: {exc}") from exc


_PG_RESERVE = """
WITH k AS (
    UPDATE pixmux_keys SET reserved = reserved + $2
    WHERE token = $1 AND (max_budget IS NULL OR spend + reserved + $2 + $6 <= max_budget)
    RETURNING spend
), t AS (
    UPDATE pixmux_teams SET reserved = reserved + $2
    WHERE $3::text IS NOT NULL AND team_id = $3 AND EXISTS (SELECT 1 FROM k)
      AND (max_budget IS NULL OR spend + reserved + $2 + $6 <= max_budget)
    RETURNING spend
), r AS (
    INSERT INTO pixmux_reservations (request_id, token, team_id, amount, created_at)
    SELECT $4, $1, $3, $2, $5
    WHERE EXISTS (SELECT 1 FROM k) AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM t))
    RETURNING 1
)
SELECT (SELECT count(*) FROM k) AS key_ok, (SELECT count(*) FROM t) AS team_ok, (SELECT count(*) FROM r) AS held
"""
_PG_UNDO = "UPDATE pixmux_keys SET reserved = reserved - $2 WHERE token = $1"
_PG_BLOCK_USED = "UPDATE pixmux_reservations SET amount = amount - $1 WHERE request_id = $2"
_PG_BLOCK_GONE = "DELETE FROM pixmux_reservations WHERE request_id = ANY($1::text[]) AND amount <= 0"
_BLOCK_UPSERT = (
    "INSERT INTO pixmux_reservations (request_id, token, team_id, amount, created_at) VALUES ({}) "
    "ON CONFLICT (request_id) DO UPDATE SET amount = pixmux_reservations.amount + excluded.amount"
)
_PG_BLOCK_UPSERT = _BLOCK_UPSERT.format("$1, $2, $3, $4, $5")
_SQLITE_BLOCK_UPSERT = _BLOCK_UPSERT.format("?, ?, ?, ?, ?")
_PG_FOREIGN = (
    "SELECT count(*) FROM pixmux_reservations WHERE request_id LIKE 'blk-%' AND substr(request_id, 1, $3) <> $4 "
    "AND amount > 0 AND (token = $1 OR ($2::text IS NOT NULL AND team_id = $2::text))"
)
_SQLITE_FOREIGN = (
    "SELECT count(*) FROM pixmux_reservations WHERE request_id LIKE 'blk-%' AND substr(request_id, 1, ?) <> ? "
    "AND amount > 0 AND (token = ? OR (? IS NOT NULL AND team_id = ?))"
)

#: ``target(free, mine)``: the free part a block should hold, given what its budgets have free
#: outside every reservation (``None``: no limit) and what the block holds free now.
Target = Callable[[int | None, int], int]


class DriverReservations:
    """Reservations through the raw driver (one round trip), with the same rules as ``Database.reserve``."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._pool: Any = None
        self._sqlite: sqlite3.Connection | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._lock: asyncio.Lock | None = None

    async def _ready(self) -> None:
        if self._pool is not None or self._sqlite is not None:
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._pool is None and self._sqlite is None:  # not opened while this call waited
                await self._open()

    async def _open(self) -> None:
        if self.db.is_sqlite:
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pixmux-reserve")
            path = urlsplit(self.db.url).path[1:]
            self._sqlite = await asyncio.get_running_loop().run_in_executor(self._thread, _open_sqlite, path)
        else:
            import asyncpg  # type: ignore[import-untyped]

            parts = urlsplit(self.db.url)
            query = dict(parse_qsl(parts.query))
            sslmode = query.pop("sslmode", None)
            dsn = parts._replace(scheme="postgresql", query=urlencode(query)).geturl()
            self._pool = await asyncpg.create_pool(
                dsn, min_size=1, max_size=10, ssl=sslmode if sslmode not in (None, "disable", "allow") else None
            )

    async def reserve(
        self, key: KeyRecord, amount: int, now: float, request_id: str, *, excess: int = 0
    ) -> OverBudget | None:
        """
        Reserve ``amount`` on the key and its team for one request; it must fit with ``excess``
        more (what this process's calls cost over their reservations, not written yet).

        Raises:
            ConnectionError: the database cannot be used (the driver's error is its cause).
        """
        with _DriverErrors():
            return await self._reserve(key, amount, now, request_id, excess)

    async def _reserve(
        self, key: KeyRecord, amount: int, now: float, request_id: str, excess: int
    ) -> OverBudget | None:
        team = key.team
        due = (key.budget_reset_at is not None and key.budget_reset_at <= now) or (
            team is not None and team.budget_reset_at is not None and team.budget_reset_at <= now
        )
        if due:  # a budget period ended: the slower path resets it in the same transaction
            return await self.db.reserve(key, amount, now, request_id, excess=excess)
        await self._ready()
        team_id = None if team is None else team.team_id
        if self._sqlite is not None:
            loop = asyncio.get_running_loop()
            call = functools.partial(
                _sqlite_reserve,
                self._sqlite,
                token=key.token,
                team_id=team_id,
                amount=amount,
                request_id=request_id,
                now=now,
                excess=excess,
            )
            refused: str | None = await loop.run_in_executor(self._thread, call)
        else:
            async with self._pool.acquire() as conn:
                row = await conn.fetchrow(_PG_RESERVE, key.token, amount, team_id, request_id, now, excess)
                refused = None
                if not row["key_ok"]:
                    refused = "key"
                elif team_id is not None and not row["team_ok"]:
                    await conn.execute(_PG_UNDO, key.token, amount)  # give the key's share back
                    refused = "team"
        if refused is None:
            return None
        return await self._why(key, refused)

    async def settle(self, settlements: list[Settlement], *, logs: bool) -> int:
        """
        Write one batch in one transaction through the driver: spend rows, then key and team totals.

        Raises:
            Duplicate: a row is stored already (write the batch with ``Database.settle(replay=True)``).
            ConnectionError: the database cannot be used.
        """
        if not settlements:
            return 0
        await self._ready()
        rows = [tuple(getattr(s, name) for name in _SPEND_COLUMNS) for s in settlements] if logs else []
        held = [s.request_id for s in settlements if s.reserved and s.block is None]
        blocks = block_moves(settlements)
        keys: dict[str, list[int]] = {}
        teams: dict[str, list[int]] = {}
        for s in settlements:
            for owner, totals in ((s.api_key, keys), (s.team_id, teams)):
                if owner is None or (s.spend == 0 and s.reserved == 0):
                    continue
                total = totals.setdefault(owner, [0, 0])
                total[0] += s.spend
                total[1] += s.reserved
        key_moves = [(spend, free, owner) for owner, (spend, free) in sorted(keys.items())]
        team_moves = [(spend, free, owner) for owner, (spend, free) in sorted(teams.items())]
        with _DriverErrors(duplicates=True):
            if self._sqlite is not None:
                call = functools.partial(
                    _sqlite_settle,
                    self._sqlite,
                    rows=rows,
                    held=held,
                    key_moves=key_moves,
                    team_moves=team_moves,
                    blocks=blocks,
                )
                await asyncio.get_running_loop().run_in_executor(self._thread, call)
            else:
                async with self._pool.acquire() as conn, conn.transaction():
                    if rows:
                        await conn.copy_records_to_table("pixmux_spend_logs", records=rows, columns=_SPEND_COLUMNS)
                    if held:
                        await conn.execute("DELETE FROM pixmux_reservations WHERE request_id = ANY($1::text[])", held)
                    if key_moves:
                        await conn.executemany(
                            "UPDATE pixmux_keys SET spend = spend + $1, reserved = reserved - $2 WHERE token = $3",
                            key_moves,
                        )
                    if team_moves:
                        await conn.executemany(
                            "UPDATE pixmux_teams SET spend = spend + $1, reserved = reserved - $2 WHERE team_id = $3",
                            team_moves,
                        )
                    if blocks:  # after the key and team rows, in the order a block's resize locks them
                        await conn.executemany(_PG_BLOCK_USED, blocks)
                        await conn.execute(_PG_BLOCK_GONE, [block for _, block in blocks])
        return len(settlements)

    async def resize_block(
        self, block: str, token: str, team_id: str | None, *, now: float, mine: int, target: Target
    ) -> tuple[int, str | None]:
        """
        Grow or shrink one budget block, in one transaction under the key's (and team's) row locks.

        Reads what the key's and team's budgets have free outside every reservation, asks
        ``target(free, mine)`` for the free part the block should hold, and moves the
        difference between the budgets' ``reserved`` and the block's row (made on first use,
        deleted once it holds nothing). The key is the one the block's row names (a
        regenerated key's new hash), else ``token``. Returns ``(delta, token)``: what the
        block's free part grew by (negative: gave back), and the key's hash now; for a deleted
        key, ``mine`` is given back to the team and the token is ``None``.

        Raises:
            ConnectionError: the database cannot be used.
        """
        await self._ready()
        with _DriverErrors():
            if self._sqlite is not None:
                call = functools.partial(
                    _sqlite_resize,
                    self._sqlite,
                    block=block,
                    token=token,
                    team_id=team_id,
                    now=now,
                    mine=mine,
                    target=target,
                )
                moved: tuple[int, str | None] = await asyncio.get_running_loop().run_in_executor(self._thread, call)
                return moved
            async with self._pool.acquire() as conn, conn.transaction():
                found = await conn.fetchval("SELECT token FROM pixmux_reservations WHERE request_id = $1", block)
                token = found or token
                key = await conn.fetchrow(
                    "SELECT spend, reserved, max_budget FROM pixmux_keys WHERE token = $1 FOR UPDATE", token
                )
                owners = [key] if key is not None else []
                if team_id is not None:
                    team = await conn.fetchrow(
                        "SELECT spend, reserved, max_budget FROM pixmux_teams WHERE team_id = $1 FOR UPDATE", team_id
                    )
                    owners.append(team)
                free = _free([tuple(row) for row in owners if row is not None])
                delta = target(free, mine) - mine if key is not None else -mine
                if delta:
                    await conn.execute("UPDATE pixmux_keys SET reserved = reserved + $2 WHERE token = $1", token, delta)
                    if team_id is not None:
                        await conn.execute(
                            "UPDATE pixmux_teams SET reserved = reserved + $2 WHERE team_id = $1", team_id, delta
                        )
                    await conn.execute(_PG_BLOCK_UPSERT, block, token, team_id, delta, now)
                    await conn.execute(_PG_BLOCK_GONE, [block])
                return delta, None if key is None else token

    async def foreign_blocks(self, token: str, team_id: str | None, own_prefix: str) -> int:
        """
        How many budget blocks of *other* processes hold something on this key or its team.

        Raises:
            ConnectionError: the database cannot be used.
        """
        await self._ready()
        with _DriverErrors():
            if self._sqlite is not None:
                conn = self._sqlite
                args: tuple[Any, ...] = (len(own_prefix), own_prefix, token, team_id, team_id)
                found = await asyncio.get_running_loop().run_in_executor(
                    self._thread, lambda: conn.execute(_SQLITE_FOREIGN, args).fetchone()
                )
                return int(found[0])
            async with self._pool.acquire() as conn:
                return int(await conn.fetchval(_PG_FOREIGN, token, team_id, len(own_prefix), own_prefix))

    async def _why(self, key: KeyRecord, owner: str) -> OverBudget:
        record = await self.db.key(key.token)
        if owner == "team" and record is not None and record.team is not None:
            team = record.team
            return OverBudget(owner="team", spend=team.spend, reserved=team.reserved, max_budget=team.max_budget or 0)
        if record is None:
            return OverBudget(owner="key", spend=0, reserved=0, max_budget=0)
        return OverBudget(owner="key", spend=record.spend, reserved=record.reserved, max_budget=record.max_budget or 0)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        if self._sqlite is not None and self._thread is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._sqlite.close)
            self._sqlite = None
        if self._thread is not None:
            self._thread.shutdown(wait=False)
            self._thread = None


def _open_sqlite(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def _sqlite_reserve(
    conn: sqlite3.Connection,
    *,
    token: str,
    team_id: str | None,
    amount: int,
    request_id: str,
    now: float,
    excess: int = 0,
) -> str | None:
    """One transaction on the writer thread: ``None`` when reserved, else whose budget refused."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        taken = conn.execute(
            "UPDATE pixmux_keys SET reserved = reserved + ? WHERE token = ? "
            "AND (max_budget IS NULL OR spend + reserved + ? <= max_budget)",
            (amount, token, amount + excess),
        ).rowcount
        if not taken:
            conn.execute("ROLLBACK")
            return "key"
        if team_id is not None:
            taken = conn.execute(
                "UPDATE pixmux_teams SET reserved = reserved + ? WHERE team_id = ? "
                "AND (max_budget IS NULL OR spend + reserved + ? <= max_budget)",
                (amount, team_id, amount + excess),
            ).rowcount
            if not taken:
                conn.execute("ROLLBACK")
                return "team"
        conn.execute(
            "INSERT INTO pixmux_reservations (request_id, token, team_id, amount, created_at) VALUES (?, ?, ?, ?, ?)",
            (request_id, token, team_id, amount, now),
        )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return None


def _free(owners: list[tuple[Any, ...]]) -> int | None:
    """What the tightest of these budgets has free outside every reservation (``None``: no limit)."""
    free: int | None = None
    for spend, reserved, max_budget in owners:
        if max_budget is not None:
            left = int(max_budget) - int(spend) - int(reserved)
            free = left if free is None else min(free, left)
    return free


def _sqlite_resize(
    conn: sqlite3.Connection,
    *,
    block: str,
    token: str,
    team_id: str | None,
    now: float,
    mine: int,
    target: Target,
) -> tuple[int, str | None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = conn.execute("SELECT token FROM pixmux_reservations WHERE request_id = ?", (block,)).fetchone()
        token = found[0] if found else token
        key = conn.execute("SELECT spend, reserved, max_budget FROM pixmux_keys WHERE token = ?", (token,)).fetchone()
        owners = [key] if key is not None else []
        if team_id is not None:
            owners.append(
                conn.execute(
                    "SELECT spend, reserved, max_budget FROM pixmux_teams WHERE team_id = ?", (team_id,)
                ).fetchone()
            )
        free = _free([row for row in owners if row is not None])
        delta = target(free, mine) - mine if key is not None else -mine
        if delta:
            conn.execute("UPDATE pixmux_keys SET reserved = reserved + ? WHERE token = ?", (delta, token))
            if team_id is not None:
                conn.execute("UPDATE pixmux_teams SET reserved = reserved + ? WHERE team_id = ?", (delta, team_id))
            conn.execute(_SQLITE_BLOCK_UPSERT, (block, token, team_id, delta, now))
            conn.execute("DELETE FROM pixmux_reservations WHERE request_id = ? AND amount <= 0", (block,))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return delta, None if key is None else token


def _sqlite_settle(
    conn: sqlite3.Connection,
    *,
    rows: list[tuple[Any, ...]],
    held: list[str],
    key_moves: list[tuple[int, int, str]],
    team_moves: list[tuple[int, int, str]],
    blocks: list[tuple[int, str]],
) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        if rows:
            conn.executemany(_SQLITE_INSERT, rows)
        if held:
            conn.executemany("DELETE FROM pixmux_reservations WHERE request_id = ?", [(r,) for r in held])
        if key_moves:
            conn.executemany(
                "UPDATE pixmux_keys SET spend = spend + ?, reserved = reserved - ? WHERE token = ?", key_moves
            )
        if team_moves:
            conn.executemany(
                "UPDATE pixmux_teams SET spend = spend + ?, reserved = reserved - ? WHERE team_id = ?", team_moves
            )
        if blocks:
            conn.executemany("UPDATE pixmux_reservations SET amount = amount - ? WHERE request_id = ?", blocks)
            conn.executemany(
                "DELETE FROM pixmux_reservations WHERE request_id = ? AND amount <= 0", [(b,) for _, b in blocks]
            )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
