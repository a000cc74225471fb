"""
Model catalogues: what each model accepts and what it costs, as data.

A provider plugin returns a :class:`Catalogue` from its ``model_catalogue`` hook. The core
uses it to resolve credentials from the environment, to split deployment settings from
request parameters, to validate requests (through :func:`check_request`, which plugins call
from ``validate_params``) and to price each response.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from pixmux.exceptions import UnsupportedParamsError

if TYPE_CHECKING:
    from pixmux.types import ImageRequest, ImageResponse

__all__ = [
    "InputLimits",
    "Price",
    "Pricing",
    "ModelInfo",
    "Catalogue",
    "check_request",
    "choose_one",
    "request_price",
    "parse_size",
    "nearest_aspect_ratio",
]


@attrs.frozen(kw_only=True)
class Price:
    """
    One per-image price rule: ``usd`` per image when the size and quality match (``None`` matches any).
    """

    usd: float
    size: str | None = None
    quality: str | None = None

    def matches(self, size: str | None, quality: str | None) -> bool:
        """Whether this rule applies to a request of this size and quality."""
        return (self.size is None or self.size == size) and (self.quality is None or self.quality == quality)


@attrs.frozen(kw_only=True)
class Pricing:
    """
    What a model costs, in US dollars.

    Attributes:
        per_image: rules tried in order; the first that matches the request's size and quality wins.
        input_token: price of one input (prompt) token, for token-billed models.
        input_image_token: price of one input image token (the images of an edit), where it
            differs from ``input_token``.
        output_token: price of one output image token.
        output_text_token: price of one output text token (Gemini's text beside images).
        default_size, default_quality: what the provider uses when the request leaves them unset.
    """

    per_image: tuple[Price, ...] = ()
    input_token: float | None = None
    input_image_token: float | None = None
    output_token: float | None = None
    output_text_token: float | None = None
    default_size: str | None = None
    default_quality: str | None = None

    def image_price(self, size: str | None, quality: str | None) -> float | None:
        """The per-image price for this size and quality, or ``None`` if no rule matches."""
        size = size if size not in (None, "auto") else self.default_size
        quality = quality if quality not in (None, "auto") else self.default_quality
        for rule in self.per_image:
            if rule.matches(size, quality):
                return rule.usd
        return None

    def request_price(self, request: ImageRequest) -> float | None:
        """
        What a request will cost, known before it is sent: the per-image price for its size and
        quality times ``n``. ``None`` when no per-image rule applies. Token-billed models are
        estimated from their per-image table; :meth:`cost` gives the settled figure.

        .. versionadded:: 1.1
        """
        each = self.image_price(request.size, request.quality)
        if each is None:
            return None
        count = request.n or 1
        return each if count == 1 else round(each * count, 10)

    def cost(self, request: ImageRequest, response: ImageResponse) -> float | None:
        """
        The cost of one call: from token usage where the model is token-billed and usage was
        reported, else per image. ``None`` when the catalogue has no price that applies.
        """
        usage = response.usage
        if usage is not None and self.input_token is not None and self.output_token is not None:
            text_out = usage.output_tokens_details.text_tokens if usage.output_tokens_details else 0
            image_out = usage.output_tokens - text_out
            image_in = usage.input_tokens_details.image_tokens if self.input_image_token is not None else 0
            total = (usage.input_tokens - image_in) * self.input_token + image_out * self.output_token
            if image_in:
                total += image_in * (self.input_image_token or 0.0)
            total += text_out * (self.output_text_token if self.output_text_token is not None else self.output_token)
            return round(total, 10)
        size = response.size or request.size
        quality = response.quality or request.quality
        each = self.image_price(size, quality)
        if each is None:
            return None
        count = len(response.data)
        return each if count == 1 else round(each * count, 10)  # round: 3 x 0.04 is 0.12000000000000001


@attrs.frozen(kw_only=True)
class InputLimits:
    """
    What a model accepts as input images (edits and variations). ``None`` means "not checked".

    Attributes:
        max_images: most input images one call may carry.
        max_bytes: largest input image, in bytes.
        media_types: the accepted media types (``"image/png"`` ...).
        mask: ``"required"``, ``"optional"`` or ``"none"`` (the model takes no mask).
        mask_same_size: the mask must have the first image's pixel size.
        mask_alpha: the mask must carry an alpha channel (OpenAI's rule: transparent = edit here).
    """

    max_images: int | None = None
    max_bytes: int | None = None
    media_types: frozenset[str] | None = None
    mask: str = "optional"
    mask_same_size: bool = False
    mask_alpha: bool = False


@attrs.frozen(kw_only=True)
class ModelInfo:
    """
    What one model accepts. ``None`` for a set means "not checked": any value is forwarded.

    Attributes:
        name: the provider's model name.
        known: ``False`` for a model the catalogue does not list (validated leniently).
        sizes: the ``WxH`` (or other) size strings accepted.
        qualities, styles, response_formats: the accepted values of those parameters.
        max_n: most images one call may ask for.
        max_prompt_chars: longest prompt accepted.
        params: the provider-specific parameters accepted (``None``: any).
        param_values: for provider-specific parameters with a fixed set of values, that set.
        param_ranges: for numeric provider-specific parameters, the inclusive ``(low, high)`` range.
        pricing: the model's prices, where the provider publishes them.
        retired: set to a sentence when the provider has shut the model down.
        description: one line for listings.
        extra: provider facts (API family, wire names) the plugin reads.
        operations: what the model does: ``"generate"``, ``"edit"``, ``"variation"``.
        inputs: limits on input images for edits and variations.
        streaming: whether the provider streams partial images for this model natively.
    """

    name: str
    known: bool = True
    sizes: frozenset[str] | None = None
    qualities: frozenset[str] | None = None
    styles: frozenset[str] | None = None
    response_formats: frozenset[str] | None = None
    max_n: int | None = None
    max_prompt_chars: int | None = None
    params: frozenset[str] | None = None
    param_values: Mapping[str, frozenset[Any]] = attrs.field(factory=dict, hash=False)
    param_ranges: Mapping[str, tuple[float, float]] = attrs.field(factory=dict, hash=False)
    pricing: Pricing | None = None
    retired: str | None = None
    description: str = ""
    extra: Mapping[str, Any] = attrs.field(factory=dict, hash=False)
    operations: frozenset[str] = frozenset({"generate"})
    inputs: InputLimits | None = None
    streaming: bool = False


@attrs.frozen(kw_only=True)
class Catalogue:
    """
    A provider's models and the facts the core needs about the provider itself.

    Attributes:
        provider: the entry-point name.
        models: the models, by name.
        env: for each ``Deployment`` field or setting, the environment variables that supply it,
            first found wins (``{"api_key": ("OPENAI_API_KEY",)}``). The core reads them; plugins never do.
        settings: keyword arguments that configure the deployment (region, project, credentials)
            rather than the request; the core moves them into ``Deployment.settings`` so they are never sent.
        default_api_base: the provider's public endpoint, for listings and docs.
        normalize: turns a requested name into a catalogue key (strip a region prefix, a version suffix).
        unknown: builds the :class:`ModelInfo` for a model the catalogue does not list.
    """

    provider: str
    models: Mapping[str, ModelInfo] = attrs.field(factory=dict)
    env: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)
    settings: frozenset[str] = frozenset()
    default_api_base: str | None = None
    normalize: Callable[[str], str] | None = attrs.field(default=None, eq=False)
    unknown: Callable[[str], ModelInfo] | None = attrs.field(default=None, eq=False)

    def lookup(self, name: str) -> ModelInfo:
        """The entry for ``name``; for a name not listed, a lenient entry with ``known=False``."""
        found = self.models.get(name)
        if found is None and self.normalize is not None:
            found = self.models.get(self.normalize(name))
        if found is not None:
            return found
        if self.unknown is not None:
            return self.unknown(name)
        return ModelInfo(name=name, known=False)


def request_price(info: ModelInfo, request: ImageRequest) -> float | None:
    """
    The price of ``request`` on the model ``info`` describes, before it is sent (US dollars), or
    ``None`` when the catalogue has no per-image price for it. Budgets reserve this much.

    .. versionadded:: 1.1
    """
    return None if info.pricing is None else info.pricing.request_price(request)


def _accepted(values: Iterable[Any]) -> str:
    listed = ", ".join(sorted(str(value) for value in values))
    return listed or "none (the model has no such option)"


def choose_one(
    value: Any, allowed: frozenset[Any] | None, *, param: str, provider: str, model: str, what: str = ""
) -> None:
    """Raise ``UnsupportedParamsError`` naming ``param``, ``value`` and what is accepted, unless allowed."""
    if value is None or allowed is None:
        return
    try:
        if value in allowed:
            return
    except TypeError:  # an unhashable value (a list, a dict) is never in the set
        pass
    detail = f" {what}" if what else ""
    raise UnsupportedParamsError(
        f"{param}={value!r} is not supported by {model}{detail}; accepted: {_accepted(allowed)}",
        provider=provider,
        model=model,
        param=param,
    )


#: How deeply a provider-specific parameter's value may nest lists and objects.
_MAX_DEPTH = 32
#: The most images one call may ask for, whatever the model (a model the catalogue does not list has no
#: ``max_n``; plugins that fan ``n`` out build one request per image, and a mock makes them all in memory).
MAX_IMAGES_PER_CALL = 1000


def _is_text(value: str) -> bool:
    """Whether ``value`` can be sent as UTF-8 (no lone surrogates, which JSON bodies cannot carry)."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _json_problem(value: Any, depth: int = 0) -> str | None:
    """What keeps ``value`` out of a JSON request body, or ``None`` when it can be sent."""
    if value is None or isinstance(value, bool | int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else "is not a finite number"
    if isinstance(value, str):
        return None if _is_text(value) else "is not valid Unicode text (it holds a lone surrogate)"
    if depth >= _MAX_DEPTH:
        return f"nests lists and objects more than {_MAX_DEPTH} deep"
    if isinstance(value, list | tuple):
        for item in value:
            problem = _json_problem(item, depth + 1)
            if problem is not None:
                return problem
        return None
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str) or not _is_text(key):
                return f"has the key {key!r}; object keys must be valid text"
            problem = _json_problem(item, depth + 1)
            if problem is not None:
                return problem
        return None
    return f"is {type(value).__name__}, not a JSON value (text, number, true/false, null, list or object)"


def check_request(request: ImageRequest, info: ModelInfo, *, provider: str) -> None:
    """
    Check a request against a catalogue entry; the common part of every ``validate_params``.

    Checks prompt (non-empty, length; none for a variation), ``n`` (an int from 1 to ``max_n``), ``size``,
    ``quality``, ``style``, ``response_format`` and the provider-specific parameters.
    Unknown models (``info.known`` false) get only the checks that hold for every model.

    Raises:
        UnsupportedParamsError: naming the parameter, the value and what is accepted.
    """
    model = info.name
    if info.retired:
        raise UnsupportedParamsError(info.retired, provider=provider, model=model, param="model")
    prompt = request.prompt
    if request.operation == "variation":  # a variation has no prompt
        if prompt:
            raise UnsupportedParamsError("a variation takes no prompt", provider=provider, model=model, param="prompt")
    elif not isinstance(prompt, str) or not prompt or prompt.isspace():  # isspace: what strip() strips
        raise UnsupportedParamsError(
            f"prompt must be a non-empty string, not {_short(prompt)}",
            provider=provider,
            model=model,
            param="prompt",
        )
    if isinstance(prompt, str) and not prompt.isascii() and not _is_text(prompt):
        raise UnsupportedParamsError(
            "prompt is not valid Unicode text (it holds a lone surrogate)",
            provider=provider,
            model=model,
            param="prompt",
        )
    if info.max_prompt_chars is not None and len(prompt) > info.max_prompt_chars:
        raise UnsupportedParamsError(
            f"prompt is {len(prompt)} characters; {model} accepts at most {info.max_prompt_chars}",
            provider=provider,
            model=model,
            param="prompt",
        )
    if request.n is not None:
        if isinstance(request.n, bool) or not isinstance(request.n, int) or request.n < 1:
            raise UnsupportedParamsError(
                f"n={request.n!r} must be a whole number of at least 1", provider=provider, model=model, param="n"
            )
        if request.n > MAX_IMAGES_PER_CALL:
            raise UnsupportedParamsError(
                f"n={request.n} is more images than one call may ask for; accepted: 1 to "
                f"{info.max_n or MAX_IMAGES_PER_CALL}",
                provider=provider,
                model=model,
                param="n",
            )
        if info.max_n is not None and request.n > info.max_n:
            raise UnsupportedParamsError(
                f"n={request.n} is more than {model} makes in one call; accepted: 1 to {info.max_n}",
                provider=provider,
                model=model,
                param="n",
            )
    size, quality, style, response_format = request.size, request.quality, request.style, request.response_format
    for value in (size, quality, style, response_format, request.user):
        if value is not None and not (type(value) is str and value.isascii()):
            _check_texts(request, provider=provider, model=model)  # one is not plain text: say which
            break
    params = request.params
    for name, value in params.items():
        if not isinstance(name, str) or not _is_text(name):
            raise UnsupportedParamsError(
                f"parameter name {name!r} is not valid text", provider=provider, model=model, param=repr(name)
            )
        problem = _json_problem(value)
        if problem is not None:
            raise UnsupportedParamsError(
                f"{name}={_short(value)} {problem}", provider=provider, model=model, param=name
            )
    # all of them are strings by now
    if size is not None and info.sizes is not None and size not in info.sizes:
        choose_one(size, info.sizes, param="size", provider=provider, model=model)
    if quality is not None and info.qualities is not None and quality not in info.qualities:
        choose_one(quality, info.qualities, param="quality", provider=provider, model=model)
    if style is not None and info.styles is not None and style not in info.styles:
        choose_one(style, info.styles, param="style", provider=provider, model=model)
    if (
        response_format is not None
        and info.response_formats is not None
        and response_format not in info.response_formats
    ):
        choose_one(response_format, info.response_formats, param="response_format", provider=provider, model=model)
    if not params:
        return  # the rest checks provider-specific parameters
    if info.params is not None:
        for name in params:
            if name not in info.params:
                accepted = _accepted(info.params) or "none"
                raise UnsupportedParamsError(
                    f"{name}={params[name]!r}: {name!r} is not a parameter {model} accepts; "
                    f"provider-specific parameters accepted: {accepted}",
                    provider=provider,
                    model=model,
                    param=name,
                )
    for name, allowed in info.param_values.items():
        choose_one(params.get(name), allowed, param=name, provider=provider, model=model)
    for name, (low, high) in info.param_ranges.items():
        value = params.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise UnsupportedParamsError(
                f"{name}={value!r} is out of range for {model}; accepted: a number from {low:g} to {high:g}",
                provider=provider,
                model=model,
                param=name,
            )


def _check_texts(request: ImageRequest, *, provider: str, model: str) -> None:
    """Raise for the first of the request's text parameters that is not a string, or not valid Unicode text."""
    for param in ("size", "quality", "style", "response_format", "user"):
        value = getattr(request, param)
        if value is None or (type(value) is str and value.isascii()):
            continue  # unset, or plain text: nothing below applies
        if not isinstance(value, str):
            raise UnsupportedParamsError(
                f"{param}={_short(value)} must be a string", provider=provider, model=model, param=param
            )
        if not _is_text(value):
            raise UnsupportedParamsError(
                f"{param}={value!r} is not valid Unicode text (it holds a lone surrogate)",
                provider=provider,
                model=model,
                param=param,
            )


def _short(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters (a huge prompt or a bytes blob stays out of messages)."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a caller's object with a broken __repr__ still gets a message
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else f"{text[: limit - 1]}… ({type(value).__name__})"


def parse_size(size: str, *, provider: str, model: str) -> tuple[int, int]:
    """
    ``"1024x768"`` as ``(1024, 768)``.

    Raises:
        UnsupportedParamsError: ``size`` is not ``WIDTHxHEIGHT`` with positive whole numbers.
    """
    width, sep, height = size.lower().partition("x")
    if sep and width.isdigit() and height.isdigit() and int(width) > 0 and int(height) > 0:
        return int(width), int(height)
    raise UnsupportedParamsError(
        f"size={size!r} is not WIDTHxHEIGHT (for example '1024x1024')", provider=provider, model=model, param="size"
    )


def nearest_aspect_ratio(width: int, height: int, ratios: Iterable[str]) -> tuple[str, float]:
    """
    The listed ``"W:H"`` ratio closest to ``width/height`` (compared in log space) and how far off it is (0 = exact).
    """
    target = math.log(width / height)
    best: tuple[str, float] | None = None
    for ratio in ratios:
        a, _, b = ratio.partition(":")
        off = abs(math.log(float(a) / float(b)) - target)
        if best is None or off < best[1]:
            best = (ratio, off)
    if best is None:
        raise ValueError("no ratios given")
    return best
