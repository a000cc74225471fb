"""
Replicate's official image models: each one's input fields, output shape and price, as data.

Replicate runs any model behind one prediction resource, but every model has its own input
schema. The models listed here are checked against theirs (from each model's API page); any
other model or version is forwarded as given (sources in the provider docs page).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pixmux.catalogue import Catalogue, InputLimits, ModelInfo, Price, Pricing

PROVIDER = "replicate"
DEFAULT_API_BASE = "https://api.replicate.com/v1"

_FLUX_RATIOS = ("1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3", "9:16", "9:21")
_IMAGEN_RATIOS = ("1:1", "9:16", "16:9", "3:4", "4:3")
_IDEOGRAM_RATIOS = (
    "1:3", "3:1", "1:2", "2:1", "9:16", "16:9", "10:16", "16:10", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "1:1",
)  # fmt: skip
_MEDIA = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif"})
_OUTPUT_WEBP = frozenset({"webp", "jpg", "png"})
_OUTPUT_JPG = frozenset({"jpg", "png"})


def _info(
    name: str,
    *,
    description: str,
    params: frozenset[str],
    ratios: tuple[str, ...] | None,
    values: Mapping[str, frozenset[Any]] | None = None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    usd: float | None = None,
    n_field: str | None = None,
    max_n: int = 10,
    image_field: str | None = None,
    image_list: bool = False,
    max_images: int = 1,
    mask_field: str | None = None,
    mask_edit: str | None = None,
    size_rule: str = "ratio",
) -> ModelInfo:
    operations = frozenset({"generate", "edit"}) if image_field else frozenset({"generate"})
    inputs = None
    if image_field:
        inputs = InputLimits(
            max_images=max_images, media_types=_MEDIA, mask="required" if mask_field else "none", mask_same_size=True
        )
    extra_params = frozenset({n_field} if n_field else ()) | frozenset({image_field} if image_field else ())
    ratio_values = {"aspect_ratio": frozenset(ratios)} if ratios else {}
    return ModelInfo(
        name=name,
        sizes=None,  # WIDTHxHEIGHT is mapped onto the model's own fields (validate_params)
        qualities=frozenset(),
        styles=frozenset(),
        response_formats=frozenset({"url", "b64_json"}),
        max_n=max_n,
        params=params | extra_params | (frozenset({"aspect_ratio"}) if ratios else frozenset()),
        param_values={**ratio_values, **(values or {})},
        param_ranges=dict(ranges or {}),
        pricing=None if usd is None else Pricing(per_image=(Price(usd=usd),)),
        description=description,
        operations=operations,
        inputs=inputs,
        extra={
            "ratios": ratios or (),
            "n_field": n_field,
            "image_field": image_field,
            "image_list": image_list,
            "mask_field": mask_field,
            "mask_edit": mask_edit,  # the colour that marks the area to edit; an OpenAI alpha mask is converted
            "size_rule": size_rule,
        },
    )


_SCHNELL_PARAMS = frozenset(
    {
        "seed",
        "num_inference_steps",
        "output_format",
        "output_quality",
        "megapixels",
        "go_fast",
        "disable_safety_checker",
    }
)
_FLUX_VALUES: Mapping[str, frozenset[Any]] = {
    "output_format": _OUTPUT_WEBP,
    "megapixels": frozenset({"1", "0.25"}),
}
_BFL_PARAMS = frozenset({"seed", "output_format", "safety_tolerance", "prompt_upsampling"})

# Prices: US$ per output image for official models (replicate.com/pricing and the models' pages, as
# transcribed by third parties in 2026; Replicate's predictions carry no price). Models without a
# fixed per-image price we could confirm (FLUX.2 is per megapixel) have none: resp.cost is None.
MODELS: tuple[ModelInfo, ...] = (
    _info(
        "black-forest-labs/flux-schnell",
        description="FLUX.1 [schnell]: fast, up to 4 images per prediction",
        params=_SCHNELL_PARAMS,
        ratios=_FLUX_RATIOS,
        values=_FLUX_VALUES,
        ranges={"num_inference_steps": (1, 4), "output_quality": (0, 100)},
        usd=0.003,
        n_field="num_outputs",
        max_n=4,
    ),
    _info(
        "black-forest-labs/flux-dev",
        description="FLUX.1 [dev]: text-to-image, or image-to-image from one image",
        params=_SCHNELL_PARAMS | {"guidance", "prompt_strength"},
        ratios=_FLUX_RATIOS,
        values=_FLUX_VALUES,
        ranges={
            "num_inference_steps": (1, 50),
            "output_quality": (0, 100),
            "guidance": (0, 10),
            "prompt_strength": (0, 1),
        },
        usd=0.025,
        n_field="num_outputs",
        max_n=4,
        image_field="image",
    ),
    _info(
        "black-forest-labs/flux-1.1-pro",
        description="FLUX1.1 [pro]: one image per prediction; aspect_ratio='custom' takes width/height",
        params=_BFL_PARAMS | {"width", "height", "output_quality", "image_prompt"},
        ratios=(*_FLUX_RATIOS, "custom"),
        values={"output_format": _OUTPUT_WEBP},
        ranges={"width": (256, 1440), "height": (256, 1440), "safety_tolerance": (1, 6), "output_quality": (0, 100)},
        usd=0.04,
    ),
    *(
        _info(
            name,
            description=f"{label}: text-to-image or instruction editing of one image",
            params=_BFL_PARAMS,
            ratios=(*_FLUX_RATIOS, "match_input_image"),
            values={"output_format": _OUTPUT_JPG},
            ranges={"safety_tolerance": (0, 6)},
            usd=usd,
            image_field="input_image",
        )
        for name, label, usd in (
            ("black-forest-labs/flux-kontext-pro", "FLUX.1 Kontext [pro]", 0.04),
            ("black-forest-labs/flux-kontext-max", "FLUX.1 Kontext [max]", 0.08),
        )
    ),
    *(
        _info(
            f"black-forest-labs/{name}",
            description=f"{label}: text-to-image and editing with up to 8 reference images",
            params=_BFL_PARAMS | {"width", "height", "resolution", "output_quality"},
            ratios=(*_FLUX_RATIOS, "match_input_image", "custom"),
            values={"output_format": _OUTPUT_WEBP},
            ranges={"width": (256, 2048), "height": (256, 2048), "output_quality": (0, 100)},
            image_field="input_images",
            image_list=True,
            max_images=8,
        )
        for name, label in (
            ("flux-2-pro", "FLUX.2 [pro]"),
            ("flux-2-flex", "FLUX.2 [flex]"),
            ("flux-2-max", "FLUX.2 [max]"),
        )
    ),
    _info(
        "bytedance/seedream-4",
        description="Seedream 4: up to 4K, editing with up to 10 reference images",
        params=frozenset({"size", "width", "height", "enhance_prompt", "sequential_image_generation", "max_images"}),
        ratios=(*_FLUX_RATIOS, "match_input_image"),
        values={"sequential_image_generation": frozenset({"disabled", "auto"})},
        ranges={"width": (1024, 4096), "height": (1024, 4096), "max_images": (1, 15)},
        image_field="image_input",
        image_list=True,
        max_images=10,
        size_rule="seedream",
    ),
    *(
        _info(
            f"google/{name}",
            description=f"{label} on Replicate",
            params=frozenset({"safety_filter_level", "output_format", "image_size"}),
            ratios=_IMAGEN_RATIOS,
            values={
                "safety_filter_level": frozenset({"block_low_and_above", "block_medium_and_above", "block_only_high"}),
                "output_format": _OUTPUT_JPG,
                "image_size": frozenset({"1K", "2K"}),
            },
        )
        for name, label in (
            ("imagen-4", "Imagen 4"),
            ("imagen-4-ultra", "Imagen 4 Ultra"),
            ("imagen-4-fast", "Imagen 4 Fast"),
        )
    ),
    *(
        _info(
            f"ideogram-ai/{name}",
            description=f"{label}: text in images; inpainting with image and mask (black is repainted)",
            params=frozenset({"seed", "resolution", "magic_prompt_option", "style_type", "style_reference_images"}),
            ratios=_IDEOGRAM_RATIOS,
            values={
                "magic_prompt_option": frozenset({"Auto", "On", "Off"}),
                "style_type": frozenset({"None", "Auto", "General", "Realistic", "Design"}),
            },
            usd=usd,
            image_field="image",
            mask_field="mask",
            mask_edit="black",
        )
        for name, label, usd in (
            ("ideogram-v3-turbo", "Ideogram 3.0 Turbo", None),
            ("ideogram-v3-balanced", "Ideogram 3.0 Balanced", None),
            ("ideogram-v3-quality", "Ideogram 3.0 Quality", 0.09),
        )
    ),
)

_BY_NAME = {info.name: info for info in MODELS}


def normalize(name: str) -> str:
    """``owner/name:version`` → ``owner/name`` (a pinned version of a listed model is checked as that model)."""
    return name.split(":", 1)[0]


def _unknown(name: str) -> ModelInfo:
    # Any other model, version or deployment: forwarded as given; size as width/height, images as "image".
    return ModelInfo(
        name=name,
        known=False,
        response_formats=frozenset({"url", "b64_json"}),
        max_n=10,
        operations=frozenset({"generate", "edit"}),
        extra={
            "ratios": (),
            "n_field": None,
            "image_field": "image",
            "image_list": False,
            "mask_field": "mask",
            "size_rule": "pixels",
        },
    )


CATALOGUE = Catalogue(
    provider=PROVIDER,
    models=_BY_NAME,
    env={"api_key": ("REPLICATE_API_TOKEN", "REPLICATE_API_KEY"), "api_base": ("REPLICATE_API_BASE",)},
    settings=frozenset({"poll_interval", "prefer_wait"}),
    default_api_base=DEFAULT_API_BASE,
    normalize=normalize,
    unknown=_unknown,
)
