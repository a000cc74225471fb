"""``pixmux serve ...`` and ``pixmux --config ...`` hand the command line to the gateway's own CLI."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Sequence

import pytest
from pixmux._cli import main

GATEWAY = "pixmux.proxy.cli"


def fake_gateway(monkeypatch: pytest.MonkeyPatch, status: int = 0) -> list[list[str]]:
    """Put a stand-in gateway CLI in place; return the list its ``main`` records argv lists in."""
    seen: list[list[str]] = []

    def gateway_main(argv: list[str]) -> int:
        seen.append(list(argv))
        return status

    module = types.ModuleType(GATEWAY)
    module.main = gateway_main  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, GATEWAY, module)
    return seen


class _FailingImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Makes importing the gateway CLI fail the way it does when a proxy dependency is missing."""

    def __init__(self, missing: str) -> None:
        self.missing = missing

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        return importlib.machinery.ModuleSpec(fullname, self) if fullname == GATEWAY else None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        raise ModuleNotFoundError(f"No module named {self.missing!r}", name=self.missing)


def test_serve_passes_the_arguments_after_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    """`pixmux serve --config c.yaml --port 4001` calls the gateway with everything after `serve`."""
    seen = fake_gateway(monkeypatch, status=0)

    status = main(["serve", "--config", "c.yaml", "--port", "4001"])

    assert status == 0
    assert seen == [["--config", "c.yaml", "--port", "4001"]]


def test_serve_short_form_passes_the_whole_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """`pixmux --config c.yaml --port 4001` (the seed's form) calls the gateway with the whole argv."""
    seen = fake_gateway(monkeypatch, status=0)

    assert main(["--config=c.yaml"]) == 0
    assert main(["--port", "4001", "--config", "c.yaml"]) == 0

    assert seen == [["--config=c.yaml"], ["--port", "4001", "--config", "c.yaml"]]


def test_serve_returns_the_gateways_exit_status(monkeypatch: pytest.MonkeyPatch) -> None:
    """The gateway's exit status is the command's."""
    fake_gateway(monkeypatch, status=3)

    assert main(["serve", "--config", "missing.yaml"]) == 3


def test_serve_without_the_proxy_extra_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """When a proxy dependency is missing, one line says to install pixmux[proxy], exit status 1."""
    monkeypatch.delitem(sys.modules, GATEWAY, raising=False)
    monkeypatch.setattr(sys, "meta_path", [_FailingImport("uvicorn"), *sys.meta_path])

    status = main(["serve", "--config", "c.yaml"])

    assert status == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert 'pip install "pixmux[proxy]"' in lines[0]
    assert "uvicorn" in lines[0]


def test_serve_without_a_gateway_module_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A pixmux without the gateway package gives one line, not a traceback."""
    monkeypatch.setitem(sys.modules, GATEWAY, None)

    status = main(["serve"])

    assert status == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "no gateway" in err
