"""
pixmux: one OpenAI-style API over every image-generation model.

>>> import pixmux
>>> resp = pixmux.image_generation(prompt="A cute baby sea otter", model="gpt-image-1")  # doctest: +SKIP
>>> resp.data[0].save("otter.png")  # doctest: +SKIP

Names are imported on first use, so ``import pixmux`` stays fast and loads no plugin.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "1.0.0"

_LAZY: dict[str, str] = {
    "image_generation": "pixmux._api",
    "aimage_generation": "pixmux._api",
    "image_edit": "pixmux._api",
    "aimage_edit": "pixmux._api",
    "image_variation": "pixmux._api",
    "aimage_variation": "pixmux._api",
    "Engine": "pixmux._engine",
    "PixmuxWarning": "pixmux._engine",
    "default_engine": "pixmux._engine",
    "set_default_engine": "pixmux._engine",
    "hookimpl": "pixmux.hookspecs",
    "hookspec": "pixmux.hookspecs",
    "ImageRequest": "pixmux.types",
    "Deployment": "pixmux.types",
    "Auth": "pixmux.types",
    "ImageObject": "pixmux.types",
    "ImageResponse": "pixmux.types",
    "Usage": "pixmux.types",
    "FollowUp": "pixmux.types",
    "Refusal": "pixmux.types",
    "ImageInput": "pixmux.types",
    "Catalogue": "pixmux.catalogue",
    "ModelInfo": "pixmux.catalogue",
    "Pricing": "pixmux.catalogue",
    "Price": "pixmux.catalogue",
    "Router": "pixmux.router",
}
_EXCEPTIONS = (
    "PixmuxError",
    "ConfigurationError",
    "ProviderNotFoundError",
    "PluginConflictError",
    "BadRequestError",
    "UnsupportedParamsError",
    "ContentPolicyViolationError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "RateLimitError",
    "UnprocessableEntityError",
    "APIResponseValidationError",
    "APIConnectionError",
    "Timeout",
    "InternalServerError",
    "ServiceUnavailableError",
    "AllAttemptsFailedError",
)
_LAZY.update(dict.fromkeys(_EXCEPTIONS, "pixmux.exceptions"))

__all__ = [
    "__version__",
    "image_generation",
    "aimage_generation",
    "image_edit",
    "aimage_edit",
    "image_variation",
    "aimage_variation",
    "Engine",
    "PixmuxWarning",
    "default_engine",
    "set_default_engine",
    "hookimpl",
    "hookspec",
    "ImageRequest",
    "Deployment",
    "Auth",
    "ImageObject",
    "ImageResponse",
    "Usage",
    "FollowUp",
    "Refusal",
    "ImageInput",
    "Catalogue",
    "ModelInfo",
    "Pricing",
    "Price",
    "Router",
    "PixmuxError",
    "ConfigurationError",
    "ProviderNotFoundError",
    "PluginConflictError",
    "BadRequestError",
    "UnsupportedParamsError",
    "ContentPolicyViolationError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "RateLimitError",
    "UnprocessableEntityError",
    "APIResponseValidationError",
    "APIConnectionError",
    "Timeout",
    "InternalServerError",
    "ServiceUnavailableError",
    "AllAttemptsFailedError",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pixmux' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from pixmux._api import (
        aimage_edit,
        aimage_generation,
        aimage_variation,
        image_edit,
        image_generation,
        image_variation,
    )
    from pixmux._engine import Engine, PixmuxWarning, default_engine, set_default_engine
    from pixmux.catalogue import Catalogue, ModelInfo, Price, Pricing
    from pixmux.exceptions import (
        AllAttemptsFailedError,
        APIConnectionError,
        APIResponseValidationError,
        AuthenticationError,
        BadRequestError,
        ConfigurationError,
        ContentPolicyViolationError,
        InternalServerError,
        NotFoundError,
        PermissionDeniedError,
        PixmuxError,
        PluginConflictError,
        ProviderNotFoundError,
        RateLimitError,
        ServiceUnavailableError,
        Timeout,
        UnprocessableEntityError,
        UnsupportedParamsError,
    )
    from pixmux.hookspecs import hookimpl, hookspec
    from pixmux.router import Router
    from pixmux.types import (
        Auth,
        Deployment,
        FollowUp,
        ImageInput,
        ImageObject,
        ImageRequest,
        ImageResponse,
        Refusal,
        Usage,
    )
