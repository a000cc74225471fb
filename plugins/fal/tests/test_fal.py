"""Tests of the fal provider: bodies per model, the queue (submit, status, result, cancel), sync mode, NSFW, errors."""

from __future__ import annotations

import base64
import json
import warnings
from collections.abc import Callable
from typing import Any

import httpx
import pixmux_fal.provider as fal
import pytest
from pixmux import PixmuxWarning
from pixmux.exceptions import (
    APIResponseValidationError,
    AuthenticationError,
    ContentPolicyViolationError,
    NotFoundError,
    RateLimitError,
    Timeout,
    UnprocessableEntityError,
    UnsupportedParamsError,
)
from pixmux.testing import TINY_PNG_B64, check_plugin, json_response, load_json, make_engine
from pixmux.types import Deployment, FollowUp, ImageInput, ImageRequest, ImageResponse

KEY = "fal-key-id:0123456789abcdef0123"
BASE = "http://queue.fal.test"
PNG = base64.b64decode(TINY_PNG_B64)
SCHNELL = "fal-ai/flux/schnell"
RID = "764cabcf-b745-4b3e-ae38-1200304cf45b"
#: The schnell example input of fal's model page, as pixmux keyword arguments (n for num_images).
SPEC_EXAMPLE: dict[str, Any] = {
    "prompt": "Extreme close-up of a tiger eye",
    "image_size": "landscape_4_3",
    "num_inference_steps": 4,
    "seed": 42,
    "enable_safety_checker": True,
    "output_format": "jpeg",
}


def _request(model: str = SCHNELL, **kwargs: Any) -> ImageRequest:
    names = (*ImageRequest.OPENAI_PARAMS, "operation", "images", "mask")
    fields = {name: kwargs.pop(name) for name in names if name in kwargs}
    return ImageRequest(prompt=kwargs.pop("prompt", "a tiger eye"), model=model, params=kwargs, **fields)


def _image() -> ImageInput:
    return ImageInput(data=PNG, media_type="image/png")


def _deployment(model: str = SCHNELL, **overrides: Any) -> Deployment:
    fields: dict[str, Any] = {"provider": "fal", "model": model, "api_key": KEY, "timeout": 600.0}
    fields.update(overrides)
    return Deployment(**fields)


def _validate(request: ImageRequest) -> ImageRequest:
    return fal.validate_params(request=request, model=fal.CATALOGUE.lookup(request.model)) or request


def _build(request: ImageRequest, **overrides: Any) -> httpx.Request:
    request = _validate(request)
    return fal.build_request(
        request=request, deployment=_deployment(request.model, **overrides), model=fal.CATALOGUE.lookup(request.model)
    )


def _body(request: ImageRequest, **overrides: Any) -> dict[str, Any]:
    return json.loads(_build(request, **overrides).content)


def _parse(
    status: int,
    body: Any,
    *,
    method: str = "GET",
    url: str = f"{BASE}/fal-ai/flux/requests/{RID}",
    request: ImageRequest | None = None,
    headers: dict[str, str] | None = None,
    **settings: Any,
) -> Any:
    request = request or _request()
    response = httpx.Response(status, json=body, headers=headers, request=httpx.Request(method, url))
    return fal.parse_response(
        response=response,
        request=request,
        deployment=_deployment(request.model, settings=settings),
        model=fal.CATALOGUE.lookup(request.model),
    )


class FakeFal:
    """A stand-in for fal's queue: submit, ``pending`` status answers (202), COMPLETED, then the result."""

    def __init__(self, *, pending: int = 2, result: str = "result_schnell.json", faults: dict[int, int] | None = None):
        self.pending, self.result, self.faults = pending, result, faults or {}
        self.checks = 0
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        fault = self.faults.get(len(self.seen))
        if fault is not None:
            return json_response(fault, {"detail": "runner disconnected", "error_type": "runner_disconnected"})
        app = f"{BASE}/fal-ai/flux/requests/{RID}"
        if request.method == "POST":
            return json_response(
                200,
                {
                    "request_id": RID,
                    "response_url": app,
                    "status_url": f"{app}/status",
                    "cancel_url": f"{app}/cancel",
                    "queue_position": 0,
                },
            )
        if request.method == "PUT":
            return json_response(202, {"status": "CANCELLATION_REQUESTED"})
        if request.url.path.endswith("/status"):
            self.checks += 1
            if self.checks <= self.pending:
                name = "status_in_queue.json" if self.checks == 1 else "status_in_progress.json"
                return json_response(202, {**load_json(name), "response_url": app})
            return json_response(200, {**load_json("status_completed.json"), "response_url": app})
        return json_response(200, load_json(self.result))


