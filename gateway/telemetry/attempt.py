"""One upstream attempt as telemetry sees it: a CLIENT span and the GenAI client metrics.

An ``AttemptSpan`` opens when the pipeline sends to a deployment and closes when that attempt
is over: at the answer for a non-stream request, at the stream's end for a committed stream,
at the failure otherwise. The span is named ``chat {gen_ai.request.model}`` and carries the
GenAI attributes known up front (operation, provider, request model, server, request
parameters), then the response's (id, model, finish reasons, usage, time to first chunk),
``error.type`` on failure, and the gateway's ``grove.*`` facts (attempt number, why the one
before failed, breaker state, cost). Stream payloads are inspected cheaply: the first one
for the response id and model, later ones only when they carry a finish reason (a byte
search), unless content capture is on.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from opentelemetry.trace import SpanKind, Status, StatusCode

from gateway import jsonio
from gateway.errors import UpstreamError
from gateway.pipeline import reason
from gateway.providers.base import Completion, Usage
from gateway.telemetry import content
from gateway.telemetry import names as n
from gateway.telemetry.meters import Attrs

if TYPE_CHECKING:
    from gateway.registry import Deployment
    from gateway.telemetry.core import DeploymentInfo
    from gateway.telemetry.request import RequestTelemetry

_FINISH = b'"finish_reason"'
_NO_FINISH = b'"finish_reason":null'
_STOP = b'"stop_reason":"'
_DATA = b"\ndata: "


class AttemptSpan:
    __slots__ = ("rt", "deployment", "info", "span", "started", "first_s", "response_id", "response_model",
                 "finish", "output", "ended")

    def __init__(self, rt: RequestTelemetry, deployment: Deployment, info: DeploymentInfo, number: int,
                 breaker: str, previous: tuple[str, str] | None) -> None:
        self.rt = rt
        self.deployment = deployment
        self.info = info
        attrs: dict[str, object] | None = None
        if rt.span.is_recording():  # otherwise this child is not sampled either
            attrs = {**info.span_attrs, **rt.request_attrs(), n.GROVE_ATTEMPT: number, n.GROVE_BREAKER_STATE: breaker}
            if previous is not None:
                previous_key, previous_outcome = previous
                name = n.GROVE_RETRY_REASON if previous_key == deployment.key else n.GROVE_FALLBACK_REASON
                attrs[name] = previous_outcome
            if rt.tel.record_content:
                inputs = rt.input_messages()
                if inputs is not None:
                    attrs[n.GEN_AI_INPUT_MESSAGES] = inputs
        self.span = rt.tel.spans.start_child(rt.span, info.span_name, SpanKind.CLIENT, attrs)
        self.started = time.perf_counter()
        self.first_s: float | None = None
        self.response_id: str | None = None
        self.response_model: str | None = None
        self.finish: list[str] = []
        self.output: content.StreamedOutput | None = content.StreamedOutput() if rt.tel.record_content else None
        self.ended = False

    # --- the pipeline's calls --------------------------------------------------------------------

    def first_chunk(self, payloads: list[bytes]) -> None:
        """The stream is committed: its first payloads are in hand."""
        self.first_s = time.perf_counter() - self.started
        self.rt.first_chunk()
        if payloads:
            self._identify(payloads[0])
        self.rt.tel.instruments.time_to_first_chunk.record(self.first_s, self._metric_attrs(None))

    def chunk(self, payload: bytes) -> None:
        """A payload relayed to the client (the first ones included)."""
        if self.output is not None:
            self.output.add(payload)
        elif _FINISH in payload and _NO_FINISH not in payload:
            self._finish_reasons(payload)
        elif _STOP in payload:  # Anthropic's message_delta (the Messages endpoint's stream)
            event = _event_data(payload)
            delta = event.get("delta") if isinstance(event, dict) else None
            if isinstance(delta, dict) and isinstance(delta.get("stop_reason"), str):
                self.finish.append(delta["stop_reason"])

    def completed(self, completion: Completion) -> None:
        self.response_id, self.response_model = completion.response_id, completion.response_model
        self.finish = list(completion.finish_reasons)
        output = content.output_messages(completion.body) if self.rt.tel.record_content else None
        self._end(completion.usage, None, output)

    def stream_ended(self, usage: Usage | None, error: UpstreamError | None, cancelled: bool) -> None:
        if self.output is not None:
            self.finish = self.output.finish_reasons()
        output = self.output.messages() if self.output is not None else None
        if cancelled:
            self.span.set_attribute(n.GROVE_STREAM_CANCELLED, True)
        self._end(usage, None if error is None else reason(error), output, error)

    def failed(self, exc: BaseException) -> None:
        if isinstance(exc, UpstreamError):
            self._end(None, reason(exc), None, exc)
        elif isinstance(exc, asyncio.CancelledError):
            self._end(None, "cancelled", None)
        else:
            self._end(None, type(exc).__qualname__, None)

    # --- internals -------------------------------------------------------------------------------

    def _identify(self, payload: bytes) -> None:
        chunk = _event_data(payload)
        if isinstance(chunk, dict):
            # A chat chunk names them at its top; Anthropic's message_start and the Responses
            # API's response.created in the object they open.
            inner = chunk.get("message") or chunk.get("response")
            source = inner if isinstance(inner, dict) and "id" not in chunk else chunk
            self.response_id = _str(source.get("id"))
            self.response_model = _str(source.get("model"))

    def _finish_reasons(self, payload: bytes) -> None:
        try:
            chunk = jsonio.loads(payload)
        except jsonio.JSONDecodeError:
            return
        choices = chunk.get("choices") if isinstance(chunk, dict) else None
        for choice in choices if isinstance(choices, list) else ():
            if isinstance(choice, dict) and isinstance(choice.get("finish_reason"), str):
                self.finish.append(choice["finish_reason"])

    def _metric_attrs(self, error_type: str | None) -> Attrs:
        attrs = self.info.metric_attrs
        if self.response_model:
            attrs += ((n.GEN_AI_RESPONSE_MODEL, self.response_model),)
        if error_type is not None:
            attrs += ((n.ERROR_TYPE, error_type),)
        return attrs

    def _end(self, usage: Usage | None, error_type: str | None, output: str | None,
             error: UpstreamError | None = None) -> None:
        if self.ended:
            return
        self.ended = True
        duration = time.perf_counter() - self.started
        rt, instruments = self.rt, self.rt.tel.instruments
        rt.upstream_s += duration
        attrs = self._metric_attrs(error_type)
        instruments.operation_duration.record(duration, attrs)
        cost = None
        if error_type is None or self.first_s is not None:  # this attempt answered (a stream may break later)
            cost = rt.served(self.deployment, usage, output)
        if usage is not None and error_type is None:
            instruments.token_usage.record(usage.input_tokens, attrs + ((n.GEN_AI_TOKEN_TYPE, "input"),))
            instruments.token_usage.record(usage.output_tokens, attrs + ((n.GEN_AI_TOKEN_TYPE, "output"),))
        span = self.span
        if span.is_recording():
            span.set_attributes(self._end_attrs(usage, cost, output))
            if error_type is not None:
                span.set_attribute(n.ERROR_TYPE, error_type)
                span.set_status(Status(StatusCode.ERROR, error.message if error is not None else error_type))
        span.end()

    def _end_attrs(self, usage: Usage | None, cost: float | None, output: str | None) -> dict[str, object]:
        out: dict[str, object] = {}
        if self.response_model:
            out[n.GEN_AI_RESPONSE_MODEL] = self.response_model
        if self.response_id:
            out[n.GEN_AI_RESPONSE_ID] = self.response_id
        if self.finish:
            out[n.GEN_AI_RESPONSE_FINISH_REASONS] = tuple(self.finish)
        if usage is not None:
            out[n.GEN_AI_USAGE_INPUT_TOKENS] = usage.input_tokens
            out[n.GEN_AI_USAGE_OUTPUT_TOKENS] = usage.output_tokens
            if usage.cached_input_tokens:
                out[n.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = usage.cached_input_tokens
        if cost is not None:
            out[n.GROVE_COST_USD] = cost
        if self.first_s is not None:
            out[n.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = self.first_s
        if output is not None:
            out[n.GEN_AI_OUTPUT_MESSAGES] = output
        return out


def _event_data(payload: bytes) -> object:
    """A payload's JSON: a chat chunk is JSON itself; the Messages and Responses endpoints relay
    whole ``event: ...`` / ``data: ...`` frames."""
    if payload.startswith(b"event:"):
        payload = payload.partition(_DATA)[2]
    try:
        return jsonio.loads(payload)
    except jsonio.JSONDecodeError:
        return None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
