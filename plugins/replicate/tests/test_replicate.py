"""Tests of the Replicate provider: bodies per model, Prefer: wait, polling and cancel, expiry, refusals, errors."""

from __future__ import annotations

import base64
import json
import warnings
from collections.abc import Callable
from typing import Any

import httpx
import pixmux_replicate.provider as replicate
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
    Timeout,
    UnprocessableEntityError,
    UnsupportedParamsError,
)
from pixmux.testing import TINY_PNG_B64, check_plugin, json_response, load_json, make_engine
from pixmux.types import Deployment, FollowUp, ImageInput, ImageRequest, ImageResponse

KEY = "r8_test0123456789abcdefghijklmnop"
BASE = "http://replicate.test/v1"
PNG = base64.b64decode(TINY_PNG_B64)
SCHNELL = "black-forest-labs/flux-schnell"
PRO = "black-forest-labs/flux-1.1-pro"
VERSION = "5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa"
COMPLETED = 1777629601.3  # 2026-05-01T10:00:01.300Z


def _request(model: str = SCHNELL, **kwargs: Any) -> ImageRequest:
    names = (*ImageRequest.OPENAI_PARAMS, "operation", "images", "mask")
    fields = {name: kwargs.pop(name) for name in names if name in kwargs}
    return ImageRequest(prompt=kwargs.pop("prompt", "a red fox in snow"), model=model, params=kwargs, **fields)


def _image(data: bytes = PNG) -> ImageInput:
    return ImageInput(data=data, media_type="image/png")


def _deployment(model: str = SCHNELL, **overrides: Any) -> Deployment:
    fields: dict[str, Any] = {"provider": "replicate", "model": model, "api_key": KEY, "timeout": 600.0}
    fields.update(overrides)
    return Deployment(**fields)


def _validate(request: ImageRequest) -> ImageRequest:
    return replicate.validate_params(request=request, model=replicate.CATALOGUE.lookup(request.model)) or request


def _build(request: ImageRequest, **overrides: Any) -> list[httpx.Request]:
    request = _validate(request)
    deployment = _deployment(request.model, **overrides)
    return replicate.build_request(
        request=request, deployment=deployment, model=replicate.CATALOGUE.lookup(request.model)
    )


def _input(request: ImageRequest, **overrides: Any) -> dict[str, Any]:
    return json.loads(_build(request, **overrides)[0].content)["input"]


def _parse(status: int, body: Any, *, method: str = "GET", request: ImageRequest | None = None) -> Any:
    request = request or _request()
    url = f"{BASE}/models/{request.model}/predictions" if method == "POST" else f"{BASE}/predictions/abc"
    response = httpx.Response(status, json=body, request=httpx.Request(method, url))
    return replicate.parse_response(
        response=response, request=request, deployment=_deployment(), model=replicate.CATALOGUE.lookup(request.model)
    )


class FakeReplicate:
    """A stand-in for Replicate: a created prediction is ``starting``, then ``processing`` ``pending`` times."""

    def __init__(self, *, pending: int = 2, final: str = "succeeded_list.json", faults: dict[int, int] | None = None):
        self.pending, self.final, self.faults = pending, final, faults or {}
        self.polls: dict[str, int] = {}
        self.seen: list[httpx.Request] = []

    def prediction(self, name: str, pid: str) -> dict[str, Any]:
        body = load_json(name)
        body["id"] = pid
        body["urls"].update(get=f"{BASE}/predictions/{pid}", cancel=f"{BASE}/predictions/{pid}/cancel")
        return body

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        fault = self.faults.get(len(self.seen))
        if fault is not None:
            return json_response(fault, {"detail": "Internal server error", "status": fault})
        path = request.url.path
        if request.method == "POST" and path.endswith("/cancel"):
            return json_response(200, self.prediction("canceled.json", path.split("/")[-2]))
        if request.method == "POST":
            pid = f"p{sum(1 for r in self.seen if r.method == 'POST')}"
            if self.pending < 0:  # answered within Prefer: wait
                return json_response(201, self.prediction(self.final, pid))
            return json_response(201, self.prediction("starting.json", pid))
        pid = path.rsplit("/", 1)[-1]
        self.polls[pid] = self.polls.get(pid, 0) + 1
        if self.polls[pid] <= self.pending:
            return json_response(200, self.prediction("processing.json", pid))
        return json_response(200, self.prediction(self.final, pid))


