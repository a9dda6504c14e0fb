"""Client-key limits, allowed models and default routes over HTTP, through the official openai
client: the errors it raises, the headers, and that a refused request never reaches an upstream."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import redis

from gateway.fakes.background import BackgroundServer
from gateway.fakes.run import Fakes
from tests.conftest import REDIS_URL, GatewayFactory

ADMIN = "admin-key-for-limit-tests"
SECRETS = {name: f"sk-grove-test-{name}-0123456789" for name in
           ("limited", "tokens", "budget", "streamer", "restricted", "routed", "free")}
HI = [{"role": "user", "content": "hi"}]


def _sha(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


KEYS_YAML = f"""\
routes:
  - {{name: fast, models: [gemini-2.5-flash]}}
components:
  planner: default
keys:
  - {{name: limited, sha256: {_sha(SECRETS["limited"])}, limits: {{rpm: 3}}}}
  - {{name: tokens, sha256: {_sha(SECRETS["tokens"])}, limits: {{tpm: 2000}}}}
  - {{name: budget, sha256: {_sha(SECRETS["budget"])}, limits: {{budget_usd_day: 0.000001}}}}
  - {{name: streamer, sha256: {_sha(SECRETS["streamer"])}, limits: {{budget_usd_month: 0.000001, rpm: 100}}}}
  - {{name: restricted, sha256: {_sha(SECRETS["restricted"])}, allowed_models: [gpt-4.1-mini]}}
  - {{name: routed, sha256: {_sha(SECRETS["routed"])}, allowed_models: [fast], default_route: fast}}
  - {{name: free, sha256: {_sha(SECRETS["free"])}, default_route: fast}}
