"""Traces, metrics and JSON request lines of an in-process gateway (the OTLP collector is a stand-in on 127.0.0.1)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx
import pixmux_openai.provider
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from pixmux.proxy import Gateway, create_app, parse_config
from pixmux.proxy.process import JsonFormatter
from pixmux.testing import TINY_PNG_B64, json_response, local_server, make_engine
from prometheus_client.parser import text_string_to_metric_families
from scaleout_support import MASTER_KEY, UPSTREAM_KEY

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
PROMPT = "a very private prompt about otters"


class _Collector(BaseHTTPRequestHandler):
    """OTLP/HTTP's trace endpoint: keeps every ExportTraceServiceRequest it receives."""

    received: list[bytes]
    lock: threading.Lock

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        with self.lock:
            self.received.append(body)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_Collector]]:
    handler: type[_Collector] = type("Collector", (_Collector,), {"received": [], "lock": threading.Lock()})
    with local_server(handler) as url:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"{url}/v1/traces")
        monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_always_on")
        monkeypatch.setenv("OTEL_SERVICE_NAME", "pixmux-test")
        yield handler


def _upstream(request: httpx.Request) -> httpx.Response:
    if "/fail/" in request.url.path:
        error = {"error": {"message": "The server had an error.", "type": "server_error", "param": None, "code": None}}
        return json_response(500, error)
    return json_response(200, {"created": 1713833628, "data": [{"b64_json": TINY_PNG_B64}]})


def _gateway(*, json_logs: bool = False, **general: Any) -> Gateway:
    model_list = [
        {
            "model_name": "img",
            "litellm_params": {
                "model": "openai/gpt-image-1",
                "api_base": f"http://upstream.test/{name}/v1",
                "api_key": UPSTREAM_KEY,
                "order": order,
            },
            "model_info": {"id": name},
        }
        for order, name in ((1, "fail"), (2, "ok"))
    ]
    config: dict[str, Any] = {
        "model_list": model_list,
        "general_settings": {"master_key": MASTER_KEY, **general},
        "router_settings": {"num_retries": 1, "allowed_fails": 0},
        "litellm_settings": {"json_logs": json_logs},
    }
    engine = make_engine(pixmux_openai.provider, handler=_upstream)
    return create_app(parse_config(config, path="telemetry.yaml", environ={}), engine=engine)


