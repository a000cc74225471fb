"""
The official ``openai`` client, unchanged, against the real gateway (uvicorn) in front of local
stand-ins for the submit-then-poll providers: BFL, fal, Replicate, Runway and DashScope.

Each stand-in is a real HTTP server on 127.0.0.1 answering with bodies shaped like the
provider's own (the plugins' ``tests/responses`` files); the gateway's engine is the default
one, discovering the installed plugins, so the whole path is the one a user runs.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import openai
import pytest
from gateway_support import MASTER_KEY, RunningGateway
from pixmux.proxy import create_app, parse_config
from pixmux.testing import TINY_PNG_B64, load_json, local_server, reply

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
UPSTREAM = "upstream-key-0123456789abcdef"
PNG = base64.b64decode(TINY_PNG_B64)
#: Where the stand-ins serve result files (the providers' CDNs).
FILES = "/files/"


def responses(provider: str, name: str) -> Any:
    """A recorded body from a plugin's ``tests/responses`` folder."""
    return load_json(name, folder=PLUGINS / provider / "tests" / "responses")


class StandIn(BaseHTTPRequestHandler):
    """Base of the stand-ins: JSON in, JSON out, every request recorded."""

    url: str
    seen: list[dict[str, Any]]

    def answer(self, status: int, body: Any) -> None:
        reply(self, status, body)

    def image(self) -> bool:
        """Answer a result file's bytes (a PNG) if the path is one; whether it was."""
        if not self.path.startswith(FILES):
            return False
        self.seen.append({"method": "GET", "path": self.path, "auth": self.headers.get("authorization")})
        reply(self, 200, PNG, content_type="image/png")
        return True

    def read_body(self) -> Any:
        length = int(self.headers.get("content-length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        return


class BFLStandIn(StandIn):
    """BFL: POST /v1/<endpoint> gives a polling_url; its GET is Ready (or moderated, by prompt)."""

    def do_POST(self) -> None:
        body = self.read_body()
        self.seen.append({"method": "POST", "path": self.path, "key": self.headers.get("x-key"), "body": body})
        task = "moderated" if "forbidden" in body.get("prompt", "") else f"task-{len(self.seen)}"
        submitted = responses("bfl", "submit.json")
        submitted.update(id=task, polling_url=f"{self.url}/v1/get_result?id={task}")
        self.answer(200, submitted)

    def do_GET(self) -> None:
        if self.image():
            return
        self.seen.append({"method": "GET", "path": self.path, "key": self.headers.get("x-key")})
        if "moderated" in self.path:
            self.answer(200, responses("bfl", "poll_request_moderated.json"))
            return
        ready = responses("bfl", "poll_ready.json")
        ready["result"]["sample"] = f"{self.url}{FILES}sample.png"
        self.answer(200, ready)


class ReplicateStandIn(StandIn):
    """Replicate: a created prediction is ``starting``; its poll has ``succeeded`` (or ``failed`` NSFW, by prompt)."""

    def prediction(self, name: str, pid: str) -> dict[str, Any]:
        body = responses("replicate", name)
        body["id"] = pid
        body["urls"].update(get=f"{self.url}/v1/predictions/{pid}", cancel=f"{self.url}/v1/predictions/{pid}/cancel")
        body["output"] = [f"{self.url}{FILES}out-0.png"] if body["status"] == "succeeded" else None
        return body

    def do_POST(self) -> None:
        body = self.read_body()
        self.seen.append({"method": "POST", "path": self.path, "auth": self.headers.get("authorization"), "body": body})
        pid = "nsfw" if "forbidden" in body["input"].get("prompt", "") else f"p{len(self.seen)}"
        self.answer(201, self.prediction("starting.json", pid))

    def do_GET(self) -> None:
        if self.image():
            return
        self.seen.append({"method": "GET", "path": self.path, "auth": self.headers.get("authorization")})
        pid = self.path.rsplit("/", 1)[-1]
        self.answer(200, self.prediction("failed_nsfw.json" if pid == "nsfw" else "succeeded_list.json", pid))


class FalStandIn(StandIn):
    """fal's queue: submit, a COMPLETED status, then the result (or a 422 content_policy_violation, by prompt)."""

    def do_POST(self) -> None:
        body = self.read_body()
        self.seen.append({"method": "POST", "path": self.path, "auth": self.headers.get("authorization"), "body": body})
        if "forbidden" in body.get("prompt", ""):
            self.answer(422, responses("fal", "error_422_content_policy.json"))
            return
        app = f"{self.url}/fal-ai/flux/requests/r1"
        self.answer(200, {"request_id": "r1", "response_url": app, "status_url": f"{app}/status",
                          "cancel_url": f"{app}/cancel", "queue_position": 0})  # fmt: skip

    def do_GET(self) -> None:
        if self.image():
            return
        self.seen.append({"method": "GET", "path": self.path, "auth": self.headers.get("authorization")})
        if self.path.endswith("/status"):
            self.answer(
                200,
                {**responses("fal", "status_completed.json"), "response_url": f"{self.url}/fal-ai/flux/requests/r1"},
            )
            return
        sync_mode = any(seen.get("body", {}).get("sync_mode") for seen in self.seen[-3:] if seen["method"] == "POST")
        result = responses("fal", "result_sync_mode.json" if sync_mode else "result_schnell.json")
        if not sync_mode:  # sync_mode answers data: URIs, else fal's CDN
            result["images"][0]["url"] = f"{self.url}{FILES}tiger.png"
        self.answer(200, result)


class RunwayStandIn(StandIn):
    """Runway: POST /v1/text_to_image gives a task id; its poll SUCCEEDED (or FAILED SAFETY.INPUT.TEXT, by prompt)."""

    def do_POST(self) -> None:
        body = self.read_body()
        self.seen.append({"method": "POST", "path": self.path, "auth": self.headers.get("authorization"),
                          "version": self.headers.get("x-runway-version"), "body": body})  # fmt: skip
        self.answer(200, {"id": "unsafe" if "forbidden" in body.get("promptText", "") else "t1"})

    def do_GET(self) -> None:
        if self.image():
            return
        self.seen.append({"method": "GET", "path": self.path, "auth": self.headers.get("authorization")})
        if self.path.endswith("/unsafe"):
            self.answer(200, responses("runway", "task_failed_safety_input.json"))
            return
        task = responses("runway", "task_succeeded_plain.json")
        task["output"] = [f"{self.url}{FILES}t1.png"]
        self.answer(200, task)


class DashScopeStandIn(StandIn):
    """DashScope's async protocol: a submitted task is polled at /tasks/{id}; SUCCEEDED (or FAILED inspection)."""

    def do_POST(self) -> None:
        body = self.read_body()
        self.seen.append({"method": "POST", "path": self.path, "auth": self.headers.get("authorization"),
                          "async": self.headers.get("x-dashscope-async"), "body": body})  # fmt: skip
        submitted = responses("dashscope", "async_submit.json")
        if "forbidden" in body["input"]["prompt"]:
            submitted["output"]["task_id"] = "flagged"
        self.answer(200, submitted)

    def do_GET(self) -> None:
        if self.image():
            return
        self.seen.append({"method": "GET", "path": self.path, "auth": self.headers.get("authorization")})
        if self.path.endswith("/flagged"):
            self.answer(200, responses("dashscope", "task_failed_inspection.json"))
            return
        task = responses("dashscope", "task_succeeded.json")
        for index, result in enumerate(task["output"]["results"]):
            result["url"] = f"{self.url}{FILES}{index}.png?Expires=1777716000"
        self.answer(200, task)


def _serve(handler: type[StandIn]) -> Iterator[type[StandIn]]:
    made: type[StandIn] = type(handler.__name__, (handler,), {"seen": []})
    with local_server(made) as url:
        made.url = url
        yield made


@pytest.fixture(scope="module")
def bfl_server() -> Iterator[type[StandIn]]:
    yield from _serve(BFLStandIn)


def _gateway(models: list[dict[str, Any]]) -> RunningGateway:
    config = {
        "model_list": models,
        "router_settings": {"num_retries": 0},
        "general_settings": {"master_key": MASTER_KEY},
    }
    return RunningGateway(create_app(parse_config(config, path="poll.yaml", environ={})))


@pytest.fixture(scope="module")
def replicate_server() -> Iterator[type[StandIn]]:
    yield from _serve(ReplicateStandIn)


@pytest.fixture(scope="module")
def fal_server() -> Iterator[type[StandIn]]:
    yield from _serve(FalStandIn)


@pytest.fixture(scope="module")
def runway_server() -> Iterator[type[StandIn]]:
    yield from _serve(RunwayStandIn)


@pytest.fixture(scope="module")
def dashscope_server() -> Iterator[type[StandIn]]:
    yield from _serve(DashScopeStandIn)


@pytest.fixture(scope="module")
def live(
    bfl_server: type[StandIn],
    replicate_server: type[StandIn],
    fal_server: type[StandIn],
    runway_server: type[StandIn],
    dashscope_server: type[StandIn],
) -> Iterator[RunningGateway]:
    models = [
        {
            "model_name": "flux",
            "litellm_params": {
                "model": "bfl/flux-2-pro",
                "api_base": bfl_server.url,
                "api_key": UPSTREAM,
                "poll_interval": 0,
            },
        },
        {
            "model_name": "schnell",
            "litellm_params": {
                "model": "replicate/black-forest-labs/flux-schnell",
                "api_base": f"{replicate_server.url}/v1",
                "api_key": UPSTREAM,
                "poll_interval": 0,
            },
        },
        {
            "model_name": "fal-schnell",
            "litellm_params": {
                "model": "fal/fal-ai/flux/schnell",
                "api_base": fal_server.url,
                "api_key": UPSTREAM,
                "poll_interval": 0,
            },
        },
        {
            "model_name": "gen4",
            "litellm_params": {
                "model": "runway/gen4_image",
                "api_base": runway_server.url,
                "api_key": UPSTREAM,
                "poll_interval": 0,
            },
        },
        {
            "model_name": "wan",
            "litellm_params": {
                "model": "dashscope/wan2.5-t2i-preview",
                "api_base": f"{dashscope_server.url}/api/v1",
                "api_key": UPSTREAM,
                "poll_interval": 0,
            },
        },
    ]
    with _gateway(models) as running:
        yield running


def client(live: RunningGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{live.url}/v1", api_key=MASTER_KEY, max_retries=0)


def test_bfl_through_the_openai_client(live: RunningGateway, bfl_server: type[StandIn]) -> None:
    """images.generate on a BFL model submits, polls and answers the result URL; the key stays upstream."""
    result = client(live).images.generate(model="flux", prompt="a lighthouse", response_format="url", size="1024x768")

    assert result.data[0].url == f"{bfl_server.url}{FILES}sample.png"
    posted = [seen for seen in bfl_server.seen if seen["method"] == "POST"][-1]
    assert posted["path"] == "/v1/flux-2-pro"
    assert posted["key"] == UPSTREAM
    assert (posted["body"]["width"], posted["body"]["height"]) == (1024, 768)
    assert bfl_server.seen[-1]["method"] == "GET"
    assert bfl_server.seen[-1]["key"] == UPSTREAM


def test_bfl_moderation_is_a_bad_request_for_the_openai_client(live: RunningGateway) -> None:
    """A task BFL moderates reaches the client as openai.BadRequestError, with BFL's status as the code."""
    with pytest.raises(openai.BadRequestError) as caught:
        client(live).images.generate(model="flux", prompt="forbidden things", response_format="url")

    assert caught.value.code == "Request Moderated"
    assert UPSTREAM not in str(caught.value.body)


def test_replicate_through_the_openai_client(live: RunningGateway, replicate_server: type[StandIn]) -> None:
    """images.generate on a Replicate model creates a prediction, polls it and answers its output URLs."""
    result = client(live).images.generate(model="schnell", prompt="a red fox", n=2, response_format="url")

    assert [d.url for d in result.data] == [f"{replicate_server.url}{FILES}out-0.png"]
    created = [seen for seen in replicate_server.seen if seen["method"] == "POST"][-1]
    assert created["path"] == "/v1/models/black-forest-labs/flux-schnell/predictions"
    assert created["body"]["input"]["num_outputs"] == 2
    assert created["auth"] == f"Bearer {UPSTREAM}"
    assert replicate_server.seen[-1]["method"] == "GET"


def test_replicate_nsfw_failure_is_a_bad_request_for_the_openai_client(live: RunningGateway) -> None:
    """A prediction failed by the safety checker reaches the client as openai.BadRequestError."""
    with pytest.raises(openai.BadRequestError) as caught:
        client(live).images.generate(model="schnell", prompt="forbidden things", response_format="url")

    assert "NSFW" in caught.value.message


def test_fal_through_the_openai_client(live: RunningGateway, fal_server: type[StandIn]) -> None:
    """images.generate on a fal model submits to the queue, checks the status, fetches the result."""
    result = client(live).images.generate(model="fal-schnell", prompt="a tiger", size="1024x768", response_format="url")

    assert result.data[0].url == f"{fal_server.url}{FILES}tiger.png"
    submitted = [seen for seen in fal_server.seen if seen["method"] == "POST"][-1]
    assert submitted["path"] == "/fal-ai/flux/schnell"
    assert submitted["body"]["image_size"] == {"width": 1024, "height": 768}
    assert submitted["auth"] == f"Key {UPSTREAM}"
    assert [seen["path"].rsplit("/", 1)[-1] for seen in fal_server.seen[-2:]] == ["status", "r1"]


def test_fal_content_policy_is_a_bad_request_for_the_openai_client(live: RunningGateway) -> None:
    """fal's 422 content_policy_violation reaches the client as openai.BadRequestError with that code."""
    with pytest.raises(openai.BadRequestError) as caught:
        client(live).images.generate(model="fal-schnell", prompt="forbidden things", response_format="url")

    assert caught.value.code == "content_policy_violation"


def test_runway_through_the_openai_client(live: RunningGateway, runway_server: type[StandIn]) -> None:
    """images.generate on Runway creates a task with the version header, polls it and answers its output."""
    result = client(live).images.generate(model="gen4", prompt="a rooftop", size="1024x1024", response_format="url")

    assert result.data[0].url == f"{runway_server.url}{FILES}t1.png"
    created = [seen for seen in runway_server.seen if seen["method"] == "POST"][-1]
    assert created["path"] == "/v1/text_to_image"
    assert created["version"] == "2024-11-06"
    assert created["body"] == {"model": "gen4_image", "promptText": "a rooftop", "ratio": "1024:1024"}
    assert runway_server.seen[-1]["path"] == "/v1/tasks/t1"


def test_runway_safety_failure_is_a_bad_request_for_the_openai_client(live: RunningGateway) -> None:
    """A task failed with SAFETY.INPUT.TEXT reaches the client as openai.BadRequestError with that code."""
    with pytest.raises(openai.BadRequestError) as caught:
        client(live).images.generate(model="gen4", prompt="forbidden things", response_format="url")

    assert caught.value.code == "SAFETY.INPUT.TEXT"


def test_dashscope_through_the_openai_client(live: RunningGateway, dashscope_server: type[StandIn]) -> None:
    """images.generate on a Wan model submits an async task, polls it and answers both images."""
    result = client(live).images.generate(model="wan", prompt="a flower shop", n=2, size="1024x1024")

    assert [d.url for d in result.data] == [f"{dashscope_server.url}{FILES}{i}.png?Expires=1777716000" for i in (0, 1)]
    submitted = [seen for seen in dashscope_server.seen if seen["method"] == "POST"][-1]
    assert submitted["path"] == "/api/v1/services/aigc/text2image/image-synthesis"
    assert submitted["async"] == "enable"
    assert submitted["body"]["parameters"] == {"size": "1024*1024", "n": 2}
    assert dashscope_server.seen[-1]["path"].startswith("/api/v1/tasks/")


def test_dashscope_inspection_failure_is_a_bad_request_for_the_openai_client(live: RunningGateway) -> None:
    """A task FAILED with DataInspectionFailed reaches the client as openai.BadRequestError with that code."""
    with pytest.raises(openai.BadRequestError) as caught:
        client(live).images.generate(model="wan", prompt="forbidden things")

    assert caught.value.code == "DataInspectionFailed"


@pytest.mark.parametrize(
    ("model", "cost"),
    [("flux", "0.04"), ("schnell", "0.003"), ("fal-schnell", "0.003"), ("gen4", "0.08"), ("wan", None)],
)
def test_b64_json_through_the_openai_client(live: RunningGateway, model: str, cost: str | None) -> None:
    """response_format='b64_json': the gateway downloads the provider's result URL and answers the bytes, priced."""
    raw = client(live).images.with_raw_response.generate(model=model, prompt="a lighthouse", response_format="b64_json")
    result = raw.parse()

    assert result.data
    assert all(base64.b64decode(d.b64_json or "") == PNG for d in result.data)
    assert raw.headers.get("x-pixmux-cost") == cost


def test_fal_b64_json_comes_in_the_answer(live: RunningGateway, fal_server: type[StandIn]) -> None:
    """fal's b64_json is asked with sync_mode: the bytes come in fal's answer, with no file fetched."""
    before = len(fal_server.seen)

    result = client(live).images.generate(model="fal-schnell", prompt="a lighthouse", response_format="b64_json")

    assert base64.b64decode(result.data[0].b64_json or "") == PNG
    assert [seen for seen in fal_server.seen[before:] if seen["path"].startswith(FILES)] == []
