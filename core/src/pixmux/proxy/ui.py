"""
The gateway's web pages (``/ui``) and the public JSON they read that OpenAI's routes lack.

The pages are static files shipped in this package (``pixmux/proxy/ui/``): no build step, no
third-party host. They call only the gateway's public routes, with the key the person typed
(kept in ``sessionStorage``, never in a cookie). The files themselves hold nothing secret, so
they are served without a key; every route they call checks it.

Two routes are added for them, both behind the gateway's auth:

- ``GET /model/info`` (LiteLLM's route name): for each model name, what its deployments accept:
  sizes, qualities, styles, ``n``, native parameters with their values and ranges, operations,
  input limits and native streaming. Credentials and endpoints are never in it.
- ``GET /health/deployments``: each deployment's health and cooldown, from the router.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib import resources
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from pixmux.catalogue import ModelInfo
    from pixmux.router import Router

__all__ = ["static_file", "model_info", "deployment_health", "UI_PREFIX", "SECURITY_HEADERS"]

UI_PREFIX = "/ui"

_TYPES = {
    ".html": b"text/html; charset=utf-8",
    ".js": b"text/javascript; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    ".svg": b"image/svg+xml",
}

#: Sent with every page: nothing from another origin, no framing, no guessing of types.
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data: blob:; connect-src 'self'; style-src 'self'; "
        b"script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-cache"),
]


def _files() -> Mapping[str, tuple[bytes, bytes]]:
    folder = resources.files("pixmux.proxy") / "ui"
    found: dict[str, tuple[bytes, bytes]] = {}
    for entry in folder.iterdir():
        name = entry.name
        suffix = name[name.rfind(".") :] if "." in name else ""
        if entry.is_file() and suffix in _TYPES:
            found[name] = (_TYPES[suffix], entry.read_bytes())
    return found


_CACHE: dict[str, tuple[bytes, bytes]] = {}


def static_file(path: str) -> tuple[bytes, bytes] | None:
    """``(content type, bytes)`` of the page file a ``/ui`` path names, or ``None``."""
    if not _CACHE:
        _CACHE.update(_files())
    name = path[len(UI_PREFIX) :].lstrip("/") or "index.html"
    return _CACHE.get(name)


def _sorted(values: Iterable[Any] | None) -> list[Any] | None:
    if values is None:
        return None
    return sorted(values, key=lambda v: (str(type(v)), v))


def _intersect(infos: list[ModelInfo], name: str) -> list[Any] | None:
    sets = [getattr(info, name) for info in infos if getattr(info, name) is not None]
    if not sets:
        return None
    common = set(sets[0])
    for other in sets[1:]:
        common &= set(other)
    return _sorted(common)


def _describe(infos: list[ModelInfo], providers: list[str]) -> dict[str, Any]:
    """What every deployment behind one name accepts (the intersection: the form offers nothing one refuses)."""
    first = infos[0]
    max_ns = [info.max_n for info in infos if info.max_n is not None]
    prompts = [info.max_prompt_chars for info in infos if info.max_prompt_chars is not None]
    params = _intersect(infos, "params")
    values: dict[str, list[Any]] = {}
    ranges: dict[str, list[float]] = {}
    for info in infos:
        for key, allowed in info.param_values.items():
            have = set(values.get(key, allowed))
            values[key] = _sorted(have & set(allowed)) or []
        for key, (low, high) in info.param_ranges.items():
            old = ranges.get(key, [low, high])
            ranges[key] = [max(old[0], low), min(old[1], high)]
    operations = set(first.operations)
    for info in infos[1:]:
        operations &= set(info.operations)
    limits = first.inputs
    return {
        "providers": sorted(set(providers)),
        "known": all(info.known for info in infos),
        "description": first.description,
        "sizes": _intersect(infos, "sizes"),
        "qualities": _intersect(infos, "qualities"),
        "styles": _intersect(infos, "styles"),
        "response_formats": _intersect(infos, "response_formats"),
        "max_n": min(max_ns) if max_ns else None,
        "max_prompt_chars": min(prompts) if prompts else None,
        "params": params,
        "param_values": values,
        "param_ranges": ranges,
        "operations": sorted(operations),
        "streaming": all(info.streaming for info in infos),
        "inputs": None
        if limits is None
        else {
            "max_images": limits.max_images,
            "max_bytes": limits.max_bytes,
            "media_types": _sorted(limits.media_types),
            "mask": limits.mask,
        },
    }


def model_info(groups: Mapping[str, list[tuple[str, ModelInfo]]]) -> dict[str, Any]:
    """LiteLLM's ``/model/info`` shape, with what each name accepts under ``model_info.pixmux``."""
    data = []
    for name, deployments in groups.items():
        providers = [provider for provider, _ in deployments]
        infos = [info for _, info in deployments]
        data.append({"model_name": name, "model_info": {"pixmux": _describe(infos, providers)}})
    return {"data": data}


def deployment_health(router: Router) -> dict[str, Any]:
    """Each deployment's health as the router sees it (cooldown, failures, latency), with its name and model."""
    health = router.health()
    out = []
    for deployment in router.deployments:
        facts = attrs.asdict(health[deployment.id])
        out.append({"model_name": deployment.model_name, "model": deployment.model, **facts})
    return {"deployments": out}
