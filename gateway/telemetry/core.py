"""``Telemetry``: the one object that owns the gateway's tracing, metrics, cost book and access log.

``create_app`` builds it (tests build their own, with in-memory span processors and metric
readers) and hands it to the middleware and the handlers; nothing here is global: the tracer
provider is never installed as OpenTelemetry's global one.

Promises:
- An exporter that is down or slow never delays or fails a request: spans go through a
  ``BatchSpanProcessor`` whose queue is bounded (``OTEL_BSP_MAX_QUEUE_SIZE``) and drops when
  full; metrics are aggregated in place and pushed by the SDK's periodic reader thread.
  Memory stays bounded while the collector is away.
- Without an OTLP endpoint (or with ``OTEL_SDK_DISABLED=true``) spans are not recorded, but
  every request still gets a trace id (an incoming ``traceparent`` is continued) and
  ``GET /metrics`` still works.
- ``stop()`` never blocks the event loop for longer than ``shutdown_timeout_s``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace import sampling
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from gateway import __version__
from gateway.accesslog import AccessLog
from gateway.catalog_schema import ModelSpec
from gateway.cost import CostBook
from gateway.registry import Deployment
from gateway.settings import Settings
from gateway.telemetry import exporters
from gateway.telemetry import names as n
from gateway.telemetry.config import OtelSettings
from gateway.telemetry.meters import Attrs, Meters
from gateway.telemetry.perf import PerfLog
from gateway.telemetry.request import RequestTelemetry
from gateway.telemetry.spans import Spans
from gateway.telemetry.usage import UsageLog

log = logging.getLogger("grove.telemetry")
SCOPE_NAME = "grove-gateway"


@dataclass(frozen=True, slots=True)
class DeploymentInfo:
    """What every attempt on one deployment says about it: computed once per deployment."""

    span_name: str
    span_attrs: dict[str, Any]
    metric_attrs: Attrs


class Instruments:
    def __init__(self, meters: Meters, breaker_states: Callable[[], Iterable[tuple[Attrs, float]]]) -> None:
        self.operation_duration = meters.histogram(
            n.METRIC_OPERATION_DURATION, "s", "GenAI operation duration.", n.DURATION_BUCKETS)
        self.token_usage = meters.histogram(
            n.METRIC_TOKEN_USAGE, "{token}", "Number of input and output tokens used.", n.TOKEN_BUCKETS)
        self.time_to_first_chunk = meters.histogram(
            n.METRIC_TIME_TO_FIRST_CHUNK, "s",
            "Time to receive the first chunk, from when the generation request was issued.", n.DURATION_BUCKETS)
        self.requests = meters.counter(n.METRIC_REQUESTS, "{request}", "Chat requests by route, model and status.")
        self.fallbacks = meters.counter(n.METRIC_FALLBACKS, "{fallback}",
                                        "Moves to another deployment, by why the one before failed.")
        self.cost = meters.counter(n.METRIC_COST, "{USD}", "Cost of the requests served, in US dollars.")
        self.overhead = meters.histogram(
            n.METRIC_OVERHEAD, "s", "Time a request spent in the gateway, not waiting on upstreams.",
            n.OVERHEAD_BUCKETS)
        meters.gauge(n.METRIC_BREAKER_STATE, "1",
                     "Circuit breaker state as this replica last saw it: 0 closed, 1 half-open, 2 open.",
                     breaker_states)


class Telemetry:
    def __init__(self, settings: Settings, *, span_processors: Sequence[SpanProcessor] = (),
                 metric_readers: Sequence[MetricReader] = (), access_log: AccessLog | None = None,
                 costs: CostBook | None = None, shutdown_timeout_s: float = 5.0) -> None:
        """``span_processors`` and ``metric_readers`` are added to the ones the ``OTEL_*`` settings
        ask for (tests pass in-memory ones)."""
        otel = settings.otel
        self.otel = otel
        self.record_content: bool = settings.record_content
        self.shutdown_timeout_s = shutdown_timeout_s
        self.costs = costs or CostBook()
        self.access = access_log or AccessLog(enabled=settings.access_log)
        self.usage: UsageLog | None = None
        self.perf: PerfLog | None = None
        self.quiet_paths = frozenset({"/healthz", "/readyz", "/metrics"})
        """Probes and scrapes: spans and metrics, but no access log line."""
        self.provider_url: Callable[[str], str | None] = lambda provider_id: None
        self.breaker_states: dict[str, str] = {}
        self._deployments: dict[tuple[int, str], tuple[Deployment, DeploymentInfo]] = {}
        self._propagator = TraceContextTextMapPropagator()

        attributes: dict[str, Any] = {"service.name": otel.service_name, "service.version": __version__}
        attributes.update(otel.resource_attributes)
        resource = Resource.create(attributes)
        self._exporting_traces = otel.traces is not None and not otel.disabled
        record = not otel.disabled and (bool(span_processors) or self._exporting_traces)
        # Not recording still gives every request a real trace id, cheaply.
        scope = InstrumentationScope(SCOPE_NAME, __version__)
        self.spans = Spans(resource, scope, _sampler(otel) if record else sampling.ALWAYS_OFF)
        for processor in span_processors:
            self.spans.add_processor(processor)

        self.meters = Meters(resource, scope)
        self.instruments = Instruments(self.meters, self._breaker_points)
        self.prometheus = CollectorRegistry()
        self.readers: list[MetricReader] = [exporters.prometheus_reader(self.prometheus), *metric_readers]
        for reader in self.readers:
            self.meters.attach(reader)
        self._started = False

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the OTLP exporters the settings ask for (threads: so not in ``__init__``)."""
        if self._started:
            return
        self._started = True
        otel = self.otel
        if self._exporting_traces and otel.traces is not None:
            processor = BatchSpanProcessor(
                exporters.span_exporter(otel.traces, self.spans.head),
                max_queue_size=otel.bsp_max_queue_size,
                schedule_delay_millis=otel.bsp_schedule_delay_s * 1000,
                max_export_batch_size=otel.bsp_max_export_batch_size,
                export_timeout_millis=otel.bsp_export_timeout_s * 1000,
            )
            if otel.traces.protocol == "grpc":  # its exporter takes spans encoded as they end
                self.spans.set_wire_processor(processor)
            else:
                self.spans.add_processor(processor)
            exporters.quiet_queue_full_warnings()
        if otel.metrics is not None and not otel.disabled:
            reader = PeriodicExportingMetricReader(
                exporters.metric_exporter(otel.metrics),
                export_interval_millis=otel.metric_interval_s * 1000,
                export_timeout_millis=otel.metric_timeout_s * 1000,
            )
            self.meters.attach(reader)
            self.readers.append(reader)

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Export what is pending now (spans, then metrics). Blocks: tests and shutdown call it."""
        ok = self.spans.force_flush(int(timeout_s * 1000))
        for reader in self.readers:
            if isinstance(reader, PeriodicExportingMetricReader):
                ok = reader.force_flush(timeout_s * 1000) and ok
        return ok

    async def stop(self) -> None:
        """Flush and shut the exporters down, waiting at most ``shutdown_timeout_s``: a dead
        collector must not hold up the gateway's exit (the exporting thread is a daemon)."""
        done = asyncio.Event()
        loop = asyncio.get_running_loop()

        def shutdown() -> None:
            try:
                self.spans.shutdown()
                for reader in self.readers:
                    reader.shutdown(timeout_millis=self.shutdown_timeout_s * 1000)
            except Exception:  # noqa: BLE001 - shutting down must finish whatever an exporter does
                log.exception("telemetry shutdown failed")
            finally:
                try:
                    loop.call_soon_threadsafe(done.set)
                except RuntimeError:  # the loop is gone: nobody waits any more
                    pass

        threading.Thread(target=shutdown, name="grove-telemetry-shutdown", daemon=True).start()
        try:
            await asyncio.wait_for(done.wait(), self.shutdown_timeout_s)
        except TimeoutError:
            log.warning("telemetry exporters did not shut down within %.1fs; leaving them", self.shutdown_timeout_s)

    # --- per request ----------------------------------------------------------------------------

    def begin(self, scope: dict[str, Any]) -> RequestTelemetry:
        """Open a request's SERVER span, continuing an incoming ``traceparent``."""
        method: str = scope["method"]
        path: str = scope["path"]
        traceparent = tracestate = agent = None
        for name, value in scope["headers"]:
            if name == b"traceparent":
                traceparent = value.decode("latin-1")
            elif name == b"tracestate":
                tracestate = value.decode("latin-1")
            elif name == b"user-agent":
                agent = value.decode("latin-1")
        parent: Context | None = None
        if traceparent is not None:
            carrier = {"traceparent": traceparent} if tracestate is None else \
                {"traceparent": traceparent, "tracestate": tracestate}
            parent = self._propagator.extract(carrier, context=Context())
        attrs: dict[str, Any] = {
            n.HTTP_REQUEST_METHOD: method if method in n.HTTP_METHODS else "_OTHER",
            n.URL_PATH: path,
            n.URL_SCHEME: scope.get("scheme", "http"),
            n.NETWORK_PROTOCOL_VERSION: scope.get("http_version", "1.1"),
        }
        if method not in n.HTTP_METHODS:
            attrs[n.HTTP_REQUEST_METHOD_ORIGINAL] = method
        if agent is not None:
            attrs[n.USER_AGENT_ORIGINAL] = agent
        client = scope.get("client")
        if client:
            attrs[n.CLIENT_ADDRESS] = client[0]
        span = self.spans.start_root(method, SpanKind.SERVER, attrs, parent)
        ctx = span.context
        trace_id = format(ctx.trace_id, "032x")
        headers = [
            (b"traceparent", f"00-{trace_id}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}".encode()),
            (b"x-grove-trace-id", trace_id.encode()),
        ]
        return RequestTelemetry(self, span, method, path, trace_id, headers)

    def deployment_info(self, deployment: Deployment, operation: str = n.OPERATION_CHAT) -> DeploymentInfo:
        """The attempt attributes of ``deployment`` for ``operation`` (``gen_ai.operation.name``)."""
        cached = self._deployments.get((id(deployment), operation))
        if cached is not None and cached[0] is deployment:
            return cached[1]
        info = self._info(deployment, operation)
        if len(self._deployments) > 10_000:  # deployments of old catalogs
            self._deployments.clear()
        self._deployments[(id(deployment), operation)] = (deployment, info)
        return info

    def prepare(self, deployments: Iterable[Deployment]) -> None:
        """Compute each deployment's attributes and price now, at start-up or reload, not in a request."""
        for deployment in deployments:
            self.deployment_info(deployment)
            self.costs.entry(deployment.model, deployment.provider_kind)

    def metrics_exposition(self, accept: str | None) -> tuple[bytes, str]:
        """Prometheus (or OpenMetrics, if asked for) text of every metric, and its content type."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.prometheus), content_type

    def _info(self, deployment: Deployment, operation: str) -> DeploymentInfo:
        model: ModelSpec = deployment.model
        base_url = self.provider_url(deployment.provider_id)
        provider = n.provider_name(deployment.provider_kind, deployment.provider_id, base_url)
        common: dict[str, Any] = {
            n.GEN_AI_OPERATION_NAME: operation,
            n.GEN_AI_PROVIDER_NAME: provider,
            n.GEN_AI_REQUEST_MODEL: model.upstream_model,
        }
        server = n.server_address(base_url)
        if server is not None:
            common[n.SERVER_ADDRESS], common[n.SERVER_PORT] = server
        span_attrs = {**common, n.GROVE_DEPLOYMENT: deployment.key, n.GROVE_PROVIDER_ID: deployment.provider_id}
        return DeploymentInfo(f"{operation} {model.upstream_model}", span_attrs, tuple(common.items()))

    def _breaker_points(self) -> list[tuple[Attrs, float]]:
        return [(((n.GROVE_DEPLOYMENT, key),), float(n.BREAKER_STATE_VALUES.get(state, 0)))
                for key, state in list(self.breaker_states.items())]


def _sampler(otel: OtelSettings) -> sampling.Sampler:
    ratio = otel.sampler_arg
    return {
        "always_on": lambda: sampling.ALWAYS_ON,
        "always_off": lambda: sampling.ALWAYS_OFF,
        "traceidratio": lambda: sampling.TraceIdRatioBased(ratio),
        "parentbased_always_on": lambda: sampling.DEFAULT_ON,
        "parentbased_always_off": lambda: sampling.DEFAULT_OFF,
        "parentbased_traceidratio": lambda: sampling.ParentBasedTraceIdRatio(ratio),
    }[otel.sampler]()
