"""
The engine's edit and variation calls: read the inputs (URLs through the engine's transport), then run as a generation.

A mixin of :class:`pixmux._engine.Engine`, kept apart so the engine's own module stays about
generations; ``Engine.prepare`` carries the operation, images and mask into the request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from pixmux._retry import pop_num_retries
from pixmux.inputs import ImageSource, aread_images, read_images
from pixmux.types import ImageInput, ImageResponse, ImageStreamEvent, Operation

if TYPE_CHECKING:
    from pixmux._engine import Call
    from pixmux._transport import AsyncTransport, SyncTransport

__all__ = ["EditCalls"]

DEFAULT_MODEL = "openai/gpt-image-1"


class _Engine(Protocol):
    """What the mixin uses of :class:`pixmux._engine.Engine`."""

    @property
    def transport(self) -> SyncTransport: ...

    def async_transport(self) -> AsyncTransport: ...

    def prepare(self, *, prompt: str, model: str = ..., **kwargs: Any) -> Call: ...

    def run(self, call: Call, *, mock: object = ..., retries: int = ...) -> ImageResponse: ...

    async def arun(self, call: Call, *, mock: object = ..., retries: int = ...) -> ImageResponse: ...

    def stream(self, call: Call, *, mock: object = ..., retries: int = ...) -> Iterator[ImageStreamEvent]: ...

    def astream(self, call: Call, *, mock: object = ..., retries: int = ...) -> AsyncIterator[ImageStreamEvent]: ...

    def _edit_call(
        self,
        operation: Operation,
        *,
        prompt: str,
        model: str,
        images: Sequence[ImageInput],
        mask: ImageInput | None,
        kwargs: dict[str, Any],
    ) -> tuple[Call, object, int]: ...

    def _operation(
        self,
        operation: Operation,
        *,
        prompt: str,
        model: str,
        images: Sequence[ImageInput],
        mask: ImageInput | None,
        kwargs: dict[str, Any],
    ) -> ImageResponse: ...


class EditCalls:
    """``image_edit``, ``aimage_edit``, ``image_variation`` and ``aimage_variation`` for the engine."""

    def image_edit(
        self: _Engine,
        image: ImageSource | Sequence[ImageSource],
        prompt: str,
        model: str = DEFAULT_MODEL,
        *,
        mask: ImageSource | None = None,
        allow_urls: bool = False,
        **kwargs: Any,
    ) -> ImageResponse | Iterator[ImageStreamEvent]:
        """Edit images; see :func:`pixmux.image_edit` for the parameters."""
        send = self.transport.send if allow_urls else None
        images, mask_input = read_images(image, mask, allow_urls=allow_urls, send=send)
        if kwargs.get("stream"):
            call, mock, retries = self._edit_call(
                "edit", prompt=prompt, model=model, images=images, mask=mask_input, kwargs=kwargs
            )
            return self.stream(call, mock=mock, retries=retries)
        return self._operation("edit", prompt=prompt, model=model, images=images, mask=mask_input, kwargs=kwargs)

    async def aimage_edit(
        self: _Engine,
        image: ImageSource | Sequence[ImageSource],
        prompt: str,
        model: str = DEFAULT_MODEL,
        *,
        mask: ImageSource | None = None,
        allow_urls: bool = False,
        **kwargs: Any,
    ) -> ImageResponse | AsyncIterator[ImageStreamEvent]:
        """Edit images without blocking the event loop; see :func:`pixmux.aimage_edit`."""
        send = self.async_transport().send if allow_urls else None
        images, mask_input = await aread_images(image, mask, allow_urls=allow_urls, send=send)
        call = self._edit_call("edit", prompt=prompt, model=model, images=images, mask=mask_input, kwargs=kwargs)
        if kwargs.get("stream"):
            return self.astream(call[0], mock=call[1], retries=call[2])
        return await self.arun(call[0], mock=call[1], retries=call[2])

    def image_variation(
        self: _Engine,
        image: ImageSource | Sequence[ImageSource],
        model: str = "dall-e-2",
        *,
        allow_urls: bool = False,
        **kwargs: Any,
    ) -> ImageResponse:
        """Make variations of an image; see :func:`pixmux.image_variation`."""
        send = self.transport.send if allow_urls else None
        images, _ = read_images(image, allow_urls=allow_urls, send=send)
        return self._operation("variation", prompt="", model=model, images=images, mask=None, kwargs=kwargs)

    async def aimage_variation(
        self: _Engine,
        image: ImageSource | Sequence[ImageSource],
        model: str = "dall-e-2",
        *,
        allow_urls: bool = False,
        **kwargs: Any,
    ) -> ImageResponse:
        """Make variations without blocking the event loop; see :func:`pixmux.aimage_variation`."""
        send = self.async_transport().send if allow_urls else None
        images, _ = await aread_images(image, allow_urls=allow_urls, send=send)
        call = self._edit_call("variation", prompt="", model=model, images=images, mask=None, kwargs=kwargs)
        return await self.arun(call[0], mock=call[1], retries=call[2])

    def _edit_call(
        self: _Engine,
        operation: Operation,
        *,
        prompt: str,
        model: str,
        images: Sequence[ImageInput],
        mask: ImageInput | None,
        kwargs: dict[str, Any],
    ) -> tuple[Call, object, int]:
        mock = kwargs.pop("mock_response", None)
        retries = pop_num_retries(kwargs)
        call = self.prepare(prompt=prompt, model=model, operation=operation, images=images, mask=mask, **kwargs)
        return call, mock, retries

    def _operation(
        self: _Engine,
        operation: Operation,
        *,
        prompt: str,
        model: str,
        images: Sequence[ImageInput],
        mask: ImageInput | None,
        kwargs: dict[str, Any],
    ) -> ImageResponse:
        call, mock, retries = self._edit_call(
            operation, prompt=prompt, model=model, images=images, mask=mask, kwargs=kwargs
        )
        return self.run(call, mock=mock, retries=retries)
