"""
The metrics' fast path (label children kept and reused) gives exactly
what prometheus_client's public ``labels().inc()`` / ``labels().observe()`` give, and keeps a
bounded number of children however many label sets it sees.
"""

from __future__ import annotations

import random

import prometheus_client as prom
import pytest
from pixmux.proxy import telemetry
from pixmux.proxy.telemetry import CHILDREN_KEPT, Telemetry
from pixmux.router import Router
from prometheus_client.parser import text_string_to_metric_families

SCOPE = {"type": "http", "method": "POST", "path": "/v1/images/generations", "headers": []}


def _router() -> Router:
    return Router(
        [
            {"model_name": "img", "litellm_params": {"model": "openai/gpt-image-1", "api_key": "sk-x"}},
            {"model_name": "other", "litellm_params": {"model": "openai/dall-e-3", "api_key": "sk-x"}},
        ]
    )


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


def test_the_fast_path_counts_exactly_as_prometheus_clients_own_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Random requests (values on bucket bounds included): every sample equals the reference registry's."""
    now = 1000.0
    monkeypatch.setattr(telemetry.time, "perf_counter", lambda: now)
    gateway = Telemetry(_router(), metrics=True)
    metrics = gateway.metrics
    assert metrics is not None
    reference = prom.CollectorRegistry()
    requests = prom.Counter("pixmux_requests", "", ("route", "model", "deployment", "status"), registry=reference)
    images = prom.Counter("pixmux_images", "", ("model", "deployment"), registry=reference)
    cost = prom.Counter("pixmux_cost_usd", "", ("model", "deployment"), registry=reference)
    total = prom.Histogram(
        "pixmux_request_duration_seconds", "", ("route",), buckets=telemetry._LATENCY_BUCKETS, registry=reference
    )
    upstream = prom.Histogram(
        "pixmux_upstream_duration_seconds", "", ("model",), buckets=telemetry._LATENCY_BUCKETS, registry=reference
    )
    overhead = prom.Histogram(
        "pixmux_gateway_overhead_seconds", "", buckets=telemetry._OVERHEAD_BUCKETS, registry=reference
    )
    chance = random.Random(7)
    bounds = [*telemetry._LATENCY_BUCKETS, *telemetry._OVERHEAD_BUCKETS]
    for _ in range(3000):
        model = chance.choice(["img", "other", "unknown-model"])
        deployment = chance.choice(["d1", "d2", "-"])
        status = chance.choice([200, 200, 429, 500])
        # durations on a bound, just above it, and anywhere (0 and far past the last bucket too)
        spent = chance.choice([chance.choice(bounds), chance.choice(bounds) + 1e-9, chance.uniform(0, 400), 0.0])
        up = chance.choice([None, spent / 2, chance.choice(bounds)])
        n = chance.choice([None, 1, 3])
        usd = chance.choice([None, 0.04, 0.0, 0.167])
        info = {"model": model, "deployment": deployment, "upstream": up, "provider_time": up, "images": n, "cost": usd}
        gateway.begin(SCOPE, info)
        started = now - spent
        gateway.finished(
            method="POST",
            path="/v1/images/generations",
            info=info,
            status=status,
            started=started,
            request_id="r",
            known_route=True,
        )
        # the same request through the public API, with the durations the gateway measured
        label = model if model != "unknown-model" else "(other)"
        requests.labels("/v1/images/generations", label, deployment, str(status)).inc()
        total.labels("/v1/images/generations").observe(now - started)
        if up is not None:
            upstream.labels(label).observe(up)
            overhead.observe(max(0.0, (now - started) - up))
        if n:
            images.labels(label, deployment).inc(n)
        if usd:
            cost.labels(label, deployment).inc(usd)

    ours = _samples(metrics.render()[0].decode())
    theirs = _samples(prom.generate_latest(reference).decode())
    for key, value in theirs.items():
        assert ours[key] == value, key
    assert ours[("pixmux_requests_in_flight", ())] == 0


def test_children_kept_are_bounded() -> None:
    """A flood of distinct label sets: the kept children never pass CHILDREN_KEPT."""
    gateway = Telemetry(_router(), metrics=True)
    metrics = gateway.metrics
    assert metrics is not None
    for index in range(CHILDREN_KEPT + 500):
        metrics.record(("/v1/images/generations", "img", f"d{index}", 200), 0.1, None, None, images=1, cost=None)
        assert len(metrics._children) <= CHILDREN_KEPT
