"""Fixtures for the scale-out tests (helpers in scaleout_support.py, importable by every test here)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.append(str(Path(__file__).parent))  # appended: core tests import their own `conftest` by name

from scaleout_support import redis_server

__all__ = ["redis_server"]
