"""Every provider page shows a gateway config snippet, and each snippet starts a gateway."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from pixmux.proxy import create_app, parse_config

PROVIDER_PAGES = sorted((Path(__file__).resolve().parents[1] / "docs" / "providers").glob("*.md"))


@pytest.mark.parametrize("page", PROVIDER_PAGES, ids=lambda page: page.stem)
def test_provider_page_has_a_gateway_snippet_that_starts(page: Path) -> None:
    """The page's YAML config snippets load strictly and start a gateway (each deployment checked, no I/O)."""
    blocks = re.findall(r"```yaml\n(.*?)```", page.read_text(encoding="utf-8"), re.DOTALL)

    assert blocks, f"{page.name} shows no gateway config snippet"
    for block in blocks:
        environ = {name: f"{name.lower()}-value-0123" for name in re.findall(r"os\.environ/(\w+)", block)}
        gateway = create_app(parse_config(yaml.safe_load(block), path=page.name, environ=environ))
        assert gateway.router.model_names
