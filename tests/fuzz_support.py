"""
Hypothesis settings for the robustness tests.

CI runs a small search with fixed examples: the same inputs each run, so a failure reproduces.
``PIXMUX_FUZZ_EXAMPLES=2000`` runs a deeper, randomized search locally.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

DEEP = os.environ.get("PIXMUX_FUZZ_EXAMPLES")


def examples(default: int) -> int:
    """``default`` examples, or ``PIXMUX_FUZZ_EXAMPLES`` of them when it is set."""
    return int(DEEP or default)


def fuzz(default_examples: int, *suppress: HealthCheck) -> settings:
    """
    A robustness test's settings: no deadline, no example database.

    The ``too_slow`` health check is not reported, and neither is any check in ``suppress``.
    """
    return settings(
        max_examples=examples(default_examples),
        derandomize=DEEP is None,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, *suppress],
    )
