"""The span tree a request leaves, with the SDK's in-memory exporter: names, kinds, parents and
every attribute, for a non-stream request, a stream, and a request that fell back once. Also
trace context in and out, and the opt-in content capture."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from gateway.app import create_app
from gateway.catalog import load_catalog
from gateway.fakes.background import BackgroundServer
from gateway.fakes.run import Fakes
from gateway.settings import Settings
from gateway.telemetry.core import Telemetry

HI = [{"role": "user", "content": "hi"}]
ADMIN = "admin-key-for-telemetry-tests"
REMOTE_TRACE = "0af7651916cd43dd8448eb211c80319c"
REMOTE_SPAN = "b7ad6b7169203331"


class SpanWaiter(SimpleSpanProcessor):
    """Exports to memory and lets a test await the spans it expects (the SERVER span ends after
    the response went out, so the client may be quicker than the gateway)."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        super().__init__(self.exporter)
        self._ended = threading.Condition()

    def on_end(self, span: ReadableSpan) -> None:
        super().on_end(span)
        with self._ended:
            self._ended.notify_all()

    def wait(self, predicate: Callable[[list[ReadableSpan]], bool], timeout: float = 10.0) -> list[ReadableSpan]:
        with self._ended:
            ok = self._ended.wait_for(lambda: predicate(list(self.exporter.get_finished_spans())), timeout)
        spans = list(self.exporter.get_finished_spans())
        assert ok, f"spans did not arrive: {[s.name for s in spans]}"
        return spans

    def trace(self, trace_id: str, servers: int = 1) -> list[ReadableSpan]:
        """Every span of one trace, once its SERVER span(s) ended."""
        def done(spans: list[ReadableSpan]) -> bool:
            return sum(1 for s in _of(spans, trace_id) if s.kind == SpanKind.SERVER) >= servers

        return _of(self.wait(done), trace_id)


def _of(spans: list[ReadableSpan], trace_id: str) -> list[ReadableSpan]:
    return [s for s in spans if format(s.context.trace_id, "032x") == trace_id]


@dataclass
class Traced:
    server: BackgroundServer
    spans: SpanWaiter
    metrics: InMemoryMetricReader
    telemetry: Telemetry

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, **kwargs: Any) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.url}/v1", api_key="x", max_retries=0, **kwargs)


TracedFactory = Callable[..., Traced]


@pytest.fixture
def start_traced() -> Iterator[TracedFactory]:
    """Gateways with in-memory span and metric exporters, on real ports; stopped after the test."""
    started: list[Traced] = []

    def start(config_dir: Path, env: dict[str, str] | None = None, settings: Settings | None = None,
              **fields: Any) -> Traced:
        settings = settings or Settings(config_dir=config_dir, **fields)
        waiter, reader = SpanWaiter(), InMemoryMetricReader()
        telemetry = Telemetry(settings, span_processors=[waiter], metric_readers=[reader])
        app = create_app(settings, env=env or {}, catalog=load_catalog(config_dir), telemetry=telemetry)
        traced = Traced(BackgroundServer(app).start(), waiter, reader, telemetry)
        started.append(traced)
        return traced

    yield start
    for traced in started:
        traced.server.stop()


def by_name(spans: list[ReadableSpan]) -> dict[str, list[ReadableSpan]]:
    out: dict[str, list[ReadableSpan]] = {}
    for span in spans:
        out.setdefault(span.name, []).append(span)
    return out


def hexid(span_id: int) -> str:
    return format(span_id, "016x")


def _server_attrs(path: str = "/v1/chat/completions") -> dict[str, Any]:
    return {
        "http.request.method": "POST", "url.path": path, "url.scheme": "http", "network.protocol.version": "1.1",
        "http.route": path, "http.response.status_code": 200, "client.address": "127.0.0.1",
    }


def _client_attrs(fakes: Fakes, model: str, provider: str, deployment: str, provider_id: str) -> dict[str, Any]:
    url = {"fake-openai": fakes.openai.url, "fake-anthropic": fakes.anthropic.url}[provider_id]
    return {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": provider, "gen_ai.request.model": model,
        "server.address": "127.0.0.1", "server.port": int(url.rsplit(":", 1)[1]),
        "grove.deployment": deployment, "grove.provider.id": provider_id, "grove.breaker.state": "closed",
    }


