"""
Core overhead benchmarks: pixmux against the bare HTTP client doing the same request.

Run: ``uv run python bench/core_bench.py [sync|async|import|layers|all]`` (default ``all``, under
2 minutes; ``layers`` is not part of ``all``).

A mock of OpenAI's ``POST /v1/images/generations`` runs in its own process on 127.0.0.1
(aiohttp.web), answering either a small DALL-E-style url body or a ~1.5 MB GPT-image b64
body. Every figure is a ratio measured in the same run, rounds of A and B interleaved so
drift hits both alike:

- sync: per-call time of ``pixmux.image_generation`` against ``httpx.Client.post`` + ``.json()``;
- async: 32 concurrent ``pixmux.aimage_generation`` against bare aiohttp (``session.post`` + ``.json()``);
- import: ``import pixmux`` (and its first real use) against ``import httpx``, in fresh
  interpreters, and resident memory after each.

It prints figures and never passes or fails on time.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

HOST = "127.0.0.1"
PROMPT = "A cute baby sea otter"
KEY = "sk-bench-not-a-real-key"
#: ~1.5 MB of base64, as one 1024x1024 GPT-image PNG comes back.
B64_BYTES = 1_125_000


def _bodies() -> dict[str, bytes]:
    png = os.urandom(B64_BYTES)
    b64 = base64.b64encode(png).decode()
    return {
        "url": json.dumps(
            {
                "created": 1_698_116_662,
                "data": [
                    {
                        "url": "https://images.example/private/org-x/img-0123456789.png?st=2025-01-01&se=2025-01-01&sp=r",
                        "revised_prompt": "A small sea otter pup floating on its back in calm blue water.",
                    }
                ],
            }
        ).encode(),
        "b64": json.dumps(
            {
                "created": 1_713_833_628,
                "data": [{"b64_json": b64}],
                "background": "opaque",
                "output_format": "png",
                "quality": "high",
                "size": "1024x1024",
                "usage": {
                    "input_tokens": 50,
                    "input_tokens_details": {"text_tokens": 50, "image_tokens": 0},
                    "output_tokens": 4160,
                    "total_tokens": 4210,
                },
            }
        ).encode(),
    }


# --------------------------------------------------------------------------- the mock server


def serve(port_file: str) -> None:
    """Run the mock images endpoint (in its own process); write the port to ``port_file``."""
    from aiohttp import web

    bodies = _bodies()

    async def generate(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=bodies[request.match_info["kind"]], content_type="application/json")

    async def main() -> None:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_post("/{kind}/v1/images/generations", generate)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, HOST, 0, backlog=1024)
        await site.start()
        port = runner.addresses[0][1]
        with open(port_file, "w", encoding="utf-8") as handle:
            handle.write(str(port))
        await asyncio.Event().wait()

    asyncio.run(main())


class Server:
    """The mock server's process, started and stopped around the benchmarks."""

    def __enter__(self) -> Server:
        import tempfile

        self._dir = tempfile.mkdtemp()
        port_file = os.path.join(self._dir, "port")
        self.process = subprocess.Popen([sys.executable, __file__, "serve", port_file])
        deadline = time.monotonic() + 30
        while not os.path.exists(port_file) or not open(port_file, encoding="utf-8").read():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("the mock server did not start")
            time.sleep(0.05)
        self.base = f"http://{HOST}:{open(port_file, encoding='utf-8').read()}"
        return self

    def api_base(self, kind: str) -> str:
        """The OpenAI-style base URL serving the ``url`` or ``b64`` body."""
        return f"{self.base}/{kind}/v1"

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


#: (body kind, model): DALL-E answers with a url, GPT image with base64.
CASES = (("url", "dall-e-3"), ("b64", "gpt-image-1"))


def _ratio_line(label: str, ours: float, bare: float, unit: str, target: float) -> str:
    ratio = ours / bare
    return (
        f"  {label:<24} pixmux {ours:8.3f} {unit}  bare {bare:8.3f} {unit}  ratio {ratio:5.2f}x"
        f"  (target <= {target:.2f}x)"
    )


# --------------------------------------------------------------------------- sync


