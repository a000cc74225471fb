"""
The parameter table: every parameter of generations, edits and variations, once.

The gateway's field types (JSON bodies and multipart text fields), the gateway's OpenAPI
request schemas, the CLI's options and the docs table in ``docs/edits.md`` are generated
from :data:`PARAMS`; the library's explicit signatures (``image_generation``,
``image_edit``, ``image_variation`` and their async twins) are tested against it
(``core/tests/test_param_table.py``).

A row's ``operations`` say which calls take it; ``client`` says whether a gateway client may
send it (credentials, timeouts and routing are the config's alone); ``cli`` is the option's
flag, ``None`` when the CLI has no option of its own for it (``-p name=value`` still sets it).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

__all__ = [
    "Param",
    "PARAMS",
    "OPERATIONS",
    "by_name",
    "signature_names",
    "client_fields",
    "field_types",
    "request_schema",
    "docs_table",
    "convert_text",
]

OPERATIONS = ("generate", "edit", "variation")
_ALL = frozenset(OPERATIONS)
_GEN_EDIT = frozenset({"generate", "edit"})
_EDIT = frozenset({"edit"})


@attrs.frozen(kw_only=True)
class Param:
    """
    One parameter.

    Attributes:
        name: the keyword argument and the wire field (``image`` is also sent as ``image[]``).
        kind: ``"string"``, ``"integer"``, ``"number"``, ``"boolean"`` or ``"file"``.
        operations: the calls that take it.
        doc: one line for the docs table and the CLI's help.
        client: a gateway client may send it.
        explicit: the library's functions name it in their signature (the rest ride in ``**provider_params``).
        named_in: where ``explicit``, the operations whose function names it (``None``: all of ``operations``).
        cli: the CLI option, or ``None``.
        enum: the values OpenAI's schema allows, where it fixes them.
        minimum, maximum: bounds of an integer.
    """

    name: str
    kind: str
    operations: frozenset[str]
    doc: str
    client: bool = True
    explicit: bool = True
    named_in: frozenset[str] | None = None
    cli: str | None = None
    enum: tuple[str, ...] | None = None
    minimum: int | None = None
    maximum: int | None = None


PARAMS: tuple[Param, ...] = (
    Param(name="prompt", kind="string", operations=_GEN_EDIT, doc="what to draw, or what to change"),
    Param(
        name="image",
        kind="file",
        operations=_EDIT | {"variation"},
        doc="the input image(s): up to 16 for GPT image models",
    ),
    Param(
        name="mask",
        kind="file",
        operations=_EDIT,
        doc="where to edit: a PNG whose transparent pixels mark the area",
        cli="--mask",
    ),
    Param(
        name="model",
        kind="string",
        operations=_ALL,
        doc="the model string (or, at the gateway, a configured model name)",
        cli="--model",
    ),
    Param(name="n", kind="integer", operations=_ALL, doc="how many images", cli="--n", minimum=1, maximum=10),
    Param(
        name="quality",
        kind="string",
        operations=_GEN_EDIT,
        doc="low, medium, high, auto (GPT image); standard, hd (DALL-E)",
        cli="--quality",
    ),
    Param(
        name="response_format",
        kind="string",
        operations=_ALL,
        doc="url or b64_json (DALL-E and some providers)",
        cli="--response-format",
        enum=("url", "b64_json"),
    ),
    Param(name="size", kind="string", operations=_ALL, doc="WIDTHxHEIGHT, or what the model accepts", cli="--size"),
    Param(
        name="style",
        kind="string",
        operations=frozenset({"generate"}),
        doc="vivid or natural (DALL-E 3)",
        cli="--style",
    ),
    Param(name="user", kind="string", operations=_ALL, doc="an end-user id passed to the provider", cli="--user"),
    Param(
        name="background",
        kind="string",
        operations=_GEN_EDIT,
        doc="transparent, opaque or auto (GPT image)",
        explicit=False,
        enum=("transparent", "opaque", "auto"),
    ),
    Param(
        name="moderation",
        kind="string",
        operations=frozenset({"generate"}),
        doc="low or auto (GPT image)",
        explicit=False,
        enum=("low", "auto"),
    ),
    Param(
        name="output_format",
        kind="string",
        operations=_GEN_EDIT,
        doc="png, jpeg or webp (GPT image)",
        explicit=False,
        enum=("png", "jpeg", "webp"),
    ),
    Param(
        name="output_compression",
        kind="integer",
        operations=_GEN_EDIT,
        doc="0-100, for jpeg and webp (GPT image)",
        explicit=False,
        minimum=0,
        maximum=100,
    ),
    Param(
        name="input_fidelity",
        kind="string",
        operations=_EDIT,
        doc="high or low: how closely to keep faces and details of the inputs",
        explicit=False,
        enum=("high", "low"),
    ),
    Param(
        name="stream",
        kind="boolean",
        operations=_GEN_EDIT,
        doc="stream OpenAI's image events (partial images, then the completed ones)",
        named_in=frozenset({"generate", "edit"}),
        cli="--stream",
    ),
    Param(
        name="partial_images",
        kind="integer",
        operations=_GEN_EDIT,
        doc="0-3 partial images when streaming",
        explicit=False,
        minimum=0,
        maximum=3,
        cli="--partial-images",
    ),
    # Call options: the library's, never a gateway client's.
    Param(
        name="timeout",
        kind="number",
        operations=_ALL,
        doc="seconds for the whole call, retries included",
        client=False,
        cli="--timeout",
    ),
    Param(
        name="num_retries",
        kind="integer",
        operations=_ALL,
        doc="retries after a 429, 408, 5xx or connection error",
        client=False,
        cli="--num-retries",
    ),
    Param(
        name="api_key",
        kind="string",
        operations=_ALL,
        doc="the provider's key (default: its environment variable)",
        client=False,
        cli="--api-key",
    ),
    Param(name="api_base", kind="string", operations=_ALL, doc="endpoint override", client=False, cli="--api-base"),
    Param(
        name="api_version", kind="string", operations=_ALL, doc="API version (Azure)", client=False, cli="--api-version"
    ),
    Param(
        name="custom_llm_provider",
        kind="string",
        operations=_ALL,
        doc="force a provider for a bare model name",
        client=False,
        cli="--provider",
    ),
    Param(
        name="drop_params",
        kind="boolean",
        operations=_ALL,
        doc="drop what the model refuses, with a warning",
        client=False,
        cli="--drop-params",
    ),
    Param(
        name="mock_response",
        kind="string",
        operations=_ALL,
        doc="answer without any network (tests)",
        client=False,
        cli="--mock",
    ),
    Param(
        name="allow_urls",
        kind="boolean",
        operations=_EDIT | {"variation"},
        doc="fetch http(s) image URLs (off by default)",
        client=False,
        cli="--allow-urls",
    ),
)

_BY_NAME = {param.name: param for param in PARAMS}


def by_name(name: str) -> Param:
    """The row for ``name``."""
    return _BY_NAME[name]


def _rows(operation: str) -> Iterable[Param]:
    return (param for param in PARAMS if operation in param.operations)


def signature_names(operation: str) -> tuple[str, ...]:
    """The parameters the library's function for ``operation`` names in its signature, in table order."""
    return tuple(
        param.name
        for param in _rows(operation)
        if param.explicit and (param.named_in is None or operation in param.named_in)
    )


