"""
What the gateway tells operators: Prometheus metrics, OpenTelemetry traces and JSON log lines.

The gateway calls :meth:`Telemetry.begin` when a request arrives and :meth:`Telemetry.finished`
when it has been answered; the router tells :class:`Telemetry` about each upstream attempt
(:class:`pixmux.observe.RouterObserver`). Each part is switched on by its own
key (``general_settings.metrics``, ``general_settings.tracing``, ``litellm_settings.json_logs``)
and costs nothing when off.

- **Metrics** (``pixmux[metrics]``): ``GET /metrics`` behind the master key. Under
  ``pixmux serve --workers N`` each run gets its own ``PROMETHEUS_MULTIPROC_DIR``
  (:func:`multiprocess_dir`), so whichever worker answers the scrape reports every worker's counts.
- **Traces** (``pixmux[otel]``): a server span per request, a client span per upstream attempt,
  exported over OTLP/HTTP as OpenTelemetry's standard ``OTEL_*`` variables say (endpoint,
  headers, sampler). A client's W3C ``traceparent`` is honoured. Spans carry the provider,
  model, deployment, attempt, status and cost; never a prompt, an image or a key.
- **JSON logs** (``litellm_settings.json_logs``): each request's line as one JSON object
  (:class:`pixmux.proxy.process.JsonFormatter`), with the text line's fields plus ``cost_usd``
  and ``key_alias`` (which the virtual keys put in the request's ``info["key_alias"]``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from pixmux.proxy.process import JsonFormatter

if TYPE_CHECKING:
    from pixmux.exceptions import PixmuxError
    from pixmux.router import Router, RouterDeployment
    from pixmux.types import ImageResponse

__all__ = ["Telemetry", "JsonFormatter", "multiprocess_dir", "MULTIPROC_ENV", "BudgetSource"]

logger = logging.getLogger("pixmux.proxy")

#: prometheus_client's variable: a directory where every worker writes its metric values.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Feeds the per-key budget gauge when scraped: ``{key_alias: USD remaining}`` (the keys work sets it).
BudgetSource = Callable[[], Mapping[str, float]]

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
_OVERHEAD_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
_AZURE_ROUTE = "/openai/deployments/{model}/images/generations"
_OPERATIONS = frozenset({"generations", "edits", "variations"})
#: Label sets whose metric children are kept at hand (then forgotten all at once; prometheus_client keeps its own).
CHILDREN_KEPT = 4096


def _clip(value: object, limit: int = 200) -> str:
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[:limit] + "…"


# --------------------------------------------------------------------------- JSON logs


def _use_json_logs() -> None:
    root = logging.getLogger()
    if not root.handlers:  # a worker of `pixmux serve --workers N` starts with no logging set up
        root.addHandler(logging.StreamHandler())
        if root.level > logging.INFO:
            root.setLevel(logging.INFO)
    for handler in root.handlers:
        handler.setFormatter(JsonFormatter())


# --------------------------------------------------------------------------- metrics


@contextlib.contextmanager
def multiprocess_dir(workers: int) -> Iterator[None]:
    """
    With more than one worker, give this run a fresh ``PROMETHEUS_MULTIPROC_DIR`` (removed at the
    end) unless the operator set one: every worker writes there, any worker reads them all.
    """
    if workers < 2 or os.environ.get(MULTIPROC_ENV):
        yield
        return
    path = tempfile.mkdtemp(prefix="pixmux-metrics-")
    os.environ[MULTIPROC_ENV] = path
    try:
        yield
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(path, ignore_errors=True)


class _Metrics:
    def __init__(self) -> None:
        try:
            import prometheus_client as prom
        except ImportError:
            from pixmux.exceptions import ConfigurationError

            raise ConfigurationError(
                "general_settings.metrics is on, but prometheus_client is not installed: pip install 'pixmux[metrics]'",
                param="general_settings.metrics",
            ) from None
        self._prom = prom
        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        self.registry = None if self.multiprocess else prom.CollectorRegistry()
        self.budget_source: BudgetSource | None = None
        where: dict[str, Any] = {"registry": self.registry}
        self.requests = prom.Counter(
            "pixmux_requests", "Gateway requests answered", ("route", "model", "deployment", "status"), **where
        )
        self.images = prom.Counter("pixmux_images", "Images generated", ("model", "deployment"), **where)
        self.cost = prom.Counter(
            "pixmux_cost_usd", "Cost of the images generated, in USD", ("model", "deployment"), **where
        )
        self.total = prom.Histogram(
            "pixmux_request_duration_seconds",
            "Time from request to answer",
            ("route",),
            buckets=_LATENCY_BUCKETS,
            **where,
        )
        self.upstream = prom.Histogram(
            "pixmux_upstream_duration_seconds",
            "Time spent on providers per request (every attempt, retries and waits included)",
            ("model",),
            buckets=_LATENCY_BUCKETS,
            **where,
        )
        self.overhead = prom.Histogram(
            "pixmux_gateway_overhead_seconds",
            "Time the gateway adds to the provider's",
            buckets=_OVERHEAD_BUCKETS,
            **where,
        )
        self.errors = prom.Counter("pixmux_upstream_errors", "Failed upstream attempts", ("provider", "error"), **where)
        self.cooldowns = prom.Counter("pixmux_cooldowns", "Deployments cooled down", ("deployment",), **where)
        self.in_flight = prom.Gauge(
            "pixmux_requests_in_flight", "Requests being handled", multiprocess_mode="livesum", **where
        )
        if self.registry is not None:
            self.registry.register(_BudgetCollector(self))
        self._children: dict[tuple[str, str, str, int], _Children] = {}
        self._overhead = self.overhead.observe
        #: Adds to the requests in flight: in one process a plain count the gauge reads when
        #: scraped; under ``--workers N`` the gauge's own value, which other workers read.
        self.in_flight_add: Callable[[float], None]
        if self.multiprocess:
            self.in_flight_add = self.in_flight.inc
        else:
            self.flying = 0
            self.in_flight.set_function(lambda: self.flying)
            self.in_flight_add = self._fly

    def _fly(self, change: float) -> None:
        self.flying += int(change)

    def record(
        self,
        key: tuple[str, str, str, int],
        total: float,
        upstream: float | None,
        overhead: float | None,
        *,
        images: int | None,
        cost: float | None,
    ) -> None:
        """
        Count one answered request under ``key`` (route, model, deployment, status).

        The metric children of a label set are looked up once and kept (prometheus_client's
        ``labels()`` checks and joins the labels on every call); at most :data:`CHILDREN_KEPT`.
        """
        children = self._children.get(key)
        if children is None:
            if len(self._children) >= CHILDREN_KEPT:
                self._children.clear()
            children = self._children[key] = _Children(self, key)
        children.requests(1)
        children.total(total)
        if upstream is not None:
            children.upstream(upstream)
        if overhead is not None:
            self._overhead(overhead)
        if images:
            children.images(images)
        if cost is not None and cost > 0:
            children.cost(cost)

    def render(self) -> tuple[bytes, str]:
        prom = self._prom
        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = prom.CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            registry.register(_BudgetCollector(self))
        else:
            registry = self.registry
        return prom.generate_latest(registry), prom.CONTENT_TYPE_LATEST


class _Children:
    """
    One label set's metric children, each as the bound method that counts.

    Only prometheus_client's public calls: reaching into its private values (an add without
    ``inc``'s checks, histograms by bisection) saved about 4 µs per request, under 1% of a
    request's CPU, short of the 5% a private shortcut must buy.
    """

    __slots__ = ("cost", "images", "requests", "total", "upstream")

    def __init__(self, metrics: _Metrics, key: tuple[str, str, str, int]) -> None:
        route, model, deployment, status = key
        self.requests = metrics.requests.labels(route, model, deployment, str(status)).inc
        self.total = metrics.total.labels(route).observe
        self.upstream = metrics.upstream.labels(model).observe
        self.images = metrics.images.labels(model, deployment).inc
        self.cost = metrics.cost.labels(model, deployment).inc


class _BudgetCollector:
    """The per-key budget gauge, read from :attr:`Telemetry.budget_source` at each scrape."""

    def __init__(self, metrics: _Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        family = GaugeMetricFamily(
            "pixmux_key_budget_remaining_usd", "Budget left per virtual key, in USD", labels=["key_alias"]
        )
        source = self._metrics.budget_source
        if source is not None:
            for alias, left in source().items():
                family.add_metric([_clip(alias, 100)], float(left))
        yield family

    def describe(self) -> list[Any]:
        return []


# --------------------------------------------------------------------------- traces


class _Tracing:
    def __init__(self) -> None:
        try:
            from opentelemetry import context, trace
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
            from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
        except ImportError:
            from pixmux.exceptions import ConfigurationError

            raise ConfigurationError(
                "general_settings.tracing is on, but OpenTelemetry is not installed: pip install 'pixmux[otel]'",
                param="general_settings.tracing",
            ) from None
        import pixmux

        named = "OTEL_SERVICE_NAME" in os.environ or "service.name" in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "")
        resource = Resource.create({} if named else {"service.name": "pixmux-gateway"})
        self.provider = TracerProvider(resource=resource)  # the sampler comes from OTEL_TRACES_SAMPLER(_ARG)
        self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        self.tracer = self.provider.get_tracer("pixmux", pixmux.__version__)
        self.propagator = TraceContextTextMapPropagator()
        self.context = context
        self.trace = trace
        self.server = trace.SpanKind.SERVER
        self.client = trace.SpanKind.CLIENT
        self.error = trace.StatusCode.ERROR

    def begin(self, scope: Mapping[str, Any], name: str) -> tuple[Any, object]:
        carrier = {}
        for key, value in scope["headers"]:
            if key in (b"traceparent", b"tracestate"):
                carrier[key.decode()] = value.decode("latin-1")
        parent = self.propagator.extract(carrier) if carrier else None
        span = self.tracer.start_span(name, context=parent, kind=self.server)
        if not span.is_recording():  # not sampled: nothing under it will be either, so no context to set
            return span, None
        token = self.context.attach(self.trace.set_span_in_context(span))
        return span, token


# --------------------------------------------------------------------------- together


@attrs.frozen(kw_only=True)
class _Done:
    """One answered request, as metrics, spans and the JSON line see it."""

    method: str
    path: str
    route: str
    model: Any
    model_label: str
    deployment: str
    status: int
    total: float
    upstream: float | None
    overhead: float | None
    cost: float | None
    images: int | None
    request_id: str


class Telemetry:
    """
    The gateway's metrics, traces and JSON request lines, each on when its setting says so.

    Args:
        router: the gateway's router; its :attr:`~pixmux.Router.observer` becomes this object
            when metrics or traces are on.
        metrics, tracing, json_logs: which parts are on.

    Raises:
        ConfigurationError: a part is on but its extra is not installed.
    """

    def __init__(
        self, router: Router, *, metrics: bool = False, tracing: bool = False, json_logs: bool = False
    ) -> None:
        self._names = frozenset(router.model_names) | frozenset(router.aliases)
        self._routes: dict[str, str] = {}
        self.metrics = _Metrics() if metrics else None
        self.tracing = _Tracing() if tracing else None
        self.json_logs = json_logs
        self.on = bool(self.metrics or self.tracing or json_logs)
        if self.metrics is not None or self.tracing is not None:
            router.observer = self

    @property
    def budget_source(self) -> BudgetSource | None:
        """What feeds ``pixmux_key_budget_remaining_usd``: ``{key_alias: USD left}``, called at each scrape."""
        return None if self.metrics is None else self.metrics.budget_source

    @budget_source.setter
    def budget_source(self, source: BudgetSource | None) -> None:
        if self.metrics is not None:
            self.metrics.budget_source = source

    def startup(self) -> None:
        """Install the JSON formatter (at the gateway's start)."""
        if self.json_logs:
            _use_json_logs()

    def shutdown(self) -> None:
        """Send the spans still buffered."""
        if self.tracing is not None:
            self.tracing.provider.shutdown()

    def flush(self) -> None:
        """Export every finished span now."""
        if self.tracing is not None:
            self.tracing.provider.force_flush()

    # ------------------------------------------------------------------ per request

    def begin(self, scope: Mapping[str, Any], info: dict[str, Any]) -> None:
        """A request arrived: count it in flight, open its span (the current span while it is handled)."""
        if self.metrics is not None:
            self.metrics.in_flight_add(1)
        if self.tracing is not None:
            info["_span"] = self.tracing.begin(scope, f"{scope['method']} {self._route(scope['path'])}")

    def _route(self, path: str) -> str:
        if path.startswith("/openai/deployments/"):  # the model name is in the path: label the template
            operation = path.rsplit("/", 1)[-1]
            return _AZURE_ROUTE.replace("generations", operation) if operation in _OPERATIONS else "(other)"
        return path if len(path) <= 64 and path.isascii() and path.isprintable() else "(other)"

    def finished(
        self,
        *,
        method: str,
        path: str,
        info: Mapping[str, Any],
        status: int,
        started: float,
        request_id: str,
        known_route: bool,
    ) -> bool:
        """
        A request was answered: metrics, span and (with ``json_logs``) its log line.

        Returns ``True`` when its log line was written here (the gateway then writes no text line).
        """
        total = time.perf_counter() - started
        model = info.get("model")
        upstream = info.get("upstream")
        overhead = None
        if isinstance(upstream, float):
            provider = info.get("provider_time", upstream)
            overhead = max(0.0, total - min(provider, upstream))
        else:
            upstream = None
        if known_route:
            route = self._routes.get(path)
            if route is None:  # the gateway's own paths: a few, each worked out once
                route = self._routes[path] = self._route(path)
        else:
            route = self._route(path) if path.startswith("/openai/deployments/") else "(other)"
        model_label = model if isinstance(model, str) and model in self._names else "(other)" if model else "-"
        deployment = info.get("deployment", "-")
        if type(deployment) is not str:
            deployment = str(deployment)
        cost = info.get("cost")
        if not isinstance(cost, float):
            cost = None
        images = info.get("images")
        if not isinstance(images, int):
            images = None
        metrics = self.metrics
        if metrics is not None:
            metrics.in_flight_add(-1)
            key = (route, model_label, deployment, status)
            metrics.record(key, total, upstream, overhead, images=images, cost=cost)
        if self.tracing is None and not self.json_logs:
            return False
        done = _Done(
            method=method,
            path=path,
            route=route,
            model=model,
            model_label=model_label,
            deployment=deployment,
            status=status,
            total=total,
            upstream=upstream,
            overhead=overhead,
            cost=cost,
            images=images,
            request_id=request_id,
        )
        span_token = info.get("_span")
        trace_id = None
        if self.tracing is not None and span_token is not None:
            trace_id = self._close_span(self.tracing, span_token, done)
        if not self.json_logs:
            return False
        if logger.isEnabledFor(logging.INFO):
            self._json_line(done, info.get("key_alias"), trace_id)
        return True

    @staticmethod
    def _close_span(tracing: _Tracing, span_token: tuple[Any, object], done: _Done) -> str | None:
        span, token = span_token
        trace_id = None
        if span.is_recording():
            span.set_attribute("http.request.method", done.method)
            span.set_attribute("http.route", done.route)
            span.set_attribute("http.response.status_code", done.status)
            span.set_attribute("pixmux.request_id", done.request_id)
            if done.model is not None:
                span.set_attribute("pixmux.model", _clip(done.model, 100))
            if done.deployment != "-":
                span.set_attribute("pixmux.deployment", done.deployment)
            if done.cost is not None:
                span.set_attribute("pixmux.cost_usd", done.cost)
            if done.images is not None:
                span.set_attribute("pixmux.images", done.images)
            if done.status >= 500:
                span.set_status(tracing.error)
            trace_id = f"{span.get_span_context().trace_id:032x}"
        span.end()
        if token is not None:
            with contextlib.suppress(ValueError):  # detached in another context (a cancelled task)
                tracing.context.detach(token)
        return trace_id

    @staticmethod
    def _json_line(done: _Done, key_alias: object, trace_id: str | None) -> None:
        fields: dict[str, Any] = {
            "method": done.method,
            "path": _clip(done.path),
            "model": _clip(done.model) if done.model is not None else None,
            "status": done.status,
            "duration_ms": round(done.total * 1000, 1),
            "deployment": _clip(done.deployment) if done.deployment != "-" else None,
            "request_id": done.request_id,
            "cost_usd": done.cost,
            "key_alias": _clip(key_alias, 100) if key_alias is not None else None,
        }
        if done.images is not None:
            fields["images"] = done.images
        if done.overhead is not None:
            fields["overhead_ms"] = round(done.overhead * 1000, 3)
        if trace_id is not None:
            fields["trace_id"] = trace_id
        logger.info(  # the text line's words, and its fields beside them
            "%s %s model=%s status=%d duration_ms=%.1f deployment=%s request_id=%s",
            done.method,
            fields["path"],
            fields["model"] or "-",
            done.status,
            done.total * 1000,
            fields["deployment"] or "-",
            done.request_id,
            extra={"pixmux": fields},
        )

    async def metrics_route(self, scope: Any, receive: Any, info: dict[str, Any]) -> tuple[int, Any, list[bytes]]:
        """``GET /metrics``: Prometheus' text format."""
        if self.metrics is None:  # pragma: no cover - the route exists only with metrics on
            raise RuntimeError("metrics are off")
        body, content_type = self.metrics.render()
        return 200, [(b"content-type", content_type.encode())], [body]

    # ------------------------------------------------------------------ RouterObserver

    def attempt_started(self, deployment: RouterDeployment, attempt: int) -> object:
        if self.tracing is None or not self.tracing.trace.get_current_span().is_recording():
            return None  # no request span, or one not sampled: its children would not be either
        span = self.tracing.tracer.start_span("upstream attempt", kind=self.tracing.client)
        if span.is_recording():
            span.set_attribute("pixmux.provider", deployment.model.split("/", 1)[0])
            span.set_attribute("pixmux.model", deployment.model)
            span.set_attribute("pixmux.deployment", deployment.id)
            span.set_attribute("pixmux.attempt", attempt)
        return span

    def attempt_ended(
        self,
        token: object,
        deployment: RouterDeployment,
        error: PixmuxError | None,
        elapsed: float,
        response: ImageResponse | None,
    ) -> None:
        if error is not None and self.metrics is not None:
            provider = error.provider or deployment.model.split("/", 1)[0]
            self.metrics.errors.labels(provider, type(error).__name__).inc()
        if token is None or self.tracing is None:
            return
        span: Any = token
        if span.is_recording():
            if error is not None:
                span.set_attribute("pixmux.status", type(error).__name__)
                if error.status_code is not None:
                    span.set_attribute("http.response.status_code", error.status_code)
                span.set_status(self.tracing.error)
            elif response is not None:
                span.set_attribute("pixmux.status", "ok")
                if response.cost is not None:
                    span.set_attribute("pixmux.cost_usd", float(response.cost))
            else:
                span.set_attribute("pixmux.status", "cancelled")
        span.end()

    def cooled_down(self, deployment: RouterDeployment) -> None:
        if self.metrics is not None:
            self.metrics.cooldowns.labels(deployment.id).inc()
