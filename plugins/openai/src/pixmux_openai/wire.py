"""
OpenAI's Images API wire format: moved to :mod:`pixmux.dialects.openai`, re-exported here.

Third-party plugins that import ``pixmux_openai.wire`` keep working; new code imports
``pixmux.dialects.openai`` and depends on ``pixmux`` alone.
"""

from __future__ import annotations

from pixmux.dialects.openai import (
    CONTENT_POLICY_CODES,
    as_data_urls,
    build_body,
    error_for,
    parse_images,
    post_json,
)

__all__ = ["build_body", "post_json", "parse_images", "error_for", "as_data_urls", "CONTENT_POLICY_CODES"]
