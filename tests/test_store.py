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


def test_delete(store_url: str | None) -> None:
    async def run() -> None:
        store: Store = make_store(store_url)
        try:
            await store.set("k", b"v")
            assert await store.delete("k") is True
            assert await store.get("k") is None
            assert await store.delete("k") is False
            await store.set("gone", b"x", ttl_s=0.001)
            await asyncio.sleep(0.01)  # an expired key is not there to delete
            assert await store.delete("gone") is False
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
            with pytest.raises(StoreUnavailable):
                await store.delete("k")
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


def test_versioned_document_compare_and_set(store_url: str | None) -> None:
    async def run() -> None:
        store: Store = make_store(store_url)
        try:
            assert await store.doc_read("doc") == (0, None)
            assert await store.doc_write("doc", 0, b"first", [("pub:a", b"1"), ("pub:b", b"x")]) == 1
            assert await store.doc_read("doc") == (1, b"first")
            assert (await store.get("pub:a"), await store.get("pub:b")) == (b"1", b"x")
            # A writer that read revision 0 came second: nothing it wanted to write is written.
            assert await store.doc_write("doc", 0, b"stale", [("pub:a", b"2")]) is None
            assert await store.doc_read("doc") == (1, b"first") and await store.get("pub:a") == b"1"
            # No body: publish only, if still at the revision read; the revision stays.
            assert await store.doc_write("doc", 1, None, [("pub:a", b"3")]) == 1
            assert await store.doc_read("doc") == (1, b"first") and await store.get("pub:a") == b"3"
            assert await store.doc_write("doc", 1, b"second") == 2
            assert await store.doc_read("doc") == (2, b"second")
            assert await store.doc_write("other", 0, None) == 0 and await store.doc_read("other") == (0, None)
        finally:
            await store.close()

    asyncio.run(run())


# --- streams (live events) ----------------------------------------------------------------


def _position(entry_id: str) -> tuple[int, int]:
    ms, seq = entry_id.split("-")
    return int(ms), int(seq)


def test_stream_append_and_read_after(store_url: str | None) -> None:
    async def run() -> None:
        store: Store = make_store(store_url)
        # A second writer, as another replica is (the same object for the in-process store).
        other: Store = make_store(store_url) if store_url else store
        try:
            assert await store.stream_last_id("s") == "0-0"
            assert await store.stream_read("s", "0-0", 10) == []
            ids = await store.stream_append("s", [b"a", b"b"], max_len=100)
            ids += await other.stream_append("s", [b"c"], max_len=100)
            assert [_position(i) for i in ids] == sorted(_position(i) for i in ids) and len(set(ids)) == 3
            assert await store.stream_read("s", "0-0", 10) == list(zip(ids, [b"a", b"b", b"c"]))
            assert await other.stream_read("s", ids[0], 10) == [(ids[1], b"b"), (ids[2], b"c")]
            assert await store.stream_read("s", ids[0], 1) == [(ids[1], b"b")]
            assert await store.stream_read("s", ids[2], 10) == []
            assert await store.stream_last_id("s") == ids[2]
        finally:
            await store.close()
            if other is not store:
                await other.close()

    asyncio.run(run())


def test_stream_keeps_about_max_len_newest(store_url: str | None) -> None:
    async def run() -> None:
        store: Store = make_store(store_url)
        try:
            values = [str(i).encode() for i in range(250)]
            for start in range(0, 250, 50):
                await store.stream_append("s", values[start:start + 50], max_len=100)
            kept = [value for _, value in await store.stream_read("s", "0-0", 1000)]
            # Redis trims "~": whole internal nodes, never below max_len. Memory trims exactly.
            assert 100 <= len(kept) < 250
            assert kept == values[-len(kept):]
        finally:
            await store.close()

    asyncio.run(run())


def test_versioned_document_on_a_lost_redis() -> None:
    async def run() -> None:
        store = RedisStore(f"redis://127.0.0.1:{free_port()}/0")
        try:
            for call in (store.doc_read("doc"), store.doc_write("doc", 0, b"x", [("k", b"v")])):
                with pytest.raises(StoreUnavailable):
                    await call
        finally:
            await store.close()

    asyncio.run(run())


def test_a_blocked_stream_read_wakes_on_append(store_url: str | None) -> None:
    async def run() -> None:
        store: Store = make_store(store_url)
        other: Store = make_store(store_url) if store_url else store
        try:
            assert await store.stream_read("s", "0-0", 10, block_ms=20) == []  # waits, then nothing
            start = await store.stream_last_id("s")
            reader = asyncio.create_task(store.stream_read("s", start, 10, block_ms=5000))
            await asyncio.sleep(0)  # the reader usually blocks first; reading from ``start``, either order works
            [new_id] = await other.stream_append("s", [b"x"], max_len=10)
            assert await asyncio.wait_for(reader, 4) == [(new_id, b"x")]
        finally:
            await store.close()
            if other is not store:
                await other.close()

    asyncio.run(run())


def test_stream_ops_on_a_lost_redis() -> None:
    async def run() -> None:
        store = RedisStore(f"redis://127.0.0.1:{free_port()}/0")
        try:
            for call in (store.stream_append("s", [b"x"], 10), store.stream_read("s", "0-0", 10),
                         store.stream_read("s", "0-0", 10, block_ms=100), store.stream_last_id("s")):
                with pytest.raises(StoreUnavailable):
                    await call
        finally:
            await store.close()

    asyncio.run(run())
