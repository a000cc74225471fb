"""The router's own state stays bounded (issue 14), and the in-process store's per-key windows and budgets."""

from __future__ import annotations

import pytest
from core_support import Clock
from pixmux import Router
from pixmux.state import LocalState
from pixmux.state._local import WINDOW

CALLS = 100_000


def test_router_state_stays_bounded_over_100000_calls_without_rpm() -> None:
    """100,000 calls a second apart on deployments without rpm: no record holds more than one window."""
    clock = Clock()
    router = Router(
        [
            {"model_name": "img", "litellm_params": {"model": "openai/gpt-image-1", "mock_response": True}},
            {"model_name": "img", "litellm_params": {"model": "openai/gpt-image-1", "mock_response": True}},
        ],
        clock=clock,
    )
    largest = 0
    for call in range(CALLS):
        router.image_generation("an otter", "img")
        clock.now += 1.0
        if call % 1000 == 0:
            largest = max(largest, *(len(state.usage) + len(state.failures) for state in router._health.values()))

    assert largest <= WINDOW + 1  # one record a call used to stay forever: 50,000 per deployment here
    assert sum(state.successes for state in router._health.values()) == CALLS


def test_local_windows_forget_idle_names_and_count_exactly() -> None:
    """Per-key windows: the limit holds within a window, frees after it, and idle names are swept away."""
    clock = Clock()
    state = LocalState(clock=clock)

    answers = [state.window_take("team-a", units=1, limit=3).allowed for _ in range(5)]
    clock.now += WINDOW + 1
    again = state.window_take("team-a", units=1, limit=3)
    for index in range(1000):
        state.window_take(f"key-{index}", units=1, limit=10)
        clock.now += 1.0

    assert answers == [True, True, True, False, False]
    assert again.allowed
    assert again.used == 1
    assert state.sizes()[0] <= WINDOW + 2  # names idle for a window are gone


def test_local_budget_reservations_hold_against_the_limit_and_release() -> None:
    """A reservation that does not fit is refused; released amounts free the budget; nothing held is forgotten."""
    state = LocalState()

    held = [state.reserve("team-a", amount=0.04, limit=0.1) for _ in range(3)]
    state.release("team-a", amount=0.04)
    state.release("team-a", amount=0.04)

    assert held == [True, True, False]
    assert state.held("team-a") == pytest.approx(0.0)
    assert state.sizes() == (0, 0)
