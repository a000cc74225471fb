"""Bedrock edits: Titan / Nova task types behind image_edit and image_variation, SD3, Stability edit models."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import httpx
import pixmux_bedrock.provider as provider
import pytest
from PIL import Image
from pixmux.exceptions import ContentPolicyViolationError, UnsupportedParamsError
from pixmux.testing import load_json, make_engine

ENV = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret-example", "AWS_REGION": "us-east-1"}
NOVA = "bedrock/amazon.nova-canvas-v1:0"


def png(size: tuple[int, int] = (64, 64), color: int = 255) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (color, color, color)).save(buffer, "PNG")
    return buffer.getvalue()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _engine(body: str = "nova_success.json", status: int = 200) -> Any:
    return make_engine(provider, handler=lambda request: httpx.Response(status, json=load_json(body)), environ=ENV)


def _sent(engine: Any, index: int = 0) -> dict[str, Any]:
    request = engine.requests[index]
    assert request.headers["authorization"].startswith("AWS4-HMAC-SHA256 ")  # SigV4-signed, as generations
    return dict(json.loads(request.content))


def test_edit_with_a_mask_is_inpainting() -> None:
    """image_edit with a mask is INPAINTING: image, maskImage and text in inPaintingParams, config as usual."""
    engine = _engine()
    image, mask = png(color=200), png(color=0)

    resp = engine.image_edit(image, "a green armchair", model=NOVA, mask=mask, n=2, seed=7, negative_prompt="blurry")

    body = _sent(engine)
    assert body["taskType"] == "INPAINTING"
    assert {
        "image": _b64(image),
        "maskImage": _b64(mask),
        "text": "a green armchair",
        "negativeText": "blurry",
    } == body["inPaintingParams"]
    assert (body["imageGenerationConfig"]["numberOfImages"], body["imageGenerationConfig"]["seed"]) == (2, 7)
    assert resp.data
    assert resp.cost is not None


def test_mask_prompt_and_removal_without_a_prompt() -> None:
    """mask_prompt selects the region; an inpainting without a prompt removes (no text is sent)."""
    engine = _engine()

    engine.image_edit(png(), "", model=NOVA, mask_prompt="the sofa")

    assert {"image": _b64(png()), "maskPrompt": "the sofa"} == _sent(engine)["inPaintingParams"]


def test_outpainting_and_background_removal() -> None:
    """task_type picks OUTPAINTING (with its mode) or BACKGROUND_REMOVAL (no config, no prompt)."""
    engine = _engine()

    engine.image_edit(
        png(), "a beach", model=NOVA, mask=png(color=0), task_type="OUTPAINTING", outpainting_mode="PRECISE"
    )
    engine.image_edit(png(), "", model=NOVA, task_type="BACKGROUND_REMOVAL")

    outpaint, removal = _sent(engine, 0), _sent(engine, 1)
    assert outpaint["outPaintingParams"]["outPaintingMode"] == "PRECISE"
    assert {"taskType": "BACKGROUND_REMOVAL", "backgroundRemovalParams": {"image": _b64(png())}} == removal


def test_variation_and_edit_without_mask_are_image_variation() -> None:
    """image_variation (no text) and image_edit without a mask (text-guided) are IMAGE_VARIATION of 1-5 images."""
    engine = _engine()

    engine.image_variation([png(), png(color=10)], model=NOVA, similarity_strength=0.9)
    engine.image_edit(png(), "in winter", model=NOVA)

    variation, guided = _sent(engine, 0)["imageVariationParams"], _sent(engine, 1)["imageVariationParams"]
    assert {"images": [_b64(png()), _b64(png(color=10))], "similarityStrength": 0.9} == variation
    assert guided["text"] == "in winter"


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"task_type": "OUTPAINTING"}, "mask"),
        ({"mask": png(), "mask_prompt": "x"}, "mask_prompt"),
        ({"task_type": "TEXT_IMAGE"}, "task_type"),
        ({"in_painting_params": {"image": "x"}, "mask": png()}, "in_painting_params"),
        ({"mask": png((32, 32))}, "mask"),
        ({"similarity_strength": 0.1}, "similarity_strength"),
    ],
)
def test_edit_refusals_name_the_parameter(kwargs: dict[str, Any], param: str) -> None:
    """Contradictions are named before anything is sent."""
    engine = _engine()
    with pytest.raises(UnsupportedParamsError) as caught:
        engine.image_edit(png(), "x", model=NOVA, **kwargs)
    assert param == caught.value.param
    assert engine.requests == []


def test_old_generation_path_still_works_with_a_deprecation_warning() -> None:
    """task_type='INPAINTING' through image_generation sends the same body as image_edit, and warns."""
    old, new = _engine(), _engine()
    image, mask = png(color=200), png(color=0)

    with pytest.warns(FutureWarning, match="use pixmux.image_edit"):
        old.image_generation(
            "an armchair",
            model=NOVA,
            task_type="INPAINTING",
            in_painting_params={"image": _b64(image), "maskImage": _b64(mask)},
        )
    new.image_edit(image, "an armchair", model=NOVA, mask=mask)

    assert _sent(old) == _sent(new)


def test_titan_v1_varies_one_image() -> None:
    """Titan v1 takes one input image."""
    with pytest.raises(UnsupportedParamsError, match="at most 1"):
        _engine("titan_success.json").image_variation(
            [png(), png()],
            model="bedrock/amazon.titan-image-generator-v1",
        )


def test_sd35_edit_is_image_to_image() -> None:
    """An SD3.5 Large edit is mode image-to-image with the image and strength."""
    engine = _engine("stability3_success.json")

    engine.image_edit(png(), "oil painting", model="bedrock/stability.sd3-5-large-v1:0", strength=0.6)

    body = _sent(engine)
    assert ("image-to-image", _b64(png()), 0.6) == (body["mode"], body["image"], body["strength"])
    with pytest.raises(UnsupportedParamsError, match="needs strength"):
        engine.image_edit(png(), "x", model="bedrock/stability.sd3-5-large-v1:0")
    with pytest.raises(UnsupportedParamsError, match="cannot edit images; bedrock models that can"):
        engine.image_edit(png(), "x", model="bedrock/stability.stable-image-ultra-v1:1")


def test_stability_inpaint_service_on_a_profile() -> None:
    """stable-image-inpaint through a cross-region profile: JSON with base64 image and mask; finish_reasons read."""
    engine = _engine("stability3_success.json")

    resp = engine.image_edit(
        png(), "a cat", model="bedrock/us.stability.stable-image-inpaint-v1:0", mask=png(color=0), grow_mask=10, seed=3
    )

    assert engine.requests[0].url.raw_path == b"/model/us.stability.stable-image-inpaint-v1%3A0/invoke"
    assert {"image": _b64(png()), "mask": _b64(png(color=0)), "prompt": "a cat", "grow_mask": 10, "seed": 3} == _sent(
        engine
    )
    assert resp.data


def test_stability_service_edit_is_priced_by_the_deployment() -> None:
    """
    AWS's per-image prices for the Stability image services are not in pixmux (none it could
    verify): an edit reports no cost, and a deployment's model_info prices it, input images included.
    """
    from pixmux import Router

    engine = _engine("stability3_success.json")
    params = {"model": "bedrock/us.stability.stable-style-transfer-v1:0"}
    router = Router(
        [
            {"model_name": "unpriced", "litellm_params": params},
            {
                "model_name": "priced",
                "litellm_params": params,
                "model_info": {"output_cost_per_image": 0.08, "input_cost_per_image": 0.001},
            },
        ],
        engine=engine,
    )

    unpriced = router.image_edit([png(), png(color=0)], "oil paint", "unpriced")
    priced = router.image_edit([png(), png(color=0)], "oil paint", "priced")

    assert unpriced.cost is None
    assert priced.cost == pytest.approx(0.08 + 2 * 0.001)


def test_stability_services_need_their_inputs() -> None:
    """Search-and-replace needs search_prompt; style transfer takes two images; outpaint needs a side."""
    engine = _engine("stability3_success.json")
    with pytest.raises(UnsupportedParamsError, match="search_prompt"):
        engine.image_edit(png(), "a dog", model="bedrock/stability.stable-image-search-replace-v1:0")
    with pytest.raises(UnsupportedParamsError, match="at most 2"):
        engine.image_edit([png()] * 3, "x", model="bedrock/stability.stable-style-transfer-v1:0")
    with pytest.raises(UnsupportedParamsError, match="left, right, up, down"):
        engine.image_edit(png(), "", model="bedrock/stability.stable-outpaint-v1:0")

    engine.image_edit([png(), png(color=0)], "", model="bedrock/stability.stable-style-transfer-v1:0")
    body = _sent(engine)
    assert (_b64(png()), _b64(png(color=0))) == (body["init_image"], body["style_image"])


def test_stability_edit_refusal_in_a_200() -> None:
    """finish_reasons 'Filter reason: input image' with HTTP 200 is a refusal."""
    engine = make_engine(
        provider,
        handler=lambda request: httpx.Response(
            200, json={"seeds": [1], "finish_reasons": ["Filter reason: input image"]}
        ),
        environ=ENV,
    )
    with pytest.raises(ContentPolicyViolationError, match="input image"):
        engine.image_edit(png(), "", model="bedrock/stability.stable-image-remove-background-v1:0")


def openai_mask(size: tuple[int, int] = (64, 64)) -> bytes:
    """OpenAI's convention: opaque everywhere but a transparent square (16..31), the area to edit."""
    image = Image.new("RGBA", size, (0, 0, 0, 255))
    image.paste((0, 0, 0, 0), (16, 16, 32, 32))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _square(encoded: str, *, inside: tuple[int, int, int], outside: tuple[int, int, int], mode: str) -> None:
    sent = Image.open(io.BytesIO(base64.b64decode(encoded)))
    assert sent.mode == mode
    assert sent.size == (64, 64)
    rgb = sent.convert("RGB")
    assert rgb.getpixel((16, 16)) == rgb.getpixel((31, 31)) == inside
    assert rgb.getpixel((15, 16)) == rgb.getpixel((32, 32)) == rgb.getpixel((0, 0)) == outside


