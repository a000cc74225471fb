"""
Edits and variations through the gateway: the official openai client, unchanged, against uvicorn.

A recording stand-in on 127.0.0.1 answers like OpenAI's Images API and keeps every multipart
body it receives; the same client talking straight to the stand-in gives the reference parts.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import io
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from edits_support import Recorder, parts_of, png
from gateway_support import MASTER_KEY, RunningGateway, auth, make_gateway, schema_validator
from PIL import Image
from pixmux._pieces import pieces_of
from pixmux.proxy import create_app, parse_config
from pixmux.proxy.config import ConfigError
from pixmux.testing import TINY_PNG_B64, json_response

UPSTREAM_KEY = "sk-edit-upstream-0123456789"
_schema = functools.cache(schema_validator)


def _config(api_base: str) -> dict[str, Any]:
    return {
        "model_list": [
            {
                "model_name": "gpt-image-1",
                "litellm_params": {"model": "openai/gpt-image-1", "api_base": api_base, "api_key": UPSTREAM_KEY},
            },
            {
                "model_name": "dall-e-2",
                "litellm_params": {"model": "openai/dall-e-2", "api_base": api_base, "api_key": UPSTREAM_KEY},
            },
            {
                "model_name": "dall-e-3",
                "litellm_params": {"model": "openai/dall-e-3", "api_base": api_base, "api_key": UPSTREAM_KEY},
            },
            {
                "model_name": "my-sd",
                "litellm_params": {"model": "openai/my-sd", "api_base": api_base, "api_key": UPSTREAM_KEY},
            },
        ],
        "general_settings": {"master_key": MASTER_KEY, "max_upload_size_mb": 8},
        "router_settings": {"num_retries": 0},
    }


@pytest.fixture(scope="module")
def edits_gateway(recorder: type[Recorder]) -> Iterator[RunningGateway]:
    config = parse_config(_config(recorder.url), path="edits.yaml", environ={})
    with RunningGateway(create_app(config)) as running:
        yield running


def via_gateway(live: RunningGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{live.url}/v1", api_key=MASTER_KEY, max_retries=0)


def direct(recorder: type[Recorder]) -> openai.OpenAI:
    return openai.OpenAI(base_url=recorder.url, api_key=UPSTREAM_KEY, max_retries=0)


def _files(tmp_path: Path, count: int) -> list[Path]:
    paths = []
    for index in range(count):
        path = tmp_path / f"in-{index}.png"
        path.write_bytes(png(64, 64, color=(index * 40, 10, 10, 255)))
        paths.append(path)
    return paths


def _same_upload(recorder: type[Recorder], call: Any) -> None:
    """``call(client)`` sent through the gateway and straight to the stand-in reaches it as the same parts."""
    recorder.seen.clear()
    call("gateway")
    through = recorder.seen[-1]
    call("direct")
    straight = recorder.seen[-1]
    assert through["path"] == straight["path"]
    assert f"Bearer {UPSTREAM_KEY}" == through["auth"]
    assert through["type"].startswith("multipart/form-data; boundary=")
    assert _equivalent(parts_of(through["type"], through["body"])) == _equivalent(
        parts_of(straight["type"], straight["body"])
    )


def _equivalent(parts: list[tuple[str, str | None, str | None, bytes]]) -> tuple[dict[str, bytes], list[Any]]:
    """Text fields by name (their order carries no meaning) and the file parts in order."""
    fields = {name: data for name, filename, _, data in parts if filename is None}
    assert len(fields) == sum(1 for part in parts if part[1] is None), "a text field was sent twice"
    return fields, [part for part in parts if part[1] is not None]


@pytest.mark.parametrize("count", [1, 3])
def test_openai_client_edit_reaches_the_provider_as_sent(
    edits_gateway: RunningGateway, recorder: type[Recorder], tmp_path: Path, count: int
) -> None:
    """images.edit with one image and with three: the same parts (and bytes) reach the provider."""
    paths = _files(tmp_path, count)

    def call(where: str) -> None:
        client = via_gateway(edits_gateway) if where == "gateway" else direct(recorder)
        images = [path.open("rb") for path in paths]
        try:
            result = client.images.edit(
                model="gpt-image-1",
                image=images if count > 1 else images[0],
                prompt="a gift basket",
                input_fidelity="high",
            )
        finally:
            for handle in images:
                handle.close()
        assert base64.b64decode(result.data[0].b64_json or "").startswith(b"\x89PNG")

    _same_upload(recorder, call)
    names = [part[0] for part in parts_of(recorder.seen[-1]["type"], recorder.seen[-1]["body"])]
    assert names.count("image[]" if count > 1 else "image") == count


def test_openai_client_edit_with_a_mask(
    edits_gateway: RunningGateway, recorder: type[Recorder], tmp_path: Path
) -> None:
    """images.edit with a mask: the mask part reaches the provider byte for byte."""
    image, mask = tmp_path / "room.png", tmp_path / "mask.png"
    image.write_bytes(png(64, 64, color=(200, 200, 200, 255)))
    mask.write_bytes(png(64, 64, color=(0, 0, 0, 0)))

    def call(where: str) -> None:
        client = via_gateway(edits_gateway) if where == "gateway" else direct(recorder)
        with image.open("rb") as img, mask.open("rb") as msk:
            client.images.edit(
                model="gpt-image-1", image=img, mask=msk, prompt="a sofa by the window", size="1024x1024"
            )

    _same_upload(recorder, call)
    parts = parts_of(recorder.seen[-1]["type"], recorder.seen[-1]["body"])
    assert ("mask", "mask.png", "image/png", mask.read_bytes()) in parts


def test_openai_client_create_variation(
    edits_gateway: RunningGateway, recorder: type[Recorder], tmp_path: Path
) -> None:
    """images.create_variation: the same parts reach /images/variations."""
    (path,) = _files(tmp_path, 1)

    def call(where: str) -> None:
        client = via_gateway(edits_gateway) if where == "gateway" else direct(recorder)
        with path.open("rb") as handle:
            result = client.images.create_variation(model="dall-e-2", image=handle, n=2, response_format="b64_json")
        assert result.data

    _same_upload(recorder, call)
    assert recorder.seen[-1]["path"] == "/v1/images/variations"


def test_gateway_edit_answers_with_cost_and_schema(edits_gateway: RunningGateway, recorder: type[Recorder]) -> None:
    """An edit's answer is OpenAI's ImagesResponse with the cost header priced from image input tokens."""
    files = {"image": ("room.png", png(), "image/png")}
    response = httpx.post(
        f"{edits_gateway.url}/v1/images/edits",
        headers=auth(),
        data={"model": "gpt-image-1", "prompt": "winter"},
        files=files,
    )

    assert response.status_code == 200, response.text
    _schema("ImagesResponse").validate(response.json())
    # 20 text tokens at $5/M, 280 image tokens at $10/M, 1000 output tokens at $40/M
    assert pytest.approx(20 * 5e-6 + 280 * 10e-6 + 1000 * 40e-6) == float(response.headers["x-pixmux-cost"])
    assert response.headers["x-pixmux-provider"] == "openai"


def test_azure_client_edits_through_the_deployment_route(
    edits_gateway: RunningGateway, recorder: type[Recorder]
) -> None:
    """AzureOpenAI's images.edit reaches /openai/deployments/{model}/images/edits."""
    azure = openai.AzureOpenAI(
        azure_endpoint=edits_gateway.url, api_key=MASTER_KEY, api_version="2025-04-01-preview", max_retries=0
    )

    result = azure.images.edit(model="gpt-image-1", image=("a.png", png(), "image/png"), prompt="snow")

    assert result.data[0].b64_json
    assert recorder.seen[-1]["path"] == "/v1/images/edits"


