"""
The plugin contract, checked over EVERY installed provider plugin (entry point group ``pixmux.providers``).

Plugins are discovered, not listed: a plugin installed tomorrow is checked by this file
unchanged. Each check runs in a fresh interpreter, so that one plugin's imports cannot hide
another's, and asserts that loading and exercising a plugin imports no other provider's plugin
module (the entry-point targets of the other providers).

A provider with no default endpoint (self-hosted servers, Azure resources) cannot build a
request from nothing: only when the check fails without one is it run again with a dummy
``api_base``, and the test then says so with a ``ContractNote`` warning.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from importlib.metadata import entry_points
from typing import Any

import pytest
from pixmux._plugins import PROVIDER_GROUP, distribution_for

DUMMY_API_BASE = "http://127.0.0.1:9/contract-check"

CHECK = """
import json, sys
from importlib.metadata import entry_points
from pixmux.testing import check_plugin

name, api_base = sys.argv[1], (sys.argv[2] or None)
entries = {ep.name: ep for ep in entry_points(group="pixmux.providers")}
mine = entries[name]
others = sorted({ep.module for key, ep in entries.items() if key != name and ep.module != mine.module})
plugin = mine.load()
problems = check_plugin(plugin, name=name, api_base=api_base, forbidden_imports=others)
print(json.dumps({"problems": problems, "others": others}))
"""


class ContractNote(UserWarning):
    """A fact about how a plugin passed the contract check (for example: it needed an api_base)."""


def installed_providers() -> list[str]:
    """Every provider name registered in ``pixmux.providers`` in this environment."""
    return sorted({ep.name for ep in entry_points(group=PROVIDER_GROUP)})


def run_check(name: str, api_base: str | None) -> dict[str, Any]:
    """Run check_plugin for provider ``name`` in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", CHECK, name, api_base or ""],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"the contract check for {name!r} crashed:\n{done.stderr}"
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_contract_finds_the_installed_providers() -> None:
    """Discovery sees at least the reference plugin; every name is a valid model-string prefix."""
    names = installed_providers()

    assert "openai" in names
    assert all(name and "/" not in name and name == name.strip() for name in names)


@pytest.mark.parametrize("name", installed_providers())
def test_contract_check_plugin_passes(name: str) -> None:
    """pixmux.testing.check_plugin reports no problem, and the plugin imports no other provider's plugin."""
    result = run_check(name, None)
    if result["problems"]:
        retried = run_check(name, DUMMY_API_BASE)
        assert retried["problems"] == [], f"{name}: {retried['problems']}"
        warnings.warn(
            f"provider {name!r} passes the contract only with an api_base "
            f"({len(result['problems'])} problem(s) without one, first: {result['problems'][0]})",
            ContractNote,
            stacklevel=1,
        )
    else:
        assert result["problems"] == []


@pytest.mark.parametrize("name", installed_providers())
def test_contract_distribution_is_named_for_the_provider(name: str) -> None:
    """The distribution registering provider ``name`` is ``pixmux-<name>``, as the not-found error tells users."""
    (entry,) = [ep for ep in entry_points(group=PROVIDER_GROUP) if ep.name == name]

    assert entry.dist is not None
    assert distribution_for(name) == entry.dist.metadata["Name"].lower().replace("_", "-")


def test_contract_one_distribution_per_provider_name() -> None:
    """No two installed distributions claim one provider name."""
    claims: dict[str, set[str]] = {}
    for ep in entry_points(group=PROVIDER_GROUP):
        claims.setdefault(ep.name, set()).add(ep.dist.metadata["Name"] if ep.dist else "?")

    assert {name: dists for name, dists in claims.items() if len(dists) > 1} == {}
