"""Tests of the Stability AI provider: multipart per service, aspect ratios, edits, async polling, refusals, errors."""

from __future__ import annotations

import base64
import email.parser
import email.policy
from typing import Any

import attrs
import httpx
import pixmux_stability.provider as stability
import pytest
from pixmux import PixmuxWarning
from pixmux._pieces import pieces_of
from pixmux._retry import Backoff
from pixmux.exceptions import (
    APIResponseValidationError,
    AuthenticationError,
    BadRequestError,
    ContentPolicyViolationError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    Timeout,
    UnprocessableEntityError,
    UnsupportedParamsError,
)
from pixmux.testing import TINY_PNG_B64, check_plugin, json_response, load_json, make_engine
from pixmux.types import Deployment, FollowUp, ImageInput, ImageRequest, ImageResponse

KEY = "sk-stability-test-0123456789abcdef"
PNG = base64.b64decode(TINY_PNG_B64)
INPUT = ImageInput(data=PNG, media_type="image/png", filename="photo.png")
MASK = ImageInput(data=PNG, media_type="image/png")
GID = "a6dc6c6e20acda010fe14d71f180658f2896ed9b4ec25aa99a6ff06c796987c4"
BASE = "https://api.stability.ai"


def form(request: httpx.Request) -> list[tuple[str, str | None, str | None, bytes]]:
    """The multipart parts of a request: (name, filename, content type, bytes), in order."""
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    raw = b"Content-Type: " + request.headers["content-type"].encode() + b"\r\n\r\n" + request.read()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    found = []
    for part in message.iter_parts():
        disposition = part.get("content-disposition")
        ctype = part.get("content-type")
        found.append(
            (
                disposition.params["name"],
                disposition.params.get("filename"),
                ctype,
                part.get_payload(decode=True) or b"",
            )
        )
    return found


def fields(request: httpx.Request) -> dict[str, str]:
    """The text parts of a form."""
    return {name: payload.decode() for name, filename, _, payload in form(request) if filename is None}


def files(request: httpx.Request) -> list[tuple[str, str | None, str | None]]:
    """The file parts of a form: (name, filename, content type)."""
    return [(name, filename, ctype) for name, filename, ctype, _ in form(request) if filename is not None]


def _info(name: str) -> Any:
    return stability.CATALOGUE.lookup(name)


def _deployment(**overrides: Any) -> Deployment:
    values: dict[str, Any] = {"provider": "stability", "model": "m", "api_key": KEY}
    values.update(overrides)
    return Deployment(**values)


def _build(request: ImageRequest, **overrides: Any) -> list[httpx.Request]:
    return stability.build_request(request=request, deployment=_deployment(**overrides), model=_info(request.model))


def _validate(request: ImageRequest, **settings: Any) -> ImageRequest:
    deployment = _deployment(model=request.model, settings=settings)
    return stability.validate_params(request=request, model=_info(request.model), deployment=deployment) or request


def _parse(response: httpx.Response, request: ImageRequest | None = None, **settings: Any) -> ImageResponse | FollowUp:
    request = request or ImageRequest(prompt="a lighthouse", model="stable-image-core")
    return stability.parse_response(
        response=response, request=request, deployment=_deployment(settings=settings), model=_info(request.model)
    )


def _answer(
    status: int, body: Any, url: str = f"{BASE}/v2beta/stable-image/generate/core", **headers: str
) -> httpx.Response:
    method = "GET" if "/results/" in url else "POST"
    return httpx.Response(status, json=body, headers=headers, request=httpx.Request(method, url))


def test_check_plugin_passes_the_contract():
    """The plugin meets pixmux's plugin contract on its default endpoint."""
    assert check_plugin(stability, name="stability") == []


def test_catalogue_lists_services_prices_and_operations():
    """Generate services, edit and upscale services; prices from credits at $0.01."""
    names = set(stability.CATALOGUE.models)
    assert {"stable-image-ultra", "stable-image-core", "sd3.5-large", "edit/inpaint", "upscale/creative"} <= names
    assert _info("stable-image-ultra").pricing.image_price(None, None) == 0.08
    assert _info("sd3.5-large").pricing.image_price(None, None) == 0.065
    assert _info("stable-image-core").operations == frozenset({"generate"})
    assert _info("sd3.5-large").operations == frozenset({"generate", "edit"})
    assert _info("edit/inpaint").operations == frozenset({"edit"})
    assert _info("edit/inpaint").inputs.mask == "optional"
    assert _info("edit/outpaint").inputs.mask == "none"
    assert _info("upscale/creative").pricing is None


