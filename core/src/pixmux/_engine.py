"""
The engine: resolves the model, validates, and runs each call's exchange through the transport.

What a call does is decided by the sans-I/O exchange (``pixmux._exchange``); the network is
touched only by the transport (``pixmux._transport``). This module holds the state between
calls (the registry, credential and deployment caches, one transport per event loop) and the
two drivers that carry an exchange's steps out: :meth:`Engine.send` and :meth:`Engine.asend`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import threading
import time
import warnings
import weakref
from collections.abc import AsyncIterator, Generator, Iterable, Iterator, Mapping, Sequence
from typing import Any

import attrs
import httpx

from pixmux import _redact
from pixmux._checks import check_deployment_fields, timeout_seconds
from pixmux._engine_edits import EditCalls
from pixmux._exchange import (
    Call,
    Emit,
    Exchange,
    Open,
    Read,
    ReadAll,
    Send,
    Step,
    StreamStep,
    Wait,
    finish,
    redacted,
)
from pixmux._plugins import Provider, Registry
from pixmux._retry import DEFAULT_NUM_RETRIES, Attempts, Backoff, log_retry, pop_num_retries
from pixmux._settings import DEPLOYMENT_SETTINGS, SETTING_ALIASES, check_extra_headers, refuse_secret_params
from pixmux._transport import DEFAULT_MAX_CONNECTIONS, AsyncTransport, SyncTransport
from pixmux.catalogue import ModelInfo
from pixmux.exceptions import ConfigurationError, PixmuxError, UnsupportedParamsError
from pixmux.inputs import check_inputs
from pixmux.streaming import StreamCheck, completed_events
from pixmux.types import (
    Auth,
    Deployment,
    ImageInput,
    ImageObject,
    ImageRequest,
    ImageResponse,
    ImageStreamEvent,
    Operation,
    _image_request,
)

__all__ = ["Engine", "Call", "PixmuxWarning", "default_engine", "set_default_engine", "DEFAULT_MODEL"]

DEFAULT_MODEL = "openai/gpt-image-1"
DEFAULT_TIMEOUT = 600.0
#: Refresh cached credentials this many seconds before they expire.
AUTH_MARGIN = 300.0

_MOCK_PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP43+AAAARBAcAM0e2RAAAAAElFTkSuQmCC"

logger = logging.getLogger("pixmux")


class PixmuxWarning(UserWarning):
    """A parameter was dropped or approximated; the message says which and how."""


_plain_formatwarning = warnings.formatwarning


def _formatwarning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, line: str | None = None
) -> str:
    """A :class:`PixmuxWarning` in words (``pixmux: dropped size=...``), without pixmux's source path and line."""
    if isinstance(category, type) and issubclass(category, PixmuxWarning):
        return f"pixmux: {message}\n"
    return _plain_formatwarning(message, category, filename, lineno, line)


# Said once, in words: the gateway checks a request before sending it, so a dropped parameter
# would otherwise be reported twice (from two source lines). Filters the program sets come first.
warnings.formatwarning = _formatwarning
warnings.filterwarnings("once", category=PixmuxWarning, append=True)


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


