"""Circuit breakers across two gateway processes on one real Redis."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from gateway.fakes.run import Fakes
from tests.conftest import GatewayProcess, RedisServer, free_port

ADMIN = "admin-key-for-breaker-tests"
COOLDOWN_S = 1.0
HI = {"model": "default", "messages": [{"role": "user", "content": "hi"}]}


def _chat(process: GatewayProcess) -> httpx.Response:
    resp = httpx.post(f"{process.url}/v1/chat/completions", json=HI, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp


def _attempts(process: GatewayProcess, resp: httpx.Response) -> list[dict]:
    record = httpx.get(f"{process.url}/admin/decisions/{resp.headers['x-grove-decision-id']}",
                       headers={"authorization": f"Bearer {ADMIN}"}).json()
    return record["attempts"]


def _state(process: GatewayProcess, key: str) -> str:
    data = httpx.get(f"{process.url}/admin/breakers", headers={"authorization": f"Bearer {ADMIN}"}).json()["data"]
    return {b["deployment"]: b["state"] for b in data}[key]


def test_breaker_is_shared_and_survives_losing_redis(demo_config: Path, fakes: Fakes,
                                                     private_redis: RedisServer) -> None:
    env = {"GROVE_REDIS_URL": private_redis.url, "GROVE_ADMIN_KEY": ADMIN, "GROVE_BREAKER_FAILURES": "2",
           "GROVE_BREAKER_COOLDOWN_S": str(COOLDOWN_S)}
    a = GatewayProcess(demo_config, free_port(), env)
    b = GatewayProcess(demo_config, free_port(), env)
    try:
        primary = "gpt-4.1-mini@1"
        # Failures through A open the primary's breaker ...
        fakes.openai.state.set(status=500)
        for _ in range(2):
            assert _chat(a).headers["x-grove-model"] == "claude-sonnet-4-5@1"
        assert _state(a, primary) == "open" and _state(b, primary) == "open"
        # ... and B's very next request does not send to it.
        sent = len(fakes.openai.state.requests)
        via_b = _chat(b)
        assert len(fakes.openai.state.requests) == sent
        assert _attempts(b, via_b)[0] == {**_attempts(b, via_b)[0], "deployment": primary, "outcome": "breaker_open"}

        # After the cooldown (a timed wait: the cooldown is the thing under test), one probe
        # through B finds the primary healthy and closes the breaker for both.
        fakes.openai.state.reset()
        time.sleep(COOLDOWN_S + 0.2)
        probe = _chat(b)
        assert probe.headers["x-grove-model"] == primary
        assert _state(a, primary) == "closed" and _state(b, primary) == "closed"
        assert _chat(a).headers["x-grove-attempts"] == "1"

        # Redis goes away mid-test: both keep serving on local breaker state.
        private_redis.stop()
        for process in (a, b):
            for _ in range(3):
                assert _chat(process).headers["x-grove-model"] == primary
        fakes.openai.state.set(status=500)
        for process in (a, b):
            for _ in range(3):  # failures open the local breaker; fallback still answers
                assert _chat(process).headers["x-grove-model"] == "claude-sonnet-4-5@1"
            assert _state(process, primary) == "open"
    finally:
        logs = a.stop() + b.stop()
    assert "Traceback" not in logs
