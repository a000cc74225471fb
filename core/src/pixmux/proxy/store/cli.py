"""
Operators' commands for keys and spend, straight on the database (no gateway needs to run).

::

    pixmux keys create --config config.yaml --models img --max-budget 5 --budget-duration 30d
    pixmux keys list   --config config.yaml
    pixmux keys revoke --config config.yaml sk-...        # the key, its hash or its alias
    pixmux spend       --config config.yaml --group-by day,model [--start-date 2026-12-01]
    pixmux db upgrade  --config config.yaml               # or --database-url postgresql://...

The database is the config's (``general_settings.database_url``, ``DATABASE_URL``, or the
SQLite file beside the config), or ``--database-url``. A new key is printed once, on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

__all__ = ["main"]


class _Usage(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _Usage(f"{self.prog}: {message}")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pixmux", description="Manage the gateway's virtual keys, spend and database.")
    commands = parser.add_subparsers(dest="command", required=True)
    where = _Parser(add_help=False)
    where.add_argument("--config", help="the gateway's config (its database_url, or the SQLite file beside it)")
    where.add_argument("--database-url", help="the database, instead of the config's")

    keys = commands.add_parser("keys", help="create, list and revoke virtual keys")
    actions = keys.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", parents=[where], help="create a key; prints it once")
    create.add_argument("--models", help="comma-separated model names the key may use (default: all)")
    create.add_argument("--max-budget", type=float, help="US dollars")
    create.add_argument("--budget-duration", help="how often the budget resets: 30s, 1h, 1d, 30d, 1mo")
    create.add_argument("--duration", help="the key expires after this long (default: never)")
    create.add_argument("--alias", dest="key_alias")
    create.add_argument("--user-id")
    create.add_argument("--team-id")
    create.add_argument("--rpm", dest="rpm_limit", type=int, help="requests per minute")
    create.add_argument("--ipm", dest="ipm_limit", type=int, help="images per minute")
    create.add_argument("--metadata", help="a JSON object")
    create.add_argument("--json", action="store_true", help="print the whole answer as JSON")
    listing = actions.add_parser("list", parents=[where], help="list keys (hashes and names, never the keys)")
    listing.add_argument("--json", action="store_true")
    revoke = actions.add_parser("revoke", parents=[where], help="delete keys: give each key, its hash or its alias")
    revoke.add_argument("keys", nargs="+")

    spend = commands.add_parser("spend", parents=[where], help="spend per day, key and model")
    spend.add_argument("--group-by", default="day,api_key,model", help="any of day,api_key,model,team_id,user_id")
    spend.add_argument("--start-date", help="YYYY-MM-DD (UTC)")
    spend.add_argument("--end-date", help="YYYY-MM-DD (UTC, included)")
    spend.add_argument("--json", action="store_true")

    db = commands.add_parser("db", help="the accounting database")
    db_actions = db.add_subparsers(dest="action", required=True)
    db_actions.add_parser(
        "upgrade", parents=[where], help="apply the schema migrations (the gateway also does at start)"
    )
    return parser


def _database_url(ns: argparse.Namespace) -> str:
    if ns.database_url:
        return str(ns.database_url)
    if not ns.config:
        raise _Usage("pixmux: give --config FILE or --database-url URL")
    from pixmux.proxy.config import load_config

    config = load_config(ns.config)
    if config.accounting is None:
        raise _Usage(
            f"pixmux: {ns.config}: virtual keys are off (set general_settings.database_url or virtual_keys: true)"
        )
    return config.accounting.database_url


class _Offline:
    """What :class:`AdminRoutes` needs from a running gateway, for commands run without one."""

    def __init__(self, db: Any) -> None:
        self.db = db

    def invalidate(self, *tokens: str) -> None:
        return None

    async def flush(self) -> int:
        return 0


async def _run(ns: argparse.Namespace) -> int:  # noqa: PLR0915 - one branch per command, each short
    from pixmux.proxy.app import GatewayError
    from pixmux.proxy.store.admin import AdminRoutes, key_info
    from pixmux.proxy.store.database import Database

    db = Database(_database_url(ns))
    try:
        await db.check()
        await db.upgrade()
        if ns.command == "db":
            print(f"pixmux: database {db.host} is at the newest schema", file=sys.stderr)
            return 0
        admin = AdminRoutes(_Offline(db))  # type: ignore[arg-type]
        if ns.command == "keys" and ns.action == "create":
            body: dict[str, Any] = {
                name: getattr(ns, name)
                for name in (
                    "max_budget",
                    "budget_duration",
                    "duration",
                    "key_alias",
                    "user_id",
                    "team_id",
                    "rpm_limit",
                    "ipm_limit",
                )
                if getattr(ns, name) is not None
            }
            if ns.models:
                body["models"] = [m.strip() for m in ns.models.split(",") if m.strip()]
            if ns.metadata:
                try:
                    body["metadata"] = json.loads(ns.metadata)
                except ValueError as exc:
                    raise _Usage(f"pixmux: --metadata is not JSON: {exc}") from None
            try:
                created = await admin.generate(body)
            except GatewayError as exc:
                raise _Usage(f"pixmux keys create: {exc.message}") from None
            if ns.json:
                print(json.dumps(created, indent=2))
            else:
                print(created["key"])
                print(
                    f"pixmux: created {created['key_name']} (hash {created['token'][:12]}...); "
                    "the key is shown only now",
                    file=sys.stderr,
                )
            return 0
        if ns.command == "keys" and ns.action == "list":
            records, _ = await db.list_keys(page=1, size=100_000, user_id=None, team_id=None, key_alias=None)
            if ns.json:
                print(json.dumps([key_info(r) for r in records], indent=2))
                return 0
            for r in records:
                budget = "-" if r.max_budget is None else f"{r.max_budget / 1e9:.4f}"
                print(
                    f"{r.token[:12]}  {r.key_name:12}  {r.key_alias or '-':16}  spend {r.spend / 1e9:.4f}"
                    f"  budget {budget}  models {','.join(r.models) or '*'}"
                )
            return 0
        if ns.command == "keys" and ns.action == "revoke":
            from pixmux.proxy.store.accounting import hash_key

            tokens = [k if len(k) == 64 else hash_key(k) for k in ns.keys]
            deleted = await db.delete_keys(tokens, list(ns.keys))
            print(f"pixmux: revoked {len(deleted)} key(s)", file=sys.stderr)
            return 0 if deleted else 1
        if ns.command == "spend":
            from pixmux.proxy.store.admin import _dates

            try:
                start, end = _dates({k: v for k, v in (("start_date", ns.start_date), ("end_date", ns.end_date)) if v})
            except GatewayError as exc:
                raise _Usage(f"pixmux spend: {exc.message}") from None
            group_by = [g.strip() for g in ns.group_by.split(",") if g.strip()]
            for name in group_by:
                if name not in ("day", "api_key", "model", "team_id", "user_id", "provider", "deployment"):
                    raise _Usage(f"pixmux spend: --group-by: unknown grouping {name!r}")
            rows = await db.spend_report(group_by=group_by, start=start, end=end)
            if ns.json:
                print(json.dumps([{**r, "spend": int(r["spend"] or 0) / 1e9} for r in rows], indent=2))
                return 0
            for line in rows:
                label = "  ".join(str(line[g])[:16] if g == "api_key" else str(line[g]) for g in group_by)
                spent = int(line["spend"] or 0) / 1e9
                print(f"{label}  {spent:.4f} USD  {line['requests']} request(s)  {line['images']} image(s)")
            return 0
    finally:
        await db.close()
    return 2


def main(argv: Sequence[str]) -> int:
    """Run ``pixmux keys|spend|db ...``; returns the exit status (1: failed, 2: bad command line)."""
    from pixmux.exceptions import ConfigurationError
    from pixmux.proxy.store.database import DatabaseUnavailable

    try:
        ns = _parser().parse_args(list(argv))
        return asyncio.run(_run(ns))
    except _Usage as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except ConfigurationError as exc:
        print(f"pixmux: config error: {exc}", file=sys.stderr)
        return 2
    except DatabaseUnavailable as exc:
        print(f"pixmux: {exc}", file=sys.stderr)
        return 1