class Engine(EditCalls):
    """
    Runs image generations: one pooled transport reused across calls, sync and async.

    Args:
        plugins: ``{provider name: plugin}`` to use instead of (or, with ``discover=True``,
            beside) the installed ones.
        extensions: non-provider plugins whose hookimpls wrap every call (logging, guardrails).
        discover: find installed providers through the ``pixmux.providers`` entry points.
        transport: an ``httpx`` transport for the sync path (tests pass ``httpx.MockTransport``).
        async_transport: an ``httpx`` transport for the async path.
        environ: where credentials are read from; ``os.environ`` by default.
        retry: how retries wait (:class:`pixmux._retry.Backoff`); tests inject a sleep that does not sleep.
        max_connections: upstream connections each transport may hold open (and keep alive).
        download_horizon: download into ``b64_json`` any image whose URL expires within this
            many seconds (``None``: only when the caller asked for ``response_format="b64_json"``).
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
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        download_horizon: float | None = None,
    ) -> None:
        if isinstance(max_connections, bool) or not isinstance(max_connections, int) or max_connections < 1:
            raise ConfigurationError(
                f"max_connections={max_connections!r} must be a whole number, 1 or more", param="max_connections"
            )
        if download_horizon is not None and (
            isinstance(download_horizon, bool) or not isinstance(download_horizon, int | float) or download_horizon < 0
        ):
            raise ConfigurationError(
                f"download_horizon={download_horizon!r} must be a number of seconds, 0 or more",
                param="download_horizon",
            )
        self.registry = Registry(
            plugins=plugins, extensions=extensions, discover=plugins is None if discover is None else discover
        )
        self._given = transport
        self._given_async = async_transport
        self._environ = environ
        self.max_connections = max_connections
        self.download_horizon = download_horizon
        self._transport: SyncTransport | None = None
        self._atransports: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncTransport] = (
            weakref.WeakKeyDictionary()
        )
        self._closers: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[AsyncIterator[None], asyncio.Future[None]]
        ] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        self._auth: dict[tuple[str, Deployment], Auth | None] = {}
        self._deployments: dict[tuple[str | None, ...], Deployment] = {}
        self._auth_lock = threading.Lock()
        self.retry = retry or Backoff()
        _redact.guard_logs()

    # ----------------------------------------------------------------- transports

    @property
    def transport(self) -> SyncTransport:
        """The pooled sync transport, created on first use."""
        if self._transport is None:
            with self._lock:
                if self._transport is None:
                    self._transport = SyncTransport(transport=self._given, max_connections=self.max_connections)
        return self._transport

    def async_transport(self) -> AsyncTransport:
        """The pooled async transport of the running event loop, created on first use."""
        loop = asyncio.get_running_loop()
        transport = self._atransports.get(loop)
        if transport is None:
            for old in [old for old in self._atransports if old.is_closed()]:  # loops closed without shutting down
                self._atransports.pop(old, None)
                self._closers.pop(old, None)
            transport = AsyncTransport(transport=self._given_async, max_connections=self.max_connections)
            self._atransports[loop] = transport
            # Close the transport when the loop shuts down (asyncio.run does on exit): no pool outlives its loop.
            closer = _close_with_loop(weakref.ref(self), loop, transport)
            self._closers[loop] = (closer, asyncio.ensure_future(closer.__anext__()))
        return transport

    async def warm(self) -> None:
        """Make the running loop's transport and its pool now (a gateway at start-up), not on the first call."""
        self.async_transport().warm()

    def close(self) -> None:
        """Close the sync transport (async ones close with ``aclose``)."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    async def aclose(self) -> None:
        """Close the running loop's async transport and the sync transport."""
        loop = asyncio.get_running_loop()
        transport = self._atransports.pop(loop, None)
        if transport is not None:
            await transport.aclose()
        self.close()

    # ----------------------------------------------------------------- preparing

    def _env(self, name: str) -> str | None:
        """The environment variable ``name``, or ``None`` when unset or empty."""
        value = (os.environ if self._environ is None else self._environ).get(name)
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
        stream: bool | None = None,
        operation: Operation = "generate",
        images: Sequence[ImageInput] = (),
        mask: ImageInput | None = None,
        **provider_params: Any,
    ) -> Call:
        """
        Resolve the model, build the request and deployment, validate; no I/O.

        ``operation``, ``images`` and ``mask`` make it an edit or a variation: the images are
        already read (:func:`pixmux.inputs.read_images`) and checked against the model's
        catalogue entry here (:func:`pixmux.inputs.check_inputs`).

        With ``stream=True``, a model that streams natively gets ``stream`` (and the caller's
        ``partial_images``) in its request's ``params``; for any other model ``partial_images``
        is dropped, since its stream is one completed event per image.
        """
        provider_name, model_name = self.registry.resolve(model, custom_llm_provider)
        provider = self.registry.get(provider_name)
        catalogue = provider.catalogue
        info = catalogue.lookup(model_name)
        if stream is not None and not isinstance(stream, bool):
            raise UnsupportedParamsError(
                f"stream must be true or false, not {type(stream).__name__}",
                provider=provider_name,
                model=model_name,
                param="stream",
            )
        timeout_s = timeout_seconds(timeout, DEFAULT_TIMEOUT)

        given: dict[str, Any] = {
            "api_key": api_key,
            "api_base": api_base,
            "api_version": api_version,
            "organization": organization,
        }
        settings: dict[str, Any] = {}
        params: dict[str, Any] = {}
        headers: Mapping[str, str] = {}
        for key, value in provider_params.items():
            if key in catalogue.settings:
                settings[key] = value
            elif key == "extra_headers":
                headers = check_extra_headers(value)
            elif key in DEPLOYMENT_SETTINGS:  # the deployment's (LiteLLM's or pixmux's), never the provider's
                for target in SETTING_ALIASES.get(key, ()):  # LiteLLM's other name for a setting this provider reads
                    if target in catalogue.settings and target not in provider_params:
                        settings[target] = value
                        break
                    if target in given and given[target] is None:
                        given[target] = value
                        break
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
        if stream and _streams(info, deployment, catalogue.models):
            params["stream"] = True
        else:
            partial = params.pop("partial_images", None)
            if partial is not None and not stream:
                raise UnsupportedParamsError(
                    "partial_images needs stream=True", provider=provider_name, model=model_name, param="partial_images"
                )
        request = _image_request(
            prompt, model_name, n, quality, response_format, size, style, user, params, operation, tuple(images), mask
        )
        if params:
            refuse_secret_params(params, info, provider_name)
        if operation != "generate" or images or mask is not None:  # edits and variations: images checked first
            check_inputs(request, info, catalogue, provider=provider_name)
        request, dropped = self._validate(provider, request, info, deployment, drop=bool(drop_params))
        return Call(
            provider=provider,
            request=request,
            deployment=deployment,
            info=info,
            timeout=timeout_s,
            warnings=dropped,
            headers=headers,
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
                changed = provider.hook("validate_params")(request=request, model=info, deployment=deployment)
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
        if not call.provider.implements("resolve_auth"):
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
                resolved: Auth | None = call.provider.hook("resolve_auth")(deployment=call.deployment)
            except PixmuxError as exc:
                raise redacted(
                    exc.with_context(provider=call.provider.name, model=call.request.model),
                    _redact.secrets_of(call.deployment),
                ) from exc.__cause__
            if resolved is not None:
                _redact.remember(_redact.secrets_of(auth=resolved))
            self._auth[_auth_key(call.provider.name, call.deployment)] = resolved
            return resolved

    def forget_auth(self, deployment: Deployment) -> None:
        """Drop cached credentials for a deployment (after the provider refused them)."""
        self._auth.pop(_auth_key(deployment.provider, deployment), None)

    # ----------------------------------------------------------------- drivers

    def _exchange(self, call: Call, *, b64: bool = False) -> Exchange:
        return Exchange(
            call,
            cached_auth=self._cached_auth,
            forget_auth=self.forget_auth,
            download_horizon=self.download_horizon,
            b64=b64,
        )

    def _drive(self, call: Call, steps: Generator[Step, Any, Any]) -> Any:
        """Carry out an exchange's steps with the sync transport; returns what the exchange returns."""
        transport = self.transport
        answer: Any = None
        while True:
            try:
                step = steps.send(answer)
            except StopIteration as done:
                return done.value
            if isinstance(step, Send):
                answer = [_sent(transport.send, request, step) for request in step.requests]
            elif isinstance(step, Wait):
                time.sleep(step.seconds)
                answer = None
            else:
                answer = self._resolve_auth(call)

    async def _adrive(self, call: Call, steps: Generator[Step, Any, Any]) -> Any:
        """The async twin of :meth:`_drive`: requests of one step go concurrently; auth runs in a thread."""
        transport = self.async_transport()
        answer: Any = None
        building = _redraws_mask(call)
        while True:
            try:
                step = await asyncio.to_thread(steps.send, answer) if building else steps.send(answer)
            except StopIteration as done:
                return done.value
            if isinstance(step, Send):
                building = False
                requests = step.requests
                if len(requests) == 1:
                    try:
                        answer = [await transport.send(requests[0], step.deadline, max_bytes=step.max_bytes)]
                    except httpx.HTTPError as exc:  # the exchange turns it into a typed error
                        answer = [exc.with_traceback(None)]  # its traceback would hold this frame, holding it
                else:
                    answer = await asyncio.gather(*(_asent(transport.send, r, step) for r in requests))
            elif isinstance(step, Wait):
                await asyncio.sleep(step.seconds)
                answer = None
            else:
                answer = await asyncio.to_thread(self._resolve_auth, call)

    def _drive_stream(self, call: Call, steps: Generator[StreamStep, Any, None]) -> Iterator[ImageStreamEvent]:
        """Carry out a streamed exchange with the sync transport, yielding each event it emits."""
        transport = self.transport
        answer: Any = None
        with contextlib.ExitStack() as opened:
            body: Iterator[bytes] = iter(())
            streamed: Any = None
            while True:
                try:
                    step = steps.send(answer)
                except StopIteration:
                    return
                answer = None
                try:
                    if isinstance(step, Emit):
                        yield step.event
                    elif isinstance(step, Read):
                        answer = next(body, b"")
                    elif isinstance(step, Open):
                        streamed = opened.enter_context(transport.stream(step.request, step.deadline))
                        body = iter(streamed)
                        answer = streamed.response
                    elif isinstance(step, ReadAll):
                        answer = streamed.read(step.max_bytes)
                    elif isinstance(step, Send):
                        answer = [_sent(transport.send, request, step) for request in step.requests]
                    elif isinstance(step, Wait):
                        time.sleep(step.seconds)
                    else:
                        answer = self._resolve_auth(call)
                except httpx.HTTPError as exc:  # the exchange turns it into a typed error
                    answer = exc.with_traceback(None)  # its traceback would hold this frame, holding it: a cycle

    async def _adrive_stream(
        self, call: Call, steps: Generator[StreamStep, Any, None]
    ) -> AsyncIterator[ImageStreamEvent]:
        """The async twin of :meth:`_drive_stream`; closing the iterator closes the provider's connection."""
        transport = self.async_transport()
        answer: Any = None
        building = _redraws_mask(call)
        async with contextlib.AsyncExitStack() as opened:
            body: AsyncIterator[bytes] | None = None
            streamed: Any = None
            while True:
                try:
                    step = await asyncio.to_thread(steps.send, answer) if building else steps.send(answer)
                except StopIteration:
                    return
                if isinstance(step, Open | Send):
                    building = False
                answer = None
                try:
                    if isinstance(step, Emit):
                        yield step.event
                    elif isinstance(step, Read):
                        assert body is not None
                        try:
                            answer = await body.__anext__()
                        except StopAsyncIteration:
                            answer = b""
                    elif isinstance(step, Open):
                        streamed = await opened.enter_async_context(transport.stream(step.request, step.deadline))
                        body = streamed.__aiter__()
                        answer = streamed.response
                    elif isinstance(step, ReadAll):
                        answer = await streamed.aread(step.max_bytes)
                    elif isinstance(step, Send):
                        answer = [await _asent(transport.send, request, step) for request in step.requests]
                    elif isinstance(step, Wait):
                        await asyncio.sleep(step.seconds)
                    else:
                        answer = await asyncio.to_thread(self._resolve_auth, call)
                except httpx.HTTPError as exc:  # the exchange turns it into a typed error
                    answer = exc.with_traceback(None)  # its traceback would hold this frame, holding it: a cycle

    def stream(
        self, call: Call, *, mock: object = None, retries: int = DEFAULT_NUM_RETRIES
    ) -> Iterator[ImageStreamEvent]:
        """
        A prepared call as a stream of events: partial images, then one completed event per image.

        A model that streams natively (its request carries ``stream``) streams from the
        provider; any other gives its whole response as completed events. Retries happen only
        before the first event; after it, a failure ends the stream with the typed error.
        """
        operation = call.request.operation
        if (mock is not None and mock is not False) or not call.request.params.get("stream"):
            response = self.run(call, mock=mock, retries=retries, b64=True)
            yield from completed_events(response, operation=operation)
            return
        deadline = time.monotonic() + call.timeout
        exchange = self._exchange(call)
        tries = Attempts(retries=retries, deadline=deadline, backoff=self.retry)
        while True:
            tries.started()
            check = StreamCheck(provider=call.provider.name, model=call.request.model, operation=operation)
            try:
                yield from self._drive_stream(call, exchange.stream(deadline, tries.count, check))
            except PixmuxError as exc:
                wait = None if check.started else tries.wait_before_retry(exc)
                if wait is None:
                    raise (exc if check.started else tries.failed(exc)) from exc.__cause__
                log_retry(exc, tries.count, wait)
                self.retry.sleep(wait)
            else:
                return

    async def astream(
        self, call: Call, *, mock: object = None, retries: int = DEFAULT_NUM_RETRIES
    ) -> AsyncIterator[ImageStreamEvent]:
        """The async twin of :meth:`stream`."""
        operation = call.request.operation
        if (mock is not None and mock is not False) or not call.request.params.get("stream"):
            response = await self.arun(call, mock=mock, retries=retries, b64=True)
            for event in completed_events(response, operation=operation):
                yield event
            return
        deadline = time.monotonic() + call.timeout
        exchange = self._exchange(call)
        tries = Attempts(retries=retries, deadline=deadline, backoff=self.retry)
        while True:
            tries.started()
            check = StreamCheck(provider=call.provider.name, model=call.request.model, operation=operation)
            try:
                async for event in self._adrive_stream(call, exchange.stream(deadline, tries.count, check)):
                    yield event
            except PixmuxError as exc:
                wait = None if check.started else tries.wait_before_retry(exc)
                if wait is None:
                    raise (exc if check.started else tries.failed(exc)) from exc.__cause__
                log_retry(exc, tries.count, wait)
                await self.retry.asleep(wait)
            else:
                return

    def send(self, call: Call, *, deadline: float | None = None) -> ImageResponse:
        """Send a prepared call (and its follow-ups) with the sync transport: one attempt, ending by ``deadline``."""
        deadline = time.monotonic() + call.timeout if deadline is None else deadline
        response: ImageResponse = self._drive(call, self._exchange(call).attempt(deadline))
        return response

    async def asend(self, call: Call, *, deadline: float | None = None) -> ImageResponse:
        """The async twin of :meth:`send`: one attempt, without blocking the event loop."""
        deadline = time.monotonic() + call.timeout if deadline is None else deadline
        response: ImageResponse = await self._adrive(call, self._exchange(call).attempt(deadline))
        return response

    def run(
        self, call: Call, *, mock: object = None, retries: int = DEFAULT_NUM_RETRIES, b64: bool = False
    ) -> ImageResponse:
        """
        Send a prepared call, retrying what is worth it (or answer ``mock``, a ``mock_response``).

        With ``b64``, every image the provider gave as a URL only is downloaded into ``b64_json``.
        """
        if mock is not None and mock is not False:
            return finish(call, _mock(call, mock), time.perf_counter())
        deadline = time.monotonic() + call.timeout
        exchange = self._exchange(call, b64=b64)
        tries: Attempts | None = None  # the retry bookkeeping, made only after a failure
        try:
            while True:
                try:
                    response: ImageResponse = self._drive(
                        call, exchange.attempt(deadline, 1 if tries is None else tries.count)
                    )
                except PixmuxError as exc:  # handled here, never kept: its traceback holds this frame
                    if tries is None:
                        tries = Attempts(retries=retries, deadline=deadline, backoff=self.retry)
                        tries.started()
                    wait = tries.wait_before_retry(exc)
                    if wait is None:
                        raise tries.failed(exc) from exc.__cause__
                    log_retry(exc, tries.count, wait)
                    self.retry.sleep(wait)
                    tries.started()
                else:
                    return response
        except BaseException:
            if exchange.pending:
                self._drive(call, exchange.abandon())
            raise

    async def arun(
        self, call: Call, *, mock: object = None, retries: int = DEFAULT_NUM_RETRIES, b64: bool = False
    ) -> ImageResponse:
        """The async twin of :meth:`run`; a cancelled task cancels the provider's pending job too."""
        if mock is not None and mock is not False:
            return finish(call, _mock(call, mock), time.perf_counter())
        deadline = time.monotonic() + call.timeout
        exchange = self._exchange(call, b64=b64)
        tries: Attempts | None = None  # the retry bookkeeping, made only after a failure
        try:
            while True:
                try:
                    response: ImageResponse = await self._adrive(
                        call, exchange.attempt(deadline, 1 if tries is None else tries.count)
                    )
                except PixmuxError as exc:  # handled here, never kept: its traceback holds this frame
                    if tries is None:
                        tries = Attempts(retries=retries, deadline=deadline, backoff=self.retry)
                        tries.started()
                    wait = tries.wait_before_retry(exc)
                    if wait is None:
                        raise tries.failed(exc) from exc.__cause__
                    log_retry(exc, tries.count, wait)
                    await self.retry.asleep(wait)
                    tries.started()
                else:
                    return response
        except BaseException:
            if exchange.pending:  # shielded: a cancelled task still gets its cancel requests out
                await asyncio.shield(self._adrive(call, exchange.abandon()))
            raise

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

    def stream_image_generation(
        self, prompt: str, model: str = DEFAULT_MODEL, **kwargs: Any
    ) -> Iterator[ImageStreamEvent]:
        """Generate as a stream of events; see :func:`pixmux.image_generation` with ``stream=True``."""
        mock = kwargs.pop("mock_response", None)
        retries = pop_num_retries(kwargs)
        kwargs.pop("stream", None)
        call = self.prepare(prompt=prompt, model=model, stream=True, **kwargs)
        return self.stream(call, mock=mock, retries=retries)

    def astream_image_generation(
        self, prompt: str, model: str = DEFAULT_MODEL, **kwargs: Any
    ) -> AsyncIterator[ImageStreamEvent]:
        """The async twin of :meth:`stream_image_generation` (validation happens here, before any await)."""
        mock = kwargs.pop("mock_response", None)
        retries = pop_num_retries(kwargs)
        kwargs.pop("stream", None)
        call = self.prepare(prompt=prompt, model=model, stream=True, **kwargs)
        return self.astream(call, mock=mock, retries=retries)


def _streams(info: ModelInfo, deployment: Deployment, models: Mapping[str, ModelInfo]) -> bool:
    """
    Whether a call streams natively: its model does, or, for a deployment named by its owner
    (Azure), the catalogue entry its ``base_model`` setting names does.
    """
    if info.streaming:
        return True
    base = deployment.setting("base_model")
    if info.known or not isinstance(base, str):
        return False
    found = models.get(base.strip().lower().removeprefix(f"{deployment.provider}/"))
    return found is not None and found.streaming


def _sent(send: Any, request: httpx.Request, step: Send) -> httpx.Response | httpx.HTTPError:
    try:
        response: httpx.Response = send(request, step.deadline, max_bytes=step.max_bytes)
    except httpx.HTTPError as exc:
        return exc
    return response


def _redraws_mask(call: Call) -> bool:
    """
    Whether building ``call``'s request may redraw an edit's mask for its provider.

    ``pixmux.masks.provider_mask`` decodes and re-encodes a PNG in Python (up to a second for a
    big one), inside the plugin's ``build_request``: the async drivers then run the exchange up
    to its first request in a thread, so the event loop (the gateway's other requests) goes on.
    """
    return call.request.mask is not None


async def _asent(send: Any, request: httpx.Request, step: Send) -> httpx.Response | httpx.HTTPError:
    try:
        response: httpx.Response = await send(request, step.deadline, max_bytes=step.max_bytes)
    except httpx.HTTPError as exc:
        return exc
    return response


def _auth_key(provider: str, deployment: Deployment) -> tuple[str, Deployment]:
    """
    The auth cache's key: where and as whom, never the call's timeout.

    The router gives every attempt the time left as its timeout; with the timeout in the key,
    every routed call would miss the cache and leave one more entry behind.
    """
    if deployment.timeout is not None:
        deployment = attrs.evolve(deployment, timeout=None)
    return provider, deployment


async def _close_with_loop(
    engine: weakref.ref[Engine], loop: asyncio.AbstractEventLoop, transport: AsyncTransport
) -> AsyncIterator[None]:
    """Waits until the event loop shuts down its async generators, then closes ``transport``."""
    try:
        yield
    finally:
        owner = engine()
        if owner is not None and owner._atransports.get(loop) is transport:
            del owner._atransports[loop]
        await transport.aclose()


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
