"""Metrics: the GenAI client metrics with the spec's buckets, the gateway's own, ``/metrics``
parsed by Prometheus' own parser, and the in-process instruments underneath."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from gateway.fakes.run import Fakes
from gateway.telemetry import names
from gateway.telemetry.meters import OVERFLOW, Meters
from tests.conftest import GatewayFactory
from tests.test_telemetry import HI, TracedFactory, start_traced  # noqa: F401 - the fixture

DURATION_LE = [*names.DURATION_BUCKETS, float("inf")]
TOKEN_LE = [*map(float, names.TOKEN_BUCKETS), float("inf")]


def _scrape(url: str) -> dict[str, list[Sample]]:
    resp = httpx.get(f"{url}/metrics")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    return {family.name: family.samples for family in text_string_to_metric_families(resp.text)}


def _one(samples: list[Sample], name: str, **labels: str) -> float:
    found = [s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (name, labels, [s for s in samples if s.name == name])
    return found[0]


def test_metrics_after_a_plain_a_streamed_and_a_fallen_back_request(start_traced: TracedFactory, demo_config: Path,
                                                                    fakes: Fakes) -> None:
    gw = start_traced(demo_config, retries=0)
    # Ready first, as a load balancer would wait: litellm's import (seconds on a busy machine) is
    # the gateway's own time for a request that waits on it, which would swamp the sum below.
    deadline = time.monotonic() + 60
    while httpx.get(f"{gw.url}/readyz").status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.02)
    plain = httpx.post(f"{gw.url}/v1/chat/completions", json={"model": "gpt-4.1-mini", "messages": HI})
    with httpx.stream("POST", f"{gw.url}/v1/chat/completions",
                      json={"model": "claude-sonnet-4-5", "messages": HI, "stream": True}) as streamed:
        streamed.read()
    fakes.openai.state.set(status=503)
    fallen = httpx.post(f"{gw.url}/v1/chat/completions", json={"model": "default", "messages": HI})
    for resp in (plain, streamed, fallen):
        gw.spans.trace(resp.headers["x-grove-trace-id"])  # the request is fully recorded
    metrics = _scrape(gw.url)

    duration = metrics["gen_ai_client_operation_duration_seconds"]
    openai_ok = {"gen_ai_provider_name": "fake-openai", "gen_ai_request_model": "gpt-4.1-mini",
                 "gen_ai_response_model": "gpt-4.1-mini", "gen_ai_operation_name": "chat",
                 "server_address": "127.0.0.1"}
    buckets = [s for s in duration if s.name.endswith("_bucket") and s.labels.items() >= openai_ok.items()]
    assert [float(s.labels["le"]) for s in buckets] == DURATION_LE
    assert buckets[-1].value == 1
    assert _one(duration, "gen_ai_client_operation_duration_seconds_count", gen_ai_provider_name="fake-openai",
                error_type="upstream_unavailable") == 1
    assert _one(duration, "gen_ai_client_operation_duration_seconds_count", gen_ai_provider_name="anthropic") == 2

    tokens = metrics["gen_ai_client_token_usage"]
    input_buckets = [s for s in tokens if s.name.endswith("_bucket") and s.labels.get("gen_ai_token_type") == "input"
                     and s.labels["gen_ai_provider_name"] == "fake-openai"]
    assert [float(s.labels["le"]) for s in input_buckets] == TOKEN_LE
    assert input_buckets[0].value == 1  # one prompt token: in the first bucket, whose bound is 1
    output_sum = _one(tokens, "gen_ai_client_token_usage_sum", gen_ai_provider_name="fake-openai",
                      gen_ai_token_type="output")
    assert output_sum == plain.json()["usage"]["completion_tokens"]

    ttfc = metrics["gen_ai_client_operation_time_to_first_chunk_seconds"]
    assert [s.labels["gen_ai_provider_name"] for s in ttfc if s.name.endswith("_count")] == ["anthropic"]  # streams only

    requests = metrics["grove_requests"]
    assert _one(requests, "grove_requests_total", grove_route_name="gpt-4.1-mini", grove_model="gpt-4.1-mini@1",
                http_response_status_code="200") == 1
    assert _one(requests, "grove_requests_total", grove_route_name="default",
                grove_model="claude-sonnet-4-5@1") == 1
    assert _one(metrics["grove_fallbacks"], "grove_fallbacks_total", grove_fallback_reason="upstream_unavailable",
                grove_route_name="default") == 1

    plain_cost = float(plain.headers["x-grove-cost-usd"])
    fallen_cost = float(fallen.headers["x-grove-cost-usd"])
    assert _one(metrics["grove_cost_usd"], "grove_cost_usd_total", grove_model="gpt-4.1-mini@1") == \
        pytest.approx(plain_cost, abs=1e-10)
    claude = [s.value for s in metrics["grove_cost_usd"] if s.labels.get("grove_model") == "claude-sonnet-4-5@1"]
    assert sum(claude) > fallen_cost  # the stream's cost is counted too

    overhead = metrics["grove_gateway_overhead_seconds"]
    assert sum(s.value for s in overhead if s.name.endswith("_count")) == 3
    assert 0 < sum(s.value for s in overhead if s.name.endswith("_sum")) < 1.0


def test_breaker_state_gauge(start_traced: TracedFactory, demo_config: Path, fakes: Fakes) -> None:
    gw = start_traced(demo_config, retries=0, breaker_failures=1, breaker_cooldown_s=60)
    fakes.openai.state.set(status=500)
    for _ in range(2):  # the first opens gpt-4.1-mini's breaker; the second finds it open
        resp = httpx.post(f"{gw.url}/v1/chat/completions", json={"model": "default", "messages": HI})
        gw.spans.trace(resp.headers["x-grove-trace-id"])
    states = {s.labels["grove_deployment"]: s.value for s in _scrape(gw.url)["grove_breaker_state"]}
    assert states == {"gpt-4.1-mini@1": 2.0, "claude-sonnet-4-5@1": 0.0}


def test_the_in_memory_reader_sees_cumulative_otel_metrics(start_traced: TracedFactory, demo_config: Path) -> None:
    gw = start_traced(demo_config)
    resp = httpx.post(f"{gw.url}/v1/chat/completions", json={"model": "gpt-4.1-mini", "messages": HI})
    gw.spans.trace(resp.headers["x-grove-trace-id"])
    data = gw.metrics.get_metrics_data()
    (resource_metrics,) = data.resource_metrics
    assert resource_metrics.resource.attributes["service.name"] == "grove-gateway"
    (scope,) = resource_metrics.scope_metrics
    assert scope.scope.name == "grove-gateway"
    by_name = {m.name: m for m in scope.metrics}
    duration = by_name[names.METRIC_OPERATION_DURATION]
    assert duration.unit == "s" and duration.data.aggregation_temporality == AggregationTemporality.CUMULATIVE
    (point,) = duration.data.data_points
    assert tuple(point.explicit_bounds) == names.DURATION_BUCKETS and point.count == 1
    assert point.attributes == {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "fake-openai",
        "gen_ai.request.model": "gpt-4.1-mini", "gen_ai.response.model": "gpt-4.1-mini",
        "server.address": "127.0.0.1", "server.port": point.attributes["server.port"],
    }
    tokens = by_name[names.METRIC_TOKEN_USAGE]
    assert tokens.unit == "{token}"
    assert {p.attributes["gen_ai.token.type"] for p in tokens.data.data_points} == {"input", "output"}
    assert all(tuple(p.explicit_bounds) == tuple(float(b) for b in names.TOKEN_BUCKETS)
               for p in tokens.data.data_points)


def _meters() -> Meters:
    return Meters(Resource.create({}), InstrumentationScope("test"))


def test_a_value_on_a_boundary_falls_in_the_bucket_it_closes() -> None:
    meters = _meters()
    histogram = meters.histogram("h", "s", "", (1.0, 2.0))
    for value in (0.5, 1.0, 1.5, 2.0, 3.0):
        histogram.record(value, (("k", "v"),))
    ((attrs, count, total, counts, low, high),) = histogram.points()
    assert attrs == (("k", "v"),) and count == 5 and total == 8.0 and (low, high) == (0.5, 3.0)
    assert counts == [2, 2, 1]  # (-inf, 1], (1, 2], (2, +inf)


def test_instruments_stay_bounded() -> None:
    meters = _meters()
    counter = meters.counter("c", "1", "")
    counter.max_points = 3
    histogram = meters.histogram("h", "s", "", (1.0,))
    histogram.max_points = 2
    for i in range(10):
        counter.add(1, (("i", i),))
        histogram.record(0.5, (("i", i),))
    assert len(counter.points()) == 4 and dict(counter.points())[OVERFLOW] == 7
    assert len(histogram.points()) == 3 and {p[0]: p[1] for p in histogram.points()}[OVERFLOW] == 8


def test_a_failing_gauge_does_not_break_collection() -> None:
    meters = _meters()

    def broken() -> list[tuple[tuple[tuple[str, str], ...], float]]:
        raise RuntimeError("boom")

    meters.gauge("g", "1", "", broken)
    meters.counter("c", "1", "").add(2)
    reader = InMemoryMetricReader()
    meters.attach(reader)
    metrics = reader.get_metrics_data().resource_metrics[0].scope_metrics[0].metrics
    assert [m.name for m in metrics] == ["c"]


def test_openmetrics_is_served_when_asked_for(start_traced: TracedFactory, demo_config: Path) -> None:
    gw = start_traced(demo_config)
    httpx.post(f"{gw.url}/v1/chat/completions", json={"model": "gpt-4.1-mini", "messages": HI})
    resp = httpx.get(f"{gw.url}/metrics", headers={"accept": "application/openmetrics-text; version=1.0.0"})
    assert resp.headers["content-type"].startswith("application/openmetrics-text")
    assert resp.text.rstrip().endswith("# EOF")


def test_metrics_can_require_a_key(start_gateway: GatewayFactory, demo_config: Path) -> None:
    gateway = start_gateway(demo_config, metrics_key="metrics-key-for-tests")
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "metrics-key-for-tests"}):
        refused = httpx.get(f"{gateway.url}/metrics", headers=headers)
        assert refused.status_code == 401 and refused.json()["error"]["type"] == "authentication_error"
        assert "metrics-key-for-tests" not in refused.text
    ok = httpx.get(f"{gateway.url}/metrics", headers={"authorization": "Bearer metrics-key-for-tests"})
    assert ok.status_code == 200 and "# TYPE" in ok.text
