"""The Messages front door when things go wrong, through the official Anthropic SDK: client keys
(``x-api-key`` and Bearer), bad input (a 4xx in Anthropic's shape naming the field, nothing sent
upstream), models of the wrong mode, fallbacks before the first byte, a stream broken after it,
client-key limits, and the usage sums."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest
import redis

from gateway.fakes.background import BackgroundServer
from gateway.fakes.run import Fakes
from tests.conftest import REDIS_URL, GatewayFactory

ADMIN = "admin-key-for-messages-tests"
SECRETS = {name: f"sk-grove-test-{name}-0123456789" for name in ("team", "limited", "budget")}
HI: list[Any] = [{"role": "user", "content": "hi"}]


def _sha(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


EXTRA_YAML = f"""\
models:
  - id: embed-small
    provider: fake-openai
    mode: embedding
    dimensions: 1536
    context_window: 8192
    max_output_tokens: 1
    capabilities: {{reasoning: 1, creativity: 1, precision: 1, speed: 9, context: 1}}
    prices: {{input_per_mtok: 0.02, output_per_mtok: 0}}
routes:
  - {{name: claude-first, models: [claude-sonnet-4-5, gemini-2.5-flash]}}
keys:
  - {{name: team, sha256: {_sha(SECRETS["team"])}}}
  - {{name: limited, sha256: {_sha(SECRETS["limited"])}, limits: {{rpm: 2}}}}
  - {{name: budget, sha256: {_sha(SECRETS["budget"])}, limits: {{budget_usd_day: 0.000001}}}}
