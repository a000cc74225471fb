"""The gateway's guards: JSON only on JSON routes, CORS off by default, safe start, clean logs, a drain's 503."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_support import MASTER_KEY, UPSTREAM_KEY, auth, config_dict, free_port, make_gateway
from pixmux.proxy import ConfigError, parse_config
from pixmux.proxy._guard import exposure_problem, is_loopback
from pixmux.proxy.cli import main

GEN = "/v1/images/generations"
BODY = json.dumps({"model": "demo", "prompt": "otter"})


def _client(config: dict[str, Any] | None = None) -> httpx.AsyncClient:
    gateway, _ = make_gateway(config)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gateway.test")


# --------------------------------------------------------------------------- content type


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
async def test_guards_json_route_refuses_other_bodies_with_415(content_type: str) -> None:
    """What a browser may send across sites without a preflight is a 415, and nothing is generated."""
    gateway, engine = make_gateway()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://g") as client:
        response = await client.post(GEN, content=BODY, headers={**auth(), "content-type": content_type})

    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert engine.requests == []


@pytest.mark.parametrize("content_type", ["application/json", "Application/JSON; charset=utf-8", "application/x+json"])
async def test_guards_json_route_takes_json(content_type: str) -> None:
    """JSON, with a charset or as a +json type, is served."""
    async with _client() as client:
        response = await client.post(GEN, content=BODY, headers={**auth(), "content-type": content_type})

    assert response.status_code == 200, response.text


async def test_guards_key_is_checked_before_the_content_type() -> None:
    """Without a key, the answer is 401 whatever the body: nothing about the route leaks first."""
    async with _client() as client:
        response = await client.post(GEN, content=BODY, headers={"content-type": "text/plain"})

    assert response.status_code == 401


# --------------------------------------------------------------------------- CORS


async def test_guards_cors_is_off_by_default() -> None:
    """No Access-Control header on any answer, and a preflight is refused."""
    async with _client() as client:
        preflight = await client.options(
            GEN, headers={"origin": "https://evil.example", "access-control-request-method": "POST"}
        )
        response = await client.post(
            GEN, json={"model": "demo", "prompt": "otter"}, headers={**auth(), "origin": "https://evil.example"}
        )

    assert preflight.status_code == 405
    assert "cors_allow_origins" in preflight.json()["error"]["message"]
    for answer in (preflight, response):
        assert not any(name.lower().startswith("access-control-") for name in answer.headers)


async def test_guards_cors_allow_list_answers_listed_origins_only() -> None:
    """A listed origin gets a preflight answer and Access-Control-Allow-Origin; another origin gets neither."""
    config = config_dict()
    config["general_settings"]["cors_allow_origins"] = ["https://app.example"]
    async with _client(config) as client:
        good = await client.options(GEN, headers={"origin": "https://app.example"})
        bad = await client.options(GEN, headers={"origin": "https://evil.example"})
        served = await client.post(
            GEN, json={"model": "demo", "prompt": "otter"}, headers={**auth(), "origin": "https://app.example"}
        )
        other = await client.post(
            GEN, json={"model": "demo", "prompt": "otter"}, headers={**auth(), "origin": "https://evil.example"}
        )

    assert good.status_code == 204
    assert good.headers["access-control-allow-origin"] == "https://app.example"
    assert "POST" in good.headers["access-control-allow-methods"]
    assert "authorization" in good.headers["access-control-allow-headers"]
    assert bad.status_code == 405
    assert served.headers["access-control-allow-origin"] == "https://app.example"
    assert "access-control-allow-origin" not in other.headers


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ("app.example", "cors_allow_origins[0]"),
        (["https://app.example/path"], "cors_allow_origins[0]"),
        ([7], "cors_allow_origins[0]"),
        ({"a": 1}, "cors_allow_origins"),
    ],
)
def test_guards_cors_setting_must_be_origins(value: Any, where: str) -> None:
    """An allow-list entry that is not scheme://host[:port] stops the start, naming the entry."""
    config = config_dict()
    config["general_settings"]["cors_allow_origins"] = value

    with pytest.raises(ConfigError) as caught:
        parse_config(config, environ={})

    assert where in str(caught.value)


# --------------------------------------------------------------------------- limits settings


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("header_timeout", 0),
        ("body_timeout", -1),
        ("max_connections", 2.5),
        ("max_headers", True),
        ("max_header_size_kb", "16"),
        ("keep_alive_timeout", float("inf")),
    ],
)
def test_guards_limit_settings_are_checked(key: str, value: Any) -> None:
    """A limit that is not a positive number stops the start, naming the setting."""
    config = config_dict()
    config["general_settings"][key] = value

    with pytest.raises(ConfigError) as caught:
        parse_config(config, environ={})

    assert f"general_settings.{key}" in str(caught.value)


def test_guards_limit_settings_are_read() -> None:
    """Each limit setting reaches GatewayConfig.limits; unset ones keep their defaults."""
    config = config_dict()
    config["general_settings"].update({"max_header_size_kb": 4, "max_headers": 20, "header_timeout": 3})

    limits = parse_config(config, environ={}).limits

    assert (limits.max_header_bytes, limits.max_headers, limits.header_timeout) == (4096, 20, 3.0)
    assert (limits.body_timeout, limits.max_connections) == (60.0, 1000)


