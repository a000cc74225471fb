"""Plugin discovery through entry points, lazily; conflicts; which hooks run for a call."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pixmux import (
    ConfigurationError,
    ContentPolicyViolationError,
    Engine,
    ImageRequest,
    ImageResponse,
    PluginConflictError,
    ProviderNotFoundError,
    hookimpl,
)
from pixmux.testing import make_engine

PLUGIN_SOURCE = '''
"""A third-party provider published as its own distribution."""
import httpx

from pixmux import hookimpl
from pixmux.catalogue import Catalogue
from pixmux.types import ImageObject, ImageResponse


@hookimpl
def model_catalogue():
    """No listed models: every name is forwarded."""
    return Catalogue(provider={name!r}, env={{"api_key": ("{env}",)}})


@hookimpl
def build_request(request, deployment):
    """POST the prompt."""
    return httpx.Request(
        "POST",
        "https://{name}.invalid/generate",
        headers={{"X-Key": deployment.api_key or ""}},
        json={{"model": deployment.model, "prompt": request.prompt}},
    )


@hookimpl
def parse_response(response):
    """Read the urls."""
    body = response.json()
    return ImageResponse(created=body["created"], data=tuple(ImageObject(url=u) for u in body["urls"]))
'''

EXTENSION_SOURCE = '''
"""A non-provider plugin: stamps every request and every response."""
from pixmux import hookimpl


@hookimpl(wrapper=True)
def build_request(request, deployment):
    """Add a header naming the provider."""
    built = yield
    built.headers["X-Audited"] = deployment.provider
    return built


@hookimpl(wrapper=True)
def parse_response(response):
    """Mark the response as audited."""
    result = yield
    return result.with_metadata(audited=True)
'''


def write_distribution(
    root: Path, dist: str, *, providers: dict[str, str] | None = None, extensions: dict[str, str] | None = None
) -> None:
    """Write a ``<dist>-1.0.dist-info`` with METADATA and entry_points.txt, as pip would."""
    info = root / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n", encoding="utf-8")
    lines = []
    for group, entries in (("pixmux.providers", providers), ("pixmux.plugins", extensions)):
        if entries:
            lines.append(f"[{group}]")
            lines.extend(f"{name} = {target}" for name, target in entries.items())
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_provider(root: Path, module: str, name: str, env: str = "UNUSED_KEY") -> None:
    """Write a provider plugin module named ``module`` serving provider ``name``."""
    (root / f"{module}.py").write_text(PLUGIN_SOURCE.format(name=name, env=env), encoding="utf-8")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    """A fresh directory on sys.path to install fake distributions into, and a unique suffix for names."""
    monkeypatch.syspath_prepend(str(tmp_path))
    tag = uuid.uuid4().hex[:8]
    yield tmp_path, tag
    for module in [m for m in sys.modules if tag in m]:
        del sys.modules[module]


def urls_handler(request: httpx.Request) -> httpx.Response:
    """Answer like the fake third-party provider."""
    return httpx.Response(200, json={"created": 1, "urls": [f"https://img.invalid/{request.url.host}.png"]})


def test_discovery_loads_only_the_provider_asked_for(site: tuple[Path, str]) -> None:
    """A call to one installed provider imports that plugin and no other."""
    root, tag = site
    write_distribution(root, f"pixmux-alpha{tag}", providers={f"alpha{tag}": f"alpha_{tag}"})
    write_distribution(root, f"pixmux-beta{tag}", providers={f"beta{tag}": f"beta_{tag}"})
    write_provider(root, f"alpha_{tag}", f"alpha{tag}")
    write_provider(root, f"beta_{tag}", f"beta{tag}")
    engine = Engine(transport=httpx.MockTransport(urls_handler), environ={})

    available = engine.registry.available()
    assert {f"alpha{tag}", f"beta{tag}"} <= set(available)
    assert f"pixmux-alpha{tag}" == available[f"alpha{tag}"].distribution
    assert f"alpha_{tag}" not in sys.modules

    resp = engine.image_generation(prompt="otter", model=f"alpha{tag}/x")

    assert [f"https://img.invalid/alpha{tag}.invalid.png"] == [image.url for image in resp.data]
    assert f"alpha_{tag}" in sys.modules
    assert f"beta_{tag}" not in sys.modules


def test_discovery_env_comes_from_the_catalogue(site: tuple[Path, str]) -> None:
    """A discovered plugin's catalogue names its key variable; the core reads it and the plugin gets it."""
    root, tag = site
    write_distribution(root, f"pixmux-gamma{tag}", providers={f"gamma{tag}": f"gamma_{tag}"})
    write_provider(root, f"gamma_{tag}", f"gamma{tag}", env="GAMMA_KEY")
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["X-Key"])
        return urls_handler(request)

    engine = Engine(transport=httpx.MockTransport(handler), environ={"GAMMA_KEY": "k-from-env"})

    engine.image_generation(prompt="otter", model=f"gamma{tag}/x")

    assert seen == ["k-from-env"]


