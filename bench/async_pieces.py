"""
Where the instructions of one async url call go: each piece of pixmux's call and of the floor, counted.

Run: ``uv run python bench/async_pieces.py`` (needs valgrind; about two minutes alone). Name
pieces to count only those (``... async_pieces.py pixmux floor``); ``--list`` lists them.

No network: the aiohttp transport's exchange on the wire is replaced by the response it would
assemble from the mock server's url answer (``core_bench.py``'s body and headers), for pixmux
and for the floor alike, and coroutines are driven by hand (no event loop). So ``pixmux`` minus
``floor`` is what ``async_instructions.py`` prints as pixmux above the floor, less the event
loop's share, and each other line is one piece of the call on its own.

Everything runs in one process under ``valgrind --tool=callgrind``; between phases the process
asks callgrind to dump its count (``callgrind_control -d``). Each piece runs a warm-up, then a
short and a long batch; the difference of the two batches' counts over the difference in
iterations is the cost of one iteration (the dumps' own cost cancels out). Prints figures;
never passes or fails.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import callgrind
import core_bench  # the benchmark's own prompt, key and bodies

SHORT, LONG, WARM = 500, 2500, 200
API_BASE = "http://127.0.0.1:9/url/v1"  # never reached: nothing is sent


#: The mock server's url answer (``core_bench.py``'s): a DALL-E-style body with one image URL.
_URL_BODY = {
    "created": 1_698_116_662,
    "data": [
        {
            "url": "https://images.example/private/org-x/img-0123456789.png?st=2025-01-01&se=2025-01-01&sp=r",
            "revised_prompt": "A small sea otter pup floating on its back in calm blue water.",
        }
    ],
}


def _drive(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never waits on anything to its end, without an event loop."""
    try:
        while True:
            coroutine.send(None)
    except StopIteration as done:
        return done.value


def pieces() -> dict[str, tuple[str, Callable[[], object]]]:
    """``{name: (what it is, one iteration)}``, in the order printed."""
    import httpx
    import pixmux
    import pixmux_openai.provider as openai_plugin
    from pixmux import _transport
    from pixmux._engine import default_engine
    from pixmux._exchange import finish
    from pixmux.dialects import openai as dialect

    body = json.dumps(_URL_BODY).encode()
    raw = [
        (b"Content-Type", b"application/json; charset=utf-8"),
        (b"Content-Length", str(len(body)).encode()),
        (b"Date", b"Mon, 07 Dec 2026 02:00:00 GMT"),
        (b"Server", b"Python/3.11 aiohttp/3.14.5"),
    ]
    extensions = {"http_version": b"HTTP/1.1", "reason_phrase": b"OK"}
    transport = _transport.AsyncTransport(kind="aiohttp")

    async def answered(request: httpx.Request, deadline: float, max_bytes: int | None) -> httpx.Response:
        return _transport._response(200, raw, body, request, dict(extensions))

    transport._aiohttp_whole = answered  # type: ignore[method-assign]
    engine = default_engine()
    engine.async_transport = lambda: transport  # type: ignore[method-assign]
    endpoint = httpx.URL(f"{API_BASE}/images/generations")
    payload = {"model": "dall-e-3", "prompt": core_bench.PROMPT, "n": 1, "size": "1024x1024"}
    headers = {"Authorization": f"Bearer {core_bench.KEY}"}
    arguments: dict[str, Any] = {"n": 1, "size": "1024x1024", "api_base": API_BASE, "api_key": core_bench.KEY}
    call = engine.prepare(prompt=core_bench.PROMPT, model="dall-e-3", timeout=600, **arguments)
    request, deployment, info = call.request, call.deployment, call.info
    built = call.provider.hook("build_request")(request=request, deployment=deployment, model=info, auth=None)
    response = _transport._response(200, raw, body, built, dict(extensions))
    parsed = call.provider.hook("parse_response")(response=response, request=request, deployment=deployment, model=info)
    plain = json.loads(body)

    def ours() -> None:
        _drive(pixmux.aimage_generation(prompt=core_bench.PROMPT, model="dall-e-3", **arguments))

    def floor() -> None:
        sent = httpx.Request("POST", endpoint, headers=headers, json=payload)
        answer = _drive(transport.send(sent, time.monotonic() + 600.0))
        answer.raise_for_status()
        answer.json()

    return {
        "pixmux": ("pixmux.aimage_generation, whole", ours),
        "floor": ("httpx.Request(json=) + the transport's send + raise_for_status + json()", floor),
        "floor-request": (
            "floor: httpx.Request('POST', url, headers=..., json=...)",
            lambda: httpx.Request("POST", endpoint, headers=headers, json=payload),
        ),
        "floor-json": ("floor: raise_for_status() + json()", lambda: (response.raise_for_status(), response.json())),
        "send": (
            "both: the transport's send around the wire",
            lambda: _drive(transport.send(built, time.monotonic() + 600.0)),
        ),
        "prepare": (
            "Engine.prepare (resolve, environment, deployment, ImageRequest, validate, Call)",
            lambda: engine.prepare(prompt=core_bench.PROMPT, model="dall-e-3", timeout=600, **arguments),
        ),
        "environment": ("one unset variable (OPENAI_ORG_ID)", lambda: engine._env("OPENAI_ORG_ID")),
        "validate": (
            "validate_params through the engine",
            lambda: engine._validate(call.provider, request, info, deployment, drop=False),
        ),
        "run": ("Engine.arun of a prepared call", lambda: _drive(engine.arun(call))),
        "build": (
            "build_request (the OpenAI plugin)",
            lambda: call.provider.hook("build_request")(request=request, deployment=deployment, model=info, auth=None),
        ),
        "body": (
            "build_request: build_body",
            lambda: dialect.build_body(request, "dall-e-3", openai_params=openai_plugin._fields(info)),
        ),
        "parse": (
            "parse_response (the OpenAI plugin)",
            lambda: call.provider.hook("parse_response")(
                response=response, request=request, deployment=deployment, model=info
            ),
        ),
        "request-id": ("parse_response: x-request-id", lambda: dialect._request_id(response)),
        "plain-read": (
            "parse_response: the plain read, ImageObject and ImageResponse",
            lambda: dialect._read_plain(plain, {}),
        ),
        "finish": ("finish: price, metadata, the final ImageResponse", lambda: finish(call, parsed, 1.0, attempts=1)),
    }


