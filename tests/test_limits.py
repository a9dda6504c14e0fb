"""The limiter: a key's limits on both stores, the errors it raises, what it costs a key without
limits (nothing), and failing open when the store is away.

Time is a manual clock handed to the ``Limiter`` (and so to the store as ``now_ms``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
import redis

from gateway import jsonio
from gateway.catalog import KeySpec
from gateway.errors import LimitExceeded, QuotaExceeded, RequestRateExceeded, ServiceUnavailable, TokenRateExceeded
from gateway.limits import LOST_AFTER_S, Limiter, Ticket
from gateway.providers.base import Usage
from gateway.routing import Features
from gateway.store import Store, StoreBusy
from gateway.store.memory import MemoryStore
from gateway.store.quota import Quota, Verdict
from gateway.store.redis import RedisStore
from tests.conftest import REDIS_URL, free_port

HEX = "ab" * 32
START = 1_800_000_000.0  # 2027-01-15T08:00:00Z


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def key(**limits: Any) -> KeySpec:
    return KeySpec.model_validate({"name": "app", "sha256": HEX, **({"limits": limits} if limits else {})})


def ask(input_tokens: int = 10, max_tokens: int | None = None) -> Features:
    return Features(input_tokens=input_tokens, max_tokens=max_tokens)


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest, redis_client: redis.Redis) -> Iterator[str]:
    yield str(request.param)


def run(backend: str, body: Callable[[Store], Coroutine[Any, Any, None]]) -> None:
    async def go() -> None:
        store: Store = MemoryStore() if backend == "memory" else RedisStore(REDIS_URL)
        try:
            await body(store)
        finally:
            await store.close()

    asyncio.run(go())


class Counting(MemoryStore):
    """A memory store that counts the quota calls made on it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    async def quota_admit(self, *args: Any, **kwargs: Any) -> Verdict:
        self.calls.append("admit")
        return await super().quota_admit(*args, **kwargs)

    async def quota_settle(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append("settle")
        await super().quota_settle(*args, **kwargs)


# --- the cost of no limits ---------------------------------------------------------------------


def test_a_key_without_limits_makes_no_store_call() -> None:
    async def body() -> None:
        store = Counting()
        limiter = Limiter(store)
        for spec in (None, key(), KeySpec.model_validate({"name": "e", "sha256": HEX, "limits": {}})):
            ticket = await limiter.admit(spec, "r", ask())
            assert ticket is None
            await limiter.settle(ticket, Usage(10, 10), 1.0, served=True)
            limiter.settle_later(ticket, Usage(10, 10), 1.0, served=True)
        await limiter.stop()
        assert store.calls == []
        # An rpm-only key: one admit, and nothing to settle.
        ticket = await limiter.admit(key(rpm=5), "r", ask())
        await limiter.settle(ticket, Usage(10, 10), 1.0, served=True)
        assert store.calls == ["admit"]

    asyncio.run(body())


# --- requests per minute -----------------------------------------------------------------------


def test_rpm_exactly_n_then_429_with_retry_after_and_the_callback(backend: str) -> None:
    clock = Clock()
    seen: list[tuple[str, str, float]] = []

    async def body(store: Store) -> None:
        limiter = Limiter(store, clock=clock, on_exceeded=lambda *event: seen.append(event))
        spec = key(rpm=4)
        for i in range(4):
            clock.now = START + i * 5
            assert isinstance(await limiter.admit(spec, f"r{i}", ask()), Ticket)
        clock.now = START + 20.5
        with pytest.raises(RequestRateExceeded) as caught:
            await limiter.admit(spec, "r4", ask())
        error = caught.value
        assert (error.status, error.limit, error.retry_after_s) == (429, "rpm", 39.5)
        assert error.headers == {"retry-after": "40"}
        body = jsonio.loads(error.body())["error"]
        assert (body["type"], body["code"], body["param"]) == ("requests", "rate_limit_exceeded", None)
        assert "app" in body["message"] and "Limit 4" in body["message"]
        assert seen == [("app", "rpm", 39.5)]
        clock.now = START + 60  # the first has aged out: one more
        assert await limiter.admit(spec, "r5", ask()) is not None
        with pytest.raises(RequestRateExceeded) as caught:
            await limiter.admit(spec, "r6", ask())
        assert caught.value.headers == {"retry-after": "5"}

    run(backend, body)


def test_retry_after_is_at_least_one_whole_second(backend: str) -> None:
    clock = Clock()

    async def body(store: Store) -> None:
        limiter = Limiter(store, clock=clock)
        await limiter.admit(key(rpm=1), "a", ask())
        clock.now = START + 59.999
        with pytest.raises(RequestRateExceeded) as caught:
            await limiter.admit(key(rpm=1), "b", ask())
        assert caught.value.headers == {"retry-after": "1"} and 0 < caught.value.retry_after_s < 0.01

    run(backend, body)


# --- tokens per minute -------------------------------------------------------------------------


def test_tpm_reserves_prompt_plus_max_tokens_and_settles_to_the_usage(backend: str) -> None:
    clock = Clock()

    async def body(store: Store) -> None:
        limiter = Limiter(store, clock=clock)
        spec = key(tpm=1000)
        first = await limiter.admit(spec, "a", ask(input_tokens=100, max_tokens=500))  # 600 reserved
        assert first is not None and first.tokens == 600
        with pytest.raises(TokenRateExceeded) as caught:
            await limiter.admit(spec, "b", ask(input_tokens=100, max_tokens=400))
        body = jsonio.loads(caught.value.body())["error"]
        assert (body["type"], body["code"]) == ("tokens", "rate_limit_exceeded")
        assert "Limit 1000, Requested 500" in body["message"]
        await limiter.settle(first, Usage(input_tokens=100, output_tokens=50), None, served=True)  # 150 used
        second = await limiter.admit(spec, "b", ask(input_tokens=100, max_tokens=400))  # 150 + 500
        # No max_tokens: the default output allowance (1024 here, capped at the limit) is reserved.
        with pytest.raises(TokenRateExceeded):
            await limiter.admit(spec, "c", ask(input_tokens=10))
        await limiter.settle(second, None, None, served=False)  # no deployment answered: released
        await limiter.settle(second, Usage(1, 1), None, served=True)  # settled once only
        assert await limiter.admit(spec, "d", ask(input_tokens=100, max_tokens=700)) is not None  # 150 + 800

    run(backend, body)


def test_a_stream_settles_in_the_background_and_stop_waits_for_it(backend: str) -> None:
    clock = Clock()

    async def body(store: Store) -> None:
        limiter = Limiter(store, clock=clock)
        spec = key(tpm=1000, budget_usd_day=1.0)
        ticket = await limiter.admit(spec, "s", ask(input_tokens=10, max_tokens=90))
        limiter.settle_later(ticket, Usage(input_tokens=10, output_tokens=20), 1.25, served=True)
        await limiter.stop()
        with pytest.raises(QuotaExceeded):
            await limiter.admit(spec, "t", ask())

    run(backend, body)


# --- budgets -------------------------------------------------------------------------------------


def test_budgets_refuse_with_insufficient_quota_until_the_next_utc_day(backend: str) -> None:
    clock = Clock()  # 08:00 UTC
    seen: list[tuple[str, str, float]] = []

    async def body(store: Store) -> None:
        limiter = Limiter(store, clock=clock, on_exceeded=lambda *event: seen.append(event))
        spec = key(budget_usd_day=0.5, budget_usd_month=1.0)
        for cost in (0.2, 0.2, 0.2):  # the third is let in at 0.40 and overshoots: in flight
            ticket = await limiter.admit(spec, "r", ask())
            await limiter.settle(ticket, Usage(1, 1), cost, served=True)
        with pytest.raises(QuotaExceeded) as caught:
            await limiter.admit(spec, "r", ask())
        error = caught.value
        assert (error.status, error.limit, error.headers) == (429, "budget_usd_day", {"retry-after": str(16 * 3600)})
        body = jsonio.loads(error.body())["error"]
        assert (body["type"], body["code"]) == ("insufficient_quota", "insufficient_quota")
        assert "$0.5" in body["message"] and "UTC day" in body["message"]
        assert seen == [("app", "budget_usd_day", 16 * 3600.0)]
        clock.now = START + 16 * 3600  # midnight: a new day, the same month
        ticket = await limiter.admit(spec, "r", ask())
        await limiter.settle(ticket, None, 0.45, served=True)  # the month: 1.05
        with pytest.raises(QuotaExceeded) as caught:
            await limiter.admit(spec, "r", ask())
        assert caught.value.limit == "budget_usd_month" and "UTC month" in caught.value.message

    run(backend, body)


def test_a_failed_request_costs_nothing(backend: str) -> None:
    async def body(store: Store) -> None:
        limiter = Limiter(store, clock=Clock())
        spec = key(budget_usd_day=0.01)
        for _ in range(3):
            await limiter.settle(await limiter.admit(spec, "r", ask()), None, None, served=False)
        assert await limiter.admit(spec, "r", ask()) is not None

    run(backend, body)


# --- failing open ------------------------------------------------------------------------------


class Stalled:
    """A store that never answers a quota call."""

    backend = "stalled"
    quota_slots = None

    async def quota_admit(self, *args: Any, **kwargs: Any) -> Verdict:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def quota_settle(self, *args: Any, **kwargs: Any) -> None:
        await asyncio.Event().wait()


def ours(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "grove.limits"]


def test_an_unreachable_store_fails_open_and_warns_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    ticks = [0.0]

    async def body() -> None:
        store = RedisStore(f"redis://:hunter2@127.0.0.1:{free_port()}/0")
        limiter = Limiter(store, monotonic=lambda: ticks[0])
        try:
            spec = key(rpm=1, budget_usd_day=0.01)
            for _ in range(3):  # far over the limits: served all the same
                ticket = await limiter.admit(spec, "r", ask())
                assert ticket is not None
                await limiter.settle(ticket, Usage(1, 1), 5.0, served=True)
            assert len(ours(caplog)) == 1
            ticks[0] = 59.0
            await limiter.admit(spec, "r", ask())
            assert len(ours(caplog)) == 1
            ticks[0] = 60.0
            await limiter.admit(spec, "r", ask())
            assert len(ours(caplog)) == 2
        finally:
            await store.close()

    with caplog.at_level(logging.WARNING, logger="grove.limits"):
        asyncio.run(body())
    assert all(r.levelno == logging.WARNING and "serving without limits" in r.getMessage() for r in ours(caplog))
    assert "hunter2" not in caplog.text


def test_a_stalled_store_is_refused_at_first_then_taken_for_lost(caplog: pytest.LogCaptureFixture) -> None:
    """A slow answer may be the gateway's own load: refused, never served unlimited. A store that
    has answered nothing for LOST_AFTER_S is lost (a frozen Redis): the limits fail open."""
    ticks = [0.0]

    async def body() -> None:
        limiter = Limiter(Stalled(), store_timeout_s=0.05, monotonic=lambda: ticks[0])  # type: ignore[arg-type]
        spec = key(tpm=10, budget_usd_day=1.0)
        with pytest.raises(ServiceUnavailable) as caught:
            await limiter.admit(spec, "r", ask())
        assert caught.value.code == "limits_busy"
        ticks[0] = LOST_AFTER_S
        ticket = await limiter.admit(spec, "r", ask())
        assert ticket is not None
        await limiter.settle(ticket, Usage(1, 1), 1.0, served=True)

    with caplog.at_level(logging.WARNING, logger="grove.limits"):
        asyncio.run(body())
    assert [r.getMessage() for r in ours(caplog)] == [
        "client-key limits: store unreachable (no answer within 0.05s): serving without limits"
    ]


class Broken:
    """A store whose quota calls fail with a bug, not an outage."""

    backend = "broken"
    quota_slots = None

    async def quota_admit(self, *args: Any, **kwargs: Any) -> Verdict:
        raise RuntimeError("a bug")


def test_a_store_bug_also_fails_open_and_a_callback_bug_does_not_hide_the_429(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def body() -> None:
        limiter = Limiter(Broken())  # type: ignore[arg-type]
        assert await limiter.admit(key(rpm=1), "r", ask()) is not None

        def fails(*event: object) -> None:
            raise ValueError("listener bug")

        strict = Limiter(MemoryStore(), on_exceeded=fails)
        await strict.admit(key(rpm=1), "a", ask())
        with pytest.raises(LimitExceeded):
            await strict.admit(key(rpm=1), "b", ask())

    with caplog.at_level(logging.WARNING, logger="grove.limits"):
        asyncio.run(body())
    assert [r.levelno for r in ours(caplog)] == [logging.ERROR, logging.ERROR]
    assert "store call failed" in ours(caplog)[0].getMessage()
    assert "on_exceeded callback failed" in ours(caplog)[1].getMessage()


def test_quota_is_built_once_per_limits_spec() -> None:
    async def body() -> None:
        limiter = Limiter(MemoryStore())
        first = await limiter.admit(key(rpm=3, tpm=9000), "a", ask())
        second = await limiter.admit(key(rpm=3, tpm=9000), "b", ask())
        assert first is not None and second is not None
        assert first.quota is second.quota == Quota(rpm=3, tpm=9000)

    asyncio.run(body())


def test_a_key_that_fails_closed_is_refused_while_the_store_is_unreachable() -> None:
    async def body() -> None:
        store = RedisStore(f"redis://127.0.0.1:{free_port()}/0")
        limiter = Limiter(store)
        try:
            assert await limiter.admit(key(rpm=1), "open", ask()) is not None  # the default: open
            with pytest.raises(ServiceUnavailable) as caught:
                await limiter.admit(key(rpm=1, on_store_outage="closed"), "closed", ask())
            assert caught.value.status == 503 and caught.value.code == "limits_unavailable"
            assert caught.value.headers["retry-after"] == "1"
        finally:
            await store.close()

    asyncio.run(body())


class OneSlot:
    """A store with one quota connection, whose admit answers only when told to."""

    backend = "one-slot"
    quota_slots = 1

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.calls = 0

    async def quota_admit(self, *args: Any, **kwargs: Any) -> Verdict:
        self.calls += 1
        self.entered.set()
        await self.release.wait()
        return Verdict(True, None, 0)


def test_an_admission_that_gets_no_turn_is_refused_not_served_unlimited() -> None:
    async def body() -> None:
        store = OneSlot()
        limiter = Limiter(store, store_timeout_s=5, busy_wait_s=0.05)  # type: ignore[arg-type]
        first = asyncio.create_task(limiter.admit(key(rpm=1), "a", ask()))
        await store.entered.wait()  # the first holds the one slot
        with pytest.raises(ServiceUnavailable) as caught:
            await limiter.admit(key(rpm=1), "b", ask())
        assert caught.value.code == "limits_busy" and caught.value.headers["retry-after"] == "1"
        assert store.calls == 1  # the refused one never reached the store
        store.release.set()
        assert await first is not None
        assert await limiter.admit(key(rpm=1), "c", ask()) is not None  # its turn came back

    asyncio.run(body())


class Busy:
    backend = "busy"
    quota_slots = 4

    async def quota_admit(self, *args: Any, **kwargs: Any) -> Verdict:
        raise StoreBusy("no free connection")


def test_a_busy_store_refuses_an_admission() -> None:
    async def body() -> None:
        with pytest.raises(ServiceUnavailable) as caught:
            await Limiter(Busy()).admit(key(rpm=1), "a", ask())  # type: ignore[arg-type]
        assert caught.value.code == "limits_busy"

    asyncio.run(body())


def test_a_full_pool_is_busy_not_unavailable(redis_client: redis.Redis) -> None:
    """Fences redis-py's blocking pool: a wait for a connection that runs out is a ConnectionError
    caused by a TimeoutError, which the store reports as ``StoreBusy``."""
    import redis.asyncio as aioredis

    from gateway.store.redis import _failed

    async def body() -> None:
        pool = aioredis.BlockingConnectionPool.from_url(REDIS_URL, max_connections=1, timeout=0.05)
        client = aioredis.Redis.from_pool(pool)
        try:
            held = await pool.get_connection()  # the pool's one connection, in use
            with pytest.raises(redis.exceptions.RedisError) as caught:
                await client.get("grove:test:x")
            assert isinstance(_failed("get", caught.value), StoreBusy)
            assert not isinstance(_failed("get", redis.exceptions.ConnectionError("refused")), StoreBusy)
            await pool.release(held)
            assert await client.get("grove:test:x") is None  # free again: served
        finally:
            await client.aclose()

    asyncio.run(body())
