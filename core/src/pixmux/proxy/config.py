"""
The gateway's configuration file: LiteLLM's YAML shape, read strictly.

::

    model_list:
      - model_name: gpt-image-1                  # the name clients ask for
        litellm_params:                          # also accepted as `params`
          model: azure/gpt-image-1               # a pixmux model string
          api_key: os.environ/AZURE_API_KEY_EU   # read from the environment at start
        model_info: {id: azure-eu}
    general_settings:
      master_key: os.environ/PIXMUX_MASTER_KEY
    router_settings: {}

Every problem stops the start with one :class:`ConfigError` whose message names the file,
the place in it (``model_list[0].litellm_params.api_key``) and what was expected.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import yaml

from pixmux.exceptions import ConfigurationError, is_secret_name
from pixmux.proxy._guard import Cors
from pixmux.proxy._limits import LIMIT_KEYS, LimitProblem, Limits, parse_limits
from pixmux.router import ROUTER_PARAMS  # keys of litellm_params that steer the router, not the provider call

__all__ = ["ConfigError", "GatewayConfig", "load_config", "parse_config", "ENV_PREFIX", "ROUTER_PARAMS"]

#: A string value ``os.environ/NAME`` is replaced by the environment variable ``NAME`` at start.
ENV_PREFIX = "os.environ/"


_TOP_KEYS = ("model_list", "general_settings", "router_settings", "litellm_settings")
_ENTRY_KEYS = ("model_name", "litellm_params", "params", "model_info")
_GENERAL_KEYS = (
    "master_key",
    "max_request_size_mb",
    "gzip_images",
    "allow_unauthenticated",
    "cors_allow_origins",
    *LIMIT_KEYS,
)
_LITELLM_KEYS = ("drop_params", "request_timeout")
#: LiteLLM settings that mean nothing to pixmux: a LiteLLM config carrying them still starts, with a warning.
_LITELLM_IGNORED_GENERAL = frozenset(
    {
        "database_url",
        "store_model_in_db",
        "alerting",
        "alerting_threshold",
        "background_health_checks",
        "health_check_interval",
        "disable_spend_logs",
        "proxy_batch_write_at",
        "max_response_size_mb",
        "allowed_routes",
        "public_routes",
    }
)
_LITELLM_IGNORED_SETTINGS = frozenset(
    {
        "set_verbose",
        "json_logs",
        "num_retries",
        "callbacks",
        "success_callback",
        "failure_callback",
        "service_callback",
        "cache",
        "cache_params",
        "telemetry",
        "turn_off_message_logging",
        "redact_user_api_key_info",
        "modify_params",
    }
)
#: Keys of ``litellm_params`` whose values are credentials: kept out of logs and error messages.

DEFAULT_MAX_REQUEST_MB = 1.0


class ConfigError(ConfigurationError):
    """The gateway's config file is wrong; the message names the file, the place and what was expected."""


@attrs.frozen(kw_only=True)
class GatewayConfig:
    """
    A checked gateway configuration, with every ``os.environ/`` reference resolved.

    Attributes:
        path: the file it came from (for messages).
        model_list: the ``model_list`` entries as the router takes them (``params`` renamed
            ``litellm_params``; ``litellm_settings`` defaults applied).
        master_key: the key clients must send, or ``None`` for an open gateway.
        router_settings: keyword arguments for :class:`pixmux.Router`.
        max_request_bytes: the largest request body accepted.
        gzip_images: also gzip responses carrying base64 images (about 25 % smaller, for about
            4 ms of CPU per MB); other responses are gzipped whenever the client accepts it.
        warnings: settings that were read but ignored, one sentence each.
        secrets: every credential value in the file, to scrub from messages.
        limits: connection limits (header size and count, read timeouts, open connections).
        cors: which browser origins may call the gateway (none by default).
        allow_unauthenticated: serve without a master key on a non-loopback address.
    """

    path: str
    model_list: tuple[Mapping[str, Any], ...] = attrs.field(repr=lambda entries: f"<{len(entries)} model(s)>")
    master_key: str | None = attrs.field(default=None, repr=False)
    router_settings: Mapping[str, Any] = attrs.field(factory=dict)
    max_request_bytes: int = int(DEFAULT_MAX_REQUEST_MB * 1024 * 1024)
    gzip_images: bool = False
    warnings: tuple[str, ...] = ()
    secrets: frozenset[str] = attrs.field(default=frozenset(), repr=False)
    limits: Limits = attrs.field(factory=Limits)
    cors: Cors = attrs.field(factory=Cors)
    allow_unauthenticated: bool = False

    @property
    def model_names(self) -> list[str]:
        """The configured ``model_name`` values, in file order, without repeats."""
        return list(dict.fromkeys(str(entry["model_name"]) for entry in self.model_list))


