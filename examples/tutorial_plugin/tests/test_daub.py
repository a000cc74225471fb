"""Tests for the Daub provider: hooks called with plain values, and whole calls on a mock transport."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pixmux_daub
import pytest
from pixmux.exceptions import ContentPolicyViolationError, RateLimitError, UnsupportedParamsError
from pixmux.testing import check_plugin, json_response, load_json, make_engine
from pixmux.types import Deployment, ImageRequest
from pixmux_daub import build_request, validate_params

KEY = "daub-test-key-0123456789"


def daub_server() -> Callable[[httpx.Request], httpx.Response]:
    """A handler that answers like Daub: the submit is queued, the first poll running, the next done."""
    polls = iter(["running.json", "done.json"])

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return json_response(201, load_json("submitted.json"))
        return json_response(200, load_json(next(polls)))

    return answer


def test_plugin_passes_the_contract_check() -> None:
    """The plugin meets pixmux's plugin contract."""
    assert check_plugin(pixmux_daub, name="daub") == []


def test_build_request_maps_size_and_n() -> None:
    """size becomes width and height, n becomes images, the key goes in X-Daub-Key."""
    request = ImageRequest(prompt="a red kite", model="daub-2", size="1024x768", n=2, params={"seed": 7})
    deployment = Deployment(provider="daub", model="daub-2", api_key=KEY)
    info = pixmux_daub.CATALOGUE.lookup("daub-2")

    sent = build_request(request=request, deployment=deployment, model=info)

    assert sent.url == "https://api.daub.example/v1/jobs"
    assert sent.headers["X-Daub-Key"] == KEY
    assert json.loads(sent.content) == {
        "model": "daub-2",
        "prompt": "a red kite",
        "width": 1024,
        "height": 768,
        "images": 2,
        "seed": 7,
    }


def test_validate_params_refuses_a_fractional_seed() -> None:
    """A seed that is not a whole number is refused, naming the parameter."""
    request = ImageRequest(prompt="a red kite", model="daub-2", params={"seed": 1.5})

    with pytest.raises(UnsupportedParamsError) as caught:
        validate_params(request=request, model=pixmux_daub.CATALOGUE.lookup("daub-2"))

    assert caught.value.param == "seed"


def test_generation_polls_until_done() -> None:
    """A whole call submits, polls until done, and returns both images with their cost."""
    engine = make_engine(pixmux_daub, handler=daub_server())

    resp = engine.image_generation("a red kite", "daub/daub-2", n=2, api_key=KEY)

    assert [r.method for r in engine.requests] == ["POST", "GET", "GET"]
    assert engine.requests[1].url.path == "/v1/jobs/job_7f3a"
    assert len(resp.data) == 2
    assert resp.data[0].bytes().startswith(b"\x89PNG")
    assert resp.cost == pytest.approx(0.04)


def test_blocked_job_is_a_content_policy_violation() -> None:
    """A job Daub blocks raises ContentPolicyViolationError with Daub's message."""
    engine = make_engine(
        pixmux_daub,
        handler=lambda r: json_response(201 if r.method == "POST" else 200, load_json("blocked.json")),
    )

    with pytest.raises(ContentPolicyViolationError, match="breaks our rules"):
        engine.image_generation("something forbidden", "daub/daub-2", api_key=KEY)


def test_rate_limit_keeps_retry_after_and_hides_the_key() -> None:
    """A 429 is a RateLimitError with Retry-After, and the key appears nowhere in it."""
    body = {"error": {"code": "slow_down", "message": "too many jobs"}}
    engine = make_engine(pixmux_daub, handler=lambda r: json_response(429, body, {"Retry-After": "30"}))

    with pytest.raises(RateLimitError) as caught:
        engine.image_generation("a red kite", "daub/daub-2", api_key=KEY, num_retries=0)

    assert caught.value.retry_after == 30
    assert KEY not in str(caught.value) + repr(caught.value)
