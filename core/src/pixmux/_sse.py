"""
Server-sent events: the framing the core reads from providers and writes to gateway clients.

Reading follows the WHATWG "event stream" rules: lines end in CRLF, LF or CR; a line starting
with ``:`` is a comment; ``field: value`` lines build an event; a blank line dispatches it. A
field named ``data`` may repeat (its values join with newlines). A stream's last event counts
only if a blank line ended it, so a connection cut mid-event never yields half an event.

Why not a library: the rules fit in one screen, the core may depend on pluggy, httpx, attrs and
cattrs only, and the decoder must take raw byte chunks from the transport as they arrive.
"""

from __future__ import annotations

from collections.abc import Iterable

from pixmux.types import ServerSentEvent

__all__ = ["SSEDecoder", "encode_event", "KEEP_ALIVE"]

#: A comment line: proxies see traffic, clients ignore it.
KEEP_ALIVE = b": keep-alive\n\n"

#: The largest event accepted, in bytes (a 4K PNG in base64 is about 30 MB).
MAX_EVENT_BYTES = 64 * 1024 * 1024


class SSEDecoder:
    """
    Turns byte chunks into :class:`~pixmux.types.ServerSentEvent` values, chunk boundaries anywhere.

    ``feed`` returns the events completed by a chunk; ``close`` says whether the stream ended
    cleanly (no half-read event left over).
    """

    def __init__(self, *, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self._pieces: list[bytes] = []  # the line being read, in the chunks it came in (no line end yet)
        self._held = 0
        self._pending_cr = False
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None
        self._retry: int | None = None
        self._size = 0
        self._started = False
        self._max = max_event_bytes

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """The events that this chunk completes, in order."""
        if not chunk:
            return []
        chunk = bytes(chunk)
        if not self._started:
            self._started = True
            if chunk.startswith(b"\xef\xbb\xbf"):
                chunk = chunk[3:]
        if self._pending_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        self._pending_cr = False
        events: list[ServerSentEvent] = []
        pieces = self._pieces
        pos = 0
        size = len(chunk)
        while pos < size:
            lf = chunk.find(b"\n", pos)
            cr = chunk.find(b"\r", pos, size if lf < 0 else lf)
            if cr >= 0:
                end = cr
                if cr + 1 < size:
                    step = 2 if chunk[cr + 1] == 0x0A else 1
                else:  # a CR at the very end: its LF may come in the next chunk
                    step = 1
                    self._pending_cr = True
            elif lf >= 0:
                end, step = lf, 1
            else:  # no line end in the rest: keep it (a whole chunk is kept without a copy)
                pieces.append(chunk[pos:])
                self._held += size - pos
                break
            line = b"".join([*pieces, chunk[pos:end]]) if pieces else chunk[pos:end]
            pieces.clear()
            self._held = 0
            pos = end + step
            event = self._line(line)
            if event is not None:
                events.append(event)
        if self._held + self._size > self._max:
            from pixmux.exceptions import APIResponseValidationError

            raise APIResponseValidationError(f"a server-sent event is larger than {self._max} bytes")
        return events

    def close(self) -> bool:
        """``True`` if the stream ended between events (nothing half read)."""
        return not b"".join(self._pieces).strip() and not self._data and not self._event

    def _line(self, raw: bytes) -> ServerSentEvent | None:
        if not raw:
            return self._dispatch()
        if raw.startswith(b":"):
            return None
        self._size += len(raw)
        if raw.startswith(b"data:"):  # the long lines: one copy, one decode
            payload = memoryview(raw)[6 if raw.startswith(b"data: ") else 5 :]
            self._data.append(str(payload, "utf-8", "replace"))
            return None
        name, colon, value = raw.decode("utf-8", errors="replace").partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._id = value
        elif name == "retry" and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        data, event = self._data, self._event
        self._data, self._event, self._size = [], "", 0
        if not data and not event:
            return None
        return ServerSentEvent(event=event or "message", data="\n".join(data), id=self._id, retry=self._retry)


def encode_event(event: str, data: bytes | str) -> bytes:
    """One SSE block: ``event: <name>``, one ``data:`` line per line of ``data``, a blank line."""
    payload = data.encode() if isinstance(data, str) else data
    if b"\n" not in payload and b"\r" not in payload:  # one JSON document on one line: the usual case
        return b"event: " + event.encode() + b"\ndata: " + payload + b"\n\n"
    lines: Iterable[bytes] = payload.splitlines() or [b""]
    return b"event: " + event.encode() + b"\n" + b"".join(b"data: " + line + b"\n" for line in lines) + b"\n"
