"""
``within(seconds, step)``: await ``step``, raising ``TimeoutError`` once ``seconds`` have passed.

On Python 3.11 and later this is ``asyncio.timeout``: the step runs in the caller's task. Not
``asyncio.wait_for``: on 3.11 it runs the step as a task of its own and re-raises the step's
error in its own frame, so the task, the error, its traceback and that frame form a reference
cycle. Everything the failed step held (a request, a 4 MB upload) then stays in memory until
the next cyclic collection, which the gateway makes rare (``pixmux.proxy._collector``).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable
from typing import TypeVar

__all__ = ["within"]

_T = TypeVar("_T")

if sys.version_info >= (3, 11):

    async def within(seconds: float, step: Awaitable[_T]) -> _T:
        """Await ``step``; ``TimeoutError`` after ``seconds``."""
        async with asyncio.timeout(seconds):
            return await step

else:  # pragma: no cover - Python 3.10 (asyncio.wait_for; the cycle above exists there)

    async def within(seconds: float, step: Awaitable[_T]) -> _T:
        """Await ``step``; ``TimeoutError`` after ``seconds``."""
        try:
            return await asyncio.wait_for(step, seconds)
        except asyncio.TimeoutError as exc:
            raise TimeoutError from exc
