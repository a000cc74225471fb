"""Fixtures for the gateway tests (the helpers live in gateway_support.py, importable by every test here)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from edits_support import recorder
from gateway_support import (
    client,
    error_schema,
    gateway,
    images_schema,
    live_gateway,
    provider_server,
)

__all__ = ["client", "error_schema", "gateway", "images_schema", "live_gateway", "provider_server", "recorder"]
