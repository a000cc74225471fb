"""
What a router tells an observer about each attempt, for metrics and traces.

The gateway sets :attr:`pixmux.Router.observer` to one of these (see
``pixmux.proxy.telemetry``); the library's router has none and pays nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pixmux.exceptions import PixmuxError
    from pixmux.router import RouterDeployment
    from pixmux.types import ImageResponse

__all__ = ["RouterObserver"]


class RouterObserver(Protocol):
    """Told about every upstream attempt and every cooldown; must not raise, block or do I/O."""

    def attempt_started(self, deployment: RouterDeployment, attempt: int) -> object:
        """An attempt on ``deployment`` (the ``attempt``-th of the call) starts; returns a token for its end."""

    def attempt_ended(
        self,
        token: object,
        deployment: RouterDeployment,
        error: PixmuxError | None,
        elapsed: float,
        response: ImageResponse | None,
    ) -> None:
        """The attempt ended, with ``error`` or ``response`` (neither: it was cancelled)."""

    def cooled_down(self, deployment: RouterDeployment) -> None:
        """``deployment`` was just cooled down (by this instance's failure)."""
