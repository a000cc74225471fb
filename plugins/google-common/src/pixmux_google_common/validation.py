"""
The ``validate_params`` rules both Google providers apply.

On top of :func:`pixmux.catalogue.check_request`: snake_case spellings of Google's field
names are accepted and renamed (``negative_prompt`` → ``negativePrompt``), enum values are
put in the case Google documents, structured parameters (``outputOptions``,
``safetySettings``...) are checked field by field, ``size`` must map to something the model
makes, and a model Google has shut down is announced with a warning.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
from pixmux import PixmuxWarning
from pixmux.catalogue import ModelInfo, check_request
from pixmux.exceptions import UnsupportedParamsError
from pixmux.types import ImageRequest

from pixmux_google_common.models import PREDICT
from pixmux_google_common.sizes import choose_size

__all__ = ["validate_request"]

_BOOL_PARAMS = ("addWatermark", "enhancePrompt", "includeRaiReason", "includeSafetyAttributes")
_MIME_TYPES = frozenset({"image/png", "image/jpeg"})
_GEMINI_MIME_TYPES = frozenset({"image/png", "image/jpeg", "image/webp"})
_MODALITIES = frozenset({"TEXT", "IMAGE"})


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _fail(message: str, *, provider: str, model: str, param: str) -> UnsupportedParamsError:
    return UnsupportedParamsError(message, provider=provider, model=model, param=param)


def _renamed(request: ImageRequest, info: ModelInfo, provider: str) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, value in request.params.items():
        camel = _camel(name)
        if camel != name and (info.params is None or camel in info.params):
            if camel in request.params:
                raise _fail(
                    f"{name!r} and {camel!r} are the same parameter; give it once",
                    provider=provider,
                    model=info.name,
                    param=name,
                )
            params[camel] = value
        else:
            params[name] = value
    return params


def _normalize_case(params: dict[str, Any], api: str) -> None:
    if api == PREDICT:
        for name in ("safetySetting", "personGeneration"):
            if isinstance(params.get(name), str):
                params[name] = params[name].lower()
    elif isinstance(params.get("personGeneration"), str):
        params["personGeneration"] = params["personGeneration"].upper()
    for name in ("sampleImageSize", "imageSize"):
        value = params.get(name)
        if isinstance(value, str) and value.lower().endswith("k"):
            params[name] = value.upper()  # Google wants "2K", not "2k"


def _check_output_options(value: Any, *, name: str, mime_types: frozenset[str], provider: str, model: str) -> None:
    if not isinstance(value, Mapping):
        raise _fail(
            f"{name} must be a dict such as {{'mimeType': 'image/jpeg', 'compressionQuality': 80}}",
            provider=provider,
            model=model,
            param=name,
        )
    unknown = set(value) - {"mimeType", "compressionQuality"}
    if unknown:
        raise _fail(
            f"{name} has unknown fields {sorted(unknown)}; accepted: mimeType, compressionQuality",
            provider=provider,
            model=model,
            param=name,
        )
    mime = value.get("mimeType", "image/png")
    if mime not in mime_types:
        raise _fail(
            f"{name}.mimeType={mime!r} is not supported; accepted: {', '.join(sorted(mime_types))}",
            provider=provider,
            model=model,
            param=name,
        )
    quality = value.get("compressionQuality")
    if quality is not None:
        if isinstance(quality, bool) or not isinstance(quality, int) or not 0 <= quality <= 100:
            raise _fail(
                f"{name}.compressionQuality={quality!r} must be a whole number from 0 to 100",
                provider=provider,
                model=model,
                param=name,
            )
        if mime != "image/jpeg":
            raise _fail(
                f"{name}.compressionQuality applies only to mimeType 'image/jpeg', not {mime!r}",
                provider=provider,
                model=model,
                param=name,
            )


def _check_safety_settings(value: Any, *, provider: str, model: str) -> None:
    ok = isinstance(value, Sequence) and not isinstance(value, str | bytes)
    if ok:
        for item in value:
            if (
                not isinstance(item, Mapping)
                or not isinstance(item.get("category"), str)
                or not isinstance(item.get("threshold"), str)
            ):
                ok = False
                break
    if not ok:
        raise _fail(
            "safetySettings must be a list of {'category': ..., 'threshold': ...} dicts, for example "
            "[{'category': 'HARM_CATEGORY_HARASSMENT', 'threshold': 'BLOCK_ONLY_HIGH'}]",
            provider=provider,
            model=model,
            param="safetySettings",
        )


def _check_imagen(params: Mapping[str, Any], info: ModelInfo, provider: str) -> None:
    model = info.name
    for name in _BOOL_PARAMS:
        if name in params and not isinstance(params[name], bool):
            raise _fail(f"{name}={params[name]!r} must be True or False", provider=provider, model=model, param=name)
    seed = params.get("seed")
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise _fail(f"seed={seed!r} must be a whole number", provider=provider, model=model, param="seed")
        if params.get("addWatermark") is not False and info.known:
            raise _fail(
                "seed is honoured only without the SynthID watermark: pass addWatermark=False with it",
                provider=provider,
                model=model,
                param="seed",
            )
    if "outputOptions" in params:
        _check_output_options(
            params["outputOptions"], name="outputOptions", mime_types=_MIME_TYPES, provider=provider, model=model
        )
    for name in ("negativePrompt", "storageUri"):
        if name in params and not isinstance(params[name], str):
            raise _fail(f"{name}={params[name]!r} must be a string", provider=provider, model=model, param=name)
    uri = params.get("storageUri")
    if isinstance(uri, str) and not uri.startswith("gs://"):
        raise _fail(
            f"storageUri={uri!r} must be a Cloud Storage URI such as 'gs://bucket/prefix'",
            provider=provider,
            model=model,
            param="storageUri",
        )


_AUTO_MASKS = frozenset({"MASK_MODE_BACKGROUND", "MASK_MODE_FOREGROUND", "MASK_MODE_SEMANTIC"})


def _check_imagen_edit(request: ImageRequest, params: Mapping[str, Any], info: ModelInfo, provider: str) -> None:
    """An Imagen edit: the mask mode agrees with whether a mask was given; semantic masks name their classes."""
    model = info.name
    mode = params.get("maskMode")
    if request.mask is not None and mode in _AUTO_MASKS:
        raise _fail(
            f"maskMode={mode!r} segments the image itself and takes no mask; drop the mask or use "
            "MASK_MODE_USER_PROVIDED",
            provider=provider,
            model=model,
            param="maskMode",
        )
    if request.mask is None and mode == "MASK_MODE_USER_PROVIDED":
        raise _fail("maskMode='MASK_MODE_USER_PROVIDED' needs a mask", provider=provider, model=model, param="mask")
    classes = params.get("maskClasses")
    if mode == "MASK_MODE_SEMANTIC" and not classes:
        raise _fail(
            "maskMode='MASK_MODE_SEMANTIC' needs maskClasses: a list of segmentation class ids",
            provider=provider,
            model=model,
            param="maskClasses",
        )
    if classes is not None and (
        not isinstance(classes, list | tuple)
        or not all(isinstance(c, int) and not isinstance(c, bool) for c in classes)
    ):
        raise _fail(
            f"maskClasses={classes!r} must be a list of whole numbers",
            provider=provider,
            model=model,
            param="maskClasses",
        )
    steps = params.get("baseSteps")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise _fail(
            f"baseSteps={steps!r} must be a whole number of at least 1",
            provider=provider,
            model=model,
            param="baseSteps",
        )


def _check_gemini(params: Mapping[str, Any], info: ModelInfo, provider: str) -> None:
    model = info.name
    if "safetySettings" in params:
        _check_safety_settings(params["safetySettings"], provider=provider, model=model)
    modalities = params.get("responseModalities")
    if modalities is not None and (
        isinstance(modalities, str)
        or not isinstance(modalities, Sequence)
        or "IMAGE" not in modalities
        or not set(modalities) <= _MODALITIES
    ):
        raise _fail(
            f"responseModalities={modalities!r} must be a list holding 'IMAGE' (and optionally 'TEXT')",
            provider=provider,
            model=model,
            param="responseModalities",
        )
    if "imageOutputOptions" in params:
        _check_output_options(
            params["imageOutputOptions"],
            name="imageOutputOptions",
            mime_types=_GEMINI_MIME_TYPES,
            provider=provider,
            model=model,
        )
    seed = params.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise _fail(f"seed={seed!r} must be a whole number", provider=provider, model=model, param="seed")
    thinking = params.get("thinkingConfig")
    if thinking is not None and not isinstance(thinking, Mapping):
        raise _fail(
            f"thinkingConfig={thinking!r} must be a dict such as {{'thinkingLevel': 'MINIMAL'}}",
            provider=provider,
            model=model,
            param="thinkingConfig",
        )


def validate_request(request: ImageRequest, info: ModelInfo, *, provider: str) -> ImageRequest | None:
    """
    Check ``request`` for the Google model ``info`` describes; the whole of both providers' ``validate_params``.

    Returns:
        ``None`` when the request is fine as it is, or a copy with parameters renamed to
        Google's spelling and enum values put in Google's case.

    Raises:
        UnsupportedParamsError: naming the parameter, the value and what is accepted.

    Warns:
        PixmuxWarning: the size is approximated, or Google has announced the model's shutdown.
    """
    api = str(info.extra.get("api", PREDICT))
    params = _renamed(request, info, provider)
    _normalize_case(params, api)
    changed = params != dict(request.params)
    if changed:
        request = attrs.evolve(request, params=params)
    check_request(request, info, provider=provider)
    if api == PREDICT:
        _check_imagen(params, info, provider)
        if request.operation == "edit":
            _check_imagen_edit(request, params, info, provider)
    else:
        _check_gemini(params, info, provider)
    choice = choose_size(request, info, provider=provider)
    if choice.note:
        warnings.warn(choice.note, PixmuxWarning, stacklevel=2)
    note = info.extra.get("retired_note")
    if note:
        warnings.warn(f"{info.name}: {note}", PixmuxWarning, stacklevel=2)
    return request if changed else None
