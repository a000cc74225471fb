"""
``pixmux.Router``: several deployments behind one model name, with retries, fallbacks and cooldowns.

The gateway config's ``model_list`` shape, used from Python::

    router = pixmux.Router(
        model_list=[
            {"model_name": "gpt-image-1", "litellm_params": {"model": "azure/gpt-image-1", "rpm": 60}},
            {"model_name": "gpt-image-1", "litellm_params": {"model": "openai/gpt-image-1", "timeout": 120}},
            {"model_name": "imagen-4", "litellm_params": {"model": "vertex_ai/imagen-4.0-generate-001"}},
        ],
        num_retries=2,
        fallbacks=[{"gpt-image-1": ["imagen-4"]}],
    )
    resp = router.image_generation(model="gpt-image-1", prompt="an otter")
    resp.metadata["deployment"], resp.metadata["attempts"]

One call goes like this. The router picks a deployment of the model group by its strategy,
among those that are not cooling down, are under their ``rpm`` and are not yet tried in
this call. A failure worth retrying (429, 408, 5xx, connection error, timeout) is retried,
up to ``num_retries`` times per group, on another deployment where there is one (at once),
or on the same one after a backoff (the provider's ``Retry-After`` where it gave one). When
the group is exhausted, or fails with an error not worth retrying, the call moves to the
group's ``fallbacks`` (``content_policy_fallbacks`` for a refusal). When everything failed,
the last real provider error is raised as an :class:`~pixmux.AllAttemptsFailedError`, which is
also an instance of that error's own class and carries its status, with every attempt listed.

A deployment failing more than ``allowed_fails`` times within a minute is cooled down for
``cooldown_time`` seconds (at once for a 429 carrying ``Retry-After``, for that long); when
it comes back, one more failure cools it down again at once, one success clears it.
"""

from __future__ import annotations

import functools
import itertools
import math
import random
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any

import attrs

from pixmux import _pricing, _router_edits
from pixmux._engine import DEFAULT_TIMEOUT, Engine, default_engine
from pixmux._retry import DEFAULT_NUM_RETRIES, check_retries, is_retryable
from pixmux._within import within
from pixmux.exceptions import (
    AllAttemptsFailedError,
    APIConnectionError,
    AuthenticationError,
    ConfigurationError,
    ContentPolicyViolationError,
    NotFoundError,
    PermissionDeniedError,
    PixmuxError,
    RateLimitError,
    ServiceUnavailableError,
    Timeout,
)
from pixmux.observe import RouterObserver
from pixmux.state import Facts, LocalState, Member, SharedState, Take
from pixmux.state._local import WINDOW
from pixmux.state._local import Health as _Health
from pixmux.types import ImageResponse, ImageStreamEvent

__all__ = ["Router", "RouterDeployment", "DeploymentHealth", "ROUTING_STRATEGIES", "ROUTER_SETTINGS", "ROUTER_PARAMS"]

#: Strategies by their LiteLLM names; ``lowest-latency`` is an alias of ``latency-based-routing``.
ROUTING_STRATEGIES = (
    "simple-shuffle",
    "least-busy",
    "latency-based-routing",
    "usage-based-routing",
    "usage-based-routing-v2",
    "cost-based-routing",
)
_STRATEGY_ALIASES = {"lowest-latency": "latency-based-routing", "weighted-shuffle": "simple-shuffle"}

#: Every ``router_settings`` key the router takes (the keyword arguments of :class:`Router`).
ROUTER_SETTINGS = (
    "num_retries",
    "timeout",
    "fallbacks",
    "content_policy_fallbacks",
    "default_fallbacks",
    "max_fallbacks",
    "routing_strategy",
    "routing_strategy_args",
    "cooldown_time",
    "allowed_fails",
    "allowed_fails_policy",
    "disable_cooldowns",
    "retry_after",
    "retry_policy",
    "model_group_alias",
    "default_litellm_params",
)

#: Keys of ``litellm_params`` that steer the router; they are never sent to the provider.
ROUTER_PARAMS = frozenset(
    {
        "weight",
        "rpm",
        "tpm",
        "order",
        "max_parallel_requests",
        "timeout",
        "max_retries",
        "num_retries",
        "stream_timeout",
    }
)
_ENV_PREFIX = "os.environ/"
#: Failures older than :data:`WINDOW` seconds no longer count toward a cooldown; ``rpm`` counts over it too.
#: LiteLLM's default: a deployment may fail this many times a minute before it cools down.
DEFAULT_ALLOWED_FAILS = 3
#: Seconds a deployment stays cooled down (LiteLLM's default).
DEFAULT_COOLDOWN_TIME = 5.0
DEFAULT_MAX_FALLBACKS = 5
#: Extra seconds the async path allows an attempt past its timeout before cutting it itself.
_HARD_CUT_GRACE = 0.5
#: Weight of the newest sample in the lowest-latency moving average.
_LATENCY_ALPHA = 0.3

_RETRY_POLICY_KEYS = ("RateLimitErrorRetries", "TimeoutErrorRetries", "InternalServerErrorRetries")
_NEVER_RETRIED_KEYS = (
    "BadRequestErrorRetries",
    "AuthenticationErrorRetries",
    "ContentPolicyViolationErrorRetries",
)
_ALLOWED_FAILS_KEYS = (
    "BadRequestErrorAllowedFails",
    "AuthenticationErrorAllowedFails",
    "TimeoutErrorAllowedFails",
    "RateLimitErrorAllowedFails",
    "ContentPolicyViolationErrorAllowedFails",
    "InternalServerErrorAllowedFails",
)
#: Error kinds that count toward a cooldown unless ``allowed_fails_policy`` names others.
_COOLDOWN_KINDS = frozenset({"RateLimitError", "TimeoutError", "InternalServerError", "AuthenticationError"})


def _kind(error: PixmuxError) -> str:
    """The LiteLLM policy name of an error's kind (``RateLimitError``, ``TimeoutError``...)."""
    if isinstance(error, ContentPolicyViolationError):
        return "ContentPolicyViolationError"
    if isinstance(error, Timeout) or error.status_code == 408:
        return "TimeoutError"
    if isinstance(error, RateLimitError) or error.status_code == 429:
        return "RateLimitError"
    if isinstance(error, AuthenticationError | PermissionDeniedError | NotFoundError) or error.status_code in (
        401,
        403,
        404,
    ):
        return "AuthenticationError"
    if isinstance(error, APIConnectionError) or (error.status_code or 0) >= 500:
        return "InternalServerError"
    return "BadRequestError"


# --------------------------------------------------------------------------- deployments