def test_generate_sends_a_multipart_form_asking_for_json():
    """prompt and the native fields go as form parts; Accept asks for JSON; the key is a bearer token."""
    request = ImageRequest(
        prompt="a lighthouse at dusk",
        model="stable-image-ultra",
        params={"negative_prompt": "fog", "seed": 42, "output_format": "webp", "style_preset": "cinematic"},
    )

    (http,) = _build(_validate(request))

    assert http.method == "POST"
    assert str(http.url) == "https://api.stability.ai/v2beta/stable-image/generate/ultra"
    assert http.headers["authorization"] == f"Bearer {KEY}"
    assert http.headers["accept"] == "application/json"
    assert fields(http) == {
        "prompt": "a lighthouse at dusk",
        "negative_prompt": "fog",
        "seed": "42",
        "output_format": "webp",
        "style_preset": "cinematic",
    }
    assert files(http) == []


def test_sd3_sends_the_model_field():
    """The SD3 service takes the model as a form field."""
    (http,) = _build(_validate(ImageRequest(prompt="p", model="sd3.5-large-turbo", params={"cfg_scale": 2})))

    assert str(http.url) == "https://api.stability.ai/v2beta/stable-image/generate/sd3"
    assert fields(http) == {"prompt": "p", "model": "sd3.5-large-turbo", "cfg_scale": "2"}


def test_n_sends_one_request_per_image():
    """Stability makes one image per request: n=3 builds three."""
    assert len(_build(ImageRequest(prompt="p", model="stable-image-core", n=3))) == 3


def test_size_becomes_the_nearest_aspect_ratio():
    """1024x1024 is 1:1 silently; 1792x1024 is sent as 16:9 with a warning."""
    assert (
        fields(_build(_validate(ImageRequest(prompt="p", model="stable-image-core", size="1024x1024")))[0])[
            "aspect_ratio"
        ]
        == "1:1"
    )
    with pytest.warns(PixmuxWarning, match="16:9"):
        validated = _validate(ImageRequest(prompt="p", model="stable-image-core", size="1792x1024"))
    assert fields(_build(validated)[0])["aspect_ratio"] == "16:9"


@pytest.mark.parametrize(
    ("model", "extra", "param"),
    [
        ("stable-image-core", {"quality": "hd"}, "quality"),
        ("stable-image-core", {"style": "vivid"}, "style"),
        ("stable-image-core", {"size": "4000x1000"}, "size"),
        ("stable-image-core", {"size": "1024x1024", "params": {"aspect_ratio": "1:1"}}, "size"),
        ("stable-image-core", {"params": {"aspect_ratio": "7:5"}}, "aspect_ratio"),
        ("stable-image-core", {"params": {"cfg_scale": 3}}, "cfg_scale"),
        ("stable-image-core", {"params": {"style_preset": "oil"}}, "style_preset"),
        ("stable-image-core", {"n": 11}, "n"),
        ("sd3.5-large", {"params": {"output_format": "webp"}}, "output_format"),
        ("sd3.5-large", {"params": {"cfg_scale": 11}}, "cfg_scale"),
        ("sd3.5-large", {"params": {"strength": 0.5}}, "strength"),
        ("sd3.5-large-turbo", {"params": {"negative_prompt": "x"}}, "negative_prompt"),
        ("stable-image-ultra", {"params": {"seed": 4294967295}}, "seed"),
        ("edit/inpaint", {}, "model"),
        ("sd5", {}, "model"),
    ],
)
def test_validate_params_refuses_what_the_service_does_not_take(model: str, extra: dict[str, Any], param: str):
    """Options the service does not take, out-of-range values, and unknown services are refused by name."""
    with pytest.raises(UnsupportedParamsError) as caught:
        _validate(ImageRequest(prompt="p", model=model, **extra))

    assert caught.value.param == param


