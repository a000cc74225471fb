"""
The gateway's request table: one list of fields that both checks a request body and writes
the ``CreateImageRequest`` schema of ``/openapi.json``, so that the document says exactly
what the gateway accepts.

Each field of OpenAI's ``CreateImageRequest`` has a JSON type, whether ``null`` is allowed
(it means unset) and its bounds. Keys that configure where and as whom a call is made
(``api_key``, ``api_base``, router settings, a provider's settings such as
``aws_region_name``) are refused from clients, ``null`` or not. Every other key passes to the
model behind the name as a provider parameter, checked there (sizes, qualities and styles
differ per model: the model's check answers 400 naming the parameter).

The fields, their types and bounds come from the library's parameter table (``pixmux._params``),
the one the library's functions, the CLI, the edits routes and the docs are built from; this
module adds only the gateway's own rules (what is required, what it refuses itself).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from pixmux._params import PARAMS, Param, by_name
from pixmux._redact import clean_client_value
from pixmux.litellm_keys import DEPLOYMENT_SETTINGS
from pixmux.router import ROUTER_PARAMS

__all__ = [
    "Field",
    "FIELDS",
    "CLIENT_FORBIDDEN",
    "EDIT_ONLY",
    "MAX_N",
    "FieldProblem",
    "check_fields",
    "request_schema",
]

#: Keys of an edit's body: a generation with one of them is refused, naming it (send it to ``/v1/images/edits``).
EDIT_ONLY = ("image", "images", "mask", "operation")
#: Most images one request may ask for (OpenAI's schema); each model may allow fewer.
MAX_N: int = by_name("n").maximum or 10

#: Keyword arguments that configure where and as whom a call is made: only the config sets them.
CLIENT_FORBIDDEN = frozenset(
    {
        "api_key",
        "api_base",
        "base_url",
        "api_version",
        "organization",
        "timeout",
        "custom_llm_provider",
        "mock_response",
        "drop_params",
        "engine",
        "metadata",
        *ROUTER_PARAMS,
        *DEPLOYMENT_SETTINGS,  # credentials, endpoints, prices, limits, extra_headers: the config's alone
    }
)

_JSON_TYPES: Mapping[str, tuple[type, ...]] = {"string": (str,), "integer": (int,), "boolean": (bool,)}
_WORDS = {"string": "a string", "integer": "an integer", "boolean": "a boolean"}


@attrs.frozen(kw_only=True)
class Field:
    """One request field: its JSON type and what values the gateway itself accepts."""

    name: str
    kind: str
    description: str
    required: bool = False
    nullable: bool = True
    non_blank: bool = False
    minimum: int | None = None
    maximum: int | None = None
    enum: tuple[Any, ...] | None = None
    #: Why a value outside ``enum`` is refused (for the error message).
    refusal: str | None = None

    def schema(self) -> dict[str, Any]:
        """This field's JSON schema (OpenAPI 3.1)."""
        out: dict[str, Any] = {"type": [self.kind, "null"] if self.nullable else self.kind}
        if self.non_blank:
            out["pattern"] = r"\S"
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        if self.enum is not None:
            out["enum"] = [*self.enum, *([None] if self.nullable else [])]
        out["description"] = self.description
        return out


#: What the gateway adds to the library's parameter table (``pixmux._params``) for a generation's
#: JSON body: which fields are required and not nullable, and the descriptions of ``/openapi.json``.
#: ``enum``: the gateway refuses other values itself; elsewhere the model behind the name checks them.
_GATEWAY_RULES: Mapping[str, Mapping[str, Any]] = {
    "prompt": {
        "required": True,
        "nullable": False,
        "non_blank": True,
        "description": "The text prompt: at least one character that is not white space.",
    },
    "model": {"required": True, "nullable": False, "description": "A model name configured here."},
    "n": {"description": "How many images; a model may allow fewer."},
    "response_format": {"enum": True, "description": "`url` or `b64_json`."},
    "user": {"description": "An end-user id, passed to providers that take one."},
    "output_compression": {"description": "0 to 100."},
    "stream": {"description": "`true`: the answer is a stream of server-sent events (image_generation.* events)."},
    "partial_images": {"description": "Partial images to stream before the final one (0 to 3); needs `stream: true`."},
}


