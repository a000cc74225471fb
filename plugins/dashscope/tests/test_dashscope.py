"""Tests of the DashScope provider: sync and async bodies, W*H sizes, edits, polling and cancel, refusals, errors."""

from __future__ import annotations

import base64
import json
import warnings
from collections.abc import Callable
from typing import Any

import httpx
import pixmux_dashscope.provider as dashscope
import pytest
from pixmux import PixmuxWarning
from pixmux.exceptions import (
    APIResponseValidationError,
    AuthenticationError,
    BadRequestError,
    ContentPolicyViolationError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    Timeout,
    UnsupportedParamsError,
)
from pixmux.testing import TINY_PNG_B64, check_plugin, json_response, load_json, make_engine
from pixmux.types import Deployment, FollowUp, ImageInput, ImageRequest, ImageResponse

KEY = "sk-dashscope0123456789abcdef"
BASE = "http://dashscope.test/api/v1"
PNG = base64.b64decode(TINY_PNG_B64)
TID = "0385dc79-5ff8-4d82-bcb6-5969b6e2e1a9"
EXPIRES = 1777716000.0


def _request(model: str = "qwen-image-2.0-pro", **kwargs: Any) -> ImageRequest:
    names = (*ImageRequest.OPENAI_PARAMS, "operation", "images", "mask")
    fields = {name: kwargs.pop(name) for name in names if name in kwargs}
    return ImageRequest(prompt=kwargs.pop("prompt", "a flower shop"), model=model, params=kwargs, **fields)


def _image() -> ImageInput:
    return ImageInput(data=PNG, media_type="image/png")


def _deployment(model: str, **overrides: Any) -> Deployment:
    fields: dict[str, Any] = {"provider": "dashscope", "model": model, "api_key": KEY}
    fields.update(overrides)
    return Deployment(**fields)


def _validate(request: ImageRequest) -> ImageRequest:
    return dashscope.validate_params(request=request, model=dashscope.CATALOGUE.lookup(request.model)) or request


def _build(request: ImageRequest, **overrides: Any) -> httpx.Request:
    request = _validate(request)
    deployment = _deployment(request.model, **overrides)
    return dashscope.build_request(
        request=request, deployment=deployment, model=dashscope.CATALOGUE.lookup(request.model)
    )


def _body(request: ImageRequest, **overrides: Any) -> dict[str, Any]:
    return json.loads(_build(request, **overrides).content)


def _parse(status: int, body: Any, *, url: str, method: str = "POST", request: ImageRequest | None = None) -> Any:
    request = request or _request()
    response = httpx.Response(status, json=body, request=httpx.Request(method, url))
    return dashscope.parse_response(
        response=response,
        request=request,
        deployment=_deployment(request.model),
        model=dashscope.CATALOGUE.lookup(request.model),
    )


def _sync(status: int, body: Any, request: ImageRequest | None = None) -> Any:
    return _parse(status, body, url=f"{BASE}{dashscope.SYNC_PATH}", request=request)


def _task(status: int, body: Any, request: ImageRequest | None = None) -> Any:
    return _parse(
        status, body, url=f"{BASE}/tasks/{TID}", method="GET", request=request or _request("wan2.5-t2i-preview")
    )


class FakeDashScope:
    """A stand-in for DashScope's async protocol: a submitted task is PENDING, RUNNING ... then its final state."""

    def __init__(self, *, pending: int = 2, final: str = "task_succeeded.json", faults: dict[int, int] | None = None):
        self.pending, self.final, self.faults = pending, final, faults or {}
        self.polls = 0
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        fault = self.faults.get(len(self.seen))
        if fault is not None:
            return json_response(fault, load_json(f"error_{fault}.json"))
        if request.method == "POST" and request.url.path.endswith("/cancel"):
            return json_response(200, {"request_id": "r", "code": None, "message": None})
        if request.method == "POST":
            return json_response(200, load_json("async_submit.json"))
        self.polls += 1
        if self.polls <= self.pending:
            return json_response(200, load_json("task_pending.json" if self.polls == 1 else "task_running.json"))
        return json_response(200, load_json(self.final))


def _engine(handler: Callable[[httpx.Request], httpx.Response]) -> Any:
    return make_engine(dashscope, handler=handler)


