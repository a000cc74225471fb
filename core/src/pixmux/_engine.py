"""The engine: resolves the model, validates, calls the provider's hooks and does all the I/O."""

from __future__ import annotations

import asyncio
import base64
import operator
import os
import threading
import time
import warnings
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from http.cookiejar import CookieJar
from typing import Any

import attrs
import httpx

from pixmux import _redact
from pixmux._checks import check_deployment_fields, getenv, timeout_seconds
from pixmux._plugins import Provider, Registry
from pixmux._retry import DEFAULT_NUM_RETRIES, Backoff, acall_with_retries, call_with_retries, pop_num_retries
from pixmux.catalogue import ModelInfo
from pixmux.exceptions import (
    APIConnectionError,
    APIResponseValidationError,
    ConfigurationError,
    ContentPolicyViolationError,
    PixmuxError,
    Timeout,
    UnsupportedParamsError,
)
from pixmux.types import Auth, Deployment, FollowUp, ImageObject, ImageRequest, ImageResponse, Usage

DEFAULT_MODEL = "openai/gpt-image-1"
DEFAULT_TIMEOUT = 600.0
#: Refresh cached credentials this many seconds before they expire.
AUTH_MARGIN = 300.0
#: Most follow-up round trips one call may take (a poll loop that never ends is a provider bug).
MAX_FOLLOW_UPS = 600

_DEPLOYMENT_FIELDS = ("api_key", "api_base", "api_version", "organization")
_CORE_ONLY = frozenset({"timeout", "custom_llm_provider", "drop_params", "mock_response", *_DEPLOYMENT_FIELDS})
_MOCK_PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP43+AAAARBAcAM0e2RAAAAAElFTkSuQmCC"
_PARSE_FAILURES = (KeyError, IndexError, TypeError, ValueError, AttributeError)


class PixmuxWarning(UserWarning):
    """A parameter was dropped or approximated; the message says which and how."""


@attrs.define(kw_only=True)
class Call:
    """
    One prepared call: everything known before the first byte is sent.

    Treat it as read-only (it is not frozen only because a frozen class costs twice as much
    to build, and one is built for every call).
    """

    provider: Provider
    request: ImageRequest
    deployment: Deployment
    info: ModelInfo
    timeout: float
    warnings: tuple[str, ...] = ()


#: What ``parse_response`` may return (a tuple: ``ImageResponse | FollowUp`` would be built anew on every check).
_PARSED = (ImageResponse, FollowUp)


def _with_images(mocked: ImageResponse) -> ImageResponse:
    # A real call never succeeds without an image, so neither does a mock of one.
    if not mocked.data or not all(image.b64_json or image.url for image in mocked.data):
        raise ConfigurationError(
            "mock_response holds no image: give data=[{'b64_json': ...} or {'url': ...}]", param="mock_response"
        )
    return mocked


