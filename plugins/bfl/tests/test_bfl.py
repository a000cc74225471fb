"""Tests of the BFL provider: bodies per endpoint, submit-then-poll, expiring URLs, edits, refusals and errors."""

from __future__ import annotations

import base64
import json
import warnings
from collections.abc import Callable
from typing import Any

import httpx
import pixmux_bfl.provider as bfl
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
    ServiceUnavailableError,
    Timeout,
    UnprocessableEntityError,
    UnsupportedParamsError,
)
from pixmux.testing import TINY_PNG_B64, check_plugin, json_response, load_json, make_engine
from pixmux.types import Deployment, FollowUp, ImageInput, ImageRequest, ImageResponse

KEY = "bfl-key-0123456789abcdef"
BASE = "http://bfl.test"
PNG = base64.b64decode(TINY_PNG_B64)
JPEG = b"\xff\xd8\xff\xe0" + bytes(16)
TASK = "b2f7c1d4-5e6f-4a1b-9c2d-3e4f5a6b7c8d"
#: The submit example of BFL's FLUX1.1 [pro] reference, as pixmux keyword arguments (webhooks aside).
SPEC_EXAMPLE: dict[str, Any] = {
    "prompt": "A futuristic city skyline at sunset with flying cars",
    "width": 1024,
    "height": 768,
    "prompt_upsampling": False,
    "seed": 42,
    "safety_tolerance": 2,
    "output_format": "jpeg",
}


def _request(model: str = "flux-2-pro", **kwargs: Any) -> ImageRequest:
    fields = {
        name: kwargs.pop(name)
        for name in (*ImageRequest.OPENAI_PARAMS, "operation", "images", "mask")
        if name in kwargs
    }
    return ImageRequest(prompt=kwargs.pop("prompt", "a lighthouse at dusk"), model=model, params=kwargs, **fields)


def _deployment(model: str = "flux-2-pro", **overrides: Any) -> Deployment:
    fields: dict[str, Any] = {"provider": "bfl", "model": model, "api_key": KEY, "settings": {"poll_interval": 0}}
    fields.update(overrides)
    return Deployment(**fields)


def _validate(request: ImageRequest) -> ImageRequest:
    changed = bfl.validate_params(request=request, model=bfl.CATALOGUE.lookup(request.model))
    return changed or request


def _build(request: ImageRequest, **overrides: Any) -> list[httpx.Request]:
    request = _validate(request)
    deployment = _deployment(request.model, **overrides)
    return bfl.build_request(request=request, deployment=deployment, model=bfl.CATALOGUE.lookup(request.model))


def _body(request: ImageRequest, **overrides: Any) -> dict[str, Any]:
    return json.loads(_build(request, **overrides)[0].content)


def _parse(status: int, body: Any, *, method: str = "GET", request: ImageRequest | None = None, **ext: Any) -> Any:
    request = request or _request()
    url = f"{BASE}/v1/flux-2-pro" if method == "POST" else f"{BASE}/v1/get_result?id={TASK}"
    response = httpx.Response(status, json=body, request=httpx.Request(method, url, extensions=ext))
    return bfl.parse_response(
        response=response, request=request, deployment=_deployment(), model=bfl.CATALOGUE.lookup(request.model)
    )


class FakeBFL:
    """A stand-in for BFL: tasks are submitted, then polled ``pending`` times before they are ``Ready``."""

    def __init__(self, *, pending: int = 2, final: str = "poll_ready.json", faults: dict[int, int] | None = None):
        self.pending, self.final = pending, final
        self.faults = faults or {}  # request number -> HTTP status to answer instead
        self.polls: dict[str, int] = {}
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        fault = self.faults.get(len(self.seen))
        if fault is not None:
            return json_response(fault, load_json(f"error_{fault}.json"))
        if request.method == "POST":
            task = f"task-{sum(1 for r in self.seen if r.method == 'POST')}"
            submitted = load_json("submit.json")
            submitted.update(id=task, polling_url=f"{BASE}/v1/get_result?id={task}")
            return json_response(200, submitted)
        task = request.url.params["id"]
        self.polls[task] = self.polls.get(task, 0) + 1
        if self.polls[task] <= self.pending:
            return json_response(200, {**load_json("poll_pending.json"), "id": task})
        return json_response(200, {**load_json(self.final), "id": task})


