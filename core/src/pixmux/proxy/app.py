"""
The gateway's ASGI application: OpenAI's image routes in front of a :class:`pixmux.Router`.

A plain ASGI callable (no framework on the hot path): one dict lookup routes a request,
the body is read with a size limit, checked, validated against every deployment behind the
model name with ``Engine.prepare`` (no I/O), sent through the router, and the answer is
written as OpenAI's ``ImagesResponse`` or ``ErrorResponse``. Nothing escapes as a bare 500.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import json
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

import pixmux
from pixmux import _redact
from pixmux._engine import Engine
from pixmux._params import field_types
from pixmux.exceptions import ConfigurationError, NotFoundError, PixmuxError, redact
from pixmux.proxy._collector import tune_collector
from pixmux.proxy._guard import accepts, body_rule, takes_body
from pixmux.proxy._memory import keep_freed_memory
from pixmux.proxy._request import CLIENT_FORBIDDEN, FieldProblem, check_fields
from pixmux.proxy.config import ROUTER_PARAMS, ConfigError, GatewayConfig, load_config
from pixmux.proxy.encode import GZIP_MIN_BYTES, accepts_gzip, encode_images, encode_json, error_body, gzip_chunks
from pixmux.proxy.openapi import openapi_document
from pixmux.proxy.process import LOG_LEVEL_ENV, apply_process_settings, configure_logging
from pixmux.proxy.settings import read_scaleout
from pixmux.proxy.sse import EventStream, first_event, write_stream
from pixmux.proxy.telemetry import Telemetry
from pixmux.proxy.ui import SECURITY_HEADERS, UI_PREFIX, deployment_health, model_info, static_file
from pixmux.proxy.uploads import ClientGone, UploadError, image_urls_allowed, read_upload
from pixmux.router import Router
from pixmux.types import ImageInput

if TYPE_CHECKING:
    from pixmux.proxy.store.accounting import Accounting

__all__ = ["Gateway", "GatewayError", "create_app", "app_from_env", "CONFIG_ENV"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]
_T = TypeVar("_T")
_Answer = tuple[int, Headers, "list[bytes] | EventStream"]
_Handler = Callable[[Scope, Receive, dict[str, Any]], Awaitable[_Answer]]

#: The environment variable through which ``pixmux serve --workers N`` hands each worker its config path.
CONFIG_ENV = "PIXMUX_CONFIG"

logger = logging.getLogger("pixmux.proxy")

#: The request fields of OpenAI's ``CreateImageRequest`` and the JSON types each may hold (the parameter table's).
_FIELD_TYPES: Mapping[str, tuple[type, ...]] = field_types("generate")
#: Most images one request may ask for (OpenAI's schema); each model may allow fewer.
MAX_N = 10
#: Keyword arguments that configure where and as whom a call is made: only the config sets them.
_CLIENT_FORBIDDEN = CLIENT_FORBIDDEN
#: Longest error message the gateway sends (a provider's or a client's text is cut there).
_MAX_MESSAGE = 2000
_NOT_FOR_PREPARE = frozenset({"model", "mock_response", *ROUTER_PARAMS})
_JSON = b"application/json"


class GatewayError(Exception):
    """An error the gateway answers itself, in OpenAI's shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: Headers | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or []


class _ClientGone(Exception):
    """The client disconnected before its request body arrived."""


@attrs.frozen(kw_only=True)
class _Target:
    """One deployment behind a model name, as the gateway pre-validates against it."""

    id: str
    model: str
    params: Mapping[str, Any]
    forbidden: frozenset[str]


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _sendable(text: str | None) -> str | None:
    """``text`` as UTF-8 can carry it: a lone surrogate (from a client's ``\\ud800`` escape) written as ``\\ud800``."""
    if text is None or text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _printable(value: object, limit: int = 120) -> str:
    """A client-supplied value for a log line or a header: escaped, cut at ``limit``, credentials masked, no spaces."""
    text = value if isinstance(value, str) else str(value)
    if limit == 120:
        found = _PRINTED.get(text)
        if found is not None:
            return found
    cleaned = _redact.clean_client_value(text, limit).replace(" ", "_").encode("ascii", "backslashreplace").decode()
    if limit == 120 and len(text) <= 256:
        if len(_PRINTED) >= 1024:
            _PRINTED.clear()
        _PRINTED[text] = cleaned
    return cleaned


#: ``_printable``'s recent answers: the same paths, models and deployments come back on every request.
_PRINTED: dict[str, str] = {}