def test_inpaint_sends_the_image_and_the_mask_as_files():
    """An inpaint: prompt, fields, then the image and mask file parts with their media types."""
    request = ImageRequest(
        prompt="a red door",
        model="edit/inpaint",
        operation="edit",
        images=(INPUT,),
        mask=MASK,
        params={"grow_mask": 10},
    )

    (http,) = _build(_validate(request))

    assert str(http.url) == "https://api.stability.ai/v2beta/stable-image/edit/inpaint"
    assert fields(http) == {"prompt": "a red door", "grow_mask": "10"}
    assert files(http) == [("image", "photo.png", "image/png"), ("mask", "mask.png", "image/png")]
    assert form(http)[-1][3] == PNG


def test_image_to_image_on_sd3_sets_the_mode():
    """An edit with SD3.5 is mode=image-to-image with strength and the image file."""
    request = ImageRequest(prompt="p", model="sd3.5-large", operation="edit", images=(INPUT,), params={"strength": 0.6})

    (http,) = _build(_validate(request))

    assert fields(http) == {"prompt": "p", "model": "sd3.5-large", "mode": "image-to-image", "strength": "0.6"}
    assert files(http) == [("image", "photo.png", "image/png")]


def test_services_without_a_prompt_do_not_send_one():
    """remove-background and erase take no prompt: an empty one is fine and none is sent."""
    request = ImageRequest(prompt="", model="edit/remove-background", operation="edit", images=(INPUT,))

    (http,) = _build(_validate(request))

    assert fields(http) == {}
    assert files(http) == [("image", "photo.png", "image/png")]


def test_relight_maps_prompt_and_images_to_its_own_fields():
    """Relight: the prompt is background_prompt, the inputs are subject_image and background_reference."""
    reference = ImageInput(data=PNG, media_type="image/jpeg")
    request = ImageRequest(
        prompt="a sunny beach",
        model="edit/replace-background-and-relight",
        operation="edit",
        images=(INPUT, reference),
        params={"light_source_direction": "left", "keep_original_background": False},
    )

    (http,) = _build(_validate(request))

    assert fields(http) == {
        "background_prompt": "a sunny beach",
        "light_source_direction": "left",
        "keep_original_background": "false",
    }
    assert files(http) == [
        ("subject_image", "photo.png", "image/png"),
        ("background_reference", "reference.jpg", "image/jpeg"),
    ]


@pytest.mark.parametrize(
    ("model", "extra", "param"),
    [
        ("stable-image-core", {"images": (INPUT,)}, "model"),
        ("edit/inpaint", {"images": ()}, "image"),
        ("edit/inpaint", {"images": (INPUT, INPUT)}, "image"),
        ("edit/outpaint", {"images": (INPUT,), "mask": MASK, "params": {"left": 100}}, "mask"),
        ("edit/outpaint", {"images": (INPUT,)}, "left"),
        ("edit/search-and-replace", {"images": (INPUT,)}, "search_prompt"),
        ("edit/inpaint", {"images": (ImageInput(data=b"GIF89a", media_type="image/gif"),)}, "image"),
        ("edit/inpaint", {"images": (ImageInput(data=bytes(10 * 1024 * 1024 + 1), media_type="image/png"),)}, "image"),
        ("edit/inpaint", {"images": (INPUT,), "size": "1024x1024"}, "size"),
        ("stable-image-ultra", {"images": (INPUT,)}, "strength"),
        ("upscale/conservative", {"images": (INPUT,), "params": {"creativity": 0.9}}, "creativity"),
    ],
)
def test_edit_inputs_are_checked(model: str, extra: dict[str, Any], param: str):
    """Inputs, masks and required fields are checked per service, each refusal naming its parameter."""
    request = ImageRequest(prompt="edit", model=model, operation="edit", **extra)

    with pytest.raises(UnsupportedParamsError) as caught:
        _validate(request)

    assert caught.value.param == param


def test_build_request_needs_a_key_on_the_public_host():
    """Without STABILITY_API_KEY nothing is sent."""
    with pytest.raises(AuthenticationError, match="STABILITY_API_KEY"):
        _build(ImageRequest(prompt="p", model="stable-image-core"), api_key=None)


