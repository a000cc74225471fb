"""
pixmux provider for Recraft: ``recraft/<model>`` (``recraft/recraftv3``, ``recraft/recraftv4_vector`` ...).

Recraft's endpoint is OpenAI-shaped, so this plugin reuses :mod:`pixmux.dialects.openai`. What
differs from the ``openai`` provider, and all this module adds:

- **Endpoint and key**: ``https://external.api.recraft.ai/v1``, ``RECRAFT_API_KEY`` (or ``RECRAFT_API_TOKEN``).
- **Styles**: ``style`` takes Recraft's families (``realistic_image``, ``digital_illustration``,
  ``vector_illustration``, ``icon``, ``logo_raster``, ``any``) on V2/V3, refined by ``substyle``
  (checked per family and model); V4 models take no style. Named styles ("Recraft V3 Raw") pass through.
- **Extras** sent in the body: ``negative_prompt``, ``controls`` (``artistic_level``, ``colors``,
  ``background_color``, ``no_text``), ``text_layout``, ``random_seed``, ``style_id``,
  ``image_format``; V4's ``style_match``, ``creativity``, ``upscale``. Each is checked before sending.
- **Sizes**: Recraft's own lists (``1365x1024`` ...); V4 also takes aspect ratios (``16:9``). ``n`` is 1-6.
- **No** ``quality``; ``user`` is not sent (Recraft has no such field).
- **Vector output**: ``_vector`` models and vector styles answer SVG (saved as ``.svg``).
- **Cost**: from the answer's ``credits`` (1,000 API units = US$1); errors may be plain text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import attrs
import httpx
from pixmux import hookimpl
from pixmux.catalogue import Catalogue, ModelInfo, check_request
from pixmux.dialects.openai import build_body, error_for, parse_images
from pixmux.exceptions import APIResponseValidationError, AuthenticationError, UnsupportedParamsError
from pixmux.types import Deployment, ImageObject, ImageRequest, ImageResponse

from pixmux_recraft import _edits
from pixmux_recraft._catalogue import CATALOGUE, DEFAULT_API_BASE, PROVIDER, USD_PER_UNIT, VECTOR_STYLES

__all__ = ["CATALOGUE", "DEFAULT_API_BASE", "model_catalogue", "validate_params", "build_request", "parse_response"]

#: OpenAI's fields Recraft reads (``quality`` and ``user`` it has not).
_FIELDS = ("n", "size", "style", "response_format")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_CONTROL_KEYS = frozenset({"artistic_level", "colors", "background_color", "no_text"})
_COLOR_KEYS = frozenset({"rgb", "weight", "std"})
_BOOL_PARAMS = ("block_nsfw", "calculate_features", "expire")


@hookimpl
def model_catalogue() -> Catalogue:
    """Recraft's models with their styles, substyles, sizes, extras and prices."""
    return CATALOGUE


def _bad(message: str, model: str, param: str) -> UnsupportedParamsError:
    return UnsupportedParamsError(message, provider=PROVIDER, model=model, param=param)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_named_style(style: str) -> bool:
    # Recraft's named styles ("Recraft V3 Raw", "Photorealism") versus its snake_case families.
    return style != style.lower() or " " in style


def _check_color(value: Any, where: str, model: str) -> None:
    if not isinstance(value, Mapping) or "rgb" not in value or not set(value) <= _COLOR_KEYS:
        raise _bad(
            f"{where} must be {{'rgb': [r, g, b]}} (optionally 'weight', 'std'), not {value!r}", model, "controls"
        )
    rgb = value["rgb"]
    if not (isinstance(rgb, list | tuple) and len(rgb) == 3 and all(_is_int(c) and 0 <= c <= 255 for c in rgb)):
        raise _bad(f"{where}.rgb must be three whole numbers from 0 to 255, not {rgb!r}", model, "controls")
    if "weight" in value and not _is_number(value["weight"]):
        raise _bad(f"{where}.weight must be a number, not {value['weight']!r}", model, "controls")
    std = value.get("std")
    if "std" in value and not (isinstance(std, list | tuple) and all(_is_number(x) for x in std)):
        raise _bad(f"{where}.std must be a list of numbers, not {std!r}", model, "controls")


