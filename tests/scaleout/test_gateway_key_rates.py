"""
A virtual key's rpm and images-per-minute limits across real `pixmux serve` processes that
share one redis-server (and one SQLite database for the keys): exact across instances and
workers, a window that slides, and Redis going away as the policy says.
"""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import yaml
from scaleout_support import MASTER_KEY, REDIS_PASSWORD, GatewayProcess, RedisServer, Upstream, deployment

PROMPT = {"model": "img", "prompt": "an otter"}


def _config(upstream: Upstream, directory: Path, redis_url: str | None, **shared: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "model_list": [deployment("img", upstream, "ok")],
        "general_settings": {
            "master_key": MASTER_KEY,
            "database_url": f"sqlite:///{directory / 'keys.db'}",
            "proxy_batch_write_at": 0.05,
        },
        "router_settings": {"num_retries": 0},
        "litellm_settings": {"json_logs": True},  # workers log their ready line (the test waits for it)
    }
    if redis_url is not None:
        config["router_settings"]["redis_url"] = redis_url
        # Closed with a generous timeout: on a loaded machine a slow answer must not turn into a
        # local decision (which would let more through, as failing open says).
        config["general_settings"]["shared_state"] = {"on_redis_error": "closed", "redis_timeout": 5, **shared}
    return config


