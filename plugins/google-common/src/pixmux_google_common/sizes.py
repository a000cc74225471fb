"""
OpenAI's ``size`` and ``quality`` as Google's aspect ratio and size tier.

Google models take an aspect ratio (``"16:9"``) and, for some, a size tier (``"1K"``, ``"2K"``,
``"4K"``; Imagen calls the field ``sampleImageSize``, Gemini ``imageSize``), never pixels. A
``WIDTHxHEIGHT`` size becomes the nearest aspect ratio the model lists (compared in log space)
and the tier whose megapixels are nearest; when either is not exact, :func:`choose_size`
returns a note saying what the model will make, which the caller raises as a warning. A size
that cannot be met (an aspect ratio far from every listed one, or many more pixels than the
largest tier) is refused.

``quality`` picks the tier when no size is given: ``low`` the smallest, ``medium``/``standard``
``1K``, ``high``/``hd`` ``2K`` (or the largest below it).
"""

from __future__ import annotations

import math

import attrs
from pixmux.catalogue import ModelInfo, nearest_aspect_ratio, parse_size
from pixmux.exceptions import UnsupportedParamsError
from pixmux.types import ImageRequest

from pixmux_google_common.models import TIER_MEGAPIXELS

__all__ = ["SizeChoice", "choose_size", "MAX_RATIO_OFF", "MAX_PIXEL_FACTOR"]

#: Largest accepted distance between the requested and the chosen aspect ratio, in log space (about 22 %).
MAX_RATIO_OFF = 0.2
#: A size asking for more than this many times the largest tier's pixels is refused.
MAX_PIXEL_FACTOR = 2.0
#: Relative differences below these are not worth a warning.
_RATIO_EXACT = 0.01
_PIXELS_CLOSE = math.log(1.25)
#: Megapixels of a model that has no tiers (one fixed size, 1024x1024 for 1:1).
_FIXED_MEGAPIXELS = 1.0


@attrs.frozen(kw_only=True)
class SizeChoice:
    """
    What goes on the wire for a request's size.

    Attributes:
        aspect_ratio: the ``aspectRatio`` to send, or ``None`` for the model's default.
        tier: the size tier to send, or ``None`` for the model's default.
        note: a sentence describing the approximation made, or ``None`` when the request was met exactly.
    """

    aspect_ratio: str | None = None
    tier: str | None = None
    note: str | None = None


def _quality_tier(quality: str | None, tiers: tuple[str, ...]) -> str | None:
    if not tiers or quality in (None, "auto"):
        return None
    if quality == "low":
        return tiers[0]
    wanted = "2K" if quality in ("high", "hd") else "1K"
    if wanted in tiers:
        return wanted
    below = [tier for tier in tiers if TIER_MEGAPIXELS[tier] <= TIER_MEGAPIXELS[wanted]]
    return below[-1] if below else tiers[0]


def _nearest_tier(megapixels: float, tiers: tuple[str, ...]) -> str:
    return min(tiers, key=lambda tier: abs(math.log(TIER_MEGAPIXELS[tier] / megapixels)))


def choose_size(request: ImageRequest, info: ModelInfo, *, provider: str) -> SizeChoice:
    """
    The aspect ratio and tier for ``request`` on the model ``info`` describes.

    Native ``aspectRatio`` and tier parameters win; ``size`` and ``quality`` are mapped only
    when they are not given.

    Raises:
        UnsupportedParamsError: ``size`` conflicts with a native parameter, is not ``WxH``, or cannot be met.
    """
    ratios: tuple[str, ...] = tuple(info.extra.get("ratios", ()))
    tiers: tuple[str, ...] = tuple(info.extra.get("tiers", ()))
    field = str(info.extra.get("tier_field", "imageSize"))
    native_ratio = request.params.get("aspectRatio")
    native_tier = request.params.get(field)
    model = info.name
    if request.size in (None, "auto"):
        tier = native_tier if native_tier is not None else _quality_tier(request.quality, tiers)
        return SizeChoice(aspect_ratio=native_ratio, tier=tier)
    assert request.size is not None
    for name, value in (("aspectRatio", native_ratio), (field, native_tier)):
        if value is not None:
            raise UnsupportedParamsError(
                f"size={request.size!r} and {name}={value!r} both set the image's shape; give one of them",
                provider=provider,
                model=model,
                param="size",
            )
    width, height = parse_size(request.size, provider=provider, model=model)
    ratio, off = nearest_aspect_ratio(width, height, ratios)
    if off > MAX_RATIO_OFF and info.known:
        raise UnsupportedParamsError(
            f"size={request.size!r} is too far from every aspect ratio {model} makes; "
            f"accepted: a WIDTHxHEIGHT near one of {', '.join(ratios)}",
            provider=provider,
            model=model,
            param="size",
        )
    megapixels = width * height / 1e6
    tier = _nearest_tier(megapixels, tiers) if tiers else None
    most = max((TIER_MEGAPIXELS[t] for t in tiers), default=_FIXED_MEGAPIXELS)
    if megapixels > most * MAX_PIXEL_FACTOR and info.known:
        largest = f"the {tiers[-1]} tier" if tiers else "one size"
        raise UnsupportedParamsError(
            f"size={request.size!r} is larger than {model} makes (its largest is {largest}, "
            f"about {most:g} megapixels); ask for a smaller size",
            provider=provider,
            model=model,
            param="size",
        )
    made = TIER_MEGAPIXELS[tier] if tier is not None else _FIXED_MEGAPIXELS
    changes = []
    if off > _RATIO_EXACT:
        changes.append(f"aspect ratio {ratio} is the nearest {model} makes")
    if info.known and abs(math.log(made / megapixels)) > _PIXELS_CLOSE:
        at = f"the {tier} tier" if tier is not None else "its one size"
        changes.append(f"it makes about {made:g} megapixels at {at}")
    quality_tier = _quality_tier(request.quality, tiers)
    if quality_tier is not None and quality_tier != tier:
        changes.append(f"quality={request.quality!r} is ignored because size sets the tier ({tier})")
    note = f"size={request.size!r} approximated: {'; '.join(changes)}" if changes else None
    return SizeChoice(aspect_ratio=ratio, tier=tier, note=note)