@attrs.frozen(kw_only=True)
class RouterDeployment:
    """
    One entry of ``model_list``: the name clients ask for and the call parameters behind it.

    Args:
        id: ``model_info.id``, or ``"<model_name>-<index>"``.
        model_name: the model group clients ask for.
        params: what is passed to each call (``model``, credentials, provider parameters);
            the router's own keys (``rpm``, ``weight``, ``timeout``...) are taken out.
        model_info: ``model_info`` as configured.
        weight: share of traffic in the weighted shuffle (``litellm_params.weight``, default 1).
        rpm: most images this deployment may make per minute (``litellm_params.rpm``).
        timeout: seconds each attempt on this deployment may take (``litellm_params.timeout``).
        max_retries: retries of one attempt on this deployment itself, before the router moves on.
        order: priority; lower is tried first, higher only when the lower ones are unavailable.
        max_parallel_requests: most calls in flight on this deployment at once.
        stream_timeout: seconds each streamed attempt may take (``timeout`` otherwise).
    """

    id: str
    model_name: str
    params: Mapping[str, Any] = attrs.field(repr=False)
    model_info: Mapping[str, Any] = attrs.field(factory=dict)
    weight: float = 1.0
    rpm: int | None = None
    timeout: float | None = None
    max_retries: int = 0
    order: int | None = None
    max_parallel_requests: int | None = None
    stream_timeout: float | None = None

    @property
    def model(self) -> str:
        """The pixmux model string (``"azure/gpt-image-1"``)."""
        return str(self.params["model"])


def _positive(value: Any, where: str, *, whole: bool = False, zero: bool = False) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok and whole:
        ok = float(value).is_integer()
    if ok:
        ok = value >= 0 if zero else value > 0
    if not ok:
        kind = "a whole number" if whole else "a number"
        raise ConfigurationError(f"{where}={value!r} must be {kind} {'0 or more' if zero else 'above 0'}", param=where)
    return float(value)


def _setting(
    params: Mapping[str, Any], key: str, where: str, *, whole: bool = False, zero: bool = False
) -> float | None:
    value = params.get(key)
    return None if value is None else _positive(value, f"{where}.{key}", whole=whole, zero=zero)


def _from_env(value: Any, where: str, env: Callable[[str], str | None]) -> Any:
    if isinstance(value, str) and value.startswith(_ENV_PREFIX):
        name = value[len(_ENV_PREFIX) :]
        found = env(name)
        if found is None:
            raise ConfigurationError(f"{where}: environment variable {name} is not set", param=where)
        return found
    return value


def _deployments(model_list: Any, env: Callable[[str], str | None]) -> list[RouterDeployment]:
    if not isinstance(model_list, Sequence) or isinstance(model_list, str):
        raise ConfigurationError("model_list must be a list of models", param="model_list")
    found = []
    seen: set[str] = set()
    for index, entry in enumerate(model_list):
        where = f"model_list[{index}]"
        if not isinstance(entry, Mapping):
            raise ConfigurationError(f"{where} must be a mapping", param=where)
        name = entry.get("model_name")
        params = entry.get("litellm_params", entry.get("params"))
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"{where}.model_name must be a non-empty string", param=f"{where}.model_name")
        if not isinstance(params, Mapping) or not isinstance(params.get("model"), str):
            raise ConfigurationError(
                f"{where}.litellm_params.model must be a pixmux model string", param=f"{where}.litellm_params.model"
            )
        here = f"{where}.litellm_params"
        params = {key: _from_env(value, f"{here}.{key}", env) for key, value in params.items()}
        info = entry.get("model_info") or {}
        if not isinstance(info, Mapping):
            raise ConfigurationError(f"{where}.model_info must be a mapping", param=f"{where}.model_info")
        ident = str(info.get("id") or f"{name}-{index}")
        if ident in seen:
            raise ConfigurationError(f"{where}.model_info.id {ident!r} is used twice", param=f"{where}.model_info.id")
        seen.add(ident)

        weight = _setting(params, "weight", here, zero=True)
        rpm = _setting(params, "rpm", here, whole=True)
        timeout = _setting(params, "timeout", here)
        retries = params.get("max_retries", params.get("num_retries"))
        order = _setting(params, "order", here, whole=True, zero=True)
        parallel = _setting(params, "max_parallel_requests", here, whole=True)
        stream_timeout = _setting(params, "stream_timeout", here)
        found.append(
            RouterDeployment(
                id=ident,
                model_name=name,
                params={k: v for k, v in params.items() if k not in ROUTER_PARAMS},
                model_info=dict(info),
                weight=1.0 if weight is None else weight,
                rpm=None if rpm is None else int(rpm),
                timeout=timeout,
                max_retries=0 if retries is None else check_retries(retries, f"{here}.max_retries"),
                order=None if order is None else int(order),
                max_parallel_requests=None if parallel is None else int(parallel),
                stream_timeout=stream_timeout,
            )
        )
    if not found:
        raise ConfigurationError("model_list is empty: give at least one model", param="model_list")
    return found


# --------------------------------------------------------------------------- health


@attrs.frozen(kw_only=True)
class DeploymentHealth:
    """
    What the router knows about one deployment right now (see :meth:`Router.health`).

    Args:
        id: the deployment's id.
        cooling_down: whether it is skipped now.
        cooldown_left: seconds until it comes back (0 when it is not cooling down).
        cooldowns: how many times it was cooled down since the router started.
        recent_failures: failures counted toward the next cooldown.
        in_flight: calls on it right now.
        images_last_minute: images asked of it in the last minute (what ``rpm`` limits).
        latency: moving average of seconds per image, once measured.
        successes: calls it served.
        failures: attempts on it that failed.
    """

    id: str
    cooling_down: bool
    cooldown_left: float
    cooldowns: int
    recent_failures: int
    in_flight: int
    images_last_minute: int
    latency: float | None
    successes: int
    failures: int


# --------------------------------------------------------------------------- the router


