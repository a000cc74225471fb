"""The gateway's routes, auth, validation and errors, in-process through ASGI."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import httpx
import pytest
from gateway_support import MASTER_KEY, UPSTREAM_KEY, auth, config_dict, make_gateway

GEN = "/v1/images/generations"


def body(**fields: Any) -> dict[str, Any]:
    return {"model": "sd", "prompt": "an otter", **fields}


async def test_generate_returns_openai_images_response(client: Any, images_schema: Any) -> None:
    """A url-mode generation comes back as OpenAI's ImagesResponse."""
    response = await client.post(GEN, json=body(response_format="url", n=2), headers=auth())

    assert response.status_code == 200
    images_schema.validate(response.json())
    assert [d["url"] for d in response.json()["data"]] == [
        "https://images.example.test/0.png",
        "https://images.example.test/1.png",
    ]


async def test_generate_b64_mode(client: Any, images_schema: Any) -> None:
    """A b64 generation carries the provider's base64 unchanged."""
    response = await client.post(GEN, json=body(response_format="b64_json"), headers=auth())

    images_schema.validate(response.json())
    assert base64.b64decode(response.json()["data"][0]["b64_json"]).startswith(b"\x89PNG")


async def test_generate_short_route_works_like_v1(client: Any, gateway: Any) -> None:
    """POST /images/generations serves the same as /v1/images/generations."""
    response = await client.post("/images/generations", json=body(), headers=auth())

    assert response.status_code == 200
    assert len(gateway[1].requests) == 1


async def test_generate_forwards_to_the_configured_deployment(client: Any, gateway: Any) -> None:
    """The provider receives the deployment's model, endpoint and key; the client's params pass through."""
    await client.post(GEN, json=body(size="512x512", seed=7), headers=auth())

    sent = gateway[1].requests[0]
    assert str(sent.url) == "http://upstream.test/v1/images/generations"
    assert f"Bearer {UPSTREAM_KEY}" == sent.headers["authorization"]
    assert json.loads(sent.content) == {"model": "sd-xl", "prompt": "an otter", "size": "512x512", "seed": 7}


async def test_generate_headers_name_request_deployment_cost_and_overhead(client: Any) -> None:
    """Response headers carry the request id, the deployment, the cost where known and the gateway's own time."""
    response = await client.post(
        GEN, json={"model": "gpt-image-1", "prompt": "otter", "quality": "low", "size": "1024x1024"}, headers=auth()
    )

    assert response.status_code == 200
    assert len(response.headers["x-request-id"]) >= 16
    assert response.headers["x-pixmux-deployment"] == "gpt-image-1-1"
    assert pytest.approx(float(response.headers["x-pixmux-cost"])) == 0.011
    assert float(response.headers["x-pixmux-overhead-ms"]) >= 0
    assert "gateway;dur=" in response.headers["server-timing"]


async def test_generate_request_ids_differ(client: Any) -> None:
    """Each request gets its own id."""
    first = await client.post(GEN, json=body(), headers=auth())
    second = await client.post(GEN, json=body(), headers=auth())

    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_azure_route_takes_the_model_from_the_path(client: Any, gateway: Any) -> None:
    """POST /openai/deployments/{model}/images/generations serves Azure clients; the path names the model."""
    response = await client.post(
        "/openai/deployments/sd/images/generations?api-version=2025-04-01-preview",
        json={"prompt": "otter"},
        headers={"api-key": MASTER_KEY},
    )

    assert response.status_code == 200
    assert response.headers["x-pixmux-deployment"] == "sd-local"


@pytest.mark.parametrize("body_model", ["sd", None])
async def test_azure_route_takes_a_body_model_that_agrees(client: Any, body_model: str | None) -> None:
    """A body that repeats the path's model, or sets it null, is served."""
    response = await client.post(
        "/openai/deployments/sd/images/generations", json={"prompt": "otter", "model": body_model}, headers=auth()
    )

    assert response.status_code == 200, response.text


async def test_azure_route_refuses_a_body_model_that_differs(client: Any, gateway: Any) -> None:
    """A body naming another model than the path is a 400 naming model, never silently ignored."""
    response = await client.post(
        "/openai/deployments/sd/images/generations", json={"prompt": "otter", "model": "demo"}, headers=auth()
    )

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "model"
    assert "differs from the path" in response.json()["error"]["message"]
    assert gateway[1].requests == []


async def test_mock_deployment_answers_without_network(client: Any, gateway: Any, images_schema: Any) -> None:
    """A deployment with mock_response answers a valid image and sends nothing upstream."""
    response = await client.post(GEN, json={"model": "demo", "prompt": "otter"}, headers=auth())

    images_schema.validate(response.json())
    assert gateway[1].requests == []