def test_parse_response_reads_json_base64_and_the_seed():
    """The JSON answer's image, seed and request id come back."""
    resp = _parse(_answer(200, load_json("image_success.json"), **{"x-request-id": "req-1"}))

    assert isinstance(resp, ImageResponse)
    assert resp.data[0].bytes() == PNG
    assert resp.metadata["seeds"] == [343940597]
    assert resp.metadata["request_id"] == "req-1"


def test_parse_response_reads_raw_image_bytes():
    """An Accept: image/* answer (raw bytes, finish-reason and seed headers) is read too."""
    raw = httpx.Response(
        200,
        content=PNG,
        headers={"content-type": "image/png", "finish-reason": "SUCCESS", "seed": "9"},
        request=httpx.Request("POST", f"{BASE}/v2beta/stable-image/generate/core"),
    )

    resp = _parse(raw)

    assert isinstance(resp, ImageResponse)
    assert resp.data[0].bytes() == PNG
    assert resp.metadata["seeds"] == [9]


def test_url_format_answers_a_data_url():
    """response_format='url' gives a data: URL (Stability returns bytes, not links)."""
    resp = _parse(
        _answer(200, load_json("image_success.json")),
        ImageRequest(prompt="p", model="stable-image-core", response_format="url"),
    )

    assert isinstance(resp, ImageResponse)
    assert (resp.data[0].url or "").startswith("data:image/png;base64,")


def test_content_filtered_is_a_content_policy_violation():
    """finish_reason CONTENT_FILTERED (a blurred image, HTTP 200) raises ContentPolicyViolationError."""
    with pytest.raises(ContentPolicyViolationError, match="blurred") as caught:
        _parse(_answer(200, load_json("image_filtered.json")))

    assert caught.value.code == "CONTENT_FILTERED"


def test_content_filtered_raw_answer_is_a_content_policy_violation():
    """The finish-reason header of a raw image answer says the same."""
    raw = httpx.Response(
        200,
        content=PNG,
        headers={"content-type": "image/png", "finish-reason": "CONTENT_FILTERED"},
        request=httpx.Request("POST", f"{BASE}/v2beta/stable-image/generate/core"),
    )
    with pytest.raises(ContentPolicyViolationError):
        _parse(raw)


def test_one_filtered_image_of_several_keeps_the_others():
    """n=2 with one image filtered: the other comes back, the refusal is in metadata, the cost counts one."""
    answers = iter([load_json("image_success.json"), load_json("image_filtered.json")])
    engine = make_engine(stability, handler=lambda r: json_response(200, next(answers)))

    resp = engine.image_generation(prompt="p", model="stability/stable-image-core", n=2, api_key=KEY)

    assert len(resp.data) == 1
    assert [r.reason for r in resp.refused] == ["CONTENT_FILTERED"]
    assert resp.cost == pytest.approx(0.03)


def test_async_submit_returns_a_poll_follow_up():
    """An async service answers an id: the follow-up GETs /v2beta/results/{id} with the key, after 10 s."""
    request = ImageRequest(prompt="p", model="upscale/creative", operation="edit", images=(INPUT,))

    follow = _parse(
        _answer(200, load_json("async_submitted.json"), url=f"{BASE}/v2beta/stable-image/upscale/creative"), request
    )

    assert isinstance(follow, FollowUp)
    assert follow.request.method == "GET"
    assert str(follow.request.url) == f"https://api.stability.ai/v2beta/results/{GID}"
    assert follow.request.headers["authorization"] == f"Bearer {KEY}"
    assert follow.request.headers["accept"] == "application/json"
    assert follow.after == 10.0
    assert follow.cancel is None


def test_poll_in_progress_polls_again():
    """202 from the results endpoint: poll the same id again."""
    request = ImageRequest(prompt="p", model="upscale/creative", operation="edit", images=(INPUT,))

    follow = _parse(
        _answer(202, load_json("result_in_progress.json"), url=f"{BASE}/v2beta/results/{GID}"), request, poll_interval=2
    )

    assert isinstance(follow, FollowUp)
    assert str(follow.request.url) == f"https://api.stability.ai/v2beta/results/{GID}"
    assert follow.after == 2.0


