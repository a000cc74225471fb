"""
OpenAI's edit and variation requests: ``multipart/form-data`` bodies built by httpx.

Public, in the core, so that plugins for OpenAI-shaped providers (Azure, any OpenAI-compatible server)
send the same parts the official ``openai`` client sends: ``image`` for one file,
``image[]`` repeated for several, ``mask``, and the text fields.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import httpx

from pixmux._pieces import pieces_request
from pixmux.inputs import file_content
from pixmux.types import ImageInput, ImageRequest, image_extension

__all__ = ["edit_path", "multipart_request", "form_fields", "file_parts"]

_FileParts = list[tuple[str, tuple[str, Any, str]]]


def edit_path(request: ImageRequest) -> str:
    """The endpoint's path below the API base: ``/images/edits`` or ``/images/variations``."""
    return "/images/variations" if request.operation == "variation" else "/images/edits"


def _text(value: Any) -> str | list[str]:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple) and all(isinstance(item, str | int | float) for item in value):
        return [str(item) for item in value]
    return json.dumps(value, separators=(",", ":"))


def form_fields(
    request: ImageRequest, model: str | None, *, openai_params: Iterable[str], extra: bool = True
) -> dict[str, str | list[str]]:
    """
    The text fields: ``model``, ``prompt`` (not for a variation) and every set parameter, as text.

    Booleans are sent as ``true``/``false`` and numbers in decimal, as the ``openai`` client sends
    them; a provider-specific object is sent as its JSON text.
    """
    fields: dict[str, str | list[str]] = {}
    if model is not None:
        fields["model"] = model
    if request.operation != "variation":
        fields["prompt"] = request.prompt
    for name in openai_params:
        value = getattr(request, name) if name in ImageRequest.OPENAI_PARAMS else request.params.get(name)
        if value is not None:
            fields[name] = _text(value)
    if extra:
        for name, value in request.params.items():
            if value is not None:
                fields[name] = _text(value)
    return fields


def _file(image: ImageInput, stem: str) -> tuple[str, Any, str]:
    name = image.filename or f"{stem}.{image_extension(image.head(1024))}"
    return (name, file_content(image), image.media_type)


def file_parts(request: ImageRequest, *, list_name: str = "image[]") -> _FileParts:
    """
    The file parts: ``image`` for one image, ``list_name`` (``image[]``) repeated for several, then ``mask``.
    """
    parts: _FileParts = []
    if len(request.images) == 1:
        parts.append(("image", _file(request.images[0], "image")))
    else:
        parts.extend((list_name, _file(image, f"image-{index}")) for index, image in enumerate(request.images))
    if request.mask is not None:
        parts.append(("mask", _file(request.mask, "mask")))
    return parts


def multipart_request(
    url: httpx.URL | str,
    headers: Mapping[str, str],
    fields: Mapping[str, str | list[str]],
    files: Sequence[tuple[str, Any]],
) -> httpx.Request:
    """
    ``POST url`` with a ``multipart/form-data`` body, built by httpx (``httpx.Request(data=, files=)``).

    The body is held in memory as httpx renders it, the images as their own ``bytes`` objects
    (:func:`pixmux._pieces.pieces_request`): the same request can be sent again (a retry) and
    by either transport, ``request.content`` gives the whole body, and the async transport
    writes the images to the socket without first copying them into one joined body.
    """
    return pieces_request("POST", url, headers=headers, data=dict(fields), files=files)