@pytest.mark.parametrize("path", ["/v1/models", "/models"])
async def test_models_lists_configured_names(client: Any, path: str) -> None:
    """GET /v1/models and /models list the model names in OpenAI's list shape."""
    response = await client.get(path, headers=auth())

    assert response.status_code == 200
    assert response.json()["object"] == "list"
    assert [m["id"] for m in response.json()["data"]] == ["sd", "gpt-image-1", "demo"]
    assert {"model"} == {m["object"] for m in response.json()["data"]}


async def test_liveliness_needs_no_key(client: Any) -> None:
    """GET /health/liveliness answers without a key."""
    response = await client.get("/health/liveliness")

    assert response.status_code == 200
    assert response.json()["status"] == "alive"


async def test_readiness_never_calls_a_provider(client: Any, gateway: Any) -> None:
    """GET /health/readiness reports ready without any generation."""
    response = await client.get("/health/readiness", headers=auth())

    assert response.status_code == 200
    assert response.json()["models"] == ["sd", "gpt-image-1", "demo"]
    assert gateway[1].requests == []


async def test_readiness_needs_the_key(client: Any, error_schema: Any) -> None:
    """Every route but liveliness needs the master key."""
    response = await client.get("/health/readiness")

    assert response.status_code == 401
    error_schema.validate(response.json())


async def test_openapi_document_lists_every_route(client: Any) -> None:
    """GET /openapi.json describes the gateway's routes."""
    document = (await client.get("/openapi.json", headers=auth())).json()

    assert document["openapi"].startswith("3.1")
    assert {
        "/v1/images/generations",
        "/images/generations",
        "/openai/deployments/{model}/images/generations",
        "/v1/models",
        "/models",
        "/health/liveliness",
        "/health/readiness",
        "/openapi.json",
    } <= set(document["paths"])


# ---------------------------------------------------------------------- auth


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"api-key": "wrong"},
        {"Authorization": MASTER_KEY},
        {"Authorization": "Basic x"},
    ],
)
async def test_auth_refuses_missing_or_wrong_key(client: Any, gateway: Any, error_schema: Any, headers: Any) -> None:
    """A missing or wrong key is a 401 in OpenAI's shape, and nothing is sent upstream."""
    response = await client.post(GEN, json=body(), headers=headers)

    assert response.status_code == 401
    error_schema.validate(response.json())
    assert response.json()["error"]["code"] == "invalid_api_key"
    assert gateway[1].requests == []


@pytest.mark.parametrize(
    "headers",
    [{"Authorization": f"Bearer {MASTER_KEY}"}, {"api-key": MASTER_KEY}, {"authorization": f"bearer {MASTER_KEY}"}],
)
async def test_auth_accepts_bearer_or_api_key(client: Any, headers: Any) -> None:
    """The key is accepted as a bearer token or in api-key."""
    response = await client.post(GEN, json=body(), headers=headers)

    assert response.status_code == 200


async def test_auth_open_gateway_without_master_key() -> None:
    """Without a master key every request is accepted, and the config warns."""
    gateway, _ = make_gateway(config_dict(master_key=None))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://g") as client:
        response = await client.post(GEN, json=body())

    assert response.status_code == 200
    assert any("master_key" in note for note in gateway.config.warnings)


# ---------------------------------------------------------------------- validation before upstream


@pytest.mark.parametrize(
    ("payload", "status", "param"),
    [
        ({"model": "nope", "prompt": "otter"}, 404, "model"),
        ({"prompt": "otter"}, 400, "model"),
        ({"model": "sd"}, 400, "prompt"),
        ({"model": "sd", "prompt": "  "}, 400, "prompt"),
        ({"model": "sd", "prompt": 3}, 400, "prompt"),
        ({"model": "gpt-image-1", "prompt": "otter", "size": "640x480"}, 400, "size"),
        ({"model": "gpt-image-1", "prompt": "otter", "response_format": "url"}, 400, "response_format"),
        ({"model": "gpt-image-1", "prompt": "otter", "style": "vivid"}, 400, "style"),
        ({"model": "gpt-image-1", "prompt": "otter", "seed": 3}, 400, "seed"),
        ({"model": "sd", "prompt": "otter", "n": 0}, 400, "n"),
        ({"model": "sd", "prompt": "otter", "n": 11}, 400, "n"),
        ({"model": "sd", "prompt": "otter", "n": "2"}, 400, "n"),
        ({"model": "sd", "prompt": "otter", "n": True}, 400, "n"),
        ({"model": "sd", "prompt": "otter", "size": 1024}, 400, "size"),
        ({"model": "sd", "prompt": "otter", "stream": "yes"}, 400, "stream"),
        ({"model": "sd", "prompt": "otter", "partial_images": 2}, 400, "partial_images"),
        ({"model": "sd", "prompt": "otter", "api_base": "http://evil.test/v1"}, 400, "api_base"),
        ({"model": "sd", "prompt": "otter", "api_key": "mine"}, 400, "api_key"),
        ({"model": "sd", "prompt": "otter", "mock_response": True}, 400, "mock_response"),
    ],
)
async def test_validation_refuses_before_any_upstream_call(
    client: Any, gateway: Any, error_schema: Any, payload: Any, status: int, param: str
) -> None:
    """Bad requests are answered 400/404 naming the param, and the provider is never called."""
    response = await client.post(GEN, json=payload, headers=auth())

    assert status == response.status_code, response.text
    error_schema.validate(response.json())
    assert param == response.json()["error"]["param"]
    assert gateway[1].requests == []


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'"otter"', b"\xff\xfe", b"[" * 30_000 + b"]" * 30_000])
async def test_validation_refuses_a_body_that_is_not_a_json_object(
    client: Any, error_schema: Any, content: bytes
) -> None:
    """A body that is not a JSON object is a 400 in OpenAI's shape."""
    response = await client.post(GEN, content=content, headers={**auth(), "content-type": "application/json"})

    assert response.status_code == 400
    error_schema.validate(response.json())


