"""
Keep glibc's allocator from handing multi-megabyte buffers back to the kernel after every request.

A base64 image response passes through several buffers of its own size (the provider's body,
the image string, the JSON written to the client), each allocated and freed within one request.
glibc serves blocks above ``M_MMAP_THRESHOLD`` with ``mmap`` and gives the heap's free top back
once it exceeds ``M_TRIM_THRESHOLD``; its own adaptive thresholds settle near the size of one
image, so with requests in flight the gateway kept unmapping and refaulting pages (about 250
page faults, a fifth of a millisecond of kernel time, per 1.5 MB image). Raised thresholds keep
freed blocks in the heap for the next request: the resident size after b64 load is what that
load needed (up to about 150 MB with 64 clients sending 1.5 MB images), and it does not grow
with the number of requests.

Only for glibc, only in the gateway's own process (never on ``import pixmux``), and never over
a ``MALLOC_*`` setting the operator made in the environment.
"""

from __future__ import annotations

import os
import platform

__all__ = ["keep_freed_memory", "MMAP_THRESHOLD", "TRIM_THRESHOLD"]

#: Blocks smaller than this come from the heap (32 MiB is glibc's largest accepted value on 64-bit).
MMAP_THRESHOLD = 32 * 1024 * 1024
#: Free memory at the top of the heap beyond this is returned to the kernel.
TRIM_THRESHOLD = 128 * 1024 * 1024
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_OPERATOR_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")


def keep_freed_memory() -> bool:
    """
    Raise glibc's mmap and trim thresholds for this process; returns whether they were set.

    Does nothing (and returns ``False``) off glibc, or when the environment already sets one of
    glibc's ``MALLOC_*`` thresholds.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    if any(name in os.environ for name in _OPERATOR_SETTINGS):
        return False
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # pragma: no cover - a glibc without mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success; setting the mmap threshold also stops glibc adapting it.
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