def client_fields(operation: str) -> tuple[str, ...]:
    """The fields a gateway client may send for ``operation``."""
    return tuple(param.name for param in _rows(operation) if param.client)


_JSON_TYPES: Mapping[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


def field_types(operation: str) -> dict[str, tuple[type, ...]]:
    """For a gateway JSON body: each client field (files aside) and the JSON types it may hold."""
    return {param.name: _JSON_TYPES[param.kind] for param in _rows(operation) if param.client and param.kind != "file"}


def _schema(param: Param, models: Iterable[str]) -> dict[str, Any]:
    if param.kind == "file":
        single = {"type": "string", "format": "binary"}
        return {"anyOf": [single, {"type": "array", "items": single}]} if param.name == "image" else single
    if param.name == "model":
        return {"type": "string", "enum": list(models)}
    schema: dict[str, Any] = {"type": param.kind, "description": param.doc}
    if param.enum is not None:
        schema["enum"] = list(param.enum)
    if param.minimum is not None:
        schema["minimum"] = param.minimum
    if param.maximum is not None:
        schema["maximum"] = param.maximum
    return schema


def request_schema(operation: str, models: Iterable[str] = ()) -> dict[str, Any]:
    """The gateway's request schema for ``operation`` (multipart for edits and variations), from the table."""
    names = list(models)
    required = ["image"] if operation != "generate" else []
    if operation != "variation":
        required.append("prompt")
    return {
        "type": "object",
        "required": required,
        "properties": {param.name: _schema(param, names) for param in _rows(operation) if param.client},
        "additionalProperties": {
            "description": "Provider-specific parameters, checked against the model behind the name"
        },
    }


def docs_table() -> str:
    """The Markdown table of every parameter and the calls that take it (kept in ``docs/edits.md``)."""
    lines = [
        "| parameter | generate | edit | variation | gateway | CLI | what it is |",
        "|---|---|---|---|---|---|---|",
    ]
    for param in PARAMS:
        marks = ["yes" if op in param.operations else "" for op in OPERATIONS]
        cli = f"`{param.cli}`" if param.cli else ""
        gateway = "yes" if param.client else ""
        lines.append(f"| `{param.name}` | {' | '.join(marks)} | {gateway} | {cli} | {param.doc} |")
    return "\n".join(lines) + "\n"


_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def _provider_value(text: str) -> Any:
    """
    A provider-specific field's value: a JSON number, ``true``/``false``, list or object when the
    text is one (the ``openai`` client sends ``extra_body={"strength": 0.6}`` as the text ``0.6``),
    else the text itself.
    """
    stripped = text.strip()
    if not stripped or stripped[0] not in "-0123456789tf[{":
        return text
    try:
        value = json.loads(stripped)
    except (ValueError, RecursionError):
        return text
    if isinstance(value, float) and not math.isfinite(value):
        return text
    return value


def convert_text(name: str, text: str) -> Any:
    """
    A multipart text field's value in its table type (``n=2`` is the integer 2); a provider-specific
    field is typed as JSON where its text is a JSON number, boolean, list or object.

    Raises:
        ValueError: the text is not a value of the field's type (the message names the field).
    """
    param = _BY_NAME.get(name)
    if param is None:
        return _provider_value(text)
    kind = param.kind
    if kind == "integer":
        stripped = text.strip()
        if not stripped.lstrip("+-").isdigit():
            raise ValueError(f"{name} must be an integer, not {text[:40]!r}")
        return int(stripped)
    if kind == "number":
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"{name} must be a number, not {text[:40]!r}") from None
    if kind == "boolean":
        lowered = text.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(f"{name} must be true or false, not {text[:40]!r}")
    return text