def _field(param: Param) -> Field:
    rules = _GATEWAY_RULES.get(param.name, {})
    return Field(
        name=param.name,
        kind=param.kind,
        description=rules.get("description", "Checked against the model behind the name."),
        required=rules.get("required", False),
        nullable=rules.get("nullable", True),
        non_blank=rules.get("non_blank", False),
        minimum=param.minimum,
        maximum=param.maximum,
        enum=param.enum if rules.get("enum") else None,
    )


#: A generation's JSON fields: the library's table's rows a client may send, files aside.
FIELDS: tuple[Field, ...] = tuple(
    _field(param) for param in PARAMS if "generate" in param.operations and param.client and param.kind != "file"
)
_BY_NAME: Mapping[str, Field] = {field.name: field for field in FIELDS}
_REQUIRED = tuple(field for field in FIELDS if field.required)


class FieldProblem(ValueError):
    """A request body breaks the table: ``message`` and the ``param`` to blame."""

    def __init__(self, message: str, param: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


def _kind_ok(field: Field, value: object) -> bool:
    if field.kind == "boolean":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    return isinstance(value, _JSON_TYPES[field.kind])


def check_fields(body: dict[str, Any], *, forbidden: Iterable[str], model_required: bool = True) -> None:
    """
    Check a decoded request body against the table, in place: an integral float (``2.0``) of
    an integer field becomes an ``int``, as JSON Schema counts it an integer.

    Raises:
        FieldProblem: naming the first field that breaks a rule (type, null, bounds, a refused key).
    """
    refused = forbidden if isinstance(forbidden, frozenset) else frozenset(forbidden)
    for key, given in body.items():
        if key in refused:
            shown = clean_client_value(key)
            raise FieldProblem(f"{shown} is set by the gateway's config, not by clients", shown)
        field = _BY_NAME.get(key)
        if field is None:
            continue  # a provider parameter: the model behind the name checks it
        if given is None:
            if not field.nullable and (key != "model" or model_required):
                raise FieldProblem(_missing(field), key)
            continue
        value = given
        if field.kind == "integer" and isinstance(given, float) and given.is_integer():
            value = body[key] = int(given)
        if not _kind_ok(field, value):
            raise FieldProblem(f"{key} must be {_WORDS[field.kind]}, not {type(value).__name__}", key)
        if field.non_blank and not str(value).strip():
            raise FieldProblem(_missing(field), key)
        if (field.minimum is not None and value < field.minimum) or (
            field.maximum is not None and value > field.maximum
        ):
            raise FieldProblem(f"{key}={value} is out of range; accepted: {field.minimum} to {field.maximum}", key)
        if field.enum is not None and value not in field.enum:
            allowed = ", ".join(str(item) for item in field.enum)
            reason = field.refusal or f"{key}={clean_client_value(value)!s} is not accepted; accepted: {allowed}"
            raise FieldProblem(reason, key)
    for field in _REQUIRED:
        if field.name not in body and (field.name != "model" or model_required):
            raise FieldProblem(_missing(field), field.name)


def _missing(field: Field) -> str:
    if field.name == "prompt":
        return "prompt is required: a non-empty string"
    return f"{field.name} is required"


def request_schema(models: Iterable[str], forbidden: Iterable[str], *, model_in_path: bool = False) -> dict[str, Any]:
    """
    The JSON schema of a request body as :func:`check_fields` checks it.

    Args:
        models: the names a client may ask for.
        forbidden: keys refused from clients (the config's).
        model_in_path: the Azure route: ``model`` comes from the path (a body ``model``, if
            given, must name the same model).
    """
    properties: dict[str, Any] = {}
    for field in FIELDS:
        schema = field.schema()
        if field.name == "model":
            names: list[Any] = sorted(set(models))
            schema = {"type": "string", "enum": names, "description": field.description}
            if model_in_path:
                schema = {
                    "type": ["string", "null"],
                    "enum": [*names, None],
                    "description": "Optional: the path names the model; a body model must be the same name.",
                }
        properties[field.name] = schema
    for key in sorted(forbidden):
        properties.setdefault(key, False)  # JSON Schema's `false`: the key must not be present
    required = [f.name for f in FIELDS if f.required and not (model_in_path and f.name == "model")]
    return {
        "type": "object",
        "required": required,
        "properties": properties,
        # partial_images (not null) needs stream: true, as the gateway checks
        "if": {"required": ["partial_images"], "properties": {"partial_images": {"type": "integer"}}},
        "then": {"required": ["stream"], "properties": {"stream": {"const": True}}},
        "additionalProperties": {
            "description": "Provider-specific parameters, checked against the model behind the name",
        },
    }
