"""
One parameter table (``pixmux._params``): the library's functions, the CLI, the gateway's checks
and its OpenAPI document all say what the table says, so a field added there is added everywhere.
"""

from __future__ import annotations

import argparse
import inspect
from typing import Any

import pixmux
import pytest
from pixmux import _params
from pixmux._cli import build_parser
from pixmux.proxy._request import FIELDS, MAX_N
from pixmux.proxy._request import request_schema as generation_schema

FUNCTIONS = {
    "generate": (pixmux.image_generation, pixmux.aimage_generation),
    "edit": (pixmux.image_edit, pixmux.aimage_edit),
    "variation": (pixmux.image_variation, pixmux.aimage_variation),
}


@pytest.mark.parametrize("operation", _params.OPERATIONS)
def test_library_functions_name_the_tables_explicit_parameters(operation: str) -> None:
    """Each function's signature names exactly the table's explicit parameters for its operation."""
    for function in FUNCTIONS[operation]:
        names = {n for n, p in inspect.signature(function).parameters.items() if p.kind is not p.VAR_KEYWORD}
        assert names == set(_params.signature_names(operation)), function.__name__


def test_gateway_generation_fields_are_the_tables_client_fields() -> None:
    """The gateway checks exactly the table's client fields of a generation, with the table's types and bounds."""
    rows = {param.name: param for param in _params.PARAMS}
    expected = [name for name in _params.client_fields("generate") if rows[name].kind != "file"]

    assert [field.name for field in FIELDS] == expected
    for field in FIELDS:
        row = rows[field.name]
        assert (field.kind, field.minimum, field.maximum) == (row.kind, row.minimum, row.maximum), field.name
    assert rows["n"].maximum == MAX_N


def test_openapi_generation_schema_lists_the_tables_fields() -> None:
    """``/openapi.json``'s generation body has a property for every field the table lets clients send."""
    schema: dict[str, Any] = generation_schema(["img"], forbidden=["api_key"])
    properties = schema["properties"]

    for name in _params.client_fields("generate"):
        assert name in properties, name
    assert properties["api_key"] is False


def test_cli_offers_every_option_the_table_names() -> None:
    """Each table row with a CLI option is an option of the commands for its operations."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    commands = {"generate": "generate", "edit": "edit", "variation": "variation"}
    for operation, command in commands.items():
        options = {s for a in sub.choices[command]._actions for s in a.option_strings}
        for param in _params.PARAMS:
            if param.cli and operation in param.operations:
                assert param.cli in options, f"pixmux {command} lacks {param.cli}"