@pytest.mark.parametrize(
    ("content", "param"),
    [
        (b'{"model": "sd", "prompt": "otter \\ud800"}', "prompt"),
        (b'{"model": "sd", "prompt": "otter", "size": "\\udfff"}', "size"),
        (b'{"model": "sd", "prompt": "otter", "seed": {"\\ud800": 1}}', "seed"),
        (b'{"model": "gpt-image-1", "prompt": "otter", "\\ud800": 1}', "'\\ud800'"),
    ],
)
async def test_validation_refuses_lone_surrogates(
    client: Any, gateway: Any, error_schema: Any, content: bytes, param: str
) -> None:
    """A lone surrogate escape anywhere in the body is a 400 naming the field (it was a 500 or no answer at all)."""
    response = await client.post(GEN, content=content, headers={**auth(), "content-type": "application/json"})

    assert response.status_code == 400, response.text
    error_schema.validate(response.json())
    assert response.json()["error"]["param"] == param
    assert gateway[1].requests == []


async def test_validation_refuses_oversized_bodies(client: Any, gateway: Any, error_schema: Any) -> None:
    """A body over general_settings.max_request_size_mb is a 413 and is not forwarded."""
    response = await client.post(GEN, json=body(prompt="x" * (2 * 1024 * 1024)), headers=auth())

    assert response.status_code == 413
    error_schema.validate(response.json())
    assert gateway[1].requests == []


async def test_validation_nulls_mean_unset(client: Any, gateway: Any) -> None:
    """Fields sent as null (as some clients do) are treated as not given."""
    response = await client.post(GEN, json=body(size=None, n=None, style=None), headers=auth())

    assert response.status_code == 200
    assert json.loads(gateway[1].requests[0].content) == {"model": "sd-xl", "prompt": "an otter"}


# ---------------------------------------------------------------------- routing errors


async def test_unknown_route_is_404_in_openai_shape(client: Any, error_schema: Any) -> None:
    """An unknown path is a 404 ErrorResponse."""
    response = await client.get("/v1/chat/completions", headers=auth())

    assert response.status_code == 404
    error_schema.validate(response.json())


async def test_wrong_method_is_405_in_openai_shape(client: Any, error_schema: Any) -> None:
    """GET on the generation route is a 405 ErrorResponse naming the allowed method."""
    response = await client.get(GEN, headers=auth())

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    error_schema.validate(response.json())


# ---------------------------------------------------------------------- upstream errors


async def test_upstream_rate_limit_keeps_status_message_and_retry_after(client: Any, error_schema: Any) -> None:
    """A provider 429 comes back as 429 with its message and Retry-After."""
    response = await client.post(GEN, json=body(prompt="rate-limit please"), headers=auth())

    assert response.status_code == 429
    error_schema.validate(response.json())
    assert response.headers["retry-after"] == "7"
    assert "Rate limit reached for images per minute" in response.json()["error"]["message"]
    assert response.json()["error"]["type"] == "rate_limit_error"


async def test_upstream_content_policy_is_400(client: Any, error_schema: Any) -> None:
    """A safety refusal is a 400 with the provider's code."""
    response = await client.post(GEN, json=body(prompt="forbidden-words"), headers=auth())

    assert response.status_code == 400
    error_schema.validate(response.json())
    assert response.json()["error"]["code"] == "content_policy_violation"