def _mock(call: Call, mock: object) -> ImageResponse:
    if isinstance(mock, BaseException):
        raise mock
    if isinstance(mock, ImageResponse):
        return _with_images(mock)
    if isinstance(mock, Mapping):
        import cattrs

        from pixmux.converters import describe_error, make_converter

        try:
            return _with_images(make_converter().structure(dict(mock), ImageResponse))
        except (cattrs.BaseValidationError, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ConfigurationError(
                f"mock_response is not an ImagesResponse: {describe_error(exc)}", param="mock_response"
            ) from exc
    count = call.request.n or 1
    if isinstance(mock, str) and mock.startswith(("http://", "https://", "data:")):
        images = tuple(ImageObject(url=mock) for _ in range(count))
    elif call.request.response_format == "url":
        images = tuple(ImageObject(url=f"data:image/png;base64,{_MOCK_PNG}") for _ in range(count))
    else:
        payload = mock if isinstance(mock, str) and mock not in ("", "True") else _MOCK_PNG
        try:
            base64.b64decode(payload, validate=True)
        except ValueError as exc:
            raise ConfigurationError(
                "mock_response string must be base64 image data or a URL", param="mock_response"
            ) from exc
        images = tuple(ImageObject(b64_json=payload) for _ in range(count))
    return ImageResponse(created=int(time.time()), data=images, cost=0.0)


def _with_cost(response: ImageResponse, cost: float | None, metadata: dict[str, Any]) -> ImageResponse:
    """``attrs.evolve(response, cost=cost, metadata=metadata)``, without evolve's field-by-field introspection."""
    return ImageResponse(
        created=response.created,
        data=response.data,
        usage=response.usage,
        background=response.background,
        output_format=response.output_format,
        quality=response.quality,
        size=response.size,
        cost=cost,
        metadata=metadata,
    )


def _merge(parts: Sequence[ImageResponse]) -> ImageResponse:
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    usage: Usage | None = None
    for part in parts:
        if part.usage is not None:
            usage = part.usage if usage is None else usage + part.usage
    metadata: dict[str, Any] = {}
    for part in parts:
        for key, value in part.metadata.items():
            if isinstance(value, list | tuple) and isinstance(metadata.get(key), list):
                metadata[key].extend(value)
            else:
                metadata[key] = list(value) if isinstance(value, list | tuple) else value
    costs = [part.cost for part in parts]
    return attrs.evolve(
        first,
        created=max(part.created for part in parts),
        data=tuple(image for part in parts for image in part.data),
        usage=usage,
        cost=None if any(cost is None for cost in costs) else sum(c for c in costs if c is not None),
        metadata=metadata,
    )


def _all_filtered(call: Call, response: ImageResponse) -> ContentPolicyViolationError:
    """
    The error for a call whose every part was refused.

    A plugin that sends one request per image returns a refused part as an empty response with
    ``metadata["filtered"]`` (so that the other parts' images survive); when no part made an
    image, the call is a refusal, never an empty success.
    """
    reasons = []
    for item in response.metadata.get("filtered", ()):
        if isinstance(item, Mapping):
            reasons.append(": ".join(str(item[key]) for key in ("reason", "message") if item.get(key)))
        else:
            reasons.append(str(item))
    return ContentPolicyViolationError(
        f"the provider returned no image: {'; '.join(dict.fromkeys(reasons)) or 'every image was filtered'}",
        provider=call.provider.name,
        model=call.request.model,
        details=dict(response.metadata),
    )


class Engine:
    """
    Runs image generations: one pooled HTTP client reused across calls, sync and async.

    Args:
        plugins: ``{provider name: plugin}`` to use instead of (or, with ``discover=True``,
            beside) the installed ones.
        extensions: non-provider plugins whose hookimpls wrap every call (logging, guardrails).
        discover: find installed providers through the ``pixmux.providers`` entry points.
        transport: the ``httpx`` transport for the sync client (tests pass ``httpx.MockTransport``).
        async_transport: the transport for the async client.
        environ: where credentials are read from; ``os.environ`` by default.
        retry: how retries wait (:class:`pixmux._retry.Backoff`); tests inject a sleep that does not sleep.
    """

    def __init__(
        self,
        *,
        plugins: Mapping[str, object] | None = None,
        extensions: Iterable[object] | None = None,
        discover: bool | None = None,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
        environ: Mapping[str, str] | None = None,
        retry: Backoff | None = None,
    ) -> None:
        self.registry = Registry(
            plugins=plugins, extensions=extensions, discover=plugins is None if discover is None else discover
        )
        self._transport = transport
        self._async_transport = async_transport
        self._environ = environ
        self._client: httpx.Client | None = None
        self._aclients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
            weakref.WeakKeyDictionary()
        )
        self._closers: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[AsyncIterator[None], asyncio.Future[None]]
        ] = weakref.WeakKeyDictionary()
        #: The last loop's client: most programs run one loop, and a WeakKeyDictionary lookup costs more.
        self._recent: tuple[weakref.ref[asyncio.AbstractEventLoop], httpx.AsyncClient] | None = None
        self._lock = threading.Lock()
        self._auth: dict[tuple[str, Deployment], Auth | None] = {}
        self._deployments: dict[tuple[str | None, ...], Deployment] = {}
        self._auth_lock = threading.Lock()
        self.retry = retry or Backoff()
        _redact.guard_logs()

    # ----------------------------------------------------------------- clients

    @property
    def client(self) -> httpx.Client:
        """The pooled sync client, created on first use."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = httpx.Client(
                        transport=self._transport, timeout=DEFAULT_TIMEOUT, trust_env=True, cookies=_NoCookies()
                    )
        return self._client

    def async_client(self) -> httpx.AsyncClient:
        """The pooled async client of the running event loop, created on first use."""
        loop = asyncio.get_running_loop()
        recent = self._recent
        if recent is not None and recent[0]() is loop:
            return recent[1]
        client = self._aclients.get(loop)
        if client is None:
            for old in [old for old in self._aclients if old.is_closed()]:  # loops closed without shutting down
                self._aclients.pop(old, None)
                self._closers.pop(old, None)
            transport = self._async_transport
            if transport is None:
                transport = _default_async_transport()
            client = httpx.AsyncClient(
                transport=transport, timeout=DEFAULT_TIMEOUT, trust_env=True, cookies=_NoCookies()
            )
            self._aclients[loop] = client
            # Close the client when the loop shuts down (asyncio.run does on exit), so no pool outlives its loop.
            closer = _close_with_loop(weakref.ref(self), loop, client)
            self._closers[loop] = (closer, asyncio.ensure_future(closer.__anext__()))
        self._recent = (weakref.ref(loop), client)
        return client

    def _forget_recent(self, client: httpx.AsyncClient) -> None:
        recent = self._recent
        if recent is not None and recent[1] is client:
            self._recent = None

    def close(self) -> None:
        """Close the sync client (async clients close with ``aclose``)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        """Close the running loop's async client and the sync client."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # pragma: no cover - aclose is awaited, so a loop runs
            loop = None
        client = self._aclients.pop(loop, None) if loop is not None else None
        if client is not None:
            self._forget_recent(client)
            await client.aclose()
        self.close()

    # ----------------------------------------------------------------- preparing

    def _env(self, name: str) -> str | None:
        """The environment variable ``name``, or ``None`` when unset or empty."""
        value = getenv(name) if self._environ is None else self._environ.get(name)
        return value if value else None

    def prepare(
        self,
        *,
        prompt: str,
        model: str = DEFAULT_MODEL,
        n: int | None = None,
        quality: str | None = None,
        response_format: str | None = None,
        size: str | None = None,
        style: str | None = None,
        user: str | None = None,
        timeout: float | None = None,
        api_key: str | None = None,
        api_base: str | None = None,
        api_version: str | None = None,
        organization: str | None = None,
        custom_llm_provider: str | None = None,
        drop_params: bool | None = None,
        **provider_params: Any,
    ) -> Call:
        """Resolve the model, build the request and deployment, validate; no I/O."""
        return self._make_call(
            prompt,
            model,
            n,
            quality,
            response_format,
            size,
            style,
            user,
            timeout,
            api_key,
            api_base,
            api_version,
            organization,
            custom_llm_provider,
            drop_params,
            provider_params,
        )

    def _make_call(  # noqa: PLR0917 - prepare's parameters, by position (the module-level calls' fast way in)
        self,
        prompt: str,
        model: str,
        n: int | None,
        quality: str | None,
        response_format: str | None,
        size: str | None,
        style: str | None,
        user: str | None,
        timeout: float | None,
        api_key: str | None,
        api_base: str | None,
        api_version: str | None,
        organization: str | None,
        custom_llm_provider: str | None,
        drop_params: bool | None,
        provider_params: dict[str, Any],
    ) -> Call:
        provider_name, model_name = self.registry.resolve(model, custom_llm_provider)
        provider = self.registry.get(provider_name)
        catalogue = provider.catalogue
        timeout_s = timeout_seconds(timeout, DEFAULT_TIMEOUT)

        given: dict[str, Any] = {
            "api_key": api_key,
            "api_base": api_base,
            "api_version": api_version,
            "organization": organization,
        }
        settings: dict[str, Any] = {}
        params: dict[str, Any] = {}
        for key, value in provider_params.items():
            if key in ("num_retries", "max_retries"):
                continue  # the retry loop's (see image_generation), never the provider's
            if key in catalogue.settings:
                settings[key] = value
            elif value is not None:
                params[key] = value
        for field, names in catalogue.env.items():
            if (given[field] if field in given else settings.get(field)) is not None:
                continue
            for env_name in names:
                found = self._env(env_name)
                if found is not None:
                    if field in given:
                        given[field] = found
                    else:
                        settings[field] = found
                    break
        deployment = self._deployment(provider_name, model_name, given, timeout_s, settings)
        request = ImageRequest(
            prompt=prompt,
            model=model_name,
            n=n,
            quality=quality,
            response_format=response_format,
            size=size,
            style=style,
            user=user,
            params=params,
        )
        info = catalogue.lookup(model_name)
        request, dropped = self._validate(provider, request, info, deployment, drop=bool(drop_params))
        return Call(
            provider=provider, request=request, deployment=deployment, info=info, timeout=timeout_s, warnings=dropped
        )

    def _deployment(
        self, provider: str, model: str, given: dict[str, Any], timeout: float, settings: dict[str, Any]
    ) -> Deployment:
        """
        The checked ``Deployment`` for these values; one without settings is remembered for the next call.

        Most programs call a handful of deployments many times: checking and building the same
        value on every call cost more than many other steps of a call.
        """
        key = None
        known = None
        if not settings:
            key = (provider, model, given["api_base"], given["api_key"], given["api_version"], given["organization"])
            try:
                known = self._deployments.get(key)
            except TypeError:  # a value of the wrong type (a list...): check_deployment_fields names it
                key, known = None, None
            if known is not None and known.timeout == timeout:
                return known
        check_deployment_fields(given)
        deployment = Deployment(
            provider=provider,
            model=model,
            api_base=given["api_base"],
            api_key=given["api_key"],
            api_version=given["api_version"],
            organization=given["organization"],
            timeout=timeout,
            settings=settings,
        )
        if known is None:  # known to the log filter before any byte is sent (a new timeout changes no secret)
            _redact.remember_deployment(deployment)
        if key is not None:
            if len(self._deployments) >= 256:
                self._deployments.clear()
            self._deployments[key] = deployment
        return deployment

    def _validate(
        self, provider: Provider, request: ImageRequest, info: ModelInfo, deployment: Deployment, *, drop: bool
    ) -> tuple[ImageRequest, tuple[str, ...]]:
        dropped: list[str] = []
        while True:  # each round drops one parameter, so it ends
            try:
                changed = _call_hook(provider, "validate_params", request, info, deployment)
            except UnsupportedParamsError as exc:
                exc.with_context(provider=provider.name, model=request.model)
                param = exc.param
                if not drop or param is None or param in ("prompt", "model") or request.get(param) is None:
                    raise
                note = f"dropped {param}={request.get(param)!r}: {exc.message}"
                warnings.warn(note, PixmuxWarning, stacklevel=4)
                dropped.append(note)
                request = request.without(param)
                continue
            except PixmuxError as exc:  # an extension's guardrail, a plugin's own check
                exc.with_context(provider=provider.name, model=request.model)
                raise
            if changed is not None:
                if not isinstance(changed, ImageRequest):
                    raise ConfigurationError(
                        f"provider {provider.name!r}: validate_params returned "
                        f"{type(changed).__name__}, not ImageRequest",
                        provider=provider.name,
                    )
                request = changed
            return request, tuple(dropped)

    # ----------------------------------------------------------------- auth

    def _cached_auth(self, call: Call) -> tuple[bool, Auth | None]:
        if not call.provider.hooks.resolve_auth.get_hookimpls():
            return True, None  # nothing to resolve (an API-key provider): no cache entry, no thread
        key = _auth_key(call.provider.name, call.deployment)
        if key not in self._auth:
            return False, None
        auth = self._auth[key]
        if auth is not None and auth.expires_at is not None and auth.expires_at - AUTH_MARGIN < time.time():
            return False, None
        return True, auth

    def _resolve_auth(self, call: Call) -> Auth | None:
        found, auth = self._cached_auth(call)
        if found:
            return auth
        with self._auth_lock:
            found, auth = self._cached_auth(call)
            if found:
                return auth
            try:
                resolved: Auth | None = call.provider.hooks.resolve_auth(deployment=call.deployment)
            except PixmuxError as exc:
                error = self._ours(call, exc)
                raise error from exc.__cause__
            if resolved is not None:
                _redact.remember(_redact.secrets_of(auth=resolved))
            self._auth[_auth_key(call.provider.name, call.deployment)] = resolved
            return resolved

    def forget_auth(self, deployment: Deployment) -> None:
        """Drop cached credentials for a deployment (after the provider refused them)."""
        self._auth.pop(_auth_key(deployment.provider, deployment), None)

    # ----------------------------------------------------------------- hooks around I/O

    def _secrets(self, call: Call) -> frozenset[str]:
        """Every secret string of the call: the key, secret-named settings, the resolved auth's (see ``_redact``)."""
        return _redact.secrets_of(call.deployment, self._auth.get(_auth_key(call.provider.name, call.deployment)))

    def _redacted(self, call: Call, error: PixmuxError) -> PixmuxError:
        """``error`` with every secret of the call removed: message, code, details, attached response, chain."""
        return _redact.scrub_error(error, self._secrets(call))

    def _ours(self, call: Call, error: PixmuxError) -> PixmuxError:
        """A hook's error made the call's own: ``provider`` and ``model`` filled in, every secret scrubbed."""
        return self._redacted(call, error.with_context(provider=call.provider.name, model=call.request.model))

    def _build(self, call: Call, auth: Auth | None) -> list[httpx.Request]:
        try:
            built = _call_hook(call.provider, "build_request", call.request, call.deployment, call.info, auth)
        except PixmuxError as exc:
            error = self._ours(call, exc)
            raise error from exc.__cause__
        if isinstance(built, httpx.Request):
            return [built]
        requests = list(built)
        if not requests or not all(isinstance(item, httpx.Request) for item in requests):
            raise ConfigurationError(
                f"provider {call.provider.name!r}: build_request must return httpx.Request objects",
                provider=call.provider.name,
            )
        return requests

    def _parse(self, call: Call, response: httpx.Response) -> ImageResponse | FollowUp:
        try:
            parsed = _call_hook(call.provider, "parse_response", response, call.request, call.deployment, call.info)
        except PixmuxError as exc:
            error = self._ours(call, exc)
            if exc.status_code == 401:
                self.forget_auth(call.deployment)
            raise error from exc.__cause__
        except RecursionError as exc:  # JSON nested deeper than any parser's stack: json.loads gives up
            deep = APIResponseValidationError(
                f"the provider's response (HTTP {response.status_code}) nests JSON too deeply to read",
                provider=call.provider.name,
                model=call.request.model,
                status_code=502,
                response=response,
            )
            raise self._redacted(call, deep) from exc
        except _PARSE_FAILURES as exc:
            unreadable = APIResponseValidationError(
                f"could not read the provider's response (HTTP {response.status_code}): {type(exc).__name__}: {exc}",
                provider=call.provider.name,
                model=call.request.model,
                status_code=502,
                response=response,
            )
            raise self._redacted(call, unreadable) from exc
        if not isinstance(parsed, _PARSED):
            raise ConfigurationError(
                f"provider {call.provider.name!r}: parse_response returned {type(parsed).__name__}",
                provider=call.provider.name,
            )
        return parsed

    def _finish(
        self, call: Call, parts: Sequence[ImageResponse], started: float, *, attempts: int | None = None
    ) -> ImageResponse:
        response = _merge(parts)
        if not response.data and response.metadata.get("filtered"):
            raise self._redacted(call, _all_filtered(call, response))
        cost = response.cost
        if cost is None and call.info.pricing is not None:
            cost = call.info.pricing.cost(call.request, response)
        metadata = {
            "provider": call.provider.name,
            "model": call.request.model,
            "elapsed": time.perf_counter() - started,
            **response.metadata,
        }
        if call.warnings:
            metadata["warnings"] = [*call.warnings, *metadata.get("warnings", ())]
        if attempts is not None:
            metadata["attempts"] = attempts
        return _with_cost(response, cost, metadata)

    def _connection_error(self, call: Call, exc: httpx.HTTPError) -> PixmuxError:
        if isinstance(exc, httpx.TimeoutException):
            late = Timeout(
                f"no answer within the timeout ({call.timeout:g}s): {type(exc).__name__}",
                provider=call.provider.name,
                model=call.request.model,
            )
            late.__cause__ = exc  # scrubbed with it: the caller raises it `from exc`
            return self._redacted(call, late)
        if isinstance(exc, httpx.DecodingError):
            # The provider answered, but its body does not decode by its own Content-Encoding.
            garbled = APIResponseValidationError(
                f"the provider's response could not be decoded ({type(exc).__name__}: {exc})",
                provider=call.provider.name,
                model=call.request.model,
            )
            garbled.__cause__ = exc
            return self._redacted(call, garbled)
        unreachable = APIConnectionError(
            f"could not reach the provider: {type(exc).__name__}: {exc}",
            provider=call.provider.name,
            model=call.request.model,
        )
        unreachable.__cause__ = exc
        return self._redacted(call, unreachable)

    @staticmethod
    def _out_of_time(call: Call) -> Timeout:
        return Timeout(
            f"the call's timeout ({call.timeout:g}s) ran out", provider=call.provider.name, model=call.request.model
        )

    def _timed(self, call: Call, request: httpx.Request, deadline: float) -> httpx.Request:
        left = deadline - time.monotonic()
        if left <= 0:
            raise self._out_of_time(call)
        request.extensions["timeout"] = {"connect": left, "read": left, "write": left, "pool": left}
        return request

    # ----------------------------------------------------------------- sync

    def send(self, call: Call, *, deadline: float | None = None) -> ImageResponse:
        """
        Send a prepared call (and its follow-ups) with the sync client; one attempt, ending by ``deadline``.

        The response's ``metadata["attempts"]`` is 1; a retry loop around it says how many it made.
        """
        started = time.perf_counter()
        deadline = time.monotonic() + call.timeout if deadline is None else deadline
        auth = self._resolve_auth(call)
        parts = [self._send_one(call, request, deadline) for request in self._build(call, auth)]
        return self._finish(call, parts, started, attempts=1)

    def _send_one(self, call: Call, request: httpx.Request, deadline: float) -> ImageResponse:
        for _ in range(MAX_FOLLOW_UPS):
            try:
                response = _send(self.client, self._timed(call, request, deadline), deadline)
            except httpx.HTTPError as exc:
                raise self._connection_error(call, exc) from exc
            parsed = self._parse(call, response)
            if isinstance(parsed, ImageResponse):
                return parsed
            if parsed.after > 0:
                if time.monotonic() + parsed.after >= deadline:
                    raise self._out_of_time(call)
                time.sleep(parsed.after)
            request = parsed.request
        raise APIResponseValidationError(
            f"the provider asked for more than {MAX_FOLLOW_UPS} follow-up requests", provider=call.provider.name
        )

    # ----------------------------------------------------------------- async

    async def asend(self, call: Call, *, deadline: float | None = None) -> ImageResponse:
        """The async twin of :meth:`send`: one attempt, without blocking the event loop."""
        started = time.perf_counter()
        deadline = time.monotonic() + call.timeout if deadline is None else deadline
        found, auth = self._cached_auth(call)
        if not found:  # a credential chain does its own blocking I/O: off the loop
            auth = await asyncio.to_thread(self._resolve_auth, call)
        requests = self._build(call, auth)
        if len(requests) == 1:
            parts = [await self._asend_one(call, requests[0], deadline)]
        else:
            parts = list(await asyncio.gather(*(self._asend_one(call, r, deadline) for r in requests)))
        return self._finish(call, parts, started, attempts=1)

    async def _asend_one(self, call: Call, request: httpx.Request, deadline: float) -> ImageResponse:
        client = self.async_client()
        transport_for_url = getattr(client, "_transport_for_url", None)
        for _ in range(MAX_FOLLOW_UPS):
            try:
                if transport_for_url is None:  # pragma: no cover - an httpx without it: take the long way
                    response = await client.send(self._timed(call, request, deadline))
                else:  # as _send does, inline: no coroutine frame of its own to pass at every resumption
                    response = await transport_for_url(request.url).handle_async_request(
                        self._timed(call, request, deadline)
                    )
                    response.request = request
                    if not (response.is_stream_consumed and response.is_closed):
                        try:
                            await response.aread()
                        finally:
                            await response.aclose()
            except httpx.HTTPError as exc:
                raise self._connection_error(call, exc) from exc
            parsed = self._parse(call, response)
            if isinstance(parsed, ImageResponse):
                return parsed
            if parsed.after > 0:
                if time.monotonic() + parsed.after >= deadline:
                    raise self._out_of_time(call)
                await asyncio.sleep(parsed.after)
            request = parsed.request
        raise APIResponseValidationError(
            f"the provider asked for more than {MAX_FOLLOW_UPS} follow-up requests", provider=call.provider.name
        )

    # ----------------------------------------------------------------- public calls

    def image_generation(self, prompt: str, model: str = DEFAULT_MODEL, **kwargs: Any) -> ImageResponse:
        """Generate images; see :func:`pixmux.image_generation` for the parameters."""
        mock = kwargs.pop("mock_response", None)
        retries = pop_num_retries(kwargs)
        return self.run(self.prepare(prompt=prompt, model=model, **kwargs), mock=mock, retries=retries)

    async def aimage_generation(self, prompt: str, model: str = DEFAULT_MODEL, **kwargs: Any) -> ImageResponse:
        """Generate images without blocking the event loop; see :func:`pixmux.aimage_generation`."""
        mock = kwargs.pop("mock_response", None)
        retries = pop_num_retries(kwargs)
        return await self.arun(self.prepare(prompt=prompt, model=model, **kwargs), mock=mock, retries=retries)

    def run(self, call: Call, *, mock: object = None, retries: int = DEFAULT_NUM_RETRIES) -> ImageResponse:
        """Send a prepared call, retrying what is worth it (or answer ``mock``, a ``mock_response``)."""
        if mock is not None and mock is not False:
            return self._finish(call, [_mock(call, mock)], time.perf_counter())
        deadline = time.monotonic() + call.timeout
        try:
            return self.send(call, deadline=deadline)
        except PixmuxError as exc:
            first = exc  # the retry loop takes it from here (most calls never get here)
        response, attempts = call_with_retries(
            lambda: self.send(call, deadline=deadline),
            retries=retries,
            deadline=deadline,
            backoff=self.retry,
            failed=first,
        )
        return response.with_metadata(attempts=attempts)

    async def arun(self, call: Call, *, mock: object = None, retries: int = DEFAULT_NUM_RETRIES) -> ImageResponse:
        """The async twin of :meth:`run`."""
        if mock is not None and mock is not False:
            return self._finish(call, [_mock(call, mock)], time.perf_counter())
        deadline = time.monotonic() + call.timeout
        try:
            return await self.asend(call, deadline=deadline)
        except PixmuxError as exc:
            first = exc
        response, attempts = await acall_with_retries(
            lambda: self.asend(call, deadline=deadline),
            retries=retries,
            deadline=deadline,
            backoff=self.retry,
            failed=first,
        )
        return response.with_metadata(attempts=attempts)


