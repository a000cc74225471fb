"""
The gateway's scale-out settings: shared state on Redis, ``/metrics``, traces and JSON logs.

::

    router_settings:                 # LiteLLM's keys: an existing LiteLLM config switches sharing on
      redis_host: os.environ/REDIS_HOST
      redis_port: 6379
      redis_password: os.environ/REDIS_PASSWORD
      # or redis_url: redis://:password@host:6379/0
    general_settings:
      redis_url: os.environ/REDIS_URL    # the same, as a pixmux key (wins over router_settings)
      shared_state:
        on_redis_error: open             # open: go on with this process's state; closed: answer 503
        redis_timeout: 0.1               # seconds one Redis step may take
        key_prefix: pixmux               # several gateways sharing one Redis use different prefixes
        cooldown_refresh: 0.05           # seconds a read of the cooldowns serves deployments without rpm
      metrics: true                      # GET /metrics (Prometheus), behind the master key
      tracing: true                      # OpenTelemetry spans over OTLP (OTEL_* variables)
    litellm_settings:
      json_logs: true                    # one JSON object per log line (requests: with cost, key alias)

Every problem is a :class:`~pixmux.proxy.config.ConfigError` naming the place in the file.
"""

from __future__ import annotations

import math
import urllib.parse
from collections.abc import Mapping
from typing import Any

import attrs

from pixmux.exceptions import ConfigurationError
from pixmux.state import SharedState

__all__ = ["SCALEOUT_GENERAL_KEYS", "REDIS_ROUTER_KEYS", "Scaleout", "read_scaleout"]

#: ``general_settings`` keys this module reads.
SCALEOUT_GENERAL_KEYS = ("redis_url", "shared_state", "metrics", "tracing")
#: ``router_settings`` keys (LiteLLM's) that switch Redis sharing on; they never reach the router.
REDIS_ROUTER_KEYS = ("redis_host", "redis_port", "redis_password", "redis_url", "redis_db")
_SHARED_STATE_KEYS = ("on_redis_error", "redis_timeout", "key_prefix", "rate_window", "cooldown_refresh")


@attrs.frozen(kw_only=True)
class Scaleout:
    """
    What the scale-out settings ask for.

    Attributes:
        state: the shared store, or ``None`` (this process only).
        router_settings: ``router_settings`` without the Redis keys.
        metrics: serve ``GET /metrics``.
        tracing: export OpenTelemetry spans.
        json_logs: write each request's log line as one JSON object (``litellm_settings.json_logs``).
        secrets: the Redis password (and any URL carrying one), to scrub from messages.
    """

    state: SharedState | None = None
    router_settings: Mapping[str, Any] = attrs.field(factory=dict)
    metrics: bool = False
    tracing: bool = False
    json_logs: bool = False
    secrets: frozenset[str] = attrs.field(default=frozenset(), repr=False)

    @property
    def telemetry(self) -> dict[str, bool]:
        """The keywords of :class:`pixmux.proxy.telemetry.Telemetry`."""
        return {"metrics": self.metrics, "tracing": self.tracing, "json_logs": self.json_logs}


class _Problem(ConfigurationError):
    pass


def _flag(general: Mapping[str, Any], key: str) -> bool:
    value = general.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _Problem(f"general_settings.{key}: expected true or false, got {type(value).__name__}", param=key)
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Problem(f"{where}: expected a non-empty string, got {type(value).__name__}", param=where)
    return value.strip()


