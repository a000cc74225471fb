"""
fal's image models: each one's input fields, sizes, edit inputs and price, as data.

fal hosts each model at its own id with its own schema. The models listed here are checked
against theirs (from each model's API page); any other model id is forwarded as given
(sources in the provider docs page).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pixmux.catalogue import Catalogue, InputLimits, ModelInfo, Price, Pricing

PROVIDER = "fal"
QUEUE_API_BASE = "https://queue.fal.run"
SYNC_API_BASE = "https://fal.run"

#: fal's named sizes for ``image_size`` (a ``{"width", "height"}`` object is accepted too).
IMAGE_SIZES = frozenset({"square_hd", "square", "portrait_4_3", "portrait_16_9", "landscape_4_3", "landscape_16_9"})
RATIOS = ("21:9", "16:9", "4:3", "3:2", "1:1", "2:3", "3:4", "9:16", "9:21")
GPT_SIZES = ("1024x1024", "1536x1024", "1024x1536")
_MEDIA = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif", "image/avif"})
_FORMATS: Mapping[str, frozenset[Any]] = {"output_format": frozenset({"jpeg", "png"})}
_COMMON = frozenset({"seed", "output_format", "enable_safety_checker", "image_size"})
_BFL = frozenset({"safety_tolerance"})
_TOLERANCE = {"safety_tolerance": frozenset({"1", "2", "3", "4", "5", "6", 1, 2, 3, 4, 5, 6})}


def _info(
    name: str,
    *,
    description: str,
    params: frozenset[str] = frozenset(),
    values: Mapping[str, frozenset[Any]] | None = None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    size_rule: str = "image_size",
    max_n: int = 4,
    image_field: str | None = None,
    max_images: int | None = None,
    mask_field: str | None = None,
    edit_only: bool = False,
    usd: float | None = None,
    usd_per_mp: float | None = None,
    qualities: frozenset[str] = frozenset(),
    extra_sizes: frozenset[str] = frozenset(),
) -> ModelInfo:
    operations = frozenset({"edit"}) if edit_only else frozenset({"generate"})
    inputs = None
    if image_field:
        inputs = InputLimits(max_images=max_images, media_types=_MEDIA, mask="optional" if mask_field else "none")
    base = _COMMON if size_rule == "image_size" else (_COMMON - {"image_size"}) | {"aspect_ratio"}
    if size_rule == "gpt":
        base = _COMMON - {"enable_safety_checker"}
    return ModelInfo(
        name=name,
        qualities=qualities,
        styles=frozenset(),
        response_formats=frozenset({"url", "b64_json"}),
        max_n=max_n,
        params=base | params,
        param_values={**_FORMATS, **(values or {})},
        param_ranges=dict(ranges or {}),
        pricing=None if usd is None else Pricing(per_image=(Price(usd=usd),)),
        description=description,
        operations=operations,
        inputs=inputs,
        extra={
            "size_rule": size_rule,
            "image_field": image_field,
            "mask_field": mask_field,
            "usd_per_mp": usd_per_mp,
            "named_sizes": IMAGE_SIZES | extra_sizes,
        },
    )


def _pair(name: str, label: str, *, params: frozenset[str], edit_images: int | None, **kwargs: Any) -> list[ModelInfo]:
    """A text-to-image id and its ``/edit`` twin taking ``image_urls``."""
    return [
        _info(name, description=f"{label}: text-to-image", params=params, **kwargs),
        _info(
            f"{name}/edit",
            description=f"{label}: editing with reference images (image_urls)",
            params=params,
            image_field="image_urls",
            max_images=edit_images,
            edit_only=True,
            **kwargs,
        ),
    ]


# Prices: fal's model pages (US$). schnell and dev are billed per output megapixel, rounded up;
# Kontext and Seedream 4 per image. FLUX.2 (first megapixel plus extra, inputs counted), GPT Image
# (quality x size plus tokens) and the others have no price here: resp.cost is None for them.
MODELS: tuple[ModelInfo, ...] = (
    _info(
        "fal-ai/flux/schnell",
        description="FLUX.1 [schnell]",
        params=frozenset({"num_inference_steps", "acceleration"}),
        values={"acceleration": frozenset({"none", "regular", "high"})},
        ranges={"num_inference_steps": (1, 12)},
        usd_per_mp=0.003,
    ),
    _info(
        "fal-ai/flux/dev",
        description="FLUX.1 [dev]",
        params=frozenset({"num_inference_steps", "guidance_scale", "acceleration"}),
        values={"acceleration": frozenset({"none", "regular", "high"})},
        ranges={"num_inference_steps": (1, 50), "guidance_scale": (1, 20)},
        usd_per_mp=0.025,
    ),
    _info(
        "fal-ai/flux-pro/v1.1",
        description="FLUX1.1 [pro] (BFL partner model)",
        params=_BFL,
        values=_TOLERANCE,
    ),
    _info(
        "fal-ai/flux-pro/v1.1-ultra",
        description="FLUX1.1 [pro] Ultra: aspect ratios, raw mode",
        params=_BFL | {"raw"},
        values=_TOLERANCE,
        size_rule="ratio",
    ),
    *(
        _info(
            name,
            description=f"{label}: instruction editing of one image (image_url)",
            params=_BFL | {"guidance_scale"},
            values=_TOLERANCE,
            size_rule="ratio",
            image_field="image_url",
            max_images=1,
            edit_only=True,
            usd=usd,
        )
        for name, label, usd in (
            ("fal-ai/flux-pro/kontext", "FLUX.1 Kontext [pro]", 0.04),
            ("fal-ai/flux-pro/kontext/max", "FLUX.1 Kontext [max]", 0.08),
        )
    ),
    *_pair("fal-ai/flux-2-pro", "FLUX.2 [pro]", params=_BFL, values=_TOLERANCE, edit_images=None),
    *_pair("fal-ai/flux-2-max", "FLUX.2 [max]", params=_BFL, values=_TOLERANCE, edit_images=None),
    *_pair(
        "fal-ai/flux-2-flex",
        "FLUX.2 [flex]",
        params=_BFL | {"num_inference_steps", "guidance_scale"},
        values=_TOLERANCE,
        edit_images=None,
    ),
    *_pair(
        "fal-ai/flux-2", "FLUX.2 [dev]", params=frozenset({"num_inference_steps", "guidance_scale"}), edit_images=None
    ),
    _info(
        "fal-ai/bytedance/seedream/v4/text-to-image",
        description="Seedream 4.0: up to 4K, 1-6 images",
        params=frozenset({"max_images", "enhance_prompt_mode"}),
        values={"enhance_prompt_mode": frozenset({"standard", "fast"})},
        ranges={"max_images": (1, 6)},
        max_n=6,
        usd=0.03,
        extra_sizes=frozenset({"auto", "auto_2K", "auto_4K"}),
    ),
    _info(
        "fal-ai/bytedance/seedream/v4/edit",
        description="Seedream 4.0 editing with up to 10 reference images",
        params=frozenset({"max_images", "enhance_prompt_mode"}),
        values={"enhance_prompt_mode": frozenset({"standard", "fast"})},
        ranges={"max_images": (1, 6)},
        max_n=6,
        usd=0.03,
        image_field="image_urls",
        max_images=10,
        edit_only=True,
        extra_sizes=frozenset({"auto", "auto_2K", "auto_4K"}),
    ),
    _info(
        "fal-ai/qwen-image",
        description="Qwen-Image: text rendering, negative prompts",
        params=frozenset({"negative_prompt", "num_inference_steps", "guidance_scale", "acceleration"}),
        values={"acceleration": frozenset({"none", "regular", "high"})},
    ),
    _info(
        "fal-ai/qwen-image-edit",
        description="Qwen-Image-Edit: instruction editing of one image (image_url)",
        params=frozenset({"negative_prompt", "num_inference_steps", "guidance_scale", "acceleration"}),
        values={"acceleration": frozenset({"none", "regular", "high"})},
        image_field="image_url",
        max_images=1,
        edit_only=True,
    ),
    _info(
        "fal-ai/gpt-image-1.5",
        description="GPT Image 1.5 through fal: sizes and qualities as OpenAI's",
        params=frozenset({"background"}),
        values={
            "background": frozenset({"auto", "transparent", "opaque"}),
            "output_format": frozenset({"jpeg", "png", "webp"}),
        },
        size_rule="gpt",
        qualities=frozenset({"low", "medium", "high"}),
    ),
    _info(
        "fal-ai/gpt-image-1.5/edit",
        description="GPT Image 1.5 editing (image_urls, optional mask_image_url)",
        params=frozenset({"background", "input_fidelity"}),
        values={
            "background": frozenset({"auto", "transparent", "opaque"}),
            "output_format": frozenset({"jpeg", "png", "webp"}),
            "input_fidelity": frozenset({"low", "high"}),
        },
        size_rule="gpt",
        qualities=frozenset({"low", "medium", "high"}),
        image_field="image_urls",
        mask_field="mask_image_url",
        edit_only=True,
    ),
)


def _unknown(name: str) -> ModelInfo:
    # Any other fal model id: forwarded as given; size as an image_size object, an edit's images as image_urls.
    return ModelInfo(
        name=name,
        known=False,
        response_formats=frozenset({"url", "b64_json"}),
        max_n=None,
        operations=frozenset({"generate", "edit"}),
        extra={
            "size_rule": "image_size",
            "image_field": "image_urls",
            "mask_field": "mask_url",
            "usd_per_mp": None,
            "named_sizes": IMAGE_SIZES,
        },
    )


CATALOGUE = Catalogue(
    provider=PROVIDER,
    models={info.name: info for info in MODELS},
    env={"api_key": ("FAL_KEY", "FAL_API_KEY"), "api_base": ("FAL_API_BASE",)},
    settings=frozenset({"poll_interval", "mode", "object_lifetime"}),
    default_api_base=QUEUE_API_BASE,
    unknown=_unknown,
)
