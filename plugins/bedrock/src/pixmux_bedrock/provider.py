"""
pixmux provider for Amazon Bedrock's image models (``bedrock/<model id>``).

Every model is called through Bedrock Runtime's ``InvokeModel`` with its family's own body:
Stability SDXL, SD3 / SD3.5 / Stable Image Core / Ultra, Amazon Titan Image Generator v1 / v2
and Amazon Nova Canvas. Cross-region inference profiles (``us.``, ``eu.``, ``apac.``) and ARNs
resolve to their model's family.

Credentials come from boto3 in ``resolve_auth`` (explicit keys, a profile, an assumed role or
the default chain); ``build_request`` signs with botocore's SigV4 for service ``bedrock``. A
Bedrock API key (``AWS_BEARER_TOKEN_BEDROCK`` / ``api_key``) is sent as a bearer token instead.
"""

from __future__ import annotations

import email.utils
import json
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import httpx
from pixmux import PixmuxWarning, hookimpl
from pixmux.catalogue import Catalogue, ModelInfo, check_request
from pixmux.exceptions import (
    APIResponseValidationError,
    AuthenticationError,
    ConfigurationError,
    ContentPolicyViolationError,
    InternalServerError,
    UnsupportedParamsError,
)
from pixmux.types import Auth, Deployment, ImageObject, ImageRequest, ImageResponse, Refusal

from pixmux_bedrock import _auth, _edits
from pixmux_bedrock import _families as fam
from pixmux_bedrock._catalogue import CATALOGUE, DEFAULT_API_BASE, price_tier
from pixmux_bedrock._errors import CONTENT_BLOCK, error_for

__all__ = [
    "CATALOGUE",
    "DEFAULT_API_BASE",
    "model_catalogue",
    "validate_params",
    "resolve_auth",
    "build_request",
    "parse_response",
]

PROVIDER = "bedrock"

#: Keys of the Titan / Nova sub-objects that pixmux fills from its own arguments, and the argument to use.
_OWNED_CONFIG = {
    "numberOfImages": "n",
    "width": "size",
    "height": "size",
    "quality": "quality",
    "seed": "seed",
    "cfgScale": "cfg_scale",
}
_OWNED_TASK = {
    "text": "prompt",
    "negativeText": "negative_prompt",
    "style": "style",
    "conditionImage": "condition_image",
    "controlMode": "control_mode",
    "controlStrength": "control_strength",
}


def _bad(message: str, *, model: str, param: str) -> UnsupportedParamsError:
    return UnsupportedParamsError(message, provider=PROVIDER, model=model, param=param)


def _effective(model: ModelInfo, deployment: Deployment) -> ModelInfo:
    """The catalogue entry to follow: the ``base_model`` setting's (for ARNs and custom models), else ``model``'s."""
    base = deployment.setting("base_model")
    if base is None:
        return model
    if not isinstance(base, str) or not base:
        raise ConfigurationError("base_model must be a Bedrock model id string", provider=PROVIDER, param="base_model")
    found = CATALOGUE.lookup(base)
    return attrs.evolve(found, name=model.name)


def _family(info: ModelInfo) -> str:
    family = info.extra.get("family")
    if family not in fam.FAMILIES:
        raise _bad(
            f"cannot tell which Bedrock image model family {info.name!r} belongs to (Stability SDXL, "
            "SD3 / Stable Image, Titan Image Generator or Nova Canvas); for an ARN or a custom model pass "
            "base_model= with the foundation model id, for example base_model='amazon.nova-canvas-v1:0'",
            model=info.name,
            param="model",
        )
    return str(family)


@hookimpl
def model_catalogue() -> Catalogue:
    """Bedrock's image models, what each accepts and costs, and where AWS credentials come from."""
    return CATALOGUE


# --------------------------------------------------------------------------- validation


def _canonical(request: ImageRequest, family: str) -> ImageRequest:
    # Titan / Nova accept AWS's camelCase names too; keep one spelling from here on.
    if family not in (fam.TITAN, fam.NOVA) or not any(name in fam.CAMEL_ALIASES for name in request.params):
        return request
    params: dict[str, Any] = {}
    for name, value in request.params.items():
        target = fam.CAMEL_ALIASES.get(name, name)
        if target in params:
            raise _bad(f"{name!r} and {target!r} are the same parameter; give one", model=request.model, param=name)
        params[target] = value
    return attrs.evolve(request, params=params)


