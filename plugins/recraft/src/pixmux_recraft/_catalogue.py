"""Recraft's models, styles, substyles, sizes and prices, as data (sources in the provider docs page)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pixmux.catalogue import Catalogue, InputLimits, ModelInfo, Price, Pricing

PROVIDER = "recraft"
DEFAULT_API_BASE = "https://external.api.recraft.ai/v1"
#: Recraft bills in API units; 1,000 units cost US$1.
USD_PER_UNIT = 0.001

# Valid substyles per style family and model generation (Recraft's appendix / basic styles list).
_V3_SUBSTYLES: Mapping[str, frozenset[str]] = {
    "any": frozenset(),
    "realistic_image": frozenset(
        [
            "b_and_w",
            "enterprise",
            "evening_light",
            "faded_nostalgia",
            "forest_life",
            "hard_flash",
            "hdr",
            "motion_blur",
            "mystic_naturalism",
            "natural_light",
            "natural_tones",
            "organic_calm",
            "real_life_glow",
            "retro_realism",
            "retro_snapshot",
            "studio_portrait",
            "urban_drama",
            "village_realism",
            "warm_folk",
        ]
    ),
    "digital_illustration": frozenset(
        [
            "2d_art_poster",
            "2d_art_poster_2",
            "antiquarian",
            "bold_fantasy",
            "child_book",
            "cover",
            "crosshatch",
            "digital_engraving",
            "engraving_color",
            "expressionism",
            "freehand_details",
            "grain",
            "grain_20",
            "graphic_intensity",
            "hand_drawn",
            "hand_drawn_outline",
            "handmade_3d",
            "hard_comics",
            "infantile_sketch",
            "long_shadow",
            "modern_folk",
            "multicolor",
            "neon_calm",
            "noir",
            "nostalgic_pastel",
            "outline_details",
            "pastel_gradient",
            "pastel_sketch",
            "pixel_art",
            "plastic",
            "pop_art",
            "pop_renaissance",
            "seamless",
            "street_art",
            "tablet_sketch",
            "urban_glow",
            "urban_sketching",
            "young_adult_book",
            "young_adult_book_2",
        ]
    ),
    "vector_illustration": frozenset(
        [
            "bold_stroke",
            "chemistry",
            "colored_stencil",
            "cosmics",
            "cutout",
            "depressive",
            "editorial",
            "emotional_flat",
            "engraving",
            "line_art",
            "line_circuit",
            "linocut",
            "marker_outline",
            "mosaic",
            "naivector",
            "roundish_flat",
            "seamless",
            "segmented_colors",
            "sharp_contrast",
            "thin",
            "vector_photo",
            "vivid_shapes",
        ]
    ),
    "logo_raster": frozenset(["emblem_graffiti", "emblem_pop_art", "emblem_punk", "emblem_stamp", "emblem_vintage"]),
}
_V2_SUBSTYLES: Mapping[str, frozenset[str]] = {
    "realistic_image": frozenset(
        ["b_and_w", "enterprise", "hard_flash", "hdr", "motion_blur", "natural_light", "studio_portrait"]
    ),
    "digital_illustration": frozenset(
        [
            "2d_art_poster",
            "2d_art_poster_2",
            "3d",
            "80s",
            "engraving_color",
            "glow",
            "grain",
            "hand_drawn",
            "hand_drawn_outline",
            "handmade_3d",
            "infantile_sketch",
            "kawaii",
            "pixel_art",
            "plastic",
            "psychedelic",
            "seamless",
            "voxel",
            "watercolor",
        ]
    ),
    "vector_illustration": frozenset(
        [
            "cartoon",
            "doodle_line_art",
            "engraving",
            "flat_2",
            "kawaii",
            "line_art",
            "line_circuit",
            "linocut",
            "seamless",
        ]
    ),
    "icon": frozenset(
        [
            "broken_line",
            "colored_outline",
            "colored_shapes",
            "colored_shapes_gradient",
            "doodle_fill",
            "doodle_offset_fill",
            "offset_fill",
            "outline",
            "outline_gradient",
            "pictogram",
        ]
    ),
}
#: Style families whose images are vectors (SVG) on V2/V3 raster model names.
VECTOR_STYLES = frozenset({"vector_illustration", "icon"})

_V3_SIZES = frozenset(
    [
        "1024x1024",
        "1365x1024",
        "1024x1365",
        "1536x1024",
        "1024x1536",
        "1820x1024",
        "1024x1820",
        "1024x2048",
        "2048x1024",
        "1434x1024",
        "1024x1434",
        "1024x1280",
        "1280x1024",
        "1024x1707",
        "1707x1024",
    ]
)
_V4_SIZES = frozenset(
    [
        "1024x1024",
        "1536x768",
        "768x1536",
        "1280x832",
        "832x1280",
        "1216x896",
        "896x1216",
        "1152x896",
        "896x1152",
        "832x1344",
        "1280x896",
        "896x1280",
        "1344x768",
        "768x1344",
    ]
)
_V4_PRO_SIZES = frozenset(f"{int(w) * 2}x{int(h) * 2}" for w, h in (size.split("x") for size in _V4_SIZES))
ASPECT_RATIOS = frozenset(
    ["1:1", "2:1", "1:2", "3:2", "2:3", "4:3", "3:4", "5:4", "4:5", "6:10", "14:10", "10:14", "16:9", "9:16"]
)

#: Parameters every Recraft model takes, with their fixed values where they have some.
_COMMON_PARAMS = frozenset(
    {"negative_prompt", "controls", "random_seed", "image_format", "block_nsfw", "calculate_features", "expire"}
)
_STYLED_PARAMS = frozenset({"substyle", "style_id", "text_layout", "style_reference_urls"})
_V4_PARAMS = frozenset({"style_match", "creativity", "upscale"})
_COMMON_VALUES: Mapping[str, frozenset[Any]] = {"image_format": frozenset({"png", "webp"})}
_V4_VALUES: Mapping[str, frozenset[Any]] = {
    "style_match": frozenset({"regular", "precise", "flexible"}),
    "creativity": frozenset({"simple", "standard", "eccentric"}),
    "upscale": frozenset({"upscale4mp", "upscale16mp"}),
}
_RANGES = {"random_seed": (0.0, float(2**32 - 1))}
#: Edit tools' parameters (checked per tool in pixmux_recraft._edits).
_EDIT_PARAMS = frozenset(
    {"tool", "strength", "expand_top", "expand_bottom", "expand_left", "expand_right", "zoom_out_percentage"}
)
#: Edit inputs: one PNG, JPEG or WebP under 10 MB; a grayscale mask of the same size (white = change).
_INPUTS = InputLimits(
    max_images=1,
    max_bytes=10 * 1024 * 1024,
    media_types=frozenset({"image/png", "image/jpeg", "image/webp"}),
    mask="optional",
    mask_same_size=True,
)


def _info(
    name: str,
    *,
    generation: str,
    raster_usd: float | None,
    vector_usd: float | None,
    vector: bool = False,
    sizes: frozenset[str] | None,
    description: str,
) -> ModelInfo:
    styled = generation in ("v2", "v3")
    substyles = _V3_SUBSTYLES if generation == "v3" else _V2_SUBSTYLES if generation == "v2" else {}
    if vector:
        # a vector model's families are its vector ones
        substyles = {style: subs for style, subs in substyles.items() if style in VECTOR_STYLES}
    params = _COMMON_PARAMS | (_STYLED_PARAMS if styled else _V4_PARAMS) | _EDIT_PARAMS
    if vector:
        params = params - {"image_format"}  # a vector answer is SVG
    values: dict[str, frozenset[Any]] = {}
    values.update(_COMMON_VALUES if not vector else {})
    values.update(_V4_VALUES if not styled else {})
    if styled:
        values["substyle"] = frozenset().union(*substyles.values())
    usd = vector_usd if vector else raster_usd
    return ModelInfo(
        name=name,
        sizes=None if sizes is None else sizes | (ASPECT_RATIOS if generation == "v4" else frozenset()),
        qualities=frozenset(),
        styles=frozenset(substyles) if styled else frozenset(),
        response_formats=frozenset({"url", "b64_json"}),
        max_n=6,
        max_prompt_chars=1000 if styled else 10000,
        params=params,
        param_values=values,
        param_ranges=_RANGES,
        pricing=None if usd is None else Pricing(per_image=(Price(usd=usd),)),
        description=description,
        operations=frozenset({"generate", "edit", "variation"}),
        inputs=_INPUTS,
        extra={
            "generation": generation,
            "vector": vector,
            "substyles": substyles,
            "vector_usd": vector_usd,
        },
    )


def _pair(
    base: str,
    *,
    generation: str,
    raster: float | None,
    vector: float | None,
    sizes: frozenset[str] | None,
    label: str,
) -> tuple[ModelInfo, ModelInfo]:
    common: dict[str, Any] = {"generation": generation, "raster_usd": raster, "vector_usd": vector, "sizes": sizes}
    return (
        _info(base, description=f"{label}: raster", **common),
        _info(f"{base}_vector", vector=True, description=f"{label} Vector: SVG", **common),
    )


# Prices: Recraft's pricing and model pages (US$ per image). V4.1 Pro/Utility vector prices were
# not published where we could read them; those models have no price (the answer's credits still give the cost).
MODELS: tuple[ModelInfo, ...] = (
    *_pair("recraftv2", generation="v2", raster=0.022, vector=0.044, sizes=_V3_SIZES, label="Recraft V2 (20B)"),
    *_pair("recraftv3", generation="v3", raster=0.04, vector=0.08, sizes=_V3_SIZES, label="Recraft V3"),
    *_pair("recraftv4", generation="v4", raster=0.04, vector=0.08, sizes=_V4_SIZES, label="Recraft V4"),
    *_pair("recraftv4_pro", generation="v4", raster=0.25, vector=0.30, sizes=_V4_PRO_SIZES, label="Recraft V4 Pro"),
    # V4.1 sizes are not listed separately in Recraft's appendix as we could read it: not checked here.
    *_pair("recraftv4_1", generation="v4", raster=0.035, vector=0.08, sizes=None, label="Recraft V4.1"),
    *_pair("recraftv4_1_pro", generation="v4", raster=0.21, vector=None, sizes=None, label="Recraft V4.1 Pro"),
    *_pair("recraftv4_1_utility", generation="v4", raster=0.035, vector=None, sizes=None, label="Recraft V4.1 Utility"),
    *_pair(
        "recraftv4_1_utility_pro",
        generation="v4",
        raster=0.21,
        vector=None,
        sizes=None,
        label="Recraft V4.1 Utility Pro",
    ),
)

#: Other names Recraft accepts for the same models.
_ALIASES = {"recraft20b": "recraftv2", "recraft20b_vector": "recraftv2_vector"}


def normalize(name: str) -> str:
    """``recraft20b`` → ``recraftv2``; ``recraftv4_raster`` → ``recraftv4`` (the ``_raster`` aliases)."""
    name = _ALIASES.get(name, name)
    return name.removesuffix("_raster")


def _unknown(name: str) -> ModelInfo:
    # A model Recraft added since, or a third-party model it proxies: forwarded as given.
    return ModelInfo(
        name=name,
        known=False,
        response_formats=frozenset({"url", "b64_json"}),
        max_n=6,
        operations=frozenset({"generate", "edit", "variation"}),
        inputs=_INPUTS,
    )


CATALOGUE = Catalogue(
    provider=PROVIDER,
    models={info.name: info for info in MODELS},
    env={"api_key": ("RECRAFT_API_KEY", "RECRAFT_API_TOKEN"), "api_base": ("RECRAFT_API_BASE",)},
    default_api_base=DEFAULT_API_BASE,
    normalize=normalize,
    unknown=_unknown,
)
