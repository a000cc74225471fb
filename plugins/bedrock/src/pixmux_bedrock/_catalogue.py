"""
Bedrock's image models: what each accepts and what each costs.

Prices are US$ per image from the Amazon Bedrock pricing page (on-demand, US regions).
Rules whose ``size`` is set are *tiers*: ``"512x512"`` prices every image of at most
512x512 pixels, ``"1024x1024"`` every image up to that many pixels (see :func:`price_tier`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
from pixmux.catalogue import Catalogue, InputLimits, ModelInfo, Price, Pricing

from pixmux_bedrock import _families as fam

PROVIDER = "bedrock"
DEFAULT_API_BASE = "https://bedrock-runtime.us-east-1.amazonaws.com"

#: Keyword arguments that configure the deployment (credentials, region), never sent in a body.
SETTINGS = frozenset(
    {
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "aws_profile_name",
        "aws_region_name",
        "aws_role_name",
        "aws_session_name",
        "aws_external_id",
        "aws_session_duration",
        "aws_sts_endpoint",
        "aws_web_identity_token",
        "base_model",
    }
)
ENV: Mapping[str, tuple[str, ...]] = {
    "api_key": ("AWS_BEARER_TOKEN_BEDROCK",),
    "api_base": ("AWS_BEDROCK_RUNTIME_ENDPOINT",),
    "aws_access_key_id": ("AWS_ACCESS_KEY_ID",),
    "aws_secret_access_key": ("AWS_SECRET_ACCESS_KEY",),
    "aws_session_token": ("AWS_SESSION_TOKEN",),
    "aws_profile_name": ("AWS_PROFILE",),
    "aws_region_name": ("AWS_REGION_NAME", "AWS_REGION", "AWS_DEFAULT_REGION"),
    "aws_role_name": ("AWS_ROLE_NAME",),
    "aws_session_name": ("AWS_SESSION_NAME",),
    "aws_web_identity_token": ("AWS_WEB_IDENTITY_TOKEN",),
}

_STYLE_PRESETS = frozenset(
    {
        "3d-model", "analog-film", "anime", "cinematic", "comic-book", "digital-art", "enhance", "fantasy-art",
        "isometric", "line-art", "low-poly", "modeling-compound", "neon-punk", "origami", "photographic",
        "pixel-art", "tile-texture",
    }
)  # fmt: skip
_NOVA_STYLES = frozenset(
    {
        "3D_ANIMATED_FAMILY_FILM", "DESIGN_SKETCH", "FLAT_VECTOR_ILLUSTRATION", "GRAPHIC_NOVEL_ILLUSTRATION",
        "MAXIMALISM", "MIDCENTURY_RETRO", "PHOTOREALISM", "SOFT_DIGITAL_PAINTING",
    }
)  # fmt: skip
_HEADERS = frozenset(fam.HEADER_PARAMS)
_HEADER_VALUES: Mapping[str, frozenset[Any]] = {"trace": frozenset({"ENABLED", "DISABLED", "ENABLED_FULL"})}
#: Every family fans ``n`` out over several requests past its own per-call limit; this caps the fan-out.
MAX_N = 10
_AMAZON_QUALITIES = frozenset({"auto", *fam.AMAZON_QUALITY})

# --------------------------------------------------------------------------- SDXL

_SDXL_PARAMS = (
    frozenset(
        {"negative_prompt", "cfg_scale", "clip_guidance_preset", "sampler", "seed", "steps", "style_preset", "extras"}
    )
    | _HEADERS
)
_SDXL_VALUES: Mapping[str, frozenset[Any]] = {
    "clip_guidance_preset": frozenset({"FAST_BLUE", "FAST_GREEN", "NONE", "SIMPLE", "SLOW", "SLOWER", "SLOWEST"}),
    "sampler": frozenset(
        {"DDIM", "DDPM", "K_DPMPP_2M", "K_DPMPP_2S_ANCESTRAL", "K_DPM_2", "K_DPM_2_ANCESTRAL", "K_EULER",
         "K_EULER_ANCESTRAL", "K_HEUN", "K_LMS"}
    ),
    "style_preset": _STYLE_PRESETS,
    **_HEADER_VALUES,
}  # fmt: skip
_SDXL_RANGES = {"cfg_scale": (0.0, 35.0), "seed": (0.0, 4294967295.0), "steps": (10.0, 150.0)}


def _sdxl(name: str, description: str, pricing: Pricing, **extra: Any) -> ModelInfo:
    return ModelInfo(
        name=name,
        sizes=None,  # mapped (and approximated) by the family's size rule
        qualities=frozenset({"auto"}),
        styles=frozenset(),
        response_formats=frozenset({"b64_json"}),
        max_n=MAX_N,
        max_prompt_chars=2000,
        params=_SDXL_PARAMS,
        param_values=_SDXL_VALUES,
        param_ranges=_SDXL_RANGES,
        pricing=pricing,
        description=description,
        extra={"family": fam.SDXL, "per_call": 1, "seed_max": 4294967295, "seed_default": None, **extra},
    )


# --------------------------------------------------------------------------- SD3 / Stable Image

_S3_PARAMS = frozenset({"aspect_ratio", "negative_prompt", "seed", "output_format"}) | _HEADERS
_S3_VALUES: Mapping[str, frozenset[Any]] = {
    "aspect_ratio": frozenset(fam.STABILITY3_RATIOS),
    "output_format": frozenset({"jpeg", "png"}),
    "mode": frozenset({"text-to-image", "image-to-image"}),
    "style_preset": _STYLE_PRESETS,
    **_HEADER_VALUES,
}
_S3_RANGES = {"seed": (0.0, 4294967294.0), "strength": (0.0, 1.0)}
_MB = 1024 * 1024
#: SD3 / SD3.5 Large image-to-image: one PNG, JPEG or WebP input (Stability's rule), no mask.
_S3_INPUTS = InputLimits(max_images=1, media_types=frozenset({"image/png", "image/jpeg", "image/webp"}), mask="none")


def _stability3(
    name: str, description: str, usd: float, *, image_to_image: bool = False, styles: bool = False
) -> ModelInfo:
    params = (
        _S3_PARAMS
        | ({"mode", "image", "strength"} if image_to_image else set())
        | ({"style_preset"} if styles else set())
    )
    return ModelInfo(
        name=name,
        sizes=None,
        qualities=frozenset({"auto"}),
        styles=frozenset(),
        response_formats=frozenset({"b64_json"}),
        max_n=MAX_N,
        max_prompt_chars=10000,
        params=frozenset(params),
        param_values=_S3_VALUES,
        param_ranges=_S3_RANGES,
        pricing=Pricing(per_image=(Price(usd=usd),)),
        description=description,
        extra={"family": fam.STABILITY3, "per_call": 1, "seed_max": 4294967294, "seed_default": None},
        operations=frozenset({"generate", "edit"}) if image_to_image else frozenset({"generate"}),
        inputs=_S3_INPUTS if image_to_image else None,
    )


# --------------------------------------------------------------------------- Titan / Nova

_TASK_OBJECTS = frozenset(fam.TASK_PARAMS.values()) | {"image_generation_config"}
_AMAZON_COMMON = (
    frozenset(
        {"task_type", "negative_prompt", "cfg_scale", "seed", "mask_prompt", "outpainting_mode", "similarity_strength"}
    )
    | _TASK_OBJECTS
    | _HEADERS
)
#: Titan / Nova inputs: PNG or JPEG, 1-5 images for a variation (one for the other tasks), a black-and-white mask
#: the size of the image.
_AMAZON_INPUTS = InputLimits(
    max_images=5, media_types=frozenset({"image/png", "image/jpeg"}), mask="optional", mask_same_size=True
)
_CONDITIONING = frozenset({"condition_image", "control_mode", "control_strength"})


def _amazon(
    name: str,
    description: str,
    *,
    family: str,
    tasks: frozenset[str],
    conditioning: bool,
    seed_max: int,
    seed_default: int,
    prompt_chars: int,
    pricing: Pricing,
    styles: frozenset[str] = frozenset(),
    **extra: Any,
) -> ModelInfo:
    params = _AMAZON_COMMON | (_CONDITIONING if conditioning else frozenset())
    params = params - {fam.TASK_PARAMS[task] for task in fam.TASK_PARAMS if task not in tasks}
    inputs = _AMAZON_INPUTS if "BACKGROUND_REMOVAL" in tasks else attrs.evolve(_AMAZON_INPUTS, max_images=1)
    return ModelInfo(
        name=name,
        sizes=None,
        qualities=_AMAZON_QUALITIES,
        styles=styles,
        response_formats=frozenset({"b64_json"}),
        max_n=MAX_N,
        max_prompt_chars=prompt_chars,
        params=params,
        param_values={
            "task_type": tasks,
            "outpainting_mode": frozenset({"DEFAULT", "PRECISE"}),
            "control_mode": frozenset({"CANNY_EDGE", "SEGMENTATION"}),
            **_HEADER_VALUES,
        },
        param_ranges={
            "cfg_scale": (1.1, 10.0),
            "seed": (0.0, float(seed_max)),
            "control_strength": (0.0, 1.0),
            "similarity_strength": (0.2, 1.0),
        },
        pricing=pricing,
        description=description,
        extra={"family": family, "per_call": 5, "seed_max": seed_max, "seed_default": seed_default, **extra},
        operations=frozenset({"generate", "edit", "variation"}),
        inputs=inputs,
    )


# --------------------------------------------------------------------------- Stability Image Services (edits)

_EDIT_COMMON = frozenset({"seed", "output_format"}) | _HEADERS
_EDIT_STYLED = _EDIT_COMMON | {"negative_prompt", "style_preset"}
_EDIT_INPUTS = InputLimits(max_images=1, media_types=frozenset({"image/png", "image/jpeg", "image/webp"}), mask="none")


def _stability_edit(
    name: str,
    description: str,
    params: frozenset[str],
    *,
    images: tuple[str, ...] = ("image",),
    mask: str = "none",
    ranges: Mapping[str, tuple[float, float]] | None = None,
    max_n: int = MAX_N,
) -> ModelInfo:
    return ModelInfo(
        name=name,
        sizes=frozenset(),  # the output keeps the input's size
        qualities=frozenset({"auto"}),
        styles=frozenset(),
        response_formats=frozenset({"b64_json"}),
        max_n=max_n,
        max_prompt_chars=10000,
        params=params,
        param_values={
            "style_preset": _STYLE_PRESETS,
            "output_format": frozenset({"png", "jpeg", "webp"}),
            **_HEADER_VALUES,
        },
        param_ranges={"seed": (0.0, 4294967294.0), **(ranges or {})},
        # AWS lists a price per image for each service on the Bedrock pricing page, per region; pixmux
        # could not verify the figures from that page, so it reports no cost rather than a guess
        # (a deployment's model_info.output_cost_per_image prices them: docs/edits.md, "Cost of an edit").
        pricing=None,
        description=f"{description} (Stability AI Image Services; cross-region profile such as us.{name})",
        extra={"family": fam.STABILITY_EDIT, "per_call": 1, "image_fields": images, "seed_max": 4294967294},
        operations=frozenset({"edit"}),
        inputs=attrs.evolve(_EDIT_INPUTS, max_images=len(images), mask=mask),
    )


_GROW = {"grow_mask": (0.0, 100.0)}
_STABILITY_EDITS = (
    _stability_edit(
        "stability.stable-image-inpaint-v1:0", "Inpaint: mask (white = edit) or the image's alpha",
        _EDIT_STYLED | {"grow_mask"}, mask="optional", ranges=_GROW,
    ),
    _stability_edit(
        "stability.stable-outpaint-v1:0", "Outpaint: left, right, up, down in pixels",
        _EDIT_COMMON | {"left", "right", "up", "down", "creativity", "style_preset"},
        ranges={"left": (0.0, 2000.0), "right": (0.0, 2000.0), "up": (0.0, 2000.0), "down": (0.0, 2000.0),
                "creativity": (0.0, 1.0)},
    ),
    _stability_edit(
        "stability.stable-image-search-replace-v1:0", "Search and replace: search_prompt names what to replace",
        _EDIT_STYLED | {"search_prompt", "grow_mask"}, ranges={"grow_mask": (0.0, 20.0)},
    ),
    _stability_edit(
        "stability.stable-image-search-recolor-v1:0", "Search and recolor: select_prompt names what to recolor",
        _EDIT_STYLED | {"select_prompt", "grow_mask"}, ranges={"grow_mask": (0.0, 20.0)},
    ),
    _stability_edit(
        "stability.stable-image-erase-object-v1:0", "Erase object: the mask marks what to erase",
        _EDIT_COMMON | {"grow_mask"}, mask="optional", ranges={"grow_mask": (0.0, 20.0)},
    ),
    _stability_edit(
        "stability.stable-image-remove-background-v1:0", "Remove background (png or webp)", _EDIT_COMMON, max_n=1
    ),
    _stability_edit(
        "stability.stable-image-control-sketch-v1:0", "Control sketch: a sketch guides the image",
        _EDIT_STYLED | {"control_strength"}, ranges={"control_strength": (0.0, 1.0)},
    ),
    _stability_edit(
        "stability.stable-image-control-structure-v1:0", "Control structure: the image's structure guides it",
        _EDIT_STYLED | {"control_strength"}, ranges={"control_strength": (0.0, 1.0)},
    ),
    _stability_edit(
        "stability.stable-image-style-guide-v1:0", "Style guide: the image's style guides a new one",
        _EDIT_STYLED | {"fidelity", "aspect_ratio"}, ranges={"fidelity": (0.0, 1.0)},
    ),
    _stability_edit(
        "stability.stable-style-transfer-v1:0", "Style transfer: image=[content, style]",
        _EDIT_COMMON | {"negative_prompt", "style_strength", "composition_fidelity", "change_strength"},
        images=("init_image", "style_image"),
        ranges={"style_strength": (0.0, 1.0), "composition_fidelity": (0.0, 1.0), "change_strength": (0.1, 1.0)},
    ),
    _stability_edit("stability.stable-fast-upscale-v1:0", "Fast upscale (4x)", _EDIT_COMMON, max_n=1),
    _stability_edit(
        "stability.stable-conservative-upscale-v1:0", "Conservative upscale",
        _EDIT_COMMON | {"negative_prompt", "creativity"}, ranges={"creativity": (0.2, 0.5)}, max_n=1,
    ),
    _stability_edit(
        "stability.stable-creative-upscale-v1:0", "Creative upscale", _EDIT_STYLED | {"creativity"},
        ranges={"creativity": (0.1, 0.5)}, max_n=1,
    ),
)  # fmt: skip


_TITAN_V1_TASKS = frozenset({"TEXT_IMAGE", "INPAINTING", "OUTPAINTING", "IMAGE_VARIATION"})
_ALL_TASKS = frozenset(fam.TASK_FIELDS)


def _titan_pricing() -> Pricing:
    return Pricing(
        per_image=(
            Price(usd=0.008, size="512x512", quality="standard"),
            Price(usd=0.01, size="512x512", quality="premium"),
            Price(usd=0.01, size="1024x1024", quality="standard"),
            Price(usd=0.012, size="1024x1024", quality="premium"),
        ),
        default_size="1024x1024",
        default_quality="standard",
    )


_MODELS = (
    _sdxl(
        "stability.stable-diffusion-xl-v1",
        "Stability SDXL 1.0 (legacy on Bedrock): nine fixed sizes; priced by steps (over 50 is premium)",
        Pricing(
            per_image=(Price(usd=0.04, quality="standard"), Price(usd=0.08, quality="premium")),
            default_quality="standard",
        ),
        sizes=fam.SDXL_V1_SIZES,
    ),
    _sdxl(
        "stability.stable-diffusion-xl-v0",
        "Stability SDXL 0.8 (preview; retired on Bedrock in most regions)",
        Pricing(
            per_image=(
                Price(usd=0.018, size="512x512", quality="standard"),
                Price(usd=0.036, size="512x512", quality="premium"),
                Price(usd=0.036, size="1024x1024", quality="standard"),
                Price(usd=0.072, size="1024x1024", quality="premium"),
            ),
            default_size="512x512",
            default_quality="standard",
        ),
        size_rule="multiple-of-64",
    ),
    _stability3("stability.sd3-large-v1:0", "Stable Diffusion 3 Large (legacy; us-west-2)", 0.08, image_to_image=True),
    _stability3("stability.sd3-5-large-v1:0", "Stable Diffusion 3.5 Large (us-west-2)", 0.08, image_to_image=True),
    _stability3("stability.stable-image-core-v1:0", "Stable Image Core (us-west-2)", 0.04, styles=True),
    _stability3("stability.stable-image-core-v1:1", "Stable Image Core v1.1 (us-west-2)", 0.04, styles=True),
    _stability3("stability.stable-image-ultra-v1:0", "Stable Image Ultra (us-west-2)", 0.14),
    _stability3("stability.stable-image-ultra-v1:1", "Stable Image Ultra v1.1 (us-west-2)", 0.14),
    _amazon(
        "amazon.titan-image-generator-v1",
        "Amazon Titan Image Generator G1 v1 (legacy): fixed size table, 1-5 images per call",
        family=fam.TITAN,
        tasks=_TITAN_V1_TASKS,
        conditioning=False,
        seed_max=2147483646,
        seed_default=42,
        prompt_chars=512,
        pricing=_titan_pricing(),
        sizes=fam.TITAN_SIZES,
    ),
    _amazon(
        "amazon.titan-image-generator-v2:0",
        "Amazon Titan Image Generator G1 v2 (legacy; EOL 2026-06-30): conditioning, colours, background removal",
        family=fam.TITAN,
        tasks=_ALL_TASKS,
        conditioning=True,
        seed_max=2147483646,
        seed_default=42,
        prompt_chars=512,
        pricing=_titan_pricing(),
        sizes=fam.TITAN_SIZES,
    ),
    _amazon(
        "amazon.nova-canvas-v1:0",
        "Amazon Nova Canvas: any size from 320 to 4096 px per side (multiples of 16, up to 2048x2048 pixels)",
        family=fam.NOVA,
        tasks=_ALL_TASKS,
        conditioning=True,
        seed_max=858993459,
        seed_default=12,
        prompt_chars=1024,
        styles=_NOVA_STYLES,
        pricing=Pricing(
            per_image=(
                Price(usd=0.04, size="1024x1024", quality="standard"),
                Price(usd=0.06, size="1024x1024", quality="premium"),
                Price(usd=0.06, size="2048x2048", quality="standard"),
                Price(usd=0.08, size="2048x2048", quality="premium"),
            ),
            default_size="1024x1024",
            default_quality="standard",
        ),
        size_rule="free",
    ),
    *_STABILITY_EDITS,
)

MODELS: Mapping[str, ModelInfo] = {info.name: info for info in _MODELS}


def normalize(name: str) -> str:
    """The catalogue key for a model id: an inference profile or ARN becomes its base model id."""
    base = fam.base_model_id(name)
    if base in MODELS:
        return base
    if base.endswith(":0") and base[:-2] in MODELS:  # amazon.titan-image-generator-v1:0
        return base[:-2]
    return base


def unknown(name: str) -> ModelInfo:
    """
    A lenient entry for a model the catalogue does not list: the family's request shape if the id
    names one (a new version), else an entry that validation refuses with a clear message.
    """
    family = fam.detect_family(name)
    template = {
        fam.SDXL: MODELS["stability.stable-diffusion-xl-v1"],
        fam.STABILITY3: MODELS["stability.stable-image-core-v1:1"],
        fam.TITAN: MODELS["amazon.titan-image-generator-v2:0"],
        fam.NOVA: MODELS["amazon.nova-canvas-v1:0"],
    }.get(family or "")
    if template is None:
        return ModelInfo(name=name, known=False)
    return ModelInfo(
        name=name,
        known=False,
        response_formats=frozenset({"b64_json"}),
        max_n=MAX_N,
        description=f"not in pixmux's catalogue; sent as a {family} model",
        extra=dict(template.extra),
    )


CATALOGUE = Catalogue(
    provider=PROVIDER,
    models=MODELS,
    env=ENV,
    settings=SETTINGS,
    default_api_base=DEFAULT_API_BASE,
    normalize=normalize,
    unknown=unknown,
)


def price_tier(info: ModelInfo, width: int | None, height: int | None) -> str | None:
    """The pricing tier label (``"512x512"``, ``"1024x1024"``, ``"2048x2048"``) for an image of this size."""
    if info.pricing is None or not any(rule.size for rule in info.pricing.per_image):
        return None
    if width is None or height is None:
        return info.pricing.default_size
    tiers = sorted({rule.size for rule in info.pricing.per_image if rule.size}, key=lambda s: int(s.split("x")[0]))
    pixels = width * height
    for tier in tiers:
        side = int(tier.split("x")[0])
        if pixels <= side * side:
            return tier
    return tiers[-1]
