"""
Every installed provider's requests, sent through the three transports to a recording server on
127.0.0.1: sync (httpx), async on aiohttp, async on httpx's pool. The bytes that arrive are the
same on all three and are the request the plugin built (method, raw path with its
percent-encoding, query, headers, body). Bedrock's SigV4 signature is checked with botocore over
the path exactly as it arrived.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pixmux import PixmuxError
from pixmux._transport import AsyncTransport, SyncTransport
from pixmux.testing import make_engine
from sigv4_support import signature_holds
from test_robustness_providers import KEY, installed_providers, plugin, targets

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core" / "tests"))
from wire_server import WireServer, wire_server

AWS_KEY_ID = "AKIAWIREMATRIX000000"
AWS_SECRET = "wire-matrix-secret-key-0123456789abcdefgh"

#: Model ids whose characters a transport may re-encode: ``:`` and ARNs with ``/`` (Bedrock),
#: ``@`` (Vertex), ``/`` (Nscale), and Azure deployment names with dots.
AWKWARD: list[tuple[str, str, dict[str, Any]]] = [
    ("bedrock", "amazon.nova-canvas-v1:0", {}),
    ("bedrock", "stability.sd3-5-large-v1:0", {}),
    (
        "bedrock",
        "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/us.amazon.nova-canvas-v1:0",
        {"base_model": "amazon.nova-canvas-v1:0"},
    ),
    ("vertex_ai", "imagegeneration@006", {}),
    ("nscale", "black-forest-labs/FLUX.1-schnell", {}),
    ("azure", "gpt-image-1.5.eu-west", {"base_model": "gpt-image-1.5", "api_version": "2025-04-01-preview"}),
]


@pytest.fixture(scope="module")
def server() -> Iterator[WireServer]:
    with wire_server() as running:
        yield running


def through_all_three(server: WireServer, requests: list[httpx.Request]) -> dict[str, list[bytes]]:
    """Send each request on each transport; what arrived, per transport, in order."""
    arrived: dict[str, list[bytes]] = {}
    sync = SyncTransport()
    server.take()
    for request in requests:
        sync.send(request, time.monotonic() + 10)
    sync.close()
    arrived["sync"] = server.take()

    async def run(kind: Any) -> None:
        transport = AsyncTransport(kind=kind)
        for request in requests:
            await transport.send(request, time.monotonic() + 10)
        await transport.aclose()

    for kind in ("aiohttp", "httpx"):
        asyncio.run(run(kind))
        arrived[kind] = server.take()
    return arrived


def built(name: str, model: str, kwargs: dict[str, Any], api_base: str) -> list[httpx.Request]:
    """The requests provider ``name``'s plugin builds for ``model`` through the engine (validation, auth, build)."""
    engine = make_engine(plugin(name), handler=lambda r: httpx.Response(500), names=[name])
    call = engine.prepare(prompt="a lighthouse at dusk", model=f"{name}/{model}", **{**kwargs, "api_base": api_base})
    auth = engine._resolve_auth(call)
    made = call.provider.call(
        "build_request", request=call.request, deployment=call.deployment, model=call.info, auth=auth
    )
    return [made] if isinstance(made, httpx.Request) else list(made)


def credentials(name: str) -> dict[str, Any]:
    """Credentials that make each plugin build a real request: SigV4 keys for Bedrock, a key for the rest."""
    if name == "bedrock":
        return {"aws_access_key_id": AWS_KEY_ID, "aws_secret_access_key": AWS_SECRET, "aws_region_name": "us-east-1"}
    return {"api_key": KEY}


@pytest.mark.filterwarnings("ignore::pixmux.PixmuxWarning")
@pytest.mark.parametrize("name", installed_providers())
def test_every_catalogue_model_arrives_byte_identical_on_every_transport(server: WireServer, name: str) -> None:
    """Each catalogue model's request arrives the same on all three transports, as the plugin built it."""
    found = targets(name)
    assert found, f"{name}: no model builds a request"
    sent: list[tuple[str, httpx.Request]] = []
    for target in found:
        kwargs = {k: v for k, v in target.kwargs if k not in ("api_key", "api_base")}
        kwargs.update(credentials(name))
        sent.extend((str(target), request) for request in built(name, target.model, kwargs, f"{server.base}/{name}"))
    arrived = through_all_three(server, [request for _, request in sent])
    assert len(arrived["sync"]) == len(sent)
    for index, (target, request) in enumerate(sent):
        raw = arrived["sync"][index]
        assert raw == arrived["aiohttp"][index] == arrived["httpx"][index], target
        assert request.url.raw_path in raw.split(b"\r\n", 1)[0], f"{target}: the path changed on the way"
        assert raw.endswith(request.read()), f"{target}: the body changed on the way"
        if name == "bedrock":
            assert signature_holds(arrived["aiohttp"][index], AWS_SECRET), target


@pytest.mark.filterwarnings("ignore::pixmux.PixmuxWarning")
@pytest.mark.parametrize(("name", "model", "extra"), AWKWARD, ids=[f"{n}/{m}" for n, m, _ in AWKWARD])
def test_awkward_model_ids_keep_their_encoding_on_every_transport(
    server: WireServer, name: str, model: str, extra: dict[str, Any]
) -> None:
    """``:``, ``/`` in ARNs, ``@`` and dotted deployments arrive exactly as built; Bedrock's signature holds."""
    if name not in installed_providers():
        pytest.skip(f"{name} is not installed")
    settings = {"vertex_ai_project": "p", "vertex_ai_location": "us-central1"} if name == "vertex_ai" else {}
    try:
        requests = built(name, model, {**credentials(name), **settings, **extra}, f"{server.base}/{name}")
    except PixmuxError as exc:  # the case itself must build, or it tests nothing
        pytest.fail(f"{name}/{model} does not build: {exc}")
    arrived = through_all_three(server, requests)
    assert arrived["sync"] == arrived["aiohttp"] == arrived["httpx"]
    for request, raw in zip(requests, arrived["sync"], strict=True):
        assert request.url.raw_path in raw.split(b"\r\n", 1)[0]
    if name == "bedrock":
        assert b"%3A" in arrived["aiohttp"][0].split(b"\r\n", 1)[0]
        for kind in ("sync", "aiohttp", "httpx"):
            assert all(signature_holds(raw, AWS_SECRET) for raw in arrived[kind]), kind
