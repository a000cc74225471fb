"""Black Forest Labs' hosted FLUX models, what each accepts and what it costs, as data (sources in the docs page)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pixmux.catalogue import Catalogue, InputLimits, ModelInfo, Price, Pricing

PROVIDER = "bfl"
DEFAULT_API_BASE = "https://api.bfl.ai"
#: BFL bills in credits; one credit is US$0.01 (the submit answer's ``cost`` is in credits).
USD_PER_CREDIT = 0.01

#: How a model takes its size: ``"pixels"`` (width and height), ``"ratio"`` (an aspect ratio) or ``"none"``.
SIZE_RULES = ("pixels", "ratio", "none")
#: The aspect ratios pixmux maps a ``WIDTHxHEIGHT`` size to for Kontext and Ultra (BFL takes 21:9 to 9:21).
ASPECT_RATIOS = ("21:9", "16:9", "3:2", "4:3", "5:4", "1:1", "4:5", "3:4", "2:3", "9:16", "9:21")
_MEDIA = frozenset({"image/png", "image/jpeg", "image/webp"})
_FORMATS: Mapping[str, frozenset[Any]] = {"output_format": frozenset({"jpeg", "png"})}
_COMMON = frozenset({"seed", "prompt_upsampling", "safety_tolerance", "output_format"})


def _info(
    name: str,
    *,
    family: str,
    size_rule: str,
    params: frozenset[str],
    ranges: Mapping[str, tuple[float, float]],
    usd: float | None,
    description: str,
    operations: frozenset[str] = frozenset({"generate"}),
    inputs: InputLimits | None = None,
    side: tuple[int, int, int] = (0, 0, 0),
) -> ModelInfo:
    return ModelInfo(
        name=name,
        sizes=None if size_rule != "none" else frozenset(),
        qualities=frozenset(),
        styles=frozenset(),
        response_formats=frozenset({"url", "b64_json"}),
        max_n=10,
        params=_COMMON | params,
        param_values=_FORMATS,
        param_ranges=ranges,
        pricing=None if usd is None else Pricing(per_image=(Price(usd=usd),)),
        description=description,
        operations=operations,
        inputs=inputs,
        extra={"family": family, "size_rule": size_rule, "side": side},
    )


_FLUX2_EDIT = InputLimits(max_images=8, media_types=_MEDIA, mask="none")
_ONE_IMAGE = InputLimits(max_images=1, media_types=_MEDIA, mask="none")
_FLUX2_RANGES = {"safety_tolerance": (0.0, 5.0), "width": (64.0, 2048.0), "height": (64.0, 2048.0)}
_FLUX1_RANGES = {"safety_tolerance": (0.0, 6.0), "width": (256.0, 1440.0), "height": (256.0, 1440.0)}
_TOOL_RANGES = {"safety_tolerance": (0.0, 6.0), "steps": (15.0, 50.0), "guidance": (1.5, 100.0)}
_EDIT = frozenset({"generate", "edit"})


def _flux2(name: str, label: str, *, flex: bool = False) -> ModelInfo:
    ranges = dict(_FLUX2_RANGES)
    params = frozenset({"width", "height"})
    if flex:
        ranges.update({"guidance": (1.5, 10.0), "steps": (1.0, 50.0)})
        params |= {"guidance", "steps"}
    return _info(
        name,
        family="flux2",
        size_rule="pixels",
        params=params,
        ranges=ranges,
        usd=None,  # priced per output megapixel: the submit answer's cost is used
        description=f"{label}: text-to-image and editing with up to 8 reference images",
        operations=_EDIT,
        inputs=_FLUX2_EDIT,
        side=(64, 2048, 16),
    )


# Prices: docs.bfl.ai/quick_start/pricing (credits per image, 1 credit = US$0.01). FLUX.2 is billed per
# megapixel and FLUX.1 [pro], [dev] and Expand are not in that table: no catalogue price, but every
# submit answer carries BFL's own `cost`, which is what pixmux reports.
MODELS: tuple[ModelInfo, ...] = (
    _flux2("flux-2-pro", "FLUX.2 [pro]"),
    _flux2("flux-2-pro-preview", "FLUX.2 [pro] preview (newest weights first)"),
    _flux2("flux-2-flex", "FLUX.2 [flex]", flex=True),
    _flux2("flux-2-max", "FLUX.2 [max]"),
    *(
        _info(
            name,
            family="kontext",
            size_rule="ratio",
            params=frozenset({"aspect_ratio"}),
            ranges={"safety_tolerance": (0.0, 6.0)},
            usd=usd,
            description=f"{label}: text-to-image or instruction editing of one image",
            operations=_EDIT,
            inputs=_ONE_IMAGE,
        )
        for name, label, usd in (
            ("flux-kontext-pro", "FLUX.1 Kontext [pro]", 0.04),
            ("flux-kontext-max", "FLUX.1 Kontext [max]", 0.08),
        )
    ),
    _info(
        "flux-pro-1.1",
        family="flux1",
        size_rule="pixels",
        params=frozenset({"width", "height"}),
        ranges=_FLUX1_RANGES,
        usd=0.04,
        description="FLUX1.1 [pro]: text-to-image",
        side=(256, 1440, 32),
    ),
    _info(
        "flux-pro-1.1-ultra",
        family="ultra",
        size_rule="ratio",
        params=frozenset({"aspect_ratio", "raw", "image_prompt_strength"}),
        ranges={"safety_tolerance": (0.0, 6.0), "image_prompt_strength": (0.0, 1.0)},
        usd=0.06,
        description="FLUX1.1 [pro] Ultra: up to 4 megapixels, aspect ratio 21:9 to 9:21",
    ),
    _info(
        "flux-pro",
        family="flux1",
        size_rule="pixels",
        params=frozenset({"width", "height", "steps", "guidance", "interval"}),
        ranges={**_FLUX1_RANGES, "steps": (1.0, 50.0)},
        usd=None,
        description="FLUX.1 [pro]: text-to-image",
        side=(256, 1440, 32),
    ),
    _info(
        "flux-dev",
        family="flux1",
        size_rule="pixels",
        params=frozenset({"width", "height", "steps", "guidance"}),
        ranges={**_FLUX1_RANGES, "steps": (1.0, 50.0)},
        usd=None,
        description="FLUX.1 [dev]: text-to-image",
        side=(256, 1440, 32),
    ),
    _info(
        "flux-pro-1.0-fill",
        family="fill",
        size_rule="none",
        params=frozenset({"steps", "guidance"}),
        ranges=_TOOL_RANGES,
        usd=0.05,
        description="FLUX.1 Fill [pro]: inpainting (white in the mask is repainted)",
        operations=frozenset({"edit"}),
        inputs=InputLimits(max_images=1, media_types=_MEDIA, mask="optional", mask_same_size=True),
    ),
    _info(
        "flux-pro-1.0-expand",
        family="expand",
        size_rule="none",
        params=frozenset({"steps", "guidance", "top", "bottom", "left", "right"}),
        ranges={**_TOOL_RANGES, **{side: (0.0, 2048.0) for side in ("top", "bottom", "left", "right")}},
        usd=None,
        description="FLUX.1 Expand [pro]: outpainting by top/bottom/left/right pixels",
        operations=frozenset({"edit"}),
        inputs=_ONE_IMAGE,
    ),
)


def _unknown(name: str) -> ModelInfo:
    # An endpoint BFL added since (FLUX.2 [klein], a finetune): forwarded as given, size as width/height.
    return ModelInfo(
        name=name,
        known=False,
        response_formats=frozenset({"url", "b64_json"}),
        max_n=10,
        operations=frozenset({"generate", "edit"}),
        extra={"family": "unknown", "size_rule": "pixels", "side": (64, 2048, 16)},
    )


CATALOGUE = Catalogue(
    provider=PROVIDER,
    models={info.name: info for info in MODELS},
    env={"api_key": ("BFL_API_KEY",), "api_base": ("BFL_API_BASE",)},
    settings=frozenset({"poll_interval"}),
    default_api_base=DEFAULT_API_BASE,
    unknown=_unknown,
)
