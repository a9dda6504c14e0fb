"""Live events: publishing never fails the caller, every replica's events reach every
subscriber (memory store in one process, a real Redis across instances), replay without gaps
or duplicates, bounded buffers, secrets masked, a lost Redis survived, no task left behind."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import redis

from gateway import jsonio
from gateway.events import STREAM, Event, Events, valid_id
from gateway.redact import Redactor
from gateway.store import Store
from gateway.store.memory import MemoryStore
from gateway.store.redis import RedisStore
from gateway.subscription import Subscription
from tests.conftest import REDIS_URL, RedisServer, free_port

WAIT_S = 5.0  # a deadline for what should take milliseconds: only reached when it fails


def run(body: Coroutine[Any, Any, None]) -> None:
    asyncio.run(body)


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest, redis_client: redis.Redis) -> Iterator[str]:
    yield str(request.param)


@asynccontextmanager
async def running(store: Store, **options: Any) -> AsyncIterator[Events]:
    events = Events(store, **options)
    events.start()
    try:
        yield events
    finally:
        await events.stop()


def body(event: Event) -> dict[str, Any]:
    return dict(jsonio.loads(event.json))


async def next_event(sub: Subscription) -> Event:
    event = await sub.next(WAIT_S)
    assert event is not None, "no event within the deadline"
    return event


def test_a_published_event_reaches_a_subscriber(backend: str) -> None:
    async def main() -> None:
        store: Store = MemoryStore() if backend == "memory" else RedisStore(REDIS_URL)
        async with running(store, replica="replica-a") as events:
            async with events.subscribe() as sub:
                events.publish("breaker.opened", {"deployment": "m@1"})
                event = await next_event(sub)
            assert valid_id(event.id) and event.kind == "breaker.opened"
            got = body(event)
            assert got["id"] == event.id and got["kind"] == "breaker.opened" and got["replica"] == "replica-a"
            assert got["data"] == {"deployment": "m@1"} and isinstance(got["time"], float)
        await store.close()

    run(main())


def test_events_of_one_instance_reach_subscribers_of_another_through_redis(redis_client: redis.Redis) -> None:
    async def main() -> None:
        store_a, store_b = RedisStore(REDIS_URL), RedisStore(REDIS_URL)
        async with running(store_a, replica="a") as a, running(store_b, replica="b") as b:
            async with b.subscribe() as on_b, a.subscribe() as on_a:
                a.publish("x.one", {"n": 1})
                b.publish("x.two", {"n": 2})
                seen_b = [body(await next_event(on_b)) for _ in range(2)]
                seen_a = [body(await next_event(on_a)) for _ in range(2)]
        # Both see both, in one order: the stream's.
        assert sorted((e["replica"], e["kind"]) for e in seen_b) == [("a", "x.one"), ("b", "x.two")]
        assert [e["id"] for e in seen_a] == [e["id"] for e in seen_b]
        assert sorted(seen_b, key=lambda e: [int(p) for p in e["id"].split("-")]) == seen_b
        await store_a.close()
        await store_b.close()

    run(main())


def test_replay_after_an_id_then_live_without_duplicates(backend: str) -> None:
    async def main() -> None:
        store: Store = MemoryStore() if backend == "memory" else RedisStore(REDIS_URL)
        async with running(store) as events:
            for n in range(4):
                events.publish("n", {"n": n})
            await events.flush()
            ids = [i for i, _ in await store.stream_read(STREAM, "0-0", 10)]
            async with events.subscribe(after=ids[1]) as sub:
                events.publish("n", {"n": 4})
                got = [body(await next_event(sub))["data"]["n"] for _ in range(3)]
                assert got == [2, 3, 4]
                assert await sub.next(0.05) is None  # nothing twice
            async with events.subscribe(after=ids[-1], kinds=frozenset({"other"})) as sub:
                events.publish("n", {"n": 5})
                events.publish("other", {"n": 6})
                assert body(await next_event(sub))["data"] == {"n": 6}
        await store.close()

    run(main())


def test_a_subscription_merges_replay_and_live_in_stream_order() -> None:
    async def main() -> None:
        def event(n: int, kind: str = "k") -> Event:
            return Event(f"100-{n}", kind, b"{}")

        sub = Subscription(None, limit=10)
        sub.replay([])  # nothing to replay: nothing changes
        sub.offer(event(2))  # live events that arrived while the replay was being read
        sub.offer(event(3))
        sub.replay([event(1), event(2)])
        sub.offer(event(2))  # late duplicate of a replayed one
        sub.offer(event(4))
        assert [(await sub.next(1)).id for _ in range(4)] == ["100-1", "100-2", "100-3", "100-4"]  # type: ignore[union-attr]

        small = Subscription(frozenset({"k"}), limit=2)
        for n in range(3):
            small.offer(event(n))
        small.offer(event(9, "skipped"))
        assert small.overflowed and small.closed  # too far behind: ended, to reconnect and replay
        assert [(await small.next(1)).id for _ in range(2)] == ["100-0", "100-1"]  # type: ignore[union-attr]
        assert await small.next(1) is None

    run(main())


def test_publish_never_raises_and_logs_no_data(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        store = MemoryStore()
        async with running(store) as events:
            events.publish("bad kind\nevent: forged", {"x": 1})
            events.publish(42, {"x": 1})  # type: ignore[arg-type]
            events.publish("ok.kind", {"secret-ish": object()})  # not JSON
            events.publish("ok.kind", {"n": 1})
            await events.flush()
        assert [jsonio.loads(v)["data"] for _, v in await store.stream_read(STREAM, "0-0", 10)] == [{"n": 1}]

    with caplog.at_level(logging.ERROR, logger="grove.events"):
        run(main())
    assert len(caplog.records) == 3 and "secret-ish" not in caplog.text


def test_publish_from_another_thread_is_delivered() -> None:
    async def main() -> None:
        async with running(MemoryStore()) as events, events.subscribe() as sub:
            thread = threading.Thread(target=events.publish, args=("from.thread", {"n": 1}))
            thread.start()
            thread.join()
            assert (await next_event(sub)).kind == "from.thread"

    run(main())


def test_secrets_are_masked_before_the_event_is_stored() -> None:
    async def main() -> None:
        store = MemoryStore()
        async with running(store) as events:
            events.redact = Redactor(["sk-live-0123456789"])
            events.publish("limit.exceeded", {"message": "key sk-live-0123456789 hit its limit"})
            await events.flush()
        [(_, raw)] = await store.stream_read(STREAM, "0-0", 10)
        assert b"sk-live" not in raw and jsonio.loads(raw)["data"]["message"] == "key [redacted] hit its limit"

    run(main())


def test_the_buffer_is_bounded_and_drops_the_oldest(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        store = MemoryStore()
        events = Events(store, buffer=3)  # not started: nothing flushes until asked
        for n in range(5):
            events.publish("n", {"n": n})
        await events.flush()
        assert [jsonio.loads(v)["data"]["n"] for _, v in await store.stream_read(STREAM, "0-0", 10)] == [2, 3, 4]

    with caplog.at_level(logging.WARNING, logger="grove.events"):
        run(main())
    assert "2 dropped" in caplog.text


def test_events_wait_out_a_redis_outage(private_redis: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        store = RedisStore(private_redis.url)
        restarted: RedisServer | None = None
        try:
            async with running(store, retry_s=0.05, block_ms=200) as events:
                async with events.subscribe() as sub:
                    private_redis.stop()
                    events.publish("during.outage", {"n": 1})
                    await events.flush()  # cannot store it: it stays in the buffer
                    restarted = RedisServer(port=private_redis.port)
                    await events.flush()
                    # The reader got through the outage too, and delivers it.
                    assert (await next_event(sub)).kind == "during.outage"
        finally:
            await store.close()
            if restarted is not None:
                restarted.stop()

    with caplog.at_level(logging.WARNING, logger="grove.events"):
        run(main())
    assert "store unreachable" in caplog.text


def test_the_reader_runs_only_while_someone_listens_and_stop_ends_streams() -> None:
    async def main() -> None:
        events = Events(MemoryStore())
        events.start()

        def readers() -> list[asyncio.Task[Any]]:
            return [t for t in asyncio.all_tasks() if t.get_name() == "events-reader" and not t.done()]

        assert readers() == []
        async with events.subscribe(), events.subscribe():
            assert len(readers()) == 1  # one per process, however many subscribers
        assert readers() == []
        async with events.subscribe() as sub:
            await events.stop()  # shutdown: open subscriptions end
            assert sub.closed and await sub.next(WAIT_S) is None
        async with events.subscribe() as late:
            assert late.closed  # after shutdown began, a new subscription ends at once
        assert readers() == [] and [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []

    run(main())


def test_with_redis_unreachable_subscribing_works_and_replay_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        store = RedisStore(f"redis://127.0.0.1:{free_port()}/0")
        try:
            async with running(store, retry_s=0.01) as events, events.subscribe(after="1-0") as sub:
                assert events.reading and await sub.next(0.05) is None  # nothing, and no error
        finally:
            await store.close()

    with caplog.at_level(logging.WARNING, logger="grove.events"):
        run(main())
    assert "replay after 1-0 unavailable" in caplog.text and "cannot read the stream" in caplog.text


def test_entries_that_are_not_events_are_skipped(backend: str) -> None:
    async def main() -> None:
        store: Store = MemoryStore() if backend == "memory" else RedisStore(REDIS_URL)
        async with running(store) as events, events.subscribe() as sub:
            await store.stream_append(STREAM, [b"not json", b'{"no":"kind"}', b"[1]"], 100)
            events.publish("real", {})
            assert (await next_event(sub)).kind == "real"
        await store.close()

    run(main())


def test_events_published_before_start_go_out_when_it_starts() -> None:
    async def main() -> None:
        store = MemoryStore()
        events = Events(store)
        events.publish("early", {"n": 1})  # e.g. during start-up, before the lifespan starts it
        events.start()
        try:
            # Woken at start, not at the first interval tick: a blocked read sees it at once.
            [(_, raw)] = await store.stream_read(STREAM, "0-0", 10, block_ms=5000)
            assert jsonio.loads(raw)["kind"] == "early"
        finally:
            await events.stop()

    run(main())


def test_publishing_after_the_loop_has_closed_is_harmless() -> None:
    events = Events(MemoryStore())

    async def main() -> None:
        events.start()  # and never stopped: the loop goes away under it

    run(main())
    raised: list[BaseException] = []

    def publish_late() -> None:
        try:
            events.publish("late", {})
        except BaseException as exc:  # noqa: BLE001 - what the test is looking for
            raised.append(exc)

    thread = threading.Thread(target=publish_late)
    thread.start()
    thread.join()
    assert raised == []

