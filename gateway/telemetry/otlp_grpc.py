"""The OTLP gRPC span exporter for spans encoded as they ended (``otlp_encode``).

Imported only when a gRPC trace endpoint is configured: it pulls in grpcio.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from gateway.telemetry.otlp_encode import EncodedSpan, Head


class _BytesTraceStub:
    """The TraceService client with the request already serialised."""

    def __init__(self, channel: Any) -> None:
        self.Export = channel.unary_unary(  # noqa: N803 - the service's method name
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            request_serializer=None, response_deserializer=ExportTraceServiceResponse.FromString,
            _registered_method=True,
        )


class GrpcSpanExporter(OTLPSpanExporter):
    """The OTLP gRPC span exporter for ``EncodedSpan``s: it joins their bytes under ``head``.
    Connection, headers, retries and backoff are the library's."""

    def __init__(self, head: Head, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._head = head
        self._stub = _BytesTraceStub  # also when the library rebuilds its channel after an outage
        self._client = self._stub(self._channel)

    def _translate_data(self, data: Sequence[EncodedSpan]) -> bytes:  # type: ignore[override]
        return self._head.request([span.data for span in data])
