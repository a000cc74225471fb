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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import yaml

from pixmux import litellm_keys
from pixmux.exceptions import ConfigurationError, is_secret_name
from pixmux.proxy._guard import Cors
from pixmux.proxy._limits import LimitProblem, Limits, parse_limits
from pixmux.proxy.store.settings import AccountingSettings, accounting_settings
from pixmux.router import ROUTER_PARAMS  # keys of litellm_params that steer the router, not the provider call

__all__ = ["ConfigError", "GatewayConfig", "load_config", "parse_config", "ENV_PREFIX", "ROUTER_PARAMS"]

#: A string value ``os.environ/NAME`` is replaced by the environment variable ``NAME`` at start.
ENV_PREFIX = "os.environ/"


DEFAULT_MAX_REQUEST_MB = 1.0
#: The largest edit or variation upload (the images, the mask and the fields together).
DEFAULT_MAX_UPLOAD_MB = 64.0


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
        max_request_bytes: the largest request body accepted (generations).
        max_upload_bytes: the largest edit or variation body accepted (multipart or JSON).
        allow_image_urls: fetch ``http(s)`` image URLs of JSON edits (data URLs are always read);
            the default of each deployment's ``model_info.allow_image_urls``.
        upstream_max_connections: connections to providers the worker may hold open (and keep
            alive) per transport; ``None`` for the engine's default.
        download_horizon: download into ``b64_json`` any image whose URL expires within this many
            seconds (``None``: only when the client asked for ``b64_json``).
        gzip_images: also gzip responses carrying base64 images (about 25 % smaller, for about
            4 ms of CPU per MB); other responses are gzipped whenever the client accepts it.
        warnings: settings that were read but ignored, one sentence each.
        secrets: every credential value in the file, to scrub from messages.
        environment: ``environment_variables``, set for providers that read the environment.
        json_logs: ``litellm_settings.json_logs``: log lines as JSON objects.
        verbose: ``set_verbose`` (or ``router_settings.debug_level: DEBUG``): debug logging.
        global_max_parallel_requests: most image requests in flight on the gateway at once.
        image_generation_model: ``general_settings.image_generation_model``: the model name
            every generation uses, whatever it asks for (edits and variations keep theirs).
        limits: connection limits (header size and count, read timeouts, open connections).
        cors: which browser origins may call the gateway (none by default).
        allow_unauthenticated: serve without a master key on a non-loopback address.
        general_settings: ``general_settings`` as written (resolved), for the modules that
            read their own keys (shared state, metrics, traces, JSON logs: ``pixmux.proxy.settings``).
        accounting: virtual keys, budgets and spend (``database_url``), or ``None`` when off.
    """

    path: str
    model_list: tuple[Mapping[str, Any], ...] = attrs.field(repr=lambda entries: f"<{len(entries)} model(s)>")
    master_key: str | None = attrs.field(default=None, repr=False)
    router_settings: Mapping[str, Any] = attrs.field(factory=dict, repr=False)  # may hold redis_password
    max_request_bytes: int = int(DEFAULT_MAX_REQUEST_MB * 1024 * 1024)
    gzip_images: bool = False
    max_upload_bytes: int = int(DEFAULT_MAX_UPLOAD_MB * 1024 * 1024)
    allow_image_urls: bool = False
    upstream_max_connections: int | None = None
    download_horizon: float | None = None
    warnings: tuple[str, ...] = ()
    secrets: frozenset[str] = attrs.field(default=frozenset(), repr=False)
    environment: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    json_logs: bool = False
    verbose: bool = False
    global_max_parallel_requests: int | None = None
    image_generation_model: str | None = None
    limits: Limits = attrs.field(factory=Limits)
    cors: Cors = attrs.field(factory=Cors)
    allow_unauthenticated: bool = False
    general_settings: Mapping[str, Any] = attrs.field(factory=dict, repr=False)
    accounting: AccountingSettings | None = None

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


class _Notes:
    """The start-up lines of one config: one per key, however many entries carry it."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._seen: set[str] = set()

    def add(self, place: str, text: str, *, key: str | None = None) -> None:
        """Add a line, unless one was already added for ``key`` (a key many entries carry)."""
        if key is not None:
            if key in self._seen:
                return
            self._seen.add(key)
        self.lines.append(f"{place} {text}" if text.startswith("is ") else f"{place}: {text}")


