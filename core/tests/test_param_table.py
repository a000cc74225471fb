"""The parameter table (pixmux._params) against the library's signatures, the gateway, the CLI and the docs."""

from __future__ import annotations

import inspect
from pathlib import Path

import pixmux
import pytest
from pixmux import _params
from pixmux._cli import build_parser
from pixmux.proxy import app as gateway_app
from pixmux.proxy.openapi import openapi_document

_FUNCTIONS = {
    "generate": (pixmux.image_generation, pixmux.aimage_generation),
    "edit": (pixmux.image_edit, pixmux.aimage_edit),
    "variation": (pixmux.image_variation, pixmux.aimage_variation),
}


@pytest.mark.parametrize("operation", _params.OPERATIONS)
def test_library_signatures_name_exactly_the_table_rows(operation: str) -> None:
    """Each function (and its async twin) names exactly the table's explicit parameters for its operation."""
    expected = set(_params.signature_names(operation))
    for function in _FUNCTIONS[operation]:
        named = {
            name
            for name, parameter in inspect.signature(function).parameters.items()
            if parameter.kind is not inspect.Parameter.VAR_KEYWORD
        }
        assert expected == named, function.__name__


def test_gateway_field_types_come_from_the_table() -> None:
    """The gateway's JSON field types are the table's generation fields."""
    assert dict(gateway_app._FIELD_TYPES) == _params.field_types("generate")
    assert "style" not in _params.field_types("edit")
    assert "input_fidelity" in _params.field_types("edit")


def test_openapi_edit_schemas_come_from_the_table() -> None:
    """The OpenAPI document's edit and variation bodies list the table's client fields."""
    document = openapi_document(["m"])
    for operation, path in (("edit", "/v1/images/edits"), ("variation", "/v1/images/variations")):
        body = document["paths"][path]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
        assert set(body["properties"]) == set(_params.client_fields(operation))


@pytest.mark.parametrize("command", ["generate", "edit", "variation"])
def test_cli_options_follow_the_table(command: str) -> None:
    """Every table row with a CLI option that the command's operation takes is an option of the command."""
    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices[command]  # type: ignore[union-attr]
    flags = {flag for action in sub._actions for flag in action.option_strings}
    for param in _params.PARAMS:
        if param.cli and command in param.operations:
            assert param.cli in flags, f"{command} lacks {param.cli}"


def test_docs_table_is_generated_from_the_table() -> None:
    """docs/edits.md holds the table exactly as docs_table() writes it."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "edits.md").read_text()
    assert _params.docs_table() in page


def test_multipart_text_is_converted_by_type() -> None:
    """Text fields become the table's types; bad text names the field."""
    assert _params.convert_text("n", " 2 ") == 2
    assert _params.convert_text("stream", "false") is False
    assert _params.convert_text("input_fidelity", "high") == "high"
    assert _params.convert_text("strength", "0.6") == 0.6  # provider-specific: typed as JSON where it is JSON
    assert _params.convert_text("controls", '{"colors": []}') == {"colors": []}
    assert _params.convert_text("mask_prompt", "the sofa") == "the sofa"
    assert _params.convert_text("style_id", "007") == "007"  # not JSON: kept as text
    with pytest.raises(ValueError, match="n must be an integer"):
        _params.convert_text("n", "two")


def test_exports_are_consistent() -> None:
    """__all__, the lazy table and the TYPE_CHECKING imports of pixmux list the same names, and each resolves."""
    source = Path(pixmux.__file__).read_text()
    typed = source.split("if TYPE_CHECKING:", 1)[1]
    public = set(pixmux.__all__) - {"__version__"}
    assert public == set(pixmux._LAZY)
    for name in public:
        assert name in typed, f"{name} is not imported under TYPE_CHECKING"
        assert getattr(pixmux, name) is not None