def _check_common(request: ImageRequest, family: str) -> None:
    model = request.model
    for name, instead in fam.REDIRECTS.items():
        if name in request.params:
            raise _bad(f"{name!r} is not a keyword argument here: use {instead}= instead", model=model, param=name)
    if request.response_format == "url":
        raise _bad(
            "response_format='url' is not available on Bedrock: its image models return base64 only. "
            "Use response_format='b64_json' (or leave it unset), or drop_params=True to ignore it",
            model=model,
            param="response_format",
        )
    if request.style is not None and family != fam.NOVA:
        hint = " (use style_preset= for Stability's presets)" if family in (fam.SDXL, fam.STABILITY3) else ""
        raise _bad(f"style={request.style!r} is not supported by {model}{hint}", model=model, param="style")


def _sub_object(request: ImageRequest, name: str) -> Mapping[str, Any]:
    value = request.params.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _bad(f"{name} must be an object (a dict), not {type(value).__name__}", model=request.model, param=name)
    return value


def _check_amazon(request: ImageRequest) -> None:
    model, params = request.model, request.params
    task = params.get("task_type") or "TEXT_IMAGE"
    if task not in fam.TASK_FIELDS:
        return  # check_request reports an unknown task type with the accepted list
    for other, name in fam.TASK_PARAMS.items():
        if other != task and name in params:
            raise _bad(f"{name} applies to task_type={other!r}, not {task!r}", model=model, param=name)
    config = _sub_object(request, "image_generation_config")
    sub = _sub_object(request, fam.TASK_PARAMS[task])
    for key, instead in _OWNED_CONFIG.items():
        if key in config:
            raise _bad(
                f"image_generation_config[{key!r}] is set from {instead}=; pass {instead}= instead",
                model=model,
                param="image_generation_config",
            )
    for key, instead in _OWNED_TASK.items():
        if key in sub:
            raise _bad(
                f"{fam.TASK_PARAMS[task]}[{key!r}] is set from {instead}=; pass {instead}= instead",
                model=model,
                param=fam.TASK_PARAMS[task],
            )
    for needed in fam.TASK_REQUIRED.get(task, ()):
        if not any(sub.get(key) for key in needed):
            keys = " or ".join(repr(key) for key in needed)
            raise _bad(
                f"task_type={task!r} needs {keys} in {fam.TASK_PARAMS[task]}", model=model, param=fam.TASK_PARAMS[task]
            )
    if task != "TEXT_IMAGE":
        for name in ("condition_image", "control_mode", "control_strength"):
            if name in params:
                raise _bad(f"{name} applies to task_type='TEXT_IMAGE' only", model=model, param=name)
        if request.style is not None:
            raise _bad("style applies to task_type='TEXT_IMAGE' only", model=model, param="style")
    if task == "BACKGROUND_REMOVAL":
        unused = {
            "negative_prompt": params.get("negative_prompt"),
            "seed": params.get("seed"),
            "cfg_scale": params.get("cfg_scale"),
            "image_generation_config": params.get("image_generation_config"),
            "size": None if request.size in (None, "auto") else request.size,
            "quality": None if request.quality in (None, "auto") else request.quality,
            "n": None if request.n in (None, 1) else request.n,
        }
        for name, value in unused.items():
            if value is not None:
                raise _bad(
                    f"{name}={value!r} does not apply to task_type='BACKGROUND_REMOVAL' (one image, the input's size)",
                    model=model,
                    param=name,
                )
    if params.get("control_mode") is not None and params.get("condition_image") is None:
        raise _bad("control_mode needs condition_image", model=model, param="control_mode")


def _check_stability3(request: ImageRequest) -> None:
    model, params = request.model, request.params
    if request.size not in (None, "auto") and "aspect_ratio" in params:
        raise _bad("give size= or aspect_ratio=, not both", model=model, param="size")
    if params.get("mode") == "image-to-image":
        for name in ("image", "strength"):
            if params.get(name) is None:
                raise _bad(f"mode='image-to-image' needs {name}=", model=model, param=name)
        for name, value in (("size", request.size), ("aspect_ratio", params.get("aspect_ratio"))):
            if value not in (None, "auto"):
                raise _bad(
                    f"{name} applies to text-to-image only; image-to-image keeps the input's shape",
                    model=model,
                    param=name,
                )
    else:
        for name in ("image", "strength"):
            if name in params:
                raise _bad(f"{name}= needs mode='image-to-image'", model=model, param=name)


