"""
The admin routes, shaped like LiteLLM's so that scripts written for its key API keep working.

``/key/generate``, ``/key/info``, ``/key/update``, ``/key/delete``, ``/key/list``,
``/key/regenerate`` (and ``/key/{key}/regenerate``), ``/team/new``, ``/team/info``,
``/team/update``, ``/team/delete``, ``/team/list``, ``/spend/logs`` and the report
``/spend/report`` (also ``/global/spend/report``). All need the master key, except
``/key/info`` for the caller's own key. A malformed body is a 400 naming the field.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from sqlalchemy.exc import DBAPIError

from pixmux.proxy.app import GatewayError
from pixmux.proxy.encode import encode_json
from pixmux.proxy.store.database import _UNAVAILABLE, Conflict, KeyRecord, TeamRecord
from pixmux.proxy.store.schema import NANO, from_nano, to_nano
from pixmux.proxy.store.settings import parse_duration

if TYPE_CHECKING:
    from pixmux.proxy.app import Receive, Scope
    from pixmux.proxy.store.accounting import Accounting

__all__ = ["AdminRoutes", "new_key", "key_name", "key_info", "team_info", "spend_row"]

_Answer = tuple[int, list[tuple[bytes, bytes]], list[bytes]]
_Handler = Callable[["Scope", "Receive", dict[str, Any]], Awaitable[_Answer]]
_JSON = b"application/json"

#: LiteLLM key fields pixmux accepts and does not use (token limits mean nothing for images, ...).
_LITELLM_UNUSED = frozenset(
    {
        "tpm_limit",
        "max_parallel_requests",
        "aliases",
        "config",
        "permissions",
        "tags",
        "soft_budget",
        "guardrails",
        "model_max_budget",
        "model_rpm_limit",
        "model_tpm_limit",
        "allowed_cache_controls",
        "send_invite_email",
        "enforced_params",
        "key_type",
        "allowed_routes",
        "object_permission",
        "organization_id",
        "budget_id",
        "rpm_limit_type",
        "tpm_limit_type",
        "members_with_roles",
        "members",
        "team_member_permissions",
        "prompts",
        "auto_rotate",
        "rotation_interval",
        "allowed_passthrough_routes",
        "grace_period",
    }
)
_KEY_FIELDS = frozenset(
    {
        "key_alias",
        "duration",
        "models",
        "max_budget",
        "budget_duration",
        "rpm_limit",
        "ipm_limit",
        "metadata",
        "user_id",
        "team_id",
        "key",
        "blocked",
        "spend",
        "expires",
    }
)
_TEAM_FIELDS = frozenset(
    {
        "team_id",
        "team_alias",
        "models",
        "max_budget",
        "budget_duration",
        "rpm_limit",
        "ipm_limit",
        "metadata",
        "blocked",
    }
)
KEY_PREFIX = "sk-"


def new_key() -> str:
    """A fresh virtual key: ``sk-`` and 32 random URL-safe characters (192 bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(24)


def key_name(key: str) -> str:
    """The key's short display form, ``sk-...abcd``: enough to recognise it, not to use it."""
    return f"{key[:3]}...{key[-4:]}"


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _usd(nano: int | None) -> float | None:
    value = from_nano(nano)
    return None if value is None else round(value, 9)


def key_info(record: KeyRecord) -> dict[str, Any]:
    """A key as the admin routes show it: its hash (``token``), never the key."""
    return {
        "token": record.token,
        "key_name": record.key_name,
        "key_alias": record.key_alias,
        "models": list(record.models),
        "max_budget": _usd(record.max_budget),
        "budget_duration": record.budget_duration,
        "budget_reset_at": _iso(record.budget_reset_at),
        "spend": _usd(record.spend),
        "reserved": _usd(record.reserved),
        "rpm_limit": record.rpm_limit,
        "ipm_limit": record.ipm_limit,
        "expires": _iso(record.expires),
        "metadata": dict(record.metadata),
        "user_id": record.user_id,
        "team_id": record.team_id,
        "blocked": record.blocked,
        "created_at": _iso(record.created_at),
        "updated_at": _iso(record.updated_at),
    }


def team_info(record: TeamRecord) -> dict[str, Any]:
    return {
        "team_id": record.team_id,
        "team_alias": record.team_alias,
        "models": list(record.models),
        "max_budget": _usd(record.max_budget),
        "budget_duration": record.budget_duration,
        "budget_reset_at": _iso(record.budget_reset_at),
        "spend": _usd(record.spend),
        "reserved": _usd(record.reserved),
        "rpm_limit": record.rpm_limit,
        "ipm_limit": record.ipm_limit,
        "metadata": dict(record.metadata),
        "blocked": record.blocked,
        "created_at": _iso(record.created_at),
        "updated_at": _iso(record.updated_at),
    }


# --------------------------------------------------------------------------- field checks


def _bad(field: str, what: str) -> GatewayError:
    return GatewayError(400, f"{field}: {what}", param=field)


def _opt_text(body: Mapping[str, Any], field: str, limit: int = 256) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _bad(field, f"expected a non-empty string, got {_kind(value)}")
    if len(value) > limit:
        raise _bad(field, f"longer than {limit} characters")
    return value


def _opt_money(body: Mapping[str, Any], field: str) -> int | None:
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise _bad(field, f"expected a number of US dollars, 0 or more, got {value!r}")
    if value > 1e9:
        raise _bad(field, "above 1,000,000,000 USD")
    return to_nano(float(value))


def _opt_count(body: Mapping[str, Any], field: str) -> int | None:
    value = body.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _bad(field, f"expected a whole number, 0 or more, got {value!r}")
    return value


def _opt_bool(body: Mapping[str, Any], field: str) -> bool | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise _bad(field, f"expected true or false, got {_kind(value)}")
    return value


def _opt_models(body: Mapping[str, Any], field: str = "models") -> list[str] | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise _bad(field, "expected a list of model names")
    return list(dict.fromkeys(value))


def _opt_metadata(body: Mapping[str, Any]) -> dict[str, Any] | None:
    value = body.get("metadata")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _bad("metadata", f"expected a JSON object, got {_kind(value)}")
    if len(json.dumps(value)) > 16_384:
        raise _bad("metadata", "larger than 16 KB of JSON")
    return value


def _opt_duration(body: Mapping[str, Any], field: str) -> float | None:
    value = body.get(field)
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise _bad(field, str(exc)) from None


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _check_fields(body: Mapping[str, Any], allowed: frozenset[str]) -> None:
    for field in body:
        if field not in allowed and field not in _LITELLM_UNUSED:
            raise _bad(field, f"unknown field; accepted: {', '.join(sorted(allowed))}")


def _budget_fields(body: Mapping[str, Any], now: float) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if "models" in body:
        values["models"] = _opt_models(body) or []
    if "max_budget" in body:
        values["max_budget"] = _opt_money(body, "max_budget")
    if "budget_duration" in body:
        seconds = _opt_duration(body, "budget_duration")
        values["budget_duration"] = body.get("budget_duration") if seconds is not None else None
        values["budget_reset_at"] = None if seconds is None else now + seconds
    for field in ("rpm_limit", "ipm_limit"):
        if field in body:
            values[field] = _opt_count(body, field)
    if "metadata" in body:
        values["metadata"] = _opt_metadata(body) or {}
    if "blocked" in body:
        values["blocked"] = bool(_opt_bool(body, "blocked"))
    return values


# --------------------------------------------------------------------------- routes


class AdminRoutes:
    """The admin routes of one gateway process, on its :class:`Accounting`."""

    def __init__(self, accounting: Accounting) -> None:
        self.accounting = accounting
        self.db = accounting.db

    def table(self) -> dict[tuple[str, str], _Handler]:
        routes: dict[tuple[str, str], _Handler] = {
            ("POST", "/key/generate"): self.key_generate,
            ("GET", "/key/info"): self.key_info,
            ("POST", "/key/update"): self.key_update,
            ("POST", "/key/delete"): self.key_delete,
            ("GET", "/key/list"): self.key_list,
            ("POST", "/key/regenerate"): self.key_regenerate,
            ("POST", "/team/new"): self.team_new,
            ("GET", "/team/info"): self.team_info,
            ("POST", "/team/update"): self.team_update,
            ("POST", "/team/delete"): self.team_delete,
            ("GET", "/team/list"): self.team_list,
            ("GET", "/spend/logs"): self.spend_logs,
            ("GET", "/spend/report"): self.spend_report,
            ("GET", "/global/spend/report"): self.spend_report,
        }
        return routes

    def match(self, method: str, path: str) -> _Handler | None:
        """Routes with the key in the path: ``POST /key/{key}/regenerate``."""
        if method == "POST" and path.startswith("/key/") and path.endswith("/regenerate"):
            key = path[len("/key/") : -len("/regenerate")]
            if key and "/" not in key:
                return self._regenerate_path(key)
        return None

    # ------------------------------------------------------------------ plumbing

    def _admin(self, info: Mapping[str, Any]) -> None:
        caller = info.get("caller")
        if caller is None or not caller.master:
            raise GatewayError(
                403, "this route needs the gateway's master key", type="permission_denied", code="not_admin"
            )

    async def _body(self, scope: Scope, receive: Receive) -> dict[str, Any]:
        raw = await self.accounting.gateway._read_body(scope, receive)
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise GatewayError(400, f"the request body is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise GatewayError(400, "the request body must be a JSON object")
        return body

    @staticmethod
    def _query(scope: Scope) -> dict[str, str]:
        raw = scope.get("query_string", b"").decode("latin-1")
        return dict(parse_qsl(raw, keep_blank_values=False))

    @staticmethod
    def _answer(value: Any, status: int = 200) -> _Answer:
        return status, [(b"content-type", _JSON)], [encode_json(value)]

    async def _run(self, coro: Awaitable[Any]) -> Any:
        try:
            return await coro
        except Conflict as exc:
            raise GatewayError(400, str(exc), code="conflict") from None
        except (*_UNAVAILABLE, DBAPIError) as exc:
            raise GatewayError(
                503, str(self.db.unavailable(exc)), type="api_error", code="database_unavailable"
            ) from None

    async def _find(self, given: str, field: str = "key") -> KeyRecord:
        """The key named by its value (``sk-...``) or its hash."""
        from pixmux.proxy.store.accounting import hash_key

        token = given if len(given) == 64 and all(c in "0123456789abcdef" for c in given) else hash_key(given)
        record: KeyRecord | None = await self._run(self.db.key(token))
        if record is None:
            raise GatewayError(404, f"{field}: no such key", param=field, code="not_found")
        return record

    # ------------------------------------------------------------------ keys

    async def key_generate(self, scope: Scope, receive: Receive, info: dict[str, Any]) -> _Answer:
        self._admin(info)
        body = await self._body(scope, receive)
        return self._answer(await self.generate(body))

    async def generate(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create a key from a LiteLLM ``/key/generate`` body; the answer holds the key, shown this once."""
        from pixmux.proxy.store.accounting import hash_key

        _check_fields(body, _KEY_FIELDS)
        now = time.time()
        key = _opt_text(body, "key", limit=200) or new_key()
        if len(key) < 8:
            raise _bad("key", "shorter than 8 characters")
        values = _budget_fields(body, now)
        duration = _opt_duration(body, "duration")
        expires = now + duration if duration is not None else None
        if body.get("expires") is not None:
            expires = _timestamp(body["expires"], "expires")
        team_id = _opt_text(body, "team_id", limit=128)
        if team_id is not None and await self._run(self.db.team(team_id)) is None:
            raise _bad("team_id", f"no team {team_id!r}; create it with /team/new first")
        spend = _opt_money(body, "spend")
        row = {
            "token": hash_key(key),
            "key_name": key_name(key),
            "key_alias": _opt_text(body, "key_alias"),
            "user_id": _opt_text(body, "user_id"),
            "team_id": team_id,
            "expires": expires,
            **values,
        }
        if spend is not None:
            row["spend"] = spend
        await self._run(self.db.insert_key(row))
        record = await self._run(self.db.key(row["token"]))
        return {"key": key, **key_info(record), "token_id": record.token}

    async def key_info(self, scope: Scope, receive: Receive, info: dict[str, Any]) -> _Answer:
        query = self._query(scope)
        caller = info.get("caller")
        given = query.get("key")
        if given is None:
            if caller is None or caller.key is None:
                raise _bad("key", "required: ?key=sk-... (the key or its hash)")
            record = caller.key
            record = await self._run(self.db.key(record.token)) or record
            given = record.token
        else:
            record = await self._find(given)
            if not (
                caller is not None and (caller.master or (caller.key is not None and caller.key.token == record.token))
            ):
                self._admin(info)
        return self._answer({"key": given, "info": key_info(record)})

    async def key_update(self, scope: Scope, receive: Receive, info: dict[str, Any]) -> _Answer:
        self._admin(info)
        body = await self._body(scope, receive)
        given = _opt_text(body, "key", limit=200)
        if given is None:
            raise _bad("key", "required: the key (or its hash) to update")
        fields = {k: v for k, v in body.items() if k != "key"}
        _check_fields(fields, _KEY_FIELDS - {"key"})
        record = await self._find(given)
        now = time.time()
        values = _budget_fields(fields, now)
        for field in ("key_alias", "user_id"):
            if field in fields:
                values[field] = _opt_text(fields, field)
        if "team_id" in fields:
            team_id = _opt_text(fields, "team_id", limit=128)
            if team_id is not None and await self._run(self.db.team(team_id)) is None:
                raise _bad("team_id", f"no team {team_id!r}")
            values["team_id"] = team_id
        if "duration" in fields:
            seconds = _opt_duration(fields, "duration")
            values["expires"] = None if seconds is None else now + seconds
        if fields.get("expires") is not None:
            values["expires"] = _timestamp(fields["expires"], "expires")
        if "spend" in fields:
            values["spend"] = _opt_money(fields, "spend") or 0
        if values:
            await self._run(self.db.update_key(record.token, values))
        self.accounting.invalidate(record.token)
        updated = await self._run(self.db.key(record.token))
        return self._answer({"key": given, **key_info(updated)})

    async def key_delete(self, scope: Scope, receive: Receive, info: dict[str, Any]) -> _Answer:
        self._admin(info)
        body = await self._body(scope, receive)
        _check_fields(body, frozenset({"keys", "key_aliases"}))
        given = body.get("keys") or []
        aliases = body.get("key_aliases") or []
        for field, value in (("keys", given), ("key_aliases", aliases)):
            if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
                raise _bad(field, "expected a list of strings")
        if not given and not aliases:
            raise _bad("keys", "required: a list of keys (or their hashes), or key_aliases")
        from pixmux.proxy.store.accounting import hash_key

        tokens = {(g if len(g) == 64 else hash_key(g)): g for g in given}
        deleted = await self._run(self.db.delete_keys(list(tokens), aliases))
        self.accounting.invalidate(*deleted)
        if not deleted:
            raise GatewayError(404, "keys: none of these keys exist", param="keys", code="not_found")
        return self._answer({"deleted_keys": [tokens.get(token, token) for token in deleted]})

    async def key_list(self, scope: Scope, receive: Receive, info: dict[str, Any]) -> _Answer:
        self._admin(info)
        query = self._query(scope)
        page = _query_int(query, "page", 1, 1, 1_000_000)
        size = _query_int(query, "size", 10, 1, 1000)
        records, total = await self._run(
            self.db.list_keys(
                page=page,
                size=size,
                user_id=query.get("user_id"),
                team_id=query.get("team_id"),
                key_alias=query.get("key_alias"),
            )
        )
        full = query.get("return_full_object", "false").lower() == "true"
        return self._answer(
            {
                "keys": [key_info(r) if full else r.token for r in records],
                "total_count": total,
                "current_page": page,
                "total_pages": max(1, math.ceil(total / size)),
            }
        )

    async def key_regenerate(self, scope: Scope, receive: Receive, info: dict[str, Any]) -> _Answer:
        self._admin(info)
        body = await self._body(scope, receive)
        given = _opt_text(body, "key", limit=200)
        if given is None:
            raise _bad("key", "required: the key (or its hash) to regenerate")
        return await self._regenerate(given, {k: v for k, v in body.items() if k != "key"})

    def _regenerate_path(self, key: str) -> _Handler:
        async def handler(scope: Scope, receive: Receive, info: dict[str, Any]) -> _Answer:
            self._admin(info)
            body = await self._body(scope, receive)
            return await self._regenerate(key, body)

        return handler

    async def _regenerate(self, given: str, body: Mapping[str, Any]) -> _Answer:
        """A new key value for an existing key (its budget, spend and limits stay); the old value stops working."""
        from pixmux.proxy.store.accounting import hash_key

        _check_fields(body, _KEY_FIELDS | {"new_key", "new_master_key"})
        record = await self._find(given)
        now = time.time()
        values = _budget_fields(body, now)
        key = _opt_text(body, "new_key", limit=200) or new_key()
        token = hash_key(key)
        await self.accounting.flush()  # spend queued under the old hash is counted before the hash changes
        if not await self._run(self.db.replace_token(record.token, token, key_name(key), values)):
            raise GatewayError(404, "key: no such key", param="key", code="not_found")
        self.accounting.invalidate(record.token)
        updated = await self._run(self.db.key(token))
        return self._answer({"key": key, **key_info(updated), "token_id": token})

    # ------------------------------------------------------------------ teams

    async def team_new(self, scope: Scope, receive: Receive, info: dict[str, Any]) -> _Answer:
        self._admin(info)
        body = await self._body(scope, receive)
        _check_fields(body, _TEAM_FIELDS)
        now = time.time()
        team_id = _opt_text(body, "team_id", limit=128) or str(uuid.uuid4())
        row = {"team_id": team_id, "team_alias": _opt_text(body, "team_alias"), **_budget_fields(body, now)}
        await self._run(self.db.insert_team(row))
        return self._answer(team_info(await self._run(self.db.team(team_id))))

    async def team_info(self, scope: Scope, receive: Receive, info: dict[str, Any]) -> _Answer:
        self._admin(info)
        team_id = self._query(scope).get("team_id")
        if not team_id:
            raise _bad("team_id", "required: ?team_id=...")
        record = await self._run(self.db.team(team_id))
        if record is None:
            raise GatewayError(404, f"team_id: no team {team_id!r}", param="team_id", code="not_found")
        return self._answer({"team_id": team_id, "team_info": team_info(record)})

    async def team_update(self, scope: Scope, receive: Receive, info: dict[str, Any]) -> _Answer:
        self._admin(info)
        body = await self._body(scope, receive)
        _check_fields(body, _TEAM_FIELDS)
        team_id = _opt_text(body, "team_id", limit=128)
        if team_id is None:
            raise _bad("team_id", "required: the team to update")
        values = _budget_fields(body, time.time())
        if "team_alias" in body:
            values["team_alias"] = _opt_text(body, "team_alias")
        if not await self._run(self.db.update_team(team_id, values)):
            raise GatewayError(404, f"team_id: no team {team_id!r}", param="team_id", code="not_found")
        self.accounting.invalidate()
        return self._answer(team_info(await self._run(self.db.team(team_id))))

    async def team_delete(self, scope: Scope, receive: Receive, info: dict[str, Any]) -> _Answer:
        self._admin(info)
        body = await self._body(scope, receive)
        _check_fields(body, frozenset({"team_ids"}))
        ids = body.get("team_ids")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
            raise _bad("team_ids", "required: a list of team ids")
        deleted = await self._run(self.db.delete_teams(ids))
        self.accounting.invalidate()
        return self._answer({"deleted_teams": deleted})

    async def team_list(self, scope: Scope, receive: Receive, info: dict[str, Any]) -> _Answer:
        self._admin(info)
        return self._answer([team_info(team) for team in await self._run(self.db.list_teams())])

    # ------------------------------------------------------------------ spend

    async def spend_logs(self, scope: Scope, receive: Receive, info: dict[str, Any]) -> _Answer:
        self._admin(info)
        query = self._query(scope)
        start, end = _dates(query)
        api_key = query.get("api_key")
        if api_key is not None and len(api_key) != 64:
            from pixmux.proxy.store.accounting import hash_key

            api_key = hash_key(api_key)
        await self.accounting.flush()
        rows = await self._run(
            self.db.spend_logs(
                api_key=api_key,
                user_id=query.get("user_id"),
                team_id=query.get("team_id"),
                request_id=query.get("request_id"),
                model=query.get("model"),
                start=start,
                end=end,
                limit=_query_int(query, "limit", 1000, 1, 100_000),
            )
        )
        return self._answer([spend_row(row) for row in rows])

    async def spend_report(self, scope: Scope, receive: Receive, info: dict[str, Any]) -> _Answer:
        self._admin(info)
        query = self._query(scope)
        start, end = _dates(query)
        group_by = [g.strip() for g in query.get("group_by", "day,api_key,model").split(",") if g.strip()]
        allowed = ("day", "api_key", "model", "team_id", "user_id", "provider", "deployment")
        for name in group_by:
            if name not in allowed:
                raise _bad("group_by", f"unknown grouping {name!r}; accepted: {', '.join(allowed)}")
        await self.accounting.flush()
        rows = await self._run(self.db.spend_report(group_by=group_by, start=start, end=end))
        for row in rows:
            row["spend"] = _usd(int(row["spend"] or 0))
            row["images"] = int(row["images"] or 0)
        return self._answer(rows)


def spend_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A spend-log row as ``/spend/logs`` shows it (dollars, ISO times, LiteLLM's ``startTime``/``call_type``)."""
    out = dict(row)
    out["spend"] = row["spend"] / NANO
    out["startTime"] = _iso(row["start_time"])
    out["call_type"] = "aimage_generation"
    return out


def _query_int(query: Mapping[str, str], field: str, default: int, low: int, high: int) -> int:
    raw = query.get(field)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise _bad(field, f"expected a whole number from {low} to {high}, got {raw!r}")
    return int(raw)


def _timestamp(value: Any, field: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=dt.timezone.utc)
            return parsed.timestamp()
    raise _bad(field, f"expected an ISO 8601 time or Unix seconds, got {value!r}")


def _dates(query: Mapping[str, str]) -> tuple[float | None, float | None]:
    """``start_date``/``end_date`` (``YYYY-MM-DD``, UTC; the end day included) as Unix seconds."""
    bounds: list[float | None] = []
    for field in ("start_date", "end_date"):
        raw = query.get(field)
        if raw is None:
            bounds.append(None)
            continue
        try:
            day = dt.date.fromisoformat(raw[:10])
        except ValueError:
            raise _bad(field, f"expected a date YYYY-MM-DD, got {raw!r}") from None
        moment = dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)
        if field == "end_date":
            moment += dt.timedelta(days=1)
        bounds.append(moment.timestamp())
    return bounds[0], bounds[1]
