"""
What importing pixmux and calling one provider loads, across every installed plugin.

``import pixmux`` loads no plugin and no heavy SDK; loading one provider imports no other
provider's plugin module. Every check runs in a fresh interpreter.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from typing import Any

import pytest
from pixmux._plugins import EXTENSION_GROUP, PROVIDER_GROUP

#: Top-level packages of SDKs that only their own plugin may import.
HEAVY = ("boto3", "botocore", "google", "vertexai", "aiohttp", "httpx_aiohttp", "PIL", "openai")


def run_python(code: str, *args: str) -> Any:
    """Run ``code`` in a fresh interpreter and return the JSON it prints last."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def plugin_modules() -> dict[str, str]:
    """The module each installed provider's entry point names, by provider."""
    return {ep.name: ep.module for ep in entry_points(group=PROVIDER_GROUP)}


def test_import_pixmux_imports_no_plugin_and_no_heavy_sdk() -> None:
    """``import pixmux`` imports no provider or extension plugin, no SDK and not even httpx."""
    modules = set(run_python("import json, sys; import pixmux; print(json.dumps(sorted(sys.modules)))"))
    targets = {ep.module for group in (PROVIDER_GROUP, EXTENSION_GROUP) for ep in entry_points(group=group)}

    assert set() == modules & targets
    assert set() == {m for m in modules if m.startswith("pixmux_")}
    assert set() == {m for m in modules if m.split(".")[0] in HEAVY}
    assert "httpx" not in modules


def test_import_openai_call_loads_only_the_openai_plugin() -> None:
    """A (mocked) OpenAI call imports the OpenAI plugin and nothing of the other providers or their SDKs."""
    modules = set(
        run_python(
            """
            import json, sys
            import pixmux
            pixmux.image_generation(prompt="otter", model="gpt-image-1", mock_response=True)
            print(json.dumps(sorted(sys.modules)))
            """
        )
    )
    others = {module for name, module in plugin_modules().items() if name != "openai"}

    assert "pixmux_openai.provider" in modules
    assert set() == modules & others
    assert set() == {m for m in modules if m.split(".")[0] in HEAVY}


@pytest.mark.parametrize("name", sorted(plugin_modules()))
def test_import_loading_one_provider_loads_no_other(name: str) -> None:
    """The engine loading provider ``name`` imports no other provider's plugin module."""
    found = run_python(
        """
        import json, sys
        import pixmux
        provider = pixmux.Engine(environ={}).registry.get(sys.argv[1])
        print(json.dumps({"catalogue": provider.catalogue.provider, "modules": sorted(sys.modules)}))
        """,
        name,
    )
    mine = plugin_modules()[name]
    others = {module for key, module in plugin_modules().items() if key != name and module != mine}

    assert name == found["catalogue"]
    assert mine in found["modules"]
    assert set() == set(found["modules"]) & others