def _generate(engine: Any, model: str = "wan2.5-t2i-preview", **kwargs: Any) -> ImageResponse:
    kwargs.setdefault("prompt", "A flower shop with a wooden door")
    return engine.image_generation(model=f"dashscope/{model}", api_key=KEY, api_base=BASE, poll_interval=0, **kwargs)


# --------------------------------------------------------------------------- contract and request shape


def test_check_plugin_passes_the_contract():
    """The plugin meets pixmux's plugin contract on DashScope's international endpoint."""
    assert check_plugin(dashscope, name="dashscope") == []


def test_sync_model_posts_the_documented_multimodal_body():
    """DashScope's Qwen-Image example: messages with the text, parameters with size as W*H, n, extras."""
    http = _build(
        _request(
            "qwen-image-2.0-pro",
            prompt="A poster that says 'Spring Sale' in bold red letters",
            size="1328x1328",
            n=1,
            negative_prompt="blurry, watermark",
            prompt_extend=True,
            watermark=False,
            seed=42,
        ),
        api_base=None,
    )

    assert str(http.url) == "https://dashscope-intl.aliyuncs.com/api/v1/services/aigc/multimodal-generation/generation"
    assert http.headers["authorization"] == f"Bearer {KEY}"
    assert "x-dashscope-async" not in http.headers
    assert json.loads(http.content) == {
        "model": "qwen-image-2.0-pro",
        "input": {
            "messages": [
                {"role": "user", "content": [{"text": "A poster that says 'Spring Sale' in bold red letters"}]}
            ]
        },
        "parameters": {
            "size": "1328*1328",
            "n": 1,
            "negative_prompt": "blurry, watermark",
            "prompt_extend": True,
            "watermark": False,
            "seed": 42,
        },
    }


def test_async_model_submits_a_task_with_the_async_header():
    """Wan's documented example goes to text2image/image-synthesis with X-DashScope-Async: enable."""
    http = _build(
        _request(
            "wan2.2-t2i-flash",
            prompt="A flower shop with a wooden door",
            negative_prompt="people",
            size="1024x1024",
            n=2,
            seed=7,
            prompt_extend=True,
            watermark=False,
        )
    )

    assert str(http.url) == "https://dashscope-intl.aliyuncs.com/api/v1/services/aigc/text2image/image-synthesis"
    assert http.headers["x-dashscope-async"] == "enable"
    assert json.loads(http.content) == {
        "model": "wan2.2-t2i-flash",
        "input": {"prompt": "A flower shop with a wooden door", "negative_prompt": "people"},
        "parameters": {"size": "1024*1024", "n": 2, "seed": 7, "prompt_extend": True, "watermark": False},
    }


def test_build_request_needs_a_key_on_the_public_host():
    """Without DASHSCOPE_API_KEY the error says how to give one."""
    with pytest.raises(AuthenticationError, match="DASHSCOPE_API_KEY"):
        _build(_request(), api_key=None, api_base=None)


def test_fixed_size_models_take_the_nearest_of_their_five_sizes():
    """qwen-image-plus has five sizes: 1920x1080 is sent as 1664*928 (16:9) with a warning; 1328x1328 silently."""
    with pytest.warns(PixmuxWarning, match=r"1664\*928"):
        assert _body(_request("qwen-image-plus", size="1920x1080"))["parameters"]["size"] == "1664*928"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _body(_request("qwen-image-plus", size="1328*1328"))["parameters"]["size"] == "1328*1328"


def test_free_size_models_are_scaled_into_their_pixel_range():
    """Qwen-Image 2.0 takes 512x512 to 2048x2048 pixels in all: 4096x4096 is scaled to 2048*2048 (warned)."""
    with pytest.warns(PixmuxWarning, match=r"2048\*2048"):
        assert _body(_request(size="4096x4096"))["parameters"]["size"] == "2048*2048"
    assert _body(_request(size="1024x1536"))["parameters"]["size"] == "1024*1536"


def test_wan_sizes_respect_the_side_and_aspect_limits():
    """Wan 2.2 sides are 512-1440 (2000x300 becomes 1440*512); Wan 2.5 keeps 1:4-4:1 and its pixel range."""
    with pytest.warns(PixmuxWarning):
        assert _body(_request("wan2.2-t2i-plus", size="2000x300"))["parameters"]["size"] == "1440*512"
    with pytest.warns(PixmuxWarning):
        size = _body(_request("wan2.5-t2i-preview", size="4000x500"))["parameters"]["size"]
    width, height = (int(side) for side in size.split("*"))
    assert width / height <= 4.0
    assert 768 * 768 <= width * height <= 1440 * 1440