async def _post(gateway: Gateway, headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw.test") as client:
        return await client.post(
            "/v1/images/generations",
            json={"model": "img", "prompt": PROMPT},
            headers={"Authorization": f"Bearer {MASTER_KEY}", **(headers or {})},
        )


def _spans(received: list[bytes]) -> list[Any]:
    spans = []
    for body in received:
        export = ExportTraceServiceRequest()
        export.ParseFromString(body)
        for resource in export.resource_spans:
            for scope in resource.scope_spans:
                spans.extend(scope.spans)
    return spans


def _attributes(span: Any) -> dict[str, Any]:
    out = {}
    for item in span.attributes:
        value = item.value
        out[item.key] = getattr(value, value.WhichOneof("value"))
    return out


async def test_spans_reach_the_otlp_collector_with_the_clients_parent_and_one_child_per_attempt(
    collector: type[_Collector],
) -> None:
    """traceparent honoured; a server span per request, a client span per attempt, with provider/deployment/status."""
    gateway = _gateway(tracing=True)

    answer = await _post(gateway, {"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
    gateway.telemetry.flush()

    assert answer.status_code == 200
    spans = _spans(collector.received)
    request = next(s for s in spans if s.name == "POST /v1/images/generations")
    attempts = sorted((s for s in spans if s.name == "upstream attempt"), key=lambda s: s.start_time_unix_nano)
    assert len(spans) == 3
    assert request.trace_id.hex() == TRACE_ID
    assert request.parent_span_id.hex() == PARENT_ID
    assert request.kind == request.SPAN_KIND_SERVER
    assert [a.parent_span_id for a in attempts] == [request.span_id, request.span_id]
    assert {a.trace_id.hex() for a in attempts} == {TRACE_ID}
    assert [a.kind for a in attempts] == [request.SPAN_KIND_CLIENT] * 2
    first, second = (_attributes(a) for a in attempts)
    assert first["pixmux.deployment"] == "fail"
    assert first["pixmux.attempt"] == 1
    assert first["pixmux.status"] == "InternalServerError"
    assert first["http.response.status_code"] == 500
    assert first["pixmux.provider"] == "openai"
    assert second["pixmux.deployment"] == "ok"
    assert second["pixmux.attempt"] == 2
    assert second["pixmux.status"] == "ok"
    assert second["pixmux.cost_usd"] > 0
    top = _attributes(request)
    assert top["http.response.status_code"] == 200
    assert top["pixmux.model"] == "img"
    assert top["pixmux.deployment"] == "ok"
    assert top["pixmux.cost_usd"] == second["pixmux.cost_usd"]
    exported = b"".join(collector.received)
    for secret in (PROMPT.encode(), UPSTREAM_KEY.encode(), MASTER_KEY.encode()):
        assert secret not in exported


async def test_without_a_traceparent_the_request_span_is_a_root(collector: type[_Collector]) -> None:
    """No traceparent: a new trace, the request span has no parent."""
    gateway = _gateway(tracing=True)

    await _post(gateway)
    gateway.telemetry.flush()

    request = next(s for s in _spans(collector.received) if s.name == "POST /v1/images/generations")
    assert request.parent_span_id == b""
    assert request.trace_id.hex() != TRACE_ID


def _sample(text: str, name: str, **labels: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


async def test_metrics_count_requests_errors_cooldowns_and_the_budget_gauge() -> None:
    """Requests, upstream errors, cooldowns and images are counted; in flight holds only the scrape; budgets report."""
    gateway = _gateway(metrics=True)
    gateway.telemetry.budget_source = lambda: {"team-a": 12.5}

    answers = [await _post(gateway) for _ in range(3)]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://gw.test") as client:
        text = (await client.get("/metrics", headers={"Authorization": f"Bearer {MASTER_KEY}"})).text
        refused = await client.get("/metrics")

    assert [a.status_code for a in answers] == [200] * 3
    assert _sample(text, "pixmux_requests_total", route="/v1/images/generations", model="img", status="200") == 3
    assert _sample(text, "pixmux_images_total", deployment="ok") == 3
    assert _sample(text, "pixmux_cost_usd_total", deployment="ok") > 0
    # `fail` failed once and cooled down at once (allowed_fails 0): later requests went straight to `ok`
    assert _sample(text, "pixmux_upstream_errors_total", provider="openai", error="InternalServerError") == 1
    assert _sample(text, "pixmux_cooldowns_total", deployment="fail") == 1
    assert _sample(text, "pixmux_upstream_duration_seconds_count", model="img") == 3
    assert _sample(text, "pixmux_requests_in_flight") == 1  # the scrape itself
    assert _sample(text, "pixmux_key_budget_remaining_usd", key_alias="team-a") == 12.5
    assert refused.status_code == 401
    assert PROMPT not in text


async def test_json_logs_write_one_object_per_request_with_cost_and_key_alias(caplog: pytest.LogCaptureFixture) -> None:
    """json_logs: the request line is one JSON object with the text line's fields, cost and key alias."""
    gateway = _gateway(json_logs=True)
    formatter = JsonFormatter()

    with caplog.at_level(logging.INFO, logger="pixmux.proxy"):
        answer = await _post(gateway)

    lines = [json.loads(formatter.format(r)) for r in caplog.records if getattr(r, "pixmux", None)]
    assert len(lines) == 1
    line = lines[0]
    assert line["status"] == 200
    assert line["method"] == "POST"
    assert line["path"] == "/v1/images/generations"
    assert line["model"] == "img"
    assert line["deployment"] == "ok"
    assert line["request_id"] == answer.headers["x-request-id"]
    assert line["cost_usd"] > 0
    assert "key_alias" in line
    assert line["duration_ms"] >= 0
    assert PROMPT not in json.dumps(line)


def test_telemetry_settings_must_be_booleans() -> None:
    """general_settings.metrics: "yes" is a config error naming the key."""
    from pixmux.proxy.config import ConfigError

    with pytest.raises(ConfigError) as caught:
        _gateway(metrics="yes")

    assert "general_settings.metrics" in str(caught.value)
