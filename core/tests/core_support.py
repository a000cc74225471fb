"""
Helpers shared by the retry and router tests (importable by every test here: conftest.py puts
this folder on ``sys.path``).

Provider traffic goes to the OpenAI plugin on a mock transport; ``Hosts`` tells deployments
apart by host (``http://a.test/v1``, ``http://b.test/v1``...), so each test scripts what every
deployment answers. Bodies are in OpenAI's shapes (see provider-specs/openai.md).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pixmux_openai.provider as openai_provider
from pixmux import Router
from pixmux._retry import Backoff
from pixmux.testing import TINY_PNG_B64, RecordingEngine, make_engine

#: The key every routed deployment sends; tests check it never shows in errors, reprs or metadata.
KEY = "sk-router-test-0123456789-SECRET"

OK = {"created": 1713833628, "data": [{"b64_json": TINY_PNG_B64}]}
SERVER_ERROR = {
    "error": {
        "message": "The server had an error while processing your request. Sorry about that!",
        "type": "server_error",
        "param": None,
        "code": None,
    }
}
RATE_LIMIT = {
    "error": {
        "message": "Rate limit reached for gpt-image-1 on images per minute (IPM): Limit 5, Used 5, Requested 1.",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }
}
REFUSAL = {
    "error": {
        "code": "content_policy_violation",
        "message": "Your request was rejected as a result of our safety system.",
        "param": None,
        "type": "invalid_request_error",
    }
}
BAD_KEY = {
    "error": {
        "message": "Incorrect API key provided.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }
}


def ok(request: httpx.Request) -> httpx.Response:
    """OpenAI's success body, one image per ``n``."""
    n = json.loads(request.content).get("n", 1)
    return httpx.Response(200, json={**OK, "data": OK["data"] * n})


class Hosts:
    """Mock providers told apart by host; rules may be swapped while the test runs; counts per host and prompt."""

    def __init__(self, **rules: Callable[[httpx.Request], Any]) -> None:
        self.rules = dict(rules)
        self.hits: Counter[str] = Counter()
        self.per_prompt: Counter[str] = Counter()
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> Any:
        host = request.url.host.removesuffix(".test")
        with self.lock:
            self.hits[host] += 1
            self.per_prompt[json.loads(request.content)["prompt"]] += 1
        return self.rules.get(host, ok)(request)


def entry(name: str, host: str, **params: Any) -> dict[str, Any]:
    """A model_list entry on ``http://<host>.test/v1`` with id ``host``."""
    return {
        "model_name": name,
        "litellm_params": {
            "model": "openai/gpt-image-1",
            "api_base": f"http://{host}.test/v1",
            "api_key": KEY,
            **params,
        },
        "model_info": {"id": host},
    }


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Waits:
    """A fake sleep for the sync and async paths: records each wait, never sleeps."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.seconds.append(seconds)

    async def asleep(self, seconds: float) -> None:
        self.seconds.append(seconds)


def router_for(hosts: Hosts, model_list: list[dict[str, Any]], waits: Waits | None = None, **settings: Any) -> Router:
    """A router over the OpenAI plugin answered by ``hosts``; retry waits go to ``waits`` (never slept)."""
    engine: RecordingEngine = make_engine(openai_provider, handler=hosts)
    waits = waits or Waits()
    engine.retry = Backoff(sleep=waits.sleep, asleep=waits.asleep)
    return Router(model_list, engine=engine, **settings)
