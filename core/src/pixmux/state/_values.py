"""The values a state store takes and answers (see :mod:`pixmux.state`)."""

from __future__ import annotations

import attrs


@attrs.frozen
class Member:
    """
    One deployment of a model group, as a store sees it.

    Args:
        id: the deployment's id.
        limit: its ``rpm`` (images per window), or ``None`` for no limit.
        record: whether its usage is recorded at all (it has an ``rpm``, or the group is
            routed by usage); nothing else reads it.
    """

    id: str
    limit: int | None
    record: bool


@attrs.frozen
class Facts:
    """
    What a store knows about one deployment now.

    Args:
        used: images in the current window.
        frees_in: seconds until the oldest of them leaves the window (``None``: nothing used).
        cooldown_left: seconds of cooldown left (0: not cooling down).
        probation: it came back from a cooldown and has not succeeded since.
        failing: failures are recorded for it (a success clears them).
        cooled: the step that answered cooled it down (a cooldown event).
    """

    used: int = 0
    frees_in: float | None = None
    cooldown_left: float = 0.0
    probation: bool = False
    failing: bool = False
    cooled: bool = False


@attrs.frozen
class Take:
    """
    The answer to :meth:`SharedState.atake`.

    Args:
        accepted: the attempt may go ahead (usage recorded); ``False``: the deployment is
            cooling down or at its ``rpm`` elsewhere.
        facts: what the store knows now about every member of the group, by id.
        cooled: ``True`` when refused because of a cooldown (else because of the window).
    """

    accepted: bool
    facts: dict[str, Facts]
    cooled: bool = False


@attrs.frozen
class WindowResult:
    """
    The answer to :meth:`SharedState.awindow`.

    Args:
        allowed: the units were counted; ``False``: they would go over the limit (nothing counted).
        used: units in the window now (after counting them when allowed).
        frees_in: seconds until the oldest units leave the window (``None``: the window is empty).
    """

    allowed: bool
    used: int
    frees_in: float | None


@attrs.frozen
class Rate:
    """
    One owner's per-minute limits, as :meth:`SharedState.arates` checks them.

    Args:
        owner: a stable name for the owner (a virtual key's, a team's); never a secret.
        rpm: requests per window at most, or ``None``.
        ipm: images per window at most, or ``None``.
    """

    owner: str
    rpm: int | None
    ipm: int | None


@attrs.frozen
class RateRefusal:
    """
    Why :meth:`SharedState.arates` refused a request (nothing was counted).

    Args:
        index: which of the rates refused it (their order as given).
        limit: ``"rpm"`` or ``"ipm"``.
        value: that limit.
        retry_after: seconds until enough leaves the window for this request to pass; ``None``
            when it never will (more images in one request than the ``ipm``).
    """

    index: int
    limit: str
    value: int
    retry_after: float | None
