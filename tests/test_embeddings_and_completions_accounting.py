"""Embeddings and legacy completions count as every request does: a client key's rpm and budget
refuse them before any upstream call, their usage and cost reach ``GET /admin/usage`` (summed
across two replicas on a real Redis) as the headers said, and their attempt spans name the
operation (``embeddings``, ``text_completion``)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import redis
from opentelemetry.trace import SpanKind

from gateway.fakes.background import BackgroundServer
from gateway.fakes.run import Fakes
from tests.conftest import REDIS_URL, GatewayFactory
from tests.test_completions import LEGACY_YAML
from tests.test_telemetry import TracedFactory, start_traced  # noqa: F401 - the fixture

ADMIN = "admin-key-for-text-endpoint-tests"
SECRETS = {name: f"sk-grove-test-{name}-0123456789abcdef" for name in ("limited", "budget", "alpha")}


def _sha(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


KEYS_YAML = f"""\
keys:
  - {{name: limited, sha256: {_sha(SECRETS["limited"])}, limits: {{rpm: 2}}}}
  - {{name: budget, sha256: {_sha(SECRETS["budget"])}, limits: {{budget_usd_day: 0.00000001}}}}
  - {{name: alpha, sha256: {_sha(SECRETS["alpha"])}}}
"""

Call = Callable[[openai.OpenAI], Any]
CALLS: dict[str, tuple[str, Call]] = {
    "embeddings": ("text-embedding-3-small", lambda sdk: sdk.embeddings.with_raw_response.create(
        model="text-embedding-3-small", input=["some text to embed", "and more"])),
    "gemini-embeddings": ("gemini-embedding-001", lambda sdk: sdk.embeddings.with_raw_response.create(
        model="gemini-embedding-001", input="some text to embed")),
    "completions": ("gpt-3.5-turbo-instruct", lambda sdk: sdk.completions.with_raw_response.create(
        model="gpt-3.5-turbo-instruct", prompt="Say hi", max_tokens=50)),
}


@pytest.fixture
def keyed_config(demo_config: Path) -> Path:
    (demo_config / "legacy.yaml").write_text(LEGACY_YAML)
    (demo_config / "keys.yaml").write_text(KEYS_YAML)
    return demo_config


def _sdk(gateway: BackgroundServer, name: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=SECRETS[name], max_retries=0)


def _sent(fakes: Fakes) -> int:
    return sum(len(f.state.requests) for f in fakes.all())


@pytest.mark.parametrize("call", sorted(CALLS))
def test_rpm_and_budget_refuse_before_any_upstream_call(start_gateway: GatewayFactory, keyed_config: Path,
                                                       fakes: Fakes, call: str) -> None:
    gateway = start_gateway(keyed_config, admin_key=ADMIN)
    _, make = CALLS[call]
    limited = _sdk(gateway, "limited")
    for _ in range(2):
        assert make(limited).headers["x-grove-model"]
    sent = _sent(fakes)
    with pytest.raises(openai.RateLimitError) as caught:
        make(limited)
    assert (caught.value.code, caught.value.type) == ("rate_limit_exceeded", "requests")
    assert "Limit 2" in caught.value.message and _sent(fakes) == sent
    budget = _sdk(gateway, "budget")
    first = make(budget)
    assert float(first.headers["x-grove-cost-usd"]) > 0.00000001  # this one's cost spends the budget
    with pytest.raises(openai.RateLimitError) as caught:
        make(budget)
    assert caught.value.code == "insufficient_quota" and _sent(fakes) == sent + 1


def test_usage_sums_count_them_as_the_headers_said(start_gateway: GatewayFactory, keyed_config: Path,
                                                  redis_client: redis.Redis) -> None:
    replicas = [start_gateway(keyed_config, admin_key=ADMIN, redis_url=REDIS_URL) for _ in range(2)]
    costs: dict[str, float] = {}
    tokens: dict[str, int] = {}
    for i, (model, make) in enumerate([*CALLS.values(), *CALLS.values()]):
        raw = make(_sdk(replicas[i % 2], "alpha"))
        usage = raw.parse().usage
        costs[model] = costs.get(model, 0.0) + float(raw.headers["x-grove-cost-usd"])
        tokens[model] = tokens.get(model, 0) + usage.prompt_tokens
    auth = {"authorization": f"Bearer {ADMIN}"}
    for replica in replicas:  # each replica's sums reach the store on the next read
        assert httpx.get(f"{replica.url}/admin/usage", headers=auth).status_code == 200
    body = httpx.get(f"{replicas[0].url}/admin/usage", headers=auth).json()
    rows = {row["model"]: row for row in body["data"]}
    assert set(rows) == {f"{model}@1" for model in costs}
    for model, cost in costs.items():
        row = rows[f"{model}@1"]
        assert (row["key"], row["requests"], row["input_tokens"]) == ("alpha", 2, tokens[model])
        assert row["cost_usd"] == pytest.approx(cost, abs=1e-12) and cost > 0
    assert rows["text-embedding-3-small@1"]["output_tokens"] == 0
    assert rows["gpt-3.5-turbo-instruct@1"]["output_tokens"] > 0


@pytest.mark.parametrize(("call", "operation"), [("embeddings", "embeddings"), ("gemini-embeddings", "embeddings"),
                                                 ("completions", "text_completion")])
def test_the_attempt_span_names_the_operation(start_traced: TracedFactory, keyed_config: Path,  # noqa: F811
                                              call: str, operation: str) -> None:
    (keyed_config / "keys.yaml").unlink()
    traced = start_traced(keyed_config)
    model, make = CALLS[call]
    raw = make(traced.client())
    trace_id = raw.headers["x-grove-trace-id"]
    spans = traced.spans.trace(trace_id)
    (attempt,) = [s for s in spans if s.kind == SpanKind.CLIENT]
    (server,) = [s for s in spans if s.kind == SpanKind.SERVER]
    assert attempt.name == f"{operation} {model}"
    attrs = dict(attempt.attributes or {})
    assert attrs["gen_ai.operation.name"] == operation and attrs["gen_ai.request.model"] == model
    assert attrs["gen_ai.usage.input_tokens"] == raw.parse().usage.prompt_tokens
    assert attrs["grove.cost.usd"] == pytest.approx(float(raw.headers["x-grove-cost-usd"]))
    assert dict(server.attributes or {})["grove.endpoint"] == ("completions" if operation == "text_completion"
                                                               else "embeddings")
