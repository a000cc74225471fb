"""
The gateway's accounting settings (``general_settings``): which database, how spend is kept.

Pure parsing, no database import: ``pixmux.proxy.config`` reads these keys with the rest of
the file. Accounting (virtual keys, budgets, spend) is on when a database is named
(``database_url`` or the ``DATABASE_URL`` environment variable) or ``virtual_keys: true`` asks
for it; SQLite beside the config file is then the default.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs

from pixmux.exceptions import ConfigurationError

__all__ = [
    "ACCOUNTING_KEYS",
    "AccountingSettings",
    "accounting_settings",
    "database_host",
    "parse_duration",
    "safe_url",
    "DEFAULT_SQLITE_NAME",
]

#: The ``general_settings`` keys this module reads (LiteLLM's names where LiteLLM has one).
ACCOUNTING_KEYS = (
    "database_url",
    "virtual_keys",
    "store_prompts",
    "store_prompts_in_spend_logs",
    "disable_spend_logs",
    "maximum_spend_logs_retention_period",
    "allow_requests_on_db_unavailable",
    "proxy_batch_write_at",
    "key_cache_ttl",
    "spend_journal_dir",
    "budget_blocks",
)
DEFAULT_SQLITE_NAME = "pixmux.db"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w|mo|y)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "mo": 30 * 86400, "y": 365 * 86400}


def parse_duration(text: object) -> float:
    """
    Seconds in a LiteLLM duration: ``"30s"``, ``"15m"``, ``"1h"``, ``"30d"``, ``"1w"``, ``"1mo"`` (30 days), ``"1y"``.

    Raises:
        ValueError: naming what was expected.
    """
    if not isinstance(text, str):
        raise ValueError(f"expected a duration such as '30d' or '1h', got {type(text).__name__}")
    match = _DURATION.match(text)
    if match is None or float(match.group(1)) <= 0:
        raise ValueError(f"expected a duration such as '30s', '15m', '1h', '30d', '1mo', got {text!r}")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def safe_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return parts._replace(netloc=f"{user}:***@{netloc}").geturl()


def database_host(url: str) -> str:
    """What to name when the database cannot be reached: ``host:port`` for a server, the path for SQLite."""
    parts = urlsplit(url)
    if parts.scheme.startswith("sqlite"):
        return parts.path[1:] or ":memory:"
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or "localhost"
    return f"{host}:{port}" if port else host


@attrs.frozen(kw_only=True)
class AccountingSettings:
    """
    How the gateway keeps virtual keys, budgets and spend.

    Attributes:
        database_url: SQLAlchemy-style or LiteLLM-style URL (``postgresql://...``, ``sqlite:///file.db``).
        store_prompts: keep each request's prompt in its spend row.
        spend_logs: write one spend row per request (``disable_spend_logs: true`` turns it off;
            spend totals per key and team are kept either way).
        retention_seconds: spend rows older than this are deleted (``None``: kept forever).
        fail_open: when the database is lost, serve keys already known with local accounting
            instead of answering 503.
        batch_seconds: how often queued spend rows are written.
        cache_ttl: how long a key read from the database is trusted before it is read again.
        journal_dir: where each process appends its not-yet-written spend rows (survives a kill).
        budget_blocks: reserve budgets in blocks held by each process
            (:mod:`pixmux.proxy.store.blocks`); ``False``: one database reservation per request.
    """

    database_url: str = attrs.field(repr=safe_url)
    store_prompts: bool = False
    spend_logs: bool = True
    retention_seconds: float | None = None
    fail_open: bool = False
    batch_seconds: float = 1.0
    cache_ttl: float = 5.0
    journal_dir: str = ""
    budget_blocks: bool = True

    @property
    def host(self) -> str:
        """The database's host (or SQLite file), never the password."""
        return database_host(self.database_url)


def _fail(path: str, key: str, what: str) -> ConfigurationError:
    from pixmux.proxy.config import ConfigError

    where = f"general_settings.{key}"
    return ConfigError(f"{path}: {where}: {what}", param=where)


def _bool(general: Mapping[str, Any], key: str, path: str, default: bool) -> bool:
    value = general.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _fail(path, key, f"expected true or false, got {type(value).__name__}")
    return value


def _seconds(general: Mapping[str, Any], key: str, path: str, default: float) -> float:
    value = general.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise _fail(path, key, f"expected a number of seconds above 0, got {value!r}")
    return float(value)


def accounting_settings(
    general: Mapping[str, Any], *, path: str, environ: Mapping[str, str]
) -> AccountingSettings | None:
    """
    The accounting settings in ``general_settings``, or ``None`` when accounting is off.

    Raises:
        ConfigError: a setting has the wrong type or value; the message names it.
    """
    url = general.get("database_url")
    if url is None:
        url = environ.get("DATABASE_URL") or None
    if not _bool(general, "virtual_keys", path, default=url is not None):
        return None
    if not general.get("master_key"):
        raise _fail(
            path,
            "master_key",
            "required when virtual keys are on (database_url or virtual_keys): it guards the /key routes",
        )
    base = Path(path).resolve().parent if path and not path.startswith("<") else Path.cwd()
    if url is None:
        url = f"sqlite:///{base / DEFAULT_SQLITE_NAME}"
    if not isinstance(url, str) or not url.strip():
        raise _fail(path, "database_url", "expected a URL such as postgresql://user:pass@host/db or sqlite:///file.db")
    scheme = urlsplit(url).scheme.split("+", 1)[0]
    if scheme not in ("postgresql", "postgres", "sqlite"):
        raise _fail(
            path,
            "database_url",
            f"unsupported database {scheme or safe_url(url)!r}; expected postgresql:// or sqlite://",
        )
    retention = general.get("maximum_spend_logs_retention_period")
    retention_seconds = None
    if retention is not None:
        try:
            retention_seconds = parse_duration(retention)
        except ValueError as exc:
            raise _fail(path, "maximum_spend_logs_retention_period", str(exc)) from None
    journal = general.get("spend_journal_dir")
    if journal is not None and (not isinstance(journal, str) or not journal.strip()):
        raise _fail(path, "spend_journal_dir", "expected a directory path")
    if journal is None:
        sqlite_file = _sqlite_path(url)
        folder = sqlite_file.parent if sqlite_file is not None else base
        journal = str(folder / ".pixmux-spend")
    return AccountingSettings(
        database_url=url,
        store_prompts=_bool(general, "store_prompts", path, default=False)
        or _bool(general, "store_prompts_in_spend_logs", path, default=False),
        spend_logs=not _bool(general, "disable_spend_logs", path, default=False),
        retention_seconds=retention_seconds,
        fail_open=_bool(general, "allow_requests_on_db_unavailable", path, default=False),
        batch_seconds=_seconds(general, "proxy_batch_write_at", path, 1.0),
        cache_ttl=_seconds(general, "key_cache_ttl", path, 5.0),
        journal_dir=str(Path(journal).expanduser()),
        budget_blocks=_bool(general, "budget_blocks", path, default=True),
    )


def _sqlite_path(url: str) -> Path | None:
    parts = urlsplit(url)
    if not parts.scheme.startswith("sqlite") or parts.path in ("", "/", "/:memory:"):
        return None
    return Path(parts.path[1:])
