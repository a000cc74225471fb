"""The installed ``pixmux`` command and ``python -m pixmux``, run as separate processes, as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pixmux
import pytest
from PIL import Image

if TYPE_CHECKING:
    from tests.cli.conftest import MockOpenAI

COMMAND = Path(sys.executable).with_name("pixmux.exe" if os.name == "nt" else "pixmux")


def command_env() -> dict[str, str]:
    """The user's environment, minus real credentials."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OPENAI_", "PIXMUX_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_piped(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``pixmux ARGS`` in ``cwd`` as a shell with pipes does: stdout and stderr captured as text."""
    return subprocess.run(
        [str(COMMAND), *args], cwd=cwd, env=command_env(), capture_output=True, text=True, timeout=60, check=False
    )


def test_command_script_is_installed() -> None:
    """The `pixmux` entry point declared by the core distribution exists beside the interpreter."""
    assert COMMAND.exists(), f"{COMMAND} is missing: is the core distribution installed?"


def test_command_generate_writes_a_real_image_and_stays_quiet_when_piped(
    openai_server: MockOpenAI, tmp_path: Path
) -> None:
    """Run from a shell with pipes: the image is a real PNG, stdout is its path, stderr has no progress frames."""
    result = run_piped(
        tmp_path, "generate", "a cute baby sea otter", "-m", "gpt-image-1", "--api-base", openai_server.url
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["a-cute-baby-sea-otter-1.png"]
    with Image.open(tmp_path / "a-cute-baby-sea-otter-1.png") as image:
        image.load()
        assert image.format == "PNG"
    assert "\r" not in result.stderr
    assert "\x1b" not in result.stderr
    assert "openai/gpt-image-1" in result.stderr


def test_command_python_m_pixmux_reports_the_version() -> None:
    """`python -m pixmux --version` prints the core's version."""
    result = subprocess.run(
        [sys.executable, "-m", "pixmux", "--version"], capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode == 0
    assert result.stdout.strip() == f"pixmux {pixmux.__version__}"


def test_command_error_is_one_line_and_exit_status_1(openai_server: MockOpenAI, tmp_path: Path) -> None:
    """An unsupported value exits 1 with one stderr line and nothing on stdout."""
    result = run_piped(
        tmp_path, "generate", "otter", "-m", "gpt-image-1", "--quality", "ultra", "--api-base", openai_server.url
    )

    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "quality='ultra'" in lines[0]
    assert "accepted: auto, high, low, medium" in lines[0]


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_command_shows_live_progress_on_a_terminal(openai_server: MockOpenAI, tmp_path: Path) -> None:
    """With stderr on a terminal, a spinner with the model and elapsed seconds is drawn and then cleared."""
    leader, follower = os.openpty()
    try:
        result = subprocess.run(
            [str(COMMAND), "generate", "otter", "-m", "gpt-image-1", "--api-base", openai_server.url],
            cwd=tmp_path,
            env=command_env(),
            stdout=subprocess.PIPE,
            stderr=follower,
            timeout=60,
            check=False,
        )
        os.close(follower)
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal is drained once its writer has exited
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(leader)

    assert result.returncode == 0
    text = shown.decode(errors="replace")
    assert "generating with gpt-image-1" in text
    assert "\r" in text
    assert "\x1b[K" in text
    assert result.stdout.decode().splitlines() == ["otter-1.png"]
