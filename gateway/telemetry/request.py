"""What one HTTP request records: its SERVER span, its attempts, its end.

The middleware opens a ``RequestTelemetry`` per request and ends it when the response (or
the stream) is over. The chat handler fills it in: the parsed request, the routing decision
(its provenance, ``grove.route.*``, on the SERVER span: without a span of its own the OpenAI
path served 4 % more requests per second, ``bench.compete``; routing takes microseconds), and
it is the pipeline's ``Observer``, handing out an ``AttemptSpan`` per upstream attempt. At the
end it records the request's metrics, its usage (for ``/admin/usage``), its live performance
figures (``/admin/perf``) and its access log line, once, whichever way it ended.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import Status, StatusCode

from gateway.pipeline import Outcome
from gateway.providers.base import ChatRequest, Usage
from gateway.routing import Decision
from gateway.telemetry import content
from gateway.telemetry import names as n
from gateway.telemetry.attempt import AttemptSpan
from gateway.telemetry.meters import Attrs
from gateway.telemetry.spans import Span

if TYPE_CHECKING:
    from gateway.registry import Deployment
    from gateway.telemetry.core import Telemetry

_REQUEST_PARAMS = (
    ("temperature", n.GEN_AI_REQUEST_TEMPERATURE, float),
    ("top_p", n.GEN_AI_REQUEST_TOP_P, float),
)


class RequestTelemetry:
    __slots__ = ("tel", "span", "started", "method", "path", "trace_id", "trace_headers", "chat", "endpoint", "operation",
                 "request_id", "req", "key", "requested", "route", "primary", "outcome", "served_key", "usage",
                 "cost_usd", "ttft_s", "upstream_s", "backoff_s", "output", "_params", "_inputs", "ended")

    def __init__(self, tel: Telemetry, span: Span, method: str, path: str, trace_id: str,
                 trace_headers: list[tuple[bytes, bytes]]) -> None:
        self.tel = tel
        self.span = span
        self.started = time.perf_counter()
        self.method, self.path = method, path
        self.trace_id, self.trace_headers = trace_id, trace_headers
        self.chat = False
        self.endpoint = "chat"
        self.operation = n.OPERATION_CHAT
        self.request_id: str | None = None
        self.req: ChatRequest | None = None
        self.key: str | None = None
        self.requested: str | None = None
        self.route: str | None = None
        self.primary = ""
        self.outcome: Outcome | None = None
        self.served_key: str | None = None
        self.usage: Usage | None = None
        self.cost_usd: float | None = None
        self.ttft_s: float | None = None
        self.upstream_s = 0.0
        self.backoff_s = 0.0
        self.output: str | None = None
        self._params: dict[str, Any] | None = None
        self._inputs: str | None = None
        self.ended = False

    # --- filled in by the chat handler ----------------------------------------------------------

    def chat_request(self, request_id: str, endpoint: str = "chat", operation: str = n.OPERATION_CHAT) -> None:
        """A request to one of the model endpoints (``gateway.endpoints``), whichever it is."""
        self.chat, self.request_id = True, request_id
        self.endpoint, self.operation = endpoint, operation

    def parsed(self, req: ChatRequest, key: str | None) -> None:
        self.req, self.key, self.requested = req, key, req.model

    def routed(self, decision: Decision, outcome: Outcome) -> None:
        """The decision is made: its provenance goes on the SERVER span."""
        self.route = decision.route or decision.requested
        self.primary = decision.chain[0] if decision.chain else ""
        self.outcome = outcome
        if self.span.is_recording():  # otherwise nothing is: skip building attributes
            attrs: dict[str, Any] = {  # the requested model and the route: at the end (_chat_attrs)
                n.GROVE_ROUTE_STRATEGY: decision.strategy,
                n.GROVE_ROUTE_RULE: decision.rule,
                n.GROVE_ROUTE_CANDIDATES: len(decision.candidates),
                n.GROVE_ROUTE_CHAIN: decision.chain,
                n.GROVE_ROUTE_EXCLUSIONS: tuple(f"{e.key}={e.check}" for e in decision.exclusions),
                n.GROVE_DECISION_ID: self.request_id or "",
                n.GROVE_CONFIG_VERSION: decision.config_version,
            }
            if decision.variant:
                attrs[n.GROVE_ROUTE_VARIANT] = decision.variant
            if decision.component:
                attrs[n.GROVE_COMPONENT] = decision.component
            self.span.set_attributes(attrs)

    def request_attrs(self) -> dict[str, Any]:
        """The GenAI request parameters, the same on every attempt: computed once."""
        if self._params is None:
            params: dict[str, Any] = {}
            body = self.req.body if self.req is not None else {}
            for field, name, kind in _REQUEST_PARAMS:
                value = body.get(field)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    params[name] = kind(value)
            max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
            if isinstance(max_tokens, int) and not isinstance(max_tokens, bool):
                params[n.GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
            if self.req is not None and self.req.stream:
                params[n.GEN_AI_REQUEST_STREAM] = True  # the spec: set if and only if streaming
            self._params = params
        return self._params

    def input_messages(self) -> str | None:
        if self._inputs is None and self.req is not None:
            self._inputs = content.input_messages(self.req.body)
        return self._inputs

    # --- the pipeline's Observer ----------------------------------------------------------------

    def attempt(self, deployment: Deployment, number: int, breaker: str,
                previous: tuple[str, str] | None) -> AttemptSpan:
        tel = self.tel
        tel.breaker_states[deployment.key] = breaker
        if previous is not None and previous[0] != deployment.key:
            route: Attrs = ((n.GROVE_ROUTE_NAME, self.route),) if self.route else ()
            tel.instruments.fallbacks.add(1, ((n.GROVE_FALLBACK_REASON, previous[1]), *route))
        return AttemptSpan(self, deployment, tel.deployment_info(deployment, self.operation), number, breaker,
                           previous)

    def skipped(self, deployment: Deployment, outcome: str, breaker: str) -> None:
        self.tel.breaker_states[deployment.key] = breaker

    def backoff(self, seconds: float) -> None:
        self.backoff_s += seconds

    # --- called back by the attempts ------------------------------------------------------------

    def first_chunk(self) -> None:
        if self.ttft_s is None:
            self.ttft_s = time.perf_counter() - self.started

    def served(self, deployment: Deployment, usage: Usage | None, output: str | None) -> float | None:
        self.served_key, self.usage, self.output = deployment.key, usage, output
        self.cost_usd = self.tel.costs.cost(deployment.model, deployment.provider_kind, usage)
        return self.cost_usd

    # --- the end --------------------------------------------------------------------------------

    def end(self, http_status: int, route_template: str | None) -> None:
        if self.ended:
            return
        self.ended = True
        elapsed = time.perf_counter() - self.started
        status = self.outcome.status if self.outcome is not None else http_status
        if self.chat:
            self._record(elapsed, status)
        span = self.span
        if span.is_recording():
            attrs: dict[str, Any] = {n.HTTP_RESPONSE_STATUS_CODE: http_status}
            if route_template is not None:
                attrs[n.HTTP_ROUTE] = route_template
                span.update_name(f"{self.method} {route_template}")
            if http_status >= 500:  # the HTTP conventions: only server errors make a SERVER span an error
                attrs[n.ERROR_TYPE] = str(http_status)
                span.set_status(Status(StatusCode.ERROR))
            if self.chat:
                attrs.update(self._chat_attrs())
            span.set_attributes(attrs)
        if self.tel.access.enabled and self.path not in self.tel.quiet_paths:
            self.tel.access.emit(self._access_entry(elapsed, status, http_status))
        span.end()  # last: once the SERVER span has ended, everything about the request is recorded

    def _record(self, elapsed: float, status: int) -> None:
        instruments = self.tel.instruments
        route: Attrs = ((n.GROVE_ROUTE_NAME, self.route),) if self.route else ()
        model: Attrs = ((n.GROVE_MODEL, self.served_key),) if self.served_key else ()
        instruments.requests.add(1, (*route, *model, (n.GROVE_ENDPOINT, self.endpoint),
                                     (n.HTTP_RESPONSE_STATUS_CODE, status)))
        instruments.overhead.record(max(0.0, elapsed - self.upstream_s - self.backoff_s), route)
        if self.cost_usd:
            instruments.cost.add(self.cost_usd, (*route, *model))
        usage_log = self.tel.usage
        if usage_log is not None and self.served_key is not None:
            usage_log.record(self.served_key, self.route or "", self.key or "", self.usage, self.cost_usd)
        perf, out = self.tel.perf, self.outcome
        if perf is not None and out is not None and out.attempts:  # what counts: gateway/telemetry/perf.py
            # The chain moves on and never back: the last attempt tells whether it left the first choice.
            perf.record(self.served_key or self.primary, self.route or "", status >= 500 or status == 429,
                        out.attempts[-1].deployment != self.primary, self.cost_usd, elapsed)

    def _chat_attrs(self) -> dict[str, Any]:
        attrs: dict[str, Any] = {n.GROVE_REQUEST_ID: self.request_id or "", n.GROVE_ENDPOINT: self.endpoint}
        if self.requested:
            attrs[n.GROVE_REQUEST_MODEL] = self.requested
        if self.route:
            attrs[n.GROVE_ROUTE_NAME] = self.route
        if self.served_key:
            attrs[n.GROVE_MODEL] = self.served_key
        if self.key:
            attrs[n.GROVE_KEY] = self.key
        if self.outcome is not None:
            attrs[n.GROVE_ATTEMPTS] = len(self.outcome.attempts)
        if self.cost_usd is not None:
            attrs[n.GROVE_COST_USD] = self.cost_usd
        return attrs

    def _access_entry(self, elapsed: float, status: int, http_status: int) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "time": round(time.time(), 3), "trace_id": self.trace_id, "method": self.method, "path": self.path,
            "status": status, "latency_ms": round(elapsed * 1000, 3),
        }
        if status != http_status:  # a stream that failed after its first byte went out as a 200
            entry["http_status"] = http_status
        if not self.chat:
            return entry
        out = self.outcome
        usage = self.usage
        entry.update(
            request_id=self.request_id, endpoint=self.endpoint, requested=self.requested, route=self.route, model=self.served_key,
            key=self.key, stream=self.req.stream if self.req is not None else None,
            attempts=len(out.attempts) if out is not None else 0,
            outcomes=[a.outcome for a in out.attempts] if out is not None else [],
            ttft_ms=None if self.ttft_s is None else round(self.ttft_s * 1000, 3),
            input_tokens=None if usage is None else usage.input_tokens,
            output_tokens=None if usage is None else usage.output_tokens,
            cached_input_tokens=None if usage is None else usage.cached_input_tokens,
            cost_usd=None if self.cost_usd is None else round(self.cost_usd, 10),
        )
        if self.tel.record_content:
            entry["input_messages"] = self.input_messages()
            entry["output_messages"] = self.output
        return entry