def _engine(handler: Callable[[httpx.Request], httpx.Response]) -> Any:
    return make_engine(bfl, handler=handler)


def _generate(engine: Any, model: str = "flux-2-pro", **kwargs: Any) -> ImageResponse:
    kwargs.setdefault("prompt", "a lighthouse at dusk")
    return engine.image_generation(model=f"bfl/{model}", api_key=KEY, api_base=BASE, poll_interval=0, **kwargs)


# --------------------------------------------------------------------------- contract and catalogue


def test_check_plugin_passes_the_contract():
    """The plugin meets pixmux's plugin contract on BFL's default endpoint."""
    assert check_plugin(bfl, name="bfl") == []


def test_catalogue_lists_the_hosted_families_with_their_operations():
    """FLUX.2 and Kontext generate and edit; Fill and Expand only edit; FLUX1.1 only generates."""
    lookup = bfl.CATALOGUE.lookup
    assert lookup("flux-2-pro").operations == {"generate", "edit"}
    assert lookup("flux-2-pro").inputs is not None
    assert lookup("flux-2-pro").inputs.max_images == 8
    assert lookup("flux-kontext-max").inputs is not None
    assert lookup("flux-kontext-max").inputs.max_images == 1
    assert lookup("flux-pro-1.0-fill").operations == {"edit"}
    assert lookup("flux-pro-1.0-expand").operations == {"edit"}
    assert lookup("flux-pro-1.1").operations == {"generate"}
    assert lookup("flux-2-klein-4b").known is False


# --------------------------------------------------------------------------- request shape


def test_build_request_sends_bfls_flux_pro_example_field_by_field():
    """BFL's FLUX1.1 [pro] example is posted to /v1/flux-pro-1.1 exactly, the key in x-key."""
    (http,) = _build(_request("flux-pro-1.1", **SPEC_EXAMPLE), api_base=None)

    assert http.method == "POST"
    assert str(http.url) == "https://api.bfl.ai/v1/flux-pro-1.1"
    assert http.headers["x-key"] == KEY
    assert "authorization" not in http.headers
    assert json.loads(http.content) == SPEC_EXAMPLE


def test_build_request_needs_a_key_on_bfls_host():
    """Without BFL_API_KEY the error says how to give one, before anything is sent."""
    with pytest.raises(AuthenticationError, match="BFL_API_KEY"):
        _build(_request(), api_key=None)


def test_size_becomes_width_and_height_rounded_with_a_warning():
    """FLUX.2 takes pixels in steps of 16: 1000x700 is sent as 1008x704 and a warning says so."""
    with pytest.warns(PixmuxWarning, match="1008x704"):
        body = _body(_request("flux-2-pro", size="1000x700"))

    assert (body["width"], body["height"]) == (1008, 704)
    assert "size" not in body


