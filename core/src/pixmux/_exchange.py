"""
One call's exchange with a provider, as a sans-I/O step machine.

:meth:`Exchange.attempt` is a generator. It decides everything about one attempt (auth,
build, parse, follow-ups and their backoff, fan-out and merge, the refusal policy, URL
downloads, cost and metadata, redaction) and leaves the I/O to a driver, by yielding steps:

- :class:`Send`: send these requests by this deadline; the driver answers with one
  ``httpx.Response`` or one ``httpx.HTTPError`` per request, in order.
- :class:`Wait`: wait this many seconds; the driver answers ``None``.
- :class:`Authorize`: resolve the call's credentials (a blocking credential chain; the async
  driver runs it in a thread); the driver answers with the ``Auth`` or ``None``.

A streamed call (:meth:`Exchange.stream`, for a model that streams natively) adds four steps:

- :class:`Open`: send this request and answer with its status and headers (an
  ``httpx.Response`` whose body is not read yet), or the ``httpx.HTTPError``.
- :class:`Read`: the next chunk of the opened body (``b""`` at its end), or the error.
- :class:`ReadAll`: the rest of the opened body, whole (an error answer, to parse).
- :class:`Emit`: hand this event to the caller now; the driver answers ``None``.

The core frames the server-sent events (``pixmux._sse``), the plugin's ``parse_event``
translates each, and :class:`pixmux.streaming.StreamCheck` keeps the rules: the stream must
end with a completed event, and cost rides on the last one.

The generator returns the finished ``ImageResponse`` or raises the call's ``PixmuxError``,
every secret of the call scrubbed from it. The drivers (``Engine.send``/``asend``) are a
screenful each; retries wrap the machine, and one ``Exchange`` keeps what earlier attempts
learned: a part whose job the provider accepted (its plugin returned a ``FollowUp``) is
polled again on a retry, never submitted again, and a part already answered is not sent again.

:meth:`Exchange.abandon` is the same kind of generator for the end of a call that did not
finish (it timed out, failed or was cancelled): it sends each pending job's
``FollowUp.cancel`` request, best effort.
"""

from __future__ import annotations

import base64
import binascii
import math
import time
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from typing import Any

import attrs
import httpx

from pixmux import _redact
from pixmux._plugins import Provider
from pixmux._settings import is_secret_header
from pixmux._sse import SSEDecoder
from pixmux._transport import MAX_REDIRECTS, BodyTooLarge, redirect_target
from pixmux.catalogue import ModelInfo
from pixmux.exceptions import (
    APIConnectionError,
    APIResponseValidationError,
    ConfigurationError,
    ContentPolicyViolationError,
    PixmuxError,
    Timeout,
)
from pixmux.streaming import StreamCheck, completed_events
from pixmux.types import (
    Auth,
    Deployment,
    FollowUp,
    ImageObject,
    ImageRequest,
    ImageResponse,
    ImageStreamEvent,
    ServerSentEvent,
    Usage,
    _finished,
)

__all__ = [
    "Call",
    "Send",
    "Wait",
    "Authorize",
    "Open",
    "Read",
    "ReadAll",
    "Emit",
    "Exchange",
    "Step",
    "StreamStep",
    "finish",
    "MAX_FOLLOW_UPS",
    "POLL_BACKOFF",
    "POLL_CAP",
]

#: Most follow-up round trips one part may take (a poll loop that never ends is a provider bug).
MAX_FOLLOW_UPS = 600
#: Each repeated poll waits this much longer than the one before (``FollowUp.after`` is the least)...
POLL_BACKOFF = 1.5
#: ... up to this many seconds (or ``after``, if a plugin asks for longer).
POLL_CAP = 10.0
#: Seconds a best-effort cancel request may take.
CANCEL_TIMEOUT = 5.0
#: Largest image the core downloads for a URL (bytes), and the longest it waits for one (seconds).
DOWNLOAD_MAX_BYTES = 64 * 1024 * 1024
DOWNLOAD_TIMEOUT = 120.0

_PARSE_FAILURES = (KeyError, IndexError, TypeError, ValueError, AttributeError)


@attrs.define(kw_only=True, eq=False)
class Call:
    """
    One prepared call: everything known before the first byte is sent.

    Made once per call and never changed (copy it with ``attrs.evolve``); not frozen, since a
    frozen attrs class pays for every field it sets.
    """

    provider: Provider
    request: ImageRequest
    deployment: Deployment
    info: ModelInfo
    timeout: float
    warnings: tuple[str, ...] = ()
    #: ``extra_headers``: added to every request the call sends.
    headers: Mapping[str, str] = attrs.field(factory=dict)


