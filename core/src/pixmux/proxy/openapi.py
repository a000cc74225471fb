"""The gateway's own OpenAPI document (served at ``GET /openapi.json``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pixmux
from pixmux._params import request_schema
from pixmux.proxy._request import CLIENT_FORBIDDEN, EDIT_ONLY
from pixmux.proxy._request import request_schema as generation_schema

__all__ = ["openapi_document"]

_ERROR = {"$ref": "#/components/schemas/ErrorResponse"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _errors(*statuses: str) -> dict[str, Any]:
    words = {
        "400": "Invalid request (names the `param`)",
        "401": "Missing or wrong API key",
        "404": "Unknown model name",
        "405": "Method not allowed",
        "408": "The provider did not answer in time, or the request body did not arrive in time",
        "413": "Request body too large",
        "415": "The body is not JSON (`Content-Type: application/json`)",
        "429": "Rate limited by the provider (with Retry-After)",
        "500": "Provider or gateway failure",
        "502": "The provider could not be reached or answered in an unreadable shape",
        "503": "The provider is unavailable, or the gateway is shutting down or full",
    }
    return {status: {"description": words[status], **_json(_ERROR)} for status in statuses}


def _generation(summary: str, models: Sequence[str], *, azure: bool = False) -> dict[str, Any]:
    name = "CreateImageRequestAzure" if azure else "CreateImageRequest"
    request: dict[str, Any] = {"$ref": f"#/components/schemas/{name}"}
    operation: dict[str, Any] = {
        "summary": summary,
        "operationId": "createImageAzure" if azure else "createImage",
        "requestBody": {"required": True, **_json(request)},
        "responses": {
            "200": {
                "description": "OpenAI's ImagesResponse",
                "headers": {
                    "x-request-id": {"schema": {"type": "string"}, "description": "This request's id"},
                    "x-pixmux-deployment": {
                        "schema": {"type": "string"},
                        "description": "The deployment that served it",
                    },
                    "x-pixmux-cost": {"schema": {"type": "number"}, "description": "Cost in USD, where known"},
                    "x-pixmux-overhead-ms": {"schema": {"type": "number"}, "description": "Time the gateway added"},
                },
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/ImagesResponse"}},
                    "text/event-stream": {
                        "schema": {
                            "type": "object",
                            "description": "With `stream: true`: one server-sent event, whose `data` is OpenAI's "
                            "image_generation.* (image_edit.*) event as JSON",
                            "required": ["data"],
                            "properties": {
                                "event": {"type": "string"},
                                "data": {"type": "string", "contentMediaType": "application/json"},
                            },
                        },
                    },
                },
            },
            **_errors("400", "401", "404", "408", "413", "415", "429", "500", "502", "503"),
        },
    }
    if azure:
        operation["parameters"] = [
            {"name": "model", "in": "path", "required": True, "schema": {"type": "string", "enum": list(models)}},
            {"name": "api-version", "in": "query", "required": False, "schema": {"type": "string"}},
        ]
    return {"post": operation}


def _upload(summary: str, operation: str, models: Sequence[str], *, azure: bool = False) -> dict[str, Any]:
    """An edit or variation route: a multipart body (edits also take OpenAI's JSON form), from the parameter table."""
    content: dict[str, Any] = {"multipart/form-data": {"schema": request_schema(operation, models)}}
    if operation == "edit":
        content["application/json"] = {
            "schema": {
                "type": "object",
                "required": ["images", "prompt"],
                "description": "OpenAI's EditImageBodyJsonParam: images and mask as {image_url: <data: URL>}",
            }
        }
    route = _generation(summary, models, azure=azure)
    route["post"]["operationId"] = f"{'createImageEdit' if operation == 'edit' else 'createImageVariation'}" + (
        "Azure" if azure else ""
    )
    route["post"]["requestBody"] = {"required": True, "content": content}
    return route


def _simple(summary: str, schema: dict[str, Any], *, errors: Sequence[str] = ("401",)) -> dict[str, Any]:
    return {
        "get": {"summary": summary, "responses": {"200": {"description": "OK", **_json(schema)}, **_errors(*errors)}}
    }


def openapi_document(models: Sequence[str], *, forbidden: Iterable[str] = CLIENT_FORBIDDEN) -> dict[str, Any]:
    """
    The OpenAPI 3.1 document of this gateway, with the configured model names.

    The request schemas come from the table that checks requests (``pixmux.proxy._request``),
    with ``forbidden`` (the keys only the config sets) refused.
    """
    refused = sorted({*forbidden, *EDIT_ONLY})
    model_list = {
        "type": "object",
        "required": ["object", "data"],
        "properties": {
            "object": {"const": "list"},
            "data": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "object", "created", "owned_by"],
                    "properties": {
                        "id": {"type": "string"},
                        "object": {"const": "model"},
                        "created": {"type": "integer"},
                        "owned_by": {"type": "string"},
                    },
                },
            },
        },
    }
    generation = _generation("Create images (OpenAI's createImage)", models)
    edit = _upload("Edit images (OpenAI's createImageEdit)", "edit", models)
    variation = _upload("Variations of an image (OpenAI's createImageVariation)", "variation", models)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "pixmux gateway",
            "version": pixmux.__version__,
            "description": "OpenAI-compatible image generation in front of every pixmux provider.",
        },
        "security": [{"bearer": []}, {"apiKey": []}],
        "paths": {
            "/v1/images/generations": generation,
            "/images/generations": generation,
            "/openai/deployments/{model}/images/generations": _generation(
                "Create images, Azure OpenAI's route", models, azure=True
            ),
            "/v1/images/edits": edit,
            "/images/edits": edit,
            "/openai/deployments/{model}/images/edits": _upload(
                "Edit images, Azure OpenAI's route", "edit", models, azure=True
            ),
            "/v1/images/variations": variation,
            "/images/variations": variation,
            "/v1/models": _simple("The configured model names", model_list),
            "/models": _simple("The configured model names", model_list),
            "/health/liveliness": {
                "get": {
                    "summary": "The process is up (no key needed)",
                    "security": [],
                    "responses": {"200": {"description": "alive"}},
                }
            },
            "/health/readiness": _simple("Ready to serve; never calls a provider", {"type": "object"}),
            "/openapi.json": _simple("This document", {"type": "object"}),
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "api-key"},
            },
            "schemas": {
                "CreateImageRequest": generation_schema(models, refused),
                "CreateImageRequestAzure": generation_schema(models, refused, model_in_path=True),
                "ImagesResponse": {
                    "type": "object",
                    "required": ["created"],
                    "properties": {
                        "created": {"type": "integer"},
                        "data": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "b64_json": {"type": "string"},
                                    "url": {"type": "string"},
                                    "revised_prompt": {"type": "string"},
                                },
                            },
                        },
                        "background": {"type": "string", "enum": ["transparent", "opaque"]},
                        "output_format": {"type": "string", "enum": ["png", "webp", "jpeg"]},
                        "size": {"type": "string", "enum": ["1024x1024", "1024x1536", "1536x1024"]},
                        "quality": {"type": "string", "enum": ["low", "medium", "high"]},
                        "usage": {"type": "object"},
                    },
                },
                "ErrorResponse": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["type", "message", "param", "code"],
                            "properties": {
                                "message": {"type": "string"},
                                "type": {"type": "string"},
                                "param": {"type": ["string", "null"]},
                                "code": {"type": ["string", "null"]},
                            },
                        }
                    },
                },
            },
        },
    }
