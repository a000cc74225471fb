"""``pixmux generate --stream``: previews written as they arrive, then the final image."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pixmux._cli import main
from pixmux.testing import local_server

sys.path.insert(0, str(Path(__file__).parents[2] / "plugins" / "openai" / "tests"))

from stream_support import COMPLETED, KEY, StreamingProvider


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
