"""Request translation: every family's body field by field, sizes, n, quality, native parameters, the URL."""

from __future__ import annotations

import json
import warnings
from typing import Any

import httpx
import pytest
from pixmux import PixmuxWarning
from pixmux.exceptions import UnsupportedParamsError
from pixmux.types import Auth, Deployment, ImageRequest
from pixmux_bedrock import provider
from pixmux_bedrock._auth import AwsIdentity
from pixmux_bedrock._catalogue import CATALOGUE

REGION = {"aws_region_name": "us-east-1"}
IDENTITY = Auth(value=AwsIdentity(access_key="AKIDEXAMPLE", secret_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"))


def prepare(model: str, prompt: str = "a red bicycle", settings: dict[str, Any] | None = None, **kwargs: Any):
    """Validate like the engine does (warnings recorded) and return (validated request, deployment, info, warnings)."""
    fields = {k: kwargs.pop(k) for k in list(kwargs) if k in ImageRequest.OPENAI_PARAMS}
    request = ImageRequest(prompt=prompt, model=model, params=kwargs, **fields)
    deployment = Deployment(provider="bedrock", model=model, settings={**REGION, **(settings or {})})
    info = CATALOGUE.lookup(model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        changed = provider.validate_params(request=request, model=info, deployment=deployment)
    notes = [str(w.message) for w in caught if issubclass(w.category, PixmuxWarning)]
    return changed or request, deployment, info, notes


def build(model: str, **kwargs: Any) -> list[httpx.Request]:
    request, deployment, info, _ = prepare(model, **kwargs)
    built = provider.build_request(request=request, deployment=deployment, model=info, auth=IDENTITY)
    return [built] if isinstance(built, httpx.Request) else list(built)


def bodies(model: str, **kwargs: Any) -> list[dict[str, Any]]:
    return [json.loads(r.content) for r in build(model, **kwargs)]


# --------------------------------------------------------------------------- SDXL


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, {"text_prompts": [{"text": "a red bicycle", "weight": 1.0}]}),
        (
            {"size": "1344x768", "negative_prompt": "blurry", "seed": 7, "cfg_scale": 9, "steps": 40},
            {
                "text_prompts": [{"text": "a red bicycle", "weight": 1.0}, {"text": "blurry", "weight": -1.0}],
                "height": 768,
                "width": 1344,
                "cfg_scale": 9,
                "steps": 40,
                "seed": 7,
            },
        ),
        (
            {"style_preset": "anime", "sampler": "K_EULER", "clip_guidance_preset": "FAST_BLUE", "extras": {"x": 1}},
            {
                "text_prompts": [{"text": "a red bicycle", "weight": 1.0}],
                "clip_guidance_preset": "FAST_BLUE",
                "sampler": "K_EULER",
                "style_preset": "anime",
                "extras": {"x": 1},
            },
        ),
        ({"size": "auto"}, {"text_prompts": [{"text": "a red bicycle", "weight": 1.0}]}),
    ],
)
def test_build_request_sdxl_body(kwargs: dict[str, Any], expected: dict[str, Any]) -> None:
    """SDXL gets weighted text_prompts, one of its fixed sizes and its native options, nothing else."""
    assert [expected] == bodies("stability.stable-diffusion-xl-v1", **kwargs)


def test_validate_params_sdxl_approximates_size_with_warning() -> None:
    """A size close to a supported one is sent as the nearest SDXL size, with a warning saying so."""
    request, _, _, notes = prepare("stability.stable-diffusion-xl-v1", size="1792x1024")

    assert request.size == "1344x768"
    assert any("1344x768" in note for note in notes)


def test_validate_params_sdxl_exact_size_has_no_warning() -> None:
    """A size SDXL makes exactly is kept without any warning."""
    request, _, _, notes = prepare("stability.stable-diffusion-xl-v1", size="832x1216")

    assert (request.size, notes) == ("832x1216", [])


@pytest.mark.parametrize("size", ["4096x1024", "big", "0x10"])
def test_validate_params_sdxl_impossible_size_lists_accepted(size: str) -> None:
    """A size no SDXL size is close to raises naming size and listing the accepted sizes."""
    with pytest.raises(UnsupportedParamsError) as info:
        prepare("stability.stable-diffusion-xl-v1", size=size)

    assert info.value.param == "size"
    assert "1024x1024" in str(info.value)
    assert "1536x640" in str(info.value)


def test_build_request_sdxl_n_fans_out_with_distinct_seeds() -> None:
    """SDXL makes one image per call: n=3 is three requests, seeds offset from the caller's."""
    sent = bodies("stability.stable-diffusion-xl-v1", n=3, seed=100)

    assert [body["seed"] for body in sent] == [100, 101, 102]
    assert all("samples" not in body for body in sent)


