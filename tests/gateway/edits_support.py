"""
What the gateway's edit tests share: small PNGs, a multipart reader, and a recording stand-in
for OpenAI's Images API that keeps every body it receives (a module of its own: test modules
are not imported from each other, whose names clash across the test folders).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from PIL import Image
from pixmux.testing import TINY_PNG_B64, local_server, reply


def png(width: int = 64, height: int = 64, mode: str = "RGBA", color: Any = (10, 20, 30, 0)) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height), color if mode == "RGBA" else color[:3]).save(buffer, "PNG")
    return buffer.getvalue()


def parts_of(content_type: str, body: bytes) -> list[tuple[str, str | None, str | None, bytes]]:
    """A multipart body's parts as (name, filename, content type, bytes), in order."""
    boundary = content_type.split("boundary=", 1)[1].strip('"').encode()
    found = []
    for chunk in body.split(b"--" + boundary)[1:-1]:
        head, _, data = chunk[2:].partition(b"\r\n\r\n")
        headers = {}
        for line in head.decode().split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = headers["content-disposition"]
        options = dict(item.strip().split("=", 1) for item in disposition.split(";")[1:] if "=" in item)
        found.append(
            (
                options["name"].strip('"'),
                options["filename"].strip('"') if "filename" in options else None,
                headers.get("content-type"),
                data[:-2],  # the CRLF before the next boundary
            )
        )
    return found


class Recorder(BaseHTTPRequestHandler):
    url: str
    seen: list[dict[str, Any]]

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        self.seen.append(
            {
                "path": self.path,
                "auth": self.headers.get("authorization"),
                "type": self.headers["content-type"],
                "body": body,
            }
        )
        if b'name="stream"\r\n\r\ntrue' in body:
            self._stream()
            return
        answer = {"created": 1, "data": [{"b64_json": TINY_PNG_B64}]}
        if self.path.endswith("/images/edits"):
            answer["usage"] = {
                "input_tokens": 300,
                "output_tokens": 1000,
                "total_tokens": 1300,
                "input_tokens_details": {"text_tokens": 20, "image_tokens": 280},
            }
        reply(self, 200, answer)

    def _stream(self) -> None:
        """OpenAI's edit stream: one partial image, then the completed one (events as the spec gives them)."""
        common = {"created_at": 1720000000, "size": "1024x1024", "quality": "low", "background": "opaque"}
        events = [
            {"type": "image_edit.partial_image", "b64_json": TINY_PNG_B64, "partial_image_index": 0, **common},
            {
                "type": "image_edit.completed",
                "b64_json": TINY_PNG_B64,
                **common,
                "output_format": "png",
                "usage": {"input_tokens": 50, "output_tokens": 100, "total_tokens": 150},
            },
        ]
        payload = b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)
        reply(self, 200, payload, content_type="text/event-stream")

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def recorder() -> Iterator[type[Recorder]]:
    handler: type[Recorder] = type("Recorder", (Recorder,), {"seen": []})
    with local_server(handler) as url:
        handler.url = f"{url}/v1"
        yield handler