class Router:
    """
    Route calls for a model name across the deployments that serve it: balance, retry, fall back, cool down.

    Every keyword is also a key of the gateway's ``router_settings``; an unknown one raises
    ``ConfigurationError`` naming it.

    Args:
        model_list: the gateway config's ``model_list`` entries (``model_name``,
            ``litellm_params`` or ``params``, optional ``model_info`` with an ``id``).
            ``os.environ/NAME`` values are read from the engine's environment.
        engine: the engine to call through (the process-wide one by default). Its ``retry``
            (a :class:`pixmux._retry.Backoff`) shapes and performs the waits between retries.
        num_retries: retries per model group after the first attempt (default 2); a call
            may also pass its own ``num_retries``.
        timeout: seconds a whole call may take, retries and fallbacks included (default 600);
            a call may pass its own ``timeout``. Each attempt is also bounded by its
            deployment's ``timeout``.
        fallbacks: ``[{"gpt-image-1": ["imagen-4", "nova-canvas"]}]``: groups to try, in order,
            when a group is exhausted or fails with an error other than a refusal.
        content_policy_fallbacks: the same, for content-policy refusals (which ``fallbacks`` never take).
        default_fallbacks: groups to fall back to for any group without its own ``fallbacks``.
        max_fallbacks: most fallback groups one call tries (default 5).
        routing_strategy: ``simple-shuffle`` (weighted, the default), ``least-busy``,
            ``latency-based-routing`` (alias ``lowest-latency``), ``usage-based-routing``
            (``-v2`` alike: the deployment with the fewest images this minute, relative to its ``rpm``),
            ``cost-based-routing`` (the cheapest deployment for the call's size and quality: its
            ``model_info`` prices, else the catalogue's; unpriced deployments last).
        routing_strategy_args: ``{"lowest_latency_buffer": 0.1}``: for ``latency-based-routing``,
            pick at random among deployments within this fraction of the fastest.
        cooldown_time: seconds a failing deployment is skipped (default 5).
        allowed_fails: failures a deployment may have within a minute before it cools down (default 3).
        allowed_fails_policy: per error kind, instead of ``allowed_fails``:
            ``{"RateLimitErrorAllowedFails": 10, "BadRequestErrorAllowedFails": 100, ...}``; a kind
            named here counts on its own (so refusals and bad requests count only when named).
        disable_cooldowns: never cool a deployment down.
        retry_after: shortest wait in seconds before retrying on a deployment that failed.
        retry_policy: retries per error kind instead of ``num_retries``:
            ``{"RateLimitErrorRetries": 4, "TimeoutErrorRetries": 1, "InternalServerErrorRetries": 2}``
            (kinds never retried, such as ``BadRequestErrorRetries``, may only be 0).
        model_group_alias: ``{"dall-e-3": "gpt-image-1"}``: other names clients may ask for.
        default_litellm_params: parameters every call gets unless the call or deployment sets them.
        clock: seconds as a monotonic float, for cooldowns and ``rpm`` windows (tests pass a fake).
        state: where windows, cooldowns and usage are kept beyond this process
            (:class:`pixmux.state.redis_store.RedisState`); this process only by default.
    """

    def __init__(
        self,
        model_list: Sequence[Mapping[str, Any]],
        *,
        engine: Engine | None = None,
        num_retries: int | None = None,
        timeout: float | None = None,
        fallbacks: Sequence[Mapping[str, Sequence[str]]] | Mapping[str, Sequence[str]] | None = None,
        content_policy_fallbacks: Sequence[Mapping[str, Sequence[str]]] | Mapping[str, Sequence[str]] | None = None,
        default_fallbacks: Sequence[str] | None = None,
        max_fallbacks: int | None = None,
        routing_strategy: str | None = None,
        routing_strategy_args: Mapping[str, Any] | None = None,
        cooldown_time: float | None = None,
        allowed_fails: int | None = None,
        allowed_fails_policy: Mapping[str, int] | None = None,
        disable_cooldowns: bool | None = None,
        retry_after: float | None = None,
        retry_policy: Mapping[str, int] | None = None,
        model_group_alias: Mapping[str, str] | None = None,
        default_litellm_params: Mapping[str, Any] | None = None,
        clock: Callable[[], float] | None = None,
        state: SharedState | None = None,
        **unknown: Any,
    ) -> None:
        if unknown:
            name = sorted(unknown)[0]
            raise ConfigurationError(
                f"unknown router setting {name!r}; supported: {', '.join(ROUTER_SETTINGS)}", param=name
            )
        self.engine = engine or default_engine()
        self.deployments = [self._with_base_model(d) for d in _deployments(model_list, self.engine._env)]
        self._groups: dict[str, list[RouterDeployment]] = {}
        for deployment in self.deployments:
            self._groups.setdefault(deployment.model_name, []).append(deployment)

        self.num_retries = DEFAULT_NUM_RETRIES if num_retries is None else check_retries(num_retries)
        self.timeout = DEFAULT_TIMEOUT if timeout is None else _positive(timeout, "timeout")
        self.aliases = self._aliases(model_group_alias)
        self.fallbacks = self._fallback_table(fallbacks, "fallbacks")
        self.content_policy_fallbacks = self._fallback_table(content_policy_fallbacks, "content_policy_fallbacks")
        self.default_fallbacks = self._group_names(default_fallbacks or (), "default_fallbacks")
        self.max_fallbacks = (
            DEFAULT_MAX_FALLBACKS if max_fallbacks is None else check_retries(max_fallbacks, "max_fallbacks")
        )
        self.routing_strategy = self._strategy(routing_strategy or "simple-shuffle")
        self.latency_buffer = self._strategy_args(routing_strategy_args)
        self.cooldown_time = (
            DEFAULT_COOLDOWN_TIME if cooldown_time is None else _positive(cooldown_time, "cooldown_time", zero=True)
        )
        self.allowed_fails = (
            DEFAULT_ALLOWED_FAILS if allowed_fails is None else check_retries(allowed_fails, "allowed_fails")
        )
        self.allowed_fails_policy = self._policy(allowed_fails_policy, "allowed_fails_policy", _ALLOWED_FAILS_KEYS)
        self.disable_cooldowns = bool(disable_cooldowns)
        self.retry_after = 0.0 if retry_after is None else _positive(retry_after, "retry_after", zero=True)
        self.retry_policy = self._policy(retry_policy, "retry_policy", (*_RETRY_POLICY_KEYS, *_NEVER_RETRIED_KEYS))
        for key in _NEVER_RETRIED_KEYS:
            if self.retry_policy.get(key):
                raise ConfigurationError(
                    f"retry_policy.{key}={self.retry_policy[key]}: pixmux never retries this kind of error "
                    "(sending the same request again fails again); use 0 or leave it out",
                    param=f"retry_policy.{key}",
                )
        if default_litellm_params is not None and not isinstance(default_litellm_params, Mapping):
            raise ConfigurationError("default_litellm_params must be a mapping", param="default_litellm_params")
        self.default_litellm_params = dict(default_litellm_params or {})
        self._clock = clock or time.monotonic
        self._lock = threading.Lock()
        self._health = {deployment.id: _Health() for deployment in self.deployments}
        self._random = random.Random()  # noqa: S311 - load balancing, not security
        self._share(state)

    # ----------------------------------------------------------------- settings

    def _group_names(self, names: Any, where: str) -> tuple[str, ...]:
        if isinstance(names, str) or not isinstance(names, Sequence):
            raise ConfigurationError(f"{where} must be a list of model names, got {names!r}", param=where)
        for name in names:
            if not isinstance(name, str) or self.aliases.get(name, name) not in self._groups:
                raise ConfigurationError(
                    f"{where} names {name!r}, which is not a model_name of model_list "
                    f"(configured: {', '.join(self._groups)})",
                    param=where,
                )
        return tuple(self.aliases.get(str(name), str(name)) for name in names)

    def _fallback_table(self, given: Any, where: str) -> dict[str, tuple[str, ...]]:
        if given is None:
            return {}
        entries: Sequence[Any] = [given] if isinstance(given, Mapping) else given
        if isinstance(entries, str) or not isinstance(entries, Sequence):
            raise ConfigurationError(
                f'{where} must be a list like [{{"gpt-image-1": ["imagen-4"]}}], got {given!r}', param=where
            )
        table: dict[str, tuple[str, ...]] = {}
        for entry in entries:
            if not isinstance(entry, Mapping):
                raise ConfigurationError(
                    f'{where} entries must be mappings like {{"gpt-image-1": ["imagen-4"]}}, got {entry!r}', param=where
                )
            for source, targets in entry.items():
                group = self._group_names([source], where)[0]
                table[group] = table.get(group, ()) + self._group_names(targets, f"{where}.{source}")
        return table

    def _aliases(self, given: Mapping[str, str] | None) -> dict[str, str]:
        if given is None:
            return {}
        if not isinstance(given, Mapping):
            raise ConfigurationError(
                "model_group_alias must be a mapping of name to model_name", param="model_group_alias"
            )
        aliases: dict[str, str] = {}
        for alias, target in given.items():
            name = target.get("model") if isinstance(target, Mapping) else target  # LiteLLM allows {"model": ...}
            if not isinstance(name, str) or name not in self._groups:
                raise ConfigurationError(
                    f"model_group_alias.{alias} names {name!r}, which is not a model_name of model_list",
                    param=f"model_group_alias.{alias}",
                )
            aliases[str(alias)] = name
        return aliases

    @staticmethod
    def _strategy(name: str) -> str:
        resolved = _STRATEGY_ALIASES.get(name, name)
        if resolved not in ROUTING_STRATEGIES:
            raise ConfigurationError(
                f"routing_strategy={name!r} is not supported; choose one of: {', '.join(ROUTING_STRATEGIES)}",
                param="routing_strategy",
            )
        return resolved

    @staticmethod
    def _strategy_args(given: Mapping[str, Any] | None) -> float:
        if given is None:
            return 0.0
        if not isinstance(given, Mapping):
            raise ConfigurationError("routing_strategy_args must be a mapping", param="routing_strategy_args")
        buffer = 0.0
        for key, value in given.items():
            if key == "lowest_latency_buffer":
                buffer = _positive(value, "routing_strategy_args.lowest_latency_buffer", zero=True)
            elif key != "ttl":  # LiteLLM's cache ttl: latencies here live in memory, so it has no use
                raise ConfigurationError(
                    f"unknown routing_strategy_args key {key!r}; supported: lowest_latency_buffer",
                    param=f"routing_strategy_args.{key}",
                )
        return buffer

    @staticmethod
    def _policy(given: Mapping[str, int] | None, where: str, keys: Sequence[str]) -> dict[str, int]:
        if given is None:
            return {}
        if not isinstance(given, Mapping):
            raise ConfigurationError(f"{where} must be a mapping", param=where)
        policy = {}
        for key, value in given.items():
            if key not in keys:
                raise ConfigurationError(
                    f"unknown {where} key {key!r}; supported: {', '.join(keys)}", param=f"{where}.{key}"
                )
            if value is not None:
                policy[key] = check_retries(value, f"{where}.{key}")
        return policy

    # ----------------------------------------------------------------- groups

    def _with_base_model(self, deployment: RouterDeployment) -> RouterDeployment:
        """
        Pass ``model_info.base_model`` to providers that take it as a setting (Azure: a deployment
        name says nothing of the model behind it, so validation and cost need it).
        """
        base = deployment.model_info.get("base_model")
        if base is None or "base_model" in deployment.params:
            return deployment
        provider, _ = self.engine.registry.resolve(deployment.model, deployment.params.get("custom_llm_provider"))
        if "base_model" not in self.engine.registry.get(provider).catalogue.settings:
            return deployment
        return attrs.evolve(deployment, params={**deployment.params, "base_model": base})

    @property
    def model_names(self) -> list[str]:
        """The model names clients may ask for, in config order."""
        return list(self._groups)

    def group(self, model_name: str) -> list[RouterDeployment]:
        """The deployments serving ``model_name`` (a model group or one of its aliases)."""
        found = self._groups.get(self.aliases.get(model_name, model_name))
        if not found:
            raise NotFoundError(
                f"model {model_name!r} is not configured; available: {', '.join(self._groups) or 'none'}", param="model"
            )
        return found

    def pick(self, model_name: str) -> RouterDeployment:
        """The deployment the strategy would choose now for ``model_name`` (reserves nothing)."""
        group = self.group(model_name)
        with self._lock:
            usable = [d for d in group if self._cooldown_left(d, self._clock()) <= 0] or group
            return self._by_strategy(usable)

    def health(self) -> dict[str, DeploymentHealth]:
        """What the router knows about each deployment now, by id."""
        now = self._clock()
        with self._lock:
            return {
                deployment.id: DeploymentHealth(
                    id=deployment.id,
                    cooling_down=self._cooldown_left(deployment, now) > 0,
                    cooldown_left=max(0.0, self._cooldown_left(deployment, now)),
                    cooldowns=state.cooldowns,
                    recent_failures=sum(len(times) for times in state.failures.values()),
                    in_flight=state.in_flight,
                    images_last_minute=state.images_in_window(now),
                    latency=state.latency,
                    successes=state.successes,
                    failures=state.failed,
                )
                for deployment in self.deployments
                for state in (self._health[deployment.id],)
            }

    # ----------------------------------------------------------------- choosing (under the lock)

    def _cooldown_left(self, deployment: RouterDeployment, now: float) -> float:
        if self.disable_cooldowns:
            return 0.0
        return self._health[deployment.id].cooldown_until - now

    def _weighted(self, pool: Sequence[RouterDeployment]) -> RouterDeployment:
        if len(pool) == 1:
            return pool[0]
        weights = [d.weight for d in pool]
        if sum(weights) <= 0:
            return self._random.choice(pool)
        return self._random.choices(pool, weights=weights)[0]

    def _by_strategy(
        self, pool: Sequence[RouterDeployment], price: Callable[[RouterDeployment], float] | None = None
    ) -> RouterDeployment:
        strategy = self.routing_strategy
        if strategy == "cost-based-routing" and price is not None:
            cheapest = min(price(d) for d in pool)
            return self._weighted([d for d in pool if price(d) == cheapest])
        if strategy == "least-busy":
            fewest = min(self._health[d.id].in_flight for d in pool)
            return self._weighted([d for d in pool if self._health[d.id].in_flight == fewest])
        if strategy == "latency-based-routing":
            unmeasured = [d for d in pool if self._health[d.id].latency is None]
            if unmeasured:
                return self._weighted(unmeasured)
            best = min(self._health[d.id].latency or 0.0 for d in pool)
            limit = best * (1.0 + self.latency_buffer)
            return self._weighted([d for d in pool if (self._health[d.id].latency or 0.0) <= limit])
        if strategy.startswith("usage-based-routing"):
            now = self._clock()

            def load(d: RouterDeployment) -> float:
                used = self._health[d.id].images_in_window(now)
                return used / d.rpm if d.rpm else float(used)

            lowest = min(load(d) for d in pool)
            return self._weighted([d for d in pool if load(d) == lowest])
        return self._weighted(pool)

    def _reserve(
        self,
        group: Sequence[RouterDeployment],
        images: int,
        avoid: Mapping[str, PixmuxError],
        allow_cooled: bool,
        price: Callable[[RouterDeployment], float] | None = None,
    ) -> tuple[RouterDeployment | None, float | None]:
        """
        Choose and reserve a deployment: ``(deployment, None)``, or ``(None, seconds until one frees)``.

        Skips deployments over their ``rpm`` or ``max_parallel_requests``, cooling down (unless
        ``allow_cooled`` and nothing else is left) or already failed in this call (unless
        nothing else is left); among deployments with an ``order``, the lowest order wins.
        """
        now = self._clock()
        with self._lock:
            usable: list[RouterDeployment] = []
            cooled: list[RouterDeployment] = []
            frees_in: float | None = None
            for deployment in group:
                state = self._health[deployment.id]
                if deployment.rpm is not None:
                    used = state.images_in_window(now)
                    if used and used + images > deployment.rpm:
                        wait = state.usage[0][0] + WINDOW - now
                        frees_in = wait if frees_in is None else min(frees_in, wait)
                        continue
                if deployment.max_parallel_requests is not None and state.in_flight >= deployment.max_parallel_requests:
                    continue
                if self._cooldown_left(deployment, now) > 0:
                    cooled.append(deployment)
                else:
                    usable.append(deployment)
            pool = [d for d in usable if d.id not in avoid] or usable
            if not pool and allow_cooled and cooled:
                pool = [min(cooled, key=lambda d: self._health[d.id].cooldown_until)]
            if not pool:
                return None, frees_in
            orders = [d.order for d in pool if d.order is not None]
            if orders:
                pool = [d for d in pool if d.order == min(orders)]
            chosen = self._by_strategy(pool, price)
            state = self._health[chosen.id]
            state.in_flight += 1
            state.count(now, images)
            return chosen, None

    def _release(self, deployment: RouterDeployment) -> None:
        with self._lock:
            self._health[deployment.id].in_flight -= 1

    def _succeeded(self, deployment: RouterDeployment, elapsed: float, images: int) -> None:
        with self._lock:
            state = self._health[deployment.id]
            state.in_flight -= 1
            state.successes += 1
            state.failures.clear()
            state.probation = False
            sample = elapsed / max(1, images)
            state.latency = (
                sample if state.latency is None else (1 - _LATENCY_ALPHA) * state.latency + _LATENCY_ALPHA * sample
            )

    def _failed(self, deployment: RouterDeployment, error: PixmuxError, elapsed: float, images: int) -> None:
        now = self._clock()
        kind = _kind(error)
        with self._lock:
            state = self._health[deployment.id]
            state.in_flight -= 1
            state.failed += 1
            if kind == "TimeoutError":  # a deployment that hangs is slow, whatever it answers later
                sample = elapsed / max(1, images)
                state.latency = sample if state.latency is None else max(state.latency, sample)
            rule = self._failure_rule(error, kind)
            if rule is None:
                return
            if state.cooldown_until > now:
                return  # already cooling down (calls that were in flight when it started)
            counter, allowed, hinted = rule
            if hinted is not None and hinted > 0:
                self._cool(state, now, hinted)
                return
            if state.probation:
                self._cool(state, now, self.cooldown_time)
                return
            times = state.failures.setdefault(counter, deque())
            times.append(now)
            while times and times[0] <= now - WINDOW:
                times.popleft()
            if len(times) > allowed:
                self._cool(state, now, self.cooldown_time)

    def _failure_rule(self, error: PixmuxError, kind: str) -> tuple[str, int, float | None] | None:
        """How a failure counts toward a cooldown: ``(counter, allowed, hinted seconds)``, or ``None``."""
        if self.disable_cooldowns:
            return None
        policy_key = f"{kind}AllowedFails"
        if kind not in _COOLDOWN_KINDS and policy_key not in self.allowed_fails_policy:
            return None
        hinted = error.retry_after if kind == "RateLimitError" else None
        counter = policy_key if policy_key in self.allowed_fails_policy else "any"
        return counter, self.allowed_fails_policy.get(policy_key, self.allowed_fails), hinted

    @staticmethod
    def _cool(state: _Health, now: float, seconds: float) -> None:
        state.cooldown_until = now + seconds
        state.cooldowns += 1
        state.failures.clear()
        state.probation = True  # when it comes back, one more failure sends it back at once

    # ----------------------------------------------------------------- calls

    def _plan(self, model: str, kwargs: dict[str, Any]) -> _Plan:
        return _Plan(self, model, kwargs)

    def image_generation(self, prompt: str, model: str, **kwargs: Any) -> ImageResponse:
        """
        Generate through the deployments of ``model`` (a configured model name), retrying and falling back.

        Takes :func:`pixmux.image_generation`'s parameters; ``timeout`` and ``num_retries`` apply to
        the whole routed call. The response's metadata says which ``deployment`` served it, from
        which ``model_group``, after how many ``attempts``, and lists ``failed_attempts``.

        Raises:
            AllAttemptsFailedError: every attempt failed; it is also the last error's own class.
            NotFoundError: ``model`` is not a configured model name.
        """
        plan = self._plan(model, kwargs)
        while True:
            deployment, wait, timeout = plan.next()
            if not self._shared_take(deployment, plan.images):
                continue
            started = time.perf_counter()
            note = None
            try:
                if wait > 0:
                    self.engine.retry.sleep(wait)
                    started = time.perf_counter()
                note = self._attempt_started(deployment, plan)
                response = self.engine.image_generation(prompt, **plan.arguments(deployment, timeout))
            except PixmuxError as exc:
                self._attempt_failed(plan, deployment, exc, started=started, note=note)
                continue
            except BaseException:
                self._attempt_ended(note, deployment, None, time.perf_counter() - started)
                self._release(deployment)
                raise
            self._attempt_ended(note, deployment, None, time.perf_counter() - started, response)
            if self._shared_dirty(deployment):
                self._shared_succeeded(deployment)
            return plan.succeeded(deployment, response, time.perf_counter() - started)

    async def aimage_generation(self, prompt: str, model: str, **kwargs: Any) -> ImageResponse:
        """
        The async twin of :meth:`image_generation`.

        Each attempt is also cut by the router itself shortly after its timeout, whatever the
        transport does, so a provider that trickles bytes cannot hold the call.
        """
        plan = self._plan(model, kwargs)
        while True:
            deployment, wait, timeout = plan.next()
            if self.state.shared and not self._took(deployment, await self._ashared_take(deployment, plan.images)):
                continue
            started = time.perf_counter()
            note = None
            try:
                if wait > 0:
                    await self.engine.retry.asleep(wait)
                    started = time.perf_counter()
                note = self._attempt_started(deployment, plan)
                attempt = self.engine.aimage_generation(prompt, **plan.arguments(deployment, timeout))
                try:
                    response = await within(timeout + _HARD_CUT_GRACE, attempt)
                except TimeoutError as exc:
                    raise Timeout(
                        f"no answer within the timeout ({timeout:g}s)", provider=None, model=deployment.model
                    ) from exc
            except PixmuxError as exc:
                await self._aattempt_failed(plan, deployment, exc, started=started, note=note)
                continue
            except BaseException:
                self._attempt_ended(note, deployment, None, time.perf_counter() - started)
                self._release(deployment)
                raise
            self._attempt_ended(note, deployment, None, time.perf_counter() - started, response)
            if self._shared_dirty(deployment):
                await self._ashared_succeeded(deployment)
            return plan.succeeded(deployment, response, time.perf_counter() - started)

    # Edits and variations: the inputs are read once, then routed as a generation is (router_edits.py).
    image_edit = _router_edits.image_edit
    aimage_edit = _router_edits.aimage_edit
    image_variation = _router_edits.image_variation
    aimage_variation = _router_edits.aimage_variation

    # ----------------------------------------------------------------- shared state and observer (pixmux.state)
    # The router's table (self._health) decides alone with the default LocalState. With a shared
    # store it only steers: each attempt is confirmed by the store, each failure (and the first
    # success after failures) recorded there, and every reply refreshes the table.

    def _share(self, state: SharedState | None) -> None:
        self.state: SharedState = state if state is not None else LocalState(clock=self._clock)
        #: Told about every attempt and cooldown (the gateway's metrics and traces); ``None``: nobody.
        self.observer: RouterObserver | None = None
        by_usage = self.routing_strategy.startswith("usage-based-routing")
        self._members: dict[str, tuple[list[Member], int]] = {}
        for deployments in self._groups.values():
            members = [Member(d.id, d.rpm, by_usage or d.rpm is not None) for d in deployments]
            for index, deployment in enumerate(deployments):
                self._members[deployment.id] = (members, index)

    def _took(self, deployment: RouterDeployment, take: Take | None) -> bool:
        """Learn from the store's answer; ``False`` (reservation undone) when it refused the attempt."""
        if take is None:  # the store is down and fails open: this table decides
            return True
        now = self._clock()
        with self._lock:
            for member_id, facts in take.facts.items():
                self._health[member_id].learn(facts, now)
            if not take.accepted:
                self._health[deployment.id].in_flight -= 1
        return take.accepted

    def _take_arguments(self, deployment: RouterDeployment) -> tuple[str, list[Member], int, bool]:
        members, index = self._members[deployment.id]
        force = self._cooldown_left(deployment, self._clock()) > 0  # chosen while cooling: nothing else is left
        return deployment.model_name, members, index, force

    async def _ashared_take(self, deployment: RouterDeployment, images: int) -> Take | None:
        group, members, index, force = self._take_arguments(deployment)
        try:
            return await self.state.atake(group, members, index, units=images, force=force)
        except BaseException:
            self._release(deployment)
            raise

    def _shared_take(self, deployment: RouterDeployment, images: int) -> bool:
        if not self.state.shared:
            return True
        group, members, index, force = self._take_arguments(deployment)
        try:
            take = self.state.take(group, members, index, units=images, force=force)
        except BaseException:
            self._release(deployment)
            raise
        return self._took(deployment, take)

    def _fail_arguments(self, deployment: RouterDeployment, error: PixmuxError) -> dict[str, Any] | None:
        rule = self._failure_rule(error, _kind(error)) if self.state.shared else None
        if rule is None:
            return None
        members, index = self._members[deployment.id]
        counter, allowed, hinted = rule
        return {
            "group": deployment.model_name,
            "member": members[index],
            "counter": counter,
            "allowed": allowed,
            "cooldown": self.cooldown_time,
            "hinted": hinted,
        }

    async def _ashared_failed(self, deployment: RouterDeployment, error: PixmuxError) -> Facts | None:
        arguments = self._fail_arguments(deployment, error)
        if arguments is None:
            return None
        try:
            return await self.state.afailed(**arguments)
        except ServiceUnavailableError:  # fails closed, but this attempt is over: its failure is just not shared
            return None

    def _shared_failed(self, deployment: RouterDeployment, error: PixmuxError) -> Facts | None:
        arguments = self._fail_arguments(deployment, error)
        if arguments is None:
            return None
        try:
            return self.state.failed(**arguments)
        except ServiceUnavailableError:
            return None

    def _after_failure(self, deployment: RouterDeployment, facts: Facts | None, cooldowns: int) -> None:
        with self._lock:
            state = self._health[deployment.id]
            if facts is not None:  # the store's cooldown and probation win over this table's
                left = facts.cooldown_left
                state.cooldown_until = self._clock() + left if left > 0 else -math.inf
                state.probation = facts.probation
                state.shared_failing = facts.failing
            cooled = facts.cooled if facts is not None else state.cooldowns > cooldowns
        if cooled and self.observer is not None:
            self.observer.cooled_down(deployment)

    def _shared_dirty(self, deployment: RouterDeployment) -> bool:
        """A success must clear failures or a probation the store holds."""
        if not self.state.shared:
            return False
        state = self._health[deployment.id]
        return state.shared_failing or state.probation or bool(state.failures)

    async def _ashared_succeeded(self, deployment: RouterDeployment) -> None:
        members, index = self._members[deployment.id]
        try:
            await self.state.asucceeded(deployment.model_name, members[index])
        except ServiceUnavailableError:
            return
        self._health[deployment.id].shared_failing = False

    def _shared_succeeded(self, deployment: RouterDeployment) -> None:
        members, index = self._members[deployment.id]
        try:
            self.state.succeeded(deployment.model_name, members[index])
        except ServiceUnavailableError:
            return
        self._health[deployment.id].shared_failing = False

    def _attempt_started(self, deployment: RouterDeployment, plan: _Plan) -> object:
        if self.observer is None:
            return None
        return self.observer.attempt_started(deployment, len(plan.failures) + 1)

    def _attempt_ended(
        self,
        note: object,
        deployment: RouterDeployment,
        error: PixmuxError | None,
        elapsed: float,
        response: ImageResponse | None = None,
    ) -> None:
        if self.observer is not None:
            self.observer.attempt_ended(note, deployment, error, elapsed, response)

    def stream_image_generation(self, prompt: str, model: str, **kwargs: Any) -> Iterator[ImageStreamEvent]:
        """
        :meth:`image_generation` as a stream of events (see :func:`pixmux.image_generation` with ``stream=True``).

        Retries and fallbacks happen only before the first event; after it, a failure ends the
        stream with its typed error. The last completed event's metadata says which
        ``deployment`` served it, as for a whole response.
        """
        return self._stream(model, kwargs, functools.partial(self.engine.stream_image_generation, prompt))

    def astream_image_generation(self, prompt: str, model: str, **kwargs: Any) -> AsyncIterator[ImageStreamEvent]:
        """The async twin of :meth:`stream_image_generation`."""
        return self._astream(model, kwargs, functools.partial(self.engine.astream_image_generation, prompt))

    # Streamed edits: the inputs are read, then streamed through the same helpers (router_edits.py).
    stream_image_edit = _router_edits.stream_image_edit
    astream_image_edit = _router_edits.astream_image_edit

    def _stream(
        self,
        model: str,
        kwargs: dict[str, Any],
        start: Callable[..., Iterator[ImageStreamEvent]],
        inputs: Callable[[], dict[str, Any]] | None = None,
    ) -> Iterator[ImageStreamEvent]:
        """
        A routed stream: ``start(**arguments)`` opens one attempt's events (the engine call to make).

        ``inputs``, when given, is read first and joins the keywords (an edit's images and mask).
        """
        if inputs is not None:
            kwargs = {**kwargs, **inputs()}
        plan = self._plan(model, {**kwargs, "stream": True})  # stream_timeout bounds each attempt
        while True:
            deployment, wait, timeout = plan.next()
            if not self._shared_take(deployment, plan.images):
                continue
            started = time.perf_counter()
            note = None
            try:
                if wait > 0:
                    self.engine.retry.sleep(wait)
                    started = time.perf_counter()
                note = self._attempt_started(deployment, plan)
                events = start(**plan.arguments(deployment, timeout))
                first = next(events)
            except PixmuxError as exc:
                self._attempt_failed(plan, deployment, exc, started=started, note=note)
                continue
            except BaseException:
                self._attempt_ended(note, deployment, None, time.perf_counter() - started)
                self._release(deployment)
                raise
            break
        yield from _routed(plan, deployment, first, events, started=started, note=note)

    async def _astream(
        self,
        model: str,
        kwargs: dict[str, Any],
        start: Callable[..., AsyncIterator[ImageStreamEvent]],
        inputs: Callable[[], Awaitable[dict[str, Any]]] | None = None,
    ) -> AsyncIterator[ImageStreamEvent]:
        """The async twin of :meth:`_stream`."""
        if inputs is not None:
            kwargs = {**kwargs, **await inputs()}
        plan = self._plan(model, {**kwargs, "stream": True})
        while True:
            deployment, wait, timeout = plan.next()
            if self.state.shared and not self._took(deployment, await self._ashared_take(deployment, plan.images)):
                continue
            started = time.perf_counter()
            note = None
            try:
                if wait > 0:
                    await self.engine.retry.asleep(wait)
                    started = time.perf_counter()
                note = self._attempt_started(deployment, plan)
                events = start(**plan.arguments(deployment, timeout))
                first = await events.__anext__()
            except PixmuxError as exc:
                await self._aattempt_failed(plan, deployment, exc, started=started, note=note)
                continue
            except BaseException:
                self._attempt_ended(note, deployment, None, time.perf_counter() - started)
                self._release(deployment)
                raise
            break
        held: ImageStreamEvent | None = None  # the latest final image, kept back to say where it was served
        try:
            async for event in _prepended(first, events):
                if held is not None:
                    yield held
                    held = None
                if event.completed:
                    held = event
                else:
                    yield event
        except PixmuxError as exc:
            await self._aattempt_failed(plan, deployment, exc, started=started, note=note, begun=True)
            if held is not None:
                yield held
            raise
        except BaseException:
            self._attempt_ended(note, deployment, None, time.perf_counter() - started)
            self._release(deployment)
            raise
        if held is not None:
            yield await self._astream_done(plan, deployment, held, started=started, note=note)

    def _attempt_failed(
        self,
        plan: _Plan,
        deployment: RouterDeployment,
        error: PixmuxError,
        *,
        started: float,
        note: object,
        begun: bool = False,
    ) -> None:
        """
        An attempt failed: before any answer or first event (``begun`` false: the plan retries or
        falls back, or raises the final error) or after a stream's first event (no retry now).
        Either way it counts as any failed attempt does, here, in the shared state (failures,
        cooldown) and for the observer (metrics, span).
        """
        cooldowns = self._health[deployment.id].cooldowns
        try:
            self._failure_counted(plan, deployment, error, started=started, note=note, begun=begun)
        finally:
            self._after_failure(deployment, self._shared_failed(deployment, error), cooldowns)

    async def _aattempt_failed(
        self,
        plan: _Plan,
        deployment: RouterDeployment,
        error: PixmuxError,
        *,
        started: float,
        note: object,
        begun: bool = False,
    ) -> None:
        """:meth:`_attempt_failed` with the shared state reached without blocking the event loop."""
        cooldowns = self._health[deployment.id].cooldowns
        try:
            self._failure_counted(plan, deployment, error, started=started, note=note, begun=begun)
        finally:
            self._after_failure(deployment, await self._ashared_failed(deployment, error), cooldowns)

    def _failure_counted(
        self,
        plan: _Plan,
        deployment: RouterDeployment,
        error: PixmuxError,
        *,
        started: float,
        note: object,
        begun: bool,
    ) -> None:
        """The failed attempt counted here and for the observer; the plan raises its final error if nothing is left."""
        elapsed = time.perf_counter() - started
        self._attempt_ended(note, deployment, error, elapsed)
        if begun:
            self._failed(deployment, error, elapsed, plan.images)
        else:
            plan.failed(deployment, error, elapsed)

    async def _astream_done(
        self, plan: _Plan, deployment: RouterDeployment, last: ImageStreamEvent, *, started: float, note: object
    ) -> ImageStreamEvent:
        """A streamed attempt completed: the observer is told, shared failures cleared; the last event to send."""
        elapsed = time.perf_counter() - started
        self._attempt_ended(note, deployment, None, elapsed, _as_response(last))
        if self._shared_dirty(deployment):
            await self._ashared_succeeded(deployment)
        return _routed_last(plan, deployment, last, elapsed)