def test_discovery_two_distributions_claiming_one_name_conflict(site: tuple[Path, str]) -> None:
    """Two distributions registering one provider name raise PluginConflictError naming both."""
    root, tag = site
    write_distribution(root, f"pixmux-dup-one{tag}", providers={f"dup{tag}": f"dup_one_{tag}"})
    write_distribution(root, f"pixmux-dup-two{tag}", providers={f"dup{tag}": f"dup_two_{tag}"})
    write_provider(root, f"dup_one_{tag}", f"dup{tag}")
    write_provider(root, f"dup_two_{tag}", f"dup{tag}")
    engine = Engine(transport=httpx.MockTransport(urls_handler), environ={})

    with pytest.raises(PluginConflictError) as caught:
        engine.image_generation(prompt="otter", model=f"dup{tag}/x")

    assert f"pixmux-dup-one{tag}" in str(caught.value)
    assert f"pixmux-dup-two{tag}" in str(caught.value)
    assert f"dup_one_{tag}" not in sys.modules
    assert f"dup_two_{tag}" not in sys.modules


def test_discovery_plugin_that_fails_to_import_is_a_configuration_error(site: tuple[Path, str]) -> None:
    """A broken plugin raises ConfigurationError naming the provider and the import failure."""
    root, tag = site
    write_distribution(root, f"pixmux-broken{tag}", providers={f"broken{tag}": f"broken_{tag}"})
    (root / f"broken_{tag}.py").write_text("import a_module_that_is_not_installed_anywhere\n", encoding="utf-8")
    engine = Engine(transport=httpx.MockTransport(urls_handler), environ={})

    with pytest.raises(ConfigurationError) as caught:
        engine.image_generation(prompt="otter", model=f"broken{tag}/x")

    assert f"broken{tag}" in str(caught.value)
    assert "a_module_that_is_not_installed_anywhere" in str(caught.value)


def test_discovery_plugin_without_required_hooks_is_rejected(fake: Any) -> None:
    """A plugin lacking build_request or parse_response is a ConfigurationError naming what is missing."""

    class CatalogueOnly:
        @hookimpl
        def model_catalogue(self) -> Any:
            """Only a catalogue."""
            return fake.model_catalogue()

    engine = Engine(plugins={"fake": CatalogueOnly()}, discover=False, environ={})

    with pytest.raises(ConfigurationError, match=r"build_request, parse_response"):
        engine.prepare(prompt="otter", model="fake/m1")


def test_discovery_extension_plugins_wrap_every_provider(site: tuple[Path, str]) -> None:
    """A plugin in ``pixmux.plugins`` wraps the hooks of whichever provider a call uses."""
    root, tag = site
    write_distribution(root, f"pixmux-one{tag}", providers={f"one{tag}": f"one_{tag}"})
    write_distribution(root, f"pixmux-two{tag}", providers={f"two{tag}": f"two_{tag}"})
    write_distribution(root, f"pixmux-audit{tag}", extensions={"audit": f"audit_{tag}"})
    write_provider(root, f"one_{tag}", f"one{tag}")
    write_provider(root, f"two_{tag}", f"two{tag}")
    (root / f"audit_{tag}.py").write_text(EXTENSION_SOURCE, encoding="utf-8")
    headers: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        headers.append(request.headers.get("X-Audited", ""))
        return urls_handler(request)

    engine = Engine(transport=httpx.MockTransport(handler), environ={})

    first = engine.image_generation(prompt="otter", model=f"one{tag}/x")
    second = engine.image_generation(prompt="otter", model=f"two{tag}/x")

    assert [f"one{tag}", f"two{tag}"] == headers
    assert first.metadata["audited"] is True
    assert second.metadata["audited"] is True


def test_hooks_only_the_chosen_providers_run(make_fake: Any, ok_handler: Any) -> None:
    """A call to one provider runs none of another provider's hooks, not even its catalogue."""
    alpha, beta = make_fake("alpha"), make_fake("beta")
    engine = make_engine(alpha, beta, handler=ok_handler, names=["alpha", "beta"])

    engine.image_generation(prompt="otter", model="alpha/m1")

    assert "build_request" in alpha.calls
    assert "parse_response" in alpha.calls
    assert beta.calls == []

    before = list(alpha.calls)
    engine.image_generation(prompt="otter", model="beta/m1")

    assert before == alpha.calls
    assert {"validate_params", "build_request", "parse_response"} <= set(beta.calls)


