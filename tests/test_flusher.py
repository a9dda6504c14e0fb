"""The background flusher: flushes when woken, once more on stop, and survives a failing flush."""

from __future__ import annotations

import asyncio
import logging

import pytest

from gateway.configwatch import every
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


@pytest.mark.parametrize("loop", ["every", "flusher"])
def test_a_cancellation_swallowed_inside_a_step_still_stops_the_loop(loop: str) -> None:
    """Python 3.11's wait_for (inside redis-py) can drop a cancellation that lands as a store
    call completes. The background loops must stop anyway, or shutdown waits for ever."""

    async def main() -> None:
        in_step = asyncio.Event()
        swallow = True

        async def swallowing() -> None:
            in_step.set()
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if not swallow:
                    raise
                # what wait_for does when the inner call completes as the cancel lands

        if loop == "every":
            task = asyncio.create_task(every(0, swallowing))
        else:
            flusher = Flusher("test", interval_s=0, flush=swallowing)
            flusher.start()
            assert flusher._task is not None
            task = flusher._task
        await in_step.wait()
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=5)  # a regression fails here, not hangs
        swallow = False
        task.cancel()  # lets a loop that did not stop end, so the test can report it
        assert done == {task} and task.cancelled()

    asyncio.run(main())
