"""
Fault tolerance of ``pixmux.Router`` against local mock providers that fail on purpose.

A small aiohttp server, started in its own process on 127.0.0.1, plays several OpenAI-shaped
providers at once (one per path prefix), each in a mode the bench sets while it runs:

- ``ok``: answers every request with one image;
- ``flaky``: 30 % of requests get a 500, 10 % a 429 (half of them with ``Retry-After: 1``);
- ``down``: every request gets a 503;
- ``hang``: never answers (the request is held for 60 s).

It counts requests per provider and per prompt (each call has its own prompt), so the bench
can check that no call was sent more often than ``1 + num_retries`` allows.

Scenarios (sync runs use a thread pool, async runs ``asyncio.gather`` with a concurrency cap):

1. two deployments of one model, one ``flaky``: 2,000 calls; success rate, most requests per call;
2. one deployment ``down``, then recovering: requests it got while down, its share after;
3. one deployment ``hang`` (deployment timeout 0.5 s): calls cut and served elsewhere.

Run: ``uv run python bench/router_fault_tolerance.py [--calls 2000] [--concurrency 64]``.
Figures only: nothing here passes or fails on time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import random
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pixmux_openai.provider as openai_provider
from aiohttp import web
from pixmux import Engine, PixmuxError, Router

TINY_PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP43+AAAARBAcAM0e2RAAAAAElFTkSuQmCC"
KEY = "sk-bench-not-a-real-key"

# --------------------------------------------------------------------------- the mock providers (own process)


def _serve(port_out: Any) -> None:
    modes: dict[str, str] = {}
    hits: Counter[str] = Counter()
    per_prompt: Counter[str] = Counter()
    rng = random.Random(8)  # failure injection, not security
    ok_body = json.dumps({"created": 1713833628, "data": [{"b64_json": TINY_PNG_B64}]})
    server_error = json.dumps({"error": {"message": "injected server error", "type": "server_error", "code": None}})
    rate_limit = json.dumps(
        {"error": {"message": "injected rate limit", "type": "requests", "code": "rate_limit_exceeded"}}
    )

    async def generate(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        body = await request.json()
        hits[name] += 1
        per_prompt[str(body.get("prompt"))] += 1
        mode = modes.get(name, "ok")
        if mode == "hang":
            await asyncio.sleep(60)
        if mode == "down":
            return web.Response(status=503, text=server_error, content_type="application/json")
        if mode == "flaky":
            roll = rng.random()
            if roll < 0.30:
                return web.Response(status=500, text=server_error, content_type="application/json")
            if roll < 0.40:
                headers = {"Retry-After": "1"} if roll < 0.35 else {}
                return web.Response(status=429, text=rate_limit, content_type="application/json", headers=headers)
        return web.Response(text=ok_body, content_type="application/json")

    async def control(request: web.Request) -> web.Response:
        modes.update(await request.json())
        return web.json_response(modes)

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({"hits": hits, "max_per_prompt": max(per_prompt.values(), default=0)})

    async def reset(request: web.Request) -> web.Response:
        hits.clear()
        per_prompt.clear()
        modes.clear()
        return web.json_response({})

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/{name}/v1/images/generations", generate)
        app.router.add_post("/_control", control)
        app.router.add_get("/_stats", stats)
        app.router.add_post("/_reset", reset)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port_out.put(runner.addresses[0][1])
        await asyncio.Event().wait()

    asyncio.run(main())


class Providers:
    """Control of the mock provider process."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        self.process = context.Process(target=_serve, args=(queue,), daemon=True)
        self.process.start()
        self.base = f"http://127.0.0.1:{queue.get(timeout=30)}"
        self.http = httpx.Client(base_url=self.base, timeout=10)

    def set(self, **modes: str) -> None:
        self.http.post("/_control", json=modes).raise_for_status()

    def reset(self) -> None:
        self.http.post("/_reset").raise_for_status()

    def stats(self) -> dict[str, Any]:
        found: dict[str, Any] = self.http.get("/_stats").json()
        return found

    def close(self) -> None:
        self.http.close()
        self.process.terminate()
        self.process.join(5)


