"""
cattrs converters, one per purpose.

- ``make_converter()``: lenient, for provider JSON (providers add fields; we ignore them).
- ``make_strict_converter()``: unknown keys are errors, for config files and deployment settings.
- ``output_converter()``: turns pixmux values into OpenAI-shaped JSON, leaving out ``None`` fields.
- ``make_camel_converter()``: lenient, for camelCase providers (field ``mime_type`` reads ``mimeType``).
"""

from __future__ import annotations

import functools
from typing import Any

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

__all__ = ["make_converter", "make_strict_converter", "make_camel_converter", "output_converter", "describe_error"]


def make_converter() -> cattrs.Converter:
    """A lenient converter for provider responses: extra keys are ignored, types are checked."""
    return cattrs.Converter(forbid_extra_keys=False, detailed_validation=True)


def make_strict_converter() -> cattrs.Converter:
    """A strict converter for config and settings: unknown keys are errors naming the key."""
    return cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def make_camel_converter() -> cattrs.Converter:
    """A lenient converter whose attrs classes read and write camelCase keys (``bytes_base64_encoded``)."""
    converter = make_converter()

    def structure_factory(cls: type[Any]) -> Any:
        overrides: dict[str, Any] = {a.name: override(rename=_camel(a.name)) for a in attrs.fields(cls)}
        return make_dict_structure_fn(cls, converter, **overrides)

    def unstructure_factory(cls: type[Any]) -> Any:
        overrides: dict[str, Any] = {
            a.name: override(rename=_camel(a.name), omit_if_default=True) for a in attrs.fields(cls)
        }
        return make_dict_unstructure_fn(cls, converter, **overrides)

    converter.register_structure_hook_factory(attrs.has, structure_factory)
    converter.register_unstructure_hook_factory(attrs.has, unstructure_factory)
    return converter


@functools.cache
def output_converter() -> cattrs.Converter:
    """The converter that writes pixmux values as JSON-ready dicts with no ``None`` or default fields."""
    from pixmux.types import InputTokensDetails, OutputTokensDetails, Usage

    converter = cattrs.Converter(omit_if_default=True, unstruct_collection_overrides={tuple: list})
    # Usage's counters are required by OpenAI's schema even when zero: keep them.
    for cls in (InputTokensDetails, OutputTokensDetails):
        converter.register_unstructure_hook(
            cls, make_dict_unstructure_fn(cls, converter, _cattrs_omit_if_default=False)
        )
    converter.register_unstructure_hook(
        Usage,
        make_dict_unstructure_fn(
            Usage, converter, _cattrs_omit_if_default=False, output_tokens_details=override(omit_if_default=True)
        ),
    )
    return converter


def describe_error(exc: BaseException) -> str:
    """One line naming each place a structure failed (``... @ $.data[0].url``)."""
    if isinstance(exc, cattrs.BaseValidationError):
        return "; ".join(cattrs.transform_error(exc))
    return str(exc)