async def test_upstream_server_error_is_reported_not_hidden(client: Any, error_schema: Any) -> None:
    """A provider 500 comes back as a 500 ErrorResponse with the provider's message."""
    response = await client.post(GEN, json=body(prompt="explode"), headers=auth())

    assert response.status_code == 500
    error_schema.validate(response.json())
    assert "error while processing your request" in response.json()["error"]["message"]


async def test_upstream_unreachable_is_502(error_schema: Any) -> None:
    """A provider that cannot be reached is a 502 ErrorResponse."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    gateway, _ = make_gateway(handler=refuse)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://g") as client:
        response = await client.post(GEN, json=body(), headers=auth())

    assert response.status_code == 502
    error_schema.validate(response.json())


async def test_unexpected_failure_is_a_500_error_response_without_traceback(error_schema: Any) -> None:
    """A bug anywhere below still answers OpenAI's ErrorResponse, with no traceback."""

    def crash(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("boom in a transport")

    gateway, _ = make_gateway(handler=crash)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://g") as client:
        response = await client.post(GEN, json=body(), headers=auth())

    assert response.status_code == 500
    error_schema.validate(response.json())
    assert "Traceback" not in response.text
    assert "boom" not in response.text


async def test_secrets_never_reach_responses_or_logs(client: Any, caplog: Any) -> None:
    """A provider message that echoes the upstream key is scrubbed; logs hold no key."""
    caplog.set_level(logging.DEBUG, logger="pixmux.proxy")
    response = await client.post(GEN, json=body(prompt="leak-key"), headers=auth())

    assert response.status_code == 401
    assert UPSTREAM_KEY not in response.text
    assert "Incorrect API key provided" in response.json()["error"]["message"]
    assert UPSTREAM_KEY not in caplog.text
    assert MASTER_KEY not in caplog.text


async def test_log_one_line_per_request(client: Any, caplog: Any) -> None:
    """Each request logs one line with method, route, model, status and duration."""
    caplog.set_level(logging.INFO, logger="pixmux.proxy")
    await client.post(GEN, json=body(), headers=auth())
    await client.post(GEN, json={"model": "nope", "prompt": "x"}, headers=auth())

    lines = [r.getMessage() for r in caplog.records if r.name == "pixmux.proxy"]
    assert len(lines) == 2
    assert lines[0].startswith("POST /v1/images/generations model=sd status=200 duration_ms=")
    assert "model=nope status=404" in lines[1]


# ---------------------------------------------------------------------- bodies


async def test_gzip_when_the_client_accepts_it(client: Any) -> None:
    """Responses over a packet's size are gzip-compressed for clients that send Accept-Encoding: gzip."""
    response = await client.post(
        GEN, json=body(prompt="otter " * 100, n=5, response_format="url"), headers={**auth(), "accept-encoding": "gzip"}
    )

    assert response.headers["content-encoding"] == "gzip"
    assert len(response.json()["data"]) == 5


async def test_no_gzip_when_the_client_does_not_ask(client: Any) -> None:
    """Without Accept-Encoding gzip the body is plain JSON."""
    response = await client.post(
        GEN,
        json=body(prompt="otter " * 100, n=5, response_format="url"),
        headers={**auth(), "accept-encoding": "identity"},
    )

    assert "content-encoding" not in response.headers
    assert int(response.headers["content-length"]) == len(response.content)


async def test_b64_images_are_not_gzipped_unless_configured(client: Any) -> None:
    """Base64 images go uncompressed by default (gzip saves a quarter for much CPU); gzip_images turns it on."""
    headers = {**auth(), "accept-encoding": "gzip"}
    plain = await client.post(GEN, json=body(x_image_bytes=200_000), headers=headers)
    config = config_dict()
    config["general_settings"]["gzip_images"] = True
    gateway, _ = make_gateway(config)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://g") as other:
        packed = await other.post(GEN, json=body(x_image_bytes=200_000), headers=headers)

    assert "content-encoding" not in plain.headers
    assert packed.headers["content-encoding"] == "gzip"
    assert plain.json() == packed.json() | {"created": plain.json()["created"]}


async def test_large_b64_images_flow_through_intact(images_schema: Any) -> None:
    """Three multi-megabyte base64 images arrive byte for byte, gzipped or not."""
    config = config_dict()
    config["general_settings"]["gzip_images"] = True
    gateway, _ = make_gateway(config)
    for encoding in ("identity", "gzip"):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://g") as other:
            response = await other.post(
                GEN, json=body(x_image_bytes=3_000_000, n=3), headers={**auth(), "accept-encoding": encoding}
            )
        payload = response.json()
        assert (encoding == "gzip") == (response.headers.get("content-encoding") == "gzip")
        images_schema.validate(payload)
        assert [len(base64.b64decode(d["b64_json"])) for d in payload["data"]] == [3_000_008] * 3