@pytest.mark.parametrize(
    ("model", "fields", "param"),
    [
        ("qwen-image-2.0", {"quality": "hd"}, "quality"),
        ("qwen-image-2.0", {"style": "vivid"}, "style"),
        ("qwen-image-2.0", {"n": 7}, "n"),
        ("qwen-image-max", {"n": 2}, "n"),
        ("qwen-image-2.0", {"seed": 2147483648}, "seed"),
        ("qwen-image-2.0", {"negative_prompt": "x" * 501}, "negative_prompt"),
        ("qwen-image-2.0", {"watermark": "no"}, "watermark"),
        ("qwen-image-2.0", {"size": "big"}, "size"),
        ("qwen-image-2.0", {"guidance_scale": 4}, "guidance_scale"),
        ("wan2.2-t2i-flash", {"prompt": "x" * 501}, "prompt"),
    ],
)
def test_validate_params_refuses_by_name(model: str, fields: dict[str, Any], param: str):
    """What a DashScope model does not take is refused before any request, naming the parameter."""
    with pytest.raises(UnsupportedParamsError) as caught:
        _validate(_request(model, **fields))

    assert caught.value.param == param


# --------------------------------------------------------------------------- edits


def test_edit_puts_the_images_before_the_text_as_data_uris():
    """Qwen-Image-Edit Plus: 1-3 images, then the instruction, in one user message."""
    body = _body(
        _request(
            "qwen-image-edit-plus",
            prompt="Dress image 1 in the jacket of image 2",
            operation="edit",
            images=(_image(), _image()),
            n=2,
        )
    )
    uri = f"data:image/png;base64,{TINY_PNG_B64}"

    assert body["input"]["messages"][0]["content"] == [
        {"image": uri},
        {"image": uri},
        {"text": "Dress image 1 in the jacket of image 2"},
    ]
    assert body["parameters"] == {"n": 2}


@pytest.mark.parametrize(
    ("model", "fields", "param"),
    [
        ("qwen-image-2.0", {"operation": "edit", "images": 1}, "operation"),
        ("qwen-image-edit", {}, "operation"),
        ("qwen-image-edit", {"operation": "edit", "images": 2}, "image"),
        ("qwen-image-edit-plus", {"operation": "edit", "images": 4}, "image"),
        ("qwen-image-edit-plus", {"operation": "edit"}, "image"),
        ("qwen-image-edit-plus", {"operation": "edit", "images": 1, "mask": True}, "mask"),
        ("qwen-image-edit-plus", {"operation": "variation", "images": 1}, "operation"),
    ],
)
def test_edit_inputs_are_checked(model: str, fields: dict[str, Any], param: str):
    """Edits on generation models, prompts on edit models, too many images, masks and variations are refused."""
    fields = dict(fields)
    fields["images"] = tuple(_image() for _ in range(fields.pop("images", 0)))
    if fields.pop("mask", False):
        fields["mask"] = _image()
    with pytest.raises(UnsupportedParamsError) as caught:
        _validate(_request(model, **fields))

    assert caught.value.param == param


# --------------------------------------------------------------------------- sync answers


def test_sync_answer_gives_the_urls_and_their_signed_expiry():
    """output.choices[].message.content[].image are the images; expires_at is the OSS URL's Expires."""
    resp = _sync(200, load_json("sync_qwen.json"))

    assert isinstance(resp, ImageResponse)
    assert resp.data[0].url == load_json("sync_qwen.json")["output"]["choices"][0]["message"]["content"][0]["image"]
    assert resp.data[0].expires_at == EXPIRES
    assert resp.metadata["request_id"] == load_json("sync_qwen.json")["request_id"]


def test_sync_answer_with_two_images():
    """n=2 answers two images in the message's content."""
    assert len(_sync(200, load_json("sync_two.json"), request=_request(n=2)).data) == 2


