"""
The gateway's streamed answers: OpenAI's image events as ``text/event-stream``, flushed one by one.

- A stream whose first event (or failure) comes within :data:`FIRST_EVENT_GRACE` seconds is
  answered as usual: a failure then is an ordinary JSON error with its status. A slower one
  (a model that does not stream natively draws for a minute before its one event) gets its
  headers at once and ``: keep-alive`` comments every :data:`KEEP_ALIVE_EVERY` seconds, so
  idle proxies keep the connection.
- Nothing is added between the provider's events and the client but the framing, and comment
  lines every SSE client ignores: keep-alives, and ``: pixmux {...}`` (cost, deployment) just
  before the last completed event. An event that already was exactly OpenAI's is written as
  the provider's bytes (``ImageStreamEvent.to_sse``): a 1.5 MB partial image is neither
  decoded nor encoded again on its way through.
- A failure after the headers ends the stream with OpenAI's ``error`` event.
- A client that disconnects cancels the upstream call; at most one event per client is in
  flight (the server's flow control holds ``send`` while the client reads slowly).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

import attrs

from pixmux._sse import KEEP_ALIVE, encode_event
from pixmux.exceptions import PixmuxError
from pixmux.types import ImageStreamEvent

__all__ = ["EventStream", "FIRST_EVENT_GRACE", "KEEP_ALIVE_EVERY", "first_event", "write_stream"]

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: Seconds to wait for the first event before committing to a 200 event stream.
FIRST_EVENT_GRACE = 2.0
#: Seconds between keep-alive comments while no event comes.
KEEP_ALIVE_EVERY = 15.0


@attrs.define
class EventStream:
    """A stream the gateway has begun: the first event's task, the rest of the events, and what to log."""

    first: asyncio.Task[ImageStreamEvent]
    rest: AsyncIterator[ImageStreamEvent]
    info: dict[str, Any]
    error_body: Callable[[PixmuxError], dict[str, Any]]
    #: Filled as the stream goes: the last completed event (cost, metadata), or the error that ended it.
    last: ImageStreamEvent | None = None
    failed: PixmuxError | None = None
    #: Called once when the stream has ended, however it ended (the gateway's in-flight slot).
    on_end: list[Callable[[], None]] = attrs.field(factory=list)

    def ended(self) -> None:
        """Run (once) what waits for the stream's end."""
        callbacks, self.on_end = self.on_end, []
        for callback in callbacks:
            callback()


async def first_event(
    events: AsyncIterator[ImageStreamEvent], grace: float = FIRST_EVENT_GRACE
) -> asyncio.Task[ImageStreamEvent]:
    """
    Start ``events`` and wait up to ``grace`` seconds for its first event.

    Raises the stream's ``PixmuxError`` if it fails within the grace period (the caller answers
    it as an ordinary error); otherwise returns the task, done or still running.
    """
    task: asyncio.Task[ImageStreamEvent] = asyncio.ensure_future(events.__anext__())
    await asyncio.wait({task}, timeout=grace)
    failure = task.exception() if task.done() else None
    if failure is not None:  # the stream's own error, before any byte went out
        # The error's traceback will hold this frame: the frame must not hold the error, nor the
        # task that keeps it (a reference cycle; see write_stream's _collect).
        del task
        try:
            raise failure
        finally:
            failure = None
    return task


def _note(event: ImageStreamEvent) -> bytes:
    """The ``: pixmux {...}`` comment: what OpenAI's events have no field for."""
    facts: dict[str, Any] = {}
    if event.cost is not None and math.isfinite(event.cost):
        facts["cost"] = event.cost
    for key in ("deployment", "model_group", "provider", "attempts"):
        value = event.metadata.get(key)
        if isinstance(value, str | int | float):
            facts[key] = value
    return b": pixmux " + json.dumps(facts, separators=(",", ":")).encode() + b"\n\n"


async def _watch_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def _collect(*tasks: asyncio.Task[Any] | None) -> None:
    """
    Cancel the tasks not done yet and wait for them, without raising their errors here.

    ``await task`` on a cancelled task would raise its ``CancelledError`` in the caller's frame,
    and the task keeps that error: task, error, traceback, frame and back to the task make a
    reference cycle. It keeps what the frame holds (a stream's events, megabytes each) alive
    until the next cyclic collection, which the gateway makes rare (``proxy._collector``).
    """
    waiting = set()
    for task in tasks:
        if task is not None and not task.done():
            task.cancel()
            waiting.add(task)
    if waiting:
        await asyncio.wait(waiting)


async def write_stream(stream: EventStream, send: Send, receive: Receive, headers: list[tuple[bytes, bytes]]) -> bool:
    """
    Send the stream's events as they come; returns ``False`` when the client went away first.

    The events are only re-framed. Every exit (the end, an error event, a disconnect) closes the
    upstream iterator, which closes the provider's connection.
    """
    watcher = asyncio.ensure_future(_watch_disconnect(receive))
    pending: asyncio.Task[ImageStreamEvent] | None = stream.first
    try:
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        while pending is not None:
            if watcher.done():
                return False
            if not pending.done():  # (the next event is often read while the last one was written)
                done, _ = await asyncio.wait(
                    {pending, watcher}, timeout=KEEP_ALIVE_EVERY, return_when=asyncio.FIRST_COMPLETED
                )
                if watcher in done:
                    return False
                if not done:
                    await send({"type": "http.response.body", "body": KEEP_ALIVE, "more_body": True})
                    continue
            # Read without raising here: a task's exception raised in this frame would hold the frame
            # in its traceback, and the frame the task (see _collect).
            failure = pending.exception()
            if isinstance(failure, StopAsyncIteration):
                break
            if isinstance(failure, PixmuxError):
                stream.failed = failure
                body = json.dumps(stream.error_body(failure), separators=(",", ":"))
                await send({"type": "http.response.body", "body": encode_event("error", body), "more_body": True})
                break
            if failure is not None:
                raise failure
            event = pending.result()
            pending = asyncio.ensure_future(stream.rest.__anext__())
            if event.completed and (event.cost is not None or event.metadata):
                stream.last = event
                await send({"type": "http.response.body", "body": _note(event), "more_body": True})
            # The provider's own bytes when its event already was OpenAI's (no copy, no re-encoding).
            await send({"type": "http.response.body", "body": event.to_sse(), "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return True
    finally:
        try:
            await _collect(watcher, pending, stream.first)
        finally:
            closer = getattr(stream.rest, "aclose", None)
            if closer is not None:
                with contextlib.suppress(BaseException):
                    await closer()
