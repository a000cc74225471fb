"""
:class:`RedisState`: the router's rpm windows, cooldowns and usage, shared by every gateway
instance through one Redis (``pip install 'pixmux[redis]'``).

Each step is one Lua script, so it is atomic however many instances run it at once, and one
round trip. Times come from the Redis server's clock (``TIME``), so instances on machines
whose clocks disagree still count the same window. Keys look like
``pixmux:{gpt-image-1}:azure-eu:w``: the key prefix first, then the model group in braces, a
Redis Cluster hash tag, so that every key one script touches lives in the same slot. Only
counts, times and flags are stored: never a prompt, an image or a credential.

When Redis cannot be reached within ``timeout`` seconds, the store either answers ``None``
(*fail open*: the router goes on with its own table, as a single instance would) or raises
:class:`pixmux.ServiceUnavailableError` (*fail closed*: the gateway answers 503). Either way
it logs one line a minute at most, and tries again after a backoff that doubles up to
:data:`MAX_BACKOFF` seconds; the first answer after that says so in the log, and sharing resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import random
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any, Literal

import attrs

from pixmux._within import within
from pixmux.exceptions import ConfigurationError, ServiceUnavailableError
from pixmux.state._local import WINDOW, LocalState
from pixmux.state._rates import RATES_SCRIPT, LocalRates
from pixmux.state._values import Facts, Member, Rate, RateRefusal, Take, WindowResult

try:
    import hiredis

    _pack: Callable[[tuple[Any, ...]], bytes] | None = hiredis.pack_command
except ImportError:  # pragma: no cover - the redis extra brings it
    _pack = None
try:
    import redis
    import redis.asyncio
    from redis.backoff import NoBackoff
    from redis.commands.core import AsyncScript, Script
    from redis.exceptions import NoScriptError, RedisError
    from redis.retry import Retry
except ImportError as exc:  # pragma: no cover - depends on what is installed
    raise ImportError("Redis shared state needs the redis extra: pip install 'pixmux[redis]'") from exc

__all__ = ["RedisState", "DEFAULT_TIMEOUT", "DEFAULT_PREFIX", "MAX_BACKOFF", "OnError"]

logger = logging.getLogger("pixmux.state")

OnError = Literal["open", "closed"]
#: Seconds one Redis step may take before the store counts Redis as down.
DEFAULT_TIMEOUT = 0.1
#: Seconds a group's cooldowns, as last read, answer a take on a deployment without ``rpm``.
DEFAULT_REFRESH = 0.05
DEFAULT_PREFIX = "pixmux"
#: Longest wait, in seconds, between two tries to reach a Redis that is down.
MAX_BACKOFF = 5.0
_FIRST_BACKOFF = 0.1
#: Connections one process keeps to Redis at most (a step waits for a free one, within the timeout).
MAX_CONNECTIONS = 64
#: Probation and failure records outlive a cooldown; an hour after the last failure they go.
_RECORD_TTL_MS = 3_600_000

# Shared Lua: the time in ms from the server, and a trimmed window (a sorted set of
# "<nonce>:<units>" members scored by time, beside a running sum) -> used, ms until the oldest leaves.
_PRELUDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function usage(w, n, span)
  local old = redis.call('ZRANGEBYSCORE', w, '-inf', now - span)
  if #old > 0 then
    local gone = 0
    for j = 1, #old do gone = gone + tonumber(string.match(old[j], '(%d+)$')) end
    redis.call('ZREMRANGEBYSCORE', w, '-inf', now - span)
    if redis.call('ZCARD', w) == 0 then redis.call('DEL', n) else redis.call('DECRBY', n, gone) end
  end
  local first = redis.call('ZRANGE', w, 0, 0, 'WITHSCORES')
  if #first == 0 then return 0, -1 end
  return tonumber(redis.call('GET', n) or '0'), tonumber(first[2]) + span - now
end
local function count(w, n, span, nonce, units)
  redis.call('ZADD', w, now, nonce .. ':' .. units)
  redis.call('INCRBY', n, units)
  redis.call('PEXPIRE', w, span)
  redis.call('PEXPIRE', n, span)
end
"""