def _engine(handler: Callable[[httpx.Request], httpx.Response]) -> Any:
    return make_engine(replicate, handler=handler)


def _generate(engine: Any, model: str = SCHNELL, **kwargs: Any) -> ImageResponse:
    kwargs.setdefault("prompt", "a red fox in snow")
    return engine.image_generation(model=f"replicate/{model}", api_key=KEY, api_base=BASE, poll_interval=0, **kwargs)


# --------------------------------------------------------------------------- contract and catalogue


def test_check_plugin_passes_the_contract():
    """The plugin meets pixmux's plugin contract on Replicate's default endpoint."""
    assert check_plugin(replicate, name="replicate") == []


def test_pinned_versions_of_listed_models_are_checked_as_those_models():
    """owner/name:version is looked up as owner/name; another model is forwarded leniently."""
    assert replicate.CATALOGUE.lookup(f"{SCHNELL}:{VERSION}").name == SCHNELL
    assert replicate.CATALOGUE.lookup(f"stability-ai/sdxl:{VERSION}").known is False


# --------------------------------------------------------------------------- request shape


def test_official_model_creates_a_prediction_with_input_and_wait_headers():
    """An official model posts {"input"} to /models/{owner}/{name}/predictions with Prefer: wait and Cancel-After."""
    (http,) = _build(_request(SCHNELL, n=2, seed=5, output_format="png"), api_base=None)

    assert http.method == "POST"
    assert str(http.url) == f"https://api.replicate.com/v1/models/{SCHNELL}/predictions"
    assert http.headers["authorization"] == f"Bearer {KEY}"
    assert http.headers["prefer"] == "wait=60"
    assert http.headers["cancel-after"] == "600s"
    assert json.loads(http.content) == {
        "input": {"prompt": "a red fox in snow", "num_outputs": 2, "seed": 5, "output_format": "png"}
    }


def test_short_timeout_waits_for_half_of_it():
    """With a 20 s call, the create holds at most 10 s, so a slow model is still polled in time."""
    (http,) = _build(_request(), timeout=20.0)

    assert http.headers["prefer"] == "wait=10"
    assert http.headers["cancel-after"] == "20s"


def test_prefer_wait_setting_zero_sends_no_prefer_header():
    """prefer_wait=0 creates the prediction asynchronously (no Prefer header)."""
    (http,) = _build(_request(), settings={"prefer_wait": 0})

    assert "prefer" not in http.headers


@pytest.mark.parametrize(
    ("model", "url", "envelope"),
    [
        (f"stability-ai/sdxl:{VERSION}", f"{BASE}/predictions", {"version": VERSION}),
        (VERSION, f"{BASE}/predictions", {"version": VERSION}),
        ("deployments/acme/my-flux", f"{BASE}/deployments/acme/my-flux/predictions", {}),
    ],
)
def test_versions_and_deployments_use_their_endpoints(model: str, url: str, envelope: dict[str, Any]):
    """A version goes to /predictions with "version"; a deployment to /deployments/{owner}/{name}/predictions."""
    (http,) = _build(_request(model), api_base=BASE)

    assert str(http.url) == url
    assert json.loads(http.content) == {**envelope, "input": {"prompt": "a red fox in snow"}}


def test_build_request_needs_a_token_on_replicates_host():
    """Without REPLICATE_API_TOKEN the error says how to give one."""
    with pytest.raises(AuthenticationError, match="REPLICATE_API_TOKEN"):
        _build(_request(), api_key=None, api_base=None)


def test_size_becomes_the_nearest_aspect_ratio_with_a_warning():
    """FLUX on Replicate takes aspect ratios: 1792x1024 is sent as 16:9 (warned); 1024x1024 as 1:1 (silent)."""
    with pytest.warns(PixmuxWarning, match="16:9"):
        assert _input(_request(SCHNELL, size="1792x1024"))["aspect_ratio"] == "16:9"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _input(_request("google/imagen-4", size="1024x1024"))["aspect_ratio"] == "1:1"


