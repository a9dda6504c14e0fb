"""Live performance (``gateway/telemetry/perf.py``, ``GET /admin/perf[/series]``): the figures of
real requests through gateways with the fake providers, summed across replicas through Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
import redis

from gateway.fakes.run import Fakes
from gateway.store import Store, StoreUnavailable, make_store
from gateway.store.redis import RedisStore
from gateway.telemetry.perf import BOUNDS_MS, KEY, PerfLog, percentile
from tests.admin_support import AUTH, AdminGateway, admin_gateway, admin_gateways, write_config  # noqa: F401
from tests.conftest import REDIS_URL, GatewayProcess, free_port
from tests.test_openapi import Checker

HI = [{"role": "user", "content": "hi"}]
MINI, FOUR_O = "gpt-4.1-mini@1", "gpt-4o-mini@2024-07-18"


@pytest.fixture(params=["memory", "redis"])
def store_url(request: pytest.FixtureRequest, redis_client: redis.Redis) -> Iterator[str | None]:
    yield None if request.param == "memory" else REDIS_URL


def test_counters_get_many_reads_several_hashes_at_once(store_url: str | None) -> None:
    async def run() -> None:
        store: Store = make_store(store_url)
        try:
            assert await store.counters_get_many([]) == []
            await store.counters_add({"a": {"x": 1, "y": 0.25}, "b": {"x": 2}}, ttl_s=60)
            await store.counters_add({"a": {"x": 3, "y": 0.5}})
            assert await store.counters_get_many(["a", "missing", "b"]) == [{"x": 4.0, "y": 0.75}, {}, {"x": 2.0}]
        finally:
            await store.close()

    asyncio.run(run())


def test_counters_get_many_on_a_lost_redis() -> None:
    async def run() -> None:
        store = RedisStore(f"redis://127.0.0.1:{free_port()}/0")
        try:
            with pytest.raises(StoreUnavailable):
                await store.counters_get_many(["a"])
        finally:
            await store.close()

    asyncio.run(run())


def test_percentiles_from_the_histogram() -> None:
    assert len(BOUNDS_MS) == 24 and BOUNDS_MS[0] == 1.0 and BOUNDS_MS[-1] == 120_000.0
    assert all(a < b for a, b in zip(BOUNDS_MS, BOUNDS_MS[1:]))
    empty = [0.0] * 25
    assert percentile(empty, 0.5) is None
    one = list(empty)
    one[9] = 1  # a request between BOUNDS_MS[8] and BOUNDS_MS[9]
    assert BOUNDS_MS[8] < (percentile(one, 0.5) or 0) < BOUNDS_MS[9]
    spread = list(empty)
    spread[0], spread[5], spread[24] = 50, 45, 5
    assert (percentile(spread, 0.5) or 0) <= BOUNDS_MS[0]
    assert BOUNDS_MS[4] < (percentile(spread, 0.95) or 0) <= BOUNDS_MS[5]
    assert percentile(spread, 0.99) == BOUNDS_MS[-1]  # past 120 s: its lower bound


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_summary_and_series_sum_buckets_models_and_routes() -> None:
    async def run() -> None:
        clock = Clock(1_800_000_005.0)  # 5 s into a bucket
        perf = PerfLog(make_store(None), clock=clock)
        perf.record(MINI, "default", False, False, 0.002, 0.010)
        perf.record(MINI, "default", True, True, None, 0.200)
        perf.record(FOUR_O, "default", False, True, 0.001, 0.010)
        await perf.flush()
        clock.now += 60  # a minute later, in another bucket
        perf.record("gpt-4.1-mini@2", "other", False, False, 0.004, 0.050)
        one_minute = await perf.summary(60)  # the first three are 60 s old: out of the window
        assert one_minute["totals"]["requests"] == 1 and list(one_minute["models"]) == ["gpt-4.1-mini@2"]
        summary = await perf.summary(120)
        totals = summary["totals"]
        assert (totals["requests"], totals["errors"], totals["fallbacks"]) == (4, 1, 2)
        assert (totals["error_rate"], totals["fallback_rate"]) == (0.25, 0.5)
        assert totals["cost_usd"] == 0.007 and totals["rps"] == round(4 / 115, 3)
        assert totals["cost_usd_per_min"] == round(0.007 * 60 / 115, 10)
        assert summary["models"][MINI]["requests"] == 2 and summary["routes"]["default"]["requests"] == 3
        assert summary["routes"]["other"]["p50_ms"] is not None and summary["complete"] is True
        series = await perf.series(5, 60, "gpt-4.1-mini", None)
        assert [p["t"] for p in series["points"]] == [1_799_999_820 + 60 * i for i in range(5)]
        assert [p["requests"] for p in series["points"]] == [0, 0, 0, 2, 1]
        assert series["points"][0]["p50_ms"] is None and series["points"][3]["errors"] == 1
        only = await perf.series(5, 60, MINI, "default")
        assert [p["requests"] for p in only["points"]] == [0, 0, 0, 2, 0]
        tens = await perf.series(2, 10, None, None)
        assert len(tens["points"]) == 12 and sum(p["requests"] for p in tens["points"]) == 4

    asyncio.run(run())


def test_an_unreachable_store_keeps_the_figures_here() -> None:
    async def run() -> None:
        clock = Clock(1_800_000_000.0)
        perf = PerfLog(RedisStore(f"redis://127.0.0.1:{free_port()}/0"), clock=clock, max_groups=2)
        try:
            perf.record(MINI, "default", False, False, None, 0.01)
            await perf.flush()  # fails: kept
            perf.record(MINI, "default", False, False, None, 0.01)
            perf.record(FOUR_O, "default", False, False, None, 0.01)
            perf.record("x@1", "default", False, False, None, 0.01)  # over max_groups: dropped
            summary = await perf.summary(60)
            assert summary["complete"] is False and summary["totals"]["requests"] == 3
        finally:
            await perf.store.close()

    asyncio.run(run())


def chat(url: str, model: str, n: int = 1) -> list[int]:
    statuses = []
    for _ in range(n):
        statuses.append(httpx.post(f"{url}/v1/chat/completions", json={"model": model, "messages": HI},
                                   timeout=30).status_code)
    return statuses


def test_real_requests_show_in_the_summary_and_series(admin_gateway: AdminGateway, fakes: Fakes) -> None:
    gw = admin_gateway
    fakes.openai.state.set(latency_ms=70)
    assert chat(gw.url, "default", 4) == [200] * 4  # served by the first choice
    fakes.openai.state.set("gpt-4.1-mini", status=500)
    assert chat(gw.url, "default", 2) == [200] * 2  # fell back to gpt-4o-mini
    assert chat(gw.url, "gpt-4.1-mini", 2) == [502] * 2  # no fallback: errors
    assert chat(gw.url, "nope") == [404]  # never reached an upstream: not counted
    body = gw.get("/admin/perf?window_s=60").json()
    totals = body["totals"]
    assert (totals["requests"], totals["errors"], totals["fallbacks"]) == (8, 2, 2), body
    assert (totals["error_rate"], totals["fallback_rate"]) == (0.25, 0.25)
    assert body["models"][MINI]["requests"] == 6 and body["models"][MINI]["errors"] == 2
    assert body["models"][FOUR_O] == {**body["models"][FOUR_O], "requests": 2, "fallbacks": 2, "errors": 0}
    assert body["routes"]["default"]["requests"] == 6 and body["routes"]["gpt-4.1-mini"]["errors"] == 2
    assert totals["cost_usd"] > 0 and totals["rps"] > 0
    # The fake waits 70 ms: the median request lands in the histogram bin holding 70 ms.
    p50 = body["routes"]["default"]["p50_ms"]
    assert BOUNDS_MS[8] < p50 <= BOUNDS_MS[9] and BOUNDS_MS[8] < 70 <= BOUNDS_MS[9], p50
    before = int(time.time())
    series = gw.get("/admin/perf/series?minutes=10&step_s=60&model=gpt-4.1-mini").json()
    after = int(time.time())
    points = series["points"]
    assert len(points) == 10 and before // 60 * 60 <= points[-1]["t"] <= after // 60 * 60
    assert [b["t"] - a["t"] for a, b in zip(points, points[1:])] == [60] * 9
    assert sum(p["requests"] for p in points) == 6 and sum(p["errors"] for p in points) == 2
    by_route = gw.get("/admin/perf/series?minutes=10&step_s=60&route=default").json()["points"]
    assert sum(p["requests"] for p in by_route) == 6 and sum(p["fallbacks"] for p in by_route) == 2


def test_query_parameters_are_checked(admin_gateway: AdminGateway) -> None:
    gw = admin_gateway
    for query in ("window_s=5", "window_s=65", "window_s=3610", "window_s=x", "window_s=-10", "window_s=١٠"):
        response = gw.get(f"/admin/perf?{query}")
        assert response.status_code == 400 and response.json()["error"]["param"] == "window_s", query
    assert gw.get("/admin/perf?window_s=3600").status_code == 200
    for query, param in [("minutes=0", "minutes"), ("minutes=121", "minutes"), ("step_s=15", "step_s"),
                         ("step_s=0", "step_s"), ("step_s=3610", "step_s")]:
        response = gw.get(f"/admin/perf/series?{query}")
        assert response.status_code == 400 and response.json()["error"]["param"] == param, query
    assert len(gw.get("/admin/perf/series?minutes=120&step_s=10").json()["points"]) == 720
    default = gw.get("/admin/perf/series").json()
    assert default["step_s"] == 60 and len(default["points"]) == 60
    checker = Checker(httpx.get(f"{gw.url}/openapi.json").json())
    checker.check("GET", "/admin/perf", gw.get("/admin/perf"))
    checker.check("GET", "/admin/perf", gw.get("/admin/perf?window_s=1"))
    checker.check("GET", "/admin/perf/series", gw.get("/admin/perf/series?minutes=5&step_s=10"))


def test_two_replicas_on_redis_sum_into_one_view(tmp_path: Path, fakes: Fakes, redis_client: redis.Redis) -> None:
    config = write_config(tmp_path / "config", fakes)
    env = {"GROVE_ADMIN_KEY": "admin-key-for-tests", "GROVE_REDIS_URL": REDIS_URL}
    first = GatewayProcess(config, free_port(), env)
    second = GatewayProcess(config, free_port(), env)
    try:
        assert chat(first.url, "default", 3) == [200] * 3
        assert chat(second.url, "gpt-4o-mini", 2) == [200] * 2
        deadline = time.monotonic() + 10
        while True:  # the second replica writes its figures within its flush interval (1 s)
            body = httpx.get(f"{first.url}/admin/perf?window_s=120", headers=AUTH).json()
            if body["totals"]["requests"] == 5 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert body["totals"]["requests"] == 5 and body["complete"] is True
        assert body["models"][MINI]["requests"] == 3 and body["models"][FOUR_O]["requests"] == 2
        assert redis_client.keys(KEY.format(start="*"))
        assert all(0 < redis_client.ttl(key) <= 7200 for key in redis_client.keys(KEY.format(start="*")))
        seen_by_second = httpx.get(f"{second.url}/admin/perf?window_s=120", headers=AUTH).json()
        assert seen_by_second["totals"]["requests"] == 5
    finally:
        first.stop()
        second.stop()