def test_non_stream_span_tree(start_traced: TracedFactory, demo_config: Path, fakes: Fakes) -> None:
    gw = start_traced(demo_config)
    raw = gw.client().chat.completions.with_raw_response.create(
        model="default", messages=HI, temperature=0.3, top_p=0.9, max_tokens=50,
        extra_headers={"traceparent": f"00-{REMOTE_TRACE}-{REMOTE_SPAN}-01"})
    reply = raw.parse()
    assert raw.headers["x-grove-trace-id"] == REMOTE_TRACE
    spans = gw.spans.trace(REMOTE_TRACE)
    named = by_name(spans)
    assert sorted(named) == ["POST /v1/chat/completions", "chat gpt-4.1-mini"]
    server, attempt = (named[n][0] for n in ("POST /v1/chat/completions", "chat gpt-4.1-mini"))

    # The tree: the incoming span is the SERVER span's parent; the attempt is its child.
    assert server.kind == SpanKind.SERVER and server.parent is not None and server.parent.is_remote
    assert hexid(server.parent.span_id) == REMOTE_SPAN
    assert attempt.kind == SpanKind.CLIENT and attempt.parent.span_id == server.context.span_id
    assert raw.headers["traceparent"] == f"00-{REMOTE_TRACE}-{hexid(server.context.span_id)}-01"

    request_id = raw.headers["x-grove-request-id"]
    cost = 1 * 0.40 / 1e6 + reply.usage.completion_tokens * 1.60 / 1e6
    assert reply.usage.prompt_tokens == 1
    assert dict(server.attributes) == {  # the routing decision's provenance included
        **_server_attrs(), "user_agent.original": raw.http_request.headers["user-agent"],
        "grove.request.id": request_id, "grove.endpoint": "chat", "grove.request.model": "default", "grove.route.name": "default",
        "grove.route.strategy": "chain", "grove.route.rule": "route", "grove.route.candidates": 3,
        "grove.route.chain": ("gpt-4.1-mini@1", "claude-sonnet-4-5@1", "gemini-2.5-flash@1"),
        "grove.route.exclusions": (), "grove.decision.id": request_id,
        "grove.config.version": load_catalog(demo_config).version,
        "grove.model": "gpt-4.1-mini@1", "grove.attempts": 1, "grove.cost.usd": pytest.approx(cost),
    }
    assert dict(attempt.attributes) == {
        **_client_attrs(fakes, "gpt-4.1-mini", "fake-openai", "gpt-4.1-mini@1", "fake-openai"),
        "gen_ai.request.temperature": 0.3, "gen_ai.request.top_p": 0.9, "gen_ai.request.max_tokens": 50,
        "grove.attempt": 1, "gen_ai.response.model": reply.model, "gen_ai.response.id": reply.id,
        "gen_ai.response.finish_reasons": ("stop",), "gen_ai.usage.input_tokens": 1,
        "gen_ai.usage.output_tokens": reply.usage.completion_tokens, "grove.cost.usd": pytest.approx(cost),
    }
    assert attempt.status.status_code == StatusCode.UNSET and server.status.status_code == StatusCode.UNSET


