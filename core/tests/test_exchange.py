"""
The exchange's rules, through the engine on MockTransport: follow-ups and their backoff, retries
that re-poll accepted jobs, cancels, downloads of URL images, partial refusals, hooks by keyword.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pixmux import hookimpl, hookspecs
from pixmux._exchange import POLL_CAP
from pixmux._retry import Backoff
from pixmux.catalogue import Catalogue
from pixmux.exceptions import APIResponseValidationError, ContentPolicyViolationError, Timeout
from pixmux.testing import TINY_PNG_B64, make_engine
from pixmux.types import FollowUp, ImageObject, ImageRequest, ImageResponse, Refusal

PNG = base64.b64decode(TINY_PNG_B64)
BASE = "https://jobs.example"


class Jobs:
    """A submit-then-poll provider: POST /jobs, GET /jobs/1 until done, DELETE /jobs/1 cancels."""

    def __init__(
        self, *, after: float = 0.0, cancel: bool = True, images: Callable[[], list[ImageObject]] | None = None
    ):
        self.after = after
        self.cancel = cancel
        self.images = images or (lambda: [ImageObject(b64_json=TINY_PNG_B64)])

    @hookimpl
    def model_catalogue(self) -> Catalogue:
        return Catalogue(provider="jobs")

    @hookimpl
    def build_request(self, request: ImageRequest) -> httpx.Request:
        return httpx.Request("POST", f"{BASE}/jobs", json={"prompt": request.prompt})

    @hookimpl
    def parse_response(self, response: httpx.Response) -> ImageResponse | FollowUp:
        if response.status_code >= 400:
            from pixmux.exceptions import error_from_response

            raise error_from_response(response, provider="jobs")
        if response.json().get("status") != "done":
            cancel = httpx.Request("DELETE", f"{BASE}/jobs/1") if self.cancel else None
            return FollowUp(request=httpx.Request("GET", f"{BASE}/jobs/1"), after=self.after, cancel=cancel)
        return ImageResponse(created=1, data=tuple(self.images()))


def polls_then_done(count: int) -> Callable[[httpx.Request], httpx.Response]:
    """Answers the submission and ``count - 1`` polls with ``running``, then ``done``."""
    seen = {"polls": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            return httpx.Response(204)
        if request.method == "GET" and request.url.path == "/jobs/1":
            seen["polls"] += 1
            if seen["polls"] >= count:
                return httpx.Response(200, json={"status": "done"})
        return httpx.Response(200, json={"status": "running"})

    return handler


def test_follow_up_after_is_a_minimum_and_repeated_polls_back_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first wait is ``after``; each later poll waits 1.5 times longer, never less than after, up to a cap."""
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    engine = make_engine(Jobs(after=2.0), handler=polls_then_done(8))

    engine.image_generation(prompt="otter", model="jobs/m")

    assert slept[:3] == pytest.approx([2.0, 3.0, 4.5])
    assert slept == sorted(slept)
    assert max(slept) == pytest.approx(POLL_CAP)
    assert len(slept) == 8


def test_polls_never_wait_past_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """A job still running when the next wait would pass the deadline ends in Timeout, and is cancelled."""
    engine = make_engine(Jobs(after=0.2), handler=polls_then_done(1000))

    started = time.monotonic()
    with pytest.raises(Timeout):
        engine.image_generation(prompt="otter", model="jobs/m", timeout=1, num_retries=0)

    assert time.monotonic() - started < 1.5
    assert engine.requests[-1].method == "DELETE"
    assert [r.method for r in engine.requests].count("POST") == 1


def test_a_retry_after_the_job_was_accepted_polls_again_and_never_resubmits() -> None:
    """A 503 on a poll is retried by polling again: one submission, one job, one bill."""
    answers = iter([(200, "running"), (503, None), (200, "running"), (200, "done")])

    def handler(request: httpx.Request) -> httpx.Response:
        status, state = next(answers)
        return httpx.Response(status, json={"status": state} if state else {"error": {"message": "busy"}})

    engine = make_engine(Jobs(), handler=handler)
    engine.retry = Backoff(sleep=lambda seconds: None)

    response = engine.image_generation(prompt="otter", model="jobs/m", num_retries=2)

    assert [r.method for r in engine.requests] == ["POST", "GET", "GET", "GET"]
    assert response.metadata["attempts"] == 2


