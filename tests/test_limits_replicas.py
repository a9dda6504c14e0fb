"""A key's rpm limit holds across two gateway processes on one real Redis: together, not each."""

from __future__ import annotations

import hashlib
from pathlib import Path

import openai

from gateway.fakes.run import Fakes
from tests.conftest import GatewayProcess, RedisServer, free_port

SECRET = "sk-grove-replica-test-0123456789"
RPM = 10
HI = [{"role": "user", "content": "hi"}]


def test_rpm_is_shared_by_every_replica(demo_config: Path, fakes: Fakes, private_redis: RedisServer) -> None:
    sha = hashlib.sha256(SECRET.encode()).hexdigest()
    (demo_config / "keys.yaml").write_text(f"keys:\n  - {{name: shared, sha256: {sha}, limits: {{rpm: {RPM}}}}}\n")
    env = {"GROVE_REDIS_URL": private_redis.url}
    a = GatewayProcess(demo_config, free_port(), env)
    b = GatewayProcess(demo_config, free_port(), env)
    try:
        clients = [openai.OpenAI(base_url=f"{p.url}/v1", api_key=SECRET, max_retries=0) for p in (a, b)]
        served: list[int] = []
        refused: list[int] = []
        for i in range(2 * RPM + 4):  # alternate between the two replicas
            try:
                clients[i % 2].chat.completions.create(model="gpt-4.1-mini", messages=HI)  # type: ignore[arg-type]
                served.append(i % 2)
            except openai.RateLimitError as exc:
                assert exc.code == "rate_limit_exceeded" and exc.type == "requests"
                assert 1 <= int(exc.response.headers["retry-after"]) <= 60
                refused.append(i % 2)
        assert len(served) == RPM and len(refused) == RPM + 4
        assert served.count(0) == served.count(1) == RPM // 2  # each replica served some: one shared count
        assert len(fakes.openai.state.requests) == RPM  # the refused never reached the upstream
    finally:
        logs = a.stop() + b.stop()
    assert "Traceback" not in logs and SECRET not in logs