def test_stream_span_tree(start_traced: TracedFactory, demo_config: Path, fakes: Fakes) -> None:
    gw = start_traced(demo_config)
    fakes.anthropic.state.set(ttft_ms=30)  # a measurable time to first chunk
    with httpx.stream("POST", f"{gw.url}/v1/chat/completions",
                      json={"model": "claude-sonnet-4-5", "messages": HI, "stream": True}) as resp:
        body = resp.read().decode()
        trace_id = resp.headers["x-grove-trace-id"]
    assert body.endswith("data: [DONE]\n\n") and "x-grove-cost-usd" not in resp.headers
    named = by_name(gw.spans.trace(trace_id))
    assert sorted(named) == ["POST /v1/chat/completions", "chat claude-sonnet-4-5"]
    server, attempt = named["POST /v1/chat/completions"][0], named["chat claude-sonnet-4-5"][0]
    assert server.parent is None  # no incoming traceparent: a new trace
    version, trace, span_id, flags = resp.headers["traceparent"].split("-")
    assert (version, trace, span_id) == ("00", trace_id, hexid(server.context.span_id))
    assert int(flags, 16) & 1  # sampled (the SDK also sets W3C level 2's "random" bit for its own ids)
    attrs = dict(attempt.attributes)
    ttfc = attrs.pop("gen_ai.response.time_to_first_chunk")
    response_id = attrs.pop("gen_ai.response.id")
    output_tokens = attrs["gen_ai.usage.output_tokens"]
    assert 0.03 <= ttfc < (attempt.end_time - attempt.start_time) / 1e9
    assert response_id.startswith("msg_") and response_id in body  # the id the client saw
    assert attrs == {
        **_client_attrs(fakes, "claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5@1", "fake-anthropic"),
        "gen_ai.request.stream": True, "grove.attempt": 1, "gen_ai.response.model": "claude-sonnet-4-5",
        "gen_ai.response.finish_reasons": ("stop",), "gen_ai.usage.input_tokens": 1,
        "gen_ai.usage.output_tokens": output_tokens, "grove.cost.usd": pytest.approx((3 + 15 * output_tokens) / 1e6),
    }
    # The attempt span stays open until the stream has ended; the SERVER span closes last.
    assert attempt.end_time <= server.end_time and output_tokens > 1
    assert server.attributes["grove.cost.usd"] == attrs["grove.cost.usd"]


def test_fallback_span_tree(start_traced: TracedFactory, demo_config: Path, fakes: Fakes) -> None:
    gw = start_traced(demo_config, retries=0)
    fakes.openai.state.set(status=429, retry_after=7)
    raw = gw.client().chat.completions.with_raw_response.create(model="default", messages=HI)
    assert raw.headers["x-grove-attempts"] == "2"
    named = by_name(gw.spans.trace(raw.headers["x-grove-trace-id"]))
    assert sorted(named) == ["POST /v1/chat/completions", "chat claude-sonnet-4-5", "chat gpt-4.1-mini"]
    server = named["POST /v1/chat/completions"][0]
    failed, served = named["chat gpt-4.1-mini"][0], named["chat claude-sonnet-4-5"][0]
    assert failed.parent.span_id == served.parent.span_id == server.context.span_id
    assert failed.end_time <= served.start_time
    assert dict(failed.attributes) == {
        **_client_attrs(fakes, "gpt-4.1-mini", "fake-openai", "gpt-4.1-mini@1", "fake-openai"),
        "grove.attempt": 1, "error.type": "rate_limit_exceeded",
    }
    assert failed.status.status_code == StatusCode.ERROR and "rate limiting" in failed.status.description
    assert served.attributes["grove.attempt"] == 2
    assert served.attributes["grove.fallback.reason"] == "rate_limit_exceeded"
    assert "error.type" not in served.attributes and served.status.status_code == StatusCode.UNSET
    assert server.attributes["grove.attempts"] == 2 and server.attributes["grove.model"] == "claude-sonnet-4-5@1"


def test_a_retry_of_the_same_deployment_says_retry(start_traced: TracedFactory, demo_config: Path,
                                                   fakes: Fakes) -> None:
    gw = start_traced(demo_config, retries=1)
    fakes.openai.state.set(status=500, fail_times=1)
    raw = gw.client().chat.completions.with_raw_response.create(model="gpt-4.1-mini", messages=HI)
    attempts = by_name(gw.spans.trace(raw.headers["x-grove-trace-id"]))["chat gpt-4.1-mini"]
    first, second = sorted(attempts, key=lambda s: s.start_time)
    assert first.attributes["error.type"] == "bad_upstream_response"
    assert second.attributes["grove.retry.reason"] == "bad_upstream_response"
    assert "grove.fallback.reason" not in second.attributes