# KEYS: four per member (window, sum, cooldown, failures). ARGV: chosen (1-based), units,
# force, window ms, nonce, then a limit (-1: none) and a record flag per member.
# Returns status (1 taken, 2 cooling down, 3 over the limit), then per member:
# used, ms until the oldest leaves (-1), cooldown ms left (0), probation, failing.
_TAKE = (
    _PRELUDE
    + """
local chosen = tonumber(ARGV[1])
local units = tonumber(ARGV[2])
local span = tonumber(ARGV[4])
local base = 4 * (chosen - 1)
local status = 1
if ARGV[3] ~= '1' and redis.call('PTTL', KEYS[base + 3]) > 0 then status = 2 end
local limit = tonumber(ARGV[4 + 2 * chosen])
local record = ARGV[5 + 2 * chosen] == '1'
local mine, mine_frees = nil, -1
if record then mine, mine_frees = usage(KEYS[base + 1], KEYS[base + 2], span) end
if status == 1 and limit >= 0 and mine ~= nil and mine > 0 and mine + units > limit then status = 3 end
if status == 1 and record then
  count(KEYS[base + 1], KEYS[base + 2], span, ARGV[5], units)
  if mine == 0 then mine_frees = span end
  mine = mine + units
end
local out = {status}
for i = 1, #KEYS / 4 do
  local b = 4 * (i - 1)
  local used, frees = 0, -1
  if i == chosen and mine ~= nil then
    used, frees = mine, mine_frees
  elseif ARGV[5 + 2 * i] == '1' then
    used, frees = usage(KEYS[b + 1], KEYS[b + 2], span)
  end
  local cool = redis.call('PTTL', KEYS[b + 3])
  if cool < 0 then cool = 0 end
  local probation = redis.call('HEXISTS', KEYS[b + 4], 'p')
  local failing = redis.call('EXISTS', KEYS[b + 4])
  table.insert(out, used)
  table.insert(out, frees)
  table.insert(out, cool)
  table.insert(out, probation)
  table.insert(out, failing)
end
return out
"""
)

# KEYS: cooldown, failures. ARGV: counter, allowed, cooldown ms, hinted ms (0: none), window ms.
# Returns cooled now (0/1), cooldown ms left, probation, failing.
_FAIL = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local counter, allowed = ARGV[1], tonumber(ARGV[2])
local cooldown, hinted, span = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local function cool(ms)
  redis.call('DEL', KEYS[2])
  if ms > 0 then redis.call('SET', KEYS[1], '1', 'PX', ms) end
  redis.call('HSET', KEYS[2], 'p', '1')
  redis.call('PEXPIRE', KEYS[2], RECORD_TTL_MS)
  return 1
end
local cooled = 0
if redis.call('PTTL', KEYS[1]) <= 0 then
  if hinted > 0 then
    cooled = cool(hinted)
  elseif redis.call('HEXISTS', KEYS[2], 'p') == 1 then
    cooled = cool(cooldown)
  else
    local times = {}
    local raw = redis.call('HGET', KEYS[2], counter)
    if raw then
      for _, at in ipairs(cjson.decode(raw)) do
        if at > now - span then table.insert(times, at) end
      end
    end
    table.insert(times, now)
    if #times > allowed then
      cooled = cool(cooldown)
    else
      redis.call('HSET', KEYS[2], counter, cjson.encode(times))
      redis.call('PEXPIRE', KEYS[2], RECORD_TTL_MS)
    end
  end
end
local left = redis.call('PTTL', KEYS[1])
if left < 0 then left = 0 end
return {cooled, left, redis.call('HEXISTS', KEYS[2], 'p'), redis.call('EXISTS', KEYS[2])}
""".replace("RECORD_TTL_MS", str(_RECORD_TTL_MS))

# KEYS: window, sum. ARGV: units, limit, window ms, nonce. Returns allowed, used, ms until the oldest leaves.
_WINDOW = (
    _PRELUDE
    + """