def test_passthrough_server_gets_the_upload(edits_gateway: RunningGateway, recorder: type[Recorder]) -> None:
    """openai/<name> with api_base (any OpenAI-compatible server) gets the multipart as sent."""
    via_gateway(edits_gateway).images.edit(
        model="my-sd", image=("a.png", png(), "image/png"), prompt="snow", extra_body={"strength": "0.6"}
    )

    parts = parts_of(recorder.seen[-1]["type"], recorder.seen[-1]["body"])
    assert ("strength", None, None, b"0.6") in parts
    assert ("model", None, None, b"my-sd") in parts


# --------------------------------------------------------------------------- bad uploads (in process)


async def _post(**kwargs: Any) -> httpx.Response:
    gateway, _ = make_gateway(
        _config("http://upstream.test/v1"),
        handler=lambda r: json_response(200, {"created": 1, "data": [{"b64_json": TINY_PNG_B64}]}),
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw.test") as client:
        headers = {**auth(), **kwargs.pop("headers", {})}
        return await client.post(kwargs.pop("path", "/v1/images/edits"), headers=headers, **kwargs)


def _bad(response: httpx.Response, status: int, param: str | None) -> str:
    assert status == response.status_code, response.text
    _schema("ErrorResponse").validate(response.json())
    assert param == response.json()["error"]["param"]
    return str(response.json()["error"]["message"])


async def test_upload_that_is_not_an_image_is_named() -> None:
    """A file part holding text gets a 400 naming image[1]."""
    files = [("image[]", ("a.png", png(), "image/png")), ("image[]", ("b.png", b"hello, not a png", "image/png"))]
    message = _bad(await _post(data={"model": "gpt-image-1", "prompt": "x"}, files=files), 400, "image[1]")
    assert "not an image" in message


async def test_upload_with_a_wrong_content_type_is_named() -> None:
    """A file part declared text/plain gets a 400 naming it."""
    files = {"image": ("a.txt", png(), "text/plain")}
    message = _bad(await _post(data={"model": "gpt-image-1", "prompt": "x"}, files=files), 400, "image")
    assert "text/plain" in message


async def test_mask_of_another_size_is_named() -> None:
    """A mask that does not match the image's size gets a 400 naming mask and both sizes."""
    files = {"image": ("a.png", png(64, 64), "image/png"), "mask": ("m.png", png(32, 32), "image/png")}
    message = _bad(await _post(data={"model": "gpt-image-1", "prompt": "x"}, files=files), 400, "mask")
    assert "32x32" in message
    assert "64x64" in message


async def test_mask_without_alpha_is_named() -> None:
    """An RGB mask gets a 400 saying it needs alpha."""
    files = {"image": ("a.png", png(), "image/png"), "mask": ("m.png", png(mode="RGB"), "image/png")}
    message = _bad(await _post(data={"model": "gpt-image-1", "prompt": "x"}, files=files), 400, "mask")
    assert "alpha" in message


async def test_too_many_files_are_refused() -> None:
    """Seventeen image parts get a 400 naming image and the limit."""
    files = [("image[]", (f"{i}.png", png(8, 8), "image/png")) for i in range(17)]
    message = _bad(await _post(data={"model": "gpt-image-1", "prompt": "x"}, files=files), 400, "image")
    assert "16" in message


async def test_model_that_cannot_edit_names_those_that_can() -> None:
    """dall-e-3 cannot edit: the 400 names the models that can."""
    files = {"image": ("a.png", png(), "image/png")}
    message = _bad(await _post(data={"model": "dall-e-3", "prompt": "x"}, files=files), 400, "model")
    assert "cannot edit" in message
    assert "gpt-image-1" in message


async def test_oversized_upload_gets_413() -> None:
    """A body above max_upload_size_mb gets a 413 before it is read."""
    big = b"\x89PNG\r\n\x1a\n" + b"\0" * (9 * 1024 * 1024)
    response = await _post(data={"model": "gpt-image-1", "prompt": "x"}, files={"image": ("a.png", big, "image/png")})
    _bad(response, 413, None)


async def test_truncated_multipart_gets_a_clean_400() -> None:
    """A body cut before its closing boundary gets a 400, not a 500."""
    request = httpx.Request(
        "POST",
        "http://x/v1/images/edits",
        data={"model": "gpt-image-1", "prompt": "x"},
        files={"image": ("a.png", png(), "image/png")},
    )
    body = request.read()
    response = await _post(content=body[: len(body) // 2], headers={"content-type": request.headers["content-type"]})
    message = _bad(response, 400, None)
    assert "ended early" in message


async def test_wrong_body_type_gets_415() -> None:
    """A form-urlencoded edit (what any web page's form can send) gets a 415 naming the accepted content types."""
    message = _bad(await _post(data={"model": "gpt-image-1", "prompt": "x"}), 415, None)
    assert "multipart/form-data" in message


async def test_integer_field_must_be_an_integer() -> None:
    """n=two gets a 400 naming n."""
    files = {"image": ("a.png", png(), "image/png")}
    _bad(await _post(data={"model": "gpt-image-1", "prompt": "x", "n": "two"}, files=files), 400, "n")


async def test_json_edit_with_a_data_url() -> None:
    """OpenAI's JSON form with an image_url data URL is read; http URLs are refused unless allowed."""
    data_url = "data:image/png;base64," + base64.b64encode(png()).decode()
    ok = await _post(json={"model": "gpt-image-1", "prompt": "x", "images": [{"image_url": data_url}]})
    assert ok.status_code == 200, ok.text

    refused = await _post(
        json={"model": "gpt-image-1", "prompt": "x", "images": [{"image_url": "https://example.com/a.png"}]}
    )
    assert "allow_image_urls" in _bad(refused, 400, "images[0]")

    file_id = await _post(json={"model": "gpt-image-1", "prompt": "x", "images": [{"file_id": "file-1"}]})
    assert "Files API" in _bad(file_id, 400, "images[0]")


async def test_generation_route_refuses_image_fields() -> None:
    """A generation body with images is told to use the edits route."""
    response = await _post(path="/v1/images/generations", json={"model": "gpt-image-1", "prompt": "x", "images": []})
    assert "/v1/images/edits" in _bad(response, 400, "images")


async def test_upstream_never_sees_the_gateway_key() -> None:
    """The multipart sent upstream carries the deployment's key, never the client's."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return json_response(200, {"created": 1, "data": [{"b64_json": TINY_PNG_B64}]})

    gateway, _ = make_gateway(_config("http://upstream.test/v1"), handler=handler)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw.test") as client:
        response = await client.post(
            "/v1/images/edits",
            headers=auth(),
            data={"model": "gpt-image-1", "prompt": "x"},
            files={"image": ("a.png", png(), "image/png")},
        )
    assert response.status_code == 200
    assert MASTER_KEY.encode() not in seen[0].content
    assert MASTER_KEY not in str(seen[0].headers)
    assert f"Bearer {UPSTREAM_KEY}" == seen[0].headers["authorization"]


async def test_endless_upload_is_cut_at_the_limit_with_bounded_memory() -> None:
    """A 40 MB upload without Content-Length to an 8 MB route: 413, and the gateway holds at most about the limit."""
    import tracemalloc

    gateway, engine = make_gateway(_config("http://upstream.test/v1"))
    chunk = b"\0" * (1024 * 1024)
    head = (
        b'--b\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n'
        b"Content-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\n"
    )
    sent = {"count": 0}

    async def receive() -> dict[str, Any]:
        sent["count"] += 1
        if sent["count"] == 1:
            return {"type": "http.request", "body": head, "more_body": True}
        return {"type": "http.request", "body": chunk, "more_body": sent["count"] < 41}

    answer: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        answer.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/images/edits",
        "headers": [
            (b"authorization", f"Bearer {MASTER_KEY}".encode()),
            (b"content-type", b"multipart/form-data; boundary=b"),
        ],
    }
    tracemalloc.start()
    try:
        await gateway(scope, receive, send)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert answer[0]["status"] == 413
    assert sent["count"] < 12  # reading stopped at the limit
    assert peak < 24 * 1024 * 1024
    assert engine.requests == []


async def test_edit_retries_and_falls_back_with_the_same_upload() -> None:
    """A 500 from the first deployment: the retry and the fallback each send the whole upload again."""
    seen: list[tuple[str, bytes]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.host, request.content))
        if request.url.host == "broken.test":
            return json_response(500, {"error": {"message": "boom", "type": "server_error", "code": None}})
        return json_response(200, {"created": 1, "data": [{"b64_json": TINY_PNG_B64}]})

    config = _config("http://broken.test/v1")
    config["model_list"].append(
        {
            "model_name": "backup",
            "litellm_params": {"model": "openai/gpt-image-1", "api_base": "http://ok.test/v1", "api_key": UPSTREAM_KEY},
        }
    )
    config["router_settings"] = {"num_retries": 1, "fallbacks": [{"gpt-image-1": ["backup"]}], "retry_after": 0}
    gateway, _ = make_gateway(config, handler=handler)
    image = png()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw.test") as client:
        response = await client.post(
            "/v1/images/edits",
            headers=auth(),
            data={"model": "gpt-image-1", "prompt": "x"},
            files={"image": ("a.png", image, "image/png")},
        )
        missing_key = await client.post(
            "/v1/images/edits",
            data={"model": "gpt-image-1", "prompt": "x"},
            files={"image": ("a.png", image, "image/png")},
        )

    assert response.status_code == 200, response.text
    assert [host for host, _ in seen] == ["broken.test", "broken.test", "ok.test"]
    assert all(image in body for _, body in seen)
    assert response.headers["x-pixmux-deployment"].split("-")[0] == "backup"
    assert missing_key.status_code == 401
    assert len(seen) == 3  # the unauthenticated upload reached no provider


async def test_upstream_key_echoed_in_an_error_never_reaches_the_client(caplog: pytest.LogCaptureFixture) -> None:
    """A provider 401 that echoes the deployment's key: the client's error and the logs never show it."""

    def handler(request: httpx.Request) -> httpx.Response:
        message = f"Incorrect API key provided: {UPSTREAM_KEY}."
        return json_response(
            401, {"error": {"message": message, "type": "invalid_request_error", "code": "invalid_api_key"}}
        )

    gateway, _ = make_gateway(_config("http://upstream.test/v1"), handler=handler)
    caplog.set_level("DEBUG")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw.test") as client:
        response = await client.post(
            "/v1/images/edits",
            headers=auth(),
            data={"model": "gpt-image-1", "prompt": "x"},
            files={"image": ("a.png", png(), "image/png")},
        )

    assert response.status_code == 401
    assert UPSTREAM_KEY not in response.text
    assert UPSTREAM_KEY not in str(response.headers)
    assert UPSTREAM_KEY not in caplog.text


async def test_json_edit_fetches_an_allowed_url_through_the_engine_transport() -> None:
    """With allow_image_urls, an image_url is fetched by the engine's transport (the stand-in answers it)."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url}")
        if request.method == "GET":
            return httpx.Response(200, content=png(), headers={"content-type": "image/png"})
        return json_response(200, {"created": 1, "data": [{"b64_json": TINY_PNG_B64}]})

    config = _config("http://upstream.test/v1")
    config["general_settings"]["allow_image_urls"] = True
    gateway, _ = make_gateway(config, handler=handler)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw.test") as client:
        response = await client.post(
            "/v1/images/edits",
            headers=auth(),
            json={"model": "gpt-image-1", "prompt": "x", "images": [{"image_url": "https://img.test/room.png"}]},
        )

    assert response.status_code == 200, response.text
    assert seen == ["GET https://img.test/room.png", "POST http://upstream.test/v1/images/edits"]


async def test_allow_image_urls_per_deployment() -> None:
    """
    allow_image_urls set per deployment (litellm_params or model_info) overrides the gateway-wide default.

    With the gateway default off, gpt-image-1 allows URLs in its litellm_params, and a model
    name whose two deployments disagree refuses them (the URL is read once, before a deployment
    is picked). With the default on, dall-e-2 refuses them in its model_info while the model
    name whose deployments now all allow them (one by default) fetches. The setting never
    reaches the provider's body.
    """
    seen: list[str] = []
    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url}")
        if request.method == "GET":
            return httpx.Response(200, content=png(), headers={"content-type": "image/png"})
        bodies.append(request.read())
        return json_response(200, {"created": 1, "data": [{"b64_json": TINY_PNG_B64}]})

    config = _config("http://upstream.test/v1")
    config["model_list"][0]["litellm_params"]["allow_image_urls"] = True
    mixed = {"model": "openai/gpt-image-1", "api_base": "http://upstream.test/v1", "api_key": UPSTREAM_KEY}
    config["model_list"] += [
        {"model_name": "mixed", "litellm_params": mixed, "model_info": {"allow_image_urls": True}},
        {"model_name": "mixed", "litellm_params": mixed},
    ]
    url_edit = {"prompt": "x", "images": [{"image_url": "https://img.test/room.png"}]}

    async def edit(gateway_config: dict[str, Any], model: str) -> httpx.Response:
        gateway, _ = make_gateway(gateway_config, handler=handler)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw.test") as client:
            return await client.post("/v1/images/edits", headers=auth(), json={"model": model, **url_edit})

    allowed = await edit(config, "gpt-image-1")
    disagree = await edit(config, "mixed")
    config["general_settings"]["allow_image_urls"] = True
    config["model_list"][1]["model_info"] = {"allow_image_urls": False}
    refused = await edit(config, "dall-e-2")
    by_default = await edit(config, "mixed")

    assert allowed.status_code == 200, allowed.text
    assert "allow_image_urls" in _bad(disagree, 400, "images[0]")
    assert "allow_image_urls" in _bad(refused, 400, "images[0]")
    assert by_default.status_code == 200, by_default.text
    assert seen.count("GET https://img.test/room.png") == 2
    assert len(bodies) == 2
    assert all(b"allow_image_urls" not in body for body in bodies)


def test_allow_image_urls_must_be_a_flag() -> None:
    """A deployment's allow_image_urls that is not true or false stops the start, naming where it is."""
    config = _config("http://upstream.test/v1")
    config["model_list"][0]["model_info"] = {"allow_image_urls": "yes"}

    with pytest.raises(ConfigError, match=r"model_list\[0\]\.model_info\.allow_image_urls"):
        parse_config(config, path="edits.yaml", environ={})


def test_openai_client_streams_an_edit(edits_gateway: RunningGateway, recorder: type[Recorder], tmp_path: Path) -> None:
    """images.edit(stream=True, partial_images=1): the image_edit events arrive through the gateway."""
    (path,) = _files(tmp_path, 1)

    with path.open("rb") as handle:
        stream = via_gateway(edits_gateway).images.edit(
            model="gpt-image-1", image=handle, prompt="snow", stream=True, partial_images=1
        )
        types = [event.type for event in stream]

    assert types == ["image_edit.partial_image", "image_edit.completed"]
    fields = {n: d for n, f, _, d in parts_of(recorder.seen[-1]["type"], recorder.seen[-1]["body"]) if f is None}
    assert (fields["stream"], fields["partial_images"]) == (b"true", b"1")


async def test_variation_does_not_stream() -> None:
    """stream=true on a variation is named."""
    files = {"image": ("a.png", png(), "image/png")}
    response = await _post(path="/v1/images/variations", data={"model": "dall-e-2", "stream": "true"}, files=files)
    assert "stream is not a field of a variation" in _bad(response, 400, "stream")


def _noise_png() -> bytes:
    noise = io.BytesIO()
    Image.frombytes("RGBA", (512, 512), random.Random(7).randbytes(512 * 512 * 4)).save(noise, "PNG")
    return noise.getvalue()  # about 1 MB: noise does not compress


def _upload_in_chunks(
    image: bytes, chunk: Callable[[bytes], bytes | bytearray]
) -> tuple[int, httpx.Request, list[Any]]:
    """
    ``images.edit`` of ``image`` straight into the gateway app, its body handed over in 64 kB chunks.

    ``chunk`` makes each chunk the server hands over from the body's bytes; before each handover
    the server overwrites every bytearray it handed over before (as one reusing its buffers would).
    Returns the answer's status, the request the upstream received, and the chunks handed over.
    """
    body = httpx.Request(
        "POST",
        "http://gateway.test/v1/images/edits",
        data={"model": "gpt-image-1", "prompt": "snow"},
        files={"image": ("big.png", image, "image/png")},
    )
    raw = body.read()
    waiting = [chunk(raw[at : at + 65536]) for at in range(0, len(raw), 65536)]
    handed: list[Any] = []
    seen: list[httpx.Request] = []
    answer: list[dict[str, Any]] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return json_response(200, {"created": 1, "data": [{"b64_json": TINY_PNG_B64}]})

    async def receive() -> dict[str, Any]:
        for buffer in handed:
            if isinstance(buffer, bytearray):
                buffer[:] = b"\x00" * len(buffer)
        handed.append(waiting.pop(0))
        return {"type": "http.request", "body": handed[-1], "more_body": len(waiting) > 0}

    async def send(message: dict[str, Any]) -> None:
        answer.append(message)

    gateway, _ = make_gateway(_config("http://upstream.test/v1"), handler=upstream)
    headers = [
        (b"authorization", f"Bearer {MASTER_KEY}".encode()),
        (b"content-type", body.headers["content-type"].encode()),
    ]
    asyncio.run(
        gateway({"type": "http", "method": "POST", "path": "/v1/images/edits", "headers": headers}, receive, send)
    )
    (sent,) = seen
    return answer[0]["status"], sent, handed


def _image_sent(sent: httpx.Request) -> bytes:
    return {name: data for name, _, _, data in parts_of(sent.headers["content-type"], sent.read())}["image"]


def test_an_upload_reaches_the_openai_upstream_without_a_copy_of_the_image() -> None:
    """The image goes on as views of the very chunks the client's body arrived in: the gateway never joins it."""
    big = _noise_png()

    status, sent, chunks = _upload_in_chunks(big, bytes)

    assert status == 200
    views = [piece for piece in pieces_of(sent) or () if isinstance(piece, memoryview)]
    assert len(views) >= len(big) // 65536 - 1
    assert all(any(view.obj is chunk for chunk in chunks) for view in views)  # the client's chunks, uncopied
    assert _image_sent(sent) == big


def test_an_upload_in_buffers_the_server_reuses_is_copied_not_kept() -> None:
    """An ASGI server that hands over a buffer and then overwrites it does not change the image sent on."""
    big = _noise_png()

    status, sent, _ = _upload_in_chunks(big, bytearray)

    assert status == 200
    assert _image_sent(sent) == big
