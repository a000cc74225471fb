"""
A schema-driven fuzz of the gateway's own OpenAPI document (schemathesis), on a real uvicorn server.

Every operation of ``/openapi.json`` is called with requests generated from the document, valid
and invalid: no answer is a 5xx, every answer's status, content type, headers and body are the
ones the document declares, and a request the document calls invalid is refused (so the
document is never stricter than the gateway). A bounded number of examples, fixed in CI.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from fuzz_support import examples
from gateway_support import MASTER_KEY, RunningGateway, config_dict
from hypothesis import HealthCheck, settings
from pixmux.proxy import create_app, parse_config
from pixmux.proxy._request import FIELDS
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)


def _fuzz_config() -> dict[str, Any]:
    config = config_dict()
    config["model_list"] = [entry for entry in config["model_list"] if entry["model_name"] == "demo"]
    return config


@pytest.fixture(scope="module")
def running() -> Iterator[RunningGateway]:
    """The gateway on uvicorn (127.0.0.1) with a mock model, so that valid requests answer 200."""
    app = create_app(parse_config(_fuzz_config(), path="fuzz.yaml", environ={}))
    with RunningGateway(app) as served:
        yield served


def _document() -> dict[str, Any]:
    app = create_app(parse_config(_fuzz_config(), path="fuzz.yaml", environ={}))
    return dict(json.loads(app._openapi_body))


schema = schemathesis.openapi.from_dict(_document())
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@schema.parametrize()
@settings(
    max_examples=examples(25),
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_openapi_fuzz_the_gateway_answers_as_its_document_says(case: Any, running: RunningGateway) -> None:
    """No 5xx, no answer outside the document, no request the document refuses accepted."""
    case.call_and_validate(
        base_url=running.url, headers={"authorization": f"Bearer {MASTER_KEY}"}, checks=CHECKS, timeout=30
    )


@pytest.mark.parametrize(
    ("body", "accepted"),
    [
        ({"prompt": "", "model": "demo"}, False),
        ({"prompt": "   ", "model": "demo"}, False),
        ({"prompt": "x", "model": "demo"}, True),
        ({"prompt": "x", "model": "demo", "n": 0}, False),
        ({"prompt": "x", "model": "demo", "n": 2.0}, True),
        ({"prompt": "x", "model": "demo", "stream": False}, True),
        ({"prompt": "x", "model": "demo", "stream": True}, True),
        ({"prompt": "x", "model": "demo", "partial_images": 0}, False),
        ({"prompt": "x", "model": "demo", "partial_images": 1, "stream": True}, True),
        ({"prompt": "x", "model": "demo", "partial_images": None}, True),
        ({"prompt": "x", "model": "demo", "image": "data:image/png;base64,AAAA"}, False),
        ({"prompt": "x", "model": "demo", "api_key": None}, False),
        ({"prompt": "x", "model": "demo", "user": None}, True),
        ({"prompt": "x", "model": "demo", "response_format": "png"}, False),
        ({"prompt": "x"}, False),
    ],
)
def test_openapi_document_and_gateway_agree(running: RunningGateway, body: dict[str, Any], accepted: bool) -> None:
    """The document's CreateImageRequest and the gateway accept and refuse the same bodies."""
    from jsonschema import Draft202012Validator

    document = _document()
    validator = Draft202012Validator(
        {"$ref": "#/components/schemas/CreateImageRequest", "components": document["components"]}
    )

    response = httpx.post(
        f"{running.url}/v1/images/generations", json=body, headers={"authorization": f"Bearer {MASTER_KEY}"}
    )

    assert validator.is_valid(body) is accepted
    assert (response.status_code == 200) is accepted, response.text


def test_openapi_document_lists_every_field_of_the_table() -> None:
    """Every field the gateway checks is in the document, with the same bounds."""
    properties = _document()["components"]["schemas"]["CreateImageRequest"]["properties"]

    for field in FIELDS:
        assert field.name in properties
    assert properties["n"]["maximum"] == 10
    assert properties["api_key"] is False
