"""A key's limits hold under a burst far larger than the store's connection pool: the requests
that cannot be counted wait or are refused, never served unlimited (one replica, and two)."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import httpx
import pytest

from gateway.fakes.run import Fakes
from tests.conftest import GatewayProcess, RedisServer, free_port

SECRET = "sk-grove-burst-test-0123456789"
RPM = 5
BURST = 400
BODY = {"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "hi"}]}


async def _burst(urls: list[str]) -> list[int]:
    limits = httpx.Limits(max_connections=BURST, max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=60) as http:
        async def one(i: int) -> int:
            resp = await http.post(f"{urls[i % len(urls)]}/v1/chat/completions", json=BODY,
                                   headers={"authorization": f"Bearer {SECRET}"})
            if resp.status_code != 200:  # a refusal says why, in OpenAI's shape, with a retry hint
                assert resp.status_code in (429, 503), resp.text
                assert int(resp.headers["retry-after"]) >= 1 and resp.json()["error"]["message"]
            return resp.status_code

        return list(await asyncio.gather(*(one(i) for i in range(BURST))))


@pytest.mark.parametrize("replicas", [1, 2])
def test_a_burst_never_gets_past_the_rpm_limit(demo_config: Path, fakes: Fakes, private_redis: RedisServer,
                                               replicas: int) -> None:
    sha = hashlib.sha256(SECRET.encode()).hexdigest()
    (demo_config / "keys.yaml").write_text(f"keys:\n  - {{name: burst, sha256: {sha}, limits: {{rpm: {RPM}}}}}\n")
    env = {"GROVE_REDIS_URL": private_redis.url}
    gateways = [GatewayProcess(demo_config, free_port(), env) for _ in range(replicas)]
    try:
        statuses = asyncio.run(_burst([g.url for g in gateways]))
    finally:
        logs = "".join(g.stop() for g in gateways)
    assert statuses.count(200) == RPM, sorted(set(statuses))
    assert len(fakes.openai.state.requests) == RPM  # nothing refused reached the upstream
    assert "serving without limits" not in logs and "Traceback" not in logs
