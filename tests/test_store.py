"""Both store backends keep the same promises; a lost Redis raises StoreUnavailable, never hangs."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import redis

from gateway.store import Store, StoreUnavailable, make_store
from gateway.store.memory import MemoryStore
from gateway.store.redis import RedisStore
from tests.conftest import REDIS_URL, free_port


@pytest.fixture(params=["memory", "redis"])
def store_url(request: pytest.FixtureRequest, redis_client: redis.Redis) -> Iterator[str | None]:
    yield None if request.param == "memory" else REDIS_URL


def test_make_store_picks_the_backend() -> None:
    assert isinstance(make_store(None), MemoryStore)
    assert isinstance(make_store(REDIS_URL), RedisStore)


def test_get_set_and_ttl(store_url: str | None) -> None:
    async def run() -> None:
        store: Store = make_store(store_url)
        try:
            assert await store.ping()
            assert await store.get("k") is None
            await store.set("k", b"v1")
            assert await store.get("k") == b"v1"
            await store.set("k", b"v2")
            assert await store.get("k") == b"v2"
            await store.set("short", b"x", ttl_s=0.001)
            await asyncio.sleep(0.01)  # the TTL itself is what is under test here
            assert await store.get("short") is None
        finally:
            await store.close()

    asyncio.run(run())


def test_unreachable_redis_raises_store_unavailable() -> None:
    async def run() -> None:
        store = RedisStore(f"redis://:hunter2-secret@127.0.0.1:{free_port()}/0")
        try:
            assert await store.ping() is False
            with pytest.raises(StoreUnavailable) as info:
                await store.get("k")
            assert "hunter2" not in str(info.value)
            with pytest.raises(StoreUnavailable):
                await store.set("k", b"v")
        finally:
            await store.close()

    asyncio.run(run())


def test_bounded_log_keeps_the_newest(store_url: str | None) -> None:
    async def run() -> None:
        store: Store = make_store(store_url)
        try:
            assert await store.log_recent("log", 5) == []
            await store.log_append("log", [(f"id{i}", f"v{i}".encode()) for i in range(4)], max_len=3)
            await store.log_append("log", [("id4", b"v4")], max_len=3)
            assert await store.log_recent("log", 10) == [b"v4", b"v3", b"v2"]
            assert await store.log_recent("log", 2) == [b"v4", b"v3"]
            assert await store.log_get("log", "id3") == b"v3"
            assert await store.log_get("log", "id1") is None  # dropped with its id, not just unlisted
        finally:
            await store.close()

    asyncio.run(run())


def test_bounded_log_on_a_lost_redis() -> None:
    async def run() -> None:
        store = RedisStore(f"redis://127.0.0.1:{free_port()}/0")
        try:
            for call in (store.log_append("log", [("a", b"b")], 3), store.log_get("log", "a"),
                         store.log_recent("log", 3)):
                with pytest.raises(StoreUnavailable):
                    await call
        finally:
            await store.close()

    asyncio.run(run())
