"""
Server-sent events: the framing the core reads from providers and writes to gateway clients.

Reading follows the WHATWG "event stream" rules: lines end in CRLF, LF or CR; a line starting
with ``:`` is a comment; ``field: value`` lines build an event; a blank line dispatches it. A
field named ``data`` may repeat (its values join with newlines). A stream's last event counts
only if a blank line ended it, so a connection cut mid-event never yields half an event.

The decoder works on bytes and copies an event once. It finds where a block ends with
``bytes.find`` (a memchr for the next LF and one for CR, so a 1.5 MB ``data:`` line costs two
calls per chunk, never a loop per line or per byte), records the line ends it found, keeps
the chunks of a block that is not complete yet as they came, and when the blank line arrives
joins the block's ``data`` bytes, once, into
the event re-framed (``event: <name>\\ndata: <data>\\n\\n``); an event that arrived whole in
one chunk, already framed so, is not copied at all (its frame is a view of that chunk). The
event's data is a range of that frame: its text is decoded only if someone reads it, and a
gateway can write the frame as it is (see :meth:`pixmux.types.ImageStreamEvent.to_sse`).

Why not a library: the rules fit in one screen, the core may depend on pluggy, httpx, attrs and
cattrs only, and the decoder must take raw byte chunks from the transport as they arrive.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pixmux.types import ServerSentEvent

__all__ = ["SSEDecoder", "encode_event", "KEEP_ALIVE"]

#: A comment line: proxies see traffic, clients ignore it.
KEEP_ALIVE = b": keep-alive\n\n"

#: The largest event accepted, in bytes (a 4K PNG in base64 is about 30 MB).
MAX_EVENT_BYTES = 64 * 1024 * 1024

_LF = 0x0A
_CR = 0x0D
_BOM = b"\xef\xbb\xbf"
#: A line end in a chunk: ``chunk[cut:after]``, and whether it ends a line (the LF of a CRLF
#: whose CR ended the last chunk does not).
_Cut = tuple[int, int, bool]
#: A part of a block: ``chunk[start:end]`` of a chunk as it arrived (no copy is made), and its line ends.
_Piece = tuple[bytes, int, int, list[_Cut]]


class SSEDecoder:
    """
    Turns byte chunks into :class:`~pixmux.types.ServerSentEvent` values, chunk boundaries anywhere.

    ``feed`` returns the events completed by a chunk; ``close`` says whether the stream ended
    cleanly (no half-read event left over).
    """

    def __init__(self, *, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self._pieces: list[_Piece] = []  # the block being read, as the chunks it came in
        self._held = 0
        self._line_start = True  # the next byte begins a line (a line end there is a blank line)
        self._after_cr = False  # the last line ended in CR: an LF now belongs to it
        self._id: str | None = None
        self._retry: int | None = None
        self._started = False
        self._max = max_event_bytes

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """The events that this chunk completes, in order."""
        if not chunk:
            return []
        if type(chunk) is not bytes:
            chunk = bytes(chunk)
        size = len(chunk)
        pos = 0
        if not self._started:
            self._started = True
            if chunk.startswith(_BOM):
                pos = 3
        start = pos  # where this chunk's part of the pending block begins
        cuts: list[_Cut] = []  # the line ends found in it, so that no line is searched twice
        events: list[ServerSentEvent] = []
        has_cr = chunk.find(b"\r") >= 0  # one memchr: most streams end lines with LF alone
        while pos < size:
            if self._after_cr:
                self._after_cr = False
                if chunk[pos] == _LF:  # the LF of a CRLF
                    if start == pos and not self._pieces:  # it ended a blank line: not part of the next block
                        start += 1
                    else:
                        cuts.append((pos, pos + 1, False))
                    pos += 1
                    continue
            if self._line_start and chunk[pos] in (_LF, _CR):  # a blank line: the block ends before it
                self._end_block((chunk, start, pos, cuts), events)
                cuts = []
                self._after_cr = chunk[pos] == _CR
                pos += 1
                start = pos
                continue
            end = chunk.find(b"\n", pos)
            if has_cr:
                cr = chunk.find(b"\r", pos, size if end < 0 else end)
                if cr >= 0:
                    end = cr
            if end < 0:  # the rest is part of a line (the middle of a big data line)
                self._line_start = False
                break
            cuts.append((end, end + 1, True))
            self._line_start = True
            self._after_cr = chunk[end] == _CR
            pos = end + 1
        if start < size:
            self._pieces.append((chunk, start, size, cuts))
            self._held += size - start
            if self._held > self._max:
                from pixmux.exceptions import APIResponseValidationError

                raise APIResponseValidationError(f"a server-sent event is larger than {self._max} bytes")
        return events

    def close(self) -> bool:
        """``True`` if the stream ended between events (nothing half read)."""
        if not self._pieces:
            return True
        pending = b"".join(memoryview(chunk)[start:end] for chunk, start, end, _ in self._pieces)
        cut = max(pending.rfind(b"\n"), pending.rfind(b"\r")) + 1
        if pending[cut:].strip():  # a line cut short
            return False
        for line in pending[:cut].splitlines():
            name = line.partition(b":")[0]
            if line and not line.startswith(b":") and name in (b"data", b"event"):
                return False
        return True

    def _end_block(self, piece: _Piece, events: list[ServerSentEvent]) -> None:
        """The block ends with ``piece`` (a blank line follows it): dispatch it, start the next."""
        pieces = self._pieces
        if piece[1] < piece[2]:
            pieces.append(piece)
        if pieces:
            event = self._dispatch(pieces)
            if event is not None:
                events.append(event)
            pieces.clear()
        self._held = 0

    def _dispatch(self, pieces: Sequence[_Piece]) -> ServerSentEvent | None:
        """The event of one block (its lines, each ended, the blank line left out), or ``None``."""
        if len(pieces) == 1:
            found = self._as_framed(pieces[0])
            if found is not None:
                return found
        name: bytes | None = None
        data: list[list[memoryview]] = []
        for line in _lines(pieces):
            head = _head(line, 6)
            if head.startswith(b":"):  # a comment
                continue
            if head.startswith(b"data"):
                if head.startswith(b"data:"):
                    data.append(_drop(line, 6 if head.startswith(b"data: ") else 5))
                    continue
                if head == b"data" and sum(len(segment) for segment in line) == 4:  # "data" alone: an empty value
                    data.append([])
                    continue
            field, _, value = b"".join(line).partition(b":")
            if value.startswith(b" "):
                value = value[1:]
            if field == b"event":
                name = value
            elif field == b"id":
                if b"\0" not in value:
                    self._id = value.decode("utf-8", "replace")
            elif field == b"retry" and value.isdigit():
                self._retry = int(value)
        if not data and not name:
            return None
        event = name.decode("utf-8", "replace") if name else "message"
        if len(data) == 1:  # the usual case: one copy, into the re-framed event
            head = b"event: " + (name or b"message") + b"\ndata: "
            frame = b"".join([head, *data[0], b"\n\n"])
            return ServerSentEvent._read(
                event=event,
                buffer=frame,
                start=len(head),
                end=len(frame) - 2,
                frame=(0, len(frame)),
                id=self._id,
                retry=self._retry,
            )
        joined: list[memoryview | bytes] = []
        for index, segments in enumerate(data):
            if index:
                joined.append(b"\n")
            joined.extend(segments)
        buffer = b"".join(joined)
        return ServerSentEvent._read(
            event=event, buffer=buffer, start=0, end=len(buffer), id=self._id, retry=self._retry
        )

    def _as_framed(self, piece: _Piece) -> ServerSentEvent | None:
        """
        A block that arrived in one chunk already re-framed (``event: <name>``, ``data: <data>``,
        LF line ends, then the blank line), read in place: no copy at all. ``None`` otherwise.
        """
        chunk, start, end, cuts = piece
        if len(cuts) != 2:
            return None
        (first, after, ends), (second, _, ends_too) = cuts
        if not (ends and ends_too and second == end - 1 and after == first + 1):
            return None
        if end >= len(chunk) or chunk[first] != _LF or chunk[second] != _LF or chunk[end] != _LF:
            return None
        if not chunk.startswith(b"event: ", start) or first == start + 7 or not chunk.startswith(b"data: ", after):
            return None
        return ServerSentEvent._read(
            event=chunk[start + 7 : first].decode("utf-8", "replace"),
            buffer=chunk,
            start=after + 6,
            end=second,
            frame=(start, end + 1),
            id=self._id,
            retry=self._retry,
        )


def _lines(pieces: Sequence[_Piece]) -> list[list[memoryview]]:
    """The lines of a block, as views of the chunks they are in (cut where ``feed`` found their ends)."""
    lines: list[list[memoryview]] = []
    line: list[memoryview] = []
    for chunk, start, end, cuts in pieces:
        view = memoryview(chunk)
        pos = start
        for cut, after, ends_line in cuts:
            if cut > pos:
                line.append(view[pos:cut])
            if ends_line:
                lines.append(line)
                line = []
            pos = after
        if pos < end:
            line.append(view[pos:end])
    if line:  # pragma: no cover - a block handed here always ends with a line end
        lines.append(line)
    return lines


def _head(line: Sequence[memoryview], size: int) -> bytes:
    """The first ``size`` bytes of a line (fewer if it is shorter)."""
    found = b""
    for segment in line:
        found += bytes(segment[: size - len(found)])
        if len(found) >= size:
            break
    return found


def _drop(line: Sequence[memoryview], count: int) -> list[memoryview]:
    """A line without its first ``count`` bytes."""
    kept: list[memoryview] = []
    for segment in line:
        if count >= len(segment):
            count -= len(segment)
            continue
        kept.append(segment[count:] if count else segment)
        count = 0
    return kept


def encode_event(event: str, data: bytes | str) -> bytes:
    """One SSE block: ``event: <name>``, one ``data:`` line per line of ``data``, a blank line."""
    payload = data.encode() if isinstance(data, str) else data
    if b"\n" not in payload and b"\r" not in payload:  # one JSON document on one line: the usual case
        return b"".join((b"event: ", event.encode(), b"\ndata: ", payload, b"\n\n"))
    lines: Iterable[bytes] = payload.splitlines() or [b""]
    return b"event: " + event.encode() + b"\n" + b"".join(b"data: " + line + b"\n" for line in lines) + b"\n"
