"""Tests of the Runway provider: task bodies, ratios, reference images, polling and cancel, expiry, failures, errors."""

from __future__ import annotations

import base64
import json
import warnings
from collections.abc import Callable
from typing import Any

import httpx
import pixmux_runway.provider as runway
import pytest
from pixmux import PixmuxWarning
from pixmux.exceptions import (
    APIResponseValidationError,
    AuthenticationError,
    BadRequestError,
    ContentPolicyViolationError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    ServiceUnavailableError,
    Timeout,
    UnsupportedParamsError,
)
from pixmux.testing import TINY_PNG_B64, check_plugin, json_response, load_json, make_engine
from pixmux.types import Deployment, FollowUp, ImageInput, ImageRequest, ImageResponse

KEY = "key_runway_0123456789abcdef0123456789"
BASE = "http://runway.test"
PNG = base64.b64decode(TINY_PNG_B64)
TID = "17f20503-6c24-4c16-946b-35dbbce2af2f"
CREATED = 1777629600.0  # 2026-05-01T10:00:00Z


def _request(model: str = "gen4_image", **kwargs: Any) -> ImageRequest:
    names = (*ImageRequest.OPENAI_PARAMS, "operation", "images", "mask")
    fields = {name: kwargs.pop(name) for name in names if name in kwargs}
    return ImageRequest(prompt=kwargs.pop("prompt", "a rooftop at dusk"), model=model, params=kwargs, **fields)


def _image() -> ImageInput:
    return ImageInput(data=PNG, media_type="image/png")


def _deployment(model: str = "gen4_image", **overrides: Any) -> Deployment:
    fields: dict[str, Any] = {"provider": "runway", "model": model, "api_key": KEY}
    fields.update(overrides)
    return Deployment(**fields)


def _validate(request: ImageRequest) -> ImageRequest:
    return runway.validate_params(request=request, model=runway.CATALOGUE.lookup(request.model)) or request


def _build(request: ImageRequest, **overrides: Any) -> list[httpx.Request]:
    request = _validate(request)
    deployment = _deployment(request.model, **overrides)
    return runway.build_request(request=request, deployment=deployment, model=runway.CATALOGUE.lookup(request.model))


def _body(request: ImageRequest, **overrides: Any) -> dict[str, Any]:
    return json.loads(_build(request, **overrides)[0].content)


def _parse(status: int, body: Any, *, method: str = "GET", request: ImageRequest | None = None) -> Any:
    request = request or _request()
    url = f"{BASE}/v1/text_to_image" if method == "POST" else f"{BASE}/v1/tasks/{TID}"
    response = httpx.Response(status, json=body, request=httpx.Request(method, url))
    return runway.parse_response(
        response=response,
        request=request,
        deployment=_deployment(request.model),
        model=runway.CATALOGUE.lookup(request.model),
    )


class FakeRunway:
    """A stand-in for Runway: a created task is PENDING, THROTTLED, RUNNING ... then its final state."""

    def __init__(self, *, pending: int = 2, final: str = "task_succeeded.json", faults: dict[int, int] | None = None):
        self.pending, self.final, self.faults = pending, final, faults or {}
        self.polls: dict[str, int] = {}
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        fault = self.faults.get(len(self.seen))
        if fault is not None:
            return json_response(fault, load_json(f"error_{fault}.json"))
        if request.method == "POST":
            return json_response(200, {"id": f"task-{sum(1 for r in self.seen if r.method == 'POST')}"})
        tid = request.url.path.rsplit("/", 1)[-1]
        self.polls[tid] = self.polls.get(tid, 0) + 1
        states = ("task_pending.json", "task_throttled.json", "task_running.json")
        name = states[min(self.polls[tid] - 1, 2)] if self.polls[tid] <= self.pending else self.final
        return json_response(200, {**load_json(name), "id": tid})


def _engine(handler: Callable[[httpx.Request], httpx.Response]) -> Any:
    return make_engine(runway, handler=handler)


def _generate(engine: Any, model: str = "gen4_image", **kwargs: Any) -> ImageResponse:
    kwargs.setdefault("prompt", "a rooftop at dusk")
    return engine.image_generation(model=f"runway/{model}", api_key=KEY, api_base=BASE, poll_interval=0, **kwargs)


# --------------------------------------------------------------------------- contract and request shape


def test_check_plugin_passes_the_contract():
    """The plugin meets pixmux's plugin contract on Runway's default endpoint."""
    assert check_plugin(runway, name="runway") == []