def test_a_200_carrying_an_error_code_is_that_error():
    """A 200 body with a code and no output is an error (InvalidParameter: BadRequestError naming size)."""
    with pytest.raises(BadRequestError) as caught:
        _sync(200, load_json("sync_code_200.json"))

    assert (caught.value.code, caught.value.param) == ("InvalidParameter", "size")


def test_sync_end_to_end_is_one_round_trip():
    """A sync model: one POST, the images in its answer."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return json_response(200, load_json("sync_qwen.json"))

    resp = _generate(_engine(handler), "qwen-image-plus", size="1328x1328")

    assert [r.url.path for r in seen] == ["/api/v1/services/aigc/multimodal-generation/generation"]
    assert len(resp.data) == 1


# --------------------------------------------------------------------------- async tasks


def test_submitted_task_becomes_a_poll_with_a_cancel():
    """The task_id is polled at /tasks/{id} on the same host; /tasks/{id}/cancel cancels it while queued."""
    follow = _parse(
        200, load_json("async_submit.json"), url=f"{BASE}{dashscope.ASYNC_PATH}", request=_request("wan2.5-t2i-preview")
    )

    assert isinstance(follow, FollowUp)
    assert (follow.request.method, str(follow.request.url)) == ("GET", f"{BASE}/tasks/{TID}")
    assert "x-dashscope-async" not in follow.request.headers
    assert follow.cancel is not None
    assert (follow.cancel.method, str(follow.cancel.url)) == ("POST", f"{BASE}/tasks/{TID}/cancel")


@pytest.mark.parametrize("name", ["task_pending.json", "task_running.json"])
def test_pending_and_running_poll_again(name: str):
    """PENDING and RUNNING keep polling the same task."""
    follow = _task(200, load_json(name))

    assert str(follow.request.url) == f"{BASE}/tasks/{TID}"


def test_succeeded_task_gives_every_image():
    """SUCCEEDED with two results gives two images expiring when their URLs say."""
    resp = _task(200, load_json("task_succeeded.json"))

    assert [image.expires_at for image in resp.data] == [EXPIRES, EXPIRES]


def test_partly_refused_task_keeps_the_good_images_and_lists_the_refused():
    """SUCCEEDED with one result refused (DataInspectionFailed): one image, and the other in refused."""
    resp = _task(200, load_json("task_succeeded_partial.json"), request=_request("wan2.5-t2i-preview", n=2))

    assert len(resp.data) == 1
    assert [(r.reason, r.message) for r in resp.refused] == [
        ("DataInspectionFailed", "Output data may contain inappropriate content.")
    ]


def test_task_end_to_end_with_its_price():
    """One call: submit, PENDING, RUNNING, SUCCEEDED; wanx2.1-t2i-turbo costs US$0.025 an image."""
    fake = FakeDashScope(pending=2)

    resp = _generate(_engine(fake), "wanx2.1-t2i-turbo", n=2, size="1024x1024")

    assert [(r.method, r.url.path.rsplit("/", 1)[-1]) for r in fake.seen] == [
        ("POST", "image-synthesis"),
        ("GET", TID),
        ("GET", TID),
        ("GET", TID),
    ]
    assert fake.seen[0].headers["x-dashscope-async"] == "enable"
    assert len(resp.data) == 2
    assert resp.cost == 0.05


def test_a_failed_poll_is_retried_as_a_poll_never_a_new_task():
    """A 500 on a poll in the middle and on the last: the call re-polls; one task is submitted (and paid)."""
    fake = FakeDashScope(pending=2, faults={3: 500, 5: 500})

    resp = _generate(_engine(fake), num_retries=2)

    assert [r.method for r in fake.seen if not r.url.path.endswith("/cancel")].count("POST") == 1
    assert len(resp.data) == 2


# --------------------------------------------------------------------------- refusals and errors


@pytest.mark.parametrize("name", ["error_400_inspection.json", "error_400_ip.json"])
def test_refusal_codes_on_http_400_are_content_policy_violations(name: str):
    """HTTP 400 DataInspectionFailed or IPInfringementSuspect is ContentPolicyViolationError with the code."""
    with pytest.raises(ContentPolicyViolationError) as caught:
        _sync(400, load_json(name))

    assert caught.value.code == load_json(name)["code"]


def test_failed_task_with_data_inspection_is_a_content_policy_violation():
    """A task FAILED with output.code DataInspectionFailed (HTTP 200 on the poll) is a refusal."""
    with pytest.raises(ContentPolicyViolationError, match="inappropriate"):
        _task(200, load_json("task_failed_inspection.json"))


def test_succeeded_task_with_every_image_refused_is_a_content_policy_violation():
    """SUCCEEDED but every result refused: a refusal, never an empty success."""
    with pytest.raises(ContentPolicyViolationError):
        _task(200, load_json("task_succeeded_all_refused.json"))


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("task_failed_internal.json", InternalServerError),
        ("task_canceled.json", Timeout),
        ("task_unknown.json", NotFoundError),
    ],
)
def test_other_task_ends_are_typed(name: str, cls: type[Exception]):
    """A task failed for another reason, canceled, or unknown (expired) raises its own class."""
    with pytest.raises(cls):
        _task(200, load_json(name))


@pytest.mark.parametrize(
    ("name", "status", "cls"),
    [
        ("error_400_invalid.json", 400, BadRequestError),
        ("error_401.json", 401, AuthenticationError),
        ("error_403.json", 403, PermissionDeniedError),
        ("error_429.json", 429, RateLimitError),
        ("error_500.json", 500, InternalServerError),
    ],
)
def test_http_errors_map_with_dashscopes_code_and_message(name: str, status: int, cls: type[Exception]):
    """{"request_id", "code", "message"} bodies map by status, keeping DashScope's code and message."""
    body = load_json(name)
    with pytest.raises(cls) as caught:
        _sync(status, body)

    assert caught.value.code == body["code"]
    assert body["message"] in str(caught.value)