def _check_section(value: Mapping[str, Any], section: str, where: str, notes: _Notes) -> dict[str, Any]:
    """
    Check every key of ``value`` against the table; returns the keys to act on (honoured ones).

    An ignored key adds its start-up line; a refused key, or one neither LiteLLM nor pixmux
    knows, stops the start (with a "did you mean").
    """
    kept: dict[str, Any] = {}
    for name, item in value.items():
        place = _join(where, name)
        entry = litellm_keys.lookup(section, name)
        if entry is None:
            names = [key.name for key in litellm_keys.section_keys(section)]
            hint = litellm_keys.did_you_mean(name, names)
            raise _Problem(place, f"unknown key{hint}; see the LiteLLM compatibility page of the docs for every key")
        if entry.kind == litellm_keys.REFUSED:
            raise _Problem(place, f"LiteLLM's {name} is refused: {entry.how}")
        if entry.kind == litellm_keys.IGNORED:
            notes.add(place, entry.how)
            continue
        if entry.pending is not None:
            notes.add(place, entry.pending)
        kept[name] = item
    return kept


def _number(value: Any, where: str, *, positive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _Problem(where, f"expected a number, got {_type_name(value)}")
    if positive and value <= 0:
        raise _Problem(where, f"expected a number above 0, got {value!r}")
    return float(value)


def _price(value: Any, where: str) -> float:
    price = _number(value, where, positive=False)
    if price < 0:
        raise _Problem(where, f"expected a price of 0 or more, got {value!r}")
    return price


def _whole(value: Any, where: str) -> int:
    number = _number(value, where)
    if not number.is_integer():
        raise _Problem(where, f"expected a whole number above 0, got {value!r}")
    return int(number)


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise _Problem(where, f"expected true or false, got {_type_name(value)}")
    return value


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
    "litellm_credential_name": "text",
    "timeout": "number",
    "stream_timeout": "number",
    "weight": "number",
    "rpm": "number",
    "tpm": "number",
    "order": "number",
    "max_parallel_requests": "number",
    "drop_params": "bool",
    "extra_headers": "headers",
}
#: Prices LiteLLM reads from ``model_info`` (and mirrors there from ``litellm_params``).
PRICE_KEYS = ("input_cost_per_image", "output_cost_per_image", "input_cost_per_pixel", "output_cost_per_pixel")
#: ``litellm_params`` keys LiteLLM accepts under another name: read as pixmux's.
_ALIASES: Mapping[str, str] = {
    "vertex_ai_credentials": "vertex_credentials",
    "aws_bedrock_runtime_endpoint": "api_base",
    "num_retries": "max_retries",
}
#: ``region_name`` by provider (LiteLLM's unified region key).
_REGION_KEYS: Mapping[str, str] = {"bedrock": "aws_region_name", "vertex_ai": "vertex_ai_location"}


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
        elif kind == "headers" and value is not None:
            headers = _mapping(value, here, allow_null=False)
            for name, header in headers.items():
                if not isinstance(header, str):
                    raise _Problem(_join(here, name), f"expected a string header value, got {_type_name(header)}")
                secrets.add(header)  # headers carry keys (`x-api-key`): never show them
        if isinstance(value, str) and is_secret_name(key):
            secrets.add(value)