local units, limit, span = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local used = usage(KEYS[1], KEYS[2], span)
if used > 0 and used + units > limit then
  local _, frees = usage(KEYS[1], KEYS[2], span)
  return {0, used, frees}
end
count(KEYS[1], KEYS[2], span, ARGV[4], units)
local after, frees = usage(KEYS[1], KEYS[2], span)
return {1, after, frees}
"""
)

# KEYS: held. ARGV: amount, limit, ttl ms. Returns 1 when held, 0 when it does not fit.
_RESERVE = """
local held = tonumber(redis.call('GET', KEYS[1]) or '0')
local amount, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
if held + amount > limit then return 0 end
redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""

# KEYS: held. ARGV: amount. Lets go of the amount; the key goes when nothing is held.
_RELEASE = """
local left = tonumber(redis.call('INCRBYFLOAT', KEYS[1], '-' .. ARGV[1]))
if left <= 1e-9 then redis.call('DEL', KEYS[1]) end
return 0
"""

#: Reservations a process never let go (it died mid-call) are dropped this long after the last one.
RESERVATION_TTL = 3600.0


_ACCEPTED = Take(accepted=True, facts={})


def _facts(flat: Sequence[Any], offset: int) -> Facts:
    used, frees, cool, probation, failing = (int(value) for value in flat[offset : offset + 5])
    return Facts(
        used=used,
        frees_in=frees / 1000 if frees >= 0 else None,
        cooldown_left=cool / 1000,
        probation=bool(probation),
        failing=bool(failing),
    )


