"""The router's own table of its deployments, and the store that keeps everything in this process."""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from pixmux.state._rates import LocalRates
from pixmux.state._values import Facts, Member, Rate, RateRefusal, Take, WindowResult

__all__ = ["Health", "LocalState", "WINDOW"]

#: Seconds over which ``rpm`` and failures are counted.
WINDOW = 60.0


class Health:
    """
    What the router knows of one deployment; read and written under the router's lock only.

    Every per-call record is trimmed when it is written, so the table stays the same size
    however many calls go through (issue 14: the usage record used to grow without an ``rpm``).
    """

    __slots__ = (
        "cooldown_until",
        "cooldowns",
        "failed",
        "failures",
        "in_flight",
        "latency",
        "probation",
        "shared_failing",
        "successes",
        "usage",
        "used",
    )

    def __init__(self) -> None:
        self.failures: dict[str, deque[float]] = {}
        self.cooldown_until = -math.inf
        self.cooldowns = 0
        self.probation = False
        self.shared_failing = False
        self.in_flight = 0
        self.latency: float | None = None
        self.usage: deque[tuple[float, int]] = deque()
        self.used = 0
        self.successes = 0
        self.failed = 0

    def images_in_window(self, now: float) -> int:
        """Images counted within the last :data:`WINDOW` seconds (older records are dropped)."""
        while self.usage and self.usage[0][0] <= now - WINDOW:
            self.used -= self.usage.popleft()[1]
        return self.used

    def count(self, now: float, images: int) -> None:
        """Count ``images`` made now, dropping records that left the window."""
        self.usage.append((now, images))
        self.used += images
        self.images_in_window(now)

    def learn(self, facts: Facts, now: float) -> None:
        """Take what a shared store knows as this table's own (its usage as one record)."""
        self.usage.clear()
        self.used = facts.used
        if facts.used:
            frees_in = facts.frees_in if facts.frees_in is not None else WINDOW
            self.usage.append((now - WINDOW + max(0.0, frees_in), facts.used))
        self.cooldown_until = now + facts.cooldown_left if facts.cooldown_left > 0 else -math.inf
        self.probation = facts.probation
        self.shared_failing = facts.failing
        if not facts.failing:
            self.failures.clear()


class _Window:
    __slots__ = ("records", "used")

    def __init__(self) -> None:
        self.records: deque[tuple[float, int]] = deque()
        self.used = 0

    def trim(self, now: float, window: float) -> None:
        while self.records and self.records[0][0] <= now - window:
            self.used -= self.records.popleft()[1]


class LocalState:
    """
    The default store: nothing leaves this process.

    The router's own table is the truth, so the deployment methods answer ``None`` ("go on
    with your own table"). Per-key windows and budget reservations are kept here, trimmed as
    they are written: a name whose window empties or whose reservations are all let go is
    forgotten.

    Args:
        window: seconds a window spans (60: per minute).
        clock: seconds as a monotonic float (tests pass a fake).
    """

    shared = False

    def __init__(self, *, window: float = WINDOW, clock: Callable[[], float] | None = None) -> None:
        self.window = window
        self._clock = clock or time.monotonic
        self._lock = threading.Lock()
        self._windows: dict[str, _Window] = {}
        self._held: dict[str, float] = {}

    async def atake(
        self, group: str, members: Sequence[Member], chosen: int, *, units: int, force: bool
    ) -> Take | None:
        return None

    def take(self, group: str, members: Sequence[Member], chosen: int, *, units: int, force: bool) -> Take | None:
        return None

    async def afailed(
        self, group: str, member: Member, *, counter: str, allowed: int, cooldown: float, hinted: float | None
    ) -> Facts | None:
        return None

    def failed(
        self, group: str, member: Member, *, counter: str, allowed: int, cooldown: float, hinted: float | None
    ) -> Facts | None:
        return None

    async def asucceeded(self, group: str, member: Member) -> None:
        return None

    def succeeded(self, group: str, member: Member) -> None:
        return None

    def window_take(self, name: str, *, units: int, limit: int) -> WindowResult:
        """The blocking form of :meth:`awindow` (no I/O here)."""
        now = self._clock()
        with self._lock:
            found = self._windows.get(name)
            if found is None:
                found = self._windows[name] = _Window()
            found.trim(now, self.window)
            allowed = not (found.used and found.used + units > limit)
            if allowed:
                found.records.append((now, units))
                found.used += units
            frees_in = found.records[0][0] + self.window - now if found.records else None
            if not found.records:
                del self._windows[name]
            for other in list(itertools.islice(self._windows, 2)):  # sweep a little on every call: idle names go away
                stale = self._windows[other]
                stale.trim(now, self.window)
                if not stale.records:
                    del self._windows[other]
            return WindowResult(allowed=allowed, used=found.used, frees_in=frees_in)

    async def awindow(self, name: str, *, units: int, limit: int) -> WindowResult | None:
        return self.window_take(name, units=units, limit=limit)

    def reserve(self, name: str, *, amount: float, limit: float) -> bool:
        """The blocking form of :meth:`areserve`."""
        with self._lock:
            held = self._held.get(name, 0.0)
            if held + amount > limit:
                return False
            self._held[name] = held + amount
            return True

    async def areserve(self, name: str, *, amount: float, limit: float) -> bool | None:
        return self.reserve(name, amount=amount, limit=limit)

    def release(self, name: str, *, amount: float) -> None:
        """The blocking form of :meth:`arelease`."""
        with self._lock:
            left = self._held.get(name, 0.0) - amount
            if left > 1e-12:
                self._held[name] = left
            else:
                self._held.pop(name, None)

    async def arelease(self, name: str, *, amount: float) -> None:
        self.release(name, amount=amount)

    def held(self, name: str) -> float:
        """The amount held under ``name`` now."""
        with self._lock:
            return self._held.get(name, 0.0)

    def sizes(self) -> tuple[int, int]:
        """How many window names and budget names are kept now (for the soak test)."""
        with self._lock:
            return len(self._windows), len(self._held)

    async def astart(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    #: The per-key windows (made at the first :meth:`arates`).
    rates: LocalRates | None = None

    async def arates(self, tag: str, rates: Sequence[Rate], *, images: int) -> RateRefusal | None:
        if self.rates is None:
            self.rates = LocalRates(window=self.window, clock=self._clock)
        return self.rates.take(rates, images)