def test_build_request_sdxl_n_without_seed_leaves_seeds_random() -> None:
    """Without a seed, fanned-out SDXL requests leave the seed to the model (random)."""
    sent = bodies("stability.stable-diffusion-xl-v1", n=2)

    assert ["seed" in body for body in sent] == [False, False]


@pytest.mark.parametrize(("param", "value"), [("steps", 5), ("cfg_scale", 40), ("sampler", "EULER"), ("seed", -1)])
def test_validate_params_sdxl_native_out_of_range(param: str, value: Any) -> None:
    """Native SDXL parameters outside their documented range or set are refused by name."""
    with pytest.raises(UnsupportedParamsError) as info:
        prepare("stability.stable-diffusion-xl-v1", **{param: value})

    assert param == info.value.param


def test_validate_params_sdxl_v0_rounds_to_multiples_of_64() -> None:
    """SDXL 0.8 takes any size in multiples of 64: others are rounded, with a warning."""
    request, _, _, notes = prepare("stability.stable-diffusion-xl-v0", size="500x700")

    assert request.size == "512x704"
    assert notes


# --------------------------------------------------------------------------- SD3 / Stable Image


@pytest.mark.parametrize(
    ("model", "kwargs", "expected"),
    [
        ("stability.sd3-5-large-v1:0", {}, {"prompt": "a red bicycle"}),
        (
            "stability.stable-image-ultra-v1:1",
            {"size": "1024x1024", "negative_prompt": "text", "seed": 3, "output_format": "jpeg"},
            {
                "prompt": "a red bicycle",
                "aspect_ratio": "1:1",
                "negative_prompt": "text",
                "output_format": "jpeg",
                "seed": 3,
            },
        ),
        (
            "stability.stable-image-core-v1:1",
            {"aspect_ratio": "21:9", "style_preset": "photographic"},
            {"prompt": "a red bicycle", "aspect_ratio": "21:9", "style_preset": "photographic"},
        ),
        (
            "stability.sd3-large-v1:0",
            {"mode": "image-to-image", "image": "aW1n", "strength": 0.4},
            {"prompt": "a red bicycle", "mode": "image-to-image", "image": "aW1n", "strength": 0.4},
        ),
        (
            "us.stability.stable-image-core-v1:1",
            {"size": "1536x1024"},
            {"prompt": "a red bicycle", "aspect_ratio": "3:2"},
        ),
    ],
)
def test_build_request_stability3_body(model: str, kwargs: dict[str, Any], expected: dict[str, Any]) -> None:
    """SD3 / Stable Image get prompt, an aspect_ratio for size, and their native options, nothing else."""
    assert [expected] == bodies(model, **kwargs)


def test_validate_params_stability3_size_becomes_aspect_ratio_with_warning() -> None:
    """A WxH for SD3 becomes the nearest aspect ratio, and the warning says the model picks the pixels."""
    request, _, _, notes = prepare("stability.sd3-5-large-v1:0", size="1792x1024")

    assert (request.size, request.params["aspect_ratio"]) == (None, "16:9")
    assert any("aspect_ratio '16:9'" in note for note in notes)


def test_validate_params_stability3_far_ratio_is_refused() -> None:
    """A 4:1 size is too far from SD3's ratios and is refused with the accepted ratios listed."""
    with pytest.raises(UnsupportedParamsError, match="21:9") as info:
        prepare("stability.stable-image-ultra-v1:0", size="2048x512")

    assert info.value.param == "size"


def test_build_request_stability3_n_fans_out() -> None:
    """Stable Image has no image count: n=4 is four requests with seeds 9..12."""
    sent = bodies("stability.stable-image-core-v1:0", n=4, seed=9)

    assert [body["seed"] for body in sent] == [9, 10, 11, 12]


@pytest.mark.parametrize(
    ("model", "kwargs", "param"),
    [
        ("stability.sd3-5-large-v1:0", {"size": "1024x1024", "aspect_ratio": "1:1"}, "size"),
        ("stability.sd3-5-large-v1:0", {"mode": "image-to-image", "image": "aW1n"}, "strength"),
        (
            "stability.sd3-5-large-v1:0",
            {"mode": "image-to-image", "image": "aW1n", "strength": 0.5, "size": "1024x1024"},
            "size",
        ),
        ("stability.sd3-5-large-v1:0", {"strength": 0.5}, "strength"),
        ("stability.stable-image-ultra-v1:1", {"mode": "image-to-image"}, "mode"),
        ("stability.stable-image-ultra-v1:1", {"style_preset": "anime"}, "style_preset"),
        ("stability.stable-image-core-v1:1", {"output_format": "webp"}, "output_format"),
        ("stability.stable-image-core-v1:1", {"quality": "hd"}, "quality"),
    ],
)
def test_validate_params_stability3_refuses_what_does_not_apply(model: str, kwargs: dict[str, Any], param: str) -> None:
    """Conflicting or inapplicable SD3 / Stable Image parameters are refused by name before any request."""
    with pytest.raises(UnsupportedParamsError) as info:
        prepare(model, **kwargs)

    assert param == info.value.param


