"""Vertex AI edits: Gemini image models with inline reference images, and Imagen capability with mask modes."""

from __future__ import annotations

import base64
import datetime
import io
import json
import warnings
from typing import Any

import httpx
import pixmux_vertex_ai.provider as vertex
import pytest
from google.auth.credentials import Credentials
from PIL import Image
from pixmux.exceptions import ContentPolicyViolationError, PermissionDeniedError, UnsupportedParamsError
from pixmux.testing import json_response, load_json, make_engine
from pixmux_vertex_ai.credentials import HttpxRequest

SETTINGS: dict[str, Any] = {"vertex_ai_project": "p1", "vertex_ai_location": "us-central1"}
#: Imagen's shutdown note is a warning on every call to imagen-3.0-capability-001.
quiet = pytest.mark.filterwarnings("ignore::pixmux.PixmuxWarning")


class FakeCredentials(Credentials):  # type: ignore[misc]
    """google-auth credentials whose refresh hands out ya29.fake-token-N without any network."""

    def __init__(self) -> None:
        super().__init__()
        self.refreshes = 0

    def refresh(self, request: Any) -> None:
        assert isinstance(request, HttpxRequest)
        self.refreshes += 1
        self.token = f"ya29.fake-token-{self.refreshes}"
        self.expiry = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) + datetime.timedelta(hours=1)


def png(size: tuple[int, int] = (64, 64), mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size).save(buffer, "PNG")
    return buffer.getvalue()


def _engine(status: int, name: str) -> Any:
    return make_engine(vertex, handler=lambda r: json_response(status, load_json(name)))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_gemini_edit_sends_images_as_inline_parts_with_credentials_from_arguments() -> None:
    """A Gemini edit is :generateContent with the text then each image inline; credentials come from the call."""
    engine = _engine(200, "gemini_image.json")
    first, second = png(), png((32, 32))

    resp = engine.image_edit(
        [first, second],
        "put the cat on the sofa",
        model="vertex_ai/gemini-2.5-flash-image",
        vertex_credentials=FakeCredentials(),
        **SETTINGS,
    )

    sent = engine.requests[0]
    assert sent.url.path.endswith("/publishers/google/models/gemini-2.5-flash-image:generateContent")
    assert sent.headers["authorization"] == "Bearer ya29.fake-token-1"
    parts = json.loads(sent.content)["contents"][0]["parts"]
    assert [
        {"text": "put the cat on the sofa"},
        {"inlineData": {"mimeType": "image/png", "data": _b64(first)}},
        {"inlineData": {"mimeType": "image/png", "data": _b64(second)}},
    ] == parts
    assert resp.data


def test_gemini_edit_takes_no_mask() -> None:
    """Gemini models take no mask: named before any request."""
    engine = _engine(200, "gemini_image.json")
    with pytest.raises(UnsupportedParamsError, match="takes no mask") as caught:
        engine.image_edit(png(), "x", model="vertex_ai/gemini-2.5-flash-image", mask=png(), **SETTINGS)
    assert caught.value.param == "mask"
    assert engine.requests == []


def _capability(**kwargs: Any) -> tuple[dict[str, Any], Any]:
    engine = _engine(200, "imagen_two.json")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the model's shutdown note
        resp = engine.image_edit(
            png(),
            "a red car",
            model="vertex_ai/imagen-3.0-capability-001",
            vertex_credentials=FakeCredentials(),
            **SETTINGS,
            **kwargs,
        )
    return json.loads(engine.requests[0].content), resp


def test_imagen_inpaint_with_a_user_mask() -> None:
    """A mask is REFERENCE_TYPE_MASK with MASK_MODE_USER_PROVIDED; editMode and baseSteps go where Google wants."""
    body, resp = _capability(
        mask=png(), edit_mode="EDIT_MODE_INPAINT_INSERTION", base_steps=35, mask_dilation=0.01, n=2
    )

    instance = body["instances"][0]
    raw, mask = instance["referenceImages"]
    assert {k: raw[k] for k in ("referenceType", "referenceId")} == {
        "referenceType": "REFERENCE_TYPE_RAW",
        "referenceId": 1,
    }
    assert _b64(png()) == raw["referenceImage"]["bytesBase64Encoded"]
    assert mask["referenceType"] == "REFERENCE_TYPE_MASK"
    assert mask["maskImageConfig"] == {"maskMode": "MASK_MODE_USER_PROVIDED", "dilation": 0.01}
    params = body["parameters"]
    assert (params["editMode"], params["editConfig"], params["sampleCount"]) == (
        "EDIT_MODE_INPAINT_INSERTION",
        {"baseSteps": 35},
        2,
    )
    assert "maskMode" not in params
    assert len(resp.data) == 2