def test_exact_size_is_sent_without_a_warning():
    """A size already on the model's grid is sent as is, silently."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        body = _body(_request("flux-pro-1.1", size="1024x768"))

    assert (body["width"], body["height"]) == (1024, 768)


def test_size_becomes_the_nearest_aspect_ratio_on_kontext_and_ultra():
    """Kontext and Ultra take an aspect ratio: 1792x1024 is about 16:9 (warned), 1024x1024 is 1:1 (silent)."""
    with pytest.warns(PixmuxWarning, match="16:9"):
        assert _body(_request("flux-kontext-pro", size="1792x1024"))["aspect_ratio"] == "16:9"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _body(_request("flux-pro-1.1-ultra", size="1024x1024"))["aspect_ratio"] == "1:1"


def test_native_parameters_pass_through():
    """steps and guidance on FLUX.2 [flex], raw on Ultra, seed everywhere go into the body as given."""
    body = _body(_request("flux-2-flex", steps=28, guidance=4.5, seed=7, safety_tolerance=5))
    assert {key: body[key] for key in ("steps", "guidance", "seed", "safety_tolerance")} == {
        "steps": 28,
        "guidance": 4.5,
        "seed": 7,
        "safety_tolerance": 5,
    }
    assert _body(_request("flux-pro-1.1-ultra", raw=True, aspect_ratio="21:9"))["raw"] is True


def test_n_submits_one_task_per_image_with_distinct_seeds():
    """BFL has no n: three images are three submits; a given seed is stepped so the images differ."""
    requests = _build(_request("flux-2-pro", n=3, seed=10))

    assert [json.loads(r.content)["seed"] for r in requests] == [10, 11, 12]
    assert all("n" not in json.loads(r.content) for r in requests)


@pytest.mark.parametrize(
    ("model", "fields", "param"),
    [
        ("flux-2-pro", {"quality": "high"}, "quality"),
        ("flux-2-pro", {"style": "vivid"}, "style"),
        ("flux-2-pro", {"steps": 20}, "steps"),  # steps is [flex] only
        ("flux-2-pro", {"safety_tolerance": 6}, "safety_tolerance"),  # FLUX.2 allows 0-5
        ("flux-2-flex", {"guidance": 11}, "guidance"),
        ("flux-pro-1.1", {"width": 2048}, "width"),
        ("flux-pro-1.1", {"output_format": "gif"}, "output_format"),
        ("flux-pro-1.1", {"seed": "42"}, "seed"),
        ("flux-pro-1.1", {"webhook_url": "https://example.com/hook"}, "webhook_url"),
        ("flux-2-pro", {"size": "1024x1024", "width": 512}, "width"),
        ("flux-pro-1.0-fill", {"size": "1024x1024"}, "size"),
        ("flux-2-pro", {"n": 11}, "n"),
    ],
)
def test_validate_params_refuses_by_name(model: str, fields: dict[str, Any], param: str):
    """What a BFL endpoint does not take is refused before any request, naming the parameter."""
    if model == "flux-pro-1.0-fill":  # an edit-only model: its request is an edit
        fields = {**fields, "operation": "edit", "images": (ImageInput(data=PNG, media_type="image/png"),)}
    with pytest.raises(UnsupportedParamsError) as caught:
        _validate(_request(model, **fields))

    assert caught.value.param == param


# --------------------------------------------------------------------------- edits


def test_flux2_edit_sends_references_as_input_image_fields():
    """Reference images go as input_image, input_image_2 ... in base64, in the order given."""
    images = (ImageInput(data=PNG, media_type="image/png"), ImageInput(data=JPEG, media_type="image/jpeg"))
    body = _body(_request("flux-2-pro", prompt="put the cat on the sofa", operation="edit", images=images))

    assert base64.b64decode(body["input_image"]) == PNG
    assert base64.b64decode(body["input_image_2"]) == JPEG
    assert "input_image_3" not in body


def test_kontext_edit_sends_one_input_image_and_caps_safety_tolerance():
    """Kontext edits one image; BFL caps safety_tolerance at 2 for image-to-image."""
    image = (ImageInput(data=PNG, media_type="image/png"),)
    body = _body(_request("flux-kontext-pro", operation="edit", images=image))
    assert base64.b64decode(body["input_image"]) == PNG

    with pytest.raises(UnsupportedParamsError) as caught:
        _validate(_request("flux-kontext-pro", operation="edit", images=image, safety_tolerance=4))
    assert caught.value.param == "safety_tolerance"


def test_fill_sends_image_and_mask_and_expand_sends_borders():
    """Fill posts image and mask (BFL: white is repainted); Expand posts image and the borders to add."""
    image = (ImageInput(data=PNG, media_type="image/png"),)
    mask = ImageInput(data=JPEG, media_type="image/jpeg")
    fill = _build(_request("flux-pro-1.0-fill", operation="edit", images=image, mask=mask, steps=30))[0]
    assert str(fill.url) == "https://api.bfl.ai/v1/flux-pro-1.0-fill"
    body = json.loads(fill.content)
    assert (base64.b64decode(body["image"]), base64.b64decode(body["mask"]), body["steps"]) == (PNG, JPEG, 30)

    body = _body(_request("flux-pro-1.0-expand", operation="edit", images=image, top=256, left=128))
    assert base64.b64decode(body["image"]) == PNG
    assert (body["top"], body["left"]) == (256, 128)


@pytest.mark.parametrize(
    ("model", "fields", "param"),
    [
        ("flux-pro-1.1", {"operation": "edit", "images": 1}, "operation"),
        ("flux-pro-1.0-fill", {}, "operation"),  # fill only edits
        ("flux-2-pro", {"operation": "variation", "images": 1}, "operation"),
        ("flux-2-pro", {"operation": "edit", "images": 9}, "image"),
        ("flux-kontext-pro", {"operation": "edit", "images": 2}, "image"),
        ("flux-kontext-pro", {"operation": "edit", "images": 1, "mask": True}, "mask"),
        ("flux-pro-1.0-fill", {"operation": "edit"}, "image"),
    ],
)
def test_edit_inputs_are_checked(model: str, fields: dict[str, Any], param: str):
    """Operations a model lacks, too many images, a mask where none is taken, or no image: refused by name."""
    fields = dict(fields)
    fields["images"] = tuple(ImageInput(data=PNG, media_type="image/png") for _ in range(fields.pop("images", 0)))
    if fields.pop("mask", False):
        fields["mask"] = ImageInput(data=PNG, media_type="image/png")
    with pytest.raises(UnsupportedParamsError) as caught:
        _validate(_request(model, **fields))

    assert caught.value.param == param


# --------------------------------------------------------------------------- submit, poll, result


def test_submit_answer_becomes_a_poll_of_its_polling_url_with_the_key():
    """The submit answer's polling_url is polled (on whatever host BFL names), with x-key."""
    follow = _parse(200, load_json("submit.json"), method="POST")

    assert isinstance(follow, FollowUp)
    assert follow.request.method == "GET"
    assert str(follow.request.url) == load_json("submit.json")["polling_url"]
    assert follow.request.headers["x-key"] == KEY
    assert follow.cancel is None  # BFL documents no cancel