def test_unlisted_model_gets_width_and_height_and_extras_as_given():
    """A community model gets size as width/height and every keyword argument in input."""
    body = _input(
        _request(f"stability-ai/sdxl:{VERSION}", size="768x512", guidance_scale=7.5, refine="expert_ensemble_refiner")
    )

    assert body == {
        "prompt": "a red fox in snow",
        "width": 768,
        "height": 512,
        "guidance_scale": 7.5,
        "refine": "expert_ensemble_refiner",
    }


def test_seedream_takes_tiers_or_custom_pixels():
    """Seedream's size: 2K is sent as its tier; 1536x1024 as custom width/height; 800x600 is raised to 1024 (warned)."""
    assert _input(_request("bytedance/seedream-4", size="2K"))["size"] == "2K"
    body = _input(_request("bytedance/seedream-4", size="1536x1024"))
    assert (body["size"], body["width"], body["height"]) == ("custom", 1536, 1024)
    with pytest.warns(PixmuxWarning, match="1024x1024"):
        _input(_request("bytedance/seedream-4", size="800x600"))


def test_n_without_num_outputs_creates_one_prediction_per_image():
    """FLUX1.1 [pro] makes one image per prediction: n=3 is three creates with stepped seeds."""
    requests = _build(_request(PRO, n=3, seed=1))

    assert [json.loads(r.content)["input"]["seed"] for r in requests] == [1, 2, 3]


@pytest.mark.parametrize(
    ("model", "fields", "param"),
    [
        (SCHNELL, {"quality": "hd"}, "quality"),
        (SCHNELL, {"style": "vivid"}, "style"),
        (SCHNELL, {"n": 5}, "n"),
        (SCHNELL, {"num_outputs": 2}, "num_outputs"),
        (SCHNELL, {"num_inference_steps": 8}, "num_inference_steps"),
        (SCHNELL, {"aspect_ratio": "7:5"}, "aspect_ratio"),
        (SCHNELL, {"size": "1024x1024", "aspect_ratio": "1:1"}, "aspect_ratio"),
        (SCHNELL, {"guidance": 3}, "guidance"),
        (PRO, {"safety_tolerance": 7}, "safety_tolerance"),
        ("google/imagen-4", {"safety_filter_level": "none"}, "safety_filter_level"),
        ("ideogram-ai/ideogram-v3-turbo", {"style_type": "Anime"}, "style_type"),
    ],
)
def test_validate_params_refuses_by_name(model: str, fields: dict[str, Any], param: str):
    """A listed model's schema is checked before anything is sent, naming the field."""
    with pytest.raises(UnsupportedParamsError) as caught:
        _validate(_request(model, **fields))

    assert caught.value.param == param


# --------------------------------------------------------------------------- edits


def test_edits_send_data_uris_in_each_models_field():
    """Kontext's input_image, FLUX.2's input_images list and Seedream's image_input list carry data: URIs."""
    uri = f"data:image/png;base64,{TINY_PNG_B64}"
    edit = {"operation": "edit", "prompt": "make it winter"}
    assert _input(_request("black-forest-labs/flux-kontext-pro", images=(_image(),), **edit))["input_image"] == uri
    assert _input(_request("black-forest-labs/flux-2-pro", images=(_image(), _image()), **edit))["input_images"] == [
        uri,
        uri,
    ]
    assert _input(_request("bytedance/seedream-4", images=(_image(),), **edit))["image_input"] == [uri]


def test_ideogram_inpainting_sends_image_and_mask():
    """Ideogram inpaints with image and mask (its convention: black is repainted)."""
    body = _input(_request("ideogram-ai/ideogram-v3-turbo", operation="edit", images=(_image(),), mask=_image()))

    assert body["image"].startswith("data:image/png;base64,")
    assert body["mask"].startswith("data:image/png;base64,")


