"""
Retries: which errors are worth another try, how long to wait, and the loop that does it.

Every call retries, library and router alike. An attempt that failed with a 429, a 408, a
5xx, a connection error or a timeout is tried again, up to ``num_retries`` more times,
after an exponential, jittered wait, or after the provider's own ``Retry-After``, but never
past the call's deadline: a wait that would end after it is not taken, and the last error
is raised instead. A request the provider refused as wrong (400, 401, 403, 404, 422, a
content-policy refusal) or one pixmux refused before sending is never retried: sending it
again would only fail again.

Why no retry library: the core depends on pluggy, httpx, attrs and cattrs only (see the
design), and what a call needs here is small: one classification, one wait rule, one
deadline, the same for sync and async. tenacity or stamina would add a dependency and
their own deadline and sleep plumbing around ~60 lines of logic.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any, TypeVar

import attrs

from pixmux.exceptions import (
    AllAttemptsFailedError,
    APIConnectionError,
    APIResponseValidationError,
    BadRequestError,
    ConfigurationError,
    PixmuxError,
)

__all__ = [
    "DEFAULT_NUM_RETRIES",
    "Backoff",
    "Attempts",
    "is_retryable",
    "pop_num_retries",
    "retries_given",
    "call_with_retries",
    "acall_with_retries",
    "log_retry",
]

#: Retries a call makes by default after its first attempt (so three attempts in all).
DEFAULT_NUM_RETRIES = 2

T = TypeVar("T")
logger = logging.getLogger("pixmux")


def is_retryable(error: BaseException) -> bool:
    """
    Whether an error is worth another attempt: 429, 408, 5xx, connection errors and timeouts.

    Never: a request the provider refused as wrong (400, 401, 403, 404, 422), a content-policy
    refusal, a setting pixmux refused before sending, an unreadable provider answer (sending
    the same request again would get the same answer), or a router's final error.
    """
    if not isinstance(error, PixmuxError):
        return False
    if isinstance(error, ConfigurationError | BadRequestError | APIResponseValidationError | AllAttemptsFailedError):
        return False
    if isinstance(error, APIConnectionError):
        return True
    status = error.status_code
    return status is not None and (status in (408, 429) or 500 <= status <= 599)


@attrs.frozen(kw_only=True)
class Backoff:
    """
    How long to wait between attempts, and how to wait (injectable, so tests never really sleep).

    The wait before retry ``k`` (1-based) is ``initial * multiplier ** (k - 1)``, capped at
    ``maximum``, of which a random half is taken off ("equal jitter": callers that failed
    together do not retry together). A ``Retry-After`` from the provider replaces that
    computed wait (plus up to 10 % jitter). No wait is shorter than ``minimum``.

    Args:
        initial: seconds before the first retry, before jitter.
        multiplier: growth per retry.
        maximum: longest computed wait, in seconds.
        minimum: shortest wait, in seconds (a router's ``retry_after`` setting).
        sleep: blocks the sync path for a number of seconds.
        asleep: waits on the async path for a number of seconds.
        random: returns a float in ``[0, 1)`` for the jitter.
    """

    initial: float = 0.5
    multiplier: float = 2.0
    maximum: float = 30.0
    minimum: float = 0.0
    sleep: Callable[[float], object] = attrs.field(default=time.sleep, eq=False, repr=False)
    asleep: Callable[[float], Awaitable[object]] = attrs.field(default=asyncio.sleep, eq=False, repr=False)
    random: Callable[[], float] = attrs.field(default=random.random, eq=False, repr=False)

    def delay(self, retry: int, error: BaseException | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1-based) after ``error``."""
        hinted = getattr(error, "retry_after", None)
        if isinstance(hinted, int | float) and hinted >= 0:
            return max(self.minimum, float(hinted) * (1.0 + 0.1 * self.random()))
        ceiling = min(self.maximum, self.initial * self.multiplier ** max(0, retry - 1))
        return max(self.minimum, ceiling * (0.5 + 0.5 * self.random()))


def pop_num_retries(kwargs: MutableMapping[str, Any], default: int = DEFAULT_NUM_RETRIES) -> int:
    """
    Take ``num_retries`` (or its alias ``max_retries``) out of call keywords, checked.

    They are the core's, never a provider's: left in, they would be sent in the body.
    """
    return _retries(kwargs.pop("num_retries", None), kwargs.pop("max_retries", None), default)


def retries_given(num_retries: object, extra: Mapping[str, Any]) -> int:
    """
    :func:`pop_num_retries` for a call whose ``num_retries`` is a named argument.

    ``extra`` holds the call's other keyword arguments, where the alias ``max_retries`` may be.
    """
    return _retries(num_retries, extra.get("max_retries"), DEFAULT_NUM_RETRIES)


def _retries(num: object, alias: object, default: int) -> int:
    """``num_retries`` if given, else its alias ``max_retries``, else ``default``; checked, naming the one used."""
    if num is not None:
        return check_retries(num)
    return default if alias is None else check_retries(alias, "max_retries")


def check_retries(value: object, name: str = "num_retries") -> int:
    """``value`` as a count of retries, or a ``ConfigurationError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(f"{name}={value!r} must be a whole number, 0 or more", param=name)
    return value


class Attempts:
    """
    The retry bookkeeping of one call: counts attempts and says whether, and after how long, to try again.

    Shared by the sync and async loops (and by the router), so both behave the same.
    """

    def __init__(
        self, *, retries: int, deadline: float, backoff: Backoff, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.retries = retries
        self.deadline = deadline
        self.backoff = backoff
        self.clock = clock
        self.count = 0

    def started(self) -> None:
        """One more attempt is being made."""
        self.count += 1

    def wait_before_retry(self, error: BaseException) -> float | None:
        """Seconds to wait before the next attempt after ``error``, or ``None`` to give up and raise it."""
        if not is_retryable(error) or self.count > self.retries:
            return None
        wait = self.backoff.delay(self.count, error)
        if self.clock() + wait >= self.deadline:
            return None  # the call's timeout would run out while waiting: the real error is more useful
        return wait

    def failed(self, error: PixmuxError) -> PixmuxError:
        """Note on the final ``error`` how many attempts the call made; returns it."""
        error.details = {**error.details, "attempts": self.count}
        return error


def log_retry(error: PixmuxError, attempt: int, wait: float) -> None:
    logger.info(
        "pixmux: attempt %d failed (%s, status %s, %s/%s); retrying in %.2fs",
        attempt,
        type(error).__name__,
        error.status_code,
        error.provider,
        error.model,
        wait,
    )


def _after_first(tries: Attempts, failed: PixmuxError) -> float:
    """Count the caller's failed first attempt; the wait before the next, or raise ``failed`` if there is none."""
    tries.started()
    wait = tries.wait_before_retry(failed)
    if wait is None:
        raise tries.failed(failed)
    log_retry(failed, tries.count, wait)
    return wait


def call_with_retries(
    attempt: Callable[[], T], *, retries: int, deadline: float, backoff: Backoff, failed: PixmuxError | None = None
) -> tuple[T, int]:
    """
    Run ``attempt`` until it succeeds, retrying what is worth it; returns ``(result, attempts)``.

    Raises the last error (with ``details["attempts"]``) when retries run out, the error is not
    retryable, or the next wait would pass ``deadline`` (a ``time.monotonic()`` value).
    ``failed`` is the error of a first attempt the caller already made (the engine makes the
    first attempt itself, so a call that succeeds at once never enters this loop).
    """
    tries = Attempts(retries=retries, deadline=deadline, backoff=backoff)
    if failed is not None:
        first_wait = _after_first(tries, failed)
        if first_wait > 0:
            backoff.sleep(first_wait)
    while True:
        tries.started()
        try:
            return attempt(), tries.count
        except PixmuxError as exc:
            wait = tries.wait_before_retry(exc)
            if wait is None:
                tries.failed(exc)
                raise
            log_retry(exc, tries.count, wait)
        if wait > 0:
            backoff.sleep(wait)


async def acall_with_retries(
    attempt: Callable[[], Awaitable[T]],
    *,
    retries: int,
    deadline: float,
    backoff: Backoff,
    failed: PixmuxError | None = None,
) -> tuple[T, int]:
    """The async twin of :func:`call_with_retries`: waits without blocking the event loop."""
    tries = Attempts(retries=retries, deadline=deadline, backoff=backoff)
    if failed is not None:
        first_wait = _after_first(tries, failed)
        if first_wait > 0:
            await backoff.asleep(first_wait)
    while True:
        tries.started()
        try:
            return await attempt(), tries.count
        except PixmuxError as exc:
            wait = tries.wait_before_retry(exc)
            if wait is None:
                tries.failed(exc)
                raise
            log_retry(exc, tries.count, wait)
        if wait > 0:
            await backoff.asleep(wait)
