"""The benchmark's OTLP receiver counts spans without decoding them (``bench/otlp_sink.py``):
its count equals protobuf's on requests of every shape the OTLP schema allows."""

from __future__ import annotations

import random

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from bench.otlp_sink import count_spans


def test_span_count_equals_protobufs() -> None:
    rng = random.Random(5)
    for _ in range(30):
        request = ExportTraceServiceRequest()
        for _ in range(rng.randint(0, 3)):
            resource = request.resource_spans.add(schema_url="https://opentelemetry.io/schemas/1.26.0")
            resource.resource.attributes.add(key="service.name", value=AnyValue(string_value="grove"))
            for _ in range(rng.randint(0, 3)):
                scope = resource.scope_spans.add()
                scope.scope.name = "grove"
                for i in range(rng.randint(0, 300)):
                    span = scope.spans.add(name="chat gpt", trace_id=rng.randbytes(16), span_id=rng.randbytes(8),
                                           kind=3, start_time_unix_nano=rng.getrandbits(63),
                                           end_time_unix_nano=rng.getrandbits(63), flags=rng.getrandbits(32))
                    span.attributes.add(key="gen_ai.usage.input_tokens", value=AnyValue(int_value=i))
                    span.attributes.add(key="grove.cost_usd", value=AnyValue(double_value=rng.random()))
                    span.events.add(name="e", time_unix_nano=1)
                    span.status.code = rng.choice([0, 1, 2])
        expected = sum(len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans)
        assert count_spans(request.SerializeToString()) == expected