# --------------------------------------------------------------------------- running calls


def deployment(base: str, name: str, group: str = "img", **params: Any) -> dict[str, Any]:
    return {
        "model_name": group,
        "litellm_params": {"model": "openai/gpt-image-1", "api_base": f"{base}/{name}/v1", "api_key": KEY, **params},
        "model_info": {"id": name},
    }


class Outcome:
    """Per-call results of one run."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors: Counter[str] = Counter()
        self.served: Counter[str] = Counter()
        self.attempts: Counter[int] = Counter()
        self.lock = threading.Lock()
        self.wall = 0.0

    def ok(self, metadata: Any, elapsed: float) -> None:
        with self.lock:
            self.latencies.append(elapsed)
            self.served[str(metadata["deployment"])] += 1
            self.attempts[int(metadata["attempts"])] += 1

    def failed(self, error: PixmuxError) -> None:
        with self.lock:
            self.errors[f"{type(error).__name__}({error.status_code})"] += 1

    @property
    def calls(self) -> int:
        return len(self.latencies) + sum(self.errors.values())


def run_sync(router: Router, calls: int, threads: int, tag: str, model: str = "img") -> Outcome:
    outcome = Outcome()

    def one(index: int) -> None:
        started = time.perf_counter()
        try:
            response = router.image_generation(f"{tag}-{index}", model=model)
        except PixmuxError as exc:
            outcome.failed(exc)
            return
        outcome.ok(response.metadata, time.perf_counter() - started)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(one, range(calls)))
    outcome.wall = time.perf_counter() - started
    return outcome


def run_async(router: Router, calls: int, concurrency: int, tag: str, model: str = "img") -> Outcome:
    outcome = Outcome()

    async def main() -> None:
        gate = asyncio.Semaphore(concurrency)

        async def one(index: int) -> None:
            async with gate:
                started = time.perf_counter()
                try:
                    response = await router.aimage_generation(f"{tag}-{index}", model=model)
                except PixmuxError as exc:
                    outcome.failed(exc)
                    return
                outcome.ok(response.metadata, time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(one(index) for index in range(calls)))
        outcome.wall = time.perf_counter() - started
        await router.engine.aclose()

    asyncio.run(main())
    return outcome


def percentile(values: Sequence[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def report(title: str, outcome: Outcome, stats: dict[str, Any], router: Router, limit: int | None = None) -> None:
    success = len(outcome.latencies) / outcome.calls * 100 if outcome.calls else 0.0
    health = router.health()
    print(f"\n## {title}")
    print(f"  calls                {outcome.calls}  in {outcome.wall:.2f}s ({outcome.calls / outcome.wall:.0f}/s)")
    print(f"  succeeded            {len(outcome.latencies)}  ({success:.2f} %)")
    if outcome.errors:
        print(f"  errors               {dict(outcome.errors)}")
    print(f"  served by            {dict(sorted(outcome.served.items()))}")
    print(f"  provider requests    {dict(sorted(stats['hits'].items()))}")
    per_call = stats["max_per_prompt"]
    bound = f" (allowed: {limit})" if limit is not None else ""
    print(f"  most requests/call   {per_call}{bound}")
    print(f"  attempts per success {dict(sorted(outcome.attempts.items()))}")
    if outcome.latencies:
        print(
            f"  latency ms           p50 {statistics.median(outcome.latencies) * 1000:.1f}  "
            f"p99 {percentile(outcome.latencies, 0.99) * 1000:.1f}  max {max(outcome.latencies) * 1000:.1f}"
        )
    print("  cooldowns            " + ", ".join(f"{key}: {value.cooldowns}" for key, value in health.items()))
    if limit is not None and per_call > limit:
        print(f"  !! a call was sent {per_call} times, more than the {limit} allowed")


# --------------------------------------------------------------------------- scenarios


def new_engine() -> Engine:
    return Engine(plugins={"openai": openai_provider}, discover=False, environ={})


def flaky(providers: Providers, mode: str, calls: int, concurrency: int, **settings: Any) -> None:
    providers.reset()
    providers.set(a="flaky", b="ok")
    retries = 2
    router = Router(
        [deployment(providers.base, "a"), deployment(providers.base, "b")],
        engine=new_engine(),
        num_retries=retries,
        **settings,
    )
    if mode == "sync":
        outcome = run_sync(router, calls, concurrency, f"flaky-sync-{settings}")
    else:
        outcome = run_async(router, calls, concurrency, f"flaky-async-{settings}")
    label = ", ".join(f"{k}={v}" for k, v in settings.items()) or "default settings"
    report(
        f"flaky deployment (30% 500, 10% 429) + healthy one, {mode}, {concurrency} at once, "
        f"num_retries={retries}, {label}",
        outcome,
        providers.stats(),
        router,
        limit=1 + retries,
    )


def down_then_up(providers: Providers, mode: str, calls: int, concurrency: int) -> None:
    providers.reset()
    providers.set(a="down", b="ok")
    cooldown = 1.0
    router = Router(
        [deployment(providers.base, "a"), deployment(providers.base, "b")],
        engine=new_engine(),
        num_retries=2,
        allowed_fails=3,
        cooldown_time=cooldown,
    )
    run = run_sync if mode == "sync" else run_async
    down = run(router, calls, concurrency, f"down-{mode}")
    hits_down = providers.stats()["hits"]
    report(f"deployment a down (503s), {mode}: phase 1, a is down", down, providers.stats(), router, limit=3)
    providers.reset()
    providers.set(a="ok", b="ok")  # a recovers
    time.sleep(cooldown + 0.2)
    up = run(router, calls, concurrency, f"up-{mode}")
    hits_up = providers.stats()["hits"]
    report(f"deployment a down (503s), {mode}: phase 2, a recovered", up, providers.stats(), router, limit=3)
    share = hits_up.get("a", 0) / max(1, up.calls) * 100
    print(f"  => a got {hits_down.get('a', 0)} requests while down ({down.calls} calls), then {share:.0f} % after")


def hanging(providers: Providers, mode: str, calls: int, concurrency: int) -> None:
    providers.reset()
    providers.set(a="hang", b="ok")
    timeout = 0.5
    router = Router(
        [deployment(providers.base, "a", timeout=timeout), deployment(providers.base, "b", group="spare")],
        engine=new_engine(),
        num_retries=0,
        fallbacks=[{"img": ["spare"]}],
        cooldown_time=30,
    )
    run = run_sync if mode == "sync" else run_async
    outcome = run(router, calls, concurrency, f"hang-{mode}")
    report(
        f"deployment a hangs (timeout {timeout}s, fallback to group 'spare'), {mode}, {concurrency} at once",
        outcome,
        providers.stats(),
        router,
        limit=2,
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args(argv)
    providers = Providers()
    scenarios: list[Callable[[], None]] = [
        lambda: flaky(providers, "async", args.calls, args.concurrency),
        lambda: flaky(providers, "sync", args.calls, args.threads),
        lambda: flaky(providers, "async", args.calls, args.concurrency, disable_cooldowns=True),
        lambda: down_then_up(providers, "async", args.calls // 4, args.concurrency // 4),
        lambda: down_then_up(providers, "sync", args.calls // 4, args.threads // 2),
        lambda: hanging(providers, "async", args.calls // 10, args.concurrency),
        lambda: hanging(providers, "sync", args.calls // 20, args.threads),
    ]
    try:
        print(f"# pixmux router fault tolerance (mock providers at {providers.base})")
        for scenario in scenarios:
            scenario()
    finally:
        providers.close()


if __name__ == "__main__":
    main()
