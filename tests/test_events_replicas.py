"""Live events and breaker admin actions across two ``grove-gateway serve`` processes on one
real Redis, and a stream held open while the process is told to stop."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import httpx
import redis

from gateway.fakes.run import Fakes
from tests.conftest import REDIS_URL, GatewayProcess, free_port
from tests.sse import SSE

ADMIN = "admin-key-for-event-replica-tests"
AUTH = {"authorization": f"Bearer {ADMIN}"}
PRIMARY, FALLBACK = "gpt-4.1-mini@1", "claude-sonnet-4-5@1"
HI = {"model": "default", "messages": [{"role": "user", "content": "hi"}]}
READ = httpx.Timeout(10.0)


def chat(process: GatewayProcess) -> str:
    resp = httpx.post(f"{process.url}/v1/chat/completions", json=HI, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.headers["x-grove-model"]


def state(process: GatewayProcess) -> str:
    data = httpx.get(f"{process.url}/admin/breakers", headers=AUTH).json()["data"]
    return str({b["deployment"]: b["state"] for b in data}[PRIMARY])


def action(process: GatewayProcess, name: str, **body: Any) -> dict[str, Any]:
    resp = httpx.post(f"{process.url}/admin/breakers/{PRIMARY}/{name}", headers=AUTH, json=body or None)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def converges(check: Any, timeout_s: float = 5.0) -> bool:
    """Poll another process until ``check()`` holds (its breaker memory lasts about a second)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return bool(check())


def test_events_and_breaker_actions_reach_every_replica(demo_config: Path, fakes: Fakes,
                                                        redis_client: redis.Redis) -> None:
    env = {"GROVE_REDIS_URL": REDIS_URL, "GROVE_ADMIN_KEY": ADMIN, "GROVE_BREAKER_FAILURES": "2",
           "GROVE_BREAKER_COOLDOWN_S": "60", "GROVE_RETRIES": "0"}
    a = GatewayProcess(demo_config, free_port(), env)
    b = GatewayProcess(demo_config, free_port(), env)
    try:
        with httpx.stream("GET", f"{a.url}/admin/events", headers=AUTH, timeout=READ) as on_a, \
                httpx.stream("GET", f"{b.url}/admin/events", headers=AUTH, timeout=READ) as on_b:
            replica_a, replica_b = on_a.headers["x-grove-replica"], on_b.headers["x-grove-replica"]
            assert replica_a != replica_b
            events_b = SSE(on_b)

            # Upstream faults through A open the breaker: B's stream hears it from A.
            fakes.openai.state.set(status=500)
            assert [chat(a), chat(a)] == [FALLBACK, FALLBACK]
            opened = events_b.until("breaker.opened").json()
            assert opened["replica"] == replica_a and opened["data"]["deployment"] == PRIMARY
            assert state(a) == state(b) == "open"

            # Reset through B: closed for both (A within its one-second memory of it).
            fakes.openai.state.reset()
            action(b, "reset")
            closed = events_b.until("breaker.closed").json()
            assert closed["replica"] == replica_b and closed["data"]["by"] == "admin"
            assert chat(b) == PRIMARY
            assert converges(lambda: chat(a) == PRIMARY)

            # Force-open through A: both skip the primary from their next request.
            action(a, "open", seconds=120)
            forced = events_b.until("breaker.opened").json()
            assert forced["replica"] == replica_a and forced["data"]["by"] == "admin"
            sent = len(fakes.openai.state.requests)
            assert chat(b) == FALLBACK and chat(a) == FALLBACK
            assert len(fakes.openai.state.requests) == sent
            action(a, "reset")
            last = events_b.until("breaker.closed")

        # A's stream saw the same events, in the same order: replay them from B after the first.
        with httpx.stream("GET", f"{b.url}/admin/events", headers={**AUTH, "last-event-id": str(opened["id"])},
                          timeout=READ) as again:
            replayed = SSE(again)
            ids = []
            while not ids or ids[-1] != last.id:
                event = replayed.next()
                assert event is not None
                ids.append(event.id)
        assert ids[0] == closed["id"] and len(ids) == 3  # closed, opened (forced), closed
    finally:
        logs = a.stop() + b.stop()
    assert "Traceback" not in logs and ADMIN not in logs


def test_stopping_the_process_ends_open_streams(demo_config: Path) -> None:
    process = GatewayProcess(demo_config, free_port(), {"GROVE_ADMIN_KEY": ADMIN})
    try:
        with httpx.stream("GET", f"{process.url}/admin/events", headers=AUTH, timeout=READ) as response:
            assert response.status_code == 200
            events = SSE(response)
            process.proc.terminate()  # SIGTERM, as an orchestrator sends it
            assert events.next() is None  # the server ended the stream: a clean end, not a reset
        # Without the hook uvicorn would wait for this stream for ever; it exits promptly instead,
        # after a full graceful shutdown (then it re-raises the SIGTERM it caught: status -15).
        assert process.proc.wait(timeout=10) in (0, -signal.SIGTERM)
    finally:
        logs = process.stop()
    assert "Application shutdown complete" in logs and "Traceback" not in logs