def test_a_failed_call_with_a_pending_job_cancels_it() -> None:
    """A poll that fails for good (a 400) leaves no job running: the cancel request is sent."""
    answers = iter([(200, "running"), (400, None), (204, None)])

    def handler(request: httpx.Request) -> httpx.Response:
        status, state = next(answers)
        return httpx.Response(status, json={"status": state} if state else {"error": {"message": "gone"}})

    engine = make_engine(Jobs(), handler=handler)

    with pytest.raises(Exception, match="gone"):
        engine.image_generation(prompt="otter", model="jobs/m")

    assert [r.method for r in engine.requests] == ["POST", "GET", "DELETE"]


async def test_a_cancelled_task_cancels_the_pending_job() -> None:
    """Cancelling the caller's task (a client that went away) sends the job's cancel request."""
    polled = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            return httpx.Response(204)
        if request.method == "GET":
            polled.set()
        return httpx.Response(200, json={"status": "running"})

    engine = make_engine(Jobs(after=0.05), handler=handler)
    task = asyncio.ensure_future(engine.aimage_generation(prompt="otter", model="jobs/m"))
    await asyncio.wait_for(polled.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert engine.requests[-1].method == "DELETE"


def test_without_a_cancel_request_nothing_more_is_sent() -> None:
    """A plugin that gives no cancel request gets none sent."""
    engine = make_engine(Jobs(after=0.2, cancel=False), handler=polls_then_done(1000))

    with pytest.raises(Timeout):
        engine.image_generation(prompt="otter", model="jobs/m", timeout=0.5, num_retries=0)

    assert {r.method for r in engine.requests} == {"POST", "GET"}


# --------------------------------------------------------------------------- downloads


def cdn(request: httpx.Request) -> httpx.Response:
    """The provider's image host, and its job endpoint answering done."""
    if request.url.host == "cdn.example":
        return httpx.Response(200, content=PNG, headers={"Content-Type": "image/png"})
    return httpx.Response(200, json={"status": "done"})


def test_b64_json_asked_and_only_a_url_returned_downloads_the_image() -> None:
    """response_format='b64_json' on a plugin that returned a URL: the core fetches it into b64_json."""
    expires = time.time() + 3600
    plugin = Jobs(images=lambda: [ImageObject(url="https://cdn.example/a.png", expires_at=expires)])
    engine = make_engine(plugin, handler=cdn)

    response = engine.image_generation(prompt="otter", model="jobs/m", response_format="b64_json")

    assert response.data[0].b64_json == TINY_PNG_B64
    assert response.metadata["url_expires_at"] == [expires]
    assert engine.requests[-1].url == "https://cdn.example/a.png"


def test_a_url_expiring_within_the_horizon_is_downloaded(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a download horizon, a URL about to expire is fetched; one that lasts longer is left alone."""
    soon, later = time.time() + 60, time.time() + 86_400
    plugin = Jobs(
        images=lambda: [
            ImageObject(url="https://cdn.example/soon.png", expires_at=soon),
            ImageObject(url="https://cdn.example/later.png", expires_at=later),
        ]
    )
    engine = make_engine(plugin, handler=cdn)
    engine.download_horizon = 600

    response = engine.image_generation(prompt="otter", model="jobs/m")

    assert response.data[0].b64_json == TINY_PNG_B64
    assert response.data[1].b64_json is None
    assert response.data[1].url == "https://cdn.example/later.png"
    assert response.metadata["url_expires_at"] == [soon, later]


def test_a_download_larger_than_the_bound_is_a_typed_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """The download is bounded in size: a bigger image is an APIResponseValidationError, not a memory blow-up."""
    from pixmux import _exchange

    monkeypatch.setattr(_exchange, "DOWNLOAD_MAX_BYTES", 10)
    engine = make_engine(Jobs(images=lambda: [ImageObject(url="https://cdn.example/a.png")]), handler=cdn)

    with pytest.raises(APIResponseValidationError, match="larger than 10 bytes"):
        engine.image_generation(prompt="otter", model="jobs/m", response_format="b64_json")


def test_a_data_url_is_decoded_without_a_request() -> None:
    """A data: URL needs no download: its payload becomes b64_json."""
    plugin = Jobs(images=lambda: [ImageObject(url=f"data:image/png;base64,{TINY_PNG_B64}")])
    engine = make_engine(plugin, handler=cdn)

    response = engine.image_generation(prompt="otter", model="jobs/m", response_format="b64_json")

    assert response.data[0].b64_json == TINY_PNG_B64
    assert all(r.url.host != "cdn.example" for r in engine.requests)


# --------------------------------------------------------------------------- partial refusals


class Parts:
    """One request per image; the body says whether that image was refused."""

    @hookimpl
    def model_catalogue(self) -> Catalogue:
        return Catalogue(provider="parts")

    @hookimpl
    def build_request(self, request: ImageRequest) -> list[httpx.Request]:
        return [httpx.Request("POST", f"https://parts.example/{index}") for index in range(request.n or 1)]

    @hookimpl
    def parse_response(self, response: httpx.Response) -> ImageResponse:
        if response.json()["refused"]:
            return ImageResponse(created=1, refused=(Refusal(reason="SAFETY", message="withheld"),))
        return ImageResponse(created=1, data=(ImageObject(b64_json=TINY_PNG_B64),))


def test_some_parts_refused_keeps_the_others_and_says_so() -> None:
    """Two of three delivered: two images, one Refusal beside them."""
    engine = make_engine(Parts(), handler=lambda r: httpx.Response(200, json={"refused": r.url.path == "/1"}))

    response = engine.image_generation(prompt="otter", model="parts/m", n=3)

    assert len(response.data) == 2
    assert response.refused == (Refusal(reason="SAFETY", message="withheld"),)
    assert "refused" not in response.to_dict()


def test_every_part_refused_is_a_content_policy_violation() -> None:
    """Nothing delivered: ContentPolicyViolationError (400) with the provider's reason as its code."""
    engine = make_engine(Parts(), handler=lambda r: httpx.Response(200, json={"refused": True}))

    with pytest.raises(ContentPolicyViolationError, match="SAFETY: withheld") as caught:
        engine.image_generation(prompt="otter", model="parts/m", n=2)

    assert (caught.value.status_code, caught.value.code) == (400, "SAFETY")


# --------------------------------------------------------------------------- hooks by keyword


def test_reordering_a_hookspecs_parameters_changes_nothing(monkeypatch: pytest.MonkeyPatch, make_fake: Any) -> None:
    """Hooks are called by keyword, as pluggy does: a spec with its parameters reversed works the same."""

    @hookspecs.hookspec(firstresult=True)
    def build_request(auth: Any, model: Any, deployment: Any, request: Any) -> Any:  # type: ignore[empty-body]
        """Reversed."""

    @hookspecs.hookspec(firstresult=True)
    def parse_response(model: Any, deployment: Any, request: Any, response: Any) -> Any:  # type: ignore[empty-body]
        """Reversed."""

    @hookspecs.hookspec(firstresult=True)
    def validate_params(deployment: Any, model: Any, request: Any) -> Any:
        """Reversed."""

    monkeypatch.setattr(hookspecs, "build_request", build_request)
    monkeypatch.setattr(hookspecs, "parse_response", parse_response)
    monkeypatch.setattr(hookspecs, "validate_params", validate_params)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"created": 1, "images": [{"b64": TINY_PNG_B64}]})

    engine = make_engine(make_fake(), handler=handler)
    response = engine.image_generation(prompt="otter", model="fake/m1", size="256x256", api_key="k-123456")

    assert response.data[0].b64_json == TINY_PNG_B64
    assert engine.requests[0].headers["authorization"] == "Bearer k-123456"
