"""A stand-in for OpenAI's streaming images endpoint on 127.0.0.1 (library and gateway tests use it)."""

from __future__ import annotations

import base64
import email.parser
import email.policy
import http.server
import json
import random
import time
from typing import Any, ClassVar

from pixmux.testing import TINY_PNG_B64, reply

KEY = "sk-stream-test-key-0123456789"
PARTIAL_B64 = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"partial" * 10).decode()
#: The image of a "big" prompt's partial events: 300 kB of base64, read by the core without reading the image.
BIG_B64 = base64.b64encode(b"\x89PNG\r\n\x1a\n" + random.Random(7).randbytes(225_000)).decode()


def partial(index: int, kind: str = "image_generation") -> dict[str, Any]:
    """A partial image event; ``kind`` is ``image_generation`` or, for edits, ``image_edit``."""
    return {
        "type": f"{kind}.partial_image",
        "b64_json": PARTIAL_B64,
        "partial_image_index": index,
        "created_at": 1720000000,
        "size": "1024x1024",
        "quality": "low",
        "background": "opaque",
        "output_format": "png",
    }


COMPLETED = {
    "type": "image_generation.completed",
    "b64_json": TINY_PNG_B64,
    "created_at": 1720000005,
    "size": "1024x1024",
    "quality": "low",
    "background": "opaque",
    "output_format": "png",
    "usage": {
        "total_tokens": 300,
        "input_tokens": 100,
        "output_tokens": 200,
        "input_tokens_details": {"text_tokens": 100, "image_tokens": 0},
    },
}


def completed(kind: str = "image_generation") -> dict[str, Any]:
    return {**COMPLETED, "type": f"{kind}.completed"}


def form(content_type: str, raw: bytes) -> dict[str, Any]:
    """A multipart edit body as the handler sees it: text fields, plus the uploaded files' names under ``files``."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"content-type: {content_type}\r\n\r\n".encode() + raw
    )
    fields: dict[str, Any] = {"files": []}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if part.get_filename() is not None:
            fields["files"].append((name, part.get_content_type(), payload))
        else:
            fields[str(name)] = payload.decode()
    if "stream" in fields:
        fields["stream"] = fields["stream"] == "true"
    if "partial_images" in fields:
        fields["partial_images"] = int(fields["partial_images"])
    return fields


def block(body: dict[str, Any], event: str | None = None, *, escaped: bool = False) -> bytes:
    """One event as OpenAI writes it; ``escaped`` writes every ``/`` as ``\\/`` (valid JSON, as some servers do)."""
    name = event or body["type"]
    data = json.dumps(body)
    if escaped:
        data = data.replace("/", "\\/")
    return f"event: {name}\ndata: {data}\n\n".encode()


class StreamingProvider(http.server.BaseHTTPRequestHandler):
    """OpenAI's images endpoint, streaming; the prompt picks the behaviour. ``seen`` keeps each body."""

    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[dict[str, Any]]] = []
    attempts: ClassVar[dict[str, int]] = {}
    closed: ClassVar[list[float]] = []

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers["content-length"]))
        editing = self.path.endswith("/images/edits")  # multipart, answered with image_edit.* events
        body = form(self.headers["content-type"], raw) if editing else json.loads(raw)
        kind = "image_edit" if editing else "image_generation"
        self.seen.append(body)
        prompt = body["prompt"]
        count = self.attempts[prompt] = self.attempts.get(prompt, 0) + 1
        if "busy-once" in prompt and count == 1:
            reply(self, 429, {"error": {"message": "busy", "type": "rate_limit_error", "code": None}})
            return
        if not body.get("stream"):
            reply(self, 200, {"created": 1, "data": [{"b64_json": TINY_PNG_B64}]})
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("connection", "close")
        self.end_headers()
        big, escaped = "big" in prompt, "escaped" in prompt
        blocks = [
            block({**partial(i, kind), "b64_json": BIG_B64} if big else partial(i, kind), escaped=escaped)
            for i in range(int(body.get("partial_images") or 0))
        ]
        if "fail-midway" in prompt:
            error = {"error": {"message": "the image could not be finished", "type": "server_error", "code": None}}
            blocks = [*blocks[:1], block(error, "error")]
        elif "cut-off" in prompt:
            blocks = blocks[:1]
        else:
            blocks.append(block(completed(kind)))
        try:
            for data in blocks:
                step = len(data) if "whole" in prompt else 8191 if big else 37
                for start in range(0, len(data), step):  # split events anywhere, as TCP may
                    self.wfile.write(data[start : start + step])
                    self.wfile.flush()
                time.sleep(0.3 if "slowly" in prompt else 0.01)
        except (BrokenPipeError, ConnectionResetError):
            self.closed.append(time.monotonic())
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        return
