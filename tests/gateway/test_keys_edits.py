"""Edits through the gateway with a virtual key: reserved, charged, and recorded as operation 'edit'."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from edits_support import png
from gateway_support import RunningGateway, auth
from keys_support import IMAGE_PRICE, keys_config
from pixmux.proxy import create_app, parse_config


@pytest.fixture
def gateway(recorder: Any, tmp_path: Path) -> Iterator[RunningGateway]:
    config = keys_config(f"sqlite:///{tmp_path / 'k.db'}", recorder.url, journal=tmp_path / "journal")
    with RunningGateway(create_app(parse_config(config, path="e.yaml", environ={}))) as running:
        yield running


def test_edit_is_reserved_charged_and_recorded(gateway: RunningGateway) -> None:
    """A budget of one image: one edit goes through and is charged; the next is refused before any upload."""
    created = httpx.post(f"{gateway.url}/key/generate", headers=auth(), json={"max_budget": IMAGE_PRICE}).json()
    files = {"image": ("room.png", png(), "image/png")}

    first = httpx.post(
        f"{gateway.url}/v1/images/edits",
        headers=auth(created["key"]),
        data={"model": "img", "prompt": "x"},
        files=files,
    )
    second = httpx.post(
        f"{gateway.url}/v1/images/edits",
        headers=auth(created["key"]),
        data={"model": "img", "prompt": "x"},
        files=files,
    )
    logs = httpx.get(f"{gateway.url}/spend/logs", headers=auth()).json()

    assert (first.status_code, second.status_code) == (200, 429)
    assert second.json()["error"]["type"] == "budget_exceeded"
    assert [(row["operation"], row["status"]) for row in logs] == [("edit", "success")]
    assert logs[0]["spend"] == pytest.approx(float(first.headers["x-pixmux-cost"]))