# --------------------------------------------------------------------------- Titan / Nova


@pytest.mark.parametrize(
    ("model", "kwargs", "expected"),
    [
        (
            "amazon.titan-image-generator-v1",
            {},
            {
                "taskType": "TEXT_IMAGE",
                "textToImageParams": {"text": "a red bicycle"},
                "imageGenerationConfig": {"numberOfImages": 1},
            },
        ),
        (
            "amazon.titan-image-generator-v2:0",
            {"n": 3, "size": "1152x768", "quality": "hd", "negative_prompt": "blurry", "cfg_scale": 8.0, "seed": 42},
            {
                "taskType": "TEXT_IMAGE",
                "textToImageParams": {"text": "a red bicycle", "negativeText": "blurry"},
                "imageGenerationConfig": {
                    "numberOfImages": 3,
                    "quality": "premium",
                    "width": 1152,
                    "height": 768,
                    "cfgScale": 8.0,
                    "seed": 42,
                },
            },
        ),
        (
            "amazon.nova-canvas-v1:0",
            {
                "size": "1280x720",
                "quality": "premium",
                "style": "PHOTOREALISM",
                "negativeText": "people",
                "cfgScale": 6.5,
                "seed": 12,
                "n": 2,
            },
            {
                "taskType": "TEXT_IMAGE",
                "textToImageParams": {"text": "a red bicycle", "negativeText": "people", "style": "PHOTOREALISM"},
                "imageGenerationConfig": {
                    "numberOfImages": 2,
                    "quality": "premium",
                    "width": 1280,
                    "height": 720,
                    "cfgScale": 6.5,
                    "seed": 12,
                },
            },
        ),
        (
            "amazon.nova-canvas-v1:0",
            {"condition_image": "aW1n", "control_mode": "CANNY_EDGE", "control_strength": 0.7, "quality": "standard"},
            {
                "taskType": "TEXT_IMAGE",
                "textToImageParams": {
                    "text": "a red bicycle",
                    "conditionImage": "aW1n",
                    "controlMode": "CANNY_EDGE",
                    "controlStrength": 0.7,
                },
                "imageGenerationConfig": {"numberOfImages": 1, "quality": "standard"},
            },
        ),
        (
            "amazon.nova-canvas-v1:0",
            {"task_type": "COLOR_GUIDED_GENERATION", "color_guided_generation_params": {"colors": ["#FF9800"]}},
            {
                "taskType": "COLOR_GUIDED_GENERATION",
                "colorGuidedGenerationParams": {"text": "a red bicycle", "colors": ["#FF9800"]},
                "imageGenerationConfig": {"numberOfImages": 1},
            },
        ),
        (
            "amazon.titan-image-generator-v2:0",
            {"taskType": "INPAINTING", "inPaintingParams": {"image": "aW1n", "maskPrompt": "the sky"}},
            {
                "taskType": "INPAINTING",
                "inPaintingParams": {"text": "a red bicycle", "image": "aW1n", "maskPrompt": "the sky"},
                "imageGenerationConfig": {"numberOfImages": 1},
            },
        ),
        (
            "amazon.nova-canvas-v1:0",
            {"task_type": "BACKGROUND_REMOVAL", "background_removal_params": {"image": "aW1n"}},
            {"taskType": "BACKGROUND_REMOVAL", "backgroundRemovalParams": {"image": "aW1n"}},
        ),
        (
            "amazon.nova-canvas-v1:0",
            {"image_generation_config": {"futureOption": True}},
            {
                "taskType": "TEXT_IMAGE",
                "textToImageParams": {"text": "a red bicycle"},
                "imageGenerationConfig": {"numberOfImages": 1, "futureOption": True},
            },
        ),
    ],
)
def test_build_request_amazon_body(model: str, kwargs: dict[str, Any], expected: dict[str, Any]) -> None:
    """Titan and Nova get taskType, the task's parameters and imageGenerationConfig, field by field."""
    assert [expected] == bodies(model, **kwargs)


