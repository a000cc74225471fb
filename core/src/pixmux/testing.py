"""
What a plugin author needs to test a provider plugin in isolation.

- :func:`make_engine`: an :class:`~pixmux.Engine` holding only the plugins you pass, whose
  sync and async clients talk to an ``httpx.MockTransport`` handler; every request sent is
  recorded in ``engine.requests``.
- :func:`check_plugin`: the contract check every plugin should pass (our own test suite
  runs it over every installed plugin).
- :func:`load_json`: read a recorded provider body from a test's ``responses/`` folder.
- :func:`local_server`: a real HTTP server on 127.0.0.1 for the tests that need a socket
  (image downloads, timeouts, a token endpoint), with a ``BaseHTTPRequestHandler`` you write;
  :func:`reply` answers from such a handler.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import inspect
import json
import sys
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pluggy

from pixmux import hookspecs
from pixmux._engine import Engine
from pixmux.catalogue import Catalogue

__all__ = [
    "make_engine",
    "RecordingEngine",
    "check_plugin",
    "load_json",
    "json_response",
    "local_server",
    "reply",
    "TINY_PNG_B64",
]

#: A valid 1x1 PNG, base64-encoded: the smallest real image for response bodies.
TINY_PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP43+AAAARBAcAM0e2RAAAAAElFTkSuQmCC"

Handler = Callable[[httpx.Request], "httpx.Response | Awaitable[httpx.Response]"]


class RecordingEngine(Engine):
    """An engine on a mock transport; ``requests`` lists every request sent, in order."""

    requests: list[httpx.Request]


def make_engine(
    *plugins: object,
    handler: Handler,
    names: Iterable[str] | None = None,
    extensions: Iterable[object] = (),
    environ: Mapping[str, str] | None = None,
) -> RecordingEngine:
    """
    An engine holding only ``plugins``, answering every request with ``handler``.

    Args:
        plugins: provider plugins (modules or objects with hookimpls).
        handler: called with each ``httpx.Request``; returns an ``httpx.Response`` (sync or async).
        names: provider names for ``plugins``, in order; by default each plugin's catalogue names it.
        extensions: non-provider plugins that wrap every call.
        environ: the environment the engine reads credentials from (default: an empty one, so a
            developer's real keys never leak into tests).
    """
    recorded: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response | Awaitable[httpx.Response]:
        request.read()
        recorded.append(request)
        return handler(request)

    async def arecord(request: httpx.Request) -> httpx.Response:
        await request.aread()
        recorded.append(request)
        result = handler(request)
        if inspect.isawaitable(result):
            return await result
        return result

    def sync_record(request: httpx.Request) -> httpx.Response:
        result = record(request)
        if inspect.isawaitable(result):
            raise TypeError("make_engine: an async handler can only serve the async path")
        return result

    listed = list(names) if names is not None else [_provider_name(plugin) for plugin in plugins]
    engine = RecordingEngine(
        plugins=dict(zip(listed, plugins, strict=True)),
        extensions=extensions,
        discover=False,
        transport=httpx.MockTransport(sync_record),
        async_transport=httpx.MockTransport(arecord),
        environ={} if environ is None else environ,
    )
    engine.requests = recorded
    return engine


def _provider_name(plugin: object) -> str:
    catalogue = _catalogue(plugin)
    return catalogue.provider


def _catalogue(plugin: object) -> Catalogue:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    manager.register(plugin)
    catalogue = manager.hook.model_catalogue()
    if not isinstance(catalogue, Catalogue):
        raise TypeError(f"{plugin!r}: model_catalogue() must return a pixmux.catalogue.Catalogue")
    return catalogue


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> httpx.Response:
    """An ``httpx.Response`` with a JSON body, as a provider would send it."""
    return httpx.Response(status, json=body, headers=dict(headers or {}))


def load_json(name: str, *, folder: str | Path | None = None) -> Any:
    """
    Read ``responses/<name>`` beside the calling test file (or in ``folder``) as JSON.
    """
    if folder is None:
        caller = inspect.stack()[1].filename
        folder = Path(caller).parent / "responses"
    return json.loads((Path(folder) / name).read_text(encoding="utf-8"))


@contextlib.contextmanager
def local_server(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """
    Serve ``handler`` on 127.0.0.1 (a free port) while the ``with`` block runs; yields the base URL.

    The server is a ``ThreadingHTTPServer`` in a daemon thread (each request in its own daemon
    thread), so a handler that hangs never blocks the test run. On exit the server stops and its
    socket closes: later requests to the URL fail to connect.

    Example::

        with local_server(PngHandler) as url:
            assert ImageObject(url=f"{url}/img.png").bytes() == PNG
    """
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def reply(
    handler: http.server.BaseHTTPRequestHandler,
    status: int,
    body: Any,
    *,
    content_type: str | None = "application/json",
    headers: Mapping[str, str] | None = None,
) -> None:
    """
    Answer a :func:`local_server` request: ``status``, ``body`` with its ``Content-Length``, then done.

    ``body`` is sent as it is when it is ``bytes``, as JSON otherwise. ``content_type`` ``None``
    leaves the header to ``headers`` (sent after it, in order).
    """
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    handler.send_response(status)
    if content_type is not None:
        handler.send_header("content-type", content_type)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("content-length", str(len(payload)))
    handler.end_headers()
    handler.wfile.write(payload)


_REQUIRED = ("model_catalogue", "build_request", "parse_response")


def check_plugin(
    plugin: object,
    *,
    name: str | None = None,
    forbidden_imports: Iterable[str] = (),
    api_base: str | None = None,
    settings: Mapping[str, Any] | None = None,
) -> list[str]:
    """
    The contract every provider plugin must meet; returns the problems found (empty: passes).

    Checks that the plugin:

    - implements ``model_catalogue``, ``build_request`` and ``parse_response``, and each
      hookimpl names a real hook spec and only arguments that spec offers;
    - documents every hookimpl with a docstring;
    - returns a ``Catalogue`` whose ``provider`` matches ``name`` (the entry-point name) and
      whose models name themselves consistently;
    - builds, for every catalogue model that is not retired and every operation it lists
      (``generate``, ``edit``, ``variation``), an absolute-URL ``httpx.Request`` from a plain
      request (an edit or a variation carries one 1x1 PNG), without any network or environment access;
    - has not imported any module in ``forbidden_imports`` (another provider's plugin, say).

    Providers with no default endpoint (self-hosted servers, Azure) pass ``api_base``;
    ``settings`` adds deployment settings the plugin needs to build a request.
    """
    from pixmux.types import Deployment, ImageInput, ImageRequest

    tiny = ImageInput(data=base64.b64decode(TINY_PNG_B64), media_type="image/png", filename="tiny.png")

    problems: list[str] = []
    specs = {n: inspect.signature(getattr(hookspecs, n)).parameters for n in hookspecs.HOOK_NAMES}
    found: dict[str, Callable[..., Any]] = {}
    for attr in dir(plugin):
        value = getattr(plugin, attr, None)
        if callable(value) and hasattr(value, f"{hookspecs.PROJECT}_impl"):
            hook_name = getattr(value, f"{hookspecs.PROJECT}_impl").get("specname") or attr
            found[hook_name] = value
    for hook_name, impl in found.items():
        if hook_name not in specs:
            problems.append(f"hookimpl {hook_name!r} matches no hook spec (known: {', '.join(specs)})")
            continue
        extra = set(inspect.signature(impl).parameters) - set(specs[hook_name])
        if extra:
            problems.append(f"{hook_name} takes arguments the spec does not offer: {', '.join(sorted(extra))}")
        if not (impl.__doc__ or "").strip():
            problems.append(f"{hook_name} has no docstring")
    problems.extend(f"does not implement {hook}" for hook in _REQUIRED if hook not in found)
    if problems:
        return problems

    catalogue = found["model_catalogue"]()
    if not isinstance(catalogue, Catalogue):
        return ["model_catalogue() did not return a Catalogue"]
    if name is not None and catalogue.provider != name:
        problems.append(f"catalogue names provider {catalogue.provider!r}, entry point is {name!r}")
    for key, info in catalogue.models.items():
        if info.name != key:
            problems.append(f"catalogue key {key!r} holds ModelInfo named {info.name!r}")
        if info.retired:
            continue
        deployment = Deployment(
            provider=catalogue.provider,
            model=key,
            api_key="sk-contract-check",
            api_base=api_base,
            settings={**_contract_settings(catalogue), **(settings or {})},
        )
        accepted = inspect.signature(found["build_request"]).parameters
        for operation in sorted(info.operations):
            request = ImageRequest(
                prompt="" if operation == "variation" else "a lighthouse at dusk",
                model=key,
                operation=operation,  # type: ignore[arg-type]
                images=() if operation == "generate" else (tiny,),
            )
            what = repr(key) if operation == "generate" else f"{key!r} ({operation})"
            arguments = {"request": request, "deployment": deployment, "model": info, "auth": None}
            try:
                built = found["build_request"](**{k: v for k, v in arguments.items() if k in accepted})
            except Exception as exc:  # noqa: BLE001 - the check reports any failure as a problem
                problems.append(f"build_request failed for model {what}: {type(exc).__name__}: {exc}")
                continue
            for item in [built] if isinstance(built, httpx.Request) else list(built):
                if not isinstance(item, httpx.Request):
                    problems.append(f"build_request for {what} returned {type(item).__name__}, not httpx.Request")
                elif not item.url.is_absolute_url:
                    problems.append(f"build_request for {what} built a relative URL {item.url}")
    for module in forbidden_imports:
        if module in sys.modules:
            problems.append(f"importing the plugin imported {module}")
    return problems


def _contract_settings(catalogue: Catalogue) -> dict[str, Any]:
    # Settings a plugin needs to build a request without its environment (region, project, endpoint).
    settings: dict[str, Any] = {}
    for key in catalogue.settings:
        if "region" in key or "location" in key:
            settings[key] = "us-east-1" if "aws" in key else "us-central1"
        elif "project" in key:
            settings[key] = "contract-check-project"
    return settings
