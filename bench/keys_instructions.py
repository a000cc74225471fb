"""
What virtual keys and budgets cost the gateway per request, in instructions: steady on a busy machine.

Run: ``uv run python bench/keys_instructions.py`` (needs valgrind; PostgreSQL too for its
lines; ``--db sqlite`` or ``--db postgresql`` for one engine; about ten minutes an engine on a
quiet machine, far longer on a busy one).

One gateway in process (``create_app``, the OpenAI plugin behind ``url``, its upstream an
``httpx.MockTransport`` answering OpenAI's body, requests through ``httpx.ASGITransport``, 16 in
flight) runs under ``valgrind --tool=callgrind`` twice per line, with a short and a long batch
of requests after the same warm-up; the difference of the two totals divided by the difference
in requests is the cost of one request, start-up and warm-up cancelled out. Budget blocks'
timings (resize every second, give back after half a second idle) are stretched by
:data:`SLOWDOWN`, as valgrind stretches everything else. Every spend row is
written (``flush``) before a run ends, so the batch writer's work is counted; the database
server's is not (PostgreSQL runs outside valgrind, and its CPU is in ``bench/keys.py``).
Lines: the master key on a gateway without accounting (the floor); a virtual key without a
budget; a key with a budget served from the process's budget block (the default); the same key
with ``budget_blocks: false`` (one database reservation per request). Prints figures; never
passes or fails.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import callgrind

ROOT = Path(__file__).resolve().parents[1]
SHORT, LONG = 100, 300
CONCURRENCY = 16
MASTER = "sk-bench-master"
PRICE = 0.167  # gpt-image-1, 1024x1024, high: what a budgeted request reserves
LINES = ("master key", "no budget", "budget, blocks", "budget, per request")
#: About how much slower code runs under callgrind: a block's resize every LIFETIME seconds of
#: wall time would otherwise be counted some fifty times too often per request.
SLOWDOWN = 50


def _answer(request: Any) -> Any:
    import httpx

    body = {"created": 1713833628, "data": [{"url": "https://images.example/otter.png"}]}
    return httpx.Response(200, json=body, headers={"content-type": "application/json"})


def run(line: str, database_url: str, calls: int) -> None:
    """One counted run: a gateway, a warm-up, then ``calls`` requests, every row written."""
    import httpx
    import pixmux_openai.provider
    from pixmux.proxy import create_app, parse_config
    from pixmux.testing import make_engine

    general: dict[str, Any] = {"master_key": MASTER, "proxy_batch_write_at": 1}
    if line != "master key":
        general.update(database_url=database_url, spend_journal_dir=str(Path(tempfile.mkdtemp()) / "journal"))
    if line == "budget, per request":
        general["budget_blocks"] = False
    config = {
        "model_list": [
            {
                "model_name": "url",
                "litellm_params": {
                    "model": "openai/gpt-image-1",
                    "api_base": "http://upstream.test/v1",
                    "api_key": "sk-up",
                },
            }
        ],
        "general_settings": general,
    }
    gateway = create_app(
        parse_config(config, path="bench.yaml", environ={}),
        engine=make_engine(pixmux_openai.provider, handler=_answer),
    )
    body = {"model": "url", "prompt": "a cute baby sea otter"}
    blocks = None if gateway.accounting is None else gateway.accounting.blocks
    if blocks is not None:  # block upkeep runs by the clock: slow it as valgrind slows everything else
        blocks.lifetime *= SLOWDOWN
        blocks.idle *= SLOWDOWN

    async def main() -> None:
        transport = httpx.ASGITransport(app=gateway)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            key = MASTER
            if line != "master key":
                extra = {"max_budget": 1e8} if line.startswith("budget") else {}
                created = await client.post("/key/generate", headers={"Authorization": f"Bearer {MASTER}"}, json=extra)
                created.raise_for_status()
                key = created.json()["key"]
            headers = {"Authorization": f"Bearer {key}"}
            gate = asyncio.Semaphore(CONCURRENCY)

            async def one() -> None:
                async with gate:
                    answer = await client.post("/v1/images/generations", json=body, headers=headers)
                    if answer.status_code != 200:
                        raise RuntimeError(f"{line}: {answer.status_code} {answer.text[:300]}")

            await asyncio.gather(*(one() for _ in range(100)))  # warm-up: caches, pools, the first block
            await asyncio.gather(*(one() for _ in range(calls)))
            if gateway.accounting is not None:
                await gateway.accounting.flush()
                await gateway.accounting.stop()

    asyncio.run(main())


def count(line: str, database_url: str, calls: int) -> int:
    """Instructions callgrind counted for a whole run of ``calls`` requests."""
    return callgrind.counted_run([__file__, "--run", json.dumps([line, database_url, calls])], what=line)


def measure(engine: str, new_database: Any) -> None:
    per_request: dict[str, float] = {}
    for line in LINES:
        totals = [count(line, new_database(), calls) for calls in (LONG, SHORT)]
        per_request[line] = (totals[0] - totals[1]) / (LONG - SHORT)
    floor = per_request["master key"]
    print(f"\n{engine}: instructions per request (callgrind, {LONG} - {SHORT} requests, {CONCURRENCY} in flight)")
    for line, instructions in per_request.items():
        added = "" if line == "master key" else f"   accounting adds {instructions - floor:10,.0f}"
        print(f"  {line:<22}{instructions:12,.0f}  {instructions / floor:5.2f}x{added}")


def main(argv: list[str]) -> None:
    if argv[:1] == ["--run"]:
        line, database_url, calls = json.loads(argv[1])
        run(line, database_url, int(calls))
        return
    if not callgrind.available():
        print("valgrind is not installed (apt-get install valgrind); nothing measured")
        return
    engines = {"sqlite", "postgresql"}
    if argv[:1] == ["--db"] and len(argv) > 1:
        engines = {argv[1]}
    scratch = Path(tempfile.mkdtemp(prefix="pixmux-keys-instr-"))
    made = iter(range(1_000_000))
    if "sqlite" in engines:
        measure("sqlite", lambda: f"sqlite:///{scratch / f'bench-{next(made)}.db'}")
    if "postgresql" not in engines:
        return
    sys.path.insert(0, str(ROOT / "tests" / "gateway"))
    from keys_support import PostgresServer, _pg_bin  # type: ignore[import-not-found]

    bindir = _pg_bin()
    if bindir is None:
        print("\npostgresql: not installed (Debian's postgresql); skipped")
        return
    server = PostgresServer(bindir)
    server.start()
    try:
        measure("postgresql", server.create)
    finally:
        server.stop()
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