"""


@pytest.fixture
def keyed_config(demo_config: Path) -> Path:
    (demo_config / "keys.yaml").write_text(KEYS_YAML)
    return demo_config


@pytest.fixture
def keyed(start_gateway: GatewayFactory, keyed_config: Path) -> BackgroundServer:
    return start_gateway(keyed_config, admin_key=ADMIN)


def client(gateway: BackgroundServer, name: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=SECRETS[name], max_retries=0)


def decision(gateway: BackgroundServer, decision_id: str) -> dict[str, Any]:
    resp = httpx.get(f"{gateway.url}/admin/decisions/{decision_id}", headers={"authorization": f"Bearer {ADMIN}"})
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def test_rpm_refusal_is_a_rate_limit_error_and_never_reaches_the_upstream(keyed: BackgroundServer,
                                                                          fakes: Fakes) -> None:
    sdk = client(keyed, "limited")
    for _ in range(3):
        assert sdk.chat.completions.create(model="gpt-4.1-mini", messages=HI).choices[0].message.content  # type: ignore[arg-type]
    sent = len(fakes.openai.state.requests)
    with pytest.raises(openai.RateLimitError) as caught:
        sdk.chat.completions.create(model="gpt-4.1-mini", messages=HI)  # type: ignore[arg-type]
    assert len(fakes.openai.state.requests) == sent == 3
    error = caught.value
    assert error.status_code == 429 and error.code == "rate_limit_exceeded" and error.type == "requests"
    assert 55 <= int(error.response.headers["retry-after"]) <= 60
    assert "Limit 3" in error.message
    record = decision(keyed, error.response.headers["x-grove-decision-id"])
    assert (record["key"], record["limit"], record["status"], record["attempts"]) == ("limited", "rpm", 429, [])
    assert SECRETS["limited"] not in str(record)
    # Another key has its own limits.
    assert client(keyed, "restricted").chat.completions.create(model="gpt-4.1-mini", messages=HI).choices  # type: ignore[arg-type]


def test_tpm_reserves_max_tokens_and_the_real_usage_frees_the_rest(keyed: BackgroundServer, fakes: Fakes) -> None:
    sdk = client(keyed, "tokens")
    first = sdk.chat.completions.create(model="gpt-4.1-mini", messages=HI, max_tokens=1500)  # type: ignore[arg-type]
    assert first.usage is not None and first.usage.total_tokens < 200
    # Without the correction the 1,500 reserved by the first would leave no room for this one.
    sdk.chat.completions.create(model="gpt-4.1-mini", messages=HI, max_tokens=1500)  # type: ignore[arg-type]
    sent = len(fakes.openai.state.requests)
    with pytest.raises(openai.RateLimitError) as caught:
        sdk.chat.completions.create(model="gpt-4.1-mini", messages=HI, max_tokens=1990)  # type: ignore[arg-type]
    assert (caught.value.code, caught.value.type) == ("rate_limit_exceeded", "tokens")
    assert int(caught.value.response.headers["retry-after"]) >= 1
    assert len(fakes.openai.state.requests) == sent


def test_a_day_budget_refuses_with_insufficient_quota(keyed: BackgroundServer, fakes: Fakes) -> None:
    sdk = client(keyed, "budget")
    raw = sdk.chat.completions.with_raw_response.create(model="gpt-4.1-mini", messages=HI)  # type: ignore[arg-type]
    assert float(raw.headers["x-grove-cost-usd"]) > 0.000001
    sent = len(fakes.openai.state.requests)
    with pytest.raises(openai.RateLimitError) as caught:
        sdk.chat.completions.create(model="gpt-4.1-mini", messages=HI)  # type: ignore[arg-type]
    error = caught.value
    assert (error.status_code, error.code, error.type) == (429, "insufficient_quota", "insufficient_quota")
    assert 1 <= int(error.response.headers["retry-after"]) <= 86400
    assert len(fakes.openai.state.requests) == sent


def test_a_streams_cost_counts_at_its_close(start_gateway: GatewayFactory, keyed_config: Path, fakes: Fakes,
                                          redis_client: redis.Redis) -> None:
    gateway = start_gateway(keyed_config, redis_url=REDIS_URL)
    sdk = client(gateway, "streamer")
    chunks = list(sdk.chat.completions.create(model="gpt-4.1-mini", messages=HI, stream=True))  # type: ignore[arg-type]
    assert chunks
    # The cost is added by a task started as the stream closed: wait for it to reach Redis.
    deadline = time.monotonic() + 5
    while not redis_client.exists("grove:quota:streamer:spend") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert float(redis_client.hget("grove:quota:streamer:spend", "mv") or 0) > 0.000001
    assert redis_client.zcard("grove:quota:streamer:requests") == 1
    with pytest.raises(openai.RateLimitError) as caught:
        list(sdk.chat.completions.create(model="gpt-4.1-mini", messages=HI, stream=True))  # type: ignore[arg-type]
    assert caught.value.code == "insufficient_quota"
    assert redis_client.zcard("grove:quota:streamer:requests") == 1  # the refused one was not counted
    assert len(fakes.openai.state.requests) == 1


def test_allowed_models_are_enforced(keyed: BackgroundServer, fakes: Fakes) -> None:
    sdk = client(keyed, "restricted")
    with pytest.raises(openai.PermissionDeniedError) as caught:
        sdk.chat.completions.create(model="claude-sonnet-4-5", messages=HI)  # type: ignore[arg-type]
    assert caught.value.code == "permission_denied"
    with pytest.raises(openai.PermissionDeniedError):
        sdk.chat.completions.create(model="auto", messages=HI)  # type: ignore[arg-type]
    assert fakes.anthropic.state.requests == [] and fakes.openai.state.requests == []
    raw = sdk.chat.completions.with_raw_response.create(model="gpt-4.1-mini", messages=HI)  # type: ignore[arg-type]
    assert raw.headers["x-grove-model"] == "gpt-4.1-mini@1"


def test_default_route_serves_auto_unless_a_component_says_otherwise(keyed: BackgroundServer, fakes: Fakes) -> None:
    routed = client(keyed, "routed")
    raw = routed.chat.completions.with_raw_response.create(model="auto", messages=HI)  # type: ignore[arg-type]
    assert (raw.headers["x-grove-route"], raw.headers["x-grove-model"]) == ("fast", "gemini-2.5-flash@1")
    assert decision(keyed, raw.headers["x-grove-decision-id"])["rule"] == "key routed default_route"
    # The key may use only its default route: naming another is refused.
    with pytest.raises(openai.PermissionDeniedError):
        routed.chat.completions.create(model="default", messages=HI)  # type: ignore[arg-type]
    # A component header wins over the key's default route; the key's grant still applies.
    raw = routed.chat.completions.with_raw_response.create(
        model="auto", messages=HI, extra_headers={"x-grove-component": "planner"},  # type: ignore[arg-type]
    )
    assert (raw.headers["x-grove-route"], raw.headers["x-grove-model"]) == ("default", "gemini-2.5-flash@1")
    # A key that may use everything: its auto goes to its default route, other names as named.
    free = client(keyed, "free")
    raw = free.chat.completions.with_raw_response.create(model="auto", messages=HI)  # type: ignore[arg-type]
    assert raw.headers["x-grove-route"] == "fast"
    raw = free.chat.completions.with_raw_response.create(model="default", messages=HI)  # type: ignore[arg-type]
    assert (raw.headers["x-grove-route"], raw.headers["x-grove-model"]) == ("default", "gpt-4.1-mini@1")
    assert len(fakes.gemini.state.requests) == 3 and len(fakes.openai.state.requests) == 1


def test_a_failed_request_gives_its_token_reservation_back(keyed: BackgroundServer, fakes: Fakes) -> None:
    sdk = client(keyed, "tokens")
    fakes.openai.state.set(status=400)  # the upstream refuses the request itself: returned at once
    with pytest.raises(openai.BadRequestError):
        sdk.chat.completions.create(model="gpt-4.1-mini", messages=HI, max_tokens=1900)  # type: ignore[arg-type]
    fakes.openai.state.reset()
    # Had the failed one kept its 1,900 reserved, this one would not fit in 2,000.
    reply = sdk.chat.completions.create(model="gpt-4.1-mini", messages=HI, max_tokens=1900)  # type: ignore[arg-type]
    assert reply.choices[0].message.content


def test_a_stream_closed_before_its_usage_chunk_is_charged(start_gateway: GatewayFactory, keyed_config: Path,
                                                            fakes: Fakes, redis_client: redis.Redis) -> None:
    gateway = start_gateway(keyed_config, redis_url=REDIS_URL)
    fakes.openai.state.set(reply="Hello there", chunk_interval_ms=300)  # the usage chunk comes well after
    body = {"model": "gpt-4.1-mini", "messages": HI, "stream": True}
    headers = {"authorization": f"Bearer {SECRETS['streamer']}"}
    with httpx.Client(timeout=10) as http, http.stream("POST", f"{gateway.url}/v1/chat/completions", json=body,
                                                       headers=headers) as resp:
        assert resp.status_code == 200
        for line in resp.iter_lines():  # the whole answer, up to its finish_reason: then hang up
            if '"finish_reason":"stop"' in line.replace(" ", ""):
                break
        else:
            raise AssertionError("the stream had no finish_reason")
    deadline = time.monotonic() + 5  # charged by a task started as the stream closed
    while not redis_client.exists("grove:quota:streamer:spend") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert float(redis_client.hget("grove:quota:streamer:spend", "mv") or 0) > 0.000001
    with pytest.raises(openai.RateLimitError) as caught:
        client(gateway, "streamer").chat.completions.create(model="gpt-4.1-mini", messages=HI)  # type: ignore[arg-type]
    assert caught.value.code == "insufficient_quota"
    assert len(fakes.openai.state.requests) == 1
