"""A local OTLP collector for the benchmarks: a gRPC server that accepts traces and metrics,
counts the spans, and discards the rest. It runs as its own process on the load core:

    python -m bench.otlp_sink PORT    # prints "sink ready", then one span count per second
"""

from __future__ import annotations

import sys
import threading
from concurrent import futures


def serve(port: int) -> None:
    import grpc
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

    spans = [0]
    lock = threading.Lock()

    class Traces(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request, context):  # type: ignore[no-untyped-def] # noqa: N802
            count = sum(len(scope.spans) for rs in request.resource_spans for scope in rs.scope_spans)
            with lock:
                spans[0] += count
            return trace_service_pb2.ExportTraceServiceResponse()

    class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
        def Export(self, request, context):  # type: ignore[no-untyped-def] # noqa: N802
            return metrics_service_pb2.ExportMetricsServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Traces(), server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Metrics(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    print("sink ready", flush=True)
    while True:  # wait_for_termination returns (True) on each timeout; the parent terminates us
        server.wait_for_termination(timeout=1)
        print(f"spans {spans[0]}", flush=True)


if __name__ == "__main__":
    serve(int(sys.argv[1]))
