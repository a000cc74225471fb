"""
Edits and variations on Bedrock: the front door to Titan / Nova task types and Stability's edit models.

``image_edit`` and ``image_variation`` are turned into the family's own parameters here, before
the family's checks run, so the body is the one the older generation path builds:

- Titan / Nova Canvas: an edit with a mask (or ``mask_prompt``) is ``INPAINTING`` (black = edit),
  ``task_type="OUTPAINTING"`` extends the white area (an OpenAI alpha mask is turned into the
  task's black-and-white mask, ``pixmux.masks``), ``task_type="BACKGROUND_REMOVAL"`` takes one
  image and no prompt; an edit without a mask, and every variation, is ``IMAGE_VARIATION`` (1-5
  images, ``similarity_strength``).
- SD3 / SD3.5 Large: an edit is ``mode="image-to-image"`` with ``strength``.
- Stability Image Services (``stability.stable-image-inpaint-v1:0``, outpaint, search and replace,
  search and recolor, erase, remove background, control sketch / structure, style guide, style
  transfer, upscalers): their JSON bodies with the images as base64 strings.

Reaching Titan / Nova edits through generation parameters (``task_type="INPAINTING"`` with
``in_painting_params={"image": ...}``) still works and warns that it is deprecated.
"""

from __future__ import annotations

import base64
import warnings
from collections.abc import Mapping
from typing import Any, Literal

import attrs
from pixmux.exceptions import UnsupportedParamsError
from pixmux.masks import provider_mask
from pixmux.types import ImageInput, ImageRequest

from pixmux_bedrock import _families as fam

__all__ = ["EDIT_TASKS", "as_family_request", "warn_old_path", "stability_edit_body", "EDIT_PARAMS"]

PROVIDER = "bedrock"

#: The Titan / Nova task types that edit an input image.
EDIT_TASKS = frozenset({"INPAINTING", "OUTPAINTING", "IMAGE_VARIATION", "BACKGROUND_REMOVAL"})
#: pixmux's keyword arguments for what the task's sub-object holds, and the wire key each fills.
EDIT_PARAMS: Mapping[str, str] = {
    "mask_prompt": "maskPrompt",
    "outpainting_mode": "outPaintingMode",
    "similarity_strength": "similarityStrength",
}
#: Keys of the task sub-object that come from ``image=`` / ``mask=`` and pixmux's own arguments.
_OWNED = {"image": "image=", "images": "image=", "maskImage": "mask=", **{v: f"{k}=" for k, v in EDIT_PARAMS.items()}}


def _bad(message: str, *, model: str, param: str) -> UnsupportedParamsError:
    return UnsupportedParamsError(message, provider=PROVIDER, model=model, param=param)


def _b64(image: ImageInput) -> str:
    return base64.b64encode(image.data).decode("ascii")


def warn_old_path(request: ImageRequest) -> None:
    """A generation carrying an edit task type (the older way in) still works, with a warning."""
    task = request.params.get("task_type")
    if request.operation == "generate" and task in EDIT_TASKS:
        verb = "image_variation" if task == "IMAGE_VARIATION" else "image_edit"
        warnings.warn(
            f"task_type={task!r} through image_generation is deprecated: use pixmux.{verb}(image=..., "
            f"{'mask=..., ' if task in ('INPAINTING', 'OUTPAINTING') else ''}model=...) instead",
            FutureWarning,
            stacklevel=4,
        )


def _task(request: ImageRequest) -> str:
    given = request.params.get("task_type")
    if given is not None:
        return str(given)
    if request.operation == "edit" and (request.mask is not None or request.params.get("mask_prompt")):
        return "INPAINTING"
    return "IMAGE_VARIATION"


def _amazon(request: ImageRequest) -> ImageRequest:
    model, params = request.model, dict(request.params)
    task = _task(request)
    if task not in EDIT_TASKS:
        accepted = ", ".join(sorted(EDIT_TASKS))
        raise _bad(
            f"task_type={task!r} is not an edit; for image_edit use one of {accepted}", model=model, param="task_type"
        )
    field = fam.TASK_PARAMS[task]
    sub = dict(params.pop(field, None) or {})
    for key, instead in _OWNED.items():
        if key in sub:
            raise _bad(f"{field}[{key!r}] is set from {instead}; pass {instead} instead", model=model, param=field)
    given = {name: params.pop(name) for name in EDIT_PARAMS if name in params}
    images = request.images
    if task == "IMAGE_VARIATION":
        if request.mask is not None or "mask_prompt" in given:
            raise _bad("a mask applies to INPAINTING and OUTPAINTING, not IMAGE_VARIATION", model=model, param="mask")
        sub["images"] = [_b64(image) for image in images]
    else:
        if len(images) != 1:
            raise _bad(f"task_type={task!r} edits one image, not {len(images)}", model=model, param="image")
        sub["image"] = _b64(images[0])
        if task == "BACKGROUND_REMOVAL":
            if request.mask is not None or "mask_prompt" in given:
                raise _bad("BACKGROUND_REMOVAL takes no mask", model=model, param="mask")
            if request.prompt:
                raise _bad("BACKGROUND_REMOVAL takes no prompt", model=model, param="prompt")
        else:
            if request.mask is not None and "mask_prompt" in given:
                raise _bad("give mask= or mask_prompt=, not both", model=model, param="mask_prompt")
            if request.mask is None and "mask_prompt" not in given:
                raise _bad(f"task_type={task!r} needs mask= or mask_prompt=", model=model, param="mask")
            if request.mask is not None:  # INPAINTING edits the black area, OUTPAINTING the white one
                edit: Literal["black", "white"] = "black" if task == "INPAINTING" else "white"
                sub["maskImage"] = _b64(
                    provider_mask(request.mask, edit=edit, mode="RGB", provider=PROVIDER, model=model)
                )
            if task == "OUTPAINTING" and not request.prompt:
                raise _bad("OUTPAINTING needs a prompt: what to draw in the new area", model=model, param="prompt")
    for name, wire in EDIT_PARAMS.items():
        if name in given:
            sub[wire] = given[name]
    params["task_type"] = task
    params[field] = sub
    return attrs.evolve(request, params=params)


def as_family_request(request: ImageRequest, family: str) -> ImageRequest:
    """An edit or variation as the family's own parameters (unchanged for a generation or a Stability edit model)."""
    if request.operation == "generate" or family == fam.STABILITY_EDIT:
        return request
    if family in (fam.TITAN, fam.NOVA):
        return _amazon(request)
    if family == fam.STABILITY3:
        if request.operation == "variation" or len(request.images) != 1:
            raise _bad(f"{request.model} edits one image (image-to-image)", model=request.model, param="image")
        params = {**request.params, "mode": "image-to-image", "image": _b64(request.images[0])}
        return attrs.evolve(request, params=params)
    raise _bad(f"{request.model} cannot edit images", model=request.model, param="model")


def stability_edit_body(request: ImageRequest, service: Mapping[str, Any], seed: int | None) -> dict[str, Any]:
    """The JSON body of a Stability Image Service on Bedrock: its images as base64 strings, then its fields."""
    body: dict[str, Any] = {}
    for name, image in zip(service["image_fields"], request.images, strict=False):
        body[name] = _b64(image)
    if request.mask is not None:  # Stability: white = edit
        body["mask"] = _b64(provider_mask(request.mask, edit="white", provider=PROVIDER, model=request.model))
    if request.prompt:
        body["prompt"] = request.prompt
    for key, value in request.params.items():
        if key not in fam.HEADER_PARAMS and key != "seed" and value is not None:
            body[key] = value
    if seed is not None:
        body["seed"] = seed
    return body