def test_errors_before_routing_still_get_a_server_span(start_traced: TracedFactory, demo_config: Path) -> None:
    gw = start_traced(demo_config)
    resp = httpx.post(f"{gw.url}/v1/chat/completions", content=b"{not json")
    assert resp.status_code == 400
    spans = gw.spans.trace(resp.headers["x-grove-trace-id"])
    assert [s.name for s in spans] == ["POST /v1/chat/completions"]
    assert spans[0].attributes["http.response.status_code"] == 400 and "grove.route.name" not in spans[0].attributes
    missing = httpx.get(f"{gw.url}/nowhere")
    (span,) = gw.spans.trace(missing.headers["x-grove-trace-id"])
    assert span.name == "GET" and "http.route" not in span.attributes  # no route matched: the method only


def test_an_invalid_traceparent_starts_a_new_trace(start_traced: TracedFactory, demo_config: Path) -> None:
    gw = start_traced(demo_config)
    resp = httpx.get(f"{gw.url}/v1/models", headers={"traceparent": "00-zz-not-valid-01"})
    trace_id = resp.headers["x-grove-trace-id"]
    assert len(trace_id) == 32 and trace_id != "0" * 32
    (span,) = gw.spans.trace(trace_id)
    assert span.parent is None and span.name == "GET /v1/models"


def test_an_unsampled_parent_is_honoured(start_traced: TracedFactory, demo_config: Path) -> None:
    gw = start_traced(demo_config)
    resp = httpx.get(f"{gw.url}/v1/models", headers={"traceparent": f"00-{REMOTE_TRACE}-{REMOTE_SPAN}-00"})
    assert resp.headers["x-grove-trace-id"] == REMOTE_TRACE
    assert resp.headers["traceparent"].startswith(f"00-{REMOTE_TRACE}-") and resp.headers["traceparent"].endswith("-00")
    later = httpx.get(f"{gw.url}/v1/models")  # spans end in order: once this one is in, the first is decided
    gw.spans.trace(later.headers["x-grove-trace-id"])
    assert _of(list(gw.spans.exporter.get_finished_spans()), REMOTE_TRACE) == []


def test_content_is_not_recorded_by_default(start_traced: TracedFactory, demo_config: Path) -> None:
    gw = start_traced(demo_config)
    secret_prompt = "my-private-prompt-text"
    raw = gw.client().chat.completions.with_raw_response.create(
        model="gpt-4.1-mini", messages=[{"role": "user", "content": secret_prompt}])
    answer = raw.parse().choices[0].message.content
    for span in gw.spans.trace(raw.headers["x-grove-trace-id"]):
        for value in span.attributes.values():
            assert secret_prompt not in str(value) and answer not in str(value)
        assert "gen_ai.input.messages" not in span.attributes and "gen_ai.output.messages" not in span.attributes


@pytest.mark.parametrize("stream", [False, True])
def test_content_is_recorded_when_opted_in(start_traced: TracedFactory, demo_config: Path, stream: bool) -> None:
    gw = start_traced(demo_config, record_content=True)
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "say hi"}]
    raw = gw.client().chat.completions.with_raw_response.create(model="gpt-4.1-mini", messages=messages,
                                                               stream=stream)  # type: ignore[call-overload]
    reply = raw.parse()
    text = "".join(c.choices[0].delta.content or "" for c in reply if c.choices) if stream else \
        reply.choices[0].message.content
    attempt = by_name(gw.spans.trace(raw.headers["x-grove-trace-id"]))["chat gpt-4.1-mini"][0]
    assert json.loads(attempt.attributes["gen_ai.input.messages"]) == [
        {"role": "system", "parts": [{"type": "text", "content": "be brief"}]},
        {"role": "user", "parts": [{"type": "text", "content": "say hi"}]},
    ]
    assert json.loads(attempt.attributes["gen_ai.output.messages"]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": text}], "finish_reason": "stop"},
    ]
    assert attempt.attributes["gen_ai.response.finish_reasons"] == ("stop",)


