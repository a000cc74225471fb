"""``pixmux edit`` and ``pixmux variation`` in-process against the local OpenAI-compatible server."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from PIL import Image
from pixmux._cli import main

if TYPE_CHECKING:
    from tests.cli.conftest import MockOpenAI


def write_png(path: Path, size: tuple[int, int] = (64, 64), mode: str = "RGBA") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size).save(buffer, "PNG")
    path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


def test_edit_sends_image_mask_and_prompt(
    openai_server: MockOpenAI, clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`pixmux edit room.png --mask mask.png PROMPT -m gpt-image-1 -o out/` posts both files and saves the result."""
    room = write_png(clean_env / "room.png")
    mask = write_png(clean_env / "mask.png")

    command = ["edit", "room.png", "--mask", "mask.png", "put a sofa by the window", "-m", "gpt-image-1", "-o", "out/"]
    status = main([*command, "--api-base", openai_server.url, "--api-key", "sk-test", "-p", "input_fidelity=high"])
    out, err = capsys.readouterr()

    assert status == 0, err
    (seen,) = [item for item in openai_server.seen if item.path == "/v1/images/edits"]
    assert room in seen.body
    assert mask in seen.body
    assert b'name="input_fidelity"\r\n\r\nhigh' in seen.body
    saved = Path(out.strip())
    assert saved.parent == Path("out")
    assert (clean_env / saved).read_bytes().startswith(b"\x89PNG")


def test_edit_takes_several_images(
    openai_server: MockOpenAI, clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Several image paths before the prompt go as image[] parts."""
    write_png(clean_env / "a.png")
    write_png(clean_env / "b.png")

    status = main(["edit", "a.png", "b.png", "a gift basket", "--api-base", openai_server.url, "--api-key", "sk-test"])
    capsys.readouterr()

    assert status == 0
    body = openai_server.seen[-1].body
    assert body.count(b'name="image[]"') == 2


def test_edit_mask_mismatch_is_one_line_naming_the_option(
    openai_server: MockOpenAI, clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mask of another size fails before any request, in one line naming --mask."""
    write_png(clean_env / "room.png")
    write_png(clean_env / "mask.png", size=(32, 32))

    status = main(["edit", "room.png", "--mask", "mask.png", "x", "--api-base", openai_server.url, "--api-key", "k"])
    _, err = capsys.readouterr()

    assert status == 1
    assert "mask is 32x32 but the image is 64x64" in err
    assert "(option: --mask)" in err
    assert openai_server.seen == []


def test_edit_missing_file_is_named(
    openai_server: MockOpenAI, clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A path that does not exist is named."""
    status = main(["edit", "nope.png", "x", "--api-base", openai_server.url, "--api-key", "k"])
    _, err = capsys.readouterr()

    assert status == 1
    assert "no such file: 'nope.png'" in err


def test_variation_command(openai_server: MockOpenAI, clean_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`pixmux variation otter.png -m dall-e-2 -n 2` posts to /images/variations without a prompt."""
    write_png(clean_env / "otter.png")

    status = main(
        ["variation", "otter.png", "-m", "dall-e-2", "-n", "2", "--api-base", openai_server.url, "--api-key", "k"]
    )
    out, err = capsys.readouterr()

    assert status == 0, err
    seen = openai_server.seen[-1]
    assert seen.path == "/v1/images/variations"
    assert b'name="prompt"' not in seen.body
    assert b'name="n"\r\n\r\n2' in seen.body
    assert out.strip().startswith("otter-")