class RedisState:
    """
    Router state shared through Redis by every gateway instance that names the same server and prefix.

    Args:
        url: ``redis://[:password@]host:port/db`` (``rediss://`` for TLS); or give ``host``.
        host, port, password, db: the server, when no ``url`` is given.
        key_prefix: the first part of every key, so that several gateways (or environments)
            can share one Redis without sharing state.
        timeout: seconds one step may take before Redis counts as down (default 0.1).
        on_error: ``"open"`` (go on with this process's own state) or ``"closed"`` (raise
            :class:`pixmux.ServiceUnavailableError`) while Redis is down.
        window: seconds an ``rpm`` window spans (60; tests shorten it).
        refresh: seconds the cooldowns read from Redis answer takes on deployments without an
            ``rpm`` (and not routed by usage), which then cost no round trip: a cooldown set
            elsewhere is seen within this long (default 0.05). 0: every take asks Redis.
        clock: seconds as a monotonic float, for the backoff (tests pass a fake).

    Raises:
        ConfigurationError: a setting is out of range or names no server.
    """

    shared = True

    def __init__(
        self,
        url: str | None = None,
        *,
        host: str | None = None,
        port: int = 6379,
        password: str | None = None,
        db: int = 0,
        key_prefix: str = DEFAULT_PREFIX,
        timeout: float = DEFAULT_TIMEOUT,
        on_error: OnError = "open",
        window: float = WINDOW,
        refresh: float = DEFAULT_REFRESH,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if url is None and host is None:
            raise ConfigurationError("Redis shared state needs redis_url or redis_host", param="redis_host")
        if not key_prefix or "{" in key_prefix or "}" in key_prefix:
            raise ConfigurationError(
                f"key_prefix {key_prefix!r} must be a non-empty string without braces", param="key_prefix"
            )
        if on_error not in ("open", "closed"):
            raise ConfigurationError(f"on_redis_error must be 'open' or 'closed', got {on_error!r}", param="on_error")
        if not (isinstance(timeout, int | float) and math.isfinite(timeout) and timeout > 0):
            raise ConfigurationError(f"the Redis timeout must be a number of seconds above 0, got {timeout!r}")
        if not (isinstance(window, int | float) and math.isfinite(window) and window > 0):
            raise ConfigurationError(f"the rate window must be a number of seconds above 0, got {window!r}")
        if not (isinstance(refresh, int | float) and math.isfinite(refresh) and refresh >= 0):
            raise ConfigurationError(f"the cooldown refresh must be a number of seconds, 0 or more, got {refresh!r}")
        self.refresh = float(refresh)
        #: Per group: when its facts were last read (this process's clock), and each member's facts then.
        self._seen: dict[str, tuple[float, dict[str, Facts]]] = {}
        self.prefix = key_prefix
        self.timeout = float(timeout)
        self.on_error: OnError = on_error
        self.window = float(window)
        self._window_ms = max(1, round(self.window * 1000))
        self._window_arg = b"%d" % self._window_ms
        self._pid = os.getpid()
        self._encoded: dict[str, tuple[Sequence[Member], list[bytes], list[bytes]]] = {}
        self._clock = clock or time.monotonic
        self._options: dict[str, Any] = {
            "socket_timeout": None,  # each step is bounded by `timeout` as a whole (within), not per read
            "socket_connect_timeout": self.timeout,
            "retry": None,
            "retry_on_timeout": False,
            "health_check_interval": 0,
        }
        self._url = url
        self._server: dict[str, Any] = {"host": host, "port": port, "password": password, "db": db}
        self._password = password or (urllib.parse.urlsplit(url).password if url is not None else None)
        self._aclient: redis.asyncio.Redis | None = None
        self._free: list[Any] = []
        self._aloop: asyncio.AbstractEventLoop | None = None
        self._ascripts: dict[str, AsyncScript] = {}
        self._client: redis.Redis | None = None
        self._scripts: dict[str, Script] = {}
        self._lock = threading.Lock()
        self._down_until = -math.inf
        self._fails = 0
        self._last_log = -math.inf
        self._announced = False  # a "down" line was logged, and no "answers again" line since
        self._random = random.Random()  # noqa: S311 - backoff jitter and nonces, not security
        #: Round trips made (one per step): the benchmark divides it by requests.
        self.round_trips = 0
        #: Where per-key windows and budgets go while Redis is down and the store fails open.
        self.local = LocalState(window=self.window)
        #: Tasks listening to channels (alisten), cancelled by aclose.
        self._listeners: list[asyncio.Task[None]] = []

    def __repr__(self) -> str:
        where = self._server["host"] if self._url is None else self._url.split("@")[-1]
        return f"RedisState({where!r}, key_prefix={self.prefix!r}, on_error={self.on_error!r})"

    # ------------------------------------------------------------------ clients

    def _redis_options(self, asynchronous: bool) -> dict[str, Any]:
        options = dict(self._options)
        options["retry"] = (
            redis.asyncio.retry.Retry(NoBackoff(), 0) if asynchronous else Retry(NoBackoff(), 0)  # one try per step
        )
        if self._url is None:
            options.update(self._server)
        return options

    def _async_client(self) -> redis.asyncio.Redis:
        loop = asyncio.get_running_loop()
        if self._aclient is None or self._aloop is not loop:  # a client belongs to the loop it was made in
            options = self._redis_options(True)
            # A bounded pool that makes a step wait for a free connection (within `timeout`)
            # rather than fail at once when every connection is busy.
            pool_options: dict[str, Any] = {"max_connections": MAX_CONNECTIONS, "timeout": self.timeout}
            pool = (
                redis.asyncio.BlockingConnectionPool.from_url(self._url, **options, **pool_options)
                if self._url is not None
                else redis.asyncio.BlockingConnectionPool(**options, **pool_options)
            )
            self._aclient = redis.asyncio.Redis(connection_pool=pool)
            self._free = []
            self._aloop = loop
            self._ascripts = {
                name: self._aclient.register_script(body)
                for name, body in (("take", _TAKE), ("fail", _FAIL), ("window", _WINDOW), ("reserve", _RESERVE))
            }
            self._ascripts["release"] = self._aclient.register_script(_RELEASE)
        return self._aclient

    def _sync_client(self) -> redis.Redis:
        with self._lock:
            if self._client is None:
                options = self._redis_options(False)
                self._client = (
                    redis.Redis.from_url(self._url, **options) if self._url is not None else redis.Redis(**options)
                )
                self._scripts = {
                    name: self._client.register_script(body)
                    for name, body in (("take", _TAKE), ("fail", _FAIL), ("window", _WINDOW), ("reserve", _RESERVE))
                }
                self._scripts["release"] = self._client.register_script(_RELEASE)
            return self._client

    # ------------------------------------------------------------------ running a step

    async def _arun(self, script: str, keys: Sequence[str | bytes], args: Sequence[Any]) -> Any:
        """The script's reply, or ``None`` when Redis is down and the store fails open."""
        if self._clock() < self._down_until:
            return self._unavailable(None)
        client = self._async_client()
        self.round_trips += 1
        try:
            reply = await within(self.timeout, self._aevalsha(client, script, keys, args))
        except (RedisError, OSError, asyncio.TimeoutError) as exc:
            self._went_down(exc)
            return self._unavailable(exc)
        self._reached()
        return reply

    async def _aevalsha(
        self, client: redis.asyncio.Redis, script: str, keys: Sequence[str | bytes], args: Sequence[Any]
    ) -> Any:
        """
        One EVALSHA on a pooled connection, loading the script once if the server lost it.

        The hot path of every counted request: straight through redis-py's connection (pack,
        send, read), without the client's per-command layers (retries, which are off anyway,
        and its observability hooks), which cost about as much CPU again as the round trip.
        """
        step = self._ascripts[script]
        free = self._free
        # Connections taken from the pool once are kept on a free list of this store's own
        # (one owner at a time; a connection broken by a timeout reconnects on its next use).
        connection = free.pop() if free else await client.connection_pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            if _pack is not None:
                command: Any = _pack((b"EVALSHA", step.sha, len(keys), *keys, *args))
            else:  # pragma: no cover - without hiredis
                command = connection.pack_command("EVALSHA", step.sha, len(keys), *keys, *args)
            await connection.send_packed_command(command, check_health=False)
            try:
                return await connection.read_response()
            except NoScriptError:  # a restarted or flushed Redis: load it, then run it
                await connection.send_packed_command(connection.pack_command("SCRIPT", "LOAD", step.script))
                await connection.read_response()
                await connection.send_packed_command(command, check_health=False)
                return await connection.read_response()
        finally:
            free.append(connection)

    def _run(self, script: str, keys: Sequence[str | bytes], args: Sequence[Any]) -> Any:
        if self._clock() < self._down_until:
            return self._unavailable(None)
        self._sync_client()
        step = self._scripts[script]
        self.round_trips += 1
        try:
            reply = step(keys=list(keys), args=list(args))
        except (RedisError, OSError) as exc:
            self._went_down(exc)
            return self._unavailable(exc)
        self._reached()
        return reply

    async def _adelete(self, key: str) -> None:
        if self._clock() < self._down_until:
            self._unavailable(None)
            return
        client = self._async_client()
        self.round_trips += 1
        try:
            await within(self.timeout, client.delete(key))
        except (RedisError, OSError, asyncio.TimeoutError) as exc:
            self._went_down(exc)
            self._unavailable(exc)
            return
        self._reached()

    def _went_down(self, exc: BaseException) -> None:
        now = self._clock()
        with self._lock:
            self._fails += 1
            backoff = min(MAX_BACKOFF, _FIRST_BACKOFF * 2 ** (self._fails - 1))
            self._down_until = now + backoff * (0.5 + self._random.random() / 2)
            if now - self._last_log < 60.0:
                return
            self._last_log = now
            self._announced = True
        what = "going on with this process's own state" if self.on_error == "open" else "answering 503"
        detail = str(exc).replace(self._password or "\0", "[redacted]")[:200]
        logger.warning(
            "shared state: Redis %s is unreachable or failing (%s: %s); %s until it answers again",
            self._where(),
            type(exc).__name__,
            detail,
            what,
        )

    def _reached(self) -> None:
        if self._fails:
            with self._lock:
                self._fails = 0
                self._down_until = -math.inf
                announced, self._announced = self._announced, False
            if announced:
                logger.warning("shared state: Redis %s answers again; sharing resumes", self._where())

    def _where(self) -> str:
        if self._url is not None:
            return self._url.rsplit("@", 1)[-1]  # never the password
        return f"{self._server['host']}:{self._server['port']}"

    def _unavailable(self, exc: BaseException | None) -> None:
        if self.on_error == "closed":
            raise ServiceUnavailableError(
                "the gateway's shared state (Redis) is unreachable, and this gateway is set to fail closed "
                "(general_settings.shared_state.on_redis_error: closed)",
                retry_after=max(0.0, self._down_until - self._clock()) or None,
            ) from None

    @property
    def available(self) -> bool:
        """``False`` while Redis is counted as down (until the next try)."""
        return self._clock() >= self._down_until

    # ------------------------------------------------------------------ keys

    def _member_keys(self, group: str, member_id: str) -> list[str]:
        stem = f"{self.prefix}:{{{group}}}:{member_id}"
        return [f"{stem}:w", f"{stem}:n", f"{stem}:c", f"{stem}:f"]

    def _take_args(
        self, group: str, members: Sequence[Member], chosen: int, units: int, force: bool
    ) -> tuple[list[bytes], list[bytes]]:
        # The keys and per-member arguments of a group never change: encoded once (redis-py
        # passes bytes through, where it would check and encode each str and int on every call).
        cached = self._encoded.get(group)
        if cached is None or cached[0] is not members:
            keys = [key.encode() for member in members for key in self._member_keys(group, member.id)]
            per_member = [
                str(value).encode()
                for member in members
                for value in (-1 if member.limit is None else member.limit, 1 if member.record else 0)
            ]
            cached = self._encoded[group] = (members, keys, per_member)
        head = [b"%d" % (chosen + 1), b"%d" % units, b"1" if force else b"0", self._window_arg, self._nonce()]
        return cached[1], head + cached[2]

    def _nonce(self) -> bytes:
        return b"%x.%x" % (self._pid, self._random.getrandbits(64))

    @staticmethod
    def _take_reply(members: Sequence[Member], reply: Sequence[Any]) -> Take:
        status = int(reply[0])
        facts = {member.id: _facts(reply, 1 + 5 * index) for index, member in enumerate(members)}
        return Take(accepted=status == 1, facts=facts, cooled=status == 2)

    def _fail_args(
        self, group: str, member: Member, *, counter: str, allowed: int, cooldown: float, hinted: float | None
    ) -> tuple[list[str], list[Any]]:
        keys = self._member_keys(group, member.id)[2:]
        hinted_ms = math.ceil(hinted * 1000) if hinted is not None and hinted > 0 else 0
        return keys, [counter, allowed, math.ceil(cooldown * 1000), hinted_ms, self._window_ms]

    def _fail_reply(self, group: str, member: Member, reply: Sequence[Any]) -> Facts:
        cooled, left, probation, failing = (int(value) for value in reply)
        facts = Facts(cooldown_left=left / 1000, probation=bool(probation), failing=bool(failing), cooled=bool(cooled))
        self._seen.pop(group, None)  # read the group again at the next take
        return facts

    # ------------------------------------------------------------------ SharedState

    def _recent(self, group: str, member: Member, force: bool) -> Take | None:
        """The answer the group's recently read cooldowns give, for a member that counts nothing."""
        if member.record or force:
            return None
        seen = self._seen.get(group)
        if seen is None:
            return None
        elapsed = self._clock() - seen[0]
        facts = seen[1].get(member.id)
        if elapsed > self.refresh or facts is None:
            return None
        if facts.cooldown_left > elapsed:
            left = attrs.evolve(facts, cooldown_left=facts.cooldown_left - elapsed, cooled=False)
            return Take(accepted=False, facts={member.id: left}, cooled=True)
        return _ACCEPTED

    def _remember(self, group: str, take: Take) -> Take:
        self._seen[group] = (self._clock(), take.facts)
        return take

    async def atake(
        self, group: str, members: Sequence[Member], chosen: int, *, units: int, force: bool
    ) -> Take | None:
        recent = self._recent(group, members[chosen], force)
        if recent is not None:
            return recent
        keys, args = self._take_args(group, members, chosen, units, force)
        reply = await self._arun("take", keys, args)
        return None if reply is None else self._remember(group, self._take_reply(members, reply))

    def take(self, group: str, members: Sequence[Member], chosen: int, *, units: int, force: bool) -> Take | None:
        recent = self._recent(group, members[chosen], force)
        if recent is not None:
            return recent
        keys, args = self._take_args(group, members, chosen, units, force)
        reply = self._run("take", keys, args)
        return None if reply is None else self._remember(group, self._take_reply(members, reply))

    async def afailed(
        self, group: str, member: Member, *, counter: str, allowed: int, cooldown: float, hinted: float | None
    ) -> Facts | None:
        keys, args = self._fail_args(group, member, counter=counter, allowed=allowed, cooldown=cooldown, hinted=hinted)
        reply = await self._arun("fail", keys, args)
        return None if reply is None else self._fail_reply(group, member, reply)

    def failed(
        self, group: str, member: Member, *, counter: str, allowed: int, cooldown: float, hinted: float | None
    ) -> Facts | None:
        keys, args = self._fail_args(group, member, counter=counter, allowed=allowed, cooldown=cooldown, hinted=hinted)
        reply = self._run("fail", keys, args)
        return None if reply is None else self._fail_reply(group, member, reply)

    async def asucceeded(self, group: str, member: Member) -> None:
        await self._adelete(self._member_keys(group, member.id)[3])

    def succeeded(self, group: str, member: Member) -> None:
        if self._clock() < self._down_until:
            self._unavailable(None)
            return
        client = self._sync_client()
        self.round_trips += 1
        try:
            client.delete(self._member_keys(group, member.id)[3])
        except (RedisError, OSError) as exc:
            self._went_down(exc)
            self._unavailable(exc)
            return
        self._reached()

    async def awindow(self, name: str, *, units: int, limit: int) -> WindowResult | None:
        stem = f"{self.prefix}:{{key:{name}}}"
        reply = await self._arun("window", [f"{stem}:w", f"{stem}:n"], [units, limit, self._window_ms, self._nonce()])
        if reply is None:
            return self.local.window_take(name, units=units, limit=limit)
        allowed, used, frees = (int(value) for value in reply)
        return WindowResult(allowed=bool(allowed), used=used, frees_in=frees / 1000 if frees >= 0 else None)

    async def areserve(self, name: str, *, amount: float, limit: float) -> bool | None:
        key = f"{self.prefix}:{{key:{name}}}:held"
        reply = await self._arun(
            "reserve", [key], [repr(float(amount)), repr(float(limit)), int(RESERVATION_TTL * 1000)]
        )
        if reply is None:
            return self.local.reserve(name, amount=amount, limit=limit)
        return bool(int(reply))

    async def arelease(self, name: str, *, amount: float) -> None:
        key = f"{self.prefix}:{{key:{name}}}:held"
        if self.local.held(name) > 0:  # held while Redis was down: let it go where it was held
            self.local.release(name, amount=amount)
            return
        await self._arun("release", [key], [repr(float(amount))])

    async def astart(self) -> None:
        """Connect and load the scripts (one try, with a longer timeout); a failure is logged as any other."""
        client = self._async_client()
        try:
            for step in self._ascripts.values():
                await within(max(self.timeout, 2.0), client.script_load(step.script))
        except (RedisError, OSError, asyncio.TimeoutError) as exc:
            self._went_down(exc)
            return
        self._reached()

    # ------------------------------------------------------------------ notes between instances

    async def anotify(self, topic: str, message: str) -> None:
        """
        Publish ``message`` to every instance listening on ``topic`` (one round trip, within
        the timeout). A note is lost while Redis is down: only use it for hints whose absence
        costs time, not correctness. Never raises.
        """
        if self._clock() < self._down_until:
            return
        client = self._async_client()
        self.round_trips += 1
        try:
            await within(self.timeout, client.publish(f"{self.prefix}:{topic}", message))
        except (RedisError, OSError, asyncio.TimeoutError) as exc:
            self._went_down(exc)
            return
        self._reached()

    def alisten(self, topic: str, handler: Callable[[str], None]) -> None:
        """
        Call ``handler(message)`` for every note published on ``topic`` (by any instance, this
        one included), from a task on the running loop, on a connection of its own, until
        :meth:`aclose`. A lost connection is made again after a backoff (notes published
        meanwhile are missed).
        """
        task = asyncio.get_running_loop().create_task(self._listen(f"{self.prefix}:{topic}", handler))
        self._listeners.append(task)

    async def _listen(self, channel: str, handler: Callable[[str], None]) -> None:
        backoff = _FIRST_BACKOFF
        while True:
            options = self._redis_options(True)
            client = (
                redis.asyncio.Redis.from_url(self._url, **options)
                if self._url is not None
                else redis.asyncio.Redis(**options)
            )
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await within(max(self.timeout, 2.0), pubsub.subscribe(channel))
                backoff = _FIRST_BACKOFF
                async for note in pubsub.listen():
                    data = note.get("data")
                    if isinstance(data, bytes):
                        handler(data.decode(errors="replace"))
            except (RedisError, OSError, asyncio.TimeoutError) as exc:
                logger.debug("shared state: listening on %s: %s; again in %.1f s", channel, type(exc).__name__, backoff)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()
                with contextlib.suppress(RedisError, OSError):
                    await client.aclose()
            await asyncio.sleep(backoff)
            backoff = min(MAX_BACKOFF, backoff * 2)

    async def aclose(self) -> None:
        listeners, self._listeners = self._listeners, []
        for task in listeners:
            task.cancel()
        for task in listeners:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        client, self._aclient = self._aclient, None
        free, self._free = self._free, []
        for connection in free:
            with contextlib.suppress(RedisError, OSError):
                await connection.disconnect()
        if client is not None:
            with contextlib.suppress(RedisError, OSError):  # closing a broken connection
                await client.aclose()
        with self._lock:
            sync, self._client = self._client, None
        if sync is not None:
            sync.close()

    # ------------------------------------------------------------------ per-key windows

    #: Where per-key windows go while Redis is down and the store fails open (made when first needed).
    local_rates: LocalRates | None = None

    async def arates(self, tag: str, rates: Sequence[Rate], *, images: int) -> RateRefusal | None:
        """
        One round trip: every owner's window checked, then counted, in one Lua step.

        Keys look like ``pixmux:{rl:<tag>}:<owner>:w`` (``:n`` beside it, the images): one hash
        tag per ``tag``, so a key's and its team's windows live in one Cluster slot.
        """
        client = self._async_client()
        if "rates" not in self._ascripts:  # registered with the client (a new loop makes a new one)
            self._ascripts["rates"] = client.register_script(RATES_SCRIPT)
        stem = f"{self.prefix}:{{rl:{tag}}}:"
        keys: list[str] = []
        args: list[Any] = [b"%d" % images, self._window_arg, self._nonce()]
        for rate in rates:
            keys += (f"{stem}{rate.owner}:w", f"{stem}{rate.owner}:n")
            args += (b"-1" if rate.rpm is None else b"%d" % rate.rpm, b"-1" if rate.ipm is None else b"%d" % rate.ipm)
        reply = await self._arun("rates", keys, args)
        if reply is None:  # down, failing open: this process counts alone until Redis answers again
            if self.local_rates is None:
                self.local_rates = LocalRates(window=self.window, clock=self._clock)
            return self.local_rates.take(rates, images)
        if int(reply[0]) == 0:
            return None
        index, which, frees = int(reply[0]) - 1, int(reply[1]), int(reply[2])
        rate = rates[index]
        limit, value = ("rpm", rate.rpm) if which == 1 else ("ipm", rate.ipm)
        assert value is not None
        return RateRefusal(index=index, limit=limit, value=value, retry_after=frees / 1000 if frees >= 0 else None)
