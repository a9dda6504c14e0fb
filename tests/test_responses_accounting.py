"""Responses requests count as chat requests do: client-key limits (rpm, budget), the usage sums of
``/admin/usage``, ``x-grove-cost-usd``, spans (``gen_ai.operation.name`` chat, ``grove.endpoint``
responses); and a stored response belongs to the key that created it."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import httpx
import openai
import pytest
import redis

from gateway.fakes.background import BackgroundServer
from gateway.fakes.run import Fakes
from tests.conftest import REDIS_URL, GatewayFactory
from tests.responses_support import ANTHROPIC, CHAT_ONLY, NATIVE, client, write_config
from tests.test_telemetry import TracedFactory, by_name, start_traced  # noqa: F401 (a fixture)

ADMIN = "admin-key-for-responses-tests"
SECRETS = {name: f"sk-grove-test-{name}-responses-0123" for name in ("limited", "budget", "alpha", "beta")}
PRICES = {NATIVE: (0.40, 1.60), CHAT_ONLY: (0.10, 0.20), ANTHROPIC: (3.00, 15.00)}


def _sha(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


KEYS = "keys:\n" + "".join(f"  - {{name: {name}, sha256: {_sha(secret)}{limits}}}\n" for name, secret, limits in (
    ("limited", SECRETS["limited"], ", limits: {rpm: 3}"),
    ("budget", SECRETS["budget"], ", limits: {budget_usd_day: 0.000001}"),
    ("alpha", SECRETS["alpha"], ""), ("beta", SECRETS["beta"], "")))


@pytest.fixture
def keyed(start_gateway: GatewayFactory, tmp_path: Path, fakes: Fakes) -> BackgroundServer:
    return start_gateway(write_config(tmp_path, fakes, keys=KEYS), admin_key=ADMIN, redis_url=REDIS_URL)


def _sdk(gateway: BackgroundServer, name: str) -> openai.OpenAI:
    return client(gateway, SECRETS[name])


def test_rpm_counts_responses_requests(keyed: BackgroundServer, fakes: Fakes, redis_client: redis.Redis) -> None:
    sdk = _sdk(keyed, "limited")
    sdk.responses.create(model=NATIVE, input="hi")
    list(sdk.responses.create(model=NATIVE, input="hi", stream=True))
    sdk.chat.completions.create(model=NATIVE, messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.RateLimitError) as caught:
        sdk.responses.create(model=NATIVE, input="hi")
    assert caught.value.code == "rate_limit_exceeded"
    assert len(fakes.openai.state.requests) == 3


def test_a_budget_counts_responses_cost(keyed: BackgroundServer, fakes: Fakes, redis_client: redis.Redis) -> None:
    sdk = _sdk(keyed, "budget")
    raw = sdk.responses.with_raw_response.create(model=NATIVE, input="hi")
    assert float(raw.headers["x-grove-cost-usd"]) > 0.000001
    with pytest.raises(openai.RateLimitError) as caught:
        sdk.responses.create(model=NATIVE, input="hi")
    assert caught.value.code == "insufficient_quota"
    assert len(fakes.openai.state.requests) == 1


@pytest.mark.parametrize("model", [NATIVE, CHAT_ONLY, ANTHROPIC])
def test_cost_header_and_usage_sums(keyed: BackgroundServer, model: str, redis_client: redis.Redis) -> None:
    sdk = _sdk(keyed, "alpha")
    raw = sdk.responses.with_raw_response.create(model=model, input="How much is this?")
    reply = raw.parse()
    assert reply.usage is not None
    price_in, price_out = PRICES[model]
    cost = (reply.usage.input_tokens * price_in + reply.usage.output_tokens * price_out) / 1e6
    assert float(raw.headers["x-grove-cost-usd"]) == pytest.approx(cost, rel=1e-6)
    list(sdk.responses.create(model=model, input="How much is this?", stream=True))
    auth = {"authorization": f"Bearer {ADMIN}"}
    deadline = time.monotonic() + 5  # the stream's sums are added as it closes
    while True:
        body = httpx.get(f"{keyed.url}/admin/usage", headers=auth).json()
        rows = [r for r in body["data"] if r["key"] == "alpha" and r["route"] == model]
        if rows and rows[0]["requests"] == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    row, = rows
    assert row["requests"] == 2 and row["model"] == f"{model}@1"
    assert row["cost_usd"] == pytest.approx(2 * cost, rel=1e-6)
    assert row["input_tokens"] == 2 * reply.usage.input_tokens and row["output_tokens"] == 2 * reply.usage.output_tokens


def test_a_stored_response_belongs_to_its_key(keyed: BackgroundServer, fakes: Fakes) -> None:
    alpha, beta = _sdk(keyed, "alpha"), _sdk(keyed, "beta")
    created = alpha.responses.create(model=NATIVE, input="a secret")
    assert alpha.responses.retrieve(created.id).id == created.id
    with pytest.raises(openai.NotFoundError):
        beta.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        beta.responses.input_items.list(created.id)
    with pytest.raises(openai.NotFoundError):
        beta.responses.delete(created.id)
    sent = len(fakes.openai.state.requests)
    with pytest.raises(openai.NotFoundError) as caught:
        beta.responses.create(model=NATIVE, input="what was it?", previous_response_id=created.id)
    assert caught.value.body["param"] == "previous_response_id"  # type: ignore[index]
    assert len(fakes.openai.state.requests) == sent
    with pytest.raises(openai.AuthenticationError):
        client(keyed, "no-such-key").responses.retrieve(created.id)
    assert alpha.responses.create(model=NATIVE, input="and?", previous_response_id=created.id).output_text


@pytest.mark.parametrize("stream", [False, True])
def test_spans_say_chat_operation_and_responses_endpoint(start_traced: TracedFactory, tmp_path: Path,  # noqa: F811
                                                         fakes: Fakes, stream: bool) -> None:
    gw = start_traced(write_config(tmp_path, fakes))
    with httpx.stream("POST", f"{gw.url}/v1/responses",
                      json={"model": ANTHROPIC, "input": "hi", "stream": stream}) as resp:
        resp.read()
        trace_id = resp.headers["x-grove-trace-id"]
    named = by_name(gw.spans.trace(trace_id))
    assert sorted(named) == ["POST /v1/responses", f"chat {ANTHROPIC}"]
    server, attempt = named["POST /v1/responses"][0], named[f"chat {ANTHROPIC}"][0]
    assert server.attributes["grove.endpoint"] == "responses"
    assert attempt.attributes["gen_ai.operation.name"] == "chat"
    assert attempt.attributes["gen_ai.usage.output_tokens"] > 0
    assert attempt.attributes["gen_ai.request.model"] == ANTHROPIC