async def _prepended(first: ImageStreamEvent, rest: AsyncIterator[ImageStreamEvent]) -> AsyncIterator[ImageStreamEvent]:
    yield first
    async for event in rest:
        yield event


def _routed(
    plan: _Plan,
    deployment: RouterDeployment,
    first: ImageStreamEvent,
    events: Iterator[ImageStreamEvent],
    *,
    started: float,
    note: object,
) -> Iterator[ImageStreamEvent]:
    """The rest of a stream that has begun: no retry now; the last event says where it was served."""
    router = plan.router
    held: ImageStreamEvent | None = None  # the latest final image, kept back to say where it was served
    try:
        for event in itertools.chain((first,), events):
            if held is not None:
                yield held
                held = None
            if event.completed:
                held = event
            else:
                yield event
    except PixmuxError as exc:  # counted as any failed attempt: here, in the shared state, for the observer
        router._attempt_failed(plan, deployment, exc, started=started, note=note, begun=True)
        if held is not None:
            yield held
        raise
    except BaseException:
        router._attempt_ended(note, deployment, None, time.perf_counter() - started)
        router._release(deployment)
        raise
    if held is not None:
        elapsed = time.perf_counter() - started
        router._attempt_ended(note, deployment, None, elapsed, _as_response(held))
        if router._shared_dirty(deployment):
            router._shared_succeeded(deployment)
        yield _routed_last(plan, deployment, held, elapsed)