def test_build_request_nova_n_beyond_five_splits_with_new_seed() -> None:
    """Nova makes at most 5 per call: n=7 is 5 + 2 images, the second call from the default seed plus one."""
    sent = bodies("amazon.nova-canvas-v1:0", n=7)

    assert [body["imageGenerationConfig"]["numberOfImages"] for body in sent] == [5, 2]
    assert [body["imageGenerationConfig"].get("seed") for body in sent] == [None, 13]


def test_validate_params_nova_rounds_size_to_sixteen() -> None:
    """Nova sizes not on a multiple of 16 are rounded, with a warning."""
    request, _, _, notes = prepare("amazon.nova-canvas-v1:0", size="1000x600")

    assert request.size == "992x608"
    assert any("992x608" in note for note in notes)


@pytest.mark.parametrize("size", ["4096x4096", "4000x600", "200x200"])
def test_validate_params_nova_impossible_size(size: str) -> None:
    """Nova sizes beyond its side, ratio or pixel limits are refused with the rules listed."""
    with pytest.raises(UnsupportedParamsError, match="multiple of 16") as info:
        prepare("amazon.nova-canvas-v1:0", size=size)

    assert info.value.param == "size"


def test_validate_params_titan_picks_nearest_table_size() -> None:
    """Titan approximates an OpenAI size to the closest size in its table, with a warning."""
    request, _, _, notes = prepare("amazon.titan-image-generator-v1", size="1536x1024")

    assert request.size == "1152x768"
    assert notes


def test_validate_params_titan_low_quality_warns() -> None:
    """quality='low' has no Titan tier: it is sent as standard, with a warning."""
    request, _, _, notes = prepare("amazon.titan-image-generator-v2:0", quality="low")

    assert (
        bodies("amazon.titan-image-generator-v2:0", quality="low")[0]["imageGenerationConfig"]["quality"] == "standard"
    )
    assert request.quality == "low"
    assert any("standard" in note for note in notes)


@pytest.mark.parametrize(
    ("model", "kwargs", "param"),
    [
        ("amazon.titan-image-generator-v1", {"condition_image": "aW1n"}, "condition_image"),
        ("amazon.titan-image-generator-v1", {"task_type": "BACKGROUND_REMOVAL"}, "task_type"),
        ("amazon.titan-image-generator-v1", {"style": "PHOTOREALISM"}, "style"),
        ("amazon.nova-canvas-v1:0", {"style": "vivid"}, "style"),
        (
            "amazon.nova-canvas-v1:0",
            {"task_type": "INPAINTING", "in_painting_params": {"image": "aW1n"}},
            "in_painting_params",
        ),
        ("amazon.nova-canvas-v1:0", {"task_type": "INPAINTING", "out_painting_params": {}}, "out_painting_params"),
        ("amazon.nova-canvas-v1:0", {"image_generation_config": {"numberOfImages": 3}}, "image_generation_config"),
        ("amazon.nova-canvas-v1:0", {"image_generation_config": {"width": 512}}, "image_generation_config"),
        ("amazon.nova-canvas-v1:0", {"text_to_image_params": {"text": "other"}}, "text_to_image_params"),
        ("amazon.nova-canvas-v1:0", {"text_to_image_params": "x"}, "text_to_image_params"),
        (
            "amazon.nova-canvas-v1:0",
            {"task_type": "BACKGROUND_REMOVAL", "background_removal_params": {"image": "a"}, "n": 2},
            "n",
        ),
        (
            "amazon.nova-canvas-v1:0",
            {"task_type": "IMAGE_VARIATION", "image_variation_params": {"images": ["a"]}, "condition_image": "a"},
            "condition_image",
        ),
        ("amazon.nova-canvas-v1:0", {"control_mode": "CANNY_EDGE"}, "control_mode"),
        ("amazon.nova-canvas-v1:0", {"seed": 858993460}, "seed"),
        ("amazon.nova-canvas-v1:0", {"cfgScale": 1.0}, "cfg_scale"),
        ("amazon.nova-canvas-v1:0", {"cfgScale": 5, "cfg_scale": 5}, "cfg_scale"),
        ("amazon.titan-image-generator-v2:0", {"prompt": "x" * 513}, "prompt"),
        ("amazon.nova-canvas-v1:0", {"n": 11}, "n"),
    ],
)
def test_validate_params_amazon_refuses_what_does_not_apply(model: str, kwargs: dict[str, Any], param: str) -> None:
    """Titan / Nova parameters that do not apply to the model or task are refused by name."""
    prompt = kwargs.pop("prompt", "a red bicycle")
    with pytest.raises(UnsupportedParamsError) as info:
        prepare(model, prompt=prompt, **kwargs)

    assert param == info.value.param


