"""Exporters built from settings: OTLP over gRPC or HTTP/protobuf, and the Prometheus reader.

Each exporter module is imported only when it is configured: the gRPC one pulls in grpcio,
which costs start-up time a gateway without a collector should not pay.
"""

from __future__ import annotations

import logging

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics.export import MetricExporter
from opentelemetry.sdk.trace.export import SpanExporter
from prometheus_client import CollectorRegistry

from gateway.telemetry.config import OtlpTarget
from gateway.telemetry.otlp_encode import Head

_QUEUE_LOGGER = "opentelemetry.sdk._shared_internal"


def span_exporter(target: OtlpTarget, head: Head) -> SpanExporter:
    """The gRPC exporter takes ``EncodedSpan``s of ``head``; the HTTP one the SDK's spans."""
    headers = dict(target.headers)
    if target.protocol == "grpc":
        from gateway.telemetry.otlp_grpc import GrpcSpanExporter

        return GrpcSpanExporter(head, endpoint=target.endpoint, insecure=target.insecure, headers=headers or None,
                                timeout=target.timeout_s)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter

    return HttpSpanExporter(endpoint=target.endpoint, headers=headers or None, timeout=target.timeout_s)


def metric_exporter(target: OtlpTarget) -> MetricExporter:
    headers = dict(target.headers)
    if target.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter

        return GrpcMetricExporter(endpoint=target.endpoint, insecure=target.insecure, headers=headers or None,
                                  timeout=target.timeout_s)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter

    return HttpMetricExporter(endpoint=target.endpoint, headers=headers or None, timeout=target.timeout_s)


def prometheus_reader(registry: CollectorRegistry) -> PrometheusMetricReader:
    """A reader registered in ``registry`` (the gateway's own, never prometheus_client's global
    one, so two gateways in one process do not mix their metrics)."""
    return PrometheusMetricReader(registry=registry)


def quiet_queue_full_warnings() -> None:
    """Silence the SDK's per-span "Queue full, dropping" warning.

    While a collector is down the queue stays full and every span is dropped; the warning
    then costs each request a log record per span (~10 µs each, the caller lookup included)
    and floods the log. The exporter's own errors already say the collector is unreachable.
    Only that module's warnings are affected: its errors still get through."""
    logger = logging.getLogger(_QUEUE_LOGGER)
    if logger.level < logging.ERROR:
        logger.setLevel(logging.ERROR)
