"""The remembering OTLP encoder gives the library's own message, span for span: on the spans real
requests leave (plain, streamed, fallen back, continuing a remote parent with trace state) and
on hand-made spans with every attribute type, before and after its memory fills."""

from __future__ import annotations

from pathlib import Path

import httpx
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

from gateway.fakes.run import Fakes
from gateway.telemetry.otlp_encode import SpanEncoder
from tests.test_telemetry import HI, REMOTE_SPAN, REMOTE_TRACE, TracedFactory, start_traced  # noqa: F401 - the fixture

RESOURCE = Resource.create({"service.name": "grove-gateway"})
SCOPE = InstrumentationScope("grove-gateway", "1.0")


def _span(i: int, **overrides: object) -> ReadableSpan:
    fields: dict[str, object] = dict(
        name=f"chat m{i % 3}", context=SpanContext(i + 1, i + 2, False, TraceFlags(1)), parent=None,
        resource=RESOURCE, attributes={"s": "same", "i": i, "b": i % 2 == 0, "f": i / 7, "t": ("a", str(i)),
                                       "n": (1, 2), "big": 10**12 + i},
        kind=SpanKind.CLIENT, status=Status(), start_time=1000 + i, end_time=2000 + i, instrumentation_scope=SCOPE,
    )
    fields.update(overrides)
    return ReadableSpan(**fields)  # type: ignore[arg-type]


def test_real_request_spans_encode_as_the_library_does(start_traced: TracedFactory, demo_config: Path,
                                                       fakes: Fakes) -> None:
    gw = start_traced(demo_config, retries=0)
    httpx.post(f"{gw.url}/v1/chat/completions", json={"model": "default", "messages": HI, "temperature": 0.2},
               headers={"traceparent": f"00-{REMOTE_TRACE}-{REMOTE_SPAN}-01", "tracestate": "vendor=abc,x=1"})
    with httpx.stream("POST", f"{gw.url}/v1/chat/completions",
                      json={"model": "claude-sonnet-4-5", "messages": HI, "stream": True}) as resp:
        resp.read()
    fakes.openai.state.set(status=500)  # the third request falls back: an ERROR span with a description
    httpx.post(f"{gw.url}/v1/chat/completions", json={"model": "default", "messages": HI})
    spans = gw.spans.wait(lambda s: sum(1 for x in s if x.kind == SpanKind.SERVER) >= 3)
    assert any(s.status.status_code == StatusCode.ERROR for s in spans)
    assert any(s.parent is not None and s.parent.is_remote for s in spans)
    encoder = SpanEncoder()
    assert encoder.encode(spans) == encode_spans(spans)
    assert encoder.encode(spans) == encode_spans(spans)  # from memory the second time


def test_every_attribute_type_and_field_before_and_after_memory_fills() -> None:
    remote = SpanContext(7, 8, True, TraceFlags(1))
    spans = [_span(i) for i in range(600)]  # "i", "t" and "big" pass 256 distinct values: no longer kept
    spans.append(_span(600, parent=remote, kind=SpanKind.SERVER, status=Status(StatusCode.ERROR, "boom"),
                       context=SpanContext(9, 10, False, TraceFlags(1), TraceState([("k", "v")]))))
    spans.append(_span(601, attributes={"l": ["x", "y"]}, instrumentation_scope=None))  # a list is not hashable
    encoder = SpanEncoder()
    for _ in range(2):
        assert encoder.encode(spans) == encode_spans(spans)


def test_a_span_with_events_goes_to_the_library() -> None:
    spans = [_span(0, events=(Event("retry", {"n": 1}, 5),)), _span(1)]
    assert SpanEncoder().encode(spans) == encode_spans(spans)


def test_spans_of_two_resources_stay_apart() -> None:
    other = Resource.create({"service.name": "other"})
    spans = [_span(0), _span(1, resource=other), _span(2)]
    encoded = SpanEncoder().encode(spans)
    assert encoded == encode_spans(spans) and len(encoded.resource_spans) == 2