def _check_stability_edit(request: ImageRequest, info: ModelInfo) -> None:
    """A Stability edit model: its images, and the prompt or selection it needs."""
    fields = info.extra.get("image_fields") or ("image",)
    if len(request.images) != len(fields):
        raise _bad(f"{info.name} takes {len(fields)} image(s) ({', '.join(fields)})", model=info.name, param="image")
    needs = {"search-replace": "search_prompt", "search-recolor": "select_prompt"}
    for marker, name in needs.items():
        if marker in info.name and not request.params.get(name):
            raise _bad(f"{info.name} needs {name}=", model=info.name, param=name)
    prompt_free = ("remove-background", "erase-object", "fast-upscale", "outpaint", "style-transfer")
    if not request.prompt and not any(marker in info.name for marker in prompt_free):
        raise _bad(f"{info.name} needs a prompt", model=info.name, param="prompt")
    if "outpaint" in info.name and not any(request.params.get(side) for side in ("left", "right", "up", "down")):
        raise _bad("outpainting needs at least one of left, right, up, down", model=info.name, param="left")


@hookimpl
def validate_params(request: ImageRequest, model: ModelInfo, deployment: Deployment) -> ImageRequest | None:
    """
    Check the request against the model's family and map ``size`` onto it.

    A size the model cannot make exactly but that is close in shape is approximated with a
    ``PixmuxWarning`` (the request returned carries the size that will be sent, or, for SD3 /
    Stable Image, an ``aspect_ratio``); a size too far from anything the model makes raises
    ``UnsupportedParamsError`` listing what is accepted.
    """
    info = _effective(model, deployment)
    family = _family(info)
    original = request
    request = _canonical(request, family)
    _edits.warn_old_path(request)
    _check_common(request, family)
    # An edit may leave out the prompt where the task takes none (an inpainting that removes, a
    # background removal): checked then as a variation is, which takes no prompt.
    promptless = request.operation == "edit" and request.prompt == ""
    check_request(attrs.evolve(request, operation="variation") if promptless else request, info, provider=PROVIDER)
    request = _edits.as_family_request(request, family)
    if family == fam.STABILITY_EDIT:
        _check_stability_edit(request, info)
    if family in (fam.TITAN, fam.NOVA):
        _check_amazon(request)
        if request.quality in ("low", "medium"):
            warnings.warn(
                f"quality={request.quality!r} sent as 'standard': {info.name} has only standard and premium",
                PixmuxWarning,
                stacklevel=2,
            )
    elif family == fam.STABILITY3:
        _check_stability3(request)
    plan = fam.plan_size(request.size, family=family, model=info.name, extra=info.extra)
    if plan.note:
        warnings.warn(plan.note, PixmuxWarning, stacklevel=2)
    if plan.aspect_ratio is not None:
        request = attrs.evolve(request, size=None, params={**request.params, "aspect_ratio": plan.aspect_ratio})
    elif request.size is not None:
        request = attrs.evolve(request, size=plan.size)
    return None if request == original else request


# --------------------------------------------------------------------------- auth


@hookimpl
def resolve_auth(deployment: Deployment) -> Auth | None:
    """
    Resolve AWS credentials through boto3 (explicit keys, a profile, an assumed role or the
    default chain) into frozen credentials with their expiry; ``None`` for a Bedrock API key.
    """
    return _auth.resolve(deployment)


# --------------------------------------------------------------------------- requests


def _plan(request: ImageRequest, family: str, info: ModelInfo) -> fam.SizePlan:
    plan = fam.plan_size(request.size, family=family, model=info.name, extra=info.extra)
    if plan.aspect_ratio is None and family == fam.STABILITY3:
        ratio = request.params.get("aspect_ratio")
        plan = fam.SizePlan(aspect_ratio=ratio if isinstance(ratio, str) else None)
    return plan


def _body(
    request: ImageRequest, family: str, info: ModelInfo, plan: fam.SizePlan, *, index: int, count: int
) -> dict[str, Any]:
    params = request.params
    seed_max = int(info.extra.get("seed_max") or 4294967295)
    seed = fam.offset_seed(params.get("seed"), index, seed_max, info.extra.get("seed_default"))
    if family == fam.SDXL:
        return fam.sdxl_body(request.prompt, plan, params, seed)
    if family == fam.STABILITY3:
        return fam.stability3_body(request.prompt, plan, params, seed)
    if family == fam.STABILITY_EDIT:
        return _edits.stability_edit_body(request, info.extra, seed)
    return fam.amazon_body(
        request.prompt,
        plan,
        params,
        count=count,
        quality=fam.amazon_quality(request.quality),
        style=request.style,
        seed=seed,
    )


