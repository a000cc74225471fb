"""
A stand-in for the Daub Images API on 127.0.0.1, to try the plugin without an account.

    python fake_daub.py            # serves http://127.0.0.1:8765/v1

Each job answers "queued", then "running", then "done" with 1x1 PNGs. A prompt with the
word "forbidden" is "blocked". A request without an X-Daub-Key header gets a 401.
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

PNG_1X1 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP43+AAAARBAcAM0e2RAAAAAElFTkSuQmCC"
STEPS = ("queued", "running", "done")


class DaubHandler(BaseHTTPRequestHandler):
    jobs: ClassVar[dict[str, dict[str, Any]]] = {}
    ids: ClassVar[itertools.count[int]] = itertools.count(1)
    poll_after: ClassVar[float] = 0.5

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        if self.headers.get("X-Daub-Key"):
            return True
        self._answer(401, {"error": {"code": "missing_key", "message": "send your key in X-Daub-Key"}})
        return False

    def do_POST(self) -> None:
        if not self._authorized():
            return
        if self.path != "/v1/jobs":
            self._answer(404, {"error": {"code": "not_found", "message": f"no route POST {self.path}"}})
            return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        job_id = f"job_{next(self.ids)}"
        blocked = "forbidden" in str(body.get("prompt", ""))
        self.jobs[job_id] = {"images": int(body.get("images", 1)), "step": 0, "blocked": blocked}
        self._answer(201, {"id": job_id, "status": "queued", "poll_after": self.poll_after})

    def do_GET(self) -> None:
        if not self._authorized():
            return
        job = self.jobs.get(self.path.removeprefix("/v1/jobs/"))
        if job is None:
            self._answer(404, {"error": {"code": "not_found", "message": f"no job at {self.path}"}})
            return
        job["step"] = min(job["step"] + 1, len(STEPS) - 1)
        answer: dict[str, Any] = {"id": self.path.rsplit("/", 1)[-1], "status": STEPS[job["step"]]}
        answer["poll_after"] = self.poll_after
        if job["blocked"] and answer["status"] == "done":
            answer.update(status="blocked", error={"code": "unsafe_prompt", "message": "the prompt breaks our rules"})
        elif answer["status"] == "done":
            answer.update(created_at=int(time.time()), images=[{"png": PNG_1X1}] * job["images"])
        self._answer(200, answer)

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"fake-daub: {format % args}\n")


def make_server(port: int = 8765, poll_after: float = 0.5) -> ThreadingHTTPServer:
    """The fake Daub server on 127.0.0.1:``port`` (0 picks a free port); call ``serve_forever()`` on it."""
    DaubHandler.poll_after = poll_after
    return ThreadingHTTPServer(("127.0.0.1", port), DaubHandler)


if __name__ == "__main__":
    server = make_server(int(sys.argv[1]) if len(sys.argv) > 1 else 8765)
    print(f"fake Daub API on http://127.0.0.1:{server.server_address[1]}/v1 (Ctrl-C stops it)")
    server.serve_forever()
