"""
Per-deployment prices from ``model_info`` (LiteLLM's keys), for a routed call's cost and for
``cost-based-routing``.

LiteLLM's keys, as it reads them for image models:

- ``output_cost_per_image``: each generated image;
- ``input_cost_per_pixel`` / ``output_cost_per_pixel``: each pixel of each generated image
  (LiteLLM lists DALL-E's per-pixel price as ``input_cost_per_pixel``; pixmux adds both);
- ``input_cost_per_image``: each input image of an edit or a variation.

A deployment carrying any of them is priced by them alone (the catalogue's price is for the
provider's list price; a deployment's own price is what this account pays).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pixmux.exceptions import PixmuxError

__all__ = ["PRICE_KEYS", "has_prices", "deployment_cost", "pixels"]

PRICE_KEYS = ("input_cost_per_image", "output_cost_per_image", "input_cost_per_pixel", "output_cost_per_pixel")


def has_prices(model_info: Mapping[str, Any]) -> bool:
    """Whether ``model_info`` sets any price pixmux reads."""
    return any(model_info.get(key) is not None for key in PRICE_KEYS)


def pixels(size: object) -> int | None:
    """Width times height of ``"1024x1536"``; ``None`` for ``"auto"``, ``None`` or anything else."""
    if not isinstance(size, str):
        return None
    width, sep, height = size.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        return None
    return int(width) * int(height)


def _price(model_info: Mapping[str, Any], key: str) -> float:
    value = model_info.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return 0.0


def deployment_cost(model_info: Mapping[str, Any], *, images: int, size: object, inputs: int = 0) -> float | None:
    """
    The cost of ``images`` generated images of ``size`` (and ``inputs`` input images), in US dollars.

    ``None`` when ``model_info`` sets no price, or prices pixels and the size is unknown.
    """
    if not has_prices(model_info):
        return None
    total = images * _price(model_info, "output_cost_per_image") + inputs * _price(model_info, "input_cost_per_image")
    per_pixel = _price(model_info, "input_cost_per_pixel") + _price(model_info, "output_cost_per_pixel")
    if per_pixel:
        count = pixels(size)
        if count is None:
            return None
        total += images * count * per_pixel
    return round(total, 10)


def _inputs(arguments: Mapping[str, Any]) -> int:
    """How many input images a call carries: the router's ``images`` (read inputs), or a caller's ``image``."""
    given = arguments.get("images")
    if given is None:
        given = arguments.get("image")
    if given is None:
        return 0
    return len(given) if isinstance(given, list | tuple) else 1


def with_deployment_cost(response: Any, model_info: Mapping[str, Any], arguments: Mapping[str, Any]) -> Any:
    """``response`` (an :class:`~pixmux.ImageResponse`) costed by the deployment's own prices, when it has any."""
    if not has_prices(model_info):
        return response
    import attrs

    size = response.size or arguments.get("size")
    cost = deployment_cost(model_info, images=len(response.data), size=size, inputs=_inputs(arguments))
    return attrs.evolve(response, cost=cost)


def estimate(engine: Any, deployment: Any, arguments: Mapping[str, Any], images: int) -> float:
    """
    What a call would cost on ``deployment`` (a :class:`~pixmux.router.RouterDeployment`), before it is made.

    Its ``model_info`` prices where it has any, else the catalogue's per-image price for the
    call's size and quality; ``inf`` when neither says.
    """
    merged = {**arguments, **deployment.params}
    size, quality = merged.get("size"), merged.get("quality")
    if has_prices(deployment.model_info):
        found = deployment_cost(deployment.model_info, images=images, size=size, inputs=_inputs(merged))
        return math.inf if found is None else found
    try:
        provider, model = engine.registry.resolve(deployment.model, merged.get("custom_llm_provider"))
        info = engine.registry.get(provider).catalogue.lookup(model)
    except PixmuxError:  # an unknown provider has no known price
        return math.inf
    base = deployment.model_info.get("base_model")
    pricing = info.pricing
    if pricing is None and isinstance(base, str):
        try:
            pricing = engine.registry.get(provider).catalogue.lookup(base.rsplit("/", 1)[-1]).pricing
        except PixmuxError:
            pricing = None
    if pricing is None:
        return math.inf
    each = pricing.image_price(size if isinstance(size, str) else None, quality if isinstance(quality, str) else None)
    return math.inf if each is None else each * images