# --------------------------------------------------------------------------- safe start


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.8.9.1", "[::1]"])
def test_guards_loopback_hosts(host: str) -> None:
    """Loopback addresses and localhost are loopback."""
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "gateway.internal", "192.168.1.2"])
def test_guards_exposed_hosts_need_a_real_key(host: str) -> None:
    """Elsewhere: no key, an example key or a short key is refused; a long key or the explicit opt-out is not."""
    assert exposure_problem([host], None, allow_unauthenticated=False) is not None
    assert exposure_problem([host], "sk-1234", allow_unauthenticated=False) is not None
    assert exposure_problem([host], "shortkey", allow_unauthenticated=False) is not None
    assert exposure_problem([host], "sk-" + "k" * 30, allow_unauthenticated=False) is None
    assert exposure_problem([host], None, allow_unauthenticated=True) is None


def _write(tmp_path: Path, general: dict[str, Any] | None) -> Path:
    config = config_dict(master_key=None)
    if general is not None:
        config["general_settings"] = general
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(config))
    return path


@pytest.mark.parametrize(
    ("general", "words"),
    [
        (None, "without general_settings.master_key"),
        ({"master_key": "sk-1234"}, "example master key"),
        ({"master_key": "abc123"}, "at least 16"),
    ],
)
def test_guards_serve_refuses_an_open_gateway_off_loopback(
    tmp_path: Path, capsys: Any, general: dict[str, Any] | None, words: str
) -> None:
    """`pixmux serve --host 0.0.0.0` without a real key prints why and returns 2 before listening."""
    code = main(["--config", str(_write(tmp_path, general)), "--host", "0.0.0.0", "--port", str(free_port())])

    assert code == 2
    assert words in capsys.readouterr().err


def test_guards_serve_opt_out_starts_off_loopback(tmp_path: Path) -> None:
    """With allow_unauthenticated: true the gateway starts on 0.0.0.0 (served on a free port, then stopped)."""
    port = free_port()
    path = _write(tmp_path, {"allow_unauthenticated": True})
    process = subprocess.Popen(
        [sys.executable, "-m", "pixmux.proxy.cli", "--config", str(path), "--host", "0.0.0.0", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, process.stderr.read() if process.stderr else b""
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health/liveliness").status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)


# --------------------------------------------------------------------------- logs and error bodies


@pytest.mark.parametrize(
    "model",
    [
        "demo\r\nINFO forged log line",
        "x" * 5000,
        "sk-proj-" + "A" * 40,
        "\x1b[31mred\x1b[0m",
    ],
)
async def test_guards_client_values_are_escaped_in_logs_and_errors(model: str, caplog: Any) -> None:
    """A model name with CR/LF, a very long one, a pasted key, escapes: escaped, cut and masked everywhere."""
    caplog.set_level(logging.INFO, logger="pixmux.proxy")
    async with _client() as client:
        response = await client.post(GEN, json={"model": model, "prompt": "otter"}, headers=auth())

    assert response.status_code == 404
    message = response.json()["error"]["message"]
    lines = [record.getMessage() for record in caplog.records]
    for text in (message, *lines):
        assert "\r" not in text
        assert "\n" not in text
        assert "\x1b" not in text
        assert "A" * 40 not in text
        assert len(text) < 2500
    assert any("model=" in line for line in lines)


async def test_guards_pasted_secret_as_a_parameter_name_is_masked() -> None:
    """A key pasted as a parameter name (a forbidden or unknown one) comes back masked in param and message."""
    secret = "sk-proj-" + "B" * 40
    async with _client() as client:
        response = await client.post(GEN, json={"model": "demo", "prompt": "otter", "api_key": secret}, headers=auth())
        named = await client.post(GEN, json={"model": "gpt-image-1", "prompt": "otter", secret: 1}, headers=auth())

    for answer in (response, named):
        assert secret not in answer.text
    assert response.status_code == 400


# --------------------------------------------------------------------------- the drain


def test_guards_a_drain_that_runs_out_answers_an_openai_503(tmp_path: Path, provider_server: Any) -> None:
    """SIGTERM with --shutdown-timeout shorter than a request in flight: the client gets an OpenAI-shaped 503."""
    path = tmp_path / "config.yaml"
    path.write_text(
        json.dumps(
            {
                "model_list": [
                    {
                        "model_name": "sd",
                        "litellm_params": {
                            "model": "openai/sd",
                            "api_base": provider_server.url,
                            "api_key": UPSTREAM_KEY,
                        },
                    }
                ],
                "router_settings": {"num_retries": 0},
                "general_settings": {"master_key": MASTER_KEY},
            }
        )
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pixmux.proxy.cli",
            "--config",
            str(path),
            "--port",
            str(port),
            "--shutdown-timeout",
            "0.2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    result: dict[str, Any] = {}
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None
            try:
                if httpx.get(f"{url}/health/liveliness").status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.05)

        def slow_request() -> None:
            result["response"] = httpx.post(
                f"{url}{GEN}", json={"model": "sd", "prompt": "slow otter"}, headers=auth(), timeout=20
            )

        worker = threading.Thread(target=slow_request)
        worker.start()
        while not any("slow" in str(seen["body"].get("prompt")) for seen in provider_server.seen):
            assert time.monotonic() < deadline + 10
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        worker.join(20)
        process.wait(20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    response = result["response"]
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == "shutting_down"