def _check_controls(controls: Any, info: ModelInfo) -> None:
    model = info.name
    if not isinstance(controls, Mapping):
        raise _bad(f"controls must be a mapping, not {type(controls).__name__}", model, "controls")
    unknown = set(controls) - _CONTROL_KEYS
    if unknown:
        raise _bad(
            f"controls has unknown keys {sorted(unknown)}; accepted: {', '.join(sorted(_CONTROL_KEYS))}",
            model,
            "controls",
        )
    level = controls.get("artistic_level")
    if level is not None and not (_is_int(level) and 0 <= level <= 5):
        raise _bad(f"controls.artistic_level={level!r} must be a whole number from 0 to 5", model, "controls")
    colors = controls.get("colors")
    if colors is not None:
        if not isinstance(colors, list | tuple):
            raise _bad(f"controls.colors must be a list of colors, not {type(colors).__name__}", model, "controls")
        for index, color in enumerate(colors):
            _check_color(color, f"controls.colors[{index}]", model)
    if controls.get("background_color") is not None:
        _check_color(controls["background_color"], "controls.background_color", model)
    if "no_text" in controls and not isinstance(controls["no_text"], bool):
        raise _bad(f"controls.no_text must be true or false, not {controls['no_text']!r}", model, "controls")


def _check_text_layout(layout: Any, model: str) -> None:
    if not isinstance(layout, list | tuple) or not layout:
        raise _bad("text_layout must be a non-empty list of {'text', 'bbox'} items", model, "text_layout")
    for index, item in enumerate(layout):
        where = f"text_layout[{index}]"
        if not isinstance(item, Mapping) or set(item) != {"text", "bbox"}:
            raise _bad(f"{where} must have exactly 'text' and 'bbox', not {item!r}", model, "text_layout")
        if not isinstance(item["text"], str) or not item["text"]:
            raise _bad(f"{where}.text must be a non-empty string", model, "text_layout")
        bbox = item["bbox"]
        points_ok = isinstance(bbox, list | tuple) and len(bbox) == 4
        if points_ok:
            points_ok = all(
                isinstance(point, list | tuple)
                and len(point) == 2
                and all(_is_number(c) and 0 <= c <= 1 for c in point)
                for point in bbox
            )
        if not points_ok:
            raise _bad(
                f"{where}.bbox must be four [x, y] corner points with coordinates from 0 to 1, not {bbox!r}",
                model,
                "text_layout",
            )


def _check_style(request: ImageRequest, info: ModelInfo) -> None:
    substyles: Mapping[str, frozenset[str]] = info.extra.get("substyles", {})
    style, substyle, style_id = request.style, request.params.get("substyle"), request.params.get("style_id")
    if style_id is not None:
        if not isinstance(style_id, str) or not _UUID.match(style_id):
            raise _bad(
                f"style_id={style_id!r} must be the UUID of a style made with POST /v1/styles", info.name, "style_id"
            )
        if style is not None:
            raise _bad("give either style or style_id, not both", info.name, "style_id")
    if substyle is None:
        return
    if style is None or style not in substyles:
        raise _bad(
            f"substyle needs one of the styles {', '.join(sorted(substyles))} (got style={style!r})",
            info.name,
            "substyle",
        )
    if substyle not in substyles[style]:
        allowed = ", ".join(sorted(substyles[style])) or "none"
        raise _bad(
            f"substyle={substyle!r} is not a substyle of {style} on {info.name}; accepted: {allowed}",
            info.name,
            "substyle",
        )


@hookimpl
def validate_params(request: ImageRequest, model: ModelInfo) -> None:
    """Check size, n, style and substyle (per family and model) and every extra's shape against the catalogue."""
    named = (
        model.known
        and bool(model.styles)
        and isinstance(request.style, str)
        and request.style not in (model.styles or ())
        and _is_named_style(request.style)
    )
    # A named style passes through (Recraft checks it); everything else is checked against the catalogue.
    checked = attrs.evolve(request, style=None) if named else request
    if request.operation == "edit" and request.prompt == "":  # eraseRegion takes none: check_edit says which do
        checked = attrs.evolve(checked, operation="variation")
    check_request(checked, model, provider=PROVIDER)
    _edits.check_edit(request, model.name)
    if not model.known:
        return
    if named and "substyle" in request.params:
        raise _bad(f"a named style ({request.style!r}) takes no substyle", model.name, "substyle")
    _check_style(request, model)
    params = request.params
    if "controls" in params:
        _check_controls(params["controls"], model)
    if "text_layout" in params:
        _check_text_layout(params["text_layout"], model.name)
    seed = params.get("random_seed")
    if seed is not None and not _is_int(seed):
        raise _bad(f"random_seed={seed!r} must be a whole number from 0 to 4294967295", model.name, "random_seed")
    if "negative_prompt" in params and not isinstance(params["negative_prompt"], str):
        raise _bad("negative_prompt must be a string", model.name, "negative_prompt")
    for name in _BOOL_PARAMS:
        if name in params and not isinstance(params[name], bool):
            raise _bad(f"{name} must be true or false, not {params[name]!r}", model.name, name)
    urls = params.get("style_reference_urls")
    if urls is not None and not (isinstance(urls, list | tuple) and urls and all(isinstance(u, str) for u in urls)):
        raise _bad("style_reference_urls must be a non-empty list of image URLs", model.name, "style_reference_urls")


