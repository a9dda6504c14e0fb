"""The decision log: bounded, newest first, read back as JSON would give it, on either store."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis

from gateway.decisions import LOG, DecisionLog
from gateway.store import Store
from gateway.store.memory import MemoryStore
from gateway.store.redis import RedisStore
from tests.conftest import REDIS_URL


@dataclass
class Entry:
    id: str
    chain: tuple[str, ...] = ("a@1", "b@1")
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "chain": self.chain, **self.extra}


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_bounded_newest_first_and_plain_json(backend: str, redis_client: redis.Redis) -> None:
    async def run() -> None:
        store: Store = MemoryStore() if backend == "memory" else RedisStore(REDIS_URL)
        prefix = uuid.uuid4().hex[:8]
        if backend == "redis":
            redis_client.delete(LOG)
        log = DecisionLog(store, max_entries=3)
        try:
            for i in range(5):
                log.record(Entry(f"{prefix}-{i}"))
            assert (await log.get(f"{prefix}-0")) == {"id": f"{prefix}-0", "chain": ["a@1", "b@1"]}  # pending
            recent = await log.recent(10)  # flushes first
            assert [r["id"] for r in recent] == [f"{prefix}-{i}" for i in (4, 3, 2)]
            assert recent[0]["chain"] == ["a@1", "b@1"]  # a list, as JSON gives it, on both stores
            assert await log.get(f"{prefix}-0") is None  # evicted past max_entries
            assert await log.get(f"{prefix}-3") == {"id": f"{prefix}-3", "chain": ["a@1", "b@1"]}
            assert [r["id"] for r in await log.recent(1)] == [f"{prefix}-4"]
        finally:
            await store.close()

    asyncio.run(run())
