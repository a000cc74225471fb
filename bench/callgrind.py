"""
Counting instructions with valgrind's callgrind, for the benchmarks that report them.

Two ways are used. A whole run (:func:`counted_run`): a Python script runs under callgrind from
start to end and the count is what callgrind prints at exit ("Collected"); the benchmarks run a
short and a long batch and divide the difference, so that start-up cancels out. A server under
callgrind (:func:`control`, :func:`dump_total`): its counters are zeroed and dumped around the
requests being measured (``callgrind_control``), and each dump's total is read.

Instructions leave out the kernel's work and cache misses: they compare versions of the same
code on a busy machine, where timed figures move with the load.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["available", "counted_run", "control", "dump_total", "wait_for_dump"]

_TOTAL = re.compile(r"^(?:summary|totals):\s+(\d+)", re.MULTILINE)


def available() -> bool:
    """Whether valgrind and callgrind_control are installed."""
    return shutil.which("valgrind") is not None and shutil.which("callgrind_control") is not None


def counted_run(script_args: Sequence[str], *, what: str, cwd: Path | None = None) -> int:
    """
    Instructions callgrind counted for ``python script_args...``, run whole under it.

    Raises:
        RuntimeError: the run failed or callgrind printed no count (``what`` names the run, with the
            end of its standard error).
    """
    with tempfile.TemporaryDirectory() as scratch:
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={scratch}/out", sys.executable, *script_args],
            capture_output=True,
            text=True,
            check=False,
            cwd=cwd,
        )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"{what}: the counted run failed:\n{done.stderr[-3000:]}")
    return int(found.group(1))


def control(pid: int, *command: str) -> None:
    """Tell the callgrind run of process ``pid`` to do ``command`` (``-z`` zero, ``-d`` dump, ``-i on``...)."""
    subprocess.run(["callgrind_control", *command, str(pid)], check=True, capture_output=True, timeout=120)


def dump_total(dump: Path) -> int:
    """The instructions a callgrind dump counted (its ``summary:`` or ``totals:`` line)."""
    found = _TOTAL.search(dump.read_text(errors="replace"))
    if found is None:
        raise RuntimeError(f"no callgrind total in {dump}")
    return int(found.group(1))


def wait_for_dump(dump: Path, timeout: float = 10.0) -> int:
    """:func:`dump_total` once callgrind has finished writing ``dump`` (a dump is written after the request for it)."""
    deadline = time.monotonic() + timeout
    while True:
        if dump.exists() and _TOTAL.search(dump.read_text(errors="replace")):
            return dump_total(dump)
        if time.monotonic() > deadline:
            raise RuntimeError(f"callgrind wrote no total to {dump} within {timeout:g}s")
        time.sleep(0.1)