def _auth_key(provider: str, deployment: Deployment) -> tuple[str, Deployment]:
    """
    The auth cache's key: where and as whom, never the call's timeout.

    The router gives every attempt the time left as its timeout; with the timeout in the key,
    every routed call missed the cache (a thread hop to ``resolve_auth`` each time) and left
    one more entry behind.
    """
    if deployment.timeout is not None:
        deployment = attrs.evolve(deployment, timeout=None)
    return provider, deployment


def _call_hook(provider: Provider, name: str, *args: Any) -> Any:
    """
    Call the provider's ``firstresult`` hook ``name`` with ``args`` in its hookspec's order.

    With one plain implementation (no extension plugin implements or wraps the hook), what
    pluggy returns is exactly what that implementation returns, and its exceptions pass
    through unchanged; pluggy's dispatch around it (argument checks, wrapper machinery,
    result collection) costs more per call than many hooks do, so the implementation is
    called straight, with the arguments it names, as pluggy would. Anything else goes through
    pluggy, by keyword. A provider's plugin manager never changes after loading, so which way
    to go is decided once per hook.
    """
    try:
        function, pick = provider.direct[name]
    except KeyError:
        function, pick = provider.direct[name] = _hook_call(getattr(provider.hooks, name))
    return function(*pick(args))