def test_build_request_sends_runways_example_with_the_version_header():
    """Runway's example (ratio, seed) is posted to /v1/text_to_image in camelCase, with X-Runway-Version."""
    (http,) = _build(_request(prompt="@hero standing on a rooftop at dusk, cinematic", ratio="1920:1080", seed=42))

    assert http.method == "POST"
    assert str(http.url) == "https://api.dev.runwayml.com/v1/text_to_image"
    assert http.headers["authorization"] == f"Bearer {KEY}"
    assert http.headers["x-runway-version"] == "2024-11-06"
    assert json.loads(http.content) == {
        "model": "gen4_image",
        "promptText": "@hero standing on a rooftop at dusk, cinematic",
        "ratio": "1920:1080",
        "seed": 42,
    }


def test_api_version_overrides_the_version_header():
    """api_version sets X-Runway-Version for a newer API."""
    (http,) = _build(_request(), api_version="2025-09-01")

    assert http.headers["x-runway-version"] == "2025-09-01"


def test_ratio_is_always_sent_for_gen4():
    """Runway requires a ratio: without a size, 1024:1024 is sent."""
    assert _body(_request())["ratio"] == "1024:1024"


def test_size_becomes_the_ratio_exactly_or_the_nearest_with_a_warning():
    """1920x1080 is a Gen-4 size as is; 1536x1024 is sent as the nearest (1440:1080) with a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _body(_request(size="1920x1080"))["ratio"] == "1920:1080"
    with pytest.warns(PixmuxWarning, match="1440:1080"):
        assert _body(_request(size="1536x1024"))["ratio"] == "1440:1080"
    with pytest.warns(PixmuxWarning):
        assert _body(_request(size="1024x1792"))["ratio"] == "1080:1920"


def test_n_creates_one_task_per_image_with_stepped_seeds():
    """Gen-4 has no count: n=2 is two tasks; a seed is stepped so they differ."""
    requests = _build(_request(n=2, seed=7))

    assert [json.loads(r.content)["seed"] for r in requests] == [7, 8]


def test_gpt_image_2_takes_output_count_and_quality():
    """GPT Image 2 through Runway makes n images in one task (outputCount), with quality."""
    requests = _build(_request("gpt_image_2", n=3, quality="high", ratio="auto"))

    assert len(requests) == 1
    body = json.loads(requests[0].content)
    assert (body["outputCount"], body["quality"], body["ratio"]) == (3, "high", "auto")


def test_build_request_needs_a_secret_on_runways_host():
    """Without RUNWAYML_API_SECRET the error says how to give one."""
    with pytest.raises(AuthenticationError, match="RUNWAYML_API_SECRET"):
        _build(_request(), api_key=None)


@pytest.mark.parametrize(
    ("model", "fields", "param"),
    [
        ("gen4_image", {"quality": "high"}, "quality"),
        ("gen4_image", {"style": "vivid"}, "style"),
        ("gen4_image", {"ratio": "1000:1000"}, "ratio"),
        ("gen4_image", {"size": "1920x1080", "ratio": "1920:1080"}, "ratio"),
        ("gen4_image", {"n": 5}, "n"),
        ("gen4_image", {"seed": -1}, "seed"),
        ("gen4_image", {"contentModeration": {"publicFigureThreshold": "none"}}, "contentModeration"),
        ("gen4_image", {"prompt": "x" * 1001}, "prompt"),
        ("gen4_image", {"negative_prompt": "blur"}, "negative_prompt"),
        ("gpt_image_2", {"background": "transparent"}, "background"),
    ],
)
def test_validate_params_refuses_by_name(model: str, fields: dict[str, Any], param: str):
    """What a Runway model does not take is refused before any request, naming the parameter."""
    with pytest.raises(UnsupportedParamsError) as caught:
        _validate(_request(model, **fields))

    assert caught.value.param == param


# --------------------------------------------------------------------------- reference images


def test_reference_images_are_tagged_data_uris():
    """Input images become referenceImages with data: URIs, tagged ref1, ref2 ... or with reference_tags."""
    body = _body(_request(operation="edit", images=(_image(), _image())))
    uri = f"data:image/png;base64,{TINY_PNG_B64}"
    assert body["referenceImages"] == [{"uri": uri, "tag": "ref1"}, {"uri": uri, "tag": "ref2"}]

    body = _body(_request("gen4_image_turbo", operation="edit", images=(_image(),), reference_tags=["hero"]))
    assert body["referenceImages"] == [{"uri": uri, "tag": "hero"}]
    assert "reference_tags" not in body


@pytest.mark.parametrize(
    ("model", "fields", "param"),
    [
        ("gen4_image_turbo", {}, "operation"),  # turbo needs references
        ("gen4_image", {"operation": "edit", "images": 4}, "image"),
        ("gen4_image", {"operation": "edit", "images": 1, "mask": True}, "mask"),
        ("gen4_image", {"operation": "variation", "images": 1}, "operation"),
        ("gen4_image", {"operation": "edit", "images": 1, "reference_tags": ["1bad"]}, "reference_tags"),
        ("gen4_image", {"operation": "edit", "images": 2, "reference_tags": ["only"]}, "reference_tags"),
        ("gen4_image", {"operation": "edit", "images": 1, "big": True}, "image"),
    ],
)
def test_reference_inputs_are_checked(model: str, fields: dict[str, Any], param: str):
    """Turbo without references, more than 3, a mask, bad tags or an image over 5 MB as a data URI: refused."""
    fields = dict(fields)
    data = bytes(4 * 1024 * 1024) if fields.pop("big", False) else PNG
    fields["images"] = tuple(ImageInput(data=data, media_type="image/png") for _ in range(fields.pop("images", 0)))
    if fields.pop("mask", False):
        fields["mask"] = _image()
    with pytest.raises(UnsupportedParamsError) as caught:
        _validate(_request(model, **fields))

    assert caught.value.param == param


# --------------------------------------------------------------------------- tasks


def test_created_task_becomes_a_poll_with_a_delete_to_cancel():
    """{"id"} becomes GET /v1/tasks/{id}; the cancel request is DELETE on the same URL, both versioned."""
    follow = _parse(200, load_json("created.json"), method="POST")

    assert isinstance(follow, FollowUp)
    assert (follow.request.method, str(follow.request.url)) == ("GET", f"{BASE}/v1/tasks/{TID}")
    assert follow.cancel is not None
    assert (follow.cancel.method, str(follow.cancel.url)) == ("DELETE", f"{BASE}/v1/tasks/{TID}")
    assert follow.request.headers["x-runway-version"] == "2024-11-06"


@pytest.mark.parametrize("name", ["task_pending.json", "task_throttled.json", "task_running.json"])
def test_pending_throttled_and_running_poll_again(name: str):
    """PENDING, THROTTLED (at the concurrency limit) and RUNNING keep polling."""
    follow = _parse(200, load_json(name))

    assert isinstance(follow, FollowUp)
    assert str(follow.request.url) == f"{BASE}/v1/tasks/{TID}"


def test_succeeded_gives_urls_expiring_when_their_token_says():
    """SUCCEEDED gives output URLs; expires_at is the signed token's exp (48 h after createdAt here)."""
    resp = _parse(200, load_json("task_succeeded.json"))

    assert resp.data[0].url == load_json("task_succeeded.json")["output"][0]
    assert resp.data[0].expires_at == CREATED + 48 * 3600
    assert resp.cost == 0.08  # 1024:1024 is the 1080p tier: 8 credits


