"""Spans encoded as they end (the OTLP gRPC path) parse back to the library's own message, span for
span: on the spans real requests leave (plain, streamed, fallen back, continuing a remote parent
with trace state) and on hand-made spans with every attribute type, before and after the
encoder's memory fills."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

from gateway.fakes.run import Fakes
from gateway.telemetry.otlp_encode import EncodedSpan
from gateway.telemetry.spans import Span, Spans
from tests.test_telemetry import HI, REMOTE_SPAN, REMOTE_TRACE, TracedFactory, start_traced  # noqa: F401 - the fixture


class Wire(SpanProcessor):
    """Keeps the encoded spans a wire processor is handed."""

    def __init__(self) -> None:
        self.encoded: list[EncodedSpan] = []
        self.lock = threading.Lock()

    def on_end(self, span: Any) -> None:
        with self.lock:
            self.encoded.append(span)


def _sent(spans: Spans, wire: Wire) -> ExportTraceServiceRequest:
    """What the gRPC exporter would send, parsed back."""
    with wire.lock:
        data = [span.data for span in wire.encoded]
    return ExportTraceServiceRequest.FromString(spans.head.request(data))


def test_real_request_spans_encode_as_the_library_does(start_traced: TracedFactory, demo_config: Path,
                                                       fakes: Fakes) -> None:
    gw = start_traced(demo_config, retries=0)
    wire = Wire()
    gw.telemetry.spans.set_wire_processor(wire)
    httpx.post(f"{gw.url}/v1/chat/completions", json={"model": "default", "messages": HI, "temperature": 0.2},
               headers={"traceparent": f"00-{REMOTE_TRACE}-{REMOTE_SPAN}-01", "tracestate": "vendor=abc,x=1"})
    with httpx.stream("POST", f"{gw.url}/v1/chat/completions",
                      json={"model": "claude-sonnet-4-5", "messages": HI, "stream": True}) as resp:
        resp.read()
    fakes.openai.state.set(status=500)  # the third request falls back: an ERROR span with a description
    httpx.post(f"{gw.url}/v1/chat/completions", json={"model": "default", "messages": HI})
    spans = gw.spans.wait(lambda s: sum(1 for x in s if x.kind == SpanKind.SERVER) >= 3)
    assert any(s.status.status_code == StatusCode.ERROR and s.status.description for s in spans)
    assert any(s.parent is not None and s.parent.is_remote and s.context.trace_state for s in spans)
    assert len(wire.encoded) == len(spans) > 6
    assert _sent(gw.telemetry.spans, wire) == encode_spans(spans)


def _spans(**resource: Any) -> tuple[Spans, Wire, InMemorySpanExporter]:
    spans = Spans(Resource.create({"service.name": "grove-gateway", **resource}),
                  InstrumentationScope("grove-gateway", "1.0"), ALWAYS_ON)
    memory = InMemorySpanExporter()
    spans.add_processor(SimpleSpanProcessor(memory))
    wire = Wire()
    spans.set_wire_processor(wire)
    return spans, wire, memory


def _end(spans: Spans, i: int, **overrides: Any) -> None:
    fields: dict[str, Any] = dict(
        name=f"chat m{i % 3}", context=SpanContext(i + 1, i + 2, False, TraceFlags(1)), parent=None,
        kind=SpanKind.CLIENT, attributes={"s": "same", "i": i, "b": i % 2 == 0, "f": i / 7, "t": ("a", str(i)),
                                          "n": (1, 2), "big": 10**12 + i, "neg": -i, "e": ()},
        start_ns=1000 + i,
    )
    status = overrides.pop("status", None)
    fields.update(overrides)
    span = Span(spans, **fields)
    if status is not None:
        span.set_status(status)
    span.end(2000 + i)


def test_every_attribute_type_and_field_before_and_after_memory_fills() -> None:
    spans, wire, memory = _spans(**{"host.cores": 2, "ratio": 0.5})
    for i in range(600):  # "i", "t", "big" and "neg" pass 256 distinct values: no longer kept
        _end(spans, i)
    _end(spans, 600, parent=SpanContext(7, 8, True, TraceFlags(1)), kind=SpanKind.SERVER,
         status=Status(StatusCode.ERROR, "boom"),
         context=SpanContext(9, 10, False, TraceFlags(1), TraceState([("k", "v"), ("a", "b")])))
    _end(spans, 601, attributes={"l": ["x", "y"], "raw": b"\x00\x01", "u": "ü", "z": 0, "no": False},
         status=Status(StatusCode.OK), parent=SpanContext(7, 11, False, TraceFlags(1)), name="")
    _end(spans, 602, kind=SpanKind.INTERNAL, attributes={}, status=Status(StatusCode.UNSET, "ignored?"))
    readable: list[ReadableSpan] = list(memory.get_finished_spans())
    assert _sent(spans, wire) == encode_spans(readable)


def test_a_remembered_value_is_not_given_to_an_equal_value_of_another_type() -> None:
    spans, wire, memory = _spans()
    for i in range(3):  # 1, "1" and ("a",) are remembered for their keys
        _end(spans, i, attributes={"n": 1, "s": "1", "t": ("a",), "m": (1, 2)})
    # 1 == True == 1.0 and (1, 2) == (True, 2.0): each is encoded as what it is
    _end(spans, 3, attributes={"n": True, "s": "1", "t": ("a",), "m": (True, 2.0)})
    _end(spans, 4, attributes={"n": 1.0, "s": 1, "t": ["a"], "m": (1, 2)})
    readable: list[ReadableSpan] = list(memory.get_finished_spans())
    assert _sent(spans, wire) == encode_spans(readable)
    values = [{kv.key: kv.value for kv in span.attributes}
              for span in _sent(spans, wire).resource_spans[0].scope_spans[0].spans[3:]]
    assert values[0]["n"].bool_value is True and values[1]["n"].double_value == 1.0
    assert values[1]["s"].int_value == 1 and values[1]["t"].array_value.values[0].string_value == "a"


def test_a_value_otlp_cannot_carry_is_dropped_as_the_library_drops_it() -> None:
    spans, wire, memory = _spans()
    _end(spans, 0, attributes={"ok": "yes", "odd": {"a": 1}.keys()})
    (sent,) = _sent(spans, wire).resource_spans[0].scope_spans[0].spans
    assert [kv.key for kv in sent.attributes] == ["ok"]


def test_an_unsampled_span_is_not_encoded() -> None:
    spans, wire, memory = _spans()
    root = spans.start_root("GET", SpanKind.SERVER, {}, None)
    spans.sampler = ALWAYS_OFF
    dropped = spans.start_root("GET", SpanKind.SERVER, {}, None)
    dropped.end()
    spans.start_child(dropped, "grove.route", SpanKind.INTERNAL).end()
    root.end()
    assert len(wire.encoded) == 1 and wire.encoded[0].context == root.context


def test_a_span_that_cannot_be_encoded_is_dropped_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    spans, wire, memory = _spans()
    _end(spans, 0, name=b"not text")  # a bug of ours: the span ends anyway, without its bytes
    _end(spans, 1)
    assert len(wire.encoded) == 1 and "encoding span b'not text' failed" in caplog.text
