"""Fault tests on the fakes: the openai client still gets an answer from the fallback, and
the headers and the decision record show the attempts and why."""

from __future__ import annotations

from pathlib import Path

import httpx
import openai
import pytest

from gateway.fakes.background import BackgroundServer
from gateway.fakes.run import Fakes
from tests.conftest import GatewayFactory

HI = [{"role": "user", "content": "hi"}]
ADMIN = "admin-secret-for-tests"


@pytest.fixture
def chain_gateway(start_gateway: GatewayFactory, demo_config: Path, fakes: Fakes) -> BackgroundServer:
    # A short upstream timeout and time-to-first-token deadline so the slow cases fall back quickly;
    # the first-token deadline shorter, so that a stream silent after its headers is told apart
    # (ttft_timeout) from an upstream silent for its whole timeout, not left to a race of timers.
    text = (demo_config / "demo.yaml").read_text().replace(
        'base_url: "' + fakes.openai.url + '/v1"}', 'base_url: "' + fakes.openai.url + '/v1", timeout_s: 0.5}'
    )
    (demo_config / "demo.yaml").write_text(text)
    return start_gateway(demo_config, admin_key=ADMIN, ttft_s=0.25, retries=0)


def _decision(gateway: BackgroundServer, decision_id: str) -> dict:
    resp = httpx.get(f"{gateway.url}/admin/decisions/{decision_id}", headers={"authorization": f"Bearer {ADMIN}"})
    assert resp.status_code == 200, resp.text
    return resp.json()


def _client(gateway: BackgroundServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="x", max_retries=0)


