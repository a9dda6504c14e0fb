"""Circuit breakers: every transition on both stores, shared across replicas through a real
Redis, identical machines in Python and Lua, and local state when Redis is lost.

Time is a manual clock handed to ``Breakers`` (and to the stores as ``now_ms``), so
cooldowns are stepped over, never slept through.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.breaker import KEY_PREFIX, BreakerPolicy, Breakers
from gateway.store import Store
from gateway.store import breaker_machine as machine
from gateway.store.memory import MemoryStore
from gateway.store.redis import RedisStore
from tests.conftest import REDIS_URL, free_port

D = "claude-sonnet-4-5@1"
POLICY = BreakerPolicy()  # defaults: 5 in a row, 50% of >=20 in 30 s, 10 s doubling to 300 s, 1 probe


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def run(body: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(body())


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest, redis_client: redis.Redis) -> Iterator[str]:
    yield str(request.param)


def new_store(backend: str, url: str = REDIS_URL) -> Store:
    return MemoryStore() if backend == "memory" else RedisStore(url)


@asynccontextmanager
async def breakers(
    backend: str, policy: BreakerPolicy = POLICY, clock: Clock | None = None, **options: float
) -> AsyncIterator[Breakers]:
    store = new_store(backend)
    try:
        yield Breakers(store, policy, clock=clock, **options)
    finally:
        await store.close()


async def attempt(b: Breakers, ok: bool, retry_after_s: float | None = None) -> tuple[bool, str]:
    """One attempt as the pipeline makes it: ask, then report (only if let through)."""
    allowed, state = await b.allow(D)
    if allowed:
        if ok:
            await b.record_success(D)
        else:
            await b.record_failure(D, retry_after_s)
    return allowed, state


# --- transitions and thresholds (both stores) ---------------------------------------------


def test_consecutive_failures_open_it(backend: str) -> None:
    async def body() -> None:
        clock = Clock()
        async with breakers(backend, clock=clock) as b:
            for _ in range(4):
                assert await attempt(b, ok=False) == (True, "closed")
            view = await b.view(D)
            assert (view.state, view.consecutive_failures, view.opened_until) == ("closed", 4, None)
            await attempt(b, ok=False)
            assert await b.allow(D) == (False, "open")
            view = await b.view(D)
            assert (view.state, view.trips, view.opened_until) == ("open", 1, clock.now + 10)

    run(body)


def test_a_success_breaks_the_streak(backend: str) -> None:
    async def body() -> None:
        async with breakers(backend, clock=Clock()) as b:
            for ok in [False] * 4 + [True] + [False] * 4:
                await attempt(b, ok)
            assert (await b.view(D)).state == "closed"
            await attempt(b, ok=False)
            assert (await b.view(D)).state == "open"

    run(body)


def test_failure_ratio_counts_successes_kept_locally(backend: str) -> None:
    policy = BreakerPolicy(failure_threshold=100, min_requests=20, failure_ratio=0.5)

    async def body() -> None:
        async with breakers(backend, policy, clock=Clock()) as b:
            for _ in range(10):
                await attempt(b, ok=True)
            for _ in range(10):
                await attempt(b, ok=False)
            # 10 of 20 is not *over* half; losing the locally counted successes would leave
            # fewer than 20 requests in the window, counting them twice would never trip.
            assert (await b.view(D)).state == "closed"
            await attempt(b, ok=False)
            assert (await b.view(D)).state == "open"

    run(body)


def test_the_ratio_window_rolls(backend: str) -> None:
    policy = BreakerPolicy(failure_threshold=100, min_requests=20)

    async def body() -> None:
        clock = Clock()
        async with breakers(backend, policy, clock=clock) as b:
            for _ in range(10):
                await attempt(b, ok=True)
            for _ in range(9):
                await attempt(b, ok=False)
            clock.advance(31)  # all of the above leave the 30 s window
            for _ in range(19):
                await attempt(b, ok=False)
            assert (await b.view(D)).state == "closed"
            await attempt(b, ok=False)  # 20 requests in the window, all failures
            assert (await b.view(D)).state == "open"

    run(body)


def test_cooldown_doubles_per_trip_is_capped_and_resets_on_success(backend: str) -> None:
    policy = BreakerPolicy(cooldown_s=10, max_cooldown_s=60)

    async def body() -> None:
        clock = Clock()
        async with breakers(backend, policy, clock=clock) as b:
            for _ in range(5):
                await attempt(b, ok=False)
            for trip, cooldown in enumerate([10, 20, 40, 60, 60], start=1):
                view = await b.view(D)
                assert (view.state, view.trips, view.opened_until) == ("open", trip, clock.now + cooldown)
                clock.advance(cooldown - 1)
                assert await b.allow(D) == (False, "open")
                clock.advance(1)
                assert (await b.view(D)).state == "half_open"
                assert await attempt(b, ok=False) == (True, "half_open")  # the probe fails
            clock.advance(60)
            assert await attempt(b, ok=True) == (True, "half_open")
            view = await b.view(D)
            assert (view.state, view.trips, view.consecutive_failures) == ("closed", 0, 0)
            for _ in range(5):
                await attempt(b, ok=False)
            assert (await b.view(D)).opened_until == clock.now + 10

    run(body)


def test_half_open_lets_a_limited_number_of_concurrent_probes_through(backend: str) -> None:
    async def body() -> None:
        clock = Clock()
        async with breakers(backend, BreakerPolicy(half_open_probes=2), clock=clock) as b:
            await b.force_open(D, 5)
            clock.advance(5)
            answers = await asyncio.gather(*(b.allow(D) for _ in range(20)))
            assert sorted(answers, reverse=True)[:3] == [(True, "half_open")] * 2 + [(False, "half_open")]
            assert sum(allowed for allowed, _ in answers) == 2
            await b.record_success(D)
            assert await b.allow(D) == (True, "closed")

    run(body)


def test_a_probe_that_never_reports_frees_its_slot_after_the_lease(backend: str) -> None:
    async def body() -> None:
        clock = Clock()
        async with breakers(backend, BreakerPolicy(probe_lease_s=30), clock=clock) as b:
            await b.force_open(D, 1)
            clock.advance(1)
            assert await b.allow(D) == (True, "half_open")
            clock.advance(29)
            assert await b.allow(D) == (False, "half_open")
            clock.advance(1)
            assert await b.allow(D) == (True, "half_open")

    run(body)


def test_reports_from_before_the_trip_do_not_close_it(backend: str) -> None:
    async def body() -> None:
        clock = Clock()
        async with breakers(backend, clock=clock) as b:
            for _ in range(5):
                await attempt(b, ok=False)
            await b.record_success(D)  # a request let through before the trip, finishing late
            await b.record_failure(D)
            view = await b.view(D)
            assert (view.state, view.trips, view.opened_until) == ("open", 1, clock.now + 10)

    run(body)


def test_retry_after_opens_for_that_long(backend: str) -> None:
    async def body() -> None:
        clock = Clock()
        async with breakers(backend, clock=clock) as b:
            await attempt(b, ok=False, retry_after_s=42)  # one failure: the counters alone say closed
            view = await b.view(D)
            assert (view.state, view.opened_until, view.trips) == ("open", clock.now + 42, 0)
            clock.advance(41.5)
            assert await b.allow(D) == (False, "open")
            clock.advance(0.5)
            assert await attempt(b, ok=True) == (True, "half_open")
            assert (await b.view(D)).state == "closed"

    run(body)


def test_retry_after_on_a_trip_is_a_lower_bound(backend: str) -> None:
    async def body() -> None:
        clock = Clock()
        async with breakers(backend, clock=clock) as b:
            for _ in range(4):
                await attempt(b, ok=False)
            await attempt(b, ok=False, retry_after_s=3)
            assert (await b.view(D)).opened_until == clock.now + 10  # the cooldown is longer
            await b.record_failure(D, retry_after_s=30)  # while open: extends
            assert (await b.view(D)).opened_until == clock.now + 30
            clock.advance(30)
            await attempt(b, ok=False, retry_after_s=100)  # failed probe: trip 2 (20 s) or 100 s
            view = await b.view(D)
            assert (view.opened_until, view.trips) == (clock.now + 100, 2)

    run(body)


def test_retry_after_that_says_nothing_is_a_plain_failure(backend: str) -> None:
    async def body() -> None:
        async with breakers(backend, clock=Clock()) as b:
            for retry_after in (None, 0, -5, float("nan")):
                await attempt(b, ok=False, retry_after_s=retry_after)
            view = await b.view(D)
            assert (view.state, view.consecutive_failures) == ("closed", 4)

    run(body)


def test_force_open_and_reset(backend: str) -> None:
    async def body() -> None:
        clock = Clock()
        async with breakers(backend, clock=clock) as b:
            await b.force_open(D, 600)
            assert await b.allow(D) == (False, "open")
            assert (await b.view(D)).opened_until == clock.now + 600
            await b.reset(D)
            assert await b.allow(D) == (True, "closed")
            views = await b.views([D, "other@1"])
            assert [(v.key, v.state, v.trips) for v in views] == [(D, "closed", 0), ("other@1", "closed", 0)]

    run(body)


class Published(list[tuple[str, dict[str, Any]]]):
    """Stands in for ``Events.publish``: what the breakers announced, in order."""

    def __call__(self, kind: str, data: Any) -> None:
        self.append((kind, dict(data)))

    def moves(self) -> list[tuple[str, str, str]]:
        return [(kind, data["from"], data["to"]) for kind, data in self]


def test_each_transition_is_published_once(backend: str) -> None:
    async def body() -> None:
        clock, published = Clock(), Published()
        policy = BreakerPolicy(failure_threshold=2, cooldown_s=5)
        store = new_store(backend)
        try:
            b = Breakers(store, policy, clock=clock, publish=published)
            await attempt(b, ok=False)
            assert published == []  # a failure that does not trip changes no state
            await attempt(b, ok=False)
            tripped_at = clock.now
            await attempt(b, ok=False)  # refused while open: no transition, nothing published
            clock.advance(5)
            await attempt(b, ok=True)  # the probe: half-open, then closed
            await attempt(b, ok=True)
            assert published.moves() == [("breaker.opened", "closed", "open"),
                                         ("breaker.half_open", "open", "half_open"),
                                         ("breaker.closed", "half_open", "closed")]
            opened = published[0][1]
            assert opened == {"deployment": D, "from": "closed", "to": "open", "consecutive_failures": 2,
                              "opened_until": tripped_at + 5, "shared": True}
        finally:
            await store.close()

    run(body)


def test_admin_actions_are_published_and_change_what_this_replica_remembers(backend: str) -> None:
    async def body() -> None:
        clock, published = Clock(), Published()
        store = new_store(backend)
        try:
            b = Breakers(store, clock=clock, publish=published)
            await b.force_open(D, 30)
            assert D in b.recently_open()  # the router leaves it out at once, no store call
            await b.force_open(D, 60)  # already open: an admin action is still announced
            assert published.moves() == [("breaker.opened", "closed", "open"), ("breaker.opened", "open", "open")]
            assert published[1][1]["by"] == "admin" and published[1][1]["opened_until"] == clock.now + 60
            await b.reset(D)
            assert D not in b.recently_open() and await b.allow(D) == (True, "closed")
            assert published[-1] == ("breaker.closed", {"deployment": D, "from": "open", "to": "closed",
                                                        "consecutive_failures": 0, "opened_until": None,
                                                        "shared": True, "by": "admin"})
        finally:
            await store.close()

    run(body)


def test_a_transition_is_seen_by_exactly_one_replica(redis_client: redis.Redis) -> None:
    async def body() -> None:
        clock = Clock()
        policy = BreakerPolicy(failure_threshold=2)
        stores = [RedisStore(REDIS_URL), RedisStore(REDIS_URL)]
        logs = [Published(), Published()]
        try:
            first, second = (Breakers(s, policy, clock=clock, publish=p) for s, p in zip(stores, logs))
            assert (await first.allow(D))[0] and (await second.allow(D))[0]
            await asyncio.gather(first.record_failure(D), second.record_failure(D))
            assert await second.allow(D) == (False, "open")
            assert D in second.recently_open() and D not in first.recently_open()
            assert sorted(len(log) for log in logs) == [0, 1]  # whichever tripped it says so
        finally:
            for s in stores:
                await s.close()

    run(body)


def test_state_idles_out(backend: str) -> None:
    async def body() -> None:
        clock = Clock()
        async with breakers(backend, clock=clock) as b:
            for _ in range(4):
                await attempt(b, ok=False)
            clock.advance(POLICY.rules().idle_ms / 1000)
            assert (await b.view(D)).consecutive_failures == 0
            await attempt(b, ok=False)
            assert (await b.view(D)).consecutive_failures == 1

    run(body)


def test_policy_is_validated() -> None:
    for bad in ({"failure_threshold": 0}, {"failure_ratio": 0}, {"cooldown_s": 0},
                {"max_cooldown_s": 1}, {"half_open_probes": 0}):
        with pytest.raises(ValueError):
            BreakerPolicy(**bad)  # type: ignore[arg-type]


# --- Redis specifics ----------------------------------------------------------------------


def test_replicas_share_one_breaker(redis_client: redis.Redis) -> None:
    async def body() -> None:
        clock = Clock()
        async with breakers("redis", clock=clock) as first, breakers("redis", clock=clock) as second:
            assert await first.allow(D) == (True, "closed")
            assert await second.allow(D) == (True, "closed")
            for _ in range(5):
                await attempt(first, ok=False)
            assert await second.allow(D) == (False, "open")  # its very next request
            clock.advance(10)
            answers = await asyncio.gather(*(replica.allow(D) for replica in [first, second] * 10))
            assert sum(allowed for allowed, _ in answers) == 1  # one probe for all replicas
            assert await second.allow(D) == (False, "half_open")
            await second.record_success(D)  # whichever replica's probe it was, a success closes
            assert await first.allow(D) == (True, "closed")
            assert (await first.view(D)).trips == 0

    run(body)


def test_the_stores_own_clock_drives_it_without_a_clock(backend: str) -> None:
    async def body() -> None:
        async with breakers(backend) as b:
            before = time.time()
            for _ in range(5):
                await attempt(b, ok=False)
            view = await b.view(D)
            # Redis runs on this host, so its server time is our clock: open ~10 s from now.
            assert view.state == "open" and view.opened_until is not None
            assert before + 9 < view.opened_until < time.time() + 11

    run(body)


def test_keys_get_a_ttl_and_a_quiet_allow_writes_nothing(redis_client: redis.Redis) -> None:
    async def body() -> None:
        async with breakers("redis", clock=Clock()) as b:
            await b.allow(D)
            assert not redis_client.exists(KEY_PREFIX + D)
            await attempt(b, ok=False)
            idle_ms = POLICY.rules().idle_ms
            assert idle_ms - 1000 < redis_client.pttl(KEY_PREFIX + D) <= idle_ms
            for _ in range(4):
                await attempt(b, ok=False)
            # Open: kept for the open period on top of the idle time.
            assert idle_ms + 9000 < redis_client.pttl(KEY_PREFIX + D) <= idle_ms + 10_000

    run(body)


def test_script_is_loaded_again_after_noscript(redis_client: redis.Redis) -> None:
    async def body() -> None:
        async with breakers("redis", clock=Clock()) as b:
            redis_client.script_flush()
            assert await attempt(b, ok=False) == (True, "closed")  # EVALSHA → NOSCRIPT → EVAL
            assert (await b.view(D)).consecutive_failures == 1
            assert b.shared
            assert redis_client.script_exists(redis_client.script_load("return 1"))[0]

    run(body)


def test_one_round_trip_per_allow_and_none_for_a_plain_success(redis_client: redis.Redis) -> None:
    async def body() -> None:
        relay = RedisRelay()
        await relay.start()
        store = RedisStore(relay.url)
        try:
            b = Breakers(store, clock=Clock())
            await b.allow(D)  # connect (the client's hand-shake commands are not ours to count)
            relay.commands.clear()
            await b.record_success(D)
            await b.allow(D)  # ordered behind anything record_success could have sent
            assert relay.commands == ["EVALSHA"]
            relay.commands.clear()
            await attempt(b, ok=False)
            await b.record_success(D)  # a failure streak is on record: this one goes to Redis
            await b.views([D, "a@1", "b@1"])
            # One pipelined read (no TIME: this test's clock stands in for the server's).
            assert relay.commands == ["EVALSHA"] * 3 + ["HGETALL"] * 3
            window = redis_client.hget(KEY_PREFIX + D, "w")
            assert window is not None and window.endswith(b":2:1")  # the one counted locally, the one sent, the failure
        finally:
            await store.close()
            await relay.stop()

    run(body)


# --- losing Redis -------------------------------------------------------------------------


def test_unreachable_redis_falls_back_to_local_state(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="grove.breaker")

    async def body() -> None:
        store = RedisStore(f"redis://127.0.0.1:{free_port()}/15")
        try:
            published = Published()
            b = Breakers(store, clock=Clock(), recheck_s=0, publish=published)  # retry Redis on every call
            for _ in range(5):
                assert await attempt(b, ok=False) == (True, "closed")
            assert await b.allow(D) == (False, "open")
            assert (await b.view(D)).state == "open"
            await b.force_open("x@1", 5)
            await b.reset(D)
            assert await b.allow(D) == (True, "closed")
            assert not b.shared
            # Transitions of local state are announced too, marked as this replica's own.
            assert published.moves() == [("breaker.opened", "closed", "open"), ("breaker.opened", "closed", "open"),
                                         ("breaker.closed", "open", "closed")]
            assert not any(data["shared"] for _, data in published)
        finally:
            await store.close()

    run(body)
    warnings = [r for r in caplog.records if r.name == "grove.breaker" and r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "unreachable" in warnings[0].getMessage()


def test_back_on_shared_state_when_redis_answers_again(
    redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="grove.breaker")

    async def body() -> None:
        clock = Clock()
        relay = RedisRelay()
        await relay.start()
        store = RedisStore(relay.url)
        try:
            b = Breakers(store, clock=clock, recheck_s=0)
            async with breakers("redis", clock=clock) as other:
                for _ in range(5):
                    await attempt(other, ok=False)
                assert await b.allow(D) == (False, "open")  # shared

                await relay.stop()
                assert await b.allow(D) == (True, "closed")  # local state starts afresh
                for _ in range(5):
                    await attempt(b, ok=False)
                assert await b.allow(D) == (False, "open")
                assert not b.shared

                await relay.start()
                await other.reset(D)
                assert await b.allow(D) == (True, "closed")  # the shared state, reset by `other`
                assert b.shared
        finally:
            await store.close()
            await relay.stop()

    run(body)
    messages = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "grove.breaker"]
    assert [level for level, _ in messages] == [logging.WARNING, logging.INFO]


def test_a_stalled_redis_costs_one_timeout_not_an_error(
    redis_client: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    async def body() -> None:
        relay = RedisRelay()
        await relay.start()
        store = RedisStore(relay.url)
        try:
            b = Breakers(store, clock=Clock(), store_timeout_s=0.05, recheck_s=3600)
            await b.allow(D)
            relay.stalled = True
            started = time.perf_counter()
            assert await b.allow(D) == (True, "closed")  # waited 50 ms, then went local
            for _ in range(5):
                await attempt(b, ok=False)  # no more waiting: the recheck is an hour away
            assert await b.allow(D) == (False, "open")
            assert time.perf_counter() - started < 0.05 + 0.5
            assert not b.shared
        finally:
            await store.close()
            await relay.stop()

    run(body)
    assert sum(r.levelno == logging.WARNING for r in caplog.records if r.name == "grove.breaker") == 1


# --- the Python machine and the Lua script agree ------------------------------------------

EVENTS = st.one_of(
    st.builds(machine.Event, st.just(machine.ALLOW), successes=st.integers(0, 3)),
    st.builds(machine.Event, st.just(machine.SUCCESS), successes=st.integers(0, 3)),
    st.builds(machine.Event, st.just(machine.FAILURE), successes=st.integers(0, 3),
              retry_after_ms=st.sampled_from([0, 0, 0, 1, 700, 4000, 20_000])),
    st.builds(machine.Event, st.just(machine.FORCE_OPEN), open_ms=st.sampled_from([0, 1500, 9000])),
    st.builds(machine.Event, st.just(machine.RESET)),
)
# Delays hit the rules' own periods (buckets, leases, cooldowns, idle times) exactly, so the
# boundary comparisons are exercised, not just the comfortable middles. Negative delays: a
# server clock stepped back.
DELAYS = [-1500, -1, 0, 0, 1, 100, 250, 500, 999, 1000, 1500, 3000, 5000, 8000, 10_000, 24_000, 30_000, 200_000]
STEPS = st.lists(st.tuples(st.sampled_from(DELAYS), EVENTS), min_size=1, max_size=60)
POLICIES = st.builds(
    machine.Rules,
    failure_threshold=st.integers(1, 4), window_ms=st.sampled_from([1000, 5000, 10_000]),
    failure_ratio=st.sampled_from([0.1, 0.5, 1 / 3, 0.75, 1.0]), min_requests=st.integers(1, 6),
    cooldown_ms=st.sampled_from([1000, 1500]), max_cooldown_ms=st.sampled_from([1500, 8000]),
    half_open_probes=st.integers(1, 3), probe_lease_ms=st.sampled_from([500, 5000]),
)


@settings(max_examples=300, deadline=None)
@given(rules=POLICIES, steps=STEPS)
def test_lua_and_python_machines_agree(rules: machine.Rules, steps: list[tuple[int, machine.Event]]) -> None:
    async def body() -> None:
        memory, shared = MemoryStore(), RedisStore(REDIS_URL)
        key = f"grove:test:parity:{uuid.uuid4().hex}"
        now = 1_800_000_000_123
        try:
            for delay, event in steps:
                now += delay
                expected = await memory.breaker_step(key, event, rules, now)
                assert await shared.breaker_step(key, event, rules, now) == expected, (event, now)
                (_, [mine]), (_, [theirs]) = await memory.breaker_read([key], now), await shared.breaker_read([key], now)
                assert machine.current(theirs, now) == machine.current(mine, now), (event, now)
        finally:
            await shared.breaker_clear(key)
            await shared.close()

    run(body)


# --- a real TCP relay in front of Redis: counts commands, can vanish or stall -------------


class RedisRelay:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/{REDIS_URL.rsplit('/', 1)[1]}"  # the test run's own DB
        self.stalled = False  # swallow what the client sends: a Redis that stopped answering
        self.commands: list[str] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for writer in self._writers:
            writer.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        self._server, self._tasks, self._writers = None, set(), []

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        host, port = REDIS_URL.split("//")[1].split("/")[0].split(":")
        upstream_r, upstream_w = await asyncio.open_connection(host, int(port))
        self._writers += [client_w, upstream_w]
        pending = bytearray()

        async def up() -> None:
            while data := await client_r.read(65536):
                if self.stalled:
                    continue
                pending.extend(data)
                self.commands += _command_names(pending)
                upstream_w.write(data)
                await upstream_w.drain()

        async def down() -> None:
            while data := await upstream_r.read(65536):
                client_w.write(data)
                await client_w.drain()

        for pump in (up(), down()):
            task = asyncio.create_task(_until_closed(pump, client_w, upstream_w))
            self._tasks.add(task)


async def _until_closed(pump: Awaitable[None], *writers: asyncio.StreamWriter) -> None:
    try:
        await pump
    except (ConnectionError, OSError):
        pass
    finally:
        for writer in writers:
            writer.close()


def _command_names(buf: bytearray) -> list[str]:
    """Take the complete RESP commands off the front of ``buf``; return their names."""
    names: list[str] = []
    while buf.startswith(b"*"):
        end = buf.find(b"\r\n")
        if end < 0:
            return names
        pos, args = end + 2, []
        for _ in range(int(buf[1:end])):
            end = buf.find(b"\r\n", pos)
            if end < 0:
                return names
            start = end + 2
            stop = start + int(buf[pos + 1:end])
            if len(buf) < stop + 2:
                return names
            args.append(bytes(buf[start:stop]))
            pos = stop + 2
        names.append(args[0].decode().upper())
        del buf[:pos]
    return names


class CountingStore(MemoryStore):
    """The in-process store, counting the machine steps asked of it."""

    def __init__(self) -> None:
        super().__init__()
        self.steps = 0

    async def breaker_step(self, *args: Any, **kwargs: Any) -> machine.Reply:
        self.steps += 1
        return await super().breaker_step(*args, **kwargs)


def test_in_process_a_plainly_closed_breaker_is_allowed_without_a_step_for_a_moment() -> None:
    from gateway.breaker import CARRY_S

    policy = BreakerPolicy(failure_threshold=100, min_requests=20, failure_ratio=0.5)

    async def body() -> None:
        clock, store = Clock(), CountingStore()
        b = Breakers(store, policy, clock=clock)
        await attempt(b, ok=True)  # the first ask steps the machine and finds it plainly closed
        assert store.steps == 1
        for _ in range(9):
            assert await attempt(b, ok=True) == (True, "closed")
        assert store.steps == 1  # nine asks and nine successes, no step
        clock.advance(CARRY_S)
        assert await b.allow(D) == (True, "closed")
        assert store.steps == 2  # stepped again, carrying the nine successes counted meanwhile
        for _ in range(10):
            await attempt(b, ok=False)  # failures always step: 10 of 20 in the window is not over half
        assert (await b.view(D)).state == "closed"
        await b.record_failure(D)
        assert (await b.view(D)).state == "open"  # 11 of 21: the carried successes were counted once
        clock.advance(CARRY_S)
        assert (await b.allow(D))[0] is False  # not plainly closed: asked of the machine, refused

    run(body)