def _credentials(listed: Any, notes: _Notes, secrets: set[str]) -> dict[str, dict[str, Any]]:
    """``credential_list`` as ``{credential_name: credential_values}``."""
    if listed is None:
        return {}
    if not isinstance(listed, list):
        raise _Problem("credential_list", f"expected a list of credentials, got {_type_name(listed)}")
    found: dict[str, dict[str, Any]] = {}
    for index, item in enumerate(listed):
        where = f"credential_list[{index}]"
        entry = _check_section(_mapping(item, where, allow_null=False), "credential_list", where, notes)
        name = _text(entry.get("credential_name"), f"{where}.credential_name", optional=False) or ""
        if name in found:
            raise _Problem(f"{where}.credential_name", f"the credential {name!r} is listed twice")
        values = dict(_mapping(entry.get("credential_values"), f"{where}.credential_values"))
        for key, value in values.items():
            if isinstance(value, str):
                secrets.add(value)  # everything in a credential is treated as secret
            if key == "model":
                raise _Problem(f"{where}.credential_values.model", "a credential cannot choose the model")
        _mapping(entry.get("credential_info"), f"{where}.credential_info")
        found[name] = values
    return found


def _deployment_params(
    params: dict[str, Any],
    info: dict[str, Any],
    where: str,
    notes: _Notes,
    credentials: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """One entry's ``litellm_params``, read through the table: aliases renamed, prices moved to ``model_info``."""
    name = params.get("litellm_credential_name")
    if name is not None:
        if not isinstance(name, str) or name not in credentials:
            hint = litellm_keys.did_you_mean(str(name), credentials)
            known = ", ".join(credentials) or "none"
            raise _Problem(
                f"{where}.litellm_credential_name",
                f"no credential_list entry is named {name!r}{hint}; listed: {known}",
            )
        params = {**credentials[name], **{k: v for k, v in params.items() if k != "litellm_credential_name"}}
    out: dict[str, Any] = {}
    for key, value in params.items():
        place = _join(where, key)
        entry = litellm_keys.lookup("litellm_params", key)
        if entry is None:
            out[key] = value  # a provider parameter: checked against the model at start
            continue
        if entry.kind == litellm_keys.REFUSED:
            raise _Problem(place, f"LiteLLM's {key} is refused: {entry.how}")
        if entry.kind == litellm_keys.IGNORED:
            notes.add(f"model_list[*].litellm_params.{key}", entry.how, key=f"litellm_params.{key}")
            continue
        if key in PRICE_KEYS or key == "allow_image_urls":  # the gateway's, never a provider parameter
            info.setdefault(key, value)
            continue
        if key == "model_info":
            for name_, item in _mapping(value, place).items():
                info.setdefault(name_, item)
            continue
        if key == "region_name":
            provider = str(params.get("model", "")).split("/", 1)[0]
            target = _REGION_KEYS.get(str(params.get("custom_llm_provider") or provider))
            if target is None:
                notes.add(place, "names a region, which this provider does not take; ignored", key=f"region.{provider}")
            else:
                out.setdefault(target, value)
            continue
        target = _ALIASES.get(key)
        if target is not None:
            if target in params and params[target] != value:
                raise _Problem(place, f"give {key} or {target}, not both")
            out[target] = value
            continue
        out[key] = value
    if "tpm" in out:  # one image counts as one token: tpm bounds images per minute, like rpm
        tpm = out.pop("tpm")
        if tpm is not None:
            tpm = _number(tpm, f"{where}.tpm")
            rpm = out.get("rpm")
            out["rpm"] = tpm if rpm is None else min(_number(rpm, f"{where}.rpm"), tpm)
    return out


def _model_info(info: dict[str, Any], where: str, notes: _Notes) -> None:
    for key in list(info):
        entry = litellm_keys.lookup("model_info", key)
        if entry is None:
            continue  # free-form (`description`, the user's own facts)
        if entry.kind == litellm_keys.IGNORED:
            notes.add(f"model_list[*].model_info.{key}", entry.how, key=f"model_info.{key}")
            del info[key]
        elif key in PRICE_KEYS:
            info[key] = _price(info[key], _join(where, key))
        elif key == "allow_image_urls":
            info[key] = _flag(info[key], _join(where, key))
    if "id" in info:
        found = info["id"]
        if isinstance(found, bool) or not isinstance(found, str | int) or not str(found).strip():
            raise _Problem(f"{where}.id", f"expected a non-empty string, got {_type_name(found)}")
        info["id"] = str(found)


#: ``model_info.mode`` values of image models (and unset): other entries of a LiteLLM config are skipped.
_IMAGE_MODES = (None, "image_generation", "image_edit")


def _entries(
    listed: Any,
    defaults: Mapping[str, Any],
    secrets: set[str],
    notes: _Notes,
    credentials: Mapping[str, Mapping[str, Any]],
) -> list[dict[str, Any]]:
    if not isinstance(listed, list) or not listed:
        raise _Problem("model_list", f"expected a non-empty list of models, got {_type_name(listed)}")
    entries: list[dict[str, Any]] = []
    for index, item in enumerate(listed):
        where = f"model_list[{index}]"
        entry = _check_section(_mapping(item, where, allow_null=False), "model_list", where, notes)
        name = _text(entry.get("model_name"), f"{where}.model_name", optional=False)
        if "litellm_params" in entry and "params" in entry:
            raise _Problem(where, "give litellm_params or params, not both")
        key = "litellm_params" if "litellm_params" in entry else "params"
        if key not in entry:
            raise _Problem(f"{where}.litellm_params", "missing; expected a mapping with at least `model`")
        info = dict(_mapping(entry.get("model_info"), f"{where}.model_info"))
        mode = info.get("mode")
        if mode not in _IMAGE_MODES:
            notes.add(
                where,
                f"{name!r} has model_info.mode {mode!r}: pixmux serves image models only; this entry is skipped",
            )
            continue
        params = _deployment_params(
            dict(_mapping(entry[key], f"{where}.{key}", allow_null=False)), info, f"{where}.{key}", notes, credentials
        )
        _check_params(params, f"{where}.{key}", secrets)
        for setting, value in defaults.items():
            if params.get(setting) is None:
                params[setting] = value
        _model_info(info, f"{where}.model_info", notes)
        entries.append({"model_name": name, "litellm_params": params, "model_info": info})
    if not entries:
        raise _Problem(
            "model_list", "no entry is an image model (each has a model_info.mode other than image_generation)"
        )
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


def _environment(value: Any, env: Mapping[str, str], secrets: set[str]) -> dict[str, str]:
    """``environment_variables`` as strings (YAML reads ``PORT: 6379`` as a number; ``os.environ/`` reads ``env``)."""
    found = _mapping(value, "environment_variables")
    out: dict[str, str] = {}
    for name, item in found.items():
        where = f"environment_variables.{name}"
        if not name or "=" in name or "\x00" in name:
            raise _Problem(where, "is not a valid environment variable name")
        if isinstance(item, bool):
            out[name] = "true" if item else "false"
        elif isinstance(item, str):
            out[name] = _resolve_env(item, where, env, secrets)
        elif isinstance(item, int | float):
            out[name] = str(item)
        else:
            raise _Problem(where, f"expected a string, number or boolean, got {_type_name(item)}")
    return out


#: ``litellm_settings`` keys that are router settings (``router_settings`` wins when both set one).
_SHARED_ROUTER_KEYS = ("num_retries", "fallbacks", "default_fallbacks", "content_policy_fallbacks")
#: ``router_settings`` keys the loader itself consumes (they are not :class:`pixmux.Router` arguments).
_LOADER_ROUTER_KEYS = (
    "stream_timeout",
    "default_max_parallel_requests",
    "enable_pre_call_checks",
    "enable_pre_call_check",
    "set_verbose",
    "debug_level",
)


def _general(
    general: Mapping[str, Any], env: Mapping[str, str], secrets: set[str], notes: _Notes
) -> tuple[str | None, int, bool, int | None, int | None, str | None]:
    """``general_settings``: master key, body limit, gzip, parallel limits, image model."""
    master_key = _text(general.get("master_key"), "general_settings.master_key")
    if master_key is not None:
        secrets.add(master_key)
    max_mb = general.get("max_request_size_mb")
    if max_mb is not None:
        max_mb = _number(max_mb, "general_settings.max_request_size_mb")
    max_bytes = int((DEFAULT_MAX_REQUEST_MB if max_mb is None else max_mb) * 1024 * 1024)
    gzip_images = _flag(general.get("gzip_images", False), "general_settings.gzip_images")
    for key in ("allow_unauthenticated", "disable_spend_logs", "allow_requests_on_db_unavailable"):
        if general.get(key) is not None:
            _flag(general[key], f"general_settings.{key}")
    database_url = _text(general.get("database_url"), "general_settings.database_url")
    if database_url is not None:
        secrets.add(database_url)
    elif env.get("DATABASE_URL"):
        secrets.add(env["DATABASE_URL"])
    per_deployment = general.get("max_parallel_requests")
    if per_deployment is not None:
        per_deployment = _whole(per_deployment, "general_settings.max_parallel_requests")
    overall = general.get("global_max_parallel_requests")
    if overall is not None:
        overall = _whole(overall, "general_settings.global_max_parallel_requests")
    image_model = _text(general.get("image_generation_model"), "general_settings.image_generation_model")
    return master_key, max_bytes, gzip_images, per_deployment, overall, image_model


def _uploads_and_upstream(general: Mapping[str, Any]) -> tuple[int, bool, int | None, float | None]:
    """``general_settings``: edit upload limit, image URLs, upstream pool size and download horizon."""
    upload_mb = general.get("max_upload_size_mb")
    if upload_mb is not None:
        upload_mb = _number(upload_mb, "general_settings.max_upload_size_mb")
    upload_bytes = int((DEFAULT_MAX_UPLOAD_MB if upload_mb is None else upload_mb) * 1024 * 1024)
    allow_urls = _flag(general.get("allow_image_urls", False), "general_settings.allow_image_urls")
    upstream = general.get("upstream_max_connections")
    if upstream is not None and (isinstance(upstream, bool) or not isinstance(upstream, int) or upstream < 1):
        raise _Problem(
            "general_settings.upstream_max_connections", f"expected a whole number, 1 or more, got {upstream!r}"
        )
    horizon = general.get("download_horizon")
    if horizon is not None:
        horizon = _number(horizon, "general_settings.download_horizon")
    return upload_bytes, allow_urls, upstream, horizon


def parse_config(raw: Any, *, path: str = "<config>", environ: Mapping[str, str] | None = None) -> GatewayConfig:
    """
    Check a config already read from YAML and resolve its ``os.environ/`` references.

    Every key is read through :mod:`pixmux.litellm_keys`: honoured, ignored with one start-up
    line (in :attr:`GatewayConfig.warnings`), or refused. ``environment_variables`` are set
    before any ``os.environ/`` reference is resolved.

    Raises:
        ConfigError: naming ``path``, the place in the file and what was expected.
    """
    env = os.environ if environ is None else environ
    secrets: set[str] = set()
    notes = _Notes()
    try:
        if raw is None:
            raise _Problem("", "the file is empty; expected a mapping with a model_list")
        raw = _check_section(_mapping(raw, "", allow_null=False), "top", "", notes)
        environment = _environment(raw.get("environment_variables"), env, secrets)
        for name, value in environment.items():
            if is_secret_name(name):
                secrets.add(value)
        top: dict[str, Any] = _resolve_env(raw, "", {**env, **environment}, secrets)

        general = _check_section(
            _mapping(top.get("general_settings"), "general_settings"), "general_settings", "general_settings", notes
        )
        master_key, max_bytes, gzip_images, per_deployment, overall, image_model = _general(
            general, {**env, **environment}, secrets, notes
        )
        allow_unauthenticated, cors, limits = _security(general)
        accounting = accounting_settings(general, path=path, environ={**env, **environment})
        uploads = _uploads_and_upstream(general)
        litellm = _check_section(
            _mapping(top.get("litellm_settings"), "litellm_settings"), "litellm_settings", "litellm_settings", notes
        )
        router = _check_section(
            _mapping(top.get("router_settings"), "router_settings"), "router_settings", "router_settings", notes
        )
        json_logs = _flag(litellm.get("json_logs", False), "litellm_settings.json_logs")
        verbose = _flag(litellm.get("set_verbose", False), "litellm_settings.set_verbose")
        verbose = _flag(router.get("set_verbose", verbose), "router_settings.set_verbose")
        level = router.get("debug_level")
        if level is not None and level not in ("DEBUG", "INFO"):
            raise _Problem("router_settings.debug_level", f"expected DEBUG or INFO, got {level!r}")
        verbose = verbose or level == "DEBUG"
        for key in ("enable_pre_call_checks", "enable_pre_call_check"):
            if router.get(key) is not None:
                _flag(router[key], f"router_settings.{key}")

        defaults = _litellm_defaults(litellm)
        stream_timeout = router.get("stream_timeout")
        if stream_timeout is not None:
            defaults["stream_timeout"] = _number(stream_timeout, "router_settings.stream_timeout")
        parallel = router.get("default_max_parallel_requests")
        if parallel is not None:
            defaults["max_parallel_requests"] = _whole(parallel, "router_settings.default_max_parallel_requests")
        elif per_deployment is not None:
            defaults["max_parallel_requests"] = per_deployment

        router_settings = {key: value for key, value in router.items() if key not in _LOADER_ROUTER_KEYS}
        for key in _SHARED_ROUTER_KEYS:
            if litellm.get(key) is not None and key not in router_settings:
                router_settings[key] = litellm[key]

        secrets.update(v for k, v in router_settings.items() if isinstance(v, str) and is_secret_name(k))
        credentials = _credentials(top.get("credential_list"), notes, secrets)
        if "model_list" not in top:
            raise _Problem("model_list", "missing; expected a list of models (model_name and litellm_params)")
        entries = _entries(top["model_list"], defaults, secrets, notes, credentials)
    except _Problem as problem:
        raise ConfigError(f"{path}: {problem}", param=problem.where or None) from None
    if master_key is None:
        notes.add("general_settings.master_key", "is not set: the gateway accepts requests without a key")
    return GatewayConfig(
        path=path,
        model_list=tuple(entries),
        master_key=master_key,
        router_settings=router_settings,
        max_request_bytes=max_bytes,
        gzip_images=gzip_images,
        max_upload_bytes=uploads[0],
        allow_image_urls=uploads[1],
        upstream_max_connections=uploads[2],
        download_horizon=uploads[3],
        warnings=tuple(notes.lines),
        secrets=frozenset(secret for secret in secrets if len(secret) >= 4),
        environment=environment,
        json_logs=json_logs,
        verbose=verbose,
        global_max_parallel_requests=overall,
        image_generation_model=image_model,
        limits=limits,
        cors=cors,
        allow_unauthenticated=allow_unauthenticated,
        general_settings=dict(general),
        accounting=accounting,
    )


def _security(general: Mapping[str, Any]) -> tuple[bool, Cors, Limits]:
    """``general_settings``: ``allow_unauthenticated``, ``cors_allow_origins`` and the connection limits."""
    allow = _flag(general.get("allow_unauthenticated", False), "general_settings.allow_unauthenticated")
    cors = Cors(origins=_origins(general.get("cors_allow_origins")))
    try:
        limits = parse_limits(general)
    except LimitProblem as problem:
        raise _Problem(*problem.args) from None
    return allow, cors, limits


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


def _litellm_defaults(litellm: Mapping[str, Any]) -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    drop = litellm.get("drop_params")
    if drop is not None:
        defaults["drop_params"] = _flag(drop, "litellm_settings.drop_params")
    if litellm.get("request_timeout") is not None:
        defaults["timeout"] = _number(litellm["request_timeout"], "litellm_settings.request_timeout")
    return defaults


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