def test_webhook_answer_without_polling_url_polls_get_result():
    """A submit answer with no polling_url (a webhook answer) is polled at /v1/get_result?id=."""
    follow = _parse(200, load_json("submit_webhook.json"), method="POST")

    assert str(follow.request.url) == f"{BASE}/v1/get_result?id={TASK}"


def test_pending_poll_asks_to_poll_again():
    """Pending means poll the same URL again, with the cost from the submit still attached."""
    follow = _parse(200, load_json("poll_pending.json"), pixmux_bfl_cost=4.0)

    assert isinstance(follow, FollowUp)
    assert str(follow.request.url) == f"{BASE}/v1/get_result?id={TASK}"
    assert follow.request.extensions["pixmux_bfl_cost"] == 4.0


def test_ready_poll_gives_the_signed_url_and_its_expiry():
    """Ready gives result.sample; expires_at is the URL's own signed expiry (se=2026-12-06T21:10:00Z)."""
    resp = _parse(200, load_json("poll_ready.json"), pixmux_bfl_cost=4.0)

    assert isinstance(resp, ImageResponse)
    assert resp.data[0].url == load_json("poll_ready.json")["result"]["sample"]
    assert resp.data[0].expires_at == 1796591400.0
    assert resp.cost == 0.04
    assert resp.metadata["seeds"] == [42]
    assert "expires_at" not in json.dumps(resp.to_dict())


def test_unsigned_url_expires_ten_minutes_after_the_task_ended():
    """Without a signed expiry in the URL, expires_at is the task's end_time plus BFL's ten minutes."""
    resp = _parse(200, load_json("poll_ready_unsigned.json"))

    assert resp.data[0].expires_at == pytest.approx(1718000004.2 + 600)


def test_submit_then_poll_end_to_end():
    """One call: submit, two pending polls, ready; the answer carries the URL, its expiry and BFL's cost."""
    fake = FakeBFL(pending=2)

    resp = _generate(_engine(fake), "flux-kontext-pro", response_format="url")

    assert [r.method for r in fake.seen] == ["POST", "GET", "GET", "GET"]
    assert all(r.headers["x-key"] == KEY for r in fake.seen)
    assert resp.data[0].url is not None
    assert resp.data[0].url.startswith("https://delivery-eu1.bfl.ai/")
    assert resp.data[0].expires_at == 1796591400.0
    assert resp.cost == 0.04
    assert resp.metadata["provider"] == "bfl"


def test_n_images_poll_each_task_to_the_end():
    """n=2 submits two tasks and polls each until ready; the costs add up."""
    fake = FakeBFL(pending=1)

    resp = _generate(_engine(fake), n=2)

    assert len(resp.data) == 2
    assert sorted(r.url.params["id"] for r in fake.seen if r.method == "GET") == [
        "task-1",
        "task-1",
        "task-2",
        "task-2",
    ]
    assert resp.cost == 0.08