def test_url_without_a_token_expires_24_hours_after_creation():
    """A URL without a readable token: expires_at is createdAt plus Runway's least lifetime (24 h)."""
    resp = _parse(200, load_json("task_succeeded_plain.json"))

    assert resp.data[0].expires_at == CREATED + 24 * 3600


def test_720p_ratios_cost_less():
    """A 720p ratio costs 5 credits on gen4_image; turbo 2 credits at any size."""
    assert _parse(200, load_json("task_succeeded.json"), request=_request(ratio="1280:720")).cost == 0.05
    turbo = _request("gen4_image_turbo", operation="edit", images=(_image(),))
    assert _parse(200, load_json("task_succeeded.json"), request=turbo).cost == 0.02


def test_task_end_to_end():
    """One call: create, PENDING, THROTTLED, RUNNING, SUCCEEDED; each request carries key and version."""
    fake = FakeRunway(pending=3)

    resp = _generate(_engine(fake), size="1920x1080")

    assert [(r.method, r.url.path) for r in fake.seen] == [
        ("POST", "/v1/text_to_image"),
        *[("GET", "/v1/tasks/task-1")] * 4,
    ]
    assert all(r.headers["x-runway-version"] == "2024-11-06" for r in fake.seen)
    assert json.loads(fake.seen[0].content)["ratio"] == "1920:1080"
    assert resp.data[0].expires_at == CREATED + 48 * 3600
    assert resp.cost == 0.08


