"""
Imagen's ``:predict`` wire format: the request body and the response.

Request: ``{"instances": [{"prompt"}], "parameters": {"sampleCount", "aspectRatio", ...}}``.
``n`` is ``sampleCount`` (always sent: Google's default differs between paths), ``size`` and
``quality`` become ``aspectRatio`` / ``sampleImageSize`` (see :mod:`pixmux_google_common.sizes`),
and every native parameter is copied into ``parameters`` under Google's name.
``includeRaiReason`` is sent as ``true`` unless the caller says otherwise, so that an image
withheld by Google's responsible-AI filter comes back as a reason rather than silently missing.

Response: ``{"predictions": [{"bytesBase64Encoded", "mimeType", "prompt"} | {"raiFilteredReason"}]}``.
Images become :class:`~pixmux.types.ImageObject` (the rewritten prompt, when prompt enhancement
ran, is ``revised_prompt``); filtered entries, and images missing without a reason, are listed
in ``ImageResponse.refused``. No image at all is a ``ContentPolicyViolationError``.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import attrs
import httpx
from pixmux.catalogue import ModelInfo
from pixmux.converters import make_camel_converter, structure_response
from pixmux.exceptions import ContentPolicyViolationError
from pixmux.masks import provider_mask
from pixmux.types import ImageInput, ImageObject, ImageRequest, ImageResponse, Refusal

from pixmux_google_common.sizes import SizeChoice

__all__ = ["build_predict_body", "edit_instance", "parse_predict", "image_object", "output_format"]

_converter = make_camel_converter()
_MISSING_REASON = "withheld by Google's responsible-AI filter (no reason given)"


@attrs.frozen
class _Prediction:
    bytes_base64_encoded: str | None = None
    gcs_uri: str | None = None
    mime_type: str | None = None
    prompt: str | None = None
    rai_filtered_reason: str | None = None
    safety_attributes: dict[str, Any] | None = None
    content_type: str | None = None


@attrs.frozen
class _PredictResponse:
    predictions: list[_Prediction] | None = None
    model_version_id: str | None = None


#: Editing parameters that live in the mask reference or ``editConfig``, not in ``parameters``.
_MASK_CONFIG = {"maskMode": "maskMode", "maskDilation": "dilation", "maskClasses": "maskClasses"}


def _blob(image: ImageInput) -> dict[str, Any]:
    return {"bytesBase64Encoded": base64.b64encode(image.data).decode("ascii"), "mimeType": image.media_type}


def edit_instance(request: ImageRequest, params: dict[str, Any]) -> dict[str, Any]:
    """
    The ``instances[0]`` of an Imagen edit (``imagen-3.0-capability-001``): the prompt and its reference images.

    The image to edit is ``REFERENCE_TYPE_RAW`` (id 1). A mask goes as ``REFERENCE_TYPE_MASK`` (id 2)
    with ``maskMode`` ``MASK_MODE_USER_PROVIDED`` (an alpha mask is turned white-for-edit first);
    without a mask, a ``maskMode`` of ``MASK_MODE_BACKGROUND``, ``MASK_MODE_FOREGROUND`` or
    ``MASK_MODE_SEMANTIC`` asks Google to segment the image itself (a mask reference without bytes).
    ``maskMode``, ``maskDilation`` (``dilation``) and ``maskClasses`` are taken out of ``params``
    into the mask's config.
    """
    references: list[dict[str, Any]] = [
        {"referenceType": "REFERENCE_TYPE_RAW", "referenceId": 1, "referenceImage": _blob(request.images[0])}
    ]
    config = {wire: params.pop(name) for name, wire in _MASK_CONFIG.items() if name in params}
    if request.mask is not None or config:
        mask: dict[str, Any] = {"referenceType": "REFERENCE_TYPE_MASK", "referenceId": 2}
        if request.mask is not None:  # OpenAI's alpha mask as Imagen's own: white = edit
            mask["referenceImage"] = _blob(provider_mask(request.mask, edit="white", model=request.model))
            config.setdefault("maskMode", "MASK_MODE_USER_PROVIDED")
        mask["maskImageConfig"] = config
        references.append(mask)
    return {"prompt": request.prompt, "referenceImages": references}


def build_predict_body(request: ImageRequest, info: ModelInfo, choice: SizeChoice) -> dict[str, Any]:
    """The ``:predict`` JSON body for a validated request (an edit carries its images as reference images)."""
    parameters: dict[str, Any] = {"sampleCount": request.n or 1}
    if choice.aspect_ratio is not None:
        parameters["aspectRatio"] = choice.aspect_ratio
    if choice.tier is not None:
        parameters[str(info.extra.get("tier_field", "sampleImageSize"))] = choice.tier
    params = dict(request.params)
    instance: dict[str, Any] = {"prompt": request.prompt}
    if request.operation == "edit":
        instance = edit_instance(request, params)
        if "baseSteps" in params:
            parameters["editConfig"] = {"baseSteps": params.pop("baseSteps")}
    for name, value in params.items():
        parameters.setdefault(name, value)
    parameters.setdefault("includeRaiReason", True)
    return {"instances": [instance], "parameters": parameters}


def output_format(mime_type: str | None) -> str | None:
    """OpenAI's ``output_format`` (``png``, ``jpeg``, ``webp``) for an image MIME type."""
    if not mime_type or not mime_type.startswith("image/"):
        return None
    return mime_type.removeprefix("image/").replace("jpg", "jpeg")