@pytest.mark.parametrize(
    ("model", "fields", "param"),
    [
        (SCHNELL, {"operation": "edit", "images": 1}, "operation"),
        (SCHNELL, {"operation": "variation", "images": 1}, "operation"),
        ("black-forest-labs/flux-kontext-pro", {"operation": "edit", "images": 2}, "image"),
        ("black-forest-labs/flux-kontext-pro", {"operation": "edit"}, "image"),
        ("black-forest-labs/flux-kontext-pro", {"operation": "edit", "images": 1, "mask": 1}, "mask"),
        (
            "black-forest-labs/flux-kontext-pro",
            {"operation": "edit", "images": 1, "safety_tolerance": 4},
            "safety_tolerance",
        ),
        ("ideogram-ai/ideogram-v3-quality", {"operation": "edit", "images": 1}, "mask"),
        (f"someone/model:{VERSION}", {"operation": "edit", "images": 2}, "image"),
    ],
)
def test_edit_inputs_are_checked(model: str, fields: dict[str, Any], param: str):
    """Edits on a model without an image field, too many images, a missing mask or image: refused by name."""
    fields = dict(fields)
    fields["images"] = tuple(_image() for _ in range(fields.pop("images", 0)))
    if fields.pop("mask", 0):
        fields["mask"] = _image()
    with pytest.raises(UnsupportedParamsError) as caught:
        _validate(_request(model, **fields))

    assert caught.value.param == param


# --------------------------------------------------------------------------- predictions, polling, cancel


def test_finished_create_answer_gives_the_images_at_once():
    """A prediction finished within Prefer: wait (201, succeeded) gives its images: no poll needed."""
    resp = _parse(201, load_json("succeeded_list.json"), method="POST", request=_request(n=2))

    assert isinstance(resp, ImageResponse)
    assert [image.url for image in resp.data] == load_json("succeeded_list.json")["output"]
    assert all(image.expires_at == pytest.approx(COMPLETED + 3600) for image in resp.data)
    assert resp.metadata["predict_time"] == 1.1


def test_single_uri_output_is_one_image():
    """Models answering one URI string (FLUX1.1 [pro]) give one image."""
    resp = _parse(200, load_json("succeeded_single.json"), request=_request(PRO))

    assert [image.url for image in resp.data] == ["https://replicate.delivery/czjl/ghi789/output.webp"]


def test_running_prediction_is_polled_with_its_cancel_request():
    """starting / processing: poll urls.get; the cancel request is POST urls.cancel, both with the token."""
    for name in ("starting.json", "processing.json"):
        follow = _parse(201, load_json(name), method="POST")

        assert isinstance(follow, FollowUp)
        assert (follow.request.method, str(follow.request.url)) == ("GET", load_json(name)["urls"]["get"])
        assert follow.cancel is not None
        assert (follow.cancel.method, str(follow.cancel.url)) == ("POST", load_json(name)["urls"]["cancel"])
        assert follow.request.headers["authorization"] == f"Bearer {KEY}"


def test_data_uri_output_is_returned_as_base64_when_asked():
    """A model answering data: URIs gives b64_json for response_format='b64_json' (nothing to download)."""
    body = {**load_json("succeeded_single.json"), "output": f"data:image/png;base64,{TINY_PNG_B64}"}

    resp = _parse(200, body, request=_request(PRO, response_format="b64_json"))

    assert resp.data[0].b64_json == TINY_PNG_B64
    assert resp.data[0].expires_at is None


def test_create_then_poll_end_to_end():
    """One call: create (starting), two polls processing, then succeeded; the cost is the catalogue's per image."""
    fake = FakeReplicate(pending=2)

    resp = _generate(_engine(fake), n=2)

    assert [(r.method, r.url.path) for r in fake.seen] == [
        ("POST", f"/v1/models/{SCHNELL}/predictions"),
        ("GET", "/v1/predictions/p1"),
        ("GET", "/v1/predictions/p1"),
        ("GET", "/v1/predictions/p1"),
    ]
    assert len(resp.data) == 2
    assert resp.cost == pytest.approx(0.006)


def test_create_answered_within_the_wait_is_one_round_trip():
    """A fast model answers the create with its output: one request in all."""
    fake = FakeReplicate(pending=-1, final="succeeded_single.json")

    resp = _generate(_engine(fake), PRO)

    assert len(fake.seen) == 1
    assert resp.cost == 0.04


def test_a_failed_poll_is_retried_as_a_poll_never_a_new_prediction():
    """A 500 on a poll in the middle and on the last: the call re-polls; one prediction is created (and paid)."""
    fake = FakeReplicate(pending=2, faults={3: 500, 5: 500})

    resp = _generate(_engine(fake), num_retries=2)

    assert [r.method for r in fake.seen].count("POST") == 1
    assert len(resp.data) == 2


