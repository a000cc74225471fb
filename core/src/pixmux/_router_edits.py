"""
The router's edits and variations: read the inputs once, then route them as a generation is.

Retries, fallbacks, cooldowns and limits are the generation's own (``Router.image_generation``):
the engine's keywords carry the operation and the images to every attempt unchanged.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from pixmux.inputs import ImageSource, aread_images, read_images
from pixmux.types import ImageResponse, ImageStreamEvent

if TYPE_CHECKING:
    from pixmux.router import Router

__all__ = [
    "image_edit",
    "aimage_edit",
    "stream_image_edit",
    "astream_image_edit",
    "image_variation",
    "aimage_variation",
]


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


def stream_image_edit(
    self: Router,
    image: ImageSource | Sequence[ImageSource],
    prompt: str,
    model: str,
    *,
    mask: ImageSource | None = None,
    allow_urls: bool = False,
    **kwargs: Any,
) -> Iterator[ImageStreamEvent]:
    """
    :meth:`Router.image_edit` as a stream of ``image_edit.*`` events (:func:`pixmux.image_edit`, ``stream=True``).

    As :meth:`Router.stream_image_generation`: retries and fallbacks only before the first event,
    and the last completed event's metadata says which ``deployment`` served it. The inputs are
    read once, when the stream is first iterated.
    """

    def inputs() -> dict[str, Any]:
        images, mask_input = read_images(image, mask, allow_urls=allow_urls)
        return {"operation": "edit", "images": images, "mask": mask_input}

    return self._stream(model, kwargs, functools.partial(self.engine.stream_image_generation, prompt), inputs)


def astream_image_edit(
    self: Router,
    image: ImageSource | Sequence[ImageSource],
    prompt: str,
    model: str,
    *,
    mask: ImageSource | None = None,
    allow_urls: bool = False,
    **kwargs: Any,
) -> AsyncIterator[ImageStreamEvent]:
    """The async twin of :meth:`Router.stream_image_edit`."""

    async def inputs() -> dict[str, Any]:
        images, mask_input = await aread_images(image, mask, allow_urls=allow_urls)
        return {"operation": "edit", "images": images, "mask": mask_input}

    return self._astream(model, kwargs, functools.partial(self.engine.astream_image_generation, prompt), inputs)


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