@hookimpl
def build_request(
    request: ImageRequest, deployment: Deployment, model: ModelInfo, auth: Auth | None
) -> httpx.Request | Sequence[httpx.Request]:
    """
    POST the family's body to ``{endpoint}/model/{modelId}/invoke``, SigV4-signed for ``bedrock``
    (or with ``Authorization: Bearer`` for a Bedrock API key).

    ``n`` beyond what one call of the model makes (1 for Stability, 5 for Titan and Nova) becomes
    several requests, each with its own seed, which the core sends concurrently and merges.
    """
    info = _effective(model, deployment)
    family = _family(info)
    identity = auth.value if auth is not None and isinstance(auth.value, _auth.AwsIdentity) else None
    if not deployment.api_key and identity is None:
        raise AuthenticationError(
            "no AWS credentials were resolved for this call: set AWS credentials (keys, AWS_PROFILE, a role) "
            "or a Bedrock API key (AWS_BEARER_TOKEN_BEDROCK / api_key=)",
            provider=PROVIDER,
            model=request.model,
        )
    region = _auth.region_for(deployment, identity, request.model)
    base = (deployment.api_base or f"https://bedrock-runtime.{region}.amazonaws.com").rstrip("/")
    url = base + fam.invoke_path(deployment.model)
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    for name, header in fam.HEADER_PARAMS.items():
        value = request.params.get(name)
        if value is not None:
            headers[header] = str(value)
    params = {key: value for key, value in request.params.items() if key not in fam.HEADER_PARAMS}
    wire = attrs.evolve(request, params=params)
    plan = _plan(wire, family, info)
    built = []
    for index, count in enumerate(fam.image_counts(request.n, int(info.extra.get("per_call") or 1))):
        body = json.dumps(_body(wire, family, info, plan, index=index, count=count), separators=(",", ":")).encode()
        if deployment.api_key:
            sent = {**headers, "Authorization": f"Bearer {deployment.api_key}"}
        else:
            assert identity is not None
            sent = _auth.sign(method="POST", url=url, headers=headers, body=body, identity=identity, region=region)
        built.append(httpx.Request("POST", url, headers=sent, content=body))
    return built[0] if len(built) == 1 else built


# --------------------------------------------------------------------------- responses


def _created(response: httpx.Response) -> int:
    date = response.headers.get("date")
    if date:
        try:
            return int(email.utils.parsedate_to_datetime(date).timestamp())
        except (TypeError, ValueError, IndexError):
            pass
    return int(time.time())


def _strings(value: Any, *, what: str, model: str, response: httpx.Response) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise APIResponseValidationError(
            f"the response's {what} is {type(value).__name__}, not a list",
            provider=PROVIDER,
            model=model,
            response=response,
        )
    return value


def _images_sdxl(body: Mapping[str, Any], model: str, response: httpx.Response) -> tuple[list[str], dict[str, Any]]:
    artifacts = _strings(body.get("artifacts"), what="artifacts", model=model, response=response)
    images: list[str] = []
    reasons: list[str] = []
    seeds: list[Any] = []
    for artifact in artifacts:
        if not isinstance(artifact, Mapping):
            raise APIResponseValidationError(
                "an artifact is not an object", provider=PROVIDER, model=model, response=response
            )
        reason = str(artifact.get("finishReason") or "SUCCESS")
        reasons.append(reason)
        if reason == "SUCCESS" and isinstance(artifact.get("base64"), str) and artifact["base64"]:
            images.append(artifact["base64"])
            seeds.append(artifact.get("seed"))
    filtered = reasons.count("CONTENT_FILTERED")
    refused = tuple(
        Refusal(reason="CONTENT_FILTERED", message=f"{model}'s filter withheld the image") for _ in range(filtered)
    )
    if not images:
        details = {"finish_reasons": reasons}
        if filtered:  # one part of a fanned-out call: the core keeps the other parts' images
            return [], {"seeds": [], "refused": refused}
        if "ERROR" in reasons:
            raise InternalServerError(
                f"{model} failed to generate the image (finishReason ERROR)",
                provider=PROVIDER, model=model, code="ERROR", response=response, details=details,
            )  # fmt: skip
        raise APIResponseValidationError(
            "the response holds no image (no artifacts)", provider=PROVIDER, model=model, response=response
        )
    return images, {"seeds": seeds, "refused": refused} if filtered else {"seeds": seeds}