def _seconds(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise _Problem(f"{where}: expected a number of seconds above 0, got {value!r}", param=where)
    return float(value)


def _redis_url(value: Any, where: str) -> str:
    url = _text(value, where)
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix") or (parts.scheme != "unix" and not parts.hostname):
        raise _Problem(f"{where}: expected redis://[:password@]host[:port][/db] (or rediss://, unix://)", param=where)
    return url


def read_scaleout(
    general: Mapping[str, Any], router_settings: Mapping[str, Any], *, path: str, json_logs: bool = False
) -> Scaleout:
    """
    Read the scale-out settings of a checked config.

    Raises:
        ConfigurationError: a setting has the wrong type, or Redis is asked for without the
            ``pixmux[redis]`` extra; the message names ``path`` and the place in the file.
    """
    from pixmux.proxy.config import ConfigError

    try:
        return attrs.evolve(_read(general, router_settings), json_logs=json_logs)
    except _Problem as problem:
        raise ConfigError(f"{path}: {problem.message}", param=problem.param) from None


def _read(general: Mapping[str, Any], router_settings: Mapping[str, Any]) -> Scaleout:
    remaining = {k: v for k, v in router_settings.items() if k not in REDIS_ROUTER_KEYS}
    secrets: set[str] = set()
    options = general.get("shared_state") or {}
    if not isinstance(options, Mapping):
        raise _Problem(f"general_settings.shared_state: expected a mapping, got {type(options).__name__}")
    for key in options:
        if key not in _SHARED_STATE_KEYS:
            raise _Problem(
                f"general_settings.shared_state.{key}: unknown key; expected one of: {', '.join(_SHARED_STATE_KEYS)}",
                param=f"general_settings.shared_state.{key}",
            )
    url: str | None = None
    host: str | None = None
    port = 6379
    db = 0
    password: str | None = None
    if general.get("redis_url") is not None:
        url = _redis_url(general["redis_url"], "general_settings.redis_url")
    elif router_settings.get("redis_url") is not None:
        url = _redis_url(router_settings["redis_url"], "router_settings.redis_url")
    elif router_settings.get("redis_host") is not None:
        host = _text(router_settings["redis_host"], "router_settings.redis_host")
        raw_port = router_settings.get("redis_port", 6379)
        if isinstance(raw_port, str) and raw_port.strip().isdigit():
            raw_port = int(raw_port)  # from os.environ/REDIS_PORT
        if isinstance(raw_port, bool) or not isinstance(raw_port, int) or not 0 < raw_port < 65536:
            raise _Problem(f"router_settings.redis_port: expected a port number, got {raw_port!r}", param="redis_port")
        port = raw_port
        raw_db = router_settings.get("redis_db", 0)
        if isinstance(raw_db, str) and raw_db.strip().isdigit():
            raw_db = int(raw_db)
        if isinstance(raw_db, bool) or not isinstance(raw_db, int) or raw_db < 0:
            raise _Problem(f"router_settings.redis_db: expected a database number, got {raw_db!r}", param="redis_db")
        db = raw_db
        if router_settings.get("redis_password") is not None:
            password = _text(router_settings["redis_password"], "router_settings.redis_password")
    if url is not None:
        found = urllib.parse.urlsplit(url).password
        if found:
            secrets.update({found, urllib.parse.unquote(found)})
    if password:
        secrets.add(password)
    state: SharedState | None = None
    if url is not None or host is not None:
        state = _redis_state(url, host, port, db, password=password, options=options)
    elif options:
        raise _Problem(
            "general_settings.shared_state: set, but no Redis is named "
            "(general_settings.redis_url, router_settings.redis_url or router_settings.redis_host)",
            param="general_settings.shared_state",
        )
    return Scaleout(
        state=state,
        router_settings=remaining,
        metrics=_flag(general, "metrics"),
        tracing=_flag(general, "tracing"),
        secrets=frozenset(secrets),
    )


def _redis_state(
    url: str | None, host: str | None, port: int, db: int, *, password: str | None, options: Mapping[str, Any]
) -> SharedState:
    on_error = options.get("on_redis_error", "open")
    if on_error not in ("open", "closed"):
        raise _Problem(
            f"general_settings.shared_state.on_redis_error: expected open or closed, got {on_error!r}",
            param="general_settings.shared_state.on_redis_error",
        )
    where = "general_settings.shared_state"
    timeout = _seconds(options.get("redis_timeout", 0.1), f"{where}.redis_timeout")
    window = _seconds(options.get("rate_window", 60), f"{where}.rate_window")
    refresh = options.get("cooldown_refresh", 0.05)
    if refresh != 0:
        refresh = _seconds(refresh, f"{where}.cooldown_refresh")
    prefix = _text(options.get("key_prefix", "pixmux"), f"{where}.key_prefix")
    if "{" in prefix or "}" in prefix:
        raise _Problem(f"{where}.key_prefix: must not contain braces (Redis Cluster hash tags)", param=where)
    try:
        from pixmux.state.redis_store import RedisState
    except ImportError:
        raise _Problem(
            "Redis shared state is configured, but the redis extra is not installed: pip install 'pixmux[redis]'",
            param="redis",
        ) from None
    return RedisState(
        url,
        host=host,
        port=port,
        db=db,
        password=password,
        key_prefix=prefix,
        timeout=timeout,
        on_error=on_error,
        window=window,
        refresh=float(refresh),
    )