def test_poll_done_reads_the_result_field():
    """200 from the results endpoint: the image is read from 'result' (or 'image')."""
    request = ImageRequest(prompt="p", model="upscale/creative", operation="edit", images=(INPUT,))

    resp = _parse(_answer(200, load_json("result_done.json"), url=f"{BASE}/v2beta/results/{GID}"), request)

    assert isinstance(resp, ImageResponse)
    assert resp.data[0].bytes() == PNG


def test_poll_of_an_unknown_id_is_not_found():
    """404 from the results endpoint (unknown or expired id) is NotFoundError with Stability's message."""
    with pytest.raises(NotFoundError, match="not found or has expired"):
        _parse(_answer(404, load_json("error_404.json"), url=f"{BASE}/v2beta/results/{GID}"))


def test_poll_interval_is_checked_before_anything_is_submitted():
    """A poll_interval that is not seconds is refused by validate_params, before the job is submitted."""
    engine = make_engine(stability, handler=lambda r: json_response(200, load_json("image_success.json")))

    with pytest.raises(UnsupportedParamsError) as caught:
        engine.image_generation(prompt="p", model="stability/stable-image-core", api_key=KEY, poll_interval=-1)

    assert caught.value.param == "poll_interval"
    assert engine.requests == []


def test_poll_interval_must_be_a_number():
    """A poll_interval that is not seconds is refused by name."""
    request = ImageRequest(prompt="p", model="upscale/creative", operation="edit", images=(INPUT,))
    with pytest.raises(UnsupportedParamsError) as caught:
        _parse(_answer(202, {}, url=f"{BASE}/v2beta/results/{GID}"), request, poll_interval="soon")

    assert caught.value.param == "poll_interval"


def test_a_result_without_image_is_a_validation_error():
    """A 200 from a synchronous service without image is not a success."""
    with pytest.raises(APIResponseValidationError):
        _parse(_answer(200, {"finish_reason": "SUCCESS"}))


@pytest.mark.parametrize(
    ("status", "name", "cls", "code"),
    [
        (400, "error_400.json", BadRequestError, "bad_request"),
        (401, "error_401.json", AuthenticationError, "unauthorized"),
        (402, "error_402.json", BadRequestError, "payment_required"),
        (403, "error_403.json", ContentPolicyViolationError, "content_moderation"),
        (404, "error_404.json", NotFoundError, "not_found"),
        (413, "error_413.json", BadRequestError, "payload_too_large"),
        (422, "error_422_language.json", UnprocessableEntityError, "invalid_language"),
        (422, "error_422_public_figure.json", ContentPolicyViolationError, "public_figure"),
        (429, "error_429.json", RateLimitError, "rate_limit_exceeded"),
        (500, "error_500.json", InternalServerError, "internal_error"),
    ],
)
def test_parse_response_maps_each_documented_error(status: int, name: str, cls: type[Exception], code: str):
    """Each documented status and name becomes its pixmux class, with Stability's errors as the message."""
    body = load_json(name)

    with pytest.raises(cls) as caught:
        _parse(_answer(status, body))

    assert body["errors"][0] in str(caught.value)
    assert caught.value.code == code  # type: ignore[attr-defined]
    if cls is BadRequestError:
        assert not isinstance(caught.value, ContentPolicyViolationError)


def test_end_to_end_generate_prices_the_image():
    """STABILITY_API_KEY is read by the core; one Ultra image costs 8 credits ($0.08)."""
    engine = make_engine(
        stability,
        handler=lambda r: json_response(200, load_json("image_success.json")),
        environ={"STABILITY_API_KEY": KEY},
    )

    resp = engine.image_generation(prompt="p", model="stability/stable-image-ultra", size="1024x1024")

    assert resp.cost == pytest.approx(0.08)
    assert engine.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert fields(engine.requests[0]) == {"prompt": "p", "aspect_ratio": "1:1"}


def _edit_call(engine: Any, model: str, **settings: Any) -> Any:
    """A prepared edit call (the public edit API arrives with the edits work): a generate call, turned into an edit."""
    call = engine.prepare(prompt="sharper", model="stability/stable-image-core", api_key=KEY)
    request = ImageRequest(prompt="sharper", model=model, operation="edit", images=(INPUT,))
    info = _info(model)
    deployment = attrs.evolve(call.deployment, model=model, settings=settings)
    request = stability.validate_params(request=request, model=info, deployment=deployment) or request
    return attrs.evolve(call, request=request, deployment=deployment, info=info)


