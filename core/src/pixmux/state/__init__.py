"""
Where the router keeps what it knows between calls: in this process (the default), or shared
by every gateway instance through Redis.

The router always keeps its own table of each deployment (:class:`Health`): images in the
last minute, cooldown, recent failures, calls in flight, latency. With the default
:class:`LocalState` that table is the whole truth. With a shared store
(:class:`pixmux.state.redis.RedisState`, from the ``pixmux[redis]`` extra) the table becomes a
cache that steers the choice, and the store decides: each attempt is confirmed by one atomic
step (:meth:`SharedState.atake`: not cooling down, under its ``rpm``), each failure and each
first success after failures is recorded there, and every reply refreshes the table.

What a store shares:

- per-deployment windows (``rpm``, counted in images as the router counts them) and the
  usage that ``usage-based-routing`` reads;
- cooldowns, the failures that lead to them and the probation after them;
- per-key windows (:meth:`SharedState.arates`: a virtual key's and its team's rpm and images
  per minute, checked and counted together in one step);
- budget reservations (:meth:`SharedState.areserve` / :meth:`SharedState.arelease`): an amount
  held against a limit before a call and let go after it, for library users who keep budgets
  of their own (the gateway's virtual keys keep theirs in the database, as budget blocks:
  ``pixmux.proxy.store.blocks``).

What is never shared: calls in flight (``max_parallel_requests`` is per process), measured
latencies, and request or image content.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from pixmux.state._local import Health, LocalState
from pixmux.state._rates import LocalRates
from pixmux.state._values import Facts, Member, Rate, RateRefusal, Take, WindowResult

__all__ = [
    "Facts",
    "Health",
    "LocalRates",
    "LocalState",
    "Member",
    "Rate",
    "RateRefusal",
    "SharedState",
    "Take",
    "WindowResult",
]


@runtime_checkable
class SharedState(Protocol):
    """
    A store several router instances share (the seam behind which Redis sits).

    Every method answers within the store's timeout. When the store cannot be reached, the
    ``a``-methods either return ``None`` (*fail open*: the caller goes on with its own table)
    or raise :class:`pixmux.ServiceUnavailableError` (*fail closed*), as the store was configured.
    """

    #: ``False`` for a store that lives in this process only (the router then skips the calls).
    shared: bool

    async def atake(
        self, group: str, members: Sequence[Member], chosen: int, *, units: int, force: bool
    ) -> Take | None:
        """
        Atomically: unless ``members[chosen]`` is cooling down (ignored when ``force``) or
        ``units`` more would take it over its limit, count ``units`` in its window.
        """

    def take(self, group: str, members: Sequence[Member], chosen: int, *, units: int, force: bool) -> Take | None:
        """The blocking twin of :meth:`atake`."""

    async def afailed(
        self, group: str, member: Member, *, counter: str, allowed: int, cooldown: float, hinted: float | None
    ) -> Facts | None:
        """
        Record a failure counted under ``counter``; cool the deployment down for ``hinted``
        seconds at once when given, for ``cooldown`` when it is on probation or has now failed
        more than ``allowed`` times within the window. Nothing happens while it cools down.
        """

    def failed(
        self, group: str, member: Member, *, counter: str, allowed: int, cooldown: float, hinted: float | None
    ) -> Facts | None:
        """The blocking twin of :meth:`afailed`."""

    async def asucceeded(self, group: str, member: Member) -> None:
        """Forget the deployment's failures and its probation."""

    def succeeded(self, group: str, member: Member) -> None:
        """The blocking twin of :meth:`asucceeded`."""

    async def awindow(self, name: str, *, units: int, limit: int) -> WindowResult | None:
        """Count ``units`` in the window called ``name`` (a key's rpm, its images) unless over ``limit``."""

    async def arates(self, tag: str, rates: Sequence[Rate], *, images: int) -> RateRefusal | None:
        """
        Atomically: unless one owner in ``rates`` has no room for one more request of
        ``images`` images, count it in every owner's window; else say which refused and when
        it frees. ``tag`` groups owners counted together (a key and its team) in one place:
        the same ``tag`` for the same ``rates``, always.
        """

    async def areserve(self, name: str, *, amount: float, limit: float) -> bool | None:
        """Hold ``amount`` against ``limit`` under ``name`` (a key's budget); ``False`` if it does not fit."""

    async def arelease(self, name: str, *, amount: float) -> None:
        """Let go of ``amount`` held under ``name`` (when the call settles, whatever it cost)."""

    async def astart(self) -> None:
        """Connect and load what later steps need, so the first request does not pay for it (never raises)."""

    async def aclose(self) -> None:
        """Close connections."""
