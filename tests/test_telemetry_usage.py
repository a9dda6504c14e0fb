"""Usage sums per day, model, route and key: in the store (memory and a real Redis), across
replicas, through an outage, and through ``GET /admin/usage``."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from pathlib import Path

import httpx
import pytest
import redis

from gateway.providers.base import Usage
from gateway.store.memory import MemoryStore
from gateway.store.redis import RedisStore
from gateway.telemetry.usage import KEY, UsageLog, utc_day
from tests.conftest import REDIS_URL, GatewayFactory, free_port

DAY1 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
HI = [{"role": "user", "content": "hi"}]
ADMIN = "usage-admin-key"


def _run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_sums_per_day_model_route_and_key() -> None:
    async def go() -> None:
        usage = UsageLog(MemoryStore())
        usage.record("a@1", "default", "team", Usage(10, 5, 2), 0.25, now=DAY1 + 10)
        usage.record("a@1", "default", "team", Usage(1, 1, 0), 0.5, now=DAY1 + 20)
        usage.record("a@1", "default", "", None, None, now=DAY1 + 30)  # open gateway, usage unknown
        usage.record("b@1", "auto", "team", Usage(3, 4, 0), 0.125, now=DAY1 + 86400 - 0.001)
        usage.record("a@1", "default", "team", Usage(100, 100, 0), 1.0, now=DAY1 + 86400)  # the next day
        await usage.flush()
        rows, complete = await usage.day("2026-01-01")
        assert complete
        assert rows == [
            {"model": "a@1", "route": "default", "key": None, "requests": 1, "input_tokens": 0,
             "output_tokens": 0, "cached_input_tokens": 0, "cost_usd": 0.0},
            {"model": "a@1", "route": "default", "key": "team", "requests": 2, "input_tokens": 11,
             "output_tokens": 6, "cached_input_tokens": 2, "cost_usd": 0.75},
            {"model": "b@1", "route": "auto", "key": "team", "requests": 1, "input_tokens": 3,
             "output_tokens": 4, "cached_input_tokens": 0, "cost_usd": 0.125},
        ]
        (next_day,), _ = await usage.day("2026-01-02")
        assert next_day["requests"] == 1 and next_day["cost_usd"] == 1.0
        assert await usage.day("2025-12-31") == ([], True)

    _run(go())


def test_utc_day() -> None:
    assert utc_day(DAY1) == "2026-01-01" and utc_day(DAY1 - 1) == "2025-12-31"


def test_replicas_sum_into_the_same_redis_counters(redis_client: redis.Redis) -> None:
    async def go() -> None:
        first, second = RedisStore(REDIS_URL), RedisStore(REDIS_URL)
        a, b = UsageLog(first, retention_days=2), UsageLog(second, retention_days=2)
        for _ in range(50):
            a.record("m@1", "r", "k", Usage(1, 2, 0), 0.1, now=DAY1)
            b.record("m@1", "r", "k", Usage(3, 4, 1), 0.2, now=DAY1)
        await asyncio.gather(a.flush(), b.flush())
        (row,), complete = await a.day("2026-01-01")
        assert complete and row["requests"] == 100 and row["input_tokens"] == 200 and row["output_tokens"] == 300
        assert row["cached_input_tokens"] == 50 and row["cost_usd"] == pytest.approx(15.0)
        await first.close()
        await second.close()

    _run(go())
    ttl_ms = redis_client.pttl(KEY.format(day="2026-01-01"))
    assert 0 < ttl_ms <= 2 * 86400 * 1000  # the day expires after the retention


def test_sums_survive_a_store_outage(caplog: pytest.LogCaptureFixture) -> None:
    async def go() -> None:
        down = RedisStore(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
        usage = UsageLog(down)
        usage.record("m@1", "r", "k", Usage(5, 5, 0), 0.5, now=DAY1)
        with caplog.at_level(logging.WARNING, logger="grove.usage"):
            await usage.flush()
        assert "store unreachable" in caplog.text
        usage.record("m@1", "r", "k", Usage(1, 1, 0), 0.25, now=DAY1)
        rows, complete = await usage.day("2026-01-01")  # what this replica holds, marked incomplete
        assert not complete and rows[0]["requests"] == 2 and rows[0]["cost_usd"] == 0.75
        await down.close()
        usage.store = MemoryStore()  # the store is back
        await usage.flush()
        (row,), complete = await usage.day("2026-01-01")
        assert complete and row["requests"] == 2 and row["input_tokens"] == 6

    _run(go())


def test_pending_groups_are_bounded(caplog: pytest.LogCaptureFixture) -> None:
    usage = UsageLog(MemoryStore(), max_groups=3)
    with caplog.at_level(logging.WARNING, logger="grove.usage"):
        for i in range(5):
            usage.record(f"m{i}@1", "r", "k", None, None, now=DAY1)
    assert len(usage._pending) == 3 and "dropped" in caplog.text


def _keys(config: Path) -> dict[str, str]:
    keys = {"alpha": "sk-alpha-client-key", "beta": "sk-beta-client-key"}
    (config / "keys.yaml").write_text("keys:\n" + "".join(
        f"  - {{name: {name}, sha256: {hashlib.sha256(key.encode()).hexdigest()}}}\n" for name, key in keys.items()))
    return keys


def test_admin_usage_sums_what_the_headers_said(start_gateway: GatewayFactory, demo_config: Path,
                                                redis_client: redis.Redis) -> None:
    keys = _keys(demo_config)
    # Two replicas on one Redis: the summary is every replica's.
    replicas = [start_gateway(demo_config, admin_key=ADMIN, redis_url=REDIS_URL) for _ in range(2)]
    costs: dict[tuple[str, str], float] = {}
    calls = [("alpha", "gpt-4.1-mini"), ("alpha", "gpt-4.1-mini"), ("beta", "gpt-4.1-mini"), ("beta", "default")]
    for i, (name, model) in enumerate(calls):
        resp = httpx.post(f"{replicas[i % 2].url}/v1/chat/completions", json={"model": model, "messages": HI},
                          headers={"authorization": f"Bearer {keys[name]}"})
        assert resp.status_code == 200
        costs[(name, model)] = costs.get((name, model), 0.0) + float(resp.headers["x-grove-cost-usd"])
    auth = {"authorization": f"Bearer {ADMIN}"}
    for replica in replicas:  # each replica's sums reach the store on the next read
        assert httpx.get(f"{replica.url}/admin/usage", headers=auth).status_code == 200
    body = httpx.get(f"{replicas[0].url}/admin/usage", headers=auth).json()
    assert body["object"] == "usage" and body["day"] == utc_day(__import__("time").time()) and body["complete"]
    rows = {(r["key"], r["route"]): r for r in body["data"]}
    assert set(rows) == {("alpha", "gpt-4.1-mini"), ("beta", "gpt-4.1-mini"), ("beta", "default")}
    assert rows[("alpha", "gpt-4.1-mini")]["requests"] == 2
    for (name, model), cost in costs.items():
        assert rows[(name, model)]["cost_usd"] == pytest.approx(cost, abs=1e-9)
        assert rows[(name, model)]["model"] == "gpt-4.1-mini@1"
    assert body["total"]["requests"] == 4 and body["total"]["cost_usd"] == pytest.approx(sum(costs.values()), abs=1e-9)
    assert keys["alpha"] not in str(body) and keys["beta"] not in str(body)


def test_admin_usage_is_guarded_and_validated(start_gateway: GatewayFactory, demo_config: Path) -> None:
    gateway = start_gateway(demo_config, admin_key=ADMIN)
    assert httpx.get(f"{gateway.url}/admin/usage").status_code == 401
    assert httpx.get(f"{gateway.url}/admin/usage", headers={"authorization": "Bearer nope"}).status_code == 403
    auth = {"authorization": f"Bearer {ADMIN}"}
    for day in ("yesterday", "2026-02-30", "2026-1-1"):
        bad = httpx.get(f"{gateway.url}/admin/usage?day={day}", headers=auth)
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "day"
    empty = httpx.get(f"{gateway.url}/admin/usage?day=2001-02-03", headers=auth).json()
    assert empty["data"] == [] and empty["total"]["requests"] == 0
