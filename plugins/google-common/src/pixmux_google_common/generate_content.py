"""
Gemini's ``:generateContent`` wire format for image-output models: the request body and the response.

Request: ``{"contents": [{"role": "user", "parts": [{"text": prompt}]}], "generationConfig":
{"responseModalities": ["TEXT", "IMAGE"], "imageConfig": {"aspectRatio", "imageSize", ...}}}``.
Gemini image models make one image per candidate and take no ``candidateCount`` above 1, so
``n`` images are ``n`` requests (the core sends them concurrently and merges the answers).

Response: every ``inlineData`` part of every candidate is an image; text parts (commentary the
model adds) are kept in ``metadata["text"]``; ``thought`` parts are skipped. A blocked prompt
(``promptFeedback.blockReason``), a refusal finish (``IMAGE_SAFETY``, ``PROHIBITED_CONTENT``...)
or an answer with no image is a ``ContentPolicyViolationError`` carrying Google's reason; when
one of several requests is refused and others are not, the refused one is an empty part with
``ImageResponse.refused`` and the images of the others are returned. ``usageMetadata`` becomes
``usage``.
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
from pixmux.types import (
    ImageObject,
    ImageRequest,
    ImageResponse,
    InputTokensDetails,
    OutputTokensDetails,
    Refusal,
    Usage,
)

from pixmux_google_common.imagen import image_object, output_format
from pixmux_google_common.sizes import SizeChoice

__all__ = ["build_generate_content_body", "parse_generate_content", "usage_from"]

_converter = make_camel_converter()

#: ``imageConfig`` fields a caller may give directly (``aspectRatio`` and the tier come from the size choice).
_IMAGE_CONFIG = ("personGeneration", "prominentPeople", "imageOutputOptions")
#: ``generationConfig`` fields a caller may give directly.
_GENERATION_CONFIG = ("temperature", "topP", "topK", "seed", "thinkingConfig")


@attrs.frozen
class _Blob:
    mime_type: str | None = None
    data: str | None = None


@attrs.frozen
class _Part:
    text: str | None = None
    inline_data: _Blob | None = None
    thought: bool | None = None


@attrs.frozen
class _Content:
    parts: list[_Part] | None = None
    role: str | None = None


@attrs.frozen
class _Candidate:
    content: _Content | None = None
    finish_reason: str | None = None
    finish_message: str | None = None
    index: int | None = None


@attrs.frozen
class _PromptFeedback:
    block_reason: str | None = None
    block_reason_message: str | None = None


@attrs.frozen
class _ModalityCount:
    modality: str | None = None
    token_count: int = 0


@attrs.frozen
class _UsageMetadata:
    prompt_token_count: int = 0
    candidates_token_count: int = 0
    thoughts_token_count: int = 0
    total_token_count: int = 0
    prompt_tokens_details: list[_ModalityCount] | None = None
    candidates_tokens_details: list[_ModalityCount] | None = None


@attrs.frozen
class _Response:
    candidates: list[_Candidate] | None = None
    prompt_feedback: _PromptFeedback | None = None
    usage_metadata: _UsageMetadata | None = None
    model_version: str | None = None
    response_id: str | None = None


def build_generate_content_body(request: ImageRequest, info: ModelInfo, choice: SizeChoice) -> dict[str, Any]:
    """
    The ``:generateContent`` JSON body for one image of a validated request.

    An edit is the same call with the input images as ``inlineData`` parts after the text, in
    the order given (prompts refer to them as "the first image"...); Gemini takes no mask.
    """
    params = request.params
    generation: dict[str, Any] = {"responseModalities": list(params.get("responseModalities", ("TEXT", "IMAGE")))}
    image_config: dict[str, Any] = {}
    if choice.aspect_ratio is not None:
        image_config["aspectRatio"] = choice.aspect_ratio
    if choice.tier is not None:
        image_config[str(info.extra.get("tier_field", "imageSize"))] = choice.tier
    known = {"aspectRatio", "imageSize", "responseModalities", "safetySettings", *_IMAGE_CONFIG, *_GENERATION_CONFIG}
    for name in _IMAGE_CONFIG:
        if name in params:
            image_config[name] = params[name]
    if image_config:
        generation["imageConfig"] = image_config
    for name in _GENERATION_CONFIG:
        if name in params:
            generation[name] = params[name]
    # A model the catalogue does not list forwards any other parameter into generationConfig as given.
    for name, value in params.items():
        if name not in known:
            generation[name] = value
    parts: list[dict[str, Any]] = [{"text": request.prompt}]
    for image in request.images:  # an edit: the reference images as inline parts, after the instruction
        parts.append(
            {"inlineData": {"mimeType": image.media_type, "data": base64.b64encode(image.data).decode("ascii")}}
        )
    body: dict[str, Any] = {
        "contents": [{"role": "user", "parts": parts}],
        "generationConfig": generation,
    }
    if "safetySettings" in params:
        body["safetySettings"] = [dict(item) for item in params["safetySettings"]]
    return body


def _count(details: list[_ModalityCount] | None, modality: str) -> int:
    return sum(item.token_count for item in details or () if (item.modality or "").upper() == modality)


def usage_from(found: _UsageMetadata | None) -> Usage | None:
    """Gemini's ``usageMetadata`` as OpenAI-shaped :class:`~pixmux.types.Usage` (thinking counts as text output)."""
    if found is None:
        return None
    counts = [
        found.prompt_token_count,
        found.candidates_token_count,
        found.thoughts_token_count,
        found.total_token_count,
    ]
    for details in (found.prompt_tokens_details, found.candidates_tokens_details):
        counts.extend(item.token_count for item in details or ())
    if min(counts) < 0:  # an odd answer: no usage rather than a negative one (and a negative price)
        return None
    output = found.candidates_token_count + found.thoughts_token_count
    image_out = _count(found.candidates_tokens_details, "IMAGE")
    details = found.candidates_tokens_details
    text_out = (output - image_out) if details else found.thoughts_token_count
    image_in = _count(found.prompt_tokens_details, "IMAGE")
    return Usage(
        input_tokens=found.prompt_token_count,
        output_tokens=output,
        total_tokens=found.total_token_count or found.prompt_token_count + output,
        input_tokens_details=InputTokensDetails(text_tokens=found.prompt_token_count - image_in, image_tokens=image_in),
        output_tokens_details=OutputTokensDetails(image_tokens=output - text_out, text_tokens=text_out),
    )


