"""
Stability AI's v2beta services as data: each model name is a service, with its path, the form
fields it takes, which are required, and its price (credits at $0.01).
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs
from pixmux.catalogue import Catalogue, InputLimits, ModelInfo, Price, Pricing

PROVIDER = "stability"
DEFAULT_API_BASE = "https://api.stability.ai"
#: The aspect ratios the generate services take.
ASPECT_RATIOS = ("16:9", "1:1", "21:9", "2:3", "3:2", "4:5", "5:4", "9:16", "9:21")
STYLE_PRESETS = frozenset(
    {"3d-model", "analog-film", "anime", "cinematic", "comic-book", "digital-art", "enhance", "fantasy-art",
     "isometric", "line-art", "low-poly", "modeling-compound", "neon-punk", "origami", "photographic", "pixel-art",
     "tile-texture"}
)  # fmt: skip
#: US dollars per credit (Stability's pricing page).
CREDIT_USD = 0.01
#: Seconds between polls of an async result (Stability asks for no more than one poll every 10 s).
POLL_INTERVAL = 10.0
_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp"})


@attrs.frozen(kw_only=True)
class Service:
    """
    One v2beta service.

    Attributes:
        path: the path under ``/v2beta/`` (``stable-image/generate/ultra``).
        fields: the optional form fields it takes (native parameters).
        required: native fields that must be given.
        prompt: how it takes ``prompt``: ``"required"``, ``"optional"``, ``"none"`` or the form field
            it goes in (``"background_prompt"``).
        image_field: the file part of the first input image (``image``, ``subject_image``), or
            ``None`` for a service without input.
        second_image_field: the file part of a second input image, if it takes one.
        mask: whether it takes a ``mask`` file part.
        sd3_model: the ``model`` form field value of the SD3 service.
        asynchronous: whether it answers an id to poll at ``/v2beta/results/{id}``.
    """

    path: str
    fields: frozenset[str]
    required: frozenset[str] = frozenset()
    prompt: str = "required"
    image_field: str | None = None
    second_image_field: str | None = None
    mask: bool = False
    sd3_model: str | None = None
    asynchronous: bool = False


_GENERATE = frozenset({"negative_prompt", "aspect_ratio", "seed", "output_format", "style_preset", "strength"})
_OUTPUT_ALL = frozenset({"png", "jpeg", "webp"})

SERVICES: Mapping[str, Service] = {
    "stable-image-ultra": Service(path="stable-image/generate/ultra", fields=_GENERATE),
    "stable-image-core": Service(path="stable-image/generate/core", fields=_GENERATE - {"strength"}),
    "sd3.5-large": Service(path="stable-image/generate/sd3", fields=_GENERATE | {"cfg_scale"}, sd3_model="sd3.5-large"),
    "sd3.5-large-turbo": Service(
        path="stable-image/generate/sd3",
        fields=_GENERATE - {"negative_prompt"} | {"cfg_scale"},
        sd3_model="sd3.5-large-turbo",
    ),
    "sd3.5-medium": Service(
        path="stable-image/generate/sd3", fields=_GENERATE | {"cfg_scale"}, sd3_model="sd3.5-medium"
    ),
    "sd3.5-flash": Service(path="stable-image/generate/sd3", fields=_GENERATE | {"cfg_scale"}, sd3_model="sd3.5-flash"),
    "edit/inpaint": Service(
        path="stable-image/edit/inpaint",
        fields=frozenset({"negative_prompt", "grow_mask", "seed", "output_format", "style_preset"}),
        image_field="image",
        mask=True,
    ),
    "edit/outpaint": Service(
        path="stable-image/edit/outpaint",
        fields=frozenset({"left", "right", "up", "down", "creativity", "seed", "output_format", "style_preset"}),
        prompt="optional",
        image_field="image",
    ),
    "edit/erase": Service(
        path="stable-image/edit/erase",
        fields=frozenset({"grow_mask", "seed", "output_format"}),
        prompt="none",
        image_field="image",
        mask=True,
    ),
    "edit/search-and-replace": Service(
        path="stable-image/edit/search-and-replace",
        fields=frozenset({"search_prompt", "negative_prompt", "grow_mask", "seed", "output_format", "style_preset"}),
        required=frozenset({"search_prompt"}),
        image_field="image",
    ),
    "edit/search-and-recolor": Service(
        path="stable-image/edit/search-and-recolor",
        fields=frozenset({"select_prompt", "negative_prompt", "grow_mask", "seed", "output_format", "style_preset"}),
        required=frozenset({"select_prompt"}),
        image_field="image",
    ),
    "edit/remove-background": Service(
        path="stable-image/edit/remove-background",
        fields=frozenset({"output_format"}),
        prompt="none",
        image_field="image",
    ),
    "edit/replace-background-and-relight": Service(
        path="stable-image/edit/replace-background-and-relight",
        fields=frozenset(
            {
                "foreground_prompt",
                "negative_prompt",
                "preserve_original_subject",
                "original_background_depth",
                "keep_original_background",
                "light_source_direction",
                "light_source_strength",
                "seed",
                "output_format",
            }
        ),
        prompt="background_prompt",
        image_field="subject_image",
        second_image_field="background_reference",
        asynchronous=True,
    ),
    "upscale/fast": Service(
        path="stable-image/upscale/fast", fields=frozenset({"output_format"}), prompt="none", image_field="image"
    ),
    "upscale/conservative": Service(
        path="stable-image/upscale/conservative",
        fields=frozenset({"negative_prompt", "creativity", "seed", "output_format"}),
        image_field="image",
    ),
    "upscale/creative": Service(
        path="stable-image/upscale/creative",
        fields=frozenset({"negative_prompt", "creativity", "style_preset", "seed", "output_format"}),
        image_field="image",
        asynchronous=True,
    ),
}

#: Credits per image, where Stability's pages state them (the others are unpriced: cost ``None``).
CREDITS: Mapping[str, float] = {
    "stable-image-ultra": 8,
    "stable-image-core": 3,
    "sd3.5-large": 6.5,
    "sd3.5-large-turbo": 4,
    "sd3.5-medium": 3.5,
    "edit/outpaint": 4,
    "edit/erase": 5,
    "edit/search-and-replace": 5,
    "edit/search-and-recolor": 5,
    "edit/remove-background": 5,
    "edit/replace-background-and-relight": 8,
}

_RANGES: Mapping[str, tuple[float, float]] = {
    "seed": (0, 4294967294),
    "strength": (0, 1),
    "cfg_scale": (1, 10),
    "creativity": (0, 1),
    "left": (0, 2000),
    "right": (0, 2000),
    "up": (0, 2000),
    "down": (0, 2000),
    "preserve_original_subject": (0, 1),
    "original_background_depth": (0, 1),
    "light_source_strength": (0, 1),
}
_SERVICE_RANGES: Mapping[str, Mapping[str, tuple[float, float]]] = {
    "edit/inpaint": {"grow_mask": (0, 100)},
    "edit/erase": {"grow_mask": (0, 20)},
    "edit/search-and-replace": {"grow_mask": (0, 20)},
    "edit/search-and-recolor": {"grow_mask": (0, 20)},
    "upscale/conservative": {"creativity": (0.2, 0.5)},
    "upscale/creative": {"creativity": (0.1, 0.5)},
}


def _info(name: str, service: Service) -> ModelInfo:
    generates = service.image_field is None
    output = frozenset({"png", "jpeg"}) if service.sd3_model else _OUTPUT_ALL
    if name == "edit/remove-background":
        output = frozenset({"png", "webp"})
    credits = CREDITS.get(name)
    return ModelInfo(
        name=name,
        qualities=frozenset(),
        styles=frozenset(),
        response_formats=frozenset({"url", "b64_json"}),
        max_n=10,
        params=service.fields | service.required,
        param_values={
            "aspect_ratio": frozenset(ASPECT_RATIOS),
            "output_format": output,
            "style_preset": STYLE_PRESETS,
            "light_source_direction": frozenset({"left", "right", "above", "below"}),
            "keep_original_background": frozenset({"true", "false", True, False}),
        },
        param_ranges={**_RANGES, **_SERVICE_RANGES.get(name, {})},
        pricing=Pricing(per_image=(Price(usd=round(credits * CREDIT_USD, 10)),)) if credits is not None else None,
        description=f"Stability AI {service.path}" + (" (asynchronous)" if service.asynchronous else ""),
        extra={"service": service},
        operations=frozenset({"generate", "edit"})
        if generates and "strength" in service.fields
        else (frozenset({"generate"}) if generates else frozenset({"edit"})),
        inputs=InputLimits(
            max_images=2 if service.second_image_field else 1,
            max_bytes=10 * 1024 * 1024,
            media_types=_IMAGE_TYPES,
            mask="optional" if service.mask else "none",
        )
        if not generates or "strength" in service.fields
        else None,
    )


CATALOGUE = Catalogue(
    provider=PROVIDER,
    models={name: _info(name, service) for name, service in SERVICES.items()},
    env={"api_key": ("STABILITY_API_KEY",), "api_base": ("STABILITY_API_BASE",)},
    settings=frozenset({"poll_interval"}),
    default_api_base=DEFAULT_API_BASE,
)