def bench_sync(server: Server, *, seconds: float = 12.0) -> list[str]:
    """Per-call time of pixmux.image_generation against httpx.Client.post + .json(), interleaved rounds."""
    import httpx
    import pixmux

    lines = ["sync: per call (median of interleaved rounds)"]
    for kind, model in CASES:
        api_base = server.api_base(kind)
        url = f"{api_base}/images/generations"
        payload = {"model": model, "prompt": PROMPT, "n": 1, "size": "1024x1024"}
        client = httpx.Client(timeout=600)
        headers = {"Authorization": f"Bearer {KEY}"}

        def bare(
            client: httpx.Client = client, url: str = url, payload: dict[str, Any] = payload, headers: Any = headers
        ) -> None:
            response = client.post(url, json=payload, headers=headers)
            response.raise_for_status()
            response.json()

        def ours(model: str = model, api_base: str = api_base) -> None:
            pixmux.image_generation(prompt=PROMPT, model=model, n=1, size="1024x1024", api_base=api_base, api_key=KEY)

        per_round = 40 if kind == "url" else 12
        for _ in range(per_round):  # warm both pools and every lazy import
            bare()
            ours()
        ours_times: list[float] = []
        bare_times: list[float] = []
        stop = time.monotonic() + seconds / len(CASES)
        while time.monotonic() < stop or len(ours_times) < 5:
            for func, out in ((bare, bare_times), (ours, ours_times)):
                started = time.perf_counter()
                for _ in range(per_round):
                    func()
                out.append((time.perf_counter() - started) / per_round)
        client.close()
        ours_ms = statistics.median(ours_times) * 1000
        bare_ms = statistics.median(bare_times) * 1000
        lines.append(_ratio_line(f"{kind} body ({model})", ours_ms, bare_ms, "ms", 1.10))
    return lines


# --------------------------------------------------------------------------- async


async def _concurrently(func: Callable[[], Awaitable[None]], total: int, concurrency: int) -> float:
    """Seconds to make ``total`` calls with ``concurrency`` in flight."""
    left = total

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await func()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


def bench_async(server: Server, *, seconds: float = 24.0, concurrency: int = 32) -> list[str]:
    """32 concurrent pixmux.aimage_generation against bare aiohttp, interleaved rounds."""
    import aiohttp
    import pixmux
    from pixmux._transport import choose_async_kind

    backend = choose_async_kind()
    lines = [f"async: {concurrency} concurrent, per call (median of interleaved rounds); pixmux transport: {backend}"]

    async def run() -> None:
        for kind, model in CASES:
            api_base = server.api_base(kind)
            url = f"{api_base}/images/generations"
            payload = {"model": model, "prompt": PROMPT, "n": 1, "size": "1024x1024"}
            headers = {"Authorization": f"Bearer {KEY}"}
            total = 640 if kind == "url" else 128
            async with aiohttp.ClientSession() as session:

                async def bare(
                    session: aiohttp.ClientSession = session,
                    url: str = url,
                    payload: dict[str, Any] = payload,
                    headers: Any = headers,
                ) -> None:
                    async with session.post(url, json=payload, headers=headers) as response:
                        response.raise_for_status()
                        await response.json()

                async def ours(model: str = model, api_base: str = api_base) -> None:
                    await pixmux.aimage_generation(
                        prompt=PROMPT, model=model, n=1, size="1024x1024", api_base=api_base, api_key=KEY
                    )

                await _concurrently(bare, concurrency * 2, concurrency)
                await _concurrently(ours, concurrency * 2, concurrency)
                ours_times: list[float] = []
                bare_times: list[float] = []
                stop = time.monotonic() + seconds / len(CASES)
                while time.monotonic() < stop or len(ours_times) < 3:
                    bare_times.append(await _concurrently(bare, total, concurrency) / total)
                    ours_times.append(await _concurrently(ours, total, concurrency) / total)
            ours_ms = statistics.median(ours_times) * 1000
            bare_ms = statistics.median(bare_times) * 1000
            lines.append(_ratio_line(f"{kind} body ({model})", ours_ms, bare_ms, "ms", 1.50))

    asyncio.run(run())
    return lines