@attrs.define
class Send:
    """Send ``requests`` (concurrently where the driver can), each read whole by ``deadline``."""

    requests: tuple[httpx.Request, ...]
    deadline: float
    #: The most body bytes to accept per response (downloads), or ``None``.
    max_bytes: int | None = None


@attrs.frozen
class Wait:
    """Wait ``seconds`` before the next step."""

    seconds: float


@attrs.frozen
class Authorize:
    """Resolve the call's credentials (``resolve_auth``); may block."""


@attrs.frozen
class Open:
    """Send ``request`` and answer with its status and headers, the body left unread (a stream)."""

    request: httpx.Request
    deadline: float


@attrs.frozen
class Read:
    """The next chunk of the opened body: ``bytes`` (``b""`` at its end), or an ``httpx.HTTPError``."""


@attrs.frozen
class ReadAll:
    """The rest of the opened body, whole (at most ``max_bytes``), or an ``httpx.HTTPError``."""

    max_bytes: int


@attrs.frozen
class Emit:
    """Hand ``event`` to the caller now."""

    event: ImageStreamEvent


Step = Send | Wait | Authorize
StreamStep = Send | Wait | Authorize | Open | Read | ReadAll | Emit
Answer = httpx.Response | httpx.HTTPError

#: The largest error body read from a streamed request.
STREAM_ERROR_MAX_BYTES = 1024 * 1024


class _Part:
    """One request of a call (several when a provider needs one request per image) and how far it got."""

    __slots__ = ("follow_up", "polls", "request", "result", "wait")

    def __init__(self, request: httpx.Request) -> None:
        self.request = request
        self.follow_up: FollowUp | None = None
        self.result: ImageResponse | None = None
        self.polls = 0
        self.wait = 0.0


