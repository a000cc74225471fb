"""Robustness of the gateway's upload reader: any body, cut anywhere, gets a typed 4xx, never a 500."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import httpx
from fuzz_support import fuzz
from gateway_support import MASTER_KEY, make_gateway
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from pixmux.testing import TINY_PNG_B64, json_response

FUZZ = fuzz(150, HealthCheck.data_too_large)
PNG = base64.b64decode(TINY_PNG_B64)
_GATEWAY, _ENGINE = make_gateway(
    {
        "model_list": [
            {
                "model_name": "gpt-image-1",
                "litellm_params": {"model": "openai/gpt-image-1", "api_base": "http://up.test/v1", "api_key": "sk-up"},
            }
        ],
        "general_settings": {"master_key": MASTER_KEY, "max_upload_size_mb": 1},
    },
    handler=lambda r: json_response(200, {"created": 1, "data": [{"b64_json": TINY_PNG_B64}]}),
)


def _post(body: bytes, content_type: str, chunk: int) -> tuple[int, dict[str, Any]]:
    pieces = [body[i : i + chunk] for i in range(0, len(body), chunk)] or [b""]
    queue = list(pieces)
    answer: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        piece = queue.pop(0) if queue else b""
        return {"type": "http.request", "body": piece, "more_body": bool(queue)}

    async def send(message: dict[str, Any]) -> None:
        answer.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/images/edits",
        "headers": [(b"authorization", f"Bearer {MASTER_KEY}".encode()), (b"content-type", content_type.encode())],
    }
    asyncio.run(_GATEWAY(scope, receive, send))
    return answer[0]["status"], answer[0]


def _valid() -> tuple[bytes, str]:
    request = httpx.Request(
        "POST",
        "http://x/v1/images/edits",
        data={"model": "gpt-image-1", "prompt": "snow", "n": "1"},
        files=[("image[]", ("a.png", PNG, "image/png")), ("image[]", ("b.png", PNG, "image/png"))],
    )
    return request.read(), request.headers["content-type"]


@FUZZ
@given(cut=st.integers(min_value=0), chunk=st.integers(min_value=1, max_value=4096))
def test_robustness_uploads_cut_anywhere(cut: int, chunk: int) -> None:
    """A valid upload cut at any byte, sent in chunks of any size: 200 once the closing boundary is in, else 400."""
    body, content_type = _valid()
    cut %= len(body) + 1
    closed = body.rindex(b"--\r\n") + 2  # the CRLF after the closing boundary is optional

    status, _ = _post(body[:cut], content_type, chunk)

    assert status == (200 if cut >= closed else 400)


@FUZZ
@given(
    flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)), max_size=8),
    chunk=st.integers(min_value=1, max_value=4096),
)
def test_robustness_uploads_corrupted(flips: list[tuple[int, int]], chunk: int) -> None:
    """A valid upload with bytes overwritten anywhere: a 200 or a 4xx, never a 5xx."""
    body, content_type = _valid()
    corrupted = bytearray(body)
    for where, value in flips:
        corrupted[where % len(corrupted)] = value

    status, _ = _post(bytes(corrupted), content_type, chunk)

    assert 200 <= status < 500


@FUZZ
@given(body=st.binary(max_size=2048), boundary=st.text(min_size=0, max_size=80))
def test_robustness_uploads_arbitrary(body: bytes, boundary: str) -> None:
    """Arbitrary bytes under any boundary: a 4xx, never a 5xx."""
    content_type = f"multipart/form-data; boundary={boundary}"
    try:
        content_type.encode("latin-1")
    except UnicodeEncodeError:
        return
    status, _ = _post(body, content_type, 512)

    assert 400 <= status < 500