def test_a_failed_poll_is_retried_as_a_poll_never_a_new_task():
    """A 503 on a poll in the middle and on the last: the call re-polls; one task is created (and paid)."""
    fake = FakeRunway(pending=2, faults={3: 503, 5: 503})

    resp = _generate(_engine(fake), num_retries=2)

    assert [r.method for r in fake.seen].count("POST") == 1
    assert resp.data[0].url is not None


# --------------------------------------------------------------------------- failures and errors


@pytest.mark.parametrize("name", ["task_failed_safety_input.json", "task_failed_safety_output.json"])
def test_safety_failures_are_content_policy_violations(name: str):
    """FAILED with SAFETY.INPUT.* or SAFETY.OUTPUT.* is ContentPolicyViolationError, the code kept."""
    with pytest.raises(ContentPolicyViolationError) as caught:
        _parse(200, load_json(name))

    assert caught.value.code == load_json(name)["failureCode"]
    assert caught.value.status_code == 400


@pytest.mark.parametrize("name", ["task_failed_internal.json", "task_failed_nocode.json"])
def test_other_failures_are_provider_errors(name: str):
    """FAILED with INTERNAL.* or no code is InternalServerError; Runway's failure text is kept in details."""
    with pytest.raises(InternalServerError) as caught:
        _parse(200, load_json(name))

    assert caught.value.details["failure"] == load_json(name)["failure"]


def test_cancelled_task_is_a_timeout():
    """CANCELLED (the call's cancel, or a delete) is Timeout."""
    with pytest.raises(Timeout):
        _parse(200, load_json("task_cancelled.json"))


@pytest.mark.parametrize(
    "body", [{"id": TID, "status": "SUCCEEDED", "output": []}, {"id": TID, "status": "EXPLODED"}, {"status": "RUNNING"}]
)
def test_odd_tasks_are_response_validation_errors(body: Any):
    """SUCCEEDED without output, an unknown status, or a task without an id: APIResponseValidationError."""
    with pytest.raises(APIResponseValidationError):
        _parse(200, body)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (404, NotFoundError),
        (429, RateLimitError),
        (503, ServiceUnavailableError),
    ],
)
def test_http_errors_map_with_runways_message(status: int, cls: type[Exception]):
    """{"error": ...} bodies map by status, with Runway's message."""
    body = load_json(f"error_{status}.json")
    with pytest.raises(cls) as caught:
        _parse(status, body, method="POST")

    assert body["error"] in str(caught.value)


def test_secret_echoed_in_an_error_is_never_shown():
    """A 401 whose body echoes the secret: the error pixmux raises does not contain it."""
    handler = lambda r: json_response(401, {"error": f"Invalid API key {KEY}"})  # noqa: E731

    with pytest.raises(AuthenticationError) as caught:
        _generate(_engine(handler))

    assert KEY not in str(caught.value)
    assert KEY not in repr(caught.value)


# --------------------------------------------------------------------------- download, expiry, cancel


def _serving_output(fake: FakeRunway) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host.endswith("cloudfront.net"):
            fake.seen.append(request)
            return httpx.Response(200, content=PNG, headers={"content-type": "image/png"})
        return fake(request)

    return handler


def test_b64_json_downloads_the_output():
    """Runway answers URLs: response_format='b64_json' makes the core fetch the output into b64_json."""
    fake = FakeRunway(pending=1)

    resp = _generate(_engine(_serving_output(fake)), response_format="b64_json")

    assert base64.b64decode(resp.data[0].b64_json or "") == PNG
    assert "authorization" not in fake.seen[-1].headers  # the secret never goes to the CDN


def test_output_expiring_within_the_horizon_is_downloaded():
    """A horizon longer than the token's lifetime makes the core keep the bytes."""
    fake = FakeRunway(pending=0)
    engine = _engine(_serving_output(fake))
    engine.download_horizon = 72 * 3600.0

    resp = _generate(engine, response_format="url")

    assert base64.b64decode(resp.data[0].b64_json or "") == PNG
    assert resp.metadata["url_expires_at"] == [CREATED + 48 * 3600]


def test_a_timed_out_call_deletes_the_task():
    """A task still running when the call's time runs out: Timeout, and DELETE /v1/tasks/{id} is sent."""
    fake = FakeRunway(pending=10_000)

    with pytest.raises(Timeout):
        _generate(_engine(fake), timeout=0.3, num_retries=0)

    assert (fake.seen[-1].method, fake.seen[-1].url.path) == ("DELETE", "/v1/tasks/task-1")
    assert fake.seen[-1].headers["x-runway-version"] == "2024-11-06"
