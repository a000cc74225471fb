"""
The spend journal: each gateway process appends what it owes the database to a local file.

Spend rows are written to the database in batches, off the request path. So that a killed
process or a lost database loses nothing, every reservation and every finished request is
first appended to the process's current *segment* (one JSON line, one ``write`` call, before
the answer is sent). The batch writer rotates segments and deletes one once its rows are in the
database. At start, segments left by dead processes (their file lock is free) are replayed:
rows already in the database are skipped, reservations that never finished are given back.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from pixmux.proxy.store.database import Settlement

if sys.platform != "win32":
    import fcntl

__all__ = ["Segment", "SpendJournal", "Leftovers"]

logger = logging.getLogger("pixmux.proxy.spend")
_FIELDS = [field.name for field in attrs.fields(Settlement)]


def _lock(fd: int, *, wait: bool) -> bool:
    if sys.platform == "win32":  # no flock: no protection against replaying a live process's segment
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


class Segment:
    """One journal file, locked by this process while it lives, and the settlements written to it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        _lock(self.fd, wait=True)
        self.settlements: list[Settlement] = []

    def append(self, line: bytes) -> None:
        os.write(self.fd, line)

    def remove(self) -> None:
        """Delete the file (its rows are in the database) and release the lock."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        os.close(self.fd)

    def close(self) -> None:
        """Release the lock and keep the file (its rows are not in the database yet)."""
        os.close(self.fd)


@attrs.frozen
class Leftovers:
    """What dead processes' segments hold: finished requests, and reservations never settled."""

    paths: list[Path]
    settlements: list[Settlement]
    releases: list[str]
    fds: list[int] = attrs.field(factory=list, repr=False)

    def done(self) -> None:
        for path in self.paths:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        self.release_locks()

    def release_locks(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds.clear()


class SpendJournal:
    """The segments of one process in ``folder`` (``spend-<pid>-<time>-<n>.jsonl``)."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self._count = 0
        self.current: Segment | None = None
        #: Reservations whose requests have not finished: copied into each new segment, so that
        #: deleting a written segment never loses one (a crash gives them back at replay).
        self.open_reservations: dict[str, tuple[str, str | None, int]] = {}

    def open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.current = self._new()

    def _new(self) -> Segment:
        self._count += 1
        name = f"spend-{os.getpid()}-{time.time_ns()}-{self._count}.jsonl"
        segment = Segment(self.folder / name)
        if self.open_reservations:
            segment.append(
                b"".join(_reservation_line(request_id, *owner) for request_id, owner in self.open_reservations.items())
            )
        return segment

    def rotate(self) -> Segment:
        """Start a new segment; returns the one just finished."""
        assert self.current is not None
        finished, self.current = self.current, self._new()
        return finished

    def reserving(self, request_id: str, token: str, team_id: str | None, amount: int) -> None:
        """
        Note a reservation about to be asked of the database. At replay, one whose request never
        finished is given back if the database holds it (``pixmux_reservations``).
        """
        assert self.current is not None
        self.open_reservations[request_id] = (token, team_id, amount)
        self.current.append(_reservation_line(request_id, token, team_id, amount))

    def refused(self, request_id: str) -> None:
        """The reservation was not made (over budget, database lost): nothing to give back."""
        self.open_reservations.pop(request_id, None)

    def finished(self, settlement: Settlement) -> None:
        """Note a finished request; the batch writer will store it."""
        assert self.current is not None
        if settlement.reserved:
            self.open_reservations.pop(settlement.request_id, None)
        row = [getattr(settlement, name) for name in _FIELDS]
        self.current.append(json.dumps({"s": row}, separators=(",", ":")).encode() + b"\n")
        self.current.settlements.append(settlement)

    def leftovers(self) -> Leftovers:
        """Read (and lock) every segment no live process holds: what an earlier run left unwritten."""
        paths: list[Path] = []
        fds: list[int] = []
        settled: dict[str, Settlement] = {}
        reserved: set[str] = set()
        own = self.current.path if self.current is not None else None
        for path in sorted(self.folder.glob("spend-*.jsonl")) if self.folder.is_dir() else ():
            if path == own:
                continue
            try:
                fd = os.open(path, os.O_RDWR)
            except FileNotFoundError:
                continue
            if not _lock(fd, wait=False):
                os.close(fd)
                continue
            fds.append(fd)
            paths.append(path)
            for record in _records(path):
                if "s" in record:
                    # a line written before a field was added has fewer values: the rest keep their defaults
                    settlement = Settlement(**dict(zip(_FIELDS, record["s"], strict=False)))
                    settled[settlement.request_id] = settlement
                elif "r" in record:
                    reserved.add(str(record["r"][0]))
        releases = sorted(request_id for request_id in reserved if request_id not in settled)
        return Leftovers(paths=paths, settlements=list(settled.values()), releases=releases, fds=fds)


def _reservation_line(request_id: str, token: str, team_id: str | None, amount: int) -> bytes:
    return json.dumps({"r": [request_id, token, team_id, amount]}, separators=(",", ":")).encode() + b"\n"


def _records(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            try:
                record = json.loads(line)
            except ValueError:  # a line cut short by a kill: that request was never answered
                logger.warning("%s: line %d is incomplete; skipped", path.name, number)
                continue
            if isinstance(record, dict):
                yield record