def test_imagen_background_swap_segments_itself() -> None:
    """MASK_MODE_BACKGROUND without a mask sends a mask reference with no bytes."""
    body, _ = _capability(edit_mode="EDIT_MODE_BGSWAP", mask_mode="MASK_MODE_BACKGROUND")

    mask = body["instances"][0]["referenceImages"][1]
    assert "referenceImage" not in mask
    assert mask["maskImageConfig"] == {"maskMode": "MASK_MODE_BACKGROUND"}


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"mask_mode": "MASK_MODE_USER_PROVIDED"}, "mask"),
        ({"mask_mode": "MASK_MODE_SEMANTIC"}, "maskClasses"),
        ({"mask_mode": "MASK_MODE_BACKGROUND", "mask": "MASK"}, "maskMode"),
        ({"edit_mode": "EDIT_MODE_PAINT"}, "editMode"),
        ({"mask": "SMALL"}, "mask"),
    ],
)
@quiet
def test_imagen_edit_refusals_name_the_parameter(kwargs: dict[str, Any], param: str) -> None:
    """Mask modes that contradict the mask, a bad edit mode or a mask of another size are named."""
    given = dict(kwargs)
    if given.get("mask") == "MASK":
        given["mask"] = png()
    elif given.get("mask") == "SMALL":
        given["mask"] = png((16, 16))
    engine = _engine(200, "imagen_two.json")
    with pytest.raises(UnsupportedParamsError) as caught:
        engine.image_edit(png(), "x", model="vertex_ai/imagen-3.0-capability-001", **SETTINGS, **given)
    assert param == caught.value.param
    assert engine.requests == []


def test_imagen_generation_model_cannot_edit() -> None:
    """An Imagen generation model names the models that can edit."""
    with pytest.raises(UnsupportedParamsError, match=r"cannot edit images; vertex_ai models that can: gemini-2\.5"):
        _engine(200, "imagen_two.json").image_edit(png(), "x", model="vertex_ai/imagen-4.0-generate-001", **SETTINGS)


@quiet
def test_edit_errors_and_refusals() -> None:
    """A 403 on an edit is PermissionDeniedError; every image filtered is a refusal."""
    with pytest.raises(PermissionDeniedError):
        _engine(403, "error_permission.json").image_edit(
            png(), "x", model="vertex_ai/gemini-2.5-flash-image", vertex_credentials=FakeCredentials(), **SETTINGS
        )
    blocked = make_engine(
        vertex, handler=lambda r: json_response(200, {"predictions": [{"raiFilteredReason": "blocked"}]})
    )
    with pytest.raises(ContentPolicyViolationError):
        blocked.image_edit(
            png(),
            "x",
            model="vertex_ai/imagen-3.0-capability-001",
            vertex_credentials=FakeCredentials(),
            **SETTINGS,
        )
    assert isinstance(blocked.requests[0], httpx.Request)


def test_an_openai_alpha_mask_reaches_imagen_white_for_edit() -> None:
    """OpenAI's mask (transparent = edit) becomes Imagen's user mask: white in the area to edit, black elsewhere."""
    image = Image.new("RGBA", (64, 64), (0, 0, 0, 255))
    image.paste((0, 0, 0, 0), (8, 8, 40, 24))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")

    body, _ = _capability(mask=buffer.getvalue(), edit_mode="EDIT_MODE_INPAINT_INSERTION")

    sent = body["instances"][0]["referenceImages"][1]["referenceImage"]
    assert sent["mimeType"] == "image/png"
    mask = Image.open(io.BytesIO(base64.b64decode(sent["bytesBase64Encoded"])))
    assert (mask.mode, mask.size) == ("L", (64, 64))
    assert mask.getpixel((8, 8)) == mask.getpixel((39, 23)) == 255
    assert mask.getpixel((7, 8)) == mask.getpixel((40, 24)) == mask.getpixel((63, 63)) == 0


def test_a_black_and_white_user_mask_is_sent_as_given() -> None:
    body, _ = _capability(mask=png(mode="L"))
    assert body["instances"][0]["referenceImages"][1]["referenceImage"]["bytesBase64Encoded"] == _b64(png(mode="L"))


@quiet
def test_imagen_capability_edit_is_priced_by_the_deployment() -> None:
    """
    Google's catalogue price for imagen-3.0-capability-001 is not in pixmux (none it could verify):
    an edit reports no cost, and a deployment's model_info prices it per output and input image.
    """
    from pixmux import Router

    engine = _engine(200, "imagen_two.json")
    params = {"model": "vertex_ai/imagen-3.0-capability-001", **SETTINGS, "vertex_credentials": FakeCredentials()}
    router = Router(
        [
            {"model_name": "unpriced", "litellm_params": params},
            {
                "model_name": "priced",
                "litellm_params": params,
                "model_info": {"output_cost_per_image": 0.02, "input_cost_per_image": 0.005},
            },
        ],
        engine=engine,
    )

    unpriced = router.image_edit(png(), "a red car", "unpriced", n=2)
    priced = router.image_edit(png(), "a red car", "priced", n=2)

    assert unpriced.cost is None
    assert len(priced.data) == 2
    assert priced.cost == pytest.approx(2 * 0.02 + 1 * 0.005)
