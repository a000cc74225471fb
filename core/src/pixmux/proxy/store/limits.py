"""
A virtual key's ``rpm_limit`` and ``ipm_limit`` (and its team's), checked before each call.

The windows live where the router's state lives (:mod:`pixmux.state`): in this process by
default, in Redis when the gateway shares its state, so that every instance counts the same
window. A key and its team are checked and counted in one step (one Redis round trip, none for
a key without limits), under one tag so that both live in one Redis Cluster slot.
"""

from __future__ import annotations

import hashlib
import math

from pixmux.proxy.app import GatewayError
from pixmux.proxy.store.database import KeyRecord
from pixmux.state import Rate, RateRefusal, SharedState

__all__ = ["KeyLimits"]

#: Team names remembered as digests at most (then forgotten all at once).
_TEAMS_KEPT = 10_000


class KeyLimits:
    """
    Per-key and per-team request and image windows on the gateway's request path.

    Args:
        state: the router's state store (:attr:`pixmux.Router.state`).
    """

    def __init__(self, state: SharedState) -> None:
        self.state = state
        self._teams: dict[str, str] = {}

    def _team(self, team_id: str) -> str:
        digest = self._teams.get(team_id)
        if digest is None:
            if len(self._teams) >= _TEAMS_KEPT:
                self._teams.clear()
            digest = self._teams[team_id] = hashlib.blake2b(team_id.encode(), digest_size=12).hexdigest()
        return digest

    async def check(self, key: KeyRecord, images: int) -> None:
        """
        Count one request of ``images`` for the key and its team, or refuse it.

        Raises:
            GatewayError: 429 ``rate_limit_error`` naming the limit, with ``retry-after`` when it frees.
            ServiceUnavailableError: Redis is down and the gateway fails closed.
        """
        team = key.team
        rates: list[Rate] = []
        if key.rpm_limit is not None or key.ipm_limit is not None:
            rates.append(Rate(owner="key:" + key.token[:32], rpm=key.rpm_limit, ipm=key.ipm_limit))
        team_digest = None if team is None else self._team(team.team_id)
        if team is not None and (team.rpm_limit is not None or team.ipm_limit is not None):
            rates.append(Rate(owner="team:" + str(team_digest), rpm=team.rpm_limit, ipm=team.ipm_limit))
        if not rates:
            return
        # One tag for a key and its team: both in one step, in one Cluster slot.
        tag = "t:" + team_digest if team_digest is not None else "k:" + key.token[:32]
        refused = await self.state.arates(tag, rates, images=images)
        if refused is not None:
            raise _refusal(refused, rates, key, images)


def _refusal(refused: RateRefusal, rates: list[Rate], key: KeyRecord, images: int) -> GatewayError:
    owner = "this key" if rates[refused.index].owner.startswith("key:") else "this key's team"
    if refused.limit == "rpm":
        what = f"rpm_limit {refused.value} requests per minute"
    else:
        what = f"ipm_limit {refused.value} images per minute"
    if refused.retry_after is None:
        if refused.limit == "ipm":
            message = f"rate limit: {images} images in one request is more than {owner}'s {what}; ask for fewer (n)"
            return GatewayError(429, message, type="rate_limit_error", param="n", code="rate_limit_exceeded")
        message = f"rate limit: {owner}'s {what} lets no request through"
        return GatewayError(429, message, type="rate_limit_error", code="rate_limit_exceeded")
    wait = max(1, math.ceil(refused.retry_after))
    return GatewayError(
        429,
        f"rate limit reached for {owner} ({what}); try again in {wait} s",
        type="rate_limit_error",
        code="rate_limit_exceeded",
        headers=[(b"retry-after", str(wait).encode())],
    )
