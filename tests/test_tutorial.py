"""
The plugin tutorial's final plugin (examples/tutorial_plugin) works, and the tutorial page shows exactly its files.

The page docs/plugins/tutorial.md builds ``pixmux-daub`` step by step. Every code block there
titled with a file name (```python title="src/pixmux_daub/__init__.py"```) is a piece of that
file, in order; together they are the whole file. So the docs cannot drift from the code the
suite runs here.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from pixmux import Engine
from pixmux.testing import check_plugin

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "tutorial_plugin"
SRC = EXAMPLE / "src"
TUTORIAL = ROOT / "docs" / "plugins" / "tutorial.md"
KEY = "daub-tutorial-key-0123456789"

_FENCE = re.compile(
    r'^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[^\n]*?title="(?P<title>[^"]+)"[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$',
    re.MULTILINE | re.DOTALL,
)


def titled_blocks(markdown: str) -> dict[str, list[str]]:
    """The code blocks of a Markdown page that carry a ``title="path"``, by path, in page order."""
    found: dict[str, list[str]] = {}
    for match in _FENCE.finditer(markdown):
        indent = match["indent"]
        lines = [line.removeprefix(indent) for line in match["body"].splitlines()]
        found.setdefault(match["title"], []).append("\n".join(lines))
    return found


def example_files() -> dict[str, str]:
    """Every non-empty source file of the example distribution, by path relative to it."""
    files = {}
    for path in sorted(EXAMPLE.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc" and path.stat().st_size:
            files[path.relative_to(EXAMPLE).as_posix()] = path.read_text(encoding="utf-8")
    return files


def code_lines(text: str) -> list[str]:
    """The lines that are not blank (blank lines between the tutorial's pieces carry no code)."""
    return [line.rstrip() for line in text.splitlines() if line.strip()]


@pytest.fixture
def daub(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The tutorial's plugin module, imported from examples/tutorial_plugin/src."""
    monkeypatch.syspath_prepend(str(SRC))
    return importlib.import_module("pixmux_daub")


def declared_entry_points() -> str:
    """The ``[project.entry-points]`` of the example's pyproject.toml, as an ``entry_points.txt``."""
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    sections = []
    for group, entries in project["entry-points"].items():
        sections.append(f"[{group}]\n" + "".join(f"{name} = {target}\n" for name, target in entries.items()))
    return "\n".join(sections)


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """
    The example installed as pip installs it: its code importable and its ``.dist-info`` (with the
    entry points its pyproject.toml declares) on ``sys.path``. Returns the site folder.
    """
    site = tmp_path / "site"
    info = site / "pixmux_daub-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pixmux-daub\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(declared_entry_points())
    monkeypatch.syspath_prepend(str(SRC))
    monkeypatch.syspath_prepend(str(site))
    return site


@pytest.fixture
def fake_daub() -> Iterator[str]:
    """The tutorial's stand-in Daub server (fake_daub.py) on a free port; yields its /v1 URL."""
    sys.path.insert(0, str(EXAMPLE))
    try:
        module = importlib.import_module("fake_daub")
    finally:
        sys.path.remove(str(EXAMPLE))
    server = module.make_server(port=0, poll_after=0.01)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_tutorial_plugin_passes_the_contract_check(daub: ModuleType) -> None:
    """The tutorial's final plugin passes check_plugin under its entry-point name."""
    assert check_plugin(daub, name="daub") == []


def test_tutorial_plugin_own_tests_pass() -> None:
    """The tests the tutorial writes (examples/tutorial_plugin/tests) pass, run the way the tutorial runs them."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 passed" in result.stdout


def test_tutorial_plugin_found_through_its_entry_point(installed: Path) -> None:
    """Installed with its entry point, `daub/daub-2` works through a discovering engine, polls and prices."""
    answers = iter(
        [
            httpx.Response(201, json={"id": "job_1", "status": "queued", "poll_after": 0}),
            httpx.Response(200, json={"id": "job_1", "status": "running", "poll_after": 0}),
            httpx.Response(200, json={"id": "job_1", "status": "done", "created_at": 1, "images": [{"png": "aGk="}]}),
        ]
    )
    engine = Engine(transport=httpx.MockTransport(lambda request: next(answers)))

    resp = engine.image_generation("a red kite", "daub/daub-2", api_key=KEY)

    available = engine.registry.available()["daub"]
    assert (available.distribution, available.version) == ("pixmux-daub", "0.1.0")
    assert resp.data[0].bytes() == b"hi"
    assert resp.cost == pytest.approx(0.02)
    assert resp.metadata["provider"] == "daub"


def test_tutorial_try_it_step_works_from_the_command_line(installed: Path, fake_daub: str, tmp_path: Path) -> None:
    """The tutorial's 'try it' step: `pixmux generate -m daub/daub-2` against fake_daub.py writes a real PNG."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("DAUB_")}
    env["PYTHONPATH"] = os.pathsep.join([str(installed), str(SRC)])
    env["DAUB_API_KEY"] = KEY

    def pixmux(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "pixmux", *args]
        return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False)

    listed = pixmux("models", "daub")
    made = pixmux("generate", "a red kite", "-m", "daub/daub-2", "--n", "2", "--api-base", fake_daub)
    blocked = pixmux("generate", "something forbidden", "-m", "daub/daub-2", "--api-base", fake_daub)

    assert listed.returncode == 0, listed.stderr
    assert "daub  (pixmux-daub 0.1.0)" in listed.stdout
    assert made.returncode == 0, made.stderr
    assert made.stdout.splitlines() == ["a-red-kite-1.png", "a-red-kite-2.png"]
    assert (tmp_path / "a-red-kite-1.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert "daub/daub-2  2 images" in made.stderr
    assert "cost $0.04" in made.stderr
    assert blocked.returncode == 1
    assert "ContentPolicyViolationError" in blocked.stderr
    assert KEY not in made.stderr + blocked.stderr


def test_tutorial_page_shows_every_file_of_the_final_plugin() -> None:
    """Each example file is shown on the tutorial page, piece by piece and in order, with nothing else."""
    blocks = titled_blocks(TUTORIAL.read_text(encoding="utf-8"))
    files = example_files()

    assert sorted(blocks) == sorted(files), "titled code blocks and example files differ"
    for name, text in files.items():
        shown = [line for block in blocks[name] for line in code_lines(block)]
        assert shown == code_lines(text), f"docs/plugins/tutorial.md does not match examples/tutorial_plugin/{name}"


def test_titled_blocks_reads_indented_fences() -> None:
    """Code blocks inside admonitions (indented) are read too, without their indentation."""
    page = 'Text\n\n??? note\n    ```python title="a.py"\n    x = 1\n\n    y = 2\n    ```\n'

    found: dict[str, Any] = titled_blocks(page)

    assert found == {"a.py": ["x = 1\n\ny = 2"]}
