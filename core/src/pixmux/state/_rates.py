"""
Per-owner request and image windows (a virtual key's and its team's ``rpm_limit`` and
``ipm_limit``): checked and counted together, in one step, in this process or in Redis.

One window per owner holds one record per admitted request, ``(time, images)``: the requests
in it are its records, the images their sum. A request passes when every owner has room for
one more request and for its images; then it is counted in every owner's window at once, so
a refusal by the team never leaves a count on the key. Windows slide: a record leaves the
window ``window`` seconds after it was counted, and a refusal says when enough will have left.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from pixmux.state._values import Rate, RateRefusal

__all__ = ["LocalRates", "RATES_SCRIPT"]


class _Owner:
    __slots__ = ("images", "records")

    def __init__(self) -> None:
        self.records: deque[tuple[float, int]] = deque()
        self.images = 0

    def trim(self, now: float, window: float) -> None:
        records = self.records
        while records and records[0][0] <= now - window:
            self.images -= records.popleft()[1]


def _refusal(index: int, rate: Rate, owner: _Owner, *, images: int, now: float, window: float) -> RateRefusal | None:
    """Why ``owner`` cannot take one more request of ``images`` now, or ``None`` when it can."""
    records = owner.records
    if rate.rpm is not None and len(records) + 1 > rate.rpm:
        wait = records[0][0] + window - now if records else None
        return RateRefusal(index=index, limit="rpm", value=rate.rpm, retry_after=wait)
    if rate.ipm is not None and owner.images + images > rate.ipm:
        if images > rate.ipm:  # more than the limit in one request: it never passes
            return RateRefusal(index=index, limit="ipm", value=rate.ipm, retry_after=None)
        need = owner.images + images - rate.ipm
        freed = 0
        for at, units in records:  # the oldest first: when enough images have left
            freed += units
            if freed >= need:
                return RateRefusal(index=index, limit="ipm", value=rate.ipm, retry_after=at + window - now)
    return None


class LocalRates:
    """
    The windows of this process only (no Redis, or Redis down while failing open).

    Owners whose windows empty are forgotten (a few are swept on every call), so the table
    holds only owners with a request in the last window, each with at most its limit's records.

    Args:
        window: seconds a window spans (60: per minute).
        clock: seconds as a monotonic float (tests pass a fake).
    """

    def __init__(self, *, window: float = 60.0, clock: Callable[[], float] | None = None) -> None:
        self.window = window
        self._clock = clock or time.monotonic
        self._lock = threading.Lock()
        self._owners: dict[str, _Owner] = {}

    def take(self, rates: Sequence[Rate], images: int) -> RateRefusal | None:
        """Count one request of ``images`` for every owner in ``rates``, unless one of them is at its limit."""
        now = self._clock()
        window = self.window
        with self._lock:
            owners = self._owners
            found = []
            for index, rate in enumerate(rates):
                owner = owners.get(rate.owner)
                if owner is None:
                    owner = owners[rate.owner] = _Owner()
                owner.trim(now, window)
                found.append(owner)
                refused = _refusal(index, rate, owner, images=images, now=now, window=window)
                if refused is not None:
                    self._sweep(now)
                    return refused
            for owner in found:
                owner.records.append((now, images))
                owner.images += images
            self._sweep(now)
            return None

    def _sweep(self, now: float) -> None:
        owners = self._owners
        for name in list(itertools.islice(owners, 2)):  # the oldest entries first: idle owners go away
            owner = owners[name]
            owner.trim(now, self.window)
            if not owner.records:
                del owners[name]
            else:  # still in use: to the end of the line
                owners[name] = owners.pop(name)

    def __len__(self) -> int:
        """Owners held now (the soak tests check it stays bounded)."""
        with self._lock:
            return len(self._owners)


# KEYS: two per owner (window: a sorted set of "<nonce>:<images>" members scored by time in ms;
# sum: its images). ARGV: images, window ms, nonce, then rpm and ipm per owner (-1: none).
# Returns {0} when counted, else {owner (1-based), 1 for rpm or 2 for ipm, ms until it frees (-1: never)}.
RATES_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local images, span, nonce = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local owners = #KEYS / 2
local function units(member) return tonumber(string.match(member, '(%d+)$')) end
for i = 1, owners do
  local w, n = KEYS[2 * i - 1], KEYS[2 * i]
  local rpm, ipm = tonumber(ARGV[2 + 2 * i]), tonumber(ARGV[3 + 2 * i])
  local old = redis.call('ZRANGEBYSCORE', w, '-inf', now - span)
  if #old > 0 then
    local gone = 0
    for j = 1, #old do gone = gone + units(old[j]) end
    redis.call('ZREMRANGEBYSCORE', w, '-inf', now - span)
    if redis.call('ZCARD', w) == 0 then redis.call('DEL', n) else redis.call('DECRBY', n, gone) end
  end
  if rpm >= 0 and redis.call('ZCARD', w) + 1 > rpm then
    local first = redis.call('ZRANGE', w, 0, 0, 'WITHSCORES')
    if #first == 0 then return {i, 1, -1} end
    return {i, 1, tonumber(first[2]) + span - now}
  end
  if ipm >= 0 then
    local used = tonumber(redis.call('GET', n) or '0')
    if used + images > ipm then
      if images > ipm then return {i, 2, -1} end
      local need, freed = used + images - ipm, 0
      local entries = redis.call('ZRANGE', w, 0, -1, 'WITHSCORES')
      for j = 1, #entries, 2 do
        freed = freed + units(entries[j])
        if freed >= need then return {i, 2, tonumber(entries[j + 1]) + span - now} end
      end
      return {i, 2, -1}
    end
  end
end
for i = 1, owners do
  local w, n = KEYS[2 * i - 1], KEYS[2 * i]
  redis.call('ZADD', w, now, nonce .. ':' .. images)
  redis.call('INCRBY', n, images)
  redis.call('PEXPIRE', w, span)
  redis.call('PEXPIRE', n, span)
end
return {0}
"""