class Audit:
    """An extension plugin recording the calls it wraps."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    @hookimpl(wrapper=True)
    def build_request(self, request: ImageRequest, deployment: Any) -> Any:
        """Record who the request is for."""
        built = yield
        self.seen.append((deployment.provider, request.model))
        return built

    @hookimpl(wrapper=True)
    def parse_response(self, response: httpx.Response) -> Any:
        """Stamp the response."""
        result = yield
        return result.with_metadata(audited=True) if isinstance(result, ImageResponse) else result


class Guardrail:
    """An extension plugin that refuses prompts before anything is sent."""

    @hookimpl(tryfirst=True)
    def validate_params(self, request: ImageRequest) -> None:
        """Refuse a banned word."""
        if "forbidden" in request.prompt:
            raise ContentPolicyViolationError("the guardrail refused the prompt", param="prompt")


def test_hooks_extension_wraps_every_call(make_fake: Any, ok_handler: Any) -> None:
    """An extension given to the engine sees the calls of every provider."""
    audit = Audit()
    engine = make_engine(make_fake("alpha"), make_fake("beta"), handler=ok_handler, extensions=[audit])

    first = engine.image_generation(prompt="otter", model="alpha/m1")
    second = engine.image_generation(prompt="otter", model="beta/m1")

    assert audit.seen == [("alpha", "m1"), ("beta", "m1")]
    assert first.metadata["audited"] is True
    assert second.metadata["audited"] is True


def test_hooks_guardrail_extension_refuses_before_the_network(fake: Any, no_network: Any) -> None:
    """An extension's validate_params can refuse a call; nothing is sent."""
    engine = make_engine(fake, handler=no_network, extensions=[Guardrail()])

    with pytest.raises(ContentPolicyViolationError) as caught:
        engine.image_generation(prompt="something forbidden", model="fake/m1")

    assert caught.value.provider == "fake"
    assert engine.requests == []


def test_hooks_provider_is_loaded_once(fake: Any, ok_handler: Any) -> None:
    """The catalogue hook runs once per provider, not once per call."""
    engine = make_engine(fake, handler=ok_handler, names=["fake"])

    for _ in range(3):
        engine.image_generation(prompt="otter", model="fake/m1")

    assert fake.calls.count("model_catalogue") == 1
    assert fake.calls.count("build_request") == 3


def run_python(code: str) -> Any:
    """Run ``code`` in a fresh interpreter and return the JSON it prints."""
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True, timeout=60
    )
    return json.loads(out.stdout)


def test_import_pixmux_loads_no_plugin_and_no_heavy_sdk() -> None:
    """``import pixmux`` (and reading its public names) imports no plugin, no boto3, no Google library."""
    found = run_python(
        """
        import json, sys
        from importlib.metadata import entry_points
        import pixmux
        names = [pixmux.Engine, pixmux.ImageResponse, pixmux.PixmuxError, pixmux.hookimpl, pixmux.image_generation]
        plugin_modules = sorted({ep.module for ep in entry_points(group="pixmux.providers")})
        print(json.dumps({"plugins": plugin_modules, "modules": sorted(sys.modules)}))
        """
    )
    modules = set(found["modules"])

    assert "pixmux_openai.provider" in found["plugins"]
    assert not modules & set(found["plugins"])
    assert not {m for m in modules if m.startswith("pixmux_")}
    heavy = {m for m in modules if m.split(".")[0] in ("boto3", "botocore", "google", "vertexai", "aiohttp")}
    assert set() == heavy


def test_import_pixmux_alone_imports_no_http_stack() -> None:
    """The bare ``import pixmux`` defers even httpx and pluggy to first use."""
    found = run_python(
        """
        import json, sys
        import pixmux
        print(json.dumps(sorted(sys.modules)))
        """
    )

    assert not {"httpx", "pluggy", "cattrs"} & set(found)


def test_refusal_is_a_top_level_name_loaded_on_first_use() -> None:
    """``pixmux.Refusal`` is the partial-refusal type plugins build; ``import pixmux`` does not load it."""
    found = run_python(
        """
        import json, sys
        import pixmux
        before = sorted(sys.modules)
        refusal = pixmux.Refusal(reason="SAFETY", message="withheld")
        from pixmux.types import ImageResponse, Refusal
        kept = ImageResponse(created=1, refused=(refusal,)).refused
        print(json.dumps({"before": before, "same": pixmux.Refusal is Refusal, "kept": [r.reason for r in kept]}))
        """
    )

    assert "pixmux.types" not in found["before"]
    assert found["same"] is True
    assert found["kept"] == ["SAFETY"]


def test_provider_not_found_lists_discovered_providers() -> None:
    """With discovery on, an unknown provider's error lists the installed OpenAI plugin."""
    engine = Engine(environ={})

    with pytest.raises(ProviderNotFoundError) as caught:
        engine.prepare(prompt="otter", model="nosuchprovider/x")

    assert "openai" in str(caught.value)
    assert "pip install pixmux-nosuchprovider" in str(caught.value)
