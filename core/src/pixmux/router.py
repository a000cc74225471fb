"""
``pixmux.Router``: several deployments behind one model name.

The gateway config's ``model_list`` shape, used from Python::

    router = pixmux.Router(model_list=[
        {"model_name": "gpt-image-1", "litellm_params": {"model": "azure/gpt-image-1", "api_base": "..."}},
        {"model_name": "gpt-image-1", "litellm_params": {"model": "openai/gpt-image-1"}},
    ])
    resp = router.image_generation(model="gpt-image-1", prompt="an otter")
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from pixmux._engine import Engine, default_engine
from pixmux.exceptions import ConfigurationError, NotFoundError
from pixmux.types import ImageResponse

__all__ = ["Router", "RouterDeployment"]


@attrs.frozen(kw_only=True)
class RouterDeployment:
    """One entry of ``model_list``: the name clients ask for and the call parameters behind it."""

    id: str
    model_name: str
    params: Mapping[str, Any] = attrs.field(repr=False)
    model_info: Mapping[str, Any] = attrs.field(factory=dict)
    weight: float = 1.0

    @property
    def model(self) -> str:
        """The pixmux model string (``"azure/gpt-image-1"``)."""
        return str(self.params["model"])


def _deployments(model_list: Sequence[Mapping[str, Any]]) -> list[RouterDeployment]:
    found = []
    for index, entry in enumerate(model_list):
        if not isinstance(entry, Mapping):
            raise ConfigurationError(f"model_list[{index}] must be a mapping", param=f"model_list[{index}]")
        name = entry.get("model_name")
        params = entry.get("litellm_params", entry.get("params"))
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"model_list[{index}].model_name must be a non-empty string", param="model_name")
        if not isinstance(params, Mapping) or not isinstance(params.get("model"), str):
            raise ConfigurationError(
                f"model_list[{index}].litellm_params.model must be a pixmux model string", param="litellm_params.model"
            )
        info = entry.get("model_info") or {}
        weight = params.get("weight", 1.0)
        found.append(
            RouterDeployment(
                id=str(info.get("id") or f"{name}-{index}"),
                model_name=name,
                params={k: v for k, v in params.items() if k not in ("weight",)},
                model_info=dict(info),
                weight=float(weight),
            )
        )
    return found


class Router:
    """
    Route calls for a model name across the deployments that serve it.

    Args:
        model_list: the gateway config's ``model_list`` entries.
        engine: the engine to call through (the process-wide one by default).
    """

    def __init__(self, model_list: Sequence[Mapping[str, Any]], *, engine: Engine | None = None) -> None:
        self.deployments = _deployments(model_list)
        self.engine = engine or default_engine()
        self._groups: dict[str, list[RouterDeployment]] = {}
        for deployment in self.deployments:
            self._groups.setdefault(deployment.model_name, []).append(deployment)

    @property
    def model_names(self) -> list[str]:
        """The model names clients may ask for, in config order."""
        return list(self._groups)

    def group(self, model_name: str) -> list[RouterDeployment]:
        """The deployments serving ``model_name``."""
        found = self._groups.get(model_name)
        if not found:
            raise NotFoundError(
                f"model {model_name!r} is not configured; available: {', '.join(self._groups) or 'none'}", param="model"
            )
        return found

    def pick(self, model_name: str) -> RouterDeployment:
        """Choose a deployment by weighted shuffle."""
        group = self.group(model_name)
        return random.choices(group, weights=[d.weight for d in group])[0]  # noqa: S311 - load balancing, not security

    def _kwargs(self, deployment: RouterDeployment, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        return {**kwargs, **deployment.params}

    def image_generation(self, prompt: str, model: str, **kwargs: Any) -> ImageResponse:
        """Generate through one deployment of ``model`` (a configured model name)."""
        deployment = self.pick(model)
        response = self.engine.image_generation(prompt, **self._kwargs(deployment, kwargs))
        return response.with_metadata(deployment=deployment.id, attempts=1)

    async def aimage_generation(self, prompt: str, model: str, **kwargs: Any) -> ImageResponse:
        """The async twin of :meth:`image_generation`."""
        deployment = self.pick(model)
        response = await self.engine.aimage_generation(prompt, **self._kwargs(deployment, kwargs))
        return response.with_metadata(deployment=deployment.id, attempts=1)