def _hook_call(caller: Any) -> tuple[Any, Callable[[tuple[Any, ...]], tuple[Any, ...]]]:
    """How to call a hook given its arguments in hookspec order: ``(function, argument picker)``."""
    spec = caller.spec
    if spec is None:  # pragma: no cover - every provider's plugin manager holds pixmux's hookspecs
        raise ConfigurationError(f"hook {caller.name!r} has no specification")
    order = tuple(spec.argnames)
    impls = caller.get_hookimpls()
    if len(impls) == 1 and not impls[0].hookwrapper and not impls[0].wrapper:
        return impls[0].function, _picker(tuple(order.index(argname) for argname in impls[0].argnames))

    def by_keyword(*args: Any) -> Any:
        return caller(**dict(zip(order, args, strict=True)))

    return by_keyword, _picker(tuple(range(len(order))))


def _picker(indexes: tuple[int, ...]) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """
    What takes an implementation's arguments, in its order, from the hook's arguments.

    For two or more, ``operator.itemgetter``: one C call, where a comprehension costs a frame
    of its own on every hook call.
    """
    if len(indexes) >= 2:
        return operator.itemgetter(*indexes)
    return lambda args: tuple(args[index] for index in indexes)


def _send(client: httpx.Client, request: httpx.Request, deadline: float) -> httpx.Response:
    """
    Send ``request`` through the client's transport for its URL and read the body by ``deadline``.

    ``Engine._asend_one`` does the same on the async path, inline (one coroutine frame fewer).

    What ``client.send`` does, less what pixmux never uses (auth flows, redirects, cookies,
    event hooks, per-request logging): that bookkeeping costs more than the rest of a call's
    overhead (see ``bench/README.md``). The transport still comes from the client, so
    proxies from the environment and mounts apply; pixmux sets every request's timeout itself.

    httpx's timeouts bound each wait (connect, each read), not the whole exchange: a provider
    sending its body a few bytes at a time, each in time, could keep a call far past its
    timeout. The body is read chunk by chunk and the call ends (``httpx.ReadTimeout``) at the
    first chunk that arrives after the deadline.
    """
    transport_for_url = getattr(client, "_transport_for_url", None)
    if transport_for_url is None:  # pragma: no cover - an httpx without it: take the long way
        return client.send(request)
    response: httpx.Response = transport_for_url(request.url).handle_request(request)
    response.request = request
    try:
        chunks = []
        for chunk in response.iter_bytes():
            chunks.append(chunk)
            if time.monotonic() > deadline:
                raise httpx.ReadTimeout("the body was still arriving at the call's deadline", request=request)
        response._content = b"".join(chunks)  # what response.read() keeps
    finally:
        response.close()
    return response