@hookimpl
def build_request(request: ImageRequest, deployment: Deployment) -> httpx.Request:
    """
    POST the body (OpenAI's fields Recraft reads plus Recraft's extras) to ``{api_base}/images/generations``;
    an edit or a variation to its tool's endpoint (``/images/inpaint`` ...), multipart with the files.
    """
    api_base = (deployment.api_base or DEFAULT_API_BASE).rstrip("/")
    if not deployment.api_key and api_base == DEFAULT_API_BASE:
        raise AuthenticationError(
            "no Recraft API token: set RECRAFT_API_KEY or pass api_key=", provider=PROVIDER, model=request.model
        )
    headers = {"Authorization": f"Bearer {deployment.api_key}"} if deployment.api_key else {}
    if request.operation != "generate":
        url = f"{api_base}/images/{_edits.tool_of(request)}"
        return _edits.edit_request(request, url, headers, deployment.model)
    body = build_body(request, deployment.model, openai_params=_FIELDS)
    return httpx.Request("POST", f"{api_base}/images/generations", headers=headers, json=body)


def _processed(response: httpx.Response) -> ImageResponse | None:
    """A ``ProcessImageResponse`` (eraseRegion): one ``image`` object instead of a ``data`` list; else ``None``."""
    try:
        path = response.request.url.path
    except RuntimeError:  # a response built by hand, with no request attached
        return None
    if not path.endswith("/eraseRegion"):
        return None
    body = response.json()
    image = body.get("image") if isinstance(body, dict) else None
    if not isinstance(image, dict) or not (image.get("url") or image.get("b64_json")):
        raise APIResponseValidationError(
            "the eraseRegion answer holds no image", provider=PROVIDER, response=response, status_code=502
        )
    found = ImageObject(url=image.get("url"), b64_json=image.get("b64_json"))
    return ImageResponse(created=int(body.get("created") or 0), data=(found,))


def is_vector(request: ImageRequest, model: ModelInfo) -> bool:
    """Whether the answer will be SVG: a ``_vector`` model, or a vector style family on a V2/V3 model."""
    return bool(model.extra.get("vector")) or request.style in VECTOR_STYLES


def _facts(response: httpx.Response) -> dict[str, Any]:
    # Recraft's own fields beside OpenAI's: credits charged, image ids, a style made from references.
    try:
        body = response.json()
    except ValueError:
        return {}
    if not isinstance(body, dict):
        return {}
    facts: dict[str, Any] = {}
    if _is_number(body.get("credits")) and body["credits"] >= 0:  # a negative charge is no price (cost stays None)
        facts["credits"] = body["credits"]
    data = body.get("data")
    items = [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []
    if any("image_id" in item for item in items):
        facts["image_ids"] = [item.get("image_id") for item in items]
    features = [item["features"] for item in items if isinstance(item.get("features"), dict)]
    if features:
        facts["features"] = features
    if isinstance(body.get("style_id"), str):
        facts["style_id"] = body["style_id"]
    return facts


@hookimpl
def parse_response(response: httpx.Response, request: ImageRequest, model: ModelInfo) -> ImageResponse:
    """Read the images (url or base64, raster or SVG), priced from ``credits``; raise on JSON or text errors."""
    if response.is_error:
        raise error_for(response, provider=PROVIDER, info=model)
    parsed = _processed(response) or parse_images(response, provider=PROVIDER, model=model.name)
    facts = _facts(response)
    vector = is_vector(request, model)
    parsed = parsed.with_metadata(vector=vector, **facts)
    if "credits" in facts:
        cost: float | None = round(facts["credits"] * USD_PER_UNIT, 10)
    elif vector and model.extra.get("vector_usd") is not None:
        cost = round(model.extra["vector_usd"] * len(parsed.data), 10)
    else:
        cost = None  # the core prices it from the catalogue, where it can
    return attrs.evolve(parsed, cost=cost) if cost is not None else parsed