def test_a_stream_the_client_leaves_ends_its_attempt_span(start_traced: TracedFactory, demo_config: Path,
                                                          fakes: Fakes) -> None:
    gw = start_traced(demo_config)
    fakes.openai.state.set(hold_after_chunks=2)
    with httpx.stream("POST", f"{gw.url}/v1/chat/completions",
                      json={"model": "gpt-4.1-mini", "messages": HI, "stream": True}) as resp:
        trace_id = resp.headers["x-grove-trace-id"]
        for line in resp.iter_lines():
            if '"content"' in line:
                break  # the client hangs up while the upstream still holds its stream
    attempt = by_name(gw.spans.trace(trace_id))["chat gpt-4.1-mini"][0]
    assert attempt.attributes["grove.stream.cancelled"] is True and "error.type" not in attempt.attributes
    assert attempt.attributes["gen_ai.response.time_to_first_chunk"] > 0


def test_sdk_disabled_records_no_spans_but_still_traces(start_traced: TracedFactory, demo_config: Path) -> None:
    otel = Settings.from_env({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}).otel
    gw = start_traced(demo_config, otel=otel)
    resp = httpx.post(f"{gw.url}/v1/chat/completions", json={"model": "gpt-4.1-mini", "messages": HI},
                      headers={"traceparent": f"00-{REMOTE_TRACE}-{REMOTE_SPAN}-01"})
    assert resp.status_code == 200 and resp.headers["x-grove-trace-id"] == REMOTE_TRACE
    assert "grove_requests_total" in httpx.get(f"{gw.url}/metrics").text  # the gateway's own metrics stay
    assert gw.spans.exporter.get_finished_spans() == ()
    assert gw.telemetry.flush(1)  # nothing pending


def test_tracestate_and_unknown_methods(start_traced: TracedFactory, demo_config: Path) -> None:
    gw = start_traced(demo_config)
    resp = httpx.get(f"{gw.url}/v1/models", headers={"traceparent": f"00-{REMOTE_TRACE}-{REMOTE_SPAN}-01",
                                                     "tracestate": "vendor=opaque"})
    (span,) = gw.spans.trace(REMOTE_TRACE)
    assert span.context.trace_state.get("vendor") == "opaque"
    odd = httpx.request("PROPFIND", f"{gw.url}/v1/models")
    (span,) = gw.spans.trace(odd.headers["x-grove-trace-id"])
    assert span.attributes["http.request.method"] == "_OTHER"
    assert span.attributes["http.request.method_original"] == "PROPFIND"
    assert resp.status_code == 200 and odd.status_code == 405


def test_the_pipeline_works_when_nobody_observes(demo_config: Path) -> None:
    import asyncio

    from gateway.breaker import Breakers
    from gateway.pipeline import Outcome, Pipeline
    from gateway.redact import Redactor
    from gateway.registry import Snapshot
    from gateway.stats import Stats
    from gateway.store.memory import MemoryStore
    from gateway.upstream import UpstreamPool
    from gateway.wire import parse_chat_request

    async def go() -> None:
        snapshot = Snapshot(load_catalog(demo_config), {})
        pool = UpstreamPool()
        await pool.start()
        pipeline = Pipeline(pool, Redactor(()), Breakers(MemoryStore()), Stats())
        chain = snapshot.chain(("gpt-4.1-mini@1",))
        req = parse_chat_request(json.dumps({"model": "gpt-4.1-mini", "messages": HI}).encode())
        completion = await pipeline.complete(req, chain, Outcome())
        assert completion.usage is not None and completion.usage.output_tokens > 0
        streamed = parse_chat_request(json.dumps({"model": "gpt-4.1-mini", "messages": HI, "stream": True}).encode())
        stream = await pipeline.stream(streamed, chain, Outcome())
        frames = [frame async for frame in stream.body]
        assert frames[-1] == b"data: [DONE]\n\n"
        await pool.close()

    asyncio.run(go())


