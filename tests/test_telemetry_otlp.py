"""OTLP over the wire: a real OTLP receiver (a gRPC collector service built from the
OpenTelemetry protocol definitions, and an HTTP/protobuf one) receives the gateway's spans and
metrics; a collector that is not there costs requests nothing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.fakes.background import BackgroundServer
from gateway.settings import Settings
from tests.conftest import GatewayFactory, free_port
from tests.test_telemetry import HI

FAST = {"OTEL_BSP_SCHEDULE_DELAY": "20", "OTEL_METRIC_EXPORT_INTERVAL": "50"}


class Sink:
    """What a receiver got: every export request, and a way to await the ones a test expects."""

    def __init__(self) -> None:
        self.traces: list[trace_service_pb2.ExportTraceServiceRequest] = []
        self.metrics: list[metrics_service_pb2.ExportMetricsServiceRequest] = []
        self.headers: list[dict[str, str]] = []
        self._changed = threading.Condition()

    def add(self, kind: str, request: Any, headers: dict[str, str]) -> None:
        with self._changed:
            getattr(self, kind).append(request)
            self.headers.append(headers)
            self._changed.notify_all()

    def wait(self, predicate: Callable[[], bool], timeout: float = 15.0) -> None:
        with self._changed:
            assert self._changed.wait_for(predicate, timeout), "the export did not arrive"

    def spans(self) -> list[Any]:
        return [span for req in self.traces for rs in req.resource_spans for ss in rs.scope_spans for span in ss.spans]

    def metric(self, name: str) -> list[Any]:
        return [m for req in self.metrics for rm in req.resource_metrics for sm in rm.scope_metrics
                for m in sm.metrics if m.name == name]

    def resource(self) -> dict[str, Any]:
        rs = self.traces[0].resource_spans[0]
        return _attrs(rs.resource.attributes)


def _attrs(kvs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in kvs:
        assert isinstance(kv, KeyValue)
        value = kv.value
        kind = value.WhichOneof("value")
        out[kv.key] = list(v.string_value for v in value.array_value.values) if kind == "array_value" \
            else getattr(value, kind)
    return out


class _Traces(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    def Export(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802 - the service's name
        self.sink.add("traces", request, dict(context.invocation_metadata()))
        return trace_service_pb2.ExportTraceServiceResponse()


class _Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    def Export(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        self.sink.add("metrics", request, dict(context.invocation_metadata()))
        return metrics_service_pb2.ExportMetricsServiceResponse()


@pytest.fixture
def grpc_receiver() -> Iterator[tuple[str, Sink]]:
    sink = Sink()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_Traces(sink), server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(_Metrics(sink), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"http://127.0.0.1:{port}", sink
    server.stop(grace=None).wait()


@pytest.fixture
def http_receiver() -> Iterator[tuple[str, Sink]]:
    sink = Sink()

    async def traces(request: Request) -> Response:
        sink.add("traces", trace_service_pb2.ExportTraceServiceRequest.FromString(await request.body()),
                 dict(request.headers))
        return Response(trace_service_pb2.ExportTraceServiceResponse().SerializeToString(),
                        media_type="application/x-protobuf")

    async def metrics(request: Request) -> Response:
        sink.add("metrics", metrics_service_pb2.ExportMetricsServiceRequest.FromString(await request.body()),
                 dict(request.headers))
        return Response(metrics_service_pb2.ExportMetricsServiceResponse().SerializeToString(),
                        media_type="application/x-protobuf")

    app = Starlette(routes=[Route("/v1/traces", traces, methods=["POST"]),
                            Route("/v1/metrics", metrics, methods=["POST"])])
    with BackgroundServer(app) as server:
        yield server.url, sink


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_spans_and_metrics_arrive_over_otlp(grpc_receiver: tuple[str, Sink], http_receiver: tuple[str, Sink],
                                            start_gateway: GatewayFactory, demo_config: Path, protocol: str) -> None:
    # (The receivers come first so that they stop after the gateway: its last export has a listener.)
    endpoint, sink = grpc_receiver if protocol == "grpc" else http_receiver
    settings = Settings.from_env({
        **FAST, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_SERVICE_NAME": "grove-under-test", "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test",
        "OTEL_EXPORTER_OTLP_HEADERS": "x-collector-token=t0k%20en",
    })
    gateway = start_gateway(demo_config, otel=settings.otel)
    resp = httpx.post(f"{gateway.url}/v1/chat/completions", json={"model": "gpt-4.1-mini", "messages": HI})
    assert resp.status_code == 200
    trace_id = bytes.fromhex(resp.headers["x-grove-trace-id"])
    assert gateway.app.state.telemetry.flush(5)  # export what is there now, metrics included

    def trace_complete() -> bool:
        return {s.name for s in sink.spans() if s.trace_id == trace_id} >= \
            {"POST /v1/chat/completions", "chat gpt-4.1-mini"}

    sink.wait(trace_complete)
    sink.wait(lambda: bool(sink.metric("gen_ai.client.token.usage")))
    (attempt,) = [s for s in sink.spans() if s.trace_id == trace_id and s.name == "chat gpt-4.1-mini"]
    attrs = _attrs(attempt.attributes)
    assert attrs["gen_ai.operation.name"] == "chat" and attrs["gen_ai.request.model"] == "gpt-4.1-mini"
    assert attrs["gen_ai.usage.input_tokens"] == resp.json()["usage"]["prompt_tokens"]
    assert attrs["grove.cost.usd"] == pytest.approx(float(resp.headers["x-grove-cost-usd"]), abs=1e-10)
    assert attempt.kind == 3  # SPAN_KIND_CLIENT
    resource = sink.resource()
    assert resource["service.name"] == "grove-under-test" and resource["deployment.environment"] == "test"
    assert sink.headers[0]["x-collector-token"] == "t0k en"

    (usage,) = sink.metric("gen_ai.client.token.usage")[-1:]
    assert usage.unit == "{token}"
    points = usage.histogram.data_points
    assert {_attrs(p.attributes)["gen_ai.token.type"] for p in points} == {"input", "output"}
    assert list(points[0].explicit_bounds) == [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576,
                                              4194304, 16777216, 67108864]
    assert usage.histogram.aggregation_temporality == 2  # CUMULATIVE
    sink.wait(lambda: bool(sink.metric("gen_ai.client.operation.duration")))


def test_a_dead_collector_costs_requests_nothing(start_gateway: GatewayFactory, demo_config: Path) -> None:
    dead = free_port()  # nothing listens here
    settings = Settings.from_env({**FAST, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{dead}",
                                  "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TIMEOUT": "500",
                                  "OTEL_BSP_MAX_QUEUE_SIZE": "16"})
    gateway = start_gateway(demo_config, otel=settings.otel)
    telemetry = gateway.app.state.telemetry
    with httpx.Client(base_url=gateway.url) as client:
        started = time.perf_counter()
        for _ in range(40):  # more spans than the queue holds: the extra ones are dropped, not waited for
            resp = client.post("/v1/chat/completions", json={"model": "gpt-4.1-mini", "messages": HI})
            assert resp.status_code == 200 and resp.headers["x-grove-trace-id"]
        elapsed = time.perf_counter() - started
    assert elapsed < 5.0  # ~40 ms of work: an export stuck on the dead port would show up as seconds
    queue = telemetry.spans.wire._batch_processor._queue
    assert len(queue) <= 16  # bounded while the collector is away