# --------------------------------------------------------------------------- every family


@pytest.mark.parametrize(
    "model",
    [
        "stability.stable-diffusion-xl-v1",
        "stability.sd3-5-large-v1:0",
        "amazon.titan-image-generator-v1",
        "amazon.nova-canvas-v1:0",
    ],
)
@pytest.mark.parametrize(("param", "instead"), [("numberOfImages", "n="), ("samples", "n="), ("width", "size=")])
def test_validate_params_redirects_to_openai_names(model: str, param: str, instead: str) -> None:
    """Image counts and pixel sizes as keyword arguments are refused with the OpenAI-style name to use."""
    with pytest.raises(UnsupportedParamsError, match=instead) as info:
        prepare(model, **{param: 2})

    assert param == info.value.param


@pytest.mark.parametrize(
    "model", ["stability.stable-diffusion-xl-v1", "stability.stable-image-core-v1:1", "amazon.nova-canvas-v1:0"]
)
def test_validate_params_url_response_format_says_b64_only(model: str) -> None:
    """response_format='url' is refused with a message that Bedrock returns base64 only."""
    with pytest.raises(UnsupportedParamsError, match="base64 only") as info:
        prepare(model, response_format="url")

    assert info.value.param == "response_format"


def test_validate_params_unknown_family_asks_for_base_model() -> None:
    """An ARN with no recognisable family is refused with the base_model= hint."""
    arn = "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc123"
    with pytest.raises(UnsupportedParamsError, match="base_model="):
        prepare(arn)


def test_build_request_base_model_gives_arn_its_family() -> None:
    """With base_model=, a provisioned-model ARN is built as that family and sent to its ARN, percent-encoded."""
    arn = "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abc123"
    sent = build(arn, settings={"base_model": "amazon.nova-canvas-v1:0"}, size="1024x1024")

    assert json.loads(sent[0].content)["taskType"] == "TEXT_IMAGE"
    assert (
        sent[0].url.raw_path
        == b"/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aprovisioned-model%2Fabc123/invoke"
    )


@pytest.mark.parametrize(
    ("model", "family"),
    [
        ("us.amazon.nova-canvas-v1:0", "nova-canvas"),
        ("eu.amazon.titan-image-generator-v2:0", "titan-image"),
        ("apac.stability.stable-image-core-v1:1", "stability-3"),
        ("us.stability.stable-diffusion-xl-v1", "stability-sdxl"),
        ("arn:aws:bedrock:us-east-1:1:inference-profile/us.amazon.nova-canvas-v1:0", "nova-canvas"),
        ("amazon.titan-image-generator-v1:0", "titan-image"),
    ],
)
def test_catalogue_lookup_resolves_profiles_to_family(model: str, family: str) -> None:
    """Cross-region profile ids and ARNs find their model's catalogue entry (and so its prices)."""
    info = CATALOGUE.lookup(model)

    assert (True, family) == (info.known, info.extra["family"])
    assert info.pricing is not None


def test_build_request_encodes_colon_in_path() -> None:
    """A ':' in the model id is sent as %3A in the path, once."""
    sent = build("amazon.nova-canvas-v1:0")[0]

    assert str(sent.url) == "https://bedrock-runtime.us-east-1.amazonaws.com/model/amazon.nova-canvas-v1%3A0/invoke"


def test_build_request_api_base_overrides_endpoint() -> None:
    """api_base replaces the regional endpoint (VPC endpoints, tests); the path stays the same."""
    request, deployment, info, _ = prepare("amazon.nova-canvas-v1:0")
    deployment = Deployment(
        provider="bedrock", model=deployment.model, api_base="http://127.0.0.1:9/vpc/", settings=REGION
    )

    sent = provider.build_request(request=request, deployment=deployment, model=info, auth=IDENTITY)

    assert isinstance(sent, httpx.Request)
    assert str(sent.url) == "http://127.0.0.1:9/vpc/model/amazon.nova-canvas-v1%3A0/invoke"


def test_build_request_guardrail_params_are_headers() -> None:
    """Guardrail and trace options go in Bedrock's headers, never in the model's body."""
    sent = build("amazon.nova-canvas-v1:0", guardrail_identifier="gr-1", guardrail_version="DRAFT", trace="ENABLED")[0]

    assert (
        sent.headers["x-amzn-bedrock-guardrailidentifier"],
        sent.headers["x-amzn-bedrock-guardrailversion"],
        sent.headers["x-amzn-bedrock-trace"],
    ) == ("gr-1", "DRAFT", "ENABLED")
    assert "guardrail_identifier" not in json.loads(sent.content)
