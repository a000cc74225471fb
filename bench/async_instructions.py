"""
The async url benchmark counted in instructions instead of seconds: stable on a busy machine.

Run: ``uv run python bench/async_instructions.py`` (needs valgrind; about 5 minutes). Name sides
(``... async_instructions.py pixmux``) to count only those; ratios need ``bare`` among them.

Each side (pixmux's ``aimage_generation``, bare aiohttp, and between them the floor of the plugin
contract: the same call as an ``httpx.Request`` sent through pixmux's aiohttp transport and read
back as an ``httpx.Response``, as ``core_bench.py layers`` times it; 32 calls in flight, the same
mock server as ``core_bench.py`` in its own process, which is not counted) runs under
``valgrind --tool=callgrind`` twice, with a short and a long batch of calls after the same
warm-up; the difference of the two totals divided by the difference in calls is the cost of
one call, start-up and warm-up cancelled out. Instructions are not time (cache misses and
waits are not in them), but on this benchmark, where the client's CPU sets the pace, their
ratio has tracked the timed ratio to within a few hundredths, and unlike time it does not move
when another process shares the machine. Prints figures; never passes or fails.
"""

from __future__ import annotations

import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import callgrind
import core_bench  # the benchmark's own mock server and constants

SHORT, LONG = 300, 1300
CONCURRENCY = 32


def run_side(side: str, api_base: str, calls: int) -> None:
    """One counted run: warm up, then make ``calls`` calls with ``side`` (``pixmux``, ``floor`` or ``bare``)."""
    import time

    import aiohttp
    import httpx
    import pixmux
    from pixmux._transport import AsyncTransport

    url = f"{api_base}/images/generations"
    endpoint = httpx.URL(url)
    payload = {"model": "dall-e-3", "prompt": core_bench.PROMPT, "n": 1, "size": "1024x1024"}
    headers = {"Authorization": f"Bearer {core_bench.KEY}"}

    async def main() -> None:
        transport = AsyncTransport(kind="aiohttp")
        async with aiohttp.ClientSession() as session:

            async def bare() -> None:
                async with session.post(url, json=payload, headers=headers) as response:
                    response.raise_for_status()
                    await response.json()

            async def ours() -> None:
                await pixmux.aimage_generation(
                    prompt=core_bench.PROMPT,
                    model="dall-e-3",
                    n=1,
                    size="1024x1024",
                    api_base=api_base,
                    api_key=core_bench.KEY,
                )

            async def floor() -> None:
                request = httpx.Request("POST", endpoint, headers=headers, json=payload)
                response = await transport.send(request, time.monotonic() + 600.0)
                response.raise_for_status()
                response.json()

            func = {"pixmux": ours, "floor": floor, "bare": bare}[side]
            await core_bench._concurrently(func, CONCURRENCY * 2, CONCURRENCY)
            await core_bench._concurrently(func, calls, CONCURRENCY)
        await transport.aclose()

    asyncio.run(main())


def count(side: str, api_base: str, calls: int) -> int:
    """Instructions callgrind counted for a whole run of ``calls`` calls."""
    return callgrind.counted_run([__file__, "--side", side, api_base, str(calls)], what=f"{side} side")


def main(argv: list[str]) -> None:
    """Count each side and print instructions per call, their ratio to bare aiohttp, and pixmux above the floor."""
    if argv[:1] == ["--side"]:
        run_side(argv[1], argv[2], int(argv[3]))
        return
    sides = [side for side in ("bare", "floor", "pixmux") if side in argv] or ["bare", "floor", "pixmux"]
    if not callgrind.available():
        print("valgrind is not installed (apt-get install valgrind); nothing measured")
        return
    print(f"async url, {CONCURRENCY} concurrent: instructions per call (callgrind, {LONG} - {SHORT} calls)")
    with core_bench.Server() as server:
        api_base = server.api_base("url")
        per_call = {}
        for side in sides:
            per_call[side] = (count(side, api_base, LONG) - count(side, api_base, SHORT)) / (LONG - SHORT)
    bare = per_call.get("bare")
    for side, instructions in per_call.items():
        ratio = f"  {instructions / bare:5.2f}x" if bare else ""
        target = "  (target <= 1.50x)" if side == "pixmux" and bare else ""
        print(f"  {side:<8} {instructions:10,.0f}{ratio}{target}")
    if "floor" in per_call and "pixmux" in per_call:
        added = per_call["pixmux"] - per_call["floor"]
        share = f", {added / bare * 100:.0f}% of a bare aiohttp call" if bare else ""
        print(f"  pixmux above the floor (httpx types on aiohttp): {added:,.0f} instructions per call{share}")


if __name__ == "__main__":
    main(sys.argv[1:])