def inner(names: list[str]) -> None:
    """Under callgrind: run each piece's batches, asking for a dump of the count after each."""
    found = pieces()
    pid = os.getpid()

    def dump() -> None:
        callgrind.control(pid, "-d")

    dump()
    for name in names:
        _, once = found[name]
        for size in (SHORT, LONG):
            for _ in range(WARM):
                once()
            dump()
            for _ in range(size):
                once()
            dump()


def main(argv: list[str]) -> None:
    """Count the named pieces (all by default) and print instructions per iteration."""
    if argv[:1] == ["--inner"]:
        inner(argv[1:])
        return
    if argv[:1] == ["--list"]:
        for name, (what, _) in pieces().items():
            print(f"  {name:<14} {what}")
        return
    described = {name: what for name, (what, _) in pieces().items()}
    names = [name for name in argv if name in described] or list(described)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind); nothing measured")
        return
    with tempfile.TemporaryDirectory() as scratch:
        out = f"{scratch}/count"
        done = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                sys.executable,
                __file__,
                "--inner",
                *names,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            raise RuntimeError(f"the counted run failed:\n{done.stderr[-3000:]}")
        counts = []
        for path in sorted(glob.glob(f"{out}.*"), key=lambda path: int(path.rsplit(".", 1)[1])):
            counts.append(callgrind.dump_total(Path(path)))
    print(f"async url pieces: instructions per iteration (callgrind, {LONG} - {SHORT} iterations, no network)")
    for index, name in enumerate(names):
        # dumps: one at the start, then per piece: warm-up, short batch, warm-up, long batch
        short, long = counts[1 + 4 * index + 1], counts[1 + 4 * index + 3]
        print(f"  {name:<14} {(long - short) / (LONG - SHORT):10,.0f}  {described[name]}")


if __name__ == "__main__":
    main(sys.argv[1:])
