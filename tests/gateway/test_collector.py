"""The gateway process tunes Python's garbage collector for many requests in flight; garbage is still collected."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from pixmux.proxy._collector import YOUNG_THRESHOLD


def _run(code: str) -> dict[str, object]:
    """Run ``code`` in a fresh interpreter (the collector's settings are process-wide); it prints one JSON line."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_tune_collector_freezes_start_up_and_raises_the_young_threshold() -> None:
    """Start-up's objects leave the collected generations, and a young collection waits for YOUNG_THRESHOLD."""
    found = _run(
        """
        import gc, json
        import pixmux.proxy.app
        from pixmux.proxy._collector import tune_collector
        middle_before = gc.get_threshold()[1:]
        tune_collector()
        print(json.dumps({"frozen": gc.get_freeze_count(), "threshold": gc.get_threshold(),
                          "middle_before": middle_before, "tracked": len(gc.get_objects())}))
        """
    )
    assert isinstance(found["frozen"], int)
    assert found["frozen"] > 10_000
    assert isinstance(found["tracked"], int)
    assert found["tracked"] < 1_000
    middle = found["middle_before"]
    assert isinstance(middle, list)
    assert found["threshold"] == [YOUNG_THRESHOLD, *middle]


def test_garbage_in_cycles_is_still_collected_after_tuning() -> None:
    """Objects in reference cycles die without an explicit gc.collect(), once enough is allocated."""
    found = _run(
        f"""
        import gc, json, weakref
        from pixmux.proxy._collector import tune_collector
        tune_collector()

        class Node:
            pass

        dead = []
        for _ in range(100):
            node = Node()
            node.me = node  # a cycle: reference counting alone never frees it
            weakref.finalize(node, dead.append, 1)
        del node
        keep = [[] for _ in range({YOUNG_THRESHOLD} + 1_000)]  # allocations past the threshold
        print(json.dumps({{"collected": len(dead)}}))
        """
    )
    assert found["collected"] == 100


def test_pixmux_serve_tunes_the_collector_before_it_serves(tmp_path: Path) -> None:
    """`pixmux serve` (one worker) freezes start-up and raises the threshold before uvicorn runs."""
    config = tmp_path / "config.yaml"
    config.write_text(
        json.dumps({"model_list": [{"model_name": "demo", "litellm_params": {"model": "openai/gpt-image-1"}}]})
    )
    found = _run(
        f"""
        import gc, json, uvicorn
        from pixmux.proxy.cli import main

        def run(app, **options):
            print(json.dumps({{"frozen": gc.get_freeze_count(), "young": gc.get_threshold()[0]}}))

        uvicorn.run = run
        main(["--config", {str(config)!r}, "--port", "0"])
        """
    )
    assert isinstance(found["frozen"], int)
    assert found["frozen"] > 10_000
    assert found["young"] == YOUNG_THRESHOLD