def image_object(
    data: str, mime_type: str | None, request: ImageRequest, revised_prompt: str | None = None
) -> ImageObject:
    """An image from base64 ``data``: ``b64_json``, or a ``data:`` URL when ``response_format="url"``."""
    if request.response_format == "url":
        return ImageObject(url=f"data:{mime_type or 'image/png'};base64,{data}", revised_prompt=revised_prompt)
    return ImageObject(b64_json=data, revised_prompt=revised_prompt)


def parse_predict(response: httpx.Response, request: ImageRequest, *, provider: str, model: str) -> ImageResponse:
    """
    Read a successful ``:predict`` response.

    Raises:
        ContentPolicyViolationError: no image came back (all filtered, or none made), with Google's reasons.
        APIResponseValidationError: the body is not a ``:predict`` response.
    """
    payload = structure_response(
        response, _PredictResponse, converter=_converter, provider=provider, model=model, what="a :predict response"
    )
    images: list[ImageObject] = []
    refused: list[Refusal] = []
    safety: list[dict[str, Any]] = []
    mime_types: list[str] = []
    prompt_safety: dict[str, Any] | None = None
    for prediction in payload.predictions or ():
        if prediction.bytes_base64_encoded:
            data = prediction.bytes_base64_encoded
            images.append(image_object(data, prediction.mime_type, request, prediction.prompt))
        elif prediction.gcs_uri:
            images.append(ImageObject(url=prediction.gcs_uri, revised_prompt=prediction.prompt))
        elif prediction.rai_filtered_reason:
            refused.append(Refusal(reason=prediction.rai_filtered_reason))
            continue
        elif prediction.content_type and prediction.safety_attributes is not None:
            prompt_safety = prediction.safety_attributes  # the prompt's own scores, not an image
            continue
        else:
            continue
        if prediction.mime_type:
            mime_types.append(prediction.mime_type)
        if prediction.safety_attributes is not None:
            safety.append(prediction.safety_attributes)
    missing = (request.n or 1) - len(images) - len(refused)
    refused.extend(Refusal(reason=_MISSING_REASON) for _ in range(max(0, missing)))
    metadata: dict[str, Any] = {}
    if safety:
        metadata["safety_attributes"] = safety
    if prompt_safety is not None:
        metadata["prompt_safety_attributes"] = prompt_safety
    if not images:
        reasons = "; ".join(dict.fromkeys(item.reason for item in refused)) or "no image was returned"
        raise ContentPolicyViolationError(
            f"Google returned no image: {reasons}",
            provider=provider,
            model=model,
            code="IMAGE_FILTERED",
            response=response,
            details={**metadata, "refused": [attrs.asdict(item) for item in refused]},
        )
    return ImageResponse(
        created=int(time.time()),
        data=tuple(images),
        output_format=output_format(mime_types[0]) if mime_types else None,
        metadata=metadata,
        refused=tuple(refused),
    )
