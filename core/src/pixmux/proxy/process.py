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
import sys
import time
from collections.abc import Mapping, MutableMapping
from typing import Any

from pixmux.proxy.config import GatewayConfig

__all__ = ["LOG_LEVEL_ENV", "JsonFormatter", "apply_process_settings", "configure_logging"]

#: How ``pixmux serve --workers N`` tells each worker its ``--log-level``: a worker is a fresh
#: interpreter, which inherits the environment but not the parent's logging set-up.
LOG_LEVEL_ENV = "PIXMUX_LOG_LEVEL"


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


def configure_logging(level: str) -> None:
    """
    Log to stderr at ``level`` (``debug``, ``info``, ``warning`` or ``error``) in the gateway's line format.

    ``pixmux serve`` calls it in its own process, and each worker of ``--workers N`` again in
    :func:`pixmux.proxy.app.app_from_env`, so that workers write their request lines too.
    """
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # The format above shows no thread, process or source line: do not gather them for every
    # request's log record (the "Optimization" advice of the logging documentation).
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None


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
