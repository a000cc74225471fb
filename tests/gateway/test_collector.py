"""The gateway process tunes Python's garbage collector for many requests in flight; garbage is still collected."""

from __future__ import annotations

import asyncio
import base64
import gc
import itertools
import json
import subprocess
import sys
import textwrap
import time
import types
from collections.abc import Callable
from pathlib import Path

import httpx
from pixmux.proxy._collector import YOUNG_THRESHOLD


def _run(code: str) -> dict[str, object]:
    """Run ``code`` in a fresh interpreter (the collector's settings are process-wide); it prints one JSON line."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_tune_collector_freezes_start_up_and_raises_the_young_threshold() -> None:
    """Start-up's objects leave the collected generations, and a young collection waits for YOUNG_THRESHOLD."""
    found = _run(
        """
        import gc, json
        import pixmux.proxy.app
        from pixmux.proxy._collector import tune_collector
        middle_before = gc.get_threshold()[1:]
        tune_collector()
        print(json.dumps({"frozen": gc.get_freeze_count(), "threshold": gc.get_threshold(),
                          "middle_before": middle_before, "tracked": len(gc.get_objects())}))
        """
    )
    assert isinstance(found["frozen"], int)
    assert found["frozen"] > 10_000
    assert isinstance(found["tracked"], int)
    assert found["tracked"] < 1_000
    middle = found["middle_before"]
    assert isinstance(middle, list)
    assert found["threshold"] == [YOUNG_THRESHOLD, *middle]


def test_garbage_in_cycles_is_still_collected_after_tuning() -> None:
    """Objects in reference cycles die without an explicit gc.collect(), once enough is allocated."""
    found = _run(
        f"""
        import gc, json, weakref
        from pixmux.proxy._collector import tune_collector
        tune_collector()

        class Node:
            pass

        dead = []
        for _ in range(100):
            node = Node()
            node.me = node  # a cycle: reference counting alone never frees it
            weakref.finalize(node, dead.append, 1)
        del node
        keep = [[] for _ in range({YOUNG_THRESHOLD} + 1_000)]  # allocations past the threshold
        print(json.dumps({{"collected": len(dead)}}))
        """
    )
    assert found["collected"] == 100


def test_pixmux_serve_tunes_the_collector_before_it_serves(tmp_path: Path) -> None:
    """`pixmux serve` (one worker) freezes start-up and raises the threshold before uvicorn runs."""
    config = tmp_path / "config.yaml"
    config.write_text(
        json.dumps({"model_list": [{"model_name": "demo", "litellm_params": {"model": "openai/gpt-image-1"}}]})
    )
    found = _run(
        f"""
        import gc, json, uvicorn
        from pixmux.proxy.cli import main

        def run(app, **options):
            print(json.dumps({{"frozen": gc.get_freeze_count(), "young": gc.get_threshold()[0]}}))

        uvicorn.run = run
        main(["--config", {str(config)!r}, "--port", "0"])
        """
    )
    assert isinstance(found["frozen"], int)
    assert found["frozen"] > 10_000
    assert found["young"] == YOUNG_THRESHOLD


def _left_in_cycles(request: Callable[[], httpx.Response]) -> tuple[int, list[str]]:
    """Make ``request`` with the collector off; what of the gateway's own a collection then finds unreachable."""
    request()  # warm: first-use caches are not garbage
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)  # a collection keeps what it finds unreachable in gc.garbage
    try:
        status = request().status_code
        time.sleep(0.2)  # the gateway's side of the exchange ends just after the client has the answer
        gc.collect()
        left = sorted(
            {
                frame_or_type
                for found in gc.garbage
                for frame_or_type in [_gateway_side(found)]
                if frame_or_type is not None
            }
        )
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    return status, left


def _gateway_side(found: object) -> str | None:
    """A name for ``found`` if it belongs to the gateway (the test's httpx client has cycles of its own)."""
    if isinstance(found, types.FrameType):
        code = found.f_code
        return f"frame {code.co_name}" if "pixmux" in code.co_filename or "uvicorn" in code.co_filename else None
    if isinstance(found, asyncio.Task | asyncio.Future | BaseException):
        return type(found).__name__
    module = type(found).__module__
    return f"{module}.{type(found).__name__}" if module.startswith(("pixmux", "uvicorn", "aiohttp")) else None


def test_no_request_leaves_the_gateway_objects_in_reference_cycles() -> None:
    """
    With young collections rare, anything of a request caught in a reference cycle (a 4 MB upload,
    a 1.5 MB streamed event) stays in memory until one runs: so every kind of request must free
    everything by reference counting alone. Generations, edits, streams; retried attempts,
    refused connections (aiohttp and aiohappyeyeballs keep those errors in cycles of their own),
    a stream failing midway; 404s and 400s.
    """
    sys.path.insert(0, str(Path(__file__).parents[2] / "plugins" / "openai" / "tests"))
    from gateway_support import RunningGateway, free_port
    from pixmux.proxy import create_app, parse_config
    from pixmux.testing import local_server
    from stream_support import KEY, TINY_PNG_B64, StreamingProvider

    png = base64.b64decode(TINY_PNG_B64)
    with local_server(StreamingProvider) as upstream:
        deployment = {"model": "openai/gpt-image-1", "api_base": f"{upstream}/v1", "api_key": KEY}
        refusing = {**deployment, "api_base": f"http://127.0.0.1:{free_port()}/v1"}  # nothing listens there
        config = {
            "model_list": [
                {"model_name": "gpt-image-1", "litellm_params": deployment},
                {"model_name": "refusing", "litellm_params": refusing},
            ],
            "router_settings": {"num_retries": 1, "retry_after": 0},
        }
        with (
            RunningGateway(create_app(parse_config(config, path="cycles.yaml", environ={}))) as gateway,
            httpx.Client(base_url=gateway.url, timeout=30) as client,
        ):
            tries = itertools.count()

            def generate(prompt: str = "otter", model: str = "gpt-image-1", **more: object) -> httpx.Response:
                body = {"model": model, "prompt": prompt, **more}
                return client.post("/v1/images/generations", json=body)

            def edit(image: bytes = png, model: str = "gpt-image-1") -> httpx.Response:
                fields = {"model": model, "prompt": "snow"}
                return client.post("/v1/images/edits", data=fields, files={"image": ("room.png", image, "image/png")})

            requests: dict[str, Callable[[], httpx.Response]] = {
                "generation": generate,
                "edit": edit,
                "stream": lambda: generate("otter big", stream=True, partial_images=2),
                "stream failing midway": lambda: generate("otter big fail-midway", stream=True, partial_images=2),
                "retried": lambda: generate(f"busy-once {next(tries)}"),
                "stream retried": lambda: generate(f"busy-once {next(tries)}", stream=True, partial_images=1),
                "stream refused": lambda: generate(model="refusing", stream=True, partial_images=1),
                "refused": lambda: generate(model="refusing"),
                "edit refused": lambda: edit(model="refusing"),
                "unknown model": lambda: client.post("/v1/images/generations", json={"model": "x", "prompt": "o"}),
                "not an image": lambda: edit(b"not a png"),
            }
            found = {name: _left_in_cycles(request) for name, request in requests.items()}

    assert {name: status for name, (status, _) in found.items()} == {
        "generation": 200,
        "edit": 200,
        "stream": 200,
        "stream failing midway": 200,
        "retried": 200,
        "stream retried": 200,
        "stream refused": 502,
        "refused": 502,
        "edit refused": 502,
        "unknown model": 404,
        "not an image": 400,
    }
    left = {name: left for name, (_, left) in found.items() if left}
    assert left == {}, str(left)
