"""Two gateway processes on one real Redis serve the same registry version."""

from __future__ import annotations

from pathlib import Path

import httpx
import openai
import redis

from gateway.registry import CURRENT_KEY
from tests.conftest import REDIS_URL, GatewayProcess, free_port


def test_two_processes_share_the_registry_version(demo_config: Path, redis_client: redis.Redis) -> None:
    env = {"GROVE_REDIS_URL": REDIS_URL}
    first = GatewayProcess(demo_config, free_port(), env)
    second = GatewayProcess(demo_config, free_port(), env)
    try:
        ready = [httpx.get(f"{p.url}/readyz").json() for p in (first, second)]
        assert ready[0]["store"] == ready[1]["store"] == "redis"
        assert ready[0]["registry_version"] == ready[1]["registry_version"]
        assert ready[0]["published_version"] == ready[1]["published_version"] == ready[0]["registry_version"]
        assert redis_client.get(CURRENT_KEY) == ready[0]["registry_version"].encode()
        for process in (first, second):
            client = openai.OpenAI(base_url=f"{process.url}/v1", api_key="x", max_retries=0)
            reply = client.chat.completions.create(model="claude-sonnet-4-5",
                                                   messages=[{"role": "user", "content": "hi"}])
            assert reply.choices[0].message.content
    finally:
        logs = first.stop() + second.stop()
    assert "Traceback" not in logs