def _scripted(answers: list[tuple[int, Any]]) -> Any:
    queue = iter(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        status, body = next(queue)
        return json_response(status, body)

    return handler


ASYNC_FLOW = [
    (200, "async_submitted.json"),
    (202, "result_in_progress.json"),
    (202, "result_in_progress.json"),
    (200, "result_done.json"),
]


def test_end_to_end_async_service_submits_once_then_polls():
    """Submit, two polls in progress, then the result: one POST, then GETs of the same id."""
    engine = make_engine(stability, handler=_scripted([(status, load_json(name)) for status, name in ASYNC_FLOW]))

    resp = engine.send(_edit_call(engine, "upscale/creative", poll_interval=0))

    assert resp.data[0].bytes() == PNG
    assert [r.method for r in engine.requests] == ["POST", "GET", "GET", "GET"]
    assert str(engine.requests[0].url) == "https://api.stability.ai/v2beta/stable-image/upscale/creative"
    assert {str(r.url) for r in engine.requests[1:]} == {f"https://api.stability.ai/v2beta/results/{GID}"}
    assert resp.cost is None  # creative upscale has no verified price


async def test_end_to_end_async_service_on_the_async_path():
    """The async path runs the same submit-then-poll flow."""
    engine = make_engine(stability, handler=_scripted([(status, load_json(name)) for status, name in ASYNC_FLOW]))

    resp = await engine.asend(_edit_call(engine, "edit/replace-background-and-relight", poll_interval=0))

    assert resp.data[0].bytes() == PNG
    assert resp.cost == pytest.approx(0.08)
    assert [r.method for r in engine.requests] == ["POST", "GET", "GET", "GET"]


def test_end_to_end_async_result_filtered_is_a_content_policy_violation():
    """A polled result with CONTENT_FILTERED is a refusal too."""
    engine = make_engine(
        stability,
        handler=_scripted([(200, load_json("async_submitted.json")), (200, load_json("result_filtered.json"))]),
    )

    with pytest.raises(ContentPolicyViolationError):
        engine.send(_edit_call(engine, "upscale/creative", poll_interval=0))


def test_secrets_never_appear_in_errors_or_reprs():
    """The key shows in no error, no follow-up repr and no response."""
    engine = make_engine(stability, handler=lambda r: json_response(401, load_json("error_401.json")))
    with pytest.raises(AuthenticationError) as caught:
        engine.image_generation(prompt="p", model="stability/stable-image-core", api_key=KEY)
    assert KEY not in str(caught.value) + repr(caught.value)

    engine = make_engine(stability, handler=lambda r: json_response(200, load_json("image_success.json")))
    resp = engine.image_generation(prompt="p", model="stability/stable-image-core", api_key=KEY)
    assert KEY not in resp.to_json() + repr(resp) + repr(resp.metadata)


def _no_sleep_engine(answers: list[tuple[int, Any]]) -> Any:
    engine = make_engine(stability, handler=_scripted(answers))
    engine.retry = Backoff(sleep=lambda seconds: None, asleep=_no_wait)
    return engine


async def _no_wait(seconds: float) -> None:
    return None


def test_a_failed_poll_in_the_middle_is_retried_by_polling_again():
    """Submit, poll 202, poll 503, (retry) poll 200: the job is submitted once and polled to the end."""
    engine = _no_sleep_engine(
        [
            (200, load_json("async_submitted.json")),
            (202, load_json("result_in_progress.json")),
            (503, {"name": "service_unavailable", "errors": ["try again"]}),
            (200, load_json("result_done.json")),
        ]
    )

    resp = engine.run(_edit_call(engine, "upscale/creative", poll_interval=0), retries=2)

    assert resp.data[0].bytes() == PNG
    assert [r.method for r in engine.requests] == ["POST", "GET", "GET", "GET"]
    assert resp.metadata["attempts"] == 2


def test_a_failed_last_poll_is_retried_by_polling_again():
    """Submit, then the poll that would carry the result fails (500): the retry polls, never resubmits."""
    engine = _no_sleep_engine(
        [
            (200, load_json("async_submitted.json")),
            (500, load_json("error_500.json")),
            (200, load_json("result_done.json")),
        ]
    )

    resp = engine.run(_edit_call(engine, "edit/replace-background-and-relight", poll_interval=0), retries=1)

    assert resp.data[0].bytes() == PNG
    assert [r.method for r in engine.requests] == ["POST", "GET", "GET"]
    assert resp.cost == pytest.approx(0.08)


def test_a_failed_submission_is_submitted_again():
    """A 429 before the job was accepted is retried by submitting again (nothing was accepted yet)."""
    engine = _no_sleep_engine(
        [
            (429, load_json("error_429.json")),
            (200, load_json("async_submitted.json")),
            (200, load_json("result_done.json")),
        ]
    )

    resp = engine.run(_edit_call(engine, "upscale/creative", poll_interval=0), retries=1)

    assert resp.data[0].bytes() == PNG
    assert [r.method for r in engine.requests] == ["POST", "POST", "GET"]


def test_a_poll_that_would_outlast_the_timeout_ends_the_call():
    """A 10 s poll interval within a 1 s call: Timeout after the submission, and no cancel (Stability has none)."""
    engine = _no_sleep_engine([(200, load_json("async_submitted.json"))])
    call = attrs.evolve(_edit_call(engine, "upscale/creative"), timeout=1.0)

    with pytest.raises(Timeout):
        engine.run(call, retries=0)

    assert [r.method for r in engine.requests] == ["POST"]


async def test_a_failed_poll_is_retried_on_the_async_path_too():
    """The async path re-polls after a failed poll as well."""
    engine = _no_sleep_engine(
        [
            (200, load_json("async_submitted.json")),
            (503, {"name": "service_unavailable", "errors": ["try again"]}),
            (200, load_json("result_done.json")),
        ]
    )

    resp = await engine.arun(_edit_call(engine, "upscale/creative", poll_interval=0), retries=1)

    assert resp.data[0].bytes() == PNG
    assert [r.method for r in engine.requests] == ["POST", "GET", "GET"]


def test_an_openai_alpha_mask_reaches_inpaint_white_for_edit():
    """OpenAI's mask (transparent = edit) becomes Stability's: white edited, black kept."""
    import io

    from PIL import Image

    picture = Image.new("RGBA", (8, 8), (255, 255, 255, 255))
    picture.paste((255, 255, 255, 0), (6, 6, 8, 8))
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    mask = ImageInput(data=buffer.getvalue(), media_type="image/png", filename="m.png")
    request = ImageRequest(prompt="a red door", model="edit/inpaint", operation="edit", images=(INPUT,), mask=mask)

    (http,) = _build(_validate(request))

    grey = Image.open(io.BytesIO(form(http)[-1][3]))
    assert grey.mode == "L"
    assert grey.getpixel((6, 6)) == grey.getpixel((7, 7)) == 255
    assert grey.getpixel((5, 6)) == grey.getpixel((0, 0)) == 0


def test_an_upload_held_in_pieces_is_sent_uncopied_by_every_request():
    """
    An image held in pieces, as the gateway holds an upload, makes the same form as its bytes.

    Each of the n requests sends the views themselves, and the image is never joined.
    """
    big = PNG + bytes(300_000)
    views = tuple(memoryview(big)[at : at + 100_000] for at in range(0, len(big), 100_000))
    pieced = ImageInput(pieces=views, media_type="image/png", filename="photo.png")
    whole = ImageInput(data=big, media_type="image/png", filename="photo.png")

    def request(image: ImageInput) -> ImageRequest:
        return ImageRequest(
            prompt="p", model="sd3.5-large", operation="edit", images=(image,), n=2, params={"strength": 0.6}
        )

    sent = _build(_validate(request(pieced)))

    assert [form(http) for http in sent] == [form(http) for http in _build(_validate(request(whole)))]
    for http in sent:
        assert [piece for piece in pieces_of(http) or () if isinstance(piece, memoryview)] == list(views[:-1])
    assert all(held is view for held, view in zip(pieced.chunks(), views, strict=True))  # never joined
