"""Provider JSON of the wrong shape fails with a typed error that says where."""

from __future__ import annotations

import attrs
import httpx
import pytest
from pixmux.converters import make_camel_converter, make_converter, structure_response
from pixmux.exceptions import APIResponseValidationError


@attrs.frozen
class _Item:
    url: str | None = None
    mime_type: str | None = None


@attrs.frozen
class _Body:
    created: int
    data: list[_Item] | None = None
    extra: tuple[_Item, ...] = ()


def _read(body: object, converter_factory=make_converter) -> _Body:
    response = httpx.Response(200, json=body, request=httpx.Request("POST", "https://provider.test/x"))
    return structure_response(
        response, _Body, converter=converter_factory(), provider="test", model="m", what="a test body"
    )


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"created": 1, "data": "nope"}, "$.data"),
        ({"created": 1, "data": ["nope"]}, "$.data[0]"),
        ({"created": 1, "extra": "ab"}, "$.extra"),
        ({"created": "soon"}, "$.created"),
        (["created", 1], "expected a JSON object, got list"),
    ],
)
def test_structure_response_names_where_the_shape_is_wrong(body: object, where: str) -> None:
    """A string where an array or object belongs is an error naming the place, never a list of characters."""
    with pytest.raises(APIResponseValidationError) as caught:
        _read(body)
    assert "a test body" in str(caught.value)
    assert where in str(caught.value)
    assert caught.value.provider == "test"


def test_structure_response_reads_a_good_body_and_ignores_extra_keys() -> None:
    """Lenient: fields the plugin does not read are ignored; lists and tuples come back as declared."""
    body = _read({"created": 5, "data": [{"url": "https://x.test/a.png", "size": 3}], "extra": [{}], "new": True})
    assert body == _Body(created=5, data=[_Item(url="https://x.test/a.png")], extra=(_Item(),))


def test_structure_response_refuses_a_body_that_is_not_json() -> None:
    """A body that is not JSON is an APIResponseValidationError, not a ValueError."""
    response = httpx.Response(200, content=b"<html>oops</html>", request=httpx.Request("GET", "https://p.test"))
    with pytest.raises(APIResponseValidationError, match="not JSON"):
        structure_response(response, _Body, converter=make_converter(), provider="test", model=None, what="x")


def test_camel_converter_checks_shapes_and_renames() -> None:
    """The camelCase converter reads mimeType into mime_type, and refuses a string for an object."""
    assert _read({"created": 1, "data": [{"mimeType": "image/png"}]}, make_camel_converter).data == [
        _Item(mime_type="image/png")
    ]
    with pytest.raises(APIResponseValidationError, match=r"\$\.data\[0\]"):
        _read({"created": 1, "data": ["image/png"]}, make_camel_converter)


@attrs.frozen
class _Part:
    data: str | None = None
    thought: bool | None = None
    count: int = 0


@pytest.mark.parametrize("converter_factory", [make_converter, make_camel_converter])
@pytest.mark.parametrize(
    ("value", "where"),
    [
        ({"data": ["iVBORw0KGgo="]}, "$.data"),
        ({"data": {"b64": "iVBORw0KGgo="}}, "$.data"),
        ({"data": False}, "$.data"),
        ({"data": 12345}, "$.data"),
        ({"thought": "false"}, "$.thought"),
        ({"thought": 0}, "$.thought"),
        ({"count": True}, "$.count"),
        ({"count": [3]}, "$.count"),
    ],
)
def test_structure_response_refuses_a_value_of_the_wrong_type(value: object, where: str, converter_factory) -> None:
    """A list, object, number or bool where text belongs (or text where a flag belongs) is an error, never str()-ed."""
    response = httpx.Response(200, json=value, request=httpx.Request("POST", "https://provider.test/x"))

    with pytest.raises(APIResponseValidationError) as caught:
        structure_response(response, _Part, converter=converter_factory(), provider="test", model="m", what="a part")

    assert where in str(caught.value)


def test_structure_response_keeps_lenient_numbers() -> None:
    """Numbers stay lenient where no data is lost: a numeric string reads as an int."""
    response = httpx.Response(200, json={"count": "12"}, request=httpx.Request("POST", "https://provider.test/x"))

    part = structure_response(response, _Part, converter=make_converter(), provider="test", model="m", what="a part")

    assert part == _Part(count=12)