def _images_stability3(
    body: Mapping[str, Any], model: str, response: httpx.Response
) -> tuple[list[str], dict[str, Any]]:
    if not any(key in body for key in ("images", "finish_reasons", "seeds")):
        raise APIResponseValidationError(
            "the response has none of images, finish_reasons, seeds", provider=PROVIDER, model=model, response=response
        )
    images = [item for item in _strings(body.get("images"), what="images", model=model, response=response) if item]
    reasons = [
        r for r in _strings(body.get("finish_reasons"), what="finish_reasons", model=model, response=response) if r
    ]
    details = {"finish_reasons": reasons}
    if reasons and all(str(r).startswith("Inference error") for r in reasons) and not images:
        raise InternalServerError(
            f"{model} failed to generate the image ({reasons[0]})",
            provider=PROVIDER, model=model, code="Inference error", response=response, details=details,
        )  # fmt: skip
    if not images or any(str(r).startswith("Filter reason") for r in reasons):
        why = "; ".join(str(r) for r in reasons) or "no image was returned"
        raise ContentPolicyViolationError(
            f"{model} refused the request: {why}",
            provider=PROVIDER, model=model, code=str(reasons[0]) if reasons else None, response=response,
            details=details,
        )  # fmt: skip
    seeds = body.get("seeds")  # a list of ints; any other shape is not worth failing a call with images over
    return images, {"seeds": list(seeds) if isinstance(seeds, list) else []}


def _images_amazon(body: Mapping[str, Any], model: str, response: httpx.Response) -> tuple[list[str], dict[str, Any]]:
    images = [item for item in _strings(body.get("images"), what="images", model=model, response=response) if item]
    error = body.get("error")
    if images:
        return images, {"error": error} if error else {}
    if isinstance(error, str) and error:
        if CONTENT_BLOCK.search(error):
            raise ContentPolicyViolationError(
                f"{model} refused the request: {error}", provider=PROVIDER, model=model, response=response
            )
        raise InternalServerError(
            f"{model} returned no image: {error}", provider=PROVIDER, model=model, response=response
        )
    raise APIResponseValidationError("the response holds no image", provider=PROVIDER, model=model, response=response)


def _cost(info: ModelInfo, request: ImageRequest, family: str, plan: fam.SizePlan, count: int) -> float | None:
    if info.pricing is None:
        return None
    quality: str | None = None
    if family in (fam.TITAN, fam.NOVA):
        quality = fam.amazon_quality(request.quality) or info.pricing.default_quality
    elif family == fam.SDXL:
        steps = request.params.get("steps")
        quality = "premium" if isinstance(steps, int | float) and steps > 50 else "standard"
    each = info.pricing.image_price(price_tier(info, plan.width, plan.height), quality)
    return None if each is None else round(each * count, 10)


@hookimpl
def parse_response(
    response: httpx.Response, request: ImageRequest, deployment: Deployment, model: ModelInfo
) -> ImageResponse:
    """
    Read the family's response body, or raise the error it means.

    Refusals reported as a 200 (SDXL's ``CONTENT_FILTERED``, SD3 / Stable Image's
    ``finish_reasons`` or missing images) and content-filter ``ValidationException`` s (Titan,
    Nova) are ``ContentPolicyViolationError``.
    """
    info = _effective(model, deployment)
    if response.is_error:
        raise error_for(response, model=request.model)
    family = _family(info)
    try:
        body = response.json()
    except ValueError as exc:
        raise APIResponseValidationError(
            f"the response is not JSON: {exc}", provider=PROVIDER, model=request.model, response=response
        ) from exc
    if not isinstance(body, Mapping):
        raise APIResponseValidationError(
            "the response is not a JSON object", provider=PROVIDER, model=request.model, response=response
        )
    readers = {fam.SDXL: _images_sdxl, fam.STABILITY3: _images_stability3, fam.STABILITY_EDIT: _images_stability3}
    reader = readers.get(family, _images_amazon)
    images, facts = reader(body, request.model, response)
    refused = facts.pop("refused", ())
    if not all(isinstance(image, str) for image in images):
        raise APIResponseValidationError(
            "an image in the response is not a base64 string", provider=PROVIDER, model=request.model, response=response
        )
    plan = _plan(request, family, info)
    stability = family in (fam.STABILITY3, fam.STABILITY_EDIT)
    output_format = request.params.get("output_format", "png") if stability else "png"
    request_id = response.headers.get("x-amzn-requestid")
    metadata = {"family": family, **facts}
    if request_id:
        metadata["request_ids"] = [request_id]
    return ImageResponse(
        created=_created(response),
        data=tuple(ImageObject(b64_json=image) for image in images),
        output_format=str(output_format),
        size=plan.size,
        cost=_cost(info, request, family, plan, len(images)),
        metadata=metadata,
        refused=refused,
    )
