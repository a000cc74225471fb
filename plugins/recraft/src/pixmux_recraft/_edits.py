"""
Recraft's edit tools behind ``image_edit`` and ``image_variation``.

The ``tool`` parameter picks the endpoint under ``/v1/images/``: ``imageToImage`` (the default
without a mask; needs ``strength``), ``inpaint`` (the default with a mask), ``outpaint``
(``expand_*`` or ``zoom_out_percentage``), ``replaceBackground``, ``generateBackground`` (a mask
of the background) and ``eraseRegion`` (a mask, no prompt). A variation is ``variateImage``,
which needs ``size``. Masks are grayscale: white is the area to change.

Bodies are ``multipart/form-data`` with the ``image`` and ``mask`` files (built by httpx); a
request carrying a nested object (``controls``, ``text_layout``) goes as JSON with ``data:``
URLs instead, the only way Recraft takes nested objects.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

import attrs
import httpx
from pixmux.dialects.openai_edits import multipart_request
from pixmux.exceptions import UnsupportedParamsError
from pixmux.inputs import file_content
from pixmux.masks import provider_mask
from pixmux.types import ImageInput, ImageRequest

__all__ = ["TOOLS", "EDIT_PARAMS", "tool_of", "check_edit", "edit_request"]

PROVIDER = "recraft"

#: The edit tools, and whether each needs a mask (True), takes none (False) or either (None).
TOOLS: Mapping[str, bool | None] = {
    "imageToImage": False,
    "inpaint": True,
    "outpaint": False,
    "replaceBackground": False,
    "generateBackground": True,
    "eraseRegion": True,
}
#: Parameters only an edit or a variation takes.
EDIT_PARAMS = frozenset(
    {"tool", "strength", "expand_top", "expand_bottom", "expand_left", "expand_right", "zoom_out_percentage"}
)
_OUTPAINT = ("expand_top", "expand_bottom", "expand_left", "expand_right", "zoom_out_percentage")


def _bad(message: str, model: str, param: str) -> UnsupportedParamsError:
    return UnsupportedParamsError(message, provider=PROVIDER, model=model, param=param)


def tool_of(request: ImageRequest) -> str:
    """The endpoint's last path segment for an edit or a variation."""
    if request.operation == "variation":
        return "variateImage"
    given = request.params.get("tool")
    if isinstance(given, str):
        return given
    return "inpaint" if request.mask is not None else "imageToImage"


def check_edit(request: ImageRequest, model: str) -> None:
    """What each tool needs: a mask or none, ``strength``, a prompt, a size, outpaint's expansion."""
    params = request.params
    if request.operation == "generate":
        for name in EDIT_PARAMS & set(params):
            raise _bad(f"{name} applies to edits (image_edit), not to a generation", model, name)
        return
    tool = tool_of(request)
    if request.operation == "variation":
        if request.size is None:
            raise _bad("a Recraft variation (variateImage) needs size=", model, "size")
        for name in EDIT_PARAMS & set(params):
            raise _bad(f"{name} applies to image_edit, not to a variation", model, name)
        return
    if tool not in TOOLS:
        raise _bad(f"tool={tool!r} is not a Recraft edit tool; accepted: {', '.join(sorted(TOOLS))}", model, "tool")
    needs_mask = TOOLS[tool]
    if needs_mask and request.mask is None:
        raise _bad(f"tool={tool!r} needs a mask (white = the area to change)", model, "mask")
    if needs_mask is False and request.mask is not None:
        raise _bad(f"tool={tool!r} takes no mask", model, "mask")
    if tool == "eraseRegion" and request.prompt:
        raise _bad("tool='eraseRegion' takes no prompt", model, "prompt")
    if tool != "eraseRegion" and not request.prompt:
        raise _bad(f"tool={tool!r} needs a prompt", model, "prompt")
    strength = params.get("strength")
    if tool == "imageToImage":
        if strength is None:
            raise _bad("tool='imageToImage' needs strength= (0 keeps the input, 1 ignores it)", model, "strength")
        if isinstance(strength, bool) or not isinstance(strength, int | float) or not 0 <= strength <= 1:
            raise _bad(f"strength={strength!r} must be a number from 0 to 1", model, "strength")
    elif strength is not None:
        raise _bad(f"strength applies to tool='imageToImage', not {tool!r}", model, "strength")
    given = [name for name in _OUTPAINT if name in params]
    if tool == "outpaint" and not given:
        raise _bad("tool='outpaint' needs expand_top/bottom/left/right or zoom_out_percentage", model, "expand_top")
    if tool != "outpaint" and given:
        raise _bad(f"{given[0]} applies to tool='outpaint'", model, given[0])
    if request.size is not None and tool != "outpaint":
        raise _bad(f"size applies to outpaint and variations, not tool={tool!r}", model, "size")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def _file(image: ImageInput, stem: str) -> tuple[str, Any, str]:
    return (image.filename or f"{stem}.{image.media_type.rsplit('/', 1)[-1]}", file_content(image), image.media_type)


def _data_url(image: ImageInput) -> str:
    return f"data:{image.media_type};base64,{base64.b64encode(image.data).decode('ascii')}"


def edit_request(request: ImageRequest, url: str, headers: Mapping[str, str], model: str) -> httpx.Request:
    """The tool's request: multipart with the image (and mask) files, or JSON with data URLs for nested objects."""
    if request.mask is not None:  # OpenAI's alpha mask as Recraft's own: white = the area to change
        mask = provider_mask(request.mask, edit="white", provider=PROVIDER, model=model)
        request = attrs.evolve(request, mask=mask)
    fields: dict[str, Any] = {"model": model}
    if request.prompt:
        fields["prompt"] = request.prompt
    for name in ("n", "size", "style", "response_format"):
        value = getattr(request, name)
        if value is not None:
            fields[name] = value
    fields.update({k: v for k, v in request.params.items() if k != "tool" and v is not None})
    if any(isinstance(value, Mapping | list) for value in fields.values()):
        fields["image_url"] = _data_url(request.images[0])
        if request.mask is not None:
            fields["mask_url"] = _data_url(request.mask)
        return httpx.Request("POST", url, headers=headers, json=fields)
    files = [("image", _file(request.images[0], "image"))]
    if request.mask is not None:
        files.append(("mask", _file(request.mask, "mask")))
    return multipart_request(url, headers, {k: _text(v) for k, v in fields.items()}, files)