class Exchange:
    """
    The step machine of one call; see the module docs.

    Args:
        call: the prepared call.
        cached_auth: ``(found, auth)`` from the engine's credential cache.
        forget_auth: drops the cached credentials (the provider refused them).
        download_horizon: download an image whose URL expires sooner than this many seconds
            from now into ``b64_json`` (``None``: only when the caller asked for ``b64_json``).
        b64: download every URL-only image into ``b64_json`` (a stream carries images as base64).
        clock: monotonic seconds, as deadlines are given; ``wall``: Unix seconds.
    """

    __slots__ = (
        "_auth",
        "_b64",
        "_cached_auth",
        "_clock",
        "_forget_auth",
        "_horizon",
        "_parts",
        "_wall",
        "call",
        "started",
    )

    def __init__(
        self,
        call: Call,
        *,
        cached_auth: Callable[[Call], tuple[bool, Auth | None]],
        forget_auth: Callable[[Deployment], None],
        download_horizon: float | None = None,
        b64: bool = False,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.call = call
        self._b64 = b64
        self._cached_auth = cached_auth
        self._forget_auth = forget_auth
        self._horizon = download_horizon
        self._clock = clock
        self._wall = wall
        self._auth: Auth | None = None
        self._parts: list[_Part] = []
        self.started = time.perf_counter()

    @property
    def pending(self) -> bool:
        """Whether a job the provider accepted is still running (a ``FollowUp`` is outstanding)."""
        return any(part.follow_up is not None and part.result is None for part in self._parts)

    # ----------------------------------------------------------------- the machine

    def attempt(self, deadline: float, attempts: int = 1) -> Generator[Step, Any, ImageResponse]:
        """One attempt, ending by ``deadline``; returns the response with ``metadata["attempts"] = attempts``."""
        call = self.call
        try:
            if self._clock() >= deadline:
                raise self._out_of_time()
            found, auth = self._cached_auth(call)
            if not found:
                auth = yield Authorize()
            self._auth = auth
            parts = self._start(auth)
            while True:
                active: list[_Part] = []
                requests: list[httpx.Request] = []
                for part in parts:  # loops, not comprehensions: each of those is a function call
                    if part.result is None:
                        active.append(part)
                        requests.append(part.request if part.follow_up is None else part.follow_up.request)
                if not active:
                    break
                answers: Sequence[Answer] = yield Send(tuple(requests), deadline)
                for part, answer in zip(active, answers, strict=True):
                    self._receive(part, answer)
                for part in parts:
                    if part.result is None:
                        yield from self._backoff(parts, deadline)
                        break
            response = parts[0].result
            if len(parts) > 1:
                response = merge([part.result for part in parts if part.result is not None])
            assert response is not None  # every part has its result: the loop above ends only then
            if self._b64 or self._horizon is not None or _has_urls_to_note(response, call.request):
                response = yield from self._downloaded(response, deadline)
            return finish(call, response, self.started, attempts=attempts)
        except PixmuxError as error:
            raise self._redacted(error) from error.__cause__

    def _backoff(self, parts: list[_Part], deadline: float) -> Generator[Step, Any, None]:
        """Wait before the follow-ups of the parts still waiting, or run out of time."""
        waiting = [part for part in parts if part.result is None]
        least = max(part.follow_up.after for part in waiting if part.follow_up is not None)
        left = deadline - self._clock()
        if least >= left:
            raise self._out_of_time()
        wait = min(max(part.wait for part in waiting), left)
        if wait > 0:
            yield Wait(wait)

    def _start(self, auth: Auth | None) -> list[_Part]:
        """The call's parts, with the requests of those not yet accepted or answered built (all on a first attempt)."""
        parts = self._parts
        if parts and all(part.result is not None or part.follow_up is not None for part in parts):
            return parts
        call = self.call
        built = call.provider.hook("build_request")(
            request=call.request, deployment=call.deployment, model=call.info, auth=auth
        )
        if isinstance(built, httpx.Request):
            requests = [built]
        else:
            requests = list(built)
            if not requests or not all(isinstance(item, httpx.Request) for item in requests):
                raise ConfigurationError(
                    f"provider {call.provider.name!r}: build_request must return httpx.Request objects",
                    provider=call.provider.name,
                )
        if call.headers:
            for request in requests:
                request.headers.update(call.headers)
        if not parts:
            parts = self._parts = [_Part(request) for request in requests]
            return parts
        for part, request in zip(parts, requests, strict=False):
            if part.result is None and part.follow_up is None:
                part.request = request
        return parts

    def _receive(self, part: _Part, answer: Answer) -> None:
        if isinstance(answer, httpx.HTTPError):
            raise self._transport_error(answer)
        parsed = self._parse(answer)
        if isinstance(parsed, ImageResponse):
            part.result = parsed
            part.follow_up = None
            return
        part.polls += 1
        if part.polls >= MAX_FOLLOW_UPS:
            raise APIResponseValidationError(
                f"the provider asked for more than {MAX_FOLLOW_UPS} follow-up requests",
                provider=self.call.provider.name,
                status_code=502,
            )
        after = max(0.0, parsed.after)
        if part.follow_up is not None and part.polls > 1:  # polling again: back off from the last wait
            part.wait = max(after, min(part.wait * POLL_BACKOFF, max(POLL_CAP, after)))
        else:
            part.wait = after
        part.follow_up = parsed

    def abandon(self) -> Generator[Step, Any, None]:
        """Cancel every pending job, best effort (answers and failures are ignored)."""
        cancels = tuple(
            part.follow_up.cancel
            for part in self._parts
            if part.result is None and part.follow_up is not None and part.follow_up.cancel is not None
        )
        for part in self._parts:
            part.follow_up = None if part.result is None else part.follow_up
        if cancels:
            yield Send(cancels, self._clock() + CANCEL_TIMEOUT)

    # ----------------------------------------------------------------- streams

    def stream(self, deadline: float, attempts: int, check: StreamCheck) -> Generator[StreamStep, Any, None]:
        """
        One streamed attempt: open the request, frame its events, emit each as it arrives.

        An error status (or an answer that is not an event stream) goes to ``parse_response``
        as usual: the typed error, or a whole response emitted as completed events.
        ``check.started`` tells the caller whether any event went out (then no retry).
        """
        try:
            yield from self._stream(deadline, attempts, check)
        except PixmuxError as error:
            raise self._redacted(error) from error.__cause__

    def _stream(self, deadline: float, attempts: int, check: StreamCheck) -> Generator[StreamStep, Any, None]:
        call = self.call
        if self._clock() >= deadline:
            raise self._out_of_time()
        found, auth = self._cached_auth(call)
        if not found:
            auth = yield Authorize()
        self._auth = auth
        built = call.provider.hook("build_request")(
            request=call.request, deployment=call.deployment, model=call.info, auth=auth
        )
        if not isinstance(built, httpx.Request):
            raise ConfigurationError(
                f"provider {call.provider.name!r}: a streamed call needs build_request to return one httpx.Request",
                provider=call.provider.name,
            )
        opened = yield Open(built, deadline)
        if isinstance(opened, httpx.HTTPError):
            raise self._transport_error(opened)
        kind = opened.headers.get("content-type", "")
        if opened.is_error or not kind.startswith("text/event-stream"):
            yield from self._whole_as_stream(opened, attempts, check)
            return
        decoder = SSEDecoder()
        held: ImageStreamEvent | None = None  # the latest final image, kept back to carry the cost
        finals: list[ImageStreamEvent] = []
        try:
            while True:
                chunk = yield Read()
                if isinstance(chunk, httpx.HTTPError):
                    raise self._transport_error(chunk)
                if not chunk:
                    break
                for framed in decoder.feed(chunk):
                    translated = self._event(framed)
                    if translated is None:
                        continue
                    event = check.accept(translated)
                    if held is not None:
                        yield Emit(held)
                        held = None
                    if event.completed:
                        held = event
                        finals.append(event)
                    else:
                        yield Emit(event)
            check.finish()
        except PixmuxError:
            if held is not None:  # a final image that arrived is never lost to a later failure
                yield Emit(held)
            raise
        assert held is not None  # finish() refuses a stream with no completed event
        yield Emit(self._priced(held, finals, attempts))

    def _whole_as_stream(
        self, opened: httpx.Response, attempts: int, check: StreamCheck
    ) -> Generator[StreamStep, Any, None]:
        """An answer that is not an event stream: an error to raise, or a whole response as completed events."""
        call = self.call
        body = yield ReadAll(STREAM_ERROR_MAX_BYTES)
        if isinstance(body, httpx.HTTPError):
            raise self._transport_error(body)
        whole = httpx.Response(opened.status_code, headers=opened.headers, content=body, request=opened.request)
        parsed = self._parse(whole)
        if isinstance(parsed, FollowUp):
            raise APIResponseValidationError(
                "the provider answered a streamed request with a job to poll",
                provider=call.provider.name,
                status_code=502,
            )
        response = finish(call, parsed, self.started, attempts=attempts)
        for event in completed_events(response, operation=call.request.operation):
            yield Emit(check.accept(event))

    def _event(self, framed: ServerSentEvent) -> ImageStreamEvent | None:
        call = self.call
        try:
            event = call.provider.hook("parse_event")(
                event=framed, request=call.request, deployment=call.deployment, model=call.info
            )
        except PixmuxError:
            raise
        except _PARSE_FAILURES as exc:
            raise APIResponseValidationError(
                f"could not read the provider's stream event: {type(exc).__name__}: {exc}", status_code=502
            ) from exc
        if event is not None and not isinstance(event, ImageStreamEvent):
            raise ConfigurationError(
                f"provider {call.provider.name!r}: parse_event returned {type(event).__name__}",
                provider=call.provider.name,
            )
        return event

    def _priced(self, last: ImageStreamEvent, finals: Sequence[ImageStreamEvent], attempts: int) -> ImageStreamEvent:
        """The last completed event with the call's cost and metadata, priced as the whole response would be."""
        usage: Usage | None = None
        for event in finals:
            if event.usage is not None:
                usage = event.usage if usage is None else usage + event.usage
        whole = ImageResponse(  # priced by its count of images: their bytes are not read (a gateway relays them)
            created=last.created_at,
            data=tuple(ImageObject() for _ in finals),
            usage=usage,
            size=last.size,
            quality=last.quality,
            background=last.background,
            output_format=last.output_format,
        )
        done = finish(self.call, whole, self.started, attempts=attempts)
        return last._with_extras(cost=done.cost, metadata={**done.metadata, **last.metadata})

    # ----------------------------------------------------------------- downloads

    def _downloaded(self, response: ImageResponse, deadline: float) -> Generator[Step, Any, ImageResponse]:
        """``response`` with the images it must carry as bytes downloaded into ``b64_json``."""
        want_b64 = self._b64 or self.call.request.response_format == "b64_json"
        horizon = None if self._horizon is None else self._wall() + self._horizon
        todo = [
            index
            for index, image in enumerate(response.data)
            if image.b64_json is None
            and image.url is not None
            and (want_b64 or (horizon is not None and image.expires_at is not None and image.expires_at < horizon))
        ]
        expiry = [image.expires_at for image in response.data]
        if any(when is not None for when in expiry):
            response = response.with_metadata(url_expires_at=expiry)
        if not todo:
            return response
        images = list(response.data)
        fetch: list[int] = []
        for index in todo:
            url = images[index].url
            assert url is not None
            if url.startswith("data:"):
                images[index] = attrs.evolve(images[index], b64_json=_data_url_b64(url, self.call))
            else:
                fetch.append(index)
        until = min(deadline, self._clock() + DOWNLOAD_TIMEOUT)
        requests = {index: httpx.Request("GET", images[index].url or "") for index in fetch}
        for _ in range(MAX_REDIRECTS + 1):
            if not requests:
                break
            answers: Sequence[Answer] = yield Send(tuple(requests.values()), until, max_bytes=DOWNLOAD_MAX_BYTES)
            following = {}
            for index, answer in zip(list(requests), answers, strict=True):
                moved = redirect_target(answer) if isinstance(answer, httpx.Response) else None
                if moved is not None:
                    following[index] = moved
                else:
                    images[index] = attrs.evolve(images[index], b64_json=self._image_b64(answer))
            requests = following
        if requests:
            raise APIConnectionError(
                f"could not download the image the provider returned: more than {MAX_REDIRECTS} redirects",
                provider=self.call.provider.name,
                model=self.call.request.model,
            )
        return attrs.evolve(response, data=tuple(images))

    def _image_b64(self, answer: Answer) -> str:
        call = self.call
        if isinstance(answer, BodyTooLarge):
            raise APIResponseValidationError(
                f"the image at the provider's URL is larger than {DOWNLOAD_MAX_BYTES} bytes",
                provider=call.provider.name,
                model=call.request.model,
                status_code=502,
            )
        if isinstance(answer, httpx.HTTPError):
            raise self._transport_error(answer)
        if answer.is_error:
            raise APIConnectionError(
                f"could not download the image the provider returned: HTTP {answer.status_code}",
                provider=call.provider.name,
                model=call.request.model,
            )
        return base64.b64encode(answer.content).decode("ascii")

    # ----------------------------------------------------------------- hooks and errors

    def _parse(self, response: httpx.Response) -> ImageResponse | FollowUp:
        call = self.call
        try:
            parsed = call.provider.hook("parse_response")(
                response=response, request=call.request, deployment=call.deployment, model=call.info
            )
        except PixmuxError as exc:
            if exc.status_code == 401:
                self._forget_auth(call.deployment)
            raise
        except RecursionError as exc:  # JSON nested deeper than any parser's stack: json.loads gives up
            raise APIResponseValidationError(
                f"the provider's response (HTTP {response.status_code}) nests JSON too deeply to read",
                status_code=502,
                response=response,
            ) from exc
        except _PARSE_FAILURES as exc:
            raise APIResponseValidationError(
                f"could not read the provider's response (HTTP {response.status_code}): {type(exc).__name__}: {exc}",
                status_code=502,
                response=response,
            ) from exc
        if not isinstance(parsed, (ImageResponse, FollowUp)):  # a tuple: no union object to walk
            raise ConfigurationError(
                f"provider {call.provider.name!r}: parse_response returned {type(parsed).__name__}",
                provider=call.provider.name,
            )
        return parsed

    def _transport_error(self, exc: httpx.HTTPError) -> PixmuxError:
        call = self.call
        if isinstance(exc, httpx.TimeoutException):
            error: PixmuxError = Timeout(
                f"no answer within the timeout ({call.timeout:g}s): {type(exc).__name__}",
                provider=call.provider.name,
                model=call.request.model,
            )
        elif isinstance(exc, httpx.DecodingError):  # the provider answered, but its body does not decode
            error = APIResponseValidationError(
                f"the provider's response could not be decoded ({type(exc).__name__}: {exc})",
                provider=call.provider.name,
                model=call.request.model,
            )
        else:
            error = APIConnectionError(
                f"could not reach the provider: {type(exc).__name__}: {exc}",
                provider=call.provider.name,
                model=call.request.model,
            )
        error.__cause__ = exc
        return error

    def _out_of_time(self) -> Timeout:
        call = self.call
        return Timeout(f"the call's timeout ({call.timeout:g}s) ran out", provider=call.provider.name)

    def secrets(self) -> list[str]:
        """
        The strings an error must never show: the key, secret-named settings, the resolved auth's
        value and ``Auth.secrets`` (see ``pixmux._redact.secrets_of``), secret ``extra_headers``.
        """
        found = list(_redact.secrets_of(self.call.deployment, self._auth))
        found.extend(value for name, value in self.call.headers.items() if is_secret_header(name) and value)
        return found

    def _redacted(self, error: PixmuxError) -> PixmuxError:
        """``error`` as the call's own: provider and model filled in, every secret scrubbed (the one place)."""
        call = self.call
        return redacted(error.with_context(provider=call.provider.name, model=call.request.model), self.secrets())


def redacted(error: PixmuxError, secrets: Iterable[str]) -> PixmuxError:
    """
    ``error`` with every secret removed (providers echo keys back): its message, code and details,
    the attached response and request, and every exception chained to it (``pixmux._redact.scrub_error``).
    """
    return _redact.scrub_error(error, secrets)


def _has_urls_to_note(response: ImageResponse, request: ImageRequest) -> bool:
    """Whether :meth:`Exchange._downloaded` has work beyond an engine's horizon: b64 asked for, or expiries to note."""
    if request.response_format == "b64_json":
        return True
    for image in response.data:  # noqa: SIM110 - a loop: no generator object on every call's path
        if image.expires_at is not None:
            return True
    return False


def _data_url_b64(url: str, call: Call) -> str:
    """The base64 payload of a ``data:`` URL (``data:image/png;base64,...``)."""
    head, _, payload = url.partition(",")
    try:
        if head.endswith(";base64"):
            base64.b64decode(payload, validate=True)
            return payload
        from urllib.parse import unquote_to_bytes

        return base64.b64encode(unquote_to_bytes(payload)).decode("ascii")
    except (binascii.Error, ValueError) as exc:
        raise APIResponseValidationError(
            "the provider returned a data: URL that is not valid base64",
            provider=call.provider.name,
            model=call.request.model,
            status_code=502,
        ) from exc


# --------------------------------------------------------------------------------------------- merge and finish


def merge(parts: Sequence[ImageResponse]) -> ImageResponse:
    """One response from the parts of a fanned-out call: images, refusals, usage, cost and metadata together."""
    if len(parts) == 1:
        return parts[0]
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
        parts[0],
        created=max(part.created for part in parts),
        data=tuple(image for part in parts for image in part.data),
        refused=tuple(refusal for part in parts for refusal in part.refused),
        usage=usage,
        cost=None if any(cost is None for cost in costs) else sum(c for c in costs if c is not None),
        metadata=metadata,
    )


