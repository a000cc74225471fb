"""
OpenAI's image models: what each accepts and what each costs, as catalogue data.

Public so that providers hosting the same models (Azure) start from these entries and state
only what differs (``attrs.evolve``), instead of keeping a second copy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pixmux.catalogue import InputLimits, ModelInfo, Price, Pricing

__all__ = ["MODELS", "GPT_IMAGE_MODELS", "per_image_prices", "GPT_INPUTS", "DALLE2_INPUTS", "EDIT_ONLY_PARAMS"]

_RETIRED_DALLE = (
    "OpenAI shut down DALL-E in its API on 2026-05-12; use gpt-image-1 or gpt-image-1-mini "
    "(an OpenAI-compatible server given with api_base may still serve it)"
)
_GPT_SIZES = frozenset({"auto", "1024x1024", "1536x1024", "1024x1536"})
_GPT_QUALITIES = frozenset({"auto", "low", "medium", "high"})
#: Set by pixmux itself for ``stream=True``: the GPT image models stream natively.
STREAM_PARAMS = frozenset({"stream", "partial_images"})
_GPT_PARAMS = frozenset(
    {"background", "moderation", "output_format", "output_compression", "input_fidelity", *STREAM_PARAMS}
)
#: Parameters only an edit takes (a generation with one is refused, naming it).
EDIT_ONLY_PARAMS = frozenset({"input_fidelity"})
_GPT_VALUES: Mapping[str, frozenset[Any]] = {
    "input_fidelity": frozenset({"high", "low"}),
    "background": frozenset({"transparent", "opaque", "auto"}),
    "moderation": frozenset({"low", "auto"}),
    "output_format": frozenset({"png", "jpeg", "webp"}),
    "stream": frozenset({True}),
}
_GPT_RANGES = {"output_compression": (0.0, 100.0), "partial_images": (0.0, 3.0)}
_MB = 1024 * 1024
#: GPT image edits: 1-16 PNG, WebP or JPEG images under 50 MB; a PNG mask with alpha, the size of the first image.
GPT_INPUTS = InputLimits(
    max_images=16,
    max_bytes=50 * _MB,
    media_types=frozenset({"image/png", "image/jpeg", "image/webp"}),
    mask="optional",
    mask_same_size=True,
    mask_alpha=True,
)
#: dall-e-2 edits and variations: one square PNG under 4 MB; a mask as for GPT image models.
DALLE2_INPUTS = InputLimits(
    max_images=1,
    max_bytes=4 * _MB,
    media_types=frozenset({"image/png"}),
    mask="optional",
    mask_same_size=True,
    mask_alpha=True,
)


def per_image_prices(table: Mapping[str, tuple[float, float]], square: str = "1024x1024") -> tuple[Price, ...]:
    """Per-image price rules from ``{quality: (square price, portrait/landscape price)}`` for the GPT image sizes."""
    rules = []
    for quality, (square_usd, wide_usd) in table.items():
        rules.append(Price(usd=square_usd, size=square, quality=quality))
        rules.append(Price(usd=wide_usd, size="1536x1024", quality=quality))
        rules.append(Price(usd=wide_usd, size="1024x1536", quality=quality))
    return tuple(rules)


def _gpt(name: str, pricing: Pricing | None, description: str, **extra: Any) -> ModelInfo:
    return ModelInfo(
        name=name,
        sizes=None if extra.get("custom_sizes") else _GPT_SIZES,
        qualities=_GPT_QUALITIES,
        styles=frozenset(),
        response_formats=frozenset({"b64_json"}),
        max_n=10,
        max_prompt_chars=32000,
        params=_GPT_PARAMS,
        param_values=_GPT_VALUES,
        param_ranges=_GPT_RANGES,
        pricing=pricing,
        description=description,
        streaming=True,
        extra={"family": "gpt-image", **extra},
        operations=frozenset({"generate", "edit"}),
        inputs=GPT_INPUTS,
    )


# Prices from OpenAI's pricing and model pages (US$): token prices per token, per-image prices
# for calls whose usage is not reported.
MODELS: Mapping[str, ModelInfo] = {
    info.name: info
    for info in (
        _gpt(
            "gpt-image-1",
            Pricing(
                input_token=5.00e-6,
                input_image_token=10.00e-6,
                output_token=40.00e-6,
                per_image=per_image_prices({"low": (0.011, 0.016), "medium": (0.042, 0.063), "high": (0.167, 0.25)}),
                default_size="1024x1024",
                default_quality="high",
            ),
            "GPT Image 1: token-billed; needs a verified organization",
        ),
        _gpt(
            "gpt-image-1-mini",
            Pricing(
                input_token=2.00e-6,
                input_image_token=2.50e-6,
                output_token=8.00e-6,
                per_image=per_image_prices({"low": (0.005, 0.006), "medium": (0.011, 0.015), "high": (0.036, 0.052)}),
                default_size="1024x1024",
                default_quality="high",
            ),
            "GPT Image 1 mini: the low-cost GPT image model",
        ),
        _gpt(
            "gpt-image-1.5",
            Pricing(
                input_token=5.00e-6,
                input_image_token=8.00e-6,
                output_token=32.00e-6,
                per_image=per_image_prices({"low": (0.009, 0.013), "medium": (0.034, 0.05), "high": (0.133, 0.2)}),
                default_size="1024x1024",
                default_quality="high",
            ),
            "GPT Image 1.5",
        ),
        _gpt("gpt-image-2", None, "GPT Image 2: any WxH size (multiples of 16, up to 3840x2160)", custom_sizes=True),
        _gpt("chatgpt-image-latest", None, "The GPT image model behind ChatGPT"),
        ModelInfo(
            name="dall-e-3",
            sizes=frozenset({"1024x1024", "1792x1024", "1024x1792"}),
            qualities=frozenset({"standard", "hd"}),
            styles=frozenset({"vivid", "natural"}),
            response_formats=frozenset({"url", "b64_json"}),
            max_n=1,
            max_prompt_chars=4000,
            params=frozenset(),
            pricing=Pricing(
                per_image=(
                    Price(usd=0.04, size="1024x1024", quality="standard"),
                    Price(usd=0.08, quality="standard"),
                    Price(usd=0.08, size="1024x1024", quality="hd"),
                    Price(usd=0.12, quality="hd"),
                ),
                default_size="1024x1024",
                default_quality="standard",
            ),
            description="DALL-E 3 (shut down by OpenAI on 2026-05-12)",
            extra={"family": "dall-e", "retired_note": _RETIRED_DALLE},
        ),
        ModelInfo(
            name="dall-e-2",
            sizes=frozenset({"256x256", "512x512", "1024x1024"}),
            qualities=frozenset({"standard"}),
            styles=frozenset(),
            response_formats=frozenset({"url", "b64_json"}),
            max_n=10,
            max_prompt_chars=1000,
            params=frozenset(),
            pricing=Pricing(
                per_image=(
                    Price(usd=0.016, size="256x256"),
                    Price(usd=0.018, size="512x512"),
                    Price(usd=0.02, size="1024x1024"),
                ),
                default_size="1024x1024",
            ),
            description="DALL-E 2 (shut down by OpenAI on 2026-05-12)",
            extra={"family": "dall-e", "retired_note": _RETIRED_DALLE},
            operations=frozenset({"generate", "edit", "variation"}),
            inputs=DALLE2_INPUTS,
        ),
    )
}


#: The GPT image models (token-billed, base64 only), by name.
GPT_IMAGE_MODELS: Mapping[str, ModelInfo] = {
    name: info for name, info in MODELS.items() if info.extra.get("family") == "gpt-image"
}
