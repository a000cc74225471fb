"""``pixmux providers`` and ``pixmux models PROVIDER``: what is installed and what each model accepts."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import pytest
from pixmux._cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the command; return its exit status, stdout and stderr."""
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def fake_distribution(folder: Path, name: str, version: str, entry_points: str) -> None:
    """Write an installed distribution's metadata (as pip leaves it) into ``folder``."""
    info = folder / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(entry_points)


def test_providers_lists_openai_with_its_distribution_and_models(capsys: pytest.CaptureFixture[str]) -> None:
    """The OpenAI plugin is listed with its distribution, version, models, sizes and qualities."""
    _, out, _ = run(capsys, "providers")

    version = metadata.version("pixmux-openai")
    block = next(block for block in out.split("\n\n") if block.startswith("openai  ("))
    assert block.startswith(f"openai  (pixmux-openai {version})")
    line = next(line for line in block.splitlines() if line.strip().startswith("dall-e-3 "))
    assert "sizes: 1024x1024, 1024x1792, 1792x1024" in line
    assert "qualities: hd, standard" in line
    gpt = next(line for line in block.splitlines() if line.strip().startswith("gpt-image-1 "))
    assert "qualities: auto, high, low, medium" in gpt


def test_providers_json_describes_every_installed_provider(capsys: pytest.CaptureFixture[str]) -> None:
    """--json lists each installed provider with its models, as data a script can read."""
    _, out, _ = run(capsys, "providers", "--json")

    listing = json.loads(out)
    names = {entry["provider"] for entry in listing}
    installed = {entry.name for entry in metadata.entry_points(group="pixmux.providers")}
    assert names == installed
    openai = next(entry for entry in listing if entry["provider"] == "openai")
    assert openai["distribution"] == "pixmux-openai"
    model = next(model for model in openai["models"] if model["name"] == "gpt-image-1")
    assert model["sizes"] == ["auto", "1024x1024", "1024x1536", "1536x1024"]
    assert model["max_n"] == 10


def test_providers_reports_a_broken_plugin_and_exits_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A plugin that fails to import is listed with its error (the others still are), and the exit status is 1."""
    fake_distribution(tmp_path, "pixmux-brokenthing", "0.3.0", "[pixmux.providers]\nbrokenthing = no_such_module_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    status, out, _ = run(capsys, "providers")

    assert status == 1
    block = out[out.index("brokenthing  (pixmux-brokenthing 0.3.0)") :]
    assert "error: the plugin for provider 'brokenthing'" in block.splitlines()[1]
    assert "no_such_module_xyz" in block.splitlines()[1]
    assert "openai  (pixmux-openai" in out


def test_models_details_each_model(capsys: pytest.CaptureFixture[str]) -> None:
    """`models openai` gives credentials, and per model: sizes, qualities, styles, n, parameters and price."""
    status, out, _ = run(capsys, "models", "openai")

    assert status == 0
    assert "api_key: OPENAI_API_KEY" in out
    block = out[out.index("dall-e-3  ") :].split("\n\n")[0]
    assert "styles:            natural, vivid" in block
    assert "n:                 1 to 1" in block
    assert "response formats:  b64_json, url" in block
    assert "1024x1024 standard $0.04" in block
    gpt = out[out.index("gpt-image-1  ") :].split("\n\n")[0]
    assert "output_format (jpeg, png, webp)" in gpt
    assert "output_compression (0 to 100)" in gpt
    assert "$5.00 / 1M input tokens" in gpt


def test_models_json_is_the_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    """`models openai --json` prints each model's catalogue entry."""
    status, out, _ = run(capsys, "models", "openai", "--json")

    assert status == 0
    models = {model["name"]: model for model in json.loads(out)}
    assert models["dall-e-2"]["sizes"] == ["256x256", "512x512", "1024x1024"]
    assert models["gpt-image-1"]["param_values"]["background"] == ["auto", "opaque", "transparent"]
    assert {"usd": 0.04, "size": "1024x1024", "quality": "standard"} in models["dall-e-3"]["pricing"]["per_image"]


def test_models_unknown_provider_names_the_package(capsys: pytest.CaptureFixture[str]) -> None:
    """An uninstalled provider is one error line naming what is installed and what to install."""
    status, out, err = run(capsys, "models", "nosuch")

    assert status == 1
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert "pip install pixmux-nosuch" in lines[0]
    assert "openai" in lines[0]


def test_main_without_a_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """`pixmux` alone shows the commands and exits 2."""
    status, _, err = run(capsys)

    assert status == 2
    for command in ("generate", "providers", "models", "serve"):
        assert command in err


def test_main_version_prints_the_core_version(capsys: pytest.CaptureFixture[str]) -> None:
    """`pixmux --version` prints `pixmux <version>` and exits 0."""
    status, out, _ = run(capsys, "--version")

    assert status == 0
    assert out.strip() == f"pixmux {metadata.version('pixmux')}"


def test_models_prints_whole_numbers_in_full(capsys: pytest.CaptureFixture[str]) -> None:
    """A parameter's range reads ``seed (0 to 4294967295)``, never ``4.29497e+09``."""
    _, out, _ = run(capsys, "models", "recraft")

    assert "seed (0 to 4294967295)" in out
    assert "e+" not in out