class _Problem(Exception):
    """One config problem found while walking the file: where and what."""

    def __init__(self, where: str, what: str) -> None:
        super().__init__(f"{where}: {what}" if where else what)
        self.where = where
        self.what = what


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a mapping key given twice (YAML would silently keep the last)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
        except TypeError as exc:
            raise yaml.constructor.ConstructorError(None, None, f"unhashable key {key!r}", key_node.start_mark) from exc
        if duplicate:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping", node.start_mark, f"the key {key!r} is given twice", key_node.start_mark
            )
        seen[key] = loader.construct_object(value_node, deep=deep)
    return seen


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _join(where: str, key: object) -> str:
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else str(key)


#: How deeply the file may nest mappings and lists (a real config needs fewer than ten levels).
MAX_DEPTH = 32


def _resolve_env(
    value: Any, where: str, environ: Mapping[str, str], secrets: set[str], within: tuple[int, ...] = ()
) -> Any:
    """Replace every ``os.environ/NAME`` string, at any depth, by the variable's value."""
    if isinstance(value, str):
        if not value.startswith(ENV_PREFIX):
            return value
        name = value[len(ENV_PREFIX) :].strip()
        if not name:
            raise _Problem(where, f"{value!r} names no environment variable; expected os.environ/NAME")
        found = environ.get(name)
        if found is None or found == "":
            raise _Problem(where, f"the environment variable {name} is not set (expected by {value!r})")
        secrets.add(found)
        return found
    if not isinstance(value, Mapping | list):
        return value
    if id(value) in within:  # `a: &x [*x]`: a YAML alias used inside its own value
        raise _Problem(where, "refers to itself (a YAML alias used inside its own value)")
    if len(within) >= MAX_DEPTH:
        raise _Problem(where, f"nests mappings and lists more than {MAX_DEPTH} deep")
    inside = (*within, id(value))
    if isinstance(value, Mapping):
        return {key: _resolve_env(item, _join(where, key), environ, secrets, inside) for key, item in value.items()}
    return [_resolve_env(item, _join(where, index), environ, secrets, inside) for index, item in enumerate(value)]


def _mapping(value: Any, where: str, *, allow_null: bool = True) -> Mapping[str, Any]:
    if value is None and allow_null:
        return {}
    if not isinstance(value, Mapping):
        raise _Problem(where, f"expected a mapping, got {_type_name(value)}")
    for key in value:
        if not isinstance(key, str):
            raise _Problem(where, f"key {key!r} must be a string")
    return value


def _check_keys(
    value: Mapping[str, Any], where: str, allowed: Sequence[str], ignored: frozenset[str] = frozenset()
) -> list[str]:
    notes = []
    for key in value:
        if key in allowed:
            continue
        if key in ignored:
            notes.append(f"{_join(where, key)} is a LiteLLM setting pixmux does not use; ignored")
            continue
        raise _Problem(_join(where, key), f"unknown key; expected one of: {', '.join(allowed)}")
    return notes