def _drop_own_frames(error: BaseException) -> None:
    """
    Cut the router's own frames from the head of ``error``'s traceback before a plan keeps it.

    Those frames hold the plan, and the plan would hold the error: a reference cycle that keeps
    the failed attempt (its request, an upload of megabytes) alive until a cyclic collection,
    which the gateway makes rare (``pixmux.proxy._collector``). The frames where the error arose
    (the engine, the transport) stay.
    """
    trace = error.__traceback__
    while trace is not None and trace.tb_frame.f_globals is globals():
        trace = trace.tb_next
    error.__traceback__ = trace


def _as_response(last: ImageStreamEvent) -> ImageResponse:
    """What the observer is told of a stream that completed (its cost and metadata; no images)."""
    return ImageResponse(created=last.created_at, cost=last.cost, metadata=last.metadata)


def _routed_last(plan: _Plan, deployment: RouterDeployment, last: ImageStreamEvent, elapsed: float) -> ImageStreamEvent:
    if not last.completed:  # pragma: no cover - the engine's stream always ends with a completed event
        return last
    done = plan.succeeded(deployment, ImageResponse(created=last.created_at, metadata=last.metadata), elapsed)
    return last._with_extras(metadata=done.metadata)


class _Plan:
    """
    The course of one routed call: which group, which deployment next, how long to wait, when to give up.

    Shared by the sync and async paths, so both retry and fall back alike.
    """

    def __init__(self, router: Router, model: str, kwargs: dict[str, Any]) -> None:
        self.router = router
        group = router.group(model)[0].model_name  # NotFoundError for an unknown name
        self.original = group
        merged = {**router.default_litellm_params, **kwargs}
        retries = merged.pop("num_retries", None)
        alias = merged.pop("max_retries", None)
        retries = alias if retries is None else retries
        self.retries = None if retries is None else check_retries(retries)
        timeout = merged.pop("timeout", None)
        self.timeout = router.timeout if timeout is None else _positive(timeout, "timeout")
        n = merged.get("n")
        self.images = n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 1
        self.kwargs = merged
        self.stream = bool(merged.get("stream"))
        self._prices: dict[str, float] = {}
        self.deadline = time.monotonic() + self.timeout
        self.regular = deque(router.fallbacks.get(group, router.default_fallbacks))
        self.refusal = deque(router.content_policy_fallbacks.get(group, ()))
        self.tried_groups = {group}
        self.fallbacks_used = 0
        self.attempts = 0
        self.failures: list[tuple[RouterDeployment, PixmuxError]] = []
        self._enter(group)

    def _enter(self, group: str) -> None:
        self.group = group
        self.deployments = self.router.group(group)
        self.retries_used = 0
        self.failed_here: dict[str, PixmuxError] = {}

    def _fallback(self, source: deque[str]) -> bool:
        """Move to the next untried group of ``source``; ``False`` when there is none left."""
        while source and self.fallbacks_used < self.router.max_fallbacks:
            group = source.popleft()
            if group in self.tried_groups:
                continue
            self.tried_groups.add(group)
            self.fallbacks_used += 1
            self._enter(group)
            return True
        return False

    def _has_fallback(self) -> bool:
        return self.fallbacks_used < self.router.max_fallbacks and any(g not in self.tried_groups for g in self.regular)

    def final(self) -> PixmuxError:
        """The error to raise: the last real one, with every attempt listed."""
        if not self.failures:  # pragma: no cover - next() raises its own error before any attempt
            raise AssertionError("no attempt was made")
        last = self.failures[-1][1]
        return AllAttemptsFailedError(last, [(d.id, error) for d, error in self.failures])

    def next(self) -> tuple[RouterDeployment, float, float]:
        """The next attempt: ``(deployment, seconds to wait first, seconds it may take)``; raises when done."""
        while True:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise self._out_of_time()
            allow_cooled = not self._has_fallback()
            deployment, frees_in = self.router._reserve(
                self.deployments, self.images, self.failed_here, allow_cooled, self.price
            )
            if deployment is None:
                if self._fallback(self.regular):
                    continue
                if self.failures:
                    raise self.final()
                raise RateLimitError(
                    f"no deployment of {self.group!r} is available now: each is at its rpm or "
                    "max_parallel_requests limit or cooling down",
                    model=self.group,
                    retry_after=frees_in,
                )
            previous = self.failed_here.get(deployment.id)
            wait = 0.0
            if previous is not None:
                wait = self.router.engine.retry.delay(self.retries_used, previous)
                wait = max(wait, self.router.retry_after)
                if time.monotonic() + wait >= self.deadline:
                    self.router._release(deployment)
                    raise self.final()
            limit = deployment.timeout if deployment.timeout is not None else math.inf
            if self.stream and deployment.stream_timeout is not None:
                limit = deployment.stream_timeout
            return deployment, wait, min(limit, remaining - wait)

    def price(self, deployment: RouterDeployment) -> float:
        """What this call would cost on ``deployment`` (``inf`` when unknown): ``cost-based-routing``'s measure."""
        found = self._prices.get(deployment.id)
        if found is None:
            found = _pricing.estimate(self.router.engine, deployment, self.kwargs, self.images)
            self._prices[deployment.id] = found
        return found

    def _out_of_time(self) -> PixmuxError:
        if self.failures:
            return self.final()
        return Timeout(f"the call's timeout ({self.timeout:g}s) ran out", model=self.group)

    def arguments(self, deployment: RouterDeployment, timeout: float) -> dict[str, Any]:
        """The engine's keywords for one attempt on ``deployment``."""
        return {**self.kwargs, **deployment.params, "timeout": timeout, "num_retries": deployment.max_retries}

    def _retry_limit(self, error: PixmuxError) -> int:
        if self.retries is not None:
            return self.retries
        key = f"{_kind(error)}Retries"
        return self.router.retry_policy.get(key, self.router.num_retries)

    def failed(self, deployment: RouterDeployment, error: PixmuxError, elapsed: float) -> None:
        """Note a failed attempt; raises the final error when there is nothing left to try."""
        if error.provider is None and error.model is None:
            error.model = deployment.model
        _drop_own_frames(error)
        self.router._failed(deployment, error, elapsed, self.images)
        attempts = error.details.get("attempts")
        self.attempts += attempts if isinstance(attempts, int) and attempts > 0 else 1
        self.failures.append((deployment, error))
        if is_retryable(error) and self.retries_used < self._retry_limit(error):
            self.retries_used += 1
            self.failed_here[deployment.id] = error
            return
        source = self.refusal if isinstance(error, ContentPolicyViolationError) else self.regular
        if not self._fallback(source):
            raise self.final() from error

    def succeeded(self, deployment: RouterDeployment, response: ImageResponse, elapsed: float) -> ImageResponse:
        """Note the success and say in the metadata how it went."""
        self.router._succeeded(deployment, elapsed, self.images)
        response = _pricing.with_deployment_cost(response, deployment.model_info, self.kwargs)
        attempts = response.metadata.get("attempts")
        self.attempts += attempts if isinstance(attempts, int) and attempts > 0 else 1
        return response.with_metadata(
            deployment=deployment.id,
            model_group=self.group,
            attempts=self.attempts,
            failed_attempts=[
                {
                    "deployment": failed.id,
                    "model_group": failed.model_name,
                    "error": type(error).__name__,
                    "status_code": error.status_code,
                }
                for failed, error in self.failures
            ],
        )