def _migrate(config: dict[str, Any], directory: Path) -> None:
    """
    ``pixmux db upgrade`` before the gateways start: several processes starting at once on a
    fresh SQLite file would each run the migrations (PostgreSQL serialises them; SQLite does not).
    """
    path = directory / "migrate.yaml"
    path.write_text(yaml.safe_dump(config))
    done = subprocess.run(
        [sys.executable, "-m", "pixmux", "db", "upgrade", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _new_key(url: str, **body: Any) -> str:
    answer = httpx.post(f"{url}/key/generate", headers={"Authorization": f"Bearer {MASTER_KEY}"}, json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["key"])


def _burst(urls: list[str], key: str, count: int, **body: Any) -> list[httpx.Response]:
    """``count`` requests at once, spread over the gateways, each on its own connection."""

    def one(index: int) -> httpx.Response:
        with httpx.Client() as client:
            return client.post(
                f"{urls[index % len(urls)]}/v1/images/generations",
                headers={"Authorization": f"Bearer {key}"},
                json={**PROMPT, **body},
                timeout=30,
            )

    with ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(one, range(count)))


def test_key_rpm_10_across_two_instances_of_two_workers_lets_exactly_10_through_per_window(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """A key with rpm_limit 10, a 4 s window: 30 at once let exactly 10 through; after the window, 10 again."""
    with Upstream() as upstream:
        config = _config(upstream, tmp_path, redis_server.url, rate_window=4)
        _migrate(config, tmp_path)
        with (
            GatewayProcess(config, tmp_path, workers=2, name="a") as first,
            GatewayProcess(config, tmp_path, workers=2, name="b") as second,
        ):
            key = _new_key(first.url, rpm_limit=10)
            started = time.monotonic()
            answers = _burst([first.url, second.url], key, 30)
            hits_first = upstream.hits["ok"]
            time.sleep(max(0.0, 4.5 - (time.monotonic() - started)))  # the window has passed
            again = _burst([first.url, second.url], key, 30)

    assert sorted(answer.status_code for answer in answers) == [200] * 10 + [429] * 20
    assert hits_first == 10
    refused = next(answer for answer in answers if answer.status_code == 429)
    assert refused.json()["error"]["type"] == "rate_limit_error"
    assert "rpm_limit 10" in refused.json()["error"]["message"]
    assert 1 <= int(refused.headers["retry-after"]) <= 4
    assert sorted(answer.status_code for answer in again) == [200] * 10 + [429] * 20
    assert upstream.hits["ok"] == 20
    stored = repr(redis_server.dump()).encode()
    assert key.encode() not in stored  # the key itself is never in Redis


def test_key_images_per_minute_counts_n_across_instances(redis_server: RedisServer, tmp_path: Path) -> None:
    """ipm_limit 6, n=2 each, 10 requests over two instances: exactly 3 pass (6 images reach the provider)."""
    with Upstream() as upstream:
        config = _config(upstream, tmp_path, redis_server.url)
        _migrate(config, tmp_path)
        with (
            GatewayProcess(config, tmp_path, name="a") as first,
            GatewayProcess(config, tmp_path, name="b") as second,
        ):
            key = _new_key(first.url, ipm_limit=6)
            answers = _burst([first.url, second.url], key, 10, n=2)
            too_many = _burst([second.url], key, 1, n=7)[0]

    assert sorted(answer.status_code for answer in answers) == [200] * 3 + [429] * 7
    assert sum(len(answer.json()["data"]) for answer in answers if answer.status_code == 200) == 6
    assert upstream.hits["ok"] == 3
    assert too_many.status_code == 429
    assert "ipm_limit 6" in too_many.json()["error"]["message"]
    assert "retry-after" not in too_many.headers  # seven images in one request never fit


def test_redis_down_fails_closed_for_a_limited_key_then_serves_again(redis_server: RedisServer, tmp_path: Path) -> None:
    """Closed: Redis killed, a key with a limit gets 503s (nothing reaches the provider); back, it is served."""
    with Upstream() as upstream:
        config = _config(upstream, tmp_path, redis_server.url, redis_timeout=0.05)
        with GatewayProcess(config, tmp_path, name="a") as gateway:
            key = _new_key(gateway.url, rpm_limit=1000)
            before = _burst([gateway.url], key, 1)[0]
            redis_server.kill()
            during = _burst([gateway.url], key, 3)
            hits_during = upstream.hits["ok"]
            redis_server.start()
            deadline = time.monotonic() + 20
            after = _burst([gateway.url], key, 1)[0]
            while after.status_code != 200 and time.monotonic() < deadline:
                time.sleep(0.2)
                after = _burst([gateway.url], key, 1)[0]

    assert before.status_code == 200
    assert [answer.status_code for answer in during] == [503] * 3
    assert "shared state" in during[0].json()["error"]["message"]
    assert REDIS_PASSWORD not in during[0].text
    assert hits_during == 1
    assert after.status_code == 200


def test_redis_down_fails_open_and_the_limit_holds_per_process(redis_server: RedisServer, tmp_path: Path) -> None:
    """Open: Redis killed, the key's rpm_limit 3 is counted by the process alone: 3 of 6 pass, then 429s."""
    with Upstream() as upstream:
        config = _config(upstream, tmp_path, redis_server.url, on_redis_error="open", redis_timeout=0.05)
        with GatewayProcess(config, tmp_path, name="a") as gateway:
            key = _new_key(gateway.url, rpm_limit=3)
            redis_server.kill()
            with httpx.Client() as client:
                during = [
                    client.post(
                        f"{gateway.url}/v1/images/generations",
                        headers={"Authorization": f"Bearer {key}"},
                        json=PROMPT,
                        timeout=30,
                    ).status_code
                    for _ in range(6)
                ]
            log = gateway.log.read_text()

    assert during == [200] * 3 + [429] * 3
    assert "is unreachable or failing" in log
    assert REDIS_PASSWORD not in log


def test_without_redis_the_key_windows_stay_in_the_process(tmp_path: Path) -> None:
    """No Redis: one gateway, rpm_limit 2: the third request in the minute is refused."""
    with Upstream() as upstream:
        config = _config(upstream, tmp_path, None)
        with GatewayProcess(config, tmp_path, name="a") as gateway:
            key = _new_key(gateway.url, rpm_limit=2)
            statuses = sorted(answer.status_code for answer in _burst([gateway.url], key, 5))

    assert statuses == [200, 200, 429, 429, 429]
