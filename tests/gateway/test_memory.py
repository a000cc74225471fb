"""The gateway process keeps freed image buffers (glibc's thresholds), unless the operator set them."""

from __future__ import annotations

import platform

import pytest
from pixmux.proxy import _memory


def test_keep_freed_memory_leaves_an_operators_malloc_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """A MALLOC_* threshold in the environment is the operator's choice: nothing is changed."""
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")

    assert _memory.keep_freed_memory() is False


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's mallopt only")
def test_keep_freed_memory_sets_the_thresholds_on_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    """On glibc both thresholds are accepted."""
    for name in _memory._OPERATOR_SETTINGS:
        monkeypatch.delenv(name, raising=False)

    assert _memory.keep_freed_memory() is True


def test_keep_freed_memory_does_nothing_off_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    """Elsewhere (musl, macOS, Windows) the allocator is left alone."""
    monkeypatch.setattr(platform, "libc_ver", lambda: ("", ""))

    assert _memory.keep_freed_memory() is False
