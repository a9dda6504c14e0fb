"""A Redis outage is reported by each background writer in one line when it begins and one when
it ends, with the count of failed writes: not a warning per flush."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import pytest

from gateway.decisions import DecisionLog
from gateway.events import Events
from gateway.outage import Outage
from gateway.providers.base import Usage
from gateway.store.redis import RedisStore
from gateway.telemetry.perf import PerfLog
from gateway.telemetry.usage import UsageLog
from tests.conftest import RedisServer

FLUSHES_DURING_OUTAGE = 6


@dataclass
class Entry:
    id: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id}


def test_each_background_writer_reports_an_outage_once(private_redis: RedisServer,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    restarted: list[RedisServer] = []

    async def main() -> None:
        store = RedisStore(private_redis.url)
        decisions, usage, perf, events = DecisionLog(store), UsageLog(store), PerfLog(store), Events(store)
        n = 0

        async def write_all() -> None:
            nonlocal n
            n += 1
            decisions.record(Entry(f"d{n}"))
            usage.record("a@1", "default", "", Usage(1, 1, 0), 0.1)
            perf.record("a@1", "default", False, False, 0.1, 0.01)
            events.publish("test.write", {"n": n})
            for writer in (decisions, usage, perf, events):
                await writer.flush()

        try:
            await write_all()  # the store answers
            private_redis.stop()
            for _ in range(FLUSHES_DURING_OUTAGE):
                await write_all()
            restarted.append(RedisServer(port=private_redis.port))
            await write_all()  # kept data goes out, and the writers say the store is back
            await write_all()
        finally:
            await store.close()

    with caplog.at_level(logging.INFO):
        asyncio.run(main())
    for restarted_server in restarted:
        restarted_server.stop()
    lines = [r.getMessage() for r in caplog.records if "store" in r.getMessage()]
    for what in ("decision log", "usage", "perf", "events"):
        down = [line for line in lines if line.startswith(f"{what}: store unreachable")]
        back = [line for line in lines if line.startswith(f"{what}: store answers again")]
        assert len(down) == 1, (what, lines)
        assert len(back) == 1 and f"{FLUSHES_DURING_OUTAGE} writes failed meanwhile" in back[0], (what, lines)


def test_a_long_outage_repeats_the_count_every_reminder(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    outage = Outage(logging.getLogger("grove.test"), "writer", remind_s=60, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="grove.test"):
        for second in range(0, 150, 1):  # a failed write every second for 150 s
            now[0] = float(second)
            outage.failed(ConnectionError("refused"))
        outage.ok()
        outage.ok()  # no outage: nothing to say
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("writer: store unreachable (refused)")
    assert lines[1:3] == ["writer: store unreachable for 60s, 61 writes failed so far",
                          "writer: store unreachable for 120s, 121 writes failed so far"]
    assert lines[3] == "writer: store answers again after 149.0s; 150 writes failed meanwhile"
    assert len(lines) == 4
