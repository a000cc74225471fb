"""`pixmux serve` as a process: config errors stop the start, requests in flight finish on SIGTERM."""

from __future__ import annotations

import json
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
from gateway_support import UPSTREAM_KEY, free_port
from pixmux.proxy.cli import main


def test_main_config_error_prints_one_line_and_returns_2(tmp_path: Path, capsys: Any) -> None:
    """A bad config prints one message naming the file and the place, and the gateway does not start."""
    path = tmp_path / "config.yaml"
    path.write_text("model_list: [{model_name: a, params: {model: openai/x, api_key: os.environ/PIXMUX_TEST_UNSET}}]\n")

    code = main(["--config", str(path)])

    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1
    assert f"{path}: model_list[0].params.api_key: the environment variable PIXMUX_TEST_UNSET is not set" in err


def test_main_requires_a_config(capsys: Any, monkeypatch: Any) -> None:
    """Without --config (or PIXMUX_CONFIG) the command says what is missing."""
    monkeypatch.delenv("PIXMUX_CONFIG", raising=False)

    with pytest.raises(SystemExit) as caught:
        main([])

    assert caught.value.code == 2
    assert "--config is required" in capsys.readouterr().err


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the gateway exited: {process.stderr.read() if process.stderr else ''!r}")
        try:
            if httpx.get(f"{url}/health/liveliness").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError("the gateway did not start")


def test_serve_finishes_requests_in_flight_on_sigterm(tmp_path: Path, provider_server: Any) -> None:
    """SIGTERM during a slow generation: the request completes with 200, then the process ends by the signal."""
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
            }
        )
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "pixmux.proxy.cli", "--config", str(path), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        _wait_ready(url, process)
        result: dict[str, Any] = {}

        def slow_request() -> None:
            result["response"] = httpx.post(
                f"{url}/v1/images/generations", json={"model": "sd", "prompt": "slow otter"}, timeout=20
            )

        worker = threading.Thread(target=slow_request)
        worker.start()
        deadline = time.monotonic() + 10
        while not any("slow" in str(seen["body"].get("prompt")) for seen in provider_server.seen):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        worker.join(20)
        code = process.wait(20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    stderr = process.stderr.read().decode() if process.stderr else ""

    assert result["response"].status_code == 200
    assert code in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once the requests have finished
    assert "POST /v1/images/generations model=sd status=200" in stderr
    assert UPSTREAM_KEY not in stderr


def test_serve_litellm_config_json_logs_and_environment_variables(tmp_path: Path, provider_server: Any) -> None:
    """
    A LiteLLM config's json_logs makes every stderr line one JSON object (start-up lines for ignored
    keys included), and a key set by environment_variables reaches the provider.
    """
    path = tmp_path / "config.yaml"
    path.write_text(
        json.dumps(
            {
                "environment_variables": {"OPENAI_API_KEY": UPSTREAM_KEY},
                "model_list": [
                    {"model_name": "sd", "litellm_params": {"model": "openai/sd", "api_base": provider_server.url}}
                ],
                "litellm_settings": {"json_logs": True, "num_retries": 0, "success_callback": ["langfuse"]},
            }
        )
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    environ = {key: value for key, value in os.environ.items() if key != "OPENAI_API_KEY"}
    process = subprocess.Popen(
        [sys.executable, "-m", "pixmux.proxy.cli", "--config", str(path), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        _wait_ready(url, process)
        answer = httpx.post(f"{url}/v1/images/generations", json={"model": "sd", "prompt": "otter"}, timeout=20)
        process.send_signal(signal.SIGTERM)
        process.wait(20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    stderr = process.stderr.read().decode() if process.stderr else ""
    lines = [json.loads(line) for line in stderr.splitlines() if line.strip()]

    assert answer.status_code == 200, answer.text
    assert any("litellm_settings.success_callback" in line["message"] for line in lines)
    assert any("status=200" in line["message"] for line in lines)
    assert UPSTREAM_KEY not in stderr


@pytest.mark.parametrize("json_logs", [False, True], ids=["text", "json"])
def test_serve_workers_log_every_request(tmp_path: Path, provider_server: Any, json_logs: bool) -> None:
    """
    With ``--workers 2`` each worker writes its request lines, in the format the config asks for:
    every answered request has its line, whichever worker served it.
    """
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
                "litellm_settings": {"json_logs": json_logs, "num_retries": 0},
            }
        )
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "pixmux.proxy.cli", "--config", str(path), "--port", str(port), "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        _wait_ready(url, process)
        statuses = []
        for _ in range(6):
            with httpx.Client() as client:  # a new connection each time, so both workers may serve
                answer = client.post(
                    f"{url}/v1/images/generations", json={"model": "sd", "prompt": "otter"}, timeout=20
                )
                statuses.append(answer.status_code)
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    stderr = process.stderr.read().decode() if process.stderr else ""

    assert statuses == [200] * 6
    if json_logs:
        lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
        requests = [
            line for line in lines if line.get("status") == 200 and line.get("path") == "/v1/images/generations"
        ]
    else:
        requests = [line for line in stderr.splitlines() if "POST /v1/images/generations model=sd status=200" in line]
    assert len(requests) == 6, stderr
    assert UPSTREAM_KEY not in stderr