def test_a_failed_poll_is_retried_as_a_poll_never_a_new_submit():
    """A 503 on a poll in the middle, then on the last poll: the call re-polls and submits exactly once."""
    fake = FakeBFL(pending=2, faults={3: 503, 5: 503})

    resp = _generate(_engine(fake), num_retries=2)

    assert [r.method for r in fake.seen].count("POST") == 1
    assert resp.data[0].url is not None


# --------------------------------------------------------------------------- refusals and errors


@pytest.mark.parametrize("name", ["poll_request_moderated.json", "poll_content_moderated.json"])
def test_moderated_poll_is_a_content_policy_violation(name: str):
    """Request Moderated and Content Moderated (HTTP 200 on the poll) are ContentPolicyViolationError (400)."""
    with pytest.raises(ContentPolicyViolationError) as caught:
        _parse(200, load_json(name))

    assert caught.value.status_code == 400
    assert caught.value.code == load_json(name)["status"]


def test_one_moderated_image_of_several_keeps_the_others():
    """With n=2, a moderated task is reported in refused, so that the other task's image survives."""
    resp = _parse(200, load_json("poll_content_moderated.json"), request=_request(n=2))

    assert resp.data == ()
    assert [refusal.reason for refusal in resp.refused] == ["Content Moderated"]


def test_all_moderated_end_to_end_is_a_refusal():
    """Through the engine, a call whose only task is moderated raises ContentPolicyViolationError."""
    with pytest.raises(ContentPolicyViolationError):
        _generate(_engine(FakeBFL(pending=0, final="poll_request_moderated.json")))


@pytest.mark.parametrize(
    ("name", "cls", "code"),
    [("poll_error.json", InternalServerError, "Error"), ("poll_not_found.json", NotFoundError, None)],
)
def test_failed_and_unknown_tasks_are_typed(name: str, cls: type[Exception], code: str | None):
    """Error is a provider failure; Task not found is NotFoundError."""
    with pytest.raises(cls) as caught:
        _parse(200, load_json(name))

    assert getattr(caught.value, "code", None) == code


def test_failed_status_spelled_state_is_read_too():
    """Some BFL answers say state instead of status, and Failed instead of Error: both are read."""
    with pytest.raises(InternalServerError):
        _parse(200, {"id": TASK, "state": "Failed"})


@pytest.mark.parametrize(
    "body",
    [{"id": TASK, "status": "Ready", "result": None}, {"id": TASK, "status": "Exploded"}, ["not", "an", "object"]],
)
def test_odd_poll_answers_are_response_validation_errors(body: Any):
    """A ready task without a URL, an unknown status or a non-object is APIResponseValidationError (502)."""
    with pytest.raises(APIResponseValidationError):
        _parse(200, body)


def test_submit_answer_without_an_id_is_a_response_validation_error():
    """A submit answer missing its task id cannot be polled: APIResponseValidationError naming the field."""
    with pytest.raises(APIResponseValidationError, match="id"):
        _parse(200, {"polling_url": f"{BASE}/v1/get_result?id=x"}, method="POST")


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (402, BadRequestError),
        (403, PermissionDeniedError),
        (429, RateLimitError),
        (500, InternalServerError),
        (503, ServiceUnavailableError),
    ],
)
def test_http_errors_map_to_typed_errors_with_bfls_message(status: int, cls: type[Exception]):
    """BFL's documented statuses map to pixmux's classes, carrying BFL's own message."""
    body = load_json(f"error_{status}.json")
    with pytest.raises(cls) as caught:
        _parse(status, body, method="POST")

    assert (body.get("detail") or body.get("message")) in str(caught.value)
    if status == 402:
        assert caught.value.code == "insufficient_credits"


def test_validation_422_names_the_field():
    """BFL's FastAPI 422 names the field (loc) and BFL's message."""
    with pytest.raises(UnprocessableEntityError) as caught:
        _parse(422, load_json("error_422.json"), method="POST")

    assert caught.value.param == "width"
    assert "less than or equal to 1440" in str(caught.value)