def _engine(handler: Callable[[httpx.Request], httpx.Response]) -> Any:
    return make_engine(fal, handler=handler)


def _generate(engine: Any, model: str = SCHNELL, **kwargs: Any) -> ImageResponse:
    kwargs.setdefault("prompt", "a tiger eye")
    return engine.image_generation(model=f"fal/{model}", api_key=KEY, api_base=BASE, poll_interval=0, **kwargs)


# --------------------------------------------------------------------------- contract and request shape


def test_check_plugin_passes_the_contract():
    """The plugin meets pixmux's plugin contract on fal's default (queue) endpoint."""
    assert check_plugin(fal, name="fal") == []


def test_build_request_submits_fals_schnell_example_to_the_queue():
    """fal's schnell example is posted to https://queue.fal.run/fal-ai/flux/schnell with the Key header."""
    http = _build(_request(n=1, **SPEC_EXAMPLE))

    assert http.method == "POST"
    assert str(http.url) == "https://queue.fal.run/fal-ai/flux/schnell"
    assert http.headers["authorization"] == f"Key {KEY}"
    assert http.headers["x-fal-request-timeout"] == "600"
    assert json.loads(http.content) == {**SPEC_EXAMPLE, "num_images": 1}


def test_sync_mode_posts_to_fal_run():
    """mode='sync' posts the same body to https://fal.run/<id> (no queue, no request timeout header)."""
    http = _build(_request(), settings={"mode": "sync"})

    assert str(http.url) == "https://fal.run/fal-ai/flux/schnell"
    assert "x-fal-request-timeout" not in http.headers


def test_build_request_needs_a_key_on_fals_hosts():
    """Without FAL_KEY the error says how to give one."""
    with pytest.raises(AuthenticationError, match="FAL_KEY"):
        _build(_request(), api_key=None)


def test_b64_json_asks_fal_for_data_uris():
    """response_format='b64_json' sends sync_mode: true, so fal answers with the bytes."""
    assert _body(_request(response_format="b64_json"))["sync_mode"] is True
    assert "sync_mode" not in _body(_request(response_format="url"))


def test_object_lifetime_sets_fals_lifecycle_header():
    """object_lifetime=3600 asks fal's CDN to keep the files an hour (and the images say when they expire)."""
    http = _build(_request(), settings={"object_lifetime": 3600})

    assert json.loads(http.headers["x-fal-object-lifecycle-preference"]) == {"expiration_duration_seconds": 3600}


