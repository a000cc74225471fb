"""Puts ``tests/gateway`` on ``sys.path`` too: the security tests use its gateway helpers."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "gateway"))
