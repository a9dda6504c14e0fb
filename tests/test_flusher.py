"""The background flusher: flushes when woken, once more on stop, and survives a failing flush."""

from __future__ import annotations

import asyncio
import logging

import pytest

from gateway.flusher import Flusher


def test_flushes_when_woken_and_on_stop_and_survives_failures(caplog: pytest.LogCaptureFixture) -> None:
    async def run() -> list[str]:
        calls: list[str] = []
        flushed = asyncio.Event()

        async def flush() -> None:
            calls.append("flush")
            flushed.set()
            if len(calls) == 1:
                raise RuntimeError("store on fire")

        flusher = Flusher("test", interval_s=3600, flush=flush)  # only a wake can trigger it
        flusher.start()
        flusher.wake()
        await flushed.wait()
        flushed.clear()
        flusher.wake()  # the task is still alive after the failure
        await flushed.wait()
        await flusher.stop()
        return calls

    assert asyncio.run(run()) == ["flush", "flush", "flush"]
    assert "test: flush failed" in caplog.text and any(r.levelno == logging.ERROR for r in caplog.records)