def test_a_failed_request_marks_its_server_span(start_traced: TracedFactory, demo_config: Path, fakes: Fakes) -> None:
    gw = start_traced(demo_config, retries=0)
    fakes.openai.state.set(status=500)
    resp = httpx.post(f"{gw.url}/v1/chat/completions", json={"model": "gpt-4.1-mini", "messages": HI})
    assert resp.status_code == 502 and "x-grove-cost-usd" not in resp.headers
    named = by_name(gw.spans.trace(resp.headers["x-grove-trace-id"]))
    server, attempt = named["POST /v1/chat/completions"][0], named["chat gpt-4.1-mini"][0]
    assert server.status.status_code == StatusCode.ERROR and server.attributes["error.type"] == "502"
    assert "grove.model" not in server.attributes and "grove.cost.usd" not in server.attributes
    assert attempt.attributes["error.type"] == "bad_upstream_response"
    assert "gen_ai.usage.input_tokens" not in attempt.attributes


def test_sdk_disabled_in_the_process_environment_still_gives_trace_ids(
        start_traced: TracedFactory, demo_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The SDK itself reads OTEL_SDK_DISABLED from os.environ and then hands out no-op spans.
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    gw = start_traced(demo_config)
    fresh = httpx.get(f"{gw.url}/v1/models")
    continued = httpx.get(f"{gw.url}/v1/models", headers={"traceparent": f"00-{REMOTE_TRACE}-{REMOTE_SPAN}-01"})
    assert fresh.headers["x-grove-trace-id"] not in ("0" * 32, REMOTE_TRACE)
    assert continued.headers["x-grove-trace-id"] == REMOTE_TRACE
    assert continued.headers["traceparent"].startswith(f"00-{REMOTE_TRACE}-")
    assert not continued.headers["traceparent"].endswith(f"-{REMOTE_SPAN}-00")  # a span id of its own


def test_odd_stream_payloads_never_break_an_attempt(demo_config: Path) -> None:
    from gateway.registry import Snapshot

    waiter = SpanWaiter()
    telemetry = Telemetry(Settings(), span_processors=[waiter])
    rt = telemetry.begin({"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": []})
    deployment = Snapshot(load_catalog(demo_config), {}).deployments_by_key["gpt-4.1-mini@1"]
    watch = rt.attempt(deployment, 1, "closed", None)
    watch.first_chunk([b"not json"])
    for payload in (b'{"choices": 3, "finish_reason": "stop"}', b'{"finish_reason":"stop"',
                    b'[1, "finish_reason"]', b'{"choices": [{"finish_reason": "length"}, "x"]}'):
        watch.chunk(payload)
    watch.stream_ended(None, None, cancelled=False)
    watch.stream_ended(None, None, cancelled=False)  # a second end is ignored
    rt.end(200, None)
    rt.end(200, None)
    spans = by_name(waiter.wait(lambda spans: len(spans) == 2))
    attempt = spans["chat gpt-4.1-mini"][0]
    assert attempt.attributes["gen_ai.response.finish_reasons"] == ("length",)
    assert "gen_ai.response.id" not in attempt.attributes
    assert spans["POST"][0].attributes["http.response.status_code"] == 200


@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "gpt-4.1-mini"])
def test_a_messages_stream_names_its_response_on_the_attempt_span(start_traced: TracedFactory, demo_config: Path,
                                                                  model: str) -> None:
    """The Messages endpoint relays whole event frames, passed through or translated: the span
    still gets the response's id, model and stop reason."""
    gw = start_traced(demo_config)
    body = {"model": model, "max_tokens": 64, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    with httpx.stream("POST", f"{gw.url}/v1/messages", json=body) as resp:
        text = resp.read().decode()
    assert resp.status_code == 200 and "message_stop" in text
    (attempt,) = [s for s in gw.spans.trace(resp.headers["x-grove-trace-id"]) if s.kind == SpanKind.CLIENT]
    attrs = dict(attempt.attributes or {})
    message_start = json.loads(text.split("data: ", 1)[1].split("\n", 1)[0])["message"]
    assert attrs["gen_ai.response.id"] == message_start["id"]
    assert attrs["gen_ai.response.model"] == message_start["model"]
    assert attrs["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert attrs["gen_ai.operation.name"] == "chat" and attrs["gen_ai.usage.output_tokens"] > 0
