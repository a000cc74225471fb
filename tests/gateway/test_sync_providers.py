"""
The official openai client, unchanged, through the real gateway (uvicorn) to the xAI, Together,
BytePlus, Ideogram and Stability plugins, each talking to a local stand-in that answers as the
provider's documented API does (bodies from the plugins' own ``tests/responses``).
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import json
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import openai
import pytest
from gateway_support import MASTER_KEY, RunningGateway
from pixmux.proxy import create_app, parse_config
from pixmux.testing import TINY_PNG_B64, local_server, reply

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
UPSTREAM_KEY = "upstream-provider-key-0123456789"

#: (status, headers, body bytes) for a request (path, headers, body bytes).
Answer = tuple[int, dict[str, str], bytes]


def recorded(provider: str, name: str) -> bytes:
    """A provider body kept in that plugin's tests/responses folder."""
    return (PLUGINS / provider / "tests" / "responses" / name).read_bytes()


def _json(status: int, body: bytes, **headers: str) -> Answer:
    return status, {"content-type": "application/json", **headers}, body


def xai_answer(path: str, headers: dict[str, str], body: bytes) -> Answer:
    if headers.get("authorization") != f"Bearer {UPSTREAM_KEY}":
        return _json(401, recorded("xai", "error_401.json"))
    sent = json.loads(body)
    if "moderate-me" in sent["prompt"]:
        return _json(200, recorded("xai", "all_withheld.json"))
    if sent.get("response_format") == "b64_json":
        return _json(200, recorded("xai", "b64_one.json"))
    return _json(200, recorded("xai", "url_two.json"))


def together_answer(path: str, headers: dict[str, str], body: bytes) -> Answer:
    if headers.get("authorization") != f"Bearer {UPSTREAM_KEY}":
        return _json(401, recorded("together", "error_401.json"))
    sent = json.loads(body)
    if "nsfw" in sent["prompt"]:
        return _json(422, recorded("together", "error_422_nsfw.json"))
    if sent.get("response_format") == "base64":
        return _json(200, recorded("together", "b64_one.json"))
    return _json(200, recorded("together", "url_two.json"))


def byteplus_answer(path: str, headers: dict[str, str], body: bytes) -> Answer:
    if headers.get("authorization") != f"Bearer {UPSTREAM_KEY}":
        return _json(401, recorded("byteplus", "error_401.json"))
    sent = json.loads(body)
    if "sensitive" in sent["prompt"]:
        return _json(400, recorded("byteplus", "error_400_input_text.json"))
    return _json(
        200, recorded("byteplus", "b64_one.json" if sent.get("response_format") == "b64_json" else "url_one.json")
    )


def form_fields(headers: dict[str, str], body: bytes) -> dict[str, str]:
    """The text parts of a multipart body."""
    raw = b"Content-Type: " + headers["content-type"].encode() + b"\r\n\r\n" + body
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    return {
        part.get("content-disposition").params["name"]: (part.get_payload(decode=True) or b"").decode()
        for part in message.iter_parts()
        if not part.get("content-disposition").params.get("filename")
    }


def ideogram_answer(path: str, headers: dict[str, str], body: bytes) -> Answer:
    if headers.get("api-key") != UPSTREAM_KEY:
        return _json(401, recorded("ideogram", "error_401.json"))
    sent = form_fields(headers, body)
    if "unsafe" in sent["prompt"]:
        return _json(200, recorded("ideogram", "all_unsafe.json"))
    if "refuse" in sent["prompt"]:
        return _json(422, recorded("ideogram", "error_422.json"))
    if "local" in sent["prompt"]:  # URLs on this stand-in, so that the gateway can download them
        answer = recorded("ideogram", "generate_two.json").replace(
            b"https://ideogram.ai/api/images/ephemeral/", f"http://{headers['host']}/ideogram/images/".encode()
        )
        return _json(200, answer)
    return _json(200, recorded("ideogram", "generate_two.json"))


def stability_answer(path: str, headers: dict[str, str], body: bytes) -> Answer:
    if headers.get("authorization") != f"Bearer {UPSTREAM_KEY}":
        return _json(401, recorded("stability", "error_401.json"))
    sent = form_fields(headers, body)
    if "blur-me" in sent["prompt"]:
        return _json(200, recorded("stability", "image_filtered.json"))
    if "moderate-me" in sent["prompt"]:
        return _json(403, recorded("stability", "error_403.json"))
    return _json(200, recorded("stability", "image_success.json"))


def image_file(path: str, headers: dict[str, str], body: bytes) -> Answer:
    return 200, {"content-type": "image/png"}, base64.b64decode(TINY_PNG_B64)


ROUTES: dict[str, Callable[[str, dict[str, str], bytes], Answer]] = {
    "/xai/v1/images/generations": xai_answer,
    "/xai/v1/images/edits": xai_answer,
    "/together/v1/images/generations": together_answer,
    "/byteplus/api/v3/images/generations": byteplus_answer,
    "/ideogram/v1/ideogram-v3/generate": ideogram_answer,
    "/ideogram/images/*": image_file,
    "/stability/v2beta/stable-image/generate/ultra": stability_answer,
}