BLACK, WHITE = (0, 0, 0), (255, 255, 255)


def test_an_openai_alpha_mask_inpaints_black_for_nova() -> None:
    """INPAINTING edits the black area: the transparent square arrives black, the rest white, as RGB without alpha."""
    engine = _engine()
    engine.image_edit(png(color=200), "a green armchair", model=NOVA, mask=openai_mask())
    _square(_sent(engine)["inPaintingParams"]["maskImage"], inside=BLACK, outside=WHITE, mode="RGB")


def test_an_openai_alpha_mask_outpaints_white_for_nova() -> None:
    """OUTPAINTING changes the white area: the transparent square (the area to draw) arrives white."""
    engine = _engine()
    engine.image_edit(png(color=200), "a beach", model=NOVA, mask=openai_mask(), task_type="OUTPAINTING")
    _square(_sent(engine)["outPaintingParams"]["maskImage"], inside=WHITE, outside=BLACK, mode="RGB")


def test_an_openai_alpha_mask_is_white_for_change_on_stability_inpaint() -> None:
    engine = _engine("stability3_success.json")
    engine.image_edit(png(), "a cat", model="bedrock/stability.stable-image-inpaint-v1:0", mask=openai_mask())
    _square(_sent(engine)["mask"], inside=WHITE, outside=BLACK, mode="L")