def bench_layers(server: Server, *, rounds: int = 7, concurrency: int = 32) -> list[str]:
    """
    Where the async url call's time goes: bare aiohttp, the same call wrapped in httpx types, pixmux.

    The middle line is the floor of the plugin contract: an ``httpx.Request`` (URL parsed once)
    sent through pixmux's aiohttp transport (``pixmux._transport``) and read back as an
    ``httpx.Response``, no exchange. The last line says what pixmux adds above that floor.
    """
    import aiohttp
    import httpx
    import pixmux
    from pixmux._transport import AsyncTransport

    api_base = server.api_base("url")
    url = f"{api_base}/images/generations"
    endpoint = httpx.URL(url)
    payload = {"model": "dall-e-3", "prompt": PROMPT, "n": 1, "size": "1024x1024"}
    headers = {"Authorization": f"Bearer {KEY}"}
    total = 640
    found: dict[str, list[float]] = {"bare aiohttp": [], "httpx types on aiohttp": [], "pixmux": []}

    async def run() -> None:
        transport = AsyncTransport(kind="aiohttp")
        async with aiohttp.ClientSession() as session:

            async def bare() -> None:
                async with session.post(url, json=payload, headers=headers) as response:
                    response.raise_for_status()
                    await response.json()

            async def wrapped() -> None:
                request = httpx.Request("POST", endpoint, headers=headers, json=payload)
                response = await transport.send(request, time.monotonic() + 600.0)
                response.raise_for_status()
                response.json()

            async def ours() -> None:
                await pixmux.aimage_generation(
                    prompt=PROMPT, model="dall-e-3", n=1, size="1024x1024", api_base=api_base, api_key=KEY
                )

            funcs = {"bare aiohttp": bare, "httpx types on aiohttp": wrapped, "pixmux": ours}
            for func in funcs.values():
                await _concurrently(func, concurrency * 2, concurrency)
            for _ in range(rounds):
                for name, func in funcs.items():
                    found[name].append(await _concurrently(func, total, concurrency) / total)
        await transport.aclose()

    asyncio.run(run())
    bare_us = statistics.median(found["bare aiohttp"]) * 1e6
    lines = [f"layers: async url body, {concurrency} concurrent, per call (median of {rounds} interleaved rounds)"]
    for name, times in found.items():
        us = statistics.median(times) * 1e6
        lines.append(f"  {name:<24} {us:8.1f} us  {us / bare_us:5.2f}x")
    added = (statistics.median(found["pixmux"]) - statistics.median(found["httpx types on aiohttp"])) * 1e6
    lines.append(f"  pixmux above the floor   {added:8.1f} us  (target <= 15 us)")
    return lines


# --------------------------------------------------------------------------- import


_IMPORT_PROBE = """
import sys, time, json
def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
base = rss_mb()
t = time.perf_counter()
exec(sys.argv[1])
elapsed = time.perf_counter() - t
print(json.dumps({"seconds": elapsed, "rss": rss_mb(), "base_rss": base}))
"""

IMPORTS = {
    "import httpx": "import httpx",
    "import pixmux": "import pixmux",
    "import pixmux + first use": "import pixmux; pixmux.image_generation; pixmux.Engine",
    "... + OpenAI plugin loaded": "import pixmux; pixmux.default_engine().registry.get('openai')",
}


def _probe(code: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-X", "frozen_modules=on", "-c", _IMPORT_PROBE, code],
        capture_output=True,
        text=True,
        check=True,
    )
    found: dict[str, float] = json.loads(done.stdout)
    return found


def bench_import(*, rounds: int = 15) -> list[str]:
    """Import time (in a fresh interpreter, measured inside it) and RSS after import."""
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in IMPORTS}
    for _ in range(rounds):  # interleaved, so disk cache and CPU state hit each alike
        for name, code in IMPORTS.items():
            samples[name].append(_probe(code))
    httpx_ms = statistics.median(s["seconds"] for s in samples["import httpx"]) * 1000
    lines = [
        f"import: fresh interpreter, median of {rounds}; interpreter alone is "
        f"{statistics.median(s['base_rss'] for s in samples['import httpx']):.1f} MB RSS"
    ]
    for name, found in samples.items():
        ms = statistics.median(s["seconds"] for s in found) * 1000
        rss = statistics.median(s["rss"] for s in found)
        target = "  (target <= 1.50x)" if name == "import pixmux" else ""
        lines.append(f"  {name:<30} {ms:7.1f} ms  {ms / httpx_ms:5.2f}x httpx  RSS {rss:6.1f} MB{target}")
    return lines


def main(argv: list[str]) -> None:
    """Run the benchmarks named on the command line (default: all)."""
    if argv[:1] == ["serve"]:
        serve(argv[1])
        return
    which = set(argv) or {"all"}
    started = time.monotonic()
    print(f"pixmux core benchmarks  (python {sys.version.split()[0]}, {os.cpu_count()} CPUs)")
    if which & {"import", "all"}:
        print("\n".join(bench_import()))
    if which & {"sync", "async", "layers", "all"}:
        with Server() as server:
            if which & {"sync", "all"}:
                print("\n".join(bench_sync(server)))
            if which & {"async", "all"}:
                print("\n".join(bench_async(server)))
            if which & {"layers"}:
                print("\n".join(bench_layers(server)))
    print(f"(took {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main(sys.argv[1:])