def _all_refused(call: Call, response: ImageResponse) -> ContentPolicyViolationError:
    """
    The error for a call whose every image was refused.

    A plugin reports an image the provider withheld as a :class:`~pixmux.types.Refusal` in
    ``ImageResponse.refused``, so that the other images survive; when no image is left, the call
    is a refusal, never an empty success.
    """
    reasons = [": ".join(part for part in (refusal.reason, refusal.message) if part) for refusal in response.refused]
    return ContentPolicyViolationError(
        f"the provider returned no image: {'; '.join(dict.fromkeys(reasons)) or 'every image was filtered'}",
        provider=call.provider.name,
        model=call.request.model,
        code=response.refused[0].reason,
        details={"refused": [attrs.asdict(refusal) for refusal in response.refused]},
    )


def finish(call: Call, response: ImageResponse, started: float, *, attempts: int | None = None) -> ImageResponse:
    """The call's final response: the refusal policy applied, cost and metadata beside it."""
    if not response.data and response.refused:
        raise _all_refused(call, response)
    cost = response.cost
    if cost is not None and not 0 <= cost < math.inf:  # a plugin's odd figure (below 0, NaN) is no price
        cost = None
    if cost is None and call.info.pricing is not None:
        cost = call.info.pricing.cost(call.request, response)
    metadata: dict[str, Any] = {
        "provider": call.provider.name,
        "model": call.request.model,
        "elapsed": time.perf_counter() - started,
        **response.metadata,
    }
    if call.warnings:
        metadata["warnings"] = [*call.warnings, *metadata.get("warnings", ())]
    if attempts is not None:
        metadata["attempts"] = attempts
    return _finished(response, cost, metadata)