"""


@pytest.fixture
def config(demo_config: Path, fakes: Fakes) -> Path:
    (demo_config / "messages.yaml").write_text(EXTRA_YAML)
    # Short deadlines, so that slow upstreams fall back at once.
    text = (demo_config / "demo.yaml").read_text().replace(
        'base_url: "' + fakes.openai.url + '/v1"}', 'base_url: "' + fakes.openai.url + '/v1", timeout_s: 0.5}')
    (demo_config / "demo.yaml").write_text(text)
    return demo_config


@pytest.fixture
def keyed(start_gateway: GatewayFactory, config: Path) -> BackgroundServer:
    return start_gateway(config, admin_key=ADMIN, retries=0, ttft_s=0.25)


def sdk(gateway: BackgroundServer, name: str = "team", *, as_x_api_key: bool = False) -> anthropic.Anthropic:
    if as_x_api_key:
        return anthropic.Anthropic(base_url=gateway.url, api_key=None, auth_token=None, max_retries=0,
                                   default_headers={"x-api-key": SECRETS[name]})
    return anthropic.Anthropic(base_url=gateway.url, api_key=SECRETS[name], max_retries=0)


def _post(gateway: BackgroundServer, body: object, path: str = "/v1/messages") -> httpx.Response:
    content = body if isinstance(body, bytes) else httpx.Request("POST", "/", json=body).content
    return httpx.post(f"{gateway.url}{path}", content=content,
                      headers={"x-api-key": SECRETS["team"], "content-type": "application/json"})


def _upstream_requests(fakes: Fakes) -> int:
    return sum(len(fake.state.requests) for fake in fakes.all())


def test_the_client_key_as_x_api_key_or_bearer(keyed: BackgroundServer, fakes: Fakes) -> None:
    for client in (sdk(keyed, as_x_api_key=True), sdk(keyed)):
        assert client.messages.create(model="claude-sonnet-4-5", max_tokens=16, messages=HI).content
        assert client.messages.count_tokens(model="claude-sonnet-4-5", messages=HI).input_tokens > 0
    for wrong in (anthropic.Anthropic(base_url=keyed.url, api_key="sk-not-a-key", max_retries=0),
                  anthropic.Anthropic(base_url=keyed.url, api_key=None, auth_token=None, max_retries=0,
                                      default_headers={"x-api-key": "sk-not-a-key"})):
        with pytest.raises(anthropic.AuthenticationError) as caught:
            wrong.messages.create(model="claude-sonnet-4-5", max_tokens=16, messages=HI)
        assert caught.value.status_code == 401
        assert caught.value.type == "authentication_error"  # type: ignore[attr-defined]
        assert caught.value.body == {"type": "error", "error": {"type": "authentication_error",
                                                                 "message": "Incorrect API key provided."}}
        with pytest.raises(anthropic.AuthenticationError):
            wrong.messages.count_tokens(model="claude-sonnet-4-5", messages=HI)
    assert len(fakes.anthropic.state.requests) == 4  # two messages, two counts


def test_a_request_without_max_tokens_is_refused_naming_it(keyed: BackgroundServer, fakes: Fakes) -> None:
    client = sdk(keyed)
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.post("/v1/messages", body={"model": "claude-sonnet-4-5", "messages": HI}, cast_to=httpx.Response)
    assert caught.value.body == {"type": "error", "error": {"type": "invalid_request_error",
                                                             "message": "max_tokens: Field required"}}
    assert caught.value.response.headers["x-grove-request-id"]
    assert _upstream_requests(fakes) == 0


@pytest.mark.parametrize(("body", "field"), [
    (b"{not json", "JSON"),
    (b"", "empty"),
    ([1, 2], "JSON object"),
    ({"model": "claude-sonnet-4-5", "max_tokens": "10", "messages": HI}, "max_tokens"),
    ({"model": "claude-sonnet-4-5", "max_tokens": 0, "messages": HI}, "max_tokens"),
    ({"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": []}, "messages"),
    ({"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": [{"role": "system", "content": "x"}]},
     "messages.0.role"),
    ({"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": 5}]},
     "messages.0.content"),
    ({"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": [{"text": "x"}]}]},
     "messages.0.content.0.type"),
    ({"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": HI, "temperature": 3}, "temperature"),
    ({"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": HI, "stream": "yes"}, "stream"),
    ({"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": HI, "system": 7}, "system"),
    ({"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": HI, "tools": [{"description": "x"}]},
     "tools.0.name"),
    ({"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": HI, "tool_choice": {"type": "tool"}},
     "tool_choice.name"),
    ({"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": HI, "thinking": {"type": "enabled"}},
     "budget_tokens"),
    ({"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": HI, "metadata": {"user_id": 5}},
     "metadata.user_id"),
    ({"max_tokens": 10, "messages": HI}, "model"),
])
def test_bad_input_is_a_400_naming_the_field(keyed: BackgroundServer, fakes: Fakes, body: object, field: str) -> None:
    resp = _post(keyed, body)
    assert resp.status_code == 400, resp.text
    error = resp.json()
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert field in error["error"]["message"]
    assert _upstream_requests(fakes) == 0
    if isinstance(body, dict) and field not in ("max_tokens", "stream", "temperature", "metadata.user_id"):
        # The same checks on count_tokens, which has no max_tokens, stream, temperature or metadata.
        counted = _post(keyed, {k: v for k, v in body.items() if k != "max_tokens"}, "/v1/messages/count_tokens")
        assert counted.status_code == 400 and field in counted.json()["error"]["message"], counted.text
        assert counted.json()["type"] == "error" and _upstream_requests(fakes) == 0


def test_a_model_of_the_wrong_mode_is_refused(keyed: BackgroundServer, fakes: Fakes) -> None:
    client = sdk(keyed)
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(model="embed-small", max_tokens=16, messages=HI)
    assert "embed-small" in caught.value.message and "embedding model" in caught.value.message
    with pytest.raises(anthropic.BadRequestError):
        client.messages.count_tokens(model="embed-small", messages=HI)
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(model="no-such-model", max_tokens=16, messages=HI)
    assert _upstream_requests(fakes) == 0


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("route", "failing", "served_by"), [
    ("default", "openai", "claude-sonnet-4-5@1"),  # translated primary, pass-through fallback
    ("claude-first", "anthropic", "gemini-2.5-flash@1"),  # pass-through primary, translated fallback
])
def test_a_primary_failing_before_the_first_byte_falls_back(keyed: BackgroundServer, fakes: Fakes, stream: bool,
                                                           route: str, failing: str, served_by: str) -> None:
    getattr(fakes, failing).state.set(status=500)
    client = sdk(keyed)
    if stream:
        with client.messages.with_streaming_response.create(model=route, max_tokens=64, messages=HI,
                                                             stream=True) as raw:
            headers = raw.headers
            text = "".join(event.delta.text for event in raw.parse()  # type: ignore[union-attr]
                           if event.type == "content_block_delta")
    else:
        raw = client.messages.with_raw_response.create(model=route, max_tokens=64, messages=HI)
        headers, text = raw.headers, raw.parse().content[0].text  # type: ignore[union-attr]
    assert text.startswith(f"Hello from fake-{served_by.split('-')[0].replace('claude', 'anthropic')}")
    assert (headers["x-grove-attempts"], headers["x-grove-model"], headers["x-grove-route"]) == (
        "2", served_by, route)
    assert len(getattr(fakes, failing).state.requests) == 1


@pytest.mark.parametrize("knobs", [{"error_event_after_chunks": 3, "status": 529}, {"cut_after_chunks": 3}])
@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "gpt-4.1-mini"])
def test_a_stream_broken_after_its_first_byte_ends_with_an_error_event(keyed: BackgroundServer, fakes: Fakes,
                                                                       knobs: dict[str, int], model: str) -> None:
    fake = fakes.anthropic if model.startswith("claude") else fakes.openai
    if model.startswith("gpt"):
        knobs = {k: v for k, v in knobs.items() if k != "status"} | {"status": 500} if "error_event_after_chunks" \
            in knobs else knobs
    fake.state.set(**knobs)
    seen: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        with sdk(keyed).messages.stream(model=model, max_tokens=64, messages=HI) as stream:
            for event in stream:
                seen.append(event.type)
    assert seen[0] == "message_start" and "message_stop" not in seen
    body = caught.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["type"] in ("overloaded_error", "api_error") and body["error"]["message"]
    assert len(fake.state.requests) == 1  # committed: no fallback after the first byte


def test_key_limits_count_messages_requests(keyed: BackgroundServer, fakes: Fakes) -> None:
    limited = sdk(keyed, "limited")
    limited.messages.create(model="claude-sonnet-4-5", max_tokens=16, messages=HI)
    with limited.messages.stream(model="gpt-4.1-mini", max_tokens=16, messages=HI) as stream:
        assert stream.get_final_message().content
    with pytest.raises(anthropic.RateLimitError) as caught:
        limited.messages.create(model="claude-sonnet-4-5", max_tokens=16, messages=HI)
    error = caught.value
    assert error.status_code == 429 and error.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert 1 <= int(error.response.headers["retry-after"]) <= 60 and "Limit 2" in error.message
    assert _upstream_requests(fakes) == 2

    budget = sdk(keyed, "budget")
    raw = budget.messages.with_raw_response.create(model="gpt-4.1-mini", max_tokens=16, messages=HI)
    assert float(raw.headers["x-grove-cost-usd"]) > 0.000001
    with pytest.raises(anthropic.RateLimitError) as caught:
        budget.messages.create(model="gpt-4.1-mini", max_tokens=16, messages=HI)
    assert "budget" in caught.value.message.lower()
    assert _upstream_requests(fakes) == 3


def test_usage_sums_count_messages_requests(start_gateway: GatewayFactory, config: Path, fakes: Fakes,
                                            redis_client: redis.Redis) -> None:
    gateway = start_gateway(config, admin_key=ADMIN, redis_url=REDIS_URL)
    client = sdk(gateway)
    costs: dict[str, float] = {}
    for model in ("claude-sonnet-4-5", "gpt-4.1-mini", "gemini-2.5-flash"):
        raw = client.messages.with_raw_response.create(model=model, max_tokens=32, messages=HI)
        costs[model] = float(raw.headers["x-grove-cost-usd"])
        usage = raw.parse().usage
        assert costs[model] > 0 and usage.input_tokens > 0 and usage.output_tokens > 0
    with client.messages.stream(model="claude-sonnet-4-5", max_tokens=32, messages=HI) as stream:
        streamed = stream.get_final_message().usage
    auth = {"authorization": f"Bearer {ADMIN}"}
    deadline = time.monotonic() + 5
    while True:  # the stream's usage is recorded as it closes, after the client has read its end
        body = httpx.get(f"{gateway.url}/admin/usage", headers=auth).json()
        rows = {row["model"]: row for row in body["data"]}
        if rows.get("claude-sonnet-4-5@1", {}).get("requests") == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert {m: r["requests"] for m, r in rows.items()} == {
        "claude-sonnet-4-5@1": 2, "gpt-4.1-mini@1": 1, "gemini-2.5-flash@1": 1}
    assert all(row["key"] == "team" for row in rows.values())
    for model in ("gpt-4.1-mini", "gemini-2.5-flash"):
        assert rows[f"{model}@1"]["cost_usd"] == pytest.approx(costs[model], abs=1e-9)
    claude = rows["claude-sonnet-4-5@1"]
    assert claude["cost_usd"] > costs["claude-sonnet-4-5"]
    assert claude["output_tokens"] >= 2 * streamed.output_tokens - 1 and claude["input_tokens"] > 0


def test_count_tokens_passes_a_failed_anthropic_upstream_on_down_the_chain(keyed: BackgroundServer,
                                                                          fakes: Fakes) -> None:
    client = sdk(keyed)
    fakes.anthropic.state.set(status=529)
    raw = client.messages.with_raw_response.count_tokens(model="claude-first", messages=HI)
    assert raw.headers["x-grove-model"] == "gemini-2.5-flash@1" and raw.parse().input_tokens > 0
    with pytest.raises(anthropic.APIStatusError) as caught:  # alone on its chain, its failure is the answer
        client.messages.count_tokens(model="claude-sonnet-4-5", messages=HI)
    assert caught.value.status_code == 529
    assert caught.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    fakes.anthropic.state.set(status=400, error_message="messages.0: nope")
    with pytest.raises(anthropic.BadRequestError) as refused:  # the client's own mistake: no fallback
        client.messages.count_tokens(model="claude-first", messages=HI)
    assert "nope" in refused.value.message
    assert len(fakes.gemini.state.requests) == 0


@pytest.mark.parametrize("knobs", [{"malformed_chunk_at": 0}, {"ttft_ms": 3000}, {"cut_after_chunks": 0}])
def test_an_anthropic_stream_failing_before_its_first_event_falls_back(keyed: BackgroundServer, fakes: Fakes,
                                                                       knobs: dict[str, int]) -> None:
    fakes.anthropic.state.set(**knobs)
    with sdk(keyed).messages.with_streaming_response.create(model="claude-first", max_tokens=64, messages=HI,
                                                             stream=True) as raw:
        events = list(raw.parse())
        assert raw.headers["x-grove-model"] == "gemini-2.5-flash@1"
    assert events[0].type == "message_start" and events[-1].type == "message_stop"
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta")  # type: ignore[union-attr]
    assert text.startswith("Hello from fake-gemini")


def test_a_body_over_the_limit_is_anthropics_413(start_gateway: GatewayFactory, config: Path, fakes: Fakes) -> None:
    gateway = start_gateway(config, max_body_bytes=2000)
    big = {"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "x" * 5000}]}
    for path in ("/v1/messages", "/v1/messages/count_tokens"):
        resp = _post(gateway, big, path)
        assert resp.status_code == 413, resp.text
        assert resp.json()["error"]["type"] == "request_too_large"
    assert _post(gateway, b'{"model": "\xff\xfe"}').json()["error"]["type"] == "invalid_request_error"
    assert _upstream_requests(fakes) == 0


def test_a_wrong_method_on_the_messages_path_answers_in_anthropics_shape(keyed: BackgroundServer) -> None:
    resp = httpx.get(f"{keyed.url}/v1/messages")
    assert resp.status_code == 405 and resp.headers["allow"] == "POST"
    body = resp.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error" and body["error"]["message"]
