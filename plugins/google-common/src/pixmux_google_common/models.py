"""
Google's image models as catalogue data, shared by the ``vertex_ai`` and ``gemini`` providers.

Each model is described once (:data:`MODELS`) with the API it is served by (Imagen's
``:predict`` or Gemini's ``:generateContent``), its aspect ratios, its size tiers and its
prices; :func:`catalogue_models` turns that into the :class:`~pixmux.catalogue.ModelInfo`
entries of one service, whose accepted parameters differ (the Gemini Developer API takes
fewer Imagen parameters than Vertex AI).

Prices are US dollars from Google's pricing pages (Vertex AI and the Gemini Developer API list
the same prices for these models): Imagen per image, Gemini image models per token, with the
1K image's price as the per-image fallback used when a response reports no usage.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import attrs
from pixmux.catalogue import InputLimits, ModelInfo, Price, Pricing

__all__ = [
    "PREDICT",
    "GENERATE_CONTENT",
    "Service",
    "GoogleModel",
    "MODELS",
    "TIER_MEGAPIXELS",
    "IMAGEN_RATIOS",
    "GEMINI_RATIOS",
    "catalogue_models",
    "unknown_model",
    "api_of",
    "GEMINI_INPUTS",
    "CAPABILITY_INPUTS",
    "EDIT_MODES",
    "MASK_MODES",
    "tier_field",
]

#: The Imagen method: ``instances``/``parameters`` in, ``predictions`` out.
PREDICT = "predict"
#: The Gemini method: ``contents``/``generationConfig`` in, ``candidates`` out.
GENERATE_CONTENT = "generateContent"

Service = Literal["vertex_ai", "gemini"]

#: Nominal megapixels of each size tier (the tier names are Google's wire values).
TIER_MEGAPIXELS: Mapping[str, float] = {"512": 0.25, "1K": 1.0, "2K": 4.0, "4K": 16.0}

IMAGEN_RATIOS = ("1:1", "3:4", "4:3", "9:16", "16:9")
GEMINI_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
_FLASH_31_RATIOS = (*GEMINI_RATIOS, "1:4", "4:1", "1:8", "8:1")

_ALL_QUALITIES = frozenset({"auto", "low", "medium", "high", "standard", "hd"})
_FIXED_QUALITIES = frozenset({"auto", "standard"})
_RESPONSE_FORMATS = frozenset({"b64_json", "url"})

_IMAGEN_SHUTDOWN_VERTEX = (
    "Google has deprecated every Imagen model on Vertex AI and announced its shutdown "
    "(imagegeneration@00x and Imagen 3 from 2026-06-30, Imagen 4 by 2026-08-17); "
    "use gemini-3.1-flash-image or gemini-2.5-flash-image instead"
)
_IMAGEN_SHUTDOWN_GEMINI = (
    "Google shut down Imagen on the Gemini Developer API on 2026-08-17 "
    "(imagen-4.0-generate-001, imagen-4.0-ultra-generate-001, imagen-4.0-fast-generate-001; "
    "imagen-3.0-generate-002 before them); use gemini-3.1-flash-image or gemini-2.5-flash-image, "
    "or Imagen on Vertex AI while it lasts"
)


def _preview_note(ga: str) -> str:
    return f"Google has retired this preview model now that {ga} is generally available; use {ga}"


@attrs.frozen(kw_only=True)
class GoogleModel:
    """
    One Google image model, as both services know it.

    Attributes:
        name: the model id on the wire.
        api: :data:`PREDICT` (Imagen) or :data:`GENERATE_CONTENT` (Gemini image models).
        description: one line for listings.
        ratios: the ``aspectRatio`` values the model accepts.
        tiers: the size tiers (``sampleImageSize`` / ``imageSize``) it accepts, smallest first;
            empty when the model makes one fixed size (about one megapixel).
        max_n: most images per call (Imagen's ``sampleCount``; Gemini: one request per image).
        pricing: what it costs.
        services: which services serve it.
        retired: per service, a sentence when Google has shut the model down or announced it.
        default_location: the Vertex AI location to use when the caller names none.
    """

    name: str
    api: str
    description: str
    ratios: tuple[str, ...]
    tiers: tuple[str, ...] = ()
    max_n: int = 4
    pricing: Pricing | None = None
    services: frozenset[str] = frozenset({"vertex_ai", "gemini"})
    retired: Mapping[str, str] = attrs.field(factory=dict)
    default_location: str | None = None
    operations: frozenset[str] = frozenset({"generate", "edit"})
    inputs: InputLimits | None = None


def _imagen_price(usd: float) -> Pricing:
    return Pricing(per_image=(Price(usd=usd),))


def _token_price(*, input_per_m: float, image_per_m: float, text_per_m: float, per_image: float) -> Pricing:
    return Pricing(
        input_token=input_per_m / 1e6,
        output_token=image_per_m / 1e6,
        output_text_token=text_per_m / 1e6,
        per_image=(Price(usd=per_image),),
    )


_MB = 1024 * 1024
#: Gemini image models edit with reference images as inline parts: no mask (edits are described in
#: text), up to 14 images on Gemini 3 (Google's guide; fewer work best on 2.5 Flash), and inline data
#: counts toward the request's 20 MB.
GEMINI_INPUTS = InputLimits(
    max_images=14,
    max_bytes=20 * _MB,
    media_types=frozenset({"image/png", "image/jpeg", "image/webp"}),
    mask="none",
)
#: imagen-3.0-capability-001: one image to edit, an optional user mask (white = edit) of the same size,
#: 10 MB per image (the model card's limit for Imagen 3).
CAPABILITY_INPUTS = InputLimits(
    max_images=1,
    max_bytes=10 * _MB,
    media_types=frozenset({"image/png", "image/jpeg"}),
    mask="optional",
    mask_same_size=True,
)
_GENERATE_ONLY = frozenset({"generate"})

_BOTH_IMAGEN_RETIRED = {"vertex_ai": _IMAGEN_SHUTDOWN_VERTEX, "gemini": _IMAGEN_SHUTDOWN_GEMINI}
_VERTEX_ONLY = frozenset({"vertex_ai"})

_GEMINI_31_FLASH_PRICE = _token_price(input_per_m=0.50, image_per_m=60.0, text_per_m=3.0, per_image=0.067)
_GEMINI_3_PRO_PRICE = _token_price(input_per_m=2.0, image_per_m=120.0, text_per_m=12.0, per_image=0.134)

#: Every model either service lists, by name.
MODELS: Mapping[str, GoogleModel] = {
    model.name: model
    for model in (
        # ---- Gemini image models: :generateContent, billed per token
        GoogleModel(
            name="gemini-2.5-flash-image",
            api=GENERATE_CONTENT,
            inputs=GEMINI_INPUTS,
            description="Gemini 2.5 Flash Image (Nano Banana): about 1 megapixel, 10 aspect ratios",
            ratios=GEMINI_RATIOS,
            pricing=_token_price(input_per_m=0.30, image_per_m=30.0, text_per_m=2.50, per_image=0.039),
        ),
        GoogleModel(
            name="gemini-3.1-flash-image",
            api=GENERATE_CONTENT,
            inputs=GEMINI_INPUTS,
            description="Gemini 3.1 Flash Image (Nano Banana 2): 512 to 4K, 14 aspect ratios",
            ratios=_FLASH_31_RATIOS,
            tiers=("512", "1K", "2K", "4K"),
            pricing=_GEMINI_31_FLASH_PRICE,
            default_location="global",
        ),
        GoogleModel(
            name="gemini-3.1-flash-image-preview",
            api=GENERATE_CONTENT,
            inputs=GEMINI_INPUTS,
            description="Gemini 3.1 Flash Image preview (retired: use gemini-3.1-flash-image)",
            ratios=_FLASH_31_RATIOS,
            tiers=("512", "1K", "2K", "4K"),
            pricing=_GEMINI_31_FLASH_PRICE,
            retired={service: _preview_note("gemini-3.1-flash-image") for service in ("vertex_ai", "gemini")},
            default_location="global",
        ),
        GoogleModel(
            name="gemini-3-pro-image",
            api=GENERATE_CONTENT,
            inputs=GEMINI_INPUTS,
            description="Gemini 3 Pro Image (Nano Banana Pro): 1K, 2K or 4K, 10 aspect ratios",
            ratios=GEMINI_RATIOS,
            tiers=("1K", "2K", "4K"),
            pricing=_GEMINI_3_PRO_PRICE,
            default_location="global",
        ),
        GoogleModel(
            name="gemini-3-pro-image-preview",
            api=GENERATE_CONTENT,
            inputs=GEMINI_INPUTS,
            description="Gemini 3 Pro Image preview (retired: use gemini-3-pro-image)",
            ratios=GEMINI_RATIOS,
            tiers=("1K", "2K", "4K"),
            pricing=_GEMINI_3_PRO_PRICE,
            retired={service: _preview_note("gemini-3-pro-image") for service in ("vertex_ai", "gemini")},
            default_location="global",
        ),
        # ---- Imagen: :predict, billed per image
        GoogleModel(
            name="imagen-4.0-generate-001",
            api=PREDICT,
            operations=_GENERATE_ONLY,
            description="Imagen 4: 1K or 2K",
            ratios=IMAGEN_RATIOS,
            tiers=("1K", "2K"),
            pricing=_imagen_price(0.04),
            retired=_BOTH_IMAGEN_RETIRED,
        ),
        GoogleModel(
            name="imagen-4.0-ultra-generate-001",
            api=PREDICT,
            operations=_GENERATE_ONLY,
            description="Imagen 4 Ultra: 1K or 2K",
            ratios=IMAGEN_RATIOS,
            tiers=("1K", "2K"),
            pricing=_imagen_price(0.06),
            retired=_BOTH_IMAGEN_RETIRED,
        ),
        GoogleModel(
            name="imagen-4.0-fast-generate-001",
            api=PREDICT,
            operations=_GENERATE_ONLY,
            description="Imagen 4 Fast: 1K only",
            ratios=IMAGEN_RATIOS,
            pricing=_imagen_price(0.02),
            retired=_BOTH_IMAGEN_RETIRED,
        ),
        GoogleModel(
            name="imagen-3.0-generate-002",
            api=PREDICT,
            operations=_GENERATE_ONLY,
            description="Imagen 3 (002)",
            ratios=IMAGEN_RATIOS,
            pricing=_imagen_price(0.04),
            retired=_BOTH_IMAGEN_RETIRED,
        ),
        GoogleModel(
            name="imagen-3.0-generate-001",
            api=PREDICT,
            operations=_GENERATE_ONLY,
            description="Imagen 3 (001)",
            ratios=IMAGEN_RATIOS,
            pricing=_imagen_price(0.04),
            services=_VERTEX_ONLY,
            retired=_BOTH_IMAGEN_RETIRED,
        ),
        GoogleModel(
            name="imagen-3.0-fast-generate-001",
            api=PREDICT,
            operations=_GENERATE_ONLY,
            description="Imagen 3 Fast",
            ratios=IMAGEN_RATIOS,
            pricing=_imagen_price(0.02),
            services=_VERTEX_ONLY,
            retired=_BOTH_IMAGEN_RETIRED,
        ),
        *(
            GoogleModel(
                name=f"imagegeneration@{version}",
                api=PREDICT,
                operations=_GENERATE_ONLY,
                description=f"Imagen 2/1 legacy (imagegeneration@{version})",
                ratios=IMAGEN_RATIOS,
                max_n=8,
                pricing=_imagen_price(0.02),
                services=_VERTEX_ONLY,
                retired=_BOTH_IMAGEN_RETIRED,
            )
            for version in ("006", "005", "002")
        ),
        GoogleModel(
            name="imagen-3.0-capability-001",
            api=PREDICT,
            operations=frozenset({"edit"}),
            inputs=CAPABILITY_INPUTS,
            description="Imagen 3 editing: inpaint, outpaint, background swap, with mask modes (Vertex AI)",
            ratios=IMAGEN_RATIOS,
            max_n=4,
            # No pricing: Google's Vertex AI pricing page lists Imagen prices, but pixmux could not
            # verify one for this model there; an edit reports no cost rather than a guess (a
            # deployment's model_info.output_cost_per_image prices it: docs/edits.md, "Cost of an edit").
            pricing=None,
            services=_VERTEX_ONLY,
            retired=_BOTH_IMAGEN_RETIRED,
        ),
    )
}

_IMAGEN_SAFETY = frozenset({"block_low_and_above", "block_medium_and_above", "block_only_high"})
_IMAGEN_SAFETY_VERTEX = _IMAGEN_SAFETY | {"block_none", "block_most", "block_some", "block_few", "block_fewest"}
_IMAGEN_PEOPLE = frozenset({"dont_allow", "allow_adult", "allow_all"})
_GEMINI_PEOPLE = frozenset({"ALLOW_NONE", "ALLOW_ADULT", "ALLOW_ALL"})
_IMAGEN_LANGUAGES = frozenset({"auto", "en", "zh", "zh-CN", "zh-TW", "hi", "ja", "ko", "pt", "es"})

#: Imagen ``parameters`` fields each service accepts (besides ``sampleCount``, which is ``n``).
_IMAGEN_PARAMS: Mapping[str, frozenset[str]] = {
    "gemini": frozenset(
        {
            "aspectRatio",
            "personGeneration",
            "safetySetting",
            "language",
            "includeRaiReason",
            "includeSafetyAttributes",
            "outputOptions",
        }
    ),
    "vertex_ai": frozenset(
        {
            "aspectRatio",
            "personGeneration",
            "safetySetting",
            "language",
            "includeRaiReason",
            "includeSafetyAttributes",
            "outputOptions",
            "negativePrompt",
            "seed",
            "addWatermark",
            "enhancePrompt",
            "storageUri",
        }
    ),
}
#: Gemini ``generationConfig`` / ``imageConfig`` / top-level fields each service accepts.
_GEMINI_PARAMS: Mapping[str, frozenset[str]] = {
    "gemini": frozenset(
        {"aspectRatio", "safetySettings", "responseModalities", "temperature", "topP", "topK", "seed", "thinkingConfig"}
    ),
    "vertex_ai": frozenset(
        {
            "aspectRatio",
            "safetySettings",
            "responseModalities",
            "temperature",
            "topP",
            "topK",
            "seed",
            "thinkingConfig",
            "personGeneration",
            "prominentPeople",
            "imageOutputOptions",
        }
    ),
}


#: The editing parameters of imagen-3.0-capability-001 (``maskDilation`` is ``maskImageConfig.dilation``).
_CAPABILITY_PARAMS = frozenset({"editMode", "maskMode", "maskDilation", "maskClasses", "baseSteps", "guidanceScale"})
EDIT_MODES = frozenset(
    {
        "EDIT_MODE_DEFAULT",
        "EDIT_MODE_INPAINT_REMOVAL",
        "EDIT_MODE_INPAINT_INSERTION",
        "EDIT_MODE_OUTPAINT",
        "EDIT_MODE_CONTROLLED_EDITING",
        "EDIT_MODE_STYLE",
        "EDIT_MODE_BGSWAP",
        "EDIT_MODE_PRODUCT_IMAGE",
    }
)
MASK_MODES = frozenset(
    {
        "MASK_MODE_DEFAULT",
        "MASK_MODE_USER_PROVIDED",
        "MASK_MODE_BACKGROUND",
        "MASK_MODE_FOREGROUND",
        "MASK_MODE_SEMANTIC",
    }
)
_CAPABILITY_VALUES: Mapping[str, frozenset[Any]] = {"editMode": EDIT_MODES, "maskMode": MASK_MODES}


def tier_field(api: str) -> str:
    """The wire name of the size tier: ``sampleImageSize`` (Imagen) or ``imageSize`` (Gemini)."""
    return "sampleImageSize" if api == PREDICT else "imageSize"


def api_of(name: str) -> str:
    """The API a model name is served by: Imagen names use ``:predict``, every other ``:generateContent``."""
    return PREDICT if name.startswith(("imagen", "imagegeneration")) else GENERATE_CONTENT


def _info(model: GoogleModel, service: Service) -> ModelInfo:
    field = tier_field(model.api)
    if model.api == PREDICT:
        params = set(_IMAGEN_PARAMS[service])
        values: dict[str, frozenset[Any]] = {
            "personGeneration": _IMAGEN_PEOPLE,
            "safetySetting": _IMAGEN_SAFETY_VERTEX if service == "vertex_ai" else _IMAGEN_SAFETY,
            "language": _IMAGEN_LANGUAGES,
        }
        ranges = {"seed": (0.0, 4294967295.0)}
        if "edit" in model.operations:
            params |= _CAPABILITY_PARAMS
            values.update(_CAPABILITY_VALUES)
            ranges["maskDilation"] = (0.0, 1.0)
    else:
        params = set(_GEMINI_PARAMS[service])
        values = {"personGeneration": _GEMINI_PEOPLE}
        ranges = {"temperature": (0.0, 2.0), "topP": (0.0, 1.0), "seed": (-2147483648.0, 2147483647.0)}
    values["aspectRatio"] = frozenset(model.ratios)
    if model.tiers:
        params.add(field)
        values[field] = frozenset(model.tiers)
    return ModelInfo(
        name=model.name,
        qualities=_ALL_QUALITIES if model.tiers else _FIXED_QUALITIES,
        styles=frozenset(),
        response_formats=_RESPONSE_FORMATS,
        max_n=model.max_n,
        params=frozenset(params),
        param_values=values,
        param_ranges=ranges,
        pricing=model.pricing,
        description=model.description,
        operations=model.operations,
        inputs=model.inputs,
        extra={
            "api": model.api,
            "service": service,
            "ratios": model.ratios,
            "tiers": model.tiers,
            "tier_field": field,
            "retired_note": model.retired.get(service),
            "default_location": model.default_location,
        },
    )


def catalogue_models(service: Service) -> dict[str, ModelInfo]:
    """The catalogue entries of every model ``service`` serves, by name."""
    return {name: _info(model, service) for name, model in MODELS.items() if service in model.services}


def unknown_model(name: str, service: Service) -> ModelInfo:
    """
    A lenient entry for a model the catalogue does not list (a new release, a tuned model).

    Routed by name (:func:`api_of`); ``size`` is mapped to the family's usual aspect ratios and
    every parameter is forwarded as given.
    """
    api = api_of(name)
    if api != PREDICT:
        operations = frozenset({"generate", "edit"})
    else:
        operations = frozenset({"edit"}) if "capability" in name else _GENERATE_ONLY
    return ModelInfo(
        name=name,
        known=False,
        operations=operations,
        extra={
            "api": api,
            "service": service,
            "ratios": IMAGEN_RATIOS if api == PREDICT else GEMINI_RATIOS,
            "tiers": (),
            "tier_field": tier_field(api),
            "retired_note": None,
            "default_location": None,
        },
    )