def _number(value: Any, where: str, *, positive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _Problem(where, f"expected a number, got {_type_name(value)}")
    if positive and value <= 0:
        raise _Problem(where, f"expected a number above 0, got {value!r}")
    return float(value)


def _text(value: Any, where: str, *, optional: bool = True) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _Problem(where, f"expected a non-empty string, got {_type_name(value)}")
    return value


_PARAM_TYPES: Mapping[str, str] = {
    "api_key": "text",
    "api_base": "text",
    "api_version": "text",
    "organization": "text",
    "custom_llm_provider": "text",
    "timeout": "number",
    "weight": "number",
    "rpm": "number",
    "tpm": "number",
    "order": "number",
    "max_parallel_requests": "number",
    "drop_params": "bool",
}


def _check_params(params: Mapping[str, Any], where: str, secrets: set[str]) -> None:
    model = params.get("model")
    if model is None:
        raise _Problem(_join(where, "model"), "missing; expected a pixmux model string such as 'openai/gpt-image-1'")
    _text(model, _join(where, "model"), optional=False)
    for key, value in params.items():
        kind = _PARAM_TYPES.get(key)
        here = _join(where, key)
        if kind == "text":
            _text(value, here)
        elif kind == "number" and value is not None:
            _number(value, here)
        elif kind == "bool" and value is not None and not isinstance(value, bool):
            raise _Problem(here, f"expected true or false, got {_type_name(value)}")
        if isinstance(value, str) and is_secret_name(key):
            secrets.add(value)


def _entries(listed: Any, defaults: Mapping[str, Any], secrets: set[str]) -> list[dict[str, Any]]:
    if not isinstance(listed, list) or not listed:
        raise _Problem("model_list", f"expected a non-empty list of models, got {_type_name(listed)}")
    entries: list[dict[str, Any]] = []
    for index, item in enumerate(listed):
        where = f"model_list[{index}]"
        entry = _mapping(item, where, allow_null=False)
        _check_keys(entry, where, _ENTRY_KEYS)
        name = _text(entry.get("model_name"), f"{where}.model_name", optional=False)
        if "litellm_params" in entry and "params" in entry:
            raise _Problem(where, "give litellm_params or params, not both")
        key = "litellm_params" if "litellm_params" in entry else "params"
        if key not in entry:
            raise _Problem(f"{where}.litellm_params", "missing; expected a mapping with at least `model`")
        params = dict(_mapping(entry[key], f"{where}.{key}", allow_null=False))
        _check_params(params, f"{where}.{key}", secrets)
        for setting, value in defaults.items():
            params.setdefault(setting, value)
        info = dict(_mapping(entry.get("model_info"), f"{where}.model_info"))
        if "id" in info:
            found = info["id"]
            if isinstance(found, bool) or not isinstance(found, str | int) or not str(found).strip():
                raise _Problem(f"{where}.model_info.id", f"expected a non-empty string, got {_type_name(found)}")
            info["id"] = str(found)
        entries.append({"model_name": name, "litellm_params": params, "model_info": info})
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        found = entry["model_info"].get("id")
        if found is not None and found in seen:
            raise _Problem(
                f"model_list[{index}].model_info.id", f"the id {found!r} is already used by model_list[{seen[found]}]"
            )
        if found is not None:
            seen[found] = index
    return entries


def _litellm_defaults(litellm: Mapping[str, Any]) -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    drop = litellm.get("drop_params")
    if drop is not None:
        if not isinstance(drop, bool):
            raise _Problem("litellm_settings.drop_params", f"expected true or false, got {_type_name(drop)}")
        defaults["drop_params"] = drop
    if litellm.get("request_timeout") is not None:
        defaults["timeout"] = _number(litellm["request_timeout"], "litellm_settings.request_timeout")
    return defaults


def parse_config(raw: Any, *, path: str = "<config>", environ: Mapping[str, str] | None = None) -> GatewayConfig:
    """
    Check a config already read from YAML and resolve its ``os.environ/`` references.

    Raises:
        ConfigError: naming ``path``, the place in the file and what was expected.
    """
    env = os.environ if environ is None else environ
    secrets: set[str] = set()
    try:
        if raw is None:
            raise _Problem("", "the file is empty; expected a mapping with a model_list")
        notes = _check_keys(_mapping(raw, "", allow_null=False), "", _TOP_KEYS)
        top: dict[str, Any] = _resolve_env(raw, "", env, secrets)

        general = _mapping(top.get("general_settings"), "general_settings")
        notes += _check_keys(general, "general_settings", _GENERAL_KEYS, _LITELLM_IGNORED_GENERAL)
        master_key = _text(general.get("master_key"), "general_settings.master_key")
        if master_key is not None:
            secrets.add(master_key)
        max_mb = general.get("max_request_size_mb")
        if max_mb is not None:
            max_mb = _number(max_mb, "general_settings.max_request_size_mb")
        max_bytes = int((DEFAULT_MAX_REQUEST_MB if max_mb is None else max_mb) * 1024 * 1024)

        gzip_images = general.get("gzip_images", False)
        if not isinstance(gzip_images, bool):
            raise _Problem("general_settings.gzip_images", f"expected true or false, got {_type_name(gzip_images)}")

        allow_unauthenticated = general.get("allow_unauthenticated", False)
        if not isinstance(allow_unauthenticated, bool):
            found = _type_name(allow_unauthenticated)
            raise _Problem("general_settings.allow_unauthenticated", f"expected true or false, got {found}")
        cors = Cors(origins=_origins(general.get("cors_allow_origins")))
        try:
            limits = parse_limits(general)
        except LimitProblem as problem:
            raise _Problem(*problem.args) from None

        litellm = _mapping(top.get("litellm_settings"), "litellm_settings")
        notes += _check_keys(litellm, "litellm_settings", _LITELLM_KEYS, _LITELLM_IGNORED_SETTINGS)
        router_settings = dict(_mapping(top.get("router_settings"), "router_settings"))
        if "model_list" not in top:
            raise _Problem("model_list", "missing; expected a list of models (model_name and litellm_params)")
        entries = _entries(top["model_list"], _litellm_defaults(litellm), secrets)
    except _Problem as problem:
        raise ConfigError(f"{path}: {problem}", param=problem.where or None) from None
    if master_key is None:
        notes.append("general_settings.master_key is not set: the gateway accepts requests without a key")
    return GatewayConfig(
        path=path,
        model_list=tuple(entries),
        master_key=master_key,
        router_settings=router_settings,
        max_request_bytes=max_bytes,
        gzip_images=gzip_images,
        warnings=tuple(notes),
        secrets=frozenset(secret for secret in secrets if len(secret) >= 4),
        limits=limits,
        cors=cors,
        allow_unauthenticated=allow_unauthenticated,
    )


def _origins(value: Any) -> frozenset[str]:
    """``cors_allow_origins``: a list of ``scheme://host[:port]`` origins, or ``"*"``."""
    where = "general_settings.cors_allow_origins"
    if value is None:
        return frozenset()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise _Problem(where, f"expected a list of origins such as https://app.example.com, got {_type_name(value)}")
    found = set()
    for index, item in enumerate(value):
        here = f"{where}[{index}]"
        if not isinstance(item, str) or not item.strip():
            raise _Problem(here, f"expected an origin such as https://app.example.com, got {_type_name(item)}")
        origin = item.strip().rstrip("/")
        scheme, sep, rest = origin.partition("://")
        if origin != "*" and (scheme not in ("http", "https") or not sep or not rest or "/" in rest):
            raise _Problem(
                here, f"{item!r} is not an origin; expected scheme://host[:port] such as https://app.example.com"
            )
        found.add(origin)
    return frozenset(found)


def load_config(path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None) -> GatewayConfig:
    """
    Read, check and resolve a gateway config file.

    Raises:
        ConfigError: the file is missing, is not YAML, or does not hold a valid config; the
            message names the file, the place in it and what was expected.
    """
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read the config file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{name}: the config file is not UTF-8 text: {exc.reason}") from None
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(f"{name}: {_yaml_message(exc)}") from None
    except RecursionError:  # the YAML parser recurses per level of nesting
        raise ConfigError(f"{name}: not valid YAML: it nests mappings and lists too deeply") from None
    return parse_config(raw, path=name, environ=environ)


def _yaml_message(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}not valid YAML: {problem}; expected a YAML mapping (see the gateway docs)"
