"""``pixmux generate --stream`` and ``pixmux edit --stream``: previews written as they arrive, then the final image."""

from __future__ import annotations

import base64
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from pixmux._cli import main
from pixmux.testing import TINY_PNG_B64, local_server

sys.path.insert(0, str(Path(__file__).parents[2] / "plugins" / "openai" / "tests"))

from stream_support import COMPLETED, KEY, StreamingProvider, completed, partial


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with local_server(StreamingProvider) as url:
        yield f"{url}/v1"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["generate", *args])
    out, err = capsys.readouterr()
    return status, out, err


def test_stream_writes_each_preview_then_the_final_image(
    upstream: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(
        capsys, "an otter", "-m", "gpt-image-1", "--api-base", upstream, "--api-key", KEY,
        "--stream", "--partial-images", "2", "-o", str(tmp_path),
    )  # fmt: skip

    assert status == 0, err
    written = [Path(line).name for line in out.splitlines()]
    assert written == ["an-otter-1.partial-0.png", "an-otter-1.partial-1.png", "an-otter-1.png"]
    assert all((tmp_path / name).stat().st_size > 0 for name in written)
    assert "cost $" in err
    assert StreamingProvider.seen[-1]["partial_images"] == 2


def test_stream_json_prints_openais_events_one_per_line(
    upstream: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(
        capsys, "an otter json", "-m", "gpt-image-1", "--api-base", upstream, "--api-key", KEY,
        "--stream", "--partial-images", "1", "--json",
    )  # fmt: skip

    assert status == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["type"] for e in events] == ["image_generation.partial_image", "image_generation.completed"]
    assert events[-1] == COMPLETED


def test_partial_images_out_of_range_is_one_clear_line(upstream: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(
        capsys, "an otter", "-m", "gpt-image-1", "--api-base", upstream, "--api-key", KEY,
        "--stream", "--partial-images", "9",
    )  # fmt: skip
    assert status != 0
    assert "partial_images" in err
    assert "Traceback" not in err


def edit_inputs(folder: Path) -> tuple[Path, Path]:
    room = folder / "room.png"
    room.write_bytes(base64.b64decode(TINY_PNG_B64))
    buffer = io.BytesIO()
    Image.new("RGBA", (1, 1), (0, 0, 0, 0)).save(buffer, "PNG")
    mask = folder / "mask.png"
    mask.write_bytes(buffer.getvalue())
    return room, mask


def test_edit_stream_writes_each_preview_then_the_final_image(
    upstream: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    room, mask = edit_inputs(tmp_path)
    status = main([
        "edit", str(room), "--mask", str(mask), "add snow", "-m", "gpt-image-1", "--api-base", upstream,
        "--api-key", KEY, "--stream", "--partial-images", "2", "-o", str(tmp_path / "out"),
    ])  # fmt: skip
    out, err = capsys.readouterr()

    assert status == 0, err
    written = [Path(line).name for line in out.splitlines()]
    assert written == ["add-snow-1.partial-0.png", "add-snow-1.partial-1.png", "add-snow-1.png"]
    assert (tmp_path / "out" / "add-snow-1.png").read_bytes() == base64.b64decode(TINY_PNG_B64)
    assert "cost $" in err
    sent = StreamingProvider.seen[-1]
    assert (sent["stream"], sent["partial_images"], sent["prompt"]) == (True, 2, "add snow")
    assert [name for name, _, _ in sent["files"]] == ["image", "mask"]


def test_edit_stream_json_prints_openais_edit_events_one_per_line(
    upstream: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    room, _ = edit_inputs(tmp_path)
    status = main([
        "edit", str(room), "add snow json", "-m", "gpt-image-1", "--api-base", upstream, "--api-key", KEY,
        "--stream", "--partial-images", "1", "--json",
    ])  # fmt: skip
    out, err = capsys.readouterr()

    assert status == 0, err
    assert [json.loads(line) for line in out.splitlines()] == [partial(0, "image_edit"), completed("image_edit")]
    assert not list(tmp_path.glob("add-snow-json*"))  # --json without -o writes no files


def test_edit_partial_images_without_stream_is_one_clear_line(
    upstream: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    room, _ = edit_inputs(tmp_path)
    status = main([
        "edit", str(room), "add snow", "-m", "gpt-image-1", "--api-base", upstream, "--api-key", KEY,
        "--partial-images", "2",
    ])  # fmt: skip
    _, err = capsys.readouterr()
    assert status != 0
    assert "partial_images needs stream" in err
    assert "Traceback" not in err
