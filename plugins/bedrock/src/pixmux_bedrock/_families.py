"""
Bedrock's image model families: how a model id names its family, how ``size`` maps onto each
family's wire fields, and each family's request body and response body.

Bedrock has no images endpoint: every model takes its own JSON through ``InvokeModel``.

- ``stability-sdxl``: Stability SDXL (``text_prompts``, fixed ``width``/``height`` pairs, ``artifacts``).
- ``stability-3``: SD3 / SD3.5 Large / Stable Image Core / Ultra (``prompt``, ``aspect_ratio``, ``images``).
- ``titan-image``: Amazon Titan Image Generator v1 / v2 (``taskType``, ``imageGenerationConfig``).
- ``nova-canvas``: Amazon Nova Canvas (Titan's request shape, free ``width``/``height``).
- ``stability-edit``: Stability AI Image Services (inpaint, outpaint, search and replace...): JSON
  with base64 images, answered as the SD3 / Stable Image family answers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
from pixmux.catalogue import nearest_aspect_ratio, parse_size
from pixmux.exceptions import UnsupportedParamsError

PROVIDER = "bedrock"

SDXL = "stability-sdxl"
STABILITY3 = "stability-3"
TITAN = "titan-image"
NOVA = "nova-canvas"
STABILITY_EDIT = "stability-edit"
FAMILIES = (SDXL, STABILITY3, TITAN, NOVA, STABILITY_EDIT)

#: Stability AI Image Services on Bedrock (edit models): the id prefixes that name them.
STABILITY_EDIT_PREFIXES = (
    "stability.stable-image-inpaint",
    "stability.stable-outpaint",
    "stability.stable-image-search-",
    "stability.stable-image-erase-object",
    "stability.stable-image-remove-background",
    "stability.stable-image-control-",
    "stability.stable-image-style-guide",
    "stability.stable-style-transfer",
    "stability.stable-fast-upscale",
    "stability.stable-conservative-upscale",
    "stability.stable-creative-upscale",
)

#: Cross-region inference profile prefixes (``us.amazon.nova-canvas-v1:0``).
_PROFILE_PREFIX = re.compile(r"^(?:us-gov|us|eu|apac|jp|au|ca|global)\.")

#: Most a request can be off the supported aspect ratio before a size is refused rather than
#: approximated (25 %, compared in log space).
APPROX_LIMIT = math.log(1.25)

SDXL_V1_SIZES = (
    (1024, 1024),
    (1152, 896),
    (1216, 832),
    (1344, 768),
    (1536, 640),
    (640, 1536),
    (768, 1344),
    (832, 1216),
    (896, 1152),
)
STABILITY3_RATIOS = ("16:9", "1:1", "21:9", "2:3", "3:2", "4:5", "5:4", "9:16", "9:21")
TITAN_SIZES = (
    (1024, 1024), (768, 768), (512, 512), (768, 1152), (384, 576), (1152, 768), (576, 384), (768, 1280),
    (384, 640), (1280, 768), (640, 384), (896, 1152), (448, 576), (1152, 896), (576, 448), (768, 1408),
    (384, 704), (1408, 768), (704, 384), (640, 1408), (320, 704), (1408, 640), (704, 320), (1152, 640),
    (1173, 640),
)  # fmt: skip
NOVA_MIN_SIDE, NOVA_MAX_SIDE, NOVA_MAX_PIXELS, NOVA_MAX_RATIO = 320, 4096, 2048 * 2048, 4.0
SDXL_V0_MIN_SIDE, SDXL_V0_MAX_SIDE = 128, 1536

#: Titan / Nova task types and the body field holding each task's parameters.
TASK_FIELDS: Mapping[str, str] = {
    "TEXT_IMAGE": "textToImageParams",
    "COLOR_GUIDED_GENERATION": "colorGuidedGenerationParams",
    "IMAGE_VARIATION": "imageVariationParams",
    "INPAINTING": "inPaintingParams",
    "OUTPAINTING": "outPaintingParams",
    "BACKGROUND_REMOVAL": "backgroundRemovalParams",
}
#: The keyword argument that carries each task's sub-object (snake_case of the wire name).
TASK_PARAMS: Mapping[str, str] = {
    "TEXT_IMAGE": "text_to_image_params",
    "COLOR_GUIDED_GENERATION": "color_guided_generation_params",
    "IMAGE_VARIATION": "image_variation_params",
    "INPAINTING": "in_painting_params",
    "OUTPAINTING": "out_painting_params",
    "BACKGROUND_REMOVAL": "background_removal_params",
}
#: Keys each task's sub-object must hold (one of each tuple), so a missing input image is
#: reported before anything is sent.
TASK_REQUIRED: Mapping[str, tuple[tuple[str, ...], ...]] = {
    "COLOR_GUIDED_GENERATION": (("colors",),),
    "IMAGE_VARIATION": (("images",),),
    "INPAINTING": (("image",), ("maskPrompt", "maskImage")),
    "OUTPAINTING": (("image",), ("maskPrompt", "maskImage")),
    "BACKGROUND_REMOVAL": (("image",),),
}
#: camelCase names (as in AWS's docs) accepted for Titan / Nova keyword arguments.
CAMEL_ALIASES: Mapping[str, str] = {
    "taskType": "task_type",
    "cfgScale": "cfg_scale",
    "negativeText": "negative_prompt",
    "conditionImage": "condition_image",
    "controlMode": "control_mode",
    "controlStrength": "control_strength",
    "textToImageParams": "text_to_image_params",
    "imageGenerationConfig": "image_generation_config",
    "colorGuidedGenerationParams": "color_guided_generation_params",
    "imageVariationParams": "image_variation_params",
    "inPaintingParams": "in_painting_params",
    "outPaintingParams": "out_painting_params",
    "backgroundRemovalParams": "background_removal_params",
}
#: Parameters people pass that pixmux expresses another way, with what to use instead.
REDIRECTS: Mapping[str, str] = {
    "numberOfImages": "n",
    "number_of_images": "n",
    "samples": "n",
    "width": "size",
    "height": "size",
}
#: Request headers that ride as keyword arguments, never in the body.
HEADER_PARAMS: Mapping[str, str] = {
    "guardrail_identifier": "X-Amzn-Bedrock-GuardrailIdentifier",
    "guardrail_version": "X-Amzn-Bedrock-GuardrailVersion",
    "trace": "X-Amzn-Bedrock-Trace",
}


def base_model_id(model_id: str) -> str:
    """The foundation model id behind a name: the last part of an ARN, without a cross-region prefix."""
    name = model_id.rsplit("/", 1)[-1] if model_id.startswith("arn:") else model_id
    return _PROFILE_PREFIX.sub("", name)


def detect_family(model_id: str) -> str | None:
    """The family of a model id (an inference profile or ARN resolves to its model's family), or ``None``."""
    name = base_model_id(model_id)
    if name.startswith("stability.stable-diffusion-xl"):
        return SDXL
    if name.startswith(STABILITY_EDIT_PREFIXES):
        return STABILITY_EDIT
    if name.startswith("stability."):
        return STABILITY3
    if name.startswith("amazon.titan-image-generator"):
        return TITAN
    if name.startswith("amazon.nova-canvas"):
        return NOVA
    return None


def invoke_path(model_id: str) -> str:
    """``/model/{modelId}/invoke`` with the id percent-encoded as botocore does (``:`` → ``%3A``, ``/`` → ``%2F``)."""
    from urllib.parse import quote

    return f"/model/{quote(model_id, safe='-._~')}/invoke"


# --------------------------------------------------------------------------- sizes


@attrs.frozen(kw_only=True)
class SizePlan:
    """What a requested ``size`` becomes on the wire; ``note`` says how it was approximated, if it was."""

    width: int | None = None
    height: int | None = None
    aspect_ratio: str | None = None
    note: str | None = None

    @property
    def size(self) -> str | None:
        """The ``WxH`` the model will make, where the family takes pixel sizes."""
        return f"{self.width}x{self.height}" if self.width and self.height else None


def _unsupported(size: str, model: str, accepted: str, why: str = "") -> UnsupportedParamsError:
    reason = f" ({why})" if why else ""
    return UnsupportedParamsError(
        f"size={size!r} is not supported by {model}{reason}; accepted: {accepted}",
        provider=PROVIDER,
        model=model,
        param="size",
    )


def _listed(pairs: Sequence[tuple[int, int]]) -> str:
    return ", ".join(f"{w}x{h}" for w, h in pairs)


def _nearest_pair(width: int, height: int, pairs: Sequence[tuple[int, int]]) -> tuple[tuple[int, int], float]:
    # Closest aspect ratio first; among equally close ratios, the closest pixel count.
    target = math.log(width / height)
    area = math.log(width * height)

    def score(pair: tuple[int, int]) -> tuple[float, float]:
        return round(abs(math.log(pair[0] / pair[1]) - target), 3), abs(math.log(pair[0] * pair[1]) - area)

    best = min(pairs, key=score)
    return best, abs(math.log(best[0] / best[1]) - target)


def plan_size(size: str | None, *, family: str, model: str, extra: Mapping[str, Any]) -> SizePlan:
    """
    Map an OpenAI-style ``size`` onto the family's wire fields.

    ``None`` and ``"auto"`` leave the model's default. An exact supported size is used as is; a
    size within 25 % of a supported aspect ratio is approximated (``note`` says how); anything
    else raises ``UnsupportedParamsError`` listing what is accepted.
    """
    if size is None or size == "auto":
        return SizePlan()
    if family == STABILITY3:
        accepted = "auto, or any WIDTHxHEIGHT near one of the aspect ratios " + ", ".join(STABILITY3_RATIOS)
        try:
            width, height = parse_size(size, provider=PROVIDER, model=model)
        except UnsupportedParamsError as exc:
            raise _unsupported(size, model, accepted) from exc
        ratio, off = nearest_aspect_ratio(width, height, STABILITY3_RATIOS)
        if off > APPROX_LIMIT:
            raise _unsupported(size, model, accepted, "its aspect ratio is too far from any the model makes")
        note = (
            f"size {size!r} sent as aspect_ratio {ratio!r}: {model} takes an aspect ratio, not pixels, "
            "and picks the pixel size itself (about one megapixel)"
        )
        return SizePlan(aspect_ratio=ratio, note=note)
    rule = extra.get("size_rule")
    if rule == "free":  # Nova Canvas
        return _plan_nova(size, model)
    if rule == "multiple-of-64":  # SDXL 0.8
        return _plan_multiple(size, model, 64, SDXL_V0_MIN_SIDE, SDXL_V0_MAX_SIDE)
    pairs: Sequence[tuple[int, int]] = extra.get("sizes") or ()
    accepted = "auto, " + _listed(pairs)
    try:
        width, height = parse_size(size, provider=PROVIDER, model=model)
    except UnsupportedParamsError as exc:
        raise _unsupported(size, model, accepted) from exc
    if (width, height) in pairs:
        return SizePlan(width=width, height=height)
    (w, h), off = _nearest_pair(width, height, pairs)
    if off > APPROX_LIMIT:
        raise _unsupported(size, model, accepted, "its aspect ratio is too far from every supported size")
    return SizePlan(width=w, height=h, note=f"size {size!r} is not one {model} makes; sent the nearest, {w}x{h}")


def _plan_multiple(size: str, model: str, step: int, low: int, high: int) -> SizePlan:
    accepted = f"auto, or WIDTHxHEIGHT with each side a multiple of {step} from {low} to {high}"
    try:
        width, height = parse_size(size, provider=PROVIDER, model=model)
    except UnsupportedParamsError as exc:
        raise _unsupported(size, model, accepted) from exc
    if not (low <= width <= high and low <= height <= high):
        raise _unsupported(size, model, accepted, f"each side must be from {low} to {high}")
    w, h = (max(low, min(high, step * round(side / step))) for side in (width, height))
    note = (
        None if (w, h) == (width, height) else f"size {size!r} rounded to {w}x{h} (sides must be multiples of {step})"
    )
    return SizePlan(width=w, height=h, note=note)


def _plan_nova(size: str, model: str) -> SizePlan:
    accepted = (
        f"auto, or WIDTHxHEIGHT with each side from {NOVA_MIN_SIDE} to {NOVA_MAX_SIDE} and a multiple of 16, "
        f"an aspect ratio from 1:4 to 4:1 and at most {NOVA_MAX_PIXELS} pixels (2048x2048)"
    )
    try:
        width, height = parse_size(size, provider=PROVIDER, model=model)
    except UnsupportedParamsError as exc:
        raise _unsupported(size, model, accepted) from exc
    w, h = (16 * max(1, round(side / 16)) for side in (width, height))
    problem = None
    if not (NOVA_MIN_SIDE <= w <= NOVA_MAX_SIDE and NOVA_MIN_SIDE <= h <= NOVA_MAX_SIDE):
        problem = f"each side must be from {NOVA_MIN_SIDE} to {NOVA_MAX_SIDE}"
    elif max(w, h) > NOVA_MAX_RATIO * min(w, h):
        problem = "the aspect ratio must be from 1:4 to 4:1"
    elif w * h > NOVA_MAX_PIXELS:
        problem = "at most 2048x2048 pixels in all"
    if problem:
        raise _unsupported(size, model, accepted, problem)
    note = (
        None
        if (w, h) == (width, height)
        else f"size {size!r} rounded to {w}x{h} (Nova Canvas sides are multiples of 16)"
    )
    return SizePlan(width=w, height=h, note=note)


# --------------------------------------------------------------------------- n


def image_counts(n: int | None, per_call: int) -> list[int]:
    """How many images each wire request asks for: ``n`` split into calls of at most ``per_call``."""
    total = n or 1
    counts = [per_call] * (total // per_call)
    if total % per_call:
        counts.append(total % per_call)
    return counts


def offset_seed(seed: int | None, index: int, high: int, default: int | None) -> int | None:
    """
    The seed for the ``index``-th wire request of one call.

    The first request keeps the caller's seed. Later ones add ``index`` (wrapping at ``high``) so
    that several requests never return the same image; families with a fixed default seed (Titan,
    Nova) start from that default, families whose default is random leave later seeds unset.
    """
    if index == 0:
        return seed
    start = seed if seed is not None else default
    if start is None:
        return None
    return (start + index) % (high + 1)


# --------------------------------------------------------------------------- bodies


def _set(body: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        body[key] = value


def sdxl_body(prompt: str, plan: SizePlan, params: Mapping[str, Any], seed: int | None) -> dict[str, Any]:
    """The SDXL body: weighted ``text_prompts`` (a negative prompt has weight -1), size, sampler options."""
    prompts: list[dict[str, Any]] = [{"text": prompt, "weight": 1.0}]
    negative = params.get("negative_prompt")
    if negative:
        prompts.append({"text": negative, "weight": -1.0})
    body: dict[str, Any] = {"text_prompts": prompts}
    _set(body, "height", plan.height)
    _set(body, "width", plan.width)
    for key in ("cfg_scale", "clip_guidance_preset", "sampler", "steps", "style_preset", "extras"):
        _set(body, key, params.get(key))
    _set(body, "seed", seed)
    return body


def stability3_body(prompt: str, plan: SizePlan, params: Mapping[str, Any], seed: int | None) -> dict[str, Any]:
    """The SD3 / Stable Image body: ``prompt``, ``aspect_ratio`` and the model's options."""
    body: dict[str, Any] = {"prompt": prompt}
    _set(body, "aspect_ratio", plan.aspect_ratio)
    for key in ("mode", "image", "strength", "negative_prompt", "output_format", "style_preset"):
        _set(body, key, params.get(key))
    _set(body, "seed", seed)
    return body


def amazon_body(
    prompt: str,
    plan: SizePlan,
    params: Mapping[str, Any],
    *,
    count: int,
    quality: str | None,
    style: str | None,
    seed: int | None,
) -> dict[str, Any]:
    """The Titan / Nova Canvas body: ``taskType``, the task's parameters and ``imageGenerationConfig``."""
    task = params.get("task_type") or "TEXT_IMAGE"
    task_body: dict[str, Any] = {}
    if task != "BACKGROUND_REMOVAL":
        _set(task_body, "text", prompt or None)  # no text: an inpainting that removes, a variation without guidance
        _set(task_body, "negativeText", params.get("negative_prompt"))
    if task == "TEXT_IMAGE":
        _set(task_body, "style", style)
        _set(task_body, "conditionImage", params.get("condition_image"))
        _set(task_body, "controlMode", params.get("control_mode"))
        _set(task_body, "controlStrength", params.get("control_strength"))
    task_body.update(params.get(TASK_PARAMS[task]) or {})
    body: dict[str, Any] = {"taskType": task, TASK_FIELDS[task]: task_body}
    if task == "BACKGROUND_REMOVAL":
        return body
    config: dict[str, Any] = {"numberOfImages": count}
    _set(config, "quality", quality)
    _set(config, "width", plan.width)
    _set(config, "height", plan.height)
    _set(config, "cfgScale", params.get("cfg_scale"))
    _set(config, "seed", seed)
    config.update(params.get("image_generation_config") or {})
    body["imageGenerationConfig"] = config
    return body


#: How OpenAI's quality names map to Titan / Nova's two tiers.
AMAZON_QUALITY: Mapping[str, str] = {
    "standard": "standard",
    "premium": "premium",
    "hd": "premium",
    "high": "premium",
    "medium": "standard",
    "low": "standard",
}


def amazon_quality(quality: str | None) -> str | None:
    """Titan / Nova's ``quality`` for an OpenAI-style one (``auto`` and unset leave the default)."""
    if quality is None or quality == "auto":
        return None
    return AMAZON_QUALITY.get(quality, quality)
