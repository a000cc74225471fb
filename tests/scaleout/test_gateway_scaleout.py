"""
Several `pixmux serve` processes sharing one real redis-server: rpm windows, cooldowns, Redis
going away and coming back, and /metrics counted across workers.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from scaleout_support import (
    MASTER_KEY,
    REDIS_PASSWORD,
    UPSTREAM_KEY,
    GatewayProcess,
    RedisServer,
    Upstream,
    b64_image,
    deployment,
    gateway_config,
)


def _send(gateways: list[GatewayProcess], count: int, prompt: str = "an otter") -> list[httpx.Response]:
    """``count`` requests at once, spread over the gateways, each on its own connection."""

    def one(index: int) -> httpx.Response:
        with httpx.Client() as client:
            return gateways[index % len(gateways)].generate(client, prompt=prompt)

    with ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(one, range(count)))


def test_rpm_10_across_two_instances_of_two_workers_lets_exactly_10_through(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """rpm 10, 2 instances x 2 workers, 30 requests at once: exactly 10 reach the provider, 20 get OpenAI 429s."""
    with Upstream() as upstream:
        config = gateway_config([deployment("img", upstream, "ok", rpm=10)], redis_server.url, json_logs=True)
        # Fail closed with a generous timeout: on a loaded machine a slow Redis answer must not
        # turn into a local decision (which would let more than 10 through, as fail-open says).
        config["general_settings"]["shared_state"] = {"on_redis_error": "closed", "redis_timeout": 5}
        with (
            GatewayProcess(config, tmp_path, workers=2, name="a") as first,
            GatewayProcess(config, tmp_path, workers=2, name="b") as second,
        ):
            answers = _send([first, second], 30, prompt="a secret-prompt otter")

        statuses = sorted(answer.status_code for answer in answers)
        assert statuses == [200] * 10 + [429] * 20
        assert upstream.hits["ok"] == 10
        refused = next(answer for answer in answers if answer.status_code == 429)
        assert refused.json()["error"]["type"] == "rate_limit_exceeded" or refused.json()["error"]["message"]
        assert int(refused.headers["retry-after"]) > 0

    stored = repr(redis_server.dump()).encode()
    assert b64_image().encode()[:40] not in stored  # never image bytes
    assert b"secret-prompt" not in stored
    assert UPSTREAM_KEY.encode() not in stored
    assert len(stored) < 4096


def test_a_cooldown_set_by_one_instance_is_seen_by_the_other_at_once(redis_server: RedisServer, tmp_path: Path) -> None:
    """Instance A's failure cools `fail` down; B's very next requests skip it. Without sharing, B would try it."""
    with Upstream() as upstream:
        model_list = [deployment("img", upstream, "fail", order=1), deployment("img", upstream, "ok", order=2)]
        config = gateway_config(model_list, redis_server.url)
        config["router_settings"].update({"allowed_fails": 0, "cooldown_time": 60})
        apart = json.loads(json.dumps(config))
        apart["general_settings"]["shared_state"] = {"key_prefix": "elsewhere"}
        with (
            GatewayProcess(config, tmp_path, name="a") as first,
            GatewayProcess(config, tmp_path, name="b") as second,
            GatewayProcess(apart, tmp_path, name="c") as unshared,
            httpx.Client() as client,
        ):
            cooled = first.generate(client)
            time.sleep(0.1)  # "seen within 100 ms": B reads cooldowns at least every 50 ms (cooldown_refresh)
            after = [second.generate(client) for _ in range(5)]
            hits_after_b = upstream.hits["fail"]
            control = unshared.generate(client)

        assert cooled.status_code == 200
        assert cooled.headers["x-pixmux-deployment"] == "ok"
        assert [answer.status_code for answer in after] == [200] * 5
        assert {answer.headers["x-pixmux-deployment"] for answer in after} == {"ok"}
        assert hits_after_b == 1  # only A's first attempt ever reached the failing deployment
        assert control.status_code == 200
        assert upstream.hits["fail"] == 2  # the gateway with another prefix shares nothing: it tried `fail`


def _wait_for(check: Any, gateway: GatewayProcess, client: httpx.Client, seconds: float = 20.0) -> list[int]:
    """Send requests until ``check()`` holds; the statuses seen on the way."""
    seen = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen.append(gateway.generate(client).status_code)
        if check():
            return seen
        time.sleep(0.2)
    raise AssertionError(f"not resumed within {seconds}s; statuses {seen}")


def _window_keys(server: RedisServer) -> list[bytes]:
    return [key for key in server.dump() if key.endswith(b":w")]


def test_redis_killed_mid_run_fails_open_then_sharing_resumes(redis_server: RedisServer, tmp_path: Path) -> None:
    """Open: with Redis killed requests go on (one log line); when it is back, counts reach Redis again."""
    with Upstream() as upstream:
        config = gateway_config([deployment("img", upstream, "ok", rpm=1000)], redis_server.url)
        config["general_settings"]["shared_state"] = {"on_redis_error": "open", "redis_timeout": 0.05}
        with GatewayProcess(config, tmp_path) as gateway, httpx.Client() as client:
            before = [gateway.generate(client).status_code for _ in range(3)]
            assert _window_keys(redis_server)
            redis_server.kill()
            during = [gateway.generate(client).status_code for _ in range(10)]
            redis_server.start()  # the same port, empty
            _wait_for(lambda: bool(_window_keys(redis_server)), gateway, client)
            log = gateway.log.read_text()

    assert before == [200] * 3
    assert during == [200] * 10
    assert log.count("is unreachable or failing") == 1
    assert "sharing resumes" in log
    assert REDIS_PASSWORD not in log


def test_redis_killed_mid_run_fails_closed_with_503_then_serves_again(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """Closed: with Redis killed requests get OpenAI-shaped 503s; when it is back, they are served again."""
    with Upstream() as upstream:
        # An rpm: every request needs Redis (one without could be answered from cooldowns read
        # within the last cooldown_refresh, 50 ms, and pass once right after the kill).
        config = gateway_config([deployment("img", upstream, "ok", rpm=1000)], redis_server.url)
        config["general_settings"]["shared_state"] = {"on_redis_error": "closed", "redis_timeout": 0.05}
        with GatewayProcess(config, tmp_path) as gateway, httpx.Client() as client:
            before = gateway.generate(client)
            redis_server.kill()
            during = [gateway.generate(client) for _ in range(3)]
            hits_during = upstream.hits["ok"]
            redis_server.start()
            seen = _wait_for(lambda: upstream.hits["ok"] > hits_during, gateway, client)

    assert before.status_code == 200
    assert [answer.status_code for answer in during] == [503] * 3
    body = during[0].json()
    assert set(body["error"]) >= {"message", "type"}
    assert "shared state" in body["error"]["message"]
    assert REDIS_PASSWORD not in during[0].text
    assert hits_during == 1  # nothing reached the provider while the gateway failed closed
    assert seen[-1] == 200


def _counter(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def test_metrics_count_every_request_across_workers(tmp_path: Path) -> None:
    """--workers 2: requests served by both workers; any scrape's counters equal the requests sent."""
    with Upstream() as upstream:
        config = gateway_config([deployment("img", upstream, "ok")], None, metrics=True, json_logs=True)
        with GatewayProcess(config, tmp_path, workers=2) as gateway:
            sent = 0
            pids: set[int] = set()
            while sent < 300 and (len(pids) < 2 or sent < 40):
                answers = _send([gateway], 20)
                assert {answer.status_code for answer in answers} == {200}
                sent += 20
                lines = [json.loads(line) for line in gateway.log.read_text().splitlines() if line.startswith("{")]
                pids = {line["pid"] for line in lines if line.get("path") == "/v1/images/generations"}
            with httpx.Client() as client:
                scrapes = [
                    client.get(f"{gateway.url}/metrics", headers={"Authorization": f"Bearer {MASTER_KEY}"}).text
                    for _ in range(4)
                ]
                unauthorized = client.get(f"{gateway.url}/metrics")

    assert len(pids) == 2
    for text in scrapes:
        assert _counter(text, "pixmux_requests_total", route="/v1/images/generations", status="200") == sent
        assert _counter(text, "pixmux_images_total", model="img", deployment="ok") == sent
        assert _counter(text, "pixmux_request_duration_seconds_count", route="/v1/images/generations") == sent
        assert _counter(text, "pixmux_gateway_overhead_seconds_count") == sent
    assert upstream.hits["ok"] == sent
    assert unauthorized.status_code == 401