@pytest.mark.parametrize(
    ("knobs", "reason"),
    [
        ({"status": 500}, "bad_upstream_response"),
        ({"status": 429, "retry_after": 30}, "rate_limit_exceeded"),
        ({"latency_ms": 3000}, "upstream_timeout"),
        ({"api_key": "expects-a-key-we-do-not-have"}, "upstream_auth_failed"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_primary_failure_falls_back(chain_gateway: BackgroundServer, fakes: Fakes, knobs: dict, reason: str,
                                   stream: bool) -> None:
    fakes.openai.state.set(**knobs)
    raw = _client(chain_gateway).chat.completions.with_raw_response.create(
        model="default", messages=HI, stream=stream)  # type: ignore[call-overload]
    reply = raw.parse()
    text = "".join(c.choices[0].delta.content or "" for c in reply if c.choices) if stream else \
        reply.choices[0].message.content
    assert "fake-anthropic" in text
    assert raw.headers["x-grove-attempts"] == "2"
    assert raw.headers["x-grove-model"] == "claude-sonnet-4-5@1"
    assert raw.headers["x-grove-route"] == "default"
    record = _decision(chain_gateway, raw.headers["x-grove-decision-id"])
    attempts = record["attempts"]
    assert [a["deployment"] for a in attempts] == ["gpt-4.1-mini@1", "claude-sonnet-4-5@1"]
    assert [a["outcome"] for a in attempts] == [reason, "ok"]
    assert record["route"] == "default" and record["served_by"] == "claude-sonnet-4-5@1"


@pytest.mark.parametrize("knobs", [{"cut_after_chunks": 0}, {"ttft_ms": 3000}, {"malformed_chunk_at": 0}])
def test_stream_failing_before_its_first_chunk_falls_back(chain_gateway: BackgroundServer, fakes: Fakes,
                                                          knobs: dict) -> None:
    fakes.openai.state.set(**knobs)
    raw = _client(chain_gateway).chat.completions.with_raw_response.create(model="default", messages=HI, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert "fake-anthropic" in text
    record = _decision(chain_gateway, raw.headers["x-grove-decision-id"])
    assert record["attempts"][0]["outcome"] != "ok" and record["attempts"][1]["outcome"] == "ok"
    if "ttft_ms" in knobs:
        assert record["attempts"][0]["outcome"] == "ttft_timeout"


def test_the_clients_own_400_is_not_retried(chain_gateway: BackgroundServer, fakes: Fakes) -> None:
    fakes.openai.state.set(status=400, error_message="bad parameter 'foo'")
    with pytest.raises(openai.BadRequestError) as info:
        _client(chain_gateway).chat.completions.create(model="default", messages=HI)  # type: ignore[arg-type]
    assert info.value.response.headers["x-grove-attempts"] == "1"
    assert len(fakes.anthropic.state.requests) == 0


def test_context_too_long_skips_to_a_larger_window(chain_gateway: BackgroundServer, fakes: Fakes) -> None:
    fakes.openai.state.set(context_window=5)
    long_prompt = [{"role": "user", "content": "a fairly long prompt " * 20}]
    raw = _client(chain_gateway).chat.completions.with_raw_response.create(model="default", messages=long_prompt)
    record = _decision(chain_gateway, raw.headers["x-grove-decision-id"])
    assert record["attempts"][0]["outcome"] == "context_length_exceeded"
    # claude's window (200k) is smaller than gpt-4.1-mini's (1M): skipped, not sent; gemini (1M+) serves.
    assert [a["outcome"] for a in record["attempts"][1:]] == ["context_too_small", "ok"]
    assert raw.headers["x-grove-model"] == "gemini-2.5-flash@1"
    assert len(fakes.anthropic.state.requests) == 0


def test_every_model_down_gives_one_clear_503(chain_gateway: BackgroundServer, fakes: Fakes) -> None:
    for fake in (fakes.openai, fakes.anthropic, fakes.gemini):
        fake.state.set(status=503)
    with pytest.raises(openai.InternalServerError) as info:
        _client(chain_gateway).chat.completions.create(model="default", messages=HI)  # type: ignore[arg-type]
    assert info.value.status_code == 503
    message = str(info.value)
    assert "All 3 attempts failed" in message
    for key in ("gpt-4.1-mini@1", "claude-sonnet-4-5@1", "gemini-2.5-flash@1"):
        assert key in message
    assert info.value.response.headers["x-grove-attempts"] == "3"


def test_retry_after_opens_the_breaker_and_later_requests_skip_it(chain_gateway: BackgroundServer,
                                                                   fakes: Fakes) -> None:
    fakes.openai.state.set(status=429, retry_after=60)
    client = _client(chain_gateway)
    client.chat.completions.create(model="default", messages=HI)  # type: ignore[arg-type]
    sent_before = len(fakes.openai.state.requests)
    raw = client.chat.completions.with_raw_response.create(model="default", messages=HI)  # type: ignore[arg-type]
    assert len(fakes.openai.state.requests) == sent_before, "an open breaker must not be sent to"
    record = _decision(chain_gateway, raw.headers["x-grove-decision-id"])
    skipped = [a for a in record["attempts"] if a["deployment"] == "gpt-4.1-mini@1"] + [
        e for e in record.get("exclusions", []) if e.get("key") == "gpt-4.1-mini@1"]
    assert skipped
    breakers = httpx.get(f"{chain_gateway.url}/admin/breakers", headers={"authorization": f"Bearer {ADMIN}"}).json()
    state = {b["deployment"]: b["state"] for b in breakers["data"]}
    assert state["gpt-4.1-mini@1"] == "open" and state["claude-sonnet-4-5@1"] == "closed"


def test_decisions_are_listed_newest_first(chain_gateway: BackgroundServer) -> None:
    client = _client(chain_gateway)
    ids = [client.chat.completions.with_raw_response.create(model=m, messages=HI).headers["x-grove-decision-id"]
           for m in ("gpt-4.1-mini", "default")]
    listed = httpx.get(f"{chain_gateway.url}/admin/decisions?limit=5",
                       headers={"authorization": f"Bearer {ADMIN}"}).json()["data"]
    assert [d["id"] for d in listed[:2]] == ids[::-1]
    assert listed[0]["config_version"] and listed[0]["attempts"][0]["outcome"] == "ok"


def test_the_request_deadline_cuts_an_attempt_shorter_than_its_upstream_timeout(
        start_gateway: GatewayFactory, demo_config: Path, fakes: Fakes) -> None:
    # The upstream answers after 3 s, well inside its own 60 s timeout; the request's deadline of
    # 0.4 s must cut the attempt (without the cut, the client would get that answer after 3 s).
    gateway = start_gateway(demo_config, admin_key=ADMIN, request_deadline_s=0.4, retries=0)
    fakes.openai.state.set(latency_ms=3000)
    with pytest.raises(openai.APIStatusError) as caught:
        _client(gateway).chat.completions.create(model="gpt-4.1-mini", messages=HI)
    assert caught.value.status_code == 504
    assert caught.value.body["code"] == "upstream_timeout"  # type: ignore[index]