# --------------------------------------------------------------------------- refusals, failures, errors


def test_failed_with_an_nsfw_error_is_a_content_policy_violation():
    """status failed with "NSFW content detected" is ContentPolicyViolationError (400) with Replicate's text."""
    with pytest.raises(ContentPolicyViolationError, match="NSFW content detected") as caught:
        _parse(200, load_json("failed_nsfw.json"))

    assert caught.value.status_code == 400


def test_succeeded_without_an_image_is_a_content_policy_violation():
    """An empty output (a safety checker removed the image) is a refusal, never an empty success."""
    with pytest.raises(ContentPolicyViolationError):
        _parse(
            200,
            load_json("succeeded_empty.json"),
            request=_request(f"stability-ai/stable-diffusion-3.5-large:{VERSION}"),
        )


def test_fewer_images_than_asked_lists_the_missing_as_refused():
    """num_outputs=2 answered with one image: the image is kept and the missing one listed in refused."""
    resp = _parse(200, load_json("succeeded_fewer.json"), request=_request(n=2))

    assert len(resp.data) == 1
    assert [refusal.reason for refusal in resp.refused] == ["no_output"]


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("failed.json", InternalServerError),
        ("canceled.json", Timeout),
        ("aborted.json", Timeout),
        ("data_removed.json", NotFoundError),
    ],
)
def test_failed_canceled_aborted_and_purged_predictions_are_typed(name: str, cls: type[Exception]):
    """A model error, a cancel or deadline, and output already deleted each raise their own class."""
    with pytest.raises(cls):
        _parse(200, load_json(name))


@pytest.mark.parametrize(
    "body",
    [
        {
            **load_json("succeeded_list.json", folder=replicate.__file__.rsplit("/src/", 1)[0] + "/tests/responses"),
            "status": "exploded",
        },
        {"id": "x", "status": "succeeded", "output": [{"not": "a url"}]},
        {"status": "succeeded"},
    ],
)
def test_odd_predictions_are_response_validation_errors(body: Any):
    """An unknown status, an output that is not URLs, or a prediction without an id: APIResponseValidationError."""
    with pytest.raises(APIResponseValidationError):
        _parse(200, body)


@pytest.mark.parametrize(
    ("name", "status", "cls"),
    [
        ("error_401.json", 401, AuthenticationError),
        ("error_402.json", 402, BadRequestError),
        ("error_404.json", 404, NotFoundError),
        ("error_400_legacy.json", 400, BadRequestError),
    ],
)
def test_problem_details_map_to_typed_errors_with_replicates_detail(name: str, status: int, cls: type[Exception]):
    """RFC 7807 bodies give detail (or the older error) as the message and the status's class."""
    body = load_json(name)
    with pytest.raises(cls) as caught:
        _parse(status, body, method="POST")

    assert (body.get("detail") or body["error"]) in str(caught.value)


def test_validation_422_names_the_input_field():
    """Input validation failed: UnprocessableEntityError naming the field from "input.aspect_ratio"."""
    with pytest.raises(UnprocessableEntityError) as caught:
        _parse(422, load_json("error_422.json"), method="POST")

    assert caught.value.param == "aspect_ratio"
    assert caught.value.code == "Input validation failed"


def test_throttled_429_reads_the_reset_time_from_the_detail():
    """Without Retry-After, "resets in ~30s" becomes retry_after=30."""
    with pytest.raises(RateLimitError) as caught:
        _parse(429, load_json("error_429.json"), method="POST")

    assert caught.value.retry_after == 30.0


def test_token_echoed_in_an_error_is_never_shown():
    """A 401 whose body echoes the token: the error pixmux raises does not contain it."""
    handler = lambda r: json_response(401, {"detail": f"token {KEY} is invalid", "status": 401})  # noqa: E731

    with pytest.raises(AuthenticationError) as caught:
        _generate(_engine(handler))

    assert KEY not in str(caught.value)
    assert KEY not in repr(caught.value)


# --------------------------------------------------------------------------- download, expiry, cancel


