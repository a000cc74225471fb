"""
The router's edits and variations: read the inputs once, then route them as a generation is.

Retries, fallbacks, cooldowns and limits are the generation's own (``Router.image_generation``):
the engine's keywords carry the operation and the images to every attempt unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pixmux.inputs import ImageSource, aread_images, read_images
from pixmux.types import ImageResponse

if TYPE_CHECKING:
    from pixmux.router import Router

__all__ = ["image_edit", "aimage_edit", "image_variation", "aimage_variation"]


def image_edit(
    self: Router,
    image: ImageSource | Sequence[ImageSource],
    prompt: str,
    model: str,
    *,
    mask: ImageSource | None = None,
    allow_urls: bool = False,
    **kwargs: Any,
) -> ImageResponse:
    """Edit through the deployments of ``model``; takes :func:`pixmux.image_edit`'s parameters."""
    images, mask_input = read_images(image, mask, allow_urls=allow_urls)
    return self.image_generation(prompt, model, operation="edit", images=images, mask=mask_input, **kwargs)


async def aimage_edit(
    self: Router,
    image: ImageSource | Sequence[ImageSource],
    prompt: str,
    model: str,
    *,
    mask: ImageSource | None = None,
    allow_urls: bool = False,
    **kwargs: Any,
) -> ImageResponse:
    """The async twin of :meth:`Router.image_edit`."""
    images, mask_input = await aread_images(image, mask, allow_urls=allow_urls)
    return await self.aimage_generation(prompt, model, operation="edit", images=images, mask=mask_input, **kwargs)


def image_variation(
    self: Router, image: ImageSource | Sequence[ImageSource], model: str, *, allow_urls: bool = False, **kwargs: Any
) -> ImageResponse:
    """Variations through the deployments of ``model``; takes :func:`pixmux.image_variation`'s parameters."""
    images, _ = read_images(image, allow_urls=allow_urls)
    return self.image_generation("", model, operation="variation", images=images, **kwargs)


async def aimage_variation(
    self: Router, image: ImageSource | Sequence[ImageSource], model: str, *, allow_urls: bool = False, **kwargs: Any
) -> ImageResponse:
    """The async twin of :meth:`Router.image_variation`."""
    images, _ = await aread_images(image, allow_urls=allow_urls)
    return await self.aimage_generation("", model, operation="variation", images=images, **kwargs)
