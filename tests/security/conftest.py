"""Puts ``tests/gateway`` on ``sys.path`` too: the security tests use its gateway helpers and fixtures."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "gateway"))

from gateway_support import provider_server

__all__ = ["provider_server"]