def _serving_files(fake: FakeReplicate) -> Callable[[httpx.Request], httpx.Response]:
    """FakeReplicate, with replicate.delivery answering the output files' bytes."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "replicate.delivery":
            fake.seen.append(request)
            return httpx.Response(200, content=PNG, headers={"content-type": "image/png"})
        return fake(request)

    return handler


def test_b64_json_downloads_the_output_files():
    """Replicate answers URLs: response_format='b64_json' makes the core fetch each into b64_json."""
    fake = FakeReplicate(pending=1)

    resp = _generate(_engine(_serving_files(fake)), n=2, response_format="b64_json")

    assert [base64.b64decode(image.b64_json or "") for image in resp.data] == [PNG, PNG]
    assert [r.url.host for r in fake.seen].count("replicate.delivery") == 2


def test_files_purged_within_the_horizon_are_downloaded():
    """Output files are purged an hour after the prediction: a longer horizon keeps the bytes."""
    fake = FakeReplicate(pending=0)
    engine = _engine(_serving_files(fake))
    engine.download_horizon = 2 * 3600.0

    resp = _generate(engine, response_format="url")

    assert all(base64.b64decode(image.b64_json or "") == PNG for image in resp.data)
    assert resp.metadata["url_expires_at"] == [pytest.approx(COMPLETED + 3600)] * 2


def test_a_timed_out_call_cancels_the_prediction():
    """A prediction still running when the call's time runs out: Timeout, and POST urls.cancel is sent."""
    fake = FakeReplicate(pending=10_000)

    with pytest.raises(Timeout):
        _generate(_engine(fake), timeout=0.3, num_retries=0)

    assert (fake.seen[-1].method, fake.seen[-1].url.path) == ("POST", "/v1/predictions/p1/cancel")
    assert fake.seen[-1].headers["authorization"] == f"Bearer {KEY}"
    assert [r.method for r in fake.seen].count("POST") == 2  # the create and the cancel, nothing else


async def test_a_cancelled_async_call_cancels_the_prediction():
    """Cancelling the asyncio task of a pending call still sends the prediction's cancel request."""
    import asyncio

    fake = FakeReplicate(pending=10_000)
    engine = _engine(fake)
    task = asyncio.ensure_future(
        engine.aimage_generation(
            prompt="a red fox", model=f"replicate/{SCHNELL}", api_key=KEY, api_base=BASE, poll_interval=0.01
        )
    )
    while sum(1 for r in fake.seen if r.method == "GET") < 2:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert (fake.seen[-1].method, fake.seen[-1].url.path) == ("POST", "/v1/predictions/p1/cancel")


def test_unusable_urls_are_response_validation_errors():
    """A urls.get that is not an absolute http(s) URL, or an output that is not one, is APIResponseValidationError."""
    starting = load_json("starting.json")
    starting["urls"]["get"] = "javascript:alert(1)"
    with pytest.raises(APIResponseValidationError, match=r"urls\.get"):
        _parse(201, starting, method="POST")

    with pytest.raises(APIResponseValidationError, match="output URL"):
        _parse(200, {**load_json("succeeded_single.json"), "output": "not a url"}, request=_request(PRO))


def test_ideogram_on_replicate_gets_an_openai_alpha_mask_black_for_repaint():
    """OpenAI's mask (transparent = edit) reaches Ideogram as its own: black repainted, white kept."""
    import io

    from PIL import Image

    picture = Image.new("RGBA", (4, 4), (0, 0, 0, 255))
    picture.paste((0, 0, 0, 0), (0, 0, 4, 1))
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    request = _request(
        "ideogram-ai/ideogram-v3-turbo", operation="edit", images=(_image(),), mask=_image(buffer.getvalue())
    )

    prefix, _, encoded = _input(request)["mask"].partition(",")

    assert prefix == "data:image/png;base64"
    grey = Image.open(io.BytesIO(base64.b64decode(encoded)))
    assert (grey.mode, grey.tobytes()) == ("L", bytes(4) + b"\xff" * 12)


def test_unlisted_models_get_the_mask_as_given():
    """A model pixmux does not know has no known convention: its mask is sent unchanged."""
    import io

    from PIL import Image

    picture = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    body = _input(_request("someone/inpainter", operation="edit", images=(_image(),), mask=_image(buffer.getvalue())))
    assert base64.b64decode(body["mask"].partition(",")[2]) == buffer.getvalue()
