"""
The documentation cannot drift from the code: every hook spec, library parameter and
command-line option is documented, and the hook reference heads each hook with its exact signature.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import re
from pathlib import Path

import pixmux
import pytest
from pixmux import hookspecs
from pixmux._cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
HOOKSPECS = Path(hookspecs.__file__)
_HEADING = re.compile(r"^#{2,4} `(?P<signature>[a-z_]+\(.*\)(?: -> .+)?)`\s*$", re.MULTILINE)


def spec_signatures(source: str) -> dict[str, str]:
    """``{hook name: "name(arg: Type, ...) -> Return"}`` for every ``@hookspec`` function in ``source``."""
    found = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and any("hookspec" in ast.unparse(d) for d in node.decorator_list):
            returns = f" -> {ast.unparse(node.returns)}" if node.returns is not None else ""
            found[node.name] = f"{node.name}({ast.unparse(node.args)}){returns}"
    return found


def documented_signatures(markdown: str) -> dict[str, str]:
    """``{hook name: signature}`` for every heading of the form ``## `name(...) -> ...` `` in ``markdown``."""
    return {match["signature"].split("(", 1)[0]: match["signature"] for match in _HEADING.finditer(markdown)}


def test_hook_reference_documents_every_hook_spec_with_its_exact_signature() -> None:
    """Each hook spec in hookspecs.py has a section in docs/plugins/hooks.md headed by its exact signature."""
    specs = spec_signatures(HOOKSPECS.read_text(encoding="utf-8"))
    documented = documented_signatures((DOCS / "plugins" / "hooks.md").read_text(encoding="utf-8"))

    assert specs, "no hook spec found in hookspecs.py"
    assert set(specs) == set(hookspecs.HOOK_NAMES)
    missing = {name: signature for name, signature in specs.items() if documented.get(name) != signature}
    assert not missing, f"docs/plugins/hooks.md lacks a heading with the exact signature of: {missing}"
    stale = set(documented) - set(specs)
    assert not stale, f"docs/plugins/hooks.md documents hooks that no longer exist: {stale}"


def test_spec_signatures_sees_a_new_hook_spec() -> None:
    """The check above reads every @hookspec function, so a new one without docs would fail it."""
    source = (
        HOOKSPECS.read_text(encoding="utf-8")
        + "\n\n@hookspec(firstresult=True)\ndef edit_request(request: ImageRequest, image: bytes) -> httpx.Request:\n"
        '    """New."""\n'
    )

    signatures = spec_signatures(source)

    assert signatures["edit_request"] == "edit_request(request: ImageRequest, image: bytes) -> httpx.Request"
    assert "edit_request" not in documented_signatures((DOCS / "plugins" / "hooks.md").read_text(encoding="utf-8"))


@pytest.mark.parametrize("function", [pixmux.image_generation, pixmux.aimage_generation])
def test_library_page_documents_every_parameter(function: object) -> None:
    """Every parameter of image_generation / aimage_generation appears in docs/library.md's parameter table."""
    page = (DOCS / "library.md").read_text(encoding="utf-8")
    names = [
        f"**{name}" if parameter.kind is inspect.Parameter.VAR_KEYWORD else name
        for name, parameter in inspect.signature(function).parameters.items()  # type: ignore[arg-type]
    ]

    missing = [name for name in names if f"| `{name}` |" not in page]

    assert not missing, f"docs/library.md does not document: {missing}"


def _options(parser: argparse.ArgumentParser) -> dict[str, list[str]]:
    commands: dict[str, list[str]] = {
        "": [s for a in parser._actions for s in a.option_strings if s not in ("-h", "--help")]
    }
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                commands[name] = [s for a in sub._actions for s in a.option_strings if s not in ("-h", "--help")]
    return commands


def test_cli_page_documents_every_option() -> None:
    """Every command and option of `pixmux` appears in docs/cli.md."""
    page = (DOCS / "cli.md").read_text(encoding="utf-8")

    missing = [
        f"{command} {option}".strip()
        for command, options in _options(build_parser()).items()
        for option in options
        if not re.search(rf"[`\s]{re.escape(option)}\b", page)
    ]
    missing += [
        f"pixmux {command}" for command in _options(build_parser()) if command and f"`pixmux {command}" not in page
    ]

    assert not missing, f"docs/cli.md does not document: {missing}"