@pytest.mark.parametrize(
    "body",
    [
        {"request_id": "r", "output": {"choices": []}},
        {"request_id": "r", "output": {"choices": [{"message": {"content": [{"text": "no"}]}}]}},
        ["not", "an", "object"],
    ],
)
def test_odd_sync_answers_are_response_validation_errors(body: Any):
    """An answer without an image, or not an object: APIResponseValidationError (502)."""
    with pytest.raises(APIResponseValidationError):
        _sync(200, body)


def test_key_echoed_in_an_error_is_never_shown():
    """A 401 whose message echoes the key: the error pixmux raises does not contain it."""
    handler = lambda r: json_response(401, {"code": "InvalidApiKey", "message": f"Invalid API-key {KEY}"})  # noqa: E731

    with pytest.raises(AuthenticationError) as caught:
        _generate(_engine(handler))

    assert KEY not in str(caught.value)
    assert KEY not in repr(caught.value)


# --------------------------------------------------------------------------- download, expiry, cancel


def _serving_oss(fake: FakeDashScope) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host.endswith("aliyuncs.com"):
            fake.seen.append(request)
            return httpx.Response(200, content=PNG, headers={"content-type": "image/png"})
        return fake(request)

    return handler


def test_b64_json_downloads_the_results():
    """DashScope answers URLs: response_format='b64_json' makes the core fetch each into b64_json."""
    fake = FakeDashScope(pending=1)

    resp = _generate(_engine(_serving_oss(fake)), n=2, response_format="b64_json")

    assert [base64.b64decode(image.b64_json or "") for image in resp.data] == [PNG, PNG]
    assert "authorization" not in fake.seen[-1].headers


def test_results_expiring_within_the_horizon_are_downloaded():
    """OSS URLs last 24 hours: a longer horizon makes the core keep the bytes."""
    fake = FakeDashScope(pending=0)
    engine = _engine(_serving_oss(fake))
    engine.download_horizon = 48 * 3600.0

    resp = _generate(engine, response_format="url")

    assert all(base64.b64decode(image.b64_json or "") == PNG for image in resp.data)
    assert resp.metadata["url_expires_at"] == [EXPIRES, EXPIRES]


def test_a_timed_out_call_cancels_the_task():
    """A task still PENDING when the call's time runs out: Timeout, and POST /tasks/{id}/cancel is sent."""
    fake = FakeDashScope(pending=10_000)

    with pytest.raises(Timeout):
        _generate(_engine(fake), timeout=0.3, num_retries=0)

    assert (fake.seen[-1].method, fake.seen[-1].url.path) == ("POST", f"/api/v1/tasks/{TID}/cancel")
