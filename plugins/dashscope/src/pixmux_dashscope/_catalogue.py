"""
Alibaba Cloud Model Studio (DashScope) image models: protocol, size rule, limits and prices, as data.

Two protocols share the host: a synchronous ``multimodal-generation`` call (current Qwen-Image,
the Qwen-Image-Edit models, ``wan2.6-t2i``) and an asynchronous task (older Wan models and the
legacy ``qwen-image``). Sources are listed in the provider docs page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pixmux.catalogue import Catalogue, InputLimits, ModelInfo, Price, Pricing

PROVIDER = "dashscope"
#: The international (Singapore) endpoint; Beijing is ``https://dashscope.aliyuncs.com/api/v1``.
DEFAULT_API_BASE = "https://dashscope-intl.aliyuncs.com/api/v1"

#: Qwen-Image's fixed output sizes (``W*H``): 16:9, 4:3, 1:1, 3:4, 9:16.
QWEN_SIZES = ("1664*928", "1472*1140", "1328*1328", "1140*1472", "928*1664")
_MEDIA = frozenset({"image/png", "image/jpeg", "image/webp", "image/bmp", "image/tiff", "image/gif"})
#: ``size`` is set by pixmux from ``size=`` (as ``W*H``), never given as a parameter.
_COMMON = frozenset({"negative_prompt", "prompt_extend", "watermark", "seed", "size"})
_RANGES: Mapping[str, tuple[float, float]] = {"seed": (0, 2147483647)}


def _info(
    name: str,
    *,
    protocol: str,
    size_rule: Mapping[str, Any],
    description: str,
    max_n: int | None,
    max_prompt_chars: int | None,
    usd: float | None = None,
    edit_images: int | None = None,
) -> ModelInfo:
    return ModelInfo(
        name=name,
        qualities=frozenset(),
        styles=frozenset(),
        response_formats=frozenset({"url", "b64_json"}),
        max_n=max_n,
        max_prompt_chars=max_prompt_chars,
        params=_COMMON,
        param_ranges=_RANGES,
        pricing=None if usd is None else Pricing(per_image=(Price(usd=usd),)),
        description=description,
        operations=frozenset({"edit"}) if edit_images else frozenset({"generate"}),
        inputs=InputLimits(max_images=edit_images, media_types=_MEDIA, mask="none") if edit_images else None,
        extra={"protocol": protocol, "size": dict(size_rule)},
    )


_FIXED = {"kind": "fixed", "sizes": QWEN_SIZES}
_QWEN2 = {"kind": "area", "min_pixels": 512 * 512, "max_pixels": 2048 * 2048}
_WAN_NEW = {"kind": "area", "min_pixels": 768 * 768, "max_pixels": 1440 * 1440, "max_aspect": 4.0}
_WAN_OLD = {"kind": "sides", "min_side": 512, "max_side": 1440}
_EDIT = {"kind": "sides", "min_side": 512, "max_side": 2048}

# Prices: Alibaba's Wan text-to-image reference lists wanx2.1-t2i-turbo at US$0.025 and -plus at
# US$0.05 per image. The others' international prices were not captured from an official page:
# no catalogue price, and resp.cost is None for them (DashScope's answer reports images, not money).
MODELS: tuple[ModelInfo, ...] = (
    _info(
        "qwen-image",
        protocol="async",
        size_rule=_FIXED,
        description="Qwen-Image (legacy, async task)",
        max_n=None,
        max_prompt_chars=None,
    ),
    _info(
        "qwen-image-plus",
        protocol="sync",
        size_rule=_FIXED,
        description="Qwen-Image Plus: text in images",
        max_n=None,
        max_prompt_chars=None,
    ),
    _info(
        "qwen-image-max",
        protocol="sync",
        size_rule=_FIXED,
        description="Qwen-Image Max: one image per call",
        max_n=1,
        max_prompt_chars=None,
    ),
    _info(
        "qwen-image-2.0",
        protocol="sync",
        size_rule=_QWEN2,
        description="Qwen-Image 2.0: free size, 1-6 images",
        max_n=6,
        max_prompt_chars=None,
    ),
    _info(
        "qwen-image-2.0-pro",
        protocol="sync",
        size_rule=_QWEN2,
        description="Qwen-Image 2.0 Pro: free size, 1-6 images",
        max_n=6,
        max_prompt_chars=None,
    ),
    _info(
        "qwen-image-edit",
        protocol="sync",
        size_rule=_EDIT,
        description="Qwen-Image-Edit: edit one image",
        max_n=1,
        max_prompt_chars=None,
        edit_images=1,
    ),
    _info(
        "qwen-image-edit-plus",
        protocol="sync",
        size_rule=_EDIT,
        description="Qwen-Image-Edit Plus: edit or combine 1-3 images, 1-6 results",
        max_n=6,
        max_prompt_chars=None,
        edit_images=3,
    ),
    _info(
        "qwen-image-edit-max",
        protocol="sync",
        size_rule=_EDIT,
        description="Qwen-Image-Edit Max: edit 1-3 images",
        max_n=None,
        max_prompt_chars=None,
        edit_images=3,
    ),
    _info(
        "wan2.6-t2i",
        protocol="sync",
        size_rule=_WAN_NEW,
        description="Wan 2.6 text-to-image",
        max_n=4,
        max_prompt_chars=2100,
    ),
    _info(
        "wan2.5-t2i-preview",
        protocol="async",
        size_rule=_WAN_NEW,
        description="Wan 2.5 text-to-image (preview)",
        max_n=4,
        max_prompt_chars=2000,
    ),
    _info(
        "wan2.2-t2i-plus",
        protocol="async",
        size_rule=_WAN_OLD,
        description="Wan 2.2 Plus text-to-image",
        max_n=4,
        max_prompt_chars=500,
    ),
    _info(
        "wan2.2-t2i-flash",
        protocol="async",
        size_rule=_WAN_OLD,
        description="Wan 2.2 Flash text-to-image",
        max_n=4,
        max_prompt_chars=500,
    ),
    _info(
        "wanx2.1-t2i-plus",
        protocol="async",
        size_rule=_WAN_OLD,
        description="Wanx 2.1 Plus text-to-image",
        max_n=4,
        max_prompt_chars=500,
        usd=0.05,
    ),
    _info(
        "wanx2.1-t2i-turbo",
        protocol="async",
        size_rule=_WAN_OLD,
        description="Wanx 2.1 Turbo text-to-image",
        max_n=4,
        max_prompt_chars=500,
        usd=0.025,
    ),
    _info(
        "wanx2.0-t2i-turbo",
        protocol="async",
        size_rule=_WAN_OLD,
        description="Wanx 2.0 Turbo text-to-image",
        max_n=4,
        max_prompt_chars=800,
    ),
)


def _unknown(name: str) -> ModelInfo:
    # A model Alibaba added since (a dated snapshot such as qwen-image-edit-plus-2025-12-15): forwarded as
    # given, on the synchronous protocol (edit models by name take input images), size as W*H.
    edit = "edit" in name
    return ModelInfo(
        name=name,
        known=False,
        response_formats=frozenset({"url", "b64_json"}),
        operations=frozenset({"edit"}) if edit else frozenset({"generate"}),
        extra={
            "protocol": "async" if name.startswith("wan") and "2.6" not in name else "sync",
            "size": {"kind": "any"},
        },
    )


CATALOGUE = Catalogue(
    provider=PROVIDER,
    models={info.name: info for info in MODELS},
    env={"api_key": ("DASHSCOPE_API_KEY",), "api_base": ("DASHSCOPE_API_BASE", "DASHSCOPE_BASE_URL")},
    settings=frozenset({"poll_interval"}),
    default_api_base=DEFAULT_API_BASE,
    unknown=_unknown,
)
