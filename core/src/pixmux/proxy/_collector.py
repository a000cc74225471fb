"""
Keep Python's cyclic garbage collector from costing more per request as more requests are in flight.

Every request allocates a few hundred container objects (coroutine frames, dicts, headers, the
router's and the engine's values) and frees nearly all of them by reference counting. The
collector runs a young collection whenever allocations outnumber deallocations by its first
threshold (700 by default). With 256 requests in flight the event loop handles their steps in
large batches, and that count swings by thousands within one turn of the loop: young collections
came more often than at 16 clients, found hundreds of requests' live objects each time, promoted
them to the older generations and so brought on full collections, each of which walked every
object the gateway's imports and configuration had built (about 55,000). At 256 clients the
collector took 0.10-0.15 ms of CPU per request, against 0.05 ms at 16 or 64: most of why CPU per
request rose with the client count (``bench/README.md``, "The gateway at 256 clients").

So the gateway process, once its app is built and before it serves:

- moves every object that exists then into the permanent generation (:func:`gc.freeze`): they
  live as long as the process, and full collections no longer walk them;
- raises the first threshold to :data:`YOUNG_THRESHOLD`: a young collection then waits for a
  real surplus of allocations (garbage in reference cycles), not for one batch's swing.

Only in the gateway's own process (``pixmux serve`` and each of its workers), never on
``import pixmux``. Garbage in reference cycles is still collected, after at most
:data:`YOUNG_THRESHOLD` surplus allocations instead of 700; the resident size under load did not
grow (``bench/gateway.py`` measures it).
"""

from __future__ import annotations

import gc

__all__ = ["YOUNG_THRESHOLD", "tune_collector"]

#: Surplus allocations of container objects between two young collections (Python's default: 700).
YOUNG_THRESHOLD = 50_000


def tune_collector() -> None:
    """Collect once, freeze what exists (start-up's objects) and raise the young-generation threshold."""
    gc.collect()  # what start-up left as garbage is not frozen with the rest
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