def test_size_becomes_an_image_size_object_or_a_named_size():
    """1024x768 is sent as {"width": 1024, "height": 768}; fal's own names (landscape_16_9) pass as they are."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _body(_request(size="1024x768"))["image_size"] == {"width": 1024, "height": 768}
    assert _body(_request(size="landscape_16_9"))["image_size"] == "landscape_16_9"


def test_aspect_ratio_models_get_the_nearest_ratio():
    """Ultra takes an aspect ratio: 1792x1024 becomes 16:9 with a warning."""
    with pytest.warns(PixmuxWarning, match="16:9"):
        assert _body(_request("fal-ai/flux-pro/v1.1-ultra", size="1792x1024"))["aspect_ratio"] == "16:9"


def test_gpt_image_takes_openais_sizes_and_quality():
    """GPT Image through fal: size as image_size string, quality and background as given."""
    body = _body(_request("fal-ai/gpt-image-1.5", size="1536x1024", quality="high", background="transparent"))

    assert (body["image_size"], body["quality"], body["background"]) == ("1536x1024", "high", "transparent")


@pytest.mark.parametrize(
    ("model", "fields", "param"),
    [
        (SCHNELL, {"quality": "hd"}, "quality"),
        (SCHNELL, {"style": "vivid"}, "style"),
        (SCHNELL, {"n": 5}, "n"),
        (SCHNELL, {"num_images": 2}, "num_images"),
        (SCHNELL, {"sync_mode": True}, "sync_mode"),
        (SCHNELL, {"num_inference_steps": 50}, "num_inference_steps"),
        (SCHNELL, {"output_format": "gif"}, "output_format"),
        (SCHNELL, {"size": "1024x768", "image_size": "square"}, "image_size"),
        ("fal-ai/flux-pro/v1.1", {"safety_tolerance": "9"}, "safety_tolerance"),
        ("fal-ai/gpt-image-1.5", {"size": "512x512"}, "size"),
        ("fal-ai/gpt-image-1.5", {"quality": "ultra"}, "quality"),
        ("fal-ai/bytedance/seedream/v4/text-to-image", {"n": 7}, "n"),
    ],
)
def test_validate_params_refuses_by_name(model: str, fields: dict[str, Any], param: str):
    """What a listed fal model does not take is refused before any request, naming the field."""
    with pytest.raises(UnsupportedParamsError) as caught:
        _validate(_request(model, **fields))

    assert caught.value.param == param


def test_unlisted_model_is_forwarded_with_its_extras():
    """A model id the catalogue does not list gets the keyword arguments as given."""
    body = _body(_request("xai/grok-imagine-image", aspect_ratio="3:2", n=2))

    assert body == {"prompt": "a tiger eye", "aspect_ratio": "3:2", "num_images": 2}


# --------------------------------------------------------------------------- edits


def test_edits_send_data_uris_in_image_url_or_image_urls():
    """Kontext takes one image_url; FLUX.2 edit and Seedream edit take image_urls; GPT Image a mask_image_url."""
    uri = f"data:image/png;base64,{TINY_PNG_B64}"
    edit: dict[str, Any] = {"operation": "edit", "prompt": "make it night"}
    assert _body(_request("fal-ai/flux-pro/kontext", images=(_image(),), **edit))["image_url"] == uri
    assert _body(_request("fal-ai/flux-2-pro/edit", images=(_image(), _image()), **edit))["image_urls"] == [uri, uri]
    assert _body(_request("fal-ai/bytedance/seedream/v4/edit", images=(_image(),), **edit))["image_urls"] == [uri]
    body = _body(_request("fal-ai/gpt-image-1.5/edit", images=(_image(),), mask=_image(), size="auto", **edit))
    assert (body["mask_image_url"], body["image_size"]) == (uri, "auto")


@pytest.mark.parametrize(
    ("model", "fields", "param", "match"),
    [
        ("fal-ai/flux-2-pro", {"operation": "edit", "images": 1}, "operation", "fal-ai/flux-2-pro/edit"),
        ("fal-ai/flux-2-pro/edit", {}, "operation", "generate"),
        ("fal-ai/flux-pro/kontext", {"operation": "edit", "images": 2}, "image", "at most 1"),
        ("fal-ai/bytedance/seedream/v4/edit", {"operation": "edit", "images": 11}, "image", "at most 10"),
        ("fal-ai/flux-2-pro/edit", {"operation": "edit", "images": 1, "mask": 1}, "mask", "no mask"),
        ("fal-ai/flux-2-pro/edit", {"operation": "variation", "images": 1}, "operation", "variations"),
    ],
)
def test_edit_inputs_are_checked(model: str, fields: dict[str, Any], param: str, match: str):
    """A generation id asked to edit names its /edit twin; too many images, stray masks and variations are refused."""
    fields = dict(fields)
    fields["images"] = tuple(_image() for _ in range(fields.pop("images", 0)))
    if fields.pop("mask", 0):
        fields["mask"] = _image()
    with pytest.raises(UnsupportedParamsError, match=match) as caught:
        _validate(_request(model, **fields))

    assert caught.value.param == param


# --------------------------------------------------------------------------- the queue


def test_queue_answer_becomes_a_status_poll_with_a_cancel():
    """The submit answer's status_url is polled; its cancel_url (PUT) is the cancel request."""
    follow = _parse(200, load_json("queued.json"), method="POST", url=f"{BASE}/fal-ai/flux/schnell")

    assert isinstance(follow, FollowUp)
    assert (follow.request.method, str(follow.request.url)) == ("GET", load_json("queued.json")["status_url"])
    assert follow.cancel is not None
    assert (follow.cancel.method, str(follow.cancel.url)) == ("PUT", load_json("queued.json")["cancel_url"])
    assert follow.cancel.headers["authorization"] == f"Key {KEY}"


@pytest.mark.parametrize("name", ["status_in_queue.json", "status_in_progress.json"])
def test_pending_status_polls_again(name: str):
    """IN_QUEUE and IN_PROGRESS (HTTP 202) poll the same status URL again, still cancellable."""
    url = f"{BASE}/fal-ai/flux/requests/{RID}/status"
    follow = _parse(202, load_json(name), url=url)

    assert str(follow.request.url) == url
    assert follow.cancel is not None
    assert str(follow.cancel.url) == f"{BASE}/fal-ai/flux/requests/{RID}/cancel"