def test_key_echoed_in_an_error_is_never_shown():
    """A 403 whose body echoes the key: the error pixmux raises does not contain it."""
    handler = lambda r: json_response(403, {"detail": f"key {KEY} lacks permission"})  # noqa: E731

    with pytest.raises(PermissionDeniedError) as caught:
        _generate(_engine(handler))

    assert KEY not in str(caught.value)
    assert KEY not in repr(caught.value)


# --------------------------------------------------------------------------- download, expiry, no cancel


def _serving_image(fake: FakeBFL) -> Callable[[httpx.Request], httpx.Response]:
    """FakeBFL, with the result URL's host answering the image bytes (BFL's delivery host)."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host.startswith("delivery-"):
            fake.seen.append(request)
            return httpx.Response(200, content=PNG, headers={"content-type": "image/png"})
        return fake(request)

    return handler


def test_b64_json_downloads_the_signed_url():
    """BFL sends only URLs: response_format='b64_json' makes the core fetch result.sample into b64_json."""
    fake = FakeBFL(pending=1)

    resp = _generate(_engine(_serving_image(fake)), response_format="b64_json")

    assert base64.b64decode(resp.data[0].b64_json or "") == PNG
    assert fake.seen[-1].url.host == "delivery-eu1.bfl.ai"
    assert "x-key" not in fake.seen[-1].headers  # the key never goes to the delivery host


def test_url_expiring_within_the_horizon_is_downloaded():
    """BFL's URLs live ten minutes: with a download horizon longer than what is left, the core keeps the bytes."""
    fake = FakeBFL(pending=0)
    engine = _engine(_serving_image(fake))
    engine.download_horizon = 3600.0

    resp = _generate(engine, response_format="url")

    assert base64.b64decode(resp.data[0].b64_json or "") == PNG
    assert resp.metadata["url_expires_at"] == [1796591400.0]


def test_without_a_horizon_the_url_is_returned_as_is():
    """response_format='url' and no horizon: BFL's URL and its expiry, nothing downloaded."""
    fake = FakeBFL(pending=0)

    resp = _generate(_engine(_serving_image(fake)), response_format="url")

    assert resp.data[0].b64_json is None
    assert resp.data[0].url == load_json("poll_ready.json")["result"]["sample"]
    assert all(not r.url.host.startswith("delivery-") for r in fake.seen)


def test_a_timed_out_call_sends_no_cancel_bfl_has_none():
    """A task still pending when the call's time runs out raises Timeout; BFL has no cancel, so none is sent."""
    fake = FakeBFL(pending=10_000)

    with pytest.raises(Timeout):
        _generate(_engine(fake), timeout=0.3, num_retries=0)

    assert {r.method for r in fake.seen} == {"POST", "GET"}
    assert [r.method for r in fake.seen].count("POST") == 1


@pytest.mark.parametrize("url", ["\x1f", "/v1/get_result?id=1", "ftp://api.bfl.ai/v1/get_result?id=1"])
def test_an_unusable_polling_url_is_a_response_validation_error(url: str):
    """A polling_url that is not an absolute http(s) URL is APIResponseValidationError, never a crash or a bad poll."""
    with pytest.raises(APIResponseValidationError, match="polling_url"):
        _parse(200, {**load_json("submit.json"), "polling_url": url}, method="POST")


def test_an_unusable_result_url_is_a_response_validation_error():
    """A Ready task whose result.sample is not a URL is APIResponseValidationError."""
    body = load_json("poll_ready.json")
    body["result"]["sample"] = "\x1f"

    with pytest.raises(APIResponseValidationError, match=r"result\.sample"):
        _parse(200, body)


def test_fill_gets_an_openai_alpha_mask_white_for_inpaint():
    """OpenAI's mask (transparent = edit) reaches Fill as BFL's: white repainted, black kept."""
    import io

    from PIL import Image

    picture = Image.new("RGBA", (8, 8), (0, 0, 0, 255))
    picture.paste((0, 0, 0, 0), (0, 0, 8, 2))
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    mask = ImageInput(data=buffer.getvalue(), media_type="image/png")
    image = (ImageInput(data=PNG, media_type="image/png"),)

    body = _body(_request("flux-pro-1.0-fill", operation="edit", images=image, mask=mask))

    grey = Image.open(io.BytesIO(base64.b64decode(body["mask"])))
    assert grey.mode == "L"
    assert grey.tobytes() == b"\xff" * 16 + bytes(48)
