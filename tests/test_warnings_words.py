"""A dropped parameter is reported once, in words, however many times pixmux checks it."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_dropped_parameter_warning_is_said_once_in_words() -> None:
    """Three calls dropping the same parameter print one line, ``pixmux: dropped ...``, with no source path."""
    script = textwrap.dedent(
        """
        import pixmux
        for _ in range(3):
            pixmux.image_generation(
                prompt="otter", model="openai/gpt-image-1", mock_response=True, drop_params=True, style="vivid"
            )
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)

    lines = done.stderr.strip().splitlines()
    assert lines == [
        "pixmux: dropped style='vivid': style='vivid' is not supported by gpt-image-1; "
        "accepted: none (the model has no such option)"
    ]
    assert ".py" not in done.stderr