def test_completed_status_fetches_the_result():
    """COMPLETED fetches response_url, the model's output."""
    follow = _parse(200, load_json("status_completed.json"), url=f"{BASE}/fal-ai/flux/requests/{RID}/status")

    assert (follow.request.method, str(follow.request.url)) == (
        "GET",
        load_json("status_completed.json")["response_url"],
    )


def test_result_gives_the_images_and_the_per_megapixel_cost():
    """The result's images come back as URLs; schnell costs $0.003 per megapixel, rounded up (1024x768 is 1 MP)."""
    resp = _parse(200, load_json("result_schnell.json"))

    assert [image.url for image in resp.data] == [load_json("result_schnell.json")["images"][0]["url"]]
    assert resp.data[0].expires_at is None  # fal's CDN lifetime is the account's, unpublished
    assert resp.cost == 0.003
    assert resp.metadata["seed"] == 42


def test_object_lifetime_gives_the_images_an_expiry():
    """With object_lifetime set, each URL's expires_at is that far from now."""
    resp = _parse(200, load_json("result_schnell.json"), object_lifetime=600)

    assert resp.data[0].expires_at is not None


def test_sync_mode_result_is_base64_when_asked():
    """A data: URI answer (sync_mode) is returned as b64_json for response_format='b64_json'."""
    resp = _parse(200, load_json("result_sync_mode.json"), request=_request(response_format="b64_json"))

    assert resp.data[0].b64_json == TINY_PNG_B64


def test_single_image_outputs_are_read():
    """Models answering one "image" instead of "images" give one image."""
    resp = _parse(200, load_json("result_single_image.json"), request=_request("fal-ai/flux-pro/v1.1-ultra"))

    assert resp.data[0].url == "https://v3.fal.media/files/ultra/result.jpg"


def test_queue_end_to_end():
    """One call: submit, IN_QUEUE, IN_PROGRESS, COMPLETED, result; every request carries the key."""
    fake = FakeFal(pending=2)

    resp = _generate(_engine(fake), size="1024x768")

    assert [(r.method, r.url.path.rsplit("/", 1)[-1]) for r in fake.seen] == [
        ("POST", "schnell"),
        ("GET", "status"),
        ("GET", "status"),
        ("GET", "status"),
        ("GET", RID),
    ]
    assert all(r.headers["authorization"] == f"Key {KEY}" for r in fake.seen)
    assert resp.data[0].url is not None
    assert resp.cost == 0.003


def test_sync_end_to_end_is_one_round_trip():
    """mode='sync': one POST to the sync host answers the images."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return json_response(200, load_json("result_schnell.json"))

    resp = _generate(_engine(handler), mode="sync")

    assert len(seen) == 1
    assert len(resp.data) == 1


def test_a_failed_status_check_is_retried_as_a_poll_never_a_new_submit():
    """A 503 on a status check in the middle, and on the result fetch at the end: one submit in all."""
    fake = FakeFal(pending=2, faults={3: 503, 6: 503})

    resp = _generate(_engine(fake), num_retries=2)

    assert [r.method for r in fake.seen].count("POST") == 1
    assert len(resp.data) == 1


# --------------------------------------------------------------------------- refusals and errors


def test_content_policy_422_is_a_content_policy_violation_with_categories():
    """422 of type content_policy_violation: ContentPolicyViolationError (400) with fal's categories."""
    with pytest.raises(ContentPolicyViolationError, match="content checker") as caught:
        _parse(422, load_json("error_422_content_policy.json"))

    assert caught.value.status_code == 400
    assert caught.value.details["categories"] == ["sexual"]


@pytest.mark.parametrize("name", ["result_nsfw.json", "result_sd_nsfw.json"])
def test_every_image_flagged_is_a_content_policy_violation(name: str):
    """has_nsfw_concepts / nsfw_content_detected on every image (blacked out): a refusal, not a black image."""
    with pytest.raises(ContentPolicyViolationError):
        _parse(200, load_json(name))


def test_one_flagged_image_of_two_is_dropped_and_listed():
    """With one of two images flagged, the clean one is kept and the other listed in refused."""
    resp = _parse(200, load_json("result_partial_nsfw.json"), request=_request(n=2))

    assert [image.url for image in resp.data] == [load_json("result_partial_nsfw.json")["images"][0]["url"]]
    assert [refusal.reason for refusal in resp.refused] == ["has_nsfw_concepts"]