class _NoCookies(CookieJar):
    """
    A cookie jar that keeps nothing.

    One engine serves many keys (a gateway serves many users): a cookie one provider response
    sets (load balancers set them) must not ride along on the next caller's request. Keeping
    none also saves httpx's cookie bookkeeping on every response.
    """

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None

    def set_cookie(self, cookie: Any) -> None:
        return None


async def _close_with_loop(
    engine: weakref.ref[Engine], loop: asyncio.AbstractEventLoop, client: httpx.AsyncClient
) -> AsyncIterator[None]:
    """Waits until the event loop shuts down its async generators, then closes ``client``."""
    try:
        yield
    finally:
        owner = engine()
        if owner is not None:
            owner._forget_recent(client)
            if owner._aclients.get(loop) is client:
                del owner._aclients[loop]
        await client.aclose()


def _default_async_transport() -> httpx.AsyncBaseTransport | None:
    """
    The transport of a new async client: aiohttp's when ``pixmux[fast]`` is installed, else httpx's own pool.

    httpx's own async pool slows down sharply under concurrency (encode/httpx#3215; see
    ``bench/README.md``); ``httpx-aiohttp`` puts aiohttp under the same httpx API. It is
    imported here, on the first async call, so ``import pixmux`` never loads aiohttp.
    ``PIXMUX_ASYNC_TRANSPORT=httpx`` keeps httpx's own pool even when it is installed.

    A proxy set in the environment (``HTTPS_PROXY``, ``ALL_PROXY``...) also keeps httpx's pool:
    httpx honours those variables only for its own transports, and a call must never bypass a
    proxy its user configured.
    """
    if os.environ.get("PIXMUX_ASYNC_TRANSPORT", "").strip().lower() == "httpx":
        return None
    import urllib.request

    if any(scheme != "no" for scheme in urllib.request.getproxies()):
        return None
    try:
        from pixmux._aiohttp import WholeBodyAiohttpTransport
    except ImportError:
        return None
    return WholeBodyAiohttpTransport()


_default: Engine | None = None
_default_lock = threading.Lock()


def default_engine() -> Engine:
    """The process-wide engine used by ``pixmux.image_generation``; created on first use."""
    global _default  # noqa: PLW0603 - one lazily created engine per process is the point
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Engine()
    return _default


def set_default_engine(engine: Engine | None) -> Engine | None:
    """Replace the process-wide engine (tests, custom transports); returns the previous one."""
    global _default
    with _default_lock:
        previous, _default = _default, engine
    return previous