class Gateway:
    """
    The OpenAI-compatible image gateway as an ASGI application.

    Args:
        config: the checked config (see :func:`pixmux.proxy.config.load_config`).
        engine: the engine calls go through; a new one (installed plugins) by default.

    Raises:
        ConfigError: the model list names a provider that is not installed, a deployment's
            parameters are refused by its model, or the router refuses ``router_settings``.
    """

    def __init__(self, config: GatewayConfig, *, engine: Engine | None = None) -> None:
        self.config = config
        self.engine = engine if engine is not None else _engine_for(config)
        if config.environment:  # environment_variables: seen where providers read credentials
            base = os.environ if self.engine._environ is None else self.engine._environ
            self.engine._environ = {**base, **config.environment}
        self._limit = config.global_max_parallel_requests
        self._in_flight = 0
        self._secrets = set(config.secrets)
        self.scaleout = read_scaleout(
            config.general_settings, config.router_settings, path=config.path, json_logs=config.json_logs
        )
        self._secrets |= self.scaleout.secrets
        try:
            self.router = self._build_router()
            self._targets = self._check_deployments()
            self._forbidden = frozenset(CLIENT_FORBIDDEN).union(
                *(target.forbidden for group in self._targets.values() for target in group)
            )
        except ConfigError as exc:  # a credential written in the wrong place is echoed by the check: hide it
            raise ConfigError(self._scrub(exc.message), param=exc.param) from None
        _redact.remember(self._secrets)  # the master key and every configured credential, for the log filter
        self.started = int(time.time())
        self._master = hashlib.sha256(config.master_key.encode()).digest() if config.master_key else None
        self._models_body = encode_json(
            {
                "object": "list",
                "data": [
                    {"id": name, "object": "model", "created": self.started, "owned_by": "pixmux"}
                    for name in self.router.model_names
                ],
            }
        )
        self._openapi_body = encode_json(openapi_document(self.router.model_names, forbidden=self._forbidden))
        self._routes: dict[tuple[str, str], _Handler] = {}
        # virtual keys, budgets and spend (pixmux.proxy.store), when configured
        self.accounting: Accounting | None = None
        if config.accounting is not None:
            from pixmux.proxy.store.accounting import Accounting

            self.accounting = Accounting(self, config.accounting)
            self._routes.update(self.accounting.routes())
        for path in ("/v1/images/generations", "/images/generations"):
            self._routes[("POST", path)] = self._generate
        for path in ("/v1/images/edits", "/images/edits"):
            self._routes[("POST", path)] = self._edit
        for path in ("/v1/images/variations", "/images/variations"):
            self._routes[("POST", path)] = self._variation
        for path in ("/v1/models", "/models"):
            self._routes[("GET", path)] = self._models
        for path in ("/health/liveliness", "/health/liveness"):
            self._routes[("GET", path)] = self._liveliness
        self._routes[("GET", "/health/readiness")] = self._readiness
        for path in ("/openapi.json", "/v1/openapi.json"):
            self._routes[("GET", path)] = self._openapi
        for path in ("/model/info", "/v1/model/info"):
            self._routes[("GET", path)] = self._model_info
        self._routes[("GET", "/health/deployments")] = self._deployment_health
        self.telemetry = Telemetry(self.router, **self.scaleout.telemetry)  # metrics, traces, JSON logs
        if self.telemetry.metrics is not None:
            self._routes[("GET", "/metrics")] = self.telemetry.metrics_route
        self._paths = {path for _, path in self._routes}
        self._open_paths = frozenset({"/health/liveliness", "/health/liveness"})

    # ------------------------------------------------------------------ start-up checks

    def _build_router(self) -> Router:
        path = self.config.path
        try:
            return Router(
                list(self.config.model_list),
                engine=self.engine,
                state=self.scaleout.state,
                **self.scaleout.router_settings,
            )
        except TypeError as exc:
            raise ConfigError(f"{path}: router_settings: {exc}", param="router_settings") from None
        except ConfigurationError as exc:
            param = exc.param or ""
            where = (
                param if param.startswith("model_list") else f"router_settings.{param}" if param else "router_settings"
            )
            raise ConfigError(f"{path}: {where}: {exc.message}", param=where) from None

    def _check_deployments(self) -> dict[str, list[_Target]]:
        """Resolve every deployment's provider and check its parameters once, at start (no I/O)."""
        path = self.config.path
        for index, entry in enumerate(self.config.model_list):
            params = {k: v for k, v in entry["litellm_params"].items() if k not in _NOT_FOR_PREPARE}
            model = str(entry["litellm_params"]["model"])
            where = f"model_list[{index}].litellm_params"
            try:
                call = self.engine.prepare(prompt="configuration check", model=model, **self._check_args(model, params))
            except PixmuxError as exc:
                place = f"{where}.{exc.param}" if exc.param and exc.param != "model" else f"{where}.model"
                raise ConfigError(f"{path}: {place}: {exc.message}", param=place) from None
            except TypeError as exc:
                raise ConfigError(f"{path}: {where}: {exc}", param=where) from None
            for value in (call.deployment.api_key, *call.deployment.settings.values()):
                if isinstance(value, str):
                    self._secrets.add(value)
        return {name: self._group_targets(name) for name in self.router.model_names}

    def _check_args(self, model: str, params: dict[str, Any]) -> dict[str, Any]:
        """
        The start-up check's arguments: a generation, or for a model that only edits (an
        upscaler, an edit-only service) its own operation on a sample image, so that its
        settings and credentials are checked as well.
        """
        provider, name = self.engine.registry.resolve(model, params.get("custom_llm_provider"))
        operations = self.engine.registry.get(provider).catalogue.lookup(name).operations
        if not operations or "generate" in operations:
            return params
        operation = "edit" if "edit" in operations else sorted(operations)[0]
        return {**params, "operation": operation, "images": (_sample_image(),)}

    def _group_targets(self, name: str) -> list[_Target]:
        group = []
        for deployment in self.router.group(name):
            params = {k: v for k, v in deployment.params.items() if k not in _NOT_FOR_PREPARE}
            provider, _ = self.engine.registry.resolve(deployment.model, params.get("custom_llm_provider"))
            settings = self.engine.registry.get(provider).catalogue.settings
            forbidden = _CLIENT_FORBIDDEN | settings
            group.append(_Target(id=deployment.id, model=deployment.model, params=params, forbidden=forbidden))
        return group

    # ------------------------------------------------------------------ ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self.accounting is not None:
                    try:
                        await self.accounting.start()
                    except Exception as exc:  # noqa: BLE001 - the database is unreachable: refuse to start, say why
                        logger.error("cannot start: %s", exc)
                        await send({"type": "lifespan.startup.failed", "message": str(exc)})
                        return
                await self.engine.warm()  # the upstream pool now, not on the first request
                self.telemetry.startup()
                await self.router.state.astart()
                for note in self.config.warnings:
                    logger.warning("%s: %s", self.config.path, note)
                logger.info(
                    "pixmux gateway %s ready: %d model name(s): %s",
                    pixmux.__version__,
                    len(self.router.model_names),
                    ", ".join(self.router.model_names),
                )
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    if self.accounting is not None:
                        await self.accounting.stop()
                    await self.engine.aclose()
                    await self.router.state.aclose()
                    self.telemetry.shutdown()
                finally:
                    await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request_id = os.urandom(12).hex()
        method = scope["method"]
        path = scope["path"]
        info: dict[str, Any] = {"request_id": request_id}
        if self.telemetry.on:
            self.telemetry.begin(scope, info)
        headers: Headers
        streaming = False
        if path == UI_PREFIX or path.startswith(UI_PREFIX + "/"):
            await self._ui(path, method, send)
            return
        try:
            handler, model_in_path = self._route(method, path)
            if path not in self._open_paths and handler != self._preflight:  # a preflight carries no key
                if self.accounting is None:
                    self._authenticate(scope)
                else:
                    info["caller"] = await self.accounting.authenticate(scope, info)
            self._check_media_type(handler, scope)
            info["model"] = model_in_path
            status, headers, chunks = await handler(scope, receive, info)
            if isinstance(chunks, EventStream):
                headers.append((b"x-request-id", request_id.encode()))
                streaming = True  # the answer has started: a cancellation now ends the stream, no 503
                try:
                    finished = await write_stream(chunks, send, receive, headers)
                finally:  # a shutdown that cancels the stream still settles its budget hold
                    chunks.ended()
                    if self.accounting is not None:
                        self.accounting.stream_ended(info, chunks.last, chunks.failed)
                self._log_stream(
                    chunks, method=method, path=path, finished=finished, started=started, request_id=request_id
                )
                return
        except asyncio.CancelledError:  # the server's shutdown timeout ran out with this request in flight
            if streaming:
                raise
            status, headers, chunks = self._shutting_down(request_id)
        except _ClientGone:
            self._log(method=method, path=path, info=info, status=499, started=started, request_id=request_id)
            return
        except GatewayError as exc:
            status, headers, chunks = self._error(exc)
        except PixmuxError as exc:
            status, headers, chunks = self._pixmux_error(exc)
        except Exception:
            logger.exception("request %s: unexpected error", request_id)
            status, headers, chunks = self._error(
                GatewayError(500, f"internal gateway error (request id {request_id})", type="api_error")
            )
        assert not isinstance(chunks, EventStream)  # streams were answered above
        await self._respond(
            scope=scope,
            send=send,
            status=status,
            headers=headers,
            chunks=chunks,
            started=started,
            request_id=request_id,
            info=info,
        )
        self._log(method=method, path=path, info=info, status=status, started=started, request_id=request_id)

    def _route(self, method: str, path: str) -> tuple[_Handler, str | None]:
        """The handler of ``method path`` and the model its path names (Azure's routes), or a 404/405."""
        handler = self._routes.get((method, path))
        model_in_path = None
        if handler is None and self.accounting is not None:
            handler = self.accounting.route(method, path)
        if handler is None:
            model_in_path = self._azure_model(path)
            if model_in_path is not None and method == "POST":
                handler = self._edit if path.endswith("/edits") else self._generate
        if method == "OPTIONS" and (path in self._paths or model_in_path is not None):
            handler = self._preflight
        if handler is None:
            if path in self._paths or model_in_path is not None:
                allowed = (
                    "POST" if model_in_path is not None else ",".join(sorted(m for m, p in self._routes if p == path))
                )
                raise GatewayError(
                    405, f"method {method} is not allowed on {path}", headers=[(b"allow", allowed.encode())]
                )
            raise GatewayError(404, f"no route {method} {path}; see /openapi.json", code="not_found")
        return handler, model_in_path

    def _azure_model(self, path: str) -> str | None:
        # /openai/deployments/{model}/images/generations (or /images/edits)
        if not path.startswith("/openai/deployments/"):
            return None
        for tail in ("/images/generations", "/images/edits"):
            if path.endswith(tail):
                name = path[len("/openai/deployments/") : -len(tail)]
                return name if name and "/" not in name else None
        return None

    def _check_media_type(self, handler: object, scope: Scope) -> None:
        """A 415 when the route declares its body types (``takes_body``) and the request's is not one of them."""
        rule = body_rule(handler)
        if rule is not None and not accepts(rule, _header(scope, b"content-type")):
            raise GatewayError(
                415,
                f"the request body must be {' or '.join(rule.media_types)} "
                f"(Content-Type: {_printable(_header(scope, b'content-type') or 'none')})",
                code="unsupported_media_type",
            )

    def _shutting_down(self, request_id: str) -> _Answer:
        """The answer to a request the shutdown timeout cut short: an OpenAI-shaped 503 the SDKs retry."""
        logger.warning("request %s: cancelled by the shutdown timeout; answered 503", request_id)
        return self._error(
            GatewayError(
                503,
                "the gateway is shutting down and this request did not finish in time; retry",
                type="api_error",
                code="shutting_down",
                headers=[(b"connection", b"close"), (b"retry-after", b"1")],
            )
        )

    async def _preflight(self, scope: Scope, receive: Receive, info: dict[str, Any]) -> _Answer:
        """A CORS preflight: the allow-list's answer for an allowed origin, else 405 as any other unknown method."""
        path = scope["path"]
        model_in_path = self._azure_model(path)
        methods = {"POST"} if model_in_path is not None else {m for m, p in self._routes if p == path}
        origin = _header(scope, b"origin")
        cors = self.config.cors
        if cors.enabled and origin is not None and cors.allows(origin):
            return 204, cors.preflight(origin, methods), []
        raise GatewayError(
            405,
            f"method OPTIONS is not allowed on {_printable(path)}"
            + ("" if cors.enabled else " (cross-origin requests are off: general_settings.cors_allow_origins)"),
            headers=[(b"allow", ",".join(sorted(methods)).encode())],
        )

    # ------------------------------------------------------------------ auth

    def _authenticate(self, scope: Scope) -> None:
        if self._master is None:
            return
        given = None
        for key, value in scope["headers"]:
            if key == b"authorization":
                scheme, _, token = value.partition(b" ")
                if scheme.lower() == b"bearer":
                    given = token.strip()
            elif key == b"api-key" and given is None:
                given = value.strip()
        if not given:
            raise GatewayError(
                401,
                "missing API key: send `Authorization: Bearer <key>` or `api-key: <key>`",
                type="invalid_request_error",
                code="invalid_api_key",
            )
        if not hmac.compare_digest(hashlib.sha256(given).digest(), self._master):
            raise GatewayError(401, "incorrect API key", type="invalid_request_error", code="invalid_api_key")

    # ------------------------------------------------------------------ routes

    async def _liveliness(self, scope: Scope, receive: Receive, info: dict[str, Any]) -> _Answer:
        return 200, [(b"content-type", _JSON)], [b'{"status":"alive"}']

    async def _readiness(self, scope: Scope, receive: Receive, info: dict[str, Any]) -> _Answer:
        body = encode_json(
            {
                "status": "ready",
                "pixmux_version": pixmux.__version__,
                "models": self.router.model_names,
                "deployments": sum(len(group) for group in self._targets.values()),
            }
        )
        return 200, [(b"content-type", _JSON)], [body]

    async def _models(self, scope: Scope, receive: Receive, info: dict[str, Any]) -> _Answer:
        return 200, [(b"content-type", _JSON)], [self._models_body]

    async def _openapi(self, scope: Scope, receive: Receive, info: dict[str, Any]) -> _Answer:
        return 200, [(b"content-type", _JSON)], [self._openapi_body]

    async def _model_info(self, scope: Scope, receive: Receive, info: dict[str, Any]) -> _Answer:
        groups = {}
        for name, targets in self._targets.items():
            found = []
            for target in targets:
                provider, model = self.engine.registry.resolve(target.model, target.params.get("custom_llm_provider"))
                found.append((provider, self.engine.registry.get(provider).catalogue.lookup(model)))
            groups[name] = found
        return 200, [(b"content-type", _JSON)], [encode_json(model_info(groups))]

    async def _deployment_health(self, scope: Scope, receive: Receive, info: dict[str, Any]) -> _Answer:
        return 200, [(b"content-type", _JSON)], [encode_json(deployment_health(self.router))]

    async def _ui(self, path: str, method: str, send: Send) -> None:
        """The playground's static files: open (they hold nothing secret); every route they call checks the key."""
        found = static_file(path) if method in ("GET", "HEAD") else None
        if found is None:
            status, headers, chunks = self._error(GatewayError(404, f"no page {_printable(path)}", code="not_found"))
            whole = b"".join(chunks) if isinstance(chunks, list) else b""
        else:
            status, headers, whole = 200, [(b"content-type", found[0]), *SECURITY_HEADERS], found[1]
        body = b"" if method == "HEAD" else whole
        headers.append((b"content-length", str(len(whole)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _read_body(self, scope: Scope, receive: Receive, limit: int | None = None) -> bytes:
        """
        The whole request body, at most ``limit`` bytes (``max_request_size_mb`` by default, 413
        past it) within ``general_settings.body_timeout`` seconds (408 past it).
        """
        limit = self.config.max_request_bytes if limit is None else limit
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise self._too_large(int(declared), limit)
        return await self._in_time(self._receive_body(receive, limit))

    async def _in_time(self, reading: Awaitable[_T]) -> _T:
        """``await reading`` (a request body being read), or a 408 once ``general_settings.body_timeout`` passes."""
        task = asyncio.current_task()
        late: list[bool] = []

        def too_slow() -> None:
            late.append(True)
            if task is not None:
                task.cancel()

        timer = asyncio.get_running_loop().call_later(self.config.limits.body_timeout, too_slow)
        try:
            return await reading
        except asyncio.CancelledError:
            if not late:
                raise
            if task is not None and hasattr(task, "uncancel"):
                task.uncancel()
            raise GatewayError(
                408,
                f"the request body did not arrive within {self.config.limits.body_timeout:g}s "
                "(general_settings.body_timeout)",
                code="request_timeout",
                headers=[(b"connection", b"close")],
            ) from None
        finally:
            timer.cancel()

    async def _receive_body(self, receive: Receive, limit: int) -> bytes:
        chunks = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise self._too_large(size, limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _too_large(self, size: int, limit: int) -> GatewayError:
        setting = " (general_settings.max_request_size_mb)" if limit == self.config.max_request_bytes else ""
        return GatewayError(
            413,
            f"the request body is {size} bytes or more; this gateway accepts at most {limit}{setting}",
            code="request_too_large",
            headers=[(b"connection", b"close")],
        )

    @takes_body("application/json")
    async def _generate(self, scope: Scope, receive: Receive, info: dict[str, Any]) -> _Answer:
        return await self._within_limit(self._generate_one, scope, receive, info)

    async def _within_limit(self, handler: _Handler, scope: Scope, receive: Receive, info: dict[str, Any]) -> _Answer:
        """Run an image route's ``handler`` within ``general_settings.global_max_parallel_requests`` (429 beyond)."""
        if self._limit is None:
            return await handler(scope, receive, info)
        if self._in_flight >= self._limit:
            raise GatewayError(
                429,
                f"the gateway is serving its most requests at once ({self._limit}); retry shortly",
                type="rate_limit_error",
                code="rate_limit_exceeded",
                headers=[(b"retry-after", b"1")],
            )
        self._in_flight += 1
        handed_over = False
        try:
            answer = await handler(scope, receive, info)
            if isinstance(answer[2], EventStream):  # a stream holds its slot until its last event is sent
                answer[2].on_end.append(self._end_in_flight)
                handed_over = True
            return answer
        finally:
            if not handed_over:
                self._in_flight -= 1

    def _end_in_flight(self) -> None:
        self._in_flight -= 1

    async def _generate_one(self, scope: Scope, receive: Receive, info: dict[str, Any]) -> _Answer:
        raw = await self._read_body(scope, receive)
        prompt, name, params = self._parse_request(raw, info.get("model"))
        name = self.config.image_generation_model or name  # general_settings.image_generation_model
        info["model"] = name
        self._prevalidate(prompt, name, params)
        hold = None if self.accounting is None else await self.accounting.admit(info, prompt, name, params)
        if params.pop("stream", False):
            info["hold"] = hold  # settled by the accounting when the stream ends
            try:
                events = self.router.astream_image_generation(prompt, model=name, **params)
                first = await first_event(events)  # a failure this early is an ordinary error answer
            except BaseException as exc:
                if hold is not None:
                    hold.failed(exc)
                raise
            headers: Headers = [
                (b"content-type", b"text/event-stream; charset=utf-8"),
                (b"cache-control", b"no-cache"),
                (b"x-accel-buffering", b"no"),
            ]
            return 200, headers, EventStream(first=first, rest=events, info=info, error_body=self._event_error)
        upstream_started = time.perf_counter()
        try:
            response = await self.router.aimage_generation(prompt, model=name, **params)
        except BaseException as exc:
            if hold is not None:
                hold.failed(exc)
            raise
        if hold is not None:
            hold.succeeded(response)  # journaled before the answer is sent
        info["upstream"] = time.perf_counter() - upstream_started
        return self._images(response, info)

    @takes_body("multipart/form-data", "application/json", limit="max_upload_bytes")
    async def _edit(self, scope: Scope, receive: Receive, info: dict[str, Any]) -> _Answer:
        return await self._within_limit(self._edit_one, scope, receive, info)

    @takes_body("multipart/form-data", limit="max_upload_bytes")
    async def _variation(self, scope: Scope, receive: Receive, info: dict[str, Any]) -> _Answer:
        return await self._within_limit(self._variation_one, scope, receive, info)

    async def _edit_one(self, scope: Scope, receive: Receive, info: dict[str, Any]) -> _Answer:
        return await self._upload(scope, receive, info, "edit")

    async def _variation_one(self, scope: Scope, receive: Receive, info: dict[str, Any]) -> _Answer:
        return await self._upload(scope, receive, info, "variation")

    async def _upload(self, scope: Scope, receive: Receive, info: dict[str, Any], operation: str) -> _Answer:
        """An edit or a variation: the upload read by ``pixmux.proxy.uploads``, then routed as a generation is."""
        limit = self.config.max_upload_bytes
        try:
            fetch = self.engine.async_transport().send  # image URLs, where allowed: the one transport
            urls = functools.partial(self._image_urls, info.get("model"))
            upload = await self._in_time(
                read_upload(scope, receive, operation=operation, limit=limit, allow_urls=urls, send=fetch)
            )
        except UploadError as exc:
            raise GatewayError(exc.status, exc.message, param=exc.param, code=exc.code) from None
        except ClientGone:
            raise _ClientGone from None
        name = info.get("model") or upload.model
        if not isinstance(name, str) or not name:
            raise GatewayError(
                400, f"model is required; configured models: {', '.join(self.router.model_names)}", param="model"
            )
        info["model"] = name
        inputs = {"operation": operation, "images": upload.images, "mask": upload.mask}
        self._prevalidate(upload.prompt, name, upload.params, inputs)
        hold = None
        if self.accounting is not None:
            hold = await self.accounting.admit(info, upload.prompt, name, {**upload.params, **inputs})
        if upload.params.pop("stream", False):  # image_edit.* events (variations refuse stream when read)
            info["hold"] = hold  # settled by the accounting when the stream ends
            try:
                events = self.router.astream_image_edit(
                    upload.images, upload.prompt, model=name, mask=upload.mask, **upload.params
                )
                first = await first_event(events)
            except BaseException as exc:
                if hold is not None:
                    hold.failed(exc)
                raise
            headers: Headers = [
                (b"content-type", b"text/event-stream; charset=utf-8"),
                (b"cache-control", b"no-cache"),
                (b"x-accel-buffering", b"no"),
            ]
            return 200, headers, EventStream(first=first, rest=events, info=info, error_body=self._event_error)
        upstream_started = time.perf_counter()
        try:
            response = await self.router.aimage_generation(upload.prompt, model=name, **upload.params, **inputs)
        except BaseException as exc:
            if hold is not None:
                hold.failed(exc)
            raise
        if hold is not None:
            hold.succeeded(response)
        info["upstream"] = time.perf_counter() - upstream_started
        return self._images(response, info)

    def _image_urls(self, in_path: str | None, in_body: str | None) -> bool:
        """Whether a JSON edit's image URLs are fetched for its model name (``uploads.image_urls_allowed``)."""
        name = in_path or in_body
        try:
            group = self.router.group(name) if name else []
        except PixmuxError:
            group = []  # an unknown name is answered 404 once the body is read
        return image_urls_allowed(group, self.config.allow_image_urls)

    def _images(self, response: pixmux.ImageResponse, info: dict[str, Any]) -> _Answer:
        """OpenAI's ``ImagesResponse`` with the gateway's headers (deployment, provider, cost)."""
        metadata = response.metadata
        out = response.to_dict()
        info["b64"] = any("b64_json" in image for image in out.get("data", ()))
        info["images"], info["cost"] = len(out.get("data", ())), response.cost
        chunks = encode_images(out)
        headers = [(b"content-type", _JSON)]
        deployment = metadata.get("deployment")
        if deployment is not None:
            info["deployment"] = deployment
            headers.append((b"x-pixmux-deployment", _printable(deployment).encode()))
        for key in ("provider", "model", "attempts"):
            value = metadata.get(key)
            if value is not None:
                headers.append((b"x-pixmux-" + key.encode(), _printable(value).encode()))
        if response.cost is not None and math.isfinite(response.cost):
            headers.append((b"x-pixmux-cost", f"{response.cost:.10g}".encode()))
        elapsed = metadata.get("elapsed")
        if isinstance(elapsed, int | float):
            info["provider_time"] = float(elapsed)
        return 200, headers, chunks

    def _parse_request(self, raw: bytes, model_in_path: str | None) -> tuple[str, str, dict[str, Any]]:
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise GatewayError(400, f"the request body is not valid JSON: {exc}") from None
        except RecursionError:
            raise GatewayError(400, "the request body is not valid JSON: it nests too deeply") from None
        if not isinstance(body, dict):
            raise GatewayError(400, "the request body must be a JSON object (OpenAI's CreateImageRequest)")
        try:
            check_fields(body, forbidden=self._forbidden, model_required=model_in_path is None)
        except FieldProblem as problem:
            if problem.param == "model" and model_in_path is None:
                names = ", ".join(self.router.model_names)
                raise GatewayError(400, f"model is required; configured models: {names}", param="model") from None
            raise GatewayError(400, problem.message, param=problem.param) from None
        prompt = body.pop("prompt")
        name = body.pop("model", None)
        if model_in_path is not None:
            # Azure's route names the model in the path; a body naming another one is refused, not ignored.
            if name is not None and name != model_in_path:
                raise GatewayError(
                    400,
                    f"the body's model {_printable(name)!r} differs from the path's {_printable(model_in_path)!r}; "
                    "leave model out of the body or give the same name",
                    param="model",
                )
            name = model_in_path
        for key in ("image", "images", "mask", "operation"):
            if key in body:
                raise GatewayError(400, f"{key} belongs to an edit: POST /v1/images/edits", param=key)
        if body.get("partial_images") is not None and not body.get("stream"):
            raise GatewayError(400, "partial_images needs stream: true", param="partial_images")
        if not body.get("stream"):
            body.pop("stream", None)
        params = {key: value for key, value in body.items() if value is not None}
        return prompt, name, params

    def _prevalidate(
        self, prompt: str, name: str, params: dict[str, Any], inputs: Mapping[str, Any] | None = None
    ) -> None:
        targets = self._targets.get(name)
        if targets is None and len(name) <= 256:
            try:  # an alias the router knows (router_settings.model_group_alias)
                targets = self._targets[name] = self._group_targets(name)
            except PixmuxError:
                targets = None
        if targets is None:
            raise GatewayError(
                404,
                f"model {_printable(name)!r} is not configured on this gateway; "
                f"available: {', '.join(self.router.model_names)}",
                param="model",
                code="model_not_found",
            )
        first: PixmuxError | None = None
        for target in targets:
            for key in params:
                if key in target.forbidden:
                    shown = _printable(key)
                    raise GatewayError(400, f"{shown} is set by the gateway's config, not by clients", param=shown)
            try:
                self.engine.prepare(prompt=prompt, model=target.model, **{**params, **target.params}, **(inputs or {}))
            except PixmuxError as exc:
                first = first or exc
                continue
            except TypeError as exc:
                raise GatewayError(400, f"invalid parameters: {_redact.clean_client_value(exc, 300)}") from None
            return
        if first is not None:
            raise first

    # ------------------------------------------------------------------ answers

    def _scrub(self, text: str) -> str:
        return redact(text, self._secrets, min_length=4)

    def _error(self, exc: GatewayError) -> _Answer:
        # A message may quote what a client sent (a model name, a value): masked and bounded like a log line.
        message = _sendable(_redact.clean_client_value(self._scrub(exc.message), _MAX_MESSAGE))
        param = _sendable(_redact.clean_client_value(exc.param)) if exc.param is not None else None
        code = _sendable(_redact.clean_client_value(exc.code)) if exc.code is not None else None
        body = error_body(message or "", type=exc.type, param=param, code=code)
        return exc.status, [(b"content-type", _JSON), *exc.headers], [body]

    def _pixmux_error(self, exc: PixmuxError) -> _Answer:
        status = exc.status_code if isinstance(exc.status_code, int) and 400 <= exc.status_code <= 599 else 500
        if isinstance(exc, NotFoundError) and exc.param == "model" and exc.response is None:
            code: str | None = "model_not_found"
        else:
            code = exc.code
        headers: Headers = []
        if exc.retry_after is not None and math.isfinite(exc.retry_after):
            headers.append((b"retry-after", str(max(0, math.ceil(exc.retry_after))).encode()))
            headers.append((b"retry-after-ms", str(max(0, round(exc.retry_after * 1000))).encode()))
        if exc.provider:
            headers.append((b"x-pixmux-provider", _printable(exc.provider).encode()))
        error = GatewayError(status, str(exc), type=exc.openai_type, param=exc.param, code=code, headers=headers)
        return self._error(error)

    async def _respond(
        self,
        *,
        scope: Scope,
        send: Send,
        status: int,
        headers: Headers,
        chunks: list[bytes],
        started: float,
        request_id: str,
        info: Mapping[str, Any],
    ) -> None:
        size = sum(len(chunk) for chunk in chunks)
        headers.append((b"x-request-id", request_id.encode()))
        if self.config.cors.enabled:
            origin = _header(scope, b"origin")
            if origin is not None and self.config.cors.allows(origin):
                headers.extend(self.config.cors.headers(origin))
        if size >= GZIP_MIN_BYTES:
            headers.append((b"vary", b"accept-encoding"))
            if (self.config.gzip_images or not info.get("b64")) and accepts_gzip(_header(scope, b"accept-encoding")):
                compressed = (
                    await asyncio.to_thread(gzip_chunks, chunks, size)
                    if size >= 256 * 1024
                    else gzip_chunks(chunks, size)
                )
                chunks = [compressed]
                size = len(compressed)
                headers.append((b"content-encoding", b"gzip"))
        headers.append((b"content-length", str(size).encode()))
        total = time.perf_counter() - started
        upstream = info.get("upstream")
        if upstream is not None:
            provider = info.get("provider_time", upstream)
            overhead = max(0.0, total - min(provider, upstream))
            headers.append((b"x-pixmux-overhead-ms", f"{overhead * 1000:.3f}".encode()))
            headers.append(
                (b"server-timing", f"gateway;dur={overhead * 1000:.3f}, provider;dur={provider * 1000:.3f}".encode())
            )
        await send({"type": "http.response.start", "status": status, "headers": headers})
        last = len(chunks) - 1
        for index, chunk in enumerate(chunks):
            await send({"type": "http.response.body", "body": chunk, "more_body": index < last})
        if not chunks:
            await send({"type": "http.response.body", "body": b""})

    def _event_error(self, exc: PixmuxError) -> dict[str, Any]:
        """OpenAI's ``error`` event for a failure after a stream began (scrubbed like every error)."""
        return {
            "error": {"message": self._scrub(str(exc)), "type": exc.openai_type, "param": exc.param, "code": exc.code}
        }

    def _log_stream(
        self,
        stream: EventStream,
        *,
        method: str,
        path: str,
        finished: bool,
        started: float,
        request_id: str,
    ) -> None:
        info = stream.info
        last = stream.last
        if last is not None:
            info.setdefault("deployment", last.metadata.get("deployment", "-"))
        status = 499 if not finished else (stream.failed.status_code or 500) if stream.failed else 200
        self._log(method=method, path=path, info=info, status=status, started=started, request_id=request_id)

    def _log(
        self, *, method: str, path: str, info: Mapping[str, Any], status: int, started: float, request_id: str
    ) -> None:
        if self.telemetry.on and self.telemetry.finished(
            method=method,
            path=path,
            info=info,
            status=status,
            started=started,
            request_id=request_id,
            known_route=path in self._paths,
        ):
            return  # written as JSON
        if not logger.isEnabledFor(logging.INFO):
            return
        model = info.get("model")
        logger.info(
            "%s %s model=%s status=%d duration_ms=%.1f deployment=%s request_id=%s",
            method,
            _printable(path),
            _printable(model) if model is not None else "-",
            status,
            (time.perf_counter() - started) * 1000,
            _printable(info.get("deployment", "-")),
            request_id,
        )


def _engine_for(config: GatewayConfig) -> Engine:
    """The gateway's engine: installed plugins, upstream pools and downloads as ``general_settings`` say."""
    options: dict[str, Any] = {"download_horizon": config.download_horizon}
    if config.upstream_max_connections is not None:
        options["max_connections"] = config.upstream_max_connections
    return Engine(**options)


def _sample_image() -> ImageInput:
    """A 64x64 grey PNG, the input of the start-up check of a model that only edits."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x80" * 64 for _ in range(64))
    header = struct.pack(">IIBBBBB", 64, 64, 8, 0, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    return ImageInput(data=png, media_type="image/png", filename="check.png")


def create_app(
    config: GatewayConfig | str | os.PathLike[str],
    *,
    engine: Engine | None = None,
    environ: Mapping[str, str] | None = None,
) -> Gateway:
    """
    The gateway for a config (a checked :class:`GatewayConfig` or a path to the YAML file).

    Raises:
        ConfigError: the config is wrong (see :func:`pixmux.proxy.config.load_config`).
    """
    if not isinstance(config, GatewayConfig):
        config = load_config(config, environ=environ)
    return Gateway(config, engine=engine)


def app_from_env() -> Gateway:
    """The gateway for the config named by ``PIXMUX_CONFIG`` (each worker of ``pixmux serve --workers N``)."""
    path = os.environ.get(CONFIG_ENV)
    if not path:
        raise ConfigError(f"{CONFIG_ENV} is not set; start the gateway with `pixmux serve --config FILE`")
    configure_logging(os.environ.get(LOG_LEVEL_ENV, "info"))
    app = create_app(path)
    apply_process_settings(app.config)
    keep_freed_memory()
    tune_collector()  # start-up's objects frozen, young collections on a real surplus
    return app