@pytest.mark.parametrize(
    ("name", "param"),
    [("error_422_validation.json", "num_inference_steps"), ("error_422_image_too_large.json", "image_url")],
)
def test_validation_422_names_the_field_and_type(name: str, param: str):
    """Other 422s are UnprocessableEntityError naming the field (loc), with fal's type as the code."""
    with pytest.raises(UnprocessableEntityError) as caught:
        _parse(422, load_json(name), headers={"x-fal-retryable": "false"})

    assert caught.value.param == param
    assert caught.value.code == load_json(name)["detail"][0]["type"]
    assert caught.value.details["retryable"] is False


@pytest.mark.parametrize(
    ("name", "status", "cls"),
    [
        ("error_401.json", 401, AuthenticationError),
        ("error_404.json", 404, NotFoundError),
        ("error_429.json", 429, RateLimitError),
    ],
)
def test_http_errors_map_with_fals_detail(name: str, status: int, cls: type[Exception]):
    """Statuses map to pixmux's classes with fal's detail as the message."""
    with pytest.raises(cls, match=load_json(name)["detail"]):
        _parse(status, load_json(name), method="POST", url=f"{BASE}/{SCHNELL}")


def test_request_timeout_504_is_a_timeout():
    """504 with X-Fal-Request-Timeout-Type: user (no runner in time) is Timeout."""
    with pytest.raises(Timeout):
        _parse(504, load_json("error_504.json"), headers={"x-fal-request-timeout-type": "user"})


@pytest.mark.parametrize(
    ("body", "url"),
    [
        ({"status": "EXPLODED"}, f"{BASE}/fal-ai/flux/requests/{RID}/status"),
        ({"images": []}, f"{BASE}/fal-ai/flux/requests/{RID}"),
        ({"images": [{"no": "url"}]}, f"{BASE}/fal-ai/flux/requests/{RID}"),
    ],
)
def test_odd_answers_are_response_validation_errors(body: Any, url: str):
    """An unknown status, an output without images or an image without a URL: APIResponseValidationError."""
    with pytest.raises(APIResponseValidationError):
        _parse(200, body, url=url)


def test_key_echoed_in_an_error_is_never_shown():
    """A 401 whose body echoes the key: the error pixmux raises does not contain it."""
    handler = lambda r: json_response(401, {"detail": f"key {KEY} is not valid"})  # noqa: E731

    with pytest.raises(AuthenticationError) as caught:
        _generate(_engine(handler))

    assert KEY not in str(caught.value)
    assert KEY not in repr(caught.value)


# --------------------------------------------------------------------------- base64, expiry, cancel


def test_b64_json_end_to_end_comes_from_fal_not_a_download():
    """response_format='b64_json': sync_mode makes fal answer data: URIs, so nothing is downloaded."""
    fake = FakeFal(pending=1, result="result_sync_mode.json")

    resp = _generate(_engine(fake), response_format="b64_json")

    assert json.loads(fake.seen[0].content)["sync_mode"] is True
    assert resp.data[0].b64_json == TINY_PNG_B64
    assert all(r.url.host == "queue.fal.test" for r in fake.seen)


def test_object_lifetime_within_the_horizon_makes_the_core_download():
    """A CDN lifetime shorter than the engine's horizon: the core downloads the image into b64_json."""
    fake = FakeFal(pending=0)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "v3.fal.media":
            fake.seen.append(request)
            return httpx.Response(200, content=PNG, headers={"content-type": "image/png"})
        return fake(request)

    engine = _engine(handler)
    engine.download_horizon = 3600.0

    resp = _generate(engine, response_format="url", object_lifetime=600)

    assert base64.b64decode(resp.data[0].b64_json or "") == PNG
    assert fake.seen[-1].url.host == "v3.fal.media"


def test_a_timed_out_call_cancels_the_queued_request():
    """A request still IN_QUEUE when the call's time runs out: Timeout, and PUT cancel_url is sent."""
    fake = FakeFal(pending=10_000)

    with pytest.raises(Timeout):
        _generate(_engine(fake), timeout=0.3, num_retries=0)

    assert (fake.seen[-1].method, str(fake.seen[-1].url)) == ("PUT", f"{BASE}/fal-ai/flux/requests/{RID}/cancel")
    assert fake.seen[-1].headers["authorization"] == f"Key {KEY}"
    assert [r.method for r in fake.seen].count("POST") == 1
