"""The gateway's spans, recorded cheaply: a plain object while the request runs; when it ends,
its OTLP bytes for the gRPC exporter (``otlp_encode``) and, if any other processor is added
(the HTTP exporter, the tests' in-memory ones), one SDK ``ReadableSpan`` for those.

Why not the SDK's ``Tracer``: its spans validate each attribute, take a lock per write and
copy themselves at the end — measured at ~45 µs per span on the request path, against ~4 µs
here; at three spans a request that was a quarter of one core's throughput. What the SDK is
good at is all still the SDK's: the configured sampler decides, ids come from its
``RandomIdGenerator``, and the ended spans go through its processors (``BatchSpanProcessor``
and the OTLP exporters, or the tests' in-memory ones).

Promises:
- The sampler is asked once per trace root we start (the SERVER span, continuing an incoming
  parent); child spans follow their parent's decision, which is what every sampler the
  gateway accepts (``OTEL_TRACES_SAMPLER``) would decide for them.
- A span that is not recorded still has valid ids (the response's ``traceparent``) and costs
  nothing else; its writes are ignored.
- Attribute values are the gateway's own (str, bool, int, float, tuples of them): they are
  not re-validated.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, SynchronousMultiSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import Sampler
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, TraceFlags, get_current_span

from gateway.telemetry.otlp_encode import UNSET_STATUS, EncodedSpan, Head, SpanEncoder

log = logging.getLogger("grove.telemetry")
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_NOT_SAMPLED = TraceFlags(TraceFlags.DEFAULT)
_EMPTY = Context()


class Span:
    __slots__ = ("_spans", "name", "context", "parent", "kind", "attributes", "start_ns", "status", "_ended")

    def __init__(self, spans: Spans | None, name: str, context: SpanContext, parent: SpanContext | None,
                 kind: SpanKind, attributes: dict[str, Any] | None, start_ns: int) -> None:
        self._spans = spans  # None: not recorded
        self.name = name
        self.context = context
        self.parent = parent
        self.kind = kind
        self.attributes = attributes if attributes is not None else {}
        self.start_ns = start_ns
        self.status = UNSET_STATUS
        self._ended = False

    def is_recording(self) -> bool:
        return self._spans is not None and not self._ended

    def get_span_context(self) -> SpanContext:
        return self.context

    def set_attribute(self, key: str, value: Any) -> None:
        if self._spans is not None:
            self.attributes[key] = value

    def set_attributes(self, attributes: dict[str, Any]) -> None:
        if self._spans is not None:
            self.attributes.update(attributes)

    def update_name(self, name: str) -> None:
        self.name = name

    def set_status(self, status: Status) -> None:
        self.status = status

    def end(self, end_ns: int | None = None) -> None:
        if self._ended:
            return
        self._ended = True
        spans = self._spans
        if spans is None:
            return
        end_ns = end_ns or time.time_ns()
        if spans.wire is not None:
            try:
                data = spans.encoder.span(self, end_ns)
            except Exception:  # noqa: BLE001 - a span must never fail the request it describes
                log.exception("encoding span %r failed; it is dropped", self.name)
            else:
                spans.wire.on_end(EncodedSpan(self.context, data))  # type: ignore[arg-type]
        if spans.readable:
            spans.processor.on_end(ReadableSpan(
                self.name, self.context, self.parent, spans.resource, self.attributes, (), (), self.kind,
                status=self.status, start_time=self.start_ns, end_time=end_ns, instrumentation_scope=spans.scope,
            ))


class Spans:
    """Starts spans; the ended ones go to ``processor`` as SDK spans (every processor added) and
    to ``wire`` encoded (the OTLP gRPC exporter's, if any: see ``otlp_encode``)."""

    def __init__(self, resource: Resource, scope: InstrumentationScope, sampler: Sampler) -> None:
        self.resource = resource
        self.scope = scope
        self.sampler = sampler
        self.processor = SynchronousMultiSpanProcessor()
        self.readable = False  # any processor in ``processor``
        self.wire: SpanProcessor | None = None
        self.encoder = SpanEncoder()
        self.head = Head(resource, scope)
        self._ids = RandomIdGenerator()

    def add_processor(self, processor: SpanProcessor) -> None:
        self.processor.add_span_processor(processor)
        self.readable = True

    def set_wire_processor(self, processor: SpanProcessor) -> None:
        """``processor`` gets ``EncodedSpan``s (their bytes are ``self.head``'s spans)."""
        self.wire = processor

    def start_root(self, name: str, kind: SpanKind, attributes: dict[str, Any], parent: Context | None) -> Span:
        """A span of this process's own, continuing ``parent`` (an extracted remote context) if any."""
        remote = get_current_span(parent).get_span_context() if parent is not None else None
        if remote is not None and not remote.is_valid:
            remote = None
        trace_id = remote.trace_id if remote is not None else self._ids.generate_trace_id()
        result = self.sampler.should_sample(parent if remote is not None else _EMPTY, trace_id, name, kind,
                                            attributes)
        recording = result.decision.is_recording()
        if result.attributes:
            attributes = {**attributes, **result.attributes}
        context = SpanContext(trace_id, self._ids.generate_span_id(), False,
                              _SAMPLED if result.decision.is_sampled() else _NOT_SAMPLED, result.trace_state)
        return Span(self if recording else None, name, context, remote, kind, attributes, time.time_ns())

    def start_child(self, parent: Span, name: str, kind: SpanKind, attributes: dict[str, Any] | None = None,
                    start_ns: int | None = None) -> Span:
        pc = parent.context
        context = SpanContext(pc.trace_id, self._ids.generate_span_id(), False, pc.trace_flags, pc.trace_state)
        return Span(parent._spans, name, context, pc, kind, attributes, start_ns or time.time_ns())

    def force_flush(self, timeout_ms: int) -> bool:
        ok = self.processor.force_flush(timeout_ms)
        return (self.wire.force_flush(timeout_ms) if self.wire is not None else True) and ok

    def shutdown(self) -> None:
        self.processor.shutdown()
        if self.wire is not None:
            self.wire.shutdown()