class StandIn(BaseHTTPRequestHandler):
    """Answers each provider's routes under its own prefix; records what it was sent."""

    seen: list[dict[str, Any]]

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        path = self.path.split("?")[0]
        headers = {key.lower(): value for key, value in self.headers.items()}
        self.seen.append({"path": path, "method": self.command, "headers": headers, "body": body})
        route = ROUTES.get(path) or next(
            (f for p, f in ROUTES.items() if p.endswith("*") and path.startswith(p[:-1])), None
        )
        status, extra, payload = route(path, headers, body) if route else _json(404, b'{"error": "no route"}')
        reply(self, status, payload, content_type=None, headers=extra)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def stand_in() -> Iterator[tuple[str, type[StandIn]]]:
    handler: type[StandIn] = type("Handler", (StandIn,), {"seen": []})
    with local_server(handler) as url:
        yield url, handler


def _entry(name: str, model: str, api_base: str) -> dict[str, Any]:
    return {"model_name": name, "litellm_params": {"model": model, "api_base": api_base, "api_key": UPSTREAM_KEY}}


@pytest.fixture(scope="module")
def live(stand_in: tuple[str, type[StandIn]]) -> Iterator[RunningGateway]:
    url, _ = stand_in
    config = {
        "model_list": [
            _entry("grok", "xai/grok-imagine-image", f"{url}/xai/v1"),
            _entry("schnell", "together/black-forest-labs/FLUX.1-schnell", f"{url}/together/v1"),
            _entry("seedream", "byteplus/seedream-4-0-250828", f"{url}/byteplus/api/v3"),
            _entry("ideogram", "ideogram/V_3", f"{url}/ideogram"),
            _entry("ultra", "stability/stable-image-ultra", f"{url}/stability"),
        ],
        "router_settings": {"num_retries": 0},
        "general_settings": {"master_key": MASTER_KEY},
    }
    with RunningGateway(create_app(parse_config(config, path="sync-providers.yaml", environ={}))) as running:
        yield running


