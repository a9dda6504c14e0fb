"""Client-key quotas in the store: both backends, the same expectations, a stepped clock.

Every call passes ``now_ms`` (the way breaker steps do), so windows and calendar boundaries are
stepped over, never slept through. The Redis backend runs the Lua script; the memory backend
runs ``QuotaBook``: any difference between them fails here.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Coroutine, Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.store import Store, StoreUnavailable
from gateway.store.memory import MemoryStore
from gateway.store.quota import RPM, TPM, USD_DAY, USD_MONTH, Quota, Verdict, month_index, month_start_ms
from gateway.store.redis import RedisStore
from tests.conftest import REDIS_URL, free_port

T0 = 1_800_000_000_000  # 2027-01-15T08:00:00Z
S = 1000
KEY = "grove:quota:app"


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp() * 1000)


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest, redis_client: redis.Redis) -> Iterator[str]:
    yield str(request.param)


def with_store(backend: str, body: Callable[[Store], Coroutine[Any, Any, None]]) -> None:
    async def run() -> None:
        store: Store = MemoryStore() if backend == "memory" else RedisStore(REDIS_URL)
        try:
            await body(store)
        finally:
            await store.close()

    asyncio.run(run())


async def admit(store: Store, quota: Quota, at: int, tokens: int = 0, rid: str | None = None,
                key: str = KEY) -> Verdict:
    return await store.quota_admit(key, rid or uuid.uuid4().hex, quota, tokens, now_ms=at)


# --- requests per minute -----------------------------------------------------------------------


def test_rpm_admits_exactly_n_then_refuses_until_the_oldest_ages_out(backend: str) -> None:
    quota = Quota(rpm=3)

    async def body(store: Store) -> None:
        for offset in (0, 10 * S, 20 * S):
            assert (await admit(store, quota, T0 + offset)).allowed
        assert await admit(store, quota, T0 + 30 * S) == Verdict(False, RPM, 30 * S)
        assert await admit(store, quota, T0 + 59_999) == Verdict(False, RPM, 1)
        assert (await admit(store, quota, T0 + 60 * S)).allowed  # the first is a minute old: gone
        # Three again in the trailing minute (10 s, 20 s, 60 s): the next waits for the 10 s one.
        assert await admit(store, quota, T0 + 60 * S) == Verdict(False, RPM, 10 * S)

    with_store(backend, body)


def test_rpm_is_a_sliding_window_not_two_bursts_across_a_minute_boundary(backend: str) -> None:
    quota = Quota(rpm=5)

    async def body(store: Store) -> None:
        late = T0 + 59 * S  # the end of one clock minute ...
        assert all([(await admit(store, quota, late)).allowed for _ in range(5)])
        # ... and the start of the next: a fixed window would let five more through here.
        refused = [await admit(store, quota, T0 + 61 * S + i) for i in range(5)]
        assert all(v == Verdict(False, RPM, 58 * S - i) for i, v in enumerate(refused))
        assert (await admit(store, quota, late + 60 * S)).allowed

    with_store(backend, body)


def test_refused_requests_leave_no_trace_and_keys_are_separate(backend: str) -> None:
    quota = Quota(rpm=2)

    async def body(store: Store) -> None:
        assert (await admit(store, quota, T0)).allowed and (await admit(store, quota, T0)).allowed
        for i in range(50):
            assert not (await admit(store, quota, T0 + i * S)).allowed
        assert (await admit(store, quota, T0, key="grove:quota:other")).allowed  # its own minute
        # Only the two admitted ones were counted: both age out together.
        assert (await admit(store, quota, T0 + 60 * S)).allowed
        assert (await admit(store, quota, T0 + 60 * S)).allowed
        assert not (await admit(store, quota, T0 + 60 * S)).allowed

    with_store(backend, body)


# --- tokens per minute ---------------------------------------------------------------------------


def test_tpm_reserves_the_estimate_and_settle_corrects_it(backend: str) -> None:
    quota = Quota(tpm=1000)

    async def body(store: Store) -> None:
        assert (await admit(store, quota, T0, tokens=600, rid="a")).allowed
        assert await admit(store, quota, T0 + S, tokens=500) == Verdict(False, TPM, 59 * S)
        # "a" used 300 of its 600: the other 300 are free again at once.
        await store.quota_settle(KEY, "a", 300, 0.0, now_ms=T0 + 2 * S)
        assert (await admit(store, quota, T0 + 2 * S, tokens=500, rid="b")).allowed  # 800 of 1000
        # "b" used 900, not 500: the key is over (1200), and stays so until "a" ages out ...
        await store.quota_settle(KEY, "b", 900, 0.0, now_ms=T0 + 3 * S)
        assert await admit(store, quota, T0 + 4 * S, tokens=1) == Verdict(False, TPM, 56 * S)
        assert (await admit(store, quota, T0 + 60 * S, tokens=100)).allowed  # 900 + 100
        # ... while "b" still counts its real 900.
        assert await admit(store, quota, T0 + 61 * S, tokens=1) == Verdict(False, TPM, 1 * S)

    with_store(backend, body)


def test_tpm_retry_waits_for_enough_tokens_to_age_out(backend: str) -> None:
    quota = Quota(tpm=1000)

    async def body(store: Store) -> None:
        for offset, tokens in ((0, 100), (10, 300), (20, 400)):
            assert (await admit(store, quota, T0 + offset * S, tokens=tokens)).allowed
        # 800 in the window; 600 more needs 400 freed: the 100 (at 0 s) and the 300 (at 10 s).
        assert await admit(store, quota, T0 + 30 * S, tokens=600) == Verdict(False, TPM, 40 * S)
        assert (await admit(store, quota, T0 + 70 * S, tokens=600)).allowed

    with_store(backend, body)


def test_a_request_bigger_than_the_whole_tpm_passes_on_an_idle_key_and_then_counts_in_full(backend: str) -> None:
    quota = Quota(tpm=1000)

    async def body(store: Store) -> None:
        assert (await admit(store, quota, T0, tokens=5000, rid="big")).allowed  # reserved 1000, the cap
        assert await admit(store, quota, T0, tokens=1) == Verdict(False, TPM, 60 * S)
        await store.quota_settle(KEY, "big", 4000, 0.0, now_ms=T0 + S)
        assert await admit(store, quota, T0 + 59 * S, tokens=1) == Verdict(False, TPM, 1 * S)
        assert (await admit(store, quota, T0 + 60 * S, tokens=1000)).allowed

    with_store(backend, body)


def test_settle_after_the_minute_changes_nothing_and_none_keeps_the_reservation(backend: str) -> None:
    quota = Quota(tpm=1000)

    async def body(store: Store) -> None:
        assert (await admit(store, quota, T0, tokens=900, rid="old")).allowed
        await store.quota_settle(KEY, "old", 5000, 0.0, now_ms=T0 + 61 * S)  # aged out: no debt now
        assert (await admit(store, quota, T0 + 61 * S, tokens=900, rid="kept")).allowed
        await store.quota_settle(KEY, "kept", None, 0.0, now_ms=T0 + 62 * S)
        assert await admit(store, quota, T0 + 62 * S, tokens=200) == Verdict(False, TPM, 59 * S)
        await store.quota_settle(KEY, "unknown", 10, 0.0, now_ms=T0 + 62 * S)  # never admitted: ignored
        assert (await admit(store, quota, T0 + 62 * S, tokens=100)).allowed

    with_store(backend, body)


def test_a_refusal_by_one_limit_consumes_none_of_the_others(backend: str) -> None:
    quota = Quota(rpm=2, tpm=1000)

    async def body(store: Store) -> None:
        assert (await admit(store, quota, T0, tokens=900)).allowed
        assert await admit(store, quota, T0, tokens=200) == Verdict(False, TPM, 60 * S)  # no rpm slot taken
        assert (await admit(store, quota, T0, tokens=100)).allowed  # the second request of two
        assert await admit(store, quota, T0, tokens=0) == Verdict(False, RPM, 60 * S)

    with_store(backend, body)


# --- budgets -------------------------------------------------------------------------------------


def test_day_budget_refuses_at_or_over_it_until_utc_midnight(backend: str) -> None:
    quota = Quota(usd_day=1.0)
    morning, night = ms("2027-03-10T09:00:00"), ms("2027-03-10T23:59:59.500")

    async def body(store: Store) -> None:
        assert (await admit(store, quota, morning)).allowed
        await store.quota_settle(KEY, "r1", None, 0.6, now_ms=morning)
        assert (await admit(store, quota, morning)).allowed  # 0.60 < 1.00
        await store.quota_settle(KEY, "r2", None, 0.4, now_ms=morning)  # exactly at the budget
        assert await admit(store, quota, night) == Verdict(False, USD_DAY, 500)
        assert (await admit(store, quota, ms("2027-03-11T00:00:00"))).allowed
        await store.quota_settle(KEY, "r3", None, 2.5, now_ms=ms("2027-03-11T00:00:01"))  # in-flight overshoot
        assert await admit(store, quota, ms("2027-03-11T12:00:00")) == Verdict(False, USD_DAY, 12 * 3600 * S)

    with_store(backend, body)


def test_month_budget_spans_days_and_resets_on_the_first(backend: str) -> None:
    quota = Quota(usd_day=10.0, usd_month=5.0)

    async def body(store: Store) -> None:
        for day in ("2028-02-01", "2028-02-15", "2028-02-29"):  # a leap February
            assert (await admit(store, quota, ms(f"{day}T12:00:00"))).allowed
            await store.quota_settle(KEY, day, None, 2.0, now_ms=ms(f"{day}T12:00:00"))
        late = ms("2028-02-29T18:00:00")
        assert await admit(store, quota, late) == Verdict(False, USD_MONTH, 6 * 3600 * S)
        assert (await admit(store, quota, ms("2028-03-01T00:00:00"))).allowed

    with_store(backend, body)


def test_spend_adds_up_exactly_and_budget_zero_cost_adds_nothing(backend: str) -> None:
    quota = Quota(usd_day=0.3)

    async def body(store: Store) -> None:
        for _ in range(3):
            await store.quota_settle(KEY, "r", None, 0.1, now_ms=T0)
        await store.quota_settle(KEY, "r", None, 0.0, now_ms=T0)
        # 0.1 + 0.1 + 0.1 is 0.30000000000000004 in binary floating point on both stores.
        assert await admit(store, quota, T0) == Verdict(False, USD_DAY, 16 * 3600 * S)

    with_store(backend, body)


INSTANTS = [
    "1999-12-31T23:59:59.999", "2000-01-01T00:00:00", "2000-02-29T12:00:00", "2024-02-29T23:59:59.999",
    "2100-02-28T23:00:00", "2100-03-01T00:00:00", "2027-12-31T23:59:59", "2026-06-30T23:59:59.999",
]


@pytest.mark.parametrize("instant", INSTANTS)
def test_month_boundaries_agree_with_the_calendar(backend: str, instant: str) -> None:
    at = ms(instant)
    moment = datetime.fromtimestamp(at / 1000, timezone.utc)
    first = datetime(moment.year + moment.month // 12, moment.month % 12 + 1, 1, tzinfo=timezone.utc)
    quota = Quota(usd_month=1.0)

    async def body(store: Store) -> None:
        await store.quota_settle(KEY, "r", None, 1.0, now_ms=at)
        assert await admit(store, quota, at) == Verdict(False, USD_MONTH, int(first.timestamp() * 1000) - at)
        assert (await admit(store, quota, int(first.timestamp() * 1000))).allowed

    with_store(backend, body)


@settings(max_examples=60, deadline=None)
@given(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2300, 12, 31)))
def test_lua_and_python_calendars_agree_on_any_day(moment: datetime) -> None:
    at = int(moment.replace(tzinfo=timezone.utc).timestamp() * 1000)
    expected = month_start_ms(month_index(at) + 1) - at
    day_left = (at // 86_400_000 + 1) * 86_400_000 - at

    async def body() -> None:
        store = RedisStore(REDIS_URL)
        key = f"grove:quota:test-{uuid.uuid4().hex}"
        try:
            await store.quota_settle(key, "r", None, 1.0, now_ms=at)
            assert await admit(store, Quota(usd_month=1.0), at, key=key) == Verdict(False, USD_MONTH, expected)
            assert await admit(store, Quota(usd_day=1.0), at, key=key) == Verdict(False, USD_DAY, day_left)
        finally:
            await store.close()
            with redis.Redis.from_url(REDIS_URL) as client:
                client.delete(*(f"{key}:{part}" for part in ("requests", "tokens", "weights", "spend")))

    asyncio.run(body())
    assert month_start_ms(month_index(at)) <= at < month_start_ms(month_index(at) + 1)
    assert datetime.fromtimestamp(month_start_ms(month_index(at)) / 1000, timezone.utc).day == 1


def test_month_helpers() -> None:
    assert month_index(ms("2027-01-31T23:59:59.999")) == 2027 * 12
    assert month_index(ms("2027-02-01T00:00:00")) == 2027 * 12 + 1
    assert month_start_ms(2027 * 12 + 12) == ms("2028-01-01T00:00:00")


# --- the store's own clock and a lost Redis ----------------------------------------------------


def test_the_store_clock_is_used_without_now(backend: str) -> None:
    quota = Quota(rpm=1)

    async def body(store: Store) -> None:
        assert (await store.quota_admit(KEY, "a", quota, 0)).allowed
        verdict = await store.quota_admit(KEY, "b", quota, 0)
        assert not verdict.allowed and verdict.limit == RPM and 59 * S < verdict.retry_after_ms <= 60 * S
        await store.quota_settle(KEY, "a", None, 0.5)  # the server's day and month

    with_store(backend, body)


def test_expiry_keeps_redis_small(redis_client: redis.Redis) -> None:
    async def body(store: Store) -> None:
        assert (await admit(store, Quota(rpm=5, tpm=100), T0, tokens=10, rid="a")).allowed
        await store.quota_settle(KEY, "a", 20, 0.25, now_ms=T0)
        for part in ("requests", "tokens", "weights"):
            assert 0 < redis_client.pttl(f"{KEY}:{part}") <= 60_000
        assert 31 * 86_400_000 < redis_client.pttl(f"{KEY}:spend") <= 32 * 86_400_000
        assert redis_client.hget(f"{KEY}:weights", "#") == b"20"

    with_store("redis", body)


def test_quota_calls_on_a_lost_redis_raise_store_unavailable() -> None:
    async def run() -> None:
        store = RedisStore(f"redis://127.0.0.1:{free_port()}/0")
        try:
            with pytest.raises(StoreUnavailable):
                await store.quota_admit(KEY, "a", Quota(rpm=1), 0)
            with pytest.raises(StoreUnavailable):
                await store.quota_settle(KEY, "a", 1, 0.1)
        finally:
            await store.close()

    asyncio.run(run())


def test_a_clock_stepping_back_keeps_the_log_in_time_order(backend: str) -> None:
    quota = Quota(rpm=2)

    async def body(store: Store) -> None:
        assert (await admit(store, quota, T0 + 10 * S)).allowed
        assert (await admit(store, quota, T0)).allowed  # another replica's clock, a little behind
        assert await admit(store, quota, T0 + 10 * S) == Verdict(False, RPM, 50 * S)  # the T0 one goes first
        assert (await admit(store, quota, T0 + 60 * S)).allowed

    with_store(backend, body)