def _decode(response: httpx.Response, *, provider: str, model: str) -> _Response:
    return structure_response(
        response, _Response, converter=_converter, provider=provider, model=model, what="a :generateContent response"
    )


def parse_generate_content(
    response: httpx.Response, request: ImageRequest, *, provider: str, model: str
) -> ImageResponse:
    """
    Read a successful ``:generateContent`` response holding one request's image(s).

    Raises:
        ContentPolicyViolationError: the prompt was blocked or no image came back, with Google's
            reason; except when this is one of several requests of a call (``n`` > 1), where an
            empty part with ``ImageResponse.refused`` lets the other requests' images through.
        APIResponseValidationError: the body is not a ``:generateContent`` response.
    """
    payload = _decode(response, provider=provider, model=model)
    images: list[ImageObject] = []
    texts: list[str] = []
    mime_types: list[str] = []
    refused: list[Refusal] = []
    finish_reasons: list[str] = []
    feedback = payload.prompt_feedback
    if feedback is not None and feedback.block_reason:
        refused.append(
            Refusal(reason=feedback.block_reason, message=feedback.block_reason_message or "the prompt was blocked")
        )
    for candidate in payload.candidates or ():
        made = 0
        said: list[str] = []
        for part in (candidate.content.parts if candidate.content else None) or ():
            if part.thought:
                continue
            if part.inline_data is not None and part.inline_data.data:
                images.append(image_object(part.inline_data.data, part.inline_data.mime_type, request))
                if part.inline_data.mime_type:
                    mime_types.append(part.inline_data.mime_type)
                made += 1
            elif part.text:
                said.append(part.text)
        texts.extend(said)
        if candidate.finish_reason:
            finish_reasons.append(candidate.finish_reason)
        if not made:
            message = candidate.finish_message or " ".join(said) or "the model returned no image"
            refused.append(Refusal(reason=candidate.finish_reason or "NO_IMAGE", message=message))
    if not images and not refused:
        refused.append(Refusal(reason="NO_IMAGE", message="the response held no candidate"))
    metadata: dict[str, Any] = {}
    if texts:
        metadata["text"] = texts
    if finish_reasons:
        metadata["finish_reasons"] = finish_reasons
    if payload.model_version:
        metadata["model_version"] = payload.model_version
    if payload.response_id:
        metadata["response_ids"] = [payload.response_id]
    usage = usage_from(payload.usage_metadata)
    if not images and (request.n or 1) == 1:
        reasons = "; ".join(dict.fromkeys(f"{item.reason}: {item.message}" for item in refused))
        raise ContentPolicyViolationError(
            f"Google returned no image: {reasons}",
            provider=provider,
            model=model,
            code=refused[0].reason,
            response=response,
            details={**metadata, "refused": [attrs.asdict(item) for item in refused]},
        )
    return ImageResponse(
        created=int(time.time()),
        data=tuple(images),
        usage=usage,
        output_format=output_format(mime_types[0]) if mime_types else None,
        metadata=metadata,
        refused=tuple(refused),
    )
