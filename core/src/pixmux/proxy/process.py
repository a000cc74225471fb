"""
What a config changes in the gateway's process: its environment and its logging.

``pixmux serve`` (and each worker of ``--workers N``) calls :func:`apply_process_settings` once
the config is loaded, before it serves:

- ``environment_variables`` are set in the process environment, as LiteLLM does, so libraries
  that read it themselves (google-auth's ``GOOGLE_APPLICATION_CREDENTIALS``, boto3's
  ``AWS_*``) see them too;
- ``litellm_settings.json_logs`` writes every log line as one JSON object;
- ``set_verbose`` (or ``router_settings.debug_level: DEBUG``) logs pixmux at debug level.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping, MutableMapping
from typing import Any

from pixmux.proxy.config import GatewayConfig

__all__ = ["JsonFormatter", "apply_process_settings"]


class JsonFormatter(logging.Formatter):
    """
    One JSON object per line: ``time``, ``level``, ``logger``, ``message`` (and ``exception``), and
    a request line's own fields (``method``, ``path``, ``model``, ``status``, ``duration_ms``,
    ``deployment``, ``request_id``, ``cost_usd``, ``key_alias``... see ``pixmux.proxy.telemetry``).
    """

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": os.getpid(),
        }
        fields = getattr(record, "pixmux", None)
        if isinstance(fields, Mapping):
            out.update(fields)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def apply_process_settings(
    config: GatewayConfig, *, environ: MutableMapping[str, str] | None = None, root: logging.Logger | None = None
) -> None:
    """Set the config's environment variables and logging in this process (``environ`` and ``root`` for tests)."""
    target = os.environ if environ is None else environ
    for name, value in config.environment.items():
        target[name] = value
    logger = logging.getLogger() if root is None else root
    if config.json_logs:
        for handler in logger.handlers:
            handler.setFormatter(JsonFormatter())
    if config.verbose:
        logging.getLogger("pixmux").setLevel(logging.DEBUG)