def client(live: RunningGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{live.url}/v1", api_key=MASTER_KEY, max_retries=0)


def test_xai_urls_through_the_openai_client(live: RunningGateway, stand_in: tuple[str, type[StandIn]]) -> None:
    """images.generate on an xAI model: the size becomes an aspect ratio upstream, the URLs come back."""
    result = client(live).images.generate(model="grok", prompt="London", n=2, size="1536x1024", response_format="url")

    assert [d.url for d in result.data] == [
        "https://imgen.x.ai/xai-imgen/xai-tmp-imgen-1f0c.jpeg",
        "https://imgen.x.ai/xai-imgen/xai-tmp-imgen-77ab.jpeg",
    ]
    sent = json.loads(stand_in[1].seen[-1]["body"])
    assert (sent["aspect_ratio"], sent["resolution"], "size" in sent) == ("3:2", "1k", False)


def test_xai_base64_through_the_openai_client(live: RunningGateway) -> None:
    """response_format=b64_json returns the image bytes."""
    result = client(live).images.generate(model="grok", prompt="a fox", response_format="b64_json")

    assert base64.b64decode(result.data[0].b64_json or "") == base64.b64decode(TINY_PNG_B64)


def test_xai_refusal_is_a_bad_request_for_the_openai_client(live: RunningGateway) -> None:
    """Every image withheld by xAI's moderation reaches the client as a 400 content-policy error."""
    with pytest.raises(openai.BadRequestError) as caught:
        client(live).images.generate(model="grok", prompt="moderate-me")

    assert caught.value.code == "content_policy_violation"
    assert UPSTREAM_KEY not in str(caught.value.body)


def test_together_base64_through_the_openai_client(
    live: RunningGateway, stand_in: tuple[str, type[StandIn]], images_schema: Any
) -> None:
    """b64_json reaches Together as 'base64' with width/height; the client gets the bytes and valid JSON."""
    raw = client(live).images.with_raw_response.generate(
        model="schnell", prompt="a cat", size="1024x1024", response_format="b64_json", extra_body={"steps": 4}
    )
    result = raw.parse()

    assert base64.b64decode(result.data[0].b64_json or "") == base64.b64decode(TINY_PNG_B64)
    assert set(json.loads(raw.text)) == {"created", "data"}
    images_schema.validate(json.loads(raw.text))
    sent = json.loads(stand_in[1].seen[-1]["body"])
    assert {k: sent[k] for k in ("width", "height", "response_format", "steps")} == {
        "width": 1024,
        "height": 1024,
        "response_format": "base64",
        "steps": 4,
    }


def test_together_nsfw_refusal_reaches_the_openai_client(live: RunningGateway) -> None:
    """Together's NSFW 422 is a content-policy refusal: the client sees a 400 with Together's message."""
    with pytest.raises(openai.BadRequestError, match="NSFW content detected"):
        client(live).images.generate(model="schnell", prompt="nsfw please")


def test_byteplus_n_through_the_openai_client(
    live: RunningGateway, stand_in: tuple[str, type[StandIn]], images_schema: Any
) -> None:
    """n=2 on Seedream: two upstream requests without n, two URLs back, no expiry in the OpenAI JSON."""
    before = len(stand_in[1].seen)
    raw = client(live).images.with_raw_response.generate(model="seedream", prompt="a poster", n=2, size="2048x2048")

    result = raw.parse()
    assert len(result.data) == 2
    assert all((d.url or "").startswith("https://ark-content-generation-v2") for d in result.data)
    images_schema.validate(json.loads(raw.text))
    assert "expires_at" not in raw.text
    sent = [json.loads(seen["body"]) for seen in stand_in[1].seen[before:]]
    assert sent == [{"model": "seedream-4-0-250828", "prompt": "a poster", "size": "2048x2048"}] * 2


def test_byteplus_refusal_reaches_the_openai_client(live: RunningGateway) -> None:
    """A sensitive-content 400 is a content-policy refusal with ModelArk's code."""
    with pytest.raises(openai.BadRequestError) as caught:
        client(live).images.generate(model="seedream", prompt="something sensitive")

    assert caught.value.code == "InputTextSensitiveContentDetected"


def test_ideogram_multipart_through_the_openai_client(
    live: RunningGateway, stand_in: tuple[str, type[StandIn]], images_schema: Any
) -> None:
    """A JSON request from the client becomes Ideogram's multipart form; the URLs and prompts come back."""
    raw = client(live).images.with_raw_response.generate(
        model="ideogram", prompt="Visit Lisbon", n=2, size="1024x1024", extra_body={"rendering_speed": "TURBO"}
    )

    result = raw.parse()
    assert [d.url for d in result.data] == [
        "https://ideogram.ai/api/images/ephemeral/Ew6aKq1sTFyJ3pX0bQ2m4A.png?exp=1777633200&sig=0c9a77e1b2",
        "https://ideogram.ai/api/images/ephemeral/Hq3bLr2tUGzK4qY1cR3n5B.png?exp=1777633200&sig=7d1e2f3a4b",
    ]
    assert (result.data[0].revised_prompt or "").startswith("A vintage travel poster")
    images_schema.validate(json.loads(raw.text))
    seen = stand_in[1].seen[-1]
    assert form_fields(seen["headers"], seen["body"]) == {
        "prompt": "Visit Lisbon",
        "num_images": "2",
        "rendering_speed": "TURBO",
        "aspect_ratio": "1x1",
    }


@pytest.mark.parametrize("prompt", ["unsafe please", "refuse please"])
def test_ideogram_refusals_reach_the_openai_client(live: RunningGateway, prompt: str) -> None:
    """Both refusal shapes (200 with is_image_safe false, and 422) are a 400 for the client."""
    with pytest.raises(openai.BadRequestError):
        client(live).images.generate(model="ideogram", prompt=prompt)


def test_stability_multipart_through_the_openai_client(
    live: RunningGateway, stand_in: tuple[str, type[StandIn]], images_schema: Any
) -> None:
    """n=2 on Ultra: two multipart requests with the aspect ratio; two base64 images back."""
    before = len(stand_in[1].seen)
    raw = client(live).images.with_raw_response.generate(
        model="ultra", prompt="a lighthouse", n=2, size="1024x1024", response_format="b64_json"
    )

    result = raw.parse()
    assert [base64.b64decode(d.b64_json or "") for d in result.data] == [base64.b64decode(TINY_PNG_B64)] * 2
    images_schema.validate(json.loads(raw.text))
    seen = stand_in[1].seen[before:]
    assert [form_fields(s["headers"], s["body"]) for s in seen] == [
        {"prompt": "a lighthouse", "aspect_ratio": "1:1"}
    ] * 2
    assert all(s["headers"]["accept"] == "application/json" for s in seen)


@pytest.mark.parametrize(("prompt", "code"), [("blur-me", "CONTENT_FILTERED"), ("moderate-me", "content_moderation")])
def test_stability_refusals_reach_the_openai_client(live: RunningGateway, prompt: str, code: str) -> None:
    """A blurred result (200) and a moderation 403 both reach the client as a 400 with Stability's code."""
    with pytest.raises(openai.BadRequestError) as caught:
        client(live).images.generate(model="ultra", prompt=prompt)

    assert caught.value.code == code


def test_ideogram_b64_json_is_downloaded_by_the_gateway(live: RunningGateway, images_schema: Any) -> None:
    """Ideogram answers URLs only: for b64_json the gateway downloads each image and returns its bytes."""
    raw = client(live).images.with_raw_response.generate(
        model="ideogram", prompt="local Lisbon", n=2, response_format="b64_json"
    )

    result = raw.parse()
    assert [base64.b64decode(d.b64_json or "") for d in result.data] == [base64.b64decode(TINY_PNG_B64)] * 2
    images_schema.validate(json.loads(raw.text))
